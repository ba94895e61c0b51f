//! The console binary at start: the setup link written privately, the cleartext warning, and a
//! key file others can read.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONSOLE: &str = env!("CARGO_BIN_EXE_concur-console");

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cc-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn serve_writes_the_setup_link_privately_and_warns_about_cleartext_on_a_network_address() {
    let dir = temp_dir("startup");
    let mut child = Command::new(CONSOLE)
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/data/console.db", dir.display()),
        )
        .env("LEPTOS_SITE_ADDR", "0.0.0.0:0")
        .env("LEPTOS_SITE_ROOT", "target/site")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .env_remove("CONCUR_CONSOLE_PUBLIC_URL")
        .env_remove("CONCUR_CONSOLE_KEY")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut log = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = Instant::now();
    while !log.contains("Concur Console listening on")
        && started.elapsed() < Duration::from_secs(30)
    {
        match lines.next() {
            Some(Ok(line)) => {
                log.push_str(&line);
                log.push('\n');
            }
            _ => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(log.contains("INSECURE"), "{log}");
    let file = dir.join("data/setup-link");
    let link = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}: {log}"));
    assert!(link.contains("/setup?token="), "{link}");
    assert!(log.contains(link.trim()), "the same link is logged");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(dir.join("data"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_key_file_others_can_read_is_warned_about() {
    let dir = temp_dir("loose-key");
    let run = || {
        Command::new(CONSOLE)
            .args(["connections", "list"])
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/console.db", dir.display()),
            )
            .env("NO_COLOR", "1")
            .env_remove("CONCUR_CONSOLE_KEY")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let key = dir.join("console.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!String::from_utf8_lossy(&first.stderr).contains("other users"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let second = run();
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("can be read by other users"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_database_url_with_a_password_is_never_printed() {
    let output = Command::new(CONSOLE)
        .args(["connections", "list"])
        .env(
            "DATABASE_URL",
            "mysql://console:hunter2-secret@db.internal/console",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");

    let unreachable = Command::new(CONSOLE)
        .args(["connections", "list"])
        .env(
            "DATABASE_URL",
            "postgres://console:hunter2-secret@127.0.0.1:1/console",
        )
        .env(
            "CONCUR_CONSOLE_KEY",
            "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        )
        .output()
        .unwrap();
    assert!(!unreachable.status.success());
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
}
