//! Everything only the console's server does, beneath the UI and without Leptos.
//!
//! [`state`] is the composition root: configuration, the store, the cipher and the caches, the
//! one place that knows every part. The parts below it depend downward only and are handed what
//! they use (`&AppState`, a `&Pool`, a clock):
//!
//! - [`connections`]: the Validate path, the one refresh path ([`connections::refresh`]), the
//!   token caches and the dashboard's counts;
//! - [`handoffs`], [`people`], [`account`], [`api_keys`], [`fleet_keys`]: links, accounts and
//!   roles, keys;
//! - [`auth`]: passwords, sessions, the sign-in limiter, single sign-on;
//! - [`alerts`]: when to alert, the outbox, where alerts go; [`renewals`]: asking a
//!   connection's customer to renew it, reminding, escalating;
//! - [`audit`]: recording who did what;
//! - [`store`]: the SQL, one room per thing kept; [`crypto`]: sealing secrets at rest;
//! - [`request`]: where a request comes from, usable by every part.
//!
//! Errors are [`Error`], the words the user sees, mapped once by the UI and the JSON API.

pub mod account;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod connections;
pub mod crypto;
pub mod fleet_keys;
pub mod handoffs;
pub mod keys;
pub mod metrics;
pub mod people;
pub mod recent;
pub mod renewals;
pub mod request;
pub mod state;
pub mod store;

pub use console_model::Error;

/// A Unix time as RFC 3339 in UTC (`2026-11-25T13:04:05Z`), as JSON answers and alerts give it.
pub fn rfc3339(t: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}
