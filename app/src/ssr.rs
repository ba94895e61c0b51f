//! The server functions' side of the request: the core's state and the request from Leptos'
//! context, the signed-in account, the audit of what it does, and the page's
//! Content-Security-Policy. Everything else a server function does is the core's.

use axum::http::request::Parts;
use console_core::Error;
use console_core::audit::{Actor, Event};
use console_core::auth::{Account, SignedIn, current_account};
use console_core::state::AppState;
use console_model::Role;
use leptos::prelude::use_context;

/// The state, from the server function's context.
pub fn state() -> Result<AppState, Error> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the server function context");
        Error::Internal
    })
}

/// Every server function but sign-in, setup and accepting an invitation starts with this: the
/// signed-in account, if its role allows what `needed` allows; else 401 or 403.
pub async fn require(needed: Role) -> Result<Account, Error> {
    let state = state()?;
    let parts = use_context::<Parts>().ok_or(Error::Unauthorized)?;
    let account = match parts.extensions.get::<SignedIn>() {
        Some(SignedIn(account)) => account.clone(),
        None => current_account(&state, &parts.headers)
            .await?
            .ok_or(Error::Unauthorized)?,
    };
    if account.role.allows(needed) {
        Ok(account)
    } else {
        Err(Error::Forbidden(needed))
    }
}

/// The client's address (trusted proxies considered), `unknown` outside a request.
pub fn client_ip(state: &AppState) -> String {
    use_context::<Parts>().map_or_else(
        || "unknown".to_owned(),
        |parts| console_core::request::client_ip(&parts, &state.trusted_proxies),
    )
}

/// The client's user agent, as sent.
pub fn user_agent() -> String {
    use_context::<Parts>()
        .map(|parts| console_core::request::user_agent(&parts))
        .unwrap_or_default()
}

/// Records what a signed-in account did from the current request.
pub async fn by_admin(
    state: &AppState,
    account: &Account,
    kind: &str,
    connection_id: Option<&str>,
    outcome: &str,
    detail: &str,
) {
    let address = client_ip(state);
    console_core::audit::record(
        state,
        Event {
            actor: Actor::Account(account),
            address: Some(&address),
            kind,
            connection_id,
            outcome,
            detail,
        },
    )
    .await;
}

/// Sends this page's Content-Security-Policy with the response's nonce, which Leptos also puts
/// on its hydration scripts: only scripts the server rendered for this response run.
pub fn content_security_policy() {
    use axum::http::{HeaderValue, header};
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}
