//! The console's shared vocabulary: what crosses the wire between server and browser, compiled
//! into both the server and the wasm. No Leptos, no database. Only [`CredentialsForm`] carries
//! secrets, and only towards the server; nothing here is ever sent back holding one.

mod error;
mod forms;
pub mod people;

pub use error::Error;
pub use forms::CredentialsForm;

use serde::{Deserialize, Serialize};

pub const DAY: i64 = 24 * 3600;

/// The data centres the Authorization URL field suggests (current hosts first, then older
/// ones still in configs, then test sites). Free text stays allowed.
pub const KNOWN_DATA_CENTERS: &[(&str, &str)] = &[
    ("US (us2)", "https://us2.api.concursolutions.com"),
    ("EU (eu2)", "https://eu2.api.concursolutions.com"),
    ("APJ (apj1)", "https://apj1.api.concursolutions.com"),
    ("US Government (usg)", "https://usg.api.concursolutions.com"),
    (
        "Global landing zone (glz)",
        "https://glz.api.concursolutions.com",
    ),
    ("US, older host (us)", "https://us.api.concursolutions.com"),
    (
        "EMEA, older host (emea)",
        "https://emea.api.concursolutions.com",
    ),
    ("EU, older host (eu)", "https://eu.api.concursolutions.com"),
    ("China (cn)", "https://cn.api.concurcdc.cn"),
    (
        "US test site (us-impl)",
        "https://us-impl.api.concursolutions.com",
    ),
    (
        "EMEA test site (emea-impl)",
        "https://emea-impl.api.concursolutions.com",
    ),
];

/// How a connection stands, worst first in the order the dashboard sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Failing,
    /// The token works, but a call the integration makes fails (a read-only API probe).
    Degraded,
    Expired,
    Critical,
    Expiring,
    Unknown,
    Healthy,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Failing,
        Status::Degraded,
        Status::Expired,
        Status::Critical,
        Status::Expiring,
        Status::Unknown,
        Status::Healthy,
    ];

    /// `failing` wins over `degraded` (a probe of what the integration calls fails), which
    /// wins over the expiry bands; days left round down.
    pub fn of(failing: bool, degraded: bool, refresh_expires_at: Option<i64>, now: i64) -> Self {
        match refresh_expires_at {
            _ if failing => Status::Failing,
            _ if degraded => Status::Degraded,
            None => Status::Unknown,
            Some(at) if at <= now => Status::Expired,
            Some(at) if at - now < 8 * DAY => Status::Critical,
            Some(at) if at - now < 31 * DAY => Status::Expiring,
            Some(_) => Status::Healthy,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Status::Failing => "failing",
            Status::Degraded => "degraded",
            Status::Expired => "expired",
            Status::Critical => "critical",
            Status::Expiring => "expiring",
            Status::Unknown => "unknown",
            Status::Healthy => "healthy",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Failing => "Failing",
            Status::Degraded => "Degraded",
            Status::Expired => "Expired",
            Status::Critical => "Critical",
            Status::Expiring => "Expiring",
            Status::Unknown => "Unknown",
            Status::Healthy => "Healthy",
        }
    }
}

/// Whole days left until `at`, rounded down; negative once past.
pub fn days_left(at: i64, now: i64) -> i64 {
    (at - now).div_euclid(DAY)
}

/// A Concur failure as the browser shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosisView {
    pub code: String,
    pub message: String,
    pub next_step: String,
    /// The form field key at fault (`client_id`, `refresh_token`, …).
    pub field: Option<String>,
    pub transient: bool,
    pub concur_code: Option<i64>,
    pub correlation_id: Option<String>,
}

/// One dashboard row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionSummary {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub company_uuid: Option<String>,
    pub status: Status,
    pub refresh_token_expires_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    /// The vendor's own id for the customer.
    pub external_id: Option<String>,
    /// (key, value), by key.
    pub tags: Vec<(String, String)>,
    /// Where asking its customer for a renewal stands, when it needs them.
    pub renewal: Option<RenewalMark>,
}

/// What the dashboard says beside a connection's status about asking its customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RenewalMark {
    /// The customer was asked and has not answered yet.
    Requested {
        asked_at: i64,
        reminders: i64,
        /// Whether the customer opened the link.
        opened: bool,
    },
    /// It is failing, or its token expires within the renewal lead, and nobody can be asked.
    NoContact,
}

/// What narrows the dashboard, as its address carries it (`?tag=env:prod&owner=me&status=S`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardFilter {
    /// Tags a connection must all have.
    pub tags: Vec<(String, String)>,
    /// As the address gave it: `me` or a user name.
    pub owner: Option<String>,
    pub status: Option<Status>,
    /// Only connections whose customer was asked and has not answered (`?renewal=waiting`).
    pub waiting: bool,
}

impl DashboardFilter {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.owner.is_none() && self.status.is_none() && !self.waiting
    }
}

