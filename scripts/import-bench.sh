#!/usr/bin/env bash
# Partner-file import throughput (docs/BENCHMARKS.md, "Partner file intake: `ravis import`
# against `sqlite3 .import`"): generates a children CSV (deterministic: the same rows every
# time), builds `ravis` with the release profile, then RUNS times, alternately, imports it
# with `sqlite3 .import` into a table with the same two indexes RAVIS keeps for children
# (personal code; names and birth date) and with `ravis import` into a fresh data directory,
# and prints every time, the best of each and their ratio.
#
#   scripts/import-bench.sh [--rows N] [--runs N]        # make import-bench
#   RAVIS_BIN=path/to/ravis scripts/import-bench.sh      # that binary, not this checkout's
#
# Needs python3 (the generator) and the sqlite3 shell (Debian/Ubuntu: apt-get install sqlite3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}
ROWS=100000
RUNS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "usage: $0 [--rows N] [--runs N]" >&2; exit 2 ;;
  esac
done

SQLITE3=${SQLITE3:-$(command -v sqlite3 || true)}
if [[ -z "$SQLITE3" ]]; then
  echo "import-bench: the sqlite3 shell is missing: install it (Debian/Ubuntu: apt-get install sqlite3)" >&2
  exit 2
fi

# RAVIS_BIN: a ravis binary built elsewhere (e.g. an earlier commit's, for a before/after
# comparison) instead of this checkout's.
if [[ -n "${RAVIS_BIN:-}" ]]; then
  RAVIS=$RAVIS_BIN
else
  $CARGO build --release --quiet -p ravis --bin ravis
  TARGET_DIR=$($CARGO metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  RAVIS="$TARGET_DIR/release/ravis"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ravis-import-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
CSV="$WORK/children.csv"

# The rows of cli/src/bin/intake-bench.rs: two thirds with a unique new-format personal
# code, one third without; unique names; one row in a thousand with an impossible birth
# date (refused).
python3 - "$CSV" "$ROWS" <<'EOF'
import datetime, sys
path, rows = sys.argv[1], int(sys.argv[2])
given = ["Anna", "Jānis", "Līga", "Pēteris", "Marta", "Oskars", "Ilze", "Roberts"]
family = ["Bērziņa", "Ozols", "Kalniņa", "Liepa", "Priede", "Egle", "Zariņš"]
base = datetime.date(2020, 1, 1)
with open(path, "w", encoding="utf-8", newline="\n") as out:
    out.write("personal_code,given_name,family_name,birth_date,sex,gestational_age_weeks,atvk\n")
    for i in range(rows):
        code = "" if i % 3 == 2 else f"3{2 + i % 8}{i:09d}"
        born = "2024-02-30" if i % 1000 == 999 else (base + datetime.timedelta(days=i % 2000)).isoformat()
        sex = "female" if i % 2 == 0 else "male"
        weeks = "" if i % 4 == 0 else str(34 + i % 8)
        out.write(f"{code},{given[i % 8]},{family[i % 7]} {i // 56},{born},{sex},{weeks},{(i % 119) * 10000 + 10000:07d}\n")
EOF
echo "file: $ROWS rows, $(stat -c %s "$CSV") bytes"

now() { date +%s.%N; }

# sqlite3: the same durability as RAVIS's records.db (WAL, synchronous=FULL), one
# transaction for the whole file (what .import does).
sqlite_run() {
  local db="$WORK/sqlite-$1.db" start end
  rm -f "$db" "$db-wal" "$db-shm"
  start=$(now)
  "$SQLITE3" "$db" >/dev/null <<SQL
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
CREATE TABLE children (personal_code TEXT, given_name TEXT, family_name TEXT,
  birth_date TEXT, sex TEXT, gestational_age_weeks TEXT, atvk TEXT);
CREATE INDEX children_code ON children (personal_code);
CREATE INDEX children_names ON children (given_name, family_name, birth_date);
.mode csv
.import --skip 1 $CSV children
SQL
  end=$(now)
  python3 -c "print(f'{$end - $start:.3f}')"
}

ravis_run() {
  local data="$WORK/ravis-$1" start end
  rm -rf "$data"
  start=$(now)
  "$RAVIS" import --data-dir "$data" --kind children --report "$WORK/report.jsonl" "$CSV" \
    >"$WORK/summary-$1.json" 2>"$WORK/stderr-$1" || { cat "$WORK/stderr-$1" >&2; exit 1; }
  end=$(now)
  python3 -c "print(f'{$end - $start:.3f}')"
}

best_sqlite=""
best_ravis=""
for run in $(seq 1 "$RUNS"); do
  s=$(sqlite_run "$run")
  r=$(ravis_run "$run")
  echo "run $run: sqlite3 .import ${s} s, ravis import ${r} s"
  best_sqlite=$(python3 -c "print(min(x for x in [$s, ${best_sqlite:-$s}]))")
  best_ravis=$(python3 -c "print(min(x for x in [$r, ${best_ravis:-$r}]))")
done
echo "ravis import summary: $(tr -d '\n' <"$WORK/summary-$RUNS.json")"
python3 -c "print(f'best of $RUNS: sqlite3 .import {$best_sqlite:.3f} s, ravis import {$best_ravis:.3f} s, ratio {$best_ravis / $best_sqlite:.1f}x')"
