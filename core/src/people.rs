//! People on the server: invitations (their token derived from the console key, only its hash
//! stored), roles and deactivation, with the last active admin kept.

use crate::Error;
use crate::auth::{
    Account, hash_password, passwords_allowed, stored_link_token, token_hash,
    validate_new_password, validate_username,
};
use crate::state::{AppState, internal};
use crate::store::{self, Acceptance, AccountChange, InvitationRow, NewAccount};
use console_model::Role;
use console_model::people::{
    INVITATION_HOURS, InvitationState, InvitationView, PeopleView, PersonView,
};

/// What invitation tokens are derived for (see [`crate::crypto::Cipher::link_token`]).
const PURPOSE: &str = "invitation";
/// How far back the page lists invitations.
const LISTED_DAYS: i64 = 30;

fn url_of(state: &AppState, token: &str) -> String {
    format!("{}/invite?token={token}", state.public_url)
}

fn view_of(state: &AppState, row: InvitationRow, now: i64) -> InvitationView {
    let invitation_state = match (row.used_by, row.revoked_at) {
        (Some(by), _) => InvitationState::Used(by),
        (None, Some(_)) => InvitationState::Revoked,
        (None, None) if row.expires_at <= now => InvitationState::Expired,
        (None, None) => InvitationState::Waiting,
    };
    let url = (invitation_state == InvitationState::Waiting)
        .then(|| stored_link_token(state, PURPOSE, &row.id, &row.token_hash))
        .flatten()
        .map(|token| url_of(state, &token));
    InvitationView {
        role: Role::parse(&row.role).unwrap_or(Role::Viewer),
        id: row.id,
        created_by: row.created_by,
        created_at: row.created_at,
        expires_at: row.expires_at,
        state: invitation_state,
        url,
    }
}

pub async fn people(state: &AppState, me: &Account) -> Result<PeopleView, Error> {
    let now = state.now();
    let people = store::admins(&state.pool)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|a| PersonView {
            me: a.id == me.id,
            role: Role::parse(&a.role).unwrap_or(Role::Viewer),
            active: a.deactivated_at.is_none(),
            sso: a.sso_subject.is_some(),
            id: a.id,
            username: a.username,
            created_at: a.created_at,
            last_seen_at: a.last_seen_at,
        })
        .collect();
    let invitations =
        store::recent_invitations(&state.pool, now - LISTED_DAYS * console_model::DAY)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|row| view_of(state, row, now))
            .collect();
    Ok(PeopleView {
        people,
        invitations,
        invitations_open: state.local_login,
    })
}

/// Makes an invitation for `role`; its id and link.
pub async fn invite(state: &AppState, role: Role, by: &str) -> Result<(String, String), Error> {
    passwords_allowed(state)?;
    let now = state.now();
    let id = uuid::Uuid::new_v4().to_string();
    let token = state.cipher.link_token(PURPOSE, &id);
    let url = url_of(state, &token);
    let row = InvitationRow {
        id: id.clone(),
        role: role.key().to_owned(),
        created_by: by.to_owned(),
        created_at: now,
        expires_at: now + INVITATION_HOURS * 3600,
        used_at: None,
        used_by: None,
        revoked_at: None,
        token_hash: token_hash(&token),
    };
    store::insert_invitation(&state.pool, &row)
        .await
        .map_err(internal)?;
    Ok((id, url))
}

/// Gives every waiting invitation a token of the current key (see
/// [`crate::auth::rederive_link_tokens`]); how many changed.
pub async fn rederive_tokens(state: &AppState) -> Result<u64, Error> {
    crate::auth::rederive_link_tokens(state, store::LinkTable::Invitations, PURPOSE).await
}

pub async fn revoke_invitation(state: &AppState, id: &str) -> Result<(), Error> {
    if store::revoke_invitation(&state.pool, id, state.now())
        .await
        .map_err(internal)?
    {
        Ok(())
    } else {
        Err(Error::invalid(
            "account",
            "That invitation is no longer waiting (used, revoked or expired).",
        ))
    }
}

/// The role a waiting invitation offers.
pub async fn open_invitation(state: &AppState, token: &str) -> Result<Role, Error> {
    passwords_allowed(state)?;
    let row = store::invitation_by_token(&state.pool, &token_hash(token.trim()))
        .await
        .map_err(internal)?
        .ok_or(Error::InvitationClosed)?;
    match view_of(state, row, state.now()) {
        InvitationView {
            state: InvitationState::Waiting,
            role,
            ..
        } => Ok(role),
        _ => Err(Error::InvitationClosed),
    }
}

/// Makes the invitee's account, spending the invitation.
pub async fn accept(
    state: &AppState,
    token: &str,
    username: &str,
    password: &str,
    confirm: &str,
) -> Result<Account, Error> {
    open_invitation(state, token).await?;
    let username = validate_username(username)?;
    validate_new_password(password, confirm, &username)?;
    let password_hash = hash_password(password.to_owned()).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let account = NewAccount {
        id: &id,
        username: &username,
        password_hash: &password_hash,
        role: Role::Viewer,
        now: state.now(),
    };
    match store::accept_invitation(&state.pool, &token_hash(token.trim()), &account)
        .await
        .map_err(internal)?
    {
        Acceptance::Made(role) => {
            tracing::info!(%username, %role, "account made through an invitation");
            Ok(Account {
                id,
                role,
                method: console_model::SignInMethod::Password,
            })
        }
        Acceptance::Closed => Err(Error::InvitationClosed),
        Acceptance::UsernameTaken => Err(Error::invalid(
            "username",
            "This user name is taken; choose another.",
        )),
    }
}

/// The user name of the account `id`, or the refusal to change someone from the page.
async fn other_account(state: &AppState, me: &Account, id: &str) -> Result<String, Error> {
    if id == me.id {
        return Err(Error::invalid(
            "account",
            "You cannot change your own role or deactivate yourself; another admin can.",
        ));
    }
    store::admin_name(&state.pool, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| Error::invalid("account", "That account no longer exists."))
}

fn changed(change: AccountChange, name: String) -> Result<String, Error> {
    match change {
        AccountChange::Done => Ok(name),
        AccountChange::NoSuchAccount => {
            Err(Error::invalid("account", "That account no longer exists."))
        }
        AccountChange::LastAdmin => Err(Error::invalid(
            "account",
            "That is the last active admin; make another admin first.",
        )),
    }
}

/// Gives another account a role; its user name.
pub async fn set_role(
    state: &AppState,
    me: &Account,
    id: &str,
    role: Role,
) -> Result<String, Error> {
    let name = other_account(state, me, id).await?;
    let change = store::set_role(&state.pool, id, role, state.now())
        .await
        .map_err(internal)?;
    changed(change, name)
}

/// Deactivates (ending its sessions) or reactivates another account; its user name.
pub async fn set_active(
    state: &AppState,
    me: &Account,
    id: &str,
    active: bool,
) -> Result<String, Error> {
    let name = other_account(state, me, id).await?;
    let change = store::set_active(&state.pool, id, active, state.now())
        .await
        .map_err(internal)?;
    changed(change, name)
}

/// Ends every session of another account; its user name and how many ended.
pub async fn end_sessions_of(
    state: &AppState,
    me: &Account,
    id: &str,
) -> Result<(String, u64), Error> {
    let name = other_account(state, me, id).await?;
    let ended = store::end_other_sessions(&state.pool, id, None)
        .await
        .map_err(internal)?;
    Ok((name, ended))
}
