#!/usr/bin/env bash
# The release build `make run`, `make image` and the browser suite use: the site in target/site
# (public/'s files, and in pkg/ the browser's wasm, its JavaScript and the stylesheet, each with a
# gzip and a brotli copy) and the binary that carries it. The browser's wasm is linked and
# optimised on one core for much of its build, so the server's library and everything under it
# are built beside it, and only the binary, which embeds the site, waits for the site.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/end2end/node_modules/.bin:$PATH"
# leptos compiles it into both sides: the name of the site's files the pages ask for.
export LEPTOS_OUTPUT_NAME=concur-console

site=target/site
front=target/front
wasm=$front/wasm32-unknown-unknown/wasm-release/frontend.wasm

cargo build --release -p server --lib &
library=$!
trap 'kill "$library" 2>/dev/null || true' EXIT

echo "==> the site: the browser's wasm"
cargo build --profile wasm-release -p frontend --lib --target wasm32-unknown-unknown --target-dir "$front"
rm -rf "$site"
mkdir -p "$site/pkg"
cp -r public/. "$site/"
wasm-bindgen --target web --no-typescript --out-name "$LEPTOS_OUTPUT_NAME" --out-dir "$site/pkg" "$wasm"
mv "$site/pkg/${LEPTOS_OUTPUT_NAME}_bg.wasm" "$site/pkg/$LEPTOS_OUTPUT_NAME.wasm"
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
  "$site/pkg/$LEPTOS_OUTPUT_NAME.wasm" -o "$site/pkg/$LEPTOS_OUTPUT_NAME.wasm"
esbuild "$site/pkg/$LEPTOS_OUTPUT_NAME.js" --minify --log-level=warning --allow-overwrite \
  --outfile="$site/pkg/$LEPTOS_OUTPUT_NAME.js"
# The browsers of the last two years (browserslist's "defaults", about).
esbuild style/main.css --minify --log-level=warning --target=chrome120,edge120,firefox121,safari17 \
  --outfile="$site/pkg/$LEPTOS_OUTPUT_NAME.css"
node scripts/precompress.mjs "$site"

echo "==> the server"
wait "$library"
trap - EXIT
cargo build --release -p server --bin concur-console
