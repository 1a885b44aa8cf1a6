# RAVIS developer commands. `make test` is the one test command (CI runs it via .ci/run).
SHELL := bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# Start and end of each check in the log (UTC), so a slow phase of `make test` is seen.
STARTED = @echo "== make $@: started $$(date -u +%T)"
ENDED = @echo "== make $@: ended $$(date -u +%T)"

.PHONY: checks-python api-then-fhir checks-deploy checks-beside-faults test test-fast fmt-check clippy test-rust test-api test-deploy test-faults test-fhir test-reports lint-infra package test-package coldstart fuzz serve bench fmt web test-web import-bench indicators-bench

## Everything CI checks: formatting, clippy, all Rust tests (contract suites on the
## embedded backend and on the moto emulator, end-to-end), the deploy-like run of every
## function with its IAM policy check, the AWS adapters' contract suites through injected
## faults, the FHIR validators over every Bundle the exports produce, the API contract run,
## the independent Python checks of the reports and the analytics lake, the SAM template
## linters and the web client in a real browser. The client is built
## first, so every build of ravis below embeds it.
test: fmt-check web clippy test-rust checks-beside-faults

## Independent checks two at a time (the machine has two cores and each of these is mostly
## one process), each one's output printed whole when it ends; either failing fails make.
## The API contract run and the FHIR validation after it take about as long as the reports
## check beside them (with its package installs).
checks-python:
	$(MAKE) --no-print-directory -j2 --output-sync=target test-reports api-then-fhir
api-then-fhir:
	@$(MAKE) --no-print-directory test-api
	@$(MAKE) --no-print-directory test-fhir
checks-deploy:
	$(MAKE) --no-print-directory -j2 --output-sync=target test-deploy lint-infra

## The fault run (mostly waiting: on its injected pauses of 0.2-1.5 s and on the emulator;
## about 10 minutes) in the background, beside every other check after the Rust tests (the
## Python checks, the deploy-like run with the template checks, the browser suite and the
## deployment artefacts), which take the cores meanwhile; its output printed whole when it
## ends; any of them failing fails make.
checks-beside-faults:
	@log=$$(mktemp); \
	{ echo "== make test-faults: started $$(date -u +%T)"; bash scripts/fault-test.sh e2e; \
	  s=$$?; echo "== make test-faults: ended $$(date -u +%T)"; exit $$s; } >"$$log" 2>&1 & faults=$$!; \
	$(MAKE) --no-print-directory checks-python checks-deploy test-web test-package; rest=$$?; \
	wait $$faults; status=$$?; \
	echo "== make test-faults (run beside the checks above): exit status $$status"; \
	cat "$$log"; rm -f "$$log"; \
	[[ $$rest -eq 0 && $$status -eq 0 ]]

## The quick loop while developing: formatting, clippy and the Rust tests only.
test-fast: fmt-check clippy test-rust

fmt-check:
	$(CARGO) fmt --all -- --check

fmt:
	$(CARGO) fmt --all

clippy:
	$(STARTED)
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(ENDED)

## Starts moto's server on a free loopback port (installing it into .venv-moto when
## missing) and runs every Rust test with RAVIS_TEST_AWS_ENDPOINT pointing at it.
test-rust:
	$(STARTED)
	bash scripts/moto.sh run -- $(CARGO) test --workspace --all-features
	$(ENDED)

## docs/openapi.json as the contract: schemathesis (pinned, in .venv-api) against a real
## `ravis serve` on a free loopback port with a fresh data directory, every check, the
## stateful phase on (scripts/api-contract.sh, scripts/schemathesis.toml).
test-api:
	$(STARTED)
	bash scripts/api-contract.sh
	$(ENDED)

## Every function's binary run as Lambda runs it (template environment, Runtime API
## emulator, own credentials) against moto with its call recorder; every recorded AWS call
## checked against the function's IAM policy in infra/template.yaml (tests/deploy/).
test-deploy:
	$(STARTED)
	bash scripts/deploy-test.sh
	$(ENDED)

