//! `concur-console serve`: settings from the environment, the router, and the guards every
//! request passes (sign-in for pages, same-site for state-changing requests).

use std::net::SocketAddr;
use std::sync::Arc;

use app::{App, shell};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use concur::{ClientConfig, Clock};
use console_core::auth::SignedIn;
use console_core::state::{AppState, Config, StartError};
use console_model::Role;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};

use console_core::alerts::{AlertConfig, Email, Webhook, parse_thresholds};
use console_core::auth::oidc::{Oidc, OidcConfig};
use console_core::renewals::RenewalConfig;

use crate::{
    alerts, api, connect, handoff, keepalive, management, ops, protect, site, sso, upkeep,
};

const DEFAULT_DATABASE_URL: &str = "sqlite://data/concur-console.db";
const DEFAULT_ADDR: &str = "127.0.0.1:3000";
const DEFAULT_KEEPALIVE: &str = "24h";
const DEFAULT_LEASE: &str = "90s";
const DEFAULT_SESSION_IDLE: &str = "30m";
const DEFAULT_SESSION_LIFETIME: &str = "12h";
const DEFAULT_AUDIT_RETENTION: &str = "400d";
/// Every call to Concur (or a webhook) gives up after this long, connecting after the second.
const DEFAULT_HTTP_TIMEOUT: &str = "20s";
const DEFAULT_CONNECT_TIMEOUT: &str = "5s";

/// Everything `serve` reads from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub site_addr: SocketAddr,
    /// The folder the site is served from (`LEPTOS_SITE_ROOT`); without one, `carried`.
    pub site_root: Option<String>,
    /// The site the binary carries (its own `Embed`; `from_env` knows of none).
    pub carried: Option<site::Files>,
    /// Run the keep-alive job in the background (tests drive sweeps themselves).
    pub keepalive: bool,
    /// Token API requests per API key and minute.
    pub api_rate_per_minute: u32,
    /// The bearer token `/metrics` asks for (`CONCUR_METRICS_TOKEN`), if any.
    pub metrics_token: Option<String>,
    /// Requests per address and minute to the customer's hand-off pages.
    pub connect_rate_per_minute: u32,
    /// Backups `serve` writes by itself (`CONCUR_BACKUP_DIR`), if any.
    pub backup: Option<crate::backup::Schedule>,
}

/// The address `serve` listens on: LEPTOS_SITE_ADDR as given (`site_addr`), or the default.
fn site_addr(site_addr: Option<String>) -> Result<SocketAddr, String> {
    let addr = site_addr
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADDR.into());
    addr.trim()
        .parse()
        .map_err(|_| format!("LEPTOS_SITE_ADDR {addr:?} is not an address like 127.0.0.1:3000"))
}

