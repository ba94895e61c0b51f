//! Keep-alive and the token API: one sweep over 10 000 connections against the simulator (with
//! rotation on, so a lost token would show), and the release console's token API at 100
//! concurrent callers with a cached token, against a bare axum handler serving the same bytes.

use std::time::{Duration, Instant};

use concur_sim::{DEMO_SCOPES, Quirks, Simulator};
use console_core::state::AppState;
use console_core::store::{self, ConnectionRow};

use crate::dashboard::{
    bare_axum, config, free_port, load, print, show, start_console, state, state_of, state_with,
    wrk_with,
};

const SWEEP_CONNECTIONS: usize = 10_000;
const CALLERS: usize = 100;
const REQUESTS_PER_CALLER: usize = 100;

/// Connections in us2 holding refresh tokens the simulator issued, all due now.
pub async fn seed(state: &AppState, sim: &Simulator, count: usize) -> Vec<String> {
    seed_in(state, sim, "us2", 0..count).await
}

/// Connections numbered `numbers` in `centre`, holding refresh tokens the simulator issued, all
/// due now.
async fn seed_in(
    state: &AppState,
    sim: &Simulator,
    centre: &str,
    numbers: std::ops::Range<usize>,
) -> Vec<String> {
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let now = state.now();
    let mut ids = Vec::with_capacity(numbers.len());
    let mut tx = state.pool.begin().await.expect("transaction");
    for i in numbers {
        let company = sim.add_company(centre);
        let token = sim.issue_refresh_token(&company, &client_id);
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let row = ConnectionRow {
            id: id.clone(),
            name: format!("Tenant {i:05}"),
            client_id: client_id.clone(),
            authorization_url: sim.origin(centre),
            geolocation: Some(sim.origin(centre)),
            company_uuid: Some(company),
            scope_profile: "mileage-to-expense".into(),
            required_scopes: concur::ScopeProfile::MileageToExpense.required().join(" "),
            granted_scopes: String::new(),
            failing: 0,
            last_problem: None,
            refresh_token_expires_at: None,
            access_token_expires_at: None,
            last_checked_at: None,
            last_ok_at: None,
            client_secret_sealed: state.cipher.seal(&id, "client_secret", &secret),
            refresh_token_sealed: state.cipher.seal(&id, "refresh_token", &token),
            client_secret_mask: "••••".into(),
            refresh_token_mask: "••••".into(),
            created_at: now,
            updated_at: now,
            access_token_sealed: None,
            next_refresh_at: Some(0),
            transient_failures: 0,
            next_step: None,
            ..ConnectionRow::default()
        };
        store::upsert_connection(&mut *tx, &row, true)
            .await
            .expect("insert");
        ids.push(id);
    }
    tx.commit().await.expect("commit");
    ids
}

/// One sweep with the probes off, then one with them on (each connection's profile implies all
/// five read-only calls): the time each takes, and the ratio.
pub async fn sweep() {
    let off = sweep_once(false).await;
    let on = sweep_once(true).await;
    println!(
        "  probes on beside off: {:.2} × the time (goal ≤ 1.5)",
        on.as_secs_f64() / off.as_secs_f64()
    );
}

