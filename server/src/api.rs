//! The JSON API for integrations: `GET /api/v1/connections/{id}/token` (or
//! `…/by-external-id/{external_id}/token`) hands out the connection's access token to a holder
//! of one of its API keys or of a fleet key that matches it; `/api/openapi.json` describes it.
//! Plain axum routes with real status codes, not server functions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use console_core::Error;
use console_core::api_keys::{HANDOFF_KEY_PREFIX, KeyRefusal, authenticate};
use console_core::connections::refresh::{TokenRefusal, access_token};
use console_core::fleet_keys::{self, FLEET_KEY_PREFIX, MANAGE_KEY_PREFIX};
use console_core::keys::{Call, Caller, caller};
use console_core::state::AppState;
use console_core::store;
use serde_json::json;

/// Requests per key and minute, unless `CONCUR_API_RATE_LIMIT` says otherwise.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 1200;

/// A token bucket per API key: `per_minute` on average, bursts of a sixth of that (at least 100,
/// so a fleet of workers starting together is not refused).
#[derive(Debug)]
pub struct KeyLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl KeyLimiter {
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Self {
            per_second: per_minute / 60.0,
            burst: (per_minute / 6.0).max(100.0).min(per_minute),
            buckets: Mutex::default(),
        }
    }

    /// Takes one request from the key's bucket; `Err(seconds to wait)` when it is empty. The
    /// map never holds more than [`MAX_BUCKETS`] keys (one per address on the public routes):
    /// past it, buckets refilled to the full burst go (they limit nothing), then the stalest.
    pub fn take(&self, key_id: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key_id) {
            self.prune(&mut buckets, now);
        }
        let (tokens, last) = buckets
            .entry(key_id.to_owned())
            .or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as u64)
        }
    }

    fn prune(&self, buckets: &mut HashMap<String, (f64, Instant)>, now: Instant) {
        let refilled = |(tokens, last): &(f64, Instant)| {
            tokens + now.duration_since(*last).as_secs_f64() * self.per_second >= self.burst
        };
        buckets.retain(|_, bucket| !refilled(bucket));
        if buckets.len() >= MAX_BUCKETS {
            let mut by_age: Vec<(Instant, String)> = buckets
                .iter()
                .map(|(key, (_, last))| (*last, key.clone()))
                .collect();
            by_age.sort();
            let excess = buckets.len() + 1 - MAX_BUCKETS + MAX_BUCKETS / 10;
            for (_, key) in by_age.into_iter().take(excess) {
                buckets.remove(&key);
            }
        }
    }

    /// How many keys the limiter remembers now.
    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The most keys a [`KeyLimiter`] remembers.
pub const MAX_BUCKETS: usize = 10_000;

#[derive(Clone)]
struct Api {
    state: AppState,
    limiter: Arc<KeyLimiter>,
}

pub fn router<S: Clone + Send + Sync + 'static>(
    state: AppState,
    limiter: Arc<KeyLimiter>,
) -> Router<S> {
    Router::new()
        .route("/api/v1/connections/{id}/token", get(token))
        .route(
            "/api/v1/connections/by-external-id/{external_id}/token",
            get(token_by_external_id),
        )
        .route("/api/openapi.json", get(openapi))
        .with_state(Api { state, limiter })
}

