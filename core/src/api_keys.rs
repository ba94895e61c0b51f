//! API keys on the server: make one (shown once, stored as a hash), list, revoke, and check a
//! presented key.

use crate::Error;
use crate::auth::{new_token, token_hash};
use crate::state::{AppState, internal};
use crate::store::{self, ApiKeyRow};
use console_model::ApiKeyView;

/// A key's `last used` is written at most this often.
pub(crate) const TOUCH_EVERY: i64 = 60;

/// Every key starts with this, so a leaked one is recognisable (and findable by secret scanners).
pub const KEY_PREFIX: &str = "cck_";
const MAX_LABEL_CHARS: usize = 100;
/// Characters of the random part that the prefix shows.
const SHOWN_CHARS: usize = 8;

/// A new key: the whole key, shown once, and what the lists show.
pub struct NewKey {
    pub key: String,
    pub view: ApiKeyView,
}

pub(crate) fn parse_label(raw: &str) -> Result<String, Error> {
    let label = raw.trim();
    if label.is_empty() {
        return Err(Error::invalid(
            "label",
            "Give the key a label, e.g. the integration that will use it.",
        ));
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::invalid(
            "label",
            "The label must be at most 100 characters.",
        ));
    }
    if label.chars().any(char::is_control) {
        return Err(Error::invalid(
            "label",
            "The label must be one line without control characters.",
        ));
    }
    Ok(label.to_owned())
}

/// A fresh key starting with `prefix`, and the part of it lists show (`cck_1a2b3c4d…`).
pub(crate) fn mint(prefix: &str) -> (String, String) {
    let (random, _) = new_token();
    (
        format!("{prefix}{random}"),
        format!("{prefix}{}…", &random[..SHOWN_CHARS]),
    )
}

fn view(row: ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    }
}

/// Makes a key for one connection. The key itself is returned once and never stored.
pub async fn create(state: &AppState, connection_id: &str, label: &str) -> Result<NewKey, Error> {
    let name = parse_label(label)?;
    if store::connection(&state.pool, connection_id)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(Error::NotFound);
    }
    let (key, prefix) = mint(KEY_PREFIX);
    let row = ApiKeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        connection_id: connection_id.to_owned(),
        name,
        prefix,
        created_at: state.now(),
        last_used_at: None,
        revoked_at: None,
    };
    store::insert_api_key(&state.pool, &row, &token_hash(&key))
        .await
        .map_err(internal)?;
    tracing::info!(connection = %connection_id, key_id = %row.id, "API key created");
    Ok(NewKey {
        key,
        view: view(row),
    })
}

pub async fn list(state: &AppState, connection_id: &str) -> Result<Vec<ApiKeyView>, Error> {
    let rows = store::api_keys(&state.pool, connection_id)
        .await
        .map_err(internal)?;
    Ok(rows.into_iter().map(view).collect())
}

/// Revokes a key at once; `connection_id` limits it to one connection's keys when given.
pub async fn revoke(
    state: &AppState,
    key_id: &str,
    connection_id: Option<&str>,
) -> Result<(), Error> {
    let revoked = store::revoke_api_key(&state.pool, key_id, connection_id, state.now())
        .await
        .map_err(internal)?;
    state.keys.forget(|_, row| row.id == key_id);
    if !revoked {
        return Err(Error::invalid(
            "key",
            "No live API key has that id (it may already be revoked).",
        ));
    }
    tracing::info!(key_id = %key_id, "API key revoked");
    Ok(())
}

/// Why a presented key opens nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyRefusal {
    /// No key, an unknown one, or a revoked one.
    Unknown,
    /// A live key of another connection.
    OtherConnection,
}

/// The live key that `presented` is, if it opens `connection_id`; records its use.
pub async fn authenticate(
    state: &AppState,
    presented: &str,
    connection_id: &str,
) -> Result<Result<ApiKeyRow, KeyRefusal>, Error> {
    if !presented.starts_with(KEY_PREFIX) || presented.len() > 200 {
        return Ok(Err(KeyRefusal::Unknown));
    }
    let hash = token_hash(presented);
    let known = state.keys.get(&hash).or_else(|| {
        // The database is away: a key verified before it went still opens (a revocation made
        // meanwhile could not have been written either).
        state
            .outage
            .recent()
            .then(|| state.keys.get_stale(&hash))
            .flatten()
    });
    let row = match known {
        Some(row) => row,
        None => {
            let read_in = state.keys.generation();
            let found = match store::api_key_by_hash(&state.pool, &hash).await {
                Ok(found) => found,
                Err(e) => {
                    state.outage.note_failure();
                    match state.keys.get_stale(&hash) {
                        Some(row) => Some(row),
                        None => return Err(internal(e)),
                    }
                }
            };
            let Some(row) = found else {
                // Deleted (with its connection): nothing of it stays in memory.
                state.keys.forget(|kept, _| *kept == hash);
                return Ok(Err(KeyRefusal::Unknown));
            };
            let now = state.now();
            if row.revoked_at.is_none() && row.last_used_at.is_none_or(|t| t <= now - TOUCH_EVERY) {
                // Off the request path: a late or failed write of `last used` costs nothing.
                let (pool, id) = (state.pool.clone(), row.id.clone());
                tokio::spawn(async move {
                    if let Err(e) = store::touch_api_key(&pool, &id, now).await {
                        tracing::warn!(key_id = %id, error = %e, "could not record an API key's use");
                    }
                });
            }
            state.keys.put(hash, row.clone(), read_in);
            row
        }
    };
    if row.revoked_at.is_some() {
        return Ok(Err(KeyRefusal::Unknown));
    }
    if row.connection_id != connection_id {
        return Ok(Err(KeyRefusal::OtherConnection));
    }
    Ok(Ok(row))
}

/// Every hand-off key starts with this: a key that may create and read hand-off links and
/// nothing else (no connection's token).
pub const HANDOFF_KEY_PREFIX: &str = "cch_";

/// Makes a hand-off key; the key itself is returned once and never stored.
pub async fn create_handoff_key(state: &AppState, label: &str) -> Result<NewKey, Error> {
    let name = parse_label(label)?;
    let (key, prefix) = mint(HANDOFF_KEY_PREFIX);
    let row = store::HandoffKeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        prefix,
        created_at: state.now(),
        last_used_at: None,
        revoked_at: None,
    };
    store::insert_handoff_key(&state.pool, &row, &token_hash(&key))
        .await
        .map_err(internal)?;
    tracing::info!(key_id = %row.id, "hand-off API key created");
    Ok(NewKey {
        key,
        view: row.into(),
    })
}

/// A hand-off key as lists show it: its row has the very fields of the view.
impl From<store::HandoffKeyRow> for ApiKeyView {
    fn from(row: store::HandoffKeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}
