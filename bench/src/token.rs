//! The Concur client's overhead over a raw POST, and the simulator's throughput.

use std::sync::Arc;
use std::time::{Duration, Instant};

use concur::{
    AuthorizationUrl, ClientConfig, ClientId, ClientSecret, ConcurClient, Credentials, HostPolicy,
    RefreshToken, SystemClock,
};
use concur_sim::{DEMO_SCOPES, Simulator};

const CALLS: usize = 500;
const CALLERS: usize = 32;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(3);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

struct Setup {
    sim: Simulator,
    url: String,
    form: Vec<(&'static str, String)>,
}

async fn setup() -> Setup {
    let sim = Simulator::spawn().await.expect("simulator starts");
    let (id, secret) = sim.add_app(DEMO_SCOPES);
    let company = sim.add_company("us2");
    let refresh = sim.issue_refresh_token(&company, &id);
    let form = vec![
        ("client_id", id),
        ("client_secret", secret),
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh),
    ];
    let url = format!("{}/oauth2/v0/token", sim.origin("us2"));
    Setup { sim, url, form }
}

pub async fn client_overhead() {
    let s = setup().await;
    let raw = reqwest::Client::new();
    let policy = HostPolicy::parse(&s.sim.allowed_hosts()).expect("simulator origins");
    let client =
        ConcurClient::new(policy, &ClientConfig::default(), Arc::new(SystemClock)).expect("client");
    let base = AuthorizationUrl::parse(&s.sim.origin("us2")).expect("origin");
    let credentials = Credentials {
        client_id: ClientId::parse(&s.form[0].1).expect("id"),
        client_secret: ClientSecret::parse(&s.form[1].1).expect("secret"),
    };
    let token = RefreshToken::parse(&s.form[3].1).expect("token");

    let (mut raw_times, mut client_times) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
    for _ in 0..CALLS {
        let start = Instant::now();
        let response = raw
            .post(&s.url)
            .form(&s.form)
            .send()
            .await
            .expect("raw post");
        response.bytes().await.expect("raw body");
        raw_times.push(start.elapsed());

        let start = Instant::now();
        client
            .refresh(&base, &credentials, &token)
            .await
            .expect("refresh");
        client_times.push(start.elapsed());
    }
    let (raw_median, client_median) = (median(raw_times), median(client_times));
    println!("client overhead over a raw token POST ({CALLS} calls each, interleaved):");
    println!(
        "  raw POST median      {:>8.1} µs",
        raw_median.as_secs_f64() * 1e6
    );
    println!(
        "  ConcurClient median  {:>8.1} µs",
        client_median.as_secs_f64() * 1e6
    );
    println!(
        "  overhead             {:>8.1} µs (goal < 1000 µs)",
        (client_median.as_secs_f64() - raw_median.as_secs_f64()) * 1e6
    );
}

pub async fn simulator_throughput() {
    let s = Arc::new(setup().await);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + THROUGHPUT_WINDOW;
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let (s, http) = (s.clone(), http.clone());
        callers.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                let response = http.post(&s.url).form(&s.form).send().await.expect("post");
                assert!(
                    response.status().is_success(),
                    "simulator answered {}",
                    response.status()
                );
                response.bytes().await.expect("body");
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for caller in callers {
        total += caller.await.expect("caller");
    }
    println!(
        "simulator token endpoint, {CALLERS} concurrent callers for {:?}:",
        THROUGHPUT_WINDOW
    );
    println!(
        "  {:.0} requests/s ({total} requests)",
        total as f64 / THROUGHPUT_WINDOW.as_secs_f64()
    );
}
