//! Where alerts may be sent: the checks on a webhook's or an SMTP server's address that both
//! the Settings page and the environment go through, and what may be shown of them.

use std::net::IpAddr;

/// The cloud metadata service's name on Google Cloud (elsewhere it is a link-local address).
const METADATA_HOST: &str = "metadata.google.internal";

/// Addresses an alert may never reach: link-local ranges (cloud metadata lives there) and
/// the unspecified address.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast(),
        IpAddr::V6(v6) => {
            let mapped = v6.to_ipv4_mapped();
            (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.is_unspecified()
                || v6.segments() == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254]
                || mapped.is_some_and(|v4| v4.is_link_local() || v4.is_unspecified())
        }
    }
}

/// A host named in a URL that is a metadata service by name or by address.
pub fn forbidden_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case(METADATA_HOST) || bare.parse().is_ok_and(forbidden)
}

/// Checks an SMTP URL before it is kept: `smtp://` or `smtps://` with a host that is not a
/// metadata service, and, when it carries a user name or password, a connection that is
/// encrypted before they are sent (`smtps://`, or `smtp://…?tls=required`): opportunistic
/// STARTTLS can be stripped by anyone on the path. The message never repeats the URL.
pub fn check_smtp_url(raw: &str) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(raw).map_err(
        |_| "The SMTP URL is not a URL like smtps://user:password@mail.example.com:465.",
    )?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(
            "The SMTP URL starts with smtp:// (STARTTLS with ?tls=required) or smtps:// (TLS).",
        );
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("The SMTP URL has no host.")?;
    if forbidden_host(host) {
        return Err("The SMTP URL names a link-local or cloud metadata address.");
    }
    let credentials = !url.username().is_empty() || url.password().is_some();
    let tls_required = url
        .query_pairs()
        .any(|(k, v)| k == "tls" && v == "required");
    if credentials && url.scheme() == "smtp" && !tls_required {
        return Err(
            "This SMTP URL would send its user name and password unencrypted: use smtps:// or add ?tls=required.",
        );
    }
    Ok(url)
}

/// What the Settings page shows of a webhook URL, which is a credential (Slack and Teams
/// grant posting rights to whoever holds it): its origin (scheme, host, port) only.
pub fn shown_host(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    url.host_str()?;
    Some(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_and_metadata_addresses_are_forbidden() {
        for bad in [
            "169.254.169.254",
            "169.254.1.1",
            "fe80::1",
            "fd00:ec2::254",
            "0.0.0.0",
            "::ffff:169.254.169.254",
        ] {
            assert!(forbidden(bad.parse().unwrap()), "{bad}");
        }
        for fine in [
            "93.184.216.34",
            "10.0.0.5",
            "127.0.0.1",
            "2606:2800:220:1::1",
        ] {
            assert!(!forbidden(fine.parse().unwrap()), "{fine}");
        }
        assert!(forbidden_host("Metadata.Google.Internal"));
        assert!(forbidden_host("[fe80::1]"));
        assert!(!forbidden_host("mail.example.com"));
    }

    #[test]
    fn smtp_credentials_travel_only_over_tls() {
        for fine in [
            "smtps://user:pass@mail.example.com:465",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://mail.example.com:25",
            "smtp://127.0.0.1:2525",
        ] {
            assert!(check_smtp_url(fine).is_ok(), "{fine}");
        }
        let clear = check_smtp_url("smtp://user:pass@mail.example.com:587").unwrap_err();
        assert!(
            clear.contains("unencrypted") && !clear.contains("pass@"),
            "{clear}"
        );
        assert!(check_smtp_url("smtp://user@mail.example.com:587?tls=opportunistic").is_err());
        assert!(check_smtp_url("smtps://u:p@169.254.169.254:465").is_err());
        assert!(check_smtp_url("smtp://metadata.google.internal").is_err());
        assert!(check_smtp_url("https://mail.example.com").is_err());
        assert!(check_smtp_url("not a url").is_err());
    }

    #[test]
    fn a_webhook_url_shows_only_its_host() {
        assert_eq!(
            shown_host("https://hooks.slack.com/services/T000/B000/XXXX").as_deref(),
            Some("https://hooks.slack.com")
        );
        assert_eq!(shown_host("nonsense"), None);
    }
}
