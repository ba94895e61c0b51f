//! The store: small named queries with explicit columns, portable between SQLite and PostgreSQL
//! (`$n` placeholders, BIGINT times and flags, no vendor functions). The one thing each database
//! does its own way is the search index: `migrations/sqlite/` and `migrations/postgres/` each
//! define a `connection_search (id, text)` relation that the same query reads.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Executor, FromRow};

use crate::model::Status;

mod accounts;
mod alerts;
mod api_keys;
mod audit;
pub mod dump;
mod handoffs;
mod leases;

pub use accounts::*;
pub use alerts::*;
pub use api_keys::{
    ApiKeyRow, api_key_by_hash, api_keys, insert_api_key, revocation_count, revoke_api_key,
    touch_api_key,
};
pub use audit::*;
pub use dump::sealed_by_key;
pub use handoffs::*;
pub use leases::{release_lease, try_lease};

pub type Pool = AnyPool;
pub type Transaction = sqlx::Transaction<'static, Any>;

/// The fields a connection's sealed values are sealed for (with its id).
pub const CLIENT_SECRET: &str = "client_secret";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const ACCESS_TOKEN: &str = "access_token";

/// How long a request waits for a database connection.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The rows per dashboard page.
pub const PAGE_SIZE: i64 = 50;
/// The highest page number asked for that is honoured; past it the last pages are empty anyway.
pub const MAX_PAGE: i64 = i64::MAX / PAGE_SIZE / 2;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (it starts with {0:?})")]
    UnsupportedUrl(String),
    #[error("could not create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The migrations every store shares, then those of one database (the search index). Each
/// knows only its own, so each ignores the versions the other applied.
fn migrators(sqlite: bool) -> [Migrator; 2] {
    let mut common = sqlx::migrate!("../migrations");
    let mut own = if sqlite {
        sqlx::migrate!("../migrations/sqlite")
    } else {
        sqlx::migrate!("../migrations/postgres")
    };
    common.set_ignore_missing(true);
    own.set_ignore_missing(true);
    [common, own]
}

pub(crate) fn is_sqlite(pool: &Pool) -> bool {
    pool.connect_options().database_url.scheme() == "sqlite"
}

/// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), waiting
/// behind another process's writer; a deferred one that had read first (a statement whose
/// trigger touches the search index does) is refused at once with "database is locked" when
/// another process wrote meanwhile.
pub async fn begin(pool: &Pool) -> sqlx::Result<Transaction> {
    pool.begin_with(if is_sqlite(pool) {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    })
    .await
}

/// Whether the database answers, takes a write, and has every migration this build knows
/// applied. The write changes a counter: SQLite skips writing a row that does not change.
pub async fn ready(pool: &Pool) -> sqlx::Result<bool> {
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(pool)
            .await?;
    let known: usize = migrators(is_sqlite(pool))
        .iter()
        .map(|m| m.iter().count())
        .sum();
    if applied < known as i64 {
        return Ok(false);
    }
    sqlx::query("UPDATE readiness_probe SET probes = probes + 1 WHERE id = 1")
        .execute(pool)
        .await?;
    Ok(true)
}

