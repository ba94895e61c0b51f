//! What every request passes before and after the app: the Host and Origin checks, security
//! headers, request ids, real status codes for server-function errors, and signatures on the
//! error messages that travel in redirect URLs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use console_core::Error;
use console_core::state::AppState;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::Instrument;

/// Server-function error bodies are small; anything larger is passed on untouched.
const MAX_ERROR_BODY: usize = 64 * 1024;
const SIGNATURE_PARAM: &str = "__sig";

/// The origins the console answers as: the public URL's, and the address it listens on.
#[derive(Debug, Clone)]
pub struct Origins {
    origins: Arc<[String]>,
    hosts: Arc<[String]>,
    https: bool,
    /// Other origins a redirect may lead to: the identity provider's sign-in page.
    elsewhere: Arc<[String]>,
}

impl Origins {
    pub fn new(public_url: &str, listening: SocketAddr) -> Self {
        let mut origins = Vec::new();
        if let Ok(url) = url::Url::parse(public_url) {
            origins.push(url.origin().ascii_serialization());
        }
        origins.push(format!("http://{listening}"));
        if listening.ip().is_unspecified() {
            // Listening on every interface (a container): loopback names reach it too.
            let port = listening.port();
            for host in ["127.0.0.1", "localhost", "[::1]"] {
                origins.push(format!("http://{host}:{port}"));
            }
        }
        let hosts = origins
            .iter()
            .filter_map(|o| o.split_once("://").map(|(_, h)| h.to_owned()))
            .collect();
        Self {
            https: public_url.starts_with("https://"),
            origins: origins.into(),
            hosts,
            elsewhere: Arc::default(),
        }
    }

    /// Lets redirects lead to `url`'s origin (the identity provider's authorization endpoint).
    pub fn redirecting_to(mut self, url: &str) -> Self {
        if let Ok(url) = url::Url::parse(url) {
            let mut elsewhere = self.elsewhere.to_vec();
            elsewhere.push(url.origin().ascii_serialization());
            self.elsewhere = elsewhere.into();
        }
        self
    }

    fn knows_host(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.hosts.iter().any(|h| {
            *h == host
                || h.strip_suffix(":80").is_some_and(|b| b == host) && !self.https
                || h.strip_suffix(":443").is_some_and(|b| b == host)
        })
    }

    /// A state-changing request a browser sent from another site (a forged form post).
    fn cross_site(&self, headers: &HeaderMap) -> bool {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
            return true;
        }
        match text(header::ORIGIN) {
            // A page sent with `Referrer-Policy: no-referrer` (a hand-off link's) posts with
            // `Origin: null`; the browser's own `Sec-Fetch-Site` still tells where it came from.
            Some("null") => {
                text(header::HeaderName::from_static("sec-fetch-site")) != Some("same-origin")
            }
            Some(origin) => !self.origins.iter().any(|o| o == origin),
            None => false,
        }
    }
}

/// What load balancers, container runtimes and Prometheus ask: no session, any `Host`.
pub const MACHINE_PATHS: [&str; 4] = ["/health", "/healthz", "/readyz", "/metrics"];

/// Paths machines call by whatever name reaches the console (a service name, an IP): they
/// carry no session and tell nothing, so DNS rebinding gains nothing there. `/metrics` is not
/// one: it tells the fleet's size and health, and a rebinding page could read it through an
/// employee's browser; Prometheus scrapes it by a name in `CONCUR_CONSOLE_PUBLIC_URL` or by
/// the address the console listens on.
fn any_host(path: &str) -> bool {
    (MACHINE_PATHS.contains(&path) && path != "/metrics")
        || path == "/api/openapi.json"
        || path.starts_with("/api/v1/")
}

/// Refuses unknown `Host` values (DNS rebinding) and cross-site state changes (CSRF).
pub async fn origins(State(origins): State<Origins>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !any_host(request.uri().path()) && !origins.knows_host(host) {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "Unknown host: reach the console at the address in CONCUR_CONSOLE_PUBLIC_URL.",
        )
            .into_response();
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD)
        && origins.cross_site(request.headers())
    {
        return (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response();
    }
    next.run(request).await
}

