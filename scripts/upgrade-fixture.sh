#!/usr/bin/env bash
# Makes an upgrade fixture: a SQLite store and a PostgreSQL dump written by one version of the
# console, for the upgrade test (server/tests/it/upgrade.rs) to open with every later version.
#
#   scripts/with-postgres.sh scripts/upgrade-fixture.sh CONSOLE_BINARY SIM_BINARY OUT_DIR
#
# Run it with the release binary of the version the fixture stands for, before the change that
# follows it, into a new folder under server/tests/it/fixtures/upgrade/. A fixture is committed
# once and never made again: the test's worth is that old files stay old.
set -euo pipefail
source "$(dirname "$0")/loopback.sh"
console=$(realpath "$1")
sim=$(realpath "$2")
out=$3
[ -e "$out" ] && { echo "$out exists: a fixture is never made again" >&2; exit 1; }
: "${CONCUR_TEST_POSTGRES_URL:?run it under scripts/with-postgres.sh}"

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

start_sim "$sim" "$work/sim.log"
pids+=("$sim_pid")

# One store's worth: an admin and an editor, two connections (one made from a refresh token
# with everything a fleet gives it, one from a company request token), a key of every kind,
# a hand-off link, a renewal link and an invitation. Prints the keys as JSON fields.
fill() {
  local url=$1
  export DATABASE_URL=$url CONCUR_CONSOLE_KEY=$KEY CONCUR_ALLOWED_HOSTS=$origin
  export CONCUR_CONSOLE_PUBLIC_URL=http://127.0.0.1:3000
  CONCUR_ADMIN_PASSWORD=$PASSWORD "$console" create-admin --username admin >/dev/null
  "$console" invite --role editor >/dev/null
  local seed first second
  seed=$(seed_company)
  field() { json_field "$1" "$seed"; }
  first=$(CONCUR_CLIENT_SECRET=$(field client_secret) CONCUR_REFRESH_TOKEN=$(field refresh_token) \
    "$console" connections add --name "ACME Travel" --authorization-url "$(field authorization_url)" \
    --client-id "$(field client_id)" --scope-profile expense-approvals --external-id tenant-0001 \
    --tag env=prod --tag region=emea --contact-name "Ada Admin" --contact-email ada@acme.example \
    --owner admin)
  seed=$(seed_company)
  second=$(CONCUR_CLIENT_SECRET=$(field client_secret) CONCUR_COMPANY_UUID=$(field company_uuid) \
    CONCUR_REQUEST_TOKEN=$(field request_token) \
    "$console" connections add --name "Globex Mileage" --authorization-url "$(field authorization_url)" \
    --client-id "$(field client_id)" --scope-profile mileage-to-expense --tag env=dev)
  "$console" handoff create --name "Initech" --profile expense-approvals --external-id tenant-0003 \
    --tag env=prod --contact-email bill@initech.example >/dev/null
  "$console" handoff create --connection "$first" >/dev/null
  printf '"connections": ["%s", "%s"],\n' "$first" "$second"
  printf '"connection_key": "%s",\n' "$("$console" api-key create --connection "$first" --name "expense bot")"
  printf '"fleet_key": "%s",\n' "$("$console" api-key create --fleet --selector env=prod --name "prod fleet")"
  printf '"manage_key": "%s",\n' "$("$console" api-key create --manage --name "crm")"
  printf '"read_only_key": "%s",\n' "$("$console" api-key create --manage --read-only --name "reports")"
  printf '"handoff_key": "%s"\n' "$("$console" api-key create --handoffs --name "provisioning")"
}

KEY=$(head -c 32 /dev/urandom | base64)
PASSWORD="upgrade-fixture-$(head -c 6 /dev/urandom | base64 | tr -d '/+=')"
version=$("$console" --version | awk '{print $2}')
mkdir -p "$work/sqlite"

sqlite_keys=$(fill "sqlite://$work/sqlite/console.db")
sqlite3 "$work/sqlite/console.db" 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;' >/dev/null

database="upgrade_fixture_$$"
admin_url=$CONCUR_TEST_POSTGRES_URL
psql -q "$admin_url" -c "CREATE DATABASE $database"
pg_url="${admin_url%/*}/$database"
postgres_keys=$(fill "$pg_url")

mkdir -p "$out"
cp "$work/sqlite/console.db" "$out/console.db"
# Plain INSERTs rather than COPY, so the test can replay it through the console's own driver.
pg_dump --inserts --no-owner --no-privileges "$pg_url" >"$out/postgres.sql"
psql -q "$admin_url" -c "DROP DATABASE $database"
cat >"$out/fixture.json" <<EOF
{
  "version": "$version",
  "made_at": $(date +%s),
  "key": "$KEY",
  "admin": {"username": "admin", "password": "$PASSWORD"},
  "sqlite": {
$sqlite_keys
  },
  "postgres": {
$postgres_keys
  }
}
EOF
echo "made $out from concur-console $version"
