#!/usr/bin/env bash
# `make image`: builds localhost/concur-console:latest — the Dockerfile's final stage around the
# release binary `make` built (it carries its site) — with Docker or podman, whichever is there
# (podman is installed from Debian when neither is). Exit 3 when no engine can be had.
#
#   scripts/image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/container.sh

tag=${1:-localhost/concur-console:latest}
binary=target/release/concur-console
[ -x "$binary" ] || { echo "$binary is missing: run \`make build\` first" >&2; exit 1; }
container_engine || { echo "no container engine (Docker or podman) can be had here" >&2; exit 3; }
base_image || { echo "no debian:bookworm-slim image can be had here" >&2; exit 1; }

# The build context holds the binary and the certificate authorities' bundle (Debian's
# ca-certificates, on this machine): the image gets nothing else from here.
bundle=/etc/ssl/certs/ca-certificates.crt
[ -s "$bundle" ] || { echo "$bundle is missing: install Debian's ca-certificates" >&2; exit 1; }
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/concur-console"
cp "$bundle" "$context/ca-certificates.crt"
"${ENGINE[@]}" build "${BUILD_FORMAT[@]}" "${LIMITS[@]}" --build-arg CONSOLE_FROM=prebuilt \
  -f Dockerfile -t "$tag" "$context"
