//! Renewal requests end to end, with a real SMTP server (aiosmtpd) and the simulator: a
//! revoked token asks the contact once with a working link, the clock moved 2 and 5 days
//! reminds twice and escalates once, completing the link heals the connection and ends it all;
//! a transient failure or a connection without a contact asks nobody; two replicas ask once.

use std::sync::{Arc, Mutex};

use concur::{Clock, ManualClock};
use concur_sim::{DEMO_SCOPES, Fault, Simulator};
use console_core::alerts::{AlertConfig, Email, Webhook};
use console_core::connections::fleet::{self, Change};
use console_core::state::{AppState, Config};
use console_core::store::{self, AuditFilter};
use console_model::{ConnectionSummary, Dashboard, RenewalMark};
use serde_json::Value;

use crate::support::smtp::{Mail, Smtp};
use crate::support::stores::Store;
use crate::support::{self, companies, hooks};

const DAY: i64 = 86_400;
const SECRET: &str = "renewal webhook secret";
const CONTACT: &str = "concur-admin@acme.example";
/// The address of the account that owns a connection.
const OWNER: &str = "csm@vendor.example";

struct World {
    base: String,
    config: Config,
    state: AppState,
    sim: Simulator,
    clock: ManualClock,
    smtp: Smtp,
    hooks: Arc<Mutex<Vec<Value>>>,
    store: Store,
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// A world whose reminders go out `reminders` after the request.
async fn world_reminding(reminders: Vec<i64>) -> World {
    world_with(|config| config.renewal.reminders = reminders).await
}

/// A world with `change` made to its console's configuration.
async fn world_with(change: impl FnOnce(&mut Config)) -> World {
    let sim = Simulator::spawn().await.unwrap();
    let smtp = Smtp::start().await;
    let (origin, hooks) = hooks::receiver(SECRET).await;
    let store = Store::chosen().await;
    let mut settings = support::settings_for(&store, format!("{},{origin}", sim.allowed_hosts()));
    settings.config.org_name = Some("Expense Bot Inc.".into());
    settings.config.alerts = AlertConfig {
        thresholds: vec![30, 14, 7, 3, 1],
        webhook: Some(Webhook {
            url: format!("{origin}/hook"),
            secret: SECRET.into(),
        }),
        email: Some(Email {
            smtp_url: smtp.url.clone(),
            from: "console@vendor.example".into(),
            to: vec!["ops@vendor.example".into()],
        }),
        routes: Vec::new(),
    };
    change(&mut settings.config);
    let config = settings.config.clone();
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings, Arc::new(clock.clone())).await;
    World {
        base,
        config,
        state,
        sim,
        clock,
        smtp,
        hooks,
        store,
    }
}

impl World {
    /// A connection of a fresh company, with `contact` as its customer's Concur admin.
    async fn customer(&self, name: &str, contact: Option<&str>) -> String {
        let id = companies::add(&self.state, &self.sim, name, DEMO_SCOPES).await;
        if let Some(address) = contact {
            let change = Change {
                contact_name: Some("Ada Admin".into()),
                contact_email: Some(address.into()),
                ..Change::default()
            };
            fleet::change(&self.state, &id, &change).await.unwrap();
        }
        id
    }

