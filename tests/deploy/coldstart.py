"""Cold-start benchmark: every function's release binary started as Lambda starts it, next to
a hello-world `lambda_runtime` binary built with the same profile (bench/lambda-hello).

For each binary and each of RUNS fresh processes it measures
  init  — from exec to the binary's first `GET /runtime/invocation/next` (Lambda's Init
          phase: configuration, clients, engine), and
  first — the first invocation, from handing the event over to its answer (the first
          requests on fresh connections to the emulated AWS services included),
under the Lambda Runtime API emulator against moto's server with the template's resources,
the environment the template gives each function, and its own credentials.

    scripts/coldstart-bench.sh [--runs N]       # builds the release binaries, then runs this

Prints a Markdown table for docs/BENCHMARKS.md. A benchmark, not a test: it asserts nothing
about time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from emulated import EmulatedStack  # noqa: E402


def events(stack: EmulatedStack) -> dict[str, dict]:
    """One representative first invocation per function (each touches its AWS services)."""
    token = stack.tokens.mint(["health_specialist"], "clinic-1")
    partner = stack.bucket("PartnerBucket")
    long_ago = "2020-01-01T00:00:00Z"
    return {
        # A read of an unknown child: token check, a DynamoDB read, a 404.
        "ChildrenApiFunction": stack.http_event("GET", f"/children/{uuid.uuid4()}", token),
        # The catalogue of instruments: token check, the engine's definitions.
        "ScreeningsApiFunction": stack.http_event("GET", "/catalogue/instruments", token),
        # A scoring message whose submission was never stored (dropped after one read).
        "ScoringWorkerFunction": {
            "Records": [
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": "r",
                    "body": json.dumps({"screening_id": str(uuid.uuid4()), "submitted_at": long_ago}),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": stack.stack.arn("ScoringQueue"),
                    "awsRegion": stack.stack.region,
                }
            ]
        },
        # A notification for an object that no longer exists: a marker read, a HEAD (404).
        "IntakeWorkerFunction": {
            "Records": [
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": "r",
                    "body": json.dumps(
                        {
                            "Records": [
                                {
                                    "eventName": "ObjectCreated:Put",
                                    "s3": {"bucket": {"name": partner}, "object": {"key": f"inbox/children/{uuid.uuid4()}.csv"}},
                                }
                            ]
                        }
                    ),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": stack.stack.arn("IntakeQueue"),
                    "awsRegion": stack.stack.region,
                }
            ]
        },
    }


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
        if not ok:
            raise RuntimeError(f"{logical} failed: {answer}\n{function.log_text()}")
        return init, first
    finally:
        function.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per binary (default 10)")
    parser.add_argument("--bin-dir", type=Path, required=True, help="folder of the release binaries")
    args = parser.parse_args()
    if not 1 <= args.runs <= 100:
        parser.error("--runs is 1 to 100")
    with tempfile.TemporaryDirectory(prefix="ravis-coldstart-") as work:
        stack = EmulatedStack(Path(work), start_functions=False)
        try:
            cases = events(stack)
            # The baseline runs with the children API's settings (environment, memory).
            rows = [("lambda-hello (baseline)", "ChildrenApiFunction", {"hello": 1}, args.bin_dir / "lambda-hello")]
            rows += [(stack.stack.binary(l), l, e, None) for l, e in cases.items()]
            results = []
            for name, logical, event, binary in rows:
                samples = [measure(stack, logical, event, args.bin_dir, binary) for _ in range(args.runs)]
                inits = [s[0] * 1000 for s in samples]
                firsts = [s[1] * 1000 for s in samples]
                results.append((name, statistics.median(inits), max(inits), statistics.median(firsts), max(firsts)))
        finally:
            stack.close()
    baseline = results[0][1]
    print(f"| binary | init median (ms) | init max (ms) | init / hello world | first invocation median (ms) | first invocation max (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, init_median, init_max, first_median, first_max in results:
        print(f"| {name} | {init_median:.1f} | {init_max:.1f} | {init_median / baseline:.2f}× | {first_median:.1f} | {first_max:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