/// The base URL this machine reaches a console at that listens on `site_addr` (as
/// LEPTOS_SITE_ADDR gives it, or the default): one listening on every interface is reached on
/// the loopback of its family.
pub fn local_url(site_addr: Option<String>) -> Result<String, String> {
    let mut listening = self::site_addr(site_addr)?;
    if listening.ip().is_unspecified() {
        listening.set_ip(match listening {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("http://{listening}"))
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let site_addr = site_addr(var("LEPTOS_SITE_ADDR"))?;
        let public_url =
            var("CONCUR_CONSOLE_PUBLIC_URL").unwrap_or_else(|| format!("http://{site_addr}"));
        let per_minute =
            |name: &str, default: u32| match var(name) {
                None => Ok(default),
                Some(raw) => raw.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("{name} {raw:?} is not a number of requests per minute")
                }),
            };
        let duration = |name: &str, default: &str| {
            let raw = var(name).unwrap_or_else(|| default.into());
            parse_duration(&raw)
                .ok_or_else(|| format!("{name} {raw:?} is not a duration like 30s, 15m, 6h or 1d"))
        };
        Ok(Self {
            config: Config {
                database_url: var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
                console_key: var("CONCUR_CONSOLE_KEY"),
                old_keys: var("CONCUR_CONSOLE_OLD_KEYS"),
                allowed_hosts: var("CONCUR_ALLOWED_HOSTS").unwrap_or_default(),
                public_url,
                client: ClientConfig {
                    timeout: std::time::Duration::from_secs(
                        duration("CONCUR_HTTP_TIMEOUT", DEFAULT_HTTP_TIMEOUT)?.unsigned_abs(),
                    ),
                    connect_timeout: std::time::Duration::from_secs(
                        duration("CONCUR_HTTP_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)?
                            .unsigned_abs(),
                    ),
                    proxy: var("CONCUR_HTTP_PROXY")
                        .map(|raw| {
                            url::Url::parse(&raw).map_err(|_| {
                                "CONCUR_HTTP_PROXY is not a URL like http://proxy.internal:3128"
                                    .to_owned()
                            })
                        })
                        .transpose()?,
                    ..ClientConfig::default()
                },
                keepalive_every: duration("CONCUR_KEEPALIVE_EVERY", DEFAULT_KEEPALIVE)?,
                lease_seconds: duration("CONCUR_REFRESH_LEASE", DEFAULT_LEASE)?,
                trusted_proxies: parse_proxies(&var("CONCUR_TRUSTED_PROXIES").unwrap_or_default())?,
                session_idle: duration("CONCUR_SESSION_IDLE", DEFAULT_SESSION_IDLE)?,
                session_lifetime: duration("CONCUR_SESSION_LIFETIME", DEFAULT_SESSION_LIFETIME)?,
                alerts: alert_config(&var)?,
                audit_retention: duration("CONCUR_AUDIT_RETENTION", DEFAULT_AUDIT_RETENTION)?,
                renewal: renewal_config(&var)?,
                org_name: var("CONCUR_ORG_NAME").map(|n| n.trim().chars().take(100).collect()),
                oidc: oidc_config(&var)?,
                local_login: local_login(&var)?,
                probes: switch(&var, "CONCUR_PROBES")?,
            },
            site_addr,
            site_root: var("LEPTOS_SITE_ROOT"),
            carried: None,
            keepalive: true,
            metrics_token: var("CONCUR_METRICS_TOKEN"),
            connect_rate_per_minute: per_minute(
                "CONCUR_CONNECT_RATE_LIMIT",
                connect::DEFAULT_RATE_PER_MINUTE,
            )?,
            api_rate_per_minute: per_minute("CONCUR_API_RATE_LIMIT", api::DEFAULT_RATE_PER_MINUTE)?,
            backup: match var("CONCUR_BACKUP_DIR") {
                None => None,
                Some(dir) => Some(crate::backup::Schedule {
                    dir: dir.into(),
                    every: duration("CONCUR_BACKUP_EVERY", "24h")?,
                    keep: match var("CONCUR_BACKUP_KEEP") {
                        None => 14,
                        Some(raw) => {
                            raw.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                                format!(
                                    "CONCUR_BACKUP_KEEP {raw:?} is not a number of backups to keep"
                                )
                            })?
                        }
                    },
                }),
            },
        })
    }
}

