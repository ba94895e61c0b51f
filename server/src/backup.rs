//! `export`, `import`, `backup` and `verify-backup`: the console's data in one portable,
//! versioned, store-neutral file. Secrets stay sealed in it (a file is worth nothing without
//! the console key, and the key is worth everything: keep it apart). The file records its
//! format, the console that wrote it, the key that sealed it and a SHA-256 of its contents;
//! it is written 0600 through a temporary file renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use app::ssr::crypto::Cipher;
use app::ssr::state::AppState;
use app::ssr::store::dump::{self, Tables, Written};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::manage::Failed;
use crate::validate::Exit;

pub const FORMAT: &str = "concur-console-export";
/// The format this console writes, and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;
const BACKUP_PREFIX: &str = "concur-console-";

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The file to write (replaced atomically, mode 0600).
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// An export or backup file.
    #[arg(long)]
    pub from: PathBuf,
    /// Check everything (checksum, key, every sealed value) and print what would be written.
    #[arg(long)]
    pub dry_run: bool,
    /// Into a database that already holds data: rows already present are skipped and counted.
    #[arg(long)]
    pub merge: bool,
}

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The directory backups go to (made 0700 if missing).
    #[arg(long)]
    pub to: PathBuf,
    /// How many backups to keep there, newest first.
    #[arg(long, default_value_t = 14)]
    pub keep: usize,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The backup (or export) to open.
    pub file: PathBuf,
}

/// The file, as written.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportFile {
    pub format: String,
    pub format_version: u64,
    pub console_version: String,
    pub exported_at: String,
    /// [`Cipher::key_id`] of the key that sealed the secrets inside.
    pub key_id: String,
    /// `sha256:` and the hex SHA-256 of `tables` as written.
    pub checksum: String,
    pub tables: Value,
}

/// Why a file was not taken. Nothing is written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0} is not a Concur Console export (it could not be read as one)")]
    NotAnExport(String),
    #[error(
        "this export is format {0}, newer than this console reads ({FORMAT_VERSION}); upgrade the console first"
    )]
    NewerFormat(u64),
    #[error("the checksum does not match the contents: the file was changed or damaged")]
    Checksum,
    #[error(
        "the export was sealed with key {file}, and this console's key is {ours}: run with CONCUR_CONSOLE_KEY (or the key file) of the console that exported it"
    )]
    OtherKey { file: String, ours: String },
    #[error("the sealed {field} of {context} does not open with this key")]
    Undecryptable { context: String, field: String },
    #[error(
        "this database already holds data: import into an empty one, or pass --merge to skip what is already there"
    )]
    NotEmpty,
}

