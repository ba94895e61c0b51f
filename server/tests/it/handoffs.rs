//! Hand-off links end to end over HTTP: the customer's page and its Connect, refusals and the
//! lock, racing submissions, expiry by the clock, revocation, renewal links, the JSON API with
//! both kinds of key, the signed alerts, and no token anywhere it must not be.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::alerts::{AlertConfig, Webhook};
use console_core::handoffs::{self as handoffs, NewHandoff};
use console_core::state::AppState;
use console_core::store;
use serde_json::Value;
use stores::Store;

use crate::support::{self, companies, hooks, stores};

const WEBHOOK_SECRET: &str = "a hand-off webhook secret";

/// Every log line this test binary writes, to look for tokens in.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        struct Sink(&'static Mutex<Vec<u8>>);
        impl Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Sink(buffer))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buffer
    })
}

struct World {
    base: String,
    state: AppState,
    sim: Simulator,
    clock: ManualClock,
    store: Store,
    hooks: Arc<Mutex<Vec<Value>>>,
}

async fn world() -> World {
    world_limited(600).await
}

/// A world whose `/connect/` pages take `per_minute` requests per address.
async fn world_limited(per_minute: u32) -> World {
    logs();
    let sim = Simulator::spawn().await.unwrap();
    let (origin, hooks) = hooks::receiver(WEBHOOK_SECRET).await;
    let store = Store::chosen().await;
    let mut settings = support::settings_for(&store, format!("{},{origin}", sim.allowed_hosts()));
    settings.config.org_name = Some("Expense Bot Inc.".into());
    settings.config.alerts = AlertConfig {
        thresholds: vec![30, 14, 7, 3, 1],
        webhook: Some(Webhook {
            url: format!("{origin}/hook"),
            secret: WEBHOOK_SECRET.into(),
        }),
        email: None,
        routes: Vec::new(),
    };
    settings.connect_rate_per_minute = per_minute;
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings, Arc::new(clock.clone())).await;
    World {
        base,
        state,
        sim,
        clock,
        store,
        hooks,
    }
}

/// What the customer pastes: a fresh app and company, with a fresh request token.
struct Customer {
    client_id: String,
    client_secret: String,
    company: String,
}

impl World {
    fn customer(&self, scopes: &[&str]) -> Customer {
        let (client_id, client_secret) = self.sim.add_app(scopes);
        let company = self.sim.add_company("us2");
        Customer {
            client_id,
            client_secret,
            company,
        }
    }

    async fn link(&self, name: &str) -> (String, String) {
        let request = NewHandoff {
            name: name.into(),
            profile: "expense-approvals".into(),
            ..NewHandoff::default()
        };
        let (view, url) = handoffs::create(&self.state, &request, "admin")
            .await
            .unwrap();
        (view.id, url)
    }

