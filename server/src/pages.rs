//! The server-rendered pages, behind a watchdog.
//!
//! Each page is rendered whole before its first byte is sent (`SsrMode::Async`). Very rarely —
//! three times in some thousands of test runs, each a different page, on SQLite and on
//! PostgreSQL, on a two-core machine under load — a render never finishes and the browser
//! waits for ever, while the process keeps serving everything else. Leptos has reports of the
//! same kind: a resource's future that is never woken (leptos-rs/leptos#4647, #4851, #4578).
//! So a GET or HEAD whose page has not started after [`STALLED`] is rendered again from the
//! same request — a page view changes nothing, so twice is harmless — logged and counted
//! (`concur_console_stalled_pages_total`). Other methods carry a body that cannot be read
//! twice and pass straight through.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::response::Response;
use console_core::metrics::Metrics;
use tower::ServiceExt;

/// How long a page may take to start before it is rendered again: pages start within
/// milliseconds, a large fleet's dashboard under load within a few hundred.
pub const STALLED: Duration = Duration::from_secs(10);

/// Serves `request` from `pages`; a GET or HEAD that has not started after `stalled` is
/// rendered once more, and that second answer is the one sent.
pub async fn render(
    pages: Router,
    (stalled, metrics): (Duration, &Metrics),
    request: Request,
) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return answer(pages.oneshot(request).await);
    }
    let (parts, body) = request.into_parts();
    let first = Request::from_parts(parts.clone(), body);
    match tokio::time::timeout(stalled, pages.clone().oneshot(first)).await {
        Ok(answered) => answer(answered),
        Err(_) => {
            tracing::error!(
                method = %parts.method,
                path = parts.uri.path(),
                after_ms = stalled.as_millis() as u64,
                "a page had not started: rendering it again"
            );
            metrics.stalled_pages.add(&[parts.method.as_str()]);
            answer(
                pages
                    .oneshot(Request::from_parts(parts, Body::empty()))
                    .await,
            )
        }
    }
}

fn answer(answered: Result<Response, Infallible>) -> Response {
    match answered {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::get;

    use super::*;

    /// A page whose first render never finishes, and whose second does at once.
    fn stalls_once() -> (Router, Arc<AtomicUsize>) {
        let renders = Arc::new(AtomicUsize::new(0));
        let counted = renders.clone();
        let page = get(move || {
            let counted = counted.clone();
            async move {
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    std::future::pending::<()>().await;
                }
                "the page"
            }
        })
        .post(|| async { "posted" });
        (Router::new().route("/", page), renders)
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_page_that_has_not_started_is_rendered_again_and_counted() {
        let (pages, renders) = stalls_once();
        let metrics = Metrics::default();
        let request = Request::get("/?q=acme").body(Body::empty()).unwrap();
        let answered = render(pages, (Duration::from_millis(50), &metrics), request).await;
        assert_eq!(text(answered).await, "the page");
        assert_eq!(renders.load(Ordering::SeqCst), 2);
        assert_eq!(
            metrics.stalled_pages.snapshot(),
            [(vec!["GET".to_owned()], 1)]
        );
    }

    #[tokio::test]
    async fn a_page_that_starts_in_time_is_rendered_once() {
        let (pages, renders) = stalls_once();
        renders.store(1, Ordering::SeqCst);
        let metrics = Metrics::default();
        let request = Request::get("/").body(Body::empty()).unwrap();
        let answered = render(pages, (Duration::from_millis(50), &metrics), request).await;
        assert_eq!(text(answered).await, "the page");
        assert_eq!(renders.load(Ordering::SeqCst), 2);
        assert!(metrics.stalled_pages.snapshot().is_empty());
    }

    #[tokio::test]
    async fn a_post_is_never_sent_twice() {
        let (pages, renders) = stalls_once();
        let metrics = Metrics::default();
        let request = Request::post("/").body(Body::from("a=1")).unwrap();
        let answered = render(pages, (Duration::from_millis(50), &metrics), request).await;
        assert_eq!(text(answered).await, "posted");
        assert_eq!(renders.load(Ordering::SeqCst), 0);
        assert!(metrics.stalled_pages.snapshot().is_empty());
    }
}
