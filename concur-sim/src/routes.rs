//! HTTP: the token endpoint (with injected faults), revoke, the read APIs of [`apis`], and the
//! admin API tests and the demo use when the simulator runs as its own process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apis;
use crate::state::{AccessRecord, CompanySwitches, Fault, Quirks, State};

#[derive(Clone)]
pub(crate) struct DataCenter {
    pub name: String,
    pub state: Arc<Mutex<State>>,
}

/// Concur answers its paths with or without a trailing slash (SAP's own tutorial asks for
/// `/profile/identity/v4/Users/`), so every path is routed both ways.
pub(crate) fn router(data_center: DataCenter) -> Router {
    let both = |router: Router<DataCenter>,
                path: &str,
                method: axum::routing::MethodRouter<DataCenter>| {
        router
            .route(path, method.clone())
            .route(&format!("{path}/"), method)
    };
    let mut router = Router::new();
    router = both(router, "/oauth2/v0/token", post(token));
    router = both(router, "/profile/identity/v4/Users", get(apis::users));
    router = router.route("/profile/identity/v4/Users/{id}", get(apis::user));
    router = both(router, "/api/v3.0/expense/reports", get(apis::v3_reports));
    router = both(
        router,
        "/api/v3.0/expense/expensegroupconfigurations",
        get(apis::v3_group_configurations),
    );
    router = both(
        router,
        "/expensereports/v4/users/{user}/context/{context}/reports",
        get(apis::v4_reports),
    );
    router = both(
        router,
        "/expensereports/v4/users/{user}/context/{context}/reportsToApprove",
        get(apis::v4_reports_to_approve),
    );
    router = both(router, "/app-mgmt/v0/connections", delete(revoke));
    router
        .route("/_sim/seed", post(seed))
        .route("/_sim/revoke", post(revoke_for))
        .route("/_sim/request-tokens", post(mint_request_token))
        .route("/_sim/refresh-tokens", post(issue_refresh_token))
        .route("/_sim/clock", post(advance_clock))
        .route("/_sim/faults", post(inject_fault))
        .route("/_sim/stall", post(stall).get(held))
        .route("/_sim/quirks", put(set_quirks))
        .route("/_sim/companies/{company}", put(set_company))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            data_center.clone(),
            correlation_header,
        ))
        .with_state(data_center)
}

/// Every answer carries a `concur-correlationid` header, as Concur's do.
async fn correlation_header(
    Extract(dc): Extract<DataCenter>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key(CORRELATION) {
        let id = lock(&dc).next_correlation_id();
        if let Ok(value) = header::HeaderValue::from_str(&id) {
            response.headers_mut().insert(CORRELATION, value);
        }
    }
    response
}

pub(crate) const CORRELATION: &str = "concur-correlationid";

/// An error answer in the shape of Concur's gateway errors, with a correlation id.
fn gateway_error(
    dc: &DataCenter,
    status: StatusCode,
    error: &str,
    description: String,
) -> Response {
    let id = lock(dc).next_correlation_id();
    (
        status,
        [(CORRELATION, id.clone())],
        Json(json!({
            "error": error,
            "error_description": description,
            "concur-correlationid": id,
        })),
    )
        .into_response()
}

async fn not_found(Extract(dc): Extract<DataCenter>, uri: axum::http::Uri) -> Response {
    gateway_error(
        &dc,
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No resource at {}", uri.path()),
    )
}

async fn method_not_allowed(
    Extract(dc): Extract<DataCenter>,
    method: axum::http::Method,
) -> Response {
    gateway_error(
        &dc,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here"),
    )
}

pub(crate) fn lock(dc: &DataCenter) -> std::sync::MutexGuard<'_, State> {
    dc.state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn concur_json(status: u16, mut body: Value, correlation_id: String) -> Response {
    if status >= 400 {
        body["concur-correlationid"] = json!(correlation_id);
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("concur-correlationid", correlation_id)],
        Json(body),
    )
        .into_response()
}

