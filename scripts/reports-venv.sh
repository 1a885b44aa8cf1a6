#!/usr/bin/env bash
# Checks outside Rust of what a statistics release publishes (issue #13): tests/reports/.
#
#   scripts/reports-venv.sh      create .venv-reports/ if missing, install
#                                scripts/reports-requirements.txt into it, build the
#                                report-sample binary, write a sample release to a
#                                temporary directory and run pytest on tests/reports
#
# CARGO overrides the cargo command; CARGO_TARGET_DIR is honoured as usual.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-reports"
REQUIREMENTS="$ROOT/scripts/reports-requirements.txt"
CARGO="${CARGO:-cargo}"

log() { echo "reports-venv.sh: $*" >&2; }

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating .venv-reports/"
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2

# shellcheck disable=SC2086 # CARGO may carry arguments (e.g. "cargo +stable")
(cd "$ROOT" && $CARGO build --quiet -p ravis-tests --bin report-sample)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac

SAMPLE="$(mktemp -d "${TMPDIR:-/tmp}/ravis-report-sample.XXXXXX")"
trap 'rm -rf "$SAMPLE"' EXIT
"$TARGET/debug/report-sample" --out "$SAMPLE" >&2

cd "$ROOT"
RAVIS_REPORT_SAMPLE_DIR="$SAMPLE" "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/reports "$@"