/// `CONCUR_OIDC_*`: single sign-on through the company's identity provider, when an issuer is
/// set.
fn oidc_config(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<OidcConfig>, String> {
    let Some(issuer) = var("CONCUR_OIDC_ISSUER") else {
        return Ok(None);
    };
    let required =
        |name: &str| var(name).ok_or_else(|| format!("{name} is required with CONCUR_OIDC_ISSUER"));
    let groups = |name: &str| -> Vec<String> {
        var(name)
            .unwrap_or_default()
            .split(',')
            .map(|g| g.trim().to_owned())
            .filter(|g| !g.is_empty())
            .collect()
    };
    let config = OidcConfig {
        issuer: issuer.trim().to_owned(),
        client_id: required("CONCUR_OIDC_CLIENT_ID")?,
        client_secret: required("CONCUR_OIDC_CLIENT_SECRET")?,
        roles_claim: var("CONCUR_OIDC_ROLES_CLAIM").unwrap_or_else(|| "groups".into()),
        admin_groups: groups("CONCUR_OIDC_ADMIN_GROUPS"),
        editor_groups: groups("CONCUR_OIDC_EDITOR_GROUPS"),
        viewer_groups: groups("CONCUR_OIDC_VIEWER_GROUPS"),
        label: var("CONCUR_OIDC_LABEL")
            .map(|l| l.trim().chars().take(60).collect())
            .unwrap_or_else(|| console_core::auth::oidc::DEFAULT_LABEL.into()),
    };
    if config.expected_groups().is_empty() {
        return Err("CONCUR_OIDC_ISSUER is set but none of CONCUR_OIDC_ADMIN_GROUPS, CONCUR_OIDC_EDITOR_GROUPS, CONCUR_OIDC_VIEWER_GROUPS names a group: nobody could sign in".into());
    }
    Ok(Some(config))
}

/// A setting that is `on` (the default) or `off`.
fn switch(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<bool, String> {
    match var(name).as_deref().map(str::trim) {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => Err(format!("{name} {other:?} is neither on nor off")),
    }
}

/// `CONCUR_LOCAL_LOGIN`: `on` (the default) or `off`; off needs single sign-on.
fn local_login(var: &dyn Fn(&str) -> Option<String>) -> Result<bool, String> {
    let on = switch(var, "CONCUR_LOCAL_LOGIN")?;
    if !on && var("CONCUR_OIDC_ISSUER").is_none() {
        return Err("CONCUR_LOCAL_LOGIN=off needs single sign-on (CONCUR_OIDC_ISSUER …), or nobody could sign in".into());
    }
    Ok(on)
}

/// Alert thresholds and the channels set in the environment.
/// When customers are asked to renew: `CONCUR_RENEWAL_LEAD` (a duration), the reminders
/// `CONCUR_RENEWAL_REMINDERS` (durations after the first request, comma-separated) and
/// `CONCUR_RENEWAL_REQUESTS` (`on` or `off`; unset, on whenever e-mail is set up).
fn renewal_config(var: &dyn Fn(&str) -> Option<String>) -> Result<RenewalConfig, String> {
    let mut config = RenewalConfig::default();
    if let Some(raw) = var("CONCUR_RENEWAL_LEAD") {
        config.lead = parse_duration(&raw).ok_or_else(|| {
            format!("CONCUR_RENEWAL_LEAD {raw:?} is not a duration like 7d or 36h")
        })?;
    }
    if let Some(raw) = var("CONCUR_RENEWAL_REMINDERS") {
        let mut reminders = raw
            .split(',')
            .map(parse_duration)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                format!("CONCUR_RENEWAL_REMINDERS {raw:?} is not a list of durations like 2d,5d")
            })?;
        reminders.sort_unstable();
        reminders.dedup();
        config.reminders = reminders;
    }
    config.automatic = match var("CONCUR_RENEWAL_REQUESTS").as_deref().map(str::trim) {
        None => None,
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(other) => {
            return Err(format!("CONCUR_RENEWAL_REQUESTS {other:?} is on or off"));
        }
    };
    Ok(config)
}

fn alert_config(var: &dyn Fn(&str) -> Option<String>) -> Result<AlertConfig, String> {
    let thresholds =
        parse_thresholds(&var("CONCUR_ALERT_DAYS").unwrap_or_else(|| "30,14,7,3,1".into()))?;
    let webhook = match (
        var("CONCUR_ALERT_WEBHOOK_URL"),
        var("CONCUR_ALERT_WEBHOOK_SECRET"),
    ) {
        (Some(url), Some(secret)) => Some(Webhook { url, secret }),
        (Some(_), None) => {
            return Err("CONCUR_ALERT_WEBHOOK_SECRET is required with CONCUR_ALERT_WEBHOOK_URL (receivers verify the signature with it)".into());
        }
        (None, _) => None,
    };
    let email = match var("CONCUR_SMTP_URL") {
        Some(smtp_url) => {
            console_core::alerts::outbound::check_smtp_url(&smtp_url)
                .map_err(|m| format!("CONCUR_SMTP_URL: {m}"))?;
            let from = var("CONCUR_ALERT_EMAIL_FROM")
                .ok_or("CONCUR_ALERT_EMAIL_FROM is required with CONCUR_SMTP_URL")?;
            let to: Vec<String> = var("CONCUR_ALERT_EMAIL_TO")
                .unwrap_or_default()
                .split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect();
            if to.is_empty() {
                return Err("CONCUR_ALERT_EMAIL_TO (comma-separated addresses) is required with CONCUR_SMTP_URL".into());
            }
            Some(Email { smtp_url, from, to })
        }
        None => None,
    };
    let routes = console_core::alerts::parse_routes(
        &var("CONCUR_ALERT_ROUTES").unwrap_or_default(),
        var("CONCUR_ALERT_WEBHOOK_SECRET").as_deref(),
    )?;
    Ok(AlertConfig {
        thresholds,
        webhook,
        email,
        routes,
    })
}

