//! Sign-in through the company's identity provider: OpenID Connect's authorization code flow
//! with PKCE, `state` and `nonce`, checked by the `openidconnect` crate (signature against the
//! issuer's JWKS, `iss`, `aud`, `exp`, `nonce`). The role comes from the ID token's groups at
//! every sign-in.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IdToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};

use console_model::Role;

/// How long a sign-in may stay at the identity provider before coming back.
pub const LOGIN_SECONDS: i64 = 600;
pub const DEFAULT_LABEL: &str = "Sign in with single sign-on";
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";

/// `CONCUR_OIDC_*`: the identity provider and which of its groups get which role.
#[derive(Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The ID token claim that lists the person's groups (`CONCUR_OIDC_ROLES_CLAIM`).
    pub roles_claim: String,
    pub admin_groups: Vec<String>,
    pub editor_groups: Vec<String>,
    pub viewer_groups: Vec<String>,
    /// The button's words on the sign-in page.
    pub label: String,
}

impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("roles_claim", &self.roles_claim)
            .field("admin_groups", &self.admin_groups)
            .field("editor_groups", &self.editor_groups)
            .field("viewer_groups", &self.viewer_groups)
            .finish_non_exhaustive()
    }
}

impl OidcConfig {
    /// The highest role any of `groups` gives; none when no group is listed.
    pub fn role_for(&self, groups: &[String]) -> Option<Role> {
        let any = |listed: &[String]| groups.iter().any(|g| listed.contains(g));
        if any(&self.admin_groups) {
            Some(Role::Admin)
        } else if any(&self.editor_groups) {
            Some(Role::Editor)
        } else if any(&self.viewer_groups) {
            Some(Role::Viewer)
        } else {
            None
        }
    }

    /// The groups that open the console, as the refusal page lists them.
    pub fn expected_groups(&self) -> String {
        [
            ("admin", &self.admin_groups),
            ("editor", &self.editor_groups),
            ("viewer", &self.viewer_groups),
        ]
        .iter()
        .filter(|(_, groups)| !groups.is_empty())
        .map(|(role, groups)| format!("{} ({role})", groups.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
    }
}

/// Every claim of the ID token, so that the groups claim can have any name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AllClaims(HashMap<String, serde_json::Value>);

impl AdditionalClaims for AllClaims {}

type GroupsIdToken =
    IdToken<AllClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// Why a sign-in through the identity provider did not end in a session. Each maps to a fixed
/// message on the sign-in page; the details go to the log only.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("the identity provider could not be reached: {0}")]
    Unavailable(String),
    #[error("the identity provider refused: {0}")]
    Refused(String),
    #[error("unknown, spent or expired sign-in state")]
    State,
    #[error("the ID token was refused: {0}")]
    Token(String),
    #[error("the person is in none of the configured groups")]
    NoGroup,
    #[error("the account is deactivated")]
    Deactivated,
    #[error("a local account already has the user name {0}")]
    NameTaken(String),
    #[error("{0}")]
    Internal(String),
}

impl SsoError {
    /// The word the sign-in page is sent back with (never the details).
    pub fn code(&self) -> &'static str {
        match self {
            SsoError::Unavailable(_) => "unavailable",
            SsoError::Refused(_) => "refused",
            SsoError::State => "expired",
            SsoError::Token(_) => "token",
            SsoError::NoGroup => "nogroup",
            SsoError::Deactivated => "deactivated",
            SsoError::NameTaken(_) => "taken",
            SsoError::Internal(_) => "failed",
        }
    }
}

/// What the sign-in page says for a code of [`SsoError::code`].
pub fn message_for(code: &str, expected_groups: &str) -> Option<String> {
    Some(match code {
        "unavailable" => "The identity provider did not answer. Try again in a moment, or sign in with your password.".to_owned(),
        "refused" => "The identity provider did not sign you in.".to_owned(),
        "expired" => "That sign-in took too long or was already used; start again.".to_owned(),
        "token" => "The identity provider's answer could not be verified, so nobody was signed in. The console's log says why.".to_owned(),
        "nogroup" => format!(
            "Your account at the identity provider is in none of the groups that open this console. Expected: {expected_groups}. Ask your IT team to add you to one."
        ),
        "deactivated" => "This account is deactivated here; ask an admin of the console.".to_owned(),
        "taken" => "A local account already has your user name; ask an admin of the console to rename or remove it.".to_owned(),
        "failed" => "Signing in failed on the server; it has been logged. Try again.".to_owned(),
        _ => return None,
    })
}

/// Who the identity provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The issuer and subject: what the account is known by.
    pub subject: String,
    /// `preferred_username`, else `email`, else `sub`.
    pub username: String,
    pub groups: Vec<String>,
}

