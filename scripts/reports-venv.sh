#!/usr/bin/env bash
# Independent checks of what the reports, the open-data releases and the analytics lake
# write (issue #13), in Python: tests/reports/.
#
#   scripts/reports-venv.sh install   create .venv-reports/ with the pinned packages of
#                                     scripts/reports-requirements.txt (idempotent: reinstalls
#                                     only when that file changes)
#   scripts/reports-venv.sh test      install, build `ravis` and the `report-sample` and
#                                     `release-gen` binaries, write a sample release to a
#                                     temporary directory, run pytest on tests/reports/
#                                     (RAVIS_BIN is the binary the tests run;
#                                     RAVIS_REPORT_SAMPLE_DIR the sample release; RELEASE_GEN
#                                     the random releases of the disclosure-control proof,
#                                     test_disclosure.py)
#
# `make test-reports` runs `test`. CARGO overrides the cargo command; extra arguments after
# `test` go to pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-reports"
REQUIREMENTS="$ROOT/scripts/reports-requirements.txt"
STAMP="$VENV/.requirements"
CARGO="${CARGO:-cargo}"

log() { echo "reports-venv.sh: $*" >&2; }

install() {
  if [[ -x "$VENV/bin/python" && -f "$STAMP" ]] && cmp -s "$STAMP" "$REQUIREMENTS"; then
    return 0
  fi
  log "installing scripts/reports-requirements.txt into .venv-reports/"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
  cp "$REQUIREMENTS" "$STAMP"
}

run_tests() {
  install
  cd "$ROOT"
  local target
  target=$($CARGO metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  # shellcheck disable=SC2086 # CARGO may carry arguments (e.g. "cargo +stable")
  # The workspace's binaries with its test features, as the other checks build them, so
  # nothing is built twice (a narrower build would compile ravis-shared again).
  $CARGO build --quiet --workspace --all-features --bins
  if [[ -z "${RAVIS_BIN:-}" ]]; then
    export RAVIS_BIN="$target/debug/ravis"
  fi
  # Global, not local: the EXIT trap runs after this function has returned.
  SAMPLE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ravis-report-sample.XXXXXX")"
  trap 'rm -rf "$SAMPLE_DIR"' EXIT
  "$target/debug/report-sample" --out "$SAMPLE_DIR" >&2
  RAVIS_REPORT_SAMPLE_DIR="$SAMPLE_DIR" RELEASE_GEN="$target/debug/release-gen" \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/reports "$@"
}

case "${1:-}" in
  install) install ;;
  test) shift; run_tests "$@" ;;
  *) echo "usage: scripts/reports-venv.sh install | test [pytest arguments]" >&2; exit 2 ;;
esac
