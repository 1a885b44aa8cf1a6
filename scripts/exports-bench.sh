#!/usr/bin/env bash
# Exports end to end on the embedded backend (docs/BENCHMARKS.md, "Exports end to end"):
# the same N jobs delivered to the local outbox and, side by side in the same run, to the
# loopback FHIR test receiver (`exchange-receivers`, tests/src/bin/) over HTTP.
#
#   scripts/exports-bench.sh [CHILDREN]        default 2000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}
CHILDREN=${1:-2000}

$CARGO build --release --quiet -p ravis --bin exports-bench
$CARGO build --release --quiet -p ravis-tests --bin exchange-receivers
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET_DIR/release"
WORK=$(mktemp -d)
FIFO="$WORK/stdin"
mkfifo "$FIFO"
cleanup() {
  exec 3>&- 2>/dev/null || true
  [[ -n ${receivers:-} ]] && wait "$receivers" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The receivers serve until their standard input closes (file descriptor 3, closed on exit).
"$BIN/exchange-receivers" <"$FIFO" >"$WORK/urls" &
receivers=$!
exec 3>"$FIFO"
for _ in $(seq 100); do grep -q '^viis ' "$WORK/urls" && break; sleep 0.1; done
FHIR_URL=$(awk '/^fhir /{print $2}' "$WORK/urls")
[[ -n $FHIR_URL ]] || { echo "exports-bench: the receivers did not start" >&2; exit 1; }

echo "exports-bench: $CHILDREN jobs to the local outbox"
"$BIN/exports-bench" "$CHILDREN" "$WORK/outbox-run"
echo "exports-bench: $CHILDREN jobs to the FHIR test receiver at $FHIR_URL"
"$BIN/exports-bench" "$CHILDREN" "$WORK/http-run" --fhir-url "$FHIR_URL"