/// `CONCUR_TRUSTED_PROXIES`: comma-separated IP addresses of the proxies in front.
pub fn parse_proxies(raw: &str) -> Result<Vec<std::net::IpAddr>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.parse()
                .map_err(|_| format!("CONCUR_TRUSTED_PROXIES: {a:?} is not an IP address"))
        })
        .collect()
}

/// A duration such as `30s`, `15m`, `6h` or `1d`, in seconds; at least one second.
pub fn parse_duration(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = raw.split_at(split);
    let number: i64 = number.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(unit).filter(|&s| s >= 1)
}

/// A loud warning when passwords and session cookies would cross a network in clear.
pub fn cleartext_warning(listening: SocketAddr, public_url: &str) -> Option<String> {
    (!listening.ip().is_loopback() && !public_url.starts_with("https://")).then(|| {
        format!(
            "INSECURE: listening on {listening} without https: passwords and session cookies cross the network in clear. \
             Put a TLS proxy in front and set CONCUR_CONSOLE_PUBLIC_URL=https://… (see docs/operations.md, Deployment behind TLS)."
        )
    })
}

/// The console, bound and ready to serve; tests build it on port 0.
pub struct Application {
    pub address: SocketAddr,
    pub state: AppState,
    listener: tokio::net::TcpListener,
    router: Router,
    /// The server-rendered pages and server functions, which `router` serves behind a
    /// watchdog (see `pages`).
    pages: Router,
    keepalive: bool,
    backup: Option<crate::backup::Schedule>,
    /// Who may read `/metrics`, decided from the bound address and `CONCUR_METRICS_TOKEN`.
    pub metrics: ops::MetricsAccess,
}