/// One bar of the expiry timeline: the working refresh tokens that expire in one week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekBar {
    /// 0 is the coming week.
    pub week: i64,
    pub count: i64,
    /// The band of the week's first day.
    pub band: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub now: i64,
    pub timeline: Vec<WeekBar>,
    /// The week the list is narrowed to, if a timeline bar was followed.
    pub week: Option<i64>,
    pub counts: Vec<(Status, i64)>,
    pub total: i64,
    pub rows: Vec<ConnectionSummary>,
    pub page: i64,
    pub pages: i64,
    /// Set when more connections match a search than can be paged through: that many.
    pub more_than: Option<i64>,
    /// Hand-off links a customer can still complete.
    pub handoffs_waiting: i64,
    /// Customers asked for a renewal who have not answered yet.
    pub renewals_waiting: i64,
    /// What the counts, the timeline and the rows are narrowed to.
    pub filter: DashboardFilter,
}

/// A scope the integration needs, and whether Concur granted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeLine {
    pub scope: String,
    pub granted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationEntry {
    pub at: i64,
    pub ok: bool,
    pub message: String,
    pub concur_code: Option<i64>,
    pub correlation_id: Option<String>,
    pub duration_ms: i64,
    /// Who asked: `validate`, `keep-alive` or `token-api`.
    pub source: String,
    pub status_change: Option<String>,
}

/// One line of *What the integration can do*: a read-only API probe's last finding, or a scope
/// no read call can prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeLine {
    /// The probe's key (`identity_users` …) or the write-only scope.
    pub name: String,
    pub label: String,
    /// Answered, failed, or not made (`None`).
    pub ok: Option<bool>,
    /// Concur failing or limiting calls: shown, but not a lost capability.
    pub transient: bool,
    /// Concur's HTTP status for a failure.
    pub status: Option<u16>,
    /// The fact proven, Concur's words for a failure, or why the call was not made.
    pub detail: String,
    /// What fixes a failure, in plain words.
    pub fix: Option<String>,
    pub correlation_id: Option<String>,
    pub checked_at: i64,
}

/// An API key as lists show it: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The first characters of the key, enough to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A key not tied to one connection (a fleet, management or hand-off key) as the *API keys* page
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedKeyView {
    pub key: ApiKeyView,
    /// What it opens: `fleet, selector env=prod`, `management, read-only`.
    pub reach: String,
}

/// A key just made, with its label: the only time the key itself crosses the wire.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiKey {
    pub key: String,
    pub label: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// One of your sessions. The id ends it; the token is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: Option<String>,
    pub address: String,
    pub user_agent: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The session this page was asked for with.
    pub current: bool,
    pub method: SignInMethod,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub now: i64,
    pub username: String,
    /// The account signs in through the identity provider (it has no password here).
    pub sso: bool,
    pub sessions: Vec<SessionView>,
    /// The account's own e-mail address.
    pub email: Option<String>,
    /// It wants the alerts of the connections it owns mailed to that address.
    pub alerts_by_email: bool,
    /// The console has an SMTP server to send them with.
    pub mail_ready: bool,
}

/// The Settings page's view of the alert channels: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertSettingsView {
    pub thresholds: Vec<i64>,
    pub webhook_from_env: bool,
    /// Scheme and host of the webhook (its URL grants posting rights to whoever holds it).
    pub webhook_host: Option<String>,
    pub webhook_secret_set: bool,
    pub email_from_env: bool,
    /// Scheme, host and port of the SMTP server (its URL may hold a password).
    pub smtp_host: Option<String>,
    pub email_from: Option<String>,
    pub email_to: Option<String>,
    /// Every route, the environment's first.
    pub routes: Vec<RouteView>,
    pub deliveries: Vec<DeliveryView>,
}

/// An alert route as the Settings page lists it: never a webhook's whole URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    /// `env=prod,region=emea`.
    pub selector: String,
    /// `email:ADDRESS`, or `webhook:HOST#DIGEST`.
    pub channel: String,
    /// Set by `CONCUR_ALERT_ROUTES` (changed there, not on the page).
    pub from_env: bool,
}

/// One alert delivery, as the Settings and connection pages list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub created_at: i64,
    pub event: String,
    pub channel: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

/// Everything the connection page shows. Secrets appear only as masks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionDetail {
    pub now: i64,
    pub summary: ConnectionSummary,
    pub authorization_url: String,
    pub geolocation: Option<String>,
    pub scope_profile: String,
    pub scopes: Vec<ScopeLine>,
    pub extra_granted: usize,
    pub access_token_expires_at: Option<i64>,
    pub last_ok_at: Option<i64>,
    pub last_problem: Option<String>,
    pub client_secret_mask: String,
    pub refresh_token_mask: String,
    pub history: Vec<ValidationEntry>,
    pub next_refresh_at: Option<i64>,
    pub deliveries: Vec<DeliveryView>,
    pub belonging: BelongingView,
    pub renewal: RenewalBox,
    /// What the integration can do, from the last probes (empty before the first run).
    pub probes: Vec<ProbeLine>,
}

