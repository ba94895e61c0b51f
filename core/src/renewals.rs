//! Renewal requests: when a connection needs its customer (a revoked or expired token, a disabled
//! app, a changed secret, scopes taken away, a token about to expire that keep-alive cannot
//! move), the console asks the connection's contact with a renewal link, reminds on a schedule,
//! tells the owner once when nobody answers, and ends the episode when the connection heals.
//! The alert round drives it; each step is a conditional write in the transaction that queues
//! its mail in the alert outbox, so a restart or a second replica never sends one twice.

use crate::Error;
use crate::alerts::{self, AlertConfig, mail};
use crate::connections::fleet::{self, Belonging};
use crate::connections::stored::stored;
use crate::state::{AppState, internal};
use crate::store::{self, ConnectionRow, RenewalRow};
use console_model::{DAY, RenewalBox, RenewalRequestView, TimelineStep};

/// A refresh token expiring within this long needs the customer (`CONCUR_RENEWAL_LEAD`).
pub const DEFAULT_LEAD: i64 = 7 * DAY;
/// When the contact is reminded, counted from the first request (`CONCUR_RENEWAL_REMINDERS`).
pub const DEFAULT_REMINDERS: [i64; 2] = [2 * DAY, 5 * DAY];
/// Connections or episodes read at a time.
const BATCH: i64 = 200;
/// The outbox event of a mail to the customer.
const MAIL_EVENT: &str = "renewal_request";
/// Who the audit log and the links name as asking.
const ACTOR: &str = "renewal requests";
/// Where a Company Request Token is made, as the customer's admin finds it.
const REQUEST_TOKEN_STEP: &str = "In SAP Concur, open Administration → Company → Authentication Admin → Company Request Token, enter the app's Client ID as the App ID and submit. Note the Company Request Token it shows (it is valid for 24 hours and works once).";
/// Where the app's registration is.
const APP_MANAGEMENT: &str =
    "Administration → Company → Authentication Admin → OAuth 2.0 Application Management";

/// When and how the console asks customers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalConfig {
    pub lead: i64,
    /// Ascending.
    pub reminders: Vec<i64>,
    /// Whether to ask at all (`CONCUR_RENEWAL_REQUESTS`); unset, whenever e-mail is set up.
    pub automatic: Option<bool>,
}

impl Default for RenewalConfig {
    fn default() -> Self {
        Self {
            lead: DEFAULT_LEAD,
            reminders: DEFAULT_REMINDERS.to_vec(),
            automatic: None,
        }
    }
}

/// What the customer must fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The refresh token was revoked, expired, or is unknown.
    Token,
    /// The app is disabled in the company's Concur.
    AppDisabled,
    /// The company has not enabled the app.
    AppNotEnabled,
    /// The app's secret changed.
    Secret,
    /// The app lacks these scopes.
    Scopes(Vec<String>),
    /// The refresh token expires soon and keep-alive cannot move it.
    Expiring,
    /// An admin asked for a renewal although the connection works.
    Asked,
}

