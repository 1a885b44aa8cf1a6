#!/usr/bin/env bash
# Load on `ravis serve` (docs/BENCHMARKS.md, "Audited reads and submissions under load"):
# 1,000 children registered through the API, then Debian's `wrk` with 16 connections for a
# fixed time on the audited `GET /children/{id}` (scripts/wrk/children.lua) and on
# `POST /screenings` (scripts/wrk/screenings.lua), both against the same server, one after
# the other. The server listens on loopback only; each run is bounded by --duration.
#
#   scripts/load-bench.sh [--duration 10s] [--children 1000] [--connections 16]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}
DURATION=10s CHILDREN=1000 CONNECTIONS=16
while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --children) CHILDREN=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    *) echo "load-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || {
  echo "load-bench: wrk is missing: run 'apt-get install -y wrk' as root" >&2; exit 1; }

$CARGO build --release --quiet -p ravis --bin ravis
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
RAVIS="$TARGET_DIR/release/ravis"
WORK=$(mktemp -d)
cleanup() {
  [[ -n ${server:-} ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RAVIS_LOG=warn "$RAVIS" --data-dir "$WORK/data" serve --host 127.0.0.1 --port "$PORT" \
  >"$WORK/serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1
done
export RAVIS_LOAD_TOKEN
RAVIS_LOAD_TOKEN=$("$RAVIS" --data-dir "$WORK/data" token --role health_specialist --org load-clinic)
python3 scripts/load_seed.py "$PORT" "$RAVIS_LOAD_TOKEN" "$CHILDREN" >"$WORK/ids"
export RAVIS_LOAD_IDS="$WORK/ids" RAVIS_LOAD_DATE
RAVIS_LOAD_DATE=$(date -u +%F)
echo "load-bench: $(wc -l <"$WORK/ids") children; $CONNECTIONS connections, $DURATION each, $(nproc) cores"
echo "== audited GET /children/{id}"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s scripts/wrk/children.lua "http://127.0.0.1:$PORT"
echo "== POST /screenings"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s scripts/wrk/screenings.lua "http://127.0.0.1:$PORT"
