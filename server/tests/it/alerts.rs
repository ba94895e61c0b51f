//! Alerts with an injected clock: each expiry threshold once (across a restart), the most urgent
//! one for a connection first seen late, re-armed by a renewal (never by a refresh inside the band), failing and recovered, webhook
//! deliveries checked by a receiver that verifies the HMAC, retries, and e-mail to an SMTP sink.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use concur::{Clock, ManualClock};
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::alerts::{AlertConfig, Email, Webhook};
use console_core::state::{AppState, Config};
use console_core::store;
use console_model::CredentialsForm;
use serde_json::Value;
use server::alerts::{deliver_due, run_once, signature};
use stores::Store;

use crate::support::{self, companies, stores};

const DAY: i64 = 86_400;
const SECRET: &str = "shared webhook secret";

/// A webhook receiver that verifies each signature, answers `failures` 500s first, and keeps
/// what it accepted.
#[derive(Clone, Default)]
struct Receiver {
    accepted: Arc<Mutex<Vec<Value>>>,
    failures: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn spawn(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    let timestamp = headers["x-concur-console-timestamp"].to_str().unwrap();
                    let claimed = headers["x-concur-console-signature"].to_str().unwrap();
                    if claimed != signature(SECRET, timestamp, &body) {
                        return StatusCode::UNAUTHORIZED;
                    }
                    let mut failures = me.failures.lock().unwrap();
                    if *failures > 0 {
                        *failures -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    me.accepted
                        .lock()
                        .unwrap()
                        .push(serde_json::from_str(&body).unwrap());
                    StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        origin
    }

    fn events(&self) -> Vec<(String, Option<i64>)> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["event"].as_str().unwrap().to_owned(),
                    v["days_left"].as_i64(),
                )
            })
            .collect()
    }
}

struct Fixture {
    sim: Simulator,
    clock: ManualClock,
    config: Config,
    state: AppState,
    receiver: Receiver,
}

async fn fixture(email: Option<Email>) -> Fixture {
    fixture_on(Store::sqlite(), email).await
}

async fn fixture_on(store: Store, email: Option<Email>) -> Fixture {
    let sim = Simulator::spawn().await.unwrap();
    let receiver = Receiver::default();
    let origin = receiver.spawn().await;
    let mut config =
        support::settings(store.url(), format!("{},{origin}", sim.allowed_hosts())).config;
    config.console_key = store.key();
    config.public_url = "https://console.example".into();
    config.alerts = AlertConfig {
        thresholds: vec![30, 14, 7, 3, 1],
        webhook: Some(Webhook {
            url: format!("{origin}/hook"),
            secret: SECRET.into(),
        }),
        email,
        routes: Vec::new(),
    };
    let clock = ManualClock::at(sim.now());
    let state = AppState::build(&config, Arc::new(clock.clone()))
        .await
        .unwrap();
    Fixture {
        sim,
        clock,
        config,
        state,
        receiver,
    }
}

impl Fixture {
    async fn connection(&self, name: &str) -> String {
        companies::add(&self.state, &self.sim, name, DEMO_SCOPES).await
    }

    /// Pretends the refresh token expires `seconds` from now (as when keep-alive cannot run).
    async fn expires_in(&self, id: &str, seconds: i64) {
        sqlx::query("UPDATE connections SET refresh_token_expires_at = $2 WHERE id = $1")
            .bind(id)
            .bind(self.clock.now() + seconds)
            .execute(&self.state.pool)
            .await
            .unwrap();
    }

    async fn round(&self) {
        run_once(&self.state, &self.state.alerts).await.unwrap();
    }
}

async fn thresholds_fire_once(store: Store) {
    let f = fixture_on(store, None).await;
    let id = f.connection("ACME").await;
    f.expires_in(&id, 40 * DAY - 3600).await;
    f.round().await;
    assert!(f.receiver.events().is_empty(), "40 days left: nothing yet");
    // Walk the clock a day at a time, two rounds a day, across every threshold.
    for _ in 0..40 {
        f.clock.advance(DAY);
        f.round().await;
        f.round().await;
    }
    let events = f.receiver.events();
    let days: Vec<i64> = events.iter().map(|(_, d)| d.unwrap()).collect();
    assert!(events.iter().all(|(e, _)| e == "expiring"));
    assert_eq!(
        days,
        [29, 13, 6, 2, 0],
        "one alert per threshold: 30, 14, 7, 3, 1"
    );

    let restarted = AppState::build(&f.config, Arc::new(f.clock.clone()))
        .await
        .unwrap();
    run_once(&restarted, &restarted.alerts).await.unwrap();
    assert_eq!(
        f.receiver.events().len(),
        5,
        "a restart sends nothing twice"
    );
}