impl Reason {
    pub fn key(&self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::AppDisabled => "app_disabled",
            Self::AppNotEnabled => "app_not_enabled",
            Self::Secret => "secret",
            Self::Scopes(_) => "scopes",
            Self::Expiring => "expiring",
            Self::Asked => "asked",
        }
    }

    /// The reason a request row keeps.
    pub fn stored(key: &str, scopes: &str) -> Option<Self> {
        Some(match key {
            "token" => Self::Token,
            "app_disabled" => Self::AppDisabled,
            "app_not_enabled" => Self::AppNotEnabled,
            "secret" => Self::Secret,
            "scopes" => Self::Scopes(scopes.split_whitespace().map(str::to_owned).collect()),
            "expiring" => Self::Expiring,
            "asked" => Self::Asked,
            _ => return None,
        })
    }

    /// The scopes a row keeps with the reason.
    fn scopes(&self) -> String {
        match self {
            Self::Scopes(scopes) => scopes.join(" "),
            _ => String::new(),
        }
    }

    /// The reason in a sentence for the vendor's staff.
    pub fn for_staff(&self) -> String {
        match self {
            Self::Token => "its refresh token was revoked or expired.".to_owned(),
            Self::AppDisabled => "the app is disabled in the customer's Concur.".to_owned(),
            Self::AppNotEnabled => "the customer's company has not enabled the app.".to_owned(),
            Self::Secret => "the app's Client Secret changed.".to_owned(),
            Self::Scopes(scopes) => format!("the app lacks the scopes {}.", scopes.join(", ")),
            Self::Expiring => {
                "its refresh token expires soon and cannot be renewed without the customer."
                    .to_owned()
            }
            Self::Asked => "an admin asked for a renewal.".to_owned(),
        }
    }

    /// What happened, in the customer's words.
    pub fn what_happened(&self) -> String {
        match self {
            Self::Token => "SAP Concur no longer accepts the connection's token: it was revoked, or it expired.".to_owned(),
            Self::AppDisabled => "The app is disabled in your company's SAP Concur, so SAP Concur refuses it.".to_owned(),
            Self::AppNotEnabled => "Your company's SAP Concur has not enabled (authorised) the app.".to_owned(),
            Self::Secret => "The app's Client Secret was changed in SAP Concur, so the one we hold no longer works.".to_owned(),
            Self::Scopes(scopes) => format!(
                "The app no longer has the permissions (scopes) the integration needs: {}.",
                scopes.join(", ")
            ),
            Self::Expiring => "The connection's token expires within days, and only a new Company Request Token from your company renews it.".to_owned(),
            Self::Asked => "The connection is due for renewal: a new Company Request Token from your company renews it.".to_owned(),
        }
    }

    /// What the customer does in SAP Concur, in order, before using the renewal link.
    pub fn steps(&self) -> Vec<String> {
        let token = REQUEST_TOKEN_STEP.to_owned();
        match self {
            Self::Scopes(scopes) => vec![
                format!(
                    "In SAP Concur, open {APP_MANAGEMENT}, choose the app, and add exactly these scopes: {}. Save.",
                    scopes.join(", ")
                ),
                token,
            ],
            Self::AppDisabled => vec![
                format!("In SAP Concur, open {APP_MANAGEMENT}, choose the app and enable it."),
                token,
            ],
            Self::AppNotEnabled => vec![
                "In SAP Concur, an administrator enables the app in App Center (or under Authentication Admin).".to_owned(),
                token,
            ],
            Self::Secret => vec![
                format!(
                    "In SAP Concur, open {APP_MANAGEMENT}, choose the app and note its current Client Secret (make a new one there if nobody kept it)."
                ),
                token,
            ],
            Self::Token | Self::Expiring | Self::Asked => vec![token],
        }
    }

    /// The customer's part of a failure Concur reported (its diagnosis code), if it is theirs.
    fn of_failure(code: &str, row: &ConnectionRow) -> Option<Self> {
        Some(match code {
            "refresh_token_invalid" | "refresh_token_for_another_client" => Self::Token,
            "client_disabled" => Self::AppDisabled,
            "company_not_enabled" => Self::AppNotEnabled,
            "bad_client_secret" | "bad_client_credentials" => Self::Secret,
            "missing_scopes" | "scope_not_granted" => {
                let granted: Vec<&str> = row.granted_scopes.split_whitespace().collect();
                Self::Scopes(
                    row.required_scopes
                        .split_whitespace()
                        .filter(|s| !granted.contains(s))
                        .map(str::to_owned)
                        .collect(),
                )
            }
            _ => return None,
        })
    }
}

/// Why `row` needs its customer at `now`, if it does: it fails for a reason only the customer
/// can fix (`last_failure` is its latest failed check's diagnosis code), or its refresh token
/// expires within `lead`. A transient failure alone never does.
pub fn needs_customer(
    row: &ConnectionRow,
    last_failure: Option<&str>,
    now: i64,
    lead: i64,
) -> Option<Reason> {
    if row.failing != 0 {
        return last_failure.and_then(|code| Reason::of_failure(code, row));
    }
    row.refresh_token_expires_at
        .filter(|&at| at - now < lead)
        .map(|_| Reason::Expiring)
}

