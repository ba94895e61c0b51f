//! `concur-console create-admin`: the terminal alternative to the setup link.

use std::io::BufRead;

use app::auth::ssr::{hash_password, validate_new_password, validate_username};
use app::ssr::state::AppState;
use app::ssr::store;

#[derive(Debug, clap::Args)]
pub struct CreateAdminArgs {
    /// The new admin's user name.
    #[arg(long)]
    pub username: String,
}

/// Creates an admin; the password comes from `CONCUR_ADMIN_PASSWORD` or the first line of stdin.
pub async fn run(state: &AppState, args: &CreateAdminArgs) -> Result<(), String> {
    let username = validate_username(&args.username).map_err(|e| e.to_string())?;
    let password = match std::env::var("CONCUR_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            eprintln!("Password for {username} (at least 12 characters), then Enter:");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    validate_new_password(&password, &password).map_err(|e| e.to_string())?;
    if store::admin_credentials(&state.pool, &username)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err(format!("an admin named {username} already exists"));
    }
    let hash = hash_password(password).await.map_err(|e| e.to_string())?;
    let id = uuid::Uuid::new_v4().to_string();
    store::insert_admin(&state.pool, &id, &username, &hash, state.now())
        .await
        .map_err(|e| e.to_string())?;
    store::clear_setup_tokens(&state.pool)
        .await
        .map_err(|e| e.to_string())?;
    println!("Admin {username} created.");
    Ok(())
}
