#!/usr/bin/env bash
# Formatting and clippy, package by package so the app's ssr and hydrate features stay apart.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy -p concur -p concur-sim -p server -p bench --all-targets -- -D warnings
cargo clippy -p app --features ssr --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
