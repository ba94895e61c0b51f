//! What the project ships for running it: the systemd unit in `deploy/`.

use std::path::Path;
use std::process::Command;

const INSTALLED: &str = "/usr/local/bin/concur-console";

fn unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/concur-console.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of every `key=` line of the unit.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    // verify checks that each command exists: the unit names the installed binary, checked here
    // as the one this build made.
    let unit = unit();
    assert!(unit.contains(INSTALLED));
    let dir = std::env::temp_dir().join(format!("cc-unit-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("concur-console.service");
    std::fs::write(
        &file,
        unit.replace(INSTALLED, env!("CARGO_BIN_EXE_concur-console")),
    )
    .unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .expect("systemd-analyze (Debian's systemd; `make test` installs it)");
    std::fs::remove_dir_all(&dir).unwrap();
    let said = String::from_utf8_lossy(&verified.stderr);
    // Only what concerns this unit: verify also loads the machine's own units.
    let about_ours: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("concur-console"))
        .collect();
    assert!(verified.status.success(), "{said}");
    assert!(about_ours.is_empty(), "{}", about_ours.join("\n"));
}

#[test]
fn the_systemd_unit_confines_the_console_and_waits_until_it_is_ready() {
    let unit = unit();
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "concur-console"),
        ("StateDirectoryMode", "0700"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("Restart", "on-failure"),
        ("EnvironmentFile", "-/etc/concur-console/env"),
        ("ExecStart", "/usr/local/bin/concur-console serve"),
        (
            "ExecStartPost",
            "/usr/local/bin/concur-console check-ready --wait 120",
        ),
    ] {
        assert_eq!(values(&unit, key), [value], "{key}");
    }
    // The store it is told to use is the one in its state directory.
    assert!(
        values(&unit, "Environment")
            .contains(&"DATABASE_URL=sqlite:///var/lib/concur-console/concur-console.db")
    );
}
