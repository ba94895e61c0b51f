//! The simulator answers as SAP's Authentication docs and tutorials show: one test per shape of
//! request and answer they give (success bodies per grant, the error body and its codes, the
//! Identity v4 list read through a trailing slash), plus a JSON body with a correlation id for
//! every refusal, an unknown path included.

use concur_sim::{DEMO_SCOPES, Simulator};
use serde_json::Value;

struct Sim {
    sim: Simulator,
    token_url: String,
    client_id: String,
    secret: String,
    company: String,
}

async fn sim() -> Sim {
    let sim = Simulator::spawn().await.unwrap();
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let token_url = format!("{}/oauth2/v0/token", sim.origin("us2"));
    Sim {
        sim,
        token_url,
        client_id,
        secret,
        company,
    }
}

struct Answer {
    status: u16,
    correlation: Option<String>,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let correlation = response
        .headers()
        .get("concur-correlationid")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    Answer {
        status,
        correlation,
        body,
    }
}

impl Sim {
    async fn post(&self, url: &str, form: &[(&str, &str)]) -> Answer {
        answer(
            reqwest::Client::new()
                .post(url)
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.post(&self.token_url, form).await
    }

    fn credentials<'a>(&'a self, grant: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.as_str()),
            ("grant_type", grant),
        ]
    }

    async fn access_token(&self) -> String {
        let refresh = self.sim.issue_refresh_token(&self.company, &self.client_id);
        let mut form = self.credentials("refresh_token");
        form.push(("refresh_token", &refresh));
        self.token(&form).await.body["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> Answer {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.sim.origin("us2")));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.unwrap()).await
    }
}