/// What `row` needs from its customer at `now`, if anything: [`needs_customer`] with its
/// latest failed check.
pub async fn of_connection(
    state: &AppState,
    row: &ConnectionRow,
    now: i64,
) -> Result<Option<Reason>, Error> {
    let failure = store::last_failure(&state.pool, &row.id)
        .await
        .map_err(internal)?;
    Ok(needs_customer(
        row,
        failure.as_deref(),
        now,
        state.renewal.lead,
    ))
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub asked: usize,
    pub reminded: usize,
    pub escalated: usize,
    pub completed: usize,
}

/// One round: ends the episodes of connections that healed, sends the reminders that are due,
/// and asks for the connections that newly need their customer.
pub async fn run(state: &AppState, config: &AlertConfig) -> Result<Round, Error> {
    let mut round = Round::default();
    let now = state.now();
    let mut after = String::new();
    loop {
        let open = store::open_renewals(&state.pool, &after, now, BATCH)
            .await
            .map_err(internal)?;
        let Some(last) = open.last() else { break };
        after = last.connection_id.clone();
        for request in &open {
            follow_up(state, config, request, now, &mut round).await?;
        }
    }
    let automatic = state.renewal.automatic.unwrap_or(config.email.is_some());
    let mut after = String::new();
    loop {
        let asked = (now + state.renewal.lead, automatic);
        let batch = store::renewal_candidates(&state.pool, asked, &after, BATCH)
            .await
            .map_err(internal)?;
        let Some(last) = batch.last() else { break };
        after = last.id.clone();
        for row in &batch {
            if let Some(reason) = of_connection(state, row, now).await?
                && ask(state, config, row, &reason, now, ACTOR).await?
            {
                round.asked += 1;
            }
        }
    }
    Ok(round)
}

/// Asks the contact of `row` for a renewal: a new episode, its link and the mail, in one
/// transaction; false when the connection already had an open episode.
async fn ask(
    state: &AppState,
    config: &AlertConfig,
    row: &ConnectionRow,
    reason: &Reason,
    now: i64,
    actor: &str,
) -> Result<bool, Error> {
    let Some(contact) = row.belonging.contact_email.clone() else {
        return Ok(false);
    };
    let audience = Audience::of(state, config, row).await?;
    let link = Link::new(state, row, now)?;
    let request = RenewalRow {
        id: uuid::Uuid::now_v7().to_string(),
        connection_id: row.id.clone(),
        reason: reason.key().to_owned(),
        scopes: reason.scopes(),
        link_id: Some(link.id.clone()),
        contact_email: contact.clone(),
        state: "open".to_owned(),
        reminders: 0,
        next_reminder_at: state.renewal.reminders.first().map(|after| now + after),
        asked_at: now,
        ..RenewalRow::default()
    };
    let letter = link.letter(state, row, reason, None);
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    link.store(&mut tx).await?;
    if !store::open_renewal(&mut *tx, &request)
        .await
        .map_err(internal)?
    {
        return Ok(false);
    }
    queue_mail(&mut tx, row, &contact, &letter, now).await?;
    let asker = if actor == ACTOR {
        "The console".to_owned()
    } else {
        actor.to_owned()
    };
    let message = format!(
        "{asker} asked {contact} to renew “{}”: {}",
        row.name,
        reason.for_staff()
    );
    audience
        .conclude(tx, state, (actor, &[("requested", &message)]), now)
        .await?;
    tracing::info!(connection = %row.id, reason = reason.key(), "renewal requested from the customer");
    Ok(true)
}