impl Application {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let mut state = AppState::build(&settings.config, clock).await?;
        let listener = tokio::net::TcpListener::bind(settings.site_addr)
            .await
            .map_err(|e| {
                StartError::Http(format!("cannot listen on {}: {e}", settings.site_addr))
            })?;
        let address = listener
            .local_addr()
            .map_err(|e| StartError::Http(e.to_string()))?;
        let options = LeptosOptions::builder()
            .output_name("concur-console")
            .site_root(settings.site_root.as_deref().unwrap_or(FOLDERLESS))
            .site_pkg_dir("pkg")
            .site_addr(address)
            .build();
        if settings.config.public_url == format!("http://{}", settings.site_addr) {
            // No public URL was given: links name the address actually bound, by a name a
            // browser on this machine can open.
            let reachable = if address.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], address.port()))
            } else {
                address
            };
            state.public_url = format!("http://{reachable}");
        }
        let mut origins = protect::Origins::new(&settings.config.public_url, address);
        if let Some(config) = settings.config.oidc.clone() {
            let client = &settings.config.client;
            let oidc = Oidc::discover(
                config,
                &state.public_url,
                client.timeout,
                client.proxy.as_ref(),
            )
            .await
            .map_err(StartError::Oidc)?;
            origins = origins.redirecting_to(&oidc.authorization_url());
            state.oidc = Some(oidc);
        }
        let metrics = ops::MetricsAccess::decide(
            settings.metrics_token.clone(),
            address,
            !settings.config.trusted_proxies.is_empty(),
        );
        let routes = generate_route_list(App);
        let context_state = state.clone();
        let shell_options = options.clone();
        let pages: Router<LeptosOptions> = Router::new().leptos_routes_with_context(
            &options,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(shell_options.clone()),
        );
        let pages: Router = if settings.site_root.is_some() {
            pages.fallback(leptos_axum::file_and_error_handler(shell))
        } else {
            let carried = settings.carried.filter(|files| site::is_embedded(*files));
            if carried.is_none() {
                tracing::warn!(
                    "this binary carries no site (build it with `make build`) and LEPTOS_SITE_ROOT is unset: pages are served without their scripts and styles"
                );
            }
            pages.fallback(move |uri, options, request| {
                carried_or_error(carried, uri, options, request)
            })
        }
        .with_state(options);
        let (watched, rendered) = (state.clone(), pages.clone());
        let router = Router::new()
            .route("/health", get(health))
            .merge(ops::router(state.clone(), metrics.clone()))
            .merge(api::router(
                state.clone(),
                Arc::new(api::KeyLimiter::new(settings.api_rate_per_minute)),
            ))
            .merge(handoff::router(state.clone()))
            .merge(management::router(state.clone()))
            .merge(sso::router(state.clone()))
            .merge(connect::router(
                state.clone(),
                Arc::new(api::KeyLimiter::new(settings.connect_rate_per_minute)),
            ))
            .fallback(move |request: Request| {
                let (pages, state) = (rendered.clone(), watched.clone());
                async move {
                    crate::pages::render(pages, (crate::pages::STALLED, &state.metrics), request)
                        .await
                }
            })
            .layer(from_fn_with_state(state.clone(), guard))
            .layer(from_fn(protect::error_status))
            .layer(from_fn_with_state(
                (state.clone(), origins.clone()),
                protect::signed_errors,
            ))
            .layer(from_fn_with_state(origins.clone(), protect::origins))
            .layer(from_fn_with_state(origins, protect::security_headers))
            .layer(from_fn(protect::request_id));
        Ok(Self {
            address,
            state,
            listener,
            router,
            pages,
            keepalive: settings.keepalive,
            backup: settings.backup.clone(),
            metrics,
        })
    }

    /// Every path the router answers (pages, server functions, the JSON API, probes), read off
    /// the routers themselves: axum lists them only in its `Debug` output, as
    /// `RouteId(n): "path"`.
    pub fn routes(&self) -> Vec<String> {
        let printed = format!("{:?} {:?}", self.router, self.pages);
        let mut routes: Vec<String> = printed
            .split("RouteId(")
            .skip(1)
            .filter_map(|entry| {
                let (_, rest) = entry.split_once("): \"")?;
                rest.split_once('"').map(|(path, _)| path.to_owned())
            })
            .filter(|path| !path.contains("__private__axum"))
            .collect();
        routes.sort();
        routes.dedup();
        routes
    }

    /// Serves until Ctrl-C or SIGTERM, with the keep-alive job beside; on shutdown the job
    /// finishes the refreshes under way (so no rotated token is lost) and stops.
    pub async fn run(self) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut jobs = vec![tokio::spawn(
            self.state.clone().watch_revocations(stopped.clone()),
        )];
        if self.keepalive {
            jobs.push(tokio::spawn(keepalive::run(
                self.state.clone(),
                stopped.clone(),
            )));
            jobs.push(tokio::spawn(alerts::run(
                self.state.clone(),
                stopped.clone(),
            )));
            jobs.push(tokio::spawn(upkeep::run(
                self.state.clone(),
                stopped.clone(),
            )));
            if let Some(schedule) = self.backup.clone() {
                jobs.push(tokio::spawn(crate::backup::run(
                    self.state.clone(),
                    schedule,
                    stopped,
                )));
            }
        }
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await;
        let _ = stop.send(true);
        for job in jobs {
            let _ = job.await;
        }
        served
    }
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// Where the pages' options say the site is when the binary carries it: nowhere to read.
const FOLDERLESS: &str = "/nonexistent/concur-console-site";

/// A file of the site the binary carries, or else the pages' not-found page.
async fn carried_or_error(
    carried: Option<site::Files>,
    uri: axum::http::Uri,
    options: State<LeptosOptions>,
    request: Request,
) -> Response {
    match carried
        .and_then(|files| site::file(files, request.method(), uri.path(), request.headers()))
    {
        Some(file) => file,
        None => leptos_axum::file_and_error_handler(shell)(uri, options, request).await,
    }
}

async fn health() -> &'static str {
    "ok"
}

fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/setup" | "/invite" | "/favicon.ico" | "/robots.txt"
    ) || protect::MACHINE_PATHS.contains(&path)
        || path.starts_with("/pkg/")
        || path.starts_with("/api/")
        || path.starts_with("/connect/")
        || path.starts_with("/auth/oidc/")
}

/// The page shown while the database cannot be read: plain, and asking to come back.
fn database_unavailable() -> Response {
    let page = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Database unavailable · Concur Console</title>\
        <link rel=\"stylesheet\" href=\"/pkg/concur-console.css\"></head><body><main><h1>Database unavailable</h1>\
        <p class=\"lead\">Concur Console cannot use its database right now: it does not answer or refuses writes. Integrations keep getting the access tokens it holds in memory; \
        this page works again as soon as the database answers. Reload in a few seconds.</p></main></body></html>";
    let mut response =
        (StatusCode::SERVICE_UNAVAILABLE, axum::response::Html(page)).into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    response
}

/// The page shown to an account whose role does not open the page it asked for.
fn forbidden(needed: Role, role: Role) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed · Concur Console</title>\
        <link rel=\"stylesheet\" href=\"/pkg/concur-console.css\"></head><body><header class=\"top\"><a class=\"brand\" href=\"/\">Concur Console</a></header>\
        <main><h1>Not allowed</h1><p class=\"lead\" role=\"alert\">This page needs the {needed} role; your account is a {role}. \
        Ask an admin of this console if you should have it.</p><p><a href=\"/\">Back to the connections</a></p></main></body></html>"
    );
    (StatusCode::FORBIDDEN, axum::response::Html(page)).into_response()
}

