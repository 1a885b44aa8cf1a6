#!/usr/bin/env bash
# Cold-start benchmark (docs/BENCHMARKS.md, "Cold start"): builds the four functions and the
# hello-world baseline (bench/lambda-hello) with the release profile, as `sam build` does, then
# starts each binary RUNS times under the Lambda Runtime API emulator against moto's server
# (tests/deploy/coldstart.py) and prints init and first-invocation times.
#
#   scripts/coldstart-bench.sh [--runs N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}

bash scripts/moto.sh install
$CARGO build --release --quiet \
  -p ravis-children-api -p ravis-screenings-api -p ravis-scoring-worker -p ravis-intake-worker -p ravis-worklist-sweep -p ravis-exports-worker \
  -p ravis-lambda-hello
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps | .venv-moto/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec .venv-moto/bin/python tests/deploy/coldstart.py --bin-dir "$TARGET_DIR/release" "$@"
