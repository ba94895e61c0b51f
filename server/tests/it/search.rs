//! Searching the dashboard by a fragment of the name, Client ID or company UUID, through the
//! trigram index each store keeps (FTS5 on SQLite, pg_trgm on PostgreSQL): the index follows
//! every rename and deletion, and the counts follow every write at once.

use std::sync::Arc;

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::state::AppState;
use console_model::{Dashboard, Status};
use server::serve::Application;
use stores::Store;

use crate::support::{self, companies, stores};

async fn console(store: Store) -> (AppState, Simulator) {
    let sim = Simulator::spawn().await.unwrap();
    let settings = support::settings_for(&store, sim.allowed_hosts());
    let app = Application::build(settings, Arc::new(ManualClock::at(sim.now())))
        .await
        .unwrap();
    (app.state.clone(), sim)
}

async fn search(state: &AppState, text: &str) -> Dashboard {
    console_core::connections::dashboard(state, text, None, 0, &Default::default())
        .await
        .unwrap()
}

async fn names(state: &AppState, text: &str) -> Vec<String> {
    let mut names: Vec<String> = search(state, text)
        .await
        .rows
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names
}

fn healthy(d: &Dashboard) -> i64 {
    d.counts
        .iter()
        .find(|(s, _)| *s == Status::Healthy)
        .map_or(0, |(_, n)| *n)
}

async fn search_follows_every_write(store: Store) {
    let (state, sim) = console(store).await;
    let acme = companies::add(&state, &sim, "Acme Expenses", DEMO_SCOPES).await;
    companies::add(&state, &sim, "Globex Mileage", DEMO_SCOPES).await;
    let initech = companies::add(&state, &sim, "Initech approvals", DEMO_SCOPES).await;

    assert_eq!(names(&state, "expen").await, ["Acme Expenses"]);
    assert_eq!(names(&state, "ILEAG").await, ["Globex Mileage"], "any case");
    assert_eq!(
        names(&state, "e").await,
        ["Acme Expenses", "Globex Mileage", "Initech approvals"],
        "one letter"
    );
    assert_eq!(
        names(&state, "ch").await,
        ["Initech approvals"],
        "two letters"
    );
    assert!(names(&state, "umbrella").await.is_empty());
    assert!(
        names(&state, "%").await.len() == 3,
        "a wildcard is taken out, not obeyed as a pattern of its own"
    );

    let row = console_core::store::connection(&state.pool, &initech)
        .await
        .unwrap()
        .unwrap();
    let fragment = &row.client_id[9..18];
    assert_eq!(
        names(&state, fragment).await,
        ["Initech approvals"],
        "Client ID"
    );
    let company = row
        .company_uuid
        .expect("Concur names the company in the token answer");
    assert_eq!(
        names(&state, &company[..13].to_uppercase()).await,
        ["Initech approvals"],
        "company UUID"
    );

    let before = search(&state, "").await;
    assert_eq!((before.total, healthy(&before)), (3, 3));
    console_core::connections::rename(&state, &acme, "Umbrella Travel")
        .await
        .unwrap();
    assert!(
        names(&state, "acme").await.is_empty(),
        "the old name is gone"
    );
    assert_eq!(names(&state, "brella").await, ["Umbrella Travel"]);

    console_core::connections::delete(&state, &acme, "yes")
        .await
        .unwrap();
    assert!(names(&state, "umbrella").await.is_empty());
    let after = search(&state, "").await;
    assert_eq!(
        (after.total, healthy(&after)),
        (2, 2),
        "counts follow a deletion at once"
    );
    let matching = search(&state, "e").await;
    assert_eq!((matching.rows.len(), matching.pages), (2, 1));
}

