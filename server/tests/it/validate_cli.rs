//! `concur-console validate` as a process, against the simulator.

use std::process::{Command, Output};

use concur_sim::{DEMO_SCOPES, Fault, Quirks, Simulator};

struct Case {
    sim: Simulator,
    client_id: String,
    secret: String,
    company: String,
    refresh: String,
}

async fn case() -> Case {
    let sim = Simulator::spawn().await.unwrap();
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let refresh = sim.issue_refresh_token(&company, &client_id);
    Case {
        sim,
        client_id,
        secret,
        company,
        refresh,
    }
}

impl Case {
    async fn run(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_concur-console"));
        cmd.arg("validate")
            .args([
                "--authorization-url",
                &self.sim.origin("us2"),
                "--client-id",
                &self.client_id,
            ])
            .args(extra)
            .env_clear()
            .env("CONCUR_ALLOWED_HOSTS", self.sim.allowed_hosts())
            .env("CONCUR_CLIENT_SECRET", &self.secret);
        for (k, v) in env {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    async fn json(&self, extra: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args, env).await;
        let stdout = String::from_utf8(out.stdout).unwrap();
        let value = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
        (
            out.status.code().unwrap(),
            value,
            String::from_utf8(out.stderr).unwrap(),
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_credentials_exit_0_with_the_expiry_in_json() {
    let c = case().await;
    let (code, r, _) = c
        .json(
            &["--scope-profile", "expense-approvals"],
            &[("CONCUR_REFRESH_TOKEN", &c.refresh)],
        )
        .await;
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["ok"], true);
    assert_eq!(r["geolocation"], c.sim.origin("us2"));
    assert_eq!(r["company_uuid"], c.company);
    assert!(
        r["refresh_token_expires_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(r["scopes_missing"], serde_json::json!([]));
    assert!(
        !r.to_string().contains(&c.refresh),
        "no token in the report"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_json_carries_a_line_per_probe_the_profile_implies() {
    let c = case().await;
    let (code, r, _) = c
        .json(
            &["--scope-profile", "mileage-to-expense"],
            &[("CONCUR_REFRESH_TOKEN", &c.refresh)],
        )
        .await;
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["degraded"], false);
    let probes = r["probes"].as_array().unwrap();
    let names: Vec<&str> = probes
        .iter()
        .map(|p| p["probe"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "identity_users",
            "expense_reports_v3",
            "expense_reports_v4",
            "expense_approvals_v4",
            "expense_config_v3"
        ]
    );
    assert!(probes.iter().all(|p| p["ok"] == true), "{r}");
    assert_eq!(probes[0]["detail"], "3 users");
    assert!(probes[0]["checked_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_probe_exits_1_with_concurs_words_and_the_fix() {
    let c = case().await;
    let off = concur_sim::CompanySwitches {
        expense_enabled: false,
        ..Default::default()
    };
    assert!(c.sim.set_company(&c.company, off));
    let (code, r, _) = c
        .json(
            &["--scope-profile", "mileage-to-expense"],
            &[("CONCUR_REFRESH_TOKEN", &c.refresh)],
        )
        .await;
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["ok"], true, "the credentials themselves work");
    assert_eq!(r["degraded"], true);
    let v3 = &r["probes"][1];
    assert_eq!(v3["probe"], "expense_reports_v3");
    assert_eq!(v3["ok"], false);
    assert_eq!(v3["status"], 403);
    assert_eq!(
        v3["detail"],
        "Concur Expense is not enabled for this company."
    );
    assert!(
        v3["fix"]
            .as_str()
            .unwrap()
            .contains("ask your Concur admin")
    );
    let out = c
        .run(
            &["--scope-profile", "mileage-to-expense"],
            &[("CONCUR_REFRESH_TOKEN", &c.refresh)],
        )
        .await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("✔ identity_users: 3 users"), "{text}");
    assert!(
        text.contains(
            "✘ expense_reports_v3: HTTP 403: Concur Expense is not enabled for this company."
        ),
        "{text}"
    );
    assert!(text.contains("Fix: Expense is not enabled"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_refresh_token_exits_1_with_plain_words() {
    let c = case().await;
    c.sim.revoke(&c.company, &c.client_id);
    let out = c.run(&[], &[("CONCUR_REFRESH_TOKEN", &c.refresh)]).await;
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("The Refresh Token has expired, was revoked, or was mistyped."),
        "{text}"
    );
    assert!(text.contains("Concur code: 108"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_exit_1_and_are_listed() {
    let c = case().await;
    let (code, r, _) = c
        .json(
            &["--required-scopes", "EXPRPT travel.itinerary.read"],
            &[("CONCUR_REFRESH_TOKEN", &c.refresh)],
        )
        .await;
    assert_eq!(code, 1);
    assert_eq!(r["diagnosis"], "missing_scopes");
    assert_eq!(
        r["scopes_missing"],
        serde_json::json!(["travel.itinerary.read"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concur_being_down_exits_3() {
    let c = case().await;
    c.sim.inject(Fault::Unavailable, 1);
    let (code, r, _) = c.json(&[], &[("CONCUR_REFRESH_TOKEN", &c.refresh)]).await;
    assert_eq!(
        (code, r["diagnosis"].as_str()),
        (3, Some("concur_unavailable"))
    );
    assert_eq!(r["transient"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2_before_any_call() {
    let c = case().await;
    let out = c.run(&[], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("CONCUR_REFRESH_TOKEN")
    );
    let out = c
        .run(
            &["--client-secret", "x"],
            &[("CONCUR_REFRESH_TOKEN", &c.refresh)],
        )
        .await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "secrets are not accepted on the command line"
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_concur-console"));
    let out = cmd
        .args([
            "validate",
            "--authorization-url",
            "https://10.0.0.8",
            "--client-id",
            &c.client_id,
        ])
        .env_clear()
        .env("CONCUR_CLIENT_SECRET", &c.secret)
        .env("CONCUR_REFRESH_TOKEN", &c.refresh)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("not a Concur data centre")
    );
    assert_eq!(c.sim.token_requests(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_refresh_token_is_never_lost() {
    let c = case().await;
    c.sim.set_quirks(Quirks {
        rotate_refresh_tokens: true,
        ..Quirks::default()
    });
    let (code, _, stderr) = c.json(&[], &[("CONCUR_REFRESH_TOKEN", &c.refresh)]).await;
    assert_eq!(code, 0);
    let new = stderr.lines().last().unwrap().trim().to_owned();
    assert!(stderr.contains("WARNING: Concur issued a new refresh token"));
    assert!(
        c.sim.refresh_token_expiry(&new).is_some(),
        "the printed token is the live one"
    );

    let dir = std::env::temp_dir().join(format!("cc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    let path = file.to_str().unwrap();
    let (code, _, _) = c
        .json(
            &["--write-refresh-token", path],
            &[("CONCUR_REFRESH_TOKEN", &new)],
        )
        .await;
    assert_eq!(code, 0);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(c.sim.refresh_token_expiry(written.trim()).is_some());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_company_request_token_is_exchanged_and_the_refresh_token_kept() {
    let c = case().await;
    let request = c.sim.mint_request_token(&c.company, &c.client_id);
    let (code, r, stderr) = c
        .json(
            &[],
            &[
                ("CONCUR_COMPANY_UUID", &c.company),
                ("CONCUR_REQUEST_TOKEN", &request),
            ],
        )
        .await;
    assert_eq!(code, 0, "{r} {stderr}");
    assert!(stderr.contains("new refresh token"));
    let (code, r, _) = c
        .json(
            &[],
            &[
                ("CONCUR_COMPANY_UUID", &c.company),
                ("CONCUR_REQUEST_TOKEN", &request),
            ],
        )
        .await;
    assert_eq!(
        (code, r["diagnosis"].as_str()),
        (1, Some("request_token_rejected"))
    );
}
