//! Keys not tied to one connection: fleet keys (each opens the token of every connection its
//! selector matches) and management keys. Only a hash of the key is stored.

use sqlx::FromRow;

use super::pool::Pool;

#[derive(Debug, Clone, FromRow)]
pub struct FleetKeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// `env=prod,region=emea`, as given (checked when the key was made); empty: every connection.
    pub selector: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// What the key may do: `tokens` (a fleet key), `manage` or `read` (a management key).
    pub access: String,
}

const COLUMNS: &str = "id, name, prefix, selector, created_at, last_used_at, revoked_at, access";

pub async fn insert_fleet_key(pool: &Pool, key: &FleetKeyRow, key_hash: &str) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO fleet_keys ({COLUMNS}, key_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&key.id)
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&key.selector)
    .bind(key.created_at)
    .bind(key.last_used_at)
    .bind(key.revoked_at)
    .bind(&key.access)
    .bind(key_hash)
    .execute(pool)
    .await
    .map(|_| ())
}

/// The fleet key with this hash, revoked or not.
pub async fn fleet_key_by_hash(pool: &Pool, key_hash: &str) -> sqlx::Result<Option<FleetKeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM fleet_keys WHERE key_hash = $1"
    ))
    .bind(key_hash)
    .fetch_optional(pool)
    .await
}

/// Every fleet key, newest first.
pub async fn fleet_keys(pool: &Pool) -> sqlx::Result<Vec<FleetKeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM fleet_keys ORDER BY created_at DESC, id DESC"
    ))
    .fetch_all(pool)
    .await
}

/// Revokes a fleet key; false when no such key is live.
pub async fn revoke_fleet_key(pool: &Pool, id: &str, now: i64) -> sqlx::Result<bool> {
    let mut tx = super::pool::begin(pool).await?;
    let done =
        sqlx::query("UPDATE fleet_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 1 {
        super::api_keys::count_revocation(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

pub async fn touch_fleet_key(pool: &Pool, id: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE fleet_keys SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
}
