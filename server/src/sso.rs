//! `/auth/oidc/start` and `/auth/oidc/callback`: signing in through the company's identity
//! provider. The browser that starts a sign-in gets a cookie with the `state` it must come back
//! with; the database keeps the state's hash, the nonce and the sealed PKCE verifier until it
//! does (ten minutes at most). Both answers are redirects; a refusal goes back to the sign-in
//! page with a fixed word that page turns into a message, and the reason goes to the log and
//! the audit log.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use console_core::audit::{Actor, Event, record};
use console_core::auth::oidc::{LOGIN_SECONDS, SsoError};
use console_core::auth::{
    Account, Refusal, client_address_text, cookie, start_session, token_hash, validate_username,
};
use console_core::state::AppState;
use console_core::store::{self, SsoAccount};
use console_model::SignInMethod;
use serde::Deserialize;

use crate::api::KeyLimiter;

const STATE_COOKIE: &str = "cc_sso";
/// Over https: `__Host-` (Secure, no Domain, path `/`), so a sibling subdomain cannot plant it.
const SECURE_STATE_COOKIE: &str = "__Host-cc_sso";

/// Sign-ins started per address and minute: plenty for people, little for a script filling
/// the table of sign-ins under way.
pub const STARTS_PER_MINUTE: u32 = 30;

#[derive(Clone)]
struct Sso {
    state: AppState,
    starts: Arc<KeyLimiter>,
}

pub fn router<S: Clone + Send + Sync + 'static>(state: AppState) -> Router<S> {
    Router::new()
        .route(app::auth::SSO_START_PATH, get(start))
        .route(console_core::auth::oidc::CALLBACK_PATH, get(callback))
        .with_state(Sso {
            state,
            starts: Arc::new(KeyLimiter::new(STARTS_PER_MINUTE)),
        })
}

/// The client's address, as sign-in counts it.
fn address_of(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> String {
    client_address_text(Some(peer.ip()), headers, &state.trusted_proxies)
}

fn cookie_name(state: &AppState) -> &'static str {
    if state.secure_cookies {
        SECURE_STATE_COOKIE
    } else {
        STATE_COOKIE
    }
}

/// The `state` cookie: sent back on the identity provider's redirect (a top-level GET, so
/// `SameSite=Lax`), for ten minutes; over plain http only to the callback's folder, over https
/// with the `__Host-` prefix, which asks for path `/`.
fn state_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let (path, secure) = if state.secure_cookies {
        ("/", "; Secure")
    } else {
        ("/auth/oidc/", "")
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(state)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn to_login(code: &str) -> Response {
    Redirect::to(&format!("/login?sso={code}")).into_response()
}

async fn start(
    State(Sso { state, starts }): State<Sso>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return (StatusCode::NOT_FOUND, "Single sign-on is not configured.").into_response();
    };
    let address = address_of(&state, peer, &headers);
    if let Err(wait) = starts.take(&console_core::auth::address_key(&address)) {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins started from this address; try again in a minute.",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    let started = oidc.start();
    let hash = token_hash(&started.state);
    let sealed = state.cipher.seal("sso_logins", &hash, &started.verifier);
    let stored = store::insert_sso_login(
        &state.pool,
        &hash,
        &started.nonce,
        &sealed,
        state.now() + LOGIN_SECONDS,
    )
    .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, "could not start a single sign-on");
        return to_login("failed");
    }
    let mut response = Redirect::to(&started.url).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        state_cookie(&state, &started.state, LOGIN_SECONDS),
    );
    response
}

