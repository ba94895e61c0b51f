//! Outbound calls ignore `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (a proxy resolves the host again,
//! defeating the address the console checked) and go through a proxy only when one is named.
//! Alone in its test binary: it sets the process environment.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use concur::{
    AuthorizationUrl, ClientConfig, ClientId, ClientSecret, ConcurClient, Credentials, HostPolicy,
    RefreshToken, SystemClock,
};
use concur_sim::{DEMO_SCOPES, Simulator};

/// A listener that counts the connections made to it and answers each with a 502.
async fn counting_proxy() -> (url::Url, Arc<AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    (url, seen)
}

#[tokio::test]
async fn the_environments_proxy_is_ignored_and_only_a_named_one_is_used() {
    let (proxy, seen) = counting_proxy().await;
    // SAFETY: this test is the only one in its binary, and runs on one thread: nothing else
    // reads the environment while it is written.
    unsafe {
        for name in [
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
        ] {
            std::env::set_var(name, proxy.as_str());
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let plain = reqwest::Client::new();
    let sim = Simulator::spawn().await.unwrap();
    let _ = plain.get(sim.origin("us2")).send().await;
    assert_eq!(
        seen.swap(0, Ordering::SeqCst),
        1,
        "sanity: a default client would go through the environment's proxy"
    );

    let (id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let refresh = sim.issue_refresh_token(&company, &id);
    let credentials = Credentials {
        client_id: ClientId::parse(&id).unwrap(),
        client_secret: ClientSecret::parse(&secret).unwrap(),
    };
    let base = AuthorizationUrl::parse(&sim.origin("us2")).unwrap();
    let policy = HostPolicy::parse(&sim.allowed_hosts()).unwrap();
    let direct = ConcurClient::new(
        policy.clone(),
        &ClientConfig::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let grant = direct
        .refresh(&base, &credentials, &RefreshToken::parse(&refresh).unwrap())
        .await;
    assert!(grant.is_ok(), "{:?}", grant.err());
    assert_eq!(seen.load(Ordering::SeqCst), 0, "no call went to the proxy");

    let named = ClientConfig {
        proxy: Some(proxy),
        ..ClientConfig::default()
    };
    let proxied = ConcurClient::new(policy, &named, Arc::new(SystemClock)).unwrap();
    let through = proxied
        .refresh(&base, &credentials, &RefreshToken::parse(&refresh).unwrap())
        .await;
    assert!(through.is_err(), "the counting proxy answers 502");
    assert!(seen.load(Ordering::SeqCst) >= 1, "the named proxy was used");
}
