//! Admins, their sessions and the first-run setup link.

use sqlx::FromRow;

use super::Pool;

pub async fn admin_count(pool: &Pool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM admins")
        .fetch_one(pool)
        .await
}

pub async fn insert_admin(
    pool: &Pool,
    id: &str,
    username: &str,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO admins (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
}

/// (admin id, password hash) of a user name.
pub async fn admin_credentials(
    pool: &Pool,
    username: &str,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as("SELECT id, password_hash FROM admins WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await
}

/// A new session: where it signed in from is kept for "Your sessions".
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub id: &'a str,
    pub admin_id: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub address: &'a str,
    pub user_agent: &'a str,
}

pub async fn insert_session(pool: &Pool, s: &NewSession<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, id, admin_id, created_at, last_seen_at, expires_at, address, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(s.token_hash)
    .bind(s.id)
    .bind(s.admin_id)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(s.address)
    .bind(s.user_agent)
    .execute(pool)
    .await
    .map(|_| ())
}

/// A session as "Your sessions" lists it.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: Option<String>,
    pub token_hash: String,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// An admin's sessions, most recently used first.
pub async fn sessions_of(pool: &Pool, admin_id: &str) -> sqlx::Result<Vec<SessionRow>> {
    sqlx::query_as(
        "SELECT id, token_hash, address, user_agent, created_at, last_seen_at FROM sessions WHERE admin_id = $1 ORDER BY last_seen_at DESC, created_at DESC",
    )
    .bind(admin_id)
    .fetch_all(pool)
    .await
}

/// Ends one of an admin's sessions; false when it was not theirs or is gone.
pub async fn end_session(pool: &Pool, admin_id: &str, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM sessions WHERE admin_id = $1 AND id = $2")
        .bind(admin_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of an admin but `keep` (a token hash); all of them when `keep` is None.
pub async fn end_other_sessions(
    pool: &Pool,
    admin_id: &str,
    keep: Option<&str>,
) -> sqlx::Result<u64> {
    let done =
        sqlx::query("DELETE FROM sessions WHERE admin_id = $1 AND token_hash <> COALESCE($2, '')")
            .bind(admin_id)
            .bind(keep)
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone, FromRow)]
pub struct AdminRow {
    pub id: String,
    pub username: String,
    pub created_at: i64,
}

pub async fn admins(pool: &Pool) -> sqlx::Result<Vec<AdminRow>> {
    sqlx::query_as("SELECT id, username, created_at FROM admins ORDER BY username")
        .fetch_all(pool)
        .await
}

pub async fn admin_name(pool: &Pool, id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT username FROM admins WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn admin_password_hash(pool: &Pool, id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM admins WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn set_password(pool: &Pool, admin_id: &str, password_hash: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE admins SET password_hash = $2 WHERE id = $1")
        .bind(admin_id)
        .bind(password_hash)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes an admin and their sessions, unless they are the last one. None: no such admin.
pub async fn delete_admin(pool: &Pool, id: &str) -> sqlx::Result<Option<bool>> {
    let mut tx = super::begin(pool).await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins")
        .fetch_one(&mut *tx)
        .await?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM admins WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    if count <= 1 {
        return Ok(Some(false));
    }
    sqlx::query("DELETE FROM sessions WHERE admin_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM admins WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(true))
}

/// (admin id, last seen, absolute expiry) of a session.
pub async fn session(pool: &Pool, token_hash: &str) -> sqlx::Result<Option<(String, i64, i64)>> {
    sqlx::query_as("SELECT admin_id, last_seen_at, expires_at FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(pool)
        .await
}

pub async fn touch_session(pool: &Pool, token_hash: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1")
        .bind(token_hash)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())
}

/// Sweeps sessions past their absolute expiry or idle for longer than `idle` seconds.
pub async fn delete_expired_sessions(pool: &Pool, now: i64, idle: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(now - idle)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

pub async fn delete_session(pool: &Pool, token_hash: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|_| ())
}

pub async fn insert_setup_token(
    pool: &Pool,
    token_hash: &str,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, $2)")
        .bind(token_hash)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|_| ())
}

pub async fn setup_token_valid(pool: &Pool, token_hash: &str, now: i64) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT expires_at FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Creates the first admin with a setup token, in one transaction: the token is consumed (an
/// expired or already used one refuses) and no other admin may exist. False when refused.
pub async fn create_first_admin(
    pool: &Pool,
    token_hash: &str,
    id: &str,
    username: &str,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = super::begin(pool).await?;
    let consumed =
        sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins")
        .fetch_one(&mut *tx)
        .await?;
    if consumed.rows_affected() != 1 || admins > 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO admins (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM setup_tokens")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn clear_setup_tokens(pool: &Pool) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM setup_tokens")
        .execute(pool)
        .await
        .map(|_| ())
}