    async fn row(&self, id: &str) -> store::ConnectionRow {
        store::connection(&self.state.pool, id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Revokes the connection's refresh token at Concur.
    async fn revoke(&self, id: &str) {
        let row = self.row(id).await;
        self.sim
            .revoke(row.company_uuid.as_deref().unwrap(), &row.client_id);
    }

    /// A keep-alive run with every connection due.
    async fn keepalive(&self) {
        sqlx::query("UPDATE connections SET next_refresh_at = $1")
            .bind(self.clock.now())
            .execute(&self.state.pool)
            .await
            .unwrap();
        server::keepalive::sweep_due(&self.state, None)
            .await
            .unwrap();
    }

    /// One round of the alert job: alerts, renewal requests, deliveries.
    async fn round(&self) {
        server::alerts::run_round(&self.state).await.unwrap();
    }

    /// The customer's page of a link, as their browser opens it.
    async fn open(&self, link: &str) -> reqwest::Response {
        support::browser()
            .get(link.replace(&self.state.public_url, &self.base))
            .send()
            .await
            .unwrap()
    }

    fn customer_mails(&self) -> Vec<Mail> {
        self.smtp.to(CONTACT)
    }

    /// The renewal events the webhook received, in order.
    fn events(&self) -> Vec<String> {
        self.hooks
            .lock()
            .unwrap()
            .iter()
            .filter_map(|v| v["event"].as_str())
            .filter(|e| e.starts_with("renewal"))
            .map(str::to_owned)
            .collect()
    }

    async fn requests(&self, id: &str) -> Vec<store::RenewalRow> {
        store::renewals_of(&self.state.pool, id, 10).await.unwrap()
    }

    /// The dashboard, with `?renewal=` as given.
    async fn dashboard(&self, renewal: Option<&str>) -> Dashboard {
        let query = fleet::Query {
            renewal: renewal.map(str::to_owned),
            ..fleet::Query::default()
        };
        console_core::connections::dashboard(&self.state, "", None, 0, &query)
            .await
            .unwrap()
    }

    /// Who asked, and what, in the audit log's renewal entries of connection `id`, oldest first.
    async fn audited(&self, id: &str) -> Vec<(String, String)> {
        let (audit, _) = store::audit_page(&self.state.pool, &AuditFilter::default(), 0, 200)
            .await
            .unwrap();
        audit
            .into_iter()
            .rev()
            .filter(|e| e.kind.starts_with("renewal_") && e.connection_id.as_deref() == Some(id))
            .map(|e| (e.actor, e.kind))
            .collect()
    }
}

/// The dashboard's row of connection `id`.
fn row_of<'d>(dashboard: &'d Dashboard, id: &str) -> &'d ConnectionSummary {
    dashboard
        .rows
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} on the dashboard: {:?}", dashboard.rows))
}

