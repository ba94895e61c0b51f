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
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// The token routes, described for the OpenAPI document as they are served.
fn routes() -> OpenApiRouter<Api> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(token_by_external_id))
}

pub fn router<S: Clone + Send + Sync + 'static>(
    state: AppState,
    limiter: Arc<KeyLimiter>,
) -> Router<S> {
    Router::from(routes())
        .route("/api/openapi.json", get(openapi))
        .with_state(Api { state, limiter })
}

/// The token routes' part of the OpenAPI document.
pub(crate) fn described() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// What an error answer's `error` says, for a program to branch on.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    NeedsHuman,
    RateLimited,
    ConcurUnavailable,
    DatabaseUnavailable,
    Timeout,
    Invalid,
    BadRequest,
    UnsupportedMediaType,
    Internal,
}

/// A connection's status as the API names it: one of every [`console_model::Status`].
pub(crate) fn status_schema() -> utoipa::openapi::Object {
    enum_schema(
        &console_model::Status::ALL.map(console_model::Status::key),
        Some(
            "How the connection stands: failing, or its refresh token's expiry band (critical: under 8 days, expiring: under 31).",
        ),
    )
}

/// A string schema that takes one of `values`, listed from the type that has them.
pub(crate) fn enum_schema(values: &[&str], description: Option<&str>) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .description(description)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// The answer of the management and hand-off APIs for a failure of the core, mapped once:
/// its words (422, naming the field), `not_found` (404), 503 while the database is away, and
/// anything else a logged 500.
pub(crate) fn failed(e: &Error, not_found: &str) -> Response {
    match e {
        Error::Invalid { field, message } => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Invalid,
            &format!("{field}: {message}"),
        ),
        Error::NotFound => refuse(StatusCode::NOT_FOUND, ErrorCode::NotFound, not_found),
        Error::DatabaseUnavailable => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::DatabaseUnavailable,
            "The console cannot reach its database right now; retry shortly.",
        ),
        other => {
            tracing::error!(error = %other, "management or hand-off API failed");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "Something went wrong on the server. It has been logged; try again.",
            )
        }
    }
}

/// Every error answer of the API.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorAnswer<'a> {
    #[schema(inline)]
    error: ErrorCode,
    /// What went wrong and what to do, in words for a person.
    message: &'a str,
}

/// An error answer: `{"error", "message"}` with its status and headers.
pub(crate) fn refuse(status: StatusCode, error: ErrorCode, message: &str) -> Response {
    let mut response = (status, Json(ErrorAnswer { error, message })).into_response();
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
            ErrorCode::Unauthorized,
            "Send an API key: Authorization: Bearer <key>.",
        ));
    };
    match caller(state, presented).await {
        Ok(Some(key)) if key.kind.may(call) => Ok(key),
        Ok(Some(key)) => Err(refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            &key.kind.refusal(call),
        )),
        Ok(None) => Err(refuse(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
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
        ErrorCode::Internal,
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
            ErrorCode::DatabaseUnavailable,
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
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = AccessToken)]
struct TokenAnswer<'a> {
    /// Send it to Concur as `Authorization: Bearer …`.
    access_token: &'a str,
    #[schema(pattern = "^Bearer$")]
    token_type: &'static str,
    /// When the access token expires (UTC).
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// The base URL of the company's data centre: call Concur's APIs there.
    geolocation: &'a str,
}

/// The longest a caller of the token endpoint waits. A refresh runs in its own task and goes
/// on when the caller is answered `503`: it is finished and stored, never cut off between
/// Concur's answer and the database.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(4);

/// The token endpoint, counted by answer status for `/metrics`.
#[utoipa::path(
    get,
    path = "/api/v1/connections/{id}/token",
    operation_id = "getAccessToken",
    tag = "tokens",
    summary = "An access token for one connection",
    description = "Returns the cached access token while more than five minutes remain; otherwise Concur Console refreshes once for all concurrent callers.",
    params(("id" = String, Path, description = "The connection's id, as its page and `concur-console connections list` show it.")),
    security(("apiKey" = []), ("fleetKey" = [])),
    responses(
        (status = 200, description = "A usable access token.", body = TokenAnswer),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "A hand-off or management key: it opens no connection's token.", body = ErrorAnswer),
        (status = 404, description = "This key opens no connection with that id.", body = ErrorAnswer),
        (status = 409, description = "The connection needs a human; the message names the problem and the next step.", body = ErrorAnswer),
        (status = 429, description = "Over this API key's request limit.", body = ErrorAnswer,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again."))),
        (status = 503, description = "Concur cannot be reached and no cached access token is still valid, the database is unavailable, or no answer came within 4 seconds (`error`: concur_unavailable, database_unavailable, timeout).", body = ErrorAnswer,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again."))),
    )
)]
async fn token(State(api): State<Api>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let response = match tokio::time::timeout(ANSWER_WITHIN, answer_token(&api, &id, &headers))
        .await
    {
        Ok(response) => response,
        Err(_) => with_retry_after(
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Timeout,
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
#[utoipa::path(
    get,
    path = "/api/v1/connections/by-external-id/{external_id}/token",
    operation_id = "getAccessTokenByExternalId",
    tag = "tokens",
    summary = "An access token for the connection with your own id for the customer",
    description = "The same answers as by id, for the connection whose external id (your tenant id for the customer) this is.",
    params(("external_id" = String, Path, description = "Your own id for the customer, as set with `connections add --external-id`, `connections set` or the connection's page.")),
    security(("fleetKey" = []), ("apiKey" = [])),
    responses(
        (status = 200, description = "A usable access token.", body = TokenAnswer),
        (status = 401, description = "No API key, or an unknown or revoked one.", body = ErrorAnswer),
        (status = 403, description = "A hand-off or management key: it opens no connection's token.", body = ErrorAnswer),
        (status = 404, description = "This key opens no connection with that external id.", body = ErrorAnswer),
        (status = 409, description = "The connection needs a human; the message names the problem and the next step.", body = ErrorAnswer),
        (status = 429, description = "Over this API key's request limit.", body = ErrorAnswer,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again."))),
        (status = 503, description = "Concur or the database cannot be reached, or no answer came within 4 seconds.", body = ErrorAnswer,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again."))),
    )
)]
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
            ErrorCode::Unauthorized,
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
                    ErrorCode::Forbidden,
                    &key.kind.refusal(Call::Token),
                ),
                Ok(_) => refuse(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    "This API key is unknown or has been revoked.",
                ),
                Err(e) => unexpected(&e),
            };
        }
        Ok(Err(KeyRefusal::Unknown)) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "This API key is unknown or has been revoked.",
            );
        }
        Ok(Err(KeyRefusal::OtherConnection)) => {
            return refuse(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "This API key opens no connection with that id.",
            );
        }
        Err(e) => return unexpected(&e),
    };
    if let Err(wait) = api.limiter.take(&key_id) {
        return with_retry_after(
            refuse(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
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
            ErrorCode::NeedsHuman,
            &format!("{problem} Next step: {next_step}"),
        ),
        Ok(Err(TokenRefusal::Unavailable { retry_after })) => with_retry_after(
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ConcurUnavailable,
                "Concur cannot be reached right now and no cached access token is still valid; retry later.",
            ),
            retry_after,
        ),
        Err(Error::NotFound) => refuse(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "This API key opens no connection with that id.",
        ),
        Err(e) => unexpected(&e),
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
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
