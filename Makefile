# The two commands of the README: `make dev` runs the product locally, `make test` runs every test.
SHELL := /bin/bash
VENV := .local/venv/bin

.PHONY: dev test install fmt-check clippy lint-template test-all schemathesis sam-build ci

dev:
	infra/dev.sh

test: install fmt-check clippy lint-template test-all schemathesis

install:
	infra/install.sh

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --quiet -- -D warnings

lint-template:
	$(VENV)/cfn-lint template.yaml

# Unit tests and the integration tests, with DynamoDB Local and moto started on free ports and stopped after.
test-all:
	set -o pipefail; infra/with-stack.sh cargo test --workspace 2>&1 | tee .local/test.log
	@infra/test-summary.sh .local/test.log

# Generated hostile requests from openapi.yaml against the running API: no 5xx, no response off its schema.
schemathesis:
	infra/with-stack.sh infra/schemathesis.sh

# The deployable artefact, built as `sam build` builds it (x86_64 here; the template defaults to arm64).
sam-build:
	infra/install.sh deploy
	PATH="$(CURDIR)/$(VENV):$$PATH" SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 SAM_CLI_TELEMETRY=0 \
	  sam build --parameter-overrides Architecture=x86_64

ci: test sam-build
