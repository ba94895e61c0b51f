//! Accounts (the `admins` table: every account, whatever its role), their sessions and the
//! first-run setup link; changes of role and of who is active, with the last active admin kept.

use sqlx::FromRow;

use super::pool::Pool;
use console_model::{Role, SignInMethod};

/// How many accounts exist (any role, active or not): setup is open only at none.
pub async fn admin_count(pool: &Pool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM admins")
        .fetch_one(pool)
        .await
}

/// A new account with a password.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub now: i64,
}

pub(super) async fn insert_account<'e, E>(executor: E, a: &NewAccount<'_>) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO admins (id, username, password_hash, created_at, role) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(a.id)
    .bind(a.username)
    .bind(a.password_hash)
    .bind(a.now)
    .bind(a.role.key())
    .execute(executor)
    .await
    .map(|_| ())
}

pub async fn insert_admin(pool: &Pool, account: &NewAccount<'_>) -> sqlx::Result<()> {
    insert_account(pool, account).await
}

/// (account id, password hash) of a user name that may sign in with a password (active, and
/// not an SSO account).
pub async fn admin_credentials(
    pool: &Pool,
    username: &str,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as(
        "SELECT id, password_hash FROM admins WHERE username = $1 AND deactivated_at IS NULL AND sso_subject IS NULL",
    )
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
    pub method: SignInMethod,
}

pub async fn insert_session(pool: &Pool, s: &NewSession<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, id, admin_id, created_at, last_seen_at, expires_at, address, user_agent, method) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)",
    )
    .bind(s.token_hash)
    .bind(s.id)
    .bind(s.admin_id)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(s.address)
    .bind(s.user_agent)
    .bind(s.method.key())
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
    pub method: String,
}

/// An admin's sessions, most recently used first.
pub async fn sessions_of(pool: &Pool, admin_id: &str) -> sqlx::Result<Vec<SessionRow>> {
    sqlx::query_as(
        "SELECT id, token_hash, address, user_agent, created_at, last_seen_at, method FROM sessions WHERE admin_id = $1 ORDER BY last_seen_at DESC, created_at DESC",
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

/// An account as the People page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct AdminRow {
    pub id: String,
    pub username: String,
    pub created_at: i64,
    pub role: String,
    pub deactivated_at: Option<i64>,
    /// Set for accounts that sign in through the identity provider.
    pub sso_subject: Option<String>,
    /// When one of its sessions last did something, if one is open.
    pub last_seen_at: Option<i64>,
}

pub async fn admins(pool: &Pool) -> sqlx::Result<Vec<AdminRow>> {
    sqlx::query_as(
        "SELECT a.id, a.username, a.created_at, a.role, a.deactivated_at, a.sso_subject, \
         (SELECT MAX(s.last_seen_at) FROM sessions s WHERE s.admin_id = a.id) AS last_seen_at \
         FROM admins a ORDER BY a.deactivated_at IS NOT NULL, a.username",
    )
    .fetch_all(pool)
    .await
}

/// Every account's id and user name: what the lists that name owners need of the accounts.
pub async fn account_names(pool: &Pool) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT id, username FROM admins")
        .fetch_all(pool)
        .await
}

/// The id of an account by user name.
pub async fn account_id(pool: &Pool, username: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM admins WHERE username = $1")
        .bind(username)
        .fetch_optional(pool)
        .await
}

/// Why a change to an account's role or state was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    Done,
    NoSuchAccount,
    /// It would leave no active admin.
    LastAdmin,
}

