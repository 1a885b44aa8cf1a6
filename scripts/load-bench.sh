#!/usr/bin/env bash
# Load on `ravis serve` (docs/BENCHMARKS.md, "Audited reads and submissions under load"):
# 1,000 children registered through the API, then Debian's `wrk` with 16 connections for a
# fixed time on the audited `GET /children/{id}` (scripts/wrk/children.lua) and on
# `POST /screenings` (scripts/wrk/screenings.lua), both against the same server, one after
# the other. The server listens on loopback only; each run is bounded by --duration.
# --compare runs everything three times, side by side: `ravis serve --no-group-commit
# --inline-archive` (one audit write, committed with whatever other writes wait beside it,
# and one archive copy per request), then `--inline-archive` (the audit group commit:
# concurrent requests share one audit write and one archive copy, on the request path), then
# the default (one audit write per request, commits shared by the record store; the archive
# copy made by the drain beside the server, off the request path).
#
#   scripts/load-bench.sh [--duration 10s] [--children 1000] [--connections 16] [--compare]
#   scripts/load-bench.sh --serve-flags "--no-group-commit"   # one run with these serve flags
#   RAVIS_BIN=path/to/ravis scripts/load-bench.sh ...   # measure that build, do not build
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}
DURATION=10s CHILDREN=1000 CONNECTIONS=16 MODES=("")
while [[ $# -gt 0 ]]; do
  case $1 in
    --compare) MODES=("--no-group-commit --inline-archive" "--inline-archive" ""); shift ;;
    --serve-flags) MODES=("$2"); shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --children) CHILDREN=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    *) echo "load-bench: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || {
  echo "load-bench: wrk is missing: run 'apt-get install -y wrk' as root" >&2; exit 1; }

if [[ -n ${RAVIS_BIN:-} ]]; then
  RAVIS=$RAVIS_BIN  # a given build (to compare two commits side by side)
else
  $CARGO build --release --quiet -p ravis --bin ravis
  TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  RAVIS="$TARGET_DIR/release/ravis"
fi
WORK=$(mktemp -d)
cleanup() {
  [[ -n ${server:-} ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
export RAVIS_LOAD_TOKEN RAVIS_LOAD_IDS="$WORK/ids" RAVIS_LOAD_DATE
RAVIS_LOAD_DATE=$(date -u +%F)

run() {  # run MODE: a fresh data directory and server, seeded, then both loads
  local mode=$1 data="$WORK/data-$(echo "${1:-default}" | tr -c 'a-z\n' '-')"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # shellcheck disable=SC2086
  RAVIS_LOG=warn "$RAVIS" --data-dir "$data" serve --host 127.0.0.1 --port "$port" $mode \
    >"$WORK/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1
  done
  RAVIS_LOAD_TOKEN=$("$RAVIS" --data-dir "$data" token --role health_specialist --org load-clinic)
  python3 scripts/load_seed.py "$port" "$RAVIS_LOAD_TOKEN" "$CHILDREN" >"$RAVIS_LOAD_IDS"
  echo "load-bench: ravis serve ${mode:-(default: deferred archive)}; $(wc -l <"$RAVIS_LOAD_IDS") children; $CONNECTIONS connections, $DURATION each, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== audited GET /children/{id}"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s scripts/wrk/children.lua "http://127.0.0.1:$port"
  echo "== POST /screenings"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s scripts/wrk/screenings.lua "http://127.0.0.1:$port"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=
}
for mode in "${MODES[@]}"; do run "$mode"; done
