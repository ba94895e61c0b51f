//! The Settings page's alert channels: saved from the page (secrets sealed, never shown back),
//! used by the alert job, refused where the environment already sets them, and "Send test".

use std::sync::Arc;

use concur::ManualClock;
use concur_sim::Simulator;
use console_core::alerts::{AlertConfig, Webhook};
use serde_json::Value;
use stores::Store;

use crate::support::{self, hooks, stores};

async fn spawn(
    env_webhook: Option<Webhook>,
    extra_origin: &str,
) -> (String, console_core::state::AppState, Store) {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::chosen().await;
    let mut settings = support::settings(
        store.url(),
        format!("{},{extra_origin}", sim.allowed_hosts()),
    );
    settings.config.console_key = store.key();
    settings.config.alerts = AlertConfig {
        thresholds: vec![30, 14, 7, 3, 1],
        webhook: env_webhook,
        email: None,
        routes: Vec::new(),
    };
    let (base, state) = support::serve(settings, Arc::new(ManualClock::at(sim.now()))).await;
    support::person(&state, "a1", "admin", console_model::Role::Admin).await;
    (base, state, store)
}

async fn signed_in(base: &str) -> reqwest::Client {
    let http = support::browser();
    support::sign_in(&http, base, "admin").await;
    http
}

fn save_form<'a>(url: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("webhook_url", url),
        ("webhook_secret", secret),
        ("smtp_url", ""),
        ("email_from", ""),
        ("email_to", ""),
    ]
}

#[tokio::test]
async fn a_webhook_set_on_the_page_is_used_and_its_secret_never_shown() {
    let (origin, got) = hooks::receiver("a page-set secret value").await;
    let (base, state, store) = spawn(None, &origin).await;
    let http = signed_in(&base).await;
    let hook = format!("{origin}/hook");
    let short = http
        .post(format!("{base}/api/save_alert_settings"))
        .form(&save_form(&hook, "short"))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 422);
    let plain = http
        .post(format!("{base}/api/save_alert_settings"))
        .form(&save_form(
            "http://hooks.example.com/x",
            "a page-set secret value",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 422, "plain http to an origin not allowed");
    let saved = http
        .post(format!("{base}/api/save_alert_settings"))
        .form(&save_form(&hook, "a page-set secret value"))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);

    let view: Value = http
        .post(format!("{base}/api/load_alert_settings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        view["webhook_host"],
        origin.as_str(),
        "the origin, never the path"
    );
    assert!(!view.to_string().contains("/hook"));
    assert_eq!(view["webhook_secret_set"], true);
    assert!(!view.to_string().contains("a page-set secret value"));

    let queued = http
        .post(format!("{base}/api/send_test_alert"))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 200);
    server::alerts::run_round(&state).await.unwrap();
    assert_eq!(
        got.lock().unwrap().len(),
        1,
        "the test alert arrived, signed"
    );
    assert_eq!(got.lock().unwrap()[0]["event"], "test");

    let (status, page) = {
        let r = http.get(format!("{base}/settings")).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(page.contains("Delivery history") && page.contains("sent"));
    assert!(!page.contains("a page-set secret value"));

    let stored: Vec<String> = sqlx::query_scalar("SELECT value FROM settings")
        .fetch_all(&state.pool)
        .await
        .unwrap();
    assert!(
        !stored.iter().any(|v| v.contains("/hook")),
        "the webhook URL is sealed: it grants posting rights"
    );
    assert!(!stored.iter().any(|v| v.contains("a page-set secret value")));
    state.pool.close().await;
    if let Store::Sqlite(dir) = store {
        let db = std::fs::read(dir.join("console.db")).unwrap_or_default();
        let wal = std::fs::read(dir.join("console.db-wal")).unwrap_or_default();
        let secret = b"a page-set secret value";
        assert!(
            !db.windows(secret.len()).any(|w| w == secret)
                && !wal.windows(secret.len()).any(|w| w == secret)
        );
    }
}

#[tokio::test]
async fn a_channel_set_in_the_environment_wins_and_the_page_says_so() {
    let env = Webhook {
        url: "https://hooks.example.com/from-env".into(),
        secret: "environment secret value".into(),
    };
    let (base, _, _) = spawn(Some(env), "http://127.0.0.1:1").await;
    let http = signed_in(&base).await;
    let refused = http
        .post(format!("{base}/api/save_alert_settings"))
        .form(&save_form(
            "https://other.example.com/x",
            "a page-set secret value",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let page = http
        .get(format!("{base}/settings"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Set by the environment (CONCUR_ALERT_WEBHOOK_URL)"));
    assert!(!page.contains("environment secret value"));
}
