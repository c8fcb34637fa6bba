#!/usr/bin/env bash
# Hostile inputs: schemathesis generates requests from openapi.yaml against the running API (the dev server's
# routes and handlers) and fails on any 5xx or any response that breaks the documented schema, status or headers.
# Run under infra/with-stack.sh (make test does). Bounded for CI: deterministic generation, ST_MAX_EXAMPLES per
# operation (default 30: over 1000 cases). A longer, random campaign:
#   ST_MAX_EXAMPLES=1000 ST_SEED=$RANDOM infra/with-stack.sh infra/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export PORT TABLE_NAME=schemathesis TEST_NUMBERS="+12015550100:428913" FILES_BUCKET=schemathesis-files
OTP_HMAC_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export OTP_HMAC_SECRET
cargo build --quiet -p local_stack --bin devserver
target/debug/devserver > "${TMPDIR:-/tmp}/schemathesis-devserver.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do curl -s -o /dev/null "http://127.0.0.1:$PORT/login" && break; sleep 0.2; done

# A signed-in user (a test number: fixed code, no SMS), so authenticated operations are exercised, not just 401.
curl -s -X POST "http://127.0.0.1:$PORT/login" -d 'phone=+12015550100' > /dev/null
token="$(curl -s -X POST "http://127.0.0.1:$PORT/verify" -d 'phone=+12015550100&code=428913&appid=com.example.schemathesis' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

generation=(--generation-deterministic)
[ -n "${ST_SEED:-}" ] && generation=(--seed "$ST_SEED")
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
run() {
  .local/venv/bin/st run openapi.yaml --url "http://127.0.0.1:$PORT" --header "Authorization: Bearer $token" \
    --checks "$checks" --max-examples "${ST_MAX_EXAMPLES:-30}" "${generation[@]}" \
    --suppress-health-check all --no-color --request-timeout 30 "$@"
}
# Every operation but the two that end the session, then those two last.
run --exclude-path /logout --exclude-path /deleteaccount
run --include-path /deleteaccount --include-path /logout
