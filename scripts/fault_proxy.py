"""A fault-injecting HTTP proxy between the AWS SDK and the local AWS emulator (loopback only).

Every request is forwarded to the upstream (moto's server) unless, at the configured rate,
one fault is injected instead — chosen at random among the enabled kinds:

  throttle  the service's own throttling answer, the request not applied: DynamoDB 400
            ThrottlingException, SQS 400 RequestThrottled, S3 503 SlowDown
  error     a server error, the request not applied: 500 InternalServerError (DynamoDB),
            500 InternalError (SQS, S3), or 503 ServiceUnavailable
  reset     the connection closed without an answer, the request not applied
  slow      the request forwarded after a pause of 0.2 to 1.5 s (answers still arrive)

Faults are injected before the request reaches the emulator, so each one is a request the
service did not apply: the SDK's retries must absorb them. (A reply lost after the service
applied the request is the other failure a real network can produce; RAVIS's handlers are
idempotent for it, and tests of that live with the handlers, not here.)

    python scripts/fault_proxy.py --upstream http://127.0.0.1:5000 --rate 0.1 [--seed 7]
        [--faults throttle,error,reset,slow] [--port 0] [--stats FILE]

Prints `fault-proxy http://127.0.0.1:<port>` on its first line, then serves until killed
(SIGTERM); with --stats it writes the counts of forwarded requests and of each fault there
on every change of a multiple of 100 requests and at exit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}
KINDS = ("throttle", "error", "reset", "slow")


def service_of(headers) -> str:
    target = headers.get("X-Amz-Target", "")
    if target.startswith("DynamoDB"):
        return "dynamodb"
    if target.startswith("AmazonSQS"):
        return "sqs"
    auth = headers.get("Authorization", "")
    marker = "/aws4_request"
    if marker in auth:
        return auth.split(marker)[0].rsplit("/", 1)[-1]
    return "unknown"


def fault_answer(kind: str, service: str, rng: random.Random) -> tuple[int, dict, bytes]:
    """The status, headers and body a service answers for an injected fault."""
    if service == "s3":
        code, status = {"throttle": ("SlowDown", 503), "error": rng.choice([("InternalError", 500), ("ServiceUnavailable", 503)])}[kind]
        body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected fault</Message><RequestId>fault</RequestId></Error>"
        return status, {"Content-Type": "application/xml"}, body.encode()
    if service == "dynamodb":
        prefix = "com.amazonaws.dynamodb.v20120810#"
        code, status = {"throttle": ("ThrottlingException", 400), "error": rng.choice([("InternalServerError", 500), ("ServiceUnavailable", 503)])}[kind]
    else:
        prefix = "com.amazonaws.sqs#"
        code, status = {"throttle": ("RequestThrottled", 400), "error": rng.choice([("InternalError", 500), ("ServiceUnavailable", 503)])}[kind]
    body = json.dumps({"__type": prefix + code, "message": "injected fault"}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
    if service == "sqs":
        headers["x-amzn-query-error"] = f"{code};{'Sender' if status < 500 else 'Receiver'}"
    return status, headers, body


class Proxy:
    def __init__(self, upstream: str, rate: float, kinds: list[str], seed: int | None, stats_path: str | None):
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname, parts.port
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("fault-proxy: the upstream must be on loopback")
        self.rate = rate
        self.kinds = kinds
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "forwarded": 0, **{k: 0 for k in KINDS}}
        self.stats_path = stats_path

    def draw(self) -> str | None:
        with self.lock:
            self.stats["requests"] += 1
            kind = self.rng.choice(self.kinds) if self.rng.random() < self.rate else None
            self.stats[kind or "forwarded"] += 1
            if self.stats["requests"] % 100 == 0:
                self.write_stats()
            return kind

    def write_stats(self) -> None:
        if self.stats_path:
            with open(self.stats_path, "w", encoding="utf-8") as out:
                json.dump(self.stats, out)


def handler_for(proxy: Proxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: an answer's headers and body go out as separate writes, and with
        # Nagle's algorithm the body waits for the client's delayed ACK (40 ms on Linux),
        # a pause on every request that no AWS endpoint adds.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:  # quiet
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            body = self._body()
            kind = proxy.draw()
            service = service_of(self.headers)
            if kind == "reset":
                # Close without a byte of answer; SO_LINGER 0 makes it a TCP reset.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.close_connection = True
                return
            if kind in ("throttle", "error"):
                status, headers, payload = fault_answer(kind, service, proxy.rng)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            if kind == "slow":
                time.sleep(0.2 + 1.3 * proxy.rng.random())
            upstream = http.client.HTTPConnection(proxy.host, proxy.port, timeout=120)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["Content-Length"] = str(len(body))
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                payload = answer.read()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() in HOP_BY_HOP or (name.lower() == "content-length" and self.command != "HEAD"):
                        continue
                    self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            finally:
                upstream.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--faults", default=",".join(KINDS))
    parser.add_argument("--seed", type=int)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stats")
    args = parser.parse_args()
    kinds = [k for k in args.faults.split(",") if k]
    if not kinds or any(k not in KINDS for k in kinds):
        parser.error(f"--faults takes a comma-separated list of {', '.join(KINDS)}")
    if not 0 <= args.rate <= 0.5:
        parser.error("--rate is 0 to 0.5")
    proxy = Proxy(args.upstream, args.rate, kinds, args.seed, args.stats)
    ThreadingHTTPServer.request_queue_size = 128  # a burst of new connections is not dropped
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(proxy))
    server.daemon_threads = True

    def stop(*_):
        proxy.write_stats()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"fault-proxy http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
    proxy.write_stats()
    return 0


if __name__ == "__main__":
    sys.exit(main())
