//! Alert delivery: the outbox is read, each delivery goes out on its channel (a signed webhook
//! or an e-mail), and a failure is retried with back-off. A crash replays what was not sent;
//! receivers de-duplicate by the `event_id` in the body.

use std::net::SocketAddr;
use std::time::Duration;

use console_core::Error;
use console_core::alerts::outbound::{check_smtp_url, forbidden, forbidden_host};
use console_core::alerts::{AlertConfig, Email, Target, Webhook};
use console_core::state::{AppState, internal};
use console_core::store::{self, OutboxRow};

/// Attempts before a delivery is given up as failed.
const MAX_ATTEMPTS: i64 = 8;
/// The wait before the second attempt; it doubles, up to an hour.
const FIRST_RETRY: i64 = 30;
const LONGEST_RETRY: i64 = 3600;
/// How long one attempt may take before another process may try again.
const ATTEMPT_LEASE: i64 = 120;
const BATCH: i64 = 50;
const TIMEOUT: Duration = Duration::from_secs(15);
/// How often the job looks for alerts to raise and deliveries to make.
const TICK: Duration = Duration::from_secs(15);

fn retry_after(attempts: i64) -> i64 {
    FIRST_RETRY
        .saturating_mul(1 << (attempts - 1).clamp(0, 20))
        .min(LONGEST_RETRY)
}

/// `sha256=<hex>` of HMAC-SHA256 over `"{timestamp}.{body}"` with the shared secret.
pub fn signature(secret: &str, timestamp: &str, body: &str) -> String {
    let hex = crate::protect::hmac_sha256_hex(
        secret.as_bytes(),
        &[timestamp.as_bytes(), b".", body.as_bytes()],
    );
    format!("sha256={hex}")
}

/// Checks a webhook URL: https, or an origin listed in `CONCUR_ALLOWED_HOSTS`; returns the
/// address to connect to, resolved once and checked, so DNS cannot swap it afterwards.
pub async fn outbound_target(
    raw: &str,
    policy: &concur::HostPolicy,
) -> Result<(url::Url, SocketAddr), String> {
    let url = url::Url::parse(raw).map_err(|_| "the webhook URL is not a URL".to_owned())?;
    if url.scheme() != "https" && !policy.permits(&url) {
        return Err(
            "the webhook URL must be https (or an origin listed in CONCUR_ALLOWED_HOSTS)".into(),
        );
    }
    let host = url
        .host_str()
        .ok_or_else(|| "the webhook URL has no host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if forbidden_host(&host) {
        return Err("the webhook URL names a link-local or cloud metadata address".into());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve the webhook host: {e}"))?
        .collect();
    if addresses.iter().any(|a| forbidden(a.ip())) || addresses.is_empty() {
        return Err("the webhook host resolves to a link-local or metadata address".into());
    }
    Ok((url, addresses[0]))
}

async fn send_webhook(
    webhook: &Webhook,
    concur: &concur::ConcurClient,
    body: &str,
    now: i64,
) -> Result<(), String> {
    let (url, address) = outbound_target(&webhook.url, concur.policy()).await?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let http = concur::http_builder(concur.proxy())
        .map_err(|e| e.to_string())?
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .resolve(&host, address)
        .build()
        .map_err(|e| e.to_string())?;
    let timestamp = now.to_string();
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("x-concur-console-timestamp", &timestamp)
        .header(
            "x-concur-console-signature",
            signature(&webhook.secret, &timestamp, body),
        )
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| format!("the webhook could not be reached: {}", without_url(&e)))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the webhook answered HTTP {}",
            response.status().as_u16()
        ))
    }
}

/// A reqwest error without the URL (it may carry a token in its path or query).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection refused or failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

async fn send_email(email: &Email, body: &str) -> Result<(), String> {
    use lettre::message::header::ContentType;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let alert: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let name = alert["connection"]["name"]
        .as_str()
        .unwrap_or("Concur Console");
    // A mail written for its reader (a renewal request to a customer) carries its subject.
    let subject = alert["subject"].as_str().map_or_else(
        || match alert["event"].as_str() {
            Some("expiring") => format!("[Concur Console] {name}: refresh token expiring"),
            Some("failing") => format!("[Concur Console] {name}: failing"),
            Some("unreachable") => format!("[Concur Console] {name}: Concur unreachable"),
            Some("recovered") => format!("[Concur Console] {name}: recovered"),
            Some("capability_lost") => {
                format!("[Concur Console] {name}: a call of the integration fails")
            }
            Some("capability_restored") => {
                format!("[Concur Console] {name}: the integration's calls answer again")
            }
            Some("renewal_requested") => {
                format!("[Concur Console] {name}: renewal asked of the customer")
            }
            Some("renewal_reminded") => format!("[Concur Console] {name}: renewal reminder sent"),
            Some("renewal_unanswered") => {
                format!("[Concur Console] {name}: the customer has not answered")
            }
            Some("renewal_completed") => {
                format!("[Concur Console] {name}: renewed by the customer")
            }
            Some("handoff_completed") => "[Concur Console] hand-off link completed".to_owned(),
            Some("handoff_locked") => "[Concur Console] hand-off link locked".to_owned(),
            Some("handoff_expired") => "[Concur Console] hand-off link expired unused".to_owned(),
            _ => "[Concur Console] test alert".to_owned(),
        },
        str::to_owned,
    );
    let text = alert["text"].as_str().unwrap_or_default().to_owned();
    let mut message = Message::builder()
        .from(
            email
                .from
                .parse()
                .map_err(|_| "CONCUR_ALERT_EMAIL_FROM is not an e-mail address")?,
        )
        .subject(subject);
    for to in &email.to {
        message = message.to(to
            .parse()
            .map_err(|_| format!("{to:?} is not an e-mail address"))?);
    }
    let message = message
        .header(ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|e| e.to_string())?;
    let url = check_smtp_url(&email.smtp_url)?;
    let host = url.host_str().unwrap_or_default();
    let port = url.port().unwrap_or(25);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve the SMTP host: {e}"))?
        .collect();
    if addresses.iter().any(|a| forbidden(a.ip())) {
        return Err("the SMTP host resolves to a link-local or metadata address".into());
    }
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&email.smtp_url)
        .map_err(|_| "CONCUR_SMTP_URL is not a valid smtp:// or smtps:// URL".to_owned())?
        .timeout(Some(TIMEOUT))
        .build();
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("the SMTP server refused or failed: {e}"))
}

