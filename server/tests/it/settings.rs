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
    let page = support::text(&http, &format!("{base}/settings")).await;
    assert!(page.contains("Set by the environment (CONCUR_ALERT_WEBHOOK_URL)"));
    assert!(!page.contains("environment secret value"));
}

#[tokio::test]
async fn a_route_set_on_the_page_is_checked_sealed_used_and_removed() {
    const SECRET: &str = "a page-set secret value";
    let (default_origin, to_default) = hooks::receiver(SECRET).await;
    let (prod_origin, to_prod) = hooks::receiver(SECRET).await;
    let (base, state, _store) = spawn(None, &format!("{default_origin},{prod_origin}")).await;
    let http = signed_in(&base).await;
    let add = |selector: &str, channel: &str| {
        http.post(format!("{base}/api/add_alert_route"))
            .form(&[("selector", selector), ("channel", channel)])
            .send()
    };
    let prod_hook = format!("webhook:{prod_origin}/hook");
    let unsigned: Value = add("env=prod", &prod_hook)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        unsigned.to_string().contains("signing secret"),
        "no secret to sign with yet: {unsigned}"
    );
    let saved = http
        .post(format!("{base}/api/save_alert_settings"))
        .form(&save_form(&format!("{default_origin}/hook"), SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    for (selector, channel, field) in [
        ("", "email:csm@vendor.example", "route_selector"),
        ("Env=prod", "email:csm@vendor.example", "route_selector"),
        ("env=prod", "sms:123", "route_channel"),
        ("env=prod", "email:nobody", "route_channel"),
        (
            "env=prod",
            "webhook:http://169.254.169.254/x",
            "route_channel",
        ),
        (
            "env=prod",
            "webhook:http://hooks.example.com/x",
            "route_channel",
        ),
        (
            "env=prod\u{7}",
            "email:csm@vendor.example",
            "route_selector",
        ),
    ] {
        let refused = add(selector, channel).await.unwrap();
        assert_eq!(refused.status(), 422, "{selector} => {channel}");
        let body: Value = refused.json().await.unwrap();
        assert!(
            body.to_string().contains(field),
            "{selector} => {channel}: {body}"
        );
        // Each reason reads as one sentence, whichever part of the route gave it.
        let message = body["Invalid"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(char::is_uppercase)
                && message.ends_with('.')
                && !message.ends_with(".."),
            "{message}"
        );
    }
    assert_eq!(add("env=prod", &prod_hook).await.unwrap().status(), 200);
    assert_eq!(
        add("env=prod", &prod_hook).await.unwrap().status(),
        422,
        "the same route twice"
    );
    assert_eq!(
        add("region=emea", "email:emea-csm@vendor.example")
            .await
            .unwrap()
            .status(),
        200
    );

    let load = || async {
        http.post(format!("{base}/api/load_alert_settings"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let view = load().await;
    let routes = view["routes"].as_array().unwrap().clone();
    assert_eq!(routes.len(), 2, "{view}");
    assert_eq!(routes[0]["selector"], "env=prod");
    let channel = routes[0]["channel"].as_str().unwrap().to_owned();
    assert!(
        channel.starts_with("webhook:http://127.0.0.1") && !channel.contains("/hook"),
        "{channel}"
    );
    assert_eq!(routes[1]["channel"], "email:emea-csm@vendor.example");
    assert_eq!(routes[1]["from_env"], false);
    let stored: Vec<String> = sqlx::query_scalar("SELECT value FROM settings")
        .fetch_all(&state.pool)
        .await
        .unwrap();
    assert!(
        !stored
            .iter()
            .any(|v| v.contains("/hook") || v.contains("emea-csm")),
        "the routes are sealed: a webhook URL grants posting rights"
    );
    let page = support::text(&http, &format!("{base}/settings")).await;
    assert!(page.contains("Routes") && page.contains("emea-csm@vendor.example"));

    // "Send test" reaches the route's webhook, signed like the default one.
    http.post(format!("{base}/api/send_test_alert"))
        .send()
        .await
        .unwrap();
    server::alerts::run_round(&state).await.unwrap();
    assert_eq!(to_prod.lock().unwrap().len(), 1);
    assert_eq!(to_default.lock().unwrap().len(), 1);

    let removed = http
        .post(format!("{base}/api/remove_alert_route"))
        .form(&[("route", format!("env=prod => {channel}"))])
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    let routes = load().await["routes"].as_array().unwrap().clone();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0]["selector"], "region=emea");
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM audit_events WHERE kind = 'settings_changed'")
            .fetch_all(&state.pool)
            .await
            .unwrap();
    assert!(
        audit
            .iter()
            .any(|d| d.starts_with("alert route removed: env=prod")),
        "{audit:?}"
    );
    assert!(!audit.iter().any(|d| d.contains("/hook")), "{audit:?}");
}