/// A sign-in under way, as the start of the flow leaves it.
pub struct Started {
    /// Where to send the browser.
    pub url: String,
    /// The `state` value, also kept in a cookie of the browser that started.
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// The identity provider as discovered at start.
pub struct Oidc {
    pub config: OidcConfig,
    http: reqwest::Client,
    metadata: RwLock<CoreProviderMetadata>,
    redirect: RedirectUrl,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// Discovers the issuer (its metadata and keys). A wrong or unreachable issuer is an error
    /// that says which and why. Like every outbound call, it goes through `proxy`
    /// (`CONCUR_HTTP_PROXY`) when one is named and through none otherwise, whatever
    /// `HTTPS_PROXY` says.
    pub async fn discover(
        config: OidcConfig,
        public_url: &str,
        timeout: Duration,
        proxy: Option<&url::Url>,
    ) -> Result<Arc<Self>, String> {
        let http = concur::http_builder(proxy)
            .map_err(|e| e.to_string())?
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| e.to_string())?;
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|_| format!("{:?} is not a URL", config.issuer))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| format!("discovery at {} failed: {}", config.issuer, chain(&e)))?;
        let redirect = RedirectUrl::new(format!(
            "{}{CALLBACK_PATH}",
            public_url.trim_end_matches('/')
        ))
        .map_err(|e| e.to_string())?;
        Ok(Arc::new(Self {
            config,
            http,
            metadata: RwLock::new(metadata),
            redirect,
        }))
    }

    /// The identity provider's sign-in page, where the console sends browsers.
    pub fn authorization_url(&self) -> String {
        self.metadata().authorization_endpoint().to_string()
    }

    fn metadata(&self) -> CoreProviderMetadata {
        self.metadata
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts a sign-in: the identity provider's URL with a fresh `state`, `nonce` and PKCE
    /// challenge.
    pub fn start(&self) -> Started {
        let client = CoreClient::from_provider_metadata(
            self.metadata(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new(self.config.roles_claim.clone()))
            .set_pkce_challenge(challenge)
            .url();
        Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        }
    }

    /// Trades the code for tokens and checks the ID token; `now` is the console's clock.
    pub async fn finish(
        &self,
        code: String,
        verifier: String,
        nonce: &str,
        now: i64,
    ) -> Result<Identity, SsoError> {
        let client = CoreClient::from_provider_metadata(
            self.metadata(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SsoError::Internal(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(answer) => {
                    SsoError::Refused(answer.to_string())
                }
                other => SsoError::Unavailable(chain(&other)),
            })?;
        let raw = response
            .id_token()
            .ok_or_else(|| SsoError::Token("no ID token in the answer".into()))?
            .to_string();
        let token: GroupsIdToken = raw
            .parse()
            .map_err(|e: serde_json::Error| SsoError::Token(e.to_string()))?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims = match self.check(&token, &nonce, now) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The issuer may have rotated its keys: fetch them again, once.
                self.refresh_keys().await?;
                self.check(&token, &nonce, now)
            }
            other => other,
        }
        .map_err(|e| SsoError::Token(chain(&e)))?;
        let extra = &claims.additional_claims().0;
        let subject = claims.subject().as_str().to_owned();
        let username = claims
            .preferred_username()
            .map(|u| u.as_str().to_owned())
            .or_else(|| claims.email().map(|e| e.as_str().to_owned()))
            .unwrap_or_else(|| subject.clone());
        let groups = match extra.get(&self.config.roles_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(Identity {
            subject: format!("{}#{subject}", self.config.issuer),
            username,
            groups,
        })
    }

    fn check<'t>(
        &self,
        token: &'t GroupsIdToken,
        nonce: &Nonce,
        now: i64,
    ) -> Result<&'t openidconnect::IdTokenClaims<AllClaims, CoreGenderClaim>, ClaimsVerificationError>
    {
        let metadata = self.metadata();
        let verifier: CoreIdTokenVerifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.config.client_id.clone()),
            ClientSecret::new(self.config.client_secret.clone()),
            metadata.issuer().clone(),
            metadata.jwks().clone(),
        )
        .set_time_fn(move || chrono::DateTime::from_timestamp(now, 0).unwrap_or_default());
        token.claims(&verifier, nonce)
    }

    async fn refresh_keys(&self) -> Result<(), SsoError> {
        let uri = self.metadata().jwks_uri().clone();
        let keys = CoreJsonWebKeySet::fetch_async(&uri, &self.http)
            .await
            .map_err(|e| SsoError::Unavailable(chain(&e)))?;
        let mut metadata = self.metadata.write().unwrap_or_else(|p| p.into_inner());
        *metadata = metadata.clone().set_jwks(keys);
        Ok(())
    }
}

/// An error and its causes on one line, for the log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut words = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        words.push_str(": ");
        words.push_str(&cause.to_string());
        source = cause.source();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OidcConfig {
        OidcConfig {
            issuer: "https://idp.example".into(),
            client_id: "console".into(),
            client_secret: "secret".into(),
            roles_claim: "groups".into(),
            admin_groups: vec!["ops".into()],
            editor_groups: vec!["finance-it".into(), "integrations".into()],
            viewer_groups: vec!["helpdesk".into()],
            label: DEFAULT_LABEL.into(),
        }
    }

    #[test]
    fn the_highest_listed_group_gives_the_role() {
        let c = config();
        let groups = |g: &[&str]| g.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(c.role_for(&groups(&["helpdesk", "ops"])), Some(Role::Admin));
        assert_eq!(c.role_for(&groups(&["integrations"])), Some(Role::Editor));
        assert_eq!(c.role_for(&groups(&["helpdesk"])), Some(Role::Viewer));
        assert_eq!(c.role_for(&groups(&["sales", "Ops"])), None, "exact names");
        assert_eq!(
            c.expected_groups(),
            "ops (admin); finance-it, integrations (editor); helpdesk (viewer)"
        );
        assert!(!format!("{c:?}").contains("secret"));
    }
}
