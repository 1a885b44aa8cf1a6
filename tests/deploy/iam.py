"""Least privilege, checked both ways: every recorded AWS call of a function against the
IAM policy the template gives its role, and every grant of that policy against the calls.

A recorded call (scripts/moto_server.py's call log) becomes the IAM requests AWS would
authorise for it: a `TransactWriteItems` is one `dynamodb:PutItem`/`UpdateItem`/
`DeleteItem`/`ConditionCheckItem` per item on that item's table, a `HeadObject` is
`s3:GetObject`, a `ListObjectsV2` is `s3:ListBucket` on the bucket with the request's
`s3:prefix`, a KMS `Sign` is `kms:Sign` on the key it names, and so on. A request is allowed when an Allow statement of the role's
policies matches its action, resource and conditions and no explicit Deny (of those
policies or of the bucket's or queue's resource policy) matches it.

One rule of S3 that IAM evaluation alone does not show: a GET or HEAD of a missing object
is answered 404 only if the caller may `s3:ListBucket` the bucket, and the ListBucket
decision for that is made without any `s3:prefix`; so a grant with an `s3:prefix`
condition does not help, and S3 answers 403. Every recorded 404 is checked for that.

Grants no recorded call used must say why, in the template, inside their statement:
  # on-behalf: <why>                  the whole statement is used by AWS services acting
                                      for the function (Lambda writing logs, the SQS
                                      trigger polling, KMS via DynamoDB/SQS/S3); the
                                      recorder cannot see those calls
  # unexercised: <action>[, <action>] — <why>
                                      code paths the deploy-like run does not reach
A justification naming an action that the run did use is an error too (it went stale).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from cfn import Stack


# ---------------------------------------------------------------- recorded calls → requests


@dataclass(frozen=True)
class Request:
    """One IAM authorisation a recorded call needs."""

    action: str
    resource: str
    context: tuple = ()  # (key, value) pairs of condition keys the request carries
    call: str = ""  # the recorded call, for messages
    missing_object: bool = False  # a GET/HEAD answered 404


TRANSACT_WRITE_ACTION = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}

SQS_BATCH_ACTION = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def _table_arn(region: str, account: str, table: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _queue_arn(region: str, url: str) -> str:
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:aws:sqs:{region}:{account}:{name}"


def requests_of(call: dict, account: str) -> list[Request]:
    """The IAM requests one recorded call needs (unknown operations become a request for
    an action no policy grants, so they fail loudly)."""
    region = call["region"]
    service = call["service"]
    op = call.get("operation")
    label = json.dumps({k: v for k, v in call.items() if k not in ("time", "access_key")}, sort_keys=True)
    context = (("aws:SecureTransport", "true"),)
    if service == "dynamodb":
        if op == "TransactWriteItems":
            return [
                Request(TRANSACT_WRITE_ACTION[i["kind"]], _table_arn(region, account, i["TableName"]), context, label)
                for i in call["TransactItems"]
            ]
        if op == "TransactGetItems":
            return [
                Request("dynamodb:GetItem", _table_arn(region, account, i["TableName"]), context, label)
                for i in call["TransactItems"]
            ]
        if op in ("BatchGetItem", "BatchWriteItem"):
            return [
                Request(f"dynamodb:{op}", _table_arn(region, account, t), context, label)
                for t in call["RequestTables"]
            ]
        table = call.get("TableName")
        if table is None:
            return [Request(f"dynamodb:{op}", "*", context, label)]
        return [Request(f"dynamodb:{op}", _table_arn(region, account, table, call.get("IndexName")), context, label)]
    if service == "sqs":
        if op is None:
            return [Request("sqs:<query protocol>", "*", context, label)]
        action = SQS_BATCH_ACTION.get(op, f"sqs:{op}")
        if "QueueUrl" in call:
            return [Request(action, _queue_arn(region, call["QueueUrl"]), context, label)]
        if "QueueName" in call:
            return [Request(action, f"arn:aws:sqs:{region}:{account}:{call['QueueName']}", context, label)]
        return [Request(action, "*", context, label)]
    if service == "s3":
        return _s3_requests(call, context, label)
    if service == "kms" and op and call.get("KeyId"):
        key = call["KeyId"]
        if not key.startswith("arn:"):
            key = f"arn:aws:kms:{region}:{account}:{key if key.startswith('alias/') else 'key/' + key}"
        return [Request(f"kms:{op}", key, context, label)]
    return [Request(f"{service}:{op or call.get('method')}", "*", context, label)]


def _s3_requests(call: dict, context: tuple, label: str) -> list[Request]:
    bucket, key, method = call["bucket"], call.get("key"), call["method"]
    query = set(call.get("query", []))
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if key is None:
        if method == "GET" and not (query - {"list-type", "prefix", "continuation-token", "max-keys", "delimiter", "start-after", "encoding-type", "fetch-owner"}):
            ctx = context + ((("s3:prefix", call["prefix"]),) if "prefix" in call else ())
            return [Request("s3:ListBucket", bucket_arn, ctx, label)]
        if method == "POST" and "delete" in query:
            return [Request("s3:DeleteObject", f"{bucket_arn}/*", context, label)]
        return [Request(f"s3:<bucket {method} {sorted(query)}>", bucket_arn, context, label)]
    object_arn = f"{bucket_arn}/{key}"
    sub = query - {"x-id", "versionId"}
    if method in ("GET", "HEAD") and not sub:
        return [Request("s3:GetObject", object_arn, context, label, missing_object=call.get("status") == 404)]
    if method == "PUT" and "x-amz-copy-source" in call:
        source = call["x-amz-copy-source"].lstrip("/").split("?")[0]
        return [
            Request("s3:PutObject", object_arn, context, label),
            Request("s3:GetObject", f"arn:aws:s3:::{source}", context, label),
        ]
    if method == "PUT" and (not sub or sub == {"partNumber", "uploadId"}):
        return [Request("s3:PutObject", object_arn, context, label)]
    if method == "POST" and sub in ({"uploads"}, {"uploadId"}):
        return [Request("s3:PutObject", object_arn, context, label)]
    if method == "DELETE" and not sub:
        return [Request("s3:DeleteObject", object_arn, context, label)]
    if method == "DELETE" and sub == {"uploadId"}:
        return [Request("s3:AbortMultipartUpload", object_arn, context, label)]
    return [Request(f"s3:<object {method} {sorted(sub)}>", object_arn, context, label)]


def read_calls(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- policy evaluation


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, action, case_sensitive=False)


def resource_matches(pattern: str, resource: str) -> bool:
    return _glob(pattern, resource)


SUPPORTED_OPERATORS = {"StringEquals", "StringLike", "StringNotEquals", "StringNotLike", "ArnLike", "ArnEquals", "Bool"}


def conditions_hold(conditions: dict | None, context: dict[str, str]) -> bool:
    """IAM condition evaluation for the operators the template uses. A key the request
    does not carry fails a positive operator and passes a negated one (as in IAM); the
    `…IfExists` forms pass when the key is absent."""
    for operator, tests in (conditions or {}).items():
        if_exists = operator.endswith("IfExists")
        base = operator[: -len("IfExists")] if if_exists else operator
        if base not in SUPPORTED_OPERATORS:
            raise ValueError(f"condition operator {operator} is not supported by the policy check")
        for key, expected in tests.items():
            expected = [str(e).lower() if base == "Bool" else str(e) for e in _as_list(expected)]
            actual = context.get(key)
            if actual is None:
                if if_exists or base.startswith("StringNot"):
                    continue
                return False
            if base in ("StringEquals", "ArnEquals", "Bool"):
                ok = actual in expected
            elif base in ("StringLike", "ArnLike"):
                ok = any(_glob(e, actual) for e in expected)
            elif base == "StringNotEquals":
                ok = actual not in expected
            else:  # StringNotLike
                ok = not any(_glob(e, actual) for e in expected)
            if not ok:
                return False
    return True


@dataclass
class Statement:
    policy: str
    sid: str
    effect: str
    actions: list[str]
    resources: list[str]
    conditions: dict | None

    def matches(self, request: Request) -> bool:
        return (
            any(action_matches(a, request.action) for a in self.actions)
            and any(resource_matches(r, request.resource) for r in self.resources)
            and conditions_hold(self.conditions, dict(request.context))
        )


def statements(stack: Stack, policy_logical: str) -> list[Statement]:
    document = stack.resources[policy_logical]["Properties"]["PolicyDocument"]
    return _statements(stack, policy_logical, document)


def _statements(stack: Stack, owner: str, document: dict) -> list[Statement]:
    out = []
    for raw in document["Statement"]:
        for unsupported in ("NotAction", "NotResource", "NotPrincipal"):
            if unsupported in raw:
                raise ValueError(f"{owner}: {unsupported} is not supported by the policy check")
        out.append(
            Statement(
                policy=owner,
                sid=raw.get("Sid", ""),
                effect=raw["Effect"],
                actions=_as_list(stack.resolve(raw["Action"])),
                resources=_as_list(stack.resolve(raw.get("Resource", "*"))),
                conditions=stack.resolve(raw.get("Condition")),
            )
        )
    return out


def resource_policy_denials(stack: Stack) -> list[Statement]:
    """Deny statements of bucket and queue policies that apply to every principal."""
    out = []
    for logical, resource in stack.resources.items():
        if resource["Type"] not in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            continue
        document = resource["Properties"]["PolicyDocument"]
        for statement in _statements(stack, logical, document):
            raw = next(s for s in document["Statement"] if s.get("Sid", "") == statement.sid)
            principal = raw.get("Principal")
            if statement.effect == "Deny" and principal in ("*", {"AWS": "*"}):
                out.append(statement)
    return out


@dataclass
class Finding:
    function: str
    problem: str


@dataclass
class Report:
    denied: list[Finding] = field(default_factory=list)
    unused: list[tuple[str, str, str, str]] = field(default_factory=list)  # function, sid, action, resource
    unjustified: list[Finding] = field(default_factory=list)
    stale: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # function → requests checked

    @property
    def failures(self) -> list[str]:
        return [f"{f.function}: {f.problem}" for f in self.denied + self.unjustified + self.stale]


def justifications(template_text: str, policy_logical: str) -> dict[str, dict]:
    """`# on-behalf:` and `# unexercised:` comments by statement Sid of one policy resource."""
    lines = template_text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"  {policy_logical}:\s*", line))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"  \S", lines[i])), len(lines))
    out: dict[str, dict] = {}
    sid = None
    for line in lines[start:end]:
        sid_match = re.match(r"\s+- Sid:\s*(\S+)", line)
        if sid_match:
            sid = sid_match.group(1)
            out[sid] = {"on_behalf": None, "unexercised": {}}
            continue
        if sid is None:
            continue
        on_behalf = re.match(r"\s+# on-behalf:\s*(.+)", line)
        if on_behalf:
            out[sid]["on_behalf"] = on_behalf.group(1)
        unexercised = re.match(r"\s+# unexercised:\s*([^—]+?)\s+—\s+(.+)", line)
        if unexercised:
            for action in re.split(r"[,\s]+", unexercised.group(1).strip()):
                out[sid]["unexercised"][action] = unexercised.group(2)
    return out


def _mark_used(used: set, statement: Statement, request: Request) -> None:
    for a in statement.actions:
        for r in statement.resources:
            if action_matches(a, request.action) and resource_matches(r, request.resource):
                used.add((statement.sid, a, r))


def check(stack: Stack, template_text: str, calls: Iterable[dict], keys: dict[str, str]) -> Report:
    """Checks every call whose access key is in `keys` (access key → function logical id)
    against that function's role policies; lists unused grants and their justifications."""
    report = Report()
    denials = resource_policy_denials(stack)
    by_function: dict[str, list[Request]] = {logical: [] for logical in keys.values()}
    for call in calls:
        function = keys.get(call["access_key"])
        if function is not None:
            by_function[function].extend(requests_of(call, stack.account))
    for function, requests in by_function.items():
        role = stack.role_of(function)
        policies = stack.policies_of_role(role)
        own = [s for p in policies for s in statements(stack, p)]
        allows = [s for s in own if s.effect == "Allow"]
        denies = [s for s in own if s.effect == "Deny"] + denials
        used: set[tuple[str, str, str]] = set()  # (sid, action pattern, resource pattern)
        report.checked[function] = len(requests)
        for request in sorted(set(requests), key=lambda r: (r.action, r.resource)):
            granting = [s for s in allows if s.matches(request)]
            denying = [s for s in denies if s.matches(request)]
            if not granting or denying:
                why = f"denied by {denying[0].policy}/{denying[0].sid}" if denying else "no statement allows it"
                report.denied.append(Finding(function, f"{request.action} on {request.resource} ({why}); call: {request.call}"))
                continue
            for s in granting:
                _mark_used(used, s, request)
            if request.missing_object:
                bucket = request.resource.split("/", 1)[0]
                listing = Request("s3:ListBucket", bucket, (("aws:SecureTransport", "true"),))
                if not any(s.matches(listing) for s in allows):
                    report.denied.append(
                        Finding(
                            function,
                            f"GET/HEAD of the missing {request.resource} relies on a 404, but without "
                            f"s3:ListBucket on {bucket} (with no s3:prefix condition) S3 answers 403",
                        )
                    )
                else:
                    for s in allows:
                        if s.matches(listing):
                            _mark_used(used, s, listing)
        for policy in policies:
            notes = justifications(template_text, policy)
            for s in statements(stack, policy):
                if s.effect != "Allow":
                    continue
                note = notes.get(s.sid, {"on_behalf": None, "unexercised": {}})
                if not s.sid:
                    report.unjustified.append(Finding(function, f"{policy}: every statement needs a Sid"))
                    continue
                for a in s.actions:
                    for r in s.resources:
                        is_used = (s.sid, a, r) in used
                        if is_used:
                            if a in note["unexercised"]:
                                report.stale.append(Finding(function, f"{policy}/{s.sid}: '# unexercised: {a}' but the run used it"))
                            if note["on_behalf"]:
                                report.stale.append(Finding(function, f"{policy}/{s.sid}: '# on-behalf' but the function's own code used {a}"))
                            continue
                        report.unused.append((function, s.sid, a, r))
                        if not note["on_behalf"] and a not in note["unexercised"]:
                            report.unjustified.append(
                                Finding(function, f"{policy}/{s.sid}: {a} on {r} is granted but no recorded call used it, and no '# unexercised:' or '# on-behalf:' comment says why")
                            )
    return report
