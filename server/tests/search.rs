//! Searching the dashboard by a fragment of the name, Client ID or company UUID, through the
//! trigram index each store keeps (FTS5 on SQLite, pg_trgm on PostgreSQL): the index follows
//! every rename and deletion, and the counts follow every write at once.

mod common;
#[path = "common/companies.rs"]
mod companies;
#[path = "common/stores.rs"]
mod stores;

use std::sync::Arc;

use app::model::{Dashboard, Status};
use app::ssr::state::AppState;
use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use server::serve::Application;
use stores::Store;

async fn console(store: Store) -> (AppState, Simulator) {
    let sim = Simulator::spawn().await.unwrap();
    let mut settings = common::settings(store.url(), sim.allowed_hosts());
    settings.config.console_key = store.key();
    let app = Application::build(settings, Arc::new(ManualClock::at(sim.now())))
        .await
        .unwrap();
    (app.state.clone(), sim)
}

async fn search(state: &AppState, text: &str) -> Dashboard {
    app::connections::ssr::dashboard(state, text, None, 0)
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

    let row = app::ssr::store::connection(&state.pool, &initech)
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
    app::connections::ssr::rename(&state, &acme, "Umbrella Travel")
        .await
        .unwrap();
    assert!(
        names(&state, "acme").await.is_empty(),
        "the old name is gone"
    );
    assert_eq!(names(&state, "brella").await, ["Umbrella Travel"]);

    app::connections::ssr::delete(&state, &acme, "yes")
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

#[tokio::test]
async fn search_follows_every_write_on_sqlite() {
    search_follows_every_write(Store::sqlite()).await;
}

#[tokio::test]
async fn search_follows_every_write_on_postgresql() {
    search_follows_every_write(Store::postgres().await).await;
}
