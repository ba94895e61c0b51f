//! Deciding which alerts fire. Each alert is marked in the database in the transaction that
//! puts its deliveries in the outbox, so a restart or a second replica never sends it twice.

use std::collections::HashSet;

use serde_json::json;

use crate::error::AppError;
use crate::model::{AlertSettingsView, DAY, DeliveryView, days_left, format_time};
use crate::ssr::state::{AppState, internal};
use crate::ssr::store::{self, ConnectionRow, OutboxRow};

/// Concur unreachable for longer than this raises an alert.
const UNREACHABLE_AFTER: i64 = DAY;
/// What a test alert says.
const TEST_MESSAGE: &str = "A test alert from Concur Console: this channel works.";
/// Status changes older than this are not looked at again.
const STATUS_WINDOW: i64 = 2 * DAY;

/// Where alerts go. Built from the environment; the Settings page fills what it leaves out.
#[derive(Debug, Clone, Default)]
pub struct AlertConfig {
    /// Days before expiry that warn, most distant first (`CONCUR_ALERT_DAYS`).
    pub thresholds: Vec<i64>,
    pub webhook: Option<Webhook>,
    pub email: Option<Email>,
}

#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct Email {
    /// `smtp://user:pass@host:587?tls=required`, `smtps://…`; holds a password.
    pub smtp_url: String,
    pub from: String,
    pub to: Vec<String>,
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl AlertConfig {
    /// The channels deliveries go to.
    pub fn channels(&self) -> Vec<&'static str> {
        let mut channels = Vec::new();
        if self.webhook.is_some() {
            channels.push("webhook");
        }
        if self.email.is_some() {
            channels.push("email");
        }
        channels
    }
}