fn checksum(tables: &Value) -> String {
    let bytes = serde_json::to_vec(tables).unwrap_or_default();
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl ExportFile {
    pub fn new(tables: &Tables, key_id: &str, now: i64) -> Self {
        let tables = serde_json::to_value(tables).unwrap_or(Value::Null);
        Self {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            console_version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at: app::ssr::rfc3339(now).unwrap_or_default(),
            key_id: key_id.to_owned(),
            checksum: checksum(&tables),
            tables,
        }
    }

    /// Reads a file and checks its kind, format version and checksum.
    pub fn read(text: &str, name: &str) -> Result<(Self, Tables), ExportError> {
        let not_one = || ExportError::NotAnExport(name.to_owned());
        let file: ExportFile = serde_json::from_str(text).map_err(|_| not_one())?;
        if file.format != FORMAT {
            return Err(not_one());
        }
        if file.format_version > FORMAT_VERSION {
            return Err(ExportError::NewerFormat(file.format_version));
        }
        if checksum(&file.tables) != file.checksum {
            return Err(ExportError::Checksum);
        }
        let tables: Tables = serde_json::from_value(file.tables.clone()).map_err(|_| not_one())?;
        Ok((file, tables))
    }

    /// Checks that `cipher` is the key that sealed the file and opens every sealed value.
    pub fn open_with(&self, tables: &Tables, cipher: &Cipher) -> Result<u64, ExportError> {
        if !cipher.key_ids().contains(&self.key_id.as_str()) {
            return Err(ExportError::OtherKey {
                file: self.key_id.clone(),
                ours: cipher.key_id().to_owned(),
            });
        }
        let mut opened = 0;
        for (table, rows) in tables {
            for row in rows {
                for (context, field, sealed) in dump::sealed_values(table, row) {
                    cipher.open(&context, &field, &sealed).map_err(|_| {
                        ExportError::Undecryptable {
                            context: format!("{table} {context}"),
                            field: field.clone(),
                        }
                    })?;
                    opened += 1;
                }
            }
        }
        Ok(opened)
    }
}

fn refused(e: impl std::fmt::Display) -> Failed {
    Failed(Exit::Refused, e.to_string())
}

/// One line per table: its name and how many rows.
fn counts(tables: &Tables) -> String {
    tables
        .iter()
        .map(|(table, rows)| format!("{table} {}", rows.len()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes an export of the whole console to `path`; the counts.
pub async fn export_to(state: &AppState, path: &Path) -> Result<String, Failed> {
    let tables = dump::read_all(&state.pool).await.map_err(refused)?;
    let file = ExportFile::new(&tables, state.cipher.key_id(), state.now());
    let text = serde_json::to_string(&file).map_err(refused)?;
    crate::files::write_private(path, &text)
        .map_err(|e| refused(format!("cannot write {}: {e}", path.display())))?;
    Ok(counts(&tables))
}

pub async fn export(
    state: &AppState,
    args: &ExportArgs,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let counts = export_to(state, &args.to).await?;
    crate::manage::terminal(
        state,
        "exported",
        None,
        &format!("to {}", args.to.display()),
    )
    .await;
    writeln!(out, "Exported to {}: {counts}.", args.to.display()).map_err(refused)
}

fn read_file(path: &Path) -> Result<(ExportFile, Tables), Failed> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failed(Exit::Usage, format!("cannot read {}: {e}", path.display())))?;
    ExportFile::read(&text, &path.display().to_string()).map_err(refused)
}

pub async fn import(
    state: &AppState,
    args: &ImportArgs,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let (file, tables) = read_file(&args.from)?;
    let sealed = file.open_with(&tables, &state.cipher).map_err(refused)?;
    if !args.merge && !dump::is_empty(&state.pool).await.map_err(refused)? {
        return Err(refused(ExportError::NotEmpty));
    }
    writeln!(
        out,
        "{} exported by console {} at {}; key {}; {sealed} sealed values open.",
        args.from.display(),
        file.console_version,
        file.exported_at,
        file.key_id
    )
    .map_err(refused)?;
    if args.dry_run {
        return writeln!(
            out,
            "Dry run, nothing written. Would write: {}.",
            counts(&tables)
        )
        .map_err(refused);
    }
    let report = dump::write_all(&state.pool, &tables)
        .await
        .map_err(refused)?;
    let line = report
        .iter()
        .map(
            |Written {
                 table,
                 written,
                 skipped,
             }| match skipped {
                0 => format!("{table} {written}"),
                _ => format!("{table} {written} ({skipped} already present, skipped)"),
            },
        )
        .collect::<Vec<_>>()
        .join(", ");
    crate::manage::terminal(
        state,
        "imported",
        None,
        &format!("from {}", args.from.display()),
    )
    .await;
    writeln!(out, "Imported: {line}.").map_err(refused)
}

/// Writes a timestamped export into `dir` and keeps the newest `keep`; the file written.
pub async fn backup_into(state: &AppState, dir: &Path, keep: usize) -> Result<PathBuf, Failed> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| refused(format!("cannot make {}: {e}", dir.display())))?;
    let stamp = time::OffsetDateTime::from_unix_timestamp(state.now())
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_default();
    let path = dir.join(format!("{BACKUP_PREFIX}{stamp}.json"));
    export_to(state, &path).await?;
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(refused)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(BACKUP_PREFIX) && n.ends_with(".json"))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep.max(1));
    for old in backups.into_iter().take(excess) {
        std::fs::remove_file(&old)
            .map_err(|e| refused(format!("cannot remove {}: {e}", old.display())))?;
    }
    Ok(path)
}

pub async fn backup(
    state: &AppState,
    args: &BackupArgs,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let path = backup_into(state, &args.to, args.keep).await?;
    writeln!(out, "{}", path.display()).map_err(refused)
}

