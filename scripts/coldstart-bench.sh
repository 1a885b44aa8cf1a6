#!/usr/bin/env bash
# Cold-start benchmark (docs/BENCHMARKS.md, "Cold start"): builds every function in functions/
# (package ravis-<name>) and the hello-world baseline (bench/lambda-hello) with the release
# profile, as `sam build` does, then starts each binary RUNS times, round by round, under the
# Lambda Runtime API emulator against moto's server (tests/deploy/coldstart.py, which refuses to
# run unless every function of infra/template.yaml has its first invocation) and prints init and
# first-invocation times.
#
#   scripts/coldstart-bench.sh [--runs N] [--only BINARY,...]
#
# --only (e.g. `--only reports`) builds and measures those functions (the folder names in
# functions/, which are the binaries' names) and the hello world only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}

only=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --only) only="${args[i + 1]:-}" ;;
    --only=*) only="${args[i]#--only=}" ;;
  esac
done

bash scripts/moto.sh install
packages=(-p ravis-lambda-hello)
for dir in functions/*/; do
  name=$(basename "$dir")
  if [[ -z "$only" || ",$only," == *",$name,"* ]]; then
    packages+=(-p "ravis-$name")
  fi
done
$CARGO build --release --quiet "${packages[@]}"
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps | .venv-moto/bin/python -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec .venv-moto/bin/python tests/deploy/coldstart.py --bin-dir "$TARGET_DIR/release" "$@"