/// Reads `30,14,7,3,1`: whole days, each at least 1, most distant first.
pub fn parse_thresholds(raw: &str) -> Result<Vec<i64>, String> {
    let mut days = raw
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<i64>()
                .ok()
                .filter(|n| (1..=365).contains(n))
                .ok_or_else(|| {
                    format!("CONCUR_ALERT_DAYS: {d:?} is not a number of days from 1 to 365")
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    Ok(days)
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Expiring,
    Failing,
    Unreachable,
    Recovered,
    Test,
}

impl Event {
    pub fn key(self) -> &'static str {
        match self {
            Event::Expiring => "expiring",
            Event::Failing => "failing",
            Event::Unreachable => "unreachable",
            Event::Recovered => "recovered",
            Event::Test => "test",
        }
    }
}

/// The alert body every channel sends; `text` reads well on its own (Slack, Teams, e-mail).
fn payload(
    state: &AppState,
    row: &ConnectionRow,
    event: Event,
    event_id: &str,
    now: i64,
) -> serde_json::Value {
    let left = row.refresh_token_expires_at.map(|at| days_left(at, now));
    let expires = row.refresh_token_expires_at.map(format_time);
    let link = format!("{}/connections/{}", state.public_url, row.id);
    let renew = concur::Diagnosis::new(concur::Problem::RefreshTokenInvalid).next_step();
    let what = match event {
        Event::Expiring => match (left, &expires) {
            (Some(d), Some(at)) if d >= 0 => format!(
                "The Concur refresh token of “{}” expires in {d} day{} ({at}).",
                row.name,
                if d == 1 { "" } else { "s" }
            ),
            (_, Some(at)) => format!(
                "The Concur refresh token of “{}” expired on {at}.",
                row.name
            ),
            _ => format!(
                "The Concur refresh token of “{}” is about to expire.",
                row.name
            ),
        },
        Event::Failing => format!(
            "“{}” is failing: {}",
            row.name,
            row.last_problem
                .clone()
                .unwrap_or_else(|| "Concur refused the stored credentials.".into())
        ),
        Event::Unreachable => format!(
            "Concur has been unreachable for “{}” for more than 24 hours; the console keeps retrying.",
            row.name
        ),
        Event::Recovered => format!("“{}” works again.", row.name),
        Event::Test => TEST_MESSAGE.to_owned(),
    };
    let todo = match event {
        Event::Expiring => format!("To renew (Client ID {}): {renew}.", row.client_id),
        Event::Failing => row
            .next_step
            .clone()
            .map(|s| format!("Next step (Client ID {}): {s}", row.client_id))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let message = [what, todo]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    json!({
        "event_id": event_id,
        "event": event.key(),
        "connection": { "id": row.id, "name": row.name },
        "days_left": left,
        "expires_at": row.refresh_token_expires_at.and_then(crate::ssr::rfc3339),
        "status": row.status(now).key(),
        "message": message,
        "link": link,
        "text": format!("{message} {link}"),
    })
}

/// Marks an alert and queues its deliveries in one transaction; false when it had fired.
async fn fire(
    state: &AppState,
    config: &AlertConfig,
    row: &ConnectionRow,
    event: Event,
    mark: &str,
    now: i64,
) -> Result<bool, AppError> {
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    if !store::mark_alert(&mut *tx, &row.id, mark, now)
        .await
        .map_err(internal)?
    {
        return Ok(false);
    }
    let event_id = uuid::Uuid::now_v7().to_string();
    let body = payload(state, row, event, &event_id, now).to_string();
    queue(
        &mut tx,
        &config.channels(),
        Some(&row.id),
        event.key(),
        &event_id,
        &body,
        now,
    )
    .await?;
    tx.commit().await.map_err(internal)?;
    tracing::info!(connection = %row.id, event = event.key(), mark, "alert raised");
    Ok(true)
}

/// Puts one delivery per channel of an alert (`event`, as its key) in the outbox, pending
/// from `now`.
async fn queue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    channels: &[&str],
    connection_id: Option<&str>,
    event: &str,
    event_id: &str,
    body: &str,
    now: i64,
) -> Result<(), AppError> {
    for channel in channels {
        let delivery = OutboxRow {
            id: uuid::Uuid::now_v7().to_string(),
            event_id: event_id.to_owned(),
            connection_id: connection_id.map(str::to_owned),
            event: event.to_owned(),
            channel: (*channel).to_owned(),
            payload: body.to_owned(),
            state: "pending".to_owned(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        };
        store::enqueue(&mut **tx, &delivery)
            .await
            .map_err(internal)?;
    }
    Ok(())
}

/// The most urgent threshold that applies at `left` days, if any.
pub fn most_urgent(thresholds: &[i64], left: i64) -> Option<i64> {
    thresholds.iter().copied().filter(|&t| left < t).min()
}

/// The threshold and expiry an expiry alert's mark (`expiry:{threshold}:{expires_at}`) names.
fn expiry_mark(mark: &str) -> Option<(i64, i64)> {
    let (threshold, at) = mark.strip_prefix("expiry:")?.split_once(':')?;
    Some((threshold.parse().ok()?, at.parse().ok()?))
}

/// Whether the `threshold` alert may fire for a token expiring `at`, given the expiries it
/// already fired for: only once the expiry moved back above the threshold, which a renewal
/// does (it moves the expiry by months) and a refresh inside the band does not (it moves it by
/// seconds or hours). Moved by at least the threshold's width from every earlier firing.
fn rearmed(threshold: i64, at: i64, mut earlier: impl Iterator<Item = i64>) -> bool {
    earlier.all(|fired_for| at - fired_for >= threshold * DAY)
}

/// The expiry and unreachable alerts one connection is due and not yet `marked` with; returns
/// how many fired. (Firing checks the mark again, in its transaction.)
async fn check_candidate(
    state: &AppState,
    config: &AlertConfig,
    row: &ConnectionRow,
    marked: &HashSet<(String, String)>,
    now: i64,
) -> Result<usize, AppError> {
    let due = |mark: &str| !marked.contains(&(row.id.clone(), mark.to_owned()));
    let mut fired = 0;
    if let Some(at) = row.refresh_token_expires_at
        && row.failing == 0
        && let Some(threshold) = most_urgent(&config.thresholds, days_left(at, now).max(0))
    {
        let earlier = marked
            .iter()
            .filter(|(id, _)| *id == row.id)
            .filter_map(|(_, mark)| expiry_mark(mark))
            .filter(|(t, _)| *t == threshold)
            .map(|(_, at)| at);
        if rearmed(threshold, at, earlier) {
            let mark = format!("expiry:{threshold}:{at}");
            fired += usize::from(fire(state, config, row, Event::Expiring, &mark, now).await?);
        }
    }
    if row.transient_failures > 0 && row.failing == 0 {
        let since = row.last_ok_at.unwrap_or(row.created_at);
        if now - since > UNREACHABLE_AFTER {
            let mark = format!("unreachable:{since}");
            if due(&mark) {
                fired +=
                    usize::from(fire(state, config, row, Event::Unreachable, &mark, now).await?);
            }
        }
    }
    Ok(fired)
}

/// Connections read at a time while looking for alerts (memory stays flat with the fleet); the
/// marks already recorded for them are read alongside, so a round over a large fleet whose
/// alerts have gone out writes nothing.
const CANDIDATE_BATCH: i64 = 500;

/// Looks at every connection once and raises what is due: expiry thresholds, failing,
/// recovered, and Concur unreachable for a day. Returns how many alerts fired.
pub async fn evaluate(state: &AppState, config: &AlertConfig) -> Result<usize, AppError> {
    let now = state.now();
    let mut fired = 0;
    let horizon = config.thresholds.first().copied().unwrap_or(0);
    let mut after = String::new();
    loop {
        let batch = store::alert_candidates(
            &state.pool,
            now,
            horizon * DAY,
            now - UNREACHABLE_AFTER,
            &after,
            CANDIDATE_BATCH,
        )
        .await
        .map_err(internal)?;
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            break;
        };
        let marked: HashSet<(String, String)> =
            store::alert_marks_between(&state.pool, &first.id, &last.id)
                .await
                .map_err(internal)?
                .into_iter()
                .collect();
        after = last.id.clone();
        for row in &batch {
            fired += check_candidate(state, config, row, &marked, now).await?;
        }
    }
    for (validation_id, connection_id, change) in
        store::status_changes_since(&state.pool, now - STATUS_WINDOW)
            .await
            .map_err(internal)?
    {
        let Some(row) = store::connection(&state.pool, &connection_id)
            .await
            .map_err(internal)?
        else {
            continue;
        };
        let event = if change.starts_with("Recovered") {
            Event::Recovered
        } else {
            Event::Failing
        };
        let mark = format!("status:{validation_id}");
        fired += usize::from(fire(state, config, &row, event, &mark, now).await?);
    }
    Ok(fired)
}

/// What became of a hand-off link, for the admins.
#[derive(Debug, Clone, Copy)]
pub enum HandoffEvent<'a> {
    /// The customer connected; the connection made or renewed.
    Completed { connection_id: &'a str },
    /// Too many refused attempts.
    Locked,
    /// It expired unused.
    Expired,
}

impl HandoffEvent<'_> {
    pub fn key(self) -> &'static str {
        match self {
            Self::Completed { .. } => "handoff_completed",
            Self::Locked => "handoff_locked",
            Self::Expired => "handoff_expired",
        }
    }
}