    async fn connect(&self, url: &str, c: &Customer, request_token: &str) -> reqwest::Response {
        support::browser()
            .post(url.replace(&self.state.public_url, &self.base))
            .form(&[
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.client_secret.as_str()),
                ("company_uuid", c.company.as_str()),
                ("request_token", request_token),
                ("authorization_url", &self.sim.origin("us2")),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn open(&self, url: &str) -> reqwest::Response {
        support::browser()
            .get(url.replace(&self.state.public_url, &self.base))
            .send()
            .await
            .unwrap()
    }

    async fn link_state(&self, id: &str) -> String {
        handoffs::get(&self.state, id)
            .await
            .unwrap()
            .state
            .key()
            .to_owned()
    }

    async fn audit_kinds(&self) -> Vec<String> {
        store::audit_page(&self.state.pool, &store::AuditFilter::default(), 0, 1000)
            .await
            .unwrap()
            .0
            .into_iter()
            .map(|r| format!("{}:{}", r.kind, r.detail))
            .collect()
    }
}

fn token_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_customer_connects_through_a_link_once_and_the_admins_are_told() {
    let w = world().await;
    let (id, url) = w.link("ACME Corp").await;
    assert!(url.starts_with(&format!("{}/connect/", w.state.public_url)));
    assert_eq!(token_of(&url).len(), 43, "256 bits, base64url");
    assert_eq!(w.link_state(&id).await, "waiting");

    let page = w.open(&url).await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Expense Bot Inc. asks you"));
    for scope in [
        "EXPRPT",
        "expense.report.workflowstatus.write",
        "identity.user.ids.read",
    ] {
        assert!(html.contains(scope), "{scope}");
    }
    assert!(
        !html.contains(&token_of(&url)),
        "the token is not in the page"
    );
    assert!(
        !html.contains("Connections") && !html.contains("Sign out"),
        "no console frame"
    );
    assert_eq!(w.link_state(&id).await, "opened");

    let c = w.customer(DEMO_SCOPES);
    let token = w.sim.mint_request_token(&c.company, &c.client_id);
    let done = w.connect(&url, &c, &token).await;
    assert_eq!(done.status(), 200);
    let html = done.text().await.unwrap();
    assert!(html.contains("the connection is made"), "{html}");
    assert!(html.contains("✔ EXPRPT") && !html.contains('✘'));
    assert!(html.contains(&c.company));
    assert!(
        html.contains("✔ Identity v4 users: 3 users"),
        "what the integration can read: {html}"
    );

    let view = handoffs::get(&w.state, &id).await.unwrap();
    assert_eq!(view.state.key(), "completed");
    let connection = view.connection_id.unwrap();
    let row = store::connection(&w.state.pool, &connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.name.as_str(), row.failing), ("ACME Corp", 0));
    assert_eq!(row.company_uuid.as_deref(), Some(c.company.as_str()));
    assert!(row.next_refresh_at.is_some(), "keep-alive scheduled");
    let history = store::history(&w.state.pool, &connection, 5).await.unwrap();
    assert_eq!(history[0].source, "hand-off link");

    assert_eq!(w.open(&url).await.status(), 410, "spent");
    let again = w.connect(&url, &c, &token).await;
    assert_eq!(again.status(), 410);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("This link has been used")
    );

    server::alerts::run_round(&w.state).await.unwrap();
    let hooks = w.hooks.lock().unwrap().clone();
    let completed = hooks
        .iter()
        .find(|h| h["event"] == "handoff_completed")
        .unwrap();
    assert_eq!(completed["handoff"]["id"], id.as_str());
    assert_eq!(completed["connection"]["id"], connection.as_str());

    let kinds = w.audit_kinds().await.join("\n");
    for kind in ["handoff_opened", "handoff_completed"] {
        assert!(kinds.contains(kind), "{kind} in\n{kinds}");
    }
    let secret_token = token_of(&url);
    assert!(!kinds.contains(&secret_token));
    let raw = w.store.contents();
    let leaked = |needle: &str| {
        raw.windows(needle.len())
            .any(|win| win == needle.as_bytes())
    };
    assert!(!leaked(&secret_token), "only the token's hash is stored");
    assert!(!leaked(&c.client_secret) && !leaked(&token));
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(!logged.contains(&secret_token), "no token in the logs");
    assert!(!logged.contains(&c.client_secret));
}

#[tokio::test]
async fn a_used_request_token_is_explained_for_the_customer_and_the_link_still_works() {
    let w = world().await;
    let (id, url) = w.link("Globex").await;
    let c = w.customer(DEMO_SCOPES);
    let used = w.sim.mint_request_token(&c.company, &c.client_id);
    assert_eq!(w.connect(&url, &c, &used).await.status(), 200, "sanity");
    // A second link, and the request token already spent on the first.
    let (id2, url2) = w.link("Globex again").await;
    let refused = w.connect(&url2, &c, &used).await;
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("Generate a new one under Authentication Admin → Company Request Token"),
        "{html}"
    );
    assert!(html.contains(&c.client_id), "what was typed is kept");
    assert!(!html.contains(&c.client_secret), "secrets are not");
    assert_eq!(w.link_state(&id2).await, "opened");
    let before = store::all_connections(&w.state.pool).await.unwrap().len();
    let fresh = w.sim.mint_request_token(&c.company, &c.client_id);
    assert_eq!(w.connect(&url2, &c, &fresh).await.status(), 200);
    assert_eq!(
        store::all_connections(&w.state.pool).await.unwrap().len(),
        before + 1
    );
    assert_eq!(w.link_state(&id).await, "completed");

    let (_, url3) = w.link("Missing scopes").await;
    let narrow = w.customer(&DEMO_SCOPES[..2]);
    let token = w.sim.mint_request_token(&narrow.company, &narrow.client_id);
    let missing = w.connect(&url3, &narrow, &token).await;
    assert_eq!(missing.status(), 422);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("Add the missing scopes to the app")
    );
    assert_eq!(
        store::all_connections(&w.state.pool).await.unwrap().len(),
        before + 1,
        "nothing stored"
    );
    let kinds = w.audit_kinds().await.join("\n");
    assert!(kinds.contains("handoff_refused:Globex again"), "{kinds}");
}

