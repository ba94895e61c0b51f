//! A webhook receiver for the tests: it keeps the bodies whose signature verifies with
//! `secret` and refuses the others with 401, as a careful receiver would.

use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Serves `POST /hook` on a free loopback port; returns its origin and what it kept.
pub async fn receiver(secret: &'static str) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let ts = headers["x-concur-console-timestamp"].to_str().unwrap();
                let sig = headers["x-concur-console-signature"].to_str().unwrap();
                if sig != server::alerts::signature(secret, ts, &body) {
                    return axum::http::StatusCode::UNAUTHORIZED;
                }
                kept.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (origin, got)
}
