#!/usr/bin/env bash
# Fuzzing (docs/FUZZING.md): builds the cargo-fuzz targets in fuzz/ with the nightly toolchain
# (libFuzzer, AddressSanitizer, debug assertions and overflow checks on), installing
# cargo-fuzz when missing, then runs each target for FUZZ_SECONDS and prints runs, speed and
# coverage per target. Fails when any target finds a crash (the input is saved under
# fuzz/artifacts/<target>/; replay it with `cargo +nightly fuzz run <target> <file>` in fuzz/).
#
#   FUZZ_SECONDS=600 scripts/fuzz.sh [target ...]   # the acceptance run: 10 minutes each
#
# Each target starts from the seeds kept in fuzz/corpus/<target>/ and grows a working corpus
# in fuzz/target/corpus/<target>/ (kept between runs, ignored by git). FUZZ_FEATURES=aws adds
# the DynamoDB and S3 cursors to the `cursors` target (builds the AWS SDK first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

SECONDS_EACH=${FUZZ_SECONDS:-60}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
FEATURES=()
if [[ -n "${FUZZ_FEATURES:-}" ]]; then
  FEATURES=(--features "$FUZZ_FEATURES")
fi

if ! cargo "+$TOOLCHAIN" --version >/dev/null 2>&1; then
  echo "fuzz: the $TOOLCHAIN toolchain is needed (rustup toolchain install $TOOLCHAIN)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [[ $# -gt 0 ]]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo "+$TOOLCHAIN" fuzz list)
fi

cargo "+$TOOLCHAIN" fuzz build "${FEATURES[@]}"

mkdir -p target/logs
failed=()
summary=()
for target in "${TARGETS[@]}"; do
  work=target/corpus/$target
  mkdir -p "$work" "corpus/$target"
  log=target/logs/$target.log
  echo "fuzz: $target for ${SECONDS_EACH}s"
  # New inputs go to the first directory (the working corpus); the seeds are only read.
  if cargo "+$TOOLCHAIN" fuzz run "${FEATURES[@]}" "$target" "$work" "corpus/$target" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    failed+=("$target")
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
  summary+=("$(printf '%-16s %-6s %12s runs %8s/s  %s' "$target" "$result" "${runs:-?}" "${speed:-?}" "${cov:-}")")
  if [[ $result != ok ]]; then
    tail -40 "$log" >&2
  fi
done

echo
echo "fuzz: ${SECONDS_EACH}s per target (logs in fuzz/target/logs/)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: crashes in ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
