//! The HTTP client: token grants, the code-16 retry, bounded bodies, host policy, and the
//! read-only API probes and the revoke call.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use crate::answer::{RawReply, TokenAnswer, read_token_answer};
use crate::clock::{Clock, UnixTime};
use crate::diagnosis::{Diagnosis, GrantKind, Problem};
use crate::input::{
    AccessToken, AuthorizationUrl, ClientId, ClientSecret, CompanyUuid, RefreshToken, RequestToken,
};
use crate::policy::HostPolicy;
use crate::probes::{self, Finding, Probe, ProbeReport, Readiness};
use crate::scopes::{ScopeCheck, ScopeProfile};

const TOKEN_PATH: &str = "/oauth2/v0/token";
const REVOKE_PATH: &str = "/app-mgmt/v0/connections";
const CORRELATION_HEADER: &str = "concur-correlationid";
/// `refresh_expires_in` is documented as an absolute time; a value this small can only be a
/// duration, so it is read as one rather than as a date in 1970.
const SMALLEST_ABSOLUTE_TIME: i64 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Answers longer than this are refused without being buffered whole.
    pub max_body_bytes: usize,
    /// The proxy every outbound call goes through, only when the operator names one
    /// (`CONCUR_HTTP_PROXY`): the usual `HTTPS_PROXY` is ignored, since a proxy resolves the
    /// host again and so defeats the address checked here.
    pub proxy: Option<url::Url>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            max_body_bytes: 1024 * 1024,
            proxy: None,
        }
    }
}

/// The app's credentials. `Debug` masks the secret.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
}

/// What proves the company's consent: a refresh token, or a request token to exchange.
#[derive(Debug, Clone)]
pub enum Authorization {
    RefreshToken(RefreshToken),
    RequestToken {
        company: CompanyUuid,
        token: RequestToken,
    },
}

/// A successful grant, with times resolved to absolute Unix seconds.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access_token: AccessToken,
    pub access_expires_at: Option<UnixTime>,
    /// The refresh token to store from now on: the rotated one when Concur sent a new one, the
    /// one used when the answer omitted it, `None` for client credentials.
    pub refresh_token: Option<RefreshToken>,
    /// Whether Concur sent a refresh token different from the one used.
    pub rotated: bool,
    pub refresh_expires_at: Option<UnixTime>,
    pub scopes: Vec<String>,
    /// Where the company lives: the answer's `geolocation`, else the data centre that answered.
    pub geolocation: AuthorizationUrl,
    pub company_uuid: Option<CompanyUuid>,
    pub correlation_id: Option<String>,
}

/// A grant checked against the scopes the integration needs.
#[derive(Debug, Clone)]
pub struct Checked {
    pub grant: Grant,
    pub scopes: ScopeCheck,
}

impl Checked {
    /// Why the connection cannot serve the integration although Concur granted a token.
    pub fn diagnosis(&self) -> Option<Diagnosis> {
        (!self.scopes.is_complete()).then(|| {
            let mut d = Diagnosis::new(Problem::MissingScopes(self.scopes.missing.clone()));
            d.reply.correlation_id = self.grant.correlation_id.clone();
            d
        })
    }
}

/// An HTTP client builder that goes through `proxy` when one is given, and through no proxy
/// at all otherwise (whatever `HTTPS_PROXY` or `ALL_PROXY` say).
pub fn http_builder(proxy: Option<&url::Url>) -> Result<reqwest::ClientBuilder, reqwest::Error> {
    let builder = reqwest::Client::builder();
    Ok(match proxy {
        Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy.as_str())?),
        None => builder.no_proxy(),
    })
}

/// Talks to Concur. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct ConcurClient {
    http: reqwest::Client,
    proxy: Option<url::Url>,
    policy: HostPolicy,
    max_body_bytes: usize,
    clock: Arc<dyn Clock>,
}

impl ConcurClient {
    pub fn new(
        policy: HostPolicy,
        config: &ClientConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        let http = http_builder(config.proxy.as_ref())?
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(concat!("concur-console/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            proxy: config.proxy.clone(),
            policy,
            max_body_bytes: config.max_body_bytes,
            clock,
        })
    }

    pub fn policy(&self) -> &HostPolicy {
        &self.policy
    }