/// Stores `count` connections named `Tenant 0000`… straight through SQL, every seventh failing,
/// the `i`th with the Client ID `client_id(i)`.
async fn tenants(state: &AppState, count: usize, client_id: impl Fn(usize) -> String) {
    let mut tx = state.pool.begin().await.unwrap();
    for i in 0..count {
        sqlx::query(
            "INSERT INTO connections (id, name, client_id, authorization_url, scope_profile, required_scopes, granted_scopes, failing, refresh_token_expires_at, client_secret_sealed, refresh_token_sealed, client_secret_mask, refresh_token_mask, created_at, updated_at, transient_failures) \
             VALUES ($1, $2, $5, 'https://us.api.concursolutions.com', 'expense-approvals', '', '', $3, $4, '', '', '', '', 0, 0, 0)",
        )
        .bind(format!("tenant-{i:04}"))
        .bind(format!("Tenant {i:04}"))
        .bind(i64::from(i % 7 == 0))
        .bind(state.now() + 90 * 86_400 + i as i64)
        .bind(client_id(i))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn a_frequent_fragment_is_paged_without_counting_every_match(store: Store) {
    let (state, sim) = console(store).await;
    companies::add(&state, &sim, "Acme Expenses", DEMO_SCOPES).await;
    tenants(&state, 1005, |_| "shared-client".into()).await;

    let all = search(&state, "TENANT").await;
    assert_eq!(all.more_than, Some(1000));
    assert_eq!(all.pages, 20);
    assert_eq!(all.rows.len(), 50);
    assert!(all.rows.iter().all(|r| r.name.starts_with("Tenant")));
    assert!(
        all.rows.iter().all(|r| r.status == Status::Failing),
        "the dashboard order holds: failing first"
    );
    let last =
        console_core::connections::dashboard(&state, "tenant", None, 19, &Default::default())
            .await
            .unwrap();
    assert_eq!(last.rows.len(), 50);
    assert!(last.rows.iter().all(|r| r.name.starts_with("Tenant")));

    let few = search(&state, "tenant 100").await;
    assert_eq!(few.more_than, None);
    assert_eq!(
        few.rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        [
            "Tenant 1001",
            "Tenant 1000",
            "Tenant 1002",
            "Tenant 1003",
            "Tenant 1004"
        ],
        "failing (1001) first, then by expiry"
    );
    assert_eq!(few.pages, 1);
    // 100 matches are read off the index at once; 1 000 are counted first, then paged.
    let hundred = search(&state, "tenant 00").await;
    assert_eq!((hundred.more_than, hundred.pages), (None, 2));
    let thousand = search(&state, "tenant 0").await;
    assert_eq!((thousand.more_than, thousand.pages), (None, 20));
    assert_eq!(thousand.rows.len(), 50);
    assert!(thousand.rows.iter().all(|r| r.status == Status::Failing));
    let beyond =
        console_core::connections::dashboard(&state, "tenant 100", None, 1, &Default::default())
            .await
            .unwrap();
    assert!(beyond.rows.is_empty());
    assert_eq!(
        (beyond.pages, beyond.more_than),
        (1, None),
        "a page past the last still counts the matches"
    );
    let shared = search(&state, "shared-cl").await;
    assert_eq!(
        shared.more_than,
        Some(1000),
        "a Client ID shared by the fleet"
    );
    assert_eq!(names(&state, "acme").await, ["Acme Expenses"]);
}

async fn the_start_of_a_uuid_finds_the_ids_that_begin_with_it(store: Store) {
    let (state, sim) = console(store).await;
    let acme = companies::add(&state, &sim, "Acme Expenses", DEMO_SCOPES).await;
    // Two Client IDs that share their first eight digits, and a third one past them.
    let apps = [
        "0a1b2c3d-ffff-4000-8000-000000000001",
        "0a1b2c3d-0000-4000-8000-000000000002",
        "0a1b2c3e-0000-4000-8000-000000000003",
    ];
    tenants(&state, 1530, |i| apps[i % 3].into()).await;

    let shared = search(&state, "0A1B2C3D").await;
    assert_eq!(shared.more_than, Some(1000), "1 020 of 1 530 begin so");
    assert_eq!(shared.rows.len(), 50);
    assert!(
        shared
            .rows
            .iter()
            .all(|r| r.client_id.starts_with("0a1b2c3d-"))
    );
    assert!(
        shared.rows.iter().all(|r| r.status == Status::Failing),
        "the dashboard order holds: failing first"
    );
    let deep =
        console_core::connections::dashboard(&state, "0a1b2c3d", None, 19, &Default::default())
            .await
            .unwrap();
    assert_eq!(deep.rows.len(), 50);
    assert!(
        deep.rows
            .iter()
            .all(|r| r.client_id.starts_with("0a1b2c3d-"))
    );

    let one_app = search(&state, "0a1b2c3d-ffff").await;
    assert_eq!((one_app.more_than, one_app.pages), (None, 11), "510 match");
    assert!(one_app.rows.iter().all(|r| r.client_id == apps[0]));
    let whole = search(&state, apps[2]).await;
    assert_eq!((whole.more_than, whole.pages), (None, 11));
    assert!(whole.rows.iter().all(|r| r.client_id == apps[2]));

    let row = console_core::store::connection(&state.pool, &acme)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names(&state, &row.client_id).await, ["Acme Expenses"]);
    let company = row.company_uuid.expect("Concur names the company");
    assert_eq!(names(&state, &company[..8]).await, ["Acme Expenses"]);
    assert_eq!(
        names(&state, &row.client_id[..7]).await,
        ["Acme Expenses"],
        "seven digits are a fragment, found anywhere"
    );
    let last = if row.client_id.ends_with('0') {
        '1'
    } else {
        '0'
    };
    let other = format!("{}{last}", &row.client_id[..35]);
    assert!(
        names(&state, &other).await.is_empty(),
        "a different last digit is another id"
    );
}

#[tokio::test]
async fn the_start_of_a_uuid_finds_the_ids_that_begin_with_it_on_sqlite() {
    the_start_of_a_uuid_finds_the_ids_that_begin_with_it(Store::sqlite()).await;
}

#[tokio::test]
async fn the_start_of_a_uuid_finds_the_ids_that_begin_with_it_on_postgresql() {
    the_start_of_a_uuid_finds_the_ids_that_begin_with_it(Store::postgres().await).await;
}

#[tokio::test]
async fn a_frequent_fragment_is_paged_without_counting_every_match_on_sqlite() {
    a_frequent_fragment_is_paged_without_counting_every_match(Store::sqlite()).await;
}

#[tokio::test]
async fn a_frequent_fragment_is_paged_without_counting_every_match_on_postgresql() {
    a_frequent_fragment_is_paged_without_counting_every_match(Store::postgres().await).await;
}

#[tokio::test]
async fn search_follows_every_write_on_sqlite() {
    search_follows_every_write(Store::sqlite()).await;
}

#[tokio::test]
async fn search_follows_every_write_on_postgresql() {
    search_follows_every_write(Store::postgres().await).await;
}
