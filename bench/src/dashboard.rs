//! The dashboard, its search and its filters, and the management API's list, with 1 000,
//! 10 000 and 100 000 stored connections of five tags each, on SQLite and (when
//! `scripts/with-postgres.sh` provides a cluster) on PostgreSQL, loaded by `wrk` the
//! way issue figures are taken (2 threads, 16 connections), beside a bare axum handler serving
//! the same bytes; plus the console's memory idle and after each load. One connection in 51
//! waits for its customer to answer a renewal request (the dashboard marks those on its page).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use concur::{ClientConfig, SystemClock};
use console_core::state::{AppState, Config};
use console_core::store::{self, ConnectionRow};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// The fleet sizes to measure: `CONCUR_BENCH_SIZES` (comma-separated, e.g. `100000` to measure
/// only the largest) or [`SIZES`].
fn sizes() -> Vec<usize> {
    let Ok(chosen) = std::env::var("CONCUR_BENCH_SIZES") else {
        return SIZES.to_vec();
    };
    let mut sizes: Vec<usize> = chosen
        .split(',')
        .map(|size| {
            size.trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("CONCUR_BENCH_SIZES: {size:?} is not a number"))
        })
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}
const WRK_CONNECTIONS: &str = "16";
const WRK_SECONDS: &str = "8s";
/// Rows written per transaction while seeding.
const SEED_BATCH: usize = 5_000;
const KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const DAY: i64 = 86_400;

