#!/usr/bin/env bash
# `make dev`: installs what is missing, starts DynamoDB Local + moto, creates the table from template.yaml and serves
# the API at http://127.0.0.1:${PORT:-3000}. Codes sent by SMS are printed as "[dev SMS] to +… code …". Ctrl-C stops it all.
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
# Photos and attachments go to this bucket in moto (created by the dev server); FILES_BUCKET= runs without files.
export FILES_BUCKET="${FILES_BUCKET-messenger-local-files}"
OTP_HMAC_SECRET="$(cat .local/otp-secret)"
export OTP_HMAC_SECRET
export AWS_LAMBDA_LOG_LEVEL="${AWS_LAMBDA_LOG_LEVEL:-info}"
exec infra/with-stack.sh target/debug/devserver
