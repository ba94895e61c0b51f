//! Single sign-on against a fake identity provider that signs real ID tokens (RS256, the keys
//! in `tests/it/fixtures`): the whole code flow with PKCE, `state` and `nonce`, and each way an
//! ID token must be refused (wrong audience, wrong issuer, expired, bad signature, replayed
//! nonce, missing state), keys rotated at the provider, roles from groups at every sign-in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use base64::Engine;
use concur::ManualClock;
use console_core::auth::oidc::OidcConfig;
use console_core::state::AppState;
use console_core::store;
use console_model::Role;
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AdditionalClaims, Audience, EndUserUsername, IdToken, IdTokenClaims, IssuerUrl, JsonWebKeyId,
    Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::support::{self, stores};

const CLIENT_ID: &str = "concur-console";
const CLIENT_SECRET: &str = "idp client secret";
const KEY_1: &str = include_str!("fixtures/idp-key-1.pem");
const KEY_2: &str = include_str!("fixtures/idp-key-2.pem");

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Groups {
    groups: Vec<String>,
}

impl AdditionalClaims for Groups {}

/// What the provider does wrong on the next sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Twist {
    None,
    WrongAudience,
    WrongIssuer,
    Expired,
    /// Signed with key 2 under key 1's id.
    BadSignature,
    /// Signed with key 2 under its own id, which the console has not seen yet.
    RotatedKey,
    /// The nonce of an earlier sign-in.
    OldNonce,
    /// The token endpoint is down (an HTML error page from a proxy).
    Down,
}

#[derive(Default)]
struct Provider {
    issuer: String,
    /// Key ids the JWKS publishes.
    published: Vec<&'static str>,
    twist: Option<Twist>,
    /// code → (nonce, PKCE challenge, user).
    codes: HashMap<String, (String, String, String)>,
    nonces: Vec<String>,
    users: HashMap<String, Vec<String>>,
    /// The user who signs in next.
    next_user: String,
    exchanges: usize,
}

type Idp = Arc<Mutex<Provider>>;

fn key(kid: &str) -> CoreRsaPrivateSigningKey {
    let pem = if kid == "k1" { KEY_1 } else { KEY_2 };
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).unwrap()
}

