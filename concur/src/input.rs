//! Domain types for what an admin pastes. Each one is parsed once, at the boundary, and carries a
//! message that names the rule a person broke. Past this module, code takes these types only.

use std::fmt;

/// Longest value accepted in one credential field. Real tokens are far shorter: anything longer is
/// almost always several values pasted at once.
pub const MAX_FIELD_BYTES: usize = 4 * 1024;

/// The form field a value (or a problem) belongs to, so errors can be shown next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    ClientId,
    ClientSecret,
    RefreshToken,
    AuthorizationUrl,
    CompanyUuid,
    RequestToken,
    Scopes,
}

impl Field {
    /// The label the form shows for this field.
    pub fn label(self) -> &'static str {
        match self {
            Field::ClientId => "Client ID",
            Field::ClientSecret => "Client Secret",
            Field::RefreshToken => "Refresh Token",
            Field::AuthorizationUrl => "Authorization URL",
            Field::CompanyUuid => "Company UUID",
            Field::RequestToken => "Company Request Token",
            Field::Scopes => "Scope profile",
        }
    }
}

/// A pasted value that was rejected before anything was sent anywhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    pub field: Field,
    pub message: String,
}

impl InputError {
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Trims what copy-and-paste adds around a value and applies the rules every field shares.
pub(crate) fn clean(field: Field, raw: &str, max: usize) -> Result<&str, InputError> {
    let value = raw.trim();
    let label = field.label();
    if value.is_empty() {
        return Err(InputError::new(field, format!("{label} is required.")));
    }
    if value.len() > max {
        return Err(InputError::new(
            field,
            format!(
                "{label} is longer than {} KB; paste only this one value.",
                max / 1024
            ),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InputError::new(
            field,
            format!(
                "{label} contains a line break, tab or other control character; paste it again as one line."
            ),
        ));
    }
    Ok(value)
}

fn opaque_token(field: Field, raw: &str) -> Result<String, InputError> {
    let value = clean(field, raw, MAX_FIELD_BYTES)?;
    if value.chars().any(char::is_whitespace) {
        return Err(InputError::new(
            field,
            format!(
                "{} contains spaces; paste only the token itself.",
                field.label()
            ),
        ));
    }
    Ok(value.to_owned())
}

fn is_uuid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn uuid(field: Field, raw: &str) -> Result<String, InputError> {
    let value = clean(field, raw, MAX_FIELD_BYTES)?;
    if !is_uuid(value) {
        return Err(InputError::new(
            field,
            format!(
                "{} must be a UUID like 1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d.",
                field.label()
            ),
        ));
    }
    Ok(value.to_ascii_lowercase())
}

macro_rules! public_id {
    ($(#[$doc:meta])* $name:ident, $field:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InputError> {
                uuid($field, raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

public_id!(
    /// The app's OAuth client id: a UUID, stored lower-case.
    ClientId,
    Field::ClientId
);
public_id!(
    /// The company's UUID (also the `sub` of a company `id_token`).
    CompanyUuid,
    Field::CompanyUuid
);

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Deliberately not `Serialize` and not `Display`; `Debug` prints a mask; zeroized on drop.
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The value itself, for the one place that must send or encrypt it.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// A mask that shows only the last four characters, like `••••3f9a`.
            pub fn mask(&self) -> String {
                mask(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.mask())
            }
        }

        /// The memory is wiped when the value goes, so a later dump of the heap holds no copy.
        impl Drop for $name {
            fn drop(&mut self) {
                zeroize::Zeroize::zeroize(&mut self.0);
            }
        }
    };
}

secret!(
    /// The app's client secret.
    ClientSecret
);
secret!(
    /// A company refresh token: opaque, lives about six months, slides forward on each refresh.
    RefreshToken
);
secret!(
    /// A one-time Company Request Token, valid for 24 hours.
    RequestToken
);
secret!(
    /// A one-hour access token (a JWT) that the integrations use.
    AccessToken
);

impl ClientSecret {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        opaque_token(Field::ClientSecret, raw).map(Self)
    }
}

impl RefreshToken {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        opaque_token(Field::RefreshToken, raw).map(Self)
    }
}

impl RequestToken {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        opaque_token(Field::RequestToken, raw).map(Self)
    }
}

impl AccessToken {
    pub(crate) fn new(value: String) -> Self {
        Self(value)
    }

    /// An access token read back from the console's own encrypted store.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }
}

/// Shows the last four characters of a secret, or nothing of a short one.
pub fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 12 {
        return "••••".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("••••{tail}")
}

