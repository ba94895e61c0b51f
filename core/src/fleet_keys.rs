//! Fleet keys: one API key for many connections. A fleet key opens the token of every
//! connection its selector (`env=prod,region=emea`; none: every connection) matches at the time
//! of the call, so a retagged connection leaves or joins at once; to any other it answers as
//! for a connection that does not exist. Made, listed and revoked like connection keys; only a
//! hash of the key is stored. Management keys are kept beside them: keys not tied to one
//! connection, whose `access` says what they may do. With hand-off keys, kept apart, they are
//! the keys not tied to one connection that the *API keys* page and `api-key list --fleet` show.

use console_model::ApiKeyView;

use crate::Error;
use crate::api_keys::{KeyRefusal, NewKey, TOUCH_EVERY, mint, parse_label};
use crate::auth::token_hash;
use crate::connections::metadata::{Selector, Tags};
use crate::keys::{Caller, KeyKind};
use crate::state::{AppState, internal};
use crate::store::{self, FleetKeyRow};

/// Every fleet key starts with this.
pub const FLEET_KEY_PREFIX: &str = "ccf_";
/// Every management key starts with this.
pub const MANAGE_KEY_PREFIX: &str = "ccm_";

/// The kind of key a stored `access` is, and back.
fn kind(access: &str) -> KeyKind {
    match access {
        "manage" => KeyKind::Manage,
        "read" => KeyKind::ManageReadOnly,
        _ => KeyKind::Fleet,
    }
}

fn access(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Manage => "manage",
        KeyKind::ManageReadOnly => "read",
        _ => "tokens",
    }
}

/// A key as lists show it: the key's view, its kind, and a fleet key's selector (empty: every
/// connection).
pub struct FleetKeyView {
    pub view: ApiKeyView,
    pub kind: KeyKind,
    pub selector: String,
}

impl FleetKeyView {
    /// What the key opens, in words: `fleet, selector env=prod`, `management, read-only`.
    pub fn reach(&self) -> String {
        match self.kind {
            KeyKind::Manage => "management".to_owned(),
            KeyKind::ManageReadOnly => "management, read-only".to_owned(),
            KeyKind::Handoff => "hand-off links".to_owned(),
            _ if self.selector.is_empty() => "fleet, every connection".to_owned(),
            _ => format!("fleet, selector {}", self.selector),
        }
    }
}

fn view(row: FleetKeyRow) -> FleetKeyView {
    FleetKeyView {
        kind: kind(&row.access),
        view: ApiKeyView {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        },
        selector: row.selector,
    }
}

/// Makes a fleet key for the connections `selector` matches. The key itself is returned once
/// and never stored.
pub async fn create(state: &AppState, label: &str, selector: &str) -> Result<NewKey, Error> {
    let selector = Selector::parse(selector)?;
    made(state, label, &selector, KeyKind::Fleet).await
}

/// Makes a key of the kind the *API keys* page names: `fleet` (for the connections `selector`
/// matches), `manage`, `read` (management, read-only) or `handoff`. Returns it with the audit
/// log's words.
pub async fn create_named(
    state: &AppState,
    label: &str,
    kind: &str,
    selector: &str,
) -> Result<(NewKey, String), Error> {
    let made = match kind {
        "fleet" => create(state, label, selector).await?,
        "manage" | "read" | "handoff" if !selector.trim().is_empty() => {
            return Err(Error::invalid(
                "selector",
                "Only a fleet key has a selector; leave it empty for this kind of key.",
            ));
        }
        "manage" | "read" => create_manage(state, label, kind == "read").await?,
        "handoff" => crate::api_keys::create_handoff_key(state, label).await?,
        // The page offers only these: another kind is a request not made by it.
        _ => return Err(Error::BadRequest),
    };
    let words = described(kind, &made, selector);
    Ok((made, words))
}

/// A new key as the audit log names it (never the key itself).
fn described(kind: &str, made: &NewKey, selector: &str) -> String {
    let (name, prefix) = (&made.view.name, &made.view.prefix);
    match kind {
        "fleet" => format!(
            "fleet key {name} ({prefix}) for {}",
            if selector.trim().is_empty() {
                "every connection"
            } else {
                selector.trim()
            }
        ),
        "read" => format!("read-only management key {name} ({prefix})"),
        "handoff" => format!("hand-off key {name} ({prefix})"),
        _ => format!("management key {name} ({prefix})"),
    }
}

/// Makes a management key (read-only or not), for every connection.
pub async fn create_manage(
    state: &AppState,
    label: &str,
    read_only: bool,
) -> Result<NewKey, Error> {
    let kind = if read_only {
        KeyKind::ManageReadOnly
    } else {
        KeyKind::Manage
    };
    made(state, label, &Selector::default(), kind).await
}

async fn made(
    state: &AppState,
    label: &str,
    selector: &Selector,
    kind: KeyKind,
) -> Result<NewKey, Error> {
    let name = parse_label(label)?;
    let (key, prefix) = mint(if kind == KeyKind::Fleet {
        FLEET_KEY_PREFIX
    } else {
        MANAGE_KEY_PREFIX
    });
    let row = FleetKeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        prefix,
        selector: selector.to_string(),
        created_at: state.now(),
        last_used_at: None,
        revoked_at: None,
        access: access(kind).to_owned(),
    };
    store::insert_fleet_key(&state.pool, &row, &token_hash(&key))
        .await
        .map_err(internal)?;
    tracing::info!(key_id = %row.id, access = %row.access, "key created");
    Ok(NewKey {
        key,
        view: view(row).view,
    })
}