/// The next step of an open episode: completed when the connection no longer needs its
/// customer, else the reminder that is due (with a new link when the last one can no longer be
/// used, and the owner told with the last reminder).
async fn follow_up(
    state: &AppState,
    config: &AlertConfig,
    request: &RenewalRow,
    now: i64,
    round: &mut Round,
) -> Result<(), Error> {
    let Some(row) = store::connection(&state.pool, &request.connection_id)
        .await
        .map_err(internal)?
    else {
        return Ok(());
    };
    let needed = of_connection(state, &row, now).await?;
    let transient = row.transient_failures > 0 && row.failing == 0;
    let renewed = match &request.link_id {
        Some(link) if request.reason == Reason::Asked.key() => store::handoff(&state.pool, link)
            .await
            .map_err(internal)?
            .is_some_and(|l| l.completed_at.is_some()),
        _ => true,
    };
    if needed.is_none() && !transient && renewed {
        if complete(state, config, request, &row, now).await? {
            round.completed += 1;
        }
        return Ok(());
    }
    match request.next_reminder_at {
        Some(at) if at <= now => {}
        _ => return Ok(()),
    }
    let Some(contact) = row.belonging.contact_email.clone() else {
        return Ok(());
    };
    let reason = needed
        .or_else(|| Reason::stored(&request.reason, &request.scopes))
        .unwrap_or(Reason::Token);
    let number = request.reminders + 1;
    let schedule = &state.renewal.reminders;
    let last = usize::try_from(number).is_ok_and(|n| n >= schedule.len());
    let next_at = usize::try_from(number)
        .ok()
        .and_then(|n| schedule.get(n))
        .map(|after| request.asked_at + after);
    let link = Link::for_episode(state, &row, request, now).await?;
    let audience = Audience::of(state, config, &row).await?;
    let reminder = mail::Reminder {
        number,
        of: i64::try_from(schedule.len()).unwrap_or(i64::MAX),
        first_asked_at: request.asked_at,
    };
    let letter = link.letter(state, &row, &reason, Some(reminder));
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    link.store(&mut tx).await?;
    if !store::take_reminder(
        &mut *tx,
        request,
        next_at,
        Some(&link.id),
        &contact,
        last.then_some(now),
    )
    .await
    .map_err(internal)?
    {
        return Ok(());
    }
    queue_mail(&mut tx, &row, &contact, &letter, now).await?;
    let moved = if contact == request.contact_email {
        String::new()
    } else {
        format!(
            " (the contact changed from {} to {contact})",
            request.contact_email
        )
    };
    let message = format!(
        "Reminder {number} sent to {contact}{moved} about renewing “{}”.",
        row.name
    );
    let unanswered = last.then(|| {
        format!(
            "The customer ({contact}) has not answered the renewal request for “{}” sent on {}, nor {number} reminder{}: {} Contact them another way.",
            row.name,
            console_model::format_time(request.asked_at),
            if number == 1 { "" } else { "s" },
            reason.for_staff()
        )
    });
    let mut steps = vec![("reminded", message.as_str())];
    if let Some(message) = &unanswered {
        steps.push(("unanswered", message));
        round.escalated += 1;
    }
    audience.conclude(tx, state, (ACTOR, &steps), now).await?;
    round.reminded += 1;
    Ok(())
}

/// The renewal link a mail carries: the episode's own while the customer can still use it,
/// else a new one (stored with the mail's transaction).
struct Link {
    id: String,
    url: String,
    expires_at: i64,
    fresh: Option<store::HandoffRow>,
}

impl Link {
    async fn for_episode(
        state: &AppState,
        row: &ConnectionRow,
        request: &RenewalRow,
        now: i64,
    ) -> Result<Self, Error> {
        let current = match &request.link_id {
            Some(id) => store::handoff(&state.pool, id).await.map_err(internal)?,
            None => None,
        };
        if let Some(link) = current.filter(|l| crate::handoffs::state_of(l, now).usable())
            && let Some(url) = crate::handoffs::url(state, &link)
        {
            return Ok(Self {
                id: link.id,
                url,
                expires_at: link.expires_at,
                fresh: None,
            });
        }
        Self::new(state, row, now)
    }

    fn new(state: &AppState, row: &ConnectionRow, now: i64) -> Result<Self, Error> {
        let (link, url) = crate::handoffs::renewal_link(state, row, ACTOR, now)?;
        Ok(Self {
            id: link.id.clone(),
            url,
            expires_at: link.expires_at,
            fresh: Some(link),
        })
    }

    /// The mail about `row` that carries this link.
    fn letter<'a>(
        &'a self,
        state: &'a AppState,
        row: &'a ConnectionRow,
        reason: &'a Reason,
        reminder: Option<mail::Reminder>,
    ) -> mail::Renewal<'a> {
        mail::Renewal {
            state,
            connection: row,
            reason,
            url: &self.url,
            link_expires_at: self.expires_at,
            reminder,
        }
    }

    async fn store(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), Error> {
        if let Some(link) = &self.fresh {
            store::insert_handoff(&mut **tx, link)
                .await
                .map_err(internal)?;
        }
        Ok(())
    }
}

