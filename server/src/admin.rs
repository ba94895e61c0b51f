//! Accounts from a terminal: `create-admin`, `reset-password`, `delete-admin`, `invite`,
//! `set-role`, `deactivate` and `reactivate`.

use std::io::{BufRead, IsTerminal};

use console_core::auth::{
    hash_password, passwords_allowed, validate_new_password, validate_username,
};
use console_core::state::AppState;
use console_core::store::{self, AccountChange, NewAccount};
use console_model::Role;

#[derive(Debug, clap::Args)]
pub struct UsernameArgs {
    /// The account's user name.
    #[arg(long)]
    pub username: String,
}

#[derive(Debug, clap::Args)]
pub struct InviteArgs {
    /// What the invitee may do: viewer, editor or admin.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
}

#[derive(Debug, clap::Args)]
pub struct SetRoleArgs {
    /// The account's user name.
    pub username: String,
    /// viewer, editor or admin.
    #[arg(value_parser = parse_role)]
    pub role: Role,
}

#[derive(Debug, clap::Args)]
pub struct AccountArgs {
    /// The account's user name.
    pub username: String,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("{raw:?} is not a role: use viewer, editor or admin"))
}

/// A new password from `CONCUR_ADMIN_PASSWORD`, else typed twice at the terminal without echo,
/// else the first line of standard input (for scripts).
fn new_password(username: &str) -> Result<String, String> {
    if let Ok(password) = std::env::var("CONCUR_ADMIN_PASSWORD") {
        validate_new_password(&password, &password, username).map_err(|e| e.to_string())?;
        return Ok(password);
    }
    let (password, confirm) = if std::io::stdin().is_terminal() {
        let ask = |prompt: &str| rpassword::prompt_password(prompt).map_err(|e| e.to_string());
        (
            ask(&format!(
                "Password for {username} (at least 12 characters): "
            ))?,
            ask("Repeat the password: ")?,
        )
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        (line.clone(), line)
    };
    validate_new_password(&password, &confirm, username).map_err(|e| e.to_string())?;
    Ok(password)
}

/// Creates an admin.
pub async fn create(state: &AppState, args: &UsernameArgs) -> Result<(), String> {
    passwords_allowed(state).map_err(|e| e.to_string())?;
    let username = validate_username(&args.username).map_err(|e| e.to_string())?;
    if store::account_id(&state.pool, &username)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err(format!("an account named {username} already exists"));
    }
    let password = new_password(&username)?;
    let hash = hash_password(password).await.map_err(|e| e.to_string())?;
    let id = uuid::Uuid::new_v4().to_string();
    let account = NewAccount {
        id: &id,
        username: &username,
        password_hash: &hash,
        role: Role::Admin,
        now: state.now(),
    };
    store::insert_admin(&state.pool, &account)
        .await
        .map_err(|e| e.to_string())?;
    store::clear_setup_tokens(&state.pool)
        .await
        .map_err(|e| e.to_string())?;
    crate::manage::terminal(state, "admin_created", None, &format!("created {username}")).await;
    println!("Admin {username} created.");
    Ok(())
}

async fn admin_id(state: &AppState, username: &str) -> Result<String, String> {
    store::account_id(&state.pool, username)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no account is named {username}"))
}

/// What a refused change to an account says.
fn changed(change: AccountChange, username: &str) -> Result<(), String> {
    match change {
        AccountChange::Done => Ok(()),
        AccountChange::NoSuchAccount => Err(format!("no account is named {username}")),
        AccountChange::LastAdmin => Err(format!(
            "{username} is the last active admin; make another admin first"
        )),
    }
}

/// Sets a new password and ends every session of that admin.
pub async fn reset_password(state: &AppState, args: &UsernameArgs) -> Result<(), String> {
    passwords_allowed(state).map_err(|e| e.to_string())?;
    let id = admin_id(state, args.username.trim()).await?;
    if store::is_sso_account(&state.pool, &id)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "{} signs in through single sign-on and has no password here",
            args.username.trim()
        ));
    }
    let password = new_password(args.username.trim())?;
    let hash = hash_password(password).await.map_err(|e| e.to_string())?;
    store::set_password(&state.pool, &id, &hash)
        .await
        .map_err(|e| e.to_string())?;
    let ended = store::end_other_sessions(&state.pool, &id, None)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "Password of {} reset; {ended} session(s) ended.",
        args.username.trim()
    );
    Ok(())
}

/// Deletes an account and its sessions; the last active admin stays.
pub async fn delete(state: &AppState, args: &UsernameArgs) -> Result<(), String> {
    let username = args.username.trim();
    let id = admin_id(state, username).await?;
    let change = store::delete_admin(&state.pool, &id, state.now())
        .await
        .map_err(|e| e.to_string())?;
    changed(change, username)?;
    crate::manage::terminal(state, "admin_deleted", None, &format!("deleted {username}")).await;
    println!("Account {username} deleted.");
    Ok(())
}

/// Prints a one-time invitation link for `role`.
pub async fn invite(state: &AppState, args: &InviteArgs) -> Result<(), String> {
    let (id, url) = console_core::people::invite(state, args.role, "terminal")
        .await
        .map_err(|e| e.to_string())?;
    let detail = format!("invitation {id} as {}", args.role);
    crate::manage::terminal(state, "invitation_created", None, &detail).await;
    println!("{url}");
    Ok(())
}

pub async fn set_role(state: &AppState, args: &SetRoleArgs) -> Result<(), String> {
    let username = args.username.trim();
    let id = admin_id(state, username).await?;
    let change = store::set_role(&state.pool, &id, args.role, state.now())
        .await
        .map_err(|e| e.to_string())?;
    changed(change, username)?;
    let detail = format!("{username} is now {}", args.role);
    crate::manage::terminal(state, "role_changed", None, &detail).await;
    println!("{detail}.");
    Ok(())
}

/// Deactivates (ending every session) or reactivates an account.
pub async fn set_active(state: &AppState, args: &AccountArgs, active: bool) -> Result<(), String> {
    let username = args.username.trim();
    let id = admin_id(state, username).await?;
    let change = store::set_active(&state.pool, &id, active, state.now())
        .await
        .map_err(|e| e.to_string())?;
    changed(change, username)?;
    let (kind, done) = if active {
        ("account_reactivated", "reactivated")
    } else {
        ("account_deactivated", "deactivated; its sessions ended")
    };
    crate::manage::terminal(state, kind, None, username).await;
    println!("{username} {done}.");
    Ok(())
}
