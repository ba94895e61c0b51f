//! `export`, `import`, `backup` and `verify-backup`: the console's data in one portable,
//! versioned, store-neutral file, sealed as a whole (AES-256-GCM under a key derived from the
//! console key): nobody without the key can read it — names, accounts, password hashes, the
//! audit log — or change a byte of it unnoticed. The file names its format, the console that
//! wrote it and the key that sealed it, in clear and bound to the sealed content. It is written
//! 0600 through a temporary file renamed into place, and read back with a size cap.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use console_core::crypto::{Cipher, CryptoError};
use console_core::state::AppState;
use console_core::store::dump::{self, Fitted, Tables, Unfit, Written};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::manage::Failed;
use crate::validate::Exit;

pub const FORMAT: &str = "concur-console-export";
/// The format this console writes, and the newest it reads: 2 is sealed as a whole; 1 (before)
/// carried its tables in clear with a plain checksum.
pub const FORMAT_VERSION: u64 = 2;
const UNSEALED_VERSION: u64 = 1;
const BACKUP_PREFIX: &str = "concur-console-";
const BACKUP_SUFFIX: &str = ".json";
/// The largest file an import or a verification reads.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

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
    /// Check everything (seal, key, schema, every sealed value) and print what would be written.
    #[arg(long)]
    pub dry_run: bool,
    /// Into a database that already holds data: rows already present are skipped and counted.
    #[arg(long)]
    pub merge: bool,
    /// Take an export made before exports were sealed (format 1). Anyone who could write that
    /// file could have changed it — added an admin, an API key, a hand-off link — and nothing
    /// here can tell: use it only for a file that never left your hands.
    #[arg(long)]
    pub trust_unsealed: bool,
}

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The directory backups go to (made 0700 if missing).
    #[arg(long)]
    pub to: PathBuf,
    /// How many backups to keep there, newest first (only this console's own backups count).
    #[arg(long, default_value_t = 14)]
    pub keep: usize,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The backup (or export) to open.
    pub file: PathBuf,
    /// Also read an export made before exports were sealed (see `import --trust-unsealed`).
    #[arg(long)]
    pub trust_unsealed: bool,
}

/// What a file says of itself in clear. Sealed with the content as associated data, so none
/// of it can change unnoticed either.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub format_version: u64,
    pub console_version: String,
    pub exported_at: String,
    /// [`Cipher::key_id`] of the key that sealed the file and the secrets inside.
    pub key_id: String,
}

impl Header {
    /// The associated data the content is sealed with.
    fn bound(&self) -> Vec<u8> {
        serde_json::to_vec(&(
            &self.format,
            self.format_version,
            &self.console_version,
            &self.exported_at,
            &self.key_id,
        ))
        .unwrap_or_default()
    }
}

/// The file as written: the header and the sealed tables. (A format-1 file had `checksum`
/// and `tables` in clear instead of `sealed`.)
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportFile {
    #[serde(flatten)]
    pub header: Header,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tables: Option<Value>,
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
    #[error(
        "{size} bytes is more than the {MAX_FILE_BYTES} bytes (512 MiB) an export may have here; this is not one of this console's exports"
    )]
    TooLarge { size: u64 },
    #[error(
        "this file was changed after export (or damaged): it does not open with the key that sealed it"
    )]
    Changed,
    #[error(
        "this export is not sealed (format 1, from a console before exports were sealed): anyone who could write it could have changed it, and nothing can tell. If it never left your hands, run again with --trust-unsealed"
    )]
    Unsealed,
    #[error(
        "the checksum does not match the contents: the file was changed or damaged (an unsealed, format 1 export)"
    )]
    Checksum,
    #[error(
        "the export was sealed with key {file}, and this console's key is {ours}: run with CONCUR_CONSOLE_KEY (or the key file) of the console that exported it"
    )]
    OtherKey { file: String, ours: String },
    #[error("the sealed {field} of {context} does not open with this key")]
    Undecryptable { context: String, field: String },
    #[error("{0}; nothing was written")]
    Unfit(#[from] Unfit),
    #[error(
        "this database already holds data: import into an empty one, or pass --merge to skip what is already there"
    )]
    NotEmpty,
}

