//! `/healthz`, `/readyz` and `/metrics`: no session needed, the metrics parse with
//! Prometheus' own Python client parser, and their values match the dashboard's counts.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use companies::add;
use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use serde_json::Value;
use stores::Store;

use crate::support::{self, companies, stores};

const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

/// The samples of a metrics text, as Prometheus' Python client parses them.
fn parse(text: &str) -> Vec<Value> {
    let mut child = Command::new("python3")
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the parser refused the text:\n{text}"
    );
    serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap()
}

async fn spawn(metrics_token: Option<&str>) -> (String, console_core::state::AppState, Simulator) {
    spawn_on(Store::sqlite(), metrics_token).await
}

async fn spawn_on(
    store: Store,
    metrics_token: Option<&str>,
) -> (String, console_core::state::AppState, Simulator) {
    let sim = Simulator::spawn().await.unwrap();
    let mut settings = support::settings_for(&store, sim.allowed_hosts());
    settings.metrics_token = metrics_token.map(str::to_owned);
    let (base, state) = support::serve(settings, Arc::new(ManualClock::at(sim.now()))).await;
    (base, state, sim)
}

async fn health_and_readiness(store: Store) {
    let (base, _, _) = spawn_on(store, None).await;
    let healthz = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(healthz.status(), 200);
    let readyz = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(readyz.status(), 200);
    assert_eq!(readyz.text().await.unwrap(), "ready");
}

async fn metrics_match_the_dashboard(store: Store) {
    let (base, state, sim) = spawn_on(store, None).await;
    add(&state, &sim, "Healthy \"quoted\" one", DEMO_SCOPES).await;
    add(&state, &sim, "Healthy two", DEMO_SCOPES).await;
    add(&state, &sim, "Missing scopes", &DEMO_SCOPES[..2]).await;
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse(&text);
    let value = |name: &str, label: (&str, &str)| {
        samples
            .iter()
            .find(|s| s["name"] == name && s["labels"][label.0] == label.1)
            .map(|s| s["value"].as_f64().unwrap() as i64)
    };
    let now = console_core::store::overview(&state.pool, state.now(), &Default::default())
        .await
        .unwrap();
    for (status, count) in now.counts {
        assert_eq!(
            value("concur_console_connections", ("status", status.key())),
            Some(count),
            "{}",
            status.key()
        );
    }
    assert_eq!(
        value("concur_console_connections", ("status", "healthy")),
        Some(2)
    );
    assert_eq!(
        value("concur_console_connections", ("status", "failing")),
        Some(1)
    );
    let expiries: Vec<&Value> = samples
        .iter()
        .filter(|s| s["name"] == "concur_console_refresh_token_expiry_timestamp_seconds")
        .collect();
    assert_eq!(expiries.len(), 3);
    assert!(
        expiries
            .iter()
            .any(|s| s["labels"]["name"] == "Healthy \"quoted\" one")
    );
    assert_eq!(
        value("concur_console_refreshes_total", ("result", "ok")),
        Some(2),
        "two validations succeeded"
    );
}

#[tokio::test]
async fn metrics_ask_for_the_token_when_one_is_set() {
    let (base, _, _) = spawn(Some("scrape-secret")).await;
    let http = reqwest::Client::new();
    let refused = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = http
        .get(format!("{base}/metrics"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scraped = http
        .get(format!("{base}/metrics"))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
}

#[tokio::test]
async fn metrics_need_a_token_once_the_console_listens_beyond_loopback() {
    let store = Store::sqlite();
    let mut settings = support::settings(store.url(), String::new());
    settings.site_addr = "0.0.0.0:0".parse().unwrap();
    let app = server::serve::Application::build(settings, Arc::new(ManualClock::at(0)))
        .await
        .unwrap();
    assert_eq!(app.metrics, server::ops::MetricsAccess::Closed);
    assert!(
        app.metrics
            .warning()
            .unwrap()
            .contains("CONCUR_METRICS_TOKEN")
    );
    let base = format!("http://127.0.0.1:{}", app.address.port());
    tokio::spawn(app.run());
    let closed = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(closed.status(), 401);
    assert!(
        closed
            .text()
            .await
            .unwrap()
            .contains("CONCUR_METRICS_TOKEN")
    );
    for open in ["/healthz", "/readyz"] {
        let answer = reqwest::get(format!("{base}{open}")).await.unwrap();
        assert_eq!(answer.status(), 200, "{open}");
        let text = answer.text().await.unwrap();
        assert!(text.len() < 20, "says nothing about connections: {text}");
    }
    let (loopback, _, _) = spawn(None).await;
    let open = reqwest::get(format!("{loopback}/metrics")).await.unwrap();
    assert_eq!(open.status(), 200, "open on loopback");
    use server::ops::MetricsAccess;
    let local = "127.0.0.1:3000".parse().unwrap();
    assert_eq!(
        MetricsAccess::decide(None, local, true),
        MetricsAccess::Closed,
        "behind a proxy"
    );
    assert_eq!(
        MetricsAccess::decide(Some("t".into()), "0.0.0.0:80".parse().unwrap(), false),
        MetricsAccess::Token("t".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_ready_tells_a_container_runtime_whether_the_console_is_ready() {
    let (base, _, _) = spawn(None).await;
    let check = |url: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_concur-console"))
            .args(["check-ready", "--url", &url])
            .output()
            .unwrap()
    };
    assert!(check(base.clone()).status.success());
    // Without --url: the address `serve` was told to listen on, all interfaces included.
    let port = base.rsplit(':').next().unwrap();
    let by_env = std::process::Command::new(env!("CARGO_BIN_EXE_concur-console"))
        .arg("check-ready")
        .env("LEPTOS_SITE_ADDR", format!("0.0.0.0:{port}"))
        .output()
        .unwrap();
    assert!(
        by_env.status.success(),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let refused = check(gone.clone());
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not ready"));

    // With --wait (a service manager's start-up check) it asks again until the console that
    // starts meanwhile at that address is ready.
    let waiting = Command::new(env!("CARGO_BIN_EXE_concur-console"))
        .args(["check-ready", "--url", &gone, "--wait", "60"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let mut settings = support::settings(Store::sqlite().url(), String::new());
    settings.site_addr = gone.trim_start_matches("http://").parse().unwrap();
    support::serve(settings, Arc::new(ManualClock::at(0))).await;
    let waited = tokio::task::spawn_blocking(move || waiting.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_session_on_sqlite() {
    health_and_readiness(Store::sqlite()).await;
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_session_on_postgresql() {
    health_and_readiness(Store::postgres().await).await;
}

#[tokio::test]
async fn metrics_parse_and_match_the_dashboard_counts_on_sqlite() {
    metrics_match_the_dashboard(Store::sqlite()).await;
}

#[tokio::test]
async fn metrics_parse_and_match_the_dashboard_counts_on_postgresql() {
    metrics_match_the_dashboard(Store::postgres().await).await;
}
