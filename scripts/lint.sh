#!/usr/bin/env bash
# Formatting and clippy: the server side in one pass, the browser side for its own target.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy -p concur -p concur-sim -p console-model -p console-core -p app -p server -p bench --features app/ssr --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