/// An error answer: `{"error", "message"}` with its status and headers.
pub(crate) fn refuse(status: StatusCode, error: &str, message: &str) -> Response {
    let mut response =
        (status, Json(json!({ "error": error, "message": message }))).into_response();
    no_store(response.headers_mut());
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn with_retry_after(mut response: Response, seconds: i64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

pub(crate) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The key the request carries, if it may make `call`; otherwise the answer: `401` without a
/// live key, `403` naming what this kind of key may do instead.
pub(crate) async fn allowed(
    state: &AppState,
    headers: &HeaderMap,
    call: Call,
) -> Result<Caller, Response> {
    let Some(presented) = bearer(headers) else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Send an API key: Authorization: Bearer <key>.",
        ));
    };
    match caller(state, presented).await {
        Ok(Some(key)) if key.kind.may(call) => Ok(key),
        Ok(Some(key)) => Err(refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            &key.kind.refusal(call),
        )),
        Ok(None) => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "This API key is unknown or has been revoked.",
        )),
        Err(Error::DatabaseUnavailable) => Err(database_unavailable()),
        Err(e) => Err(unexpected(&e)),
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// What a caller is asked to wait while the database is away.
const DATABASE_RETRY_AFTER: i64 = 5;

/// Tries of one token request while the database answers but the request fails.
const TRIES: usize = 3;

/// Any other failure on the token path: a bug, answered 500 and logged.
fn unexpected(e: &Error) -> Response {
    tracing::error!(error = %e, "token API failed");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Something went wrong on the server. It has been logged; try again.",
    )
}

/// `503` with `Retry-After`: the database is away (the integration retries, as it would for
/// Concur).
fn database_unavailable() -> Response {
    tracing::warn!("token API: the database is unavailable");
    with_retry_after(
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The console cannot reach its database right now and holds no valid token for this call in memory; retry shortly.",
        ),
        DATABASE_RETRY_AFTER,
    )
}

/// Runs `op`. When it fails inside: [`database_unavailable`] if the database does not answer
/// (or failed a moment ago and has not been seen back); otherwise it runs again (each pooled
/// connection the database dropped while it restarted fails once, then is replaced), so that
/// only a failure that repeats with the database up is a bug, answered 500.
async fn with_database<T, F: Future<Output = Result<T, Error>>>(
    state: &AppState,
    op: impl Fn() -> F,
) -> Result<Result<T, Error>, Response> {
    let mut tried = 1;
    loop {
        match op().await {
            Err(Error::DatabaseUnavailable) => return Err(database_unavailable()),
            Err(Error::Internal) => {}
            other => return Ok(other),
        }
        // The failure outdates what the last probe said: the database is asked again.
        state.outage.note_failure();
        if !state.database_ready().await {
            return Err(database_unavailable());
        }
        if tried == TRIES {
            return Err(unexpected(&Error::Internal));
        }
        tried += 1;
    }
}

/// What the token endpoint answers (written straight from this struct: it is the hot path).
#[derive(serde::Serialize)]
struct TokenAnswer<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_at: Option<String>,
    geolocation: &'a str,
}

/// The longest a caller of the token endpoint waits. A refresh runs in its own task and goes
/// on when the caller is answered `503`: it is finished and stored, never cut off between
/// Concur's answer and the database.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(4);

/// The token endpoint, counted by answer status for `/metrics`.
async fn token(State(api): State<Api>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let response = match tokio::time::timeout(ANSWER_WITHIN, answer_token(&api, &id, &headers))
        .await
    {
        Ok(response) => response,
        Err(_) => with_retry_after(
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "No answer within 4 seconds: the database or Concur is slow. Work under way goes on; retry shortly.",
            ),
            2,
        ),
    };
    api.state
        .metrics
        .token_api_requests
        .add(&[response.status().as_str()]);
    response
}

