//! Regression tests for the security review: sign-in that cannot be turned against the admin,
//! real status codes, the Origin and Host checks, signed error messages, headers, sessions and
//! the setup link.

use std::sync::Arc;

use concur::ManualClock;
use concur_sim::Simulator;
use console_core::state::AppState;
use serde_json::{Value, json};
use stores::Store;

use crate::support::{self, PASSWORD, stores};

struct Console {
    base: String,
    state: AppState,
    clock: ManualClock,
}

async fn spawn() -> Console {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::chosen().await;
    let mut settings = support::settings_for(&store, sim.allowed_hosts());
    settings.config.public_url = "http://console.test".into();
    settings.config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let clock = ManualClock::at(sim.now());
    let (base, state) = support::serve(settings, Arc::new(clock.clone())).await;
    Console { base, state, clock }
}

impl Console {
    async fn admin(&self) {
        support::person(&self.state, "a1", "admin", console_model::Role::Admin).await;
    }

    /// Signs in from `address` (as the trusted proxy on loopback reports it).
    async fn login(
        &self,
        http: &reqwest::Client,
        address: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        http.post(format!("{}/api/login", self.base))
            .header("x-forwarded-for", address)
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap()
    }
}

async fn body(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_takes_about_as_long_as_a_wrong_password() {
    let c = spawn().await;
    c.admin().await;
    let http = support::browser();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..5 {
        // A fresh address each time, so the throttle never answers instead of argon2.
        let started = std::time::Instant::now();
        c.login(&http, &format!("10.1.0.{i}"), "admin", "wrong password")
            .await;
        known.push(started.elapsed());
        let started = std::time::Instant::now();
        c.login(&http, &format!("10.2.0.{i}"), "nobody", "wrong password")
            .await;
        unknown.push(started.elapsed());
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[2].as_secs_f64(), unknown[2].as_secs_f64());
    assert!(
        unknown * 2.0 > known && known * 2.0 > unknown,
        "median known {known:.4} s, unknown {unknown:.4} s"
    );
}

#[tokio::test]
async fn a_strangers_failures_do_not_stop_the_admins_correct_password() {
    let c = spawn().await;
    c.admin().await;
    let stranger = support::browser();
    for i in 0..8 {
        let r = c
            .login(&stranger, &format!("203.0.113.{i}"), "admin", "guess")
            .await;
        assert_eq!(r.status(), 401);
    }
    let from_one = c.login(&stranger, "203.0.113.99", "admin", "guess").await;
    assert_eq!(from_one.status(), 401);
    for _ in 0..5 {
        c.login(&stranger, "203.0.113.99", "admin", "guess").await;
    }
    let throttled = c.login(&stranger, "203.0.113.99", "admin", "guess").await;
    assert_eq!(throttled.status(), 429, "one address is slowed down");
    assert!(throttled.headers().contains_key("retry-after"));

    let admin = support::browser();
    let r = c.login(&admin, "192.0.2.10", "admin", PASSWORD).await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_parallel_wrong_sign_ins_are_mostly_refused_before_argon2() {
    let c = spawn().await;
    c.admin().await;
    let http = support::browser();
    let attempts = (0..100).map(|_| {
        let (http, base) = (http.clone(), c.base.clone());
        tokio::spawn(async move {
            http.post(format!("{base}/api/login"))
                .header("x-forwarded-for", "198.51.100.1")
                .form(&[("username", "admin"), ("password", "wrong")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    assert!(evaluated <= 5, "{evaluated} evaluated");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429));
}

#[tokio::test]
async fn errors_answer_with_their_real_status_codes() {
    let c = spawn().await;
    c.admin().await;
    let http = support::browser();
    let r = c.login(&http, "192.0.2.1", "admin", "wrong").await;
    assert_eq!(r.status(), 401);
    assert_eq!(body(r).await, json!("BadLogin"));
    let long = "x".repeat(65);
    let r = c.login(&http, "192.0.2.2", &long, "wrong").await;
    assert_eq!(
        r.status(),
        422,
        "an over-long user name never reaches the limiter"
    );
    assert_eq!(c.state.limiter.tracked(), 2);

    let anonymous = http
        .post(format!("{}/api/load_dashboard", c.base))
        .form(&[("search", ""), ("page", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let r = c.login(&http, "192.0.2.3", "admin", PASSWORD).await;
    assert!(r.status().is_success() || r.status().is_redirection());
    let field = http
        .post(format!("{}/api/validate_connection", c.base))
        .form(&[("form[mode]", "refresh-token"), ("form[name]", "X")])
        .send()
        .await
        .unwrap();
    assert_eq!(field.status(), 422);
    assert!(field.headers().contains_key("x-request-id"));
    let missing = http
        .post(format!("{}/api/load_connection", c.base))
        .form(&[("id", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let huge_page = http
        .post(format!("{}/api/load_dashboard", c.base))
        .form(&[("search", ""), ("page", &i64::MAX.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        huge_page.status(),
        200,
        "a page number past the end is clamped"
    );
}

#[tokio::test]
async fn state_changes_must_come_from_the_public_origin_and_hosts_must_be_known() {
    let c = spawn().await;
    c.admin().await;
    let http = support::browser();
    let post = |origin: &'static str| {
        http.post(format!("{}/api/login", c.base))
            .header("origin", origin)
            .form(&[("username", "admin"), ("password", PASSWORD)])
            .send()
    };
    assert_eq!(post("http://evil.example").await.unwrap().status(), 403);
    assert_eq!(
        post("https://console.test").await.unwrap().status(),
        403,
        "scheme differs"
    );
    assert_ne!(post("http://console.test").await.unwrap().status(), 403);

    let rebound = http
        .get(format!("{}/login", c.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421, "DNS rebinding reaches nothing");
    let health = http
        .get(format!("{}/health", c.base))
        .header("host", "10.0.0.5:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// A user name longer than any allowed one (64 characters).
const LONG_NAME: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";

#[tokio::test]
async fn an_error_text_in_a_link_is_never_rendered() {
    let c = spawn().await;
    let http = support::browser();
    let lure = "eyJSZXF1ZXN0IjoiWW91ciBhY2NvdW50IGlzIGxvY2tlZDogY2FsbCArMSA1NTUgMDEwMCJ9";
    let r = http
        .get(format!("{}/login?__path=/api/login&__err={lure}", c.base))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(r.headers()["location"], "/login");

    // A real failure without JavaScript comes back signed, and its message is shown; failing
    // again from that page (its address carries the first signature) shows the new failure.
    c.admin().await;
    let fail = |from: String, username: &'static str| {
        http.post(format!("{}/api/login", c.base))
            .header("referer", from)
            .header("accept", "text/html")
            .header("x-forwarded-for", "192.0.2.77")
            .form(&[("username", username), ("password", "wrong")])
            .send()
    };
    let mut from = format!("{}/login", c.base);
    for (username, shown) in [
        ("admin", "Wrong user name or password"),
        (LONG_NAME, "User name must be at most 64 characters."),
    ] {
        let failed = fail(from.clone(), username).await.unwrap();
        let location = failed.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.contains("__err="), "{location}");
        assert_eq!(location.matches("__sig=").count(), 1, "{location}");
        assert_eq!(location.matches("__err=").count(), 1, "{location}");
        let path = location
            .split_once(&c.base)
            .map_or(location.as_str(), |(_, p)| p);
        from = format!("{}{path}", c.base);
        let page = http.get(&from).send().await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert!(page.text().await.unwrap().contains(shown), "{username}");

        // A genuine signed error with a second one of the attacker's after it shows neither.
        let smuggled = http
            .get(format!("{from}&__err={lure}"))
            .send()
            .await
            .unwrap();
        assert!(smuggled.status().is_redirection());
        assert_eq!(smuggled.headers()["location"], "/login");
    }
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let c = spawn().await;
    let r = support::browser()
        .get(format!("{}/login", c.base))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("'wasm-unsafe-eval'"));
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"));
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin", "never to another site");
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        !h.contains_key("strict-transport-security"),
        "not over http"
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the scripts carry the nonce"
    );
    let setup = support::browser()
        .get(format!("{}/setup?token=x", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        setup.headers()["referrer-policy"],
        "same-origin",
        "the setup link's token never leaves the site"
    );
}

#[tokio::test]
async fn sessions_end_after_thirty_idle_minutes_and_cookies_live_with_the_browser() {
    let c = spawn().await;
    c.admin().await;
    let http = support::browser();
    let r = c.login(&http, "192.0.2.5", "admin", PASSWORD).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    let page = |http: &reqwest::Client| http.get(format!("{}/", c.base)).send();
    assert_eq!(page(&http).await.unwrap().status(), 200);
    c.clock.advance(29 * 60);
    assert_eq!(page(&http).await.unwrap().status(), 200, "still active");
    c.clock.advance(31 * 60);
    assert_eq!(
        page(&http).await.unwrap().status(),
        303,
        "idle for 31 minutes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parallel_setups_with_one_link_create_one_admin_and_a_restart_voids_old_links() {
    let c = spawn().await;
    let old = console_core::auth::setup_link(&c.state)
        .await
        .unwrap()
        .unwrap();
    let link = console_core::auth::setup_link(&c.state)
        .await
        .unwrap()
        .unwrap();
    let token_of = |l: &str| l.split("token=").nth(1).unwrap().to_owned();
    let setup = |token: String, username: &'static str| {
        let base = c.base.clone();
        tokio::spawn(async move {
            support::browser()
                .post(format!("{base}/api/setup"))
                .form(&[
                    ("token", token.as_str()),
                    ("username", username),
                    ("password", PASSWORD),
                    ("confirm", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let stale = setup(token_of(&old), "early").await.unwrap();
    assert_eq!(
        stale.as_u16(),
        403,
        "a link from before the restart is void"
    );
    let (a, b) = (
        setup(token_of(&link), "first"),
        setup(token_of(&link), "second"),
    );
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(
        console_core::store::admin_count(&c.state.pool)
            .await
            .unwrap(),
        1,
        "{a} {b}"
    );
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session_and_sessions_can_be_ended_one_by_one() {
    let c = spawn().await;
    c.admin().await;
    let (laptop, phone, tablet) = (support::browser(), support::browser(), support::browser());
    for (http, address) in [
        (&laptop, "192.0.2.1"),
        (&phone, "192.0.2.2"),
        (&tablet, "192.0.2.3"),
    ] {
        let r = c.login(http, address, "admin", PASSWORD).await;
        assert!(r.status().is_redirection() || r.status().is_success());
    }
    let call = |http: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]| {
        http.post(format!("{}/api/{endpoint}", c.base))
            .form(form)
            .send()
    };
    let account = body(call(&laptop, "load_account", &[]).await.unwrap()).await;
    let sessions = account["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let tablet_session = sessions
        .iter()
        .find(|s| s["address"] == "192.0.2.3")
        .unwrap();
    assert!(
        !account.to_string().contains("token"),
        "no token or hash is shown"
    );
    let ended = call(
        &laptop,
        "end_session",
        &[("id", tablet_session["id"].as_str().unwrap())],
    )
    .await
    .unwrap();
    assert_eq!(ended.status(), 200);
    assert_eq!(
        tablet
            .get(format!("{}/", c.base))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );

    let wrong = call(
        &laptop,
        "change_password",
        &[
            ("current", "not it"),
            ("password", "violet tractor sings softly"),
            ("confirm", "violet tractor sings softly"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), 422);
    let common = call(
        &laptop,
        "change_password",
        &[
            ("current", PASSWORD),
            ("password", "password1234"),
            ("confirm", "password1234"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(body(common).await["Invalid"]["field"], "password");
    let changed = call(
        &laptop,
        "change_password",
        &[
            ("current", PASSWORD),
            ("password", "violet tractor sings softly"),
            ("confirm", "violet tractor sings softly"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(
        laptop
            .get(format!("{}/", c.base))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "this session stays"
    );
    assert_eq!(
        phone
            .get(format!("{}/", c.base))
            .send()
            .await
            .unwrap()
            .status(),
        303,
        "the others end"
    );
}

#[tokio::test]
async fn expired_sessions_are_swept() {
    let c = spawn().await;
    c.admin().await;
    let old = console_core::store::NewSession {
        token_hash: "old-hash",
        id: "old",
        admin_id: "a1",
        now: 0,
        expires_at: 10,
        address: "192.0.2.9",
        user_agent: "old browser",
        method: console_model::SignInMethod::Password,
    };
    console_core::store::insert_session(&c.state.pool, &old)
        .await
        .unwrap();
    c.login(&support::browser(), "192.0.2.10", "admin", PASSWORD)
        .await;
    let left = console_core::store::sessions_of(&c.state.pool, "a1")
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].id.as_deref(), Some("old"));
}