/// What a connection needs from its customer, and where asking them stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalBox {
    /// What the customer must fix, in their words; none when the connection does not need them.
    pub needs: Option<String>,
    /// The steps in their Concur that fix it, in order.
    pub steps: Vec<String>,
    /// The address the console asks.
    pub contact: Option<String>,
    /// Whether the console asks on its own.
    pub automatic: bool,
    /// What this connection says about asking on its own: none follows the console's setting.
    pub automatic_set: Option<bool>,
    /// Whether the console-wide setting asks on its own.
    pub console_asks: bool,
    /// The latest request, open or ended.
    pub request: Option<RenewalRequestView>,
}

/// One request to the customer, as a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalRequestView {
    pub open: bool,
    pub contact_email: String,
    pub reminders: i64,
    pub next_reminder_at: Option<i64>,
    pub steps: Vec<TimelineStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineStep {
    pub at: i64,
    pub what: String,
}

/// Who a connection will belong to, as given in a form, a hand-off link or the terminal: tags
/// one `key=value` per line, the owner by user name; blank is none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BelongingForm {
    pub external_id: String,
    pub tags: String,
    pub contact_name: String,
    pub contact_email: String,
    pub owner: String,
}

impl BelongingForm {
    pub fn is_empty(&self) -> bool {
        [
            &self.external_id,
            &self.tags,
            &self.contact_name,
            &self.contact_email,
            &self.owner,
        ]
        .iter()
        .all(|f| f.trim().is_empty())
    }
}

/// Who a connection belongs to, as its page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BelongingView {
    pub external_id: Option<String>,
    /// (key, value), by key.
    pub tags: Vec<(String, String)>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    /// The owning account's user name.
    pub owner: Option<String>,
}

/// A Unix time as `2026-11-23 13:05 UTC` (the same on server and browser, so hydration agrees).
pub fn format_time(t: i64) -> String {
    let days = t.div_euclid(DAY);
    let secs = t.rem_euclid(DAY);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_703_696_549), "2023-12-27 17:02 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn status_bands_follow_the_rules() {
        let now = 1_000_000_000;
        assert_eq!(
            Status::of(true, true, Some(now + 90 * DAY), now),
            Status::Failing
        );
        assert_eq!(Status::of(false, true, Some(now), now), Status::Degraded);
        assert_eq!(Status::of(false, false, None, now), Status::Unknown);
        assert_eq!(Status::of(false, false, Some(now), now), Status::Expired);
        assert_eq!(
            Status::of(false, false, Some(now + 8 * DAY - 1), now),
            Status::Critical
        );
        assert_eq!(
            Status::of(false, false, Some(now + 8 * DAY), now),
            Status::Expiring
        );
        assert_eq!(
            Status::of(false, false, Some(now + 31 * DAY - 1), now),
            Status::Expiring
        );
        assert_eq!(
            Status::of(false, false, Some(now + 31 * DAY), now),
            Status::Healthy
        );
    }

    #[test]
    fn days_left_round_down() {
        assert_eq!(days_left(10 * DAY - 1, 0), 9);
        assert_eq!(days_left(-1, 0), -1);
    }
}

/// Where a hand-off link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Not opened yet.
    Waiting,
    /// Opened by the customer, not completed yet.
    Opened,
    Completed,
    Expired,
    Revoked,
    /// Locked after too many refused attempts.
    Locked,
}

impl LinkState {
    pub const ALL: [LinkState; 6] = [
        Self::Waiting,
        Self::Opened,
        Self::Completed,
        Self::Expired,
        Self::Revoked,
        Self::Locked,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Opened => "opened",
            Self::Completed => "completed",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Locked => "locked",
        }
    }

    /// A customer can still complete it.
    pub fn usable(self) -> bool {
        matches!(self, Self::Waiting | Self::Opened)
    }
}

/// A hand-off link as the admins' list and the API show it. `url` only while it can be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffView {
    pub id: String,
    pub name: String,
    pub note: String,
    /// The scope profile's label.
    pub profile: String,
    /// A renewal link (for `connection_id`) rather than a new connection.
    pub renewal: bool,
    /// The connection it made (completed) or renews.
    pub connection_id: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: LinkState,
    pub url: Option<String>,
    /// Who the connection it makes will belong to.
    pub belonging: BelongingView,
}

/// The Hand-off links page: a page of links, newest first, and how many are waiting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffList {
    pub links: Vec<HandoffView>,
    pub page: i64,
    pub more: bool,
}

/// What an account may do. Each role may do everything the roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Reads: the dashboard, connections, their history, the audit log, the hand-off links.
    Viewer,
    /// A viewer who also adds, validates, renames and re-credentials connections, and makes
    /// their API keys and hand-off links.
    Editor,
    /// Everything: deleting connections, alert channels and settings, people and roles.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    /// The word stored in the database and typed on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.key().eq_ignore_ascii_case(raw.trim()))
    }

    /// Whether this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// How a session signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInMethod {
    Password,
    /// Through the company's identity provider (OpenID Connect).
    Sso,
}

impl SignInMethod {
    /// The word stored with sessions and audit rows.
    pub fn key(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::Sso => "sso",
        }
    }

    pub fn parse(raw: &str) -> SignInMethod {
        if raw == "sso" {
            SignInMethod::Sso
        } else {
            SignInMethod::Password
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::Sso => "single sign-on",
        }
    }
}
