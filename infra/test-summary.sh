#!/usr/bin/env bash
# One closing line over test logs: "tests: N passed, N failed". Reads cargo test's `test result:` lines and node's
# test runner's `# pass N` / `# fail N` (the browser tests).
set -euo pipefail
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^# pass [0-9]+$/ { p += $3 }
     /^# fail [0-9]+$/ { f += $3 }
     END { printf "tests: %d passed, %d failed\n", p, f; exit (f > 0) }' "$@"
