//! Concur failures as data: what went wrong, in words an admin understands, what to do next,
//! whether waiting helps, and Concur's raw answer for its support.

use crate::input::Field;

/// Where a Company Request Token is made, quoted in next steps.
const NEW_REQUEST_TOKEN: &str = "In Concur, an administrator opens Administration → Company → Authentication Admin → Company Request Token, generates a new token for this app, and you paste it here with \"Replace credentials\" (Company Request Token) within 24 hours";

/// What went wrong. Variants carry only facts from Concur or the client, never user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    BadClientId,
    BadClientSecret,
    BadClientCredentials,
    ClientDisabled,
    CompanyNotEnabled,
    GrantNotAllowed,
    AccountBlocked,
    RefreshTokenInvalid,
    RefreshTokenForAnotherClient,
    RequestTokenRejected,
    RequestTokenForAnotherApp,
    ScopeNotGranted,
    MissingScopes(Vec<String>),
    WrongDataCenter { geolocation: Option<String> },
    RateLimited { retry_after_seconds: Option<u64> },
    ConcurUnavailable,
    Timeout,
    Network,
    HostNotAllowed { host: String },
    UnexpectedAnswer { what: String },
    RequestIncomplete,
    Refused,
}

/// What Concur itself said, kept verbatim because Concur support asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConcurReply {
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub code: Option<i64>,
    pub description: Option<String>,
    pub correlation_id: Option<String>,
}

/// A failure explained: the problem plus Concur's raw reply when there was one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub problem: Problem,
    pub reply: Box<ConcurReply>,
}

/// The grant a token call used: the same Concur code means different things for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    RefreshToken,
    RequestToken,
    ClientCredentials,
}

impl Diagnosis {
    pub fn new(problem: Problem) -> Self {
        Self {
            problem,
            reply: Box::default(),
        }
    }

    /// Maps Concur's error answer (HTTP status, `error`, `code`) to a problem.
    pub fn from_reply(grant: GrantKind, reply: ConcurReply, geolocation: Option<String>) -> Self {
        let request_grant = grant == GrantKind::RequestToken;
        let problem = match (reply.code, reply.error.as_deref()) {
            (Some(5 | 19), _) if request_grant => Problem::RequestTokenRejected,
            (Some(5 | 19), _) => Problem::BadClientCredentials,
            (Some(10..=14 | 20 | 123), _) => Problem::AccountBlocked,
            (Some(16), _) => Problem::WrongDataCenter { geolocation },
            (Some(53), _) => Problem::CompanyNotEnabled,
            (Some(54), _) => Problem::ScopeNotGranted,
            (Some(59), _) => Problem::ClientDisabled,
            (Some(60 | 107), _) => Problem::GrantNotAllowed,
            (Some(61), _) => Problem::BadClientId,
            (Some(64), _) => Problem::BadClientSecret,
            (Some(105), _) => Problem::RefreshTokenForAnotherClient,
            (Some(108), _) => Problem::RefreshTokenInvalid,
            (Some(134), _) => Problem::ConcurUnavailable,
            (Some(136), _) => Problem::RequestTokenForAnotherApp,
            (Some(62 | 63 | 65 | 106 | 120), _) => Problem::RequestIncomplete,
            (_, Some("invalid_client")) => Problem::BadClientCredentials,
            (_, Some("invalid_grant")) if request_grant => Problem::RequestTokenRejected,
            (_, Some("invalid_grant")) if grant == GrantKind::RefreshToken => {
                Problem::RefreshTokenInvalid
            }
            (_, Some("access_denied")) => Problem::ClientDisabled,
            _ if reply.http_status == Some(403) => Problem::CompanyNotEnabled,
            _ => Problem::Refused,
        };
        Self {
            problem,
            reply: Box::new(reply),
        }
    }