#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(Sso { state, .. }): State<Sso>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return (StatusCode::NOT_FOUND, "Single sign-on is not configured.").into_response();
    };
    let address = address_of(&state, peer, &headers);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut response = match sign_in(&state, &oidc, &headers, answer, &address, user_agent).await {
        Ok(session) => {
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&session) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err((SsoError::State, _)) => {
            // Not this browser's sign-in (or none): its own, if one is under way, stays, and
            // nothing is written.
            tracing::warn!("single sign-on callback without a matching state");
            return to_login(SsoError::State.code());
        }
        Err((e @ SsoError::Refused(_), _)) => {
            // The provider's error (or its refusal of a code): anyone who started a sign-in
            // can bring one back, so it is counted with the other refusals of this address and
            // minute, one audit row for them all.
            tracing::warn!(reason = %e, "single sign-on refused");
            state
                .limiter
                .count_throttled(&address, state.now(), Refusal::SingleSignOn);
            to_login(e.code())
        }
        Err((e, who)) => {
            tracing::warn!(reason = %e, "single sign-on refused");
            let detail = format!("single sign-on: {e}");
            record(
                &state,
                Event {
                    actor: Actor::Named(who.as_deref().unwrap_or("single sign-on")),
                    address: Some(&address),
                    kind: "sign_in",
                    connection_id: None,
                    outcome: "refused",
                    detail: &detail,
                },
            )
            .await;
            to_login(e.code())
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, state_cookie(&state, "", 0));
    response
}

/// Checks the answer and starts a session: its cookie, or the refusal and (when known) who.
async fn sign_in(
    state: &AppState,
    oidc: &console_core::auth::oidc::Oidc,
    headers: &HeaderMap,
    answer: Callback,
    address: &str,
    user_agent: &str,
) -> Result<String, (SsoError, Option<String>)> {
    // The browser that comes back must be the one that started (its cookie holds the state),
    // and the sign-in must be under way: before anything else, an error from the provider
    // included, so a stranger's request writes nothing.
    let Some(returned) = answer.state else {
        return Err((SsoError::State, None));
    };
    let started_here = cookie(headers, cookie_name(state))
        .is_some_and(|kept| token_hash(&kept) == token_hash(&returned));
    if !started_here {
        return Err((SsoError::State, None));
    }
    let now = state.now();
    let hash = token_hash(&returned);
    let internal = |e: &dyn std::fmt::Display| (SsoError::Internal(e.to_string()), None);
    let (nonce, sealed) = store::take_sso_login(&state.pool, &hash, now)
        .await
        .map_err(|e| internal(&e))?
        .ok_or((SsoError::State, None))?;
    if let Some(error) = answer.error {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        return Err((SsoError::Refused(error), None));
    }
    let Some(code) = answer.code else {
        return Err((SsoError::State, None));
    };
    let verifier = state
        .cipher
        .open("sso_logins", &hash, &sealed)
        .map_err(|e| internal(&e))?;
    let identity = oidc
        .finish(code, verifier.to_string(), &nonce, now)
        .await
        .map_err(|e| (e, None))?;
    let who = Some(identity.username.clone());
    let Some(role) = oidc.config.role_for(&identity.groups) else {
        return Err((SsoError::NoGroup, who));
    };
    let username = validate_username(&identity.username).map_err(|_| {
        (
            SsoError::Internal(format!(
                "the identity provider's user name {:?} is not usable here",
                identity.username
            )),
            who.clone(),
        )
    })?;
    let (id, role) = match store::sso_account(&state.pool, &identity.subject, &username, role, now)
        .await
        .map_err(|e| internal(&e))?
    {
        SsoAccount::SignedIn(id) => (id, role),
        SsoAccount::KeptLastAdmin(id) => {
            tracing::warn!(%username, groups_say = %role, "single sign-on would demote the last active admin; kept as admin");
            let detail = format!(
                "single sign-on: the groups say {role}, but this is the last active admin; kept as admin until another admin exists"
            );
            record(
                state,
                Event {
                    actor: Actor::Named(&username),
                    address: Some(address),
                    kind: "role_changed",
                    connection_id: None,
                    outcome: "refused",
                    detail: &detail,
                },
            )
            .await;
            (id, console_model::Role::Admin)
        }
        SsoAccount::Deactivated => return Err((SsoError::Deactivated, who)),
        SsoAccount::NameTaken => return Err((SsoError::NameTaken(username), who)),
    };
    let session = start_session(state, &id, SignInMethod::Sso, address, user_agent)
        .await
        .map_err(|e| internal(&e))?;
    let account = Account {
        id,
        role,
        method: SignInMethod::Sso,
    };
    record(
        state,
        Event {
            actor: Actor::Account(&account),
            address: Some(address),
            kind: "sign_in",
            connection_id: None,
            outcome: "ok",
            detail: "single sign-on",
        },
    )
    .await;
    tracing::info!(%username, %role, "signed in through single sign-on");
    Ok(session)
}
