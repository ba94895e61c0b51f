//! The kinds of API key and what each may call: one table, read by every route of the JSON API.
//! A connection's key (`cck_`) and a fleet key (`ccf_`) open tokens; a hand-off key (`cch_`)
//! makes and reads its own hand-off links; a management key (`ccm_`) reads and changes
//! connections and hand-off links, or only reads them when it is read-only.

use crate::Error;
use crate::api_keys::{HANDOFF_KEY_PREFIX, KEY_PREFIX};
use crate::auth::token_hash;
use crate::fleet_keys::{self, FLEET_KEY_PREFIX, MANAGE_KEY_PREFIX};
use crate::state::{AppState, internal};
use crate::store;

/// The kinds of API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Connection,
    Fleet,
    Handoff,
    Manage,
    ManageReadOnly,
}

/// What a call of the JSON API does, as far as keys are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A connection's access token.
    Token,
    /// The management API's reads: the list of connections and one connection.
    ReadConnections,
    /// The management API's writes: a change to a connection, a renewal link for it.
    ChangeConnections,
    CreateHandoff,
    ReadHandoff,
}

impl KeyKind {
    pub const ALL: [Self; 5] = [
        Self::Connection,
        Self::Fleet,
        Self::Handoff,
        Self::Manage,
        Self::ManageReadOnly,
    ];

    /// The table: whether a key of this kind may make `call`. A hand-off key reads only the
    /// links it made (checked by the hand-off room).
    pub fn may(self, call: Call) -> bool {
        use Call::*;
        matches!(
            (self, call),
            (Self::Connection | Self::Fleet, Token)
                | (Self::Handoff, CreateHandoff | ReadHandoff)
                | (
                    Self::Manage,
                    ReadConnections | ChangeConnections | CreateHandoff | ReadHandoff
                )
                | (Self::ManageReadOnly, ReadConnections | ReadHandoff)
        )
    }

    /// What a refusal calls this key, and what it may do instead.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Self::Connection => ("a connection's API key", "read that connection's token"),
            Self::Fleet => (
                "a fleet key",
                "read the tokens of the connections its selector matches",
            ),
            Self::Handoff => ("a hand-off key", "create and read hand-off links"),
            Self::Manage => (
                "a management key",
                "read and change connections and hand-off links, not read tokens",
            ),
            Self::ManageReadOnly => (
                "a read-only management key",
                "read connections and hand-off links",
            ),
        }
    }

    /// Why this key may not make `call`, in words for the caller.
    pub fn refusal(self, call: Call) -> String {
        let (noun, may) = self.words();
        let asked = match call {
            Call::Token => "read access tokens",
            Call::ReadConnections => "read connections",
            Call::ChangeConnections => "change connections or make renewal links",
            Call::CreateHandoff => "create hand-off links",
            Call::ReadHandoff => "read hand-off links",
        };
        format!("This is {noun}: it may {may}, and may not {asked}.")
    }
}

/// A live key, as the routes other than the token's see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub kind: KeyKind,
    pub id: String,
    pub label: String,
}

impl Caller {
    /// How the audit log names the caller.
    pub fn actor(&self) -> String {
        format!("API key {}", self.label)
    }
}

/// The live key `presented` is, if any (its use is recorded).
pub async fn caller(state: &AppState, presented: &str) -> Result<Option<Caller>, Error> {
    if presented.len() > 200 {
        return Ok(None);
    }
    let hash = token_hash(presented);
    if presented.starts_with(HANDOFF_KEY_PREFIX) {
        let key = store::use_handoff_key(&state.pool, &hash, state.now())
            .await
            .map_err(internal)?;
        return Ok(key.map(|k| Caller {
            kind: KeyKind::Handoff,
            id: k.id,
            label: k.name,
        }));
    }
    if presented.starts_with(FLEET_KEY_PREFIX) || presented.starts_with(MANAGE_KEY_PREFIX) {
        return fleet_keys::caller(state, &hash).await;
    }
    if !presented.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    let key = store::api_key_by_hash(&state.pool, &hash)
        .await
        .map_err(internal)?
        .filter(|k| k.revoked_at.is_none());
    Ok(key.map(|k| Caller {
        kind: KeyKind::Connection,
        id: k.id,
        label: k.name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_that_open_a_connection_read_tokens_and_read_only_keys_change_nothing() {
        for kind in KeyKind::ALL {
            let token = matches!(kind, KeyKind::Connection | KeyKind::Fleet);
            assert_eq!(kind.may(Call::Token), token, "{kind:?}");
            if kind == KeyKind::ManageReadOnly {
                assert!(!kind.may(Call::ChangeConnections));
                assert!(!kind.may(Call::CreateHandoff));
            }
            let refusal = kind.refusal(Call::ChangeConnections);
            assert!(refusal.starts_with("This is a"), "{refusal}");
        }
    }
}