async fn token(Extract(dc): Extract<DataCenter>, headers: HeaderMap, body: Bytes) -> Response {
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        let correlation_id = {
            let mut state = lock(&dc);
            state.token_requests += 1;
            state.next_correlation_id()
        };
        let reply = crate::state::error(400, "invalid_request", 135, "unsupported request format");
        return concur_json(reply.status, reply.body, correlation_id);
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let (fault, correlation_id) = {
        let mut state = lock(&dc);
        let own = state
            .faults_in
            .get_mut(&dc.name)
            .and_then(VecDeque::pop_front);
        let fault = own
            .or_else(|| state.faults.pop_front())
            .or_else(|| state.lasting.get(&dc.name).cloned());
        (fault, state.next_correlation_id())
    };
    if let Some(fault) = fault {
        if let Fault::Slow { millis } = fault {
            tokio::time::sleep(Duration::from_millis(millis)).await;
        } else {
            lock(&dc).token_requests += 1;
            return fault_response(fault, correlation_id);
        }
    }
    // A stall holds back an answer already decided, as a slow network would: a rotated refresh
    // token is rotated even when the caller stops waiting for it.
    let (reply, stall) = {
        let mut state = lock(&dc);
        let reply = state.token(&dc.name, &form);
        let stall = state.stalls.get(&dc.name).copied();
        state.held += u64::from(stall.is_some());
        (reply, stall)
    };
    if let Some(millis) = stall {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
    concur_json(reply.status, reply.body, correlation_id)
}

fn fault_response(fault: Fault, correlation_id: String) -> Response {
    let html = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>";
    match fault {
        Fault::RateLimited { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after.to_string())],
            "",
        )
            .into_response(),
        Fault::ServerError => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        Fault::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, html).into_response(),
        Fault::Maintenance => concur_json(
            400,
            json!({"error": "invalid_request", "error_description": "company undergoing scheduled maintenance", "code": 134}),
            correlation_id,
        ),
        Fault::Html => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], html).into_response()
        }
        Fault::MalformedJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"access_token": "abc", "expires_in": "#,
        )
            .into_response(),
        Fault::DropConnection => {
            let broken = futures_util::stream::once(async {
                Err::<Bytes, _>(std::io::Error::other("connection dropped"))
            });
            (StatusCode::OK, Body::from_stream(broken)).into_response()
        }
        Fault::HugeBody { bytes } => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = bytes.div_ceil(chunk.len());
            let stream = futures_util::stream::iter(
                (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            (StatusCode::OK, Body::from_stream(stream)).into_response()
        }
        Fault::MissingFields => concur_json(
            200,
            json!({"token_type": "Bearer", "scope": "openid"}),
            correlation_id,
        ),
        Fault::Trickle { millis } => {
            let body = br#"{"access_token": "trickled", "expires_in": 3600}"#;
            let stream = futures_util::StreamExt::then(
                futures_util::stream::iter(body.iter().copied()),
                move |byte| async move {
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                    Ok::<_, std::io::Error>(Bytes::from(vec![byte]))
                },
            );
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(stream),
            )
                .into_response()
        }
        Fault::Slow { .. } => StatusCode::OK.into_response(),
    }
}

pub(crate) fn bearer(state: &State, headers: &HeaderMap) -> Option<(String, AccessRecord)> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let record = state.access_tokens.get(token)?;
    (record.expires_at > state.now()).then(|| (token.to_owned(), record.clone()))
}