/// The plain SHA-256 a format-1 file carried.
fn checksum(tables: &Value) -> String {
    let bytes = serde_json::to_vec(tables).unwrap_or_default();
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A file read and opened: its header, its rows, and whether it came sealed.
#[derive(Debug)]
pub struct Opened {
    pub header: Header,
    pub tables: Tables,
    pub fitted: Fitted,
    pub sealed: bool,
}

impl ExportFile {
    /// Seals `tables` with the current key.
    pub fn seal(tables: &Tables, cipher: &Cipher, now: i64) -> Self {
        let header = Header {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            console_version: env!("CARGO_PKG_VERSION").to_owned(),
            exported_at: console_core::rfc3339(now).unwrap_or_default(),
            key_id: cipher.key_id().to_owned(),
        };
        let content = serde_json::to_vec(tables).unwrap_or_default();
        let sealed = cipher.seal_export(&header.bound(), &content);
        Self {
            header,
            sealed: Some(sealed),
            checksum: None,
            tables: None,
        }
    }

    /// Reads a file's text: its kind and version, then its seal with `cipher` (or, only when
    /// `trust_unsealed`, a format-1 file's checksum), then every table, column and value
    /// against the schema.
    pub fn open(
        text: &str,
        name: &str,
        cipher: &Cipher,
        trust_unsealed: bool,
    ) -> Result<Opened, ExportError> {
        let not_one = || ExportError::NotAnExport(name.to_owned());
        let file: ExportFile = serde_json::from_str(text).map_err(|_| not_one())?;
        let header = file.header;
        if header.format != FORMAT {
            return Err(not_one());
        }
        if header.format_version > FORMAT_VERSION {
            return Err(ExportError::NewerFormat(header.format_version));
        }
        let other_key = || ExportError::OtherKey {
            file: header.key_id.clone(),
            ours: cipher.key_id().to_owned(),
        };
        if !cipher.key_ids().contains(&header.key_id.as_str()) {
            return Err(other_key());
        }
        let (tables, sealed) = match (header.format_version, file.sealed, file.tables) {
            (FORMAT_VERSION, Some(sealed), None) => {
                let content = cipher
                    .open_export(&header.key_id, &header.bound(), &sealed)
                    .map_err(|e| match e {
                        CryptoError::MissingKey(_) => other_key(),
                        _ => ExportError::Changed,
                    })?;
                let tables: Tables = serde_json::from_slice(&content).map_err(|_| not_one())?;
                (tables, true)
            }
            (UNSEALED_VERSION, None, Some(tables)) => {
                if !trust_unsealed {
                    return Err(ExportError::Unsealed);
                }
                if file.checksum.as_deref() != Some(checksum(&tables).as_str()) {
                    return Err(ExportError::Checksum);
                }
                let tables: Tables = serde_json::from_value(tables).map_err(|_| not_one())?;
                (tables, false)
            }
            _ => return Err(not_one()),
        };
        let fitted = dump::fit(&tables)?;
        Ok(Opened {
            header,
            tables,
            fitted,
            sealed,
        })
    }
}

impl Opened {
    /// Opens every sealed value with `cipher`; how many.
    pub fn open_values(&self, cipher: &Cipher) -> Result<u64, ExportError> {
        let mut opened = 0;
        for (table, rows) in &self.tables {
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

/// A refusal with its words (exit code 1).
pub(crate) fn refused(e: impl std::fmt::Display) -> Failed {
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
    let file = ExportFile::seal(&tables, &state.cipher, state.now());
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

/// A file's text, refused past `cap` bytes before it is read into memory.
fn read_capped(path: &Path, cap: u64) -> Result<String, Failed> {
    let unreadable =
        |e: std::io::Error| Failed(Exit::Usage, format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let size = file.metadata().map_err(unreadable)?.len();
    let mut text = String::new();
    file.take(cap + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if size > cap || text.len() as u64 > cap {
        return Err(refused(format!(
            "{}: {}",
            path.display(),
            ExportError::TooLarge {
                size: size.max(text.len() as u64)
            }
        )));
    }
    Ok(text)
}

fn open_file(path: &Path, cipher: &Cipher, trust_unsealed: bool) -> Result<Opened, Failed> {
    let text = read_capped(path, MAX_FILE_BYTES)?;
    ExportFile::open(&text, &path.display().to_string(), cipher, trust_unsealed).map_err(refused)
}

/// How a file's seal reads in a report.
fn seal_note(opened: &Opened) -> &'static str {
    if opened.sealed {
        "sealed and unchanged"
    } else {
        "NOT SEALED (format 1, taken with --trust-unsealed), checksum good"
    }
}

pub async fn import(
    state: &AppState,
    args: &ImportArgs,
    out: &mut impl Write,
) -> Result<(), Failed> {
    let opened = open_file(&args.from, &state.cipher, args.trust_unsealed)?;
    let sealed = opened.open_values(&state.cipher).map_err(refused)?;
    if !args.merge && !dump::is_empty(&state.pool).await.map_err(refused)? {
        return Err(refused(ExportError::NotEmpty));
    }
    let Header {
        console_version,
        exported_at,
        key_id,
        ..
    } = &opened.header;
    writeln!(
        out,
        "{} exported by console {console_version} at {exported_at}; key {key_id}; {}; {sealed} sealed values open.",
        args.from.display(),
        seal_note(&opened),
    )
    .map_err(refused)?;
    if args.dry_run {
        return writeln!(
            out,
            "Dry run, nothing written. Would write: {}.",
            counts(&opened.tables)
        )
        .map_err(refused);
    }
    let report = dump::write_all(&state.pool, &opened.fitted)
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
    let detail = if opened.sealed {
        format!("from {}", args.from.display())
    } else {
        format!(
            "from {} (unsealed, trusted by the operator)",
            args.from.display()
        )
    };
    crate::manage::terminal(state, "imported", None, &detail).await;
    writeln!(out, "Imported: {line}.").map_err(refused)
}

/// Whether `path` is one of the backups [`backup_into`] writes: its name (the prefix, a
/// timestamp, the suffix) and its first bytes (an export's header).
fn is_own_backup(path: &Path) -> bool {
    let stamped = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(BACKUP_PREFIX))
        .and_then(|n| n.strip_suffix(BACKUP_SUFFIX))
        .is_some_and(|stamp| {
            stamp.len() == 16
                && stamp.char_indices().all(|(i, c)| match i {
                    8 => c == 'T',
                    15 => c == 'Z',
                    _ => c.is_ascii_digit(),
                })
        });
    let mut head = [0u8; 64];
    let read = std::fs::File::open(path)
        .and_then(|mut file| file.read(&mut head))
        .unwrap_or(0);
    stamped && head[..read].starts_with(format!("{{\"format\":\"{FORMAT}\"").as_bytes())
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
    let path = dir.join(format!("{BACKUP_PREFIX}{stamp}{BACKUP_SUFFIX}"));
    export_to(state, &path).await?;
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(refused)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_own_backup(p))
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

/// Opens a backup fully (seal, key, schema, every sealed value) and writes nothing anywhere.
pub fn verify(cipher: &Cipher, args: &VerifyArgs, out: &mut impl Write) -> Result<(), Failed> {
    let opened = open_file(&args.file, cipher, args.trust_unsealed)?;
    let sealed = opened.open_values(cipher).map_err(refused)?;
    let Header {
        format_version,
        console_version,
        exported_at,
        key_id,
        ..
    } = &opened.header;
    writeln!(
        out,
        "{}: format {format_version}, console {console_version}, exported {exported_at}, key {key_id}, {}, {sealed} sealed values open. {}.",
        args.file.display(),
        seal_note(&opened),
        counts(&opened.tables)
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
    let ours = console_core::store::try_lease(
        &state.pool,
        LEASE,
        &state.holder,
        now,
        now + schedule.every,
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_past_the_cap_is_refused_before_it_is_read() {
        let path = std::env::temp_dir().join(format!("cc-cap-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, "x".repeat(101)).unwrap();
        let Err(Failed(_, said)) = read_capped(&path, 100) else {
            panic!("read past the cap")
        };
        assert!(said.contains("101 bytes is more than"), "{said}");
        assert!(matches!(read_capped(&path, 101), Ok(text) if text.len() == 101));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn only_files_named_and_made_like_backups_are_backups() {
        let dir = std::env::temp_dir().join(format!("cc-own-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let header = format!("{{\"format\":\"{FORMAT}\",\"format_version\":2}}");
        for (name, text, own) in [
            (
                "concur-console-20261203T101500Z.json",
                header.as_str(),
                true,
            ),
            (
                "concur-console-20261203T101500Z.json.bak",
                header.as_str(),
                false,
            ),
            ("concur-console-notes.json", header.as_str(), false),
            (
                "concur-console-20261203T101500Z.json",
                "{\"mine\":1}",
                false,
            ),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            assert_eq!(is_own_backup(&path), own, "{name}: {text}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
