#!/usr/bin/env bash
# What the tests need beyond the build tools: Debian's Chromium for the end-to-end tests,
# Prometheus' Python client, whose text-format parser checks `/metrics`, Debian's aiosmtpd, the
# SMTP server the renewal request suite mails to, systemd's `systemd-analyze`, which checks the
# unit in deploy/, and docker-compose, which checks compose.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/apt.sh

command -v chromium >/dev/null 2>&1 || apt_install "the end-to-end tests" chromium

if ! python3 -c "import prometheus_client" >/dev/null 2>&1; then
  echo "==> installing prometheus-client (Python) for the /metrics format check"
  python3 -m pip install --quiet --disable-pip-version-check prometheus-client 2>&1 | grep -v "Running pip as the 'root' user" || true
fi
# Debian's own Python refuses pip (an externally managed environment): its package then.
python3 -c "import prometheus_client" >/dev/null 2>&1 ||
  apt_install "the /metrics format check" python3-prometheus-client

# The suites start it with Debian's own Python, whatever python3 comes first on the PATH.
/usr/bin/python3 -c "import aiosmtpd" >/dev/null 2>&1 || apt_install "the mail suites" python3-aiosmtpd

command -v systemd-analyze >/dev/null 2>&1 || apt_install "the systemd unit's check" systemd
command -v docker-compose >/dev/null 2>&1 || apt_install "the compose.yaml check" docker-compose