#[tokio::test]
async fn a_connection_first_seen_at_two_days_gets_only_the_most_urgent_alert() {
    let f = fixture(None).await;
    let id = f.connection("Late").await;
    f.expires_in(&id, 2 * DAY + 3600).await;
    f.round().await;
    f.round().await;
    assert_eq!(f.receiver.events(), [("expiring".to_owned(), Some(2))]);
    let alert = f.receiver.accepted.lock().unwrap()[0].clone();
    assert_eq!(alert["connection"]["name"], "Late");
    assert_eq!(alert["status"], "critical");
    assert!(alert["expires_at"].as_str().unwrap().ends_with('Z'));
    let text = alert["text"].as_str().unwrap();
    assert!(
        text.contains("Company Request Token") && text.contains("Client ID"),
        "{text}"
    );
    assert!(
        text.contains(&format!("https://console.example/connections/{id}")),
        "{text}"
    );
}

#[tokio::test]
async fn only_a_renewal_re_arms_a_threshold_not_a_refresh_inside_its_band() {
    let f = fixture(None).await;
    let id = f.connection("Renewed").await;
    f.expires_in(&id, 5 * DAY).await;
    f.round().await;
    assert_eq!(f.receiver.events().len(), 1);
    // Keep-alive rounds that move the expiry by seconds, then by hours, inside the 7-day band.
    for (after, moved) in [(20, 30), (20, 60), (3600, 3 * 3600), (DAY, 5 * 3600)] {
        f.clock.advance(after);
        let row = store::connection(&f.state.pool, &id)
            .await
            .unwrap()
            .unwrap();
        let left = row.refresh_token_expires_at.unwrap() - f.clock.now();
        f.expires_in(&id, left + moved).await;
        f.round().await;
    }
    assert_eq!(f.receiver.events().len(), 1, "nothing re-armed");
    // A renewal: six months more. Nothing to say until the new token nears its end.
    f.expires_in(&id, 180 * DAY).await;
    f.round().await;
    assert_eq!(f.receiver.events().len(), 1);
    f.clock.advance(175 * DAY);
    f.round().await;
    assert_eq!(
        f.receiver.events(),
        [
            ("expiring".to_owned(), Some(5)),
            ("expiring".to_owned(), Some(5))
        ],
        "the new lifetime warns again"
    );
}

async fn failing_then_recovered(store: Store) {
    let f = fixture_on(store, None).await;
    let id = f.connection("Flaky company").await;
    let row = store::connection(&f.state.pool, &id)
        .await
        .unwrap()
        .unwrap();
    let company = row.company_uuid.clone().unwrap();
    f.sim.revoke(&company, &row.client_id);
    console_core::connections::recheck(&f.state, &id)
        .await
        .unwrap();
    f.round().await;
    f.round().await;
    let events: Vec<String> = f.receiver.events().into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["failing"]);
    let failing = f.receiver.accepted.lock().unwrap()[0].clone();
    assert!(
        failing["message"].as_str().unwrap().contains("Next step"),
        "{failing}"
    );
    assert!(
        !failing.to_string().contains(&row.refresh_token_mask[6..]),
        "no secret"
    );

    let token = f.sim.issue_refresh_token(&company, &row.client_id);
    let mut form = CredentialsForm::default();
    form.mode = "refresh-token".into();
    form.client_id = row.client_id.clone();
    form.refresh_token = token;
    form.authorization_url = row.authorization_url.clone();
    console_core::connections::replace(&f.state, &id, form)
        .await
        .unwrap();
    console_core::connections::recheck(&f.state, &id)
        .await
        .unwrap();
    f.round().await;
    let events: Vec<String> = f.receiver.events().into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["failing", "recovered"]);
}

#[tokio::test]
async fn a_failing_webhook_is_retried_and_then_succeeds() {
    let f = fixture(None).await;
    let id = f.connection("Retry").await;
    *f.receiver.failures.lock().unwrap() = 2;
    f.expires_in(&id, 10 * DAY).await;
    f.round().await;
    assert!(f.receiver.events().is_empty());
    let history = store::deliveries(&f.state.pool, Some(&id), 10)
        .await
        .unwrap();
    assert_eq!(history[0].state, "pending");
    assert_eq!(history[0].attempts, 1);
    assert!(history[0].last_error.as_deref().unwrap().contains("500"));
    deliver_due(&f.state, &f.state.alerts).await.unwrap();
    assert_eq!(f.receiver.events().len(), 0, "not before its retry time");
    f.clock.advance(30);
    deliver_due(&f.state, &f.state.alerts).await.unwrap();
    f.clock.advance(60);
    deliver_due(&f.state, &f.state.alerts).await.unwrap();
    assert_eq!(f.receiver.events().len(), 1);
    let history = store::deliveries(&f.state.pool, Some(&id), 10)
        .await
        .unwrap();
    assert_eq!(
        (history[0].state.as_str(), history[0].attempts),
        ("sent", 3)
    );
}

