//! Read-only API probes: the cheap calls an integration's scopes imply, made with a fresh access
//! token at the company's geolocation, each answered with a fact or with Concur's refusal and the
//! fix in plain words. Never a write call, never more than [`Probe::ALL`].

use serde_json::Value;

use crate::client::ApiReply;
use crate::diagnosis::Diagnosis;

/// One read-only call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `GET /profile/identity/v4/Users?count=1`: the company's users.
    IdentityUsers,
    /// `GET /api/v3.0/expense/reports?limit=1&user=ALL`.
    ExpenseReportsV3,
    /// `GET /expensereports/v4/users/{id}/context/TRAVELER/reports` for the first user.
    ExpenseReportsV4,
    /// `GET /expensereports/v4/users/{id}/context/MANAGER/reportsToApprove` for the first user.
    ExpenseApprovalsV4,
    /// `GET /api/v3.0/expense/expensegroupconfigurations?limit=1`.
    ExpenseConfigV3,
}

impl Probe {
    /// In the order they run: the Identity read first, because the v4 calls need its user.
    pub const ALL: [Probe; 5] = [
        Probe::IdentityUsers,
        Probe::ExpenseReportsV3,
        Probe::ExpenseReportsV4,
        Probe::ExpenseApprovalsV4,
        Probe::ExpenseConfigV3,
    ];

    /// The stable name used in JSON and the store.
    pub fn key(self) -> &'static str {
        match self {
            Probe::IdentityUsers => "identity_users",
            Probe::ExpenseReportsV3 => "expense_reports_v3",
            Probe::ExpenseReportsV4 => "expense_reports_v4",
            Probe::ExpenseApprovalsV4 => "expense_approvals_v4",
            Probe::ExpenseConfigV3 => "expense_config_v3",
        }
    }

    /// What a person reads on the line.
    pub fn label(self) -> &'static str {
        match self {
            Probe::IdentityUsers => "Identity v4 users",
            Probe::ExpenseReportsV3 => "Expense v3 reports",
            Probe::ExpenseReportsV4 => "Expense v4 reports",
            Probe::ExpenseApprovalsV4 => "Expense v4 approvals",
            Probe::ExpenseConfigV3 => "Expense v3 configuration",
        }
    }

    /// Whether `scope` is one this call needs (and so proves).
    fn needs(self, scope: &str) -> bool {
        match self {
            Probe::IdentityUsers => scope.starts_with("identity.user.") && scope.ends_with(".read"),
            Probe::ExpenseReportsV3 => scope == "EXPRPT",
            Probe::ExpenseReportsV4 | Probe::ExpenseApprovalsV4 => scope == "expense.report.read",
            Probe::ExpenseConfigV3 => scope == "CONFIG",
        }
    }

    /// Whether the call names a user, the first Identity v4 lists.
    pub(crate) fn needs_user(self) -> bool {
        matches!(self, Probe::ExpenseReportsV4 | Probe::ExpenseApprovalsV4)
    }

    /// The path to call; `user` is an id Identity v4 gave, already checked to be plain.
    pub(crate) fn path(self, user: Option<&str>) -> String {
        let user = user.unwrap_or_default();
        match self {
            Probe::IdentityUsers => "/profile/identity/v4/Users?count=1".to_owned(),
            Probe::ExpenseReportsV3 => "/api/v3.0/expense/reports?limit=1&user=ALL".to_owned(),
            Probe::ExpenseReportsV4 => {
                format!("/expensereports/v4/users/{user}/context/TRAVELER/reports")
            }
            Probe::ExpenseApprovalsV4 => {
                format!("/expensereports/v4/users/{user}/context/MANAGER/reportsToApprove")
            }
            Probe::ExpenseConfigV3 => {
                "/api/v3.0/expense/expensegroupconfigurations?limit=1".to_owned()
            }
        }
    }
}

/// What one line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The call answered; a fact from its answer ("1 245 users").
    Works { fact: String },
    /// The call was refused or failed.
    Fails(Failure),
    /// The call was not made, and why.
    NotProbed { why: String },
}

