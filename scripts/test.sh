#!/usr/bin/env bash
# Installs what the tests need, runs every suite `make test` covers, prints how long each phase
# took, and ends with one line: "N passed, M failed". A suite that fails before reporting (a
# build error, a crash) counts as one failure; so does an install that fails (nothing runs then).
set -uo pipefail
cd "$(dirname "$0")/.."
# One-off builds gain nothing from incremental caches, which cost gigabytes of disk.
export CARGO_INCREMENTAL=0

passed=0
failed=0
status=0
logs=$(mktemp -d)

tally() { # tally NAME LOG RC: add the suite's counts to the totals
  local name=$1 log=$2 rc=$3 counts p f
  counts=$(awk '
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
    /^ *[0-9]+ passed/ { p += $1 }
    /^ *[0-9]+ (failed|flaky)/ { f += $1 }
    END { print p + 0, f + 0 }' "$log")
  read -r p f <<<"$counts"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  [ "$rc" -ne 0 ] && status=1
  passed=$((passed + p))
  failed=$((failed + f))
  echo "== $name: $p passed, $f failed"
}

phases=()
started=$SECONDS
timed() { # timed NAME COMMAND...: run, and note how long it took
  local name=$1 from=$SECONDS rc
  shift
  "$@"
  rc=$?
  phases+=("$name $((SECONDS - from)) s")
  return $rc
}

suite() { # suite NAME COMMAND...: run, show, tally, note how long it took
  local name=$1 log="$logs/$1.log" from=$SECONDS rc
  shift
  echo "== $name: $*"
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  phases+=("$name $((SECONDS - from)) s")
  tally "$name" "$log" "$rc"
}

summary() {
  local IFS=,
  echo
  echo "phases:${phases[*]/#/ } (all: $((SECONDS - started)) s)"
  echo "$passed passed, $failed failed"
}

for install in install-tools install-test-tools; do
  if ! timed "$install" "scripts/$install.sh"; then
    echo "== scripts/$install.sh failed: no suite ran"
    failed=$((failed + 1))
    summary
    exit 1
  fi
done
suite lint scripts/lint.sh
for suite_script in scripts/suites/*.sh; do
  [ -e "$suite_script" ] || continue
  suite "$(basename "$suite_script" .sh)" "$suite_script"
done

summary
exit $status
