#!/usr/bin/env bash
# Prints the benchmark figures. Needs the release build (`make build`); asserts nothing on time.
# Installs wrk (the load generator) when missing, and runs beside a throwaway PostgreSQL cluster
# so the dashboard is measured on both stores.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "==> installing wrk from Debian"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
scripts/with-postgres.sh target/release/bench
wasm=target/site/pkg/concur-console.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "hydrate wasm: $((raw / 1024)) KB raw, $((gz / 1024)) KB gzipped (goal ≤ 200 KB)"