    /// A stable snake_case name, for JSON output and the store.
    pub fn code(&self) -> &'static str {
        match self.problem {
            Problem::BadClientId => "bad_client_id",
            Problem::BadClientSecret => "bad_client_secret",
            Problem::BadClientCredentials => "bad_client_credentials",
            Problem::ClientDisabled => "client_disabled",
            Problem::CompanyNotEnabled => "company_not_enabled",
            Problem::GrantNotAllowed => "grant_not_allowed",
            Problem::AccountBlocked => "account_blocked",
            Problem::RefreshTokenInvalid => "refresh_token_invalid",
            Problem::RefreshTokenForAnotherClient => "refresh_token_for_another_client",
            Problem::RequestTokenRejected => "request_token_rejected",
            Problem::RequestTokenForAnotherApp => "request_token_for_another_app",
            Problem::ScopeNotGranted => "scope_not_granted",
            Problem::MissingScopes(_) => "missing_scopes",
            Problem::WrongDataCenter { .. } => "wrong_data_center",
            Problem::RateLimited { .. } => "rate_limited",
            Problem::ConcurUnavailable => "concur_unavailable",
            Problem::Timeout => "timeout",
            Problem::Network => "network",
            Problem::HostNotAllowed { .. } => "host_not_allowed",
            Problem::UnexpectedAnswer { .. } => "unexpected_answer",
            Problem::RequestIncomplete => "request_incomplete",
            Problem::Refused => "refused",
        }
    }

    /// Waiting and retrying may help; the credentials are not shown to be bad. An answer
    /// that cannot be read (an HTML error page, cut-off JSON, missing fields) says nothing
    /// about the credentials either: a gateway in front of Concur misbehaved.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.problem,
            Problem::RateLimited { .. }
                | Problem::ConcurUnavailable
                | Problem::Timeout
                | Problem::Network
                | Problem::UnexpectedAnswer { .. }
        )
    }

    /// The form field the admin should look at, if one is at fault.
    pub fn field(&self) -> Option<Field> {
        match self.problem {
            Problem::BadClientId | Problem::ClientDisabled | Problem::GrantNotAllowed => {
                Some(Field::ClientId)
            }
            Problem::BadClientSecret | Problem::BadClientCredentials => Some(Field::ClientSecret),
            Problem::RefreshTokenInvalid | Problem::RefreshTokenForAnotherClient => {
                Some(Field::RefreshToken)
            }
            Problem::RequestTokenRejected | Problem::RequestTokenForAnotherApp => {
                Some(Field::RequestToken)
            }
            Problem::ScopeNotGranted | Problem::MissingScopes(_) => Some(Field::Scopes),
            Problem::WrongDataCenter { .. } | Problem::HostNotAllowed { .. } => {
                Some(Field::AuthorizationUrl)
            }
            Problem::CompanyNotEnabled | Problem::AccountBlocked => Some(Field::CompanyUuid),
            _ => None,
        }
    }

    /// One sentence saying what is wrong.
    pub fn message(&self) -> String {
        match &self.problem {
            Problem::BadClientId => "Concur does not know this Client ID.".into(),
            Problem::BadClientSecret => "The Client Secret is wrong for this Client ID.".into(),
            Problem::BadClientCredentials => {
                "Concur rejected the Client ID and Client Secret: one of them is wrong.".into()
            }
            Problem::ClientDisabled => "This app (Client ID) is disabled at Concur.".into(),
            Problem::CompanyNotEnabled => {
                "The company has not enabled (authorised) this app in Concur.".into()
            }
            Problem::GrantNotAllowed => {
                "This app is not allowed to use this kind of token at Concur.".into()
            }
            Problem::AccountBlocked => {
                "Concur refused the company account: it is disabled, locked or restricted by IP address.".into()
            }
            Problem::RefreshTokenInvalid => {
                "The Refresh Token has expired, was revoked, or was mistyped.".into()
            }
            Problem::RefreshTokenForAnotherClient => {
                "This Refresh Token was issued to a different Client ID.".into()
            }
            Problem::RequestTokenRejected => {
                "The Company Request Token was rejected: it was already used, is older than 24 hours, or was mistyped.".into()
            }
            Problem::RequestTokenForAnotherApp => {
                "This Company Request Token was generated for a different app.".into()
            }
            Problem::ScopeNotGranted => {
                "The app asked for scopes the company has not granted.".into()
            }
            Problem::MissingScopes(missing) => format!(
                "The token works, but it lacks scopes the integration needs: {}.",
                missing.join(", ")
            ),
            Problem::WrongDataCenter { .. } => {
                "The company lives in a different Concur data centre than the Authorization URL names.".into()
            }
            Problem::RateLimited { retry_after_seconds } => match retry_after_seconds {
                Some(s) => format!("Concur is limiting requests; it asked us to wait {s} seconds."),
                None => "Concur is limiting requests right now.".into(),
            },
            Problem::ConcurUnavailable => {
                "Concur is unavailable right now (an outage or scheduled maintenance).".into()
            }
            Problem::Timeout => "Concur did not answer in time.".into(),
            Problem::Network => "Concur could not be reached (network or TLS failure).".into(),
            Problem::HostNotAllowed { host } => format!(
                "{host} is not a Concur host, so no credentials were sent to it."
            ),
            Problem::UnexpectedAnswer { what } => {
                format!("Concur gave an answer we could not read ({what}).")
            }
            Problem::RequestIncomplete => {
                "Concur said the request lacked a required field; this is a bug in Concur Console.".into()
            }
            Problem::Refused => "Concur refused the credentials.".into(),
        }
    }

    /// What the admin should do next.
    pub fn next_step(&self) -> String {
        match &self.problem {
            Problem::BadClientId | Problem::BadClientSecret | Problem::BadClientCredentials => {
                "Copy the Client ID and Client Secret again from the app's registration (the vendor of the integration gives them to you).".into()
            }
            Problem::ClientDisabled | Problem::GrantNotAllowed => {
                "Ask the vendor of the integration to check the app's registration with SAP Concur.".into()
            }
            Problem::CompanyNotEnabled => {
                "In Concur, an administrator enables the app in App Center (or Administration → Company → Authentication Admin), then generates a Company Request Token.".into()
            }
            Problem::AccountBlocked => {
                "Ask your Concur administrator to check the company's authentication settings and IP restrictions.".into()
            }
            Problem::RefreshTokenInvalid
            | Problem::RefreshTokenForAnotherClient
            | Problem::RequestTokenRejected
            | Problem::RequestTokenForAnotherApp => format!("{NEW_REQUEST_TOKEN}."),
            Problem::ScopeNotGranted | Problem::MissingScopes(_) => {
                "Ask the vendor to add the missing scopes to the app, then generate a new Company Request Token so the company grants them; or choose the scope profile that matches the integration.".into()
            }
            Problem::WrongDataCenter { geolocation: Some(g) } => {
                format!("Use {g} as the Authorization URL.")
            }
            Problem::WrongDataCenter { geolocation: None } => {
                "Pick the data centre your company uses (see the Concur URL you sign in to).".into()
            }
            Problem::RateLimited { .. }
            | Problem::ConcurUnavailable
            | Problem::Timeout
            | Problem::Network => {
                "Nothing is wrong with the credentials as far as we know; try again in a few minutes.".into()
            }
            Problem::HostNotAllowed { .. } => {
                "Use a Concur data centre address such as https://us2.api.concursolutions.com; an operator can allow other hosts with CONCUR_ALLOWED_HOSTS.".into()
            }
            Problem::UnexpectedAnswer { .. } | Problem::RequestIncomplete | Problem::Refused => {
                "Try again later; if it persists, give Concur support the code and correlation id below.".into()
            }
        }
    }
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concur(grant: GrantKind, status: u16, error: &str, code: i64) -> Diagnosis {
        let reply = ConcurReply {
            http_status: Some(status),
            error: Some(error.into()),
            code: Some(code),
            ..ConcurReply::default()
        };
        Diagnosis::from_reply(
            grant,
            reply,
            Some("https://eu2.api.concursolutions.com".into()),
        )
    }

    #[test]
    fn every_documented_code_maps_to_its_problem() {
        use GrantKind::*;
        let cases: &[(GrantKind, &str, i64, &str)] = &[
            (RefreshToken, "invalid_grant", 5, "bad_client_credentials"),
            (RefreshToken, "invalid_grant", 19, "bad_client_credentials"),
            (RequestToken, "invalid_grant", 5, "request_token_rejected"),
            (RequestToken, "invalid_grant", 19, "request_token_rejected"),
            (RefreshToken, "invalid_grant", 10, "account_blocked"),
            (RefreshToken, "invalid_grant", 11, "account_blocked"),
            (RefreshToken, "invalid_grant", 12, "account_blocked"),
            (RefreshToken, "invalid_grant", 13, "account_blocked"),
            (RefreshToken, "invalid_grant", 14, "account_blocked"),
            (RefreshToken, "invalid_grant", 20, "account_blocked"),
            (RefreshToken, "invalid_request", 16, "wrong_data_center"),
            (RefreshToken, "invalid_client", 53, "company_not_enabled"),
            (RefreshToken, "invalid_scope", 54, "scope_not_granted"),
            (RefreshToken, "access_denied", 59, "client_disabled"),
            (RefreshToken, "invalid_grant", 60, "grant_not_allowed"),
            (RefreshToken, "invalid_client", 61, "bad_client_id"),
            (RefreshToken, "invalid_request", 62, "request_incomplete"),
            (RefreshToken, "invalid_request", 63, "request_incomplete"),
            (RefreshToken, "invalid_client", 64, "bad_client_secret"),
            (RefreshToken, "invalid_request", 65, "request_incomplete"),
            (
                RefreshToken,
                "invalid_grant",
                105,
                "refresh_token_for_another_client",
            ),
            (RefreshToken, "invalid_request", 106, "request_incomplete"),
            (RefreshToken, "invalid_request", 107, "grant_not_allowed"),
            (RefreshToken, "invalid_grant", 108, "refresh_token_invalid"),
            (RequestToken, "invalid_request", 120, "request_incomplete"),
            (RefreshToken, "invalid_request", 123, "account_blocked"),
            (RefreshToken, "invalid_request", 134, "concur_unavailable"),
            (
                RequestToken,
                "invalid_request",
                136,
                "request_token_for_another_app",
            ),
            (RefreshToken, "invalid_grant", 999, "refresh_token_invalid"),
            (RequestToken, "invalid_grant", 999, "request_token_rejected"),
            (
                ClientCredentials,
                "invalid_client",
                999,
                "bad_client_credentials",
            ),
            (ClientCredentials, "server_error", 999, "refused"),
        ];
        for (grant, error, code, expected) in cases {
            assert_eq!(
                concur(*grant, 400, error, *code).code(),
                *expected,
                "code {code}"
            );
        }
    }

    #[test]
    fn a_403_without_a_known_code_means_the_company_has_not_authorised_the_app() {
        let reply = ConcurReply {
            http_status: Some(403),
            ..ConcurReply::default()
        };
        let d = Diagnosis::from_reply(GrantKind::RefreshToken, reply, None);
        assert_eq!(d.problem, Problem::CompanyNotEnabled);
    }

    #[test]
    fn wrong_data_center_names_the_right_one_in_the_next_step() {
        let d = concur(GrantKind::RefreshToken, 400, "invalid_request", 16);
        assert!(
            d.next_step()
                .contains("https://eu2.api.concursolutions.com")
        );
        assert_eq!(d.field(), Some(Field::AuthorizationUrl));
    }

    #[test]
    fn only_rate_limits_outages_timeouts_and_network_failures_are_transient() {
        assert!(Diagnosis::new(Problem::Timeout).is_transient());
        assert!(concur(GrantKind::RefreshToken, 400, "invalid_request", 134).is_transient());
        assert!(!concur(GrantKind::RefreshToken, 400, "invalid_grant", 108).is_transient());
        assert!(!Diagnosis::new(Problem::MissingScopes(vec!["EXPRPT".into()])).is_transient());
    }

    #[test]
    fn an_expired_refresh_token_says_where_to_get_a_new_request_token() {
        let d = concur(GrantKind::RefreshToken, 400, "invalid_grant", 108);
        assert_eq!(d.field(), Some(Field::RefreshToken));
        assert!(d.message().contains("expired"));
        assert!(d.next_step().contains("Company Request Token"));
    }
}
