//! `concur-console create-admin`, `reset-password` and `delete-admin`: admins from a terminal.

use std::io::{BufRead, IsTerminal};

use app::auth::ssr::{hash_password, validate_new_password, validate_username};
use app::ssr::state::AppState;
use app::ssr::store;

#[derive(Debug, clap::Args)]
pub struct UsernameArgs {
    /// The admin's user name.
    #[arg(long)]
    pub username: String,
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
    let username = validate_username(&args.username).map_err(|e| e.to_string())?;
    if store::admin_credentials(&state.pool, &username)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err(format!("an admin named {username} already exists"));
    }
    let password = new_password(&username)?;
    let hash = hash_password(password).await.map_err(|e| e.to_string())?;
    let id = uuid::Uuid::new_v4().to_string();
    store::insert_admin(&state.pool, &id, &username, &hash, state.now())
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
    store::admin_credentials(&state.pool, username)
        .await
        .map_err(|e| e.to_string())?
        .map(|(id, _)| id)
        .ok_or_else(|| format!("no admin is named {username}"))
}

/// Sets a new password and ends every session of that admin.
pub async fn reset_password(state: &AppState, args: &UsernameArgs) -> Result<(), String> {
    let id = admin_id(state, args.username.trim()).await?;
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

/// Deletes an admin and their sessions; the last admin stays.
pub async fn delete(state: &AppState, args: &UsernameArgs) -> Result<(), String> {
    let id = admin_id(state, args.username.trim()).await?;
    match store::delete_admin(&state.pool, &id)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(true) => {
            let detail = format!("deleted {}", args.username.trim());
            crate::manage::terminal(state, "admin_deleted", None, &detail).await;
            println!("Admin {} deleted.", args.username.trim());
            Ok(())
        }
        Some(false) => Err("that is the only admin; create another one first".to_owned()),
        None => Err(format!("no admin is named {}", args.username.trim())),
    }
}
