//! The management API and the key kinds: every kind of key against every route of the JSON API
//! (one table), then the management API's list (filters, keyset pages), read, merge patch and
//! renewal links, on the store the run chose.

use serde_json::{Value, json};

use crate::fleet_keys::{World, world};

/// Sends `method path` with `key` (none: no Authorization) and `body` (JSON, or a merge patch
/// for PATCH): status and body.
async fn call(
    w: &World,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("{}{path}", w.base);
    let mut request = match method {
        "GET" => http.get(url),
        "POST" => http.post(url),
        "PATCH" => http.patch(url),
        other => panic!("no {other} here"),
    };
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(body) = body {
        let kind = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        request = request.header("content-type", kind).body(body.to_string());
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn key(w: &World, args: &[&str]) -> String {
    let args = [&["create", "--name", "crm"], args].concat();
    let (code, key, err) = w.cli(&args);
    assert_eq!(code, 0, "{err}");
    key.trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_key_gets_its_answer_on_every_route_of_the_api() {
    let w = world().await;
    let keys = [
        ("connection", key(&w, &["--connection", &w.prod.0])),
        ("fleet", key(&w, &["--fleet"])),
        ("handoff", key(&w, &["--handoffs"])),
        ("manage", key(&w, &["--manage"])),
        ("read-only", key(&w, &["--manage", "--read-only"])),
    ];
    for (kind, presented) in &keys {
        let prefix = match *kind {
            "connection" => "cck_",
            "fleet" => "ccf_",
            "handoff" => "cch_",
            _ => "ccm_",
        };
        assert!(presented.starts_with(prefix), "{kind}: {presented}");
    }
    let handoff_key = &keys[2].1;
    let (status, made) = call(
        &w,
        Some(handoff_key),
        "POST",
        "/api/v1/handoffs",
        Some(json!({"name": "Initech", "profile": "expense-approvals"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let link = made["id"].as_str().unwrap().to_owned();

    let prod = &w.prod.0;
    let token = format!("/api/v1/connections/{prod}/token");
    let by_external = format!("/api/v1/connections/by-external-id/{}/token", w.prod.1);
    let one = format!("/api/v1/connections/{prod}");
    let renewal = format!("/api/v1/connections/{prod}/renewal-links");
    let ask = format!("/api/v1/connections/{prod}/renewal-requests");
    let read_link = format!("/api/v1/handoffs/{link}");
    let handoff = json!({"name": "Umbrella", "profile": "mileage-to-expense"});
    // Route, body, then the answer for: connection, fleet, hand-off, manage, read-only keys.
    let table: Vec<(&str, &str, Option<Value>, [u16; 5])> = vec![
        ("GET", &token, None, [200, 200, 403, 403, 403]),
        ("GET", &by_external, None, [200, 200, 403, 403, 403]),
        (
            "GET",
            "/api/v1/connections",
            None,
            [403, 403, 403, 200, 200],
        ),
        ("GET", &one, None, [403, 403, 403, 200, 200]),
        (
            "PATCH",
            &one,
            Some(json!({"tags": {"touched": "yes"}})),
            [403, 403, 403, 200, 403],
        ),
        ("POST", &renewal, None, [403, 403, 403, 201, 403]),
        // This console has no e-mail to ask with: the management key may, and is told why not.
        ("POST", &ask, None, [403, 403, 403, 422, 403]),
        (
            "POST",
            "/api/v1/handoffs",
            Some(handoff),
            [403, 403, 201, 201, 403],
        ),
        ("GET", &read_link, None, [403, 403, 200, 200, 200]),
    ];
    for (method, path, body, answers) in table {
        for ((kind, presented), expected) in keys.iter().zip(answers) {
            let (status, answer) = call(&w, Some(presented), method, path, body.clone()).await;
            assert_eq!(status, expected, "{kind} key, {method} {path}: {answer}");
            if status == 403 {
                let message = answer["message"].as_str().unwrap_or_default();
                assert!(message.starts_with("This is a"), "{kind}: {message}");
            }
        }
        for presented in [None, Some("ccm_not-a-key")] {
            let (status, answer) = call(&w, presented, method, path, body.clone()).await;
            assert_eq!(status, 401, "{presented:?}, {method} {path}: {answer}");
        }
    }

    // A revoked management key opens nothing.
    let (code, listed, _) = w.cli(&["list", "--fleet"]);
    assert_eq!(code, 0);
    let line = listed
        .lines()
        .find(|l| l.contains("management, read-only"))
        .unwrap_or_else(|| panic!("{listed}"));
    let id = line.split_whitespace().next().unwrap();
    assert_eq!(w.cli(&["revoke", id]).0, 0);
    let (status, _) = call(&w, Some(&keys[4].1), "GET", "/api/v1/connections", None).await;
    assert_eq!(status, 401);
}

/// The ids of every page of `path` (a query without cursor), walked `limit` at a time.
async fn walk(w: &World, key: &str, query: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (status, page) = call(
            w,
            Some(key),
            "GET",
            &format!("/api/v1/connections?{query}{after}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        for connection in page["connections"].as_array().unwrap() {
            ids.push(connection["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_management_api_finds_pages_and_patches_connections() {
    let w = world().await;
    let manage = key(&w, &["--manage"]);

    // Pages of one walk every connection once, in id order.
    let all = walk(&w, &manage, "limit=1").await;
    let mut both = vec![w.prod.0.clone(), w.dev.0.clone()];
    both.sort();
    assert_eq!(all, both);
    let (_, first) = call(
        &w,
        Some(&manage),
        "GET",
        "/api/v1/connections?limit=1",
        None,
    )
    .await;
    assert_eq!(first["connections"].as_array().unwrap().len(), 1);
    assert_eq!(first["next_cursor"], json!(both[0]));

    // Filters: by tag, status, external id; what a connection shows.
    assert_eq!(
        walk(&w, &manage, "tag=env:prod").await,
        vec![w.prod.0.clone()]
    );
    assert_eq!(
        walk(&w, &manage, "tag=env:prod&tag=env:dev").await,
        Vec::<String>::new()
    );
    assert_eq!(walk(&w, &manage, "status=healthy").await.len(), 2);
    assert_eq!(
        walk(&w, &manage, "status=failing").await,
        Vec::<String>::new()
    );
    assert_eq!(
        walk(&w, &manage, &format!("external_id={}", w.dev.1)).await,
        vec![w.dev.0.clone()]
    );
    let (_, page) = call(
        &w,
        Some(&manage),
        "GET",
        "/api/v1/connections?tag=env:prod",
        None,
    )
    .await;
    let shown = &page["connections"][0];
    assert_eq!(shown["external_id"], json!(w.prod.1));
    assert_eq!(shown["tags"], json!({"env": "prod"}));
    assert_eq!(shown["status"], json!("healthy"));
    assert!(
        shown["days_left"].as_i64().is_some_and(|d| d > 150),
        "{shown}"
    );
    assert_eq!(shown["missing_scopes"], json!([]));
    assert!(shown.get("client_secret").is_none() && !shown.to_string().contains("refresh_token\""));

    // Bad queries are named.
    for (query, status, word) in [
        ("limit=0", 422, "limit"),
        ("limit=many", 400, "limit"),
        ("status=asleep", 422, "status"),
        ("tag=Env", 422, "selector"),
        ("owner=nobody", 422, "owner"),
        ("tags=env:prod", 400, "tags"),
        ("cursor=", 422, "cursor"),
    ] {
        let (got, body) = call(
            &w,
            Some(&manage),
            "GET",
            &format!("/api/v1/connections?{query}"),
            None,
        )
        .await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(word),
            "{query}: {body}"
        );
    }

    // A merge patch changes what it names and keeps the rest.
    let one = format!("/api/v1/connections/{}", w.prod.0);
    let patch = |body: Value| call(&w, Some(&manage), "PATCH", &one, Some(body));
    let (status, after) = patch(json!({"tags": {"region": "emea"}, "contact": {"name": "Ann Admin", "email": "ann@acme.example"}})).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["tags"], json!({"env": "prod", "region": "emea"}));
    assert_eq!(
        after["contact"],
        json!({"name": "Ann Admin", "email": "ann@acme.example"})
    );
    let (_, listed) = call(
        &w,
        Some(&manage),
        "GET",
        &format!("/api/v1/connections?external_id={}", w.prod.1),
        None,
    )
    .await;
    assert_eq!(
        listed["connections"][0]["contact"], after["contact"],
        "the list shows what the connection's own answer shows"
    );
    assert_eq!(listed["connections"][0]["tags"], after["tags"]);
    let (_, after) = patch(json!({"tags": {"env": "dev", "region": null}, "name": "ACME Inc", "contact": {"name": null}})).await;
    assert_eq!(after["tags"], json!({"env": "dev"}));
    assert_eq!(after["name"], json!("ACME Inc"));
    assert_eq!(
        after["contact"],
        json!({"name": null, "email": "ann@acme.example"})
    );
    assert_eq!(
        after["renewal_requests"],
        Value::Null,
        "as the console says"
    );
    let (_, after) = patch(json!({"renewal_requests": "never"})).await;
    assert_eq!(after["renewal_requests"], json!("never"));
    assert_eq!(after["tags"], json!({"env": "dev"}), "the rest kept");
    let (_, after) = patch(json!({"renewal_requests": "always"})).await;
    assert_eq!(after["renewal_requests"], json!("always"));

    // A bad value, or a field that cannot be patched, changes nothing.
    let (_, before) = call(&w, Some(&manage), "GET", &one, None).await;
    for (body, word) in [
        (
            json!({"tags": {"region": "emea"}, "external_id": "not an id!"}),
            "external_id",
        ),
        (json!({"owner": "nobody"}), "owner"),
        (
            json!({"contact": {"email": "not-an-address"}}),
            "contact_email",
        ),
        (json!({"client_id": "x"}), "client_id"),
        (json!({"tags": {"env": 3}}), "tags.env"),
        (json!({"name": ""}), "name"),
        (json!({"renewal_requests": "sometimes"}), "renewal_requests"),
        (json!(["tags"]), "object"),
    ] {
        let (status, answer) = patch(body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(word),
            "{body}: {answer}"
        );
    }
    let (status, answer) = call(&w, Some(&manage), "POST", &one, None).await;
    assert_eq!(status, 405, "{answer}");
    let wrong_type = reqwest::Client::new()
        .patch(format!("{}{one}", w.base))
        .bearer_auth(&manage)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status().as_u16(), 415);
    let (_, unchanged) = call(&w, Some(&manage), "GET", &one, None).await;
    assert_eq!(unchanged, before);
    let (status, _) = call(
        &w,
        Some(&manage),
        "GET",
        "/api/v1/connections/00000000-0000-4000-8000-000000000000",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Every change is in the audit log under the key's label.
    let output = w.store.console(&["audit", "--json"]).output().unwrap();
    let log = String::from_utf8(output.stdout).unwrap();
    let changes: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["actor"] == json!("API key crm"))
        .collect();
    let kinds: Vec<&str> = changes.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "connection_updated").count(),
        2,
        "{log}"
    );
    assert!(kinds.contains(&"connection_renamed"), "{log}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "renewal_setting").count(),
        2,
        "{log}"
    );

    // A renewal link for the connection, and one for a connection that does not exist.
    let (status, link) = call(
        &w,
        Some(&manage),
        "POST",
        &format!("{one}/renewal-links"),
        Some(json!({"valid_days": 3})),
    )
    .await;
    assert_eq!(status, 201, "{link}");
    assert!(
        link["url"].as_str().unwrap().contains("/connect/"),
        "{link}"
    );
    assert!(link["expires_at"].as_str().is_some());
    let (status, _) = call(
        &w,
        Some(&manage),
        "POST",
        "/api/v1/connections/nope/renewal-links",
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_the_list_and_the_terminal_list_carry_what_each_integration_can_do() {
    let w = world().await;
    let manage = key(&w, &["--manage", "--read-only"]);
    let (status, one) = call(
        &w,
        Some(&manage),
        "GET",
        &format!("/api/v1/connections/{}", w.prod.0),
        None,
    )
    .await;
    assert_eq!(status, 200, "{one}");
    let probes = one["probes"].as_array().unwrap();
    assert_eq!(probes[0]["probe"], "identity_users");
    assert_eq!(probes[0]["ok"], true);
    assert_eq!(probes[0]["detail"], "3 users");
    assert!(probes[0]["checked_at"].as_str().unwrap().ends_with('Z'));
    let write_only = probes
        .iter()
        .find(|p| p["probe"] == "expense.report.workflowstatus.write")
        .unwrap();
    assert_eq!(write_only["ok"], Value::Null);

    let (status, list) = call(&w, Some(&manage), "GET", "/api/v1/connections", None).await;
    assert_eq!(status, 200, "{list}");
    for connection in list["connections"].as_array().unwrap() {
        assert_eq!(
            connection["probes"].as_array().unwrap().len(),
            probes.len(),
            "{connection}"
        );
    }

    let output = w
        .store
        .console(&["connections", "list", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines.iter().all(|l| l["probes"][0]["ok"] == true),
        "{lines:?}"
    );
}
