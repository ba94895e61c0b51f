//! Key rotation on PostgreSQL with two replicas answering the token API: `rotate-key` is
//! killed half-way (SIGKILL) and run again; no request fails, every secret ends sealed with the
//! new key alone, waiting hand-off links and invitations get tokens of the new key (the old
//! key's open nothing), and a console without the new key refuses to start and says which key
//! it lacks.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::store::dump;
use stores::Store;

use crate::support::{self, stores};

const NEW_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn rotate(store: &Store) -> Command {
    let old_key = store.key().unwrap();
    let mut command = store.console(&["rotate-key", "--batch", "5", "--pause-ms", "40"]);
    command
        .env("CONCUR_CONSOLE_KEY", NEW_KEY)
        .env("CONCUR_CONSOLE_OLD_KEYS", old_key);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_killed_half_way_resumes_while_two_replicas_serve_tokens() {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::postgres().await;
    // The key the suite's PostgreSQL consoles start with: the one being rotated away.
    let old_key = store.key().unwrap();
    let old_key = old_key.as_str();
    let settings = |key: &str, old: Option<&str>| {
        let mut settings = support::settings(store.url(), sim.allowed_hosts());
        settings.config.console_key = Some(key.to_owned());
        settings.config.old_keys = old.map(str::to_owned);
        // The load below is one test's, not an abuser's.
        settings.api_rate_per_minute = 10_000_000;
        settings
    };
    let clock = Arc::new(ManualClock::at(sim.now()));
    let (_, before) = support::serve(settings(old_key, None), clock.clone()).await;
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let mut keys = Vec::new();
    for n in 0..30 {
        let form = support::refresh_form(
            &sim,
            &company,
            (&client_id, &secret),
            &format!("Rotated {n}"),
        );
        let id = console_core::connections::create(&before, form)
            .await
            .unwrap();
        if n % 10 == 0 {
            let key = console_core::api_keys::create(&before, &id, "bot")
                .await
                .unwrap()
                .key;
            keys.push((id, key));
        }
    }
    let link = console_core::handoffs::NewHandoff {
        name: "Initech".into(),
        profile: "expense-approvals".into(),
        ..Default::default()
    };
    let (made, url) = console_core::handoffs::create(&before, &link, "root")
        .await
        .unwrap();
    let (_, invitation) =
        console_core::people::invite(&before, console_model::Role::Viewer, "root")
            .await
            .unwrap();
    let old_prefix = before.cipher.current_prefix();
    assert!(dump::count_stale(&before.pool, &old_prefix).await.unwrap() == 0);

    // The operator restarts both replicas with the new key and the old one beside it.
    let replicas = [
        support::serve(settings(NEW_KEY, Some(old_key)), clock.clone()).await,
        support::serve(settings(NEW_KEY, Some(old_key)), clock.clone()).await,
    ];
    let new_prefix = replicas[0].1.cipher.current_prefix();
    let total = dump::count_stale(&before.pool, &new_prefix).await.unwrap();
    assert!(total >= 60, "{total}");

    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut load = Vec::new();
    for (base, _) in &replicas {
        for (id, key) in &keys {
            let url = format!("{base}/api/v1/connections/{id}/token");
            let (key, stop, served, failed) =
                (key.clone(), stop.clone(), served.clone(), failed.clone());
            load.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    let status = http
                        .get(&url)
                        .bearer_auth(&key)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    if status == 200 {
                        served.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }

    // Killed after its first round…
    let mut first = rotate(&store).spawn().unwrap();
    let lines = BufReader::new(first.stdout.take().unwrap());
    let mut said = Vec::new();
    for line in lines.lines() {
        let line = line.unwrap();
        let progress = line.starts_with("re-sealed");
        said.push(line);
        if progress {
            break;
        }
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        said[0].contains(&format!("{total} secrets to re-seal")),
        "{said:?}"
    );
    let left = dump::count_stale(&before.pool, &new_prefix).await.unwrap();
    assert!(
        0 < left && left < total,
        "killed half-way: {left} of {total} left"
    );

    // …and run again to the end.
    let second = tokio::task::spawn_blocking({
        let store = store.clone();
        move || rotate(&store).output().unwrap()
    })
    .await
    .unwrap();
    assert!(second.status.success(), "{second:?}");
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        out.contains(&format!("{left} secrets to re-seal")) && out.contains("Done:"),
        "{out}"
    );
    assert_eq!(
        dump::count_stale(&before.pool, &new_prefix).await.unwrap(),
        0
    );

    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no token request failed");
    assert!(served.load(Ordering::Relaxed) > 0);

    // Links made before the rotation have new tokens: the retired key's open nothing.
    let rotated = &replicas[0].1;
    assert!(out.contains("2 waiting links given new tokens"), "{out}");
    let shown = console_core::handoffs::get(rotated, &made.id)
        .await
        .unwrap();
    let new_url = shown.url.expect("Copy link shows the new link");
    assert_ne!(new_url, url);
    let token = |url: &str| url.rsplit(['/', '=']).next().unwrap().to_owned();
    assert!(matches!(
        console_core::handoffs::visit(rotated, &token(&url))
            .await
            .unwrap()
            .0,
        console_core::handoffs::Visit::Unknown
    ));
    assert!(matches!(
        console_core::handoffs::visit(rotated, &token(&new_url))
            .await
            .unwrap()
            .0,
        console_core::handoffs::Visit::Usable(_)
    ));
    assert_eq!(
        console_core::people::open_invitation(rotated, &token(&invitation)).await,
        Err(console_core::Error::InvitationClosed),
        "the invitation sent before the rotation"
    );

    // The new key alone opens everything; the old key alone cannot start.
    let (base, only_new) = support::serve(settings(NEW_KEY, None), clock.clone()).await;
    for (id, key) in &keys {
        let answer = reqwest::Client::new()
            .get(format!("{base}/api/v1/connections/{id}/token"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let tables = dump::read_all(&only_new.pool).await.unwrap();
    for (table, rows) in &tables {
        for row in rows {
            for (context, field, sealed) in dump::sealed_values(table, row) {
                assert!(sealed.starts_with(&new_prefix));
                only_new.cipher.open(&context, &field, &sealed).unwrap();
            }
        }
    }
    let refused =
        server::serve::Application::build(settings(old_key, None), Arc::new(ManualClock::at(0)))
            .await;
    let Err(e) = refused else {
        panic!("started without the key its secrets are sealed with")
    };
    let said = e.to_string();
    assert!(
        said.contains(&format!(
            "are sealed with key {}, which this console does not have",
            only_new.cipher.key_id()
        )),
        "{said}"
    );
}