/// A refused or failed call: Concur's own status and words, and what fixes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: Option<u16>,
    pub message: String,
    pub fix: String,
    /// Waiting helps (rate limit, Concur failing, no answer): not a lost capability.
    pub transient: bool,
    pub correlation_id: Option<String>,
}

/// One line of *What the integration can do*: a probe, or a scope no read call can prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// A probe's key, or the scope for a write-only line.
    pub name: String,
    pub label: String,
    pub finding: Finding,
}

impl ProbeReport {
    /// True when the call answered, false when it failed, None when it was not made.
    pub fn ok(&self) -> Option<bool> {
        match self.finding {
            Finding::Works { .. } => Some(true),
            Finding::Fails(_) => Some(false),
            Finding::NotProbed { .. } => None,
        }
    }
}

/// Whether a probe runs for these scopes: the profile's, or (without one) those granted.
pub(crate) enum Readiness {
    /// The scopes imply nothing this probe proves.
    Irrelevant,
    NotProbed(String),
    Go,
}

pub(crate) fn readiness(probe: Probe, required: &[String], granted: &[String]) -> Readiness {
    let wanted = if required.is_empty() {
        granted
    } else {
        required
    };
    if !wanted.iter().any(|s| probe.needs(s)) {
        return Readiness::Irrelevant;
    }
    if !granted.iter().any(|s| probe.needs(s)) {
        return Readiness::NotProbed(
            "not probed: the scope it needs is not granted (see the missing scopes)".to_owned(),
        );
    }
    Readiness::Go
}

/// Why a v4 probe cannot run without the Identity read's first user.
pub(crate) fn no_user(identity: Option<&Finding>) -> String {
    match identity {
        None => "not probed: it needs a user from Identity v4, which this integration's scopes do not read".to_owned(),
        Some(Finding::Works { .. }) => "not probed: the company has no users to read with".to_owned(),
        Some(_) => "not probed: it needs a user from Identity v4, which did not answer".to_owned(),
    }
}

/// The scopes that only write: no safe read proves them, so they are named and left alone.
pub(crate) fn write_only(required: &[String]) -> impl Iterator<Item = &String> {
    required.iter().filter(|s| s.ends_with(".write"))
}

/// A user id safe to put in a path (Concur's are UUIDs).
pub(crate) fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// "1 245": thousands grouped the way the console writes counts.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", grouped(n), if n == 1 { one } else { many })
}

/// The fact a successful answer proves, and (for Identity) the first user's id.
pub(crate) fn read_answer(
    probe: Probe,
    reply: &ApiReply,
) -> Result<(String, Option<String>), Failure> {
    let body: Value =
        serde_json::from_slice(&reply.body).map_err(|_| unexpected(reply, "not JSON"))?;
    match probe {
        Probe::IdentityUsers => {
            let total = body
                .get("totalResults")
                .and_then(Value::as_u64)
                .ok_or_else(|| unexpected(reply, "a Users list without totalResults"))?;
            let first = body
                .get("Resources")
                .and_then(Value::as_array)
                .and_then(|r| r.first())
                .and_then(|u| u.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            Ok((plural(total, "user", "users"), first))
        }
        Probe::ExpenseReportsV3 => {
            items(&body, reply).map(|_| ("reports readable".to_owned(), None))
        }
        Probe::ExpenseConfigV3 => {
            let items = items(&body, reply)?;
            let fact = match items
                .first()
                .and_then(|c| c.get("Name"))
                .and_then(Value::as_str)
            {
                Some(name) => format!("configuration readable (“{name}”)"),
                None => "configuration readable".to_owned(),
            };
            Ok((fact, None))
        }
        Probe::ExpenseReportsV4 => {
            let listed = body.is_array() || body.get("content").is_some_and(Value::is_array);
            if listed {
                Ok(("the first user's reports are readable".to_owned(), None))
            } else {
                Err(unexpected(reply, "a report list that is not a list"))
            }
        }
        Probe::ExpenseApprovalsV4 => {
            let waiting = body
                .as_array()
                .ok_or_else(|| unexpected(reply, "an approvals list that is not a list"))?;
            let n = waiting.len() as u64;
            Ok((
                plural(
                    n,
                    "report waiting for approval",
                    "reports waiting for approval",
                ),
                None,
            ))
        }
    }
}

fn items<'a>(body: &'a Value, reply: &ApiReply) -> Result<&'a Vec<Value>, Failure> {
    body.get("Items")
        .and_then(Value::as_array)
        .ok_or_else(|| unexpected(reply, "a list without Items"))
}

