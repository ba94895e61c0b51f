//! Two `concur-console serve` replicas on one PostgreSQL database, under token API load, both
//! sweeping every two seconds with refresh-token rotation on (so a lost token or a double
//! refresh would break a connection): one is killed with SIGKILL half-way and restarted.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use concur::SystemClock;
use concur_sim::{DEMO_SCOPES, Quirks, Simulator};
use console_core::connections::refresh::{Need, refresh};
use console_core::state::AppState;
use console_core::store;
use console_model::CredentialsForm;
use stores::Store;

use crate::support::{self, stores};

const CONSOLE: &str = env!("CARGO_BIN_EXE_concur-console");
const CONNECTIONS: usize = 12;

struct Replica {
    child: Child,
    base: String,
}

/// Starts `serve` in a directory of its own: with PostgreSQL there is no data directory, and
/// the setup link is written to the working directory.
fn start(store: &Store, sim: &Simulator) -> Replica {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("cc-replica-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(CONSOLE)
        .arg("serve")
        .current_dir(&dir)
        .env("DATABASE_URL", store.url())
        .env("CONCUR_CONSOLE_KEY", store.key().unwrap())
        .env("CONCUR_ALLOWED_HOSTS", sim.allowed_hosts())
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env("CONCUR_KEEPALIVE_EVERY", "2s")
        .env("CONCUR_REFRESH_LEASE", "2s")
        .env("CONCUR_API_RATE_LIMIT", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Replica {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn ready(replica: &Replica) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", replica.base)).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never became ready",
            replica.base
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Token calls against `base` until `stop`, round the connections; each answer's status, or
/// 0 for a request that got no answer.
fn load(
    base: String,
    targets: Arc<Vec<(String, String)>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<u16>> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut statuses = Vec::new();
        let mut i = 0;
        while !stop.load(Ordering::SeqCst) {
            let (id, key) = &targets[i % targets.len()];
            let status = http
                .get(format!("{base}/api/v1/connections/{id}/token"))
                .bearer_auth(key)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16());
            statuses.push(status);
            i += 1;
        }
        statuses
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_loses_no_token_and_the_survivor_takes_its_work_on_postgresql()
{
    let store = Store::postgres().await;
    let sim = Simulator::spawn().await.unwrap();
    sim.set_quirks(Quirks {
        rotate_refresh_tokens: true,
        ..Quirks::default()
    });
    let mut config = support::settings(store.url(), sim.allowed_hosts()).config;
    config.console_key = store.key();
    let state = AppState::build(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    let mut targets = Vec::new();
    for i in 0..CONNECTIONS {
        let (client_id, client_secret) = sim.add_app(DEMO_SCOPES);
        let company = sim.add_company("us2");
        let mut form = CredentialsForm::default();
        form.mode = "refresh-token".into();
        form.name = format!("Tenant {i}");
        form.refresh_token = sim.issue_refresh_token(&company, &client_id);
        form.client_id = client_id;
        form.client_secret = client_secret;
        form.authorization_url = sim.origin("us2");
        form.scope_profile = "expense-approvals".into();
        let id = console_core::connections::create(&state, form)
            .await
            .unwrap();
        let key = console_core::api_keys::create(&state, &id, "bot")
            .await
            .unwrap()
            .key;
        targets.push((id, key));
    }
    let targets = Arc::new(targets);
    sqlx::query("UPDATE connections SET next_refresh_at = 0")
        .execute(&state.pool)
        .await
        .unwrap();

    let mut doomed = start(&store, &sim);
    let survivor = start(&store, &sim);
    ready(&doomed).await;
    ready(&survivor).await;
    let stop_doomed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let on_doomed = load(doomed.base.clone(), targets.clone(), stop_doomed.clone());
    let on_survivor = load(survivor.base.clone(), targets.clone(), stop.clone());

    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_doomed.store(true, Ordering::SeqCst);
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let killed_at = state.now();
    let before_kill = on_doomed.await.unwrap();

    // The dead replica's leases lapse after two seconds; the survivor sweeps its connections.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut restarted = start(&store, &sim);
    ready(&restarted).await;
    let stop_restarted = Arc::new(AtomicBool::new(false));
    let on_restarted = load(
        restarted.base.clone(),
        targets.clone(),
        stop_restarted.clone(),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    stop_restarted.store(true, Ordering::SeqCst);
    let survived = on_survivor.await.unwrap();
    let after_restart = on_restarted.await.unwrap();
    let mut survivor = survivor;
    for replica in [&mut survivor, &mut restarted] {
        replica.child.kill().unwrap();
        replica.child.wait().unwrap();
    }

    assert!(survived.len() > 100, "{} calls", survived.len());
    assert!(
        survived.iter().all(|s| *s == 200),
        "the survivor answered every call: {:?}",
        survived.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    let in_flight = before_kill.iter().filter(|s| **s != 200).count();
    assert!(
        in_flight <= 1,
        "only the call in flight at the kill may fail"
    );
    assert!(after_restart.iter().all(|s| *s == 200));

    for (id, _) in targets.iter() {
        let row = store::connection(&state.pool, id).await.unwrap().unwrap();
        assert_eq!(row.failing, 0, "{}: {:?}", row.name, row.last_problem);
        let history = store::history(&state.pool, id, 1000).await.unwrap();
        assert!(
            history
                .iter()
                .any(|h| h.source == "keep-alive" && h.at >= killed_at && h.ok == 1),
            "{} was refreshed after the kill",
            row.name
        );
        let outcome = refresh(&state, id, Need::Always, "validate").await.unwrap();
        assert_eq!(
            outcome.row().failing,
            0,
            "{}: the stored refresh token still works, so none was lost",
            row.name
        );
    }
}
