#!/usr/bin/env bash
# Independent proof of the disclosure control of statistical releases (issue #13).
#
#   scripts/reports-venv.sh install   create .venv-reports/ with the pinned scipy, numpy and
#                                     pytest (idempotent)
#   scripts/reports-venv.sh test      install, build release-gen (tests/src/bin/) and run
#                                     tests/reports/test_disclosure.py: random releases
#                                     audited by scipy's HiGHS from their CSV and codelists
#
# `make test-reports` runs `test`. CARGO overrides the cargo command, PYTHON the python used
# to create the venv.
set -euo pipefail

SCIPY_VERSION="1.17.1"
NUMPY_VERSION="2.4.6"
PYTEST_VERSION="9.2.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-reports"
STAMP="$VENV/.reports-versions"
CARGO="${CARGO:-cargo}"
PYTHON="${PYTHON:-python3}"

log() { echo "reports-venv.sh: $*" >&2; }

install() {
  local want="scipy==$SCIPY_VERSION numpy==$NUMPY_VERSION pytest==$PYTEST_VERSION"
  if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    return 0
  fi
  log "installing $want into .venv-reports/"
  if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
  fi
  # shellcheck disable=SC2086 # three pins, split on purpose
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $want >&2
  echo "$want" >"$STAMP"
}

run_tests() {
  install
  log "building release-gen"
  # shellcheck disable=SC2086 # CARGO may carry arguments (e.g. "cargo +stable")
  (cd "$ROOT" && $CARGO build -p ravis-tests --all-features --bin release-gen --quiet)
  local target_dir
  # shellcheck disable=SC2086
  target_dir=$(cd "$ROOT" && $CARGO metadata --format-version 1 --no-deps |
    "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  RELEASE_GEN="$target_dir/debug/release-gen" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$ROOT/tests/reports" "$@"
}

case "${1:-}" in
  install) install ;;
  test) shift; run_tests "$@" ;;
  *)
    echo "usage: scripts/reports-venv.sh install | test [PYTEST ARGS]" >&2
    exit 2
    ;;
esac
