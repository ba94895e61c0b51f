#!/usr/bin/env bash
# Unit and integration tests of every Rust crate, package by package (the app crate's ssr and
# hydrate features must not be unified in one test build).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test -p concur -p concur-sim -p server
cargo test -p app --features ssr
