# The two commands of the README: `make dev` runs the product locally, `make test` runs every test.
SHELL := /bin/bash
VENV := .local/venv/bin

.PHONY: browser-tests screenshots web-dist dev invoke mesibo-check test install fmt-check clippy lint-template lint-deploy test-all schemathesis sam-build bench cost ci

dev:
	infra/dev.sh

# One function of template.yaml on one event, as `sam local invoke` runs it but without Docker (a runtime API
# emulator), against the stack `make dev` runs (events/env.json names its ports):
#   make invoke FN=LoginFunction EVENT=events/login.json
FN ?= LoginFunction
EVENT ?= events/login.json
invoke:
	cargo build --quiet $(addprefix --bin ,$(FUNCTION_BINS))
	cargo run --quiet -p local_stack --bin invoke -- $(FN) -e $(EVENT) -n events/env.json

# This backend's calls to mesibo, against a real mesibo account (README, mesibo): two devices signing in, a group of
# two, a notice, logouts and deletions, with numbers it makes up; every answer is printed and everything it made is
# removed again.   MESIBO_APP_TOKEN=… [MESIBO_API_URL=https://…/backend/] make mesibo-check
mesibo-check:
	cargo run --quiet -p local_stack --bin mesibo-check

test: install fmt-check clippy lint-template test-all schemathesis browser-tests

install:
	infra/install.sh

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --quiet -- -D warnings

lint-template:
	$(VENV)/cfn-lint template.yaml

# Deployment checks of the template: cfn-lint's serverless rules and checkov. Every finding is fixed or skipped in
# template.yaml beside its resource (or in its loop), with the reason; a new one fails here. Not in `make test`: the
# first run installs checkov (about 45 s), each later one takes about 10 s. checkov does not expand Fn::ForEach (it
# would not see the looped log groups and alarms), so it reads the template expanded (infra/expand_template.py).
# Skipped for every function, each for one reason that holds for all:
# - CKV_AWS_173 (the environment encrypted with a key of our own): the environment holds no secret (each function
#   reads its secrets from Secrets Manager at start; the *_ARN variables say where) and Lambda encrypts it at rest.
# - CKV_AWS_115 (reserved concurrency): a reservation fails to deploy on accounts whose concurrency quota is under 100
#   plus reservations (new accounts: 10). Each function is bounded otherwise: the HTTP ones by the routes' throttling,
#   the stream readers by the shards (one instance each), the fan-out function by its event source's
#   MaximumConcurrency, the rotation and custom-resource functions by their callers (a few calls a month).
# - CKV_AWS_116 (a dead-letter queue): it only receives failed asynchronous invocations, and none is asynchronous.
#   API Gateway, Secrets Manager and CloudFormation invoke synchronously; the stream readers send the batches they
#   give up on to StreamFailuresBucket (OnFailure), and the fan-out queue redrives to FanoutDeadLetterQueue.
lint-deploy:
	infra/install.sh lint
	.local/lint-venv/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules
	expanded="$$(mktemp -d)" && trap 'rm -rf "$$expanded"' EXIT && \
	  .local/lint-venv/bin/python infra/expand_template.py template.yaml > "$$expanded/template.yaml" && \
	  .local/lint-venv/bin/checkov -f "$$expanded/template.yaml" --framework cloudformation --skip-download --compact \
	    --quiet --skip-check CKV_AWS_173,CKV_AWS_115,CKV_AWS_116

# Unit tests and the integration tests, with DynamoDB Local and moto started on free ports and stopped after.
# Every log line of the suite is captured and checked for numbers, codes, tokens and addresses after it. The heavy
# tests (5000-number sync, 50 concurrent users) run alone after the others, so they measure the code, not the crowd,
# and on a local stack of their own: the in-memory DynamoDB Local the others filled once stalled past the SDK's 5 s
# read timeout in the middle of them.
test-all:
	rm -rf .local/log-capture && mkdir -p .local/log-capture
	set -o pipefail; export LOG_CAPTURE_DIR="$(CURDIR)/.local/log-capture"; \
	  { infra/with-stack.sh bash -c 'cargo test --workspace' && \
	    infra/with-stack.sh bash -c 'cargo test -p integration_tests --test api -- --ignored --test-threads 1'; } \
	  2>&1 | tee .local/test.log
	@infra/test-summary.sh .local/test.log
	infra/check-log-privacy.sh .local/log-capture

# The web client and pages of other origins in headless Chromium (Debian's package, driven by playwright-core)
# against `make dev` itself, on free ports: sign-in, profile and photo, a contact joining, groups, logouts and a
# deletion; mesibo's web messenger's requests from another origin; a refused origin.
browser-tests:
	infra/browser-tests.sh

# The web client as static files for any host, with the API's URL as its one setting (README, Browsers):
#   make web-dist API_URL=https://abc123.execute-api.eu-west-1.amazonaws.com   -> .local/web-dist/
web-dist:
	infra/web-dist.sh "$(API_URL)"

# The browser tests, keeping the screenshots README shows (docs/screenshots).
screenshots:
	UPDATE_SCREENSHOTS=1 infra/browser-tests.sh

# Generated hostile requests from openapi.yaml against the running API: no 5xx, no response off its schema.
schemathesis:
	infra/with-stack.sh infra/schemathesis.sh

# The deployable artefact, built as `sam build` builds it (x86_64, the template's default architecture).
# Every function is built first in one cargo invocation, exactly as sam build invokes cargo lambda for each: a
# release link (fat LTO, one codegen unit) keeps one core busy for minutes, so two run side by side; sam build then
# finds each one built. Serially, nine such links were most of CI's time.
FUNCTION_BINS := login verify getcontacts account groups compat files notifier fanout mesibo keyrotation smsprotect backfill
sam-build:
	infra/install.sh deploy
	PATH="$(CURDIR)/$(VENV):$$PATH" cargo lambda build --release $(addprefix --bin ,$(FUNCTION_BINS))
	PATH="$(CURDIR)/$(VENV):$$PATH" SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 SAM_CLI_TELEMETRY=0 \
	  sam build --language-extensions --parameter-overrides Architecture=x86_64

# Benchmarks (docs/BENCHMARKS.md): the functions built as `sam build` builds them (cargo lambda, release profile,
# x86_64 here), a hello-world beside them, the bench harness and the dev server; then every section against a local
# stack of its own. BENCH_SCALE=0.2 for a quick look.
BENCH_BINS := login verify getcontacts account groups files compat notifier hello-world hello-world-sdk
bench:
	infra/install.sh bench
	PATH="$(CURDIR)/$(VENV):$$PATH" cargo lambda build --release $(addprefix --bin ,$(BENCH_BINS))
	PATH="$(CURDIR)/$(VENV):$$PATH" cargo lambda build --release --bin bench --bin devserver
	infra/with-stack.sh target/lambda/bench/bootstrap

# docs/COST.md again, from the figures the last `make bench` kept (docs/bench-results.json) and the prices and usage
# assumptions in infra/bench (prices.json, usage.json): no stack, nothing measured.
cost:
	BENCH_SECTIONS=cost cargo run --quiet -p bench

ci: test sam-build