async fn sweep_once(probes: bool) -> Duration {
    let sim = Simulator::spawn().await.expect("simulator");
    sim.set_quirks(Quirks {
        rotate_refresh_tokens: true,
        ..Quirks::default()
    });
    let dir = std::env::temp_dir().join(format!(
        "concur-bench-sweep-{}-{probes}",
        std::process::id()
    ));
    let mut config = config(
        &format!("sqlite://{}/console.db", dir.display()),
        sim.allowed_hosts(),
        concur::ClientConfig::default(),
    );
    config.probes = probes;
    let state = state_of(&config).await;
    let ids = seed(&state, &sim, SWEEP_CONNECTIONS).await;
    let before = sim.token_requests();
    let started = Instant::now();
    let lines = server::keepalive::sweep_due(&state, None)
        .await
        .expect("sweep");
    let elapsed = started.elapsed();
    let calls = sim.token_requests() - before;
    let mut lost = 0;
    for id in &ids {
        let row = store::connection(&state.pool, id)
            .await
            .expect("read")
            .expect("row");
        let token = state
            .cipher
            .open(id, "refresh_token", &row.refresh_token_sealed)
            .expect("open");
        if sim.refresh_token_expiry(&token).is_none() {
            lost += 1;
        }
    }
    let ok = lines.iter().filter(|l| l.ok).count();
    let probed = store::probe_results_of(&state.pool, &[ids[0].as_str()])
        .await
        .expect("probes")
        .len();
    println!(
        "keep-alive sweep, {SWEEP_CONNECTIONS} connections, rotation on, probes {}: {:.1} s ({:.0} connections/s), {calls} token calls, {ok} ok, tokens lost: {lost} (must be 0), {probed} probe findings on the first",
        if probes { "on" } else { "off" },
        elapsed.as_secs_f64(),
        SWEEP_CONNECTIONS as f64 / elapsed.as_secs_f64()
    );
    state.pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    elapsed
}

/// A sweep of 1 000 connections, 10 of them in a data centre that hangs: how long the 990
/// healthy ones take beside it, against the same 990 swept alone.
pub async fn stuck() {
    const HEALTHY: usize = 990;
    const STUCK: usize = 10;
    const TIMEOUT: Duration = Duration::from_secs(5);
    let alone = sweep_healthy(HEALTHY, 0, TIMEOUT).await;
    let beside = sweep_healthy(HEALTHY, STUCK, TIMEOUT).await;
    println!(
        "keep-alive sweep beside a stuck data centre ({STUCK} connections in eu2, which never answers; {} s timeout):",
        TIMEOUT.as_secs()
    );
    println!(
        "  {HEALTHY} healthy connections alone: refreshed in {:.2} s",
        alone.healthy.as_secs_f64()
    );
    println!(
        "  the same beside the {STUCK} stuck: refreshed in {:.2} s ({:.2} × alone); whole sweep {:.2} s, stuck ones: {} transient, {} marked failing",
        beside.healthy.as_secs_f64(),
        beside.healthy.as_secs_f64() / alone.healthy.as_secs_f64(),
        beside.whole.as_secs_f64(),
        beside.transient,
        beside.failing,
    );
}

struct StuckSweep {
    /// Until every healthy connection was refreshed.
    healthy: Duration,
    whole: Duration,
    transient: usize,
    failing: i64,
}

