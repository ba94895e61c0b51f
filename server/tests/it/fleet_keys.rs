//! Fleet keys: one key opens the token of every connection its selector matches at the time of
//! the call, by id or by the vendor's external id; any other connection answers as one that
//! does not exist; a retag or a revocation counts at once.

use std::sync::Arc;

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::connections::fleet::{self, Change};
use console_core::state::AppState;
use serde_json::Value;
use stores::Store;

use crate::support::{self, stores};

pub(crate) struct World {
    pub store: Store,
    pub state: AppState,
    pub base: String,
    /// (id, external id) of a connection tagged env=prod and of one tagged env=dev.
    pub prod: (String, String),
    pub dev: (String, String),
}

/// A served console with two connections: ACME (`tenant-ACME`, env=prod) and Globex
/// (`tenant-Globex`, env=dev).
pub(crate) async fn world() -> World {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::chosen().await;
    let settings = support::settings_for(&store, sim.allowed_hosts());
    let (base, state) = support::serve(settings, Arc::new(ManualClock::at(sim.now()))).await;
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let mut made = Vec::new();
    for (name, env) in [("ACME", "prod"), ("Globex", "dev")] {
        let company = sim.add_company("us2");
        let mut form = support::refresh_form(&sim, &company, (&client_id, &secret), name);
        form.external_id = format!("tenant-{name}");
        form.tags = format!("env={env}");
        let id = console_core::connections::create(&state, form)
            .await
            .unwrap();
        made.push((id, format!("tenant-{name}")));
    }
    let dev = made.pop().unwrap();
    let prod = made.pop().unwrap();
    World {
        store,
        state,
        base,
        prod,
        dev,
    }
}

