//! `concur-console api-key …` and `connections …`: what the console's pages do, from a
//! terminal, so a deployment can be scripted. Secrets come from the environment, never argv.

use std::collections::HashMap;
use std::io::Write;

use console_core::Error;
use console_core::connections::fleet::{self, Change};
use console_core::connections::metadata::Selector;
use console_core::connections::probes;
use console_core::state::AppState;
use console_core::store;
use console_model::{BelongingForm, CredentialsForm};
use serde_json::json;

pub use crate::terminal::{Failed, terminal};
use crate::validate::{Exit, Secrets, rfc3339};

#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for one connection (`--connection ID`), a fleet key for every connection a
    /// selector matches (`--fleet`), a management key (`--manage`, `--read-only`), or one that
    /// may only create and read hand-off links (`--handoffs`); only the key is printed on stdout
    /// (shown once).
    Create {
        #[arg(
            long,
            required_unless_present_any = ["handoffs", "fleet", "manage"],
            conflicts_with_all = ["handoffs", "fleet", "manage"]
        )]
        connection: Option<String>,
        /// A key for `POST /api/v1/handoffs` and `GET /api/v1/handoffs/{id}`, and nothing else.
        #[arg(long, conflicts_with_all = ["fleet", "manage"])]
        handoffs: bool,
        /// A key that opens the token of every connection `--selector` matches at the time of
        /// each call (without a selector: every connection).
        #[arg(long, conflicts_with = "manage")]
        fleet: bool,
        /// A key for the management API (`/api/v1/connections`, renewal links, hand-off
        /// links): it reads and changes every connection, and opens no token.
        #[arg(long)]
        manage: bool,
        /// With --manage: the key only reads.
        #[arg(long, requires = "manage")]
        read_only: bool,
        /// With --fleet: tags a connection must all have, `env=prod,region=emea`.
        #[arg(long, requires = "fleet", default_value = "")]
        selector: String,
        /// A label saying who uses the key.
        #[arg(long)]
        name: String,
    },
    /// List a connection's keys, or the fleet, management and hand-off keys (never the keys
    /// themselves).
    List {
        #[arg(long, required_unless_present = "fleet", conflicts_with = "fleet")]
        connection: Option<String>,
        #[arg(long)]
        fleet: bool,
    },
    /// Revoke a key at once.
    Revoke {
        /// The key's id, as `api-key list` shows it.
        key_id: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ConnectionsCommand {
    /// The stored connections with their status, refresh-token expiry and who they belong
    /// to, by name.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Only connections with this tag, `key=value` (repeatable: all must match).
        #[arg(long, value_name = "KEY=VALUE")]
        tag: Vec<String>,
        /// Only connections owned by this account (its user name).
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
    },
    /// Change who a connection belongs to: its external id, tags, contact or owner. Only what
    /// is given changes; an empty value ("") clears a field. Audited old → new.
    Set(SetArgs),
    /// Validate credentials with Concur and store them as the New connection form does; prints
    /// the new id. Secrets come from CONCUR_CLIENT_SECRET, and CONCUR_REFRESH_TOKEN or
    /// CONCUR_COMPANY_UUID + CONCUR_REQUEST_TOKEN. Exit codes are those of `validate`.
    Add(AddArgs),
    /// Import a fleet from CSV or JSON lines: each row checked with Concur as the form does, a
    /// few at a time; the rows that pass are stored, and a report says what became of each.
    Import(crate::fleet::FleetArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[arg(long)]
    pub name: String,
    /// The data centre base URL, e.g. https://us2.api.concursolutions.com.
    #[arg(long)]
    pub authorization_url: String,
    #[arg(long)]
    pub client_id: String,
    /// expense-approvals, mileage-to-expense or custom (with --required-scopes).
    #[arg(long)]
    pub scope_profile: String,
    /// The scopes a custom profile needs, space-separated.
    #[arg(long)]
    pub required_scopes: Option<String>,
    #[command(flatten)]
    pub belonging: BelongingArgs,
}

/// Who a connection belongs to, as `connections add` and `connections set` take it.
#[derive(Debug, clap::Args)]
pub struct BelongingArgs {
    /// Your own id for this customer (its tenant id): 1-128 of A-Z a-z 0-9 . _ : -, unique.
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// A tag, `key=value` such as env=prod (repeatable; at most 20 per connection).
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Vec<String>,
    /// The customer's Concur admin: their name…
    #[arg(long, value_name = "NAME")]
    pub contact_name: Option<String>,
    /// …and the address hand-off and renewal mails go to.
    #[arg(long, value_name = "EMAIL")]
    pub contact_email: Option<String>,
    /// The console account responsible for the connection (its user name).
    #[arg(long, value_name = "USER")]
    pub owner: Option<String>,
}

impl BelongingArgs {
    /// The flags as given (what is not given: none).
    pub fn given(&self) -> BelongingForm {
        BelongingForm {
            external_id: self.external_id.clone().unwrap_or_default(),
            tags: self.tag.join("\n"),
            contact_name: self.contact_name.clone().unwrap_or_default(),
            contact_email: self.contact_email.clone().unwrap_or_default(),
            owner: self.owner.clone().unwrap_or_default(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// The connection's id, as `connections list` shows it.
    pub id: String,
    #[command(flatten)]
    pub belonging: BelongingArgs,
    /// Remove the tag with this key (repeatable).
    #[arg(long, value_name = "KEY")]
    pub untag: Vec<String>,
}

fn io(e: std::io::Error) -> Failed {
    Failed(Exit::Refused, e.to_string())
}

pub async fn api_key(
    state: &AppState,
    command: &ApiKeyCommand,
    out: &mut impl Write,
) -> Result<(), Failed> {
    match command {
        ApiKeyCommand::Create {
            connection: Some(connection),
            name,
            ..
        } => {
            let made = console_core::api_keys::create(state, connection, name).await?;
            let detail = format!("{} ({})", made.view.name, made.view.prefix);
            terminal(state, "api_key_created", Some(connection), &detail).await;
            writeln!(out, "{}", made.key).map_err(io)
        }
        ApiKeyCommand::Create {
            fleet,
            manage,
            read_only,
            selector,
            name,
            ..
        } => {
            let kind = match (fleet, manage, read_only) {
                (true, _, _) => "fleet",
                (_, true, true) => "read",
                (_, true, false) => "manage",
                _ => "handoff",
            };
            let (made, detail) =
                console_core::fleet_keys::create_named(state, name, kind, selector).await?;
            terminal(state, "api_key_created", None, &detail).await;
            writeln!(out, "{}", made.key).map_err(io)
        }
        ApiKeyCommand::List { fleet: true, .. } => {
            for key in console_core::fleet_keys::list(state).await? {
                writeln!(out, "{}  {}", key_line(&key.view), key.reach()).map_err(io)?;
            }
            Ok(())
        }
        ApiKeyCommand::List { connection, .. } => {
            let connection = connection.as_deref().unwrap_or_default();
            if store::connection(&state.pool, connection)
                .await
                .map_err(|e| Failed(Exit::Refused, e.to_string()))?
                .is_none()
            {
                return Err(Error::NotFound.into());
            }
            for key in console_core::api_keys::list(state, connection).await? {
                writeln!(out, "{}", key_line(&key)).map_err(io)?;
            }
            Ok(())
        }
        ApiKeyCommand::Revoke { key_id } => {
            if !console_core::fleet_keys::revoke(state, key_id).await? {
                console_core::api_keys::revoke(state, key_id, None).await?;
            }
            terminal(state, "api_key_revoked", None, &format!("key {key_id}")).await;
            writeln!(out, "Revoked {key_id}.").map_err(io)
        }
    }
}

pub async fn connections(
    state: &AppState,
    command: &ConnectionsCommand,
    secrets: &Secrets,
    out: &mut impl Write,
) -> Result<(), Failed> {
    match command {
        ConnectionsCommand::List { json, tag, owner } => {
            list(state, *json, tag, owner.as_deref(), out).await
        }
        ConnectionsCommand::Set(args) => {
            let b = &args.belonging;
            let change = Change {
                external_id: b.external_id.clone(),
                tags: (!b.tag.is_empty()).then(|| b.tag.join("\n")),
                untag: args.untag.clone(),
                untag_all: false,
                contact_name: b.contact_name.clone(),
                contact_email: b.contact_email.clone(),
                owner: b.owner.clone(),
            };
            let said = fleet::change(state, &args.id, &change).await?;
            if said.is_empty() {
                writeln!(out, "nothing changed").map_err(io)?;
            } else {
                terminal(
                    state,
                    "connection_updated",
                    Some(&args.id),
                    &said.join("; "),
                )
                .await;
                for line in said {
                    writeln!(out, "{line}").map_err(io)?;
                }
            }
            Ok(())
        }
        ConnectionsCommand::Import(args) => crate::fleet::import(state, args, out).await,
        ConnectionsCommand::Add(args) => {
            let form = add_form(args, secrets)?;
            let id = console_core::connections::create(state, form).await?;
            terminal(state, "connection_created", Some(&id), &args.name).await;
            writeln!(out, "{id}").map_err(io)?;
            let row = store::connection(&state.pool, &id)
                .await
                .map_err(|e| Failed(Exit::Refused, e.to_string()))?;
            match row {
                Some(row) if row.failing != 0 => Err(Failed(
                    Exit::Refused,
                    format!(
                        "stored, but failing: {}",
                        row.last_problem.unwrap_or_default()
                    ),
                )),
                _ => Ok(()),
            }
        }
    }
}

/// A key as `api-key list` shows it: id, prefix, label, when made and last used, and state.
fn key_line(key: &console_model::ApiKeyView) -> String {
    let status = match key.revoked_at {
        Some(at) => format!("revoked {}", console_model::format_time(at)),
        None => "live".to_owned(),
    };
    let used = key
        .last_used_at
        .map_or_else(|| "never".to_owned(), console_model::format_time);
    format!(
        "{}  {}  {}  created {}  last used {used}  {status}",
        key.id,
        key.prefix,
        key.name,
        console_model::format_time(key.created_at)
    )
}

async fn list(
    state: &AppState,
    json: bool,
    tags: &[String],
    owner: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let now = state.now();
    let query = fleet::Query {
        selector: Selector::of_pairs(tags.iter().map(String::as_str))?,
        owner: owner.map(str::to_owned),
        ..fleet::Query::default()
    };
    let listed = fleet::list(state, &query).await?;
    let mut probes = if json {
        let ids: Vec<&str> = listed.iter().map(|(row, _)| row.id.as_str()).collect();
        probes::lines_of(state, &ids).await?
    } else {
        HashMap::new()
    };
    for (row, who) in listed {
        if json {
            let lines = probes.remove(&row.id).unwrap_or_default();
            let line = crate::management::ConnectionView::of(
                &store::FleetRow::from(&row),
                &who,
                &lines,
                now,
            );
            writeln!(out, "{}", json!(line)).map_err(io)?;
        } else {
            let expiry = row
                .refresh_token_expires_at
                .map_or_else(|| "unknown".to_owned(), console_model::format_time);
            let status = row.status(now).key();
            let mut line = format!("{}  {status:<8}  {}  expires {expiry}", row.id, row.name);
            if let Some(external_id) = &who.external_id {
                line.push_str(&format!("  external id {external_id}"));
            }
            if !who.tags.is_empty() {
                line.push_str(&format!("  tags {}", who.tags.words()));
            }
            if let Some(owner) = &who.owner {
                line.push_str(&format!("  owner {}", owner.username));
            }
            writeln!(out, "{}", printable(&line)).map_err(io)?;
        }
    }
    Ok(())
}

fn add_form(args: &AddArgs, secrets: &Secrets) -> Result<CredentialsForm, Failed> {
    let usage = |m: &str| Failed(Exit::Usage, m.to_owned());
    if args.required_scopes.is_some() && args.scope_profile != "custom" {
        return Err(usage(
            "--required-scopes goes with --scope-profile custom; the named profiles have their own list.",
        ));
    }
    let client_secret = secrets.client_secret.clone().ok_or_else(|| {
        usage("Set CONCUR_CLIENT_SECRET in the environment (secrets are never taken from the command line).")
    })?;
    let mut form = CredentialsForm {
        name: args.name.clone(),
        client_id: args.client_id.clone(),
        client_secret,
        authorization_url: args.authorization_url.clone(),
        scope_profile: args.scope_profile.clone(),
        custom_scopes: args.required_scopes.clone().unwrap_or_default(),
        mode: String::new(),
        refresh_token: String::new(),
        company_uuid: String::new(),
        request_token: String::new(),
        external_id: args.belonging.external_id.clone().unwrap_or_default(),
        tags: args.belonging.tag.join("\n"),
        contact_name: args.belonging.contact_name.clone().unwrap_or_default(),
        contact_email: args.belonging.contact_email.clone().unwrap_or_default(),
        owner: args.belonging.owner.clone().unwrap_or_default(),
    };
    match (
        &secrets.refresh_token,
        &secrets.company_uuid,
        &secrets.request_token,
    ) {
        (Some(token), None, None) => {
            form.mode = "refresh-token".into();
            form.refresh_token = token.clone();
        }
        (None, Some(company), Some(token)) => {
            form.mode = "request-token".into();
            form.company_uuid = company.clone();
            form.request_token = token.clone();
        }
        _ => {
            return Err(usage(
                "Set either CONCUR_REFRESH_TOKEN, or CONCUR_COMPANY_UUID and CONCUR_REQUEST_TOKEN (not both).",
            ));
        }
    }
    Ok(form)
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Only events from this day on (UTC), e.g. 2026-11-01.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
}

/// Text from the log as it may be shown on a terminal: anything that is not printable (line
/// breaks, escape sequences, bidirectional overrides) becomes a visible `\u{…}`, so a user name
/// typed at sign-in cannot forge a line or drive the operator's terminal.
pub fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        if hidden || c == '\\' {
            shown.push_str(&c.escape_unicode().to_string());
        } else {
            shown.push(c);
        }
    }
    shown
}

pub async fn audit(state: &AppState, args: &AuditArgs, out: &mut impl Write) -> Result<(), Failed> {
    let since = console_core::audit::parse_day(args.since.as_deref().unwrap_or_default())?;
    let filter = store::AuditFilter {
        since,
        ..store::AuditFilter::default()
    };
    let (rows, _) = store::audit_page(&state.pool, &filter, 0, args.limit.clamp(1, 100_000))
        .await
        .map_err(|e| Failed(Exit::Refused, e.to_string()))?;
    for row in rows {
        let address = row.address.as_deref().map(printable);
        let connection_id = row.connection_id.as_deref().map(printable);
        let (kind, outcome) = (printable(&row.kind), printable(&row.outcome));
        let (actor, detail) = (printable(&row.actor), printable(&row.detail));
        let role = row.actor_role.as_deref().map(printable);
        let method = row.actor_method.as_deref().map(printable);
        if args.json {
            let line = json!({
                "at": rfc3339(Some(row.at)),
                "actor": actor,
                "actor_role": role,
                "actor_method": method,
                "address": address,
                "kind": kind,
                "connection_id": connection_id,
                "outcome": outcome,
                "detail": detail,
            });
            writeln!(out, "{line}").map_err(io)?;
        } else {
            writeln!(
                out,
                "{}  {kind:<20}  {outcome:<10}  {actor}{}  {}  {detail}{}",
                console_model::format_time(row.at),
                match (role, method) {
                    (Some(r), Some(m)) => format!(" ({r}, {m})"),
                    (Some(r), None) => format!(" ({r})"),
                    _ => String::new(),
                },
                address.unwrap_or_default(),
                connection_id
                    .map(|c| format!("  [{c}]"))
                    .unwrap_or_default()
            )
            .map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn audit_text_shows_control_characters_instead_of_obeying_them() {
        assert_eq!(printable("admin"), "admin");
        assert_eq!(printable("Zoë 日本"), "Zoë 日本");
        assert_eq!(
            printable("x\n2026-11-29 sign_in ok root"),
            "x\\u{a}2026-11-29 sign_in ok root"
        );
        assert_eq!(printable("\u{1b}[2J\u{9b}31m"), "\\u{1b}[2J\\u{9b}31m");
        assert_eq!(printable("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(
            printable("a\\u{a}"),
            "a\\u{5c}u{a}",
            "a typed escape stays apart"
        );
    }
}