/// A transaction that changes roles or who is active. SQLite's write lock serialises them
/// already; on PostgreSQL a table lock that conflicts with itself does, so two admins demoting
/// each other at once cannot leave none.
pub(super) async fn begin_account_change(pool: &Pool) -> sqlx::Result<super::pool::Transaction> {
    let mut tx = super::pool::begin(pool).await?;
    if !super::pool::is_sqlite(pool) {
        sqlx::query("LOCK TABLE admins IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// Active admins other than `id`, read in the transaction that changes `id`.
pub(super) async fn other_active_admins(
    tx: &mut super::pool::Transaction,
    id: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM admins WHERE role = 'admin' AND deactivated_at IS NULL AND id <> $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await
}

/// Revokes the waiting invitations `id` made, in the transaction that takes away its right to
/// invite (deactivated, deleted or no longer an admin), and records it in the audit log there.
async fn revoke_invitations_of(
    tx: &mut super::pool::Transaction,
    id: &str,
    why: &str,
    now: i64,
) -> sqlx::Result<()> {
    let Some(username): Option<String> =
        sqlx::query_scalar("SELECT username FROM admins WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
    else {
        return Ok(());
    };
    let revoked = sqlx::query(
        "UPDATE invitations SET revoked_at = $2 WHERE created_by = $1 AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(&username)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if revoked == 0 {
        return Ok(());
    }
    let plural = if revoked == 1 { "" } else { "s" };
    super::audit::insert_audit(
        &mut **tx,
        &super::audit::AuditRow::new(
            now,
            "console",
            "invitation_revoked",
            "ok",
            format!(
                "{revoked} waiting invitation{plural} made by {username} revoked: {username} {why}"
            ),
        ),
    )
    .await
}

/// (role, deactivated) of an account.
async fn account_state(
    tx: &mut super::pool::Transaction,
    id: &str,
) -> sqlx::Result<Option<(String, Option<i64>)>> {
    sqlx::query_as("SELECT role, deactivated_at FROM admins WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Gives an account a role, unless that leaves no active admin. An admin's waiting
/// invitations go with its admin role.
pub async fn set_role(pool: &Pool, id: &str, role: Role, now: i64) -> sqlx::Result<AccountChange> {
    let mut tx = begin_account_change(pool).await?;
    let Some((current, deactivated)) = account_state(&mut tx, id).await? else {
        return Ok(AccountChange::NoSuchAccount);
    };
    let demoting = current == Role::Admin.key() && role != Role::Admin && deactivated.is_none();
    if demoting && other_active_admins(&mut tx, id).await? == 0 {
        return Ok(AccountChange::LastAdmin);
    }
    if current == Role::Admin.key() && role != Role::Admin {
        revoke_invitations_of(&mut tx, id, &format!("is no longer an admin ({role})"), now).await?;
    }
    sqlx::query("UPDATE admins SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role.key())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(AccountChange::Done)
}

/// Deactivates an account (its sessions end in the same transaction) or reactivates it.
/// The last active admin cannot be deactivated.
pub async fn set_active(
    pool: &Pool,
    id: &str,
    active: bool,
    now: i64,
) -> sqlx::Result<AccountChange> {
    let mut tx = begin_account_change(pool).await?;
    let Some((role, _)) = account_state(&mut tx, id).await? else {
        return Ok(AccountChange::NoSuchAccount);
    };
    if !active && role == Role::Admin.key() && other_active_admins(&mut tx, id).await? == 0 {
        return Ok(AccountChange::LastAdmin);
    }
    sqlx::query("UPDATE admins SET deactivated_at = $2 WHERE id = $1")
        .bind(id)
        .bind((!active).then_some(now))
        .execute(&mut *tx)
        .await?;
    if !active {
        sqlx::query("DELETE FROM sessions WHERE admin_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        revoke_invitations_of(&mut tx, id, "was deactivated", now).await?;
    }
    tx.commit().await?;
    Ok(AccountChange::Done)
}

pub async fn admin_name(pool: &Pool, id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT username FROM admins WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// An account's e-mail address and whether it wants its connections' alerts there.
pub async fn alert_email_of(pool: &Pool, id: &str) -> sqlx::Result<(Option<String>, bool)> {
    let (email, wants): (Option<String>, i64) =
        sqlx::query_as("SELECT email, alerts_by_email FROM admins WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
            .unwrap_or((None, 0));
    Ok((email, wants != 0))
}

pub async fn set_alert_email(
    pool: &Pool,
    id: &str,
    email: Option<&str>,
    wants: bool,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE admins SET email = $2, alerts_by_email = $3 WHERE id = $1")
        .bind(id)
        .bind(email)
        .bind(i64::from(wants))
        .execute(pool)
        .await?;
    Ok(())
}

/// Where the alerts of the connections `id` owns are mailed: its address, when it asked for
/// them and is still active.
pub async fn owner_alert_address(pool: &Pool, id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT email FROM admins \
         WHERE id = $1 AND alerts_by_email = 1 AND deactivated_at IS NULL AND email IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The address of account `id` whatever it asked of routine alerts: what is said to a
/// connection's owner in person (a customer who never answered, a connection that healed).
pub async fn owner_address(pool: &Pool, id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT email FROM admins WHERE id = $1 AND deactivated_at IS NULL AND email IS NOT NULL",
    )
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

/// Deletes an account, its sessions and its waiting invitations (the audit log keeps its
/// name), unless it is the last active admin.
pub async fn delete_admin(pool: &Pool, id: &str, now: i64) -> sqlx::Result<AccountChange> {
    let mut tx = begin_account_change(pool).await?;
    let Some((role, deactivated)) = account_state(&mut tx, id).await? else {
        return Ok(AccountChange::NoSuchAccount);
    };
    let active_admin = role == Role::Admin.key() && deactivated.is_none();
    if active_admin && other_active_admins(&mut tx, id).await? == 0 {
        return Ok(AccountChange::LastAdmin);
    }
    sqlx::query("DELETE FROM sessions WHERE admin_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    revoke_invitations_of(&mut tx, id, "was deleted", now).await?;
    // Its connections keep going, owned by nobody until someone takes them.
    sqlx::query("UPDATE connections SET owner_id = NULL WHERE owner_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM admins WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(AccountChange::Done)
}

/// A live session's account, as every request reads it.
#[derive(Debug, Clone, FromRow)]
pub struct SessionAccount {
    pub admin_id: String,
    pub role: String,
    pub method: String,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// The session's account, if the session exists and its account is active.
pub async fn session(pool: &Pool, token_hash: &str) -> sqlx::Result<Option<SessionAccount>> {
    sqlx::query_as(
        "SELECT s.admin_id, a.role, s.method, s.last_seen_at, s.expires_at FROM sessions s \
         JOIN admins a ON a.id = s.admin_id \
         WHERE s.token_hash = $1 AND a.deactivated_at IS NULL",
    )
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
    let mut tx = super::pool::begin(pool).await?;
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
    insert_account(
        &mut *tx,
        &NewAccount {
            id,
            username,
            password_hash,
            role: Role::Admin,
            now,
        },
    )
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
