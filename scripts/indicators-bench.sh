#!/usr/bin/env bash
# The indicator table from a national-size analytics lake, RAVIS against DuckDB, in one run
# on the same machine and the same Parquet files (issue #13; docs/BENCHMARKS.md).
#
#   scripts/indicators-bench.sh [ROWS]     default 10,000,000 result rows
#
# 1. builds the `indicators` bench (release) and writes a synthetic lake of ROWS results
#    with their episodes and referrals to a temporary directory (deleted on exit; about
#    0.4 GB for 10,000,000 rows; TMPDIR chooses where);
# 2. runs RAVIS on it: decode, facts, `indicators::compute` for the year 2026 (its own
#    process: its peak memory is the report's);
# 3. runs scripts/indicators_duckdb.py in .venv-reports (DuckDB, pinned in
#    scripts/reports-requirements.txt): the same indicators in SQL over the same files, then
#    compares every non-zero cell with RAVIS's and prints a few totals side by side;
# 4. prints the times (wall clock, and CPU time of all threads) and peak memories side by
#    side. Exits non-zero when the tables differ.
#
# CARGO overrides the cargo command. Timing is never asserted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO="${CARGO:-cargo}"
ROWS="${1:-10000000}"

cd "$ROOT"
bash scripts/reports-venv.sh install
DIR="$(mktemp -d "${TMPDIR:-/tmp}/ravis-indicators-bench.XXXXXX")"
trap 'rm -rf "$DIR"' EXIT

bench() {
  # shellcheck disable=SC2086 # CARGO may carry arguments (e.g. "cargo +stable")
  $CARGO bench --quiet -p ravis-shared --features lake --bench indicators -- "$@"
}

echo "indicators-bench.sh: writing $ROWS result rows" >&2
bench write "$DIR" "$ROWS"
du -sh "$DIR/lake" >&2
RUST="$(bench run "$DIR")"
echo "$RUST"
DUCK="$("$ROOT/.venv-reports/bin/python" scripts/indicators_duckdb.py "$DIR")" || status=$?
echo "$DUCK"
python3 - "$RUST" "$DUCK" <<'PY'
import json, sys
r, d = (json.loads(a) for a in sys.argv[1:3])
print(f"rows: {r['results']:,} results, {r['episodes']:,} episodes, {r['referrals']:,} referrals")
print(f"{'':<8}{'wall s':>8}{'CPU s':>8}{'peak MiB':>10}")
print(f"{'RAVIS':<8}{r['total_s']:>8.2f}{r['cpu_s']:>8.2f}{r['peak_rss_mib']:>10.0f}   "
      f"(wall/CPU: decode {r['decode_s']:.2f}/{r['decode_cpu_s']:.2f}, "
      f"facts {r['facts_s']:.2f}/{r['facts_cpu_s']:.2f}, "
      f"compute {r['compute_s']:.2f}/{r['compute_cpu_s']:.2f})")
print(f"{'DuckDB':<8}{d['seconds']:>8.2f}{d['cpu_s']:>8.2f}{d['peak_rss_mib']:>10.0f}   "
      f"(duckdb {d['duckdb']}, {d['threads']} threads)")
print(f"cells compared: {d['cells_compared']:,}, differing: {d['cells_differing']}")
PY
exit "${status:-0}"