async fn sweep_healthy(healthy: usize, stuck: usize, timeout: Duration) -> StuckSweep {
    let sim = Simulator::spawn().await.expect("simulator");
    let dir =
        std::env::temp_dir().join(format!("concur-bench-stuck-{}-{stuck}", std::process::id()));
    let client = concur::ClientConfig {
        timeout,
        ..concur::ClientConfig::default()
    };
    let state = state_with(
        &format!("sqlite://{}/console.db", dir.display()),
        sim.allowed_hosts(),
        client,
    )
    .await;
    seed_in(&state, &sim, "us2", 0..healthy).await;
    seed_in(&state, &sim, "eu2", healthy..healthy + stuck).await;
    sim.stall("eu2", 60_000);
    let started = Instant::now();
    let sweep = {
        let state = state.clone();
        tokio::spawn(async move { server::keepalive::sweep_due(&state, None).await })
    };
    let mut healthy_done = None;
    while healthy_done.is_none() || !sweep.is_finished() {
        if healthy_done.is_none() {
            let refreshed: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE last_ok_at IS NOT NULL")
                    .fetch_one(&state.pool)
                    .await
                    .expect("count");
            if refreshed as usize >= healthy {
                healthy_done = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let lines = sweep.await.expect("sweep").expect("sweep");
    let whole = started.elapsed();
    let failing: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(failing), 0) FROM connections")
        .fetch_one(&state.pool)
        .await
        .expect("count");
    state.pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    StuckSweep {
        healthy: healthy_done.unwrap_or(whole),
        whole,
        transient: lines.iter().filter(|l| l.transient).count(),
        failing,
    }
}

pub async fn token_api() {
    let dir = std::env::temp_dir().join(format!("concur-bench-token-{}", std::process::id()));
    token_api_on("SQLite", &format!("sqlite://{}/console.db", dir.display())).await;
    let _ = std::fs::remove_dir_all(&dir);
    match std::env::var("CONCUR_TEST_POSTGRES_URL") {
        Ok(url) => token_api_on("PostgreSQL", &url).await,
        Err(_) => println!(
            "token API on PostgreSQL: skipped (run through scripts/with-postgres.sh, as make bench does)"
        ),
    }
}

/// The token API on one store with a cached access token, beside bare axum serving its bytes.
async fn token_api_on(label: &str, database_url: &str) {
    let sim = Simulator::spawn().await.expect("simulator");
    let state = state(database_url, sim.allowed_hosts()).await;
    sqlx::query("DELETE FROM connections")
        .execute(&state.pool)
        .await
        .expect("an empty store");
    let id = seed(&state, &sim, 1).await.remove(0);
    let key = console_core::api_keys::create(&state, &id, "bench")
        .await
        .expect("key")
        .key;
    let fleet_key = console_core::fleet_keys::create(&state, "bench fleet", "")
        .await
        .expect("fleet key")
        .key;
    state.pool.close().await;

    let port = free_port();
    let allowed = sim.allowed_hosts();
    let console = start_console(
        database_url,
        port,
        &[
            ("CONCUR_ALLOWED_HOSTS", allowed.as_str()),
            ("CONCUR_API_RATE_LIMIT", "100000000"),
        ],
    );
    let url = format!("http://127.0.0.1:{port}/api/v1/connections/{id}/token");
    let auth = format!("Bearer {key}");
    let http = reqwest::Client::new();
    let mut body = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(r) = http.get(&url).header("authorization", &auth).send().await {
            assert!(r.status().is_success(), "token API answered {}", r.status());
            body = r.text().await.ok();
            break;
        }
    }
    let body = body.expect("the console answered");
    let calls_before = sim.token_requests();
    let console_figures = load(&url, ("authorization", &auth), CALLERS, REQUESTS_PER_CALLER).await;
    let header = format!("Authorization: {auth}");
    let console_wrk = wrk_with(&url, &header, &CALLERS.to_string());
    let fleet_header = format!("Authorization: Bearer {fleet_key}");
    let fleet_wrk = wrk_with(&url, &fleet_header, &CALLERS.to_string());
    let calls = sim.token_requests() - calls_before;
    drop(console);
    let bare_url = bare_axum(body, "application/json").await;
    let bare_figures = load(
        &bare_url,
        ("authorization", &auth),
        CALLERS,
        REQUESTS_PER_CALLER,
    )
    .await;
    let bare_wrk = wrk_with(&bare_url, &header, &CALLERS.to_string());

    println!(
        "token API on {label}, cached access token, {CALLERS} concurrent callers × {REQUESTS_PER_CALLER} requests ({calls} Concur calls during the load):"
    );
    print("console", &console_figures);
    print("bare axum, same bytes", &bare_figures);
    println!(
        "  console / bare axum: {:.2} (goal ≥ 0.4, p99 ≤ 5 ms)",
        console_figures.per_second / bare_figures.per_second
    );
    println!("  the same measured by wrk (-t2 -c{CALLERS}, C, lighter than the callers above):");
    show("console", &console_wrk);
    show("bare axum, same bytes", &bare_wrk);
    println!(
        "  console / bare axum: {:.2}",
        console_wrk.per_second / bare_wrk.per_second
    );
    show("console, a fleet key", &fleet_wrk);
    println!(
        "  console with a fleet key / bare axum: {:.2} (goal ≥ 0.5)",
        fleet_wrk.per_second / bare_wrk.per_second
    );
}