#[tokio::test]
async fn ten_refusals_lock_the_link_and_the_admins_are_told() {
    let w = world().await;
    let (id, url) = w.link("Initech").await;
    let c = w.customer(DEMO_SCOPES);
    for attempt in 1..=10 {
        let r = w.connect(&url, &c, "not-a-valid-request-token-0000").await;
        let expected = if attempt < 10 { 422 } else { 410 };
        assert_eq!(r.status(), expected, "attempt {attempt}");
    }
    assert_eq!(w.link_state(&id).await, "locked");
    let fresh = w.sim.mint_request_token(&c.company, &c.client_id);
    let locked = w.connect(&url, &c, &fresh).await;
    assert_eq!(locked.status(), 410);
    assert!(locked.text().await.unwrap().contains("This link is locked"));
    server::alerts::run_round(&w.state).await.unwrap();
    assert!(
        w.hooks
            .lock()
            .unwrap()
            .iter()
            .any(|h| h["event"] == "handoff_locked")
    );
    let kinds = w.audit_kinds().await;
    let count = |prefix: &str| kinds.iter().filter(|k| k.starts_with(prefix)).count();
    assert_eq!(count("handoff_refused:"), 10);
    assert_eq!(count("handoff_locked:"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_parallel_connects_ask_concur_ten_times_and_lock_the_link_once() {
    let w = world().await;
    let (id, url) = w.link("Parallel").await;
    let c = w.customer(DEMO_SCOPES);
    let asked_before = w.sim.token_requests();
    let post = url.replace(&w.state.public_url, &w.base);
    let form = [
        ("client_id", c.client_id.clone()),
        ("client_secret", c.client_secret.clone()),
        ("company_uuid", c.company.clone()),
        ("request_token", "not-a-valid-request-token-0000".to_owned()),
        ("authorization_url", w.sim.origin("us2")),
    ];
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let (post, form) = (post.clone(), form.clone());
            tokio::spawn(async move {
                let answer = support::browser().post(post).form(&form).send().await;
                answer.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort_unstable();
    let refused = statuses.iter().filter(|s| **s == 422).count();
    let closed = statuses.iter().filter(|s| **s == 410).count();
    assert_eq!((refused, closed), (9, 21), "{statuses:?}");
    assert_eq!(
        w.sim.token_requests() - asked_before,
        10,
        "Concur sees ten refused exchanges, whatever the concurrency"
    );
    assert_eq!(w.link_state(&id).await, "locked");
    server::alerts::run_round(&w.state).await.unwrap();
    let locked_alerts = w
        .hooks
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h["event"] == "handoff_locked" && h["handoff"]["id"] == id.as_str())
        .count();
    assert_eq!(locked_alerts, 1);
    let kinds = w.audit_kinds().await;
    let count = |prefix: &str| {
        kinds
            .iter()
            .filter(|k| k.starts_with(prefix) && k.contains(&id))
            .count()
    };
    assert_eq!(count("handoff_refused:"), 10);
    assert_eq!(count("handoff_locked:"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_on_a_link_is_logged_without_its_token() {
    let w = world().await;
    let (_, url) = w.link("Broken store").await;
    let c = w.customer(DEMO_SCOPES);
    let fresh = w.sim.mint_request_token(&c.company, &c.client_id);
    sqlx::query("ALTER TABLE connections RENAME TO connections_away")
        .execute(&w.state.pool)
        .await
        .unwrap();
    let answer = w.connect(&url, &c, &fresh).await;
    sqlx::query("ALTER TABLE connections_away RENAME TO connections")
        .execute(&w.state.pool)
        .await
        .unwrap();
    assert_eq!(answer.status(), 500);
    let request_id = answer.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    let line = logged
        .lines()
        .find(|l| l.contains("answered 500") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("the 500 is logged with its request id:\n{logged}"));
    assert!(line.contains("/connect/…"), "{line}");
    assert!(
        !logged.contains(&token_of(&url)),
        "the token is in no log line or span"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_connects_store_one_connection_and_spend_the_link_once() {
    let w = world().await;
    let (id, url) = w.link("Race").await;
    let c = w.customer(DEMO_SCOPES);
    let (t1, t2) = (
        w.sim.mint_request_token(&c.company, &c.client_id),
        w.sim.mint_request_token(&c.company, &c.client_id),
    );
    let before = store::all_connections(&w.state.pool).await.unwrap().len();
    let (a, b) = tokio::join!(w.connect(&url, &c, &t1), w.connect(&url, &c, &t2));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 410]);
    assert_eq!(
        store::all_connections(&w.state.pool).await.unwrap().len(),
        before + 1
    );
    assert_eq!(w.link_state(&id).await, "completed");
}

#[tokio::test]
async fn links_expire_by_the_clock_can_be_revoked_and_unknown_ones_are_not_found() {
    let w = world().await;
    let (id, url) = w.link("Soon gone").await;
    let (revoked_id, revoked_url) = w.link("Withdrawn").await;
    handoffs::revoke(&w.state, &revoked_id).await.unwrap();
    let r = w.open(&revoked_url).await;
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("withdrawn"));

    w.clock.advance(7 * 86_400 - 1);
    assert_eq!(w.open(&url).await.status(), 200, "valid for 7 days");
    w.clock.advance(1);
    let expired = w.open(&url).await;
    assert_eq!(expired.status(), 410);
    let html = expired.text().await.unwrap();
    assert!(html.contains("This link has expired") && html.contains("Ask Expense Bot Inc."));
    assert_eq!(w.link_state(&id).await, "expired");

    server::upkeep::run_once(&w.state).await;
    server::upkeep::run_once(&w.state).await;
    server::alerts::run_round(&w.state).await.unwrap();
    let expired_alerts = w
        .hooks
        .lock()
        .unwrap()
        .iter()
        .filter(|h| h["event"] == "handoff_expired")
        .count();
    assert_eq!(expired_alerts, 1, "told once, not for the revoked one");
    let kinds = w.audit_kinds().await;
    let expired = kinds
        .iter()
        .filter(|k| k.starts_with("handoff_expired:Soon gone"));
    assert_eq!(expired.count(), 1);

    let unknown = w
        .open(&format!(
            "{}/connect/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            w.state.public_url
        ))
        .await;
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("No such link"));
    let junk = w
        .open(&format!("{}/connect/..%2F..%2Fetc", w.state.public_url))
        .await;
    assert_eq!(junk.status(), 404);

    let too_long = handoffs::create(
        &w.state,
        &NewHandoff {
            name: "x".into(),
            profile: "expense-approvals".into(),
            valid_days: Some(31),
            ..NewHandoff::default()
        },
        "admin",
    )
    .await;
    assert_eq!(
        too_long
            .err()
            .and_then(|e| e.field().map(str::to_owned))
            .as_deref(),
        Some("valid_days")
    );
}

#[tokio::test]
async fn a_renewal_link_replaces_only_the_refresh_token_of_its_connection() {
    let w = world().await;
    let form = companies::credentials(&w.sim, "Renew me", DEMO_SCOPES);
    let client_id = form.client_id.clone();
    let company = {
        let id = console_core::connections::create(&w.state, form)
            .await
            .unwrap();
        let row = store::connection(&w.state.pool, &id)
            .await
            .unwrap()
            .unwrap();
        (id, row.company_uuid.unwrap(), row.refresh_token_mask)
    };
    let (connection, company_uuid, old_mask) = company;
    let request = NewHandoff {
        connection_id: Some(connection.clone()),
        ..NewHandoff::default()
    };
    let (link, url) = handoffs::create(&w.state, &request, "admin").await.unwrap();
    assert!(link.renewal);
    let page = w.open(&url).await.text().await.unwrap();
    assert!(page.contains("Renew your SAP Concur connection"));
    assert!(!page.contains(&client_id), "the Client ID is shown masked");
    assert!(page.contains(&format!("••••{}", &client_id[client_id.len() - 4..])));

    let token = w.sim.mint_request_token(&company_uuid, &client_id);
    let renewed = support::browser()
        .post(url.replace(&w.state.public_url, &w.base))
        .form(&[("client_secret", ""), ("request_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
    let row = store::connection(&w.state.pool, &connection)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(row.refresh_token_mask, old_mask, "a new refresh token");
    assert_eq!(
        (row.name.as_str(), row.client_id.as_str()),
        ("Renew me", client_id.as_str())
    );
    let history = store::history(&w.state.pool, &connection, 5).await.unwrap();
    assert_eq!(history[0].source, "hand-off link");
    assert_eq!(w.link_state(&link.id).await, "completed");

    let (gone, gone_url) = handoffs::create(&w.state, &request, "admin").await.unwrap();
    console_core::connections::delete(&w.state, &connection, "yes")
        .await
        .unwrap();
    assert_eq!(w.link_state(&gone.id).await, "revoked");
    assert_eq!(w.open(&gone_url).await.status(), 410);
}

#[tokio::test]
async fn the_api_takes_hand_off_keys_only_and_connection_keys_only_get_tokens() {
    let w = world().await;
    let http = support::browser();
    let handoff_key = console_core::api_keys::create_handoff_key(&w.state, "onboarding bot")
        .await
        .unwrap()
        .key;
    let connection = companies::add(&w.state, &w.sim, "Keyed", DEMO_SCOPES).await;
    let connection_key = console_core::api_keys::create(&w.state, &connection, "bot")
        .await
        .unwrap()
        .key;
    let create = |key: Option<&str>, body: Value| {
        let mut request = http.post(format!("{}/api/v1/handoffs", w.base)).json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send()
    };
    let body = serde_json::json!({
        "name": "Umbrella", "profile": "mileage-to-expense", "valid_days": 3, "note": "pilot"
    });
    let made = create(Some(&handoff_key), body.clone()).await.unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(made["url"].as_str().unwrap().contains("/connect/"));
    assert!(made["expires_at"].as_str().unwrap().ends_with('Z'));

    let forbidden = create(Some(&connection_key), body.clone()).await.unwrap();
    assert_eq!(forbidden.status(), 403);
    let forbidden: Value = forbidden.json().await.unwrap();
    let doc: Value = http
        .get(format!("{}/api/openapi.json", w.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert!(documented.contains(&forbidden["error"]), "{forbidden}");
    for status in ["201", "401", "403", "422"] {
        assert!(doc["paths"]["/api/v1/handoffs"]["post"]["responses"][status].is_object());
    }
    assert_eq!(create(None, body.clone()).await.unwrap().status(), 401);
    assert_eq!(
        create(Some("cch_unknown"), body.clone())
            .await
            .unwrap()
            .status(),
        401
    );
    let long = serde_json::json!({ "name": "x", "profile": "expense-approvals", "valid_days": 31 });
    let long = create(Some(&handoff_key), long).await.unwrap();
    assert_eq!(long.status(), 422);
    let long: Value = long.json().await.unwrap();
    assert!(documented.contains(&long["error"]), "{long}");
    assert!(long["message"].as_str().unwrap().contains("1 to 30 days"));

    let created = store::audit_page(&w.state.pool, &store::AuditFilter::default(), 0, 100)
        .await
        .unwrap()
        .0
        .into_iter()
        .find(|e| e.kind == "handoff_created")
        .unwrap();
    assert_eq!(created.actor, "API key onboarding bot");
    let read = http
        .get(format!("{}/api/v1/handoffs/{id}", w.base))
        .bearer_auth(&handoff_key)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["state"], "waiting");
    assert_eq!(read["profile"], "Mileage to expense");

    // Another hand-off key (even one with the same label) reads none of these links, nor one
    // made on a page.
    let other_key = console_core::api_keys::create_handoff_key(&w.state, "onboarding bot")
        .await
        .unwrap()
        .key;
    let (on_a_page, _) = w.link("Made on a page").await;
    for (key, link) in [(&other_key, &id), (&handoff_key, &on_a_page)] {
        let refused = http
            .get(format!("{}/api/v1/handoffs/{link}", w.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 404, "{link}");
    }

    let token_with_handoff_key = http
        .get(format!("{}/api/v1/connections/{connection}/token", w.base))
        .bearer_auth(&handoff_key)
        .send()
        .await
        .unwrap();
    assert_eq!(token_with_handoff_key.status(), 403);
    let token = http
        .get(format!("{}/api/v1/connections/{connection}/token", w.base))
        .bearer_auth(&connection_key)
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
}

#[tokio::test]
async fn the_terminal_prints_only_the_link() {
    let w = world().await;
    let command = server::handoff::HandoffCommand::Create {
        name: Some("Hooli".into()),
        profile: Some("expense-approvals".into()),
        valid_for: "14d".into(),
        note: String::new(),
        connection: None,
        belonging: Box::new(server::manage::BelongingArgs {
            external_id: None,
            tag: Vec::new(),
            contact_name: None,
            contact_email: None,
            owner: None,
        }),
    };
    let mut out = Vec::new();
    assert!(
        server::handoff::command(&w.state, &command, &mut out)
            .await
            .is_ok()
    );
    let printed = String::from_utf8(out).unwrap();
    assert_eq!(printed.lines().count(), 1);
    let url = printed.trim();
    assert!(url.starts_with(&format!("{}/connect/", w.state.public_url)));
    assert_eq!(w.open(url).await.status(), 200);
    let list = handoffs::list(&w.state, 0).await.unwrap().0;
    assert_eq!(list[0].expires_at - list[0].created_at, 14 * 86_400);
    assert_eq!(list[0].created_by, "terminal");
    let revoke = server::handoff::HandoffCommand::Revoke {
        id: list[0].id.clone(),
    };
    let mut out = Vec::new();
    assert!(
        server::handoff::command(&w.state, &revoke, &mut out)
            .await
            .is_ok()
    );
    assert_eq!(w.open(url).await.status(), 410);
    let kinds = w.audit_kinds().await.join("\n");
    for kind in ["handoff_created:Hooli", "handoff_revoked:Hooli"] {
        assert!(kinds.contains(kind), "{kind} in\n{kinds}");
    }
}

#[tokio::test]
async fn the_customer_page_checks_hosts_like_the_console_and_limits_each_address() {
    let w = world_limited(5).await;
    let (_, url) = w.link("Hosts").await;
    let c = w.customer(DEMO_SCOPES);
    let before = w.sim.token_requests();
    let private = support::browser()
        .post(url.replace(&w.state.public_url, &w.base))
        .form(&[
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("company_uuid", c.company.as_str()),
            ("request_token", "a-request-token-of-some-length"),
            ("authorization_url", "http://10.0.0.1:8080"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(private.status(), 422);
    let html = private.text().await.unwrap();
    assert!(html.contains("not a Concur data centre"), "{html}");
    assert_eq!(w.sim.token_requests(), before, "nothing was sent to Concur");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(w.open(&url).await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429],
        "five a minute, the POST counted"
    );
}

/// `POST /api/v1/handoffs` with `key`: status and body.
async fn api_link(w: &World, key: &str, body: Value) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/handoffs", w.base))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

#[tokio::test]
async fn a_link_carries_who_its_connection_belongs_to_onto_the_connection() {
    let w = world().await;
    support::person(&w.state, "csm-id", "csm", console_model::Role::Editor).await;
    let output = w
        .store
        .console(&["api-key", "create", "--manage", "--name", "crm"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let key = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    // Bad values are named and make no link.
    for (extra, word) in [
        (serde_json::json!({"tags": {"Env": "prod"}}), "tag"),
        (serde_json::json!({"owner": "nobody"}), "nobody"),
        (
            serde_json::json!({"external_id": "not an id"}),
            "xternal id",
        ),
        (serde_json::json!({"contact": {"email": "nope"}}), "e-mail"),
    ] {
        let mut body = serde_json::json!({"name": "Initech", "profile": "expense-approvals"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, answer) = api_link(&w, &key, body).await;
        assert_eq!(status, 422, "{extra}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(word),
            "{answer}"
        );
    }
    assert!(handoffs::list(&w.state, 0).await.unwrap().0.is_empty());

    let (status, made) = api_link(
        &w,
        &key,
        serde_json::json!({
            "name": "Initech", "profile": "expense-approvals",
            "external_id": "tenant-7", "tags": {"env": "prod", "region": "emea"},
            "contact": {"name": "Peter Gibbons", "email": "peter@initech.example"},
            "owner": "csm"
        }),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap();
    let read = reqwest::Client::new()
        .get(format!("{}/api/v1/handoffs/{id}", w.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["external_id"], "tenant-7");
    assert_eq!(
        read["tags"],
        serde_json::json!({"env": "prod", "region": "emea"})
    );
    assert_eq!(read["contact"]["email"], "peter@initech.example");
    assert_eq!(read["owner"], "csm");

    let c = w.customer(DEMO_SCOPES);
    let token = w.sim.mint_request_token(&c.company, &c.client_id);
    let url = made["url"].as_str().unwrap();
    assert_eq!(w.connect(url, &c, &token).await.status(), 200);
    let connection = handoffs::get(&w.state, id)
        .await
        .unwrap()
        .connection_id
        .unwrap();
    let row = store::connection(&w.state.pool, &connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.belonging.external_id.as_deref(), Some("tenant-7"));
    assert_eq!(row.belonging.contact_name.as_deref(), Some("Peter Gibbons"));
    assert_eq!(row.belonging.owner_id.as_deref(), Some("csm-id"));
    let tags = store::tags_of(&w.state.pool, &connection).await.unwrap();
    assert_eq!(
        tags,
        vec![
            ("env".into(), "prod".into()),
            ("region".into(), "emea".into())
        ]
    );

    // A link whose external id another connection took meanwhile still connects, without it.
    let request = NewHandoff {
        name: "Initech again".into(),
        profile: "expense-approvals".into(),
        belonging: console_model::BelongingForm {
            external_id: "tenant-8".into(),
            tags: "env=dev".into(),
            ..Default::default()
        },
        ..NewHandoff::default()
    };
    let (second, url) = handoffs::create(&w.state, &request, "admin").await.unwrap();
    let change = console_core::connections::fleet::Change {
        external_id: Some("tenant-8".into()),
        ..Default::default()
    };
    console_core::connections::fleet::change(&w.state, &connection, &change)
        .await
        .unwrap();
    let c = w.customer(DEMO_SCOPES);
    let token = w.sim.mint_request_token(&c.company, &c.client_id);
    assert_eq!(w.connect(&url, &c, &token).await.status(), 200);
    let made = handoffs::get(&w.state, &second.id)
        .await
        .unwrap()
        .connection_id
        .unwrap();
    let row = store::connection(&w.state.pool, &made)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.belonging.external_id, None);
    assert_eq!(
        store::tags_of(&w.state.pool, &made).await.unwrap(),
        vec![("env".into(), "dev".into())]
    );

    // A renewal link keeps its connection's: it takes none.
    let renewal = NewHandoff {
        connection_id: Some(connection),
        belonging: console_model::BelongingForm {
            owner: "csm".into(),
            ..Default::default()
        },
        ..NewHandoff::default()
    };
    assert!(handoffs::create(&w.state, &renewal, "admin").await.is_err());
}
