//! `concur-console connections import FILE`: an existing fleet (a spreadsheet's CSV, or JSON
//! lines) checked with Concur exactly as the New connection form checks one, a few at a time,
//! each row that passes stored at once. The file's secrets are never echoed.
//!
//! `--dry-run` checks every row here (fields, URLs, allowed hosts, scope profiles, what is
//! already present) but does not ask Concur: a refresh may rotate the refresh token and a
//! Company Request Token works once, so asking without storing the answer would destroy the
//! very credentials being imported.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use console_core::state::AppState;
use console_core::store;
use console_model::CredentialsForm;
use futures_util::StreamExt;

use crate::terminal::{Failed, terminal};
use crate::validate::Exit;

#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// A CSV file with a header row, or JSON lines (`.jsonl`, or a first line that starts with
    /// `{`). Columns: name, client_id, authorization_url, scope_profile (required_scopes for
    /// custom), client_secret, and refresh_token or company_uuid + request_token; optionally
    /// who each belongs to: external_id, tags (`env=prod;region=emea`), contact_name,
    /// contact_email, owner (a user name).
    pub file: PathBuf,
    /// Check every row here, store nothing, and do not ask Concur (asking would use up request
    /// tokens and may rotate refresh tokens).
    #[arg(long)]
    pub dry_run: bool,
    /// Replace the credentials of connections already present (same Client ID and company, or
    /// same Client ID and name) instead of skipping them.
    #[arg(long)]
    pub replace: bool,
    /// Rows checked with Concur at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Stored(String),
    Replaced(String),
    Present(String),
    Checked,
    Refused(String),
}

struct Row {
    /// The row's number in the file (the header is row 1 in a CSV).
    number: usize,
    name: String,
    form: Result<CredentialsForm, String>,
    client_id: String,
    company_uuid: String,
}

fn normalise(header: &str) -> String {
    header.trim().to_lowercase().replace([' ', '-'], "_")
}

fn row_of(number: usize, mut fields: HashMap<String, String>) -> Row {
    let mut take = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| fields.remove(*n))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let name = take(&["name"]);
    let client_id = take(&["client_id"]);
    let client_secret = take(&["client_secret"]);
    let refresh_token = take(&["refresh_token"]);
    let company_uuid = take(&["company_uuid"]);
    let request_token = take(&["request_token", "company_request_token"]);
    let authorization_url = take(&["authorization_url"]);
    let scope_profile = take(&["scope_profile", "profile"]);
    let custom_scopes = take(&["required_scopes", "custom_scopes", "scopes"]);
    let external_id = take(&["external_id"]);
    let tags = take(&["tags"]).replace(';', "\n");
    let contact_name = take(&["contact_name"]);
    let contact_email = take(&["contact_email"]);
    let owner = take(&["owner"]);
    let mode = if !refresh_token.is_empty() {
        Ok("refresh-token")
    } else if !request_token.is_empty() {
        Ok("request-token")
    } else {
        Err("needs refresh_token, or company_uuid and request_token".to_owned())
    };
    let form = mode.map(|mode| CredentialsForm {
        mode: mode.to_owned(),
        name: name.clone(),
        client_id: client_id.clone(),
        client_secret,
        refresh_token,
        authorization_url,
        company_uuid: company_uuid.clone(),
        request_token,
        scope_profile,
        custom_scopes,
        external_id,
        tags,
        contact_name,
        contact_email,
        owner,
    });
    Row {
        number,
        name,
        form,
        client_id,
        company_uuid,
    }
}

/// The rows of a CSV (with a header) or JSON-lines file.
fn read_rows(path: &Path) -> Result<Vec<Row>, Failed> {
    let usage = |e: String| Failed(Exit::Usage, format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| usage(e.to_string()))?;
    let json_lines = path
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "ndjson")
        || text.trim_start().starts_with('{');
    let mut rows = Vec::new();
    if json_lines {
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields: HashMap<String, serde_json::Value> = serde_json::from_str(line)
                .map_err(|_| usage(format!("line {} is not a JSON object", index + 1)))?;
            let fields = fields
                .into_iter()
                .map(|(k, v)| {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (normalise(&k), v)
                })
                .collect();
            rows.push(row_of(index + 1, fields));
        }
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|_| usage("the first line must name the columns".into()))?
            .iter()
            .map(normalise)
            .collect();
        for (index, record) in reader.records().enumerate() {
            let record = record.map_err(|_| usage(format!("row {} cannot be read", index + 2)))?;
            let fields = headers
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect();
            rows.push(row_of(index + 2, fields));
        }
    }
    Ok(rows)
}