async fn attempt(
    state: &AppState,
    config: &AlertConfig,
    row: &OutboxRow,
    now: i64,
) -> Result<(), String> {
    // A route's address or an owner's: the address is the channel's own name.
    if let Some(address) = row.channel.strip_prefix("email:") {
        let Some(email) = &config.email else {
            return Err(format!(
                "{}: no SMTP server is set up (CONCUR_SMTP_URL or the Settings page)",
                row.channel
            ));
        };
        let routed = Email {
            to: vec![address.to_owned()],
            ..email.clone()
        };
        return send_email(&routed, &row.payload).await;
    }
    match (row.channel.as_str(), &config.webhook, &config.email) {
        ("webhook", Some(webhook), _) => {
            send_webhook(webhook, &state.concur, &row.payload, now).await
        }
        ("email", _, Some(email)) => send_email(email, &row.payload).await,
        (channel, _, _) => match config.route(channel).map(|r| &r.target) {
            Some(Target::Webhook(webhook)) => {
                send_webhook(webhook, &state.concur, &row.payload, now).await
            }
            _ => Err(format!("the {channel} channel is no longer set up")),
        },
    }
}

async fn audit_delivery(
    state: &AppState,
    row: &OutboxRow,
    kind: &str,
    outcome: &str,
    detail: &str,
) {
    let detail = format!("{} via {}: {detail}", row.event, row.channel);
    console_core::audit::record(
        state,
        console_core::audit::Event {
            actor: console_core::audit::Actor::Named("alerts"),
            address: None,
            kind,
            connection_id: row.connection_id.as_deref(),
            outcome,
            detail: &detail,
        },
    )
    .await;
}

/// A delivery's channel as `/metrics` labels it: a customer's address never appears there.
fn metric_channel(row: &OutboxRow) -> &str {
    if row.event == "renewal_request" {
        "email:customer"
    } else {
        &row.channel
    }
}

/// Sends what is due in the outbox; returns (sent, failed attempts).
pub async fn deliver_due(state: &AppState, config: &AlertConfig) -> Result<(usize, usize), Error> {
    let now = state.now();
    let due = store::due_deliveries(&state.pool, now, BATCH)
        .await
        .map_err(internal)?;
    let (mut sent, mut failed) = (0, 0);
    for row in due {
        if !store::claim_delivery(&state.pool, &row, now + ATTEMPT_LEASE)
            .await
            .map_err(internal)?
        {
            continue;
        }
        let attempts = row.attempts + 1;
        match attempt(state, config, &row, now).await {
            Ok(()) => {
                store::delivered(&state.pool, &row.id, attempts, state.now())
                    .await
                    .map_err(internal)?;
                tracing::info!(event = %row.event, channel = %row.channel, attempts, "alert delivered");
                state
                    .metrics
                    .alert_deliveries
                    .add(&[metric_channel(&row), "sent"]);
                audit_delivery(state, &row, "alert_sent", "ok", &row.event).await;
                sent += 1;
            }
            Err(error) => {
                let next = (attempts < MAX_ATTEMPTS).then(|| now + retry_after(attempts));
                store::delivery_failed(&state.pool, &row.id, attempts, &error, next)
                    .await
                    .map_err(internal)?;
                tracing::warn!(event = %row.event, channel = %row.channel, attempts, %error, gave_up = next.is_none(), "alert delivery failed");
                state
                    .metrics
                    .alert_deliveries
                    .add(&[metric_channel(&row), "failed"]);
                failed += 1;
            }
        }
    }
    Ok((sent, failed))
}

/// One round of the alert job: raise what is due, ask customers for renewals, then deliver.
pub async fn run_once(state: &AppState, config: &AlertConfig) -> Result<(), Error> {
    console_core::alerts::evaluate(state, config).await?;
    let renewals = console_core::renewals::run(state, config).await?;
    if renewals != console_core::renewals::Round::default() {
        tracing::info!(
            asked = renewals.asked,
            reminded = renewals.reminded,
            escalated = renewals.escalated,
            completed = renewals.completed,
            "renewal requests"
        );
    }
    deliver_due(state, config).await?;
    Ok(())
}

/// One round of the background job: the channels in effect now (the environment, else the
/// Settings page), then [`run_once`].
pub async fn run_round(state: &AppState) -> Result<(), Error> {
    let config = console_core::alerts::effective(state).await?;
    run_once(state, &config).await
}

/// The background job of `serve`: raises and delivers alerts every few seconds until `stop`.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = run_round(&state).await {
            tracing::warn!(error = %e, "alert round stopped early");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        assert_eq!(retry_after(1), 30);
        assert_eq!(retry_after(2), 60);
        assert_eq!(retry_after(10), 3600);
    }

    #[test]
    fn the_signature_is_an_hmac_of_timestamp_dot_body() {
        let s = signature("secret", "1700000000", "{\"a\":1}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert_ne!(s, signature("secret", "1700000001", "{\"a\":1}"));
        assert_ne!(s, signature("other", "1700000000", "{\"a\":1}"));
    }
}
