//! Recording audit events. Recording never fails the action it records: a failure to write
//! is logged (without secrets) and the action stands.

use crate::Error;
use crate::auth::{Account, Refusal};
use crate::state::AppState;
use crate::store::{self, AuditRow};

/// Who did it: a signed-in account (recorded with its role), a process job, or someone not
/// signed in.
pub enum Actor<'a> {
    Account(&'a Account),
    Named(&'a str),
}

/// One event to record. `detail` is words for people, never a secret.
pub struct Event<'a> {
    pub actor: Actor<'a>,
    pub address: Option<&'a str>,
    pub kind: &'a str,
    pub connection_id: Option<&'a str>,
    pub outcome: &'a str,
    pub detail: &'a str,
}

pub async fn record(state: &AppState, event: Event<'_>) {
    let (actor, actor_role, actor_method) = match event.actor {
        Actor::Account(account) => {
            let name = account
                .name(state)
                .await
                .unwrap_or_else(|_| format!("account {}", account.id));
            (
                name,
                Some(account.role.key().to_owned()),
                Some(account.method.key().to_owned()),
            )
        }
        Actor::Named(name) => (name.to_owned(), None, None),
    };
    let row = AuditRow {
        actor_role,
        actor_method,
        address: event.address.map(str::to_owned),
        connection_id: event.connection_id.map(str::to_owned),
        ..AuditRow::new(
            state.now(),
            &actor,
            event.kind,
            event.outcome,
            event.detail.chars().take(500).collect(),
        )
    };
    if let Err(e) = store::insert_audit(&state.pool, &row).await {
        tracing::error!(error = %e, kind = %row.kind, "could not write the audit log");
    }
}

/// Writes the sign-in attempts refused while slowed down, one row per address and minute with
/// their count (see [`crate::auth::LoginLimiter::count_throttled`]).
pub async fn record_throttled(state: &AppState) {
    for minute in state.limiter.take_throttled() {
        let plural = if minute.count == 1 { "" } else { "s" };
        let (outcome, detail) = match minute.refusal {
            Refusal::SlowedDown => (
                "throttled",
                format!(
                    "{} sign-in attempt{plural} refused in this minute while sign-in was slowed down",
                    minute.count
                ),
            ),
            Refusal::SingleSignOn => (
                "refused",
                format!(
                    "{} single sign-on{plural} refused in this minute: the identity provider answered with an error",
                    minute.count
                ),
            ),
        };
        let row = AuditRow {
            address: Some(minute.address),
            ..AuditRow::new(minute.minute, "not signed in", "sign_in", outcome, detail)
        };
        if let Err(e) = store::insert_audit(&state.pool, &row).await {
            tracing::error!(error = %e, "could not write the audit log");
        }
    }
}

/// A day such as `2026-11-25` as the Unix time of its start (UTC), for the log's filters.
pub fn parse_day(raw: &str) -> Result<Option<i64>, Error> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &format)
        .map(|d| Some(d.midnight().assume_utc().unix_timestamp()))
        .map_err(|_| Error::invalid("date", "Dates look like 2026-11-25."))
}

/// Rows deleted in one statement while applying the retention, so one pass never holds the
/// database's writer for long.
const PRUNE_BATCH: i64 = 5_000;

/// Deletes the audit rows older than `retention` seconds; returns how many went.
pub async fn prune(state: &AppState, retention: i64) -> sqlx::Result<u64> {
    let before = state.now().saturating_sub(retention);
    let mut deleted = 0;
    loop {
        let batch = store::delete_audit_before(&state.pool, before, PRUNE_BATCH).await?;
        deleted += batch;
        if batch < PRUNE_BATCH as u64 {
            return Ok(deleted);
        }
    }
}
