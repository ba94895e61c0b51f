#!/usr/bin/env bash
# Prints the benchmark figures. Needs the release build (`make build`); asserts nothing on time.
set -euo pipefail
cd "$(dirname "$0")/.."
target/release/bench
wasm=target/site/pkg/concur-console.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "hydrate wasm: $((raw / 1024)) KB raw, $((gz / 1024)) KB gzipped (goal ≤ 300 KB)"