async fn revoke(Extract(dc): Extract<DataCenter>, headers: HeaderMap) -> Response {
    let record = {
        let state = lock(&dc);
        bearer(&state, &headers).map(|(_, record)| record)
    };
    let Some(record) = record else {
        return gateway_error(
            &dc,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The bearer token is missing, invalid or expired.".to_owned(),
        );
    };
    if let Some(company) = record.company {
        lock(&dc).revoke(&company, &record.client_id);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// A new app registered with `scopes` and a company living in `data_center`.
#[derive(Deserialize)]
struct SeedRequest {
    #[serde(default = "home")]
    data_center: String,
    scopes: Option<Vec<String>>,
}

fn home() -> String {
    "us2".to_owned()
}

async fn seed(Extract(dc): Extract<DataCenter>, Json(body): Json<SeedRequest>) -> Response {
    let scopes = body
        .scopes
        .unwrap_or_else(|| crate::DEMO_SCOPES.iter().map(|s| s.to_string()).collect());
    match lock(&dc).seed(&body.data_center, scopes) {
        Some(seed) => Json(seed).into_response(),
        None => gateway_error(
            &dc,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("unknown data centre {:?}", body.data_center),
        ),
    }
}

async fn revoke_for(Extract(dc): Extract<DataCenter>, Json(body): Json<TokenFor>) -> StatusCode {
    lock(&dc).revoke(&body.company_uuid, &body.client_id);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct TokenFor {
    company_uuid: String,
    client_id: String,
}

async fn mint_request_token(
    Extract(dc): Extract<DataCenter>,
    Json(body): Json<TokenFor>,
) -> Json<Value> {
    let token = lock(&dc).mint_request_token(&body.company_uuid, &body.client_id);
    Json(json!({ "request_token": token }))
}

async fn issue_refresh_token(
    Extract(dc): Extract<DataCenter>,
    Json(body): Json<TokenFor>,
) -> Json<Value> {
    let token = lock(&dc).issue_refresh_token(&body.company_uuid, &body.client_id);
    Json(json!({ "refresh_token": token }))
}

#[derive(Deserialize)]
struct Advance {
    advance_seconds: i64,
}

async fn advance_clock(Extract(dc): Extract<DataCenter>, Json(body): Json<Advance>) -> Json<Value> {
    let mut state = lock(&dc);
    state.clock_offset += body.advance_seconds;
    Json(json!({ "now": state.now() }))
}

#[derive(Deserialize)]
struct Injection {
    fault: Fault,
    #[serde(default = "one")]
    times: usize,
}

fn one() -> usize {
    1
}

/// Faults for this data centre's next token requests only.
async fn inject_fault(Extract(dc): Extract<DataCenter>, Json(body): Json<Injection>) -> StatusCode {
    let mut state = lock(&dc);
    state
        .faults_in
        .entry(dc.name.clone())
        .or_default()
        .extend(std::iter::repeat_n(body.fault, body.times));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Stall {
    millis: u64,
}

/// This data centre's token endpoint answers only after `millis` from now on (0: at once).
async fn stall(Extract(dc): Extract<DataCenter>, Json(body): Json<Stall>) -> StatusCode {
    let mut state = lock(&dc);
    if body.millis == 0 {
        state.stalls.remove(&dc.name);
    } else {
        state.stalls.insert(dc.name.clone(), body.millis);
    }
    StatusCode::NO_CONTENT
}

/// How many answers stalls have held back so far, in every data centre: `{"held": N}`.
async fn held(Extract(dc): Extract<DataCenter>) -> Json<Value> {
    Json(json!({ "held": lock(&dc).held }))
}

async fn set_quirks(Extract(dc): Extract<DataCenter>, Json(quirks): Json<Quirks>) -> StatusCode {
    lock(&dc).quirks = quirks;
    StatusCode::NO_CONTENT
}

/// A company's switches (Expense enabled, how many users, an approver among them).
async fn set_company(
    Extract(dc): Extract<DataCenter>,
    axum::extract::Path(company): axum::extract::Path<String>,
    Json(switches): Json<CompanySwitches>,
) -> Response {
    if lock(&dc).set_switches(&company, switches) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        gateway_error(
            &dc,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No company {company}"),
        )
    }
}
