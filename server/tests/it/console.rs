//! The real console on port 0 with a fresh database (SQLite; PostgreSQL when the Rust suite runs
//! it a second time) and the Concur simulator, driven over HTTP through its server functions
//! and pages.

use std::sync::Arc;

use concur::{Clock, ManualClock};
use concur_sim::{DEMO_SCOPES, Fault, Quirks, Simulator};
use serde_json::{Value, json};
use stores::Store;

use crate::support::{self, PASSWORD, stores};

struct Console {
    base: String,
    http: reqwest::Client,
    sim: Simulator,
    state: console_core::state::AppState,
    clock: ManualClock,
    store: Store,
    client_id: String,
    secret: String,
    company: String,
    refresh: String,
}

async fn spawn() -> Console {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::chosen().await;
    let settings = support::settings_for(&store, sim.allowed_hosts());
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings, Arc::new(clock.clone())).await;
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let refresh = sim.issue_refresh_token(&company, &client_id);
    Console {
        base,
        http: support::browser(),
        sim,
        state,
        clock,
        store,
        client_id,
        secret,
        company,
        refresh,
    }
}

impl Console {
    /// Calls a server function; Ok(JSON result) or Err(the Error as JSON).
    async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<Value, Value> {
        let response = self
            .http
            .post(format!("{}/api/{endpoint}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let ok = response.status().is_success();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if ok { Ok(body) } else { Err(body) }
    }

    async fn sign_in(&self) {
        if console_core::store::admin_count(&self.state.pool)
            .await
            .unwrap()
            == 0
        {
            support::person(&self.state, "a1", "admin", console_model::Role::Admin).await;
        }
        self.call("login", &[("username", "admin"), ("password", PASSWORD)])
            .await
            .unwrap();
    }

    fn form<'a>(&'a self, refresh: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("form[mode]", "refresh-token"),
            ("form[name]", "Expense bot – ACME"),
            ("form[client_id]", &self.client_id),
            ("form[client_secret]", &self.secret),
            ("form[refresh_token]", refresh),
            ("form[authorization_url]", "PLACEHOLDER"),
            ("form[scope_profile]", "expense-approvals"),
        ]
    }

    async fn validate(&self, changes: &[(&str, &str)]) -> Result<Value, Value> {
        let us2 = format!("{}/oauth2/v0/token", self.sim.origin("us2"));
        let mut form = self.form(&self.refresh);
        form.iter_mut().for_each(|(k, v)| {
            if *k == "form[authorization_url]" {
                *v = &us2;
            }
        });
        for (key, value) in changes {
            match form.iter_mut().find(|(k, _)| k == key) {
                Some(pair) => pair.1 = value,
                None => form.push((key, value)),
            }
        }
        self.call("validate_connection", &form).await
    }

    async fn detail(&self, id: &str) -> Value {
        self.call("load_connection", &[("id", id)]).await.unwrap()
    }

    async fn dashboard(&self) -> Value {
        self.call("load_dashboard", &[("search", ""), ("page", "0")])
            .await
            .unwrap()
    }

