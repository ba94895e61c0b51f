#!/usr/bin/env bash
# `make screenshots`: the demo (the release console, its simulator and demo admin) on a free
# port, signed in to in Debian's Chromium, and its dashboard saved as docs/dashboard.png.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
demo=
cleanup() { [ -n "$demo" ] && kill "$demo" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NO_COLOR=1 LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site \
  target/release/concur-console demo >"$work/demo.log" 2>&1 &
demo=$!
for _ in $(seq 300); do grep -q "Concur Console demo on" "$work/demo.log" && break; sleep 0.1; done
grep -q "Concur Console demo on" "$work/demo.log" || { cat "$work/demo.log" >&2; exit 1; }

cd end2end
BASE_URL="http://127.0.0.1:$port" OUT="$PWD/../docs/dashboard.png" node screenshot.mjs