pub struct Figures {
    median: Duration,
    p99: Duration,
    pub per_second: f64,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The process's own memory (its anonymous resident pages) and the file pages it has mapped
/// (SQLite maps the database file: those are the system's file cache, counted once per
/// connection that maps them), in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// The console's state on `database_url`, with the bench key, allowed to reach `allowed_hosts`.
pub async fn state(database_url: &str, allowed_hosts: String) -> AppState {
    state_with(database_url, allowed_hosts, ClientConfig::default()).await
}

/// [`state`] with its Concur client configured by `client`.
pub async fn state_with(
    database_url: &str,
    allowed_hosts: String,
    client: ClientConfig,
) -> AppState {
    state_of(&config(database_url, allowed_hosts, client)).await
}

/// The console's state as `config` says.
pub async fn state_of(config: &Config) -> AppState {
    AppState::build(config, Arc::new(SystemClock))
        .await
        .expect("console state")
}

/// The bench console's configuration: the bench key, allowed to reach `allowed_hosts`.
pub fn config(database_url: &str, allowed_hosts: String, client: ClientConfig) -> Config {
    Config {
        database_url: database_url.to_owned(),
        console_key: Some(KEY.to_owned()),
        old_keys: None,
        allowed_hosts,
        public_url: "http://127.0.0.1".into(),
        client,
        keepalive_every: 86_400,
        lease_seconds: 90,
        trusted_proxies: Vec::new(),
        session_idle: 1800,
        session_lifetime: 43_200,
        alerts: console_core::alerts::AlertConfig::default(),
        audit_retention: 400 * 86_400,
        renewal: Default::default(),
        org_name: None,
        oidc: None,
        local_login: true,
        probes: true,
    }
}

/// Stores connections `from..to` straight through the store, in batches, each with its five
/// tags.
async fn seed(state: &AppState, from: usize, to: usize) {
    let now = state.now();
    for start in (from..to).step_by(SEED_BATCH) {
        let mut tx = store::begin(&state.pool).await.expect("transaction");
        for i in start..(start + SEED_BATCH).min(to) {
            let row = connection(state, i, now);
            store::upsert_connection(&mut *tx, &row, true)
                .await
                .expect("insert");
            let tags = tags(i);
            let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
            store::replace_tags(&mut tx, &row.id, &pairs)
                .await
                .expect("tags");
            if asked(i) {
                ask_customer(&mut tx, &row.id, now).await;
            }
            if i.is_multiple_of(97) {
                lose_a_capability(&mut tx, &row.id, now).await;
            }
        }
        tx.commit().await.expect("commit");
    }
}

/// One connection in 97 is degraded: its Expense v3 probe failed (the database's trigger flags
/// the connection).
async fn lose_a_capability(tx: &mut store::Transaction, id: &str, now: i64) {
    sqlx::query(
        "INSERT INTO probe_results (connection_id, name, position, label, ok, transient, status, detail, checked_at) \
         VALUES ($1, 'expense_reports_v3', 1, 'Expense v3 reports', 0, 0, 403, 'Concur Expense is not enabled for this company.', $2)",
    )
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .expect("a failed probe");
}

/// Whether the `i`th connection's customer was asked for a renewal and has not answered: one
/// in 51 (a third of the failing ones), each with its contact, its failed check and its open
/// request, so the renewal rounds of the console under load follow them up as they would.
fn asked(i: usize) -> bool {
    i.is_multiple_of(51)
}

async fn ask_customer(tx: &mut store::Transaction, id: &str, now: i64) {
    let check = store::ValidationRow {
        id: format!("{id}-check"),
        connection_id: id.to_owned(),
        at: now - DAY,
        ok: 0,
        diagnosis: Some("refresh_token_invalid".into()),
        message: "The refresh token was revoked.".into(),
        concur_code: None,
        correlation_id: None,
        duration_ms: 0,
        source: "keep-alive".into(),
        status_change: None,
    };
    store::insert_validation(&mut **tx, &check)
        .await
        .expect("a failed check");
    let request = store::RenewalRow {
        id: format!("{id}-renewal"),
        connection_id: id.to_owned(),
        reason: "token".into(),
        contact_email: CONTACT.into(),
        state: "open".into(),
        next_reminder_at: Some(now + 2 * DAY),
        asked_at: now - DAY,
        ..store::RenewalRow::default()
    };
    assert!(
        store::open_renewal(&mut **tx, &request)
            .await
            .expect("a renewal request")
    );
}

const CONTACT: &str = "concur-admin@customer.example";

/// The `i`th connection's five tags: env (a third each of prod, staging, dev), region (a
/// quarter each), tier, plan and a team of 50.
fn tags(i: usize) -> [(&'static str, String); 5] {
    [
        ("env", ["prod", "staging", "dev"][i % 3].to_owned()),
        (
            "region",
            ["emea", "us", "apac", "latam"][(i / 3) % 4].to_owned(),
        ),
        (
            "tier",
            ["gold", "silver", "bronze"][(i / 12) % 3].to_owned(),
        ),
        ("plan", ["expense", "travel"][(i / 36) % 2].to_owned()),
        ("team", format!("team-{}", i % 50)),
    ]
}

/// Names shaped like a vendor's customers: two words and a number.
const FIRST: [&str; 16] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Gringotts",
    "Monarch",
    "Oscorp",
    "Aperture",
];
const SECOND: [&str; 8] = [
    "Expenses",
    "Travel",
    "Logistics",
    "Holdings",
    "Retail",
    "Foods",
    "Labs",
    "Energy",
];
/// Apps (Client IDs) the fleet's connections belong to: a vendor has a few, shared by many.
const APPS: u64 = 4;

/// A random-looking, repeatable UUID for `seed` (SplitMix64).
fn uuid(seed: u64) -> String {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = (mix(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)), mix(!seed));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn name(i: usize) -> String {
    format!("{} {} {i}", FIRST[i % 16], SECOND[(i / 16) % 8])
}

fn company(i: usize) -> String {
    uuid(1_000_000 + i as u64)
}

fn client_id(i: usize) -> String {
    uuid(i as u64 % APPS)
}

/// The `i`th bench connection: a tenth with no known expiry, one in 17 failing, the rest
/// spread over the next 190 days; one of `APPS` Client IDs, its own company UUID.
fn connection(state: &AppState, i: usize, now: i64) -> ConnectionRow {
    let id = format!("00000000-0000-4000-8000-{i:012}");
    let expiry = match i % 10 {
        0 => None,
        n => Some(now + (i as i64 % 200 - 10) * DAY + n as i64),
    };
    ConnectionRow {
        name: name(i),
        client_id: client_id(i),
        authorization_url: "https://us2.api.concursolutions.com".into(),
        geolocation: Some("https://us2.api.concursolutions.com".into()),
        company_uuid: Some(company(i)),
        scope_profile: "expense-approvals".into(),
        required_scopes: "openid EXPRPT".into(),
        granted_scopes: "openid EXPRPT".into(),
        failing: i64::from(i.is_multiple_of(17)),
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
        belonging: store::Belonging {
            owner_id: i.is_multiple_of(10).then(|| "bench".to_owned()),
            external_id: Some(format!("tenant-{i}")),
            contact_email: asked(i).then(|| CONTACT.to_owned()),
            ..store::Belonging::default()
        },
        renewal_automatic: None,
        degraded: 0,
        id,
    }
}

/// An admin and a session for the bench; returns the cookie.
async fn sign_in(state: &AppState) -> String {
    let now = state.now();
    let account = store::NewAccount {
        id: "bench",
        username: "bench",
        password_hash: "unused",
        role: console_model::Role::Admin,
        now,
    };
    store::insert_admin(&state.pool, &account)
        .await
        .expect("admin");
    let (token, hash) = console_core::auth::new_token();
    let session = store::NewSession {
        token_hash: &hash,
        id: "bench",
        admin_id: "bench",
        now,
        expires_at: now + DAY,
        address: "127.0.0.1",
        user_agent: "bench",
        method: console_model::SignInMethod::Password,
    };
    store::insert_session(&state.pool, &session)
        .await
        .expect("session");
    format!("{}={token}", console_core::auth::COOKIE)
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
/// A running `concur-console serve`, stopped when dropped (a failed assertion included).
pub struct Console(Child);

impl Console {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_console(database_url: &str, port: u16, env: &[(&str, &str)]) -> Console {
    // Its own working directory: with PostgreSQL there is no data directory, and the setup
    // link would be written into the checkout.
    let here = std::env::current_dir().expect("the working directory");
    let dir = std::env::temp_dir().join(format!("concur-bench-console-{port}"));
    std::fs::create_dir_all(&dir).expect("a directory for the console");
    let child = Command::new(here.join("target/release/concur-console"))
        .current_dir(&dir)
        .arg("serve")
        .envs(env.iter().copied())
        .env("DATABASE_URL", database_url)
        .env("CONCUR_CONSOLE_KEY", KEY)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("LEPTOS_SITE_ROOT", here.join("target/site"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join("console.log"))
                .map_or_else(|_| Stdio::null(), Stdio::from),
        )
        .spawn()
        .expect("target/release/concur-console (run `make build` first)");
    Console(child)
}

pub fn print(label: &str, f: &Figures) {
    println!(
        "  {label:<22} median {:>6.2} ms   p99 {:>6.2} ms   {:>7.0} requests/s",
        f.median.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.per_second
    );
}

/// What `wrk` measured: requests per second and the 99th percentile latency; and the time of
/// a first request before the load, when one was made.
pub struct Wrk {
    pub per_second: f64,
    p99: Duration,
    first: Option<Duration>,
}

/// `wrk` with 2 threads and 16 connections against `url`, sending `cookie`.
fn wrk(url: &str, cookie: &str) -> Wrk {
    wrk_with(url, &format!("Cookie: {cookie}"), WRK_CONNECTIONS)
}

/// `wrk` with 2 threads and 16 connections against `url`, sending `header`, after one request
/// of its own, timed. The first view of a filter reads its counts, which the views of the next
/// second or more are served; 16 clients starting at once on a filter nobody viewed would all
/// wait for that one reading, a figure of the start rather than of the load: it is shown apart.
async fn warmed(url: &str, header: &str) -> Wrk {
    let (name, value) = header.split_once(": ").expect("a header");
    let first = load(url, (name, value), 1, 1).await.median;
    Wrk {
        first: Some(first),
        ..wrk_with(url, header, WRK_CONNECTIONS)
    }
}

/// `wrk` with 2 threads and `connections` connections against `url`, sending `header`.
pub fn wrk_with(url: &str, header: &str, connections: &str) -> Wrk {
    let output = Command::new("wrk")
        .args(["-t2", "-c", connections, "-d", WRK_SECONDS, "--latency"])
        .args(["-H", header, url])
        .output()
        .expect("wrk (make bench installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "{url} answered errors under load (the console's warnings are in console.log in its directory):\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("wrk printed no {prefix:?}:\n{text}"))
            .to_owned()
    };
    Wrk {
        per_second: field("Requests/sec:").parse().expect("a rate"),
        p99: duration(&field("99%")),
        first: None,
    }
}

/// A `wrk` latency such as `812.00us`, `12.34ms` or `1.02s`.
fn duration(text: &str) -> Duration {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().expect("a latency");
    Duration::from_secs_f64(match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        other => panic!("unknown wrk unit {other:?}"),
    })
}

pub fn show(label: &str, f: &Wrk) {
    let first = f.first.map_or_else(String::new, |first| {
        format!("   first view {:>6.2} ms", first.as_secs_f64() * 1e3)
    });
    println!(
        "  {label:<44} {:>7.0} requests/s   p99 {:>7.2} ms{first}",
        f.per_second,
        f.p99.as_secs_f64() * 1e3
    );
}

/// The console on a store that grows through `sizes`, measured at each size.
async fn one_store(label: &str, database_url: &str, sizes: &[usize], bare: &mut [Option<Wrk>]) {
    let state = state(database_url, String::new()).await;
    let cookie = sign_in(&state).await;
    let manage_key = console_core::fleet_keys::create_manage(&state, "bench", true)
        .await
        .expect("a management key")
        .key;
    let mut stored = 0;
    for (size_index, &size) in sizes.iter().enumerate() {
        let started = Instant::now();
        seed(&state, stored, size).await;
        let seeded = started.elapsed();
        if database_url.starts_with("postgres") {
            // What autovacuum does soon after a bulk import (PostgreSQL 13 and later vacuum
            // after inserts too): fresh planner statistics, and a visibility map that lets the
            // counts be read off the index alone.
            sqlx::query("VACUUM ANALYZE")
                .execute(&state.pool)
                .await
                .expect("vacuum analyze");
        }
        stored = size;
        let port = free_port();
        let console = start_console(database_url, port, &[]);
        let url = format!("http://127.0.0.1:{port}/");
        let page = first_page(&url, &cookie).await;
        if size_index + 1 == sizes.len() && std::env::var_os("CONCUR_BENCH_HOLD").is_some() {
            hold(&url, &cookie, &manage_key, console.pid());
        }
        let idle = rss_kib(console.pid());
        let signed_in = format!("Cookie: {cookie}");
        let page_of = async |query: &str| warmed(&format!("{url}{query}"), &signed_in).await;
        let dashboard = page_of("").await;
        let one = size / 2 + 7;
        let narrow = page_of(&format!("?q={}", name(one).replace(' ', "+"))).await;
        let company = page_of(&format!("?q={}", &company(one)[..13])).await;
        let broad = page_of(&format!("?q={}", &client_id(one)[..8])).await;
        let prod = page_of("?tag=env:prod").await;
        let prod_emea = page_of("?tag=env:prod&tag=region:emea").await;
        let critical = page_of("?status=critical").await;
        let degraded = page_of("?status=degraded").await;
        let mine = page_of("?owner=me&tag=team:team-7").await;
        let waiting = page_of("?renewal=waiting&tag=env:prod").await;
        let managed = format!("Authorization: Bearer {manage_key}");
        let api =
            async |query: &str| warmed(&format!("{url}api/v1/connections?{query}"), &managed).await;
        let list = api("limit=100").await;
        let list_prod = api("tag=env:prod&limit=100").await;
        let list_expiring = api("status=expiring&tag=region:emea&limit=100").await;
        let after = rss_kib(console.pid());
        drop(console);
        if bare[size_index].is_none() {
            let bare_url = bare_axum(page.clone(), "text/html; charset=utf-8").await;
            bare[size_index] = Some(wrk(&bare_url, &cookie));
        }
        println!(
            "{label}, {size} connections (seeded {} more in {:.1} s; page {} KB):",
            size - sizes[..size_index].last().copied().unwrap_or(0),
            seeded.as_secs_f64(),
            page.len() / 1024
        );
        show("dashboard", &dashboard);
        show("search, a name (1 match)", &narrow);
        show("search, a company UUID fragment (1 match)", &company);
        show(
            &format!("search, a Client ID ({} matches)", size / APPS as usize),
            &broad,
        );
        show("filtered: tag env:prod (a third)", &prod);
        show("filtered: env:prod and region:emea", &prod_emea);
        show("filtered: status critical", &critical);
        show("filtered: status degraded (one in 97)", &degraded);
        show("filtered: owner me and team:team-7", &mine);
        show("filtered: renewal waiting, env:prod", &waiting);
        show("management API list, 100 a page", &list);
        show("management API list, tag env:prod", &list_prod);
        show("management API list, expiring in emea", &list_expiring);
        if let Some(bare) = &bare[size_index] {
            show("bare axum, same bytes as the dashboard", bare);
        }
        println!(
            "  console memory (own, resident): idle {:.1} MB, after the load {:.1} MB (goal ≤ 60 MB); file pages mapped after the load {:.0} MB",
            idle.0 as f64 / 1024.0,
            after.0 as f64 / 1024.0,
            after.1 as f64 / 1024.0
        );
    }
    println!(
        "  goals: dashboard ≥ 1 500 requests/s and p99 ≤ 20 ms at 10 000, p99 ≤ 40 ms at 100 000; search, a filtered dashboard and the management list p99 ≤ 50 ms at 100 000"
    );
    state.pool.close().await;
}

/// With `CONCUR_BENCH_HOLD` set: leaves the console running on the largest fleet, for a
/// profiler or a hand-run `wrk`, until Enter is pressed; then the figures are taken as usual.
fn hold(url: &str, cookie: &str, manage_key: &str, pid: u32) {
    println!(
        "holding: {url} (pid {pid}), signed in with\n  Cookie: {cookie}\nthe management API with\n  Authorization: Bearer {manage_key}\npress Enter to go on"
    );
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// Waits for the console to answer and returns the dashboard's HTML.
async fn first_page(url: &str, cookie: &str) -> String {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(r) = http.get(url).header("cookie", cookie).send().await {
            let page = r.text().await.expect("page");
            assert!(
                FIRST.iter().any(|name| page.contains(name)),
                "the dashboard lists the stored connections"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            return page;
        }
    }
    panic!("the console never answered at {url}");
}

/// Whether to measure `store` (`sqlite` or `postgres`): `CONCUR_BENCH_STORES` names the ones
/// to measure (comma-separated), both when unset.
fn measures(store: &str) -> bool {
    std::env::var("CONCUR_BENCH_STORES")
        .map_or(true, |chosen| chosen.split(',').any(|s| s.trim() == store))
}

pub async fn dashboard() {
    let sizes = sizes();
    let mut bare: Vec<Option<Wrk>> = sizes.iter().map(|_| None).collect();
    if measures("sqlite") {
        let dir = std::env::temp_dir().join(format!("concur-bench-{}", std::process::id()));
        one_store(
            "SQLite",
            &format!("sqlite://{}/console.db", dir.display()),
            &sizes,
            &mut bare,
        )
        .await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    if !measures("postgres") {
        return;
    }
    match std::env::var("CONCUR_TEST_POSTGRES_URL") {
        Ok(url) => one_store("PostgreSQL", &url, &sizes, &mut bare).await,
        Err(_) => println!(
            "PostgreSQL: skipped (run through scripts/with-postgres.sh, as make bench does)"
        ),
    }
}

/// The customer's page of a hand-off link beside the dashboard, 16 clients each, on SQLite
/// with 1 000 connections.
pub async fn handoff_page() {
    let dir = std::env::temp_dir().join(format!("concur-bench-handoff-{}", std::process::id()));
    let database_url = format!("sqlite://{}/console.db", dir.display());
    let state = state(&database_url, String::new()).await;
    let cookie = sign_in(&state).await;
    seed(&state, 0, SIZES[0]).await;
    let request = console_core::handoffs::NewHandoff {
        name: "Bench customer".into(),
        profile: "expense-approvals".into(),
        ..Default::default()
    };
    let (_, link) = console_core::handoffs::create(&state, &request, "bench")
        .await
        .expect("a hand-off link");
    let token = link.rsplit('/').next().expect("a token").to_owned();
    state.pool.close().await;
    let port = free_port();
    let console = start_console(
        &database_url,
        port,
        &[("CONCUR_CONNECT_RATE_LIMIT", "100000000")],
    );
    let url = format!("http://127.0.0.1:{port}/");
    first_page(&url, &cookie).await;
    let customer = wrk(&format!("{url}connect/{token}"), "none=1");
    let dashboard = wrk(&url, &cookie);
    drop(console);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "Hand-off link, SQLite, {} connections, {WRK_CONNECTIONS} clients:",
        SIZES[0]
    );
    show("customer page (GET /connect/<token>)", &customer);
    show("dashboard", &dashboard);
}
