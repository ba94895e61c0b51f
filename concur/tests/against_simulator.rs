//! The client against the simulator: every diagnosis, the code-16 retry, rotation, sliding
//! expiry, bounded bodies, timeouts and host refusal.

use std::sync::Arc;
use std::time::Duration;

use concur::{
    Authorization, AuthorizationUrl, ClientConfig, ClientId, ClientSecret, CompanyUuid,
    ConcurClient, Credentials, Diagnosis, HostPolicy, Problem, RefreshToken, RequestToken,
    ScopeProfile, SystemClock,
};
use concur_sim::{DEMO_SCOPES, Fault, Quirks, REFRESH_LIFETIME, Simulator};

struct World {
    sim: Simulator,
    client: ConcurClient,
    credentials: Credentials,
    company: String,
    refresh: String,
}

fn client(sim: &Simulator, timeout: Duration) -> ConcurClient {
    let policy = HostPolicy::parse(&sim.allowed_hosts()).unwrap();
    let config = ClientConfig {
        timeout,
        max_body_bytes: 64 * 1024,
        ..ClientConfig::default()
    };
    ConcurClient::new(policy, &config, Arc::new(SystemClock)).unwrap()
}

async fn world_in(data_center: &str) -> World {
    let sim = Simulator::spawn().await.unwrap();
    let (id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company(data_center);
    let refresh = sim.issue_refresh_token(&company, &id);
    World {
        client: client(&sim, Duration::from_secs(5)),
        credentials: Credentials {
            client_id: ClientId::parse(&id).unwrap(),
            client_secret: ClientSecret::parse(&secret).unwrap(),
        },
        sim,
        company,
        refresh,
    }
}

impl World {
    fn base(&self, data_center: &str) -> AuthorizationUrl {
        AuthorizationUrl::parse(&self.sim.origin(data_center)).unwrap()
    }

    async fn refresh_with(&self, token: &str) -> Result<concur::Grant, Diagnosis> {
        let token = RefreshToken::parse(token).unwrap();
        self.client
            .refresh(&self.base("us2"), &self.credentials, &token)
            .await
    }

    async fn refresh(&self) -> Result<concur::Grant, Diagnosis> {
        self.refresh_with(&self.refresh).await
    }

    async fn exchange(&self, base: &str, token: &str) -> Result<concur::Grant, Diagnosis> {
        let company = CompanyUuid::parse(&self.company).unwrap();
        let token = RequestToken::parse(token).unwrap();
        self.client
            .exchange_request_token(&self.base(base), &self.credentials, &company, &token)
            .await
    }
}

fn code(result: Result<concur::Grant, Diagnosis>) -> &'static str {
    result.expect_err("expected a diagnosis").code()
}

#[tokio::test]
async fn refresh_reports_expiry_scopes_geolocation_and_company() {
    let w = world_in("us2").await;
    let grant = w.refresh().await.unwrap();
    let expected_expiry = w.sim.refresh_token_expiry(&w.refresh).unwrap();
    assert_eq!(grant.refresh_expires_at, Some(expected_expiry));
    assert!(grant.access_expires_at.is_some());
    assert_eq!(grant.scopes.len(), DEMO_SCOPES.len());
    assert_eq!(grant.geolocation.as_str(), w.sim.origin("us2"));
    assert_eq!(grant.company_uuid.unwrap().as_str(), w.company);
    assert!(!grant.rotated);
    assert_eq!(grant.refresh_token.unwrap().expose(), w.refresh);
    assert!(grant.correlation_id.unwrap().starts_with("sim-"));
}

#[tokio::test]
async fn each_refresh_slides_the_expiry_forward() {
    let w = world_in("us2").await;
    let first = w.refresh().await.unwrap().refresh_expires_at.unwrap();
    w.sim.advance_clock(100 * 24 * 3600);
    let second = w.refresh().await.unwrap().refresh_expires_at.unwrap();
    assert!(second >= first + 100 * 24 * 3600 - 5, "{first} -> {second}");
}

