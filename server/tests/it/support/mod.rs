//! What every integration suite starts from: the console's settings for a database and the
//! simulator's origins, on a free port, with the background jobs off (tests drive them); the
//! store a suite runs on, the simulator's companies, the signed-webhook receiver.

pub mod companies;
pub mod hooks;
pub mod smtp;
pub mod stores;

use std::sync::Arc;

use concur::{ClientConfig, Clock};
use console_core::alerts::AlertConfig;
use console_core::state::{AppState, Config};
use console_model::Role;
use server::serve::{Application, Settings};

pub fn settings(database_url: String, allowed_hosts: String) -> Settings {
    Settings {
        config: Config {
            database_url,
            console_key: None,
            old_keys: None,
            allowed_hosts,
            public_url: "http://127.0.0.1".into(),
            client: ClientConfig::default(),
            keepalive_every: 86_400,
            lease_seconds: 90,
            trusted_proxies: Vec::new(),
            session_idle: 1800,
            session_lifetime: 43_200,
            alerts: AlertConfig::default(),
            audit_retention: 400 * 86_400,
            renewal: Default::default(),
            org_name: None,
            oidc: None,
            local_login: true,
            probes: true,
        },
        site_addr: "127.0.0.1:0".parse().expect("an address"),
        site_root: None,
        carried: None,
        keepalive: false,
        api_rate_per_minute: 1200,
        metrics_token: None,
        connect_rate_per_minute: 600,
        backup: None,
    }
}

/// [`settings`] for a console on `store`, with the store's key (PostgreSQL's consoles share one;
/// a SQLite console makes its own key file).
pub fn settings_for(store: &stores::Store, allowed_hosts: String) -> Settings {
    let mut settings = settings(store.url(), allowed_hosts);
    settings.config.console_key = store.key();
    settings
}

/// Builds the console from `settings`, serves it in the background on its free port, and
/// returns its base URL and state.
pub async fn serve(settings: Settings, clock: Arc<dyn Clock>) -> (String, AppState) {
    let app = Application::build(settings, clock)
        .await
        .expect("the console starts");
    let base = format!("http://{}", app.address);
    let state = app.state.clone();
    tokio::spawn(app.run());
    (base, state)
}

/// The tests' HTTP client: keeps cookies and follows no redirect (each answer is read as it
/// comes). A request left unanswered for a minute fails its test instead of stalling the run.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The password of every account a suite makes with [`person`].
pub const PASSWORD: &str = "correct horse battery staple";

/// The page at `url` as `http` is shown it, as text.
pub async fn text(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// The hash of [`PASSWORD`], made once per test binary: argon2 takes a while unoptimised.
pub async fn password_hash() -> &'static str {
    static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    HASH.get_or_init(|| async {
        console_core::auth::hash_password(PASSWORD.into())
            .await
            .expect("argon2 hashes")
    })
    .await
}

/// An account `username` with `role` whose password is [`PASSWORD`], straight into the store.
pub async fn person(state: &AppState, id: &str, username: &str, role: Role) {
    account(state, id, username, password_hash().await, role).await;
}

/// Signs `username` in on `http` with [`PASSWORD`]; the answer (a session cookie when it worked).
pub async fn sign_in(http: &reqwest::Client, base: &str, username: &str) -> reqwest::Response {
    http.post(format!("{base}/api/login"))
        .form(&[("username", username), ("password", PASSWORD)])
        .send()
        .await
        .expect("the console answers")
}

/// An account with a role and a password hash, straight into the store.
pub async fn account(state: &AppState, id: &str, username: &str, hash: &str, role: Role) {
    console_core::store::insert_admin(
        &state.pool,
        &console_core::store::NewAccount {
            id,
            username,
            password_hash: hash,
            role,
            now: 0,
        },
    )
    .await
    .unwrap();
}

/// The New connection form with a refresh token the simulator issues to `company` now.
pub fn refresh_form(
    sim: &concur_sim::Simulator,
    company: &str,
    (client_id, secret): (&str, &str),
    name: &str,
) -> console_model::CredentialsForm {
    console_model::CredentialsForm {
        mode: "refresh-token".into(),
        name: name.into(),
        client_id: client_id.into(),
        client_secret: secret.into(),
        refresh_token: sim.issue_refresh_token(company, client_id),
        authorization_url: sim.origin("us2"),
        scope_profile: "expense-approvals".into(),
        company_uuid: String::new(),
        request_token: String::new(),
        custom_scopes: String::new(),
        external_id: String::new(),
        tags: String::new(),
        contact_name: String::new(),
        contact_email: String::new(),
        owner: String::new(),
    }
}