/// Tells the admins what became of a hand-off link on every channel in effect.
pub async fn handoff_event(
    state: &AppState,
    event: HandoffEvent<'_>,
    link_id: &str,
    link_name: &str,
) -> Result<(), AppError> {
    let config = effective(state).await?;
    let channels = config.channels();
    if channels.is_empty() {
        return Ok(());
    }
    let now = state.now();
    let page = format!("{}/handoffs", state.public_url);
    let (message, link, connection_id) = match event {
        HandoffEvent::Completed { connection_id } => (
            format!(
                "The customer completed the hand-off link “{link_name}”: the connection is stored and kept alive."
            ),
            format!("{}/connections/{connection_id}", state.public_url),
            Some(connection_id),
        ),
        HandoffEvent::Locked => (
            format!(
                "The hand-off link “{link_name}” was locked after too many refused attempts; make a new one if the customer still needs it."
            ),
            page,
            None,
        ),
        HandoffEvent::Expired => (
            format!("The hand-off link “{link_name}” expired without being used."),
            page,
            None,
        ),
    };
    let event_id = uuid::Uuid::now_v7().to_string();
    let body = json!({
        "event_id": event_id,
        "event": event.key(),
        "handoff": { "id": link_id, "name": link_name },
        "connection": connection_id.map(|id| json!({ "id": id })),
        "message": message,
        "link": link,
        "text": format!("{message} {link}"),
    })
    .to_string();
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    queue(
        &mut tx,
        &channels,
        connection_id,
        event.key(),
        &event_id,
        &body,
        now,
    )
    .await?;
    tx.commit().await.map_err(internal)?;
    Ok(())
}

