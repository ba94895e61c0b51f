use std::process::ExitCode;

use clap::Parser;
use server::cli::{Cli, Command};
use server::validate::{self, Exit, Secrets};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => {
            let allowed = std::env::var("CONCUR_ALLOWED_HOSTS").unwrap_or_default();
            let policy = match concur::HostPolicy::parse(&allowed) {
                Ok(policy) => policy,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(Exit::Usage as u8);
                }
            };
            let secrets = Secrets::from_env();
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            match validate::run(&args, &secrets, policy, &mut out, &mut err).await {
                Ok(exit) => ExitCode::from(exit as u8),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(Exit::Usage as u8)
                }
            }
        }
    }
}
