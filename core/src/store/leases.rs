//! Refresh leases: one Concur refresh per connection at a time across processes and replicas.

use super::pool::Pool;

/// Takes the lease on a connection for `holder` until `expires_at`, unless another holder's
/// lease is still running. One conditional write, the same on SQLite and PostgreSQL.
pub async fn try_lease(
    pool: &Pool,
    connection_id: &str,
    holder: &str,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO refresh_leases (connection_id, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (connection_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE refresh_leases.expires_at <= $4 OR refresh_leases.holder = excluded.holder",
    )
    .bind(connection_id)
    .bind(holder)
    .bind(expires_at)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives a lease back, if `holder` still has it.
pub async fn release_lease(pool: &Pool, connection_id: &str, holder: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM refresh_leases WHERE connection_id = $1 AND holder = $2")
        .bind(connection_id)
        .bind(holder)
        .execute(pool)
        .await
        .map(|_| ())
}