/// A test alert on every configured channel (the Settings page's "Send test").
pub async fn send_test(state: &AppState, config: &AlertConfig) -> Result<usize, AppError> {
    let now = state.now();
    let channels = config.channels();
    if channels.is_empty() {
        return Err(AppError::invalid(
            "channel",
            "Set up a webhook or e-mail first.",
        ));
    }
    let event_id = uuid::Uuid::now_v7().to_string();
    let body = json!({
        "event_id": event_id,
        "event": Event::Test.key(),
        "connection": null,
        "days_left": null,
        "expires_at": null,
        "status": null,
        "message": TEST_MESSAGE,
        "text": TEST_MESSAGE,
    })
    .to_string();
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    queue(
        &mut tx,
        &channels,
        None,
        Event::Test.key(),
        &event_id,
        &body,
        now,
    )
    .await?;
    tx.commit().await.map_err(internal)?;
    Ok(channels.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_rearms_only_when_the_expiry_moves_back_above_it() {
        let at = 100 * DAY;
        assert!(rearmed(7, at, std::iter::empty()), "never fired");
        assert!(!rearmed(7, at, [at].into_iter()), "fired for this expiry");
        assert!(
            !rearmed(7, at + 30, [at].into_iter()),
            "a refresh moved it by seconds"
        );
        assert!(!rearmed(7, at + 20 * 3600, [at].into_iter()), "or by hours");
        assert!(rearmed(7, at + 180 * DAY, [at].into_iter()), "a renewal");
        assert!(!rearmed(
            7,
            at + 180 * DAY,
            [at, at + 180 * DAY - 60].into_iter()
        ));
        assert_eq!(expiry_mark("expiry:7:1234"), Some((7, 1234)));
        assert_eq!(expiry_mark("unreachable:5"), None);
    }

    #[test]
    fn thresholds_read_as_days_most_distant_first() {
        assert_eq!(parse_thresholds("30,14,7,3,1").unwrap(), [30, 14, 7, 3, 1]);
        assert_eq!(parse_thresholds(" 1, 7 ,7,30").unwrap(), [30, 7, 1]);
        assert!(parse_thresholds("0").is_err());
        assert!(parse_thresholds("week").is_err());
    }

    #[test]
    fn the_most_urgent_threshold_that_applies_is_the_one_that_fires() {
        let t = [30, 14, 7, 3, 1];
        assert_eq!(most_urgent(&t, 45), None);
        assert_eq!(most_urgent(&t, 29), Some(30));
        assert_eq!(most_urgent(&t, 2), Some(3), "first seen at 2 days left");
        assert_eq!(most_urgent(&t, 0), Some(1));
    }
}

const WEBHOOK_URL: &str = "alert_webhook_url";
const WEBHOOK_SECRET: &str = "alert_webhook_secret";
const SMTP_URL: &str = "alert_smtp_url";
const EMAIL_FROM: &str = "alert_email_from";
const EMAIL_TO: &str = "alert_email_to";
const MIN_SECRET_CHARS: usize = 16;
const MAX_FIELD: usize = 2048;

async fn setting(state: &AppState, name: &str) -> Result<Option<String>, AppError> {
    store::setting(&state.pool, name).await.map_err(internal)
}

async fn sealed_setting(state: &AppState, name: &str) -> Result<Option<String>, AppError> {
    match setting(state, name).await? {
        Some(sealed) => Ok(Some(
            state
                .cipher
                .open("settings", name, &sealed)
                .map_err(internal)?
                .to_string(),
        )),
        None => Ok(None),
    }
}

/// The channels in use: each one from the environment when set there (the environment wins),
/// else from the Settings page.
pub async fn effective(state: &AppState) -> Result<AlertConfig, AppError> {
    let mut config = state.alerts.clone();
    if config.webhook.is_none()
        && let (Some(url), Some(secret)) = (
            webhook_url(state).await?,
            sealed_setting(state, WEBHOOK_SECRET).await?,
        )
    {
        config.webhook = Some(Webhook { url, secret });
    }
    if config.email.is_none()
        && let (Some(smtp_url), Some(from), Some(to)) = (
            sealed_setting(state, SMTP_URL).await?,
            setting(state, EMAIL_FROM).await?,
            setting(state, EMAIL_TO).await?,
        )
    {
        config.email = Some(Email {
            smtp_url,
            from,
            to: to.split(',').map(|a| a.trim().to_owned()).collect(),
        });
    }
    Ok(config)
}

/// What the Settings page shows: never a secret, only whether one is set.
pub async fn settings_view(state: &AppState) -> Result<AlertSettingsView, AppError> {
    let config = effective(state).await?;
    Ok(AlertSettingsView {
        thresholds: state.alerts.thresholds.clone(),
        webhook_from_env: state.alerts.webhook.is_some(),
        webhook_host: config
            .webhook
            .as_ref()
            .and_then(|w| super::outbound::shown_host(&w.url)),
        webhook_secret_set: config.webhook.is_some(),
        email_from_env: state.alerts.email.is_some(),
        smtp_host: config.email.as_ref().and_then(|e| {
            url::Url::parse(&e.smtp_url).ok().and_then(|u| {
                u.host_str()
                    .map(|h| format!("{}://{h}:{}", u.scheme(), u.port().unwrap_or(25)))
            })
        }),
        email_from: config.email.as_ref().map(|e| e.from.clone()),
        email_to: config.email.as_ref().map(|e| e.to.join(", ")),
        deliveries: deliveries(state, None, 50).await?,
    })
}

fn one_line(field: &str, raw: &str) -> Result<String, AppError> {
    let value = raw.trim();
    if value.len() > MAX_FIELD || value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "Use one line of at most 2048 characters.",
        ));
    }
    Ok(value.to_owned())
}

