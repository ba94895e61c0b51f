#!/usr/bin/env bash
# Browser journeys against the release build (built once here, the same build `make run` serves,
# its site inside the binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build.sh
cargo build --release -p concur-sim
scripts/e2e.sh