## AWS faults at 10 %: the AWS adapters' contract suites through scripts/fault_proxy.py,
## then the deployed functions end to end (1,000 screenings scored once each, a partner file
## imported whole; about 10 minutes against moto here): docs/DEPLOY.md, "Retries".
test-faults:
	bash scripts/fault-test.sh e2e

## The sample FHIR R4B Bundles and X-Provenance of every built-in instrument (first send and
## amended) and every Bundle the exports suites deliver to the test receiver, validated with the pinned PyPI fhir.resources (R4B models) and fhirpathpy (core
## invariants bdl-*, qrs-*, obs-*, dom-*, and the receiver's rules) in .venv-fhir
## (scripts/fhir-venv.sh, scripts/fhir-validate.py; docs/EXPORTS.md).
test-fhir:
	$(STARTED)
	CARGO="$(CARGO)" bash scripts/fhir-venv.sh samples
	$(ENDED)

## The reports and the analytics lake checked independently in Python (pinned PyPI packages
## of scripts/reports-requirements.txt in .venv-reports): `ravis lake` on a data directory
## seeded through `ravis serve`, every Parquet file read with DuckDB (tests/reports/); the
## disclosure control proved: release-gen's random releases (several seeds, one with an
## earlier release), every suppressed cell's interval recomputed by scipy's HiGHS from the
## CSV and codelists alone (tests/reports/test_disclosure.py; docs/REPORTS.md).
test-reports:
	$(STARTED)
	CARGO="$(CARGO)" bash scripts/reports-venv.sh test
	$(ENDED)

lint-infra:
	$(STARTED)
	bash scripts/lint-infra.sh
	$(ENDED)

## The web client: web/dist/ from web/package-lock.json (npm ci, esbuild); ravis embeds it
## when it is built next (cli/build.rs).
web:
	$(STARTED)
	bash scripts/web-build.sh
	$(ENDED)

## The web client in headless Chromium (Debian's chromium + chromium-driver, installed with
## apt-get when missing; selenium in .venv-web) against a real `ravis serve`: two roles
## through sign-in → register → keyboard-only M-CHAT-R → result → worklist → referral,
## axe-core on every screen; screenshots in web-artifacts/ (scripts/web-test.sh).
test-web:
	$(STARTED)
	bash scripts/web-test.sh
	$(ENDED)

## The deployment artefacts as `sam build` makes them (cargo-lambda + Zig from PyPI), each
## checked to be an ELF of the architecture that answers an invocation (x86_64 here: these
## machines cannot link for arm64; ARCH=arm64 on one that can).
package:
	bash scripts/package.sh $(or $(ARCH),x86_64) $(or $(MODE),release)

## The same `sam build` and checks in cargo's dev profile (SAM_BUILD_MODE=debug): what
## `make test` runs, last beside the fault run (about 4 minutes here; the release build
## takes about 23).
test-package:
	$(STARTED)
	bash scripts/package.sh x86_64 debug
	$(ENDED)

## Cold start of every function vs a hello-world lambda_runtime binary (docs/BENCHMARKS.md).
coldstart:
	bash scripts/coldstart-bench.sh

## `ravis import` of 100,000 generated children against `sqlite3 .import` of the same file into
## a table with the same two indexes, side by side (docs/BENCHMARKS.md); ROWS and RUNS change it.
import-bench:
	bash scripts/import-bench.sh --rows $(or $(ROWS),100000) --runs $(or $(RUNS),3)

## The indicator table from a 10,000,000-row lake (ROWS overrides), RAVIS against DuckDB on
## the same Parquet files, every cell compared (scripts/indicators-bench.sh;
## docs/BENCHMARKS.md).
indicators-bench:
	CARGO="$(CARGO)" bash scripts/indicators-bench.sh $(or $(ROWS),10000000)

## Every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 60; the acceptance run is
## FUZZ_SECONDS=600 with 0 crashes, docs/FUZZING.md). Needs the nightly toolchain; installs
## cargo-fuzz when missing. Not part of `make test` (the property runs there are).
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

## Runs the whole system locally on the embedded backend, with the web client at /.
serve: web
	$(CARGO) run -p ravis -- serve
