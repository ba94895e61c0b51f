//! Request context: where a request comes from (the client's address, trusted proxies
//! considered) and what it says it is (its user agent). Every part may use it; it uses nothing
//! of the console.

use std::net::IpAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
/// `X-Forwarded-For` entry that is not one (a client can prepend anything, not append).
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .unwrap_or(peer),
    )
}

/// [`client_address`] as text, `unknown` when there is none: what logs and the audit keep.
pub fn client_address_text(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpAddr],
) -> String {
    client_address(peer, headers, trusted).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// The client's user agent, as the request sent it (empty when it sent none).
pub fn user_agent(parts: &Parts) -> String {
    parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default()
}

/// The client's address as text: the peer, or, when the peer is one of
/// `CONCUR_TRUSTED_PROXIES`, the nearest address in `X-Forwarded-For` that is not a trusted
/// proxy.
pub fn client_ip(parts: &Parts, trusted: &[IpAddr]) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    client_address_text(peer, &parts.headers, trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "198.51.100.7".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 198.51.100.7".parse().unwrap());
        assert_eq!(
            client_address(Some(proxy), &headers, &[proxy]),
            Some(client)
        );
        assert_eq!(
            client_address(Some(client), &headers, &[proxy]),
            Some(client),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(client_address(Some(proxy), &headers, &[]), Some(proxy));
    }
}
