//! Deciding which alerts fire. Each alert is marked in the database in the transaction that
//! puts its deliveries in the outbox, so a restart or a second replica never sends it twice.

pub mod channels;
pub mod config;
pub mod mail;
pub mod outbound;

use std::collections::HashSet;

use serde_json::json;

use crate::Error;
use crate::state::{AppState, internal};
use crate::store::{self, ConnectionRow, OutboxRow};
use console_model::{DAY, days_left, format_time};

pub use self::channels::{
    AlertConfig, ChannelForm, Email, Webhook, add_route, deliveries, effective, parse_thresholds,
    remove_route, save_settings, settings_view,
};
pub use self::config::{Route, Target, parse_routes};

use crate::connections::fleet::Belonging;

/// Concur unreachable for longer than this raises an alert.
const UNREACHABLE_AFTER: i64 = DAY;
/// What a test alert says.
const TEST_MESSAGE: &str = "A test alert from Concur Console: this channel works.";
/// Status changes older than this are not looked at again.
const STATUS_WINDOW: i64 = 2 * DAY;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Expiring,
    Failing,
    Unreachable,
    Recovered,
    /// A call the integration makes (a read-only API probe) answered before and now fails.
    CapabilityLost,
    /// The calls lost in an episode of [`Event::CapabilityLost`] all answer again.
    CapabilityRestored,
    Test,
}

impl Event {
    pub fn key(self) -> &'static str {
        match self {
            Event::Expiring => "expiring",
            Event::Failing => "failing",
            Event::Unreachable => "unreachable",
            Event::Recovered => "recovered",
            Event::CapabilityLost => "capability_lost",
            Event::CapabilityRestored => "capability_restored",
            Event::Test => "test",
        }
    }
}

/// The alert body every channel sends; `text` reads well on its own (Slack, Teams, e-mail).
/// `detail` says what was lost or is back, for [`Event::CapabilityLost`] and
/// [`Event::CapabilityRestored`].
fn payload(
    state: &AppState,
    row: &ConnectionRow,
    who: &Belonging,
    (event, detail): (Event, Option<&str>),
    event_id: &str,
    now: i64,
) -> serde_json::Value {
    let left = row.refresh_token_expires_at.map(|at| days_left(at, now));
    let expires = row.refresh_token_expires_at.map(format_time);
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
        Event::CapabilityLost => format!(
            "“{}” still gets tokens, but a call its integration makes now fails:",
            row.name
        ),
        Event::CapabilityRestored => {
            format!("The calls “{}”'s integration makes answer again:", row.name)
        }
        Event::Test => TEST_MESSAGE.to_owned(),
    };
    let todo = match event {
        Event::Expiring => format!("To renew (Client ID {}): {renew}.", row.client_id),
        Event::Failing => row
            .next_step
            .clone()
            .map(|s| format!("Next step (Client ID {}): {s}", row.client_id))
            .unwrap_or_default(),
        Event::CapabilityLost | Event::CapabilityRestored => detail.unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let message = [what, todo]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    connection_body(state, row, who, event.key(), event_id, &message, now)
}

/// The body of an alert about a connection, `message` saying what happened (and what to do).
pub(crate) fn connection_body(
    state: &AppState,
    row: &ConnectionRow,
    who: &Belonging,
    event: &str,
    event_id: &str,
    message: &str,
    now: i64,
) -> serde_json::Value {
    let left = row.refresh_token_expires_at.map(|at| days_left(at, now));
    let link = format!("{}/connections/{}", state.public_url, row.id);
    json!({
        "event_id": event_id,
        "event": event,
        "connection": { "id": row.id, "name": row.name },
        "external_id": who.external_id,
        "tags": who.tags.json(),
        "owner": who.owner.as_ref().map(|o| o.username.clone()),
        "days_left": left,
        "expires_at": row.refresh_token_expires_at.and_then(crate::rfc3339),
        "status": row.status(now).key(),
        "message": message,
        "link": link,
        "text": format!("{message} {link}"),
    })
}

/// Marks an alert and queues its deliveries in one transaction; false when it had fired. It
/// goes to the channels of the routes that match the connection's tags, else the default ones.
async fn fire(
    state: &AppState,
    config: &AlertConfig,
    row: &ConnectionRow,
    event: Event,
    mark: &str,
    now: i64,
) -> Result<bool, Error> {
    fire_saying(state, config, row, (event, None), mark, now).await
}

