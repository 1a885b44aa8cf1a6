#!/usr/bin/env bash
# Deploy-like end-to-end test (tests/deploy/): builds every function's binary, runs each as
# Lambda would (the template's environment, its own process under a Runtime API emulator on
# loopback, its own access key) against moto's server with its call recorder on, drives a
# scenario through them (API requests, the SQS trigger, a partner file dropped into the
# bucket), then checks every recorded AWS call against the function's IAM policy in
# infra/template.yaml, and every grant against the calls. Also the analysts' Athena policy
# (test_analyst_policy.py: the template alone, evaluated with the same IAM evaluator).
#
#   scripts/deploy-test.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}

bash scripts/moto.sh install
# The functions' binaries, with the workspace's test features so nothing is built twice.
$CARGO build --workspace --all-features --bins --quiet
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps | .venv-moto/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export RAVIS_BIN_DIR="$TARGET_DIR/debug"
exec .venv-moto/bin/python -m pytest tests/deploy/test_deploy.py tests/deploy/test_analyst_policy.py -p no:cacheprovider -q -rA "$@"
