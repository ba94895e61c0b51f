//! Who may do what, walked over every route the console registers: the routes come from the
//! router itself, so a route added without a line in [`TABLE`] fails this test.

use std::sync::Arc;

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::Error;
use console_model::Role;
use server::serve::Application;

use crate::support::{self, stores};

/// Who a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Everyone gets the same answer, signed in or not.
    Anyone,
    /// An API key: without one, 401 for everyone (a session does not count).
    Key,
    /// A session whose role allows this one.
    Session(Role),
}

use Need::{Anyone, Key, Session};
use Role::{Admin, Editor, Viewer};

type Row = (
    &'static str,
    &'static str,
    Need,
    &'static [(&'static str, &'static str)],
);

/// One row per route: method, path (as the router spells it), who it answers, and the form a
/// server function is posted with. Forms are chosen to pass the role check and then be refused
/// or do no harm, so the walk changes nothing that a later row depends on.
const TABLE: &[Row] = &[
    // Pages.
    ("GET", "/", Session(Viewer), &[]),
    ("GET", "/account", Session(Viewer), &[]),
    ("GET", "/audit", Session(Viewer), &[]),
    ("GET", "/handoffs", Session(Viewer), &[]),
    ("GET", "/connections/{id}", Session(Viewer), &[]),
    ("GET", "/connections/new", Session(Editor), &[]),
    ("GET", "/connections/{id}/replace", Session(Editor), &[]),
    ("GET", "/settings", Session(Admin), &[]),
    ("GET", "/keys", Session(Admin), &[]),
    ("GET", "/people", Session(Admin), &[]),
    ("GET", "/login", Anyone, &[]),
    ("GET", "/setup", Anyone, &[]),
    ("GET", "/invite", Anyone, &[]),
    ("GET", "/connect/{token}", Anyone, &[]),
    // Probes and the API description.
    ("GET", "/health", Anyone, &[]),
    ("GET", "/healthz", Anyone, &[]),
    ("GET", "/readyz", Anyone, &[]),
    ("GET", "/metrics", Anyone, &[]),
    ("GET", "/api/openapi.json", Anyone, &[]),
    // The JSON API.
    ("GET", "/api/v1/connections/{id}/token", Key, &[]),
    (
        "GET",
        "/api/v1/connections/by-external-id/{external_id}/token",
        Key,
        &[],
    ),
    ("GET", "/api/v1/connections", Key, &[]),
    ("GET", "/api/v1/connections/{id}", Key, &[]),
    ("PATCH", "/api/v1/connections/{id}", Key, &[]),
    ("POST", "/api/v1/connections/{id}/renewal-links", Key, &[]),
    (
        "POST",
        "/api/v1/connections/{id}/renewal-requests",
        Key,
        &[],
    ),
    ("POST", "/api/v1/handoffs", Key, &[]),
    ("GET", "/api/v1/handoffs/{id}", Key, &[]),
    // Server functions anyone may call.
    (
        "POST",
        "/api/login",
        Anyone,
        &[("username", "nobody"), ("password", "wrong")],
    ),
    (
        "POST",
        "/api/setup",
        Anyone,
        &[
            ("token", "x"),
            ("username", "x"),
            ("password", "x"),
            ("confirm", "x"),
        ],
    ),
    ("POST", "/api/load_invitation", Anyone, &[("token", "x")]),
    ("POST", "/api/sign_in_options", Anyone, &[("sso", "")]),
    ("GET", "/auth/oidc/start", Anyone, &[]),
    ("GET", "/auth/oidc/callback", Anyone, &[]),
    (
        "POST",
        "/api/accept_invitation",
        Anyone,
        &[
            ("token", "x"),
            ("username", "x"),
            ("password", "x"),
            ("confirm", "x"),
        ],
    ),
    // Viewers.
    (
        "POST",
        "/api/load_dashboard",
        Session(Viewer),
        &[("search", ""), ("page", "0")],
    ),
    (
        "POST",
        "/api/load_connection",
        Session(Viewer),
        &[("id", "{id}")],
    ),
    (
        "POST",
        "/api/load_audit",
        Session(Viewer),
        &[
            ("connection", ""),
            ("kind", ""),
            ("since", ""),
            ("until", ""),
            ("page", "0"),
        ],
    ),
    (
        "POST",
        "/api/load_handoffs",
        Session(Viewer),
        &[("page", "0")],
    ),
    ("POST", "/api/load_account", Session(Viewer), &[]),
    (
        "POST",
        "/api/change_password",
        Session(Viewer),
        &[("current", "not it"), ("password", ""), ("confirm", "")],
    ),
    (
        "POST",
        "/api/set_alert_email",
        Session(Viewer),
        &[("email", "not an address")],
    ),
    (
        "POST",
        "/api/end_session",
        Session(Viewer),
        &[("id", "none")],
    ),
    ("POST", "/api/end_other_sessions", Session(Viewer), &[]),
    // Editors.
    (
        "POST",
        "/api/validate_connection",
        Session(Editor),
        &[("form[mode]", "refresh-token")],
    ),
    (
        "POST",
        "/api/replace_credentials",
        Session(Editor),
        &[("id", "{id}"), ("form[mode]", "refresh-token")],
    ),
    (
        "POST",
        "/api/validate_now",
        Session(Editor),
        &[("id", "none")],
    ),
    (
        "POST",
        "/api/rename_connection",
        Session(Editor),
        &[("id", "{id}"), ("name", "")],
    ),
    (
        "POST",
        "/api/update_belonging",
        Session(Editor),
        &[
            ("id", "{id}"),
            ("external_id", "bad id"),
            ("tags", ""),
            ("contact_name", ""),
            ("contact_email", ""),
            ("owner", ""),
        ],
    ),
    (
        "POST",
        "/api/list_api_keys",
        Session(Editor),
        &[("id", "{id}")],
    ),
    (
        "POST",
        "/api/create_api_key",
        Session(Editor),
        &[("id", "none"), ("label", "walk")],
    ),
    (
        "POST",
        "/api/revoke_api_key",
        Session(Editor),
        &[("id", "{id}"), ("key_id", "none")],
    ),
    (
        "POST",
        "/api/create_handoff",
        Session(Editor),
        &[("name", ""), ("profile", ""), ("valid_days", "")],
    ),
    (
        "POST",
        "/api/revoke_handoff",
        Session(Editor),
        &[("id", "none")],
    ),
    // Admins.
    (
        "POST",
        "/api/delete_connection",
        Session(Admin),
        &[("id", "{id}"), ("confirm", "")],
    ),
    (
        "POST",
        "/api/request_renewal",
        Session(Admin),
        &[("id", "{id}")],
    ),
    (
        "POST",
        "/api/stop_renewal",
        Session(Admin),
        &[("id", "{id}")],
    ),
    (
        "POST",
        "/api/set_renewal_automatic",
        Session(Admin),
        &[("id", "{id}"), ("asks", "sometimes")],
    ),
    ("POST", "/api/load_alert_settings", Session(Admin), &[]),
    (
        "POST",
        "/api/save_alert_settings",
        Session(Admin),
        &[
            ("webhook_url", "not a url"),
            ("webhook_secret", ""),
            ("smtp_url", ""),
            ("email_from", ""),
            ("email_to", ""),
        ],
    ),
    ("POST", "/api/send_test_alert", Session(Admin), &[]),
    ("POST", "/api/load_shared_keys", Session(Admin), &[]),
    (
        "POST",
        "/api/revoke_shared_key",
        Session(Admin),
        &[("key_id", "no such key")],
    ),
    (
        "POST",
        "/api/add_alert_route",
        Session(Admin),
        &[("selector", ""), ("channel", "")],
    ),
    (
        "POST",
        "/api/remove_alert_route",
        Session(Admin),
        &[("route", "no such route")],
    ),
    ("POST", "/api/load_people", Session(Admin), &[]),
    ("POST", "/api/invite", Session(Admin), &[("role", "nobody")]),
    (
        "POST",
        "/api/revoke_invitation",
        Session(Admin),
        &[("id", "none")],
    ),
    (
        "POST",
        "/api/end_sessions_of",
        Session(Admin),
        &[("id", "none")],
    ),
    (
        "POST",
        "/api/set_role",
        Session(Admin),
        &[("id", "none"), ("role", "viewer")],
    ),
    (
        "POST",
        "/api/set_active",
        Session(Admin),
        &[("id", "none"), ("active", "false")],
    ),
    // Last: it ends the session it is called with.
    ("POST", "/api/logout", Anyone, &[]),
];

