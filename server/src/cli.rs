//! The command line.

use clap::{Parser, Subcommand};

use crate::admin::{AccountArgs, InviteArgs, SetRoleArgs, UsernameArgs};
use crate::manage::{ApiKeyCommand, ConnectionsCommand};
use crate::validate::ValidateArgs;

/// Concur Console: validate, store and watch SAP Concur API credentials.
#[derive(Debug, Parser)]
#[command(name = "concur-console", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the console (configuration from DATABASE_URL, CONCUR_CONSOLE_KEY,
    /// CONCUR_ALLOWED_HOSTS, LEPTOS_SITE_ADDR, LEPTOS_SITE_ROOT).
    Serve,
    /// Check one set of credentials against Concur. Secrets come from the environment:
    /// CONCUR_CLIENT_SECRET, and CONCUR_REFRESH_TOKEN or CONCUR_COMPANY_UUID + CONCUR_REQUEST_TOKEN.
    Validate(ValidateArgs),
    /// Serve the console beside a built-in Concur simulator with demo data (throwaway).
    Demo,
    /// Create an admin from the terminal; the password is typed without echo (or read from
    /// CONCUR_ADMIN_PASSWORD, or the first line of a piped stdin).
    CreateAdmin(UsernameArgs),
    /// Set a new password for an account and end all of its sessions (the way back in when
    /// nobody can sign in).
    ResetPassword(UsernameArgs),
    /// Delete an account and end its sessions (never the last active admin).
    DeleteAdmin(UsernameArgs),
    /// Print a one-time invitation link (valid 72 hours) for a new account with ROLE.
    Invite(InviteArgs),
    /// Give an account a role: viewer, editor or admin.
    SetRole(SetRoleArgs),
    /// Deactivate an account: its sessions end at once and it cannot sign in; its history stays.
    Deactivate(AccountArgs),
    /// Let a deactivated account sign in again.
    Reactivate(AccountArgs),
    /// Refresh every connection that is due now, print one line per connection and exit
    /// (for cron or a Kubernetes CronJob). Exit codes are those of `validate`.
    RefreshAll {
        /// One JSON object per line: id, name, ok, diagnosis, refresh_token_expires_at.
        #[arg(long)]
        json: bool,
    },
    /// Manage the API keys integrations use to get access tokens.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Hand-off links: a customer's Concur admin connects, or renews, without a secret in any
    /// e-mail.
    #[command(subcommand)]
    Handoff(crate::handoff::HandoffCommand),
    /// Ask a connection's customer for a renewal by e-mail now, or stop asking.
    #[command(subcommand)]
    Renewal(crate::renewal::RenewalCommand),
    /// List or add connections.
    #[command(subcommand)]
    Connections(ConnectionsCommand),
    /// Print the audit log, newest first.
    Audit(crate::manage::AuditArgs),
    /// Write everything the console holds to one portable file (secrets stay sealed; keep
    /// the key apart). Works while `serve` runs.
    Export(crate::backup::ExportArgs),
    /// Read an export into an empty database (SQLite or PostgreSQL), in one transaction.
    Import(crate::backup::ImportArgs),
    /// Write a timestamped export into a directory and keep the newest N.
    Backup(crate::backup::BackupArgs),
    /// Open a backup fully (checksum, key, every sealed value) without writing anything.
    VerifyBackup(crate::backup::VerifyArgs),
    /// Re-seal every stored secret under CONCUR_CONSOLE_KEY, opening older ones with
    /// CONCUR_CONSOLE_OLD_KEYS; online and resumable.
    RotateKey(crate::rotate::RotateArgs),
    /// Exit 0 when the console at URL answers /readyz (for a container HEALTHCHECK).
    CheckReady {
        /// The console's base URL; without it, the address LEPTOS_SITE_ADDR says `serve`
        /// listens on (on all interfaces: this machine's loopback), else http://127.0.0.1:3000.
        #[arg(long)]
        url: Option<String>,
        /// Keep asking for up to this many seconds until it is ready (a service manager's
        /// start-up check); by default, ask once.
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        wait: u64,
    },
}