fn email_address(field: &str, raw: &str) -> Result<String, AppError> {
    let address = one_line(field, raw)?;
    let valid = address.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !address.contains(' ')
    });
    if valid {
        Ok(address)
    } else {
        Err(AppError::invalid(
            field,
            "Give an e-mail address such as ops@example.com.",
        ))
    }
}

/// The Settings page's alert channels. A blank URL or secret keeps the stored one (neither is
/// ever shown back); `webhook_remove` removes the webhook; empty e-mail fields remove e-mail.
/// A channel set in the environment cannot be changed here.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ChannelForm {
    pub webhook_url: String,
    pub webhook_secret: String,
    pub webhook_remove: bool,
    pub smtp_url: String,
    pub email_from: String,
    pub email_to: String,
}

pub async fn save_settings(state: &AppState, form: &ChannelForm) -> Result<(), AppError> {
    save_webhook(state, form).await?;
    let smtp = one_line("smtp_url", &form.smtp_url)?;
    let from = form.email_from.trim();
    let wants_email = !smtp.is_empty() || !from.is_empty() || !form.email_to.trim().is_empty();
    if wants_email {
        if state.alerts.email.is_some() {
            return Err(AppError::invalid(
                "smtp_url",
                "E-mail is set in the environment (CONCUR_SMTP_URL); change it there.",
            ));
        }
        let stored = setting(state, SMTP_URL).await?.is_some();
        if smtp.is_empty() && !stored {
            return Err(AppError::invalid(
                "smtp_url",
                "Give the SMTP server, e.g. smtp://user:password@mail.example.com:587?tls=required.",
            ));
        }
        if !smtp.is_empty() {
            super::outbound::check_smtp_url(&smtp)
                .map_err(|message| AppError::invalid("smtp_url", message))?;
        }
        let from = email_address("email_from", from)?;
        let to = form
            .email_to
            .split(',')
            .map(|a| email_address("email_to", a))
            .collect::<Result<Vec<_>, _>>()?;
        if !smtp.is_empty() {
            let sealed = state.cipher.seal("settings", SMTP_URL, &smtp);
            store::set_setting(&state.pool, SMTP_URL, Some(&sealed))
                .await
                .map_err(internal)?;
        }
        store::set_setting(&state.pool, EMAIL_FROM, Some(&from))
            .await
            .map_err(internal)?;
        store::set_setting(&state.pool, EMAIL_TO, Some(&to.join(", ")))
            .await
            .map_err(internal)?;
    } else if state.alerts.email.is_none() {
        for name in [SMTP_URL, EMAIL_FROM, EMAIL_TO] {
            store::set_setting(&state.pool, name, None)
                .await
                .map_err(internal)?;
        }
    }
    Ok(())
}

