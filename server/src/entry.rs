//! What the `concur-console` binary does: its commands, run on a runtime of their own.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use console_core::state::AppState;

use crate::cli::{Cli, Command};
use crate::manage::Failed;
use crate::serve::{Application, Settings};
use crate::site::Files;
use crate::validate::{self, Exit, Secrets};

/// What `serve` and `demo` read from the environment, with the site the binary carries.
fn settings(site: Files) -> Result<Settings, String> {
    Settings::from_env().map(|settings| Settings {
        carried: Some(site),
        ..settings
    })
}

/// The binary's whole work, with the site it carries: reads the command line, runs the command
/// and gives its exit code. Here rather than in the binary so that the commands' code is built
/// with the library, beside the site, and the binary, which waits for the site, builds in
/// seconds (`scripts/build.sh`).
pub fn main(site: Files) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let command = Cli::parse().command;
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(command, site)),
        Err(e) => {
            eprintln!("error: the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, site: Files) -> ExitCode {
    let outcome = match command {
        Command::Validate(args) => return run_validate(&args).await,
        Command::Serve => serve(site).await,
        Command::Demo => match settings(site) {
            Ok(settings) => crate::demo::run(settings).await,
            Err(e) => Err(e),
        },
        Command::CreateAdmin(args) => {
            on_state(async |state| crate::admin::create(&state, &args).await).await
        }
        Command::ResetPassword(args) => {
            on_state(async |state| crate::admin::reset_password(&state, &args).await).await
        }
        Command::DeleteAdmin(args) => {
            on_state(async |state| crate::admin::delete(&state, &args).await).await
        }
        Command::Invite(args) => {
            on_state(async |state| crate::admin::invite(&state, &args).await).await
        }
        Command::SetRole(args) => {
            on_state(async |state| crate::admin::set_role(&state, &args).await).await
        }
        Command::Deactivate(args) => {
            on_state(async |state| crate::admin::set_active(&state, &args, false).await).await
        }
        Command::Reactivate(args) => {
            on_state(async |state| crate::admin::set_active(&state, &args, true).await).await
        }
        Command::RefreshAll { json } => return refresh_all(json).await,
        Command::ApiKey(command) => {
            return managed(async |state, out| crate::manage::api_key(state, &command, out).await)
                .await;
        }
        Command::Handoff(command) => {
            return managed(async |state, out| crate::handoff::command(state, &command, out).await)
                .await;
        }
        Command::Renewal(command) => {
            return managed(async |state, out| crate::renewal::command(state, &command, out).await)
                .await;
        }
        Command::CheckReady { url, wait } => {
            let url = match url {
                Some(url) => url,
                None => match crate::serve::local_url(std::env::var("LEPTOS_SITE_ADDR").ok()) {
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
            return managed(async |state, out| crate::backup::export(state, &args, out).await)
                .await;
        }
        Command::Import(args) => {
            return managed(async |state, out| crate::backup::import(state, &args, out).await)
                .await;
        }
        Command::Backup(args) => {
            return managed(async |state, out| crate::backup::backup(state, &args, out).await)
                .await;
        }
        Command::VerifyBackup(args) => return verify_backup(&args),
        Command::RotateKey(args) => {
            return managed(async |state, out| crate::rotate::rotate_key(state, &args, out).await)
                .await;
        }
        Command::Audit(args) => {
            return managed(async |state, out| crate::manage::audit(state, &args, out).await).await;
        }
        Command::Connections(command) => {
            let secrets = Secrets::from_env();
            return managed(async |state, out| {
                crate::manage::connections(state, &command, &secrets, out).await
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

async fn serve(site: Files) -> Result<(), String> {
    let settings = settings(site)?;
    let public_url = settings.config.public_url.clone();
    let app = Application::build(settings, Arc::new(concur::SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(warning) = crate::serve::cleartext_warning(app.address, &public_url) {
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
        crate::files::write_private(&file, &link).map_err(|e| e.to_string())?;
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

/// Runs an account command on the state; not opening the state is its failure too.
async fn on_state(command: impl AsyncFnOnce(AppState) -> Result<(), String>) -> Result<(), String> {
    command(state().await?).await
}

/// Runs a terminal command on the state, writing to standard output, and turns its failure
/// into a message and exit code.
async fn managed(
    command: impl AsyncFnOnce(&AppState, &mut std::io::Stdout) -> Result<(), Failed>,
) -> ExitCode {
    match state().await {
        Ok(state) => exit(command(&state, &mut std::io::stdout()).await),
        Err(e) => refused(e),
    }
}

/// A terminal command's exit code, its failure's message written first.
fn exit(outcome: Result<(), Failed>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code as u8)
        }
    }
}

/// A command that could not start (its settings, its key, its state): the message, and the
/// exit code of a usage error.
fn refused(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(Exit::Usage as u8)
}

/// `verify-backup` reads the key only: it opens no database and writes nothing.
fn verify_backup(args: &crate::backup::VerifyArgs) -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => return refused(e),
    };
    let data_dir = console_core::store::data_dir(&settings.config.database_url);
    let cipher = match console_core::crypto::Cipher::existing(
        settings.config.console_key.as_deref(),
        &data_dir,
    ) {
        Ok(cipher) => cipher,
        Err(e) => return refused(format!("the console key: {e}")),
    };
    exit(crate::backup::verify(&cipher, args, &mut std::io::stdout()))
}

async fn refresh_all(as_json: bool) -> ExitCode {
    managed(async |state, out| {
        let lines = crate::keepalive::refresh_all(state).await?;
        crate::keepalive::print(&lines, as_json, out)
            .map_err(|e| Failed(Exit::Refused, e.to_string()))?;
        match crate::keepalive::exit_code(&lines) {
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

fn summary(lines: &[crate::keepalive::SweepLine]) -> String {
    let failing = lines.iter().filter(|l| !l.ok && !l.transient).count();
    let waiting = lines.iter().filter(|l| l.transient).count();
    format!("{failing} connection(s) need a human, {waiting} wait for Concur")
}

async fn run_validate(args: &validate::ValidateArgs) -> ExitCode {
    let allowed = std::env::var("CONCUR_ALLOWED_HOSTS").unwrap_or_default();
    let policy = match concur::HostPolicy::parse(&allowed) {
        Ok(policy) => policy,
        Err(e) => return refused(e),
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    match validate::run(args, &Secrets::from_env(), policy, &mut out, &mut err).await {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(e) => refused(e),
    }
}
