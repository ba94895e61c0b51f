//! Who a connection belongs to: external id, tags, contact and owner, set by `connections add`,
//! changed by `connections set` (audited old → new), shown and narrowed by `connections list`;
//! a bad value names its field and changes nothing; a refresh never undoes a change.

use std::sync::Arc;

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::state::AppState;
use console_core::store;
use console_model::Role;
use serde_json::Value;
use stores::Store;

use crate::support::{self, stores};

struct Fleet {
    sim: Simulator,
    store: Store,
    state: AppState,
    base: String,
    client_id: String,
    secret: String,
}

impl Fleet {
    async fn new() -> Self {
        let sim = Simulator::spawn().await.unwrap();
        let store = Store::chosen().await;
        let settings = support::settings_for(&store, sim.allowed_hosts());
        let (base, state) = support::serve(settings, Arc::new(ManualClock::at(sim.now()))).await;
        support::person(&state, "csm-id", "csm", Role::Editor).await;
        let (client_id, secret) = sim.add_app(DEMO_SCOPES);
        Self {
            sim,
            store,
            state,
            base,
            client_id,
            secret,
        }
    }

    /// Runs `concur-console connections ARGS…`: its exit code, output and errors.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let company = self.sim.add_company("us2");
        let refresh = self.sim.issue_refresh_token(&company, &self.client_id);
        let mut args = args.to_vec();
        args.insert(0, "connections");
        let output = self
            .store
            .console(&args)
            .env("CONCUR_ALLOWED_HOSTS", self.sim.allowed_hosts())
            .env("CONCUR_CLIENT_SECRET", &self.secret)
            .env("CONCUR_REFRESH_TOKEN", refresh)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    }

    /// `connections add NAME` with the simulator's app and `extra` flags.
    fn add(&self, name: &str, extra: &[&str]) -> (i32, String, String) {
        let us2 = self.sim.origin("us2");
        let mut args = vec![
            "add",
            "--name",
            name,
            "--authorization-url",
            &us2,
            "--client-id",
            &self.client_id,
            "--scope-profile",
            "expense-approvals",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `connections list --json` with `filters`: the connections as JSON objects, without
    /// `days_left` (read off the wall clock at each call, it may turn between two).
    fn listed(&self, filters: &[&str]) -> Vec<Value> {
        let mut args = vec!["list", "--json"];
        args.extend_from_slice(filters);
        let (code, out, err) = self.run(&args);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| {
                let mut connection: Value = serde_json::from_str(l).unwrap();
                connection.as_object_mut().unwrap().remove("days_left");
                connection
            })
            .collect()
    }
}

