//! The documentation people navigate: every relative link in `README.md`, `CHANGELOG.md` and
//! `docs/` points at a file that exists, the README stays an overview, and the CHANGELOG's newest
//! release is the version the crates build.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds the server crate")
        .to_owned()
}

fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut files = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The targets of the Markdown links (`[text](target)`, images too) outside code blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn every_relative_link_resolves() {
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("a readable document");
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let resolved = file.parent().expect("a folder").join(path);
            if !resolved.exists() {
                broken.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} relative links found: is the parser right?"
    );
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_readme_is_an_overview_of_at_most_two_hundred_lines() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("a README");
    assert!(readme.lines().count() <= 200, "{}", readme.lines().count());
    for part in [
        "## Quick start",
        "make run",
        "make test",
        "make demo",
        "docs/",
    ] {
        assert!(readme.contains(part), "{part}");
    }
}

#[test]
fn links_are_found_in_text_and_images_but_not_in_code() {
    let text = "see [a](docs/a.md) and ![b](b.png#x)\n```\n[c](c.md)\n```\n[d](https://e)";
    assert_eq!(
        link_targets(text),
        ["docs/a.md", "b.png#x", "https://e"].map(str::to_owned)
    );
}

#[test]
fn the_changelog_and_every_crate_carry_the_same_version() {
    let root = root();
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md")).unwrap();
    let newest = changelog
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .find(|heading| heading.starts_with(|c: char| c.is_ascii_digit()))
        .expect("a release heading, `## X.Y.Z — date`");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        newest.split_whitespace().next(),
        Some(version),
        "CHANGELOG.md's newest release is not the version Cargo.toml builds"
    );
    // Each crate takes the workspace's version, so one line moves them all.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|line| line.strip_prefix("members = "))
        .expect("the workspace's members");
    for member in members.trim_matches(['[', ']']).split(',') {
        let crate_dir = root.join(member.trim().trim_matches('"'));
        let crate_manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
        assert!(
            crate_manifest
                .lines()
                .any(|l| l == "version.workspace = true"),
            "{} sets its own version",
            crate_dir.display()
        );
    }
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_concur-console"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(printed.stdout).unwrap().trim(),
        format!("concur-console {version}")
    );
}