#[tokio::test]
async fn a_webhook_to_a_link_local_or_plain_http_address_is_refused() {
    let policy = concur::HostPolicy::parse("").unwrap();
    for url in [
        "http://hooks.example.com/x",
        "https://169.254.169.254/latest",
        "https://[fe80::1]/x",
    ] {
        assert!(
            server::alerts::outbound_target(url, &policy).await.is_err(),
            "{url}"
        );
    }
}

/// A minimal SMTP server: accepts one message per connection and keeps its DATA.
async fn smtp_sink() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let messages = Arc::new(Mutex::new(Vec::new()));
    let kept = messages.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            kept.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (url, messages)
}

#[tokio::test]
async fn an_alert_e_mail_reaches_a_real_smtp_server() {
    let (url, messages) = smtp_sink().await;
    let f = fixture(Some(Email {
        smtp_url: url,
        from: "console@example.com".into(),
        to: vec!["ops@example.com".into(), "finance@example.com".into()],
    }))
    .await;
    let id = f.connection("Mailed").await;
    f.expires_in(&id, 6 * DAY).await;
    f.round().await;
    let messages = messages.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let mail = &messages[0];
    assert!(
        mail.contains("Subject: [Concur Console] Mailed: refresh token expiring"),
        "{mail}"
    );
    assert!(mail.contains("expires in 6 days"), "{mail}");
    let history = store::deliveries(&f.state.pool, Some(&id), 10)
        .await
        .unwrap();
    assert!(
        history.iter().all(|d| d.state == "sent"),
        "webhook and e-mail both sent"
    );
}