/// What an admin's "Ask the customer" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// A new request went out.
    Sent,
    /// The open request's mail went out again.
    Resent,
}

/// An admin asks the connection's contact now (the connection page, `renewal request`, the
/// management API): a new episode, or, when one is open, its mail again at once (with a new
/// link if the customer can no longer use the last). Works whether or not automatic requests
/// are on; needs a contact address and e-mail.
pub async fn request(state: &AppState, id: &str, actor: &str) -> Result<Asked, Error> {
    let row = stored(state, id).await?;
    let config = alerts::effective(state).await?;
    if config.email.is_none() {
        return Err(Error::invalid(
            "renewal",
            "E-mail is not set up (CONCUR_SMTP_URL or the Settings page), so the console cannot ask the customer.",
        ));
    }
    let Some(contact) = row.belonging.contact_email.clone() else {
        return Err(Error::invalid(
            "contact_email",
            "This connection has no contact to ask: give it the customer's Concur admin under “Who it belongs to”.",
        ));
    };
    let now = state.now();
    let reason = of_connection(state, &row, now)
        .await?
        .unwrap_or(Reason::Asked);
    let Some(open) = store::open_renewal_of(&state.pool, id)
        .await
        .map_err(internal)?
    else {
        return if ask(state, &config, &row, &reason, now, actor).await? {
            Ok(Asked::Sent)
        } else {
            Err(Error::invalid(
                "renewal",
                "A request was sent a moment ago; reload the page to see it.",
            ))
        };
    };
    let link = Link::for_episode(state, &row, &open, now).await?;
    let letter = link.letter(state, &row, &reason, None);
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    link.store(&mut tx).await?;
    if !store::point_renewal(&mut *tx, &open.id, &link.id, &contact)
        .await
        .map_err(internal)?
    {
        return Err(Error::invalid(
            "renewal",
            "The request ended a moment ago; reload the page to see it.",
        ));
    }
    queue_mail(&mut tx, &row, &contact, &letter, now).await?;
    tx.commit().await.map_err(internal)?;
    state.overview.changed();
    let detail = format!("sent again to {contact} by {actor}");
    record(state, &row, actor, "renewal_requested", &detail).await;
    state.metrics.renewal_requests.add(&["resent"]);
    Ok(Asked::Resent)
}

/// An admin stops asking: the open episode ends, no more reminders. The console does not ask
/// again on its own until the connection has worked since.
pub async fn cancel(state: &AppState, id: &str, actor: &str) -> Result<(), Error> {
    let row = stored(state, id).await?;
    let Some(open) = store::open_renewal_of(&state.pool, id)
        .await
        .map_err(internal)?
    else {
        return Err(Error::invalid(
            "renewal",
            "No request to the customer is open for this connection.",
        ));
    };
    if store::end_renewal(&state.pool, &open.id, "cancelled", actor, state.now())
        .await
        .map_err(internal)?
    {
        state.overview.changed();
        let detail = format!(
            "stopped by {actor}; the console does not ask again until the connection has worked"
        );
        record(state, &row, actor, "renewal_cancelled", &detail).await;
        state.metrics.renewal_requests.add(&["cancelled"]);
    }
    Ok(())
}

/// What a connection says about asking its customer on its own, as people write it:
/// `always` (`Some(true)`), `never` (`Some(false)`) or `default` (`None`: as the console's
/// setting says).
pub fn asking_of(word: &str) -> Result<Option<bool>, Error> {
    match word.trim() {
        ALWAYS => Ok(Some(true)),
        NEVER => Ok(Some(false)),
        DEFAULT => Ok(None),
        _ => Err(Error::invalid(
            "renewal_requests",
            "Whether to ask the customer on its own is one of always, never, default (as the console's setting says).",
        )),
    }
}

/// The word [`asking_of`] reads for what a connection says.
pub fn asking_word(automatic: Option<bool>) -> &'static str {
    match automatic {
        Some(true) => ALWAYS,
        Some(false) => NEVER,
        None => DEFAULT,
    }
}

