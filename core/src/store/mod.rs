//! The store: small named queries with explicit columns, portable between SQLite and PostgreSQL
//! (`$n` placeholders, BIGINT times and flags, no vendor functions). The one thing each database
//! does its own way is the search index: `migrations/sqlite/` and `migrations/postgres/` each
//! define a `connection_search (id, text)` relation that the same query reads.
//!
//! Each thing kept has its own room: `connections`, `dashboard` (its reads), `accounts`,
//! `invitations`, `sso`, `api_keys`, `fleet_keys`, `tags`, `fleet` (its reads), `handoffs`, `renewals`, `probes`, `alerts`, `audit`, `leases`, `settings` and
//! `dump` (the export's tables); `pool` connects and migrates. Rooms use `pool` and, where a
//! row spans two, each other downward; this file only names what the store offers.

mod accounts;
mod alerts;
mod api_keys;
mod audit;
mod connections;
mod dashboard;
pub mod dump;
mod fleet;
mod fleet_keys;
mod handoffs;
mod invitations;
mod leases;
mod pool;
mod probes;
mod renewals;
mod settings;
mod sso;
mod tags;

pub use accounts::*;
pub use alerts::*;
pub use api_keys::{
    ApiKeyRow, api_key_by_hash, api_keys, insert_api_key, revocation_count, revoke_api_key,
    touch_api_key,
};
pub use audit::*;
pub use connections::*;
pub use dashboard::*;
pub use dump::sealed_by_key;
pub use fleet::*;
pub use fleet_keys::*;
pub use handoffs::*;
pub use invitations::*;
pub use leases::{release_lease, try_lease};
pub(crate) use pool::is_sqlite;
#[cfg(test)]
pub(crate) use pool::on_both_stores;
pub use pool::{Pool, StoreError, Transaction, begin, connect, data_dir, ready, sqlite_path};
pub use probes::*;
pub use renewals::*;
pub use settings::{put_setting, set_setting, setting};
pub use sso::*;
pub use tags::*;
