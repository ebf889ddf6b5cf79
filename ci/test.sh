#!/usr/bin/env bash
# Set up the machine, then build and run the whole test suite (the README's
# test command). Ends with one summary line: "tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
{ cargo test --workspace --all-targets && cargo test --workspace --doc; } 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
