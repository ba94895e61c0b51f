//! What the integration can do: the read-only API probes run after Validate, Validate now and
//! keep-alive (at most hourly), against the simulator's APIs with their per-company switches;
//! what they find is stored, shown on the connection page and counted for `/metrics`.

use std::sync::{Arc, Mutex};

use concur::{Clock, ManualClock};
use concur_sim::{CompanySwitches, DEMO_SCOPES, Simulator};
use console_core::alerts::{AlertConfig, Webhook};
use console_core::connections::probes::{self, When};
use console_core::connections::refresh::{self, Need};
use console_core::state::AppState;
use console_model::{ProbeLine, Role, Status};
use serde_json::Value;
use server::alerts::deliver_due;

use crate::support::{self, companies, hooks, stores::Store};

struct Fixture {
    sim: Simulator,
    state: AppState,
    clock: ManualClock,
    base: String,
    hooks: Arc<Mutex<Vec<Value>>>,
}

const SECRET: &str = "a probe webhook secret";

async fn fixture() -> Fixture {
    let sim = Simulator::spawn().await.unwrap();
    let (origin, hooks) = hooks::receiver(SECRET).await;
    let store = Store::chosen().await;
    let clock = ManualClock::at(sim.now());
    let mut settings = support::settings_for(&store, format!("{},{origin}", sim.allowed_hosts()));
    settings.config.alerts = AlertConfig {
        thresholds: vec![30, 14, 7, 3, 1],
        webhook: Some(Webhook {
            url: format!("{origin}/hook"),
            secret: SECRET.into(),
        }),
        email: None,
        routes: Vec::new(),
    };
    let (base, state) = support::serve(settings, Arc::new(clock.clone())).await;
    Fixture {
        sim,
        state,
        clock,
        base,
        hooks,
    }
}

impl Fixture {
    /// A connection with the Mileage to expense profile, which implies all five probes.
    async fn connection(&self) -> (String, String) {
        let mut form = companies::credentials(&self.sim, "Mileage – ACME", DEMO_SCOPES);
        form.scope_profile = "mileage-to-expense".into();
        let id = console_core::connections::create(&self.state, form)
            .await
            .unwrap();
        let company = self.detail(&id).await.summary.company_uuid.unwrap();
        (id, company)
    }

    async fn detail(&self, id: &str) -> console_model::ConnectionDetail {
        console_core::connections::detail(&self.state, id)
            .await
            .unwrap()
    }

    async fn lines(&self, id: &str) -> Vec<ProbeLine> {
        self.detail(id).await.probes
    }

    fn switch(&self, company: &str, switches: CompanySwitches) {
        assert!(self.sim.set_company(company, switches));
    }

