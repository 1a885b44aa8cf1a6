"""The deployed stack, emulated: moto's server (recording every call) with the template's
KMS keys, table, buckets, queues and bucket notification, and every function of the template running
as its own process under the Lambda Runtime API emulator, with its own access key.

Used by the deploy-like tests (conftest.py) and the cold-start benchmark (coldstart.py).
The binaries are looked up in RAVIS_BIN_DIR, else in the cargo target directory's debug/.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
from botocore.config import Config
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import cfn
from lambda_emulator import Function, SqsTrigger

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-north-1"
STACK = "ravis-e2e"
ISSUER = "https://idp.example.invalid/realms/ravis-e2e"
AUDIENCE = "ravis-api"
DEPLOYER_KEY = "E2EDEPLOYER"  # the test itself: creating resources, partner uploads, checks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_dir() -> Path:
    if os.environ.get("RAVIS_BIN_DIR"):
        return Path(os.environ["RAVIS_BIN_DIR"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug"


class Tokens:
    """ES256 access tokens, as the identity provider would issue them."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public_pem = (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def mint(self, roles: list[str], org: str, subject: str | None = None, atvk: str | None = None) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        now = int(time.time())
        claims = {
            "sub": subject or f"user-{uuid.uuid4().hex[:8]}",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 3600,
            "ravis:role": roles,
            "ravis:org": org,
        }
        if atvk:
            claims["ravis:atvk"] = atvk
        signing_input = f"{b64(json.dumps({'alg': 'ES256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class EmulatedStack:
    """moto with the template's resources; with `start_functions`, every function running
    under its Runtime API with its SQS triggers."""

    def __init__(self, work: Path, start_functions: bool = True, fault_rate: float = 0.0, fault_seed: int | None = None):
        self.work = work
        self.call_log = work / "aws-calls.jsonl"
        self.tokens = Tokens()
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, RAVIS_AWS_CALL_LOG=str(self.call_log))
        self.moto_log = open(work / "moto.log", "wb")
        self.moto = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "moto_server.py"), "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=self.moto_log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.moto.poll() is not None:
                    raise RuntimeError("moto's server did not start; see moto.log")
                time.sleep(0.25)
        # The functions reach AWS through the fault-injecting proxy when asked (the test's own
        # calls, like Lambda's SQS trigger, go straight to the emulator).
        self.function_endpoint = self.endpoint
        self.proxy = None
        self.fault_stats = work / "faults.json"
        if fault_rate:
            command = [sys.executable, str(ROOT / "scripts" / "fault_proxy.py"), "--upstream", self.endpoint,
                       "--rate", str(fault_rate), "--stats", str(self.fault_stats)]
            if fault_seed is not None:
                command += ["--seed", str(fault_seed)]
            self.proxy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.moto_log, text=True)
            first = self.proxy.stdout.readline().split()
            if len(first) != 2 or first[0] != "fault-proxy":
                raise RuntimeError("the fault proxy did not start; see moto.log")
            self.function_endpoint = first[1]
        session = boto3.session.Session(
            aws_access_key_id=DEPLOYER_KEY, aws_secret_access_key="x", region_name=REGION
        )
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3})
        self.dynamodb = session.client("dynamodb", endpoint_url=self.endpoint, config=config)
        self.s3 = session.client("s3", endpoint_url=self.endpoint, config=config)
        self.sqs = session.client("sqs", endpoint_url=self.endpoint, config=config)
        self.kms = session.client("kms", endpoint_url=self.endpoint, config=config)
        self.stack = cfn.Stack(
            template=cfn.load(),
            account=ACCOUNT,
            region=REGION,
            name=STACK,
            parameters={
                "Environment": "dev",
                "JwtIssuer": ISSUER,
                "JwtAudience": [AUDIENCE],
                "JwtAlgorithms": "ES256",
                "JwtPublicKeyPem": self.tokens.public_pem,
            },
        )
        for logical, resource in self.stack.resources.items():
            if resource["Type"] == "AWS::SecretsManager::Secret":
                self.stack.secrets[self.stack.arn(logical)] = secrets.token_hex(32)
        self.functions: dict[str, Function] = {}
        self.triggers: list[SqsTrigger] = []
        self.keys: dict[str, str] = {}  # access key → function logical id
        self._create_resources()
        if start_functions:
            self._start_functions()

    # ------------------------------------------------------------ resources

    def _create_resources(self) -> None:
        s = self.stack
        # KMS keys first: their ids are their Refs (and in their ARNs) everywhere else. Key
        # policies are not emulated; the functions' IAM policies are checked by iam.py.
        for logical, resource in s.resources.items():
            if resource["Type"] != "AWS::KMS::Key":
                continue
            props = s.resolve({k: v for k, v in resource.get("Properties", {}).items() if k != "KeyPolicy"})
            key = self.kms.create_key(
                KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
                KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
                Description=props.get("Description", logical),
            )["KeyMetadata"]
            s.physical[logical] = key["KeyId"]
        for logical, resource in s.resources.items():
            if resource["Type"] not in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
                continue
            props = s.resolve(resource.get("Properties", {}))
            if resource["Type"] == "AWS::DynamoDB::Table":
                args = {
                    k: props[k]
                    for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
                    if k in props
                }
                self.dynamodb.create_table(TableName=s.physical_name(logical), **args)
                ttl = props.get("TimeToLiveSpecification")
                if ttl:
                    self.dynamodb.update_time_to_live(TableName=s.physical_name(logical), TimeToLiveSpecification=ttl)
            elif resource["Type"] == "AWS::S3::Bucket":
                self.s3.create_bucket(
                    Bucket=s.physical_name(logical),
                    CreateBucketConfiguration={"LocationConstraint": REGION},
                    ObjectLockEnabledForBucket=bool(props.get("ObjectLockEnabled")),
                )
        # Dead-letter queues first: a redrive policy names its target's ARN.
        queues = [l for l, r in s.resources.items() if r["Type"] == "AWS::SQS::Queue"]
        queues.sort(key=lambda l: "RedrivePolicy" in s.resources[l].get("Properties", {}))
        for logical in queues:
            props = s.resolve(s.resources[logical].get("Properties", {}))
            attributes = {
                k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod") if k in props
            }
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            url = self.sqs.create_queue(QueueName=s.physical_name(logical), Attributes=attributes)["QueueUrl"]
            s.physical[logical] = url
        for logical, resource in s.resources.items():
            if resource["Type"] != "AWS::S3::Bucket":
                continue
            notification = s.resolve(resource.get("Properties", {})).get("NotificationConfiguration")
            if not notification:
                continue
            queue_configurations = []
            for qc in notification.get("QueueConfigurations", []):
                entry = {"QueueArn": qc["Queue"], "Events": [qc["Event"]]}
                if "Filter" in qc:
                    rules = qc["Filter"]["S3Key"]["Rules"]
                    entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
                queue_configurations.append(entry)
            self.s3.put_bucket_notification_configuration(
                Bucket=s.physical_name(logical),
                NotificationConfiguration={"QueueConfigurations": queue_configurations},
            )

    def wait_for(self, what: str, probe, seconds: float):
        """`probe()`'s first truthy value within `seconds`; else fails with every function's
        log and the SQS triggers' errors. Every wait of the tests ends by itself."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.3)
        logs = "\n".join(f"--- {f.logical}\n{f.log_text()}" for f in self.functions.values())
        errors = [e for t in self.triggers for e in t.errors]
        raise AssertionError(f"timed out waiting for {what}; trigger errors: {errors}\n{logs}")

    def faults(self) -> dict:
        """What the fault proxy did so far: requests, forwarded, and each kind of fault."""
        return json.loads(self.fault_stats.read_text()) if self.fault_stats.exists() else {}

    def queue_url(self, logical: str) -> str:
        return self.stack.physical[logical]

    def bucket(self, logical: str) -> str:
        return self.stack.physical_name(logical)

    # ------------------------------------------------------------ functions

    def launch(self, logical: str, directory: Path | None = None, binary: Path | None = None) -> Function:
        """Starts one function of the template (or `binary` with that function's settings)
        as Lambda would: its own process under its own Runtime API, its own access key."""
        s = self.stack
        binary = binary or (directory or bin_dir()) / s.binary(logical)
        if not binary.exists():
            raise FileNotFoundError(f"{binary} is missing: build the functions first (scripts/deploy-test.sh does)")
        key = f"E2E{logical.upper()}"
        self.keys[key] = logical
        return Function(
            logical,
            binary,
            s.environment(logical),
            account=ACCOUNT,
            region=REGION,
            memory=int(s.function_setting(logical, "MemorySize")),
            timeout=float(s.function_setting(logical, "Timeout")),
            access_key=key,
            endpoint=self.function_endpoint,
            work_dir=self.work,
        )

    def _start_functions(self) -> None:
        s = self.stack
        for logical in s.functions():
            self.functions[logical] = self.launch(logical)
        arn_to_logical = {s.arn(l): l for l, r in s.resources.items() if r["Type"] == "AWS::SQS::Queue"}
        for logical in s.functions():
            for trigger in s.sqs_triggers(logical):
                queue = arn_to_logical[trigger["Queue"]]
                self.triggers.append(
                    SqsTrigger(
                        self.sqs,
                        self.queue_url(queue),
                        trigger["Queue"],
                        self.functions[logical],
                        int(trigger.get("BatchSize", 10)),
                        REGION,
                        "ReportBatchItemFailures" in trigger.get("FunctionResponseTypes", []),
                    )
                )

    def http(self, function: str, method: str, path: str, token: str, body=None, headers=None, query: str = ""):
        """One API Gateway HTTP API (payload 2.0) request to a function: (status, headers, JSON body)."""
        return self.http_to(self.functions[function], method, path, token, body, headers, query)

    @staticmethod
    def http_event(method: str, path: str, token: str, body=None, headers=None, query: str = "") -> dict:
        """An API Gateway HTTP API (payload 2.0) event, as the JWT-authorised route sends it."""
        text = json.dumps(body) if body is not None else None
        request_headers = {
            "authorization": f"Bearer {token}",
            "host": "e2e.execute-api.eu-north-1.amazonaws.com",
            "x-forwarded-proto": "https",
            **({"content-type": "application/json"} if text is not None else {}),
            **{k.lower(): v for k, v in (headers or {}).items()},
        }
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": request_headers,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "e2e",
                "domainName": "e2e.execute-api.eu-north-1.amazonaws.com",
                "domainPrefix": "e2e",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "e2e"},
                "requestId": uuid.uuid4().hex,
                "routeKey": "$default",
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
                "timeEpoch": int(time.time() * 1000),
            },
            "isBase64Encoded": False,
        }
        if text is not None:
            event["body"] = text
        return event

    def http_to(self, function: Function, method: str, path: str, token: str, body=None, headers=None, query: str = ""):
        ok, answer = function.invoke(self.http_event(method, path, token, body, headers, query))
        if not ok:
            raise AssertionError(f"{function.logical} failed the invocation: {answer}\n{function.log_text()}")
        raw = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return answer["statusCode"], {k.lower(): v for k, v in (answer.get("headers") or {}).items()}, parsed

    def close(self) -> None:
        for trigger in self.triggers:
            trigger.stop()
        for function in self.functions.values():
            function.stop()
        if self.proxy is not None:
            self.proxy.terminate()
            self.proxy.wait(timeout=10)
        self.moto.terminate()
        try:
            self.moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.moto.kill()
        self.moto_log.close()


def first_invocations(stack: EmulatedStack) -> dict[str, dict]:
    """One representative invocation per function of the template, each touching the function's
    AWS services, and what its answer must hold (see `answered_well`)."""
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
        # The hourly schedule: one sweep (markers, organisations, overdue items).
        "WorklistSweepFunction": json.loads((ROOT / "events" / "worklist-sweep" / "schedule.json").read_text()),
        # The one-minute schedule: one drain of the pending audit entries (none yet).
        "AuditArchiverFunction": json.loads((ROOT / "events" / "audit-archiver" / "schedule.json").read_text()),
        # The one-minute schedule: one exports sweep (the due jobs of each target and state).
        "ExportsWorkerFunction": json.loads((ROOT / "events" / "exports-worker" / "schedule.json").read_text()),
        # A report message for a report that was never stored (dropped after one read).
        "ReportsFunction": {
            "Records": [
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": "r",
                    "body": json.dumps({"report_id": str(uuid.uuid4())}),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": stack.stack.arn("ReportQueue"),
                    "awsRegion": stack.stack.region,
                }
            ]
        },
    }


def answered_well(logical: str, answer) -> bool:
    """Whether a function's answer to its `first_invocations` event is the expected one."""
    if logical == "ChildrenApiFunction":
        return answer.get("statusCode") == 404
    if logical == "ScreeningsApiFunction":
        return answer.get("statusCode") == 200
    if logical == "WorklistSweepFunction":
        return isinstance(answer, dict) and "overdue" in answer and "reconciled" in answer
    if logical == "AuditArchiverFunction":
        return isinstance(answer, dict) and answer.get("more") is False and "archived" in answer
    if logical == "ExportsWorkerFunction":
        return isinstance(answer, dict) and "queued" in answer and "failed" in answer
    return isinstance(answer, dict) and not answer.get("batchItemFailures")
