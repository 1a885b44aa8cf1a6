# RAVIS developer commands. `make test` is the one test command (CI runs it via .ci/run).
SHELL := bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: test fmt-check clippy test-rust lint-infra serve bench fmt

## Everything CI checks: formatting, clippy, all Rust tests (contract suites on the
## embedded backend and on the moto emulator, end-to-end), and the SAM template linters.
test: fmt-check clippy test-rust lint-infra

fmt-check:
	$(CARGO) fmt --all -- --check

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

## Starts moto's server on a free loopback port (installing it into .venv-moto when
## missing) and runs every Rust test with RAVIS_TEST_AWS_ENDPOINT pointing at it.
test-rust:
	bash scripts/moto.sh run -- $(CARGO) test --workspace --all-features

lint-infra:
	bash scripts/lint-infra.sh

## Runs the whole system locally on the embedded backend.
serve:
	$(CARGO) run -p ravis -- serve
