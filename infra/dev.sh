#!/usr/bin/env bash
# `make dev`: installs what is missing, starts DynamoDB Local + moto, creates the table from template.yaml and serves
# the API and the web client (web/) at http://127.0.0.1:${PORT:-3000}. Codes sent by SMS are printed as
# "[dev SMS] to +… code …" (and shown in the web client's live panel). Browsers of other origins are answered as
# API Gateway answers them, with ALLOWED_ORIGINS as the template's AllowedOrigins (default *). Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
infra/install.sh
# The per-deployment HMAC secret, generated once per checkout and never committed (.local/ is ignored).
if [ ! -s .local/otp-secret ]; then
  python3 -c 'import secrets; print(secrets.token_hex(32))' > .local/otp-secret
  chmod 600 .local/otp-secret
fi
cargo build --quiet -p local_stack --bin devserver
export TABLE_NAME="${TABLE_NAME:-messenger-local}"
# Fixed ports (each can be changed here), so that events/env.json can name them for `sam local invoke` and `invoke`.
export DYNAMODB_PORT="${DYNAMODB_PORT:-8000}" MOTO_PORT="${MOTO_PORT:-5010}" MOTO_S3_PORT="${MOTO_S3_PORT:-5011}"
export MESIBO_EMULATOR_PORT="${MESIBO_EMULATOR_PORT:-3001}"
# The app-store review number of events/login.json and events/verify.json: no SMS, always this code.
export TEST_NUMBERS="${TEST_NUMBERS-+12015550100:428913}"
# Photos and attachments go to this bucket in moto (created by the dev server); FILES_BUCKET= runs without files.
export FILES_BUCKET="${FILES_BUCKET-messenger-local-files}"
OTP_HMAC_SECRET="$(cat .local/otp-secret)"
export OTP_HMAC_SECRET
export AWS_LAMBDA_LOG_LEVEL="${AWS_LAMBDA_LOG_LEVEL:-info}"
exec infra/with-stack.sh target/debug/devserver
