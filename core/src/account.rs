//! Your account on the server: change password, sessions.

use axum::http::HeaderMap;

use crate::Error;
use crate::auth::{current_token_hash, hash_password, validate_new_password, verify_password};
use crate::connections::metadata::is_email;
use crate::state::{AppState, internal};
use crate::store;
use console_model::{AccountView, SessionView};

pub async fn account(
    state: &AppState,
    admin_id: &str,
    headers: &HeaderMap,
) -> Result<AccountView, Error> {
    let current = current_token_hash(state, headers);
    let username = store::admin_name(&state.pool, admin_id)
        .await
        .map_err(internal)?
        .ok_or(Error::Unauthorized)?;
    let sessions = store::sessions_of(&state.pool, admin_id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|s| SessionView {
            current: current.as_deref() == Some(s.token_hash.as_str()),
            id: s.id,
            address: s.address.unwrap_or_else(|| "unknown".to_owned()),
            user_agent: s.user_agent.unwrap_or_default(),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            method: console_model::SignInMethod::parse(&s.method),
        })
        .collect();
    let sso = store::is_sso_account(&state.pool, admin_id)
        .await
        .map_err(internal)?;
    let (email, alerts_by_email) = store::alert_email_of(&state.pool, admin_id)
        .await
        .map_err(internal)?;
    Ok(AccountView {
        now: state.now(),
        username,
        sso,
        sessions,
        email,
        alerts_by_email,
        mail_ready: crate::alerts::effective(state).await?.email.is_some(),
    })
}

/// Sets the account's e-mail address (blank: none) and whether the alerts of the connections
/// it owns go there; wanting them needs an address. Returns what it was, for the audit log.
pub async fn set_alert_email(
    state: &AppState,
    admin_id: &str,
    email: &str,
    wants: bool,
) -> Result<String, Error> {
    let email = email.trim();
    let address = if email.is_empty() {
        None
    } else if is_email(email) {
        Some(email)
    } else {
        return Err(Error::invalid(
            "email",
            "Give an e-mail address such as jo@vendor.example (at most 254 characters).",
        ));
    };
    if wants && address.is_none() {
        return Err(Error::invalid(
            "email",
            "Give the address the alerts of your connections should go to.",
        ));
    }
    store::set_alert_email(&state.pool, admin_id, address, wants)
        .await
        .map_err(internal)?;
    Ok(match (address, wants) {
        (Some(a), true) => format!("alerts of owned connections mailed to {a}"),
        (Some(a), false) => format!("address {a}, no alert e-mails"),
        (None, _) => "no address, no alert e-mails".to_owned(),
    })
}

/// Changes the signed-in admin's password after checking the current one, and ends every
/// other session (a thief's included).
pub async fn change_password(
    state: &AppState,
    admin_id: &str,
    headers: &HeaderMap,
    current: String,
    password: &str,
    confirm: &str,
) -> Result<(), Error> {
    let username = store::admin_name(&state.pool, admin_id)
        .await
        .map_err(internal)?
        .ok_or(Error::Unauthorized)?;
    if store::is_sso_account(&state.pool, admin_id)
        .await
        .map_err(internal)?
    {
        return Err(Error::invalid(
            "current",
            "This account signs in through single sign-on; its password is kept by your identity provider.",
        ));
    }
    let hash = store::admin_password_hash(&state.pool, admin_id)
        .await
        .map_err(internal)?;
    state
        .limiter
        .attempt_current_password(admin_id, state.now())
        .map_err(Error::TooManyAttempts)?;
    let _slot = state.limiter.argon2_slot()?;
    if !verify_password(current, hash).await? {
        return Err(Error::invalid(
            "current",
            "The current password is not right.",
        ));
    }
    state.limiter.current_password_succeeded(admin_id);
    validate_new_password(password, confirm, &username)?;
    let hash = hash_password(password.to_owned()).await?;
    store::set_password(&state.pool, admin_id, &hash)
        .await
        .map_err(internal)?;
    let keep = current_token_hash(state, headers);
    let ended = store::end_other_sessions(&state.pool, admin_id, keep.as_deref())
        .await
        .map_err(internal)?;
    tracing::info!(admin = %admin_id, ended, "password changed; other sessions ended");
    Ok(())
}

pub async fn end_session(state: &AppState, admin_id: &str, id: &str) -> Result<(), Error> {
    if store::end_session(&state.pool, admin_id, id)
        .await
        .map_err(internal)?
    {
        Ok(())
    } else {
        Err(Error::invalid("session", "That session has already ended."))
    }
}

pub async fn end_other_sessions(
    state: &AppState,
    admin_id: &str,
    headers: &HeaderMap,
) -> Result<u64, Error> {
    let keep = current_token_hash(state, headers);
    store::end_other_sessions(&state.pool, admin_id, keep.as_deref())
        .await
        .map_err(internal)
}
