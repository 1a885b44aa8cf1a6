#!/usr/bin/env bash
# Builds the web client into web/dist/ from web/package-lock.json (`npm ci` only when the
# lock file changed since the last install). `ravis` embeds web/dist/ when it is built
# next, so run this before `cargo build` / `cargo run -p ravis -- serve`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../web"

log() { echo "web-build: $*" >&2; }

if ! command -v npm >/dev/null; then
  log "npm is missing: install Node.js (20 or later) with npm"
  exit 1
fi
stamp=node_modules/.lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  log "npm ci (web/package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" >"$stamp"
fi
npm run --silent build >&2
