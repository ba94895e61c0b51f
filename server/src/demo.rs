//! `concur-console demo`: the console beside an in-process Concur simulator, with a demo admin
//! and seeded connections, so every screen can be tried without Concur access. Its database
//! lives in a fresh temporary directory: demo data is throwaway.

use std::sync::Arc;

use concur_sim::{CompanySwitches, DEMO_SCOPES, Seed, Simulator};
use console_core::connections::create;
use console_core::state::AppState;
use console_model::CredentialsForm;

use crate::serve::{Application, Settings};

pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "concur-demo-password";
const SIM_PORT: u16 = 9100;

fn form(name: &str, seed: &Seed, profile: &str, custom: &str) -> CredentialsForm {
    CredentialsForm {
        mode: "refresh-token".into(),
        name: name.into(),
        client_id: seed.client_id.clone(),
        client_secret: seed.client_secret.clone(),
        refresh_token: seed.refresh_token.clone(),
        authorization_url: seed.authorization_url.clone(),
        scope_profile: profile.into(),
        custom_scopes: custom.into(),
        company_uuid: String::new(),
        request_token: String::new(),
        external_id: String::new(),
        tags: String::new(),
        contact_name: String::new(),
        contact_email: String::new(),
        owner: String::new(),
    }
}

async fn seed_console(state: &AppState, sim: &Simulator) -> Result<(), String> {
    let hash = console_core::auth::hash_password(DEMO_PASSWORD.into())
        .await
        .map_err(|e| e.to_string())?;
    let id = uuid::Uuid::new_v4().to_string();
    let account = console_core::store::NewAccount {
        id: &id,
        username: DEMO_USER,
        password_hash: &hash,
        role: console_model::Role::Admin,
        now: state.now(),
    };
    console_core::store::insert_admin(&state.pool, &account)
        .await
        .map_err(|e| e.to_string())?;
    let approvals = sim.seed_demo();
    create(
        state,
        form(
            "Expense approvals – demo",
            &approvals,
            "expense-approvals",
            "",
        ),
    )
    .await
    .map_err(|e| e.to_string())?;
    let (client_id, client_secret) = sim.add_app(&DEMO_SCOPES[..4]);
    let company = sim.add_company("eu2");
    let narrow = Seed {
        authorization_url: sim.origin("us2"),
        refresh_token: sim.issue_refresh_token(&company, &client_id),
        request_token: String::new(),
        client_id,
        client_secret,
        company_uuid: company,
    };
    create(
        state,
        form(
            "Mileage tracker – missing scopes",
            &narrow,
            "mileage-to-expense",
            "",
        ),
    )
    .await
    .map_err(|e| e.to_string())?;
    // Its token works, but Concur Expense is not enabled for the company: degraded.
    let no_expense = sim.seed_demo();
    let off = CompanySwitches {
        expense_enabled: false,
        ..CompanySwitches::default()
    };
    sim.set_company(&no_expense.company_uuid, off);
    create(
        state,
        form(
            "Mileage tracker – Expense not enabled",
            &no_expense,
            "mileage-to-expense",
            "",
        ),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

pub async fn run(mut settings: Settings) -> Result<(), String> {
    let sim = Simulator::bind("127.0.0.1".parse().expect("loopback"), SIM_PORT)
        .await
        .map_err(|e| {
            format!(
                "cannot start the simulator on ports {SIM_PORT}–{}: {e}",
                SIM_PORT + 2
            )
        })?;
    let dir = std::env::temp_dir().join(format!("concur-console-demo-{}", uuid::Uuid::new_v4()));
    settings.config.database_url = format!("sqlite://{}/concur-console.db", dir.display());
    settings.config.console_key = None;
    settings.config.allowed_hosts = sim.allowed_hosts();
    let app = Application::build(settings, Arc::new(concur::SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    seed_console(&app.state, &sim).await?;
    let try_it = sim.seed_demo();
    println!(
        "\nConcur Console demo on http://{}  (data in {}, thrown away)",
        app.address,
        dir.display()
    );
    println!("  sign in as {DEMO_USER} / {DEMO_PASSWORD}");
    println!(
        "\nFresh credentials to paste into “New connection” (simulated Concur, data centre us2):"
    );
    println!("{try_it}\n");
    app.run().await.map_err(|e| e.to_string())
}
