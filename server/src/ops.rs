//! For operators and their tools: `/healthz` (the process answers), `/readyz` (the database
//! answers, takes a write and is migrated) and `/metrics` (Prometheus text format). No session needed;
//! `/metrics` asks for `CONCUR_METRICS_TOKEN` as a bearer token when one is set, and without
//! one is open only on loopback (its labels carry connection names, often customers' names).

use std::fmt::Write;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use console_core::Error;
use console_core::state::{AppState, internal};
use console_core::store;

/// Who may read `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone who reaches it: the console listens on loopback only and no proxy forwards to it.
    Open,
    /// Those who send `CONCUR_METRICS_TOKEN` as a bearer token.
    Token(String),
    /// Nobody: the console is reachable from a network and no token is set.
    Closed,
}

impl MetricsAccess {
    pub fn decide(token: Option<String>, listening: SocketAddr, behind_proxy: bool) -> Self {
        match token {
            Some(token) => Self::Token(token),
            None if listening.ip().is_loopback() && !behind_proxy => Self::Open,
            None => Self::Closed,
        }
    }

    /// What the start-up log says when `/metrics` is closed.
    pub fn warning(&self) -> Option<&'static str> {
        (*self == Self::Closed).then_some(
            "/metrics answers 401: the console is reachable beyond loopback and its metrics name connections. \
             Set CONCUR_METRICS_TOKEN to a long random value (e.g. `openssl rand -hex 32`) and have Prometheus send it \
             as a bearer token (`authorization: { credentials: … }` in its scrape config).",
        )
    }
}

#[derive(Clone)]
struct Ops {
    state: AppState,
    metrics: MetricsAccess,
}

pub fn router<S: Clone + Send + Sync + 'static>(
    state: AppState,
    access: MetricsAccess,
) -> Router<S> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Ops {
            state,
            metrics: access,
        })
}

/// How long `/readyz` waits for the database's answer (a SQLite write lock held elsewhere
/// would otherwise hold it for the whole busy timeout).
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

async fn readyz(State(ops): State<Ops>) -> Response {
    let ready = tokio::time::timeout(READY_WAIT, store::ready(&ops.state.pool))
        .await
        .map_err(|_| "no answer in time".to_owned())
        .and_then(|ready| ready.map_err(|e| e.to_string()));
    match ready {
        Ok(true) => (StatusCode::OK, "ready").into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database migrations are not all applied",
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the database did not answer or refused the write");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer or refuses writes",
            )
                .into_response()
        }
    }
}

/// A label value with `\`, `"` and newlines escaped, as the text format asks.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(
    out: &mut String,
    name: &str,
    help: &str,
    labels: &[&str],
    values: Vec<(Vec<String>, u64)>,
) {
    family(out, name, "counter", help);
    for (label_values, count) in values {
        let pairs: Vec<String> = labels
            .iter()
            .zip(&label_values)
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {count}", pairs.join(","));
    }
}

/// The metrics in Prometheus text format, version 0.0.4.
pub async fn render(state: &AppState) -> Result<String, Error> {
    let mut out = String::new();
    family(
        &mut out,
        "concur_console_connections",
        "gauge",
        "Connections by status, as the dashboard counts them.",
    );
    let overview = state
        .overview
        .get(&state.pool, state.now(), &store::FleetFilter::default())
        .await
        .map_err(internal)?;
    for &(status, count) in &overview.counts {
        let _ = writeln!(
            out,
            "concur_console_connections{{status=\"{}\"}} {count}",
            status.key()
        );
    }
    family(
        &mut out,
        "concur_console_refresh_token_expiry_timestamp_seconds",
        "gauge",
        "When each connection's refresh token expires, as a Unix time.",
    );
    for (id, name, at) in store::expiries(&state.pool).await.map_err(internal)? {
        let _ = writeln!(
            out,
            "concur_console_refresh_token_expiry_timestamp_seconds{{id=\"{}\",name=\"{}\"}} {at}",
            label(&id),
            label(&name)
        );
    }
    let m = &state.metrics;
    counter(
        &mut out,
        "concur_console_refreshes_total",
        "Concur token calls by who asked and result.",
        &["source", "result"],
        m.refreshes.snapshot(),
    );
    counter(
        &mut out,
        "concur_console_alert_deliveries_total",
        "Alert deliveries by channel and result.",
        &["channel", "result"],
        m.alert_deliveries.snapshot(),
    );
    counter(
        &mut out,
        "concur_console_token_api_requests_total",
        "Token API requests by HTTP status.",
        &["status"],
        m.token_api_requests.snapshot(),
    );
    counter(
        &mut out,
        "concur_console_renewal_requests_total",
        "Renewal requests to customers by result.",
        &["result"],
        m.renewal_requests.snapshot(),
    );
    counter(
        &mut out,
        "concur_console_probe_results_total",
        "Read-only API probes by probe and result.",
        &["probe", "result"],
        m.probe_results.snapshot(),
    );
    counter(
        &mut out,
        "concur_console_stalled_pages_total",
        "Server-rendered pages that had not started after the watchdog's time and were rendered again.",
        &["method"],
        m.stalled_pages.snapshot(),
    );
    family(
        &mut out,
        "concur_console_renewal_requests_open",
        "gauge",
        "Renewal requests waiting for the customer.",
    );
    let open = store::open_renewal_count(&state.pool)
        .await
        .map_err(internal)?;
    let _ = writeln!(out, "concur_console_renewal_requests_open {open}");
    Ok(out)
}

async fn metrics(State(ops): State<Ops>, headers: HeaderMap) -> Response {
    if ops.metrics == MetricsAccess::Closed {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "/metrics is closed: set CONCUR_METRICS_TOKEN on the console and send it as a bearer token.",
        )
            .into_response();
    }
    if let MetricsAccess::Token(expected) = &ops.metrics {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let matches = presented.is_some_and(|p| {
            p.len() == expected.len()
                && p.bytes()
                    .zip(expected.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !matches {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "Send CONCUR_METRICS_TOKEN as a bearer token.",
            )
                .into_response();
        }
    }
    match render(&ops.state).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
