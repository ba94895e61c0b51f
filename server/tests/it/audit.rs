//! The audit log: a whole admin journey over HTTP leaves one event of each kind, with who, when,
//! from where and how it ended; the database never holds a secret; the terminal prints it.

use std::process::Command;
use std::sync::Arc;

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::alerts::{AlertConfig, Webhook};
use console_core::store::{self, AuditFilter};
use serde_json::Value;
use stores::Store;

use crate::support::{self, stores};

const PASSWORD: &str = "violet tractor sings softly";

async fn receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    origin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_leaves_each_event_kind_in_the_audit_log_and_no_secret_anywhere() {
    let sim = Simulator::spawn().await.unwrap();
    let hook = receiver().await;
    let store = Store::chosen().await;
    let database_url = store.url();
    let mut settings = support::settings(
        database_url.clone(),
        format!("{},{hook}", sim.allowed_hosts()),
    );
    settings.config.console_key = store.key();
    settings.config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    settings.config.alerts = AlertConfig {
        thresholds: vec![30, 14, 7, 3, 1],
        webhook: Some(Webhook {
            url: format!("{hook}/hook"),
            secret: "hook secret value".into(),
        }),
        email: None,
        routes: Vec::new(),
    };
    let (base, state) = support::serve(settings, Arc::new(ManualClock::at(sim.now()))).await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let call = |endpoint: &str, form: Vec<(&str, String)>| {
        http.post(format!("{base}/api/{endpoint}"))
            .header("x-forwarded-for", "198.51.100.23")
            .form(&form)
            .send()
    };
    let s = |v: &str| v.to_owned();

    let link = console_core::auth::setup_link(&state)
        .await
        .unwrap()
        .unwrap();
    let token = link.split("token=").nth(1).unwrap().to_owned();
    call(
        "setup",
        vec![
            ("token", token),
            ("username", s("root")),
            ("password", s(PASSWORD)),
            ("confirm", s(PASSWORD)),
        ],
    )
    .await
    .unwrap();
    // A second person joins through an invitation; another invitation is revoked unused.
    for role in ["editor", "viewer"] {
        call("invite", vec![("role", s(role))]).await.unwrap();
    }
    let people = console_core::people::people(
        &state,
        &console_core::auth::Account {
            id: String::new(),
            role: console_model::Role::Admin,
            method: console_model::SignInMethod::Password,
        },
    )
    .await
    .unwrap();
    let invited = |role| people.invitations.iter().find(|i| i.role == role).unwrap();
    let (editor, viewer) = (
        invited(console_model::Role::Editor),
        invited(console_model::Role::Viewer),
    );
    call("revoke_invitation", vec![("id", viewer.id.clone())])
        .await
        .unwrap();
    let token = editor
        .url
        .as_deref()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap();
    let joined = support::browser()
        .post(format!("{base}/api/accept_invitation"))
        .form(&[
            ("token", token),
            ("username", "second"),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(joined.status().is_success(), "{}", joined.status());
    call("logout", vec![]).await.unwrap();
    call(
        "login",
        vec![("username", s("root")), ("password", s("wrong password"))],
    )
    .await
    .unwrap();
    call(
        "login",
        vec![("username", s("root")), ("password", s(PASSWORD))],
    )
    .await
    .unwrap();

    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let refresh = sim.issue_refresh_token(&company, &client_id);
    let form = |refresh: &str| {
        vec![
            ("form[mode]", s("refresh-token")),
            ("form[name]", s("Audited")),
            ("form[client_id]", client_id.clone()),
            ("form[client_secret]", secret.clone()),
            ("form[refresh_token]", s(refresh)),
            ("form[authorization_url]", sim.origin("us2")),
            ("form[scope_profile]", s("expense-approvals")),
        ]
    };
    let created: Value = call("validate_connection", form(&refresh))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created.as_str().unwrap().to_owned();
    call(
        "rename_connection",
        vec![("id", id.clone()), ("name", s("Audited, renamed"))],
    )
    .await
    .unwrap();
    let made: Value = call(
        "create_api_key",
        vec![("id", id.clone()), ("label", s("bot"))],
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let api_key = made["key"].as_str().unwrap().to_owned();
    let keys = console_core::api_keys::list(&state, &id).await.unwrap();
    call(
        "revoke_api_key",
        vec![("id", id.clone()), ("key_id", keys[0].id.clone())],
    )
    .await
    .unwrap();
    sim.revoke(&company, &client_id);
    call("validate_now", vec![("id", id.clone())])
        .await
        .unwrap();
    server::alerts::run_once(&state, &state.alerts)
        .await
        .unwrap();
    let fresh = sim.issue_refresh_token(&company, &client_id);
    let mut replace = form(&fresh);
    replace.push(("id", id.clone()));
    call("replace_credentials", replace).await.unwrap();
    call(
        "change_password",
        vec![
            ("current", s(PASSWORD)),
            ("password", s("amber lantern drifts north")),
            ("confirm", s("amber lantern drifts north")),
        ],
    )
    .await
    .unwrap();
    call(
        "save_alert_settings",
        vec![
            ("webhook_url", s("")),
            ("webhook_secret", s("")),
            ("smtp_url", s("")),
            ("email_from", s("")),
            ("email_to", s("")),
        ],
    )
    .await
    .unwrap();
    call(
        "set_alert_email",
        vec![
            ("email", s("root@vendor.example")),
            ("alerts_by_email", s("on")),
        ],
    )
    .await
    .unwrap();
    let admins = store::admins(&state.pool).await.unwrap();
    let second = admins
        .iter()
        .find(|a| a.username == "second")
        .unwrap()
        .id
        .clone();
    call(
        "set_role",
        vec![("id", second.clone()), ("role", s("viewer"))],
    )
    .await
    .unwrap();
    for active in ["false", "true"] {
        call(
            "set_active",
            vec![("id", second.clone()), ("active", s(active))],
        )
        .await
        .unwrap();
    }
    call("end_sessions_of", vec![("id", second.clone())])
        .await
        .unwrap();
    call(
        "delete_connection",
        vec![("id", id.clone()), ("confirm", s("yes"))],
    )
    .await
    .unwrap();

    let (events, _) = store::audit_page(&state.pool, &AuditFilter::default(), 0, 500)
        .await
        .unwrap();
    // Hand-off links leave theirs in the hand-off suite, which walks a customer's side too;
    // accounts made and deleted from a terminal, in the people suite; changes to who a
    // connection belongs to, in the owners suite; renewal requests, in theirs.
    let here = |k: &&&str| {
        ![
            "alert_failed",
            "admin_created",
            "admin_deleted",
            "connection_updated",
            "exported",
            "imported",
            "key_rotated",
        ]
        .contains(*k)
            && !k.starts_with("handoff_")
            && !k.starts_with("renewal_")
    };
    for kind in app::audit::KINDS.iter().filter(here) {
        assert!(
            events.iter().any(|e| e.kind == *kind),
            "no {kind} event: {:#?}",
            events.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
    }
    let failed = events
        .iter()
        .find(|e| e.kind == "sign_in" && e.outcome == "failed")
        .unwrap();
    assert_eq!(failed.actor, "root");
    assert_eq!(failed.address.as_deref(), Some("198.51.100.23"));
    let renamed = events
        .iter()
        .find(|e| e.kind == "connection_renamed")
        .unwrap();
    assert_eq!(renamed.actor, "root");
    assert_eq!(renamed.actor_role.as_deref(), Some("admin"));
    let joined = events
        .iter()
        .find(|e| e.kind == "invitation_accepted")
        .unwrap();
    assert_eq!(
        (joined.actor.as_str(), joined.actor_role.as_deref()),
        ("second", Some("editor"))
    );
    assert_eq!(renamed.connection_id.as_deref(), Some(id.as_str()));
    assert!(
        events
            .iter()
            .any(|e| e.kind == "status_changed" && e.outcome == "failing")
    );

    let (only, _) = store::audit_page(
        &state.pool,
        &AuditFilter {
            kind: Some("sign_in".into()),
            ..AuditFilter::default()
        },
        0,
        500,
    )
    .await
    .unwrap();
    assert!(only.len() >= 2 && only.iter().all(|e| e.kind == "sign_in"));

    let page = http
        .get(format!("{base}/audit?kind=connection_renamed"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Audited, renamed"), "the Audit page lists it");

    state.pool.close().await;
    let dump = store.contents();
    assert!(
        dump.windows(6).any(|w| w == b"second"),
        "sanity: the stored data was read (the second admin's name)"
    );
    for secret in [
        secret.as_str(),
        refresh.as_str(),
        fresh.as_str(),
        api_key.as_str(),
        PASSWORD,
        "hook secret value",
    ] {
        assert!(
            !dump.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret is in the database"
        );
    }

    let mut audit = Command::new(env!("CARGO_BIN_EXE_concur-console"));
    audit
        .args(["audit", "--json"])
        .env("DATABASE_URL", &database_url)
        .env_remove("CONCUR_CONSOLE_KEY");
    if let Some(key) = store.key() {
        audit.env("CONCUR_CONSOLE_KEY", key);
    }
    let printed = audit.output().unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&printed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), events.len());
    assert_eq!(lines[0]["kind"], "connection_deleted", "newest first");
    assert!(lines[0]["at"].as_str().unwrap().ends_with('Z'));
}
