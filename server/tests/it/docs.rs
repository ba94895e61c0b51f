//! The documentation people navigate: every relative link in `README.md`, `CHANGELOG.md` and
//! `docs/` points at a file that exists, and the README stays an overview.

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
