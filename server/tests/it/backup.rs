//! Export, import and backups: a file taken while `serve` answers the token API moves the whole
//! console from SQLite to PostgreSQL, where the keys made before still get tokens; damaged,
//! foreign, newer and misplaced files are refused with nothing written; backups rotate and are
//! verified without touching a database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use concur::{Clock, ManualClock};
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::connections::metadata::Selector;
use console_core::state::AppState;
use console_core::store::dump;
use console_model::Role;
use server::backup::{ExportFile, ImportArgs};
use stores::Store;

use crate::support::{self, stores};

struct Source {
    base: String,
    state: AppState,
    store: Store,
    sim: Simulator,
    /// An API key made before the move, and its connection.
    key: String,
    connection: String,
}

/// A console with a bit of everything: accounts, connections with history, an API key, a
/// waiting hand-off link, an invitation, alert settings, audit rows.
async fn source(store: Store) -> Source {
    let sim = Simulator::spawn().await.unwrap();
    let mut settings = support::settings_for(&store, sim.allowed_hosts());
    // The export below runs under one test's token load, not an abuser's.
    settings.api_rate_per_minute = 10_000_000;
    let (base, state) = support::serve(settings, Arc::new(ManualClock::at(sim.now()))).await;
    support::person(&state, "a1", "root", Role::Admin).await;
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let mut ids = Vec::new();
    for name in ["Moved – ACME", "Moved – Globex"] {
        let form = support::refresh_form(&sim, &company, (&client_id, &secret), name);
        ids.push(
            console_core::connections::create(&state, form)
                .await
                .unwrap(),
        );
    }
    let tagged = console_core::connections::fleet::Change {
        tags: Some("env=prod\nregion=emea".into()),
        ..Default::default()
    };
    console_core::connections::fleet::change(&state, &ids[1], &tagged)
        .await
        .unwrap();
    let key = console_core::api_keys::create(&state, &ids[0], "bot")
        .await
        .unwrap()
        .key;
    let link = console_core::handoffs::NewHandoff {
        name: "Initech".into(),
        profile: "expense-approvals".into(),
        ..Default::default()
    };
    console_core::handoffs::create(&state, &link, "root")
        .await
        .unwrap();
    console_core::people::invite(&state, Role::Editor, "root")
        .await
        .unwrap();
    let channels = console_core::alerts::ChannelForm {
        webhook_url: "https://hooks.example/concur".into(),
        webhook_secret: "hook secret that is long".into(),
        webhook_remove: false,
        smtp_url: String::new(),
        email_from: String::new(),
        email_to: String::new(),
    };
    console_core::alerts::save_settings(&state, &channels)
        .await
        .unwrap();
    Source {
        base,
        state,
        store,
        sim,
        key,
        connection: ids[0].clone(),
    }
}

/// The console binary on `store`, with `key` instead of the store's own when given.
fn command(store: &Store, key: Option<String>, args: &[&str]) -> std::process::Output {
    let mut command = store.console(args);
    if let Some(key) = key {
        command.env("CONCUR_CONSOLE_KEY", key);
    }
    command.output().unwrap()
}

/// The SQLite console's key, from its key file (what an operator copies into
/// `CONCUR_CONSOLE_KEY` to move to PostgreSQL).
fn key_file_of(store: &Store) -> String {
    let url = store.url();
    let db = console_core::store::sqlite_path(&url).unwrap();
    std::fs::read_to_string(db.parent().unwrap().join("console.key"))
        .unwrap()
        .trim()
        .to_owned()
}

