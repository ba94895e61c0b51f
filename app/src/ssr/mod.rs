//! Server-only infrastructure: configuration and state, the store, encryption at rest.

pub mod crypto;
pub mod metrics;
pub mod recent;
pub mod request;
pub mod state;
pub mod store;

/// A Unix time as RFC 3339 in UTC (`2026-11-25T13:04:05Z`), as JSON answers and alerts give it.
pub fn rfc3339(t: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Sends this page's Content-Security-Policy with the response's nonce, which Leptos also puts
/// on its hydration scripts: only scripts the server rendered for this response run.
pub fn content_security_policy() {
    use axum::http::{HeaderValue, header};
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
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
