#!/usr/bin/env bash
# Unit and integration tests of every Rust crate, in one build with the app's server side on
# (the frontend's hydrate feature stays out: it must not be unified with ssr), beside a
# throwaway PostgreSQL cluster: tests named `…_on_postgresql` use it directly, and the suites
# that pick their store with `Store::chosen()` run a second time on it — the same test binary,
# built once (the same packages and features, so nothing is built again).
set -euo pipefail
cd "$(dirname "$0")/../.."
packages=(-p concur -p concur-sim -p console-model -p console-core -p app -p server --features app/ssr)
# What the tests write (a SQLite store each, exports, the PostgreSQL cluster) goes to a folder of
# this run, removed at its end: a run leaves hundreds of stores behind otherwise. The cluster's
# user must be able to pass through it.
TMPDIR=$(mktemp -d)
export TMPDIR
chmod 711 "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT
scripts/with-postgres.sh bash -c '
  set -euo pipefail
  cargo test "$@"
  echo "==> the access, audit, backup, console, fleet import, fleet dashboard, fleet keys, hand-off, management API, owners, people, probe, renewal request, review, security, settings and single sign-on suites again, on PostgreSQL"
  CONCUR_TEST_STORE=postgres cargo test "$@" --test it -- \
    access:: audit:: backup:: console:: fleet:: fleet_dashboard:: fleet_keys:: handoffs:: management:: owners:: people:: probes:: renewals:: review:: security:: settings:: sso::
' bash "${packages[@]}"
