//! The database away while integrations call the token API: a PostgreSQL connection cut by a
//! TCP proxy in front of the cluster (as a restart or a network partition would), then given
//! back. Tokens the console holds in memory keep being handed out; the rest get 503 with
//! Retry-After; nothing hangs; everything recovers without a restart.

mod common;
#[path = "common/companies.rs"]
mod companies;
#[path = "common/stores.rs"]
mod stores;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use serde_json::Value;
use stores::Store;
use tokio::task::JoinHandle;

/// A TCP proxy to the database that can be cut (every connection closed, new ones dropped)
/// and given back.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accepting, kept) = (open.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                kept.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { port, open, links }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// An HTTP client that gives up on an answer after 5 seconds: a hung request fails the test.
fn impatient() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgresql_is_away_held_tokens_keep_flowing_the_rest_get_503_and_all_recovers_on_postgresql()
 {
    let store = Store::postgres().await;
    let url = store.url();
    let (head, tail) = url.split_once("@").unwrap();
    let (upstream, database) = tail.split_once('/').unwrap();
    let proxy = Proxy::start(upstream.to_owned()).await;
    let proxied = format!("{head}@127.0.0.1:{}/{database}", proxy.port);

    let sim = Simulator::spawn().await.unwrap();
    let mut settings = common::settings(proxied, sim.allowed_hosts());
    settings.config.console_key = store.key();
    let (base, state) = common::serve(settings, Arc::new(ManualClock::at(sim.now()))).await;
    let held = companies::add(&state, &sim, "Held in memory", DEMO_SCOPES).await;
    let cold = companies::add(&state, &sim, "Never asked", DEMO_SCOPES).await;
    let held_key = app::api_keys::ssr::create(&state, &held, "bot")
        .await
        .unwrap()
        .key;
    let cold_key = app::api_keys::ssr::create(&state, &cold, "bot")
        .await
        .unwrap()
        .key;
    let http = impatient();
    let token = |id: &str, key: &str| {
        http.get(format!("{base}/api/v1/connections/{id}/token"))
            .bearer_auth(key)
            .send()
    };
    let first: Value = token(&held, &held_key).await.unwrap().json().await.unwrap();
    let hash = app::auth::ssr::hash_password("violet tractor sings softly".into())
        .await
        .unwrap();
    common::account(&state, "a1", "admin", &hash, app::model::Role::Admin).await;
    let admin = common::browser();
    admin
        .post(format!("{base}/api/login"))
        .form(&[
            ("username", "admin"),
            ("password", "violet tractor sings softly"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        admin.get(format!("{base}/")).send().await.unwrap().status(),
        200
    );

    proxy.cut();
    let page = admin.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.text().await.unwrap().contains("Database unavailable"));
    for _ in 0..3 {
        let r = token(&held, &held_key).await.expect("an answer within 5 s");
        assert_eq!(
            r.status(),
            200,
            "a token held in memory is still handed out"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["access_token"], first["access_token"]);
    }
    for _ in 0..3 {
        let r = token(&cold, &cold_key).await.expect("an answer within 5 s");
        assert_eq!(r.status(), 503);
        assert!(r.headers().contains_key("retry-after"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "database_unavailable");
    }
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("an answer within 5 s");
    assert_eq!(ready.status(), 503);

    proxy.restore();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(app::ssr::recent::OUTAGE_PAUSE).await;
    let back = token(&cold, &cold_key).await.unwrap();
    assert_eq!(back.status(), 200, "recovered without a restart");
    assert_eq!(
        admin.get(format!("{base}/")).send().await.unwrap().status(),
        200
    );
    for id in [&held, &cold] {
        let refreshed = app::connections::refresh::refresh(
            &state,
            id,
            app::connections::refresh::Need::Always,
            "validate",
        )
        .await
        .unwrap();
        assert_eq!(
            refreshed.row().failing,
            0,
            "every connection still refreshes"
        );
    }
}
