//! Which hosts may receive credentials: Concur's own, plus origins the operator names.

use std::fmt;

use crate::input::{AuthorizationUrl, Field, InputError};

/// Concur's API hosts are `https://<dc>.api.concursolutions.com`, plus the China data centre.
const CONCUR_DOMAIN_SUFFIX: &str = ".api.concursolutions.com";
const CONCUR_CHINA_HOST: &str = "cn.api.concurcdc.cn";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &url::Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }
}

/// The host policy: Concur hosts over https always, and exactly the extra origins listed in
/// `CONCUR_ALLOWED_HOSTS` (scheme, host and port must all match; listing an `http://` origin is
/// the only way to allow plain http, which is how tests and the demo reach the simulator).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    extra: Vec<Origin>,
}

/// A bad entry in `CONCUR_ALLOWED_HOSTS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "CONCUR_ALLOWED_HOSTS entry {entry:?} is not an origin like https://concur-proxy.internal:8443 ({reason})"
)]
pub struct PolicyError {
    pub entry: String,
    pub reason: &'static str,
}

impl HostPolicy {
    /// Concur's hosts only.
    pub fn concur_only() -> Self {
        Self::default()
    }

    /// Parses the comma-separated `CONCUR_ALLOWED_HOSTS` value (empty means Concur only).
    pub fn parse(allowed: &str) -> Result<Self, PolicyError> {
        let mut extra = Vec::new();
        for entry in allowed.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let fail = |reason| PolicyError {
                entry: entry.to_owned(),
                reason,
            };
            let url = url::Url::parse(entry).map_err(|_| fail("not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(fail("scheme must be http or https"));
            }
            if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
                return Err(fail("only scheme, host and port are allowed"));
            }
            extra.push(Origin::of(&url).ok_or_else(|| fail("no host"))?);
        }
        Ok(Self { extra })
    }

    /// Whether credentials may be sent to this URL.
    pub fn permits(&self, url: &url::Url) -> bool {
        let Some(origin) = Origin::of(url) else {
            return false;
        };
        let concur_host = origin.host.ends_with(CONCUR_DOMAIN_SUFFIX)
            && origin.host.len() > CONCUR_DOMAIN_SUFFIX.len()
            || origin.host == CONCUR_CHINA_HOST;
        (concur_host && origin.scheme == "https" && origin.port == 443)
            || self.extra.contains(&origin)
    }

    /// The field error an admin sees when a pasted address is not allowed.
    /// The message names no part of the URL: it may travel back in a redirect.
    pub fn check(&self, url: &AuthorizationUrl) -> Result<(), InputError> {
        if self.permits(url.url()) {
            return Ok(());
        }
        Err(InputError::new(
            Field::AuthorizationUrl,
            "This host is not a Concur data centre. Use one such as https://us2.api.concursolutions.com; an operator can allow other hosts with CONCUR_ALLOWED_HOSTS.",
        ))
    }
}

impl fmt::Display for HostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("https://*.api.concursolutions.com, https://cn.api.concurcdc.cn")?;
        for o in &self.extra {
            write!(f, ", {}://{}:{}", o.scheme, o.host, o.port)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> url::Url {
        url::Url::parse(raw).unwrap()
    }

    #[test]
    fn concur_hosts_are_allowed_over_https_only() {
        let policy = HostPolicy::concur_only();
        assert!(policy.permits(&url("https://us2.api.concursolutions.com")));
        assert!(policy.permits(&url(
            "https://www-us2.api.concursolutions.com/oauth2/v0/token"
        )));
        assert!(policy.permits(&url("https://cn.api.concurcdc.cn")));
        assert!(!policy.permits(&url("http://us2.api.concursolutions.com")));
        assert!(!policy.permits(&url("https://us2.api.concursolutions.com:8443")));
        assert!(!policy.permits(&url("https://api.concursolutions.com.evil.example")));
        assert!(!policy.permits(&url("https://evilapi.concursolutions.com.example")));
        assert!(!policy.permits(&url("https://10.0.0.5")));
        assert!(!policy.permits(&url("http://127.0.0.1:9100")));
    }

    #[test]
    fn listed_origins_must_match_scheme_host_and_port_exactly() {
        let policy =
            HostPolicy::parse(" http://127.0.0.1:9100 , https://Concur-Proxy.internal:8443")
                .unwrap();
        assert!(policy.permits(&url("http://127.0.0.1:9100/oauth2/v0/token")));
        assert!(policy.permits(&url("https://concur-proxy.internal:8443")));
        assert!(!policy.permits(&url("http://127.0.0.1:9101")));
        assert!(!policy.permits(&url("https://127.0.0.1:9100")));
        assert!(!policy.permits(&url("http://concur-proxy.internal:8443")));
    }

    #[test]
    fn bad_allowed_hosts_entries_are_refused_with_the_entry_named() {
        let err = HostPolicy::parse("http://127.0.0.1:9100/path").unwrap_err();
        assert_eq!(err.entry, "http://127.0.0.1:9100/path");
        assert!(HostPolicy::parse("127.0.0.1:9100").is_err());
        assert!(HostPolicy::parse("").unwrap().extra.is_empty());
    }

    #[test]
    fn check_explains_how_to_allow_a_host() {
        let err = HostPolicy::concur_only()
            .check(&AuthorizationUrl::parse("https://192.168.1.10").unwrap())
            .unwrap_err();
        assert_eq!(err.field, Field::AuthorizationUrl);
        assert!(err.message.contains("CONCUR_ALLOWED_HOSTS"));
    }
}
