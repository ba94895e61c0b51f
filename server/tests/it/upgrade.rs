//! Upgrades keep every connection: a store an earlier version of the console wrote (a fixture
//! under `fixtures/upgrade/`, made once by `scripts/upgrade-fixture.sh` and never made again)
//! opens with this version — its migrations apply, every row is still there, every sealed value
//! opens with the same key, the keys made then still open their tokens, the admin still signs in.
//! A migration that was changed after it shipped fails here: sqlx refuses a store whose applied
//! migration's checksum differs from the file's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use concur::ManualClock;
use serde_json::{Value, json};

use crate::support::{self, stores::Store};

/// Every fixture folder, oldest first.
fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/upgrade");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no fixture under {}", root.display());
    found
}

/// How many migrations this version has (shared ones and the store's own).
fn migrations(store: &str) -> i64 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let count = |dir: PathBuf| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "sql")
            })
            .count() as i64
    };
    count(root.clone()) + count(root.join(store))
}

/// Rows per table, read straight off the store (for SQLite, before the console opens it).
async fn row_counts(url: &str) -> Vec<(String, i64)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let tables_sql = if url.starts_with("sqlite") {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'connection_search%' ORDER BY name"
    } else {
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    };
    let tables: Vec<String> = sqlx::query_scalar(tables_sql)
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut counts = Vec::new();
    for table in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        counts.push((table, n));
    }
    pool.close().await;
    counts
}

/// The fixture's store, copied or restored where this test may change it.
async fn restore(fixture: &Path, postgres: bool) -> Store {
    if postgres {
        let store = Store::postgres().await;
        let restored = std::process::Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &store.url(), "-f"])
            .arg(fixture.join("postgres.sql"))
            .output()
            .unwrap();
        assert!(restored.status.success(), "{restored:?}");
        store
    } else {
        let store = Store::sqlite();
        let Store::Sqlite(dir) = &store else {
            unreachable!()
        };
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(fixture.join("console.db"), dir.join("console.db")).unwrap();
        store
    }
}

async fn opens_with_everything_in_it(postgres: bool) {
    let kind = if postgres { "postgres" } else { "sqlite" };
    for fixture in fixtures() {
        let made: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("fixture.json")).unwrap())
                .unwrap();
        let at = format!("{} ({kind})", fixture.display());
        let store = restore(&fixture, postgres).await;
        let before = row_counts(&store.url()).await;
        let key = made["key"].as_str().unwrap().to_owned();

        let mut settings = support::settings(store.url(), String::new());
        settings.config.console_key = Some(key.clone());
        let made_at = made["made_at"].as_i64().unwrap();
        let (base, state) = support::serve(settings, Arc::new(ManualClock::at(made_at + 60))).await;

        // Every row is still there; only the record of migrations grew, to this version's.
        let after = row_counts(&store.url()).await;
        for (table, n) in &before {
            let now = after.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
            if table == "_sqlx_migrations" {
                assert_eq!(now, Some(migrations(kind)), "{at}: migrations applied");
            } else {
                assert_eq!(now, Some(*n), "{at}: the rows of {table}");
            }
        }

        // Every sealed value opens with the key it was sealed with.
        let export = std::env::temp_dir().join(format!("cc-upgrade-{}.json", uuid::Uuid::new_v4()));
        let console = |args: &[&str]| {
            let output = store
                .console(args)
                .env("CONCUR_CONSOLE_KEY", &key)
                .output()
                .unwrap();
            assert!(output.status.success(), "{at}: {args:?}: {output:?}");
            String::from_utf8(output.stdout).unwrap()
        };
        console(&["export", "--to", export.to_str().unwrap()]);
        let verified = console(&["verify-backup", export.to_str().unwrap()]);
        std::fs::remove_file(&export).unwrap();
        assert!(verified.contains("connections 2"), "{at}: {verified}");

        // The keys made then open what they opened then.
        let keys = &made[kind];
        let first = keys["connections"][0].as_str().unwrap();
        let http = reqwest::Client::new();
        let call = |method: reqwest::Method, path: &str, key: &str| {
            http.request(method, format!("{base}{path}"))
                .bearer_auth(key.to_owned())
        };
        let key_of = |name: &str| keys[name].as_str().unwrap().to_owned();
        for (path, key) in [
            (
                format!("/api/v1/connections/{first}/token"),
                "connection_key",
            ),
            (
                "/api/v1/connections/by-external-id/tenant-0001/token".to_owned(),
                "fleet_key",
            ),
        ] {
            let answer = call(reqwest::Method::GET, &path, &key_of(key))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 200, "{at}: {key}");
            let body: Value = answer.json().await.unwrap();
            assert!(
                body["access_token"].as_str().is_some_and(|t| !t.is_empty()),
                "{at}: {key}: {body}"
            );
        }
        let listed: Value = call(
            reqwest::Method::GET,
            "/api/v1/connections",
            &key_of("manage_key"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let acme = listed["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == first)
            .unwrap_or_else(|| panic!("{at}: {listed}"));
        assert_eq!(acme["external_id"], "tenant-0001", "{at}");
        assert_eq!(
            acme["tags"],
            json!({"env": "prod", "region": "emea"}),
            "{at}"
        );
        assert_eq!(acme["contact"]["email"], "ada@acme.example", "{at}");
        let refused = call(
            reqwest::Method::PATCH,
            &format!("/api/v1/connections/{first}"),
            &key_of("read_only_key"),
        )
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"name": "renamed"}"#)
        .send()
        .await
        .unwrap();
        assert_eq!(
            refused.status(),
            403,
            "{at}: a read-only key stays read-only"
        );
        let handoff = call(
            reqwest::Method::POST,
            "/api/v1/handoffs",
            &key_of("handoff_key"),
        )
        .json(&json!({"name": "Umbrella", "profile": "expense-approvals"}))
        .send()
        .await
        .unwrap();
        assert_eq!(handoff.status(), 201, "{at}: the hand-off key");

        // The admin of then signs in and sees both connections.
        let browser = support::browser();
        let signed_in = browser
            .post(format!("{base}/api/login"))
            .form(&[
                ("username", made["admin"]["username"].as_str().unwrap()),
                ("password", made["admin"]["password"].as_str().unwrap()),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            signed_in.status().is_success() || signed_in.status().is_redirection(),
            "{at}"
        );
        let dashboard = support::text(&browser, &format!("{base}/")).await;
        for name in ["ACME Travel", "Globex Mileage"] {
            assert!(dashboard.contains(name), "{at}: {name} on the dashboard");
        }
        state.pool.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_versions_sqlite_store_opens_with_everything_in_it() {
    opens_with_everything_in_it(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_versions_postgresql_database_opens_with_everything_in_it() {
    opens_with_everything_in_it(true).await;
}
