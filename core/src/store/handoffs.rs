//! Hand-off links and the API keys that may create them. Only hashes of tokens and keys are
//! stored.

use sqlx::{Any, Executor, FromRow};

use super::pool::Pool;

#[derive(Debug, Clone, Default, FromRow)]
pub struct HandoffRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub note: String,
    pub scope_profile: String,
    pub required_scopes: String,
    pub connection_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub opened_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub locked_at: Option<i64>,
    pub refusals: i64,
    /// The SHA-256 of the link's token (the token itself is never stored).
    pub token_hash: String,
    /// The hand-off key that made it, when one did: only that key reads it back.
    pub created_by_key: Option<String>,
    /// Who the connection it makes will belong to (tags one `key=value` per line).
    #[sqlx(flatten)]
    pub belonging: super::connections::Belonging,
    pub tags: String,
}

const COLUMNS: &str = "id, kind, name, note, scope_profile, required_scopes, connection_id, \
     created_by, created_at, expires_at, opened_at, completed_at, revoked_at, locked_at, refusals, \
     token_hash, created_by_key, external_id, tags, contact_name, contact_email, owner_id";

pub async fn insert_handoff<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    row: &HandoffRow,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO handoffs ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19, $20, $21, $22)"
    ))
    .bind(&row.id)
    .bind(&row.kind)
    .bind(&row.name)
    .bind(&row.note)
    .bind(&row.scope_profile)
    .bind(&row.required_scopes)
    .bind(&row.connection_id)
    .bind(&row.created_by)
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(row.opened_at)
    .bind(row.completed_at)
    .bind(row.revoked_at)
    .bind(row.locked_at)
    .bind(row.refusals)
    .bind(&row.token_hash)
    .bind(&row.created_by_key)
    .bind(&row.belonging.external_id)
    .bind(&row.tags)
    .bind(&row.belonging.contact_name)
    .bind(&row.belonging.contact_email)
    .bind(&row.belonging.owner_id)
    .execute(executor)
    .await
    .map(|_| ())
}

pub async fn handoff(pool: &Pool, id: &str) -> sqlx::Result<Option<HandoffRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM handoffs WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn handoff_by_token(pool: &Pool, token_hash: &str) -> sqlx::Result<Option<HandoffRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM handoffs WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// The newest links first, `limit` of them from `offset`.
pub async fn handoffs(pool: &Pool, offset: i64, limit: i64) -> sqlx::Result<Vec<HandoffRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM handoffs ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

/// How many links a customer could still use (not spent, revoked, locked or expired) at `$1`.
pub(super) const WAITING_HANDOFFS: &str = "SELECT COUNT(*) FROM handoffs WHERE completed_at IS NULL AND revoked_at IS NULL \
     AND locked_at IS NULL AND expires_at > $1 AND (kind = 'new' OR connection_id IS NOT NULL)";

/// The first opening of the customer's page.
pub async fn mark_handoff_opened(pool: &Pool, id: &str, now: i64) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE handoffs SET opened_at = $2 WHERE id = $1 AND opened_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Spends a usable link inside the transaction that stores its connection: false when another
/// submission spent it first (or it was revoked, locked or expired meanwhile).
pub async fn spend_handoff<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: &str,
    connection_id: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE handoffs SET completed_at = $3, connection_id = $2 WHERE id = $1 \
         AND completed_at IS NULL AND revoked_at IS NULL AND locked_at IS NULL AND expires_at > $3",
    )
    .bind(id)
    .bind(connection_id)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a refused attempt; locks the link at `lock_at` refusals. Returns the refusals so far