/// Opens a backup fully (checksum, key, every sealed value) and writes nothing anywhere.
pub fn verify(cipher: &Cipher, args: &VerifyArgs, out: &mut impl Write) -> Result<(), Failed> {
    let (file, tables) = read_file(&args.file)?;
    let sealed = file.open_with(&tables, cipher).map_err(refused)?;
    writeln!(
        out,
        "{}: format {}, console {}, exported {}, key {}, checksum good, {sealed} sealed values open. {}.",
        args.file.display(),
        file.format_version,
        file.console_version,
        file.exported_at,
        file.key_id,
        counts(&tables)
    )
    .map_err(refused)
}

/// `CONCUR_BACKUP_DIR`, `CONCUR_BACKUP_EVERY`, `CONCUR_BACKUP_KEEP`: backups `serve` writes by
/// itself.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    /// Seconds between backups.
    pub every: i64,
    pub keep: usize,
}

/// The lease that lets one replica of several write each scheduled backup.
const LEASE: &str = "scheduled-backup";
/// How often `serve` looks whether a backup is due.
const TICK: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes a backup if this process's next one is due and no other replica wrote one within
/// `every`; moves `next_due` on. The backup's path when one was written.
pub async fn backup_if_due(
    state: &AppState,
    schedule: &Schedule,
    next_due: &mut i64,
) -> Option<PathBuf> {
    let now = state.now();
    if now < *next_due {
        return None;
    }
    let ours =
        app::ssr::store::try_lease(&state.pool, LEASE, &state.holder, now, now + schedule.every)
            .await
            .unwrap_or(false);
    if !ours {
        *next_due = now + TICK.as_secs() as i64;
        return None;
    }
    *next_due = now + schedule.every;
    match backup_into(state, &schedule.dir, schedule.keep).await {
        Ok(path) => {
            tracing::info!(file = %path.display(), "scheduled backup written");
            Some(path)
        }
        Err(Failed(_, message)) => {
            tracing::error!(%message, "the scheduled backup failed");
            None
        }
    }
}

/// The scheduled backups, until `stop` says so.
pub async fn run(
    state: AppState,
    schedule: Schedule,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut next_due = state.now();
    loop {
        backup_if_due(&state, &schedule, &mut next_due).await;
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// Secrets re-sealed per round.
    #[arg(long, default_value_t = 200)]
    pub batch: i64,
    /// A pause between rounds, to go easy on a busy database.
    #[arg(long, default_value_t = 0)]
    pub pause_ms: u64,
}

/// Re-seals every stored secret under the current key (`CONCUR_CONSOLE_KEY`), opening the old
/// ones with `CONCUR_CONSOLE_OLD_KEYS`. Online: each value is replaced only if unchanged, so a
/// refresh meanwhile is never undone. Resumable: what is left is read again from the database.
pub async fn rotate_key(
    state: &AppState,
    args: &RotateArgs,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let current = state.cipher.current_prefix();
    let total = dump::count_stale(&state.pool, &current)
        .await
        .map_err(refused)?;
    writeln!(
        out,
        "{total} secrets to re-seal under key {}.",
        state.cipher.key_id()
    )
    .map_err(refused)?;
    let mut done = 0;
    loop {
        let stale = dump::stale_values(&state.pool, &current, args.batch.max(1))
            .await
            .map_err(refused)?;
        if stale.is_empty() {
            break;
        }
        for value in &stale {
            let (row, field) = value.context();
            let plaintext = state
                .cipher
                .open(&row, &field, &value.sealed)
                .map_err(|e| {
                    refused(format!(
                        "{} {} ({}): {e}",
                        value.column.table, value.key, value.column.column
                    ))
                })?;
            let resealed = state.cipher.seal(&row, &field, &plaintext);
            if dump::replace_sealed(&state.pool, value, &resealed)
                .await
                .map_err(refused)?
            {
                done += 1;
            }
        }
        writeln!(out, "re-sealed {done} of {total}").map_err(refused)?;
        if args.pause_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(args.pause_ms)).await;
        }
    }
    let detail = format!(
        "{done} secrets re-sealed under key {}",
        state.cipher.key_id()
    );
    crate::manage::terminal(state, "key_rotated", None, &detail).await;
    writeln!(
        out,
        "Done: {detail}. Nothing is sealed with an older key any more; CONCUR_CONSOLE_OLD_KEYS can be dropped."
    )
    .map_err(refused)
}
