//! A stored connection as the Validate path and the refresh path both read and write it: the
//! row, its sealed secrets, what Concur granted, the history row of a check, and the one
//! transaction that saves them.

use std::time::Instant;

use concur::{Checked, Diagnosis, ScopeProfile};
use zeroize::Zeroizing;

use super::metadata::Tags;
use crate::Error;
use crate::state::{AppState, internal};
use crate::store::{self, ConnectionRow, ValidationRow};
pub use crate::store::{ACCESS_TOKEN as ACCESS, CLIENT_SECRET as SECRET, REFRESH_TOKEN as REFRESH};

/// The next keep-alive time: the configured interval, shortened by up to a tenth at random so
/// that connections created together spread out instead of refreshing in one burst.
pub fn next_keepalive(state: &AppState, now: i64) -> i64 {
    let every = state.keepalive_every.max(1);
    now + every - fastrand::i64(0..=every / 10)
}

pub fn stored_profile(row: &ConnectionRow) -> Result<ScopeProfile, Error> {
    ScopeProfile::parse(&row.scope_profile, &row.required_scopes).map_err(internal)
}

/// Writes what Concur granted into the row: the refresh token to keep (rotated or not), the
/// access token, the data centre, expiries, scopes, the next keep-alive, and whether the
/// connection can serve the integration.
pub fn apply(state: &AppState, row: &mut ConnectionRow, checked: &Checked, now: i64) {
    let grant = &checked.grant;
    if let Some(token) = &grant.refresh_token {
        row.refresh_token_sealed = state.cipher.seal(&row.id, REFRESH, token.expose());
        row.refresh_token_mask = token.mask();
    }
    row.access_token_sealed = Some(
        state
            .cipher
            .seal(&row.id, ACCESS, grant.access_token.expose()),
    );
    row.next_refresh_at = Some(next_keepalive(state, now));
    row.transient_failures = 0;
    row.geolocation = Some(grant.geolocation.to_string());
    if let Some(company) = &grant.company_uuid {
        row.company_uuid = Some(company.to_string());
    }
    row.granted_scopes = grant.scopes.join(" ");
    row.refresh_token_expires_at = grant.refresh_expires_at;
    row.access_token_expires_at = grant.access_expires_at;
    row.last_checked_at = Some(now);
    row.updated_at = now;
    match checked.diagnosis() {
        None => {
            row.failing = 0;
            row.last_problem = None;
            row.next_step = None;
            row.last_ok_at = Some(now);
        }
        Some(d) => mark_failing(row, &d),
    }
}

/// A problem that needs a human: the stored token stays, the reason and next step are kept.
pub fn mark_failing(row: &mut ConnectionRow, d: &Diagnosis) {
    row.failing = 1;
    row.last_problem = Some(d.message());
    row.next_step = Some(d.next_step());
}

/// A check's history row; `source` says who asked (`validate`, `keep-alive`, `token-api`).
pub fn record(
    id: &str,
    now: i64,
    started: Instant,
    problem: Option<&Diagnosis>,
    source: &str,
) -> ValidationRow {
    ValidationRow {
        // Time-ordered, so the history keeps its order even within one second.
        id: uuid::Uuid::now_v7().to_string(),
        connection_id: id.to_owned(),
        at: now,
        ok: i64::from(problem.is_none()),
        diagnosis: problem.map(|d| d.code().to_owned()),
        message: problem.map_or_else(
            || "Concur accepted the credentials.".to_owned(),
            Diagnosis::message,
        ),
        concur_code: problem.and_then(|d| d.reply.code),
        correlation_id: problem.and_then(|d| d.reply.correlation_id.clone()),
        duration_ms: started.elapsed().as_millis() as i64,
        source: source.to_owned(),
        status_change: None,
    }
}

/// The hand-off link a customer entered credentials through (its id): the link is spent in
/// the transaction that stores them, so one link stores one connection.
#[derive(Debug, Clone, Copy)]
pub struct ThroughLink<'a>(pub &'a str);

/// The history's `source` for credentials a customer entered through a hand-off link.
pub const HANDOFF_SOURCE: &str = "hand-off link";

/// How [`save`] writes a connection: a new one, with its tags, or one already stored (whose
/// tags, name and owner change only through their own writes).
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    New { tags: &'a Tags },
    Update,
}

pub async fn save(
    state: &AppState,
    row: &ConnectionRow,
    write: Write<'_>,
    check: &ValidationRow,
    link: Option<ThroughLink<'_>>,
) -> Result<(), Error> {
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    store::upsert_connection(&mut *tx, row, matches!(write, Write::New { .. }))
        .await
        .map_err(internal)?;
    if let Write::New { tags } = write {
        let pairs: Vec<(&str, &str)> = tags.iter().collect();
        store::replace_tags(&mut tx, &row.id, &pairs)
            .await
            .map_err(internal)?;
    }
    store::insert_validation(&mut *tx, check)
        .await
        .map_err(internal)?;
    if let Some(link) = link
        && !store::spend_handoff(&mut *tx, link.0, &row.id, state.now())
            .await
            .map_err(internal)?
    {
        return Err(Error::LinkUsed);
    }
    tx.commit().await.map_err(internal)?;
    state.tokens.forget(|id, _| *id == row.id);
    state.overview.changed();
    Ok(())
}

pub async fn stored(state: &AppState, id: &str) -> Result<ConnectionRow, Error> {
    store::connection(&state.pool, id)
        .await
        .map_err(internal)?
        .ok_or(Error::NotFound)
}

/// The client secret of a stored connection, decrypted.
pub fn client_secret(state: &AppState, row: &ConnectionRow) -> Result<Zeroizing<String>, Error> {
    state
        .cipher
        .open(&row.id, SECRET, &row.client_secret_sealed)
        .map_err(internal)
}