const ALWAYS: &str = "always";
const NEVER: &str = "never";
const DEFAULT: &str = "default";

/// Sets whether the console asks the customer of connection `id` on its own: `Some(true)`
/// always, `Some(false)` never (an admin still can, by hand), `None` as the console-wide
/// setting says. Audited, with what it was.
pub async fn set_automatic(
    state: &AppState,
    id: &str,
    automatic: Option<bool>,
    actor: &str,
) -> Result<(), Error> {
    let row = stored(state, id).await?;
    let before = row.renewal_automatic.map(|set| set != 0);
    if before == automatic {
        return Ok(());
    }
    if !store::set_renewal_automatic(&state.pool, id, automatic)
        .await
        .map_err(internal)?
    {
        return Err(Error::NotFound);
    }
    let detail = format!(
        "asks the customer on its own: {} → {}",
        asking_word(before),
        asking_word(automatic)
    );
    record(state, &row, actor, "renewal_setting", &detail).await;
    Ok(())
}

/// Puts a renewal mail to `contact` in the outbox, in `tx`.
async fn queue_mail(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &ConnectionRow,
    contact: &str,
    letter: &mail::Renewal<'_>,
    now: i64,
) -> Result<(), Error> {
    let event_id = uuid::Uuid::now_v7().to_string();
    alerts::queue(
        tx,
        &[format!("email:{contact}")],
        Some(&row.id),
        MAIL_EVENT,
        &event_id,
        &letter.body(&event_id).to_string(),
        now,
    )
    .await
}

/// The connection page's renewal box: what the customer must fix, whom the console would ask,
/// and the latest episode as a timeline.
pub async fn view(state: &AppState, row: &ConnectionRow) -> Result<RenewalBox, Error> {
    let now = state.now();
    let reason = of_connection(state, row, now).await?;
    let latest = store::renewals_of(&state.pool, &row.id, 1)
        .await
        .map_err(internal)?
        .into_iter()
        .next();
    let request = match latest {
        Some(episode) => Some(timeline(state, &episode).await?),
        None => None,
    };
    let console_asks = state
        .renewal
        .automatic
        .unwrap_or(alerts::effective(state).await?.email.is_some());
    let automatic_set = row.renewal_automatic.map(|set| set != 0);
    Ok(RenewalBox {
        needs: reason.as_ref().map(Reason::what_happened),
        steps: reason.as_ref().map(Reason::steps).unwrap_or_default(),
        contact: row.belonging.contact_email.clone(),
        automatic: automatic_set.unwrap_or(console_asks),
        automatic_set,
        console_asks,
        request,
    })
}

/// An episode's steps, oldest first: asked, each mail and how its delivery went, the link
/// opened, the owner told, ended.
async fn timeline(state: &AppState, episode: &RenewalRow) -> Result<RenewalRequestView, Error> {
    let mut steps = Vec::new();
    let reason = Reason::stored(&episode.reason, &episode.scopes);
    steps.push(TimelineStep {
        at: episode.asked_at,
        what: format!(
            "Needs the customer: {}",
            reason.as_ref().map_or_else(String::new, Reason::for_staff)
        ),
    });
    let mails = store::deliveries_of_event(
        &state.pool,
        &episode.connection_id,
        MAIL_EVENT,
        episode.asked_at,
    )
    .await
    .map_err(internal)?;
    for (n, mail) in mails.iter().enumerate() {
        let to = mail.channel.strip_prefix("email:").unwrap_or(&mail.channel);
        let reminder = serde_json::from_str::<serde_json::Value>(&mail.payload)
            .ok()
            .and_then(|body| body["reminder"].as_i64());
        let what = match (n, reminder) {
            (_, Some(number)) => format!("Reminder {number}"),
            (0, None) => "Mail".to_owned(),
            _ => "Mail again".to_owned(),
        };
        steps.push(TimelineStep {
            at: mail.created_at,
            what: match mail.state.as_str() {
                "sent" => format!("{what} sent to {to}"),
                "failed" => format!(
                    "{what} to {to} could not be delivered: {}",
                    mail.last_error.clone().unwrap_or_default()
                ),
                _ => format!(
                    "{what} to {to} waiting to be sent{}",
                    mail.last_error
                        .as_ref()
                        .map(|e| format!(" (retrying: {e})"))
                        .unwrap_or_default()
                ),
            },
        });
    }
    if let Some(link) = &episode.link_id
        && let Some(link) = store::handoff(&state.pool, link).await.map_err(internal)?
        && let Some(opened) = link.opened_at
    {
        steps.push(TimelineStep {
            at: opened,
            what: "The customer opened the link".to_owned(),
        });
    }
    if let Some(at) = episode.escalated_at {
        steps.push(TimelineStep {
            at,
            what: "No answer: the owner was told".to_owned(),
        });
    }
    if let Some(at) = episode.ended_at {
        steps.push(TimelineStep {
            at,
            what: match (episode.state.as_str(), episode.ended_by.as_deref()) {
                ("completed", _) => "Completed: the connection works again".to_owned(),
                (_, Some(by)) => format!("Stopped by {by}"),
                _ => "Stopped".to_owned(),
            },
        });
    }
    steps.sort_by_key(|s| s.at);
    Ok(RenewalRequestView {
        open: episode.state == "open",
        contact_email: episode.contact_email.clone(),
        reminders: episode.reminders,
        next_reminder_at: episode.next_reminder_at,
        steps,
    })
}

