//! The database away while integrations call the token API and a keep-alive sweep runs:
//! PostgreSQL cut by a TCP proxy in front of the cluster (as a restart or a network partition
//! would), and a SQLite file made unwritable under the running console; then given back.
//! Tokens the console holds in memory keep being handed out; the rest get 503 with
//! Retry-After; nothing hangs; everything recovers without a restart.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use serde_json::Value;
use stores::Store;
use tokio::task::JoinHandle;

use crate::support::{self, PASSWORD, companies, stores};
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

/// A SQLite database file and its write-ahead log made immutable (`chattr +i`): every write
/// through the descriptors the console holds open fails, even as root, while reads go on, as
/// on a disk that turned read-only. A plain `chmod` would change nothing for a running process
/// (its open descriptors stay writable). Dropped, the files are writable again.
struct Unwritable(PathBuf);

impl Unwritable {
    fn files(&self) -> [PathBuf; 2] {
        let mut wal = self.0.clone().into_os_string();
        wal.push("-wal");
        [self.0.clone(), PathBuf::from(wal)]
    }

    fn chattr(&self, flag: &str) {
        let out = std::process::Command::new("chattr")
            .arg(flag)
            .args(self.files())
            .output()
            .expect("chattr (e2fsprogs) runs");
        assert!(
            out.status.success(),
            "chattr {flag} failed: this test needs root on a filesystem with the immutable attribute \
             (ext4, xfs, btrfs), as `make test` has on a fresh Debian machine: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .args(self.files())
            .status();
    }
}

/// How the database goes away and comes back.
enum Fault {
    Cut(Proxy),
    Unwritable(Unwritable),
}

impl Fault {
    /// A PostgreSQL database of its own behind a proxy that can be cut: the store, the URL
    /// through the proxy, and the fault.
    async fn postgres_cut() -> (Store, String, Fault) {
        let store = Store::postgres().await;
        let url = store.url();
        let (head, tail) = url.split_once('@').unwrap();
        let (upstream, database) = tail.split_once('/').unwrap();
        let proxy = Proxy::start(upstream.to_owned()).await;
        let proxied = format!("{head}@127.0.0.1:{}/{database}", proxy.port);
        (store, proxied, Fault::Cut(proxy))
    }

    /// A SQLite database whose file can be made unwritable: the store and the fault.
    fn sqlite_unwritable() -> (Store, Fault) {
        let store = Store::sqlite();
        let Store::Sqlite(dir) = &store else {
            unreachable!()
        };
        let file = Unwritable(dir.join("console.db"));
        (store, Fault::Unwritable(file))
    }

    fn begin(&self) {
        match self {
            Fault::Cut(proxy) => proxy.cut(),
            Fault::Unwritable(file) => file.chattr("+i"),
        }
    }

