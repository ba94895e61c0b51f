#!/usr/bin/env bash
# Unit and integration tests of every Rust crate, in one build with the app's server side on
# (the frontend's hydrate feature stays out: it must not be unified with ssr), beside a
# throwaway PostgreSQL cluster for the tests that run on both stores.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/with-postgres.sh cargo test -p concur -p concur-sim -p app -p server --features app/ssr
