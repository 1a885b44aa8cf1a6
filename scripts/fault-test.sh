#!/usr/bin/env bash
# AWS faults (docs/DEPLOY.md, "Retries"): the AWS adapters' port contract suites, then an
# end-to-end run of the deployed functions (1,000 screenings scored, a partner file
# imported), with scripts/fault_proxy.py between the SDK and moto's server injecting
# throttling, 5xx answers, dropped connections and slow answers into 10 % of the requests.
#
#   scripts/fault-test.sh            the contract suites (part 1)
#   scripts/fault-test.sh e2e        part 2 as well (what `make test` runs): the deployed
#                                    functions end to end, 1,000 screenings of 100 children
#                                    and a 400-row partner file, nothing lost or duplicated
#                                    (about 10 minutes here)
#   FAULT_RATE=0.2 scripts/fault-test.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}
export FAULT_RATE=${FAULT_RATE:-0.1}

bash scripts/moto.sh install
PY=.venv-moto/bin/python
# Part 1: the contract suites of the three AWS adapters, through the proxy.
bash scripts/moto.sh run -- bash -c '
  set -euo pipefail
  out=$(mktemp)
  trap "kill \$proxy 2>/dev/null || true; rm -f \"\$out\"" EXIT
  '"$PY"' scripts/fault_proxy.py --upstream "$RAVIS_TEST_AWS_ENDPOINT" --rate "$FAULT_RATE" --seed 11 >"$out" &
  proxy=$!
  for _ in $(seq 100); do grep -q "^fault-proxy " "$out" && break; sleep 0.1; done
  url=$(awk "/^fault-proxy /{print \$2}" "$out")
  [[ -n $url ]] || { echo "fault-test: the proxy did not start" >&2; exit 1; }
  echo "fault-test: contract suites through $url at rate $FAULT_RATE"
  RAVIS_TEST_AWS_ENDPOINT=$url '"$CARGO"' test --workspace --all-features -- aws_records:: aws_blobs:: aws_queue::
'
[[ "${1:-}" == "e2e" ]] || exit 0
# Part 2: the deployed functions end to end through the proxy (tests/deploy/test_faults.py).
$CARGO build --workspace --all-features --bins --quiet
TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps | $PY -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export RAVIS_BIN_DIR="$TARGET_DIR/debug"
exec $PY -m pytest tests/deploy/test_faults.py -p no:cacheprovider -q -rA -s
