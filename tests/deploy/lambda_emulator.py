"""A Lambda Runtime API emulator on loopback, and the SQS trigger (event source mapping).

Each function runs as its own process, exec'd from its built binary with the environment
the template gives it plus what Lambda itself sets (AWS_LAMBDA_RUNTIME_API, the function
name, memory size, region, credentials). The binary pulls invocations from
`GET /2018-06-01/runtime/invocation/next` and posts each answer to `…/{id}/response` or
`…/{id}/error`, as on Lambda (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
Timestamps of the process start and of its first `next` call give the init duration.

`SqsTrigger` plays Lambda's SQS event source mapping: receive a batch, build the SQS event,
invoke, delete every message not named in `batchItemFailures` (ReportBatchItemFailures),
leave the failures to come back after their visibility timeout.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "/2018-06-01/runtime"


class _QuietServer(ThreadingHTTPServer):
    """A stopped function drops its pending `next` request: that is not an error."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Invocation:
    def __init__(self, payload: Any, timeout: float):
        self.id = str(uuid.uuid4())
        self.payload = json.dumps(payload).encode()
        self.deadline_ms = int((time.time() + timeout) * 1000)
        self.done = threading.Event()
        self.ok: bool | None = None
        self.body: bytes = b""


class RuntimeApi:
    """The Runtime API of one function, on 127.0.0.1 and a free port."""

    def __init__(self, function_name: str, account: str, region: str):
        self.function_name = function_name
        self.arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.pending: queue.Queue[Invocation | None] = queue.Queue()
        self.running: dict[str, Invocation] = {}
        self.init_error: bytes | None = None
        self.first_next: float | None = None
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: headers and body are separate writes; with Nagle's algorithm the
            # body would wait for the runtime's delayed ACK (40 ms) on every invocation.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    return self._answer(404)
                with api.lock:
                    if api.first_next is None:
                        api.first_next = time.monotonic()
                invocation = api.pending.get()
                if invocation is None:  # shutting down: never answered
                    self.close_connection = True
                    return
                with api.lock:
                    api.running[invocation.id] = invocation
                self._answer(
                    200,
                    invocation.payload,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": invocation.id,
                        "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.arn,
                        "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == f"{PREFIX}/init/error":
                    api.init_error = body
                    return self._answer(202, b'{"status":"OK"}')
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with api.lock:
                        invocation = api.running.pop(parts[1], None)
                    if invocation is None:
                        return self._answer(400, b'{"errorType":"InvalidRequestID"}')
                    invocation.ok = parts[2] == "response"
                    invocation.body = body
                    invocation.done.set()
                    return self._answer(202, b'{"status":"OK"}')
                self._answer(404)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def invoke(self, payload: Any, timeout: float) -> tuple[bool, Any]:
        """Queues one invocation and waits for its answer: (succeeded, decoded body)."""
        invocation = Invocation(payload, timeout)
        self.pending.put(invocation)
        if not invocation.done.wait(timeout):
            raise TimeoutError(f"{self.function_name}: no answer within {timeout} s")
        try:
            body = json.loads(invocation.body or b"null")
        except ValueError:
            body = invocation.body.decode(errors="replace")
        return bool(invocation.ok), body

    def close(self) -> None:
        for _ in range(4):
            self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()


class Function:
    """One function's process under its own Runtime API."""

    def __init__(
        self,
        logical: str,
        binary: Path,
        environment: dict[str, str],
        *,
        account: str,
        region: str,
        memory: int,
        timeout: float,
        access_key: str,
        endpoint: str,
        work_dir: Path,
    ):
        self.logical = logical
        self.timeout = timeout
        self.api = RuntimeApi(logical, account, region)
        tmp = work_dir / f"{logical}-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        self.log_path = work_dir / f"{logical}.log"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **environment,
            # What Lambda sets for a provided.al2023 function.
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_LAMBDA_FUNCTION_NAME": logical,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{logical}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/06/[$LATEST]0123456789abcdef",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": "emulated-secret-key",
            "_HANDLER": "bootstrap",
            "TZ": ":UTC",
            "TMPDIR": str(tmp),
            # The only difference from a deployment: AWS is the emulator.
            "AWS_ENDPOINT_URL": endpoint,
        }
        self.log = open(self.log_path, "wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen([str(binary)], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def init_seconds(self) -> float | None:
        return None if self.api.first_next is None else self.api.first_next - self.started

    def invoke(self, payload: Any) -> tuple[bool, Any]:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.logical} exited with {self.process.returncode}; log:\n{self.log_text()}")
        return self.api.invoke(payload, self.timeout)

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.api.close()
        self.log.close()


class SqsTrigger:
    """Lambda's SQS event source mapping for one queue → one function."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, function: Function, batch_size: int, region: str, report_failures: bool):
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.function = function
        self.batch_size = batch_size
        self.region = region
        self.report_failures = report_failures
        self.stopping = threading.Event()
        self.invocations = 0
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _event(self, messages: list[dict]) -> dict:
        records = []
        for m in messages:
            records.append(
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {
                        name: {
                            "stringValue": value.get("StringValue"),
                            "dataType": value["DataType"],
                            "stringListValues": [],
                            "binaryListValues": [],
                        }
                        for name, value in m.get("MessageAttributes", {}).items()
                    },
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                }
            )
        return {"Records": records}

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                received = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                messages = received.get("Messages", [])
                if not messages:
                    continue
                self.invocations += 1
                ok, answer = self.function.invoke(self._event(messages))
                if not ok:
                    # The whole batch failed: it comes back after its visibility timeout.
                    self.errors.append(f"{self.function.logical}: {answer}")
                    continue
                failed = set()
                if self.report_failures and isinstance(answer, dict):
                    failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures") or []}
                for m in messages:
                    if m["MessageId"] not in failed:
                        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            except Exception as error:  # noqa: BLE001 - a poller keeps polling, and says why
                if not self.stopping.is_set():
                    self.errors.append(f"{self.function.logical} trigger: {error!r}")
                    time.sleep(0.5)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=15)
