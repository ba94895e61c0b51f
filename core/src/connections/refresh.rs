//! The one refresh path. "Validate now", the keep-alive sweep, `refresh-all` and the token API
//! all come through [`refresh`]: hold the connection, ask Concur, persist, release. Only the
//! caller's [`Need`] differs.
//!
//! Holding a connection takes the in-process lock first (so one process does not poll its own
//! lease), then a lease row in the database (so a second process or replica waits too). What
//! Concur returns — a rotated refresh token, its expiry, the geolocation, the access token — is
//! committed before anyone is handed the access token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use concur::{
    AccessToken, Authorization, AuthorizationUrl, ClientId, ClientSecret, Credentials, Diagnosis,
    Problem, RefreshToken,
};

use zeroize::Zeroizing;

pub use super::memory::{ConnectionLocks, HotToken, TokenCache};
use super::stored::{
    ACCESS, REFRESH, Write, apply, client_secret, mark_failing, record, save, stored,
    stored_profile,
};
use crate::Error;
use crate::state::{AppState, internal};
use crate::store::{self, ConnectionRow, ValidationRow};
use console_model::DAY;

/// A cached access token is handed out while more than this many seconds remain…
pub const ACCESS_TOKEN_MARGIN: i64 = 300;
/// …or, for a token that lives less than five times that, a fifth of its lifetime: a tenant
/// whose tokens live a minute gets them refreshed with 12 seconds left, not at every call.
const MARGIN_SHARE: i64 = 5;

/// How close to its expiry the cached access token of `row` is still handed out.
pub fn access_margin(row: &ConnectionRow) -> i64 {
    match (row.access_token_expires_at, row.last_ok_at) {
        (Some(expires), Some(issued)) if expires > issued => {
            ACCESS_TOKEN_MARGIN.min((expires - issued) / MARGIN_SHARE)
        }
        _ => ACCESS_TOKEN_MARGIN,
    }
}

/// The first wait after a transient failure; it doubles with each one in a row.
const BACKOFF_FIRST: i64 = 5 * 60;
/// The longest wait after transient failures.
const BACKOFF_CAP: i64 = 6 * 3600;
/// How long a waiter sleeps between looks at another holder's lease.
const LEASE_POLL: Duration = Duration::from_millis(50);

impl HotToken {
    fn issued(self) -> Issued {
        Issued {
            access_token: AccessToken::from_stored(String::clone(&self.token)),
            expires_at: self.expires_at,
            geolocation: self.geolocation,
            margin: self.margin,
        }
    }
}

