//! The simulated Concur: clients, companies, tokens and a movable clock, and the token
//! endpoint's decisions. Pure logic over this state; HTTP lives in `routes`.

use std::collections::{HashMap, HashSet, VecDeque};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const ACCESS_LIFETIME: i64 = 3600;
pub const REFRESH_LIFETIME: i64 = 180 * 24 * 3600;
pub const REQUEST_TOKEN_LIFETIME: i64 = 24 * 3600;
/// The data centre where any company's request token may be exchanged.
pub const LANDING_ZONE: &str = "glz";

/// An app registered with Concur.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientSpec {
    pub id: String,
    pub secret: String,
    /// `refresh_token`, `password`, `client_credentials`.
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    pub enabled: bool,
}

/// Answer variants the docs disagree on, switchable so the client's tolerance is tested.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Quirks {
    pub expires_in_as_string: bool,
    pub omit_refresh_expires_in: bool,
    /// Geolocation in upper case with the token path appended, as one doc example shows.
    pub sloppy_geolocation: bool,
    /// Each refresh returns a new refresh token; the old one then fails with 108.
    pub rotate_refresh_tokens: bool,
    /// How often a request token can be used (0 means once).
    pub request_token_uses: u32,
    /// Seconds an access token lives, when not the usual hour (a Concur tenant that issues
    /// short-lived ones).
    pub access_lifetime: Option<i64>,
}

/// A failure to inject into the next token requests.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    RateLimited {
        retry_after: u64,
    },
    ServerError,
    Unavailable,
    Maintenance,
    Slow {
        millis: u64,
    },
    Html,
    MalformedJson,
    DropConnection,
    HugeBody {
        bytes: usize,
    },
    /// A 200 token answer without `access_token` or `expires_in`.
    MissingFields,
    /// A token answer that trickles in, one byte every `millis`.
    Trickle {
        millis: u64,
    },
}

/// What a company has beyond its tokens, switchable to reproduce what breaks integrations whose
/// token works: Expense not enabled, no users, a user who approves nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CompanySwitches {
    /// Concur Expense is enabled for the company; off, the Expense APIs answer 403.
    pub expense_enabled: bool,
    /// How many users Identity v4 lists.
    pub users: usize,
    /// The first listed user approves the others' reports; off, the approvals list answers 403.
    pub manager_role: bool,
}

impl Default for CompanySwitches {
    fn default() -> Self {
        Self {
            expense_enabled: true,
            users: 3,
            manager_role: true,
        }
    }
}

#[derive(Debug, Clone)]
struct Company {
    data_center: String,
    apps_not_enabled: HashSet<String>,
    switches: CompanySwitches,
}

#[derive(Debug, Clone)]
struct RequestTokenRecord {
    company: String,
    client_id: String,
    expires_at: i64,
    uses_left: u32,
}

#[derive(Debug, Clone)]
struct RefreshRecord {
    company: String,
    client_id: String,
    expires_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessRecord {
    pub company: Option<String>,
    pub client_id: String,
    pub expires_at: i64,
    pub scopes: Vec<String>,
}

/// Credentials seeded for a demo, a test or a quick manual try.
#[derive(Debug, Clone, Serialize)]
pub struct Seed {
    pub authorization_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub company_uuid: String,
    pub refresh_token: String,
    pub request_token: String,
}

impl std::fmt::Display for Seed {
    /// The credentials as an admin would paste them, one per line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "  Authorization URL      {}", self.authorization_url)?;
        writeln!(f, "  Client ID              {}", self.client_id)?;
        writeln!(f, "  Client Secret          {}", self.client_secret)?;
        writeln!(f, "  Refresh Token          {}", self.refresh_token)?;
        writeln!(f, "  Company UUID           {}", self.company_uuid)?;
        write!(f, "  Company Request Token  {}", self.request_token)
    }
}