/// The token route for the connection with the vendor's external id: the same answers as by id
/// (an unknown external id is a connection no key opens).
async fn token_by_external_id(
    State(api): State<Api>,
    Path(external_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = with_database(&api.state, || async {
        store::connection_by_external_id(&api.state.pool, &external_id)
            .await
            .map_err(console_core::state::internal)
    })
    .await;
    let id = match found {
        Ok(Ok(id)) => id.unwrap_or_default(),
        Ok(Err(e)) => return unexpected(&e),
        Err(answer) => return answer,
    };
    token(State(api), Path(id), headers).await
}

/// The id of the live key `presented` is, if it opens connection `id`: a connection's own key,
/// or a fleet key whose selector matches the connection now.
async fn open(
    state: &AppState,
    presented: &str,
    id: &str,
) -> Result<Result<String, KeyRefusal>, Error> {
    Ok(if presented.starts_with(FLEET_KEY_PREFIX) {
        fleet_keys::authenticate(state, presented, id)
            .await?
            .map(|k| k.id)
    } else {
        authenticate(state, presented, id).await?.map(|k| k.id)
    })
}

async fn answer_token(api: &Api, id: &str, headers: &HeaderMap) -> Response {
    let Some(presented) = bearer(headers) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Send an API key of this connection: Authorization: Bearer <key>.",
        );
    };
    let authenticated = match with_database(&api.state, || open(&api.state, presented, id)).await {
        Ok(authenticated) => authenticated,
        Err(answer) => return answer,
    };
    let key_id = match authenticated {
        Ok(Ok(key_id)) => key_id,
        Ok(Err(KeyRefusal::Unknown))
            if presented.starts_with(HANDOFF_KEY_PREFIX)
                || presented.starts_with(MANAGE_KEY_PREFIX) =>
        {
            return match caller(&api.state, presented).await {
                Ok(Some(key)) if !key.kind.may(Call::Token) => refuse(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    &key.kind.refusal(Call::Token),
                ),
                Ok(_) => refuse(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "This API key is unknown or has been revoked.",
                ),
                Err(e) => unexpected(&e),
            };
        }
        Ok(Err(KeyRefusal::Unknown)) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "This API key is unknown or has been revoked.",
            );
        }
        Ok(Err(KeyRefusal::OtherConnection)) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "not_found",
                "This API key opens no connection with that id.",
            );
        }
        Err(e) => return unexpected(&e),
    };
    if let Err(wait) = api.limiter.take(&key_id) {
        return with_retry_after(
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests with this API key; reuse the access token until it nears expires_at.",
            ),
            i64::try_from(wait).unwrap_or(60),
        );
    }
    let issued = match with_database(&api.state, || access_token(&api.state, id)).await {
        Ok(issued) => issued,
        Err(answer) => return answer,
    };
    match issued {
        Ok(Ok(issued)) => {
            let mut response = Json(TokenAnswer {
                access_token: issued.access_token.expose(),
                token_type: "Bearer",
                expires_at: console_core::rfc3339(issued.expires_at),
                geolocation: &issued.geolocation,
            })
            .into_response();
            no_store(response.headers_mut());
            response
        }
        Ok(Err(TokenRefusal::NeedsHuman { problem, next_step })) => refuse(
            StatusCode::CONFLICT,
            "needs_human",
            &format!("{problem} Next step: {next_step}"),
        ),
        Ok(Err(TokenRefusal::Unavailable { retry_after })) => with_retry_after(
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "concur_unavailable",
                "Concur cannot be reached right now and no cached access token is still valid; retry later.",
            ),
            retry_after,
        ),
        Err(Error::NotFound) => refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "This API key opens no connection with that id.",
        ),
        Err(e) => unexpected(&e),
    }
}

async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limiter_remembers_a_bounded_number_of_keys_and_still_limits() {
        let limiter = KeyLimiter::new(60);
        for _ in 0..60 {
            assert_eq!(limiter.take("busy"), Ok(()));
        }
        assert!(limiter.take("busy").is_err(), "the burst is spent");
        for i in 0..3 * MAX_BUCKETS {
            assert_eq!(limiter.take(&format!("address {i}")), Ok(()));
        }
        assert!(limiter.tracked() <= MAX_BUCKETS, "{}", limiter.tracked());
        let newest = format!("address {}", 3 * MAX_BUCKETS - 1);
        for _ in 0..59 {
            assert_eq!(limiter.take(&newest), Ok(()));
        }
        assert!(
            limiter.take(&newest).is_err(),
            "a recent key keeps its count through pruning"
        );
    }
}