/// A session cookie for a new account with `role`.
async fn session_of(state: &console_core::state::AppState, role: Role, hash: &str) -> String {
    let id = format!("walker-{role}");
    support::account(state, &id, &id, hash, role).await;
    let (token, hash) = console_core::auth::new_token();
    console_core::store::insert_session(
        &state.pool,
        &console_core::store::NewSession {
            token_hash: &hash,
            id: &id,
            admin_id: &id,
            now: state.now(),
            expires_at: state.now() + 3600,
            address: "127.0.0.1",
            user_agent: "walker",
            method: console_model::SignInMethod::Password,
        },
    )
    .await
    .unwrap();
    format!("{}={token}", console_core::auth::COOKIE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_role_as_the_table_says() {
    let sim = Simulator::spawn().await.unwrap();
    let store = stores::Store::chosen().await;
    let settings = support::settings_for(&store, sim.allowed_hosts());
    let app = Application::build(settings, Arc::new(ManualClock::at(sim.now())))
        .await
        .unwrap();
    let routes = app.routes();
    let listed: Vec<&str> = TABLE.iter().map(|(_, path, _, _)| *path).collect();
    let unlisted: Vec<&String> = routes
        .iter()
        .filter(|r| !listed.contains(&r.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "routes the table does not say who may use: {unlisted:?}"
    );
    let gone: Vec<&&str> = listed
        .iter()
        .filter(|p| !routes.iter().any(|r| r == *p))
        .collect();
    assert!(
        gone.is_empty(),
        "rows for routes that no longer exist: {gone:?}"
    );
    let (base, state) = (format!("http://{}", app.address), app.state.clone());
    tokio::spawn(app.run());

    let hash = console_core::auth::hash_password("walker's own password".into())
        .await
        .unwrap();
    let mut cookies = vec![(None, String::new())];
    for role in Role::ALL {
        cookies.push((Some(role), session_of(&state, role, &hash).await));
    }
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let refresh = sim.issue_refresh_token(&company, &client_id);
    let http = support::browser();
    let made = http
        .post(format!("{base}/api/validate_connection"))
        .header("cookie", &cookies[3].1)
        .form(&[
            ("form[mode]", "refresh-token"),
            ("form[name]", "Walked"),
            ("form[client_id]", client_id.as_str()),
            ("form[client_secret]", secret.as_str()),
            ("form[refresh_token]", refresh.as_str()),
            ("form[authorization_url]", sim.origin("us2").as_str()),
            ("form[scope_profile]", "expense-approvals"),
        ])
        .send()
        .await
        .unwrap();
    let connection: String = made.json().await.unwrap();

    let mut wrong = Vec::new();
    for (method, path, need, form) in TABLE {
        let url = format!(
            "{base}{}",
            path.replace("{id}", &connection).replace("{token}", "x")
        );
        let form: Vec<(&str, String)> = form
            .iter()
            .map(|(k, v)| (*k, v.replace("{id}", &connection)))
            .collect();
        let mut answers = Vec::new();
        for (role, cookie) in &cookies {
            let request = if *method == "GET" {
                http.get(&url)
            } else {
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                http.request(method, &url).form(&form)
            };
            let answer = request.header("cookie", cookie).send().await.unwrap();
            let status = answer.status().as_u16();
            let body = answer.text().await.unwrap_or_default();
            answers.push((*role, status, body));
        }
        let anonymous = answers[0].1;
        for (role, status, body) in &answers {
            let fits = match (need, role) {
                (Anyone, _) => *status == anonymous && *status < 500,
                (Key, _) => *status == 401,
                (Session(_), None) if *method == "GET" => *status == 303,
                (Session(_), None) => *status == 401,
                (Session(needed), Some(role)) if !role.allows(*needed) => {
                    // A page says it in words; a server function sends the error itself.
                    let said = serde_json::from_str::<Error>(body)
                        .map_or_else(|_| body.clone(), |e| e.to_string());
                    *status == 403 && said.contains(&format!("needs the {needed} role"))
                }
                (Session(_), Some(_)) => ![401, 403].contains(status) && *status < 500,
            };
            if !fits {
                wrong.push(format!("{method} {path} as {role:?}: {status}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answers that break the table:\n{}",
        wrong.join("\n")
    );
}

/// Every `$ref` inside `value`.
fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(fields) => {
            for (name, inner) in fields {
                match (name.as_str(), inner.as_str()) {
                    ("$ref", Some(target)) => found.push(target.to_owned()),
                    _ => refs(inner, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| refs(i, found)),
        _ => {}
    }
}

#[test]
fn the_openapi_document_describes_every_route_and_method_the_api_serves_and_nothing_else() {
    let doc = serde_json::to_value(server::openapi::document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let api: Vec<(&str, &str)> = TABLE
        .iter()
        .filter(|(_, path, need, _)| *need == Key && path.starts_with("/api/v1/"))
        .map(|(method, path, _, _)| (*method, *path))
        .collect();
    for (method, path) in &api {
        assert!(
            paths
                .get(*path)
                .is_some_and(|p| p[method.to_lowercase()].is_object()),
            "{method} {path} is not in the OpenAPI document"
        );
    }
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            assert!(
                api.iter()
                    .any(|(m, p)| p == path && m.eq_ignore_ascii_case(method)),
                "the document describes {method} {path}, which the API does not serve"
            );
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for target in found {
        let pointer = target.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "{target} points nowhere");
    }
}