impl World {
    /// `concur-console api-key ARGS…`: exit code and output.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let mut args = args.to_vec();
        args.insert(0, "api-key");
        let output = self.store.console(&args).output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }

    fn fleet_key(&self, selector: &str) -> String {
        let (code, key, err) = self.cli(&[
            "create",
            "--fleet",
            "--selector",
            selector,
            "--name",
            "workers",
        ]);
        assert_eq!(code, 0, "{err}");
        key.trim().to_owned()
    }

    /// The token route for `path` (`{id}` or `by-external-id/{external_id}`): status and body.
    async fn token(&self, key: &str, path: &str) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .get(format!("{}/api/v1/connections/{path}/token", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_key_opens_the_connections_its_selector_matches_now() {
    let w = world().await;
    let key = w.fleet_key("env=prod");
    assert!(key.starts_with("ccf_"), "{key}");

    let (status, body) = w.token(&key, &w.prod.0).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    let by_external = format!("by-external-id/{}", w.prod.1);
    assert_eq!(w.token(&key, &by_external).await.0, 200);

    // Outside the selector, unknown, or an unknown external id: the same 404.
    let (status, outside) = w.token(&key, &w.dev.0).await;
    assert_eq!(status, 404);
    let (_, unknown) = w.token(&key, "00000000-0000-4000-8000-000000000000").await;
    assert_eq!(outside, unknown);
    assert_eq!(
        w.token(&key, &format!("by-external-id/{}", w.dev.1)).await,
        (404, unknown.clone())
    );
    assert_eq!(
        w.token(&key, "by-external-id/nobody").await,
        (404, unknown.clone())
    );

    // A retag counts at the next call, both ways.
    let retag = |env: &str| Change {
        tags: Some(format!("env={env}")),
        ..Change::default()
    };
    fleet::change(&w.state, &w.prod.0, &retag("staging"))
        .await
        .unwrap();
    assert_eq!(w.token(&key, &w.prod.0).await.0, 404);
    fleet::change(&w.state, &w.dev.0, &retag("prod"))
        .await
        .unwrap();
    assert_eq!(w.token(&key, &w.dev.0).await.0, 200);

    // Without a selector it opens every connection; revoked, it opens none.
    let everything = w.fleet_key("");
    assert_eq!(w.token(&everything, &w.prod.0).await.0, 200);
    assert_eq!(w.token(&everything, &w.dev.0).await.0, 200);
    let (code, listed, _) = w.cli(&["list", "--fleet"]);
    assert_eq!(code, 0);
    assert!(listed.contains("selector env=prod"), "{listed}");
    let id = listed
        .lines()
        .find(|l| l.contains("selector env=prod"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (code, _, err) = w.cli(&["revoke", &id]);
    assert_eq!(code, 0, "{err}");
    // Revoked by another process: this one's reading of the key lapses within the second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let (status, body) = w.token(&key, &w.dev.0).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "still open after the revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(w.token(&everything, &w.dev.0).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_key_opens_only_its_own_connection_by_external_id_too() {
    let w = world().await;
    let (code, key, err) = w.cli(&["create", "--connection", &w.prod.0, "--name", "bot"]);
    assert_eq!(code, 0, "{err}");
    let key = key.trim();
    assert_eq!(
        w.token(key, &format!("by-external-id/{}", w.prod.1))
            .await
            .0,
        200
    );
    assert_eq!(
        w.token(key, &format!("by-external-id/{}", w.dev.1)).await.0,
        404
    );
    let (code, _, err) = w.cli(&["create", "--fleet", "--selector", "Env", "--name", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("selector"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_key_read_a_moment_ago_opens_from_memory_and_a_revocation_here_counts_at_once() {
    let w = world().await;
    let key = w.fleet_key("env=prod");
    assert_eq!(w.token(&key, &w.prod.0).await.0, 200);
    assert_eq!(
        w.state.fleet_keys.len(),
        1,
        "the key is held for the connection"
    );
    assert_eq!(w.token(&key, &w.dev.0).await.0, 404);
    assert_eq!(
        w.state.fleet_keys.len(),
        2,
        "and that it does not open the other"
    );

    let listed = console_core::fleet_keys::list(&w.state).await.unwrap();
    let id = listed[0].view.id.clone();
    assert!(
        console_core::fleet_keys::revoke(&w.state, &id)
            .await
            .unwrap()
    );
    assert!(w.state.fleet_keys.is_empty(), "forgotten at once");
    assert_eq!(w.token(&key, &w.prod.0).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keys_page_makes_lists_and_revokes_fleet_and_management_keys_for_admins_only() {
    let w = world().await;
    support::person(&w.state, "a1", "admin", console_model::Role::Admin).await;
    support::person(&w.state, "e1", "editor", console_model::Role::Editor).await;
    let admin = support::browser();
    support::sign_in(&admin, &w.base, "admin").await;
    let editor = support::browser();
    support::sign_in(&editor, &w.base, "editor").await;
    let create = |http: &reqwest::Client, kind: &str, selector: &str| {
        http.post(format!("{}/api/create_api_key", w.base))
            .form(&[
                ("id", ""),
                ("label", "workers"),
                ("kind", kind),
                ("selector", selector),
            ])
            .send()
    };

    assert_eq!(
        create(&editor, "fleet", "env=prod").await.unwrap().status(),
        403,
        "an editor makes a connection's keys, not fleet keys"
    );
    for (kind, selector, field) in [
        ("fleet", "Env", "selector"),
        ("fleet", "env=prod,\u{1b}x=1", "selector"),
        ("manage", "env=prod", "selector"),
    ] {
        let refused = create(&admin, kind, selector).await.unwrap();
        assert_eq!(refused.status(), 422, "{kind} {selector}");
        let body: Value = refused.json().await.unwrap();
        assert!(
            body.to_string().contains(field),
            "{kind} {selector}: {body}"
        );
    }
    assert_eq!(
        create(&admin, "root", "").await.unwrap().status(),
        400,
        "a kind the page does not offer"
    );
    assert!(
        console_core::fleet_keys::list(&w.state)
            .await
            .unwrap()
            .is_empty(),
        "nothing refused was stored"
    );

    let key_of = |answer: reqwest::Response| async move {
        let made: Value = answer.json().await.unwrap();
        made["key"].as_str().unwrap().to_owned()
    };
    let key = key_of(create(&admin, "fleet", "env=prod").await.unwrap()).await;
    assert!(key.starts_with("ccf_"), "{key}");
    assert_eq!(w.token(&key, &w.prod.0).await.0, 200);
    assert_eq!(w.token(&key, &w.dev.0).await.0, 404);
    let read_only = key_of(create(&admin, "read", "").await.unwrap()).await;
    assert!(read_only.starts_with("ccm_"), "{read_only}");
    let handoff_key = key_of(create(&admin, "handoff", "").await.unwrap()).await;
    assert!(handoff_key.starts_with("cch_"), "{handoff_key}");

    let listed: Value = admin
        .post(format!("{}/api/load_shared_keys", w.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut reach: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["reach"].as_str().unwrap())
        .collect();
    reach.sort_unstable();
    assert_eq!(
        reach,
        [
            "fleet, selector env=prod",
            "hand-off links",
            "management, read-only"
        ],
        "{listed}"
    );
    assert!(
        !listed.to_string().contains(&key),
        "the key is never listed"
    );
    let page = support::text(&admin, &format!("{}/keys", w.base)).await;
    assert!(page.contains("fleet, selector env=prod") && !page.contains(&key));
    let editor_page = support::text(&editor, &format!("{}/keys", w.base)).await;
    assert!(
        !editor_page.contains("fleet, selector env=prod"),
        "an editor is not shown the keys"
    );

    let id_of = |reach: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["reach"] == reach)
            .unwrap()["key"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let fleet_id = id_of("fleet, selector env=prod");
    let revoke = |http: &reqwest::Client, id: &str| {
        http.post(format!("{}/api/revoke_shared_key", w.base))
            .form(&[("key_id", id)])
            .send()
    };
    assert_eq!(revoke(&editor, &fleet_id).await.unwrap().status(), 403);
    assert_eq!(revoke(&admin, "no-such-key").await.unwrap().status(), 404);
    assert_eq!(revoke(&admin, &fleet_id).await.unwrap().status(), 200);
    assert_eq!(
        w.token(&key, &w.prod.0).await.0,
        401,
        "revoked here: at once"
    );
    let handoff_id = id_of("hand-off links");
    let make_link = || {
        reqwest::Client::new()
            .post(format!("{}/api/v1/handoffs", w.base))
            .bearer_auth(&handoff_key)
            .json(&serde_json::json!({"name": "Initech", "profile": "expense-approvals"}))
            .send()
    };
    assert_eq!(make_link().await.unwrap().status(), 201);
    assert_eq!(revoke(&admin, &handoff_id).await.unwrap().status(), 200);
    assert_eq!(make_link().await.unwrap().status(), 401);
    let audit: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE kind IN ('api_key_created', 'api_key_revoked') ORDER BY at, id",
    )
    .fetch_all(&w.state.pool)
    .await
    .unwrap();
    assert!(
        audit
            .iter()
            .any(|d| d.starts_with("fleet key workers (ccf_") && d.ends_with("for env=prod")),
        "{audit:?}"
    );
    assert!(
        audit.iter().any(|d| d == &format!("key {fleet_id}")),
        "{audit:?}"
    );
}