#[tokio::test]
async fn a_refresh_token_left_idle_six_months_is_reported_expired() {
    let w = world_in("us2").await;
    w.sim.advance_clock(REFRESH_LIFETIME + 60);
    let d = w.refresh().await.unwrap_err();
    assert_eq!(d.problem, Problem::RefreshTokenInvalid);
    assert_eq!(d.reply.code, Some(108));
    assert!(d.reply.correlation_id.is_some());
    assert!(!d.is_transient());
}

#[tokio::test]
async fn a_rotated_refresh_token_is_returned_and_the_old_one_dies() {
    let w = world_in("us2").await;
    w.sim.set_quirks(Quirks {
        rotate_refresh_tokens: true,
        ..Quirks::default()
    });
    let grant = w.refresh().await.unwrap();
    assert!(grant.rotated);
    let new = grant.refresh_token.unwrap();
    assert_ne!(new.expose(), w.refresh);
    assert_eq!(code(w.refresh().await), "refresh_token_invalid");
    assert!(w.refresh_with(new.expose()).await.is_ok());
}

#[tokio::test]
async fn wrong_data_centre_is_retried_once_where_concur_says() {
    let w = world_in("eu2").await;
    let grant = w.refresh().await.unwrap();
    assert_eq!(grant.geolocation.as_str(), w.sim.origin("eu2"));
    assert_eq!(w.sim.token_requests(), 2);
}

#[tokio::test]
async fn request_token_is_exchanged_once_at_the_landing_zone_or_home() {
    let w = world_in("eu2").await;
    let id = w.credentials.client_id.as_str();
    let token = w.sim.mint_request_token(&w.company, id);
    let grant = w.exchange("glz", &token).await.unwrap();
    assert!(grant.refresh_token.is_some());
    assert_eq!(grant.geolocation.as_str(), w.sim.origin("eu2"));
    assert_eq!(grant.company_uuid.unwrap().as_str(), w.company);
    assert_eq!(
        code(w.exchange("glz", &token).await),
        "request_token_rejected"
    );

    let expired = w.sim.mint_request_token(&w.company, id);
    w.sim.advance_clock(24 * 3600 + 1);
    assert_eq!(
        code(w.exchange("eu2", &expired).await),
        "request_token_rejected"
    );

    let (other_app, _) = w.sim.add_app(DEMO_SCOPES);
    let foreign = w.sim.mint_request_token(&w.company, &other_app);
    assert_eq!(
        code(w.exchange("eu2", &foreign).await),
        "request_token_for_another_app"
    );
}

#[tokio::test]
async fn bad_client_credentials_are_told_apart() {
    let w = world_in("us2").await;
    let base = w.base("us2");
    let token = RefreshToken::parse(&w.refresh).unwrap();
    let wrong_secret = Credentials {
        client_secret: ClientSecret::parse("not-the-secret-at-all").unwrap(),
        ..w.credentials.clone()
    };
    let d = w
        .client
        .refresh(&base, &wrong_secret, &token)
        .await
        .unwrap_err();
    assert_eq!(
        (d.code(), d.field()),
        ("bad_client_secret", Some(concur::Field::ClientSecret))
    );

    let unknown = Credentials {
        client_id: ClientId::parse("00000000-0000-4000-8000-000000000000").unwrap(),
        ..w.credentials.clone()
    };
    assert_eq!(
        code(w.client.refresh(&base, &unknown, &token).await),
        "bad_client_id"
    );

    w.sim
        .set_client_enabled(w.credentials.client_id.as_str(), false);
    assert_eq!(code(w.refresh().await), "client_disabled");
}

#[tokio::test]
async fn company_not_enabled_grant_not_allowed_and_foreign_tokens_are_diagnosed() {
    let w = world_in("us2").await;
    let id = w.credentials.client_id.as_str().to_owned();
    let (other, _) = w.sim.add_app(DEMO_SCOPES);
    let foreign = w.sim.issue_refresh_token(&w.company, &other);
    assert_eq!(
        code(w.refresh_with(&foreign).await),
        "refresh_token_for_another_client"
    );

    w.sim.disable_app_for_company(&w.company, &id);
    assert_eq!(code(w.refresh().await), "company_not_enabled");

    let limited = concur_sim::ClientSpec {
        id: "11111111-2222-4333-8444-555555555555".into(),
        secret: "s3cret-s3cret".into(),
        grants: vec!["client_credentials".into()],
        scopes: vec![],
        enabled: true,
    };
    w.sim.add_client(limited.clone());
    let creds = Credentials {
        client_id: ClientId::parse(&limited.id).unwrap(),
        client_secret: ClientSecret::parse(&limited.secret).unwrap(),
    };
    let token = RefreshToken::parse(&w.refresh).unwrap();
    assert_eq!(
        code(w.client.refresh(&w.base("us2"), &creds, &token).await),
        "grant_not_allowed"
    );
    let app_token = w
        .client
        .client_credentials(&w.base("us2"), &creds)
        .await
        .unwrap();
    assert!(app_token.refresh_token.is_none());
}