/// The keys not tied to one connection: fleet, management and hand-off keys, newest first.
pub async fn list(state: &AppState) -> Result<Vec<FleetKeyView>, Error> {
    let rows = store::fleet_keys(&state.pool).await.map_err(internal)?;
    let handoff = store::handoff_keys(&state.pool)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|row| FleetKeyView {
            view: row.into(),
            kind: KeyKind::Handoff,
            selector: String::new(),
        });
    let mut keys: Vec<FleetKeyView> = rows.into_iter().map(view).chain(handoff).collect();
    keys.sort_by(|a, b| (b.view.created_at, &b.view.id).cmp(&(a.view.created_at, &a.view.id)));
    Ok(keys)
}

/// Revokes a fleet, management or hand-off key at once; false when no live one has that id.
pub async fn revoke(state: &AppState, key_id: &str) -> Result<bool, Error> {
    let now = state.now();
    let revoked = store::revoke_handoff_key(&state.pool, key_id, now)
        .await
        .map_err(internal)?
        || store::revoke_fleet_key(&state.pool, key_id, now)
            .await
            .map_err(internal)?;
    state.fleet_keys.forget(|_, (row, _)| row.id == key_id);
    if revoked {
        tracing::info!(key_id = %key_id, "key revoked");
    }
    Ok(revoked)
}

/// The live fleet key that `presented` is, if its selector matches `connection_id`'s tags;
/// records its use. Like a connection's key on the hot path: what was read for this key and
/// connection in the last second is reused (a revocation or a retag made by this process counts
/// at once, one made by another replica within the second), and while the database is away the
/// last reading still opens.
pub async fn authenticate(
    state: &AppState,
    presented: &str,
    connection_id: &str,
) -> Result<Result<FleetKeyRow, KeyRefusal>, Error> {
    if !presented.starts_with(FLEET_KEY_PREFIX) || presented.len() > 200 {
        return Ok(Err(KeyRefusal::Unknown));
    }
    let slot = (token_hash(presented), connection_id.to_owned());
    let known = state.fleet_keys.get(&slot).or_else(|| {
        state
            .outage
            .recent()
            .then(|| state.fleet_keys.get_stale(&slot))
            .flatten()
    });
    let (row, opens) = match known {
        Some(known) => known,
        None => {
            let read_in = state.fleet_keys.generation();
            let read = read(state, &slot.0, connection_id).await;
            let found = match read {
                Ok(found) => found,
                Err(e) => {
                    state.outage.note_failure();
                    match state.fleet_keys.get_stale(&slot) {
                        Some(known) => Some(known),
                        None => return Err(e),
                    }
                }
            };
            let Some(found) = found else {
                state.fleet_keys.forget(|(hash, _), _| *hash == slot.0);
                return Ok(Err(KeyRefusal::Unknown));
            };
            touch(state, &found.0);
            state.fleet_keys.put(slot, found.clone(), read_in);
            found
        }
    };
    Ok(if opens {
        Ok(row)
    } else {
        Err(KeyRefusal::OtherConnection)
    })
}

/// The live fleet key with this hash and whether its selector matches the connection's tags
/// now; `None` for an unknown or revoked one, or a key of another kind.
async fn read(
    state: &AppState,
    hash: &str,
    connection_id: &str,
) -> Result<Option<(FleetKeyRow, bool)>, Error> {
    let found = store::fleet_key_by_hash(&state.pool, hash)
        .await
        .map_err(internal)?;
    let Some(row) =
        found.filter(|row| row.revoked_at.is_none() && kind(&row.access) == KeyKind::Fleet)
    else {
        return Ok(None);
    };
    let selector = Selector::parse(&row.selector).map_err(internal)?;
    let opens = selector.pairs().is_empty() || {
        let tags = store::tags_of(&state.pool, connection_id)
            .await
            .map_err(internal)?;
        selector.matches(&Tags::stored(tags))
    };
    Ok(Some((row, opens)))
}

/// Records a key's use, at most every [`TOUCH_EVERY`] seconds, off the request path: a late or
/// failed write of `last used` costs nothing.
fn touch(state: &AppState, row: &FleetKeyRow) {
    let now = state.now();
    if row.last_used_at.is_none_or(|t| t <= now - TOUCH_EVERY) {
        let (pool, id) = (state.pool.clone(), row.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store::touch_fleet_key(&pool, &id, now).await {
                tracing::warn!(key_id = %id, error = %e, "could not record a key's use");
            }
        });
    }
}

/// The live fleet or management key with this hash, as a caller (its use recorded).
pub(crate) async fn caller(state: &AppState, hash: &str) -> Result<Option<Caller>, Error> {
    let found = store::fleet_key_by_hash(&state.pool, hash)
        .await
        .map_err(internal)?
        .filter(|row| row.revoked_at.is_none());
    Ok(found.map(|row| {
        touch(state, &row);
        Caller {
            kind: kind(&row.access),
            id: row.id,
            label: row.name,
        }
    }))
}
