#!/usr/bin/env bash
# Installs the build tools a fresh Debian machine lacks, and only those: the wasm32 target,
# wasm-bindgen-cli at the version in Cargo.lock, Node.js and npm from Debian, and the npm
# packages in end2end/ (binaryen's wasm-opt and esbuild for the release build's site, Playwright
# for the browser tests, oidc-provider, the OpenID provider the single sign-on journeys sign in
# through, and swagger-parser, which validates the API's OpenAPI document).
# wasm-bindgen-cli is built from its registry source with one dependency pinned back, because
# its shipped lock file asks for a crate newer than this registry has, and without
# optimisations: that halves a fresh machine's wait, and its one step in a build (the rewrite
# of one module) stays as fast (see docs/development.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$root/Cargo.lock" 2>/dev/null || true)
bindgen_version=${bindgen_version:-0.2.130}

export CARGO_PROFILE_DEV_DEBUG=false

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "==> adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

registry_source() {
  # A failed `cargo install --locked` still unpacks the crate; that is the source we build.
  local crate=$1 version=$2
  local dir
  dir=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version" 2>/dev/null | head -n 1 || true)
  if [ -z "$dir" ]; then
    cargo install "$crate" --version "$version" --locked >/dev/null 2>&1 || true
    dir=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version" | head -n 1)
  fi
  echo "$dir"
}

install_pinned() {
  local crate=$1 version=$2 pin_crate=$3 pin_version=$4
  local src work
  src=$(registry_source "$crate" "$version")
  work=$(mktemp -d)
  cp -r "$src/." "$work/"
  (cd "$work" && cargo update -p "$pin_crate" --precise "$pin_version" && cargo install --path . --locked --debug)
  rm -rf "$work"
}

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]; then
  echo "==> installing wasm-bindgen-cli $bindgen_version (about a minute)"
  install_pinned wasm-bindgen-cli "$bindgen_version" webpki-roots 1.0.10
fi

if ! command -v npm >/dev/null 2>&1; then
  source "$root/scripts/apt.sh"
  apt_install "the site's build and the browser tests" nodejs npm
fi

if [ ! -x "$root/end2end/node_modules/.bin/wasm-opt" ] || [ ! -x "$root/end2end/node_modules/.bin/esbuild" ] || [ ! -x "$root/end2end/node_modules/.bin/playwright" ] \
  || [ ! -f "$root/end2end/node_modules/oidc-provider/package.json" ] \
  || [ ! -f "$root/end2end/node_modules/@axe-core/playwright/package.json" ] \
  || [ ! -f "$root/end2end/node_modules/@apidevtools/swagger-parser/package.json" ]; then
  echo "==> installing npm packages in end2end/"
  # None needs an install script (esbuild's only checks its binary, and npm warns about it).
  (cd "$root/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts)
fi