    /// The alerts delivered so far: (event, text).
    async fn alerts(&self) -> Vec<(String, String)> {
        deliver_due(&self.state, &self.state.alerts).await.unwrap();
        self.hooks
            .lock()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["event"].as_str().unwrap().to_owned(),
                    v["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn line<'a>(lines: &'a [ProbeLine], name: &str) -> &'a ProbeLine {
    lines
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

fn expense_off() -> CompanySwitches {
    CompanySwitches {
        expense_enabled: false,
        ..CompanySwitches::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_stores_what_the_integration_can_do_and_the_page_shows_it() {
    let f = fixture().await;
    let (id, _) = f.connection().await;
    let lines = f.lines(&id).await;
    let shown: Vec<(&str, Option<bool>, &str)> = lines
        .iter()
        .map(|l| (l.name.as_str(), l.ok, l.detail.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("identity_users", Some(true), "3 users"),
            ("expense_reports_v3", Some(true), "reports readable"),
            (
                "expense_reports_v4",
                Some(true),
                "the first user's reports are readable"
            ),
            (
                "expense_approvals_v4",
                Some(true),
                "2 reports waiting for approval"
            ),
            (
                "expense_config_v3",
                Some(true),
                "configuration readable (“Default expense group”)"
            ),
        ]
    );
    assert!(lines.iter().all(|l| l.checked_at == f.clock.now()));

    support::person(&f.state, "p-1", "viewer", Role::Viewer).await;
    let http = support::browser();
    support::sign_in(&http, &f.base, "viewer").await;
    let page = support::text(&http, &format!("{}/connections/{id}", f.base)).await;
    assert!(page.contains("What the integration can do"), "{page}");
    assert!(page.contains("Identity v4 users"), "{page}");
    assert!(page.contains("2 reports waiting for approval"), "{page}");
    let metrics = support::text(&http, &format!("{}/metrics", f.base)).await;
    assert!(
        metrics.contains(
            "concur_console_probe_results_total{probe=\"identity_users\",result=\"ok\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expense_switched_off_is_found_by_validate_now_with_the_fix_and_found_again_when_back() {
    let f = fixture().await;
    let (id, company) = f.connection().await;
    f.switch(&company, expense_off());
    f.clock.advance(60);
    console_core::connections::recheck(&f.state, &id)
        .await
        .unwrap();
    let lines = f.lines(&id).await;
    assert_eq!(line(&lines, "identity_users").ok, Some(true));
    let v3 = line(&lines, "expense_reports_v3");
    assert_eq!(
        (v3.ok, v3.status, v3.detail.as_str()),
        (
            Some(false),
            Some(403),
            "Concur Expense is not enabled for this company."
        )
    );
    assert!(
        v3.fix
            .as_deref()
            .unwrap()
            .contains("ask your Concur admin to enable Concur Expense")
    );
    assert!(v3.correlation_id.is_some());
    let detail = f.detail(&id).await;
    assert_eq!(detail.summary.status, Status::Degraded);
    assert!(
        detail.access_token_expires_at.is_some() && detail.last_problem.is_none(),
        "the token works: the connection is kept and keeps serving tokens"
    );
    let alerts = f.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let (event, text) = &alerts[0];
    assert_eq!(event, "capability_lost");
    assert!(
        text.contains(
            "Expense v3 reports — HTTP 403: Concur Expense is not enabled for this company."
        ),
        "{text}"
    );
    assert!(text.contains("Fix: Expense is not enabled"), "{text}");
    let counts = console_core::store::overview(&f.state.pool, f.clock.now(), &Default::default())
        .await
        .unwrap();
    assert_eq!(counts.count(Status::Degraded), 1, "the dashboard counts it");

    // Checked again while still off: the same episode, no second alert.
    console_core::connections::recheck(&f.state, &id)
        .await
        .unwrap();
    assert_eq!(f.alerts().await.len(), 1);

    f.switch(&company, CompanySwitches::default());
    console_core::connections::recheck(&f.state, &id)
        .await
        .unwrap();
    let lines = f.lines(&id).await;
    assert!(lines.iter().all(|l| l.ok == Some(true)), "{lines:?}");
    assert_eq!(f.detail(&id).await.summary.status, Status::Healthy);
    let alerts = f.alerts().await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let (event, text) = &alerts[1];
    assert_eq!(event, "capability_restored");
    assert!(
        text.contains("Expense v3 reports — reports readable."),
        "{text}"
    );
    assert!(!text.contains("Identity v4"), "only what was lost: {text}");

    // Checked again, all well: nothing more to say.
    console_core::connections::recheck(&f.state, &id)
        .await
        .unwrap();
    assert_eq!(f.alerts().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_probes_a_connection_at_most_once_an_hour() {
    let f = fixture().await;
    let (id, company) = f.connection().await;
    let first = f.clock.now();
    f.switch(&company, expense_off());
    f.clock.advance(10 * 60);
    probes::run(&f.state, &id, When::Hourly).await.unwrap();
    let lines = f.lines(&id).await;
    assert_eq!(
        line(&lines, "expense_reports_v3").ok,
        Some(true),
        "ten minutes: not again"
    );
    assert_eq!(line(&lines, "expense_reports_v3").checked_at, first);

    f.clock.advance(probes::PROBE_EVERY);
    // Keep-alive probes right after its refresh, with the access token just issued.
    refresh::refresh(&f.state, &id, Need::Always, "keep-alive")
        .await
        .unwrap();
    probes::run(&f.state, &id, When::Hourly).await.unwrap();
    let lines = f.lines(&id).await;
    assert_eq!(line(&lines, "expense_reports_v3").ok, Some(false));
    assert_eq!(line(&lines, "expense_reports_v3").checked_at, f.clock.now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_the_approver_role_fails_only_the_approvals_probe() {
    let f = fixture().await;
    let (id, company) = f.connection().await;
    f.switch(
        &company,
        CompanySwitches {
            manager_role: false,
            ..CompanySwitches::default()
        },
    );
    console_core::connections::recheck(&f.state, &id)
        .await
        .unwrap();
    let lines = f.lines(&id).await;
    let failed: Vec<&str> = lines
        .iter()
        .filter(|l| l.ok == Some(false))
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(failed, ["expense_approvals_v4"]);
    assert!(
        line(&lines, "expense_approvals_v4")
            .fix
            .as_deref()
            .unwrap()
            .contains("approver role")
    );
}