/// Pages need a signed-in account whose role opens them (server functions check for
/// themselves).
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    if !state.database_ready().await {
        return database_unavailable();
    }
    match console_core::auth::current_account(&state, request.headers()).await {
        Ok(Some(account)) => {
            let needed = app::session::page_role(request.uri().path());
            if !account.role.allows(needed) {
                return forbidden(needed, account.role);
            }
            request.extensions_mut().insert(SignedIn(account));
            next.run(request).await
        }
        Ok(None) => Redirect::to("/login").into_response(),
        Err(_) => database_unavailable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_check_reaches_the_address_serve_listens_on() {
        let url = |addr: Option<&str>| local_url(addr.map(str::to_owned));
        assert_eq!(url(None).unwrap(), "http://127.0.0.1:3000");
        assert_eq!(url(Some(" ")).unwrap(), "http://127.0.0.1:3000");
        assert_eq!(url(Some("0.0.0.0:8080")).unwrap(), "http://127.0.0.1:8080");
        assert_eq!(url(Some("[::]:8080")).unwrap(), "http://[::1]:8080");
        assert_eq!(url(Some("10.1.2.3:3100")).unwrap(), "http://10.1.2.3:3100");
        let refused = url(Some("localhost")).unwrap_err();
        assert!(refused.contains("LEPTOS_SITE_ADDR"), "{refused}");
    }

    #[test]
    fn cleartext_on_a_network_address_is_called_out() {
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        assert!(cleartext_warning(any, "http://console.example").is_some());
        assert!(cleartext_warning(any, "https://console.example").is_none());
        assert!(cleartext_warning(local, "http://127.0.0.1:3000").is_none());
    }

    #[test]
    fn smtp_credentials_in_the_environment_need_tls() {
        let env = |smtp: &'static str| {
            move |name: &str| match name {
                "CONCUR_SMTP_URL" => Some(smtp.to_owned()),
                "CONCUR_ALERT_EMAIL_FROM" => Some("console@example.com".to_owned()),
                "CONCUR_ALERT_EMAIL_TO" => Some("ops@example.com".to_owned()),
                _ => None,
            }
        };
        let clear = alert_config(&env("smtp://u:secret@mail.example.com:587")).unwrap_err();
        assert!(
            clear.starts_with("CONCUR_SMTP_URL: ") && !clear.contains("secret"),
            "{clear}"
        );
        assert!(alert_config(&env("smtps://u:p@169.254.169.254")).is_err());
        assert!(alert_config(&env("smtps://u:secret@mail.example.com:465")).is_ok());
        assert!(alert_config(&env("smtp://u:secret@mail.example.com:587?tls=required")).is_ok());
    }

    #[test]
    fn single_sign_on_is_configured_whole_or_not_at_all() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(oidc_config(&env(&[])).unwrap().is_none());
        let missing = oidc_config(&env(&[("CONCUR_OIDC_ISSUER", "https://idp.example")]));
        assert_eq!(
            missing.unwrap_err(),
            "CONCUR_OIDC_CLIENT_ID is required with CONCUR_OIDC_ISSUER"
        );
        let full: &'static [(&str, &str)] = &[
            ("CONCUR_OIDC_ISSUER", "https://idp.example"),
            ("CONCUR_OIDC_CLIENT_ID", "console"),
            ("CONCUR_OIDC_CLIENT_SECRET", "s3cret"),
        ];
        let no_groups = oidc_config(&env(full)).unwrap_err();
        assert!(no_groups.contains("nobody could sign in"), "{no_groups}");
        let with_groups: &'static [(&str, &str)] = &[
            ("CONCUR_OIDC_ISSUER", "https://idp.example"),
            ("CONCUR_OIDC_CLIENT_ID", "console"),
            ("CONCUR_OIDC_CLIENT_SECRET", "s3cret"),
            ("CONCUR_OIDC_EDITOR_GROUPS", " finance-it , integrations ,"),
        ];
        let config = oidc_config(&env(with_groups)).unwrap().unwrap();
        assert_eq!(config.editor_groups, ["finance-it", "integrations"]);
        assert_eq!(
            (config.roles_claim.as_str(), config.label.as_str()),
            ("groups", "Sign in with single sign-on")
        );
        assert!(local_login(&env(&[])).unwrap());
        assert!(local_login(&env(&[("CONCUR_LOCAL_LOGIN", "off")])).is_err());
        assert!(local_login(&env(&[("CONCUR_LOCAL_LOGIN", "maybe")])).is_err());
        assert!(switch(&env(&[]), "CONCUR_PROBES").unwrap());
        assert!(!switch(&env(&[("CONCUR_PROBES", "off")]), "CONCUR_PROBES").unwrap());
        assert_eq!(
            switch(&env(&[("CONCUR_PROBES", "no")]), "CONCUR_PROBES").unwrap_err(),
            "CONCUR_PROBES \"no\" is neither on nor off"
        );
        let off: &'static [(&str, &str)] = &[
            ("CONCUR_LOCAL_LOGIN", "off"),
            ("CONCUR_OIDC_ISSUER", "https://idp.example"),
        ];
        assert!(!local_login(&env(off)).unwrap());
    }

    #[test]
    fn trusted_proxies_are_ip_addresses() {
        assert_eq!(parse_proxies("").unwrap(), Vec::<std::net::IpAddr>::new());
        assert_eq!(parse_proxies("10.0.0.1, ::1").unwrap().len(), 2);
        assert!(parse_proxies("proxy.local").is_err());
    }

    #[test]
    fn renewal_requests_are_set_by_the_environment_and_bad_values_are_named() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            renewal_config(&vars(&[])).unwrap(),
            RenewalConfig::default()
        );
        let set = renewal_config(&vars(&[
            ("CONCUR_RENEWAL_LEAD", "10d"),
            ("CONCUR_RENEWAL_REMINDERS", "5d, 30m,2d"),
            ("CONCUR_RENEWAL_REQUESTS", "off"),
        ]))
        .unwrap();
        assert_eq!(
            (set.lead, set.reminders, set.automatic),
            (864_000, vec![1_800, 172_800, 432_000], Some(false))
        );
        for (name, bad) in [
            ("CONCUR_RENEWAL_LEAD", "soon"),
            ("CONCUR_RENEWAL_REMINDERS", "2d,,5d"),
            ("CONCUR_RENEWAL_REQUESTS", "yes"),
        ] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(vec![(name, bad)].into_boxed_slice());
            let refused = renewal_config(&vars(pairs)).unwrap_err();
            assert!(refused.contains(name), "{refused}");
        }
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration(" 6h "), Some(21_600));
        assert_eq!(parse_duration("1d"), Some(86_400));
        for bad in [
            "",
            "24",
            "h",
            "0s",
            "-5m",
            "1.5h",
            "3w",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
