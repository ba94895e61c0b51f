use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use console_core::state::AppState;
use rust_embed::Embed;
use server::cli::{Cli, Command};
use server::manage::Failed;
use server::serve::{Application, Settings};
use server::validate::{self, Exit, Secrets};

/// mimalloc instead of the C library's allocator: page rendering allocates many small strings
/// from several threads, and the C allocator was a tenth of the dashboard's time under load
/// and kept memory in per-thread arenas after it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The site (the wasm, its JavaScript, the stylesheet, `public/`), carried in the binary. It is
/// derived here rather than in the library so that the library and everything under it can be
/// built while the site is (`scripts/build.sh`): only this file waits for it.
#[derive(Embed)]
#[folder = "../target/site"]
#[allow_missing = true]
struct Site;

/// What `serve` and `demo` read from the environment, with the site this binary carries.
fn settings() -> Result<Settings, String> {
    Settings::from_env().map(|settings| Settings {
        carried: Some(Site::get),
        ..settings
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match Cli::parse().command {
        Command::Validate(args) => return run_validate(&args).await,
        Command::Serve => serve().await,
        Command::Demo => match settings() {
            Ok(settings) => server::demo::run(settings).await,
            Err(e) => Err(e),
        },
        Command::CreateAdmin(args) => match state().await {
            Ok(state) => server::admin::create(&state, &args).await,
            Err(e) => Err(e),
        },
        Command::ResetPassword(args) => match state().await {
            Ok(state) => server::admin::reset_password(&state, &args).await,
            Err(e) => Err(e),
        },
        Command::DeleteAdmin(args) => match state().await {
            Ok(state) => server::admin::delete(&state, &args).await,
            Err(e) => Err(e),
        },
        Command::Invite(args) => match state().await {
            Ok(state) => server::admin::invite(&state, &args).await,
            Err(e) => Err(e),
        },
        Command::SetRole(args) => match state().await {
            Ok(state) => server::admin::set_role(&state, &args).await,
            Err(e) => Err(e),
        },
        Command::Deactivate(args) => match state().await {
            Ok(state) => server::admin::set_active(&state, &args, false).await,
            Err(e) => Err(e),
        },
        Command::Reactivate(args) => match state().await {
            Ok(state) => server::admin::set_active(&state, &args, true).await,
            Err(e) => Err(e),
        },
        Command::RefreshAll { json } => return refresh_all(json).await,
        Command::ApiKey(command) => {
            return managed(async |state| {
                server::manage::api_key(&state, &command, &mut std::io::stdout()).await
            })
            .await;
        }
        Command::Handoff(command) => {
            return managed(async |state| {
                server::handoff::command(&state, &command, &mut std::io::stdout()).await
            })
            .await;
        }
        Command::Renewal(command) => {
            return managed(async |state| {
                server::renewal::command(&state, &command, &mut std::io::stdout()).await
            })
            .await;
        }
        Command::CheckReady { url, wait } => {
            let url = match url {
                Some(url) => url,
                None => match server::serve::local_url(std::env::var("LEPTOS_SITE_ADDR").ok()) {
                    Ok(url) => url,
                    Err(message) => {
                        eprintln!("{message}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            return check_ready(&url, std::time::Duration::from_secs(wait)).await;
        }
        Command::Export(args) => {
            return managed(async |state| {
                server::backup::export(&state, &args, &mut std::io::stdout()).await
            })
            .await;
        }
        Command::Import(args) => {
            return managed(async |state| {
                server::backup::import(&state, &args, &mut std::io::stdout()).await
            })
            .await;
        }
        Command::Backup(args) => {
            return managed(async |state| {
                server::backup::backup(&state, &args, &mut std::io::stdout()).await
            })
            .await;
        }
        Command::VerifyBackup(args) => return verify_backup(&args),
        Command::RotateKey(args) => {
            return managed(async |state| {
                server::rotate::rotate_key(&state, &args, &mut std::io::stdout()).await
            })
            .await;
        }
        Command::Audit(args) => {
            return managed(async |state| {
                server::manage::audit(&state, &args, &mut std::io::stdout()).await
            })
            .await;
        }
        Command::Connections(command) => {
            return managed(async |state| {
                let secrets = Secrets::from_env();
                server::manage::connections(&state, &command, &secrets, &mut std::io::stdout())
                    .await
            })
            .await;
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let settings = settings()?;
    let public_url = settings.config.public_url.clone();
    let app = Application::build(settings, Arc::new(concur::SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(warning) = server::serve::cleartext_warning(app.address, &public_url) {
        tracing::warn!("{warning}");
    }
    if let Some(warning) = app.metrics.warning() {
        tracing::warn!("{warning}");
    }
    if let Some(link) = console_core::auth::setup_link(&app.state)
        .await
        .map_err(|e| e.to_string())?
    {
        let file = app.state.data_dir.join("setup-link");
        server::files::write_private(&file, &link).map_err(|e| e.to_string())?;
        tracing::warn!(
            "no admin yet: open {link} within an hour to create one (also in {}; or run `concur-console create-admin`)",
            file.display()
        );
    }
    tracing::info!("Concur Console listening on http://{}", app.address);
    app.run().await.map_err(|e| e.to_string())
}

/// The state a terminal command works on: the same database and key as `serve`.
async fn state() -> Result<AppState, String> {
    let settings = Settings::from_env()?;
    AppState::build(&settings.config, Arc::new(concur::SystemClock))
        .await
        .map_err(|e| e.to_string())
}

/// Runs a terminal command on the state and turns its failure into a message and exit code.
async fn managed(command: impl AsyncFnOnce(AppState) -> Result<(), Failed>) -> ExitCode {
    let state = match state().await {
        Ok(state) => state,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(Exit::Usage as u8);
        }
    };
    match command(state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code as u8)
        }
    }
}

/// `verify-backup` reads the key only: it opens no database and writes nothing.
fn verify_backup(args: &server::backup::VerifyArgs) -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(Exit::Usage as u8);
        }
    };
    let data_dir = console_core::store::data_dir(&settings.config.database_url);
    let cipher = match console_core::crypto::Cipher::existing(
        settings.config.console_key.as_deref(),
        &data_dir,
    ) {
        Ok(cipher) => cipher,
        Err(e) => {
            eprintln!("error: the console key: {e}");
            return ExitCode::from(Exit::Usage as u8);
        }
    };
    match server::backup::verify(&cipher, args, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code as u8)
        }
    }
}

async fn refresh_all(as_json: bool) -> ExitCode {
    managed(async |state| {
        let lines = server::keepalive::refresh_all(&state).await?;
        server::keepalive::print(&lines, as_json, &mut std::io::stdout())
            .map_err(|e| Failed(Exit::Refused, e.to_string()))?;
        match server::keepalive::exit_code(&lines) {
            Exit::Valid => Ok(()),
            code => Err(Failed(code, summary(&lines))),
        }
    })
    .await
}

/// Asks a running console whether it is ready, again every quarter second for up to `wait`:
/// exit 0 on 200, 1 otherwise (with the last answer).
async fn check_ready(url: &str, wait: std::time::Duration) -> ExitCode {
    let target = format!("{}/readyz", url.trim_end_matches('/'));
    let http = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            eprintln!("not ready: {e}");
            return ExitCode::FAILURE;
        }
    };
    let until = std::time::Instant::now() + wait;
    loop {
        let refusal = match http.get(&target).send().await {
            Ok(r) if r.status().is_success() => return ExitCode::SUCCESS,
            Ok(r) => format!("{target} answered {}", r.status()),
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() >= until {
            eprintln!("not ready: {refusal}");
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

fn summary(lines: &[server::keepalive::SweepLine]) -> String {
    let failing = lines.iter().filter(|l| !l.ok && !l.transient).count();
    let waiting = lines.iter().filter(|l| l.transient).count();
    format!("{failing} connection(s) need a human, {waiting} wait for Concur")
}

async fn run_validate(args: &validate::ValidateArgs) -> ExitCode {
    let allowed = std::env::var("CONCUR_ALLOWED_HOSTS").unwrap_or_default();
    let policy = match concur::HostPolicy::parse(&allowed) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(Exit::Usage as u8);
        }
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match validate::run(args, &Secrets::from_env(), policy, &mut out, &mut err).await {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(Exit::Usage as u8)
        }
    }
}