fn keys(body: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Concur's 4xx body: `error`, `error_description`, a numeric `code`, and the correlation id in
/// the header and the body.
fn assert_refusal(a: &Answer, status: u16, error: &str, code: i64) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"], error, "{}", a.body);
    assert_eq!(a.body["code"], code, "{}", a.body);
    assert!(
        a.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let id = a.correlation.as_deref().unwrap();
    assert_eq!(a.body["concur-correlationid"], id);
}

/// The claims of a JWT, decoded without checking the signature.
fn claims(jwt: &str) -> Value {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let payload = jwt.split('.').nth(1).unwrap();
    let (mut bits, mut count, mut bytes) = (0u32, 0, Vec::new());
    for c in payload.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_refresh_grant_answers_with_the_documented_fields() {
    let s = sim().await;
    let refresh = s.sim.issue_refresh_token(&s.company, &s.client_id);
    let mut form = s.credentials("refresh_token");
    form.push(("refresh_token", &refresh));
    let a = s.token(&form).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        keys(&a.body),
        [
            "access_token",
            "expires_in",
            "geolocation",
            "id_token",
            "refresh_expires_in",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["geolocation"], s.sim.origin("us2"));
    assert!(a.correlation.is_some());
}

#[tokio::test]
async fn a_company_request_token_is_exchanged_with_the_password_grant_and_credtype_authtoken() {
    let s = sim().await;
    let request_token = s.sim.mint_request_token(&s.company, &s.client_id);
    let mut form = s.credentials("password");
    form.extend([
        ("username", s.company.as_str()),
        ("password", request_token.as_str()),
        ("credtype", "authtoken"),
    ]);
    let a = s.token(&form).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["refresh_token"].as_str().is_some());
    let id_token = claims(a.body["id_token"].as_str().unwrap());
    assert_eq!(
        id_token["sub"],
        s.company.as_str(),
        "the id_token names the company"
    );

    let again = s.token(&form).await;
    assert_refusal(&again, 400, "invalid_grant", 5);
    assert_eq!(
        again.body["error_description"],
        "Incorrect Credentials. Please Retry"
    );
}

#[tokio::test]
async fn client_credentials_answer_without_refresh_or_id_token() {
    let s = sim().await;
    let a = s.token(&s.credentials("client_credentials")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        keys(&a.body),
        [
            "access_token",
            "expires_in",
            "geolocation",
            "scope",
            "token_type"
        ]
    );
}

#[tokio::test]
async fn missing_fields_get_the_codes_of_the_documented_table() {
    let s = sim().await;
    let no_id = [("client_secret", "x"), ("grant_type", "refresh_token")];
    assert_refusal(&s.token(&no_id).await, 400, "invalid_request", 62);
    let no_secret = [("client_id", "x"), ("grant_type", "refresh_token")];
    assert_refusal(&s.token(&no_secret).await, 400, "invalid_request", 63);
    let no_grant = [
        ("client_id", s.client_id.as_str()),
        ("client_secret", s.secret.as_str()),
    ];
    assert_refusal(&s.token(&no_grant).await, 400, "invalid_request", 65);
    let no_refresh = s.credentials("refresh_token");
    assert_refusal(&s.token(&no_refresh).await, 400, "invalid_request", 106);
    let mut password = s.credentials("password");
    password.push(("credtype", "authtoken"));
    assert_refusal(&s.token(&password).await, 400, "invalid_request", 51);
    password.push(("username", s.company.as_str()));
    assert_refusal(&s.token(&password).await, 400, "invalid_request", 52);
}

#[tokio::test]
async fn credtype_must_be_authtoken_for_a_company_request_token() {
    let s = sim().await;
    let request_token = s.sim.mint_request_token(&s.company, &s.client_id);
    let mut base = s.credentials("password");
    base.extend([
        ("username", s.company.as_str()),
        ("password", request_token.as_str()),
    ]);
    assert_refusal(&s.token(&base).await, 400, "invalid_grant", 5);
    let mut odd = base.clone();
    odd.push(("credtype", "smartcard"));
    assert_refusal(&s.token(&odd).await, 400, "invalid_request", 120);
    let mut right = base;
    right.push(("credtype", "authtoken"));
    assert_eq!(
        s.token(&right).await.status,
        200,
        "the refusals did not use the request token up"
    );
}

#[tokio::test]
async fn client_refusals_follow_the_table() {
    let s = sim().await;
    let unknown = [
        ("client_id", "00000000-0000-4000-8000-000000000000"),
        ("client_secret", "x"),
        ("grant_type", "refresh_token"),
    ];
    assert_refusal(&s.token(&unknown).await, 401, "invalid_client", 61);
    let wrong_secret = [
        ("client_id", s.client_id.as_str()),
        ("client_secret", "wrong"),
        ("grant_type", "refresh_token"),
    ];
    assert_refusal(&s.token(&wrong_secret).await, 401, "invalid_client", 64);
    let mut dead = s.credentials("refresh_token");
    dead.push(("refresh_token", "0c4a6e2b-dead-4bee-8f00-000000000108"));
    assert_refusal(&s.token(&dead).await, 400, "invalid_grant", 108);
    let other_grant = s.credentials("authorization_code");
    assert_refusal(&s.token(&other_grant).await, 400, "invalid_grant", 60);
}

#[tokio::test]
async fn a_token_request_that_is_not_form_encoded_is_an_unsupported_format() {
    let s = sim().await;
    let response = reqwest::Client::new()
        .post(&s.token_url)
        .json(&serde_json::json!({"client_id": s.client_id, "grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_refusal(&answer(response).await, 400, "invalid_request", 135);
}

#[tokio::test]
async fn the_tutorials_users_read_works_with_a_trailing_slash_and_pages() {
    let s = sim().await;
    let token = s.access_token().await;
    for path in ["/profile/identity/v4/Users/", "/profile/identity/v4/Users"] {
        let a = s.get(path, Some(&token)).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(
            a.body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:ListResponse"
        );
        assert_eq!(a.body["totalResults"], 3);
        assert_eq!(a.body["startIndex"], 1);
        assert_eq!(a.body["Resources"].as_array().unwrap().len(), 3);
    }
    let page = s
        .get(
            "/profile/identity/v4/Users?count=1&startIndex=2",
            Some(&token),
        )
        .await;
    assert_eq!(page.body["itemsPerPage"], 1);
    let id = page.body["Resources"][0]["id"].as_str().unwrap();
    let one = s
        .get(&format!("/profile/identity/v4/Users/{id}"), Some(&token))
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["id"], id);
    let refresh = s.sim.issue_refresh_token(&s.company, &s.client_id);
    let mut form = s.credentials("refresh_token");
    form.push(("refresh_token", &refresh));
    let slashed = s.post(&format!("{}/", s.token_url), &form).await;
    assert_eq!(
        slashed.status, 200,
        "the token path takes a trailing slash too"
    );
}

#[tokio::test]
async fn every_refusal_is_json_with_a_correlation_id_an_unknown_path_included() {
    let s = sim().await;
    let unknown = s.get("/no/such/api", None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body["error"], "not_found");
    assert_eq!(
        unknown.body["concur-correlationid"],
        unknown.correlation.clone().unwrap().as_str()
    );
    let wrong_method = s.get("/oauth2/v0/token", None).await;
    assert_eq!(wrong_method.status, 405);
    assert!(wrong_method.correlation.is_some());
    let anonymous = s.get("/profile/identity/v4/Users/", None).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body["status"], "401");
    assert!(anonymous.body["detail"].as_str().is_some());
    assert!(anonymous.correlation.is_some());
    let revoke = answer(
        reqwest::Client::new()
            .delete(format!("{}/app-mgmt/v0/connections", s.sim.origin("us2")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(revoke.status, 401);
    assert!(revoke.correlation.is_some());
}

/// Switches `company` over HTTP, as a vendor trying their integration would.
async fn switch_company(s: &Sim, company: &str, switches: Value) -> u16 {
    reqwest::Client::new()
        .put(format!("{}/_sim/companies/{company}", s.sim.origin("us2")))
        .json(&switches)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn switch(s: &Sim, switches: Value) -> u16 {
    switch_company(s, &s.company, switches).await
}

/// A user's list in Expense Reports v4: `reports` in context TRAVELER, `reportsToApprove` in
/// MANAGER.
fn v4_list(user: &str, context: &str, list: &str) -> String {
    format!("/expensereports/v4/users/{user}/context/{context}/{list}")
}

async fn first_user(s: &Sim, token: &str) -> String {
    let users = s
        .get("/profile/identity/v4/Users?count=1", Some(token))
        .await;
    users.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn expense_v3_lists_answer_with_items_and_next_page() {
    let s = sim().await;
    let token = s.access_token().await;
    let first = s
        .get("/api/v3.0/expense/reports?limit=1&user=ALL", Some(&token))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(keys(&first.body), ["Items", "NextPage"]);
    assert_eq!(first.body["Items"].as_array().unwrap().len(), 1);
    assert!(first.body["Items"][0]["ID"].is_string());
    assert!(first.body["Items"][0]["ApprovalStatusCode"].is_string());
    let next = first.body["NextPage"].as_str().unwrap();
    let rest = s.get(next, Some(&token)).await;
    assert_eq!(rest.status, 200);
    assert_ne!(rest.body["Items"][0]["ID"], first.body["Items"][0]["ID"]);
    let configs = s
        .get(
            "/api/v3.0/expense/expensegroupconfigurations?limit=1",
            Some(&token),
        )
        .await;
    assert_eq!(configs.status, 200);
    assert!(configs.body["Items"][0]["Policies"].is_array());
    assert!(configs.body["NextPage"].is_null());
}

#[tokio::test]
async fn expense_v4_lists_a_users_reports_and_an_approvers_queue() {
    let s = sim().await;
    let token = s.access_token().await;
    let user = first_user(&s, &token).await;
    let own = s
        .get(&v4_list(&user, "TRAVELER", "reports"), Some(&token))
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(own.body[0]["reportId"].is_string());
    let queue = s
        .get(&v4_list(&user, "MANAGER", "reportsToApprove"), Some(&token))
        .await;
    assert_eq!(queue.status, 200, "{}", queue.body);
    assert_eq!(
        queue.body.as_array().unwrap().len(),
        2,
        "the other two users' reports"
    );
    assert!(queue.body[0]["employee"]["employeeUuid"].is_string());
    let stranger = s
        .get(
            &v4_list(
                "00000000-0000-4000-8000-000000000099",
                "TRAVELER",
                "reports",
            ),
            Some(&token),
        )
        .await;
    assert_eq!(stranger.status, 404);
}

/// Each API refuses in its own shape: SCIM for Identity, `Message` for Expense v3, the v4
/// `ErrorMessage` schema for Expense Reports v4.
#[tokio::test]
async fn switches_refuse_in_each_apis_own_error_shape() {
    let s = sim().await;
    let token = s.access_token().await;
    let user = first_user(&s, &token).await;
    assert_eq!(
        switch(&s, serde_json::json!({"expense_enabled": false})).await,
        204
    );
    let v3 = s.get("/api/v3.0/expense/reports", Some(&token)).await;
    assert_eq!(v3.status, 403);
    assert_eq!(
        v3.body["Message"],
        "Concur Expense is not enabled for this company."
    );
    let v4 = s
        .get(&v4_list(&user, "TRAVELER", "reports"), Some(&token))
        .await;
    assert_eq!(v4.status, 403);
    assert_eq!(
        keys(&v4.body),
        ["errorId", "errorMessage", "httpStatus", "path", "timestamp"]
    );
    assert_eq!(v4.body["httpStatus"], "403 Forbidden");
    assert!(v4.correlation.is_some());
    let identity = s.get("/profile/identity/v4/Users", Some(&token)).await;
    assert_eq!(identity.status, 200, "Identity does not need Expense");

    assert_eq!(
        switch(&s, serde_json::json!({"manager_role": false, "users": 2})).await,
        204
    );
    let queue = s
        .get(&v4_list(&user, "MANAGER", "reportsToApprove"), Some(&token))
        .await;
    assert_eq!(queue.status, 403);
    assert!(
        queue.body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not an expense approver")
    );
    let users = s.get("/profile/identity/v4/Users", Some(&token)).await;
    assert_eq!(users.body["totalResults"], 2);

    assert_eq!(switch(&s, serde_json::json!({"users": 0})).await, 204);
    let empty = s.get("/profile/identity/v4/Users", Some(&token)).await;
    assert_eq!(empty.body["totalResults"], 0);
    assert_eq!(empty.body["Resources"], serde_json::json!([]));

    let anonymous = s.get("/api/v3.0/expense/reports", None).await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.body["Message"].is_string());
    let unknown = switch_company(&s, "no-such-company", serde_json::json!({})).await;
    assert_eq!(unknown, 404);
}

#[tokio::test]
async fn a_token_without_the_scope_is_refused_by_each_expense_api() {
    let s = sim().await;
    let (client_id, secret) = s.sim.add_app(&["identity.user.core.read"]);
    let refresh = s.sim.issue_refresh_token(&s.company, &client_id);
    let form = [
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let token = s.token(&form).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let v3 = s.get("/api/v3.0/expense/reports", Some(&token)).await;
    assert_eq!(v3.status, 403);
    assert_eq!(
        v3.body["Message"],
        "The access token does not grant the EXPRPT scope."
    );
    let config = s
        .get("/api/v3.0/expense/expensegroupconfigurations", Some(&token))
        .await;
    assert_eq!(config.status, 403);
    let user = first_user(&s, &token).await;
    let v4 = s
        .get(&v4_list(&user, "TRAVELER", "reports"), Some(&token))
        .await;
    assert_eq!(v4.status, 403);
    assert!(
        v4.body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("expense.report.read")
    );
}

#[tokio::test]
async fn a_stall_holds_back_an_answer_already_decided() {
    let s = sim().await;
    s.sim.set_quirks(concur_sim::Quirks {
        rotate_refresh_tokens: true,
        ..Default::default()
    });
    let refresh = s.sim.issue_refresh_token(&s.company, &s.client_id);
    s.sim.stall("us2", 10_000);
    let mut form = s.credentials("refresh_token");
    form.push(("refresh_token", &refresh));
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let gave_up = impatient.post(&s.token_url).form(&form).send().await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    let held: Value = reqwest::get(format!("{}/_sim/stall", s.sim.origin("us2")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held["held"], 1);
    assert_eq!(
        s.sim.refresh_token_expiry(&refresh),
        None,
        "the token was rotated out while its answer was held back"
    );
}