/// A `Location` that stays on the console: an absolute URL of one of its origins becomes its
/// path, any other absolute URL becomes `/`, and a path's leading run of slashes and
/// backslashes (also percent-encoded, or split by tabs a browser drops) collapses into one `/`,
/// so `//evil.example/` and `/\\evil.example/` cannot name another host.
pub fn local_location(location: &str, origins: &Origins) -> String {
    let location: String = location
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    if let Ok(url) = url::Url::parse(&location) {
        let origin = url.origin().ascii_serialization();
        if origins.elsewhere.contains(&origin) {
            return location;
        }
        if !origins.origins.contains(&origin) {
            return "/".to_owned();
        }
        let rest = &url[url::Position::BeforePath..];
        return local_location(rest, origins);
    }
    let mut rest = location.as_str();
    if !rest.starts_with(['/', '\\']) {
        return location;
    }
    loop {
        let lower = rest.get(..3).map(str::to_ascii_lowercase);
        rest = if rest.starts_with(['/', '\\']) {
            &rest[1..]
        } else if matches!(lower.as_deref(), Some("%2f" | "%5c")) {
            &rest[3..]
        } else {
            break;
        };
    }
    format!("/{rest}")
}

/// Headers every answer carries; pages also get their CSP from the app (it knows the nonce).
/// Every redirect passes here too, and leaves with a [`local_location`].
pub async fn security_headers(
    State(origins): State<Origins>,
    request: Request,
    next: Next,
) -> Response {
    let asset = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let location = headers
        .get(header::LOCATION)
        .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
    if let Some(location) = location {
        let local = local_location(&location, &origins);
        if local != location {
            match HeaderValue::from_str(&local) {
                Ok(value) => headers.insert(header::LOCATION, value),
                Err(_) => headers.insert(header::LOCATION, HeaderValue::from_static("/")),
            };
        }
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No URL (the setup link carries a token) ever leaks to another site. Same-origin requests
    // keep theirs: with `no-referrer` a browser sends `Origin: null` on a plain form post, which
    // the Origin check must refuse, and a failed form without JavaScript finds its way back
    // through the Referer.
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !asset && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if origins.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Routes whose path carries a secret token after this prefix.
const TOKEN_PATHS: &[&str] = &["/connect/"];

/// A request path as logs may show it: a token in it replaced by `…` (`/connect/…`). Query
/// strings (where the setup and invitation tokens travel) are never logged.
pub fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    match TOKEN_PATHS.iter().find(|prefix| path.starts_with(*prefix)) {
        Some(prefix) => format!("{prefix}…").into(),
        None => path.into(),
    }
}

/// Gives every request an id (in its log lines and the `X-Request-Id` answer header), and
/// logs every 500 with it: a 500 is a bug, and the id finds its cause in the log.
pub async fn request_id(request: Request, next: Next) -> Response {
    let id = format!("{:016x}", fastrand::u64(..));
    let method = request.method().clone();
    let path = logged_path(request.uri().path()).into_owned();
    let span = tracing::info_span!("request", id = %id, %method, %path);
    let mut response = next.run(request).instrument(span).await;
    if response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(request_id = %id, %method, %path, "answered 500");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Server functions answer every error with 500; this gives each its real status, mapped
/// once by [`Error::status`], with `Retry-After` where waiting helps.
pub async fn error_status(request: Request, next: Next) -> Response {
    let server_function =
        request.uri().path().starts_with("/api/") && !request.uri().path().starts_with("/api/v1/");
    let response = next.run(request).await;
    if !server_function || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<Error>(&bytes) {
        parts.status = StatusCode::from_u16(error.status()).unwrap_or(parts.status);
        if let Some(seconds) = error.retry_after() {
            parts
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The hex HMAC-SHA256 of `parts`, concatenated, under `key`.
pub fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The signature of an error message in a URL, bound to the page that shows it and to the
/// form it belongs to (`__path`): half of its HMAC is plenty there. Each part is preceded by
/// its length, so no two different triples sign alike.
fn signature(key: &[u8; 32], page: &str, form: &str, message: &str) -> String {
    let lengths = [page.len(), form.len(), message.len()].map(|n| (n as u64).to_be_bytes());
    let mut full = hmac_sha256_hex(
        key,
        &[
            &lengths[0],
            page.as_bytes(),
            &lengths[1],
            form.as_bytes(),
            &lengths[2],
            message.as_bytes(),
        ],
    );
    full.truncate(32);
    full
}

/// The values of `name` in a query string, in order.
fn query_values<'a>(query: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The pairs of a query string that are not a form error's (`__err`, `__path`, `__sig`).
fn without_error(query: &str) -> Vec<&str> {
    query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            !["__err", "__path", SIGNATURE_PARAM].contains(&name)
        })
        .collect()
}

/// Without JavaScript (or through the islands router), a failed form comes back to its page
/// with the error in the URL (`__err`). Only errors this process put there are shown: the
/// redirect it sends carries exactly one error, signed, and a page asked for with an unsigned,
/// forged or repeated `__err` is sent to the same page without it, so a link cannot put text of
/// an attacker's choosing on a real page.
pub async fn signed_errors(
    State((state, origins)): State<(AppState, Origins)>,
    request: Request,
    next: Next,
) -> Response {
    let query = request.uri().query().unwrap_or_default().to_owned();
    let errors: Vec<&str> = query_values(&query, "__err").collect();
    if request.method() == Method::GET && !errors.is_empty() {
        let signatures: Vec<&str> = query_values(&query, SIGNATURE_PARAM).collect();
        let forms: Vec<&str> = query_values(&query, "__path").collect();
        let page = request.uri().path();
        let genuine = matches!((errors.as_slice(), signatures.as_slice(), forms.as_slice()),
            ([error], [sig], [form]) if *sig == signature(&state.message_key, page, form, error));
        if !genuine {
            let kept = without_error(&query);
            let path = local_location(page, &origins);
            let target = if kept.is_empty() {
                path
            } else {
                format!("{path}?{}", kept.join("&"))
            };
            return Redirect::to(&target).into_response();
        }
    }
    let mut response = next.run(request).await;
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    // A form that failed before came from a page whose address still carries that failure:
    // only the new one (the last pair, appended by the server function) stays, signed.
    if let Some(location) = location
        && let Some((target, target_query)) = location.split_once('?')
        && let Some(error) = query_values(target_query, "__err").last()
    {
        let target = local_location(target, &origins);
        let page = target.as_str();
        let form = query_values(target_query, "__path")
            .last()
            .unwrap_or_default();
        let mut pairs = without_error(target_query);
        let form_pair = format!("__path={form}");
        let error_pair = format!("__err={error}");
        let sig_pair = format!(
            "{SIGNATURE_PARAM}={}",
            signature(&state.message_key, page, form, error)
        );
        pairs.push(&form_pair);
        pairs.push(&error_pair);
        pairs.push(&sig_pair);
        if let Ok(value) = HeaderValue::from_str(&format!("{target}?{}", pairs.join("&"))) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_consoles_own_origin_may_change_state() {
        let o = Origins::new(
            "https://console.example.com",
            "127.0.0.1:3000".parse().unwrap(),
        );
        assert!(!o.cross_site(&headers(&[])));
        assert!(!o.cross_site(&headers(&[("origin", "https://console.example.com")])));
        assert!(!o.cross_site(&headers(&[("origin", "http://127.0.0.1:3000")])));
        assert!(o.cross_site(&headers(&[("origin", "https://evil.example")])));
        assert!(o.cross_site(&headers(&[("origin", "null")])));
        assert!(
            !o.cross_site(&headers(&[
                ("origin", "null"),
                ("sec-fetch-site", "same-origin")
            ])),
            "a no-referrer page's own form"
        );
        assert!(o.cross_site(&headers(&[
            ("origin", "null"),
            ("sec-fetch-site", "same-site")
        ])));
        assert!(
            o.cross_site(&headers(&[("origin", "http://console.example.com")])),
            "the scheme counts"
        );
        assert!(o.cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn unknown_hosts_are_refused_so_dns_rebinding_reaches_nothing() {
        let o = Origins::new(
            "https://console.example.com",
            "127.0.0.1:3000".parse().unwrap(),
        );
        assert!(o.knows_host("console.example.com"));
        assert!(o.knows_host("Console.Example.com"));
        assert!(o.knows_host("127.0.0.1:3000"));
        assert!(!o.knows_host("evil.example"));
        assert!(!o.knows_host(""));
        assert!(any_host("/api/v1/connections/x/token"));
        assert!(any_host("/readyz"));
        assert!(!any_host("/metrics"), "the Host check stays on /metrics");
        let container = Origins::new("http://0.0.0.0:3000", "0.0.0.0:3000".parse().unwrap());
        assert!(container.knows_host("localhost:3000"));
        assert!(!container.knows_host("evil.example:3000"));
        assert!(!any_host("/"));
    }

    #[test]
    fn redirects_never_leave_the_console() {
        let o = Origins::new(
            "https://console.example.com",
            "127.0.0.1:3000".parse().unwrap(),
        );
        for (location, local) in [
            ("//evil.example/", "/evil.example/"),
            ("/\\evil.example/", "/evil.example/"),
            ("/\\\\evil.example/x?a=1", "/evil.example/x?a=1"),
            ("\\\\evil.example", "/evil.example"),
            ("/%2F%2Fevil.example/", "/evil.example/"),
            ("/%5c%2fevil.example/", "/evil.example/"),
            ("/\t/evil.example/", "/evil.example/"),
            ("https://evil.example/login", "/"),
            ("http://console.example.com/", "/"),
            (
                "https://console.example.com//evil.example/a?b",
                "/evil.example/a?b",
            ),
            ("http://127.0.0.1:3000/login?x=1", "/login?x=1"),
            ("/connections/abc?saved", "/connections/abc?saved"),
            ("/", "/"),
        ] {
            assert_eq!(local_location(location, &o), local, "{location}");
        }
        let idp = o.redirecting_to("https://login.example.org/oauth2/authorize");
        let sign_in = "https://login.example.org/oauth2/authorize?state=s&nonce=n";
        assert_eq!(
            local_location(sign_in, &idp),
            sign_in,
            "to the identity provider"
        );
        assert_eq!(local_location("https://evil.example/", &idp), "/");
    }

    #[test]
    fn error_signatures_depend_on_the_key_and_the_message() {
        let key = [7u8; 32];
        let sign = |key: &[u8; 32], page, form, message| signature(key, page, form, message);
        let base = sign(&key, "/login", "/api/login", "abc");
        assert_eq!(base, sign(&key, "/login", "/api/login", "abc"));
        assert_ne!(base, sign(&key, "/login", "/api/login", "abd"));
        assert_ne!(base, sign(&[8u8; 32], "/login", "/api/login", "abc"));
        assert_ne!(
            base,
            sign(&key, "/account", "/api/login", "abc"),
            "the page counts"
        );
        assert_ne!(
            base,
            sign(&key, "/login", "/api/setup", "abc"),
            "the form counts"
        );
        assert_ne!(
            sign(&key, "/a", "b/c", ""),
            sign(&key, "/a", "b", "/c"),
            "parts cannot shift into each other"
        );
        assert_eq!(
            query_values("a=1&__err=xyz&b=2", "__err").collect::<Vec<_>>(),
            ["xyz"]
        );
        assert_eq!(
            without_error("a=1&__err=x&__path=/p&__sig=s&__errand=2&b"),
            ["a=1", "__errand=2", "b"]
        );
    }
}