/// What the token endpoint answers, before HTTP.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub data_centers: Vec<(String, String)>,
    clients: HashMap<String, ClientSpec>,
    companies: HashMap<String, Company>,
    request_tokens: HashMap<String, RequestTokenRecord>,
    refresh_tokens: HashMap<String, RefreshRecord>,
    pub access_tokens: HashMap<String, AccessRecord>,
    pub quirks: Quirks,
    /// Faults for the next token requests to any data centre (`Simulator::inject`)…
    pub faults: VecDeque<Fault>,
    /// …and for the next ones to one data centre (`POST /_sim/faults` on its origin), used first.
    pub faults_in: HashMap<String, VecDeque<Fault>>,
    /// A fault a data centre answers with on every token request until switched off.
    pub lasting: HashMap<String, Fault>,
    /// Data centres whose token endpoint answers only after this many milliseconds (a stuck
    /// data centre, while the others answer at once).
    pub stalls: HashMap<String, u64>,
    /// How many answers a stall has held back so far (each decided, its grant already made).
    pub held: u64,
    pub clock_offset: i64,
    pub token_requests: u64,
    correlation_counter: u64,
}

pub(crate) fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn random_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn jwt(claims: Value) -> String {
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        enc(&json!({"alg": "RS256", "typ": "JWT"})),
        enc(&claims),
        uuid::Uuid::new_v4().simple()
    )
}

impl State {
    pub fn now(&self) -> i64 {
        system_now() + self.clock_offset
    }

    pub fn origin(&self, data_center: &str) -> Option<&str> {
        self.data_centers
            .iter()
            .find(|(name, _)| name == data_center)
            .map(|(_, origin)| origin.as_str())
    }

    pub fn next_correlation_id(&mut self) -> String {
        self.correlation_counter += 1;
        format!(
            "sim-{:08x}-{}",
            self.correlation_counter,
            uuid::Uuid::new_v4().simple()
        )
    }

    pub fn add_client(&mut self, spec: ClientSpec) {
        self.clients.insert(spec.id.to_ascii_lowercase(), spec);
    }

    /// An app allowed every grant and registered with `scopes`; returns (id, secret).
    pub fn add_app(&mut self, scopes: Vec<String>) -> (String, String) {
        let spec = ClientSpec {
            id: uuid::Uuid::new_v4().to_string(),
            secret: uuid::Uuid::new_v4().to_string(),
            grants: ["refresh_token", "password", "client_credentials"]
                .map(String::from)
                .to_vec(),
            scopes,
            enabled: true,
        };
        let ids = (spec.id.clone(), spec.secret.clone());
        self.add_client(spec);
        ids
    }

    /// A new app and a company in `data_center`, with a refresh token and a request token.
    pub fn seed(&mut self, data_center: &str, scopes: Vec<String>) -> Option<Seed> {
        let authorization_url = self.origin(data_center)?.to_owned();
        let (client_id, client_secret) = self.add_app(scopes);
        let company_uuid = self.add_company(data_center);
        Some(Seed {
            authorization_url,
            refresh_token: self.issue_refresh_token(&company_uuid, &client_id),
            request_token: self.mint_request_token(&company_uuid, &client_id),
            client_id,
            client_secret,
            company_uuid,
        })
    }

    pub fn set_client_enabled(&mut self, client_id: &str, enabled: bool) {
        if let Some(c) = self.clients.get_mut(client_id) {
            c.enabled = enabled;
        }
    }

    pub fn add_company(&mut self, data_center: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        self.companies.insert(
            id.clone(),
            Company {
                data_center: data_center.to_owned(),
                apps_not_enabled: HashSet::new(),
                switches: CompanySwitches::default(),
            },
        );
        id
    }

    /// A company's switches, if it exists.
    pub fn switches(&self, company: &str) -> Option<CompanySwitches> {
        self.companies.get(company).map(|c| c.switches.clone())
    }

    /// Sets a company's switches; false if there is no such company.
    pub fn set_switches(&mut self, company: &str, switches: CompanySwitches) -> bool {
        match self.companies.get_mut(company) {
            Some(c) => {
                c.switches = switches;
                true
            }
            None => false,
        }
    }

    pub fn disable_app(&mut self, company: &str, client_id: &str) {
        if let Some(c) = self.companies.get_mut(company) {
            c.apps_not_enabled.insert(client_id.to_owned());
        }
    }

    pub fn mint_request_token(&mut self, company: &str, client_id: &str) -> String {
        let token = format!("at-{}", &uuid::Uuid::new_v4().simple().to_string()[..30]);
        let uses_left = self.quirks.request_token_uses.max(1);
        self.request_tokens.insert(
            token.clone(),
            RequestTokenRecord {
                company: company.to_owned(),
                client_id: client_id.to_owned(),
                expires_at: self.now() + REQUEST_TOKEN_LIFETIME,
                uses_left,
            },
        );
        token
    }

