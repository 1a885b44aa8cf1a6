#!/usr/bin/env bash
# The API contract test: schemathesis (PyPI, pinned) against a real `ravis serve`, with
# every check on, the stateful phase on (OpenAPI links), and docs/openapi.json as the
# contract. Exits non-zero on any failure.
#
#   scripts/api-contract.sh            install (idempotent), build, serve, run, stop
#   scripts/api-contract.sh install    only create .venv-api/ with the pinned schemathesis
#
# The server runs on a free 127.0.0.1 port with a fresh temporary data directory, and is
# stopped (and the directory removed) whatever happens. The checks, phases, case counts and
# the few checks configured for RAVIS (each with its reason) are in scripts/schemathesis.toml.
# Extra arguments after `--` go to `schemathesis run` (e.g. `-- --seed 1`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION="4.32.5"
VENV=.venv-api
PYTHON=${PYTHON:-python3}
CARGO=${CARGO:-cargo}
START_TIMEOUT_SECS=60

log() { echo "api-contract: $*" >&2; }

install() {
  local want="schemathesis==$SCHEMATHESIS_VERSION"
  if [[ -x $VENV/bin/schemathesis && -f $VENV/.pins && "$(cat "$VENV/.pins")" == "$want" ]]; then
    return 0
  fi
  log "installing $want into $VENV/"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$want" >&2
  # Written last, so an interrupted install is redone next time.
  echo "$want" >"$VENV/.pins"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# True once the server answers HTTP at all (a 401 is an answer).
is_up() {
  "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/catalogue/instruments", timeout=2)
except urllib.error.HTTPError:
    pass
PY
}

if [[ "${1:-}" == "install" ]]; then
  install
  exit 0
fi
if [[ "${1:-}" == "--" ]]; then shift; fi

install
# The same build as scripts/deploy-test.sh, so nothing is built twice.
log "building the binaries"
"$CARGO" build --workspace --all-features --bins --quiet
TARGET_DIR=$("$CARGO" metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
RAVIS="$TARGET_DIR/debug/ravis"

DATA_DIR="$(mktemp -d -t ravis-api-contract.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port can be taken between probing and binding, so a failed start is retried on a new port.
BASE_URL=""
for attempt in 1 2 3; do
  port="$(free_port)"
  RAVIS_LOG=warn "$RAVIS" --data-dir "$DATA_DIR" serve --host 127.0.0.1 --port "$port" \
    >"$DATA_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  deadline=$((SECONDS + START_TIMEOUT_SECS))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "ravis serve on port $port exited during start-up (attempt $attempt)"
      cat "$DATA_DIR/server.log" >&2
      SERVER_PID=""
      break
    fi
    if is_up "http://127.0.0.1:$port"; then
      BASE_URL="http://127.0.0.1:$port"
      break 2
    fi
    sleep 0.25
  done
  if [[ -n $SERVER_PID ]]; then
    log "ravis serve did not answer within ${START_TIMEOUT_SECS}s"
    exit 1
  fi
done
if [[ -z $BASE_URL ]]; then
  log "could not start ravis serve"
  exit 1
fi
log "ravis serve pid $SERVER_PID at $BASE_URL"

# One caller who may use every operation on personal data and the registries (the roles
# that register children and administer the registries) and ask for reports (the ministry
# analyst), signed with the data directory's development key.
RAVIS_API_TOKEN="$("$RAVIS" --data-dir "$DATA_DIR" token \
  --role health_specialist --role registry_administrator --role data_protection_officer \
  --role integration_operator --role ministry_analyst \
  --org contract-clinic --subject schemathesis)"
export RAVIS_API_TOKEN
# The caller's organisation is in the registry, as a referring organisation must be.
"$VENV/bin/python" - "$BASE_URL" <<'PY'
import json, os, sys, urllib.request

body = {"id": "contract-clinic", "kind": "health_practice", "name": "Contract clinic", "atvk": "0001000"}
request = urllib.request.Request(
    sys.argv[1] + "/organisations",
    method="POST",
    data=json.dumps(body).encode(),
    headers={"Authorization": "Bearer " + os.environ["RAVIS_API_TOKEN"], "Content-Type": "application/json"},
)
urllib.request.urlopen(request, timeout=10).read()
PY

# An item wording pack of invented placeholder wording (never licensed text), so the
# wording route answers 200 for mchat-r in Latvian and its schema is checked too.
"$VENV/bin/python" - "$DATA_DIR/mchat-r.lv.json" <<'PY'
import json, sys

d = json.load(open("shared/instruments/mchat-r.json"))
pack = {
    "instrument": d["id"], "versions": [d["version"]], "language": "lv",
    "source": "Invented test wording (API contract run)", "licence": "Test data, no licence needed",
    "items": {i["id"]: f"Test wording of item {i['id']}" for i in d["items"]},
    "option_labels": {n: [f"Option {k}" for k in range(len(c["scores"]))] for n, c in d["codings"].items()},
}
json.dump(pack, open(sys.argv[1], "w"))
PY
"$RAVIS" --data-dir "$DATA_DIR" wording load "$DATA_DIR/mchat-r.lv.json" >/dev/null

code=0
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run docs/openapi.json \
  --url "$BASE_URL" "$@" || code=$?
if [[ $code -ne 0 ]]; then
  log "FAILED (exit $code); the server's warnings and errors:"
  tail -n 50 "$DATA_DIR/server.log" >&2
fi
exit "$code"
