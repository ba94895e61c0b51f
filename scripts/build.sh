#!/usr/bin/env bash
# The release build `make run`, `make image` and the browser suite use: the site (the browser's
# wasm, its JavaScript and the stylesheet, each with a gzip and a brotli copy) and the binary that
# carries it. cargo-leptos builds the site first, then the server; the site's wasm is linked and
# optimised on one core for much of that time, so the server's library and everything under it
# are built beside it here, and only the binary, which embeds the site, waits for it.
set -euo pipefail
cd "$(dirname "$0")/.."
# leptos reads it while compiling: the value cargo-leptos gives its server build, or leptos and
# every crate above it would be built a second time.
export LEPTOS_OUTPUT_NAME=concur-console
cargo build --release -p server --lib &
library=$!
trap 'kill "$library" 2>/dev/null || true' EXIT
cargo leptos build --release --precompress --frontend-only
wait "$library"
trap - EXIT
cargo leptos build --release --precompress --server-only