    pub fn issue_refresh_token(&mut self, company: &str, client_id: &str) -> String {
        let token = random_token();
        self.refresh_tokens.insert(
            token.clone(),
            RefreshRecord {
                company: company.to_owned(),
                client_id: client_id.to_owned(),
                expires_at: self.now() + REFRESH_LIFETIME,
            },
        );
        token
    }

    pub fn refresh_token_expiry(&self, token: &str) -> Option<i64> {
        self.refresh_tokens.get(token).map(|r| r.expires_at)
    }

    /// Removes every refresh token of this app for this company.
    pub fn revoke(&mut self, company: &str, client_id: &str) {
        self.refresh_tokens
            .retain(|_, r| !(r.company == company && r.client_id == client_id));
    }

    /// The token endpoint's decision for a form posted to `data_center`.
    /// The token endpoint, with the codes and descriptions of Concur's documented table.
    pub fn token(&mut self, data_center: &str, form: &HashMap<String, String>) -> Reply {
        self.token_requests += 1;
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
        let client_id = field("client_id").to_ascii_lowercase();
        if client_id.is_empty() {
            return error(400, "invalid_request", 62, "client_id was not supplied");
        }
        if field("client_secret").is_empty() {
            return error(400, "invalid_request", 63, "client_secret was not supplied");
        }
        let Some(client) = self.clients.get(&client_id).cloned() else {
            return error(401, "invalid_client", 61, "client not found");
        };
        if client.secret != field("client_secret") {
            return error(401, "invalid_client", 64, INCORRECT_CREDENTIALS);
        }
        if !client.enabled {
            return error(401, "access_denied", 59, "client disabled");
        }
        let grant = field("grant_type");
        if grant.is_empty() {
            return error(400, "invalid_request", 65, "grant_type was not supplied");
        }
        if !client.grants.iter().any(|g| g == grant) {
            return error(
                400,
                "invalid_grant",
                60,
                "these are not the grants you are looking for",
            );
        }
        match grant {
            "refresh_token" => self.refresh_grant(data_center, &client, field("refresh_token")),
            "password" => self.password_grant(data_center, &client, form),
            "client_credentials" => {
                let origin = self.origin(data_center).unwrap_or_default().to_owned();
                self.success(&client, None, None, &origin)
            }
            _ => error(
                400,
                "invalid_grant",
                60,
                "these are not the grants you are looking for",
            ),
        }
    }

    fn refresh_grant(&mut self, data_center: &str, client: &ClientSpec, token: &str) -> Reply {
        if token.is_empty() {
            return error(
                400,
                "invalid_request",
                106,
                "refresh_token was not supplied",
            );
        }
        let now = self.now();
        let Some(record) = self.refresh_tokens.get(token).cloned() else {
            return error(400, "invalid_grant", 108, "bad or expired refresh token");
        };
        if record.expires_at <= now {
            self.refresh_tokens.remove(token);
            return error(400, "invalid_grant", 108, "bad or expired refresh token");
        }
        if record.client_id != client.id {
            return error(
                400,
                "invalid_grant",
                105,
                "this grant was not issued to you!",
            );
        }
        let origin = match self.company_origin(data_center, &record.company, &client.id) {
            Ok(origin) => origin,
            Err(reply) => return reply,
        };
        let current = if self.quirks.rotate_refresh_tokens {
            self.refresh_tokens.remove(token);
            random_token()
        } else {
            token.to_owned()
        };
        self.refresh_tokens.insert(
            current.clone(),
            RefreshRecord {
                expires_at: now + REFRESH_LIFETIME,
                ..record.clone()
            },
        );
        self.success(client, Some(&record.company), Some(current), &origin)
    }

