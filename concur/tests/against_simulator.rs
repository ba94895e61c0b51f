//! The client against the simulator: every diagnosis, the code-16 retry, rotation, sliding
//! expiry, bounded bodies, timeouts, host refusal and the read-only API probes.

use std::sync::Arc;
use std::time::Duration;

use concur::{
    AccessToken, Authorization, AuthorizationUrl, ClientConfig, ClientId, ClientSecret,
    CompanyUuid, ConcurClient, Credentials, Diagnosis, Failure, Finding, HostPolicy, ProbeReport,
    Problem, RefreshToken, RequestToken, ScopeProfile, SystemClock,
};
use concur_sim::{CompanySwitches, DEMO_SCOPES, Fault, Quirks, REFRESH_LIFETIME, Simulator};

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
    let identity = ["identity.user.core.read".to_owned()];
    let reports = w
        .client
        .probe(
            &grant.geolocation,
            &grant.access_token,
            &identity,
            &grant.scopes,
        )
        .await;
    assert_eq!(findings(&reports), [("identity_users", works("3 users"))]);
    w.client
        .revoke(&grant.geolocation, &grant.access_token)
        .await
        .unwrap();
    assert_eq!(code(w.refresh().await), "refresh_token_invalid");
}

fn works(fact: &str) -> Finding {
    Finding::Works {
        fact: fact.to_owned(),
    }
}

fn findings(reports: &[ProbeReport]) -> Vec<(&str, Finding)> {
    reports
        .iter()
        .map(|r| (r.name.as_str(), r.finding.clone()))
        .collect()
}

/// The probes a profile implies, with a token from a company whose switches are `switches`.
async fn probe_with(profile: ScopeProfile, switches: CompanySwitches) -> Vec<ProbeReport> {
    let w = world_in("us2").await;
    assert!(w.sim.set_company(&w.company, switches));
    let grant = w.refresh().await.unwrap();
    w.client
        .probe(
            &grant.geolocation,
            &grant.access_token,
            &profile.required(),
            &grant.scopes,
        )
        .await
}

fn failure(reports: &[ProbeReport], name: &str) -> Failure {
    match &reports.iter().find(|r| r.name == name).unwrap().finding {
        Finding::Fails(failure) => failure.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn a_healthy_company_answers_every_probe_its_profile_implies() {
    let reports = probe_with(ScopeProfile::MileageToExpense, CompanySwitches::default()).await;
    assert_eq!(
        findings(&reports),
        [
            ("identity_users", works("3 users")),
            ("expense_reports_v3", works("reports readable")),
            (
                "expense_reports_v4",
                works("the first user's reports are readable")
            ),
            (
                "expense_approvals_v4",
                works("2 reports waiting for approval")
            ),
            (
                "expense_config_v3",
                works("configuration readable (“Default expense group”)")
            ),
        ]
    );
    let approvals = probe_with(ScopeProfile::ExpenseApprovals, CompanySwitches::default()).await;
    let names: Vec<&str> = approvals.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "identity_users",
            "expense_reports_v3",
            "expense_reports_v4",
            "expense_approvals_v4",
            "expense.report.workflowstatus.write",
        ],
        "no configuration read for approvals; the write scope is named, not called"
    );
    assert_eq!(approvals[4].ok(), None);
}

#[tokio::test]
async fn expense_not_enabled_fails_the_expense_probes_with_concurs_words_and_the_fix() {
    let off = CompanySwitches {
        expense_enabled: false,
        ..CompanySwitches::default()
    };
    let reports = probe_with(ScopeProfile::MileageToExpense, off).await;
    assert_eq!(reports[0].ok(), Some(true), "Identity still answers");
    for name in [
        "expense_reports_v3",
        "expense_reports_v4",
        "expense_approvals_v4",
        "expense_config_v3",
    ] {
        let f = failure(&reports, name);
        assert_eq!(f.status, Some(403), "{name}");
        assert_eq!(
            f.message, "Concur Expense is not enabled for this company.",
            "{name}"
        );
        assert!(!f.transient);
        assert!(f.correlation_id.is_some());
    }
    assert!(
        failure(&reports, "expense_reports_v3")
            .fix
            .starts_with("Expense is not enabled for this company")
    );
    assert!(
        failure(&reports, "expense_approvals_v4")
            .fix
            .contains("approver role")
    );
}

#[tokio::test]
async fn a_user_who_approves_nothing_and_a_company_without_users_are_told_apart() {
    let no_manager = CompanySwitches {
        manager_role: false,
        ..CompanySwitches::default()
    };
    let reports = probe_with(ScopeProfile::ExpenseApprovals, no_manager).await;
    assert_eq!(
        reports[2].ok(),
        Some(true),
        "the user's own reports are readable"
    );
    let f = failure(&reports, "expense_approvals_v4");
    assert_eq!(f.status, Some(403));
    assert!(
        f.message.contains("not an expense approver"),
        "{}",
        f.message
    );

    let empty = CompanySwitches {
        users: 0,
        ..CompanySwitches::default()
    };
    let reports = probe_with(ScopeProfile::ExpenseApprovals, empty).await;
    assert_eq!(reports[0].finding, works("0 users"));
    assert_eq!(
        reports[2].finding,
        Finding::NotProbed {
            why: "not probed: the company has no users to read with".to_owned()
        }
    );
}

#[tokio::test]
async fn a_scope_not_granted_is_not_probed_and_a_dead_token_is_refused() {
    let sim = Simulator::spawn().await.unwrap();
    let (id, secret) = sim.add_app(&["identity.user.core.read", "CONFIG"]);
    let company = sim.add_company("us2");
    let refresh = sim.issue_refresh_token(&company, &id);
    let client = client(&sim, Duration::from_secs(5));
    let credentials = Credentials {
        client_id: ClientId::parse(&id).unwrap(),
        client_secret: ClientSecret::parse(&secret).unwrap(),
    };
    let base = AuthorizationUrl::parse(&sim.origin("us2")).unwrap();
    let grant = client
        .refresh(&base, &credentials, &RefreshToken::parse(&refresh).unwrap())
        .await
        .unwrap();
    let required = ScopeProfile::MileageToExpense.required();
    let reports = client
        .probe(
            &grant.geolocation,
            &grant.access_token,
            &required,
            &grant.scopes,
        )
        .await;
    let v3 = reports
        .iter()
        .find(|r| r.name == "expense_reports_v3")
        .unwrap();
    assert!(matches!(&v3.finding, Finding::NotProbed { why } if why.contains("not granted")));
    assert_eq!(
        reports
            .iter()
            .find(|r| r.name == "expense_config_v3")
            .unwrap()
            .ok(),
        Some(true)
    );
    let dead = AccessToken::from_stored("not-a-token".to_owned());
    let reports = client
        .probe(&grant.geolocation, &dead, &required, &grant.scopes)
        .await;
    let f = failure(&reports, "identity_users");
    assert_eq!(f.status, Some(401));
    assert!(f.fix.starts_with("Concur refused the access token"));
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