async fn discovery(State(idp): State<Idp>) -> axum::Json<serde_json::Value> {
    let issuer = idp.lock().unwrap().issuer.clone();
    axum::Json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks(State(idp): State<Idp>) -> axum::Json<CoreJsonWebKeySet> {
    let published = idp.lock().unwrap().published.clone();
    axum::Json(CoreJsonWebKeySet::new(
        published
            .into_iter()
            .map(|kid| key(kid).as_verification_key())
            .collect(),
    ))
}

async fn authorize(
    State(idp): State<Idp>,
    Query(query): Query<HashMap<String, String>>,
) -> Redirect {
    let mut p = idp.lock().unwrap();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge_method"], "S256");
    let code = uuid::Uuid::new_v4().to_string();
    let user = p.next_user.clone();
    p.nonces.push(query["nonce"].clone());
    p.codes.insert(
        code.clone(),
        (
            query["nonce"].clone(),
            query["code_challenge"].clone(),
            user,
        ),
    );
    Redirect::to(&format!(
        "{}?code={code}&state={}",
        query["redirect_uri"], query["state"]
    ))
}

async fn token(
    State(idp): State<Idp>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let mut p = idp.lock().unwrap();
    p.exchanges += 1;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{CLIENT_ID}:{}", CLIENT_SECRET.replace(' ', "+")));
    assert_eq!(
        headers["authorization"].to_str().unwrap(),
        format!("Basic {basic}"),
        "the client authenticates"
    );
    if p.twist == Some(Twist::Down) {
        p.twist = None;
        return (
            axum::http::StatusCode::BAD_GATEWAY,
            axum::response::Html("<html><body>502 Bad Gateway</body></html>"),
        )
            .into_response();
    }
    let Some((nonce, challenge, user)) = p.codes.remove(&form["code"]) else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = &form["code_verifier"];
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(
        computed, challenge,
        "PKCE: the verifier matches the challenge"
    );
    let twist = p.twist.take().unwrap_or(Twist::None);
    let now = chrono::Utc::now();
    let issuer = match twist {
        Twist::WrongIssuer => "https://elsewhere.example".to_owned(),
        _ => p.issuer.clone(),
    };
    let audience = match twist {
        Twist::WrongAudience => "another-app",
        _ => CLIENT_ID,
    };
    let expires = match twist {
        Twist::Expired => now - chrono::Duration::minutes(10),
        _ => now + chrono::Duration::minutes(5),
    };
    let nonce = match twist {
        Twist::OldNonce => p.nonces[0].clone(),
        _ => nonce,
    };
    let groups = p.users.get(&user).cloned().unwrap_or_default();
    let claims = IdTokenClaims::new(
        IssuerUrl::new(issuer).unwrap(),
        vec![Audience::new(audience.into())],
        expires,
        now - chrono::Duration::seconds(5),
        StandardClaims::new(SubjectIdentifier::new(format!("sub-{user}")))
            .set_preferred_username(Some(EndUserUsername::new(user.clone()))),
        Groups { groups },
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let signer = match twist {
        Twist::BadSignature => {
            CoreRsaPrivateSigningKey::from_pem(KEY_2, Some(JsonWebKeyId::new("k1".into()))).unwrap()
        }
        Twist::RotatedKey => {
            p.published = vec!["k2"];
            key("k2")
        }
        _ => key("k1"),
    };
    let id_token = IdToken::<
        Groups,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(
        claims,
        &signer,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap();
    axum::Json(serde_json::json!({
        "access_token": "idp-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}

async fn provider() -> Idp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let users = [
        ("alice", vec!["ops"]),
        ("eddie", vec!["finance-it", "helpdesk"]),
        ("vera", vec!["helpdesk"]),
        ("nora", vec!["sales"]),
    ]
    .into_iter()
    .map(|(u, g)| (u.to_owned(), g.into_iter().map(str::to_owned).collect()))
    .collect();
    let idp = Arc::new(Mutex::new(Provider {
        issuer,
        published: vec!["k1"],
        users,
        ..Provider::default()
    }));
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(idp.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    idp
}

fn config(issuer: &str) -> OidcConfig {
    OidcConfig {
        issuer: issuer.to_owned(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        roles_claim: "groups".into(),
        admin_groups: vec!["ops".into()],
        editor_groups: vec!["finance-it".into()],
        viewer_groups: vec!["helpdesk".into()],
        label: "Sign in with Example ID".into(),
    }
}

struct World {
    base: String,
    state: AppState,
    idp: Idp,
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn world_with(adjust: impl FnOnce(&mut server::serve::Settings)) -> World {
    let idp = provider().await;
    let issuer = idp.lock().unwrap().issuer.clone();
    let store = stores::Store::chosen().await;
    let mut settings = support::settings_for(&store, String::new());
    settings.config.oidc = Some(config(&issuer));
    adjust(&mut settings);
    let now = chrono::Utc::now().timestamp();
    let (base, state) = support::serve(settings, Arc::new(ManualClock::at(now))).await;
    World { base, state, idp }
}

impl World {
    /// Signs `user` in through the provider in `browser`; where the console sent it last.
    async fn sign_in(&self, browser: &reqwest::Client, user: &str) -> String {
        self.idp.lock().unwrap().next_user = user.to_owned();
        let started = browser
            .get(format!("{}/auth/oidc/start", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), 303);
        let to_idp = started.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to_idp.starts_with(&self.idp.lock().unwrap().issuer),
            "{to_idp}"
        );
        for part in ["state=", "nonce=", "code_challenge=", "scope=openid"] {
            assert!(to_idp.contains(part), "{part} in {to_idp}");
        }
        let back = browser.get(&to_idp).send().await.unwrap();
        let callback = back.headers()["location"].to_str().unwrap().to_owned();
        let query = callback.split_once('?').unwrap().1;
        self.come_back(browser, query).await
    }

    async fn come_back(&self, browser: &reqwest::Client, query: &str) -> String {
        let answer = browser
            .get(format!("{}/auth/oidc/callback?{query}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303);
        answer.headers()["location"].to_str().unwrap().to_owned()
    }

    async fn page(&self, browser: &reqwest::Client, path: &str) -> (u16, String) {
        let answer = browser
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    async fn role_of(&self, username: &str) -> String {
        store::admins(&self.state.pool)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.username == username)
            .unwrap()
            .role
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_decide_the_role_at_every_sign_in() {
    let w = world().await;
    let (_, login) = w.page(&support::browser(), "/login").await;
    assert!(login.contains("Sign in with Example ID") && login.contains("/auth/oidc/start"));

    let alice = support::browser();
    assert_eq!(w.sign_in(&alice, "alice").await, "/");
    assert_eq!(w.page(&alice, "/people").await.0, 200, "ops → admin");
    let (_, people) = w.page(&alice, "/people").await;
    assert!(people.contains("alice (single sign-on)"), "{people}");
    let (_, account) = w.page(&alice, "/account").await;
    assert!(account.contains("single sign-on") && !account.contains("Change password"));

    let eddie = support::browser();
    assert_eq!(w.sign_in(&eddie, "eddie").await, "/");
    assert_eq!(w.role_of("eddie").await, "editor", "the highest group wins");
    assert_eq!(w.page(&eddie, "/settings").await.0, 403);
    assert_eq!(w.page(&eddie, "/connections/new").await.0, 200);

    let vera = support::browser();
    w.sign_in(&vera, "vera").await;
    assert_eq!(w.page(&vera, "/connections/new").await.0, 403);

    let nora = support::browser();
    assert_eq!(w.sign_in(&nora, "nora").await, "/login?sso=nogroup");
    let (_, refused) = w.page(&nora, "/login?sso=nogroup").await;
    assert!(
        refused.contains("none of the groups")
            && refused.contains("ops (admin); finance-it (editor); helpdesk (viewer)"),
        "{refused}"
    );
    assert_eq!(w.page(&nora, "/").await.0, 303, "no session");

    // The IdP moved eddie out of finance-it: the next sign-in makes him a viewer.
    w.idp
        .lock()
        .unwrap()
        .users
        .insert("eddie".into(), vec!["helpdesk".into()]);
    let later = support::browser();
    w.sign_in(&later, "eddie").await;
    assert_eq!(w.role_of("eddie").await, "viewer");
    assert_eq!(w.page(&later, "/connections/new").await.0, 403);

    // An SSO account has no password to guess.
    let password = support::browser()
        .post(format!("{}/api/login", w.base))
        .form(&[("username", "alice"), ("password", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(password.status(), 401);

    let (events, _) = store::audit_page(&w.state.pool, &Default::default(), 0, 100)
        .await
        .unwrap();
    let signed = events
        .iter()
        .find(|e| e.kind == "sign_in" && e.actor == "alice" && e.outcome == "ok")
        .unwrap();
    assert_eq!(
        (signed.actor_role.as_deref(), signed.actor_method.as_deref()),
        (Some("admin"), Some("sso"))
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == "sign_in" && e.actor == "nora" && e.outcome == "refused")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_that_fail_a_check_sign_nobody_in() {
    let w = world().await;
    for twist in [
        Twist::WrongAudience,
        Twist::WrongIssuer,
        Twist::Expired,
        Twist::BadSignature,
    ] {
        w.idp.lock().unwrap().twist = Some(twist);
        let browser = support::browser();
        assert_eq!(
            w.sign_in(&browser, "alice").await,
            "/login?sso=token",
            "{twist:?}"
        );
        assert_eq!(w.page(&browser, "/").await.0, 303, "{twist:?}: no session");
    }
    // A nonce from another sign-in.
    let first = support::browser();
    w.sign_in(&first, "alice").await;
    w.idp.lock().unwrap().twist = Some(Twist::OldNonce);
    assert_eq!(
        w.sign_in(&support::browser(), "alice").await,
        "/login?sso=token"
    );

    let (events, _) = store::audit_page(&w.state.pool, &Default::default(), 0, 100)
        .await
        .unwrap();
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e.outcome == "refused")
        .map(|e| e.detail.as_str())
        .collect();
    for reason in ["audiences", "issuer", "Expired", "Signature", "nonce"] {
        assert!(
            reasons.iter().any(|r| r.contains(reason)),
            "{reason} in {reasons:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotated_at_the_provider_are_fetched_once_and_used() {
    let w = world().await;
    w.idp.lock().unwrap().twist = Some(Twist::RotatedKey);
    let browser = support::browser();
    assert_eq!(w.sign_in(&browser, "alice").await, "/");
    assert_eq!(w.page(&browser, "/").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_without_its_state_or_browser_is_refused() {
    let w = world().await;
    let browser = support::browser();
    w.idp.lock().unwrap().next_user = "alice".into();
    let started = browser
        .get(format!("{}/auth/oidc/start", w.base))
        .send()
        .await
        .unwrap();
    let to_idp = started.headers()["location"].to_str().unwrap().to_owned();
    let back = browser.get(&to_idp).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let query = callback.split_once('?').unwrap().1.to_owned();
    let code_only: String = query
        .split('&')
        .filter(|p| p.starts_with("code="))
        .collect();
    assert_eq!(
        w.come_back(&browser, &code_only).await,
        "/login?sso=expired"
    );
    assert_eq!(
        w.come_back(&support::browser(), &query).await,
        "/login?sso=expired",
        "another browser (no state cookie)"
    );
    assert_eq!(w.idp.lock().unwrap().exchanges, 0, "no code was traded");
    assert_eq!(
        w.come_back(&browser, &query).await,
        "/",
        "the right browser"
    );
    assert_eq!(
        w.come_back(&browser, &query).await,
        "/login?sso=expired",
        "a state is spent once"
    );
    let denied = w.come_back(&browser, "error=access_denied&state=x").await;
    assert_eq!(
        denied, "/login?sso=expired",
        "an error without this browser's state"
    );
}

/// The audit rows written so far.
async fn audit_rows(w: &World) -> Vec<store::AuditRow> {
    console_core::audit::record_throttled(&w.state).await;
    store::audit_page(&w.state.pool, &store::AuditFilter::default(), 0, 1000)
        .await
        .unwrap()
        .0
}

/// Starts a sign-in in `browser`; the `state` the provider is sent.
async fn started_state(w: &World, browser: &reqwest::Client) -> String {
    let started = browser
        .get(format!("{}/auth/oidc/start", w.base))
        .send()
        .await
        .unwrap();
    let to_idp = started.headers()["location"].to_str().unwrap().to_owned();
    let query = to_idp.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("state="))
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_without_this_browsers_state_writes_no_audit_row_and_refusals_are_counted_per_minute()
 {
    let w = world().await;
    let before = audit_rows(&w).await.len();
    let stranger = support::browser();
    for i in 0..25 {
        let answer = w
            .come_back(&stranger, &format!("error=access_denied&state=forged{i}"))
            .await;
        assert_eq!(answer, "/login?sso=expired");
    }
    w.come_back(&stranger, "error=access_denied").await;
    assert_eq!(
        audit_rows(&w).await.len(),
        before,
        "a stranger's callbacks write nothing"
    );
    let browser = support::browser();
    for _ in 0..3 {
        let state = started_state(&w, &browser).await;
        let answer = w
            .come_back(&browser, &format!("error=access_denied&state={state}"))
            .await;
        assert_eq!(answer, "/login?sso=refused");
    }
    let rows = audit_rows(&w).await;
    assert_eq!(rows.len(), before + 1, "one row for the minute: {rows:?}");
    assert_eq!(rows[0].outcome, "refused");
    assert!(
        rows[0]
            .detail
            .starts_with("3 single sign-ons refused in this minute"),
        "{}",
        rows[0].detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_cookie_is_host_prefixed_over_https() {
    let w = world_with(|s| s.config.public_url = "https://console.example".into()).await;
    let started = support::browser()
        .get(format!("{}/auth/oidc/start", w.base))
        .send()
        .await
        .unwrap();
    let cookie = started.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-cc_sso="), "{cookie}");
    assert!(
        cookie.contains("; Path=/;") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_never_demotes_the_last_active_admin() {
    let w = world().await;
    let browser = support::browser();
    assert_eq!(w.sign_in(&browser, "alice").await, "/");
    assert_eq!(w.role_of("alice").await, "admin");
    w.idp
        .lock()
        .unwrap()
        .users
        .insert("alice".into(), vec!["helpdesk".into()]);
    assert_eq!(w.sign_in(&support::browser(), "alice").await, "/");
    assert_eq!(
        w.role_of("alice").await,
        "admin",
        "the groups would leave no active admin"
    );
    let rows = audit_rows(&w).await;
    assert!(
        rows.iter()
            .any(|r| r.kind == "role_changed" && r.outcome == "refused"),
        "{rows:?}"
    );
    assert_eq!(w.sign_in(&support::browser(), "eddie").await, "/");
    local_admin(&w).await;
    assert_eq!(w.sign_in(&support::browser(), "alice").await, "/");
    assert_eq!(
        w.role_of("alice").await,
        "viewer",
        "with another admin, the groups decide again"
    );
}

/// A listener that counts the connections made to it and closes each: a proxy nobody should use.
async fn counting_listener() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, count)
}

/// `concur-console serve` with single sign-on at `issuer` and `env`; its log until it listens
/// or stops.
async fn start_console(issuer: &str, env: &[(&str, &str)]) -> String {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("cc-proxy-{}", uuid::Uuid::new_v4()));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_concur-console"))
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/console.db", dir.display()),
        )
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env("CONCUR_OIDC_ISSUER", issuer)
        .env("CONCUR_OIDC_CLIENT_ID", CLIENT_ID)
        .env("CONCUR_OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("CONCUR_OIDC_ADMIN_GROUPS", "ops")
        .envs(env.iter().copied())
        .env_remove("CONCUR_CONSOLE_KEY")
        .env_remove("CONCUR_CONSOLE_PUBLIC_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = tokio::task::spawn_blocking(move || {
        let mut log = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            log.push_str(&line);
            log.push('\n');
            if line.contains("Concur Console listening on") {
                break;
            }
        }
        log
    });
    let log = tokio::time::timeout(std::time::Duration::from_secs(60), log)
        .await
        .map(|read| read.unwrap())
        .unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_provider_is_reached_through_concur_http_proxy_only() {
    let idp = provider().await;
    let issuer = idp.lock().unwrap().issuer.clone();
    let (ignored, ignored_count) = counting_listener().await;
    let environment_proxies = [
        ("HTTP_PROXY", ignored.as_str()),
        ("http_proxy", ignored.as_str()),
        ("HTTPS_PROXY", ignored.as_str()),
        ("https_proxy", ignored.as_str()),
        ("ALL_PROXY", ignored.as_str()),
        ("all_proxy", ignored.as_str()),
        ("NO_PROXY", ""),
        ("no_proxy", ""),
    ];
    let log = start_console(&issuer, &environment_proxies).await;
    assert!(log.contains("Concur Console listening on"), "{log}");
    assert_eq!(
        ignored_count.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "HTTPS_PROXY and its kin are ignored"
    );
    let (named, named_count) = counting_listener().await;
    let mut through_named = environment_proxies.to_vec();
    through_named.push(("CONCUR_HTTP_PROXY", named.as_str()));
    let log = start_console(&issuer, &through_named).await;
    assert!(
        named_count.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "discovery went through CONCUR_HTTP_PROXY: {log}"
    );
    assert!(log.contains("CONCUR_OIDC_ISSUER: discovery at"), "{log}");
    assert_eq!(ignored_count.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_wrong_issuer_stops_the_start_with_a_clear_error() {
    let store = stores::Store::sqlite();
    let mut settings = support::settings(store.url(), String::new());
    settings.config.oidc = Some(config("http://127.0.0.1:9/nothing-here"));
    let refused = server::serve::Application::build(settings, Arc::new(ManualClock::at(0))).await;
    let Err(e) = refused else {
        panic!("started without its identity provider")
    };
    let said = e.to_string();
    assert!(
        said.starts_with("CONCUR_OIDC_ISSUER: discovery at http://127.0.0.1:9/nothing-here failed"),
        "{said}"
    );
    assert_eq!(Role::parse("admin"), Some(Role::Admin));
}

/// A local admin with a password, `local`.
async fn local_admin(w: &World) {
    support::person(&w.state, "local", "local", Role::Admin).await;
}

/// Signs `local` in with its password; the answer.
async fn password_sign_in(w: &World, browser: &reqwest::Client) -> reqwest::Response {
    support::sign_in(browser, &w.base, "local").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_down_at_sign_in_leaves_the_password_form_working() {
    let w = world().await;
    w.idp.lock().unwrap().twist = Some(Twist::Down);
    let browser = support::browser();
    assert_eq!(w.sign_in(&browser, "alice").await, "/login?sso=unavailable");
    let (_, page) = w.page(&browser, "/login?sso=unavailable").await;
    assert!(
        page.contains("did not answer") && page.contains("name=\"password\""),
        "{page}"
    );
    local_admin(&w).await;
    assert_eq!(password_sign_in(&w, &browser).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_sign_in_can_be_turned_off() {
    let w = world_with(|s| s.config.local_login = false).await;
    local_admin(&w).await;
    let browser = support::browser();
    let (_, page) = w.page(&browser, "/login").await;
    assert!(page.contains("Sign in with Example ID") && !page.contains("name=\"password\""));
    let refused = password_sign_in(&w, &browser).await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("PasswordSignInOff"));
    assert_eq!(
        w.sign_in(&browser, "alice").await,
        "/",
        "single sign-on still works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_started_from_one_address_are_limited() {
    let w = world().await;
    let browser = support::browser();
    let mut statuses = Vec::new();
    for _ in 0..(server::sso::STARTS_PER_MINUTE + 20) {
        let answer = browser
            .get(format!("{}/auth/oidc/start", w.base))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses[0], 303);
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 10, "{statuses:?}");
}
