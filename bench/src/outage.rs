//! The token API while its database is away: PostgreSQL reached through a TCP proxy that the
//! bench cuts for ten seconds under load, and a SQLite file (with its write-ahead log) made
//! immutable for ten seconds under the running console; then given back. Prints what the
//! callers got in each phase and how long recovery took.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use concur_sim::Simulator;

use crate::dashboard::{free_port, start_console, state};

const CONNECTIONS: usize = 40;
const CALLERS: usize = 16;
/// Phases of the run: before the fault, during it, after it.
const PHASES: [&str; 3] = ["before", "database away (10 s)", "after"];

/// Answers counted per phase: 200, 503, anything else (other statuses, no answer in 5 s).
#[derive(Default)]
struct Tally([[u64; 3]; 3]);

/// How the database goes away and comes back.
enum Fault {
    Cut(Proxy),
    /// `chattr ±i` on the SQLite file and its write-ahead log (root on ext4, xfs or btrfs).
    Unwritable(PathBuf),
}

impl Fault {
    /// Whether the fault took hold.
    fn begin(&self) -> bool {
        match self {
            Fault::Cut(proxy) => {
                proxy.cut();
                true
            }
            Fault::Unwritable(db) => chattr("+i", db),
        }
    }

    fn end(&self) {
        match self {
            Fault::Cut(proxy) => proxy.restore(),
            Fault::Unwritable(db) => {
                chattr("-i", db);
            }
        }
    }
}

fn chattr(flag: &str, db: &std::path::Path) -> bool {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    Command::new("chattr")
        .arg(flag)
        .arg(db)
        .arg(wal)
        .status()
        .is_ok_and(|s| s.success())
}

pub async fn outage() {
    let dir = std::env::temp_dir().join(format!("concur-bench-outage-{}", std::process::id()));
    let sqlite = format!("sqlite://{}/console.db", dir.display());
    outage_on(
        "SQLite",
        &sqlite,
        &sqlite,
        Fault::Unwritable(dir.join("console.db")),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    let Ok(server) = std::env::var("CONCUR_TEST_POSTGRES_URL") else {
        println!(
            "database outage on PostgreSQL: skipped (run through scripts/with-postgres.sh, as make bench does)"
        );
        return;
    };
    let (head, tail) = server.split_once('@').expect("a URL with a user");
    let (upstream, database) = tail.split_once('/').expect("a URL with a database");
    let proxy = Proxy::start(upstream.to_owned()).await;
    let proxied = format!("{head}@127.0.0.1:{}/{database}", proxy.port);
    outage_on("PostgreSQL", &server, &proxied, Fault::Cut(proxy)).await;
}

/// Seeds the store at `database_url`, serves it from `console_url`, loads the token API and
/// applies `fault` for ten seconds.
async fn outage_on(label: &str, database_url: &str, console_url: &str, fault: Fault) {
    let sim = Simulator::spawn().await.expect("simulator");
    let state = state(database_url, sim.allowed_hosts()).await;
    sqlx::query("DELETE FROM connections")
        .execute(&state.pool)
        .await
        .expect("an empty store");
    let ids = crate::keepalive::seed(&state, &sim, CONNECTIONS).await;
    // Not due: the console's keep-alive job would otherwise refresh them all at start, and
    // on SQLite the tokens it stores stay readable while the file cannot be written.
    sqlx::query("UPDATE connections SET next_refresh_at = $1")
        .bind(state.now() + 86_400)
        .execute(&state.pool)
        .await
        .expect("a schedule");
    let mut targets = Vec::new();
    for id in &ids {
        let key = console_core::api_keys::create(&state, id, "bench")
            .await
            .expect("key")
            .key;
        targets.push((id.clone(), key));
    }
    state.pool.close().await;

    let port = free_port();
    let allowed = sim.allowed_hosts();
    let console = start_console(
        console_url,
        port,
        &[
            ("CONCUR_ALLOWED_HOSTS", allowed.as_str()),
            ("CONCUR_API_RATE_LIMIT", "100000000"),
        ],
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if http.get(format!("{base}/readyz")).send().await.is_ok() {
            break;
        }
    }
    // Half the connections' tokens are asked for once, so the console holds them.
    for (id, key) in targets.iter().take(CONNECTIONS / 2) {
        let _ = http
            .get(format!("{base}/api/v1/connections/{id}/token"))
            .bearer_auth(key)
            .send()
            .await;
    }

    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let targets = Arc::new(targets);
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (http, base, targets) = (http.clone(), base.clone(), targets.clone());
            let (phase, stop, tally) = (phase.clone(), stop.clone(), tally.clone());
            tokio::spawn(async move {
                let mut i = caller;
                while !stop.load(Ordering::SeqCst) {
                    let at = usize::from(phase.load(Ordering::SeqCst));
                    // Before the cut only the held half is asked for; the rest is first asked
                    // for while the database is away.
                    let asked = if at == 0 {
                        CONNECTIONS / 2
                    } else {
                        CONNECTIONS
                    };
                    let (id, key) = &targets[i % asked];
                    let kind = match http
                        .get(format!("{base}/api/v1/connections/{id}/token"))
                        .bearer_auth(key)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => 0,
                        Ok(r) if r.status() == 503 => 1,
                        Ok(r) => {
                            eprintln!("outage bench: answered {}", r.status());
                            2
                        }
                        Err(e) => {
                            eprintln!("outage bench: no answer ({e})");
                            2
                        }
                    };
                    tally.lock().expect("tally").0[at][kind] += 1;
                    i += CALLERS;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    phase.store(1, Ordering::SeqCst);
    if !fault.begin() {
        stop.store(true, Ordering::SeqCst);
        println!(
            "database outage on {label}: skipped (chattr +i needs root on ext4, xfs or btrfs)"
        );
        return;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    fault.end();
    let restored = Instant::now();
    let (cold, cold_key) = &targets[CONNECTIONS - 1];
    let recovered = loop {
        let answer = http
            .get(format!("{base}/api/v1/connections/{cold}/token"))
            .bearer_auth(cold_key)
            .send()
            .await;
        if answer.is_ok_and(|r| r.status() == 200) {
            break restored.elapsed();
        }
        if restored.elapsed() > Duration::from_secs(60) {
            break restored.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    phase.store(2, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for caller in callers {
        let _ = caller.await;
    }
    drop(console);

    let how = match fault {
        Fault::Cut(_) => "PostgreSQL cut",
        Fault::Unwritable(_) => "the SQLite file unwritable",
    };
    println!(
        "token API with {how} ({CONNECTIONS} connections, half of their tokens held in memory, {CALLERS} callers):"
    );
    let tally = tally.lock().expect("tally");
    for (name, counts) in PHASES.iter().zip(tally.0.iter()) {
        println!(
            "  {name:<22} {:>7} × 200   {:>6} × 503   {:>4} other (goal: 0)",
            counts[0], counts[1], counts[2]
        );
    }
    println!(
        "  recovered {:.1} s after the database came back (no restart)",
        recovered.as_secs_f64()
    );
}

/// A TCP proxy to the database that can be cut and given back.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (accepting, kept) = (open.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                let upstream = upstream.clone();
                kept.lock().expect("links").push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { port, open, links }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
