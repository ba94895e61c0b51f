//! The pool: connecting (SQLite file under a private data directory, or PostgreSQL),
//! migrations, transactions and readiness. Every room of the store uses it; it uses none.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Executor};

pub type Pool = AnyPool;
pub type Transaction = sqlx::Transaction<'static, Any>;

/// How long a request waits for a database connection.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

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

/// A new, empty database on the throwaway cluster `make test` starts, migrated, for a store
/// test that must hold on PostgreSQL too (`prefix` names it).
#[cfg(test)]
pub(crate) async fn test_postgres(prefix: &str) -> Pool {
    let cluster = std::env::var("CONCUR_TEST_POSTGRES_URL").expect(
        "CONCUR_TEST_POSTGRES_URL is unset: run the tests through `make test` (scripts/with-postgres.sh starts a cluster)",
    );
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&cluster).await.expect("the cluster");
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("a database");
    admin.close().await;
    let base = cluster.rsplit_once('/').expect("a database URL").0;
    connect(&format!("{base}/{name}")).await.expect("store")
}

/// Runs `check` on a new SQLite store, then on a new PostgreSQL database (see
/// [`test_postgres`]; `prefix` names both).
#[cfg(test)]
pub(crate) async fn on_both_stores(prefix: &str, check: impl AsyncFn(&Pool)) {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
    let sqlite = connect(&format!("sqlite://{}/console.db", dir.display()))
        .await
        .expect("store");
    check(&sqlite).await;
    sqlite.close().await;
    std::fs::remove_dir_all(dir).unwrap();
    let postgres = test_postgres(prefix).await;
    check(&postgres).await;
    postgres.close().await;
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
                    // Pages past that cache are read through a map of the file rather than a
                    // read call each (a third of a large fleet's page views went to those
                    // calls): they are the system's file cache, shared and given back under
                    // pressure, not memory of the console's own.
                    conn.execute("PRAGMA mmap_size = 1073741824").await?;
                    refuse_read_only(conn).await?;
                } else {
                    // Each query reads one request's page or count. A parallel plan starts a
                    // worker process for it (13 ms before the first row of a 6 ms management
                    // list); on a small machine under load that halved what the list served,
                    // and no page was faster with them (docs/performance.md).
                    conn.execute("SET max_parallel_workers_per_gather = 0")
                        .await?;
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

    #[tokio::test]
    async fn postgresql_sessions_plan_without_parallel_workers() {
        let pool = test_postgres("cc_pool").await;
        let (workers,): (String,) = sqlx::query_as("SHOW max_parallel_workers_per_gather")
            .fetch_one(&pool)
            .await
            .expect("the setting");
        assert_eq!(workers, "0");
        pool.close().await;
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
