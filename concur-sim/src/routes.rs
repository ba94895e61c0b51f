//! HTTP: the token endpoint (with injected faults), the Users read, revoke, and the admin API
//! tests and the demo use when the simulator runs as its own process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Form, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::{AccessRecord, Fault, Quirks, State};

#[derive(Clone)]
pub(crate) struct DataCenter {
    pub name: String,
    pub state: Arc<Mutex<State>>,
}

pub(crate) fn router(data_center: DataCenter) -> Router {
    Router::new()
        .route("/oauth2/v0/token", post(token))
        .route("/profile/identity/v4/Users", get(users))
        .route("/app-mgmt/v0/connections", delete(revoke))
        .route("/_sim/seed", post(seed))
        .route("/_sim/revoke", post(revoke_for))
        .route("/_sim/request-tokens", post(mint_request_token))
        .route("/_sim/refresh-tokens", post(issue_refresh_token))
        .route("/_sim/clock", post(advance_clock))
        .route("/_sim/faults", post(inject_fault))
        .route("/_sim/quirks", put(set_quirks))
        .with_state(data_center)
}

fn lock(dc: &DataCenter) -> std::sync::MutexGuard<'_, State> {
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

async fn token(
    Extract(dc): Extract<DataCenter>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (fault, correlation_id) = {
        let mut state = lock(&dc);
        (state.faults.pop_front(), state.next_correlation_id())
    };
    if let Some(fault) = fault {
        if let Fault::Slow { millis } = fault {
            tokio::time::sleep(Duration::from_millis(millis)).await;
        } else {
            lock(&dc).token_requests += 1;
            return fault_response(fault, correlation_id);
        }
    }
    let reply = lock(&dc).token(&dc.name, &form);
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
        Fault::Slow { .. } => StatusCode::OK.into_response(),
    }
}

fn bearer(state: &State, headers: &HeaderMap) -> Option<(String, AccessRecord)> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let record = state.access_tokens.get(token)?;
    (record.expires_at > state.now()).then(|| (token.to_owned(), record.clone()))
}

async fn users(Extract(dc): Extract<DataCenter>, headers: HeaderMap) -> Response {
    let state = lock(&dc);
    let Some((_, record)) = bearer(&state, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(company) = record.company else {
        return StatusCode::FORBIDDEN.into_response();
    };
    if !record
        .scopes
        .iter()
        .any(|s| s.starts_with("identity.user."))
    {
        return StatusCode::FORBIDDEN.into_response();
    }
    Json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 3,
        "itemsPerPage": 1,
        "startIndex": 1,
        "Resources": [{"id": uuid::Uuid::new_v4().to_string(), "userName": format!("ada@{company}.example")}],
    }))
    .into_response()
}

async fn revoke(Extract(dc): Extract<DataCenter>, headers: HeaderMap) -> Response {
    let mut state = lock(&dc);
    let Some((_, record)) = bearer(&state, &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if let Some(company) = record.company {
        state.revoke(&company, &record.client_id);
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
        None => (StatusCode::BAD_REQUEST, "unknown data centre").into_response(),
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

async fn inject_fault(Extract(dc): Extract<DataCenter>, Json(body): Json<Injection>) -> StatusCode {
    let mut state = lock(&dc);
    state
        .faults
        .extend(std::iter::repeat_n(body.fault, body.times));
    StatusCode::NO_CONTENT
}

async fn set_quirks(Extract(dc): Extract<DataCenter>, Json(quirks): Json<Quirks>) -> StatusCode {
    lock(&dc).quirks = quirks;
    StatusCode::NO_CONTENT
}
