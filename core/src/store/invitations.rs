//! Invitations: one-time links (only their hash stored) that make an account with a role.

use sqlx::FromRow;

use super::accounts::{NewAccount, insert_account};
use super::pool::Pool;
use console_model::Role;

/// An invitation as the People page lists it (never its token).
#[derive(Debug, Clone, FromRow)]
pub struct InvitationRow {
    pub id: String,
    pub role: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub used_by: Option<String>,
    pub revoked_at: Option<i64>,
    /// The SHA-256 of the link's token (the token itself is never stored).
    pub token_hash: String,
}

const INVITATION_COLUMNS: &str =
    "id, role, created_by, created_at, expires_at, used_at, used_by, revoked_at, token_hash";

pub async fn insert_invitation(pool: &Pool, row: &InvitationRow) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO invitations ({INVITATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&row.id)
    .bind(&row.role)
    .bind(&row.created_by)
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(row.used_at)
    .bind(&row.used_by)
    .bind(row.revoked_at)
    .bind(&row.token_hash)
    .execute(pool)
    .await
    .map(|_| ())
}

/// The invitations made since `since`, newest first (at most 200).
pub async fn recent_invitations(pool: &Pool, since: i64) -> sqlx::Result<Vec<InvitationRow>> {
    sqlx::query_as(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE created_at >= $1 ORDER BY created_at DESC, id DESC LIMIT 200"
    ))
    .bind(since)
    .fetch_all(pool)
    .await
}

/// The invitation a token opens, whatever its state.
pub async fn invitation_by_token(
    pool: &Pool,
    token_hash: &str,
) -> sqlx::Result<Option<InvitationRow>> {
    sqlx::query_as(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(pool)
    .await
}

/// Revokes an invitation that is still waiting; false when there was none.
pub async fn revoke_invitation(pool: &Pool, id: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE invitations SET revoked_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What accepting an invitation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// The account was made with this role.
    Made(Role),
    /// Used, revoked, expired or unknown.
    Closed,
    UsernameTaken,
}

/// Spends the invitation and makes its account in one transaction: of two parallel uses of
/// one link, one makes an account.
pub async fn accept_invitation(
    pool: &Pool,
    token_hash: &str,
    account: &NewAccount<'_>,
) -> sqlx::Result<Acceptance> {
    let mut tx = super::pool::begin(pool).await?;
    let role: Option<String> = sqlx::query_scalar(
        "UPDATE invitations SET used_at = $2, used_by = $3 WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 RETURNING role",
    )
    .bind(token_hash)
    .bind(account.now)
    .bind(account.username)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(role) = role.as_deref().and_then(Role::parse) else {
        return Ok(Acceptance::Closed);
    };
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM admins WHERE username = $1")
        .bind(account.username)
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Ok(Acceptance::UsernameTaken);
    }
    insert_account(
        &mut *tx,
        &NewAccount {
            role,
            ..account.clone()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Acceptance::Made(role))
}