#[tokio::test]
async fn validation_lists_missing_scopes_but_keeps_the_grant() {
    let w = world_in("us2").await;
    let (id, secret) = w.sim.add_app(&["openid", "EXPRPT"]);
    let token = w.sim.issue_refresh_token(&w.company, &id);
    let creds = Credentials {
        client_id: ClientId::parse(&id).unwrap(),
        client_secret: ClientSecret::parse(&secret).unwrap(),
    };
    let auth = Authorization::RefreshToken(RefreshToken::parse(&token).unwrap());
    let checked = w
        .client
        .validate(
            &w.base("us2"),
            &creds,
            &auth,
            &ScopeProfile::MileageToExpense,
        )
        .await
        .unwrap();
    assert!(checked.grant.refresh_token.is_some());
    let d = checked.diagnosis().unwrap();
    assert_eq!(d.code(), "missing_scopes");
    assert!(d.message().contains("identity.user.core.read"));
    assert!(!d.message().contains("EXPRPT,"), "{}", d.message());
}

#[tokio::test]
async fn every_misbehaviour_of_concur_is_a_transient_diagnosis() {
    let mut w = world_in("us2").await;
    w.client = client(&w.sim, Duration::from_millis(500));
    let cases = [
        (Fault::RateLimited { retry_after: 30 }, "rate_limited", true),
        (Fault::ServerError, "concur_unavailable", true),
        (Fault::Unavailable, "concur_unavailable", true),
        (Fault::Maintenance, "concur_unavailable", true),
        (Fault::DropConnection, "network", true),
        (Fault::Html, "unexpected_answer", true),
        (Fault::MalformedJson, "unexpected_answer", true),
        (Fault::MissingFields, "unexpected_answer", true),
        (Fault::Trickle { millis: 100 }, "timeout", true),
        (Fault::Slow { millis: 2_000 }, "timeout", true),
        (
            Fault::HugeBody {
                bytes: 10 * 1024 * 1024,
            },
            "unexpected_answer",
            true,
        ),
    ];
    for (fault, expected, transient) in cases {
        w.sim.inject(fault.clone(), 1);
        let d = w.refresh().await.unwrap_err();
        assert_eq!(
            (d.code(), d.is_transient()),
            (expected, transient),
            "{fault:?}"
        );
        if let Problem::RateLimited {
            retry_after_seconds,
        } = d.problem
        {
            assert_eq!(retry_after_seconds, Some(30));
        }
    }
    assert!(
        w.refresh().await.is_ok(),
        "faults are used up and the token still works"
    );
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let w = world_in("us2").await;
    let impatient = client(&w.sim, Duration::from_millis(300));
    w.sim.inject(Fault::Slow { millis: 2000 }, 1);
    let token = RefreshToken::parse(&w.refresh).unwrap();
    let d = impatient
        .refresh(&w.base("us2"), &w.credentials, &token)
        .await
        .unwrap_err();
    assert_eq!(d.problem, Problem::Timeout);
}

#[tokio::test]
async fn a_refused_connection_is_a_network_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let policy = HostPolicy::parse(&origin).unwrap();
    let client =
        ConcurClient::new(policy, &ClientConfig::default(), Arc::new(SystemClock)).unwrap();
    let creds = Credentials {
        client_id: ClientId::parse("11111111-2222-4333-8444-555555555555").unwrap(),
        client_secret: ClientSecret::parse("secret").unwrap(),
    };
    let d = client
        .client_credentials(&AuthorizationUrl::parse(&origin).unwrap(), &creds)
        .await
        .unwrap_err();
    assert_eq!(d.problem, Problem::Network);
}

