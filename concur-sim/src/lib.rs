//! A simulator of SAP Concur's authentication, faithful to the facts the console relies on:
//! the three grants, data centres answering code 16 for companies that live elsewhere,
//! single-use request tokens, six-month sliding refresh tokens, rotation, error bodies, quirks
//! and injected faults. Tests spawn it on port 0; `concur-sim` runs it as a process.

mod apis;
mod routes;
mod state;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

pub use state::{
    ACCESS_LIFETIME, ClientSpec, CompanySwitches, Fault, LANDING_ZONE, Quirks, REFRESH_LIFETIME,
    REQUEST_TOKEN_LIFETIME, Seed,
};

/// The data centres every simulator serves, one listener each, in port order.
pub const DATA_CENTERS: [&str; 3] = ["us2", "eu2", LANDING_ZONE];

/// The scopes the demo app is registered with: everything both modelled integrations need.
pub const DEMO_SCOPES: &[&str] = &[
    "openid",
    "EXPRPT",
    "CONFIG",
    "expense.report.read",
    "expense.report.readwrite",
    "expense.report.workflowstatus.write",
    "identity.user.core.read",
    "identity.user.coresensitive.read",
    "identity.user.enterprise.read",
    "identity.user.ids.read",
];

/// A running simulator. Dropping it does not stop the listeners; they end with the runtime.
#[derive(Clone)]
pub struct Simulator {
    state: Arc<Mutex<state::State>>,
}

impl Simulator {
    /// Starts on 127.0.0.1 with every data centre on its own free port.
    pub async fn spawn() -> std::io::Result<Self> {
        Self::bind("127.0.0.1".parse().expect("loopback"), 0).await
    }

    /// Starts one listener per data centre on `first_port`, `first_port + 1`, … (0: free ports).
    pub async fn bind(ip: IpAddr, first_port: u16) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(state::State::default()));
        for (i, name) in DATA_CENTERS.iter().enumerate() {
            let port = if first_port == 0 {
                0
            } else {
                first_port + i as u16
            };
            let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, port)).await?;
            let origin = format!("http://{}", listener.local_addr()?);
            state
                .lock()
                .expect("fresh lock")
                .data_centers
                .push((name.to_string(), origin));
            let app = routes::router(routes::DataCenter {
                name: name.to_string(),
                state: state.clone(),
            });
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        Ok(Self { state })
    }

    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The base URL of a data centre (`us2`, `eu2`, `glz`).
    pub fn origin(&self, data_center: &str) -> String {
        self.lock()
            .origin(data_center)
            .unwrap_or_else(|| panic!("the simulator has no data centre {data_center}"))
            .to_owned()
    }

    /// The `CONCUR_ALLOWED_HOSTS` value that lets the console reach every data centre.
    pub fn allowed_hosts(&self) -> String {
        let state = self.lock();
        let origins: Vec<&str> = state.data_centers.iter().map(|(_, o)| o.as_str()).collect();
        origins.join(",")
    }

    pub fn add_client(&self, spec: ClientSpec) {
        self.lock().add_client(spec);
    }

    /// A client allowed every grant and registered with `scopes`; returns (id, secret).
    pub fn add_app(&self, scopes: &[&str]) -> (String, String) {
        self.lock()
            .add_app(scopes.iter().map(|s| s.to_string()).collect())
    }

    pub fn set_client_enabled(&self, client_id: &str, enabled: bool) {
        self.lock().set_client_enabled(client_id, enabled);
    }

    /// A company living in `data_center`; returns its UUID.
    pub fn add_company(&self, data_center: &str) -> String {
        self.lock().add_company(data_center)
    }

    /// The company has not enabled (authorised) this app: token calls answer code 53.
    pub fn disable_app_for_company(&self, company: &str, client_id: &str) {
        self.lock().disable_app(company, client_id);
    }

    /// What the company has switched on beyond its tokens (Expense, users, an approver); false if
    /// there is no such company. Also `PUT /_sim/companies/{uuid}` on any data centre's origin.
    pub fn set_company(&self, company: &str, switches: CompanySwitches) -> bool {
        self.lock().set_switches(company, switches)
    }

    pub fn mint_request_token(&self, company: &str, client_id: &str) -> String {
        self.lock().mint_request_token(company, client_id)
    }

    pub fn issue_refresh_token(&self, company: &str, client_id: &str) -> String {
        self.lock().issue_refresh_token(company, client_id)
    }

    /// When a refresh token dies (None once it is unknown, rotated out or revoked).
    pub fn refresh_token_expiry(&self, token: &str) -> Option<i64> {
        self.lock().refresh_token_expiry(token)
    }

    pub fn revoke(&self, company: &str, client_id: &str) {
        self.lock().revoke(company, client_id);
    }

    /// The simulator's idea of now (Unix seconds).
    pub fn now(&self) -> i64 {
        self.lock().now()
    }

    pub fn advance_clock(&self, seconds: i64) {
        self.lock().clock_offset += seconds;
    }

    pub fn set_quirks(&self, quirks: Quirks) {
        self.lock().quirks = quirks;
    }

    /// Makes `data_center`'s token endpoint hold each answer back for `millis` (0: at once
    /// again), the answer decided first: a rotated token is rotated even when the caller stops
    /// waiting.
    pub fn stall(&self, data_center: &str, millis: u64) {
        let mut state = self.lock();
        if millis == 0 {
            state.stalls.remove(data_center);
        } else {
            state.stalls.insert(data_center.to_owned(), millis);
        }
    }

    /// Faults for the next `times` token requests to `data_center` only.
    pub fn inject_in(&self, data_center: &str, fault: Fault, times: usize) {
        self.lock()
            .faults_in
            .entry(data_center.to_owned())
            .or_default()
            .extend(std::iter::repeat_n(fault, times));
    }

    /// A fault `data_center` answers every token request with, until `None` switches it off.
    pub fn set_lasting_fault(&self, data_center: &str, fault: Option<Fault>) {
        let mut state = self.lock();
        match fault {
            Some(fault) => state.lasting.insert(data_center.to_owned(), fault),
            None => state.lasting.remove(data_center),
        };
    }

    /// Faults for the next `times` token requests, whichever data centre they reach.
    pub fn inject(&self, fault: Fault, times: usize) {
        self.lock().faults.extend(std::iter::repeat_n(fault, times));
    }

    /// How many token requests arrived (to prove a call was, or was not, made).
    pub fn token_requests(&self) -> u64 {
        self.lock().token_requests
    }

    /// One app (all demo scopes), one company in us2, a refresh token and a request token.
    pub fn seed_demo(&self) -> Seed {
        let scopes = DEMO_SCOPES.iter().map(|s| s.to_string()).collect();
        self.lock().seed("us2", scopes).expect("us2 is served")
    }
}
