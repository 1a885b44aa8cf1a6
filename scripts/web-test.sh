#!/usr/bin/env bash
# The web client's browser suite: builds the client from web/package-lock.json, builds
# ravis (which embeds it), and runs web/tests/ (pytest + selenium) in headless Chromium
# against a real `ravis serve` on a free loopback port with a fresh data directory.
#
#   scripts/web-test.sh            install what is missing, build, run
#   scripts/web-test.sh install    only install (Chromium + chromedriver, .venv-web/) and build the client
#
# Chromium and chromedriver are Debian's packages (apt-get, as root, when missing);
# selenium and pytest are pinned in .venv-web/; nothing downloads a browser. Screenshots
# and axe-core reports of every screen go to web-artifacts/ (gitignored).
# Extra arguments after `--` go to pytest (e.g. `-- -k education`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SELENIUM_VERSION="4.50.0"
PYTEST_VERSION="9.0.2"
VENV=.venv-web
PYTHON=${PYTHON:-python3}
CARGO=${CARGO:-cargo}

log() { echo "web-test: $*" >&2; }

install_browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    log "Chromium and chromedriver are missing: run 'apt-get install -y chromium chromium-driver' as root"
    exit 1
  fi
  log "installing Debian's chromium and chromium-driver"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >&2
}

install_venv() {
  local want="selenium==$SELENIUM_VERSION pytest==$PYTEST_VERSION"
  if [[ -x $VENV/bin/pytest && -f $VENV/.pins && "$(cat "$VENV/.pins")" == "$want" ]]; then
    return 0
  fi
  log "installing $want into $VENV/"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  # shellcheck disable=SC2086 # two pins, split on purpose
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $want >&2
  # Written last, so an interrupted install is redone next time.
  echo "$want" >"$VENV/.pins"
}

install_browser
install_venv
if [[ "${1:-}" == "install" ]]; then
  bash scripts/web-build.sh
  exit 0
fi
if [[ "${1:-}" == "--" ]]; then shift; fi

bash scripts/web-build.sh
log "unit tests of the client (node --test)"
node --test web/tests/ >&2
# The same build as scripts/api-contract.sh, so nothing is built twice; ravis embeds web/dist.
log "building the binaries"
"$CARGO" build --workspace --all-features --bins --quiet
TARGET_DIR=$("$CARGO" metadata --format-version 1 --no-deps | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export RAVIS_BIN="$TARGET_DIR/debug/ravis"
export CHROMIUM CHROMEDRIVER
CHROMIUM=$(command -v chromium)
CHROMEDRIVER=$(command -v chromedriver)
# Selenium Manager is never asked to fetch a driver or a browser.
export SE_OFFLINE=true
rm -rf web-artifacts
exec "$VENV/bin/pytest" -q -p no:cacheprovider web/tests "$@"
