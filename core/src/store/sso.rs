//! Single sign-on: accounts kept by their identity provider's subject, and the sign-ins under
//! way at the provider.

use super::accounts::{NewAccount, begin_account_change, insert_account, other_active_admins};
use super::pool::Pool;
use console_model::Role;

/// Whether an account signs in through the identity provider.
pub async fn is_sso_account(pool: &Pool, id: &str) -> sqlx::Result<bool> {
    let subject: Option<Option<String>> =
        sqlx::query_scalar("SELECT sso_subject FROM admins WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(subject.flatten().is_some())
}

/// A sign-in under way at the identity provider.
pub async fn insert_sso_login(
    pool: &Pool,
    state_hash: &str,
    nonce: &str,
    verifier_sealed: &str,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sso_logins (state_hash, nonce, verifier_sealed, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(state_hash)
    .bind(nonce)
    .bind(verifier_sealed)
    .bind(expires_at)
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM sso_logins WHERE expires_at <= $1")
        .bind(expires_at - 2 * crate::auth::oidc::LOGIN_SECONDS)
        .execute(pool)
        .await
        .map(|_| ())
}

/// Spends a sign-in under way: its (nonce, sealed verifier) if it exists and is current. Of
/// two requests with one state, one gets it.
pub async fn take_sso_login(
    pool: &Pool,
    state_hash: &str,
    now: i64,
) -> sqlx::Result<Option<(String, String)>> {
    sqlx::query_as(
        "DELETE FROM sso_logins WHERE state_hash = $1 AND expires_at > $2 RETURNING nonce, verifier_sealed",
    )
    .bind(state_hash)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// What signing in through the identity provider came to here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoAccount {
    /// The account's id (made now, or found by its subject and given `role`).
    SignedIn(String),
    /// The account's id: the groups would have demoted the last active admin, who stays one.
    KeptLastAdmin(String),
    Deactivated,
    /// A password account already has the user name.
    NameTaken,
}

/// Finds the account of `subject` and gives it `role` (the groups decide at every sign-in), or
/// makes it, without a password. The last active admin is never demoted this way.
pub async fn sso_account(
    pool: &Pool,
    subject: &str,
    username: &str,
    role: Role,
    now: i64,
) -> sqlx::Result<SsoAccount> {
    let mut tx = begin_account_change(pool).await?;
    let found: Option<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT id, role, deactivated_at FROM admins WHERE sso_subject = $1")
            .bind(subject)
            .fetch_optional(&mut *tx)
            .await?;
    let id = match found {
        Some((_, _, Some(_))) => return Ok(SsoAccount::Deactivated),
        Some((id, current, None))
            if current == Role::Admin.key()
                && role != Role::Admin
                && other_active_admins(&mut tx, &id).await? == 0 =>
        {
            return Ok(SsoAccount::KeptLastAdmin(id));
        }
        Some((id, _, None)) => {
            sqlx::query("UPDATE admins SET role = $2 WHERE id = $1")
                .bind(&id)
                .bind(role.key())
                .execute(&mut *tx)
                .await?;
            id
        }
        None => {
            let taken: Option<String> =
                sqlx::query_scalar("SELECT id FROM admins WHERE username = $1")
                    .bind(username)
                    .fetch_optional(&mut *tx)
                    .await?;
            if taken.is_some() {
                return Ok(SsoAccount::NameTaken);
            }
            let id = uuid::Uuid::new_v4().to_string();
            insert_account(
                &mut *tx,
                &NewAccount {
                    id: &id,
                    username,
                    password_hash: "",
                    role,
                    now,
                },
            )
            .await?;
            sqlx::query("UPDATE admins SET sso_subject = $2 WHERE id = $1")
                .bind(&id)
                .bind(subject)
                .execute(&mut *tx)
                .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(SsoAccount::SignedIn(id))
}
