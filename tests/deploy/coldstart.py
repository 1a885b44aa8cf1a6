"""Cold-start benchmark: every function's release binary started as Lambda starts it, next to
a hello-world `lambda_runtime` binary built with the same profile (bench/lambda-hello).

For each binary and each of RUNS fresh processes it measures
  init  — from exec to the binary's first `GET /runtime/invocation/next` (Lambda's Init
          phase: configuration, clients, engine), and
  first — the first invocation, from handing the event over to its answer (the first
          requests on fresh connections to the emulated AWS services included),
under the Lambda Runtime API emulator against moto's server with the template's resources,
the environment the template gives each function, and its own credentials.

    scripts/coldstart-bench.sh [--runs N] [--only BINARY,...]
                                                # builds the release binaries, then runs this

`--only` measures those functions' binaries (names as in the template, e.g. `reports`) and the
hello world, so that one function can be measured without building every other in release.

Prints a Markdown table for docs/BENCHMARKS.md. A benchmark, not a test: it asserts nothing
about time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from emulated import EmulatedStack, answered_well, first_invocations  # noqa: E402


def measure(stack: EmulatedStack, logical: str, event: dict, bin_dir: Path, binary: Path | None) -> tuple[float, float]:
    function = stack.launch(logical, directory=bin_dir, binary=binary)
    try:
        deadline = time.monotonic() + 60
        while function.init_seconds() is None:
            if function.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{logical} did not start:\n{function.log_text()}")
            time.sleep(0.0005)
        init = function.init_seconds()
        started = time.monotonic()
        ok, answer = function.invoke(event)
        first = time.monotonic() - started
        if not ok or (binary is None and not answered_well(logical, answer)):
            raise RuntimeError(f"{logical} answered {answer}\n{function.log_text()}")
        return init, first
    finally:
        function.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per binary (default 10)")
    parser.add_argument("--bin-dir", type=Path, required=True, help="folder of the release binaries")
    parser.add_argument("--only", default="", help="comma-separated binaries to measure (default: every function)")
    args = parser.parse_args()
    only = {b for b in args.only.split(",") if b}
    load_before = os.getloadavg()
    if not 1 <= args.runs <= 100:
        parser.error("--runs is 1 to 100")
    with tempfile.TemporaryDirectory(prefix="ravis-coldstart-") as work:
        stack = EmulatedStack(Path(work), start_functions=False)
        try:
            cases = first_invocations(stack)
            missing = sorted(set(stack.stack.functions()) - set(cases))
            if missing:
                raise RuntimeError(f"no first invocation for {', '.join(missing)} (tests/deploy/emulated.py)")
            # The baseline runs with the children API's settings (environment, memory).
            rows = [("lambda-hello (baseline)", "ChildrenApiFunction", {"hello": 1}, args.bin_dir / "lambda-hello")]
            binaries = {stack.stack.binary(l) for l in cases}
            if only - binaries:
                raise RuntimeError(f"--only names no function: {', '.join(sorted(only - binaries))}")
            rows += [(stack.stack.binary(l), l, e, None) for l, e in cases.items()
                     if not only or stack.stack.binary(l) in only]
            # Round by round, every binary once per round, so that a change in the machine's
            # load during the run falls on all of them alike.
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in rows}
            for _ in range(args.runs):
                for name, logical, event, binary in rows:
                    samples[name].append(measure(stack, logical, event, args.bin_dir, binary))
            results = []
            for name, *_ in rows:
                inits = [s[0] * 1000 for s in samples[name]]
                firsts = [s[1] * 1000 for s in samples[name]]
                results.append((name, statistics.median(inits), max(inits), statistics.median(firsts), max(firsts)))
        finally:
            stack.close()
    load_after = os.getloadavg()
    print(f"{args.runs} runs per binary, interleaved; load average (1/5/15 min) "
          f"before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
          f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; {os.cpu_count()} cores")
    baseline = results[0][1]
    # The difference is printed too: a busy machine adds to every process's init alike, which
    # moves the ratio towards 1 while the difference stays.
    print("| binary | init median (ms) | init max (ms) | init / hello world | init − hello world (ms) | first invocation median (ms) | first invocation max (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, init_median, init_max, first_median, first_max in results:
        print(f"| {name} | {init_median:.1f} | {init_max:.1f} | {init_median / baseline:.2f}× | {init_median - baseline:+.1f} "
              f"| {first_median:.1f} | {first_max:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
