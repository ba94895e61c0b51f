#!/usr/bin/env bash
# Runs every suite `make test` covers and ends with one line: "N passed, M failed".
# A suite that fails before reporting (a build error, a crash) counts as one failure.
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

suite() { # suite NAME COMMAND...: run, show, tally
  local name=$1 log="$logs/$1.log"
  shift
  echo "== $name: $*"
  "$@" 2>&1 | tee "$log"
  tally "$name" "$log" "${PIPESTATUS[0]}"
}

suite lint scripts/lint.sh
for suite_script in scripts/suites/*.sh; do
  [ -e "$suite_script" ] || continue
  suite "$(basename "$suite_script" .sh)" "$suite_script"
done

echo
echo "$passed passed, $failed failed"
exit $status