/// Ends an episode whose connection healed, and tells the owner; false when it had ended.
async fn complete(
    state: &AppState,
    config: &AlertConfig,
    request: &RenewalRow,
    row: &ConnectionRow,
    now: i64,
) -> Result<bool, Error> {
    let audience = Audience::of(state, config, row).await?;
    let mut tx = store::begin(&state.pool).await.map_err(internal)?;
    if !store::end_renewal(&mut *tx, &request.id, "completed", "healed", now)
        .await
        .map_err(internal)?
    {
        return Ok(false);
    }
    let message = format!(
        "“{}” works again: the customer's renewal (asked on {}) is complete.",
        row.name,
        console_model::format_time(request.asked_at)
    );
    audience
        .conclude(tx, state, (ACTOR, &[("completed", &message)]), now)
        .await?;
    Ok(true)
}

/// Who hears of an episode's steps: the connection's routed alert channels (its owner's
/// address among them when they asked for alerts by e-mail), and its owner in person of the
/// steps meant for them, read before the step's transaction.
struct Audience<'a> {
    row: &'a ConnectionRow,
    who: Belonging,
    channels: Vec<String>,
    /// The owner's address as a channel, when e-mail is set up and the owner has one.
    owner: Option<String>,
}

/// The steps the connection's owner is told of whether or not they take alerts by e-mail: the
/// customer has not answered, and the connection healed.
const FOR_THE_OWNER: [&str; 2] = ["renewal_unanswered", "renewal_completed"];

impl<'a> Audience<'a> {
    async fn of(
        state: &AppState,
        config: &AlertConfig,
        row: &'a ConnectionRow,
    ) -> Result<Self, Error> {
        let who = fleet::shown_one(state, row).await?;
        let channels = alerts::channels_of(state, config, &who).await?;
        let owner = match &row.belonging.owner_id {
            Some(id) if config.email.is_some() => store::owner_address(&state.pool, id)
                .await
                .map_err(internal)?
                .map(|address| alerts::Target::Email(address).channel()),
            _ => None,
        };
        Ok(Self {
            row,
            who,
            channels,
            owner,
        })
    }

    /// The channels `event` goes to.
    fn channels_for(&self, event: &str) -> Vec<String> {
        let mut channels = self.channels.clone();
        if let Some(owner) = self
            .owner
            .as_ref()
            .filter(|_| FOR_THE_OWNER.contains(&event))
            && !channels.contains(owner)
        {
            channels.push(owner.clone());
        }
        channels
    }