async fn token(base: &str, id: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/connections/{id}/token"))
        .bearer_auth(key)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// The key a store's console uses: PostgreSQL's from the environment, SQLite's from its file.
fn key_of(store: &Store) -> String {
    store.key().unwrap_or_else(|| key_file_of(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_taken_under_load_moves_sqlite_to_postgresql() {
    moves(Store::sqlite(), Store::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_taken_under_load_moves_postgresql_to_sqlite() {
    moves(Store::postgres().await, Store::sqlite()).await;
}

async fn moves(from_store: Store, to: Store) {
    let from = source(from_store).await;
    // The token API under load while the export reads.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let failed: Arc<std::sync::Mutex<Vec<u16>>> = Arc::default();
    let mut load = Vec::new();
    for _ in 0..4 {
        let (base, id, key) = (from.base.clone(), from.connection.clone(), from.key.clone());
        let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match token(&base, &id, &key).await {
                    200 => {
                        served.fetch_add(1, Ordering::Relaxed);
                    }
                    status => failed.lock().unwrap().push(status),
                }
            }
        }));
    }
    let dir = std::env::temp_dir().join(format!("cc-export-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("console.json");
    let exported = tokio::task::spawn_blocking({
        let (store, file) = (from.store.clone(), file.clone());
        move || command(&store, None, &["export", "--to", file.to_str().unwrap()])
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(exported.status.success(), "{exported:?}");
    assert!(String::from_utf8_lossy(&exported.stdout).contains("connections 2"));
    let failed = failed.lock().unwrap().clone();
    assert!(failed.is_empty(), "no token request failed: {failed:?}");
    assert!(served.load(Ordering::Relaxed) > 0);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    for secret in [
        "hook secret that is long",
        "https://hooks.example",
        &from.key,
    ] {
        assert!(!text.contains(secret), "no secret in clear in the file");
    }

    // Into the other store, with the first console's key.
    let key = key_of(&from.store);
    let dry = command(
        &to,
        Some(key.clone()),
        &["import", "--from", file.to_str().unwrap(), "--dry-run"],
    );
    assert!(dry.status.success(), "{dry:?}");
    assert!(String::from_utf8_lossy(&dry.stdout).contains("nothing written"));
    let imported = command(
        &to,
        Some(key.clone()),
        &["import", "--from", file.to_str().unwrap()],
    );
    assert!(imported.status.success(), "{imported:?}");
    assert!(String::from_utf8_lossy(&imported.stdout).contains("Imported: admins 1"));

    let mut settings = support::settings(to.url(), from.sim.allowed_hosts());
    settings.config.console_key = Some(key);
    let (base, moved) = support::serve(settings, Arc::new(ManualClock::at(from.sim.now()))).await;
    let (before, after) = (
        dump::read_all(&from.state.pool).await.unwrap(),
        dump::read_all(&moved.pool).await.unwrap(),
    );
    // Each side's log also says it exported or imported; the rest is the same.
    let moved_rows = |rows: &Vec<dump::Row>| -> Vec<dump::Row> {
        rows.iter()
            .filter(|r| !["exported", "imported"].contains(&r["kind"].as_str().unwrap_or_default()))
            .cloned()
            .collect()
    };
    for (table, _) in dump::TABLES {
        let (b, a) = if *table == "audit_events" {
            (moved_rows(&before[*table]), moved_rows(&after[*table]))
        } else {
            (before[*table].clone(), after[*table].clone())
        };
        assert_eq!(a.len(), b.len(), "{table}");
        for (row_b, row_a) in b.iter().zip(&a) {
            assert_eq!(row_a, row_b, "{table}: field by field");
        }
    }
    // Each connection's list of its tags is rebuilt from the moved tags: a filter finds it.
    let query = console_core::connections::fleet::Query {
        selector: Selector::of_pairs(["env=prod", "region=emea"]).unwrap(),
        ..Default::default()
    };
    let board = console_core::connections::dashboard(&moved, "", None, 0, &query)
        .await
        .unwrap();
    let found: Vec<_> = board
        .rows
        .iter()
        .map(|r| (r.name.as_str(), &r.tags))
        .collect();
    let tags = vec![
        ("env".to_owned(), "prod".to_owned()),
        ("region".to_owned(), "emea".to_owned()),
    ];
    assert_eq!(found, [("Moved – Globex", &tags)]);
    assert_eq!(
        moved.cipher.key_id(),
        from.state.cipher.key_id(),
        "the sealed values open on the other side"
    );
    assert_eq!(
        token(&base, &from.connection, &from.key).await,
        200,
        "an old key gets a token"
    );
    let webhook = console_core::alerts::effective(&moved)
        .await
        .unwrap()
        .webhook
        .unwrap();
    assert_eq!(webhook.secret, "hook secret that is long");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A format-1 (unsealed) export of `tables`, as anyone could write one: the plain checksum
/// recomputed.
fn unsealed(key_id: &str, tables: serde_json::Value) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(serde_json::to_vec(&tables).unwrap());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    serde_json::json!({
        "format": server::backup::FORMAT,
        "format_version": 1,
        "console_version": "0.1.0",
        "exported_at": "2026-11-30T00:00:00Z",
        "key_id": key_id,
        "checksum": format!("sha256:{hex}"),
        "tables": tables,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_unsealed_unfit_foreign_newer_and_misplaced_files_are_refused_with_nothing_written()
{
    let from = source(Store::chosen().await).await;
    let tables = dump::read_all(&from.state.pool).await.unwrap();
    let good = serde_json::to_string(&ExportFile::seal(&tables, &from.state.cipher, 0)).unwrap();
    for clear in [
        "Moved – ACME",
        "Initech",
        "root",
        "$argon2id$",
        "hooks.example",
    ] {
        assert!(!good.contains(clear), "{clear} lies in clear in the export");
    }
    let key_id = from.state.cipher.key_id().to_owned();
    let dir = std::env::temp_dir().join(format!("cc-refused-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    // One character of the sealed content changed, and the header's claims changed.
    let sealed: serde_json::Value = serde_json::from_str(&good).unwrap();
    let sealed = sealed["sealed"].as_str().unwrap().to_owned();
    let middle = sealed.len() / 2;
    let flipped = if &sealed[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let changed = format!("{}{flipped}{}", &sealed[..middle], &sealed[middle + 1..]);
    let tampered = write("tampered.json", &good.replacen(&sealed, &changed, 1));
    let relabelled = write(
        "relabelled.json",
        &good.replacen("\"exported_at\":\"", "\"exported_at\":\"1", 1),
    );
    let newer = write(
        "newer.json",
        &good.replacen("\"format_version\":2", "\"format_version\":3", 1),
    );
    let garbage = write("garbage.json", "{\"format\":\"something else\"}");
    let fine = write("fine.json", &good);
    // What anyone who can write a format-1 file could do: an admin of their choosing, names
    // pasted into SQL, numbers that do not fit, values of the wrong kind, unknown tables.
    let admin = serde_json::json!({"admins": [{
        "id": "forged", "username": "forged", "password_hash": "$argon2id$forged",
        "created_at": 0, "role": "admin"
    }]});
    let forged = write("forged.json", &unsealed(&key_id, admin.clone()));
    let unfit = [
        (
            serde_json::json!({"admins": [{"id": "x", "username) VALUES ('a') ON CONFLICT (id) DO UPDATE SET role = 'admin' --": "y"}]}),
            "a column this console does not know: admins.\"username) VALUES",
        ),
        (
            serde_json::json!({"sessions": [{"id": "x"}]}),
            "a table this console does not know: \"sessions\"",
        ),
        (
            serde_json::json!({"connections": [{"id": "c", "failing": 18446744073709551615u64}]}),
            "connections.failing of row 1: 18446744073709551615 is not a whole number that fits in 64 bits",
        ),
        (
            serde_json::json!({"connections": [{"id": "c", "failing": 1.5}]}),
            "connections.failing of row 1: 1.5 is not a whole number",
        ),
        (
            serde_json::json!({"admins": [{"id": "x", "role": ["admin"]}]}),
            "admins.role of row 1: a list where text or a whole number belongs",
        ),
    ];

    // An empty console with the same key (both stores need one to share it).
    let target = Store::chosen().await;
    let mut settings = support::settings(target.url(), String::new());
    settings.config.console_key = Some(match &from.store {
        Store::Sqlite(_) => key_file_of(&from.store),
        Store::Postgres(_) => from.store.key().unwrap(),
    });
    let (_, empty) = support::serve(settings, Arc::new(ManualClock::at(0))).await;
    let import = |path: &std::path::Path, merge: bool, trust_unsealed: bool| {
        let args = ImportArgs {
            from: path.to_owned(),
            dry_run: false,
            merge,
            trust_unsealed,
        };
        let state = empty.clone();
        async move {
            let mut out = Vec::new();
            server::backup::import(&state, &args, &mut out)
                .await
                .map(|()| String::from_utf8(out).unwrap())
                .map_err(|e| e.1)
        }
    };
    let mut refusals = vec![
        (
            tampered,
            false,
            "this file was changed after export".to_owned(),
        ),
        (
            relabelled,
            false,
            "this file was changed after export".to_owned(),
        ),
        (
            newer,
            false,
            "format 3, newer than this console reads (2)".to_owned(),
        ),
        (garbage, false, "is not a Concur Console export".to_owned()),
        (
            forged.clone(),
            false,
            "this export is not sealed".to_owned(),
        ),
    ];
    for (i, (tables, said)) in unfit.into_iter().enumerate() {
        let path = write(&format!("unfit-{i}.json"), &unsealed(&key_id, tables));
        refusals.push((path, true, said.to_owned()));
    }
    for (path, trust_unsealed, said) in &refusals {
        let refused = import(path, false, *trust_unsealed).await.unwrap_err();
        assert!(refused.contains(said.as_str()), "{said}: {refused}");
        assert!(
            dump::is_empty(&empty.pool).await.unwrap(),
            "nothing written"
        );
    }
    // A console with another key cannot open it, and says whose key it needs.
    let other_store = Store::chosen().await;
    let mut other = support::settings(other_store.url(), String::new());
    other.config.console_key = Some("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into());
    let (_, stranger) = support::serve(other, Arc::new(ManualClock::at(0))).await;
    let mut out = Vec::new();
    let args = ImportArgs {
        from: fine.clone(),
        dry_run: false,
        merge: false,
        trust_unsealed: false,
    };
    let refused = server::backup::import(&stranger, &args, &mut out)
        .await
        .unwrap_err()
        .1;
    assert!(
        refused.contains(&format!("sealed with key {key_id}")),
        "{refused}"
    );
    assert!(dump::is_empty(&stranger.pool).await.unwrap());

    // The right file lands once; again, only with --merge, and then nothing twice.
    let landed = import(&fine, false, false).await.unwrap();
    assert!(
        landed.contains("sealed and unchanged") && landed.contains("connections 2"),
        "{landed}"
    );
    let again = import(&fine, false, false).await.unwrap_err();
    assert!(again.contains("already holds data"), "{again}");
    let merged = import(&fine, true, false).await.unwrap();
    assert!(
        merged.contains("connections 0 (2 already present, skipped)"),
        "{merged}"
    );
    // An unsealed file lands only when the operator says to trust it, and the report says so.
    let trusted = import(&forged, true, true).await.unwrap();
    assert!(trusted.contains("NOT SEALED"), "{trusted}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_tables_an_export_knows_and_the_derived_columns_are_the_ones_the_migrations_make() {
    let store = Store::chosen().await;
    let pool = console_core::store::connect(&store.url()).await.unwrap();
    for (table, columns) in dump::TABLES {
        let sql = if matches!(store, Store::Sqlite(_)) {
            "SELECT name FROM pragma_table_info($1) ORDER BY name"
        } else {
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY column_name"
        };
        let made: Vec<String> = sqlx::query_scalar(sql)
            .bind(*table)
            .fetch_all(&pool)
            .await
            .unwrap();
        let mut known: Vec<&str> = columns.to_vec();
        known.extend(
            dump::DERIVED
                .iter()
                .filter(|(of, _)| of == table)
                .map(|(_, column)| *column),
        );
        known.sort_unstable();
        assert_eq!(made, known, "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_rotate_and_are_verified_without_a_database() {
    let from = source(Store::sqlite()).await;
    let clock = ManualClock::at(from.sim.now());
    let dir = std::env::temp_dir().join(format!("cc-backups-{}", uuid::Uuid::new_v4()));
    // Files that only look like backups: someone's notes, and a file with a backup's name that
    // is not one. Pruning leaves them.
    std::fs::create_dir_all(&dir).unwrap();
    let others = [
        dir.join("concur-console-notes.json"),
        dir.join("concur-console-20200101T000000Z.json"),
    ];
    for other in &others {
        std::fs::write(other, "{\"mine\": true}").unwrap();
    }
    let mut written = Vec::new();
    for _ in 0..3 {
        let mut state = from.state.clone();
        state.clock = Arc::new(ManualClock::at(clock.now()));
        let Ok(path) = server::backup::backup_into(&state, &dir, 2).await else {
            panic!("the backup was not written")
        };
        written.push(path);
        clock.advance(3600);
    }
    let mut kept: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !others.contains(p))
        .collect();
    kept.sort();
    assert_eq!(kept, written[1..], "the newest two stay");
    for other in &others {
        assert!(
            other.exists(),
            "{} is not a backup of ours",
            other.display()
        );
    }

    let newest = kept[1].to_str().unwrap().to_owned();
    let elsewhere = Store::sqlite();
    let verified = command(
        &elsewhere,
        Some(key_file_of(&from.store)),
        &["verify-backup", &newest],
    );
    assert!(verified.status.success(), "{verified:?}");
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(
        said.contains("sealed and unchanged") && said.contains("connections 2"),
        "{said}"
    );
    let Store::Sqlite(untouched) = &elsewhere else {
        unreachable!()
    };
    assert!(!untouched.exists(), "verify-backup made no database");
    let foreign = command(
        &elsewhere,
        Some("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into()),
        &["verify-backup", &newest],
    );
    assert_eq!(foreign.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&foreign.stderr).contains("sealed with key"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_are_written_by_one_replica_at_a_time() {
    let from = source(Store::chosen().await).await;
    let clock = Arc::new(ManualClock::at(from.sim.now()));
    let dir = std::env::temp_dir().join(format!("cc-scheduled-{}", uuid::Uuid::new_v4()));
    let schedule = server::backup::Schedule {
        dir: dir.clone(),
        every: 3600,
        keep: 5,
    };
    let mut one = from.state.clone();
    one.clock = clock.clone();
    let mut two = one.clone();
    two.holder = "the other replica".into();
    let (mut due_one, mut due_two) = (0, 0);
    assert!(
        server::backup::backup_if_due(&one, &schedule, &mut due_one)
            .await
            .is_some()
    );
    assert!(
        server::backup::backup_if_due(&two, &schedule, &mut due_two)
            .await
            .is_none()
    );
    assert!(
        server::backup::backup_if_due(&one, &schedule, &mut due_one)
            .await
            .is_none(),
        "not due"
    );
    clock.advance(3600);
    let by_two = server::backup::backup_if_due(&two, &schedule, &mut due_two).await;
    assert!(
        by_two.is_some(),
        "the lease lapsed: the other replica takes its turn"
    );
    assert!(
        server::backup::backup_if_due(&one, &schedule, &mut due_one)
            .await
            .is_none()
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
