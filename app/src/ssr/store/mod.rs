//! The store: small named queries with explicit columns, portable between SQLite and PostgreSQL
//! (`$n` placeholders, BIGINT times and flags, no vendor functions). The one thing each database
//! does its own way is the search index: `migrations/sqlite/` and `migrations/postgres/` each
//! define a `connection_search (id, text)` relation that the same query reads.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, ConnectOptions, Executor, FromRow};

use crate::model::Status;

mod accounts;
mod alerts;
mod api_keys;
mod audit;
mod leases;

pub use accounts::*;
pub use alerts::*;
pub use api_keys::{
    ApiKeyRow, api_key_by_hash, api_keys, insert_api_key, revoke_api_key, touch_api_key,
};
pub use audit::*;
pub use leases::{release_lease, try_lease};

pub type Pool = AnyPool;

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

fn is_sqlite(pool: &Pool) -> bool {
    pool.connect_options().database_url.scheme() == "sqlite"
}

/// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), waiting
/// behind another process's writer; a deferred one that had read first (a statement whose
/// trigger touches the search index does) is refused at once with "database is locked" when
/// another process wrote meanwhile.
pub async fn begin(pool: &Pool) -> sqlx::Result<sqlx::Transaction<'static, Any>> {
    pool.begin_with(if is_sqlite(pool) {
        "BEGIN IMMEDIATE"
    } else {
        "BEGIN"
    })
    .await
}

/// Whether the database answers and every migration this build knows is applied.
pub async fn ready(pool: &Pool) -> sqlx::Result<bool> {
    let applied: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(pool)
            .await?;
    let known: usize = migrators(is_sqlite(pool))
        .iter()
        .map(|m| m.iter().count())
        .sum();
    Ok(applied >= known as i64)
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
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if sqlite {
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    // WAL with NORMAL sync: commits stay atomic and consistent; only the last
                    // moments before a power cut may be lost, never the database.
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
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
#[derive(Debug, Clone, FromRow)]
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

/// The connections the keep-alive schedule says are due (read off the next-refresh index).
pub async fn due_connection_ids(pool: &Pool, now: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT id FROM connections WHERE next_refresh_at IS NULL OR next_refresh_at <= $1 ORDER BY next_refresh_at, id",
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
/// The matches of a search that are read off the index and sorted here, in one reading.
const SEARCH_FEW: i64 = 2 * PAGE_SIZE;

/// A page of connections, worst first then soonest expiry, optionally narrowed to a week of
/// expiries or to a search over name, Client ID and company UUID.
///
/// The order is found on the narrow index first and only the page's rows are read whole. A
/// search reads the `connection_search` trigram index for the ids of up to `SEARCH_FEW + 1`
/// matches: with no more (a name, a company), the page is sorted from those ids. Otherwise
/// the matches are counted up to `SEARCH_CAP + 1` without being read: with no more than the cap
/// the page is sorted from the index again; with more, matches are frequent enough that
/// walking the dashboard order with the same filter finds a page at once, and the count stops
/// at the cap (counting every match of a fragment present in 100 000 rows costs far more than
/// the page).
pub async fn dashboard_page(
    pool: &Pool,
    search: &str,
    expiring: Option<(i64, i64)>,
    page: i64,
) -> sqlx::Result<(Vec<ConnectionRow>, Matching)> {
    let order = ORDER_SQL;
    let offset = page.clamp(0, MAX_PAGE) * PAGE_SIZE;
    let (ids, total): (Vec<String>, Matching) = if let Some((from, to)) = expiring {
        let window =
            "failing = 0 AND refresh_token_expires_at >= $1 AND refresh_token_expires_at < $2";
        let total = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM connections WHERE {window}"))
            .bind(from)
            .bind(to)
            .fetch_one(pool)
            .await?;
        let ids = sqlx::query_scalar(&format!(
            "SELECT id FROM connections WHERE {window} {order} LIMIT $3 OFFSET $4"
        ))
        .bind(from)
        .bind(to)
        .bind(PAGE_SIZE)
        .bind(offset)
        .fetch_all(pool)
        .await?;
        (ids, Matching::Exactly(total))
    } else if search.is_empty() {
        let ids = sqlx::query_scalar(&format!(
            "SELECT id FROM connections {order} LIMIT $1 OFFSET $2"
        ))
        .bind(PAGE_SIZE)
        .bind(offset)
        .fetch_all(pool)
        .await?;
        (ids, Matching::All)
    } else {
        let pattern = format!("%{}%", search.to_lowercase().replace(['%', '_'], ""));
        let offset = offset.min(SEARCH_CAP);
        // Most searches (a name, a company) match a handful: their ids come from one reading
        // of the index and the page is sorted from them.
        let few: Vec<String> =
            sqlx::query_scalar("SELECT id FROM connection_search WHERE text LIKE $1 LIMIT $2")
                .bind(&pattern)
                .bind(SEARCH_FEW + 1)
                .fetch_all(pool)
                .await?;
        if few.len() as i64 <= SEARCH_FEW {
            let ids = in_dashboard_order(pool, &few, offset).await?;
            (ids, Matching::Exactly(few.len() as i64))
        } else {
            let found = count_matches(pool, &pattern).await?;
            let (filter, total) = if found <= SEARCH_CAP {
                (
                    "id IN (SELECT id FROM connection_search WHERE text LIKE $1)",
                    Matching::Exactly(found),
                )
            } else {
                (
                    "lower(name || ' ' || client_id || ' ' || COALESCE(company_uuid, '')) LIKE $1",
                    Matching::MoreThan(SEARCH_CAP),
                )
            };
            let ids = sqlx::query_scalar(&format!(
                "SELECT id FROM connections WHERE {filter} {order} LIMIT $2 OFFSET $3"
            ))
            .bind(&pattern)
            .bind(PAGE_SIZE)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            (ids, total)
        }
    };
    if ids.is_empty() {
        return Ok((Vec::new(), total));
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {CONNECTION_COLUMNS} FROM connections WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, ConnectionRow>(&sql);
    for id in &ids {
        query = query.bind(id);
    }
    let mut rows = query.fetch_all(pool).await?;
    rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    Ok((rows, total))
}

/// How many connections a search pattern matches, counted up to one past `SEARCH_CAP` without
/// reading them.
async fn count_matches(pool: &Pool, pattern: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM connection_search WHERE text LIKE $1 LIMIT $2) AS capped",
    )
    .bind(pattern)
    .bind(SEARCH_CAP + 1)
    .fetch_one(pool)
    .await
}

/// One page of the given connections, in the dashboard's order.
async fn in_dashboard_order(pool: &Pool, ids: &[String], offset: i64) -> sqlx::Result<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (3..ids.len() + 3).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id FROM connections WHERE id IN ({}) {ORDER_SQL} LIMIT $1 OFFSET $2",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_scalar(&sql).bind(PAGE_SIZE).bind(offset);
    for id in ids {
        query = query.bind(id);
    }
    query.fetch_all(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