/// Tells a connection's channels that calls its integration makes stopped working (probes
/// that answered before now fail for a reason that is not transient), naming each and its fix:
/// once per episode, marked with the run that began it.
pub async fn capability_lost(
    state: &AppState,
    row: &ConnectionRow,
    lost: &[console_model::ProbeLine],
) -> Result<bool, Error> {
    let detail = lost
        .iter()
        .map(|line| {
            let status = line
                .status
                .map(|s| format!("HTTP {s}: "))
                .unwrap_or_default();
            format!(
                "{} — {status}{} Fix: {}",
                line.label,
                line.detail,
                line.fix.as_deref().unwrap_or("see the connection page.")
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let began = lost.iter().map(|l| l.checked_at).max().unwrap_or_default();
    about_calls(
        state,
        row,
        (Event::CapabilityLost, &detail),
        &format!("capability:{began}"),
    )
    .await
}

/// Tells a connection's channels that the calls an episode of [`capability_lost`] named answer
/// again: once, marked with the run that ended it.
pub async fn capability_restored(
    state: &AppState,
    row: &ConnectionRow,
    back: &[console_model::ProbeLine],
) -> Result<bool, Error> {
    let detail = back
        .iter()
        .map(|line| format!("{} — {}.", line.label, line.detail))
        .collect::<Vec<_>>()
        .join(" ");
    let ended = back.iter().map(|l| l.checked_at).max().unwrap_or_default();
    about_calls(
        state,
        row,
        (Event::CapabilityRestored, &detail),
        &format!("capability-restored:{ended}"),
    )
    .await
}

/// Fires an alert about the integration's calls (`detail` naming them) under the console's
/// alert settings, marked `mark`.
async fn about_calls(
    state: &AppState,
    row: &ConnectionRow,
    (event, detail): (Event, &str),
    mark: &str,
) -> Result<bool, Error> {
    let config = effective(state).await?;
    fire_saying(
        state,
        &config,
        row,
        (event, Some(detail)),
        mark,
        state.now(),
    )
    .await
}

async fn fire_saying(
    state: &AppState,
    config: &AlertConfig,
    row: &ConnectionRow,
    (event, detail): (Event, Option<&str>),
    mark: &str,
    now: i64,
) -> Result<bool, Error> {
    // Read before the transaction: a read inside it would hold the write lock while it waits
    // for another of the pool's connections, which page views under load hold while they
    // wait for that lock.
    let who = crate::connections::fleet::shown_one(state, row).await?;
    let channels = channels_of(state, config, &who).await?;
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    if !store::mark_alert(&mut *tx, &row.id, mark, now)
        .await
        .map_err(internal)?
    {
        return Ok(false);
    }
    let event_id = uuid::Uuid::now_v7().to_string();
    let body = payload(state, row, &who, (event, detail), &event_id, now).to_string();
    queue(
        &mut tx,
        &channels,
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

/// The channels an alert about what `who` describes goes to: the routed or default ones, and
/// its owner's address when they asked for their connections' alerts by e-mail.
pub(crate) async fn channels_of(
    state: &AppState,
    config: &AlertConfig,
    who: &Belonging,
) -> Result<Vec<String>, Error> {
    let owner = match &who.owner {
        Some(owner) if config.email.is_some() => store::owner_alert_address(&state.pool, &owner.id)
            .await
            .map_err(internal)?,
        _ => None,
    };
    Ok(config.channels_for(&who.tags, owner.as_deref()))
}

/// Puts one delivery per channel of an alert (`event`, as its key) in the outbox, pending
/// from `now`.
pub(crate) async fn queue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    channels: &[String],
    connection_id: Option<&str>,
    event: &str,
    event_id: &str,
    body: &str,
    now: i64,
) -> Result<(), Error> {
    for channel in channels {
        let delivery = OutboxRow {
            id: uuid::Uuid::now_v7().to_string(),
            event_id: event_id.to_owned(),
            connection_id: connection_id.map(str::to_owned),
            event: event.to_owned(),
            channel: channel.clone(),
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
) -> Result<usize, Error> {
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
pub async fn evaluate(state: &AppState, config: &AlertConfig) -> Result<usize, Error> {
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

/// Tells the admins what became of a hand-off link, on the channels of the routes that match
/// the tags it carries, else the default ones.
pub async fn handoff_event(
    state: &AppState,
    event: HandoffEvent<'_>,
    link_id: &str,
    link_name: &str,
) -> Result<(), Error> {
    let config = effective(state).await?;
    let who = crate::handoffs::carried_by(state, link_id).await?;
    let channels = channels_of(state, &config, &who).await?;
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
        "external_id": who.external_id,
        "tags": who.tags.json(),
        "owner": who.owner.as_ref().map(|o| o.username.clone()),
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

/// A test alert on every configured channel, the routes' included (the Settings page's "Send
/// test").
pub async fn send_test(state: &AppState, config: &AlertConfig) -> Result<usize, Error> {
    let now = state.now();
    let channels = config.every_channel();
    if channels.is_empty() {
        return Err(Error::invalid(
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