fn unexpected(reply: &ApiReply, what: &str) -> Failure {
    Failure {
        status: Some(reply.status),
        message: format!("Concur answered with {what}."),
        fix: "Concur answered in a shape the console does not know: ask SAP Concur support, quoting the correlation id.".to_owned(),
        transient: false,
        correlation_id: reply.correlation_id.clone(),
    }
}

/// Concur's own words in an error answer, whichever API's shape it has.
fn concur_words(reply: &ApiReply) -> String {
    let body: Option<Value> = serde_json::from_slice(&reply.body).ok();
    ["detail", "Message", "errorMessage", "error_description"]
        .iter()
        .find_map(|key| {
            body.as_ref()
                .and_then(|b| b.get(*key))
                .and_then(Value::as_str)
                .map(|s| s.chars().take(300).collect::<String>())
        })
        .unwrap_or_else(|| format!("HTTP {}", reply.status))
}

const EXPENSE_FIX: &str = "Expense is not enabled for this company, or the app's user lacks the Expense role: ask your Concur admin to enable Concur Expense for the company and to give the app's user the Expense role (Web Services Admin for reports of all users).";

/// A refusal explained for this probe.
pub(crate) fn refused(probe: Probe, reply: &ApiReply) -> Failure {
    let status = reply.status;
    let (fix, transient) = match (status, probe) {
        (401, _) => (
            "Concur refused the access token it had just issued for this API: validate again; if it keeps failing, the data centre does not serve this API for the company — ask SAP Concur support, quoting the correlation id.",
            false,
        ),
        (403, Probe::IdentityUsers) => (
            "The app may not read the company's users: ask your Concur admin to grant the app its identity.user scopes (Authentication Admin → OAuth 2.0 Application Management → the app) and to enable Identity v4 for the company.",
            false,
        ),
        (403, Probe::ExpenseApprovalsV4) => (
            "The user the console reads with is not an expense approver: ask your Concur admin to give the integration's user the approver role, or the integration will see no reports to approve.",
            false,
        ),
        (403, _) => (EXPENSE_FIX, false),
        (404, _) => (
            "Concur does not serve this call for the company (or does not know the user Identity v4 listed): ask SAP Concur support, quoting the correlation id.",
            false,
        ),
        (429, _) => (
            "Concur is limiting calls right now: nothing to change; the console tries again at the next check.",
            true,
        ),
        (500..=599, _) => (
            "Concur's API is failing right now: nothing to change on your side; the console tries again at the next check.",
            true,
        ),
        _ => (
            "Concur refused the call: ask SAP Concur support, quoting the correlation id.",
            false,
        ),
    };
    Failure {
        status: Some(status),
        message: concur_words(reply),
        fix: fix.to_owned(),
        transient,
        correlation_id: reply.correlation_id.clone(),
    }
}