#[tokio::test]
async fn an_owner_who_asked_for_alert_e_mails_gets_those_of_their_connections_only() {
    let (url, messages) = smtp_sink().await;
    let f = fixture(Some(Email {
        smtp_url: url,
        from: "console@example.com".into(),
        to: vec!["ops@example.com".into()],
    }))
    .await;
    support::person(&f.state, "jo-id", "jo", console_model::Role::Editor).await;
    support::person(&f.state, "kim-id", "kim", console_model::Role::Editor).await;
    let refused = console_core::account::set_alert_email(&f.state, "kim-id", "", true)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("address"), "{refused}");
    console_core::account::set_alert_email(&f.state, "jo-id", " jo@vendor.example ", true)
        .await
        .unwrap();
    console_core::account::set_alert_email(&f.state, "kim-id", "kim@vendor.example", false)
        .await
        .unwrap();
    let mut owned = Vec::new();
    for (name, owner) in [("Jo's", "jo"), ("Kim's", "kim")] {
        let id = f.connection(name).await;
        let change = console_core::connections::fleet::Change {
            owner: Some(owner.into()),
            ..Default::default()
        };
        console_core::connections::fleet::change(&f.state, &id, &change)
            .await
            .unwrap();
        f.expires_in(&id, 6 * DAY).await;
        owned.push(id);
    }
    f.round().await;

    let messages = messages.lock().unwrap().clone();
    let to = |address: &str| {
        messages
            .iter()
            .filter(|m| m.lines().any(|l| l == format!("To: {address}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(to("ops@example.com").len(), 2, "{messages:?}");
    let jo = to("jo@vendor.example");
    assert_eq!(jo.len(), 1, "{messages:?}");
    assert!(jo[0].contains("Jo's"), "{}", jo[0]);
    assert!(to("kim@vendor.example").is_empty(), "{messages:?}");
    let history = store::deliveries(&f.state.pool, Some(&owned[0]), 10)
        .await
        .unwrap();
    assert!(
        history
            .iter()
            .any(|d| d.channel == "email:jo@vendor.example" && d.state == "sent"),
        "{history:?}"
    );

    // Deactivated, an owner gets no more.
    store::set_active(&f.state.pool, "jo-id", false, f.clock.now())
        .await
        .unwrap();
    f.expires_in(&owned[0], 2 * DAY).await;
    f.round().await;
    let mailed_to_owner = store::deliveries(&f.state.pool, Some(&owned[0]), 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.channel.starts_with("email:"))
        .count();
    assert_eq!(mailed_to_owner, 1);
}

#[tokio::test]
async fn concur_unreachable_for_a_day_is_announced_once_per_outage() {
    let f = fixture(None).await;
    let id = f.connection("Far away").await;
    sqlx::query("UPDATE connections SET transient_failures = 3, last_ok_at = $2 WHERE id = $1")
        .bind(&id)
        .bind(f.clock.now() - 20 * 3600)
        .execute(&f.state.pool)
        .await
        .unwrap();
    f.round().await;
    assert!(f.receiver.events().is_empty(), "20 hours is not yet a day");
    f.clock.advance(5 * 3600);
    f.round().await;
    f.round().await;
    let events: Vec<String> = f.receiver.events().into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["unreachable"]);
    let text = f.receiver.accepted.lock().unwrap()[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("more than 24 hours"), "{text}");
}

#[tokio::test]
async fn each_threshold_fires_once_even_across_a_restart_on_sqlite() {
    thresholds_fire_once(Store::sqlite()).await;
}

#[tokio::test]
async fn each_threshold_fires_once_even_across_a_restart_on_postgresql() {
    thresholds_fire_once(Store::postgres().await).await;
}

#[tokio::test]
async fn failing_and_recovered_are_each_announced_once_on_sqlite() {
    failing_then_recovered(Store::sqlite()).await;
}

#[tokio::test]
async fn failing_and_recovered_are_each_announced_once_on_postgresql() {
    failing_then_recovered(Store::postgres().await).await;
}

#[tokio::test]
async fn an_env_prod_alert_reaches_only_the_prod_webhook_and_the_rest_the_default_channels() {
    let prod_hook = Receiver::default();
    let prod_origin = prod_hook.spawn().await;
    let mut f = fixture(None).await;
    let routes = format!(
        "env=prod => webhook:{prod_origin}/hook; region=emea => webhook:{prod_origin}/hook"
    );
    f.config.alerts.routes = console_core::alerts::parse_routes(&routes, Some(SECRET)).unwrap();
    f.config.allowed_hosts = format!("{},{prod_origin}", f.config.allowed_hosts);
    let state = AppState::build(&f.config, Arc::new(f.clock.clone()))
        .await
        .unwrap();
    f.state = state;
    support::person(&f.state, "csm-id", "csm", console_model::Role::Editor).await;
    let prod = f.connection("ACME prod").await;
    let dev = f.connection("Globex dev").await;
    for (id, tags, external_id) in [
        (&prod, "env=prod\nregion=emea", "tenant-1"),
        (&dev, "env=dev", "tenant-2"),
    ] {
        let change = console_core::connections::fleet::Change {
            tags: Some(tags.into()),
            external_id: Some(external_id.into()),
            owner: Some("csm".into()),
            ..Default::default()
        };
        console_core::connections::fleet::change(&f.state, id, &change)
            .await
            .unwrap();
        f.expires_in(id, 2 * DAY - 3600).await;
    }
    f.round().await;

    let to_prod = prod_hook.accepted.lock().unwrap().clone();
    let to_default = f.receiver.accepted.lock().unwrap().clone();
    assert_eq!(
        to_prod.len(),
        1,
        "two routes match, one delivery: {to_prod:?}"
    );
    assert_eq!(to_prod[0]["connection"]["name"], "ACME prod");
    assert_eq!(to_prod[0]["external_id"], "tenant-1");
    assert_eq!(
        to_prod[0]["tags"],
        serde_json::json!({"env": "prod", "region": "emea"})
    );
    assert_eq!(to_prod[0]["owner"], "csm");
    assert_eq!(to_default.len(), 1, "{to_default:?}");
    assert_eq!(to_default[0]["connection"]["name"], "Globex dev");
    assert_eq!(to_default[0]["tags"], serde_json::json!({"env": "dev"}));

    // The delivery history names the route's channel without its URL's path.
    let channels: Vec<String> = sqlx::query_scalar("SELECT channel FROM alert_outbox")
        .fetch_all(&f.state.pool)
        .await
        .unwrap();
    let routed = channels.iter().find(|c| c.starts_with("webhook:")).unwrap();
    assert!(!routed.contains("/hook"), "{routed}");
}

#[test]
fn a_bad_route_is_named_at_start() {
    use console_core::alerts::parse_routes;
    assert!(
        parse_routes("env=prod => webhook:https://hooks.example/p", None)
            .unwrap_err()
            .contains("CONCUR_ALERT_WEBHOOK_SECRET")
    );
    for bad in [
        "env=prod webhook:https://x",
        " => email:ops@vendor.example",
        "Env=prod => email:ops@vendor.example",
        "env=prod => email:not-an-address",
        "env=prod => sms:123",
        "env=prod => webhook:ftp://x",
    ] {
        let e = parse_routes(bad, Some("s")).unwrap_err();
        assert!(e.starts_with("CONCUR_ALERT_ROUTES:"), "{bad}: {e}");
    }
    let routes = parse_routes(
        "env=prod,region=emea => email:emea@vendor.example; team=x => webhook:https://h.example/a",
        Some("s"),
    )
    .unwrap();
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0].target.channel(), "email:emea@vendor.example");
}