    fn password_grant(
        &mut self,
        data_center: &str,
        client: &ClientSpec,
        form: &HashMap<String, String>,
    ) -> Reply {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
        let (company, token) = (field("username").to_ascii_lowercase(), field("password"));
        if company.is_empty() {
            return error(400, "invalid_request", 51, "username was not supplied");
        }
        if token.is_empty() {
            return error(400, "invalid_request", 52, "password was not supplied");
        }
        match field("credtype") {
            "authtoken" => {}
            // Without credtype Concur takes the pair for a user's login and password; the
            // simulator has no users, so that login fails as a wrong password would.
            "" | "password" => return error(400, "invalid_grant", 5, INCORRECT_CREDENTIALS),
            _ => return error(400, "invalid_request", 120, "credtype is invalid"),
        }
        let now = self.now();
        let usable = self
            .request_tokens
            .get(token)
            .filter(|r| r.company == company && r.expires_at > now && r.uses_left > 0)
            .cloned();
        let Some(record) = usable else {
            return error(400, "invalid_grant", 5, INCORRECT_CREDENTIALS);
        };
        if record.client_id != client.id {
            return error(
                400,
                "invalid_request",
                136,
                "Authtoken was not issued for you",
            );
        }
        let origin = match self.company_origin(data_center, &company, &client.id) {
            Ok(origin) => origin,
            Err(reply) => return reply,
        };
        if let Some(r) = self.request_tokens.get_mut(token) {
            r.uses_left -= 1;
        }
        let refresh = self.issue_refresh_token(&company, &client.id);
        self.success(client, Some(&company), Some(refresh), &origin)
    }

    /// The company's data centre origin, or the answer a wrong data centre gives.
    fn company_origin(
        &self,
        data_center: &str,
        company: &str,
        client_id: &str,
    ) -> Result<String, Reply> {
        let Some(record) = self.companies.get(company) else {
            return Err(error(400, "invalid_grant", 5, INCORRECT_CREDENTIALS));
        };
        let home = self
            .origin(&record.data_center)
            .unwrap_or_default()
            .to_owned();
        if data_center != record.data_center && data_center != LANDING_ZONE {
            let mut reply = error(400, "invalid_request", 16, "user lives elsewhere");
            reply.body["geolocation"] = Value::String(home);
            return Err(reply);
        }
        if record.apps_not_enabled.contains(client_id) {
            return Err(error(
                403,
                "invalid_client",
                53,
                "company is not enabled for this client",
            ));
        }
        Ok(home)
    }

    fn success(
        &mut self,
        client: &ClientSpec,
        company: Option<&str>,
        refresh_token: Option<String>,
        origin: &str,
    ) -> Reply {
        let now = self.now();
        let lifetime = self.quirks.access_lifetime.unwrap_or(ACCESS_LIFETIME);
        let access = jwt(json!({"sub": company.unwrap_or(&client.id), "exp": now + lifetime}));
        self.access_tokens.insert(
            access.clone(),
            AccessRecord {
                company: company.map(str::to_owned),
                client_id: client.id.clone(),
                expires_at: now + lifetime,
                scopes: client.scopes.clone(),
            },
        );
        let q = &self.quirks;
        let mut body = json!({
            "expires_in": if q.expires_in_as_string { json!(lifetime.to_string()) } else { json!(lifetime) },
            "scope": client.scopes.join(" "),
            "token_type": "Bearer",
            "access_token": access,
        });
        if let Some(refresh) = refresh_token {
            let expires_at = self
                .refresh_token_expiry(&refresh)
                .unwrap_or(now + REFRESH_LIFETIME);
            body["refresh_token"] = json!(refresh);
            if !q.omit_refresh_expires_in {
                body["refresh_expires_in"] = json!(expires_at);
            }
        }
        body["geolocation"] = json!(if q.sloppy_geolocation {
            format!("{}/oauth2/v0/token", origin.to_ascii_uppercase())
        } else {
            origin.to_owned()
        });
        if let Some(company) = company {
            body["id_token"] = json!(jwt(json!({"sub": company, "iss": origin})));
        }
        Reply { status: 200, body }
    }
}

/// The description Concur gives for a wrong secret, password or request token.
const INCORRECT_CREDENTIALS: &str = "Incorrect Credentials. Please Retry";

/// A token endpoint refusal: `error`, `error_description` and the numeric `code`.
pub(crate) fn error(status: u16, error: &str, code: i64, description: &str) -> Reply {
    Reply {
        status,
        body: json!({"error": error, "error_description": description, "code": code}),
    }
}
