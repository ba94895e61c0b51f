//! API keys: each opens one connection's token endpoint. Only a hash of the key is stored.

use sqlx::FromRow;

use super::pool::Pool;

#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub connection_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, connection_id, name, prefix, created_at, last_used_at, revoked_at";

pub async fn insert_api_key(pool: &Pool, key: &ApiKeyRow, key_hash: &str) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO api_keys ({COLUMNS}, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(&key.id)
    .bind(&key.connection_id)
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

/// The key with this hash, revoked or not.
pub async fn api_key_by_hash(pool: &Pool, key_hash: &str) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1"
    ))
    .bind(key_hash)
    .fetch_optional(pool)
    .await
}

/// A connection's keys, newest first.
pub async fn api_keys(pool: &Pool, connection_id: &str) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE connection_id = $1 ORDER BY created_at DESC, id DESC"
    ))
    .bind(connection_id)
    .fetch_all(pool)
    .await
}

/// Revokes a key; false when no such key is live. `connection_id` narrows it when given.
pub async fn revoke_api_key(
    pool: &Pool,
    id: &str,
    connection_id: Option<&str>,
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = super::pool::begin(pool).await?;
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
         AND ($3 IS NULL OR connection_id = $3)",
    )
    .bind(id)
    .bind(now)
    .bind(connection_id)
    .execute(&mut *tx)
    .await?;
    let revoked = done.rows_affected() == 1;
    if revoked {
        count_revocation(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

/// Moves the revocation count on, in the transaction that revokes a key or deletes a
/// connection: every process that watches it ([`revocation_count`]) then forgets what it holds
/// in memory.
pub async fn count_revocation(tx: &mut super::pool::Transaction) -> sqlx::Result<()> {
    sqlx::query("UPDATE revocations SET epoch = epoch + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// How many revocations the database has seen.
pub async fn revocation_count(pool: &Pool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT epoch FROM revocations WHERE id = 1")
        .fetch_one(pool)
        .await
}

/// Records a use; written at most once a minute per key so a busy integration does not turn
/// every token request into a database write.
pub async fn touch_api_key(pool: &Pool, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
         AND (last_used_at IS NULL OR last_used_at <= $2 - 60)",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
}
