//! Alert marks and the delivery outbox.

use sqlx::{Any, Executor, FromRow};

use super::pool::Pool;

/// Records that an alert fired; false when it already had (here or in another replica).
pub async fn mark_alert<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    connection_id: &str,
    mark: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO alert_marks (connection_id, mark, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(connection_id)
    .bind(mark)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One delivery of one alert on one channel.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub event_id: String,
    pub connection_id: Option<String>,
    pub event: String,
    pub channel: String,
    pub payload: String,
    /// `pending`, `sent` or `failed` (gave up).
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

const COLUMNS: &str = "id, event_id, connection_id, event, channel, payload, state, attempts, next_attempt_at, last_error, created_at, sent_at";

pub async fn enqueue<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    row: &OutboxRow,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO alert_outbox ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&row.id)
    .bind(&row.event_id)
    .bind(&row.connection_id)
    .bind(&row.event)
    .bind(&row.channel)
    .bind(&row.payload)
    .bind(&row.state)
    .bind(row.attempts)
    .bind(row.next_attempt_at)
    .bind(&row.last_error)
    .bind(row.created_at)
    .bind(row.sent_at)
    .execute(executor)
    .await
    .map(|_| ())
}

/// Pending deliveries whose time has come, oldest first.
pub async fn due_deliveries(pool: &Pool, now: i64, limit: i64) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_outbox WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, created_at LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Takes a delivery for one attempt (another replica that read the same row then skips it):
/// its next attempt moves to `retry_at` in case this one dies midway.
pub async fn claim_delivery(pool: &Pool, row: &OutboxRow, retry_at: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE alert_outbox SET next_attempt_at = $3 WHERE id = $1 AND state = 'pending' AND next_attempt_at = $2",
    )
    .bind(&row.id)
    .bind(row.next_attempt_at)
    .bind(retry_at)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delivered(pool: &Pool, id: &str, attempts: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE alert_outbox SET state = 'sent', attempts = $2, sent_at = $3, last_error = NULL WHERE id = $1")
        .bind(id)
        .bind(attempts)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
}

/// A failed attempt: retried at `next_attempt_at`, or given up (`failed`) when that is None.
pub async fn delivery_failed(
    pool: &Pool,
    id: &str,
    attempts: i64,
    error: &str,
    next_attempt_at: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE alert_outbox SET attempts = $2, last_error = $3, state = $4, next_attempt_at = COALESCE($5, next_attempt_at) WHERE id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(error)
    .bind(if next_attempt_at.is_some() { "pending" } else { "failed" })
    .bind(next_attempt_at)
    .execute(pool)
    .await
    .map(|_| ())
}

/// The delivery history, newest first; one connection's when given.
pub async fn deliveries(
    pool: &Pool,
    connection_id: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_outbox WHERE ($1 IS NULL OR connection_id = $1) ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(connection_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A connection's deliveries of `event` queued since `since`, oldest first.
pub async fn deliveries_of_event(
    pool: &Pool,
    connection_id: &str,
    event: &str,
    since: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_outbox WHERE connection_id = $1 AND event = $2 AND created_at >= $3 ORDER BY created_at, id"
    ))
    .bind(connection_id)
    .bind(event)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Connections an alert may concern: a refresh token expiring within `horizon` seconds (or
/// expired), or Concur failing transiently since before `unreachable_before`.
/// (connection id, mark) of every alert recorded for the connections `first..=last` (by id).
pub async fn alert_marks_between(
    pool: &Pool,
    first: &str,
    last: &str,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT connection_id, mark FROM alert_marks WHERE connection_id >= $1 AND connection_id <= $2",
    )
    .bind(first)
    .bind(last)
    .fetch_all(pool)
    .await
}

pub async fn alert_candidates(
    pool: &Pool,
    now: i64,
    horizon: i64,
    unreachable_before: i64,
    after_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<super::connections::ConnectionRow>> {
    sqlx::query_as(&format!(
        "SELECT {} FROM connections WHERE ((refresh_token_expires_at IS NOT NULL AND refresh_token_expires_at <= $1) \
         OR (transient_failures > 0 AND COALESCE(last_ok_at, created_at) < $2)) AND id > $3 ORDER BY id LIMIT $4",
        super::connections::select_columns()
    ))
    .bind(now + horizon)
    .bind(unreachable_before)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// (check id, connection id, change) of the status changes recorded since `since`.
pub async fn status_changes_since(
    pool: &Pool,
    since: i64,
) -> sqlx::Result<Vec<(String, String, String)>> {
    sqlx::query_as(
        "SELECT id, connection_id, status_change FROM validations WHERE status_change IS NOT NULL AND at >= $1 ORDER BY at, id",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}