/// The stored connection a row would duplicate: same Client ID and company, or (without a
/// company) same Client ID and name.
fn present(row: &Row, stored: &[store::ConnectionRow]) -> Option<String> {
    stored
        .iter()
        .find(|c| {
            c.client_id.eq_ignore_ascii_case(&row.client_id)
                && if row.company_uuid.is_empty() {
                    c.name == row.name
                } else {
                    c.company_uuid
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&row.company_uuid))
                }
        })
        .map(|c| c.id.clone())
}

async fn import_row(
    state: &AppState,
    args: &FleetArgs,
    row: Row,
    stored: &[store::ConnectionRow],
) -> (usize, String, Outcome) {
    let (number, name) = (row.number, row.name.clone());
    let existing = present(&row, stored);
    let form = match row.form {
        Ok(form) => form,
        Err(e) => return (number, name, Outcome::Refused(e)),
    };
    if let Err(e) = console_core::connections::check_form(state, &form) {
        return (number, name, Outcome::Refused(said(e)));
    }
    let outcome = match (existing, args.dry_run, args.replace) {
        (Some(id), _, false) => Outcome::Present(id),
        (_, true, _) => Outcome::Checked,
        (Some(id), false, true) => match console_core::connections::replace(state, &id, form).await
        {
            Ok(()) => {
                terminal(state, "connection_replaced", Some(&id), "bulk import").await;
                Outcome::Replaced(id)
            }
            Err(e) => Outcome::Refused(said(e)),
        },
        (None, false, _) => match console_core::connections::create(state, form).await {
            Ok(id) => {
                terminal(state, "connection_created", Some(&id), &name).await;
                Outcome::Stored(id)
            }
            Err(e) => Outcome::Refused(said(e)),
        },
    };
    (number, name, outcome)
}

/// A refusal in words: the diagnosis and its next step, or the field's rule (never a value).
fn said(e: console_core::Error) -> String {
    match e {
        console_core::Error::Concur(d) => format!("{} {}", d.message, d.next_step),
        console_core::Error::Invalid { field, message } => format!("{field}: {message}"),
        other => other.to_string(),
    }
}

fn warn_if_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: {} can be read by other users (mode {:o}) and holds secrets: chmod 600 it, and delete it once imported",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

pub async fn import(
    state: &AppState,
    args: &FleetArgs,
    out: &mut impl Write,
) -> Result<(), Failed> {
    warn_if_readable(&args.file);
    let rows = read_rows(&args.file)?;
    let stored = store::all_connections(&state.pool)
        .await
        .map_err(|e| Failed(Exit::Refused, e.to_string()))?;
    let total = rows.len() as u64;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} rows checked with Concur, {elapsed}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let mut results: Vec<(usize, String, Outcome)> = futures_util::stream::iter(rows)
        .map(|row| import_row(state, args, row, &stored))
        .buffer_unordered(args.concurrency.clamp(1, 16))
        .inspect(|(number, _, outcome)| match &bar {
            Some(bar) => bar.inc(1),
            None => eprintln!("row {number}: {}", word(outcome)),
        })
        .collect()
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    results.sort_by_key(|(number, _, _)| *number);
    let io = |e: std::io::Error| Failed(Exit::Refused, e.to_string());
    let mut refused = 0;
    for (number, name, outcome) in &results {
        let detail = match outcome {
            Outcome::Stored(id) | Outcome::Replaced(id) | Outcome::Present(id) => id.clone(),
            Outcome::Checked => "(dry run: not asked, not stored)".to_owned(),
            Outcome::Refused(why) => {
                refused += 1;
                why.clone()
            }
        };
        writeln!(out, "row {number}\t{name}\t{}\t{detail}", word(outcome)).map_err(io)?;
    }
    let count = |f: fn(&Outcome) -> bool| results.iter().filter(|(_, _, o)| f(o)).count();
    writeln!(
        out,
        "{} rows: {} stored, {} replaced, {} already present, {} checked, {refused} refused.",
        results.len(),
        count(|o| matches!(o, Outcome::Stored(_))),
        count(|o| matches!(o, Outcome::Replaced(_))),
        count(|o| matches!(o, Outcome::Present(_))),
        count(|o| matches!(o, Outcome::Checked)),
    )
    .map_err(io)?;
    if refused > 0 {
        return Err(Failed(
            Exit::Refused,
            format!("{refused} rows refused; the rows that passed are stored"),
        ));
    }
    Ok(())
}

fn word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Stored(_) => "stored",
        Outcome::Replaced(_) => "replaced",
        Outcome::Present(_) => "already present",
        Outcome::Checked => "checked",
        Outcome::Refused(_) => "refused",
    }
}