/// A data centre's base URL (an origin), such as `https://us2.api.concursolutions.com`.
///
/// Admins paste it as the base URL or as the full token URL, with slashes, whitespace and
/// mixed case; Concur's own `geolocation` answers have the same quirks. Both normalise here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthorizationUrl(url::Url);

const TOKEN_PATH: &str = "/oauth2/v0/token";

impl AuthorizationUrl {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let field = Field::AuthorizationUrl;
        let value = clean(field, raw, MAX_FIELD_BYTES)?;
        let example = "such as https://us2.api.concursolutions.com";
        let url = url::Url::parse(value).map_err(|_| {
            InputError::new(
                field,
                format!("Authorization URL must be a web address {example}."),
            )
        })?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(InputError::new(
                field,
                format!("Authorization URL must start with https:// and name a host, {example}."),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InputError::new(
                field,
                "Authorization URL must not contain a user name or password.",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(InputError::new(
                field,
                format!(
                    "Authorization URL must not have a ?query or #fragment; use the data centre address {example}."
                ),
            ));
        }
        let path = url.path().trim_end_matches('/');
        let path = if path.eq_ignore_ascii_case(TOKEN_PATH) {
            ""
        } else {
            path
        };
        if !path.is_empty() {
            return Err(InputError::new(
                field,
                format!(
                    "Authorization URL must be the data centre address {example}, optionally followed by /oauth2/v0/token."
                ),
            ));
        }
        let mut origin = url.clone();
        origin.set_path("");
        Ok(Self(origin))
    }

    /// The origin, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// `{base}{path}` for a path that starts with `/`.
    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.as_str(), path)
    }
}

impl fmt::Display for AuthorizationUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_url_accepts_base_or_token_url_with_paste_noise() {
        for raw in [
            "https://us2.api.concursolutions.com",
            "  https://us2.api.concursolutions.com/ \n",
            "https://us2.api.concursolutions.com/oauth2/v0/token",
            "https://US2.api.Concursolutions.com/oauth2/v0/token/",
        ] {
            let url = AuthorizationUrl::parse(raw).unwrap();
            assert_eq!(url.as_str(), "https://us2.api.concursolutions.com", "{raw}");
        }
    }

    #[test]
    fn authorization_url_keeps_an_explicit_port() {
        let url = AuthorizationUrl::parse("http://127.0.0.1:9100/").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:9100");
        assert_eq!(
            url.join(TOKEN_PATH),
            "http://127.0.0.1:9100/oauth2/v0/token"
        );
    }

    #[test]
    fn authorization_url_rejects_what_is_not_a_data_centre_address() {
        for raw in [
            "",
            "us2.api.concursolutions.com",
            "ftp://us2.api.concursolutions.com",
            "https://us2.api.concursolutions.com/api/v3.0",
            "https://user:pw@us2.api.concursolutions.com",
            "https://us2.api.concursolutions.com/?x=1",
            "https://us2.api.concur\u{7}solutions.com",
        ] {
            let err = AuthorizationUrl::parse(raw).unwrap_err();
            assert_eq!(err.field, Field::AuthorizationUrl, "{raw}");
            assert!(err.message.starts_with("Authorization URL"), "{raw}: {err}");
        }
    }

    #[test]
    fn client_id_must_be_a_uuid_and_is_stored_lower_case() {
        let id = ClientId::parse(" 1B2C3D4E-5F60-4A7B-8C9D-0E1F2A3B4C5D\n").unwrap();
        assert_eq!(id.as_str(), "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d");
        let err = ClientId::parse("not-a-uuid").unwrap_err();
        assert_eq!(err.field, Field::ClientId);
        assert!(err.message.contains("must be a UUID"), "{err}");
    }

    #[test]
    fn tokens_reject_empty_huge_inner_spaces_and_control_characters() {
        assert!(
            RefreshToken::parse("   ")
                .unwrap_err()
                .message
                .contains("required")
        );
        let huge = "a".repeat(MAX_FIELD_BYTES + 1);
        assert!(
            RefreshToken::parse(&huge)
                .unwrap_err()
                .message
                .contains("4 KB")
        );
        assert!(
            RefreshToken::parse("abc def")
                .unwrap_err()
                .message
                .contains("spaces")
        );
        assert!(
            RefreshToken::parse("abc\u{0}def")
                .unwrap_err()
                .message
                .contains("control")
        );
        assert!(RequestToken::parse("\tat-3wd0qnp3x6m5klel2vv5z083pex5py\r\n").is_ok());
    }

    #[test]
    fn secrets_debug_as_a_mask_never_the_value() {
        let secret = ClientSecret::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d23f9a").unwrap();
        let shown = format!("{secret:?}");
        assert_eq!(shown, "ClientSecret(••••3f9a)");
        assert_eq!(mask("short"), "••••");
    }
}
