//! Where a test keeps its data: a SQLite file, or a fresh database on the PostgreSQL cluster
//! that `scripts/with-postgres.sh` starts for `make test`, so one test body runs on both stores.

use std::path::PathBuf;

/// The encryption key every process of a PostgreSQL test shares (PostgreSQL requires one).
const KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

#[derive(Clone)]
pub enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Store {
    pub fn sqlite() -> Self {
        Store::Sqlite(std::env::temp_dir().join(format!("cc-store-{}", uuid::Uuid::new_v4())))
    }

    pub async fn postgres() -> Self {
        let server = std::env::var("CONCUR_TEST_POSTGRES_URL").expect(
            "CONCUR_TEST_POSTGRES_URL is unset: run the tests through `make test` (scripts/with-postgres.sh starts a cluster)",
        );
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&server).await.unwrap();
        let name = format!("cc_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let base = server.rsplit_once('/').unwrap().0;
        Store::Postgres(format!("{base}/{name}"))
    }

    /// The store a whole suite runs on: PostgreSQL when `CONCUR_TEST_STORE=postgres` (the Rust
    /// suite of `make test` runs such suites a second time that way), SQLite otherwise.
    pub async fn chosen() -> Self {
        match std::env::var("CONCUR_TEST_STORE").as_deref() {
            Ok("postgres") => Self::postgres().await,
            _ => Self::sqlite(),
        }
    }

    /// Every byte the store holds: the SQLite files (not the key file), or a data-only
    /// `pg_dump` of the PostgreSQL database. For checking that no secret is stored in clear.
    pub fn contents(&self) -> Vec<u8> {
        match self {
            Store::Sqlite(dir) => {
                let mut raw = Vec::new();
                for entry in std::fs::read_dir(dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.extension().is_none_or(|e| e != "key") {
                        raw.extend(std::fs::read(path).unwrap());
                    }
                }
                raw
            }
            Store::Postgres(url) => {
                let dump = std::process::Command::new("pg_dump")
                    .args(["--data-only", url])
                    .output()
                    .unwrap();
                assert!(dump.status.success(), "{dump:?}");
                dump.stdout
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Store::Sqlite(dir) => format!("sqlite://{}/console.db", dir.display()),
            Store::Postgres(url) => url.clone(),
        }
    }

    /// The console binary on this store (its key included), quiet, its output captured.
    pub fn console(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_concur-console"));
        command
            .args(args)
            .env("DATABASE_URL", self.url())
            .env("RUST_LOG", "warn")
            .env_remove("CONCUR_CONSOLE_KEY")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(key) = self.key() {
            command.env("CONCUR_CONSOLE_KEY", key);
        }
        command
    }

    pub fn key(&self) -> Option<String> {
        matches!(self, Store::Postgres(_)).then(|| KEY.to_owned())
    }
}
