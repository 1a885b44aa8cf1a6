#!/usr/bin/env bash
# Local AWS emulator (moto server) for the AWS adapter tests.
#
#   scripts/moto.sh install          create .venv-moto/ with the pinned moto and pytest (idempotent)
#   scripts/moto.sh start            start a server on a free loopback port; prints
#                                    `export RAVIS_TEST_AWS_ENDPOINT=...` (use with eval)
#   scripts/moto.sh stop             stop the server that `start` started
#   scripts/moto.sh run -- CMD...    install + start a private server, run CMD with
#                                    RAVIS_TEST_AWS_ENDPOINT set, always stop it, exit with CMD's code
#
# The server listens on 127.0.0.1 only, on a port the OS reports free.
set -euo pipefail

MOTO_VERSION="5.2.5"
# The deploy-like tests (tests/deploy/) run with pytest in the same virtualenv.
PYTEST_VERSION="9.0.2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-moto"
STAMP="$VENV/.moto-version"
PID_FILE="$VENV/server.pid"
ENDPOINT_FILE="$VENV/server.endpoint"
START_TIMEOUT_SECS=60

log() { echo "moto.sh: $*" >&2; }

install() {
  local want="moto[server]==$MOTO_VERSION pytest==$PYTEST_VERSION"
  if [[ -x "$VENV/bin/moto_server" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    return 0
  fi
  log "installing $want into .venv-moto/"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  # shellcheck disable=SC2086 # two pins, split on purpose
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $want >&2
  echo "$want" >"$STAMP"
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# True once the server's management API answers.
is_up() {
  "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2).read()
PY
}

# Starts a server in the background; sets SERVER_PID and SERVER_ENDPOINT.
# A port can be taken between probing and binding, so a failed start is retried on a new port.
spawn() {
  local attempt port endpoint pid deadline
  for attempt in 1 2 3; do
    port="$(free_port)"
    endpoint="http://127.0.0.1:$port"
    # moto's server, with DynamoDB item operations made atomic (see scripts/moto_server.py).
    "$VENV/bin/python" "$ROOT/scripts/moto_server.py" -H 127.0.0.1 -p "$port" >"$VENV/server-$port.log" 2>&1 &
    pid=$!
    deadline=$((SECONDS + START_TIMEOUT_SECS))
    while ((SECONDS < deadline)); do
      if ! kill -0 "$pid" 2>/dev/null; then
        log "server on port $port exited during start-up (attempt $attempt); log: .venv-moto/server-$port.log"
        break
      fi
      if is_up "$endpoint"; then
        SERVER_PID=$pid
        SERVER_ENDPOINT=$endpoint
        return 0
      fi
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "server on port $port did not answer within ${START_TIMEOUT_SECS}s"
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 1
    fi
  done
  log "could not start moto server"
  return 1
}

start() {
  install
  if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    echo "export RAVIS_TEST_AWS_ENDPOINT=$(cat "$ENDPOINT_FILE")"
    return 0
  fi
  spawn
  echo "$SERVER_PID" >"$PID_FILE"
  echo "$SERVER_ENDPOINT" >"$ENDPOINT_FILE"
  log "server pid $SERVER_PID at $SERVER_ENDPOINT"
  echo "export RAVIS_TEST_AWS_ENDPOINT=$SERVER_ENDPOINT"
}

stop() {
  if [[ -f "$PID_FILE" ]]; then
    local pid
    pid="$(cat "$PID_FILE")"
    kill "$pid" 2>/dev/null || true
    rm -f "$PID_FILE" "$VENV/server-$(sed 's/.*://' "$ENDPOINT_FILE").log" "$ENDPOINT_FILE"
    log "stopped server pid $pid"
  else
    log "no server started by 'start' is running"
  fi
}

run() {
  if [[ "${1:-}" == "--" ]]; then shift; fi
  if [[ $# -eq 0 ]]; then
    log "usage: scripts/moto.sh run -- CMD [ARGS...]"
    return 2
  fi
  install
  spawn
  RUN_PID=$SERVER_PID
  # Stop this run's own server whatever happens to CMD (error, Ctrl-C); the trap runs
  # after this function returns, so the pid lives in a global.
  trap 'kill "$RUN_PID" 2>/dev/null || true; wait "$RUN_PID" 2>/dev/null || true' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  log "server pid $RUN_PID at $SERVER_ENDPOINT"
  local code=0
  RAVIS_TEST_AWS_ENDPOINT="$SERVER_ENDPOINT" "$@" || code=$?
  # Keep the server log only when it may explain a failure.
  if [[ $code -eq 0 ]]; then rm -f "$VENV/server-${SERVER_ENDPOINT##*:}.log"; fi
  return "$code"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  run) shift; run "$@" ;;
  *)
    echo "usage: scripts/moto.sh install | start | stop | run -- CMD [ARGS...]" >&2
    exit 2
    ;;
esac