    /// The proxy the operator named, which other outbound calls (webhooks) use too.
    pub fn proxy(&self) -> Option<&url::Url> {
        self.proxy.as_ref()
    }

    /// Obtains a grant with either kind of company authorization.
    pub async fn authorize(
        &self,
        base: &AuthorizationUrl,
        credentials: &Credentials,
        authorization: &Authorization,
    ) -> Result<Grant, Diagnosis> {
        match authorization {
            Authorization::RefreshToken(token) => self.refresh(base, credentials, token).await,
            Authorization::RequestToken { company, token } => {
                self.exchange_request_token(base, credentials, company, token)
                    .await
            }
        }
    }

    /// Obtains a grant and checks its scopes against the profile.
    pub async fn validate(
        &self,
        base: &AuthorizationUrl,
        credentials: &Credentials,
        authorization: &Authorization,
        profile: &ScopeProfile,
    ) -> Result<Checked, Diagnosis> {
        let grant = self.authorize(base, credentials, authorization).await?;
        let scopes = profile.check(&grant.scopes);
        Ok(Checked { grant, scopes })
    }

    /// The refresh grant. Concur may rotate the token: the grant says which one to keep.
    pub async fn refresh(
        &self,
        base: &AuthorizationUrl,
        credentials: &Credentials,
        token: &RefreshToken,
    ) -> Result<Grant, Diagnosis> {
        let form = [
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose()),
            ("grant_type", "refresh_token"),
            ("refresh_token", token.expose()),
        ];
        let (answer, used) = self.token(base, GrantKind::RefreshToken, &form).await?;
        let rotated = answer.refresh_token.as_ref().is_some_and(|t| t != token);
        let current = answer
            .refresh_token
            .clone()
            .unwrap_or_else(|| token.clone());
        Ok(self.grant(answer, used, Some(current), rotated))
    }

    /// Exchanges a one-time Company Request Token for the company's refresh token.
    pub async fn exchange_request_token(
        &self,
        base: &AuthorizationUrl,
        credentials: &Credentials,
        company: &CompanyUuid,
        token: &RequestToken,
    ) -> Result<Grant, Diagnosis> {
        let form = [
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose()),
            ("grant_type", "password"),
            ("username", company.as_str()),
            ("password", token.expose()),
            ("credtype", "authtoken"),
        ];
        let (answer, used) = self.token(base, GrantKind::RequestToken, &form).await?;
        let Some(refresh) = answer.refresh_token.clone() else {
            let what = "an exchange answer without a refresh_token".to_owned();
            let mut d = Diagnosis::new(Problem::UnexpectedAnswer { what });
            d.reply.correlation_id = answer.correlation_id;
            return Err(d);
        };
        let mut grant = self.grant(answer, used, Some(refresh), true);
        grant.company_uuid.get_or_insert_with(|| company.clone());
        Ok(grant)
    }

    /// The app-only grant (no company, no refresh token).
    pub async fn client_credentials(
        &self,
        base: &AuthorizationUrl,
        credentials: &Credentials,
    ) -> Result<Grant, Diagnosis> {
        let form = [
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose()),
            ("grant_type", "client_credentials"),
        ];
        let (answer, used) = self
            .token(base, GrantKind::ClientCredentials, &form)
            .await?;
        Ok(self.grant(answer, used, None, false))
    }

    /// Revokes the app's refresh tokens for the company the access token belongs to.
    pub async fn revoke(
        &self,
        geolocation: &AuthorizationUrl,
        access: &AccessToken,
    ) -> Result<(), Diagnosis> {
        let request = self.http.delete(geolocation.join(REVOKE_PATH));
        self.api_call(geolocation, request, access)
            .await
            .map(|_| ())
    }

    /// The read-only calls the scopes imply (the profile's `required`, or without one those
    /// `granted`), made with a fresh access token at the company's geolocation: the calls that
    /// need no user at once, then the two that need the first user Identity v4 listed; then a
    /// line for each scope that only writes.
    pub async fn probe(
        &self,
        geolocation: &AuthorizationUrl,
        access: &AccessToken,
        required: &[String],
        granted: &[String],
    ) -> Vec<ProbeReport> {
        // None: the scopes imply nothing it proves; Some(Some(_)): not made, and why.
        let plan = |probe: Probe| match probes::readiness(probe, required, granted) {
            Readiness::Irrelevant => None,
            Readiness::NotProbed(why) => Some(Some(Finding::NotProbed { why })),
            Readiness::Go => Some(None),
        };
        let first = join_all(Probe::ALL.into_iter().filter(|p| !p.needs_user()).map(
            |probe| async move {
                let found = match plan(probe)? {
                    Some(not_made) => (not_made, None),
                    None => self.call_probe(probe, geolocation, access, None).await,
                };
                Some((probe, found))
            },
        ))
        .await;
        let identity = first
            .iter()
            .flatten()
            .find(|(p, _)| *p == Probe::IdentityUsers)
            .map(|(_, found)| found);
        let user = identity.and_then(|(_, user)| user.as_deref());
        let identity = identity.map(|(finding, _)| finding);
        let second = join_all(Probe::ALL.into_iter().filter(|p| p.needs_user()).map(
            |probe| async move {
                let found = match (plan(probe)?, user) {
                    (Some(not_made), _) => (not_made, None),
                    (None, None) => (
                        Finding::NotProbed {
                            why: probes::no_user(identity),
                        },
                        None,
                    ),
                    (None, Some(user)) => {
                        self.call_probe(probe, geolocation, access, Some(user))
                            .await
                    }
                };
                Some((probe, found))
            },
        ))
        .await;
        let mut found: Vec<(Probe, Finding)> = first
            .into_iter()
            .chain(second)
            .flatten()
            .map(|(probe, (finding, _))| (probe, finding))
            .collect();
        found.sort_by_key(|(probe, _)| Probe::ALL.iter().position(|p| p == probe));
        let mut reports: Vec<ProbeReport> = found
            .into_iter()
            .map(|(probe, finding)| ProbeReport {
                name: probe.key().to_owned(),
                label: probe.label().to_owned(),
                finding,
            })
            .collect();
        reports.extend(probes::write_only(required).map(|scope| {
            ProbeReport {
                name: scope.clone(),
                label: scope.clone(),
                finding: Finding::NotProbed {
                    why: "not probed: write-only (no read call can prove it without changing data)"
                        .to_owned(),
                },
            }
        }));
        reports
    }

    /// One probe's call: what it found, and for Identity v4 the first user's id (when plain).
    async fn call_probe(
        &self,
        probe: Probe,
        geolocation: &AuthorizationUrl,
        access: &AccessToken,
        user: Option<&str>,
    ) -> (Finding, Option<String>) {
        let request = self.http.get(geolocation.join(&probe.path(user)));
        let found = match self.send_api(geolocation, request, access).await {
            Err(d) => (Finding::Fails(probes::unanswered(&d)), None),
            Ok(reply) if !(200..300).contains(&reply.status) => {
                (Finding::Fails(probes::refused(probe, &reply)), None)
            }
            Ok(reply) => match probes::read_answer(probe, &reply) {
                Ok((fact, user)) => (
                    Finding::Works { fact },
                    user.filter(|id| probes::plain_id(id)),
                ),
                Err(failure) => (Finding::Fails(failure), None),
            },
        };
        tracing::debug!(
            probe = probe.key(),
            ok = matches!(found.0, Finding::Works { .. }),
            "probe answered"
        );
        found
    }

    fn grant(
        &self,
        answer: TokenAnswer,
        used: AuthorizationUrl,
        refresh_token: Option<RefreshToken>,
        rotated: bool,
    ) -> Grant {
        let now = self.clock.now();
        let geolocation = answer
            .geolocation
            .filter(|g| self.policy.permits(g.url()))
            .unwrap_or(used);
        let refresh_expires_at = answer.refresh_expires_in.filter(|&t| t > 0).map(|t| {
            if t < SMALLEST_ABSOLUTE_TIME {
                now + t
            } else {
                t
            }
        });
        Grant {
            access_token: answer.access_token,
            access_expires_at: answer.expires_in.filter(|&s| s > 0).map(|s| now + s),
            refresh_token,
            rotated,
            refresh_expires_at,
            scopes: answer.scopes,
            geolocation,
            company_uuid: answer.company_uuid,
            correlation_id: answer.correlation_id,
        }
    }

    /// A token call, retried once at the data centre Concur names in a code-16 answer.
    async fn token(
        &self,
        base: &AuthorizationUrl,
        grant: GrantKind,
        form: &[(&str, &str)],
    ) -> Result<(TokenAnswer, AuthorizationUrl), Diagnosis> {
        match self.post_token(base, grant, form).await {
            Err(Diagnosis {
                problem:
                    Problem::WrongDataCenter {
                        geolocation: Some(ref elsewhere),
                    },
                ..
            }) if AuthorizationUrl::parse(elsewhere).is_ok_and(|e| e != *base) => {
                let there = AuthorizationUrl::parse(elsewhere).expect("parsed in the guard");
                tracing::info!(from = %base, to = %there, "company lives elsewhere; retrying there once");
                let answer = self.post_token(&there, grant, form).await?;
                Ok((answer, there))
            }
            other => other.map(|answer| (answer, base.clone())),
        }
    }

    async fn post_token(
        &self,
        base: &AuthorizationUrl,
        grant: GrantKind,
        form: &[(&str, &str)],
    ) -> Result<TokenAnswer, Diagnosis> {
        self.ensure_permitted(base)?;
        let response = self
            .http
            .post(base.join(TOKEN_PATH))
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let correlation_id = header(&response, CORRELATION_HEADER);
        let retry_after = header(&response, "retry-after");
        let body = self.read_bounded(response).await?;
        tracing::debug!(host = %base, ?grant, status, correlation_id, "token endpoint answered");
        read_token_answer(
            grant,
            RawReply {
                status,
                correlation_id: correlation_id.as_deref(),
                retry_after: retry_after.as_deref(),
                body: &body,
            },
        )
    }

    /// A call to one of Concur's APIs, whatever its status; only no answer is an error.
    async fn send_api(
        &self,
        geolocation: &AuthorizationUrl,
        request: reqwest::RequestBuilder,
        access: &AccessToken,
    ) -> Result<ApiReply, Diagnosis> {
        self.ensure_permitted(geolocation)?;
        let response = request
            .bearer_auth(access.expose())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let correlation_id = header(&response, CORRELATION_HEADER);
        let body = self.read_bounded(response).await?;
        Ok(ApiReply {
            status,
            correlation_id,
            body,
        })
    }

    async fn api_call(
        &self,
        geolocation: &AuthorizationUrl,
        request: reqwest::RequestBuilder,
        access: &AccessToken,
    ) -> Result<(u16, Vec<u8>), Diagnosis> {
        let reply = self.send_api(geolocation, request, access).await?;
        let status = reply.status;
        let problem = match status {
            200..=299 => return Ok((status, reply.body)),
            401 => Problem::Refused,
            403 => Problem::ScopeNotGranted,
            429 => Problem::RateLimited {
                retry_after_seconds: None,
            },
            500..=599 => Problem::ConcurUnavailable,
            _ => Problem::UnexpectedAnswer {
                what: format!("HTTP {status}"),
            },
        };
        let mut d = Diagnosis::new(problem);
        d.reply.http_status = Some(status);
        d.reply.correlation_id = reply.correlation_id;
        Err(d)
    }

    fn ensure_permitted(&self, url: &AuthorizationUrl) -> Result<(), Diagnosis> {
        if self.policy.permits(url.url()) {
            return Ok(());
        }
        Err(Diagnosis::new(Problem::HostNotAllowed {
            host: url.to_string(),
        }))
    }

    async fn read_bounded(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Diagnosis> {
        let too_large = || {
            Diagnosis::new(Problem::UnexpectedAnswer {
                what: format!("an answer larger than {} KB", self.max_body_bytes / 1024),
            })
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// What one of Concur's APIs answered: status, correlation id and the (bounded) body.
#[derive(Debug, Clone)]
pub struct ApiReply {
    pub status: u16,
    pub correlation_id: Option<String>,
    pub body: Vec<u8>,
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn transport(error: reqwest::Error) -> Diagnosis {
    let problem = if error.is_timeout() {
        Problem::Timeout
    } else {
        Problem::Network
    };
    tracing::warn!(error = %error.without_url(), "Concur request failed");
    Diagnosis::new(problem)
}