/// and whether this one locked it.
pub async fn refuse_handoff(
    pool: &Pool,
    id: &str,
    lock_at: i64,
    now: i64,
) -> sqlx::Result<(i64, bool)> {
    let mut tx = super::pool::begin(pool).await?;
    sqlx::query("UPDATE handoffs SET refusals = refusals + 1 WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let locked = sqlx::query(
        "UPDATE handoffs SET locked_at = $2 WHERE id = $1 AND locked_at IS NULL AND refusals >= $3",
    )
    .bind(id)
    .bind(now)
    .bind(lock_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let refusals: i64 = sqlx::query_scalar("SELECT refusals FROM handoffs WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((refusals, locked))
}

pub async fn revoke_handoff(pool: &Pool, id: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE handoffs SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
         AND completed_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Links that expired unused and whose admins were not told yet; each is claimed (marked told)
/// by the one call that returns it, so two replicas never both tell.
pub async fn claim_expired_handoffs(pool: &Pool, now: i64) -> sqlx::Result<Vec<HandoffRow>> {
    let candidates: Vec<HandoffRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM handoffs WHERE expires_at <= $1 AND expiry_told = 0 \
         AND completed_at IS NULL AND revoked_at IS NULL AND locked_at IS NULL LIMIT 100"
    ))
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut claimed = Vec::new();
    for row in candidates {
        let done =
            sqlx::query("UPDATE handoffs SET expiry_told = 1 WHERE id = $1 AND expiry_told = 0")
                .bind(&row.id)
                .execute(pool)
                .await?;
        if done.rows_affected() == 1 {
            claimed.push(row);
        }
    }
    Ok(claimed)
}

#[derive(Debug, Clone, FromRow)]
pub struct HandoffKeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const KEY_COLUMNS: &str = "id, name, prefix, created_at, last_used_at, revoked_at";

pub async fn insert_handoff_key(
    pool: &Pool,
    key: &HandoffKeyRow,
    key_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO handoff_keys ({KEY_COLUMNS}, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&key.id)
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(key.created_at)
    .bind(key.last_used_at)
    .bind(key.revoked_at)
    .bind(key_hash)
    .execute(pool)
    .await
    .map(|_| ())
}

/// The live hand-off key with this hash, recording its use (at most once a minute).
pub async fn use_handoff_key(
    pool: &Pool,
    key_hash: &str,
    now: i64,
) -> sqlx::Result<Option<HandoffKeyRow>> {
    let key: Option<HandoffKeyRow> = sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM handoff_keys WHERE key_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(key_hash)
    .fetch_optional(pool)
    .await?;
    if let Some(key) = &key {
        sqlx::query(
            "UPDATE handoff_keys SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at <= $2 - 60)",
        )
        .bind(&key.id)
        .bind(now)
        .execute(pool)
        .await?;
    }
    Ok(key)
}

/// Every hand-off key, newest first.
pub async fn handoff_keys(pool: &Pool) -> sqlx::Result<Vec<HandoffKeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM handoff_keys ORDER BY created_at DESC, id DESC"
    ))
    .fetch_all(pool)
    .await
}

pub async fn revoke_handoff_key(pool: &Pool, id: &str, now: i64) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE handoff_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// The tables of links whose token is derived from the console key.
#[derive(Debug, Clone, Copy)]
pub enum LinkTable {
    Handoffs,
    Invitations,
}

impl LinkTable {
    fn name(self) -> &'static str {
        match self {
            LinkTable::Handoffs => "handoffs",
            LinkTable::Invitations => "invitations",
        }
    }

    /// What makes a row a link someone could still open.
    fn open(self) -> &'static str {
        match self {
            LinkTable::Handoffs => {
                "completed_at IS NULL AND revoked_at IS NULL AND locked_at IS NULL AND expires_at > $1"
            }
            LinkTable::Invitations => "used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
        }
    }
}

/// The (id, token hash) of every link of `table` someone could still open.
pub async fn open_link_tokens(
    pool: &Pool,
    table: LinkTable,
    now: i64,
) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(&format!(
        "SELECT id, token_hash FROM {} WHERE {}",
        table.name(),
        table.open()
    ))
    .bind(now)
    .fetch_all(pool)
    .await
}

/// Puts a link's new token hash in place of `old`, unless it changed meanwhile.
pub async fn replace_link_token(
    pool: &Pool,
    table: LinkTable,
    id: &str,
    old: &str,
    new: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(&format!(
        "UPDATE {} SET token_hash = $3 WHERE id = $1 AND token_hash = $2",
        table.name()
    ))
    .bind(id)
    .bind(old)
    .bind(new)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