/// The renewal link a mail carries.
fn link_in(mail: &Mail) -> String {
    let start = mail.body.find("http://127.0.0.1/connect/").expect("a link");
    mail.body[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_revoked_token_asks_the_contact_once_reminds_twice_escalates_once_and_heals() {
    let w = world().await;
    let id = w.customer("Acme travel", Some(CONTACT)).await;
    // Its owner takes no alerts by e-mail, but is told in person that the customer has not
    // answered, and that it healed.
    support::person(&w.state, "csm-1", "csm", console_model::Role::Editor).await;
    store::set_alert_email(&w.state.pool, "csm-1", Some(OWNER), false)
        .await
        .unwrap();
    let owned = Change {
        owner: Some("csm".into()),
        ..Change::default()
    };
    fleet::change(&w.state, &id, &owned).await.unwrap();
    w.customer("Healthy one", Some("other@globex.example"))
        .await;
    w.round().await;
    assert!(
        w.customer_mails().is_empty(),
        "a healthy connection asks nobody"
    );

    w.revoke(&id).await;
    w.keepalive().await;
    w.round().await;
    w.round().await;
    let mails = w.customer_mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let first = &mails[0];
    assert_eq!(
        first.subject,
        "Expense Bot Inc.: the SAP Concur connection “Acme travel” needs your action"
    );
    let row = w.row(&id).await;
    assert!(first.body.starts_with("Hello Ada Admin,"), "{}", first.body);
    assert!(
        first.body.contains("it was revoked, or it expired"),
        "{}",
        first.body
    );
    assert!(
        first
            .body
            .contains("Authentication Admin → Company Request Token"),
        "the steps: {}",
        first.body
    );
    assert!(
        first.body.contains(&concur::mask(&row.client_id)) && !first.body.contains(&row.client_id),
        "the Client ID masked: {}",
        first.body
    );
    assert!(
        !first.body.to_lowercase().contains("click here") && !first.body.contains("log in"),
        "{}",
        first.body
    );
    let link = link_in(first);
    let page = w.open(&link).await;
    assert_eq!(page.status(), 200, "the link works");
    assert!(page.text().await.unwrap().contains("Renew"));
    assert_eq!(w.events(), ["renewal_requested"]);
    assert!(
        w.smtp.to("other@globex.example").is_empty(),
        "only the connection that needs its customer"
    );

    // Failing again while the request is open: the same episode, the same link, no new mail.
    w.keepalive().await;
    w.round().await;
    assert_eq!(w.customer_mails().len(), 1);
    assert_eq!(w.requests(&id).await.len(), 1);

    w.clock.advance(2 * DAY);
    w.round().await;
    w.round().await;
    let mails = w.customer_mails();
    assert_eq!(mails.len(), 2, "the first reminder");
    assert!(
        mails[1].subject.starts_with("Reminder — "),
        "{}",
        mails[1].subject
    );
    assert!(
        mails[1].body.contains("reminder 1 of 2"),
        "{}",
        mails[1].body
    );
    assert_eq!(
        link_in(&mails[1]),
        link,
        "the link still works: the same one"
    );
    assert_eq!(w.events(), ["renewal_requested", "renewal_reminded"]);

    w.clock.advance(3 * DAY);
    w.round().await;
    w.round().await;
    assert_eq!(w.customer_mails().len(), 3, "the second reminder");
    assert_eq!(
        w.events(),
        [
            "renewal_requested",
            "renewal_reminded",
            "renewal_reminded",
            "renewal_unanswered"
        ],
        "escalated once, with the last reminder"
    );
    let told = w.smtp.to(OWNER);
    assert_eq!(
        told.len(),
        1,
        "the owner hears of the silence only: {told:?}"
    );
    assert!(
        told[0].body.contains("has not answered"),
        "{}",
        told[0].body
    );
    let unanswered = w.hooks.lock().unwrap().last().cloned().unwrap();
    assert!(
        unanswered["message"]
            .as_str()
            .unwrap()
            .contains("has not answered"),
        "{unanswered}"
    );

    // The customer renews through the link: the connection heals, the episode ends.
    let token = w
        .sim
        .mint_request_token(row.company_uuid.as_deref().unwrap(), &row.client_id);
    let renewed = support::browser()
        .post(link.replace(&w.state.public_url, &w.base))
        .form(&[("client_secret", ""), ("request_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
    w.round().await;
    assert_eq!(
        w.events().last().map(String::as_str),
        Some("renewal_completed")
    );
    w.round().await;
    assert_eq!(w.smtp.to(OWNER).len(), 2, "and that it healed");
    let requests = w.requests(&id).await;
    assert_eq!(
        (requests[0].state.as_str(), requests[0].ended_by.as_deref()),
        ("completed", Some("healed"))
    );
    assert_eq!(w.row(&id).await.failing, 0);
    for _ in 0..3 {
        w.clock.advance(3 * DAY);
        w.round().await;
    }
    assert_eq!(w.customer_mails().len(), 3, "nothing more once healed");
    assert_eq!(w.events().len(), 5);
    let (audit, _) = store::audit_page(&w.state.pool, &AuditFilter::default(), 0, 200)
        .await
        .unwrap();
    let steps: Vec<&str> = audit
        .iter()
        .rev()
        .filter(|e| e.kind.starts_with("renewal_") && e.connection_id.as_deref() == Some(&id))
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "renewal_requested",
            "renewal_reminded",
            "renewal_reminded",
            "renewal_unanswered",
            "renewal_completed"
        ],
        "each step audited"
    );
}

#[tokio::test]
async fn a_transient_failure_or_a_connection_without_a_contact_asks_nobody() {
    let w = world().await;
    let flaky = w.customer("Flaky", Some(CONTACT)).await;
    w.sim.set_lasting_fault("us2", Some(Fault::Unavailable));
    w.keepalive().await;
    w.round().await;
    assert!(w.row(&flaky).await.transient_failures > 0);
    assert!(
        w.customer_mails().is_empty(),
        "Concur away: nobody is asked"
    );
    w.sim.set_lasting_fault("us2", None);

    let nobody = w.customer("Nobody to ask", None).await;
    w.revoke(&nobody).await;
    w.keepalive().await;
    w.round().await;
    assert_eq!(w.row(&nobody).await.failing, 1);
    assert!(w.requests(&nobody).await.is_empty());
    assert!(
        w.smtp
            .messages()
            .iter()
            .all(|m| m.to == "ops@vendor.example"),
        "only the vendor's own alerts: {:?}",
        w.smtp.messages()
    );
    assert!(w.events().is_empty());
}

#[tokio::test]
async fn missing_scopes_ask_for_exactly_those_scopes_and_two_replicas_ask_once() {
    let w = world().await;
    let id = w.customer("Scoped", Some(CONTACT)).await;
    // The app loses a scope the integration needs: the next refresh grants less.
    sqlx::query("UPDATE connections SET failing = 1 WHERE id = $1")
        .bind(&id)
        .execute(&w.state.pool)
        .await
        .unwrap();
    let row = w.row(&id).await;
    let granted: Vec<&str> = row.granted_scopes.split_whitespace().collect();
    let kept = granted[1..].join(" ");
    sqlx::query("UPDATE connections SET granted_scopes = $2 WHERE id = $1")
        .bind(&id)
        .bind(&kept)
        .execute(&w.state.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO validations (id, connection_id, at, ok, diagnosis, message, duration_ms, source) VALUES ($1, $2, $3, 0, 'missing_scopes', 'scopes', 1, 'keep-alive')",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&id)
    .bind(w.clock.now())
    .execute(&w.state.pool)
    .await
    .unwrap();

    let other = AppState::build(&w.config, Arc::new(w.clock.clone()))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        server::alerts::run_round(&w.state),
        server::alerts::run_round(&other)
    );
    a.unwrap();
    b.unwrap();
    w.round().await;
    let mails = w.customer_mails();
    assert_eq!(mails.len(), 1, "two replicas ask once: {mails:?}");
    let missing = granted[0];
    assert!(
        mails[0]
            .body
            .contains(&format!("add exactly these scopes: {missing}.")),
        "{}",
        mails[0].body
    );
    assert!(
        mails[0].body.find("add exactly these scopes")
            < mails[0].body.find("Company Request Token"),
        "the scopes first, then the token: {}",
        mails[0].body
    );
    assert_eq!(w.events(), ["renewal_requested"]);

    // The link's page says the same: the scopes first, then the token.
    let page = w.open(&link_in(&mails[0])).await.text().await.unwrap();
    assert!(
        page.contains("no longer has the permissions (scopes) the integration needs")
            && page.contains(&format!("add exactly these scopes: {missing}.")),
        "{page}"
    );
}

#[tokio::test]
async fn a_reminder_after_the_link_expired_carries_a_new_link_to_the_contact_of_the_day() {
    let w = world_reminding(vec![8 * DAY]).await;
    let id = w.customer("Slow to answer", Some(CONTACT)).await;
    w.revoke(&id).await;
    w.keepalive().await;
    w.round().await;
    let first = link_in(&w.customer_mails()[0]);

    let moved = Change {
        contact_email: Some("new-admin@acme.example".into()),
        ..Change::default()
    };
    fleet::change(&w.state, &id, &moved).await.unwrap();
    w.clock.advance(8 * DAY);
    w.round().await;
    let reminders = w.smtp.to("new-admin@acme.example");
    assert_eq!(reminders.len(), 1, "the reminder goes to the new address");
    assert_eq!(w.customer_mails().len(), 1, "not to the old one");
    let second = link_in(&reminders[0]);
    assert_ne!(second, first, "the 7-day link expired: a new one");
    assert_eq!(w.open(&second).await.status(), 200);
    assert_eq!(w.open(&first).await.status(), 410);
    let request = &w.requests(&id).await[0];
    assert_eq!(request.contact_email, "new-admin@acme.example");
    let reminded = w
        .hooks
        .lock()
        .unwrap()
        .iter()
        .find(|v| v["event"] == "renewal_reminded")
        .cloned();
    assert!(
        reminded.unwrap()["message"].as_str().unwrap().contains(
            "the contact changed from concur-admin@acme.example to new-admin@acme.example"
        ),
        "recorded"
    );
}

#[tokio::test]
async fn an_admin_asks_resends_and_stops_and_the_page_shows_where_it_stands() {
    let w = world().await;
    let lonely = w.customer("No contact", None).await;
    let refused = console_core::renewals::request(&w.state, &lonely, "ada")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, console_core::Error::Invalid { field, .. } if field == "contact_email"),
        "{refused:?}"
    );

    // A healthy connection an admin wants renewed: asked, then the mail again on request.
    let id = w.customer("Due anyway", Some(CONTACT)).await;
    let asked = console_core::renewals::request(&w.state, &id, "ada")
        .await
        .unwrap();
    assert_eq!(asked, console_core::renewals::Asked::Sent);
    let again = console_core::renewals::request(&w.state, &id, "ada")
        .await
        .unwrap();
    assert_eq!(again, console_core::renewals::Asked::Resent);
    w.round().await;
    let mails = w.customer_mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(
        mails[0].body.contains("due for renewal"),
        "{}",
        mails[0].body
    );
    assert_eq!(
        link_in(&mails[0]),
        link_in(&mails[1]),
        "the same link again"
    );
    w.round().await;
    assert_eq!(
        w.requests(&id).await[0].state,
        "open",
        "working is not healed: it waits for the link"
    );

    let row = w.row(&id).await;
    let shown = console_core::renewals::view(&w.state, &row).await.unwrap();
    assert_eq!(shown.needs, None, "nothing to fix");
    let request = shown.request.unwrap();
    let steps: Vec<&str> = request.steps.iter().map(|s| s.what.as_str()).collect();
    assert!(
        steps[0].starts_with("Needs the customer: an admin asked"),
        "{steps:?}"
    );
    assert_eq!(
        &steps[1..],
        [
            format!("Mail sent to {CONTACT}"),
            format!("Mail again sent to {CONTACT}")
        ],
        "{steps:?}"
    );
    assert!(request.open && request.next_reminder_at.is_some());

    // Stopped: no reminders, and a failure since does not ask again on its own.
    console_core::renewals::cancel(&w.state, &id, "ada")
        .await
        .unwrap();
    assert!(
        console_core::renewals::cancel(&w.state, &id, "ada")
            .await
            .is_err(),
        "nothing left to stop"
    );
    w.revoke(&id).await;
    w.keepalive().await;
    for _ in 0..3 {
        w.clock.advance(3 * DAY);
        w.round().await;
    }
    assert_eq!(w.customer_mails().len(), 2, "stopped means stopped");
    let ended = &w.requests(&id).await[0];
    assert_eq!(
        (ended.state.as_str(), ended.ended_by.as_deref()),
        ("cancelled", Some("ada"))
    );
    let row = w.row(&id).await;
    let shown = console_core::renewals::view(&w.state, &row).await.unwrap();
    assert!(
        shown
            .needs
            .as_deref()
            .is_some_and(|n| n.contains("no longer accepts")),
        "{shown:?}"
    );
    assert_eq!(
        shown.request.unwrap().steps.last().unwrap().what,
        "Stopped by ada"
    );

    let metrics = server::ops::render(&w.state).await.unwrap();
    assert!(
        metrics.contains("concur_console_renewal_requests_total{result=\"requested\"} 1")
            && metrics.contains("concur_console_renewal_requests_total{result=\"resent\"} 1")
            && metrics.contains("concur_console_renewal_requests_total{result=\"cancelled\"} 1")
            && metrics.contains("concur_console_renewal_requests_open 0"),
        "{metrics}"
    );
    assert!(
        !metrics.contains(CONTACT),
        "no customer's address on /metrics"
    );
}

#[tokio::test]
async fn the_terminal_asks_and_stops_like_the_page() {
    let w = world().await;
    let id = w.customer("From a shell", Some(CONTACT)).await;
    let run = |args: &[&str]| {
        let output = w
            .store
            .console(args)
            .env("CONCUR_SMTP_URL", &w.smtp.url)
            .env("CONCUR_ALERT_EMAIL_FROM", "console@vendor.example")
            .env("CONCUR_ALERT_EMAIL_TO", "ops@vendor.example")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["renewal", "request", &id]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("asked the customer"), "{out}");
    // The terminal queued the mail by the system's clock, which this console's runs behind.
    w.clock.advance(60);
    w.round().await;
    assert_eq!(
        w.customer_mails().len(),
        1,
        "the served console delivers what the terminal queued"
    );
    let (code, out, err) = run(&["renewal", "cancel", &id]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("stopped asking"), "{out}");
    let (code, _, err) = run(&["renewal", "cancel", &id]);
    assert_ne!(code, Some(0));
    assert!(err.contains("No request to the customer is open"), "{err}");
    let (code, _, err) = run(&["renewal", "request", "nope"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("does not exist"), "{err}");
    let (code, out, err) = run(&["renewal", "automatic", &id, "never"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("does not ask"), "{out}");
    assert_eq!(w.row(&id).await.renewal_automatic, Some(0));
    let (code, _, err) = run(&["renewal", "automatic", &id, "sometimes"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("always, never, default"), "{err}");
    assert_eq!(
        w.row(&id).await.renewal_automatic,
        Some(0),
        "nothing changed"
    );
}

/// The dashboard marks the customers asked (when, reminders, link opened) and the connections
/// nobody can be asked for, lists only those waiting with `?renewal=waiting` (the management
/// list too), and a connection set never to ask on its own is not asked until set back.
#[tokio::test]
async fn the_dashboard_shows_who_was_asked_and_a_connection_can_opt_out_of_asking() {
    let w = world().await;
    let asked = w.customer("Asked", Some(CONTACT)).await;
    let opted_out = w.customer("Opted out", Some(CONTACT)).await;
    let lonely = w.customer("Nobody to ask", None).await;
    let fine = w.customer("Fine", Some(CONTACT)).await;
    console_core::renewals::set_automatic(&w.state, &opted_out, Some(false), "ada")
        .await
        .unwrap();
    for id in [&asked, &opted_out, &lonely] {
        w.revoke(id).await;
    }
    w.keepalive().await;
    w.round().await;
    assert_eq!(w.requests(&asked).await.len(), 1);
    assert!(w.requests(&opted_out).await.is_empty(), "set never to ask");
    assert_eq!(w.row(&opted_out).await.failing, 1);

    let board = w.dashboard(None).await;
    assert_eq!(board.renewals_waiting, 1);
    let Some(RenewalMark::Requested {
        reminders, opened, ..
    }) = row_of(&board, &asked).renewal
    else {
        panic!("{:?}", row_of(&board, &asked));
    };
    assert_eq!((reminders, opened), (0, false));
    assert_eq!(
        row_of(&board, &lonely).renewal,
        Some(RenewalMark::NoContact)
    );
    assert_eq!(row_of(&board, &opted_out).renewal, None);
    assert_eq!(row_of(&board, &fine).renewal, None);

    let link = link_in(&w.customer_mails()[0]);
    assert!(w.open(&link).await.status().is_success());
    w.clock.advance(2 * DAY + 60);
    w.round().await;
    let waiting = w.dashboard(Some("waiting")).await;
    let ids: Vec<&str> = waiting.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [asked.as_str()]);
    assert_eq!(waiting.total, 1, "the counts follow the filter");
    assert!(waiting.filter.waiting);
    assert!(
        matches!(
            waiting.rows[0].renewal,
            Some(RenewalMark::Requested {
                reminders: 1,
                opened: true,
                ..
            })
        ),
        "{:?}",
        waiting.rows[0]
    );
    let query = fleet::Query {
        renewal: Some("waiting".into()),
        ..fleet::Query::default()
    };
    let (listed, _) = fleet::page(&w.state, &query, None, 10).await.unwrap();
    let listed: Vec<&str> = listed.iter().map(|(r, _)| r.id.as_str()).collect();
    assert_eq!(
        listed,
        [asked.as_str()],
        "the management list filters the same"
    );

    // Set back to the console's setting (on, with e-mail): the next round asks.
    console_core::renewals::set_automatic(&w.state, &opted_out, None, "ada")
        .await
        .unwrap();
    w.round().await;
    assert_eq!(w.requests(&opted_out).await.len(), 1);
    assert_eq!(w.dashboard(None).await.renewals_waiting, 2);
    let audited = w.audited(&opted_out).await;
    let by = |actor: &str, kind: &str| (actor.to_owned(), kind.to_owned());
    assert_eq!(
        audited,
        [
            by("ada", "renewal_setting"),
            by("ada", "renewal_setting"),
            by("renewal requests", "renewal_requested"),
        ]
    );
}

/// With the console set not to ask on its own, a connection set always to is still asked, and
/// the others are not.
#[tokio::test]
async fn a_connection_set_always_to_ask_is_asked_when_the_console_does_not() {
    let w = world_with(|config| config.renewal.automatic = Some(false)).await;
    let always = w.customer("Always", Some(CONTACT)).await;
    let default = w.customer("As the console", Some(CONTACT)).await;
    console_core::renewals::set_automatic(&w.state, &always, Some(true), "ada")
        .await
        .unwrap();
    w.revoke(&always).await;
    w.revoke(&default).await;
    w.keepalive().await;
    w.round().await;
    assert_eq!(w.requests(&always).await.len(), 1);
    assert!(w.requests(&default).await.is_empty());
    let row = w.row(&always).await;
    let shown = console_core::renewals::view(&w.state, &row).await.unwrap();
    assert!(shown.automatic && !shown.console_asks && shown.automatic_set == Some(true));
}
