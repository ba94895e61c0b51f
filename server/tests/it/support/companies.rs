//! A connection as an admin would add it: a new app and company on the simulator, their
//! credentials in the form, stored through the same path as the form.

use concur_sim::Simulator;
use console_core::state::AppState;
use console_model::CredentialsForm;

/// The credentials form for a fresh app with `scopes` and a fresh company in `us2`.
pub fn credentials(sim: &Simulator, name: &str, scopes: &[&str]) -> CredentialsForm {
    let (client_id, client_secret) = sim.add_app(scopes);
    let company = sim.add_company("us2");
    let mut form = CredentialsForm::default();
    form.mode = "refresh-token".into();
    form.name = name.into();
    form.refresh_token = sim.issue_refresh_token(&company, &client_id);
    form.client_id = client_id;
    form.client_secret = client_secret;
    form.authorization_url = sim.origin("us2");
    form.scope_profile = "expense-approvals".into();
    form
}

/// Stores a connection for a fresh app and company; returns its id.
pub async fn add(state: &AppState, sim: &Simulator, name: &str, scopes: &[&str]) -> String {
    console_core::connections::create(state, credentials(sim, name, scopes))
        .await
        .expect("the simulator accepts fresh credentials")
}
