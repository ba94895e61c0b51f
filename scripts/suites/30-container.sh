#!/usr/bin/env bash
# The image, built and run: `scripts/image.sh` (what `make image` runs) puts the release binary
# the browser suite built into the Dockerfile's final stage; the container then runs beside the
# simulator on the host's network. Each check prints "ok - …" or "FAILED - …"; the suite ends
# with its counts. Skipped, saying so, only where no container engine can be had.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/container.sh
source scripts/loopback.sh

passed=0
failed=0
check() { # check LABEL COMMAND...: one check, by the command's exit status
  local label=$1
  shift
  if "$@"; then
    echo "ok - $label"
    passed=$((passed + 1))
  else
    echo "FAILED - $label"
    failed=$((failed + 1))
  fi
}
finish() {
  echo "$passed passed"
  echo "$failed failed"
  exit $((failed > 0))
}

if ! container_engine; then
  echo "== the container suite is skipped: neither Docker nor podman can be had on this machine"
  finish
fi

image=localhost/concur-console:test
name="concur-console-test-$$"
volume="concur-console-test-$$"
work=$(mktemp -d)
sim_pid=""
cleanup() {
  "${ENGINE[@]}" rm -f -t 0 "$name" >/dev/null 2>&1
  "${ENGINE[@]}" volume rm -f "$volume" >/dev/null 2>&1
  "${ENGINE[@]}" rmi -f "$image" >/dev/null 2>&1
  # The build's intermediate stage (the context's files) is left untagged.
  "${ENGINE[@]}" image prune -f >/dev/null 2>&1
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

from=$SECONDS
check "the image builds (scripts/image.sh)" scripts/image.sh "$image"
echo "   built in $((SECONDS - from)) s"
"${ENGINE[@]}" image inspect "$image" >/dev/null 2>&1 || finish

check "the simulator starts beside it" start_sim target/release/concur-sim "$work/sim.log" || finish
port=$(free_port)
base="http://127.0.0.1:$port"

start() { # start [ENGINE_RUN_ARGS...]: a container on the volume, listening on the host's $port
  "${ENGINE[@]}" run -d "${LIMITS[@]}" --name "$name" --network host -v "$volume:/data" \
    -e LEPTOS_SITE_ADDR="127.0.0.1:$port" -e CONCUR_ALLOWED_HOSTS="$allowed" "$@" "$image" >/dev/null
}
ready() { # until /readyz answers (30 s at most)
  for _ in $(seq 120); do
    [ "$(curl -fsS "$base/readyz" 2>/dev/null)" = ready ] && return 0
    sleep 0.25
  done
  "${ENGINE[@]}" logs "$name" 2>&1 | tail -n 20
  return 1
}
in_container() { "${ENGINE[@]}" exec "$@"; }

"${ENGINE[@]}" volume create "$volume" >/dev/null
start
check "the console answers /readyz" ready
check "it runs as a user that is not root" test "$(in_container "$name" id -u)" != 0
check "it carries the certificate authorities for TLS to Concur" \
  in_container "$name" grep -q "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt
check "the image's health check passes" "${ENGINE[@]}" healthcheck run "$name"

password="container suite password $$"
check "an admin is made with exec concur-console create-admin" \
  in_container -e CONCUR_ADMIN_PASSWORD="$password" "$name" concur-console create-admin --username admin
signs_in() { # signs_in TEXT: signs in afresh and finds TEXT on the dashboard
  rm -f "$work/cookies"
  curl -fsS -o /dev/null -c "$work/cookies" "$base/api/login" \
    --data-urlencode username=admin --data-urlencode "password=$password" &&
    curl -fsS -b "$work/cookies" "$base/" | grep -qF "$1"
}
check "the admin signs in over HTTP and sees the dashboard" signs_in "No connections yet"

seed=$(seed_company)
field() { json_field "$1" "$seed"; }
secret=$(field client_secret)
check "a connection is added against the simulator" \
  in_container -e CONCUR_CLIENT_SECRET="$secret" -e CONCUR_REFRESH_TOKEN="$(field refresh_token)" "$name" \
  concur-console connections add --name "Container Co" --authorization-url "$(field authorization_url)" \
  --client-id "$(field client_id)" --scope-profile expense-approvals

modes() { in_container "$name" stat -c '%a %U %n' /data /data/console.key /data/concur-console.db; }
sealed_in_data() {
  modes | tee "$work/modes"
  grep -qx "700 concur-console /data" "$work/modes" &&
    grep -qx "600 concur-console /data/console.key" "$work/modes" &&
    grep -qx "600 concur-console /data/concur-console.db" "$work/modes" &&
    ! in_container "$name" grep -qF "$secret" /data/concur-console.db
}
check "the store and its key are in /data, the key 0600, the folder 0700, the secret sealed" sealed_in_data

stops_in_time() {
  local from=$SECONDS code
  "${ENGINE[@]}" stop -t 10 "$name" >/dev/null
  code=$("${ENGINE[@]}" inspect "$name" --format '{{.State.ExitCode}}')
  echo "   stopped in $((SECONDS - from)) s, exit code $code"
  [ "$code" = 0 ]
}
check "SIGTERM stops it within 10 s, cleanly" stops_in_time
"${ENGINE[@]}" rm -f "$name" >/dev/null
start
survives() { ready && in_container "$name" concur-console connections list | grep -q "Container Co"; }
check "a new container on the same volume has the connection and the admin" survives
check "and the admin still signs in and sees it" signs_in "Container Co"

# SIGTERM while the keep-alive job waits on Concur: the simulator rotates the refresh token as
# it decides its answer and holds that answer back 3 s; the console must wait for it and store
# the new token before it exits, or the connection is left with a token Concur no longer takes.
"${ENGINE[@]}" rm -f "$name" >/dev/null
start -e CONCUR_KEEPALIVE_EVERY=5s
sim_call() { curl -fsS -X "$1" "$origin/_sim/$2" -H 'content-type: application/json' ${3:+-d "$3"}; }
check "a console that keeps connections alive every 5 s answers /readyz" ready
second=$(seed_company)
check "a connection is added to it" \
  in_container -e CONCUR_CLIENT_SECRET="$(json_field client_secret "$second")" \
  -e CONCUR_REFRESH_TOKEN="$(json_field refresh_token "$second")" "$name" \
  concur-console connections add --name "Sweep Co" --authorization-url "$(json_field authorization_url "$second")" \
  --client-id "$(json_field client_id "$second")" --scope-profile expense-approvals
sim_call PUT quirks '{"rotate_refresh_tokens": true}' >/dev/null
sim_call POST stall '{"millis": 3000}' >/dev/null
refresh_held() { # until the keep-alive job's refresh is decided and held back (20 s at most)
  for _ in $(seq 80); do
    [ "$(json_field held "$(sim_call GET stall)")" -gt 0 ] && return 0
    sleep 0.25
  done
  return 1
}
check "the keep-alive job's refresh reaches Concur and waits for its answer" refresh_held
check "SIGTERM in the middle of that refresh stops it within 10 s, cleanly" stops_in_time
sim_call POST stall '{"millis": 0}' >/dev/null
"${ENGINE[@]}" rm -f "$name" >/dev/null
start
refreshes_all() { ready && in_container "$name" concur-console refresh-all | tee "$work/refreshed" && grep -q "Sweep Co" "$work/refreshed"; }
check "the token it was answered with was stored: every connection refreshes in a new container" refreshes_all

added=$(( $("${ENGINE[@]}" image inspect "$image" --format '{{.Size}}') -
  $("${ENGINE[@]}" image inspect debian:bookworm-slim --format '{{.Size}}') ))
echo "   the image adds $((added / 1024 / 1024)) MB to debian:bookworm-slim"
check "the layers the image adds weigh under 45 MB" test "$added" -lt $((45 * 1024 * 1024))

# The README's compose.yaml (PostgreSQL and two replicas) cannot run here (no registry for
# postgres' image): Compose's own schema check reads it instead.
compose_is_valid() {
  POSTGRES_PASSWORD=password CONCUR_CONSOLE_KEY=key docker-compose -f compose.yaml config >"$work/compose" &&
    grep -q "replicas: 2" "$work/compose" && grep -q "image: localhost/concur-console:latest" "$work/compose"
}
check "compose.yaml is a valid Compose file with two replicas of the image" compose_is_valid
finish
