//! Regression tests for the second security review: redirects that never leave the console,
//! refused sign-ins counted instead of written one by one, audit text that cannot drive a
//! terminal, error signatures bound to their page, SMTP credentials only over TLS, sealed
//! webhook URLs, guesses at the current password slowed down, and `/metrics` behind the Host
//! check.

use std::sync::Arc;

use concur::ManualClock;
use concur_sim::Simulator;
use console_core::state::AppState;
use console_core::store;
use serde_json::Value;
use stores::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, PASSWORD, stores};

struct Console {
    base: String,
    address: String,
    state: AppState,
    store: Store,
}

async fn spawn() -> Console {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::chosen().await;
    let mut settings = support::settings_for(&store, sim.allowed_hosts());
    settings.config.public_url = "http://console.test".into();
    settings.config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings, Arc::new(clock)).await;
    support::person(&state, "a1", "admin", console_model::Role::Admin).await;
    Console {
        address: base.trim_start_matches("http://").to_owned(),
        base,
        state,
        store,
    }
}

impl Console {
    /// Sends `head` (request line and headers, without the blank line) as bytes on a fresh
    /// connection, as curl would with a path no URL parser would leave alone, and returns the
    /// status and the `Location` header.
    async fn raw(&self, request_line: &str, headers: &[&str]) -> (u16, Option<String>) {
        let mut stream = tokio::net::TcpStream::connect(&self.address).await.unwrap();
        let mut head = format!("{request_line}\r\n");
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str("Connection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap();
        let location = answer.lines().take_while(|l| !l.is_empty()).find_map(|l| {
            l.split_once(':')
                .filter(|(name, _)| name.eq_ignore_ascii_case("location"))
                .map(|(_, value)| value.trim().to_owned())
        });
        (status, location)
    }

    async fn signed_in(&self) -> reqwest::Client {
        let http = support::browser();
        let r = support::sign_in(&http, &self.base, "admin").await;
        assert!(r.status().is_redirection() || r.status().is_success());
        http
    }

    /// A sign-in that fails as a form posted without JavaScript does (the answer redirects to
    /// `referer`); returns the `Location`.
    async fn fail_without_js(
        &self,
        http: &reqwest::Client,
        referer: &str,
        username: &str,
    ) -> String {
        let failed = http
            .post(format!("{}/api/login", self.base))
            .header("referer", referer)
            .header("accept", "text/html")
            .header("x-forwarded-for", "192.0.2.200")
            .form(&[("username", username), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        failed.headers()["location"].to_str().unwrap().to_owned()
    }

    async fn audit_rows(&self) -> Vec<store::AuditRow> {
        store::audit_page(&self.state.pool, &store::AuditFilter::default(), 0, 10_000)
            .await
            .unwrap()
            .0
    }
}

/// A `Location` a browser would resolve to this same console.
fn stays_home(location: &str) -> bool {
    let lower = location.to_ascii_lowercase();
    location.starts_with('/')
        && !location[1..].starts_with(['/', '\\'])
        && !lower.starts_with("/%2f")
        && !lower.starts_with("/%5c")
}

const HOSTILE_PATHS: [&str; 5] = [
    "//evil.example/",
    "/\\evil.example/",
    "/%2F%2Fevil.example/",
    "/\\\\evil.example/",
    "http://evil.example/",
];

#[tokio::test]
async fn no_redirect_leaves_the_console_whatever_the_path_or_referer() {
    let c = spawn().await;
    let host = format!("Host: {}", c.address);
    for path in HOSTILE_PATHS {
        let (status, location) = c
            .raw(&format!("GET {path}?__err=1 HTTP/1.1"), &[&host])
            .await;
        if let Some(location) = location {
            assert!(stays_home(&location), "{path} → {status} {location}");
        }
        assert!(status < 500, "{path} → {status}");
    }
    let (status, location) = c
        .raw("GET //evil.example/?__err=1 HTTP/1.1", &[&host])
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/evil.example/")),
        "the case the review confirmed live"
    );

    // A failed form without JavaScript goes back to its Referer: never to another site.
    let http = support::browser();
    for referer in HOSTILE_PATHS
        .iter()
        .filter(|p| p.starts_with('/'))
        .map(|p| format!("{}{p}", c.base))
        .chain(["http://evil.example/login".into(), "//evil.example/".into()])
    {
        let location = c.fail_without_js(&http, &referer, "nobody").await;
        assert!(stays_home(&location), "{referer} → {location}");
    }

    // Signing in and setting up land on the console's own pages.
    let r = http
        .post(format!("{}/api/login", c.base))
        .header("referer", "http://evil.example/")
        .form(&[("username", "admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");
}

#[tokio::test]
async fn a_thousand_throttled_sign_ins_write_a_handful_of_audit_rows() {
    let c = spawn().await;
    let http = support::browser();
    let attempt = |http: reqwest::Client, base: String| async move {
        http.post(format!("{base}/api/login"))
            .header("x-forwarded-for", "198.51.100.66")
            .form(&[("username", "admin"), ("password", "wrong")])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    for _ in 0..5 {
        assert_eq!(attempt(http.clone(), c.base.clone()).await, 401);
    }
    let mut throttled = 0;
    for _ in 0..20 {
        let batch = (0..50).map(|_| tokio::spawn(attempt(http.clone(), c.base.clone())));
        for status in futures_util::future::join_all(batch).await {
            assert_eq!(status.unwrap(), 429);
            throttled += 1;
        }
    }
    assert_eq!(throttled, 1000);
    server::upkeep::run_once(&c.state).await;
    let rows = c.audit_rows().await;
    assert!(rows.len() <= 8, "{} rows", rows.len());
    let counted: Vec<&store::AuditRow> = rows.iter().filter(|r| r.outcome == "throttled").collect();
    assert_eq!(counted.len(), 1, "one row for this address and minute");
    assert!(
        counted[0]
            .detail
            .starts_with("1000 sign-in attempts refused"),
        "{}",
        counted[0].detail
    );
    assert_eq!(counted[0].address.as_deref(), Some("198.51.100.66"));
    assert_eq!(rows.iter().filter(|r| r.outcome == "failed").count(), 5);
}

#[tokio::test]
async fn audit_rows_past_the_retention_are_deleted_by_the_upkeep_job() {
    let c = spawn().await;
    let now = c.state.now();
    let day = 86_400;
    for (id, age) in [
        ("old", 401 * day),
        ("older", 900 * day),
        ("kept", 399 * day),
    ] {
        let row = store::AuditRow {
            id: id.into(),
            at: now - age,
            actor: "admin".into(),
            actor_role: Some("admin".into()),
            actor_method: Some("password".into()),
            address: None,
            kind: "sign_in".into(),
            connection_id: None,
            outcome: "ok".into(),
            detail: String::new(),
        };
        store::insert_audit(&c.state.pool, &row).await.unwrap();
    }
    server::upkeep::run_once(&c.state).await;
    let ids: Vec<String> = c.audit_rows().await.into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["kept"], "400 days by default");
}

#[tokio::test]
async fn control_characters_never_reach_the_audit_log_or_the_operators_terminal() {
    let c = spawn().await;
    let http = support::browser();
    for forged in [
        "x\n2026-11-29 12:00:00  sign_in  ok  admin",
        "x\u{1b}[2Jcleared",
        "tab\tname",
        "x\u{9b}31m",
    ] {
        let r = http
            .post(format!("{}/api/login", c.base))
            .form(&[("username", forged), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{forged:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["Invalid"]["field"], "username");
    }
    assert!(
        c.audit_rows().await.is_empty(),
        "refused before anything is written"
    );

    let row = store::AuditRow {
        id: "r1".into(),
        at: c.state.now(),
        actor: "evil\nforged line\u{1b}[31m".into(),
        actor_role: Some("admin\u{1b}[0m".into()),
        actor_method: None,
        address: Some("192.0.2.1".into()),
        kind: "sign_in".into(),
        connection_id: None,
        outcome: "failed".into(),
        detail: "\u{202e}txt.exe".into(),
    };
    store::insert_audit(&c.state.pool, &row).await.unwrap();
    for json in [false, true] {
        let args = server::manage::AuditArgs {
            json,
            since: None,
            limit: 10,
        };
        let mut out = Vec::new();
        assert!(
            server::manage::audit(&c.state, &args, &mut out)
                .await
                .is_ok()
        );
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            !text.contains(['\u{1b}', '\u{202e}']),
            "nothing the terminal obeys: {text:?}"
        );
        let actor = if json {
            let line: Value = serde_json::from_str(&text).unwrap();
            line["actor"].as_str().unwrap().to_owned()
        } else {
            text
        };
        assert!(
            actor.contains("evil\\u{a}forged line\\u{1b}[31m"),
            "{actor}"
        );
    }
}

#[tokio::test]
async fn an_error_signature_holds_only_for_its_page_and_form_and_malformed_posts_echo_nothing() {
    let c = spawn().await;
    let http = support::browser();
    let location = c
        .fail_without_js(&http, &format!("{}/login", c.base), "admin")
        .await;
    let query = location.split_once('?').unwrap().1.to_owned();
    let shown = http
        .get(format!("{}/login?{query}", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 200, "genuine on its own page");
    for moved in [
        format!("{}/setup?{query}", c.base),
        format!(
            "{}/login?{}",
            c.base,
            query.replace("__path=%2Fapi%2Flogin", "__path=%2Fapi%2Fsetup")
        ),
    ] {
        let r = http.get(&moved).send().await.unwrap();
        assert_eq!(r.status(), 303, "{moved}");
        assert!(!r.headers()["location"].to_str().unwrap().contains("__err"));
    }

    let lure = "Your account is locked: call +1 555 0100";
    let malformed = http
        .post(format!("{}/api/login", c.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username[{lure}]=1&password=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let text = malformed.text().await.unwrap();
    assert!(!text.contains("555 0100"), "{text}");
    let without_js = http
        .post(format!("{}/api/login", c.base))
        .header("referer", format!("{}/login", c.base))
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("nonsense={lure}"))
        .send()
        .await
        .unwrap();
    let location = without_js.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!(
            "{}{}",
            c.base,
            location.trim_start_matches(&c.base)
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("The request could not be read"), "{location}");
    assert!(!page.contains("555 0100"));
}

#[tokio::test]
async fn smtp_credentials_need_tls_and_metadata_hosts_are_refused() {
    let c = spawn().await;
    let http = c.signed_in().await;
    let save = |smtp: &'static str| {
        http.post(format!("{}/api/save_alert_settings", c.base))
            .form(&[
                ("webhook_url", ""),
                ("webhook_secret", ""),
                ("smtp_url", smtp),
                ("email_from", "console@example.com"),
                ("email_to", "ops@example.com"),
            ])
            .send()
    };
    for refused in [
        "smtp://user:pass@mail.example.com:587",
        "smtp://user:pass@mail.example.com:587?tls=opportunistic",
        "smtps://user:pass@169.254.169.254:465",
        "smtp://metadata.google.internal:25",
    ] {
        let r = save(refused).await.unwrap();
        assert_eq!(r.status(), 422, "{refused}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["Invalid"]["field"], "smtp_url");
        assert!(!body.to_string().contains("pass@"), "the URL is not echoed");
    }
    assert_eq!(
        store::setting(&c.state.pool, "alert_smtp_url")
            .await
            .unwrap(),
        None,
        "nothing stored"
    );
    let tls = save("smtp://user:pass@mail.example.com:587?tls=required")
        .await
        .unwrap();
    assert_eq!(tls.status(), 200);
}

#[tokio::test]
async fn guessing_the_current_password_from_a_stolen_session_is_slowed_down() {
    let c = spawn().await;
    let http = c.signed_in().await;
    let change = |current: &'static str| {
        http.post(format!("{}/api/change_password", c.base))
            .form(&[
                ("current", current),
                ("password", "violet tractor sings softly"),
                ("confirm", "violet tractor sings softly"),
            ])
            .send()
    };
    for _ in 0..5 {
        assert_eq!(change("a guess").await.unwrap().status(), 422);
    }
    let slowed = change("another guess").await.unwrap();
    assert_eq!(slowed.status(), 429);
    assert!(slowed.headers().contains_key("retry-after"));
    let right = change(PASSWORD).await.unwrap();
    assert_eq!(right.status(), 429, "even the right one waits its turn");
}

#[tokio::test]
async fn a_webhook_url_is_sealed_and_shown_only_by_its_origin() {
    let c = spawn().await;
    let http = c.signed_in().await;
    let hook = "https://hooks.example.com/services/T000/B000/POSTINGRIGHTS";
    let save = |webhook: &[(&'static str, &'static str)]| {
        let mut form = vec![("smtp_url", ""), ("email_from", ""), ("email_to", "")];
        form.extend_from_slice(webhook);
        http.post(format!("{}/api/save_alert_settings", c.base))
            .form(&form)
            .send()
    };
    let has_webhook = || async {
        console_core::alerts::effective(&c.state)
            .await
            .unwrap()
            .webhook
            .is_some()
    };
    let saved = save(&[
        ("webhook_url", hook),
        ("webhook_secret", "a long enough signing secret"),
    ])
    .await
    .unwrap();
    assert_eq!(saved.status(), 200);
    let config = console_core::alerts::effective(&c.state).await.unwrap();
    assert_eq!(config.webhook.unwrap().url, hook, "used as given");
    let page = http
        .get(format!("{}/settings", c.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("https://hooks.example.com"));
    assert!(!page.contains("POSTINGRIGHTS"));
    let raw = c.store.contents();
    assert!(
        !raw.windows(13).any(|w| w == b"POSTINGRIGHTS"),
        "never stored in clear"
    );

    // Saving the page again with the URL left blank keeps it; the box removes it.
    let again = save(&[("webhook_url", ""), ("webhook_secret", "")])
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert!(has_webhook().await);
    let removed = save(&[
        ("webhook_url", ""),
        ("webhook_secret", ""),
        ("webhook_remove", "on"),
    ])
    .await
    .unwrap();
    assert_eq!(removed.status(), 200);
    assert!(!has_webhook().await);

    // A URL an earlier version stored in clear is sealed when first read.
    store::set_setting(&c.state.pool, "alert_webhook_url", Some(hook))
        .await
        .unwrap();
    let sealed = c
        .state
        .cipher
        .seal("settings", "alert_webhook_secret", "s3cret-s3cret-s3cret");
    store::set_setting(&c.state.pool, "alert_webhook_secret", Some(&sealed))
        .await
        .unwrap();
    let config = console_core::alerts::effective(&c.state).await.unwrap();
    assert_eq!(config.webhook.unwrap().url, hook);
    let stored = store::setting(&c.state.pool, "alert_webhook_url")
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.contains("POSTINGRIGHTS"), "{stored}");
}

#[tokio::test]
async fn metrics_answer_only_to_the_consoles_own_names() {
    let c = spawn().await;
    let (status, _) = c
        .raw("GET /metrics HTTP/1.1", &["Host: rebound.evil.example"])
        .await;
    assert_eq!(status, 421, "a DNS-rebinding page reads nothing");
    let (status, _) = c
        .raw("GET /healthz HTTP/1.1", &["Host: 10.0.0.5:3000"])
        .await;
    assert_eq!(status, 200, "probes still come by any name");
    // Past the name check, this console (behind a proxy, no CONCUR_METRICS_TOKEN) asks for
    // the token: 401, not 421.
    let (status, _) = c
        .raw("GET /metrics HTTP/1.1", &[&format!("Host: {}", c.address)])
        .await;
    assert_eq!(status, 401);
    let (status, _) = c
        .raw("GET /metrics HTTP/1.1", &["Host: console.test"])
        .await;
    assert_eq!(status, 401, "the public name");
}