/// The webhook part of [`save_settings`]: the URL is sealed like the secret, since it grants
/// posting rights to whoever holds it.
async fn save_webhook(state: &AppState, form: &ChannelForm) -> Result<(), AppError> {
    let url = one_line("webhook_url", &form.webhook_url)?;
    let secret = one_line("webhook_secret", &form.webhook_secret)?;
    if !form.webhook_remove && url.is_empty() && secret.is_empty() {
        return Ok(());
    }
    if state.alerts.webhook.is_some() {
        return Err(AppError::invalid(
            "webhook_url",
            "The webhook is set in the environment (CONCUR_ALERT_WEBHOOK_URL); change it there.",
        ));
    }
    if form.webhook_remove {
        for name in [WEBHOOK_URL, WEBHOOK_SECRET] {
            store::set_setting(&state.pool, name, None)
                .await
                .map_err(internal)?;
        }
        return Ok(());
    }
    let url = if url.is_empty() {
        webhook_url(state).await?.ok_or_else(|| {
            AppError::invalid(
                "webhook_url",
                "Give the webhook URL, such as https://hooks.example.com/…",
            )
        })?
    } else {
        url
    };
    let parsed = url::Url::parse(&url).map_err(|_| {
        AppError::invalid(
            "webhook_url",
            "Give a full URL such as https://hooks.example.com/…",
        )
    })?;
    if parsed
        .host_str()
        .is_some_and(super::outbound::forbidden_host)
    {
        return Err(AppError::invalid(
            "webhook_url",
            "The webhook must not name a link-local or cloud metadata address.",
        ));
    }
    if parsed.scheme() != "https" && !state.concur.policy().permits(&parsed) {
        return Err(AppError::invalid(
            "webhook_url",
            "The webhook must be https (an operator can allow other origins with CONCUR_ALLOWED_HOSTS).",
        ));
    }
    let stored = setting(state, WEBHOOK_SECRET).await?.is_some();
    if secret.is_empty() && !stored {
        return Err(AppError::invalid(
            "webhook_secret",
            "Give a shared secret (at least 16 characters) the receiver verifies signatures with.",
        ));
    }
    if !secret.is_empty() && secret.chars().count() < MIN_SECRET_CHARS {
        return Err(AppError::invalid(
            "webhook_secret",
            "The secret must be at least 16 characters.",
        ));
    }
    let sealed = state.cipher.seal("settings", WEBHOOK_URL, &url);
    store::set_setting(&state.pool, WEBHOOK_URL, Some(&sealed))
        .await
        .map_err(internal)?;
    if !secret.is_empty() {
        let sealed = state.cipher.seal("settings", WEBHOOK_SECRET, &secret);
        store::set_setting(&state.pool, WEBHOOK_SECRET, Some(&sealed))
            .await
            .map_err(internal)?;
    }
    Ok(())
}

/// The webhook URL set on the Settings page. One stored in clear by an earlier version is
/// sealed in place the first time it is read.
async fn webhook_url(state: &AppState) -> Result<Option<String>, AppError> {
    let Some(stored) = setting(state, WEBHOOK_URL).await? else {
        return Ok(None);
    };
    if let Ok(url) = state.cipher.open("settings", WEBHOOK_URL, &stored) {
        return Ok(Some(url.to_string()));
    }
    if url::Url::parse(&stored).is_err() {
        return Err(internal("the stored webhook URL neither opens nor parses"));
    }
    let sealed = state.cipher.seal("settings", WEBHOOK_URL, &stored);
    store::set_setting(&state.pool, WEBHOOK_URL, Some(&sealed))
        .await
        .map_err(internal)?;
    Ok(Some(stored))
}

/// The delivery history, newest first; one connection's when given.
pub async fn deliveries(
    state: &AppState,
    connection_id: Option<&str>,
    limit: i64,
) -> Result<Vec<DeliveryView>, AppError> {
    Ok(store::deliveries(&state.pool, connection_id, limit)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|d| DeliveryView {
            created_at: d.created_at,
            event: d.event,
            channel: d.channel,
            state: d.state,
            attempts: d.attempts,
            last_error: d.last_error,
            sent_at: d.sent_at,
        })
        .collect())
}