    async fn page(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn stored_refresh_token(&self, id: &str) -> String {
        let row = console_core::store::connection(&self.state.pool, id)
            .await
            .unwrap()
            .unwrap();
        self.state
            .cipher
            .open(id, "refresh_token", &row.refresh_token_sealed)
            .unwrap()
            .to_string()
    }

    fn count(&self, dashboard: &Value, status: &str) -> i64 {
        let status = status[..1].to_uppercase() + &status[1..];
        dashboard["counts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|pair| pair[0] == status.as_str())
            .map(|pair| pair[1].as_i64().unwrap())
            .unwrap()
    }
}

fn concur_code(error: &Value) -> &str {
    error["Concur"]["code"].as_str().unwrap_or_default()
}

fn invalid_field(error: &Value) -> &str {
    error["Invalid"]["field"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once() {
    let c = spawn().await;
    let link = console_core::auth::setup_link(&c.state)
        .await
        .unwrap()
        .unwrap();
    let token = link.split("token=").nth(1).unwrap();
    let (status, html) = c.page(&format!("/setup?token={token}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Create the first admin"));

    let short = c
        .call(
            "setup",
            &[
                ("token", token),
                ("username", "admin"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&short), "password");
    assert_eq!(
        console_core::store::admin_count(&c.state.pool)
            .await
            .unwrap(),
        0
    );

    let form = [
        ("token", token),
        ("username", "admin"),
        ("password", PASSWORD),
        ("confirm", PASSWORD),
    ];
    c.call("setup", &form).await.unwrap();
    let (status, html) = c.page("/").await;
    assert_eq!(status, 200, "signed in right after setup");
    assert!(html.contains("No connections yet"));

    let again = c.call("setup", &form).await.unwrap_err();
    assert_eq!(again, json!("SetupClosed"));
    assert!(
        console_core::auth::setup_link(&c.state)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn login_accepts_the_right_password_and_slows_down_repeated_failures() {
    let c = spawn().await;
    c.sign_in().await;
    c.call("logout", &[]).await.unwrap();
    assert_eq!(c.page("/").await.0, 303, "signed out");

    let wrong = [("username", "admin"), ("password", "not the password")];
    assert_eq!(
        c.call("login", &wrong).await.unwrap_err(),
        json!("BadLogin")
    );
    let nobody = [("username", "nobody"), ("password", "not the password")];
    assert_eq!(
        c.call("login", &nobody).await.unwrap_err(),
        json!("BadLogin"),
        "same answer for unknown users"
    );
    for _ in 0..3 {
        c.call("login", &wrong).await.unwrap_err();
    }
    let right = [("username", "admin"), ("password", PASSWORD)];
    let slowed = c.call("login", &right).await.unwrap_err();
    assert!(slowed.get("TooManyAttempts").is_some(), "{slowed}");
    c.clock.advance(16 * 60);
    c.call("login", &right).await.unwrap();
    assert_eq!(c.page("/").await.0, 200);
}

#[tokio::test]
async fn every_page_and_server_function_refuses_anonymous_access() {
    let c = spawn().await;
    for path in [
        "/",
        "/connections/new",
        "/connections/abc",
        "/connections/abc/replace",
        "/nowhere",
    ] {
        let r = c
            .http
            .get(format!("{}{path}", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/login", "{path}");
    }
    let calls: [(&str, &[(&str, &str)]); 10] = [
        ("load_dashboard", &[("search", ""), ("page", "0")]),
        ("load_connection", &[("id", "x")]),
        ("validate_connection", &[("form[name]", "x")]),
        ("validate_now", &[("id", "x")]),
        (
            "replace_credentials",
            &[("id", "x"), ("form[mode]", "refresh-token")],
        ),
        ("rename_connection", &[("id", "x"), ("name", "y")]),
        ("delete_connection", &[("id", "x"), ("confirm", "yes")]),
        ("create_api_key", &[("id", "x"), ("label", "y")]),
        ("list_api_keys", &[("id", "x")]),
        ("revoke_api_key", &[("id", "x"), ("key_id", "y")]),
    ];
    for (endpoint, form) in calls {
        assert_eq!(
            c.call(endpoint, form).await.unwrap_err(),
            json!("Unauthorized"),
            "{endpoint}"
        );
    }
    assert_eq!(c.page("/login").await.0, 200);
    assert_eq!(c.sim.token_requests(), 0);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let c = spawn().await;
    let r = c
        .http
        .post(format!("{}/api/login", c.base))
        .header("origin", "https://evil.example")
        .form(&[("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn validate_stores_the_connection_and_the_dashboard_shows_its_expiry() {
    let c = spawn().await;
    c.sign_in().await;
    let id = c.validate(&[]).await.unwrap();
    let id = id.as_str().unwrap();
    let d = c.detail(id).await;
    assert_eq!(d["summary"]["status"], "Healthy");
    assert_eq!(
        d["summary"]["refresh_token_expires_at"],
        json!(c.sim.refresh_token_expiry(&c.refresh).unwrap())
    );
    assert_eq!(d["summary"]["company_uuid"], json!(c.company));
    assert_eq!(d["geolocation"], json!(c.sim.origin("us2")));
    assert!(
        d["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["granted"] == true)
    );
    assert_eq!(
        d["refresh_token_mask"],
        json!(format!("••••{}", &c.refresh[c.refresh.len() - 4..]))
    );
    assert_eq!(d["history"][0]["ok"], true);

    let dash = c.dashboard().await;
    assert_eq!(c.count(&dash, "healthy"), 1);
    assert_eq!(dash["rows"][0]["id"], json!(id));

    let expires = c.sim.refresh_token_expiry(&c.refresh).unwrap();
    let days = (expires - c.clock.now()) / 86_400;
    let (_, html) = c.page("/").await;
    assert!(html.contains("Expense bot – ACME"));
    assert!(html.contains(&format!("{days} days left")), "{html}");
    let (_, html) = c.page(&format!("/connections/{id}")).await;
    assert!(html.contains("Refresh token expires"));
    for secret in [&c.secret, &c.refresh] {
        assert!(
            !html.contains(secret.as_str()),
            "a secret leaked into the page"
        );
        assert!(
            !d.to_string().contains(secret.as_str()),
            "a secret leaked into a response"
        );
    }

    c.clock.advance(175 * 86_400);
    assert_eq!(c.page("/").await.0, 303, "the session ended with time");
    c.sign_in().await;
    let dash = c.dashboard().await;
    assert_eq!(
        c.count(&dash, "critical"),
        1,
        "moving time moves the connection into a band"
    );
}

#[tokio::test]
async fn field_errors_come_before_any_call_to_concur_and_store_nothing() {
    let c = spawn().await;
    c.sign_in().await;
    let huge = "a".repeat(5000);
    let cases: [(&str, &str, &str); 7] = [
        ("form[name]", "  ", "name"),
        ("form[client_id]", "not-a-uuid", "client_id"),
        ("form[client_secret]", "", "client_secret"),
        ("form[refresh_token]", &huge, "refresh_token"),
        ("form[refresh_token]", "abc\u{7}def", "refresh_token"),
        (
            "form[authorization_url]",
            "https://10.0.0.8",
            "authorization_url",
        ),
        ("form[authorization_url]", "not a url", "authorization_url"),
    ];
    for (key, value, field) in cases {
        let err = c.validate(&[(key, value)]).await.unwrap_err();
        assert_eq!(invalid_field(&err), field, "{key}={value:.20}: {err}");
    }
    assert_eq!(c.sim.token_requests(), 0);
    assert_eq!(c.dashboard().await["total"], 0);
}

#[tokio::test]
async fn concur_refusals_are_diagnosed_next_to_their_field_and_store_nothing() {
    let c = spawn().await;
    c.sign_in().await;
    let err = c
        .validate(&[("form[client_secret]", "wrong-secret-value")])
        .await
        .unwrap_err();
    assert_eq!(concur_code(&err), "bad_client_secret");
    assert_eq!(err["Concur"]["field"], "client_secret");
    assert_eq!(err["Concur"]["concur_code"], 64);
    assert!(
        err["Concur"]["correlation_id"]
            .as_str()
            .unwrap()
            .starts_with("sim-")
    );

    c.sim.revoke(&c.company, &c.client_id);
    let err = c.validate(&[]).await.unwrap_err();
    assert_eq!(concur_code(&err), "refresh_token_invalid");
    assert_eq!(err["Concur"]["field"], "refresh_token");
    assert!(
        err["Concur"]["next_step"]
            .as_str()
            .unwrap()
            .contains("Company Request Token")
    );

    c.sim.inject(Fault::Unavailable, 1);
    let err = c.validate(&[]).await.unwrap_err();
    assert_eq!(
        (concur_code(&err), err["Concur"]["transient"].as_bool()),
        ("concur_unavailable", Some(true))
    );
    assert_eq!(c.dashboard().await["total"], 0, "a refusal stores nothing");
}

#[tokio::test]
async fn missing_scopes_store_a_failing_connection_with_the_reason() {
    let c = spawn().await;
    c.sign_in().await;
    let err = c
        .validate(&[
            ("form[scope_profile]", "custom"),
            ("form[custom_scopes]", "EXPRPT travel.trip.read"),
        ])
        .await;
    let id = err.unwrap();
    let d = c.detail(id.as_str().unwrap()).await;
    assert_eq!(d["summary"]["status"], "Failing");
    assert!(
        d["last_problem"]
            .as_str()
            .unwrap()
            .contains("travel.trip.read")
    );
    assert_eq!(
        d["scopes"][1],
        json!({"scope": "travel.trip.read", "granted": false})
    );
}

#[tokio::test]
async fn a_company_in_another_data_centre_is_found_and_its_geolocation_stored() {
    let c = spawn().await;
    c.sign_in().await;
    let company = c.sim.add_company("eu2");
    let token = c.sim.issue_refresh_token(&company, &c.client_id);
    let id = c
        .validate(&[("form[refresh_token]", &token)])
        .await
        .unwrap();
    let d = c.detail(id.as_str().unwrap()).await;
    assert_eq!(d["geolocation"], json!(c.sim.origin("eu2")));
    c.call("validate_now", &[("id", id.as_str().unwrap())])
        .await
        .unwrap();
    assert_eq!(
        c.detail(id.as_str().unwrap()).await["history"][0]["ok"],
        true
    );
}

#[tokio::test]
async fn a_company_request_token_is_exchanged_for_a_stored_refresh_token() {
    let c = spawn().await;
    c.sign_in().await;
    let request = c.sim.mint_request_token(&c.company, &c.client_id);
    let glz = c.sim.origin("glz");
    let form = [
        ("form[mode]", "request-token"),
        ("form[company_uuid]", c.company.as_str()),
        ("form[request_token]", request.as_str()),
        ("form[authorization_url]", glz.as_str()),
    ];
    let id = c.validate(&form).await.unwrap();
    let id = id.as_str().unwrap();
    let stored = c.stored_refresh_token(id).await;
    assert!(
        c.sim.refresh_token_expiry(&stored).is_some(),
        "the exchanged refresh token is stored"
    );
    assert_eq!(
        c.detail(id).await["geolocation"],
        json!(c.sim.origin("us2"))
    );
    let reused = c.validate(&form).await.unwrap_err();
    assert_eq!(concur_code(&reused), "request_token_rejected");
    assert_eq!(reused["Concur"]["field"], "request_token");
}

#[tokio::test]
async fn rotated_refresh_tokens_are_persisted_and_failures_never_overwrite_a_good_token() {
    let c = spawn().await;
    c.sign_in().await;
    c.sim.set_quirks(Quirks {
        rotate_refresh_tokens: true,
        ..Quirks::default()
    });
    let id = c.validate(&[]).await.unwrap();
    let id = id.as_str().unwrap();
    let first = c.stored_refresh_token(id).await;
    assert_ne!(
        first, c.refresh,
        "the rotated token was stored, not the pasted one"
    );
    c.call("validate_now", &[("id", id)]).await.unwrap();
    let second = c.stored_refresh_token(id).await;
    assert_ne!(second, first);
    assert_eq!(c.detail(id).await["summary"]["status"], "Healthy");

    c.sim.inject(Fault::RateLimited { retry_after: 60 }, 1);
    c.call("validate_now", &[("id", id)]).await.unwrap();
    let d = c.detail(id).await;
    assert_eq!(
        d["summary"]["status"], "Healthy",
        "a transient failure does not mark it failing"
    );
    assert_eq!(d["history"][0]["ok"], false);

    c.sim.revoke(&c.company, &c.client_id);
    c.call("validate_now", &[("id", id)]).await.unwrap();
    let d = c.detail(id).await;
    assert_eq!(d["summary"]["status"], "Failing");
    assert_eq!(
        c.stored_refresh_token(id).await,
        second,
        "the failure kept the stored token"
    );
    assert_eq!(d["history"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn replace_credentials_revives_a_dead_connection_and_a_refusal_changes_nothing() {
    let c = spawn().await;
    c.sign_in().await;
    let id = c.validate(&[]).await.unwrap();
    let id = id.as_str().unwrap();
    c.sim.revoke(&c.company, &c.client_id);
    c.call("validate_now", &[("id", id)]).await.unwrap();
    assert_eq!(c.detail(id).await["summary"]["status"], "Failing");

    let us2 = c.sim.origin("us2");
    let bad = [
        ("id", id),
        ("form[mode]", "refresh-token"),
        ("form[client_id]", c.client_id.as_str()),
        ("form[refresh_token]", "no-such-token"),
        ("form[authorization_url]", us2.as_str()),
    ];
    let err = c.call("replace_credentials", &bad).await.unwrap_err();
    assert_eq!(concur_code(&err), "refresh_token_invalid");
    assert_eq!(c.stored_refresh_token(id).await, c.refresh);

    let request = c.sim.mint_request_token(&c.company, &c.client_id);
    let good = [
        ("id", id),
        ("form[mode]", "request-token"),
        ("form[client_id]", c.client_id.as_str()),
        ("form[company_uuid]", c.company.as_str()),
        ("form[request_token]", request.as_str()),
        ("form[authorization_url]", us2.as_str()),
    ];
    c.call("replace_credentials", &good).await.unwrap();
    let d = c.detail(id).await;
    assert_eq!(d["summary"]["status"], "Healthy");
    assert_eq!(
        d["summary"]["name"], "Expense bot – ACME",
        "the name is kept"
    );
}

#[tokio::test]
async fn rename_and_delete_need_a_valid_name_and_a_confirmation() {
    let c = spawn().await;
    c.sign_in().await;
    let id = c.validate(&[]).await.unwrap();
    let id = id.as_str().unwrap();
    let err = c
        .call("rename_connection", &[("id", id), ("name", "")])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&err), "name");
    c.call(
        "rename_connection",
        &[("id", id), ("name", "Mileage – ACME")],
    )
    .await
    .unwrap();
    assert_eq!(c.detail(id).await["summary"]["name"], "Mileage – ACME");

    let err = c
        .call("delete_connection", &[("id", id), ("confirm", "")])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&err), "confirm");
    c.call("delete_connection", &[("id", id), ("confirm", "yes")])
        .await
        .unwrap();
    let gone = c.call("load_connection", &[("id", id)]).await.unwrap_err();
    assert_eq!(gone, json!("NotFound"));
    assert_eq!(c.dashboard().await["total"], 0);
}

#[tokio::test]
async fn the_database_holds_no_secret_in_clear() {
    let c = spawn().await;
    c.sign_in().await;
    c.validate(&[]).await.unwrap();
    c.state.pool.close().await;
    let raw = c.store.contents();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains(&c.client_id), "sanity: the file was read");
    assert!(!raw.contains(&c.secret) && !raw.contains(&c.refresh));
}

#[tokio::test]
async fn a_wrong_key_stops_the_start() {
    let c = spawn().await;
    let config = console_core::state::Config {
        console_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        old_keys: None,
        ..support::settings(c.store.url(), String::new()).config
    };
    let err = console_core::state::AppState::build(&config, Arc::new(c.clock.clone()))
        .await
        .err()
        .unwrap();
    let said = err.to_string();
    assert!(
        said.contains(
            "is not the key this database's secrets are sealed with: 1 of them are sealed with key "
        ),
        "{said}"
    );
}

#[tokio::test]
async fn the_dashboard_draws_the_expiry_timeline_and_each_bar_lists_its_connections() {
    let c = spawn().await;
    c.sign_in().await;
    let id = c.validate(&[]).await.unwrap();
    let id = id.as_str().unwrap();
    let week = |days: i64| (days * 86_400 - 3600) / (7 * 86_400);
    sqlx::query("UPDATE connections SET refresh_token_expires_at = $2 WHERE id = $1")
        .bind(id)
        .bind(c.clock.now() + 10 * 86_400 - 3600)
        .execute(&c.state.pool)
        .await
        .unwrap();
    let d = c.dashboard().await;
    let bars = d["timeline"].as_array().unwrap();
    assert_eq!(bars.len(), 26);
    assert_eq!(bars[week(10) as usize]["count"], 1);
    assert_eq!(
        bars.iter()
            .map(|b| b["count"].as_i64().unwrap())
            .sum::<i64>(),
        1
    );
    assert_eq!(bars[0]["band"], "Critical");
    let (status, html) = c.page("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("<svg") && html.contains(&format!("href=\"/?week={}\"", week(10))));
    assert!(html.contains("1 refresh token expiring in the week from"));
    let (_, narrowed) = c.page(&format!("/?week={}", week(10))).await;
    assert!(
        narrowed.contains("Expense bot"),
        "the bar lists its connection"
    );
    let (_, other) = c.page("/?week=20").await;
    assert!(
        !other.contains("Expense bot – ACME</a>"),
        "another week lists nothing"
    );
}