    fn end(&self) {
        match self {
            Fault::Cut(proxy) => proxy.restore(),
            Fault::Unwritable(file) => file.chattr("-i"),
        }
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
    let (store, proxied, fault) = Fault::postgres_cut().await;
    database_away(proxied, store.key(), fault).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_sqlite_file_is_unwritable_held_tokens_keep_flowing_the_rest_get_503_and_all_recovers()
 {
    let (store, fault) = Fault::sqlite_unwritable();
    database_away(store.url(), None, fault).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_or_a_connection_deleted_elsewhere_is_never_served_from_memory_when_postgresql_goes_away_on_postgresql()
 {
    let (store, proxied, fault) = Fault::postgres_cut().await;
    revoked_elsewhere(&store, proxied, fault).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_or_a_connection_deleted_elsewhere_is_never_served_from_memory_when_the_sqlite_file_turns_unwritable()
 {
    let (store, fault) = Fault::sqlite_unwritable();
    revoked_elsewhere(&store, store.url(), fault).await;
}

/// A key that opened a token, revoked by another process, and a connection whose token was
/// handed out, deleted by another replica; a moment later the database goes away. Neither is
/// served from memory: every answer is 401, 404 or 503.
async fn revoked_elsewhere(store: &Store, database_url: String, fault: Fault) {
    let sim = Simulator::spawn().await.unwrap();
    let mut settings = support::settings(database_url, sim.allowed_hosts());
    settings.config.console_key = store.key();
    settings.api_rate_per_minute = 10_000_000;
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings, Arc::new(clock.clone())).await;
    let revoked = companies::add(&state, &sim, "Revoked elsewhere", DEMO_SCOPES).await;
    let revoked_key = console_core::api_keys::create(&state, &revoked, "bot")
        .await
        .unwrap();
    let deleted = companies::add(&state, &sim, "Deleted elsewhere", DEMO_SCOPES).await;
    let deleted_key = console_core::api_keys::create(&state, &deleted, "bot")
        .await
        .unwrap()
        .key;
    let http = impatient();
    let token = |id: &str, key: &str| {
        http.get(format!("{base}/api/v1/connections/{id}/token"))
            .bearer_auth(key)
            .send()
    };
    let calls = [
        (revoked.clone(), revoked_key.key.clone()),
        (deleted.clone(), deleted_key),
    ];
    for (id, key) in &calls {
        let answer = token(id, key).await.unwrap();
        assert_eq!(answer.status(), 200, "held in memory from now on");
    }

    let out = store
        .console(&["api-key", "revoke", &revoked_key.view.id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut other = support::settings(store.url(), sim.allowed_hosts()).config;
    other.console_key = store.key();
    let other = console_core::state::AppState::build(&other, Arc::new(clock.clone()))
        .await
        .unwrap();
    console_core::connections::delete(&other, &deleted, "yes")
        .await
        .unwrap();
    tokio::time::sleep(console_core::recent::TIME_TO_LIVE + Duration::from_millis(100)).await;

    fault.begin();
    let until = std::time::Instant::now() + 2 * console_core::recent::OUTAGE_PAUSE;
    let mut seen = Vec::new();
    while std::time::Instant::now() < until {
        for (id, key) in &calls {
            let answer = token(id, key).await.expect("an answer within 5 s");
            seen.push(answer.status().as_u16());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fault.end();
    let served = seen.iter().filter(|s| **s == 200).count();
    assert_eq!(served, 0, "never a token, in {} answers", seen.len());
    assert!(
        seen.iter().all(|s| [401, 404, 503].contains(s)),
        "401, 404 or 503: {seen:?}"
    );
    tokio::time::sleep(console_core::recent::OUTAGE_PAUSE).await;
    for (id, key) in &calls {
        let answer = token(id, key).await.unwrap();
        assert_eq!(answer.status(), 401, "refused once the database answers");
    }
}

#[tokio::test]
async fn connections_opened_while_the_sqlite_file_is_unwritable_do_not_stay_read_only() {
    let store = Store::sqlite();
    let Store::Sqlite(dir) = &store else {
        unreachable!()
    };
    let pool = console_core::store::connect(&store.url()).await.unwrap();
    let file = Unwritable(dir.join("console.db"));
    file.chattr("+i");
    assert!(console_core::store::ready(&pool).await.is_err());
    // Every connection the pool may hold is asked for at once: those it opens now find the file
    // unwritable.
    let during = futures_util::future::join_all((0..4).map(|_| pool.acquire())).await;
    drop(during);
    file.chattr("-i");
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut conn = pool.acquire().await.unwrap();
        sqlx::query("UPDATE readiness_probe SET probes = probes + 1")
            .execute(&mut *conn)
            .await
            .expect("every pooled connection writes once the file is writable again");
        held.push(conn);
    }
}

/// Twelve connections (one whose token the console holds in memory, eleven whose stored access
/// tokens have expired), a signed-in admin, then the fault: held tokens flow, the rest get 503, pages say the database is
/// unavailable, `/readyz` is 503, a keep-alive sweep fails without marking anything failing;
/// four callers of the held token run throughout. Then the database is given back: ready
/// again, the sweep refreshes every connection, tokens flow.
async fn database_away(database_url: String, key: Option<String>, fault: Fault) {
    let sim = Simulator::spawn().await.unwrap();
    let mut settings = support::settings(database_url, sim.allowed_hosts());
    settings.config.console_key = key;
    settings.api_rate_per_minute = 10_000_000;
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings, Arc::new(clock.clone())).await;
    // Connections whose stored access tokens will have expired: asked for during the fault,
    // each needs a refresh, so a write.
    let mut expired = Vec::new();
    for i in 0..11 {
        let id = companies::add(&state, &sim, &format!("Expired {i}"), DEMO_SCOPES).await;
        let key = console_core::api_keys::create(&state, &id, "bot")
            .await
            .unwrap()
            .key;
        expired.push((id, key));
    }
    clock.advance(2 * 3600);
    sim.advance_clock(2 * 3600);
    let held = companies::add(&state, &sim, "Held in memory", DEMO_SCOPES).await;
    let held_key = console_core::api_keys::create(&state, &held, "bot")
        .await
        .unwrap()
        .key;
    let (cold, cold_key) = expired[0].clone();
    let mut everyone: Vec<String> = expired.iter().map(|(id, _)| id.clone()).collect();
    everyone.push(held.clone());
    let http = impatient();
    let token = |id: &str, key: &str| {
        http.get(format!("{base}/api/v1/connections/{id}/token"))
            .bearer_auth(key)
            .send()
    };
    let first: Value = token(&held, &held_key).await.unwrap().json().await.unwrap();
    support::person(&state, "a1", "admin", console_model::Role::Admin).await;
    let admin = support::browser();
    let sign_in = || {
        admin
            .post(format!("{base}/api/login"))
            .form(&[("username", "admin"), ("password", PASSWORD)])
            .send()
    };
    sign_in().await.unwrap();
    assert_eq!(
        admin.get(format!("{base}/")).send().await.unwrap().status(),
        200
    );

    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<JoinHandle<Vec<u16>>> = (0..4)
        .map(|_| {
            let (url, key, http, stop) = (
                format!("{base}/api/v1/connections/{held}/token"),
                held_key.clone(),
                http.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let r = http.get(&url).bearer_auth(&key).send().await;
                    statuses.push(r.expect("an answer within 5 s").status().as_u16());
                }
                statuses
            })
        })
        .collect();

    fault.begin();
    tokio::time::sleep(console_core::recent::PROBE_REUSE).await;
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
    // Callers of the expired connections, one per connection, for a few seconds: each answer
    // is a 503 saying why.
    let until = std::time::Instant::now() + 3 * console_core::recent::OUTAGE_PAUSE;
    let callers: Vec<JoinHandle<()>> = expired
        .iter()
        .cloned()
        .map(|(id, key)| {
            let (url, http) = (
                format!("{base}/api/v1/connections/{id}/token"),
                http.clone(),
            );
            tokio::spawn(async move {
                while std::time::Instant::now() < until {
                    let r = http.get(&url).bearer_auth(&key).send().await;
                    let r = r.expect("an answer within 5 s");
                    assert_eq!(r.status(), 503);
                    assert!(r.headers().contains_key("retry-after"));
                    let body: Value = r.json().await.unwrap();
                    assert_eq!(body["error"], "database_unavailable");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("an answer within 5 s");
    assert_eq!(ready.status(), 503);
    stop.store(true, Ordering::SeqCst);
    for task in load {
        let statuses = task.await.unwrap();
        assert!(!statuses.is_empty());
        assert!(
            statuses.iter().all(|s| *s == 200),
            "callers whose token is held in memory never see the fault: {statuses:?}"
        );
    }
    clock.advance(2 * 86_400);
    sim.advance_clock(2 * 86_400);
    assert!(
        server::keepalive::sweep_due(&state, None).await.is_err(),
        "a sweep without its database reports the failure"
    );

    fault.end();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let swept = server::keepalive::sweep_due(&state, None).await.unwrap();
    let mut refreshed: Vec<&str> = swept
        .iter()
        .filter(|line| line.refreshed && line.ok)
        .map(|line| line.id.as_str())
        .collect();
    refreshed.sort_unstable();
    everyone.sort_unstable();
    assert_eq!(
        refreshed, everyone,
        "the sweep refreshes every connection afterwards: {swept:?}"
    );
    tokio::time::sleep(console_core::recent::OUTAGE_PAUSE).await;
    let back = token(&cold, &cold_key).await.unwrap();
    assert_eq!(back.status(), 200, "recovered without a restart");
    sign_in().await.unwrap();
    assert_eq!(
        admin.get(format!("{base}/")).send().await.unwrap().status(),
        200
    );
}
