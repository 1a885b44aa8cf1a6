#!/usr/bin/env bash
# Lints the SAM template offline: cfn-lint, sam validate (plain and --lint), checkov, and
# RAVIS's own invariants (infra/check_invariants.py). Exits non-zero on any finding.
#
# The tools live in .venv-infra/ at the repository root and are installed on first use
# (about a minute). aws-sam-cli and checkov pin conflicting boto3 versions, so each gets
# its own virtualenv; cfn-lint sits beside aws-sam-cli, whose SAM translator it needs to
# expand the serverless transform. Bumping a pin below reinstalls that virtualenv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TEMPLATE=infra/template.yaml
SAMCONFIG=samconfig.toml
VENV_DIR=.venv-infra
PYTHON=${PYTHON:-python3}

SAM_PACKAGES=(aws-sam-cli==1.170.0 aws-sam-translator==1.115.0 cfn-lint==1.58.0)
CHECKOV_PACKAGES=(checkov==3.3.30)

# ensure_venv NAME PACKAGE... : (re)creates $VENV_DIR/NAME unless it holds exactly these pins.
ensure_venv() {
  local name=$1
  shift
  local dir=$VENV_DIR/$name
  local want="$*"
  if [[ -f $dir/.pins && "$(cat "$dir/.pins")" == "$want" ]]; then
    return 0
  fi
  echo "lint-infra: installing $want into $dir"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  # Written last, so an interrupted install is redone next time.
  echo "$want" >"$dir/.pins"
}

ensure_venv sam "${SAM_PACKAGES[@]}"
ensure_venv checkov "${CHECKOV_PACKAGES[@]}"

# Hermetic and offline: no telemetry, a fixed region, dummy credentials, no profile.
offline() {
  env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
    SAM_CLI_TELEMETRY=0 \
    AWS_REGION=eu-north-1 AWS_DEFAULT_REGION=eu-north-1 \
    AWS_ACCESS_KEY_ID=lint-only AWS_SECRET_ACCESS_KEY=lint-only \
    "$@"
}

failed=0
step() {
  local label=$1
  shift
  echo "lint-infra: $label"
  if ! offline "$@"; then
    echo "lint-infra: FAILED: $label"
    failed=1
  fi
}

step "cfn-lint" "$VENV_DIR/sam/bin/cfn-lint" "$TEMPLATE"
# Plain validate runs the SAM translator, which catches errors inside SAM Events that
# the linter lets through; --lint adds cfn-lint as bundled with SAM CLI.
step "sam validate" "$VENV_DIR/sam/bin/sam" validate --template-file "$TEMPLATE" --config-file "$PWD/$SAMCONFIG"
step "sam validate --lint" "$VENV_DIR/sam/bin/sam" validate --lint --template-file "$TEMPLATE" --config-file "$PWD/$SAMCONFIG"
step "checkov" "$VENV_DIR/checkov/bin/checkov" -f "$TEMPLATE" --skip-download --compact --quiet
step "invariants" "$VENV_DIR/sam/bin/python" infra/check_invariants.py "$TEMPLATE" "$SAMCONFIG"

if [[ $failed -ne 0 ]]; then
  echo "lint-infra: findings above must be fixed (or, for checkov, suppressed in the template with the real reason)"
  exit 1
fi
echo "lint-infra: $TEMPLATE is clean"
