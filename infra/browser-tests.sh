#!/usr/bin/env bash
# The browser tests of `make test`: `make dev` itself (infra/dev.sh: the stack, the mesibo emulator, the API and the
# web client) on free ports, then tests/browser/ in headless Chromium (Debian's package) driven by playwright-core,
# under node's own test runner. Pages of two other origins take part: one listed in ALLOWED_ORIGINS, one not.
#   infra/browser-tests.sh                        screenshots go to .local/screenshots
#   UPDATE_SCREENSHOTS=1 infra/browser-tests.sh   ... to docs/screenshots (README shows them)
set -euo pipefail
cd "$(dirname "$0")/.."
infra/install.sh browser
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="$(free_port)" DYNAMODB_PORT="$(free_port)" MOTO_PORT="$(free_port)" MOTO_S3_PORT="$(free_port)"
MESIBO_EMULATOR_PORT="$(free_port)" OTHER_ORIGIN_PORT="$(free_port)" REFUSED_ORIGIN_PORT="$(free_port)"
export PORT DYNAMODB_PORT MOTO_PORT MOTO_S3_PORT MESIBO_EMULATOR_PORT OTHER_ORIGIN_PORT REFUSED_ORIGIN_PORT
export ALLOWED_ORIGINS="http://localhost:$OTHER_ORIGIN_PORT"
# One second between codes to a number (30 by default), so that a deletion's fresh code follows a sign-in at once.
export RESEND_COOLDOWN_SECONDS=1
# Every browser here signs in from 127.0.0.1: the per-address limit (20 codes an hour) would stop a second run.
export IP_CODE_REQUESTS_PER_HOUR=1000
mkdir -p .local
log=.local/browser-dev.log
# A session of its own, so that stopping it stops the stack it started.
setsid infra/dev.sh >"$log" 2>&1 &
dev=$!
trap 'kill -- -"$dev" 2>/dev/null || true; wait "$dev" 2>/dev/null || true' EXIT
# Ctrl-C or a kill stops it too: exiting runs the EXIT trap (the stack's session gets no signal of its own).
trap 'exit 130' INT
trap 'exit 143' TERM
# The first run builds the dev server.
for _ in $(seq 1 900); do
  if curl -fs --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/"; then break; fi
  if ! kill -0 "$dev" 2>/dev/null; then echo "browser-tests: make dev stopped; its log:" >&2; cat "$log" >&2; exit 1; fi
  sleep 1
done
curl -fs --max-time 2 -o /dev/null "http://127.0.0.1:$PORT/" || { echo "browser-tests: make dev did not start; its log:" >&2; cat "$log" >&2; exit 1; }
export API_URL="http://127.0.0.1:$PORT"
# The web client as deployed elsewhere: static files with the API's URL, served by the tests from the allowed origin.
export WEB_DIST="$PWD/.local/web-dist"
infra/web-dist.sh "$API_URL" "$WEB_DIST"
set -o pipefail
# TAP, whatever node's default reporter: infra/test-summary.sh counts its "# pass" and "# fail" lines.
node --test --test-reporter=tap --test-concurrency=1 tests/browser/*.test.mjs 2>&1 | tee .local/browser-test.log || {
  echo "browser-tests: failed; make dev's log is $log" >&2
  exit 1
}
