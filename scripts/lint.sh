#!/usr/bin/env bash
# Formatting and clippy, package by package so feature sets stay apart.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy -p concur -p concur-sim -p server -p bench --all-targets -- -D warnings