fn names(listed: &[Value]) -> Vec<&str> {
    listed.iter().map(|c| c["name"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_carries_who_it_belongs_to_from_add_through_set_to_list() {
    let f = Fleet::new().await;
    let (code, acme, err) = f.add(
        "ACME",
        &[
            "--external-id",
            "tenant-42",
            "--tag",
            "env=prod",
            "--tag",
            "region=emea",
            "--contact-name",
            "Ana Ruiz",
            "--contact-email",
            "ana@acme.example",
            "--owner",
            "csm",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let acme = acme.trim().to_owned();
    let (code, _, err) = f.add("Globex", &["--tag", "env=dev"]);
    assert_eq!(code, 0, "{err}");

    let all = f.listed(&[]);
    assert_eq!(names(&all), ["ACME", "Globex"]);
    assert_eq!(all[0]["external_id"], "tenant-42");
    assert_eq!(
        all[0]["tags"],
        serde_json::json!({"env": "prod", "region": "emea"})
    );
    assert_eq!(
        all[0]["contact"],
        serde_json::json!({"name": "Ana Ruiz", "email": "ana@acme.example"})
    );
    assert_eq!(all[0]["owner"], "csm");
    assert_eq!(all[1]["external_id"], Value::Null);
    assert_eq!(all[1]["owner"], Value::Null);

    assert_eq!(names(&f.listed(&["--tag", "env=prod"])), ["ACME"]);
    assert_eq!(
        names(&f.listed(&["--tag", "env:prod", "--tag", "region=emea"])),
        ["ACME"]
    );
    assert!(
        f.listed(&["--tag", "env=prod", "--tag", "region=us"])
            .is_empty()
    );
    assert_eq!(names(&f.listed(&["--owner", "csm"])), ["ACME"]);
    let (code, _, err) = f.run(&["list", "--owner", "nobody"]);
    assert_eq!((code, err.contains("owner")), (2, true), "{err}");
    let (code, text, _) = f.run(&["list", "--tag", "env=dev"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("Globex") && text.contains("tags env=dev") && !text.contains("ACME"),
        "{text}"
    );

    let (code, said, err) = f.run(&[
        "set",
        &acme,
        "--tag",
        "env=staging",
        "--untag",
        "region",
        "--contact-email",
        "ana.ruiz@acme.example",
        "--owner",
        "",
    ]);
    assert_eq!(code, 0, "{err}");
    for change in [
        "tags: env=prod, region=emea → env=staging",
        "contact: Ana Ruiz <ana@acme.example> → Ana Ruiz <ana.ruiz@acme.example>",
        "owner: csm → (none)",
    ] {
        assert!(said.contains(change), "{change} in {said}");
    }
    let audit = store::audit_page(&f.state.pool, &store::AuditFilter::default(), 0, 100)
        .await
        .unwrap()
        .0;
    let updated = audit
        .iter()
        .find(|r| r.kind == "connection_updated")
        .expect("the change is audited");
    assert_eq!(updated.connection_id.as_deref(), Some(acme.as_str()));
    assert!(
        updated.detail.contains("owner: csm → (none)"),
        "{}",
        updated.detail
    );
    let (code, said, _) = f.run(&["set", &acme, "--tag", "env=staging"]);
    assert_eq!((code, said.trim()), (0, "nothing changed"));

    // A refresh writes the row again and leaves who it belongs to as it is.
    console_core::connections::recheck(&f.state, &acme)
        .await
        .unwrap();
    let after = f.listed(&[]);
    assert_eq!(after[0]["external_id"], "tenant-42");
    assert_eq!(after[0]["tags"], serde_json::json!({"env": "staging"}));
    assert_eq!(after[0]["contact"]["email"], "ana.ruiz@acme.example");
    assert_eq!(after[0]["owner"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_value_names_its_field_and_changes_nothing() {
    let f = Fleet::new().await;
    let (code, acme, err) = f.add("ACME", &["--external-id", "tenant-42", "--tag", "env=prod"]);
    assert_eq!(code, 0, "{err}");
    let acme = acme.trim().to_owned();
    let (code, globex, err) = f.add("Globex", &[]);
    assert_eq!(code, 0, "{err}");
    let globex = globex.trim().to_owned();
    let before = f.listed(&[]);

    for (args, field) in [
        (vec!["--external-id", "two words"], "external_id"),
        (vec!["--external-id", "tenant-42"], "external_id"),
        (vec!["--tag", "Env=prod"], "tags"),
        (vec!["--tag", "env"], "tags"),
        (vec!["--contact-email", "ana@"], "contact_email"),
        (vec!["--contact-name", "Ana"], "contact_email"),
        (vec!["--owner", "nobody"], "owner"),
    ] {
        let mut set = vec!["set", globex.as_str()];
        set.extend_from_slice(&args);
        let (code, _, err) = f.run(&set);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(field), "{args:?} names {field}: {err}");
    }
    let many: Vec<String> = (0..21).map(|i| format!("k{i}=v")).collect();
    let mut set = vec!["set", acme.as_str()];
    for tag in &many {
        set.extend(["--tag", tag.as_str()]);
    }
    let (code, _, err) = f.run(&set);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at most 20 tags"), "{err}");
    assert_eq!(f.listed(&[]), before, "nothing changed");

    // A new connection with a taken external id is refused before Concur is asked.
    let (code, _, err) = f.add("ACME again", &["--external-id", "tenant-42"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already used"), "{err}");
    assert_eq!(
        store::all_connections(&f.state.pool).await.unwrap().len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_fleet_brings_who_each_connection_belongs_to() {
    let f = Fleet::new().await;
    let company = f.sim.add_company("us2");
    let refresh = f.sim.issue_refresh_token(&company, &f.client_id);
    let row = serde_json::json!({
        "name": "Initech",
        "client_id": f.client_id,
        "client_secret": f.secret,
        "refresh_token": refresh,
        "authorization_url": f.sim.origin("us2"),
        "scope_profile": "expense-approvals",
        "external_id": "tenant-7",
        "tags": "env=prod;region=emea",
        "contact_name": "Bill Lumbergh",
        "contact_email": "bill@initech.example",
        "owner": "csm",
    });
    let dir = std::env::temp_dir().join(format!("cc-owners-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fleet.jsonl");
    std::fs::write(&file, format!("{row}\n")).unwrap();
    let (code, out, err) = f.run(&["import", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let listed = f.listed(&["--tag", "region=emea"]);
    assert_eq!(names(&listed), ["Initech"]);
    assert_eq!(listed[0]["external_id"], "tenant-7");
    assert_eq!(listed[0]["contact"]["name"], "Bill Lumbergh");
    assert_eq!(listed[0]["owner"], "csm");
    std::fs::remove_dir_all(dir).unwrap();

    // The owner's account goes; the connection stays, owned by nobody.
    store::delete_admin(&f.state.pool, "csm-id", 0)
        .await
        .unwrap();
    let row = &store::all_connections(&f.state.pool).await.unwrap()[0];
    assert_eq!(row.belonging.owner_id, None);
    assert_eq!(f.listed(&[])[0]["owner"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_page_sets_the_whole_of_who_it_belongs_to_and_audits_it() {
    let f = Fleet::new().await;
    let (code, acme, err) = f.add("ACME", &["--tag", "region=emea"]);
    assert_eq!(code, 0, "{err}");
    let acme = acme.trim().to_owned();
    let http = support::browser();
    support::sign_in(&http, &f.base, "csm").await;
    let save = |external_id: &'static str, tags: &'static str| {
        let (http, base, acme) = (http.clone(), f.base.clone(), acme.clone());
        async move {
            http.post(format!("{base}/api/update_belonging"))
                .header("accept", "application/json")
                .form(&[
                    ("id", acme.as_str()),
                    ("external_id", external_id),
                    ("tags", tags),
                    ("contact_name", "Ana Ruiz"),
                    ("contact_email", "ana@acme.example"),
                    ("owner", "csm"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let saved = save("tenant-9", "env=prod\nregion=us").await;
    assert!(saved.status().is_success(), "{}", saved.status());
    let shown = console_core::connections::detail(&f.state, &acme)
        .await
        .unwrap()
        .belonging;
    assert_eq!(shown.external_id.as_deref(), Some("tenant-9"));
    assert_eq!(
        shown.tags,
        [
            ("env".into(), "prod".into()),
            ("region".into(), "us".into())
        ]
    );
    assert_eq!(shown.contact_email.as_deref(), Some("ana@acme.example"));
    assert_eq!(shown.owner.as_deref(), Some("csm"));

    // The form's tags are the whole set: a line left out is a tag removed.
    assert!(save("tenant-9", "env=dev").await.status().is_success());
    let shown = console_core::connections::detail(&f.state, &acme)
        .await
        .unwrap()
        .belonging;
    assert_eq!(shown.tags, [("env".into(), "dev".into())]);

    let refused = save("bad id", "env=dev").await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["Invalid"]["field"], "external_id", "{body}");
    let audit = store::audit_page(&f.state.pool, &store::AuditFilter::default(), 0, 100)
        .await
        .unwrap()
        .0;
    let updates: Vec<_> = audit
        .iter()
        .filter(|r| r.kind == "connection_updated")
        .collect();
    assert!(updates.iter().any(|r| r.actor == "csm"
        && r.outcome == "ok"
        && r.detail.contains("tags: env=prod, region=us → env=dev")));
    assert!(updates.iter().any(|r| r.outcome == "invalid"));
}
