//! Server-only infrastructure: configuration and state, the store, encryption at rest.

pub mod crypto;
pub mod state;
pub mod store;
