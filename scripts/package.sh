#!/usr/bin/env bash
# `make package`: builds the deployment artefacts with `sam build` exactly as a deployment
# does (BuildMethod rust-cargolambda: `cargo lambda build --release --bin <binary>` per
# function, linked by Zig), then checks each artefact (tests/deploy/package_check.py): an
# ELF of the template's architecture that answers an invocation under the Lambda Runtime
# API emulator.
#
#   scripts/package.sh [ARCHITECTURE] [MODE]   x86_64 (default here) or arm64;
#                                               release (default) or debug
#
# MODE debug is `SAM_BUILD_MODE=debug sam build`: the same template, cargo-lambda, Zig link
# and check, with cargo's dev profile instead of the release one (`cargo lambda build` without
# `--release`). `make test` runs that (about 4 minutes here, against about 23 for the release
# build, which does not fit CI's 30 minutes beside the rest); `make package` is the release
# build a deployment makes.
#
# These machines have no aarch64 standard library and cannot fetch one, so CI builds and
# runs the x86_64 artefacts; a deployment machine with `rustup target add
# aarch64-unknown-linux-gnu` builds arm64 (the template's default) the same way.
# The tools come from PyPI into .venv-package/ (aws-sam-cli, cargo-lambda, ziglang).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ARCHITECTURE=${1:-x86_64}
MODE=${2:-release}
case $MODE in
  release) unset SAM_BUILD_MODE ;;
  debug) export SAM_BUILD_MODE=debug ;;
  *) echo "package: MODE must be release or debug, not '$MODE'" >&2; exit 2 ;;
esac
VENV=.venv-package
PACKAGES=(aws-sam-cli==1.170.0 cargo-lambda==1.9.2 ziglang==0.15.1)
BUILD_DIR=.aws-sam/build

if [[ ! -f $VENV/.pins || "$(cat "$VENV/.pins")" != "${PACKAGES[*]}" ]]; then
  echo "package: installing ${PACKAGES[*]} into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}"
  echo "${PACKAGES[*]}" >"$VENV/.pins"
fi
bash scripts/moto.sh install

# cargo-lambda finds Zig through `python3 -m ziglang` on PATH.
export PATH="$PWD/$VENV/bin:$PATH"
export SAM_CLI_TELEMETRY=0 AWS_REGION=eu-north-1 AWS_DEFAULT_REGION=eu-north-1
rm -rf "$BUILD_DIR"
# --no-cached: the check is of what a fresh build makes, whatever samconfig.toml asks for
# deployers (its default environment has `cached = true`); a cached build would first hash every
# file under each function's CodeUri — the whole repository here, target/ (many GB after the
# tests) included — once per function, and a fresh clone has no cache to reuse.
started=$SECONDS
sam build --template-file infra/template.yaml --build-dir "$BUILD_DIR" --no-cached \
  --parameter-overrides "Architecture=$ARCHITECTURE"
echo "package: sam build ($MODE) took $((SECONDS - started)) s"
.venv-moto/bin/python tests/deploy/package_check.py --build-dir "$BUILD_DIR" --architecture "$ARCHITECTURE"
