//! Renewal requests: one row per episode in which a connection needs its customer. Each step
//! is a conditional write, so of two replicas (or a round cut off and run again) one takes it.

use sqlx::{Any, Executor, FromRow};

use super::connections::{ConnectionRow, select_columns};
use super::pool::Pool;

#[derive(Debug, Clone, Default, FromRow)]
pub struct RenewalRow {
    pub id: String,
    pub connection_id: String,
    pub reason: String,
    pub scopes: String,
    pub link_id: Option<String>,
    pub contact_email: String,
    /// `open`, `completed` or `cancelled`.
    pub state: String,
    pub reminders: i64,
    pub next_reminder_at: Option<i64>,
    pub escalated_at: Option<i64>,
    pub asked_at: i64,
    pub ended_at: Option<i64>,
    pub ended_by: Option<String>,
}

const COLUMNS: &str = "id, connection_id, reason, scopes, link_id, contact_email, state, reminders, \
     next_reminder_at, escalated_at, asked_at, ended_at, ended_by";

/// Opens an episode; false when the connection already has an open one (here or in another
/// replica), and then nothing is written.
pub async fn open_renewal<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    row: &RenewalRow,
) -> sqlx::Result<bool> {
    let done = sqlx::query(&format!(
        "INSERT INTO renewal_requests ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, 'open', 0, $7, NULL, $8, NULL, NULL) ON CONFLICT DO NOTHING"
    ))
    .bind(&row.id)
    .bind(&row.connection_id)
    .bind(&row.reason)
    .bind(&row.scopes)
    .bind(&row.link_id)
    .bind(&row.contact_email)
    .bind(row.next_reminder_at)
    .bind(row.asked_at)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The open episode of a connection, if any.
pub async fn open_renewal_of(pool: &Pool, connection_id: &str) -> sqlx::Result<Option<RenewalRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM renewal_requests WHERE connection_id = $1 AND state = 'open'"
    ))
    .bind(connection_id)
    .fetch_optional(pool)
    .await
}

/// A connection's episodes, newest first.
pub async fn renewals_of(
    pool: &Pool,
    connection_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<RenewalRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM renewal_requests WHERE connection_id = $1 ORDER BY asked_at DESC, id DESC LIMIT $2"
    ))
    .bind(connection_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The open episodes with a step to take, by connection id from `after_id`: a reminder due at
/// `now`, or a connection that works again (it may have healed, or have been asked by hand ahead
/// of time). One still failing with no reminder due waits: it cannot have healed, and most open
/// episodes are such, so a round does not read each of their connections every time.
pub async fn open_renewals(
    pool: &Pool,
    after_id: &str,
    now: i64,
    limit: i64,
) -> sqlx::Result<Vec<RenewalRow>> {
    let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("r.{c}")).collect();
    sqlx::query_as(&format!(
        "SELECT {} FROM renewal_requests r JOIN connections c ON c.id = r.connection_id \
         WHERE r.state = 'open' AND r.connection_id > $1 AND (r.next_reminder_at <= $3 OR c.failing = 0) \
         ORDER BY r.connection_id LIMIT $2",
        columns.join(", ")
    ))
    .bind(after_id)
    .bind(limit)
    .bind(now)
    .fetch_all(pool)
    .await
}

/// How many renewal episodes are open.
pub(super) const OPEN_RENEWALS: &str = "SELECT COUNT(*) FROM renewal_requests WHERE state = 'open'";

/// How many episodes are open (a gauge on `/metrics`).
pub async fn open_renewal_count(pool: &Pool) -> sqlx::Result<i64> {
    sqlx::query_scalar(OPEN_RENEWALS).fetch_one(pool).await
}

/// Connections that may need their customer and have a contact to ask but no open episode (nor
/// one an admin stopped since the connection last worked), and are asked on their own (as
/// `automatic` says when the connection does not): failing, or with a refresh token expiring
/// before `horizon`; by id from `after_id`.
pub async fn renewal_candidates(
    pool: &Pool,
    (horizon, automatic): (i64, bool),
    after_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<ConnectionRow>> {
    sqlx::query_as(&format!(
        "SELECT {} FROM connections WHERE (failing <> 0 OR refresh_token_expires_at < $1) \
         AND contact_email IS NOT NULL AND id > $2 AND {asked} \
         AND NOT EXISTS (SELECT 1 FROM renewal_requests r WHERE r.connection_id = connections.id \
         AND (r.state = 'open' OR (r.state = 'cancelled' AND r.ended_at >= COALESCE(connections.last_ok_at, 0)))) \
         ORDER BY id LIMIT $3",
        select_columns(),
        // Where the console asks on its own, every connection but those set never to; else
        // the few set always to, read off their index.
        asked = if automatic {
            "COALESCE(renewal_automatic, 1) <> 0"
        } else {
            "renewal_automatic = 1"
        }
    ))
    .bind(horizon)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Sets whether the console asks the customer of connection `id` on its own (`None`: as the
/// console-wide setting says); false when there is no such connection.
pub async fn set_renewal_automatic(
    pool: &Pool,
    id: &str,
    automatic: Option<bool>,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE connections SET renewal_automatic = $2 WHERE id = $1")
        .bind(id)
        .bind(automatic.map(i64::from))
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The diagnosis code of a connection's latest failed check, if its latest check failed.
pub async fn last_failure(pool: &Pool, connection_id: &str) -> sqlx::Result<Option<String>> {
    let latest: Option<(i64, Option<String>)> = sqlx::query_as(
        "SELECT ok, diagnosis FROM validations WHERE connection_id = $1 ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(connection_id)
    .fetch_optional(pool)
    .await?;
    Ok(latest.and_then(|(ok, code)| if ok == 0 { code } else { None }))
}

/// Takes the reminder numbered `row.reminders + 1` (false when another round took it): the
/// next one is due at `next_at` (none after the last), the link and address are the ones this
/// reminder carries, and `escalated_at` is set with the last.
pub async fn take_reminder<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    row: &RenewalRow,
    next_at: Option<i64>,
    link_id: Option<&str>,
    contact_email: &str,
    escalated_at: Option<i64>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE renewal_requests SET reminders = reminders + 1, next_reminder_at = $3, link_id = $4, \
         contact_email = $5, escalated_at = COALESCE(escalated_at, $6) \
         WHERE id = $1 AND state = 'open' AND reminders = $2",
    )
    .bind(&row.id)
    .bind(row.reminders)
    .bind(next_at)
    .bind(link_id)
    .bind(contact_email)
    .bind(escalated_at)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends an open episode as `state` (`completed` or `cancelled`); false when it had ended.
pub async fn end_renewal<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: &str,
    state: &str,
    by: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE renewal_requests SET state = $2, ended_at = $3, ended_by = $4, next_reminder_at = NULL \
         WHERE id = $1 AND state = 'open'",
    )
    .bind(id)
    .bind(state)
    .bind(now)
    .bind(by)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Points an open episode at the link and address its latest mail carried; false when it ended.
pub async fn point_renewal<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: &str,
    link_id: &str,
    contact_email: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE renewal_requests SET link_id = $2, contact_email = $3 WHERE id = $1 AND state = 'open'",
    )
    .bind(id)
    .bind(link_id)
    .bind(contact_email)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}
