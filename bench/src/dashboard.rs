//! The dashboard with 1 000 stored connections, served by the release console, against a bare
//! axum handler serving the same bytes; plus the console's memory idle and after the load.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::ssr::state::{AppState, Config};
use app::ssr::store::{self, ConnectionRow};
use concur::{ClientConfig, SystemClock};

const CONNECTIONS: usize = 1000;
const CLIENTS: usize = 16;
const REQUESTS_PER_CLIENT: usize = 250;
const KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const DAY: i64 = 86_400;

pub struct Figures {
    median: Duration,
    p99: Duration,
    per_second: f64,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The console's state on `database_url`, with the bench key, allowed to reach `allowed_hosts`.
pub async fn state(database_url: &str, allowed_hosts: String) -> AppState {
    let config = Config {
        database_url: database_url.to_owned(),
        console_key: Some(KEY.to_owned()),
        allowed_hosts,
        public_url: "http://127.0.0.1".into(),
        client: ClientConfig::default(),
        keepalive_every: 86_400,
        lease_seconds: 90,
        trusted_proxies: Vec::new(),
        session_idle: 1800,
        session_lifetime: 43_200,
        alerts: app::alerts::ssr::AlertConfig::default(),
    };
    AppState::build(&config, Arc::new(SystemClock))
        .await
        .expect("console state")
}

/// Stores the connections and a session straight through the store; returns the cookie.
async fn seed(database_url: &str) -> String {
    let state = state(database_url, String::new()).await;
    let now = state.now();
    let mut tx = state.pool.begin().await.expect("transaction");
    for i in 0..CONNECTIONS {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        let expiry = match i % 10 {
            0 => None,
            n => Some(now + (i as i64 % 200 - 10) * DAY + n as i64),
        };
        let row = ConnectionRow {
            id: id.clone(),
            name: format!("Integration {i:04}"),
            client_id: format!("11111111-2222-4333-8444-{i:012}"),
            authorization_url: "https://us2.api.concursolutions.com".into(),
            geolocation: Some("https://us2.api.concursolutions.com".into()),
            company_uuid: Some(format!("99999999-8888-4777-8666-{i:012}")),
            scope_profile: "expense-approvals".into(),
            required_scopes: "openid EXPRPT".into(),
            granted_scopes: "openid EXPRPT".into(),
            failing: i64::from(i % 17 == 0),
            last_problem: None,
            refresh_token_expires_at: expiry,
            access_token_expires_at: Some(now + 3600),
            last_checked_at: Some(now),
            last_ok_at: Some(now),
            client_secret_sealed: state.cipher.seal(&id, "client_secret", "bench-secret"),
            refresh_token_sealed: state
                .cipher
                .seal(&id, "refresh_token", "bench-refresh-token"),
            client_secret_mask: "••••cret".into(),
            refresh_token_mask: "••••oken".into(),
            created_at: now,
            updated_at: now,
            access_token_sealed: None,
            next_refresh_at: Some(now + DAY),
            transient_failures: 0,
            next_step: None,
        };
        store::upsert_connection(&mut *tx, &row, true)
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    store::insert_admin(&state.pool, "bench", "bench", "unused", now)
        .await
        .expect("admin");
    let (token, hash) = app::auth::ssr::new_token();
    let session = store::NewSession {
        token_hash: &hash,
        id: "bench",
        admin_id: "bench",
        now,
        expires_at: now + DAY,
        address: "127.0.0.1",
        user_agent: "bench",
    };
    store::insert_session(&state.pool, &session)
        .await
        .expect("session");
    state.pool.close().await;
    format!("{}={token}", app::auth::ssr::COOKIE)
}

/// `clients` concurrent callers, each sending `requests` GETs with one extra header.
pub async fn load(url: &str, header: (&str, &str), clients: usize, requests: usize) -> Figures {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut callers = Vec::new();
    for _ in 0..clients {
        let (http, url) = (http.clone(), url.to_owned());
        let (name, value) = (header.0.to_owned(), header.1.to_owned());
        callers.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(requests);
            for _ in 0..requests {
                let start = Instant::now();
                let response = http
                    .get(&url)
                    .header(&name, &value)
                    .send()
                    .await
                    .expect("get");
                assert!(
                    response.status().is_success(),
                    "{url} answered {}",
                    response.status()
                );
                response.bytes().await.expect("body");
                times.push(start.elapsed());
            }
            times
        }));
    }
    let mut times = Vec::new();
    for caller in callers {
        times.extend(caller.await.expect("caller"));
    }
    let elapsed = started.elapsed();
    times.sort();
    Figures {
        median: times[times.len() / 2],
        p99: times[times.len() * 99 / 100],
        per_second: times.len() as f64 / elapsed.as_secs_f64(),
    }
}

/// A bare axum handler serving `body` with `content_type`; returns its URL.
pub async fn bare_axum(body: String, content_type: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let body: &'static str = Box::leak(body.into_boxed_str());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move {
            ([(axum::http::header::CONTENT_TYPE, content_type)], body)
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The release console serving `database_url` on `port`, with extra environment.
pub fn start_console(database_url: &str, port: u16, env: &[(&str, &str)]) -> Child {
    Command::new("target/release/concur-console")
        .arg("serve")
        .envs(env.iter().copied())
        .env("DATABASE_URL", database_url)
        .env("CONCUR_CONSOLE_KEY", KEY)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("target/release/concur-console (run `make build` first)")
}

pub fn print(label: &str, f: &Figures) {
    println!(
        "  {label:<22} median {:>6.2} ms   p99 {:>6.2} ms   {:>7.0} requests/s",
        f.median.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.per_second
    );
}

pub async fn dashboard() {
    let dir = std::env::temp_dir().join(format!("concur-bench-{}", std::process::id()));
    let database_url = format!("sqlite://{}/console.db", dir.display());
    let cookie = seed(&database_url).await;
    let port = free_port();
    let mut console = start_console(&database_url, port, &[]);
    let url = format!("http://127.0.0.1:{port}/");
    let http = reqwest::Client::new();
    let mut page = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(r) = http.get(&url).header("cookie", &cookie).send().await {
            page = r.text().await.ok();
            break;
        }
    }
    let page = page.expect("the console answered");
    assert!(
        page.contains("Integration"),
        "the dashboard lists the stored connections"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(console.id());
    let console_figures = load(&url, ("cookie", &cookie), CLIENTS, REQUESTS_PER_CLIENT).await;
    let after = rss_kib(console.id());
    let bare_url = bare_axum(page.clone(), "text/html; charset=utf-8").await;
    let bare_figures = load(&bare_url, ("cookie", &cookie), CLIENTS, REQUESTS_PER_CLIENT).await;
    let _ = console.kill();
    let _ = console.wait();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "dashboard page, {CONNECTIONS} stored connections, {CLIENTS} concurrent clients × {REQUESTS_PER_CLIENT} requests ({} KB page):",
        page.len() / 1024
    );
    print("console", &console_figures);
    print("bare axum, same bytes", &bare_figures);
    println!(
        "  throughput ratio       {:.2} of bare axum (goal ≥ 0.3); p99 goal ≤ 20 ms",
        console_figures.per_second / bare_figures.per_second
    );
    println!(
        "console memory (RSS): idle {:.1} MB (goal ≤ 40 MB), after the load {:.1} MB",
        idle as f64 / 1024.0,
        after as f64 / 1024.0
    );
}
