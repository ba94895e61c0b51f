//! The audit log's rows.

use sqlx::{Any, Executor, FromRow};

use super::pool::Pool;

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    /// The role of a signed-in actor at the time; none for jobs and strangers.
    pub actor_role: Option<String>,
    /// How a signed-in actor's session signed in (password, sso).
    pub actor_method: Option<String>,
    pub address: Option<String>,
    pub kind: String,
    pub connection_id: Option<String>,
    pub outcome: String,
    pub detail: String,
}

impl AuditRow {
    /// A row with a fresh time-ordered id (so the log keeps its order within a second), by an
    /// actor that is not a signed-in account: no role, no sign-in method, no address or
    /// connection until the caller sets them.
    pub fn new(at: i64, actor: &str, kind: &str, outcome: &str, detail: String) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            actor: actor.to_owned(),
            actor_role: None,
            actor_method: None,
            address: None,
            kind: kind.to_owned(),
            connection_id: None,
            outcome: outcome.to_owned(),
            detail,
        }
    }
}

const COLUMNS: &str =
    "id, at, actor, address, kind, connection_id, outcome, detail, actor_role, actor_method";

pub async fn insert_audit<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    row: &AuditRow,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&row.id)
    .bind(row.at)
    .bind(&row.actor)
    .bind(&row.address)
    .bind(&row.kind)
    .bind(&row.connection_id)
    .bind(&row.outcome)
    .bind(&row.detail)
    .bind(&row.actor_role)
    .bind(&row.actor_method)
    .execute(executor)
    .await
    .map(|_| ())
}

/// What to show of the log.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub connection_id: Option<String>,
    pub kind: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A page of the log, newest first, and whether an older page exists.
pub async fn audit_page(
    pool: &Pool,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> sqlx::Result<(Vec<AuditRow>, bool)> {
    let mut rows: Vec<AuditRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE ($1 IS NULL OR connection_id = $1) AND ($2 IS NULL OR kind = $2) \
         AND at >= COALESCE($3, 0) AND at < COALESCE($4, 9223372036854775807) ORDER BY at DESC, id DESC LIMIT $5 OFFSET $6"
    ))
    .bind(&filter.connection_id)
    .bind(&filter.kind)
    .bind(filter.since)
    .bind(filter.until)
    .bind(limit + 1)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Deletes up to `limit` rows older than `before` (oldest first); returns how many.
pub async fn delete_audit_before(pool: &Pool, before: i64, limit: i64) -> sqlx::Result<u64> {
    sqlx::query(
        "DELETE FROM audit_events WHERE id IN \
         (SELECT id FROM audit_events WHERE at < $1 ORDER BY at, id LIMIT $2)",
    )
    .bind(before)
    .bind(limit)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
}