    /// Tells each step (`requested`, `reminded`, …, with its message) as the event
    /// `renewal_{step}` in `tx`, commits it, then records each in the audit log and on
    /// `/metrics`.
    async fn conclude(
        &self,
        mut tx: store::Transaction,
        state: &AppState,
        (actor, steps): (&str, &[(&str, &str)]),
        now: i64,
    ) -> Result<(), Error> {
        for (step, message) in steps {
            self.tell(&mut tx, state, &format!("renewal_{step}"), message, now)
                .await?;
        }
        tx.commit().await.map_err(internal)?;
        // The dashboard's "waiting for the customer" counts change with an episode.
        state.overview.changed();
        for (step, message) in steps {
            record(state, self.row, actor, &format!("renewal_{step}"), message).await;
            state.metrics.renewal_requests.add(&[step]);
        }
        Ok(())
    }

    /// Queues `event` saying `message` on each of its channels, in `tx`.
    async fn tell(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        state: &AppState,
        event: &str,
        message: &str,
        now: i64,
    ) -> Result<(), Error> {
        let channels = self.channels_for(event);
        if channels.is_empty() {
            return Ok(());
        }
        let event_id = uuid::Uuid::now_v7().to_string();
        let body =
            alerts::connection_body(state, self.row, &self.who, event, &event_id, message, now);
        alerts::queue(
            tx,
            &channels,
            Some(&self.row.id),
            event,
            &event_id,
            &body.to_string(),
            now,
        )
        .await
    }
}

/// Audits a step of `row`'s renewal, taken by `actor` (a person, or the console's rounds).
async fn record(state: &AppState, row: &ConnectionRow, actor: &str, kind: &str, detail: &str) {
    crate::audit::record(
        state,
        crate::audit::Event {
            actor: crate::audit::Actor::Named(actor),
            address: None,
            kind,
            connection_id: Some(&row.id),
            outcome: "ok",
            detail,
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(required: &str, granted: &str) -> ConnectionRow {
        ConnectionRow {
            failing: 1,
            required_scopes: required.into(),
            granted_scopes: granted.into(),
            ..ConnectionRow::default()
        }
    }

    #[test]
    fn only_what_the_customer_can_fix_needs_them() {
        let now = 1_000 * DAY;
        let row = failing("", "");
        for (code, reason) in [
            ("refresh_token_invalid", Some(Reason::Token)),
            ("refresh_token_for_another_client", Some(Reason::Token)),
            ("client_disabled", Some(Reason::AppDisabled)),
            ("company_not_enabled", Some(Reason::AppNotEnabled)),
            ("bad_client_secret", Some(Reason::Secret)),
            ("bad_client_id", None),
            ("wrong_data_center", None),
            ("host_not_allowed", None),
        ] {
            assert_eq!(
                needs_customer(&row, Some(code), now, DEFAULT_LEAD),
                reason,
                "{code}"
            );
        }
        let scopes = failing("EXPRPT user.read receipts.write", "user.read");
        assert_eq!(
            needs_customer(&scopes, Some("missing_scopes"), now, DEFAULT_LEAD),
            Some(Reason::Scopes(vec![
                "EXPRPT".into(),
                "receipts.write".into()
            ]))
        );
    }

    #[test]
    fn a_transient_failure_alone_never_asks_but_a_token_about_to_expire_does() {
        let now = 1_000 * DAY;
        let mut row = ConnectionRow {
            transient_failures: 5,
            refresh_token_expires_at: Some(now + 30 * DAY),
            ..ConnectionRow::default()
        };
        assert_eq!(
            needs_customer(&row, Some("timeout"), now, DEFAULT_LEAD),
            None
        );
        row.refresh_token_expires_at = Some(now + 6 * DAY);
        assert_eq!(
            needs_customer(&row, Some("timeout"), now, DEFAULT_LEAD),
            Some(Reason::Expiring)
        );
        row.refresh_token_expires_at = None;
        assert_eq!(needs_customer(&row, None, now, DEFAULT_LEAD), None);
    }

    #[test]
    fn a_stored_reason_reads_back() {
        for reason in [
            Reason::Token,
            Reason::AppDisabled,
            Reason::AppNotEnabled,
            Reason::Secret,
            Reason::Scopes(vec!["EXPRPT".into(), "user.read".into()]),
            Reason::Expiring,
            Reason::Asked,
        ] {
            assert_eq!(
                Reason::stored(reason.key(), &reason.scopes()),
                Some(reason.clone())
            );
        }
        assert_eq!(Reason::stored("nonsense", ""), None);
    }
}