/// A call that got no answer (timeout, network, a body too large).
pub(crate) fn unanswered(d: &Diagnosis) -> Failure {
    Failure {
        status: d.reply.http_status,
        message: d.message(),
        fix: d.next_step(),
        transient: d.is_transient(),
        correlation_id: d.reply.correlation_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &str) -> Vec<String> {
        list.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_probe_runs_only_when_the_profile_implies_it_and_the_scope_is_granted() {
        let required = scopes("EXPRPT identity.user.core.read");
        let go = |p| matches!(readiness(p, &required, &required), Readiness::Go);
        assert!(go(Probe::IdentityUsers));
        assert!(go(Probe::ExpenseReportsV3));
        assert!(!go(Probe::ExpenseConfigV3), "CONFIG is not in the profile");
        let granted = scopes("identity.user.core.read");
        assert!(matches!(
            readiness(Probe::ExpenseReportsV3, &required, &granted),
            Readiness::NotProbed(_)
        ));
    }

    #[test]
    fn without_a_profile_the_granted_scopes_say_what_to_probe() {
        let granted = scopes("CONFIG expense.report.read");
        let go = |p| matches!(readiness(p, &[], &granted), Readiness::Go);
        assert!(go(Probe::ExpenseConfigV3));
        assert!(go(Probe::ExpenseApprovalsV4));
        assert!(!go(Probe::IdentityUsers));
    }

    #[test]
    fn only_write_scopes_are_named_write_only() {
        let required =
            scopes("expense.report.readwrite expense.report.workflowstatus.write openid");
        let named: Vec<&String> = write_only(&required).collect();
        assert_eq!(named, ["expense.report.workflowstatus.write"]);
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(7), "7");
        assert_eq!(grouped(1245), "1 245");
        assert_eq!(grouped(1_000_000), "1 000 000");
        assert_eq!(plural(1, "user", "users"), "1 user");
    }

    #[test]
    fn only_plain_ids_go_into_a_path() {
        assert!(plain_id("32C2FCC3-B2E8-4907-9672-5B3F49B1C643"));
        assert!(!plain_id("../../oauth2"));
        assert!(!plain_id("a b"));
        assert!(!plain_id(""));
    }

    fn reply(status: u16, body: &str) -> ApiReply {
        ApiReply {
            status,
            correlation_id: Some("c-1".into()),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn each_apis_error_shape_gives_concurs_words() {
        let scim = reply(
            403,
            r#"{"schemas":[],"status":"403","detail":"no identity"}"#,
        );
        assert_eq!(refused(Probe::IdentityUsers, &scim).message, "no identity");
        let v3 = reply(403, r#"{"Message":"Expense off"}"#);
        let failure = refused(Probe::ExpenseReportsV3, &v3);
        assert_eq!(failure.message, "Expense off");
        assert!(failure.fix.starts_with("Expense is not enabled"));
        assert!(!failure.transient);
        let v4 = reply(403, r#"{"errorId":"x","errorMessage":"not an approver"}"#);
        let failure = refused(Probe::ExpenseApprovalsV4, &v4);
        assert_eq!(failure.message, "not an approver");
        assert!(failure.fix.contains("approver role"));
        let html = reply(503, "<html>down</html>");
        let failure = refused(Probe::ExpenseConfigV3, &html);
        assert_eq!(failure.message, "HTTP 503");
        assert!(failure.transient);
    }

    #[test]
    fn answers_become_facts_and_odd_shapes_are_failures() {
        let users = reply(200, r#"{"totalResults":1245,"Resources":[{"id":"u-1"}]}"#);
        assert_eq!(
            read_answer(Probe::IdentityUsers, &users).unwrap(),
            ("1 245 users".to_owned(), Some("u-1".to_owned()))
        );
        let waiting = reply(200, r#"[{"reportId":"a"},{"reportId":"b"}]"#);
        assert_eq!(
            read_answer(Probe::ExpenseApprovalsV4, &waiting).unwrap().0,
            "2 reports waiting for approval"
        );
        let paged = reply(200, r#"{"content":[],"links":[]}"#);
        assert!(read_answer(Probe::ExpenseReportsV4, &paged).is_ok());
        let no_items = reply(200, r#"{"NextPage":null}"#);
        let failure = read_answer(Probe::ExpenseReportsV3, &no_items).unwrap_err();
        assert_eq!(
            failure.message,
            "Concur answered with a list without Items."
        );
    }
}
