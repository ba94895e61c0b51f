//! `concur-console serve`: settings from the environment, the router, and the guards every
//! request passes (sign-in for pages, same-site for state-changing requests).

use std::net::SocketAddr;
use std::sync::Arc;

use app::auth::ssr::SignedIn;
use app::ssr::state::{AppState, Config, StartError};
use app::{App, shell};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use concur::{ClientConfig, Clock};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};

const DEFAULT_DATABASE_URL: &str = "sqlite://data/concur-console.db";
const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// Everything `serve` reads from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub site_addr: SocketAddr,
    pub site_root: String,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let addr = var("LEPTOS_SITE_ADDR").unwrap_or_else(|| DEFAULT_ADDR.into());
        let site_addr: SocketAddr = addr.parse().map_err(|_| {
            format!("LEPTOS_SITE_ADDR {addr:?} is not an address like 127.0.0.1:3000")
        })?;
        let public_url =
            var("CONCUR_CONSOLE_PUBLIC_URL").unwrap_or_else(|| format!("http://{site_addr}"));
        Ok(Self {
            config: Config {
                database_url: var("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
                console_key: var("CONCUR_CONSOLE_KEY"),
                allowed_hosts: var("CONCUR_ALLOWED_HOSTS").unwrap_or_default(),
                public_url,
                client: ClientConfig::default(),
            },
            site_addr,
            site_root: var("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
        })
    }
}

/// The console, bound and ready to serve; tests build it on port 0.
pub struct Application {
    pub address: SocketAddr,
    pub state: AppState,
    listener: tokio::net::TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let state = AppState::build(&settings.config, clock).await?;
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
            .site_root(settings.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(address)
            .build();
        let routes = generate_route_list(App);
        let context_state = state.clone();
        let shell_options = options.clone();
        let router = Router::new()
            .route("/health", get(health))
            .leptos_routes_with_context(
                &options,
                routes,
                move || provide_context(context_state.clone()),
                move || shell(shell_options.clone()),
            )
            .fallback(leptos_axum::file_and_error_handler(shell))
            .with_state(options)
            .layer(from_fn_with_state(state.clone(), guard));
        Ok(Self {
            address,
            state,
            listener,
            router,
        })
    }

    pub async fn run(self) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
    }
}

async fn health() -> &'static str {
    "ok"
}

fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/setup" | "/health" | "/favicon.ico")
        || path.starts_with("/pkg/")
        || path.starts_with("/api/")
}

/// A state-changing request from another site (a forged form post) is refused.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if text(header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return true;
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map(|(_, h)| h);
            origin_host != Some(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        if cross_site(request.headers()) {
            return (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response();
        }
        return next.run(request).await;
    }
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    match app::auth::ssr::current_admin(&state, request.headers()).await {
        Ok(Some(admin)) => {
            request.extensions_mut().insert(SignedIn(admin));
            next.run(request).await
        }
        Ok(None) => Redirect::to("/login").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
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
    fn only_same_site_requests_may_change_state() {
        assert!(!cross_site(&headers(&[])));
        assert!(!cross_site(&headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
    }
}