/// A connection held for one refresh: the in-process lock and the database lease.
pub struct Held {
    id: String,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Held {
    /// Waits until this process and every other one sharing the database leave the connection
    /// alone. A dead holder's lease lapses after the lease time.
    pub async fn take(state: &AppState, id: &str) -> Result<Self, Error> {
        let guard = state.locks.acquire(id).await;
        Self::lease(state, id, guard).await
    }

    /// The database lease, for a connection already locked in this process.
    async fn lease(
        state: &AppState,
        id: &str,
        guard: tokio::sync::OwnedMutexGuard<()>,
    ) -> Result<Self, Error> {
        let deadline = Instant::now() + Duration::from_secs(state.lease_seconds.unsigned_abs() * 2);
        loop {
            let now = state.now();
            let expires = now + state.lease_seconds;
            if store::try_lease(&state.pool, id, &state.holder, now, expires)
                .await
                .map_err(internal)?
            {
                return Ok(Self {
                    id: id.to_owned(),
                    _guard: guard,
                });
            }
            if Instant::now() > deadline {
                return Err(internal(format!(
                    "the refresh lease of connection {id} stayed taken"
                )));
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    /// Gives the lease back; if this fails the lease lapses on its own.
    pub async fn release(self, state: &AppState) {
        if let Err(e) = store::release_lease(&state.pool, &self.id, &state.holder).await {
            tracing::warn!(connection = %self.id, error = %e, "could not release a refresh lease; it will lapse");
        }
    }
}

/// What the caller needs; checked again once the connection is held, because another holder
/// may have done the work while this one waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Ask Concur now ("Validate now").
    Always,
    /// Only if the keep-alive schedule says so.
    Due,
    /// Only if no cached access token has more than [`ACCESS_TOKEN_MARGIN`] left.
    AccessToken,
}

/// What happened to a held connection.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing to do: the need was already met. The row as stored.
    Fresh(ConnectionRow),
    /// Concur was asked; `problem` is why it did not work, if it did not.
    Refreshed {
        row: ConnectionRow,
        problem: Option<Diagnosis>,
    },
}

impl Outcome {
    pub fn row(&self) -> &ConnectionRow {
        match self {
            Outcome::Fresh(row) | Outcome::Refreshed { row, .. } => row,
        }
    }
}

/// The wait after the `failures`-th transient failure in a row, at least what Concur asked.
fn backoff(failures: i64, retry_after: Option<u64>) -> i64 {
    let doubled = BACKOFF_FIRST.saturating_mul(1 << (failures - 1).clamp(0, 16));
    let asked = retry_after.map_or(0, |s| i64::try_from(s).unwrap_or(BACKOFF_CAP));
    doubled.min(BACKOFF_CAP).max(asked)
}

fn is_due(row: &ConnectionRow, now: i64) -> bool {
    row.next_refresh_at.is_none_or(|at| at <= now)
}

/// The cached access token with its expiry, if it has at least `margin` seconds left.
pub fn cached_access_token(
    state: &AppState,
    row: &ConnectionRow,
    now: i64,
    margin: i64,
) -> Result<Option<(Zeroizing<String>, i64)>, Error> {
    match (&row.access_token_sealed, row.access_token_expires_at) {
        (Some(sealed), Some(expires)) if expires > now + margin => {
            let token = state
                .cipher
                .open(&row.id, ACCESS, sealed)
                .map_err(internal)?;
            Ok(Some((token, expires)))
        }
        _ => Ok(None),
    }
}

/// Refreshes a connection if `need` still calls for it, under the lease, and persists the result.
pub async fn refresh(
    state: &AppState,
    id: &str,
    need: Need,
    source: &str,
) -> Result<Outcome, Error> {
    let asked_at = state.now();
    let held = Held::take(state, id).await?;
    let result = refresh_held(state, id, need, source, asked_at).await;
    held.release(state).await;
    result
}

async fn refresh_held(
    state: &AppState,
    id: &str,
    need: Need,
    source: &str,
    asked_at: i64,
) -> Result<Outcome, Error> {
    let mut row = stored(state, id).await?;
    let now = state.now();
    let satisfied = match need {
        Need::Always => false,
        Need::Due => !is_due(&row, now),
        // A caller that waited while the holder's refresh failed for a transient reason gets
        // that answer (503) instead of asking Concur once more: one refresh for all of them.
        Need::AccessToken => {
            row.failing != 0
                || (row.transient_failures > 0
                    && row.last_checked_at.is_some_and(|at| at >= asked_at))
                || cached_access_token(state, &row, now, access_margin(&row))?.is_some()
        }
    };
    if satisfied {
        return Ok(Outcome::Fresh(row));
    }
    let was_failing = row.failing != 0;
    let started = Instant::now();
    let used = refresh_token(state, &row)?;
    let mut outcome = ask(state, &row, &used).await?;
    if matches!(&outcome, Err(d) if d.problem == Problem::RefreshTokenInvalid) {
        // Another holder (an older process, or one whose lease lapsed) may have rotated the
        // token meanwhile: retry once with what is stored now.
        let latest = stored(state, id).await?;
        let current = refresh_token(state, &latest)?;
        if current != used {
            row = latest;
            outcome = ask(state, &row, &current).await?;
        }
    }
    let now = state.now();
    row.last_checked_at = Some(now);
    row.updated_at = now;
    let mut check = match &outcome {
        Ok(checked) => {
            apply(state, &mut row, checked, now);
            record(id, now, started, checked.diagnosis().as_ref(), source)
        }
        Err(d) if d.is_transient() => {
            row.transient_failures += 1;
            let retry_after = match d.problem {
                Problem::RateLimited {
                    retry_after_seconds,
                } => retry_after_seconds,
                _ => None,
            };
            row.next_refresh_at = Some(now + backoff(row.transient_failures, retry_after));
            record(id, now, started, Some(d), source)
        }
        Err(d) => {
            mark_failing(&mut row, d);
            row.transient_failures = 0;
            row.next_refresh_at = Some(now + DAY);
            record(id, now, started, Some(d), source)
        }
    };
    note_status_change(&mut check, was_failing, &row);
    save(state, &row, Write::Update, &check, None).await?;
    if let Some(change) = &check.status_change {
        crate::audit::record(
            state,
            crate::audit::Event {
                actor: crate::audit::Actor::Named(source),
                address: None,
                kind: "status_changed",
                connection_id: Some(id),
                outcome: if row.failing != 0 {
                    "failing"
                } else {
                    "recovered"
                },
                detail: change,
            },
        )
        .await;
    }
    count_refresh(state, source, &outcome);
    let problem = match outcome {
        Ok(checked) => checked.diagnosis(),
        Err(d) => Some(d),
    };
    Ok(Outcome::Refreshed { row, problem })
}

/// Counts a Concur answer for `/metrics`: `ok`, `transient` or `failing`, by who asked.
pub(super) fn count_refresh(
    state: &AppState,
    source: &str,
    outcome: &Result<concur::Checked, Diagnosis>,
) {
    let result = match outcome {
        Ok(checked) if checked.diagnosis().is_none() => "ok",
        Err(d) if d.is_transient() => "transient",
        _ => "failing",
    };
    state.metrics.refreshes.add(&[source, result]);
}

/// Records on the check, once, that it moved the connection into or out of `failing`.
pub(super) fn note_status_change(
    check: &mut ValidationRow,
    was_failing: bool,
    row: &ConnectionRow,
) {
    let is_failing = row.failing != 0;
    if was_failing != is_failing {
        check.status_change = Some(if is_failing {
            "Now failing: needs a human.".to_owned()
        } else {
            "Recovered: working again.".to_owned()
        });
        tracing::info!(connection = %row.id, failing = is_failing, source = %check.source, "connection status changed");
    }
}

fn refresh_token(state: &AppState, row: &ConnectionRow) -> Result<RefreshToken, Error> {
    let plain = state
        .cipher
        .open(&row.id, REFRESH, &row.refresh_token_sealed)
        .map_err(internal)?;
    RefreshToken::parse(&plain).map_err(internal)
}

/// The refresh grant for a stored connection, at its geolocation, checked against its scopes.
async fn ask(
    state: &AppState,
    row: &ConnectionRow,
    token: &RefreshToken,
) -> Result<Result<concur::Checked, Diagnosis>, Error> {
    let base = row.geolocation.as_deref().unwrap_or(&row.authorization_url);
    let base = AuthorizationUrl::parse(base).map_err(internal)?;
    let credentials = Credentials {
        client_id: ClientId::parse(&row.client_id).map_err(internal)?,
        client_secret: ClientSecret::parse(&client_secret(state, row)?).map_err(internal)?,
    };
    let profile = stored_profile(row)?;
    let authorization = Authorization::RefreshToken(token.clone());
    Ok(state
        .concur
        .validate(&base, &credentials, &authorization, &profile)
        .await)
}

/// Why the token API cannot hand out an access token.
#[derive(Debug)]
pub enum TokenRefusal {
    /// The connection needs a human: the problem and the next step.
    NeedsHuman { problem: String, next_step: String },
    /// Concur cannot be reached and no cached token is still valid; try again after this.
    Unavailable { retry_after: i64 },
}

/// An access token for an integration.
#[derive(Debug)]
pub struct Issued {
    pub access_token: AccessToken,
    pub expires_at: i64,
    pub geolocation: String,
    /// How close to `expires_at` it may still be handed out again.
    margin: i64,
}

/// The token API's path: the cached access token while it has more than five minutes left,
/// otherwise one refresh (single flight: concurrent callers wait and reuse its result).
pub async fn access_token(
    state: &AppState,
    id: &str,
) -> Result<Result<Issued, TokenRefusal>, Error> {
    let now = state.now();
    if let Some(hot) = state.tokens.get(id)
        && hot.expires_at > now + hot.margin
    {
        return Ok(Ok(hot.issued()));
    }
    // The database is away: a token handed out before that and not expired is still good.
    let stale = || {
        state
            .tokens
            .get_stale(id)
            .filter(|hot| hot.expires_at > now)
    };
    if state.outage.recent() {
        // Nothing to wait for: the database failed a moment ago and has not been seen back.
        return match stale() {
            Some(hot) => Ok(Ok(hot.issued())),
            None => Err(Error::DatabaseUnavailable),
        };
    }
    let read_in = state.tokens.generation();
    let result = match read_access_token(state, id, now).await {
        Err(e @ Error::Internal) => {
            state.outage.note_failure();
            match stale() {
                Some(hot) => return Ok(Ok(hot.issued())),
                None => Err(e),
            }
        }
        read => read,
    };
    if matches!(result, Err(Error::NotFound)) {
        // Deleted (by another replica, say): nothing of it stays in memory.
        state.tokens.forget(|kept, _| kept == id);
    }
    if let Ok(Ok(issued)) = &result {
        state.tokens.put(
            id.to_owned(),
            HotToken {
                token: Arc::new(Zeroizing::new(issued.access_token.expose().to_owned())),
                expires_at: issued.expires_at,
                margin: issued.margin,
                geolocation: issued.geolocation.clone(),
            },
            read_in,
        );
    }
    result
}

/// [`access_token`] from the database: the stored token, or one refresh.
async fn read_access_token(
    state: &AppState,
    id: &str,
    now: i64,
) -> Result<Result<Issued, TokenRefusal>, Error> {
    let row = stored(state, id).await?;
    if row.failing != 0 {
        return Ok(Err(needs_human(&row)));
    }
    if let Some((token, expires)) = cached_access_token(state, &row, now, access_margin(&row))? {
        return Ok(Ok(issued(&row, token, expires)));
    }
    // In its own task: a caller that stops waiting (the token API answers within seconds)
    // never cuts a refresh off between Concur's answer and the database.
    let outcome = {
        let (state, id) = (state.clone(), id.to_owned());
        tokio::spawn(async move { refresh(&state, &id, Need::AccessToken, "token-api").await })
    }
    .await
    .map_err(internal)??;
    let row = outcome.row();
    let transient = row.transient_failures > 0;
    if row.failing != 0 {
        return Ok(Err(needs_human(row)));
    }
    // Fresh from Concur (here or by the holder this call waited for): handed out whatever its
    // lifetime, as long as it has not expired.
    match cached_access_token(state, row, state.now(), 0)? {
        Some((token, expires)) => Ok(Ok(issued(row, token, expires))),
        None if transient => Ok(Err(TokenRefusal::Unavailable {
            retry_after: row
                .next_refresh_at
                .map_or(60, |at| (at - now).clamp(1, BACKOFF_CAP)),
        })),
        None => Err(internal(format!(
            "connection {id} was refreshed but holds no unexpired access token"
        ))),
    }
}

fn issued(row: &ConnectionRow, token: Zeroizing<String>, expires_at: i64) -> Issued {
    Issued {
        access_token: AccessToken::from_stored(String::clone(&token)),
        expires_at,
        margin: access_margin(row),
        geolocation: row
            .geolocation
            .clone()
            .unwrap_or_else(|| row.authorization_url.clone()),
    }
}

fn needs_human(row: &ConnectionRow) -> TokenRefusal {
    TokenRefusal::NeedsHuman {
        problem: row
            .last_problem
            .clone()
            .unwrap_or_else(|| "The last check with Concur failed.".to_owned()),
        next_step: row.next_step.clone().unwrap_or_else(|| {
            "Open the connection in Concur Console and use \"Replace credentials\".".to_owned()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_five_minutes_or_a_fifth_of_a_short_lifetime() {
        let row = |issued: Option<i64>, expires: Option<i64>| ConnectionRow {
            last_ok_at: issued,
            access_token_expires_at: expires,
            ..ConnectionRow::default()
        };
        assert_eq!(access_margin(&row(Some(1000), Some(4600))), 300, "an hour");
        assert_eq!(access_margin(&row(Some(1000), Some(1060))), 12, "a minute");
        assert_eq!(
            access_margin(&row(Some(1000), Some(2500))),
            300,
            "25 minutes"
        );
        assert_eq!(access_margin(&row(None, Some(1060))), 300);
        assert_eq!(access_margin(&row(Some(1000), None)), 300);
    }

    #[test]
    fn backoff_doubles_from_five_minutes_up_to_six_hours() {
        assert_eq!(backoff(1, None), 300);
        assert_eq!(backoff(2, None), 600);
        assert_eq!(backoff(3, None), 1200);
        assert_eq!(backoff(8, None), 6 * 3600);
        assert_eq!(backoff(1000, None), 6 * 3600);
    }

    #[test]
    fn backoff_waits_at_least_what_concur_asked() {
        assert_eq!(backoff(1, Some(900)), 900);
        assert_eq!(backoff(3, Some(60)), 1200);
    }
}
