#!/usr/bin/env bash
# Unit and integration tests of every Rust crate, in one build with the app's server side on
# (the frontend's hydrate feature stays out: it must not be unified with ssr).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo test -p concur -p concur-sim -p app -p server --features app/ssr