/// The refresh-token expiry of every connection that has one: (id, name, expiry).
pub async fn expiries(pool: &Pool) -> sqlx::Result<Vec<(String, String, i64)>> {
    sqlx::query_as(
        "SELECT id, name, refresh_token_expires_at FROM connections WHERE refresh_token_expires_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await
}

/// Where a SQLite database file lives (its directory is the data dir for the key file).
/// Where the console keeps its files (the key file, the setup link): the SQLite database's
/// directory, or `.` with PostgreSQL.
pub fn data_dir(database_url: &str) -> PathBuf {
    sqlite_path(database_url)
        .and_then(|f| f.parent().map(PathBuf::from))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Connects, creates the SQLite file and its directory on first run, applies migrations.
pub async fn connect(url: &str) -> Result<Pool, StoreError> {
    sqlx::any::install_default_drivers();
    let sqlite = url.starts_with("sqlite:");
    if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        let scheme: String = url.chars().take_while(|c| *c != ':').take(20).collect();
        return Err(StoreError::UnsupportedUrl(scheme));
    }
    let mut url = url.to_owned();
    if let Some(path) = sqlite_path(&url) {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|source| StoreError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
        if !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
    }
    let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
    let pool = AnyPoolOptions::new()
        .max_connections(if sqlite { 4 } else { 16 })
        // While the database is away a request waits this long for it, then fails (the token
        // API answers 503 with Retry-After), instead of hanging for sqlx's default 30 seconds.
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A connection still inside a transaction is closed instead of lent out. When SQLite
        // cannot write (a full disk, a file made read-only) a failed COMMIT has already rolled
        // back, sqlx's ROLLBACK then fails too, and the connection would refuse every later
        // transaction ("non-zero transaction depth") until the console restarts.
        .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    // WAL with NORMAL sync: commits stay atomic and consistent; only the last
                    // moments before a power cut may be lost, never the database.
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    // 1 MiB of page cache per connection instead of 2: the operating system
                    // caches the file as well, and the console stays small with large fleets.
                    conn.execute("PRAGMA cache_size = -1024").await?;
                    refuse_read_only(conn).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    if sqlite {
        pool.execute("PRAGMA journal_mode = WAL").await?;
    }
    for migrator in migrators(sqlite) {
        migrator.run(&pool).await?;
    }
    if let Some(path) = sqlite_path(&url) {
        restrict_files(&path).map_err(|source| StoreError::DataDir {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(pool)
}

/// Fails for a SQLite connection that cannot write. SQLite opens a file it may not write
/// read-only without a word, and such a connection stays read-only after the file is writable
/// again: refused, the pool opens another one later, and the console recovers without a
/// restart. The write is rolled back, so nothing reaches the file.
async fn refuse_read_only(conn: &mut sqlx::AnyConnection) -> sqlx::Result<()> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?;
    conn.execute("BEGIN IMMEDIATE").await?;
    let written = conn
        .execute(format!("PRAGMA user_version = {version}").as_str())
        .await;
    conn.execute("ROLLBACK").await?;
    written.map(drop)
}

/// Creates the data directory readable by its owner only (an existing one is left as it is).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The database file and its WAL companions: owner only.
fn restrict_files(db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

pub async fn setting(pool: &Pool, name: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await
}

pub async fn put_setting(pool: &Pool, name: &str, value: &str) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
        .bind(name)
        .bind(value)
        .execute(pool)
        .await
        .map(|_| ())
}

/// Sets a setting, or removes it when `value` is None.
pub async fn set_setting(pool: &Pool, name: &str, value: Option<&str>) -> sqlx::Result<()> {
    match value {
        Some(value) => sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(pool)
        .await
        .map(|_| ()),
        None => sqlx::query("DELETE FROM settings WHERE name = $1")
            .bind(name)
            .execute(pool)
            .await
            .map(|_| ()),
    }
}

// ---- connections ----

pub(super) const CONNECTION_COLUMNS: &str = "id, name, client_id, authorization_url, geolocation, company_uuid, scope_profile, required_scopes, granted_scopes, failing, last_problem, refresh_token_expires_at, access_token_expires_at, last_checked_at, last_ok_at, client_secret_sealed, refresh_token_sealed, client_secret_mask, refresh_token_mask, created_at, updated_at, access_token_sealed, next_refresh_at, transient_failures, next_step";

/// A stored connection; the secrets are sealed (see `crypto`).
#[derive(Debug, Clone, Default, FromRow)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub authorization_url: String,
    pub geolocation: Option<String>,
    pub company_uuid: Option<String>,
    pub scope_profile: String,
    pub required_scopes: String,
    pub granted_scopes: String,
    pub failing: i64,
    pub last_problem: Option<String>,
    pub refresh_token_expires_at: Option<i64>,
    pub access_token_expires_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub last_ok_at: Option<i64>,
    pub client_secret_sealed: String,
    pub refresh_token_sealed: String,
    pub client_secret_mask: String,
    pub refresh_token_mask: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub access_token_sealed: Option<String>,
    pub next_refresh_at: Option<i64>,
    pub transient_failures: i64,
    pub next_step: Option<String>,
}

impl ConnectionRow {
    pub fn status(&self, now: i64) -> Status {
        Status::of(self.failing != 0, self.refresh_token_expires_at, now)
    }
}

pub async fn connection(pool: &Pool, id: &str) -> sqlx::Result<Option<ConnectionRow>> {
    sqlx::query_as(&format!(
        "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The columns every write of a connection sets: all but id, name and creation time.
const MUTABLE_COLUMNS: [&str; 22] = [
    "client_id",
    "authorization_url",
    "geolocation",
    "company_uuid",
    "scope_profile",
    "required_scopes",
    "granted_scopes",
    "failing",
    "last_problem",
    "refresh_token_expires_at",
    "access_token_expires_at",
    "last_checked_at",
    "last_ok_at",
    "client_secret_sealed",
    "refresh_token_sealed",
    "client_secret_mask",
    "refresh_token_mask",
    "updated_at",
    "access_token_sealed",
    "next_refresh_at",
    "transient_failures",
    "next_step",
];

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds [`MUTABLE_COLUMNS`] in order.
fn bind_mutable<'q>(query: AnyQuery<'q>, row: &'q ConnectionRow) -> AnyQuery<'q> {
    query
        .bind(&row.client_id)
        .bind(&row.authorization_url)
        .bind(&row.geolocation)
        .bind(&row.company_uuid)
        .bind(&row.scope_profile)
        .bind(&row.required_scopes)
        .bind(&row.granted_scopes)
        .bind(row.failing)
        .bind(&row.last_problem)
        .bind(row.refresh_token_expires_at)
        .bind(row.access_token_expires_at)
        .bind(row.last_checked_at)
        .bind(row.last_ok_at)
        .bind(&row.client_secret_sealed)
        .bind(&row.refresh_token_sealed)
        .bind(&row.client_secret_mask)
        .bind(&row.refresh_token_mask)
        .bind(row.updated_at)
        .bind(&row.access_token_sealed)
        .bind(row.next_refresh_at)
        .bind(row.transient_failures)
        .bind(&row.next_step)
}

/// Writes a connection: every column when new, otherwise all but the name and creation time
/// (renaming is its own write, so a refresh never undoes a rename).
pub async fn upsert_connection<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    row: &ConnectionRow,
    is_new: bool,
) -> sqlx::Result<()> {
    if is_new {
        let placeholders: Vec<String> = (4..4 + MUTABLE_COLUMNS.len())
            .map(|i| format!("${i}"))
            .collect();
        let sql = format!(
            "INSERT INTO connections (id, name, created_at, {}) VALUES ($1, $2, $3, {})",
            MUTABLE_COLUMNS.join(", "),
            placeholders.join(", ")
        );
        let query = sqlx::query(&sql)
            .bind(&row.id)
            .bind(&row.name)
            .bind(row.created_at);
        bind_mutable(query, row).execute(executor).await?;
    } else {
        let sets: Vec<String> = MUTABLE_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 2))
            .collect();
        let sql = format!("UPDATE connections SET {} WHERE id = $1", sets.join(", "));
        bind_mutable(sqlx::query(&sql).bind(&row.id), row)
            .execute(executor)
            .await?;
    }
    Ok(())
}

pub async fn rename_connection(pool: &Pool, id: &str, name: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE connections SET name = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_connection(pool: &Pool, id: &str) -> sqlx::Result<bool> {
    let mut tx = begin(pool).await?;
    for table in ["validations", "api_keys", "refresh_leases"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE connection_id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query("DELETE FROM connections WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 1 {
        api_keys::count_revocation(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// One check's record in a connection's history.
#[derive(Debug, Clone, FromRow)]
pub struct ValidationRow {
    pub id: String,
    pub connection_id: String,
    pub at: i64,
    pub ok: i64,
    pub diagnosis: Option<String>,
    pub message: String,
    pub concur_code: Option<i64>,
    pub correlation_id: Option<String>,
    pub duration_ms: i64,
    /// Who asked: `validate`, `keep-alive` or `token-api`.
    pub source: String,
    /// Set when this check moved the connection into or out of `failing`.
    pub status_change: Option<String>,
}

pub async fn insert_validation<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    v: &ValidationRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO validations (id, connection_id, at, ok, diagnosis, message, concur_code, correlation_id, duration_ms, source, status_change) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&v.id)
    .bind(&v.connection_id)
    .bind(v.at)
    .bind(v.ok)
    .bind(&v.diagnosis)
    .bind(&v.message)
    .bind(v.concur_code)
    .bind(&v.correlation_id)
    .bind(v.duration_ms)
    .bind(&v.source)
    .bind(&v.status_change)
    .execute(executor)
    .await
    .map(|_| ())
}

pub async fn history(
    pool: &Pool,
    connection_id: &str,
    limit: i64,
) -> sqlx::Result<Vec<ValidationRow>> {
    sqlx::query_as(
        "SELECT id, connection_id, at, ok, diagnosis, message, concur_code, correlation_id, duration_ms, source, status_change FROM validations WHERE connection_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(connection_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The connections the keep-alive schedule says are due (read off the next-refresh index), each
/// with the data centre its token calls go to.
pub async fn due_connections(pool: &Pool, now: i64) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT id, COALESCE(geolocation, authorization_url) FROM connections WHERE next_refresh_at IS NULL OR next_refresh_at <= $1 ORDER BY next_refresh_at, id",
    )
    .bind(now)
    .fetch_all(pool)
    .await
}

/// Every connection, whole, by name (for the command line).
pub async fn all_connections(pool: &Pool) -> sqlx::Result<Vec<ConnectionRow>> {
    sqlx::query_as(&format!(
        "SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY name, id"
    ))
    .fetch_all(pool)
    .await
}

/// What the dashboard shows of a connection: no secrets, nothing it does not list.
#[derive(Debug, Clone, FromRow)]
pub struct DashboardRow {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub company_uuid: Option<String>,
    pub failing: i64,
    pub refresh_token_expires_at: Option<i64>,
    pub last_checked_at: Option<i64>,
}

const DASHBOARD_COLUMNS: &str =
    "id, name, client_id, company_uuid, failing, refresh_token_expires_at, last_checked_at";

impl From<&ConnectionRow> for DashboardRow {
    fn from(row: &ConnectionRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            client_id: row.client_id.clone(),
            company_uuid: row.company_uuid.clone(),
            failing: row.failing,
            refresh_token_expires_at: row.refresh_token_expires_at,
            last_checked_at: row.last_checked_at,
        }
    }
}

/// The status of a row as SQL, with the same bands as [`Status::of`]: `$1` is now.
const STATUS_SQL: &str = "CASE WHEN failing <> 0 THEN 'failing' WHEN refresh_token_expires_at IS NULL THEN 'unknown' WHEN refresh_token_expires_at <= $1 THEN 'expired' WHEN refresh_token_expires_at < $1 + 8 * 86400 THEN 'critical' WHEN refresh_token_expires_at < $1 + 31 * 86400 THEN 'expiring' ELSE 'healthy' END";

/// What needs a human first: failing, then by expiry (expired, critical, expiring, healthy),
/// unknown expiry last. The same expressions as the `connections_by_band` index, so a page is
/// read off the index instead of sorting every row.
const ORDER_SQL: &str =
    "ORDER BY failing DESC, COALESCE(refresh_token_expires_at, 9223372036854775807), name, id";

/// Seconds in a week, the width of one bar of the expiry timeline.
pub const WEEK: i64 = 7 * 86_400;
/// Bars in the expiry timeline.
pub const TIMELINE_WEEKS: i64 = 26;

/// How many working refresh tokens expire in each of the next 26 weeks: (week, count), in one
/// aggregate over the expiry index.
pub async fn expiry_timeline(pool: &Pool, now: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT (refresh_token_expires_at - $1) / $2 AS week, COUNT(*) FROM connections \
         WHERE failing = 0 AND refresh_token_expires_at > $1 AND refresh_token_expires_at < $1 + $2 * $3 \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(now)
    .bind(WEEK)
    .bind(TIMELINE_WEEKS)
    .fetch_all(pool)
    .await
}

/// Counts per status, in one aggregate.
pub async fn status_counts(pool: &Pool, now: i64) -> sqlx::Result<Vec<(Status, i64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT {STATUS_SQL} AS status, COUNT(*) FROM connections GROUP BY 1"
    ))
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(Status::ALL
        .iter()
        .map(|s| {
            let n = rows
                .iter()
                .find(|(k, _)| k == s.key())
                .map_or(0, |(_, n)| *n);
            (*s, n)
        })
        .collect())
}

/// How many connections a dashboard page was picked from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Every connection: the caller knows the total from the counts.
    All,
    Exactly(i64),
    /// More than this many match a search; only that many can be paged through.
    MoreThan(i64),
}

/// The matches of a search that are counted and paged through; past it, the page is found by
/// walking the dashboard order instead.
pub const SEARCH_CAP: i64 = 1000;
/// The matches of a search whose ids are read off the index in one reading, the page then
/// picked from those ids.
const SEARCH_FEW: i64 = 2 * PAGE_SIZE;

/// A page of connections, worst first then soonest expiry, optionally narrowed to a week of
/// expiries or to a search over name, Client ID and company UUID.
///
/// Each page is one query for the few columns the dashboard lists, walked off the
/// `connections_by_band` index (offsets skip index entries, not rows). A search first reads
/// the ids of up to `SEARCH_FEW + 1` matches off an index (see [`Matcher`]): with no more (a
/// name, a company), the page is picked from those ids. Otherwise the matches are counted up to
/// `SEARCH_CAP + 1` without being read: with no more than the cap the page is picked from the
/// index again; with more, matches are frequent enough that walking the dashboard order with
/// the same filter finds a page at once, and the count stops at the cap (counting every match
/// of a fragment present in 100 000 rows costs far more than the page).
pub async fn dashboard_page(
    pool: &Pool,
    search: &str,
    expiring: Option<(i64, i64)>,
    page: i64,
) -> sqlx::Result<(Vec<DashboardRow>, Matching)> {
    let offset = page.clamp(0, MAX_PAGE) * PAGE_SIZE;
    if let Some((from, to)) = expiring {
        let window = "WHERE failing = 0 AND refresh_token_expires_at >= $1 AND refresh_token_expires_at < $2";
        let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM connections {window}"))
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?;
        let rows = sqlx::query_as(&page_sql(window, 2))
            .bind(from)
            .bind(to)
            .bind(PAGE_SIZE)
            .bind(offset)
            .fetch_all(pool)
            .await?;
        return Ok((rows, Matching::Exactly(total)));
    }
    let Some(matcher) = Matcher::of(search) else {
        let rows = sqlx::query_as(&page_sql("", 0))
            .bind(PAGE_SIZE)
            .bind(offset)
            .fetch_all(pool)
            .await?;
        return Ok((rows, Matching::All));
    };
    let offset = offset.min(SEARCH_CAP);
    let values = matcher.values();
    let next = values.len() + 1;
    let few_sql = matcher.ids(&format!("${next}"));
    let mut few = sqlx::query_scalar(&few_sql);
    for value in &values {
        few = few.bind(*value);
    }
    let few: Vec<String> = few.bind(SEARCH_FEW + 1).fetch_all(pool).await?;
    if few.len() as i64 <= SEARCH_FEW {
        let total = Matching::Exactly(few.len() as i64);
        if few.is_empty() {
            return Ok((Vec::new(), total));
        }
        let placeholders: Vec<String> = (1..=few.len()).map(|i| format!("${i}")).collect();
        let sql = page_sql(
            &format!("WHERE id IN ({})", placeholders.join(", ")),
            few.len(),
        );
        let mut rows = sqlx::query_as(&sql);
        for id in &few {
            rows = rows.bind(id);
        }
        let rows = rows.bind(PAGE_SIZE).bind(offset).fetch_all(pool).await?;
        return Ok((rows, total));
    }
    let count_sql = format!(
        "SELECT COUNT(*) FROM ({}) AS capped",
        matcher.ids(&format!("${next}"))
    );
    let mut count = sqlx::query_scalar(&count_sql);
    for value in &values {
        count = count.bind(*value);
    }
    let found: i64 = count.bind(SEARCH_CAP + 1).fetch_one(pool).await?;
    let (filter, total) = if found <= SEARCH_CAP {
        (
            format!("WHERE {}", matcher.filter()),
            Matching::Exactly(found),
        )
    } else {
        (
            format!("WHERE {}", matcher.walked(is_sqlite(pool))),
            Matching::MoreThan(SEARCH_CAP),
        )
    };
    // Planned for the values at hand, never cached with a generic plan: on PostgreSQL, how
    // many rows the search matches decides whether walking the dashboard order or reading the
    // matches and sorting them is cheaper.
    let sql = page_sql(&filter, values.len());
    let mut rows = sqlx::query_as(&sql).persistent(false);
    for value in &values {
        rows = rows.bind(*value);
    }
    let rows = rows.bind(PAGE_SIZE).bind(offset).fetch_all(pool).await?;
    Ok((rows, total))
}

/// The dashboard page of the connections `filter` keeps, in the dashboard's order: bind the
/// filter's `bound` values (`$1`…), then the page size and the offset.
fn page_sql(filter: &str, bound: usize) -> String {
    format!(
        "SELECT {DASHBOARD_COLUMNS} FROM connections {filter} {ORDER_SQL} LIMIT ${} OFFSET ${}",
        bound + 1,
        bound + 2
    )
}

/// How a search term finds its connections.
#[derive(Debug, PartialEq, Eq)]
enum Matcher {
    /// Any fragment, anywhere in the name, Client ID or company UUID: a `LIKE` pattern read off
    /// the `connection_search` trigram index.
    Fragment(String),
    /// The beginning of a UUID (at least its first eight digits), as someone pastes a Client ID
    /// or a company UUID: the ids that start with it, read off their b-tree indexes as a range
    /// from the prefix to the prefix followed by `g` (a letter, so it sorts after every hex
    /// digit in any collation). A trigram index would read every match of a Client ID that
    /// thousands of connections share.
    IdPrefix { from: String, to: String },
}

impl Matcher {
    /// The matcher for a search box's text; `None` for an empty search.
    fn of(search: &str) -> Option<Self> {
        let term = search.to_lowercase();
        if term.is_empty() {
            return None;
        }
        if is_uuid_prefix(&term) {
            let to = format!("{term}g");
            return Some(Self::IdPrefix { from: term, to });
        }
        Some(Self::Fragment(format!(
            "%{}%",
            term.replace(['%', '_'], "")
        )))
    }

    /// The values the SQL below binds, as `$1`, `$2`…
    fn values(&self) -> Vec<&str> {
        match self {
            Self::Fragment(pattern) => vec![pattern],
            Self::IdPrefix { from, to } => vec![from, to],
        }
    }

    /// The ids of matching connections, read off an index: at most `limit` (a placeholder),
    /// or twice that for a prefix (its Client IDs, then its company UUIDs, each read in one
    /// range that stops at the limit).
    fn ids(&self, limit: &str) -> String {
        match self {
            Self::Fragment(_) => {
                format!("SELECT id FROM connection_search WHERE text LIKE $1 LIMIT {limit}")
            }
            Self::IdPrefix { .. } => format!(
                "SELECT id FROM (SELECT id FROM connections WHERE {CLIENT_ID_PREFIX} LIMIT {limit}) AS by_client \
                 UNION ALL SELECT id FROM (SELECT id FROM connections WHERE {COMPANY_PREFIX} AND NOT {CLIENT_ID_PREFIX} LIMIT {limit}) AS by_company"
            ),
        }
    }

    /// The matching connections, for a search with few enough matches to sort them.
    fn filter(&self) -> String {
        match self {
            Self::Fragment(_) => {
                "id IN (SELECT id FROM connection_search WHERE text LIKE $1)".into()
            }
            Self::IdPrefix { .. } => format!("({CLIENT_ID_PREFIX} OR {COMPANY_PREFIX})"),
        }
    }

    /// The same test for a walk of the dashboard order, checked row by row. PostgreSQL plans
    /// each search for its values with statistics, and walks the order index itself when the
    /// matches are frequent; SQLite has no statistics and, offered an index for the test,
    /// would read every match and sort them, so there the test is written so that no index
    /// answers it.
    fn walked(&self, sqlite: bool) -> String {
        match self {
            Self::Fragment(_) => {
                "lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, '')) LIKE $1".into()
            }
            Self::IdPrefix { .. } if sqlite => {
                "(client_id || '' >= $1 AND client_id || '' < $2 OR company_uuid || '' >= $1 AND company_uuid || '' < $2)".into()
            }
            Self::IdPrefix { .. } => self.filter(),
        }
    }
}

/// A Client ID from `$1` (included) to `$2` (excluded).
const CLIENT_ID_PREFIX: &str = "(client_id >= $1 AND client_id < $2)";
/// A company UUID from `$1` (included) to `$2` (excluded).
const COMPANY_PREFIX: &str = "(company_uuid >= $1 AND company_uuid < $2)";

/// Whether `term` is the start of a lowercase UUID, eight digits or more: the first group's
/// hex digits, then dashes exactly where a UUID has them.
fn is_uuid_prefix(term: &str) -> bool {
    const DASHES: [usize; 4] = [8, 13, 18, 23];
    (8..=36).contains(&term.len())
        && term.bytes().enumerate().all(|(i, b)| {
            if DASHES.contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_of_a_uuid_is_searched_as_a_prefix_and_anything_else_as_a_fragment() {
        let prefix = |from: &str| Matcher::IdPrefix {
            from: from.into(),
            to: format!("{from}g"),
        };
        assert_eq!(Matcher::of("0A1B2C3D"), Some(prefix("0a1b2c3d")));
        assert_eq!(Matcher::of("0a1b2c3d-"), Some(prefix("0a1b2c3d-")));
        let whole = "0a1b2c3d-4e5f-4a7b-8c9d-0e1f2a3b4c5d";
        assert_eq!(Matcher::of(whole), Some(prefix(whole)));
        for fragment in [
            "0a1b2c3",
            "deadbeefcafe",
            "0a1b2c3d-4e5f4",
            "4e5f-4a7b",
            "0a1b2c3g",
        ] {
            assert_eq!(
                Matcher::of(fragment),
                Some(Matcher::Fragment(format!("%{fragment}%"))),
                "{fragment}"
            );
        }
        assert_eq!(
            Matcher::of(&format!("{whole}0")),
            Some(Matcher::Fragment(format!("%{whole}0%")))
        );
        assert_eq!(
            Matcher::of("50%_off"),
            Some(Matcher::Fragment("%50off%".into()))
        );
        assert_eq!(Matcher::of(""), None);
    }

    #[test]
    fn an_unsupported_url_never_shows_its_password() {
        let message = connect_error("mysql://user:hunter2@db/console");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("mysql"));
    }

    fn connect_error(url: &str) -> String {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(connect(url))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn the_data_directory_and_database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cc-modes-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}/data/console.db", dir.display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let pool = connect(&url).await.unwrap();
            pool.close().await;
        });
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("data")), 0o700);
        assert_eq!(mode(&dir.join("data/console.db")), 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/concur-console.db"),
            Some(PathBuf::from("data/concur-console.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://db/console"), None);
    }
}
