use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use server::cli::{Cli, Command};
use server::serve::{Application, Settings};
use server::validate::{self, Exit, Secrets};

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
        Command::Demo => match Settings::from_env() {
            Ok(settings) => server::demo::run(settings).await,
            Err(e) => Err(e),
        },
        Command::CreateAdmin(args) => create_admin(&args).await,
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
    let settings = Settings::from_env()?;
    let app = Application::build(settings, Arc::new(concur::SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(link) = app::auth::ssr::setup_link(&app.state)
        .await
        .map_err(|e| e.to_string())?
    {
        tracing::warn!(
            "no admin yet: open {link} within an hour to create one (or run `concur-console create-admin`)"
        );
    }
    tracing::info!("Concur Console listening on http://{}", app.address);
    app.run().await.map_err(|e| e.to_string())
}

async fn create_admin(args: &server::admin::CreateAdminArgs) -> Result<(), String> {
    let settings = Settings::from_env()?;
    let state = app::ssr::state::AppState::build(&settings.config, Arc::new(concur::SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    server::admin::run(&state, args).await
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