#[tokio::test]
async fn hosts_outside_the_policy_never_see_a_request() {
    let w = world_in("us2").await;
    let strict = ConcurClient::new(
        HostPolicy::concur_only(),
        &ClientConfig::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let token = RefreshToken::parse(&w.refresh).unwrap();
    let d = strict
        .refresh(&w.base("us2"), &w.credentials, &token)
        .await
        .unwrap_err();
    assert!(matches!(d.problem, Problem::HostNotAllowed { .. }));
    assert_eq!(w.sim.token_requests(), 0);
}

#[tokio::test]
async fn quirky_answers_are_read_the_same() {
    let w = world_in("us2").await;
    w.sim.set_quirks(Quirks {
        expires_in_as_string: true,
        omit_refresh_expires_in: true,
        sloppy_geolocation: true,
        ..Quirks::default()
    });
    let grant = w.refresh().await.unwrap();
    assert!(grant.access_expires_at.is_some());
    assert_eq!(
        grant.refresh_expires_at, None,
        "missing expiry stays unknown"
    );
    assert_eq!(grant.geolocation.as_str(), w.sim.origin("us2"));
}

#[tokio::test]
async fn the_access_token_reads_users_and_revoke_kills_the_refresh_token() {
    let w = world_in("us2").await;
    let grant = w.refresh().await.unwrap();
    let users = w
        .client
        .count_users(&grant.geolocation, &grant.access_token)
        .await
        .unwrap();
    assert_eq!(users, 3);
    w.client
        .revoke(&grant.geolocation, &grant.access_token)
        .await
        .unwrap();
    assert_eq!(code(w.refresh().await), "refresh_token_invalid");
}

#[tokio::test]
async fn a_stalled_data_centre_times_out_while_the_others_answer() {
    let mut w = world_in("eu2").await;
    w.client = client(&w.sim, Duration::from_millis(300));
    let stalled = reqwest::Client::new()
        .post(format!("{}/_sim/stall", w.sim.origin("eu2")))
        .json(&serde_json::json!({ "millis": 3000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(stalled.status(), 204);
    let token = RefreshToken::parse(&w.refresh).unwrap();
    let d = w
        .client
        .refresh(&w.base("eu2"), &w.credentials, &token)
        .await
        .unwrap_err();
    assert_eq!((d.code(), d.is_transient()), ("timeout", true));
    let other = world_in("us2").await;
    assert!(other.refresh().await.is_ok(), "us2 answers at once");
    w.sim.stall("eu2", 0);
    assert!(
        w.client
            .refresh(&w.base("eu2"), &w.credentials, &token)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn faults_injected_in_one_data_centre_leave_the_others_alone() {
    let w = world_in("us2").await;
    let eu_company = w.sim.add_company("eu2");
    let eu_token = w
        .sim
        .issue_refresh_token(&eu_company, w.credentials.client_id.as_str());
    let injected = reqwest::Client::new()
        .post(format!("{}/_sim/faults", w.sim.origin("eu2")))
        .json(&serde_json::json!({ "fault": { "kind": "server_error" }, "times": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(injected.status(), 204);
    assert!(w.refresh().await.is_ok(), "us2 is not touched");
    let eu = RefreshToken::parse(&eu_token).unwrap();
    for _ in 0..2 {
        let d = w
            .client
            .refresh(&w.base("eu2"), &w.credentials, &eu)
            .await
            .unwrap_err();
        assert_eq!((d.code(), d.is_transient()), ("concur_unavailable", true));
    }
    assert!(
        w.client
            .refresh(&w.base("eu2"), &w.credentials, &eu)
            .await
            .is_ok(),
        "two faults, then eu2 answers again"
    );
    w.sim.inject_in("eu2", Fault::Html, 1);
    assert!(w.refresh().await.is_ok());
    w.sim.set_lasting_fault("us2", Some(Fault::MissingFields));
    for _ in 0..3 {
        assert_eq!(w.refresh().await.unwrap_err().code(), "unexpected_answer");
    }
    w.sim.set_lasting_fault("us2", None);
    assert!(w.refresh().await.is_ok(), "switched off");
}
