//! Keep-alive and the token API, against the Concur simulator with an injected clock: sweeps
//! over simulated months, rotation, single flight across tasks and processes, API keys, the
//! token API's answers, the terminal commands, and a process killed mid-sweep.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use concur::{Clock, ManualClock};
use concur_sim::{DEMO_SCOPES, Fault, Quirks, Simulator};
use console_core::state::AppState;
use console_core::store;
use console_model::CredentialsForm;
use serde_json::Value;
use server::keepalive::{refresh_all, sweep_due};
use server::serve::Settings;
use stores::Store;

use crate::support::{self, stores};

const DAY: i64 = 86_400;

struct Fixture {
    sim: Simulator,
    state: AppState,
    clock: ManualClock,
    store: Store,
    dir: PathBuf,
    base: String,
    client_id: String,
    secret: String,
    company: String,
}

fn settings(sim: &Simulator, store: &Store, rate: u32) -> Settings {
    let mut settings = support::settings_for(store, sim.allowed_hosts());
    settings.api_rate_per_minute = rate;
    settings
}

async fn fixture() -> Fixture {
    fixture_on(Store::sqlite(), 1200).await
}

async fn fixture_with_rate(rate: u32) -> Fixture {
    fixture_on(Store::sqlite(), rate).await
}

async fn fixture_on(store: Store, rate: u32) -> Fixture {
    let sim = Simulator::spawn().await.unwrap();
    let dir = match &store {
        Store::Sqlite(dir) => dir.clone(),
        Store::Postgres(_) => {
            let dir = std::env::temp_dir().join(format!("cc-pg-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            dir
        }
    };
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings(&sim, &store, rate), Arc::new(clock.clone())).await;
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    Fixture {
        sim,
        state,
        clock,
        store,
        dir,
        base,
        client_id,
        secret,
        company,
    }
}

impl Fixture {
    /// Stores a new connection with a fresh refresh token, as the form does.
    async fn connection(&self, name: &str) -> String {
        let form = CredentialsForm {
            mode: "refresh-token".into(),
            name: name.into(),
            client_id: self.client_id.clone(),
            client_secret: self.secret.clone(),
            refresh_token: self.sim.issue_refresh_token(&self.company, &self.client_id),
            authorization_url: self.sim.origin("us2"),
            scope_profile: "expense-approvals".into(),
            company_uuid: String::new(),
            request_token: String::new(),
            custom_scopes: String::new(),
            external_id: String::new(),
            tags: String::new(),
            contact_name: String::new(),
            contact_email: String::new(),
            owner: String::new(),
        };
        console_core::connections::create(&self.state, form)
            .await
            .unwrap()
    }

    async fn row(&self, id: &str) -> store::ConnectionRow {
        store::connection(&self.state.pool, id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn stored_refresh_token(&self, id: &str) -> String {
        let row = self.row(id).await;
        self.state
            .cipher
            .open(id, "refresh_token", &row.refresh_token_sealed)
            .unwrap()
            .to_string()
    }

    /// Moves the console's and the simulator's clocks together.
    fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
        self.sim.advance_clock(seconds);
    }

    async fn make_all_due(&self) {
        sqlx::query("UPDATE connections SET next_refresh_at = 0")
            .execute(&self.state.pool)
            .await
            .unwrap();
    }

    async fn key(&self, id: &str) -> String {
        console_core::api_keys::create(&self.state, id, "test integration")
            .await
            .unwrap()
            .key
    }

    async fn token(&self, id: &str, key: Option<&str>) -> (u16, Option<String>, Value) {
        let mut request =
            reqwest::Client::new().get(format!("{}/api/v1/connections/{id}/token", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, retry_after, response.json().await.unwrap())
    }

    /// The console binary with this fixture's database and simulator.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.store.console(args);
        command.env("CONCUR_ALLOWED_HOSTS", self.sim.allowed_hosts());
        command
    }
}

async fn history(f: &Fixture, id: &str) -> Vec<store::ValidationRow> {
    store::history(&f.state.pool, id, 1000).await.unwrap()
}

#[tokio::test]
async fn seven_simulated_months_of_daily_sweeps_keep_a_connection_alive() {
    let f = fixture().await;
    let id = f.connection("Daily").await;
    let first_expiry = f.row(&id).await.refresh_token_expires_at.unwrap();
    let before = f.sim.token_requests();
    for day in 1..=213 {
        f.advance(DAY);
        let lines = sweep_due(&f.state, None).await.unwrap();
        assert_eq!(lines.len(), 1, "day {day}: the connection was due");
        assert!(lines[0].ok, "day {day}: {:?}", lines[0].diagnosis);
    }
    assert_eq!(f.sim.token_requests() - before, 213, "one refresh a day");
    let now = f.sim.now();
    assert!(
        now > first_expiry,
        "seven months outlive the first token's six"
    );
    let token = f.stored_refresh_token(&id).await;
    let expiry = f.sim.refresh_token_expiry(&token).unwrap();
    assert!(expiry > now + 150 * DAY, "the sliding expiry moved forward");
    let row = f.row(&id).await;
    assert_eq!(row.status(f.clock_now()).key(), "healthy");
    assert_eq!(row.refresh_token_expires_at, Some(expiry));
}

impl Fixture {
    fn clock_now(&self) -> i64 {
        use concur::Clock;
        self.clock.now()
    }
}

async fn rotation_persists_every_token(store: Store) {
    let f = fixture_on(store, 1200).await;
    f.sim.set_quirks(Quirks {
        rotate_refresh_tokens: true,
        ..Quirks::default()
    });
    let id = f.connection("Rotating").await;
    let mut seen = vec![f.stored_refresh_token(&id).await];
    for _ in 0..5 {
        f.advance(DAY);
        let lines = sweep_due(&f.state, None).await.unwrap();
        assert!(lines[0].ok, "{:?}", lines[0].diagnosis);
        let stored = f.stored_refresh_token(&id).await;
        assert!(!seen.contains(&stored), "each sweep stored the new token");
        assert!(f.sim.refresh_token_expiry(&stored).is_some());
        seen.push(stored);
    }
    let old = &seen[seen.len() - 2];
    assert!(
        f.sim.refresh_token_expiry(old).is_none(),
        "the simulator retired the previous token, so only persisting the new one keeps the connection alive"
    );
}

#[tokio::test]
async fn a_transient_failure_backs_off_and_never_marks_the_connection_failing() {
    let f = fixture().await;
    let id = f.connection("Flaky").await;
    f.advance(DAY);
    f.sim.inject(Fault::Unavailable, 1);
    let lines = sweep_due(&f.state, None).await.unwrap();
    assert!(!lines[0].ok && lines[0].transient);
    let row = f.row(&id).await;
    assert_eq!(row.failing, 0);
    assert_eq!(row.next_refresh_at, Some(f.clock_now() + 300));

    let before = f.sim.token_requests();
    assert!(sweep_due(&f.state, None).await.unwrap().is_empty());
    assert_eq!(
        f.sim.token_requests(),
        before,
        "nothing asked during the back-off"
    );

    f.sim.inject(Fault::ServerError, 1);
    f.advance(300);
    sweep_due(&f.state, None).await.unwrap();
    assert_eq!(
        f.row(&id).await.next_refresh_at,
        Some(f.clock_now() + 600),
        "the wait doubles"
    );
    f.advance(600);
    let lines = sweep_due(&f.state, None).await.unwrap();
    assert!(lines[0].ok);
    assert_eq!(f.row(&id).await.transient_failures, 0);
    assert!(
        history(&f, &id)
            .await
            .iter()
            .all(|h| h.status_change.is_none()),
        "transient failures never changed the status"
    );
}

#[tokio::test]
async fn a_failure_that_needs_a_human_is_recorded_once_keeps_the_token_and_is_retried_daily() {
    let f = fixture().await;
    let id = f.connection("Revoked").await;
    let token = f.stored_refresh_token(&id).await;
    f.sim.revoke(&f.company, &f.client_id);
    f.advance(DAY);
    let lines = sweep_due(&f.state, None).await.unwrap();
    assert!(!lines[0].ok && !lines[0].transient);
    assert_eq!(f.row(&id).await.failing, 1);
    assert_eq!(
        f.stored_refresh_token(&id).await,
        token,
        "the token is kept"
    );

    let before = f.sim.token_requests();
    f.advance(DAY / 2);
    assert!(sweep_due(&f.state, None).await.unwrap().is_empty());
    assert_eq!(f.sim.token_requests(), before, "not retried within the day");
    f.advance(DAY / 2);
    assert_eq!(sweep_due(&f.state, None).await.unwrap().len(), 1);
    assert_eq!(f.sim.token_requests(), before + 1, "retried after a day");

    let changes: Vec<_> = history(&f, &id)
        .await
        .into_iter()
        .filter_map(|h| h.status_change)
        .collect();
    assert_eq!(changes, ["Now failing: needs a human."], "recorded once");
    assert!(
        history(&f, &id)
            .await
            .iter()
            .any(|h| h.source == "keep-alive")
    );
}

/// 100 token calls at once, spread over `bases`; every one must succeed. Returns the tokens.
async fn concurrent_token_calls(bases: &[String], id: &str, key: &str) -> Vec<String> {
    let http = reqwest::Client::new();
    let calls = (0..100).map(|i| {
        let url = format!("{}/api/v1/connections/{id}/token", bases[i % bases.len()]);
        let (http, key) = (http.clone(), key.to_owned());
        tokio::spawn(async move {
            let response = http.get(url).bearer_auth(key).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        })
    });
    futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

async fn hundred_concurrent_calls(store: Store) {
    let f = fixture_on(store, 1200).await;
    let id = f.connection("Busy").await;
    let key = f.key(&id).await;
    let (status, _, first) = f.token(&id, Some(&key)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["geolocation"], f.sim.origin("us2"));

    // Four minutes left on the cached access token: under the five-minute margin.
    f.advance(56 * 60);
    let before = f.sim.token_requests();
    let tokens = concurrent_token_calls(std::slice::from_ref(&f.base), &id, &key).await;
    assert_eq!(f.sim.token_requests() - before, 1, "one refresh for all");
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_ne!(tokens[0], first["access_token"].as_str().unwrap());

    let before = f.sim.token_requests();
    let (status, _, again) = f.token(&id, Some(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(again["access_token"], tokens[0].as_str(), "cached");
    assert_eq!(f.sim.token_requests(), before);
}

#[tokio::test]
async fn revoked_unknown_and_wrong_connection_keys_are_refused() {
    let f = fixture().await;
    let a = f.connection("A").await;
    let b = f.connection("B").await;
    let key = f.key(&a).await;

    let (status, _, body) = f.token(&a, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _, _) = f.token(&a, Some("cck_not-a-key")).await;
    assert_eq!(status, 401);
    let (status, _, body) = f.token(&b, Some(&key)).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    assert!(body["message"].as_str().unwrap().len() > 10);
    assert_eq!(f.token(&a, Some(&key)).await.0, 200);

    let keys = console_core::api_keys::list(&f.state, &a).await.unwrap();
    assert!(keys[0].last_used_at.is_some(), "use is recorded");
    assert!(key.starts_with(&keys[0].prefix.trim_end_matches('…').to_owned()));
    console_core::api_keys::revoke(&f.state, &keys[0].id, Some(&a))
        .await
        .unwrap();
    assert_eq!(f.token(&a, Some(&key)).await.0, 401, "revoked at once");

    let dump = std::fs::read(f.dir.join("console.db")).unwrap();
    assert!(
        !dump.windows(key.len()).any(|w| w == key.as_bytes()),
        "only a hash of the key is stored"
    );
}

#[tokio::test]
async fn the_token_api_says_409_when_a_human_is_needed_and_503_when_concur_is_down() {
    let f = fixture().await;
    let id = f.connection("Troubled").await;
    let key = f.key(&id).await;

    f.advance(2 * 3600);
    f.sim.inject(Fault::Unavailable, 1);
    let (status, retry_after, body) = f.token(&id, Some(&key)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "concur_unavailable");
    assert!(retry_after.unwrap().parse::<i64>().unwrap() >= 1);
    assert_eq!(f.row(&id).await.failing, 0);

    f.advance(3600);
    f.sim.revoke(&f.company, &f.client_id);
    let (status, _, body) = f.token(&id, Some(&key)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "needs_human");
    assert!(
        body["message"].as_str().unwrap().contains("Next step"),
        "{body}"
    );
}

#[tokio::test]
async fn a_cached_token_still_valid_is_served_while_concur_is_down() {
    let f = fixture().await;
    let id = f.connection("Cached").await;
    let key = f.key(&id).await;
    let (_, _, first) = f.token(&id, Some(&key)).await;
    f.advance(57 * 60);
    f.sim.inject(Fault::Unavailable, 1);
    let (status, _, body) = f.token(&id, Some(&key)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access_token"], first["access_token"]);
}

#[tokio::test]
async fn each_api_key_is_limited_per_minute() {
    let f = fixture_with_rate(30).await;
    let id = f.connection("Limited").await;
    let key = f.key(&id).await;
    let mut statuses = Vec::new();
    for _ in 0..31 {
        statuses.push(f.token(&id, Some(&key)).await);
    }
    assert!(statuses[..30].iter().all(|(s, _, _)| *s == 200));
    let (status, retry_after, body) = &statuses[30];
    assert_eq!(*status, 429, "{body}");
    assert!(retry_after.is_some());
}

#[tokio::test]
async fn the_openapi_document_describes_the_token_endpoint() {
    let f = fixture().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", f.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let get = &doc["paths"]["/api/v1/connections/{id}/token"]["get"];
    for status in ["200", "401", "404", "409", "429", "503"] {
        assert!(get["responses"][status].is_object(), "{status}");
    }
}

async fn leases_exclude(store: Store) {
    let f = fixture_on(store, 1200).await;
    let id = f.connection("Leased").await;
    let pool = &f.state.pool;
    assert!(store::try_lease(pool, &id, "one", 100, 190).await.unwrap());
    assert!(!store::try_lease(pool, &id, "two", 150, 240).await.unwrap());
    assert!(
        store::try_lease(pool, &id, "two", 190, 280).await.unwrap(),
        "lapsed"
    );
    store::release_lease(pool, &id, "one").await.unwrap();
    assert!(
        !store::try_lease(pool, &id, "three", 200, 290)
            .await
            .unwrap(),
        "only the holder releases"
    );
    store::release_lease(pool, &id, "two").await.unwrap();
    assert!(
        store::try_lease(pool, &id, "three", 200, 290)
            .await
            .unwrap()
    );
}

/// Two `concur-console serve` processes on one database, as two replicas behind a load
/// balancer: 100 concurrent token calls spread over both, with the cached access token under
/// its margin, cause one Concur refresh; the lease in the database is all they share.
async fn two_servers_refresh_once(store: Store) {
    let f = fixture_on(store, 1200).await;
    let id = f.connection("Shared").await;
    let key = f.key(&id).await;
    let system_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // An hour-long token issued 59 minutes ago.
    sqlx::query(
        "UPDATE connections SET access_token_expires_at = $2, last_ok_at = $2 - 3600 WHERE id = $1",
    )
    .bind(&id)
    .bind(system_now + 60)
    .execute(&f.state.pool)
    .await
    .unwrap();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = f
            .command(&["serve"])
            .current_dir(&f.dir)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("LEPTOS_SITE_ROOT", "target/site")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        servers.push((child, format!("http://127.0.0.1:{port}")));
    }
    let http = reqwest::Client::new();
    for (_, base) in &servers {
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
                ready = r.status() == 200;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "{base} never became ready");
    }

    let before = f.sim.token_requests();
    let bases: Vec<String> = servers.iter().map(|(_, base)| base.clone()).collect();
    let tokens = concurrent_token_calls(&bases, &id, &key).await;
    for (mut child, _) in servers {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert_eq!(
        f.sim.token_requests() - before,
        1,
        "one refresh across both servers"
    );
    assert!(tokens.iter().all(|t| *t == tokens[0]));
}

async fn two_processes_sweep_once(store: Store) {
    let f = fixture_on(store, 1200).await;
    for i in 0..20 {
        f.connection(&format!("Company {i:02}")).await;
    }
    f.make_all_due().await;
    let before = f.sim.token_requests();
    let children: Vec<_> = (0..2)
        .map(|_| f.command(&["refresh-all", "--json"]).spawn().unwrap())
        .collect();
    let outputs: Vec<_> = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for output in &outputs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 20);
        assert!(
            lines
                .iter()
                .all(|l| l["ok"] == true && l["diagnosis"].is_null())
        );
        assert!(
            lines[0]["refresh_token_expires_at"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }
    assert_eq!(
        f.sim.token_requests() - before,
        20,
        "each connection refreshed exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_sweep_leaves_every_connection_usable_for_the_next() {
    let f = fixture().await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(f.connection(&format!("Tenant {i}")).await);
    }
    f.make_all_due().await;
    f.sim.inject(Fault::Slow { millis: 3000 }, 8);
    let mut first = f
        .command(&["refresh-all"])
        .env("CONCUR_REFRESH_LEASE", "1s")
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_leases")
        .fetch_one(&f.state.pool)
        .await
        .unwrap();
    assert!(held > 0, "killed while holding leases, mid-sweep");

    let second = f
        .command(&["refresh-all", "--json"])
        .env("CONCUR_REFRESH_LEASE", "1s")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    for id in &ids {
        let token = f.stored_refresh_token(id).await;
        assert!(f.sim.refresh_token_expiry(&token).is_some(), "{id} usable");
        assert_eq!(f.row(id).await.failing, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_all_reports_a_connection_that_needs_a_human_with_exit_code_1() {
    let f = fixture().await;
    f.connection("Healthy").await;
    let broken = f.connection("Broken").await;
    sqlx::query("UPDATE connections SET next_refresh_at = 0 WHERE id = $1")
        .bind(&broken)
        .execute(&f.state.pool)
        .await
        .unwrap();
    f.sim.disable_app_for_company(&f.company, &f.client_id);
    let output = f.command(&["refresh-all"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("FAILING") && stdout.contains("Broken"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok") && stdout.contains("Healthy"),
        "{stdout}"
    );
    let lines = refresh_all(&f.state).await.unwrap();
    assert_eq!(server::keepalive::exit_code(&lines) as i32, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_api_keys_are_managed_from_a_terminal() {
    let f = fixture().await;
    let refresh = f.sim.issue_refresh_token(&f.company, &f.client_id);
    let origin = f.sim.origin("us2");
    let add = |token: &str| {
        f.command(&[
            "connections",
            "add",
            "--name",
            "Scripted",
            "--authorization-url",
            &origin,
            "--client-id",
            &f.client_id,
            "--scope-profile",
            "expense-approvals",
        ])
        .env("CONCUR_CLIENT_SECRET", &f.secret)
        .env("CONCUR_REFRESH_TOKEN", token)
        .output()
        .unwrap()
    };
    let added = add(&refresh);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let id = String::from_utf8(added.stdout).unwrap().trim().to_owned();
    assert_eq!(f.row(&id).await.name, "Scripted");

    let refused = add("not-a-real-refresh-token-0000");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Next step"));
    let no_secret = f
        .command(&[
            "connections",
            "add",
            "--name",
            "X",
            "--authorization-url",
            &origin,
            "--client-id",
            &f.client_id,
            "--scope-profile",
            "expense-approvals",
        ])
        .output()
        .unwrap();
    assert_eq!(no_secret.status.code(), Some(2));

    let list = f
        .command(&["connections", "list", "--json"])
        .output()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], id.as_str());
    assert_eq!(lines[0]["status"], "healthy");
    assert_eq!(lines[0]["client_id"], f.client_id.as_str());
    assert_eq!(lines[0]["company_uuid"], f.company.as_str());

    let created = f
        .command(&["api-key", "create", "--connection", &id, "--name", "ci"])
        .output()
        .unwrap();
    assert!(created.status.success());
    let stdout = String::from_utf8(created.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "only the key on stdout");
    let key = stdout.trim();
    assert_eq!(f.token(&id, Some(key)).await.0, 200);

    let listed = f
        .command(&["api-key", "list", "--connection", &id])
        .output()
        .unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(!listed.contains(key), "lists never show the key");
    let key_id = listed.split_whitespace().next().unwrap().to_owned();
    let revoked = f.command(&["api-key", "revoke", &key_id]).output().unwrap();
    assert!(revoked.status.success());
    // Another process revoked it: the server's one-second memory of verified keys lets go.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while f.token(&id, Some(key)).await.0 != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked key still opens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = f.command(&["api-key", "revoke", &key_id]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_are_reset_and_deleted_from_a_terminal() {
    let f = fixture().await;
    let create = |name: &str| {
        f.command(&["create-admin", "--username", name])
            .env("CONCUR_ADMIN_PASSWORD", "violet tractor sings softly")
            .output()
            .unwrap()
    };
    assert!(create("first").status.success());
    assert!(create("second").status.success());
    let weak = f
        .command(&["reset-password", "--username", "first"])
        .env("CONCUR_ADMIN_PASSWORD", "password1234")
        .output()
        .unwrap();
    assert!(!weak.status.success(), "a common password is refused");
    let reset = f
        .command(&["reset-password", "--username", "first"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reset = reset;
    {
        use std::io::Write;
        let mut stdin = reset.stdin.take().unwrap();
        writeln!(stdin, "amber lantern drifts north").unwrap();
    }
    let reset = reset.wait_with_output().unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let (_, hash) = store::admin_credentials(&f.state.pool, "first")
        .await
        .unwrap()
        .unwrap();
    assert!(
        console_core::auth::verify_password("amber lantern drifts north".into(), Some(hash))
            .await
            .unwrap()
    );

    let deleted = f
        .command(&["delete-admin", "--username", "second"])
        .output()
        .unwrap();
    assert!(deleted.status.success());
    let last = f
        .command(&["delete-admin", "--username", "first"])
        .output()
        .unwrap();
    assert!(!last.status.success(), "the last admin stays");
    assert_eq!(store::admin_count(&f.state.pool).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_lease_lapsed_retries_once_with_the_token_another_process_rotated() {
    let f = fixture().await;
    f.sim.set_quirks(Quirks {
        rotate_refresh_tokens: true,
        ..Quirks::default()
    });
    let id = f.connection("Contended").await;
    let mut config = settings(&f.sim, &f.store, 1200).config;
    config.lease_seconds = 30;
    let other = AppState::build(&config, Arc::new(f.clock.clone()))
        .await
        .unwrap();

    // This process asks Concur with the stored token, slowly; its lease lapses meanwhile and
    // another process rotates the token under its own lease.
    f.sim.inject(Fault::Slow { millis: 1500 }, 1);
    let slow = {
        let (state, id) = (f.state.clone(), id.clone());
        tokio::spawn(async move {
            console_core::connections::refresh::refresh(
                &state,
                &id,
                console_core::connections::refresh::Need::Always,
                "validate",
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    f.clock.advance(120);
    let quick = console_core::connections::refresh::refresh(
        &other,
        &id,
        console_core::connections::refresh::Need::Always,
        "validate",
    )
    .await
    .unwrap();
    assert!(matches!(
        quick,
        console_core::connections::refresh::Outcome::Refreshed { problem: None, .. }
    ));
    let rotated = f.stored_refresh_token(&id).await;

    let slow = slow.await.unwrap().unwrap();
    match slow {
        console_core::connections::refresh::Outcome::Refreshed { problem, .. } => {
            assert!(
                problem.is_none(),
                "retried with the rotated token: {problem:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    let latest = f.stored_refresh_token(&id).await;
    assert_ne!(
        latest, rotated,
        "the retry rotated it again and stored the result"
    );
    assert!(f.sim.refresh_token_expiry(&latest).is_some());
    assert_eq!(f.row(&id).await.failing, 0);
}

#[tokio::test]
async fn with_rotation_every_rotated_token_is_persisted_and_the_next_sweep_works_on_sqlite() {
    rotation_persists_every_token(Store::sqlite()).await;
}

#[tokio::test]
async fn with_rotation_every_rotated_token_is_persisted_and_the_next_sweep_works_on_postgresql() {
    rotation_persists_every_token(Store::postgres().await).await;
}

#[tokio::test]
async fn a_hundred_concurrent_token_calls_cause_one_refresh_on_sqlite() {
    hundred_concurrent_calls(Store::sqlite()).await;
}

#[tokio::test]
async fn a_hundred_concurrent_token_calls_cause_one_refresh_on_postgresql() {
    hundred_concurrent_calls(Store::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_database_refresh_once_on_sqlite() {
    two_servers_refresh_once(Store::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_database_refresh_once_on_postgresql() {
    two_servers_refresh_once(Store::postgres().await).await;
}

#[tokio::test]
async fn leases_exclude_a_second_holder_until_released_or_lapsed_on_sqlite() {
    leases_exclude(Store::sqlite()).await;
}

#[tokio::test]
async fn leases_exclude_a_second_holder_until_released_or_lapsed_on_postgresql() {
    leases_exclude(Store::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sweeping_one_database_refresh_each_connection_once_on_sqlite() {
    two_processes_sweep_once(Store::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sweeping_one_database_refresh_each_connection_once_on_postgresql() {
    two_processes_sweep_once(Store::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_that_live_a_minute_are_handed_out_and_refreshed_once_near_their_end() {
    let f = fixture().await;
    f.sim.set_quirks(Quirks {
        access_lifetime: Some(60),
        ..Quirks::default()
    });
    let id = f.connection("Short-lived").await;
    let key = f.key(&id).await;
    let before = f.sim.token_requests();
    let (status, _, first) = f.token(&id, Some(&key)).await;
    assert_eq!(
        status, 200,
        "a token fresh from Concur is handed out: {first}"
    );
    for _ in 0..5 {
        let (status, _, again) = f.token(&id, Some(&key)).await;
        assert_eq!(status, 200);
        assert_eq!(again["access_token"], first["access_token"], "cached");
    }
    assert_eq!(
        f.sim.token_requests(),
        before,
        "the token from Validate serves them all"
    );

    // 50 of its 60 seconds gone: under a fifth of its lifetime left, so one refresh for all.
    f.advance(50);
    let tokens = concurrent_token_calls(std::slice::from_ref(&f.base), &id, &key).await;
    assert_eq!(f.sim.token_requests() - before, 1, "one refresh for all");
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_ne!(tokens[0], first["access_token"].as_str().unwrap());
}

#[tokio::test]
async fn a_deleted_connection_and_a_revoked_key_stop_answering_at_once_on_this_replica() {
    let f = fixture().await;
    let id = f.connection("Soon deleted").await;
    let key = f.key(&id).await;
    let other = f.connection("Kept").await;
    let other_key = f.key(&other).await;
    for _ in 0..3 {
        assert_eq!(f.token(&id, Some(&key)).await.0, 200);
        assert_eq!(f.token(&other, Some(&other_key)).await.0, 200);
    }
    console_core::connections::delete(&f.state, &id, "yes")
        .await
        .unwrap();
    let (status, _, _) = f.token(&id, Some(&key)).await;
    assert!(matches!(status, 401 | 404), "{status}");
    let keys = console_core::api_keys::list(&f.state, &other)
        .await
        .unwrap();
    console_core::api_keys::revoke(&f.state, &keys[0].id, Some(&other))
        .await
        .unwrap();
    assert_eq!(f.token(&other, Some(&other_key)).await.0, 401);
}

/// A connection in `data_center` for a fresh app and company, stored as the form does.
async fn connection_in(state: &AppState, sim: &Simulator, name: &str, data_center: &str) -> String {
    let (client_id, client_secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company(data_center);
    let form = CredentialsForm {
        mode: "refresh-token".into(),
        name: name.into(),
        refresh_token: sim.issue_refresh_token(&company, &client_id),
        client_id,
        client_secret,
        authorization_url: sim.origin(data_center),
        scope_profile: "expense-approvals".into(),
        company_uuid: String::new(),
        request_token: String::new(),
        custom_scopes: String::new(),
        external_id: String::new(),
        tags: String::new(),
        contact_name: String::new(),
        contact_email: String::new(),
        owner: String::new(),
    };
    console_core::connections::create(state, form)
        .await
        .unwrap()
}

/// Makes the stored access token of `id` expire and forgets the one held in memory, so the
/// next token call must refresh.
async fn expire_access_token(state: &AppState, clock: &ManualClock, id: &str) {
    sqlx::query("UPDATE connections SET access_token_expires_at = $2 WHERE id = $1")
        .bind(id)
        .bind(clock.now())
        .execute(&state.pool)
        .await
        .unwrap();
    state.tokens.forget(|_, _| true);
    clock.advance(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_data_centre_times_out_as_transient_and_holds_up_no_other_connection() {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::sqlite();
    let mut settings = settings(&sim, &store, 100_000);
    settings.config.client.timeout = Duration::from_millis(400);
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings, Arc::new(clock.clone())).await;
    // The issue's figure: a sweep of 1 000 with 10 stuck.
    for i in 0..990 {
        connection_in(&state, &sim, &format!("US {i}"), "us2").await;
    }
    let mut stuck = Vec::new();
    for i in 0..10 {
        stuck.push(connection_in(&state, &sim, &format!("EU {i}"), "eu2").await);
    }
    sim.stall("eu2", 5_000);
    sqlx::query("UPDATE connections SET next_refresh_at = 0")
        .execute(&state.pool)
        .await
        .unwrap();
    let lines = sweep_due(&state, None).await.unwrap();
    assert_eq!(lines.len(), 1000);
    for line in &lines {
        let in_stuck = stuck.contains(&line.id);
        assert_eq!(line.ok, !in_stuck, "{}", line.name);
        assert_eq!(
            line.transient, in_stuck,
            "{}: a timeout is transient",
            line.name
        );
    }
    for id in &stuck {
        let row = store::connection(&state.pool, id).await.unwrap().unwrap();
        assert_eq!((row.failing, row.transient_failures), (0, 1));
        assert!(row.next_refresh_at.unwrap() > clock.now(), "backed off");
    }

    // The token API's single flight: callers waiting on a refresh that times out all get 503,
    // and Concur is asked once.
    let id = &stuck[0];
    let key = console_core::api_keys::create(&state, id, "bot")
        .await
        .unwrap()
        .key;
    expire_access_token(&state, &clock, id).await;
    let http = reqwest::Client::new();
    let calls = (0..8).map(|_| {
        let (http, url, key) = (
            http.clone(),
            format!("{base}/api/v1/connections/{id}/token"),
            key.clone(),
        );
        tokio::spawn(async move {
            let r = http.get(url).bearer_auth(key).send().await.unwrap();
            (r.status().as_u16(), r.headers().contains_key("retry-after"))
        })
    });
    for answer in futures_util::future::join_all(calls).await {
        assert_eq!(answer.unwrap(), (503, true));
    }
    let asked = store::history(&state.pool, id, 100).await.unwrap();
    let by_api = asked.iter().filter(|h| h.source == "token-api").count();
    assert_eq!(by_api, 1, "one refresh for all the callers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_call_waits_four_seconds_at_most_and_the_refresh_it_started_is_still_stored() {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::sqlite();
    let clock = ManualClock::at(sim.now());
    let (base, state) =
        support::serve(settings(&sim, &store, 100_000), Arc::new(clock.clone())).await;
    let id = connection_in(&state, &sim, "Slow", "eu2").await;
    let key = console_core::api_keys::create(&state, &id, "bot")
        .await
        .unwrap()
        .key;
    let before = store::connection(&state.pool, &id).await.unwrap().unwrap();
    expire_access_token(&state, &clock, &id).await;
    // Concur answers after 6 seconds, well within the 20-second client timeout.
    sim.stall("eu2", 6_000);
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/connections/{id}/token");
    let waited = http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(waited.status(), 503);
    assert!(waited.headers().contains_key("retry-after"));
    let body: Value = waited.json().await.unwrap();
    assert_eq!(body["error"], "timeout", "{body}");

    // The refresh the caller started goes on and is stored.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = store::connection(&state.pool, &id).await.unwrap().unwrap();
        if row.access_token_sealed != before.access_token_sealed
            && row.access_token_expires_at > Some(clock.now())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the refresh was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = http.get(&url).bearer_auth(&key).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let asked = store::history(&state.pool, &id, 100).await.unwrap();
    let by_api = asked.iter().filter(|h| h.source == "token-api").count();
    assert_eq!(by_api, 1, "Concur was asked once");
}
