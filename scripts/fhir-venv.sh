#!/usr/bin/env bash
# Third-party validation of the FHIR resources RAVIS produces (issue 12, item 8).
#
#   scripts/fhir-venv.sh install        create .venv-fhir/ with the pinned fhir.resources and
#                                       fhirpathpy (idempotent)
#   scripts/fhir-venv.sh validate DIR   install, then validate every *.json in DIR
#                                       (scripts/fhir-validate.py)
#   scripts/fhir-venv.sh samples        install, write the sample Bundles and X-Provenance of
#                                       every built-in instrument (the Rust test
#                                       fhir::tests::provenance_rules::writes_samples with
#                                       RAVIS_FHIR_SAMPLES_DIR set) and every Bundle the
#                                       embedded exports suites deliver to the test receiver
#                                       to a temporary directory, validate them, remove it
#
# `make test-fhir` runs `samples`. CARGO overrides the cargo command.
set -euo pipefail

# fhir.resources 8 carries the R4B (4.3.0) models in fhir.resources.R4B.
FHIR_RESOURCES_VERSION="8.3.0"
FHIRPATHPY_VERSION="2.2.4"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-fhir"
STAMP="$VENV/.fhir-versions"
CARGO="${CARGO:-cargo}"

log() { echo "fhir-venv.sh: $*" >&2; }

install() {
  local want="fhir.resources==$FHIR_RESOURCES_VERSION fhirpathpy==$FHIRPATHPY_VERSION"
  if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    return 0
  fi
  log "installing $want into .venv-fhir/"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  # shellcheck disable=SC2086 # two pins, split on purpose
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $want >&2
  echo "$want" >"$STAMP"
}

validate() {
  if [[ $# -ne 1 ]]; then
    log "usage: scripts/fhir-venv.sh validate DIR"
    return 2
  fi
  install
  "$VENV/bin/python" "$ROOT/scripts/fhir-validate.py" "$1"
}

samples() {
  install
  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/ravis-fhir-samples.XXXXXX")"
  SAMPLES_DIR=$dir
  trap 'rm -rf "$SAMPLES_DIR"' EXIT
  # shellcheck disable=SC2086 # CARGO may carry arguments (e.g. "cargo +stable")
  (cd "$ROOT" && RAVIS_FHIR_SAMPLES_DIR="$dir" $CARGO test --workspace --all-features --lib --quiet \
    -- --exact fhir::tests::provenance_rules::writes_samples)
  # And every Bundle the exports suites send through the whole pipeline (first sends,
  # amended merges of several results, resends after faults), as the test receiver got them.
  # shellcheck disable=SC2086
  (cd "$ROOT" && RAVIS_FHIR_SAMPLES_DIR="$dir" $CARGO test -p ravis-tests --all-features \
    --test all --quiet -- exports:: --skip aws_exports)
  "$VENV/bin/python" "$ROOT/scripts/fhir-validate.py" "$dir"
}

case "${1:-}" in
  install) install ;;
  validate) shift; validate "$@" ;;
  samples) samples ;;
  *)
    echo "usage: scripts/fhir-venv.sh install | validate DIR | samples" >&2
    exit 2
    ;;
esac
