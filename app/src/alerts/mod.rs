//! Alerts: warn before a refresh token expires, when a connection needs a human, when Concur
//! stays unreachable, and when a connection recovers.

#[cfg(feature = "ssr")]
pub mod ssr;
