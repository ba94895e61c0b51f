#!/usr/bin/env bash
# What the tests need beyond the build tools: Debian's Chromium for the end-to-end tests,
# Prometheus' Python client, whose text-format parser checks `/metrics`, and Debian's aiosmtpd,
# the SMTP server the renewal request suite mails to.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Chromium from Debian"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi


if ! python3 -c "import prometheus_client" >/dev/null 2>&1; then
  echo "==> installing prometheus-client (Python) for the /metrics format check"
  python3 -m pip install --quiet --disable-pip-version-check prometheus-client 2>&1 | grep -v "Running pip as the 'root' user" || true
fi
# Debian's own Python refuses pip (an externally managed environment): its package then.
if ! python3 -c "import prometheus_client" >/dev/null 2>&1; then
  echo "==> installing python3-prometheus-client from Debian"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends python3-prometheus-client >/dev/null
fi

# The suites start it with Debian's own Python, whatever python3 comes first on the PATH.
if ! /usr/bin/python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  echo "==> installing python3-aiosmtpd from Debian"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends python3-aiosmtpd >/dev/null
fi
