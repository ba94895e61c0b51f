#!/usr/bin/env bash
# Starts the simulator, an OpenID provider (oidc-provider, for single sign-on), an SMTP server
# (Debian's aiosmtpd, keeping each mail in a maildir the journeys read) and the release console
# on free loopback ports with a fresh database, runs the Playwright journeys in Debian's
# Chromium, and stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/loopback.sh

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for() { # wait_for FILE PATTERN: until a line matching PATTERN appears (20 s at most)
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

start_sim target/release/concur-sim "$work/sim.log"
pids+=("$sim_pid")

port=$(free_port)
idp_port=$(free_port)
OIDC_PORT=$idp_port OIDC_REDIRECT_URI="http://127.0.0.1:$port/auth/oidc/callback" \
  node end2end/oidc-provider.mjs >"$work/idp.log" 2>&1 &
pids+=($!)
wait_for "$work/idp.log" "OpenID provider ready"

smtp_port=$(free_port)
/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$work/mail" \
  >"$work/smtp.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null && break; sleep 0.1; done

# From a folder of its own and without LEPTOS_SITE_ROOT: the binary carries its site.
NO_COLOR=1 RUST_LOG=info DATABASE_URL="sqlite://$work/db/console.db" LEPTOS_SITE_ADDR="127.0.0.1:$port" \
  CONCUR_SMTP_URL="smtp://127.0.0.1:$smtp_port" CONCUR_ALERT_EMAIL_FROM=console@vendor.example \
  CONCUR_ALERT_EMAIL_TO=ops@vendor.example \
  CONCUR_ALLOWED_HOSTS="$allowed" \
  CONCUR_OIDC_ISSUER="http://127.0.0.1:$idp_port" CONCUR_OIDC_CLIENT_ID=concur-console \
  CONCUR_OIDC_CLIENT_SECRET="e2e client secret that is long enough" \
  CONCUR_OIDC_ADMIN_GROUPS=console-admins CONCUR_OIDC_EDITOR_GROUPS=console-editors \
  CONCUR_OIDC_VIEWER_GROUPS=helpdesk \
  env -C "$work" "$PWD/target/release/concur-console" serve >"$work/console.log" 2>&1 &
pids+=($!)
wait_for "$work/console.log" "listening on"
setup_url=$(grep -o 'http://[^ ]*/setup?token=[A-Za-z0-9_-]*' "$work/console.log" | head -n 1)

cd end2end
BASE_URL="http://127.0.0.1:$port" SIM_URL="$origin" SETUP_URL="$setup_url" MAIL_DIR="$work/mail" npx playwright test
