"""Deploy-like end to end: the functions' binaries as Lambda would run them (the template's
environment, one process each under the Runtime API emulator, their own credentials)
against the emulated AWS services, and every AWS call they made checked against their
IAM policies in infra/template.yaml (least privilege both ways: tests/deploy/iam.py).

The tests of this module run in order and share one stack: the calls recorded by the
scenario are what the policy check reads.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import uuid

import cfn
import iam
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from emulated import ROOT

CHILDREN = "ChildrenApiFunction"
SCREENINGS = "ScreeningsApiFunction"
ANNA_CODE = "32579461005"
UNKNOWN_CODE = "32000000001"
WAIT_SECONDS = 90  # every wait below ends by itself


def wait_for(what: str, probe, stack, seconds: float = WAIT_SECONDS):
    return stack.wait_for(what, probe, seconds)


@pytest.fixture(scope="module")
def tokens(stack):
    return {
        "clinic": stack.tokens.mint(["health_specialist", "registry_administrator"], "clinic-1", subject="dr-liepa"),
        "stranger": stack.tokens.mint(["health_specialist"], "hospital-2", subject="dr-ozola"),
        "dpo": stack.tokens.mint(["data_protection_officer"], "dvi", subject="dpo-1"),
    }


state: dict = {}


def test_every_function_starts_with_the_templates_environment(stack):
    for logical, function in stack.functions.items():
        assert function.process.poll() is None, f"{logical} exited:\n{function.log_text()}"
        assert function.api.init_error is None, f"{logical}: {function.api.init_error!r}"
    # Each function reached the Runtime API (its init completed) within the wait.
    wait_for(
        "every function to ask for its first invocation",
        lambda: all(f.init_seconds() is not None for f in stack.functions.values()),
        stack,
    )


def test_register_read_change_and_search_a_child(stack, tokens):
    anna = {
        "personal_code": ANNA_CODE,
        "given_name": "Anna",
        "family_name": "Bērziņa",
        "birth_date": "2024-10-01",
        "sex": "female",
        "gestational_age_weeks": 39,
        "atvk": "0001000",
    }
    status, headers, body = stack.http(CHILDREN, "POST", "/children", tokens["clinic"], anna)
    assert status == 201, body
    child = body["id"]
    state["child"] = child
    status, headers, body = stack.http(CHILDREN, "GET", f"/children/{child}", tokens["clinic"])
    assert (status, body["family_name"]) == (200, "Bērziņa"), body
    renamed = {k: v for k, v in anna.items() if k != "personal_code"} | {"family_name": "Kalniņa"}
    status, _, body = stack.http(
        CHILDREN, "PUT", f"/children/{child}", tokens["clinic"], renamed, headers={"If-Match": headers["etag"]}
    )
    assert (status, body["family_name"]) == (200, "Kalniņa"), body
    status, _, body = stack.http(CHILDREN, "POST", "/children/search", tokens["clinic"], {"personal_code": ANNA_CODE})
    assert (status, body["id"]) == (200, child), body
    status, _, body = stack.http(CHILDREN, "POST", "/children", tokens["clinic"], anna)
    assert (status, body["existing_id"]) == (409, child), body


def test_a_screening_is_queued_scored_by_the_worker_and_profiled(stack, tokens):
    status, _, body = stack.http(SCREENINGS, "GET", "/catalogue/instruments", tokens["clinic"])
    assert status == 200, body
    status, _, body = stack.http(SCREENINGS, "GET", "/catalogue/entries", tokens["clinic"], query="limit=5")
    assert status == 200 and body["entries"], body
    submission = {
        "child_id": state["child"],
        "instrument": "mchat-r",
        "administered_on": datetime.date.today().isoformat(),
        "answers": {str(i): 1 for i in range(1, 21)},
    }
    key = {"Idempotency-Key": f"e2e-{uuid.uuid4()}"}
    status, headers, body = stack.http(SCREENINGS, "POST", "/screenings", tokens["clinic"], submission, headers=key)
    assert status == 202, body
    location = headers["location"]
    # The retried request (same key) is the same submission.
    status, again, _ = stack.http(SCREENINGS, "POST", "/screenings", tokens["clinic"], submission, headers=key)
    assert again["location"] == location

    def scored():
        status, _, body = stack.http(SCREENINGS, "GET", location, tokens["clinic"])
        assert status == 200, body
        return body if body["status"] == "scored" else None

    result = wait_for("the scoring worker to score the screening", scored, stack)
    assert result["result"]["scores"]["total"]["value"] == 3
    assert result["result"]["risk_level"] == "medium"
    status, _, body = stack.http(SCREENINGS, "GET", f"/children/{state['child']}/risk-profile", tokens["clinic"])
    assert status == 200, body


def test_the_follow_up_is_on_the_worklist_until_it_is_done(stack, tokens):
    # The medium M-CHAT-R above put the Follow-Up on the clinic's worklist (written by the
    # scoring worker); the Follow-Up's result removes it (the worker deletes the item).
    status, _, body = stack.http(CHILDREN, "GET", "/worklist", tokens["clinic"])
    assert status == 200, body
    items = [i for i in body["items"] if i["kind"] == "follow_up_interview"]
    assert [i["child"]["id"] for i in items] == [state["child"]], body
    initial = items[0]["link"].rsplit("/", 1)[1]
    follow_up = {
        "child_id": state["child"],
        "instrument": "mchat-rf",
        "administered_on": datetime.date.today().isoformat(),
        "initial_screening_id": initial,
        "answers": {"2": 0, "5": 0, "12": 0},
    }
    status, headers, body = stack.http(SCREENINGS, "POST", "/screenings", tokens["clinic"], follow_up)
    assert status == 202, body

    def done():
        status, _, body = stack.http(CHILDREN, "GET", "/worklist", tokens["clinic"], query="kind=follow_up_interview")
        assert status == 200, body
        return body if not body["items"] else None

    wait_for("the Follow-Up to leave the worklist", done, stack)


def test_a_referral_runs_its_course(stack, tokens):
    # Both organisations are in the registry (a referral names them; its episode too).
    for org in [
        {"id": "clinic-1", "kind": "health_practice", "name": "Clinic", "atvk": "0001000"},
        {"id": "provider-3", "kind": "programme_provider", "name": "Provider", "atvk": "0001000"},
    ]:
        status, _, body = stack.http(CHILDREN, "POST", "/organisations", tokens["clinic"], org)
        assert status in (201, 409), body
    therapist = stack.tokens.mint(["programme_provider"], "provider-3", subject="therapist-1")
    referral = {
        "child_id": state["child"],
        "basis": {"reason": {"text": "parents ask for support"}},
        "programme": "early-intervention-psychomotor",
        "provider_org": "provider-3",
        "family_agreement": "agreed",
    }
    status, headers, body = stack.http(CHILDREN, "POST", "/referrals", tokens["clinic"], referral)
    assert status == 201, body
    path = f"/referrals/{body['id']}/transitions"
    etag = headers["etag"]
    for who, step in [
        (tokens["clinic"], {"to": "sent"}),
        (therapist, {"to": "accepted"}),
        (therapist, {"to": "started"}),
        (therapist, {"to": "completed", "outcome": "goals_met"}),
    ]:
        status, headers, body = stack.http(CHILDREN, "POST", path, who, step, headers={"If-Match": etag})
        assert (status, body.get("state")) == (200, step["to"]), body
        etag = headers["etag"]
    status, _, body = stack.http(CHILDREN, "GET", "/referrals", tokens["clinic"], query=f"child={state['child']}")
    assert status == 200 and body["items"][0]["state"] == "completed", body
    # Within the grace period the provider still sees the child.
    status, _, body = stack.http(CHILDREN, "GET", f"/children/{state['child']}", therapist)
    assert status == 200, body


def test_the_scheduled_sweep_reconciles_stamps_and_publishes_the_overdue_count(stack):
    table = stack.stack.physical_name("RavisTable")
    child = state["child"]
    shard = format(uuid.UUID(child).bytes[15] % 16, "x")
    # A change whose reconcile a crash interrupted left its marker, and an item is past due.
    stack.dynamodb.put_item(TableName=table, Item={
        "pk": {"S": f"WORKPENDING#{shard}"}, "sk": {"S": f"{child}#e2e"}, "version": {"N": "1"},
        "data": {"M": {"child_id": {"S": child}}},
    })
    stack.dynamodb.put_item(TableName=table, Item={
        "pk": {"S": "WORKLIST#clinic-1"}, "sk": {"S": f"2020-01-01#2#rescreen#screening:e2e"}, "version": {"N": "1"},
        "data": {"M": {"kind": {"S": "rescreen"}, "due_on": {"S": "2020-01-01"}, "child_id": {"S": child}}},
    })
    function = stack.functions["WorklistSweepFunction"]
    ok, answer = function.invoke(json.loads((ROOT / "events" / "worklist-sweep" / "schedule.json").read_text()))
    assert ok, answer
    assert (answer["reconciled"], answer["overdue"], answer["newly_overdue"]) == (1, {"rescreen": 1}, 1), answer
    metrics = [json.loads(line) for line in function.log_text().splitlines() if '"_aws"' in line]
    assert metrics and metrics[-1]["OverdueWorkItems"] == 1, function.log_text()
    assert metrics[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "RAVIS"
    marker = stack.dynamodb.get_item(TableName=table, Key={"pk": {"S": f"WORKPENDING#{shard}"}, "sk": {"S": f"{child}#e2e"}})
    assert "Item" not in marker


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _exports_idle(stack):
    """Every export message handled (the trigger deletes a message once its invocation
    answered, i.e. after the job's state, its disclosure and the disclosure's archive copy
    are written): the audit views after this see every disclosure archived."""

    def idle():
        attributes = stack.sqs.get_queue_attributes(
            QueueUrl=stack.queue_url("ExportQueue"), AttributeNames=["All"]
        )["Attributes"]
        return (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")

    wait_for("every export message to be handled", idle, stack)


def test_the_scored_screening_is_exported_signed_with_the_kms_key(stack):
    # Anna has a personal code: the scoring worker recorded a health export job with each
    # result and queued it; the exports worker (SQS trigger) wrote the Bundle and its
    # X-Provenance to outbox/health/ of the exchange bucket (no FhirUrl in this stack).
    bucket = stack.bucket("ExchangeBucket")

    def bundles():
        listed = stack.s3.list_objects_v2(Bucket=bucket, Prefix="outbox/health/").get("Contents", [])
        keys = {o["Key"] for o in listed}
        return sorted(k for k in keys if not k.endswith(".provenance.json") and k.replace(".json", ".provenance.json") in keys)

    keys = wait_for("a Bundle and its X-Provenance under outbox/health/", bundles, stack)
    key = keys[0]
    body = stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    bundle = json.loads(body)
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "transaction"), bundle
    subjects = {e["resource"].get("subject", {}).get("identifier", {}).get("value") for e in bundle["entry"]}
    assert subjects == {ANNA_CODE}, subjects
    provenance = json.loads(
        stack.s3.get_object(Bucket=bucket, Key=key.replace(".json", ".provenance.json"))["Body"].read()
    )
    assert provenance["resourceType"] == "Provenance"
    [signature] = provenance["signature"]
    jws = base64.b64decode(signature["data"]).decode()
    header_b64, payload, signature_b64 = jws.split(".")
    assert payload == "", "a detached JWS"
    header = json.loads(_b64url_decode(header_b64))
    assert header["alg"] == "ES256", header
    # Verified with the KMS key's public key, over the exact bytes written.
    spki = stack.kms.get_public_key(KeyId=stack.stack.arn("FhirSigningKey"))["PublicKey"]
    public = serialization.load_der_public_key(spki)
    raw = _b64url_decode(signature_b64)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header_b64}.{_b64url(body)}".encode(), ec.ECDSA(hashes.SHA256()))
    # The kid is the RFC 7638 thumbprint of that key.
    numbers = public.public_numbers()
    canonical = json.dumps(
        {"crv": "P-256", "kty": "EC", "x": _b64url(numbers.x.to_bytes(32, "big")), "y": _b64url(numbers.y.to_bytes(32, "big"))},
        separators=(",", ":"),
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    assert header["kid"] == _b64url(digest.finalize())


def test_a_merge_queues_the_survivors_exports_again(stack, tokens):
    # A duplicate registered without a code is merged into Anna: the merge records export
    # jobs for the survivor in its own transaction and children-api queues them (SendMessage
    # on the export queue); the worker sends Anna's results again.
    duplicate = {
        "given_name": "Anna",
        "family_name": "Dublikāte",
        "birth_date": "2024-10-01",
        "sex": "female",
        "atvk": "0001000",
    }
    status, _, body = stack.http(CHILDREN, "POST", "/children", tokens["clinic"], duplicate)
    assert status == 201, body
    duplicate_id = body["id"]
    status, headers, body = stack.http(CHILDREN, "GET", f"/children/{state['child']}", tokens["clinic"])
    assert status == 200, body
    bucket = stack.bucket("ExchangeBucket")

    def bundles():
        keys = {o["Key"] for o in stack.s3.list_objects_v2(Bucket=bucket, Prefix="outbox/health/").get("Contents", [])}
        return {k for k in keys if not k.endswith(".provenance.json") and k.replace(".json", ".provenance.json") in keys}

    before = bundles()
    status, _, body = stack.http(
        CHILDREN, "POST", f"/children/{state['child']}/merge", tokens["clinic"],
        {"duplicate": duplicate_id, "reason": "registered twice"}, headers={"If-Match": headers["etag"]},
    )
    assert status == 200, body
    new = wait_for("the survivor's Bundles sent again", lambda: sorted(bundles() - before), stack)
    bundle = json.loads(stack.s3.get_object(Bucket=bucket, Key=new[0])["Body"].read())
    # An update of the resources of the first send, never a second create.
    assert {e["request"]["method"] for e in bundle["entry"]} == {"PUT"}, bundle
    _exports_idle(stack)


def test_the_exports_schedule_runs_one_sweep_and_publishes_its_metrics(stack):
    # A pending job whose queue message was lost (a crash between the commit and the send):
    # due since long ago, so the sweep queues it (the worker then finds no such job).
    table = stack.stack.physical_name("RavisTable")
    lost = str(uuid.uuid4())
    stack.dynamodb.put_item(TableName=table, Item={
        "pk": {"S": f"E2E#{lost}"}, "sk": {"S": "JOB"}, "version": {"N": "1"},
        "gsi1pk": {"S": "EXPORTS#health#pending"}, "gsi1sk": {"S": f"2020-01-01T00:00:00.000000Z#{lost}"},
        "data": {"M": {"id": {"S": lost}}},
    })
    function = stack.functions["ExportsWorkerFunction"]
    ok, answer = function.invoke(json.loads((ROOT / "events" / "exports-worker" / "schedule.json").read_text()))
    assert ok, answer
    assert set(answer) == {"queued", "unqueued", "failed"}, answer
    assert answer["queued"] >= 1 and (answer["unqueued"], answer["failed"]) == (0, 0), answer
    stack.dynamodb.delete_item(TableName=table, Key={"pk": {"S": f"E2E#{lost}"}, "sk": {"S": "JOB"}})
    metrics = [json.loads(line) for line in function.log_text().splitlines() if '"ExportsQueued"' in line]
    assert metrics, function.log_text()
    assert metrics[-1]["ExportsQueued"] == answer["queued"]
    assert metrics[-1]["ExportsFailed"] == 0
    assert metrics[-1]["Environment"] == "dev"
    assert metrics[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "RAVIS"


def test_a_message_that_is_not_an_export_message_goes_to_the_export_dlq_at_once(stack):
    stack.sqs.send_message(QueueUrl=stack.queue_url("ExportQueue"), MessageBody='{"not":"an export message"}')

    def dead_letter():
        got = stack.sqs.receive_message(
            QueueUrl=stack.queue_url("ExportDLQ"), WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        return got.get("Messages")

    [message] = wait_for("the message in the export DLQ", dead_letter, stack)
    assert message["Body"] == '{"not":"an export message"}'
    assert "ravis-dead-letter-reason" in message["MessageAttributes"]
    _exports_idle(stack)


def test_break_the_glass_and_the_data_protection_officers_views(stack, tokens):
    child = state["child"]
    status, _, _ = stack.http(CHILDREN, "GET", f"/children/{child}", tokens["stranger"])
    assert status == 404
    reason = {"reason": "child in the emergency room, parents unreachable"}
    status, _, body = stack.http(CHILDREN, "POST", f"/children/{child}/break-the-glass", tokens["stranger"], reason)
    assert status == 201, body
    status, _, body = stack.http(CHILDREN, "GET", f"/children/{child}", tokens["stranger"])
    assert status == 200, body
    status, _, body = stack.http(CHILDREN, "GET", "/audit", tokens["dpo"], query=f"child={child}")
    assert status == 200 and body["verification"]["intact"], body
    status, _, body = stack.http(CHILDREN, "GET", "/audit/report", tokens["dpo"], query=f"child={child}")
    assert status == 200, body
    today = datetime.date.today()
    period = f"from={today}&to={today + datetime.timedelta(days=1)}"
    status, _, body = stack.http(CHILDREN, "GET", "/audit/break-the-glass", tokens["dpo"], query=period)
    assert status == 200, body
    state["audit_entries"] = _drain_audit_archive(stack)
    assert state["audit_entries"] >= 5


def _pending_audit_entries(stack) -> int:
    table = stack.stack.physical_name("RavisTable")
    return sum(
        stack.dynamodb.query(
            TableName=table, IndexName="gsi1", Select="COUNT",
            KeyConditionExpression="gsi1pk = :p", ExpressionAttributeValues={":p": {"S": f"AUDITPENDING#{n:02}"}},
        )["Count"]
        for n in range(16)
    )


def _drain_audit_archive(stack) -> int:
    """One scheduled run of the audit archiver: every pending entry archived; returns how
    many objects the archive holds."""
    ok, answer = stack.functions["AuditArchiverFunction"].invoke(
        json.loads((ROOT / "events" / "audit-archiver" / "schedule.json").read_text())
    )
    assert ok and answer["more"] is False, answer
    assert _pending_audit_entries(stack) == 0
    return len(stack.s3.list_objects_v2(Bucket=stack.bucket("AuditArchiveBucket"))["Contents"])


def test_an_audited_read_is_one_table_write_and_the_archiver_copies_its_entry(stack, tokens):
    children_key = next(k for k, f in stack.keys.items() if f == CHILDREN)
    archiver_key = next(k for k, f in stack.keys.items() if f == "AuditArchiverFunction")
    before = len(iam.read_calls(stack.call_log))
    status, _, _ = stack.http(CHILDREN, "GET", f"/children/{state['child']}", tokens["clinic"])
    assert status == 200
    calls = [c for c in iam.read_calls(stack.call_log)[before:] if c["access_key"] == children_key]
    # No request to the archive on the request path; the entry is written pending.
    assert [c for c in calls if c["service"] == "s3"] == [], calls
    assert [c.get("operation") for c in calls if c["service"] == "dynamodb"].count("TransactWriteItems") == 1, calls
    assert _pending_audit_entries(stack) == 1
    # The next scheduled run of the archiver copies it: one conditional PutObject.
    before = len(iam.read_calls(stack.call_log))
    archived = _drain_audit_archive(stack)
    assert archived == state["audit_entries"] + 1
    state["audit_entries"] = archived
    calls = [c for c in iam.read_calls(stack.call_log)[before:] if c["access_key"] == archiver_key]
    s3 = [c for c in calls if c["service"] == "s3"]
    assert [(c["method"], c.get("if-none-match"), c["status"]) for c in s3] == [("PUT", "*", 200)], s3
    assert s3[0]["key"].startswith("audit/")


def test_registry_listings_read_the_index(stack, tokens):
    # Anna and the child registered without a code below share no names; the listing is
    # read from the table's index (gsi1) whatever it holds.
    status, _, body = stack.http(CHILDREN, "GET", "/children/duplicates", tokens["clinic"], query="limit=10")
    assert status == 200 and "items" in body, body
    status, _, body = stack.http(CHILDREN, "GET", "/children/merges", tokens["clinic"], query="limit=10")
    assert status == 200 and "items" in body, body
    status, _, body = stack.http(CHILDREN, "GET", f"/children/{state['child']}/representatives", tokens["clinic"])
    assert status == 200, body


def _results(stack, key):
    try:
        return stack.s3.get_object(Bucket=stack.bucket("PartnerBucket"), Key=key)["Body"].read()
    except stack.s3.exceptions.NoSuchKey:
        return None


def test_a_partner_file_reaches_the_intake_worker_through_the_buckets_notification(stack, tokens):
    bucket = stack.bucket("PartnerBucket")
    rows = [
        "personal_code;given_name;family_name;birth_date;sex;gestational_age_weeks;atvk",
        f"{ANNA_CODE};Anna;Ozola;2024-10-01;female;39;0001000",  # renames Anna: leaves the names index
        ";Jānis;Ozols;2023-05-17;male;;",
        ";Bad;Date;2024-02-30;male;;",
    ]
    stack.s3.put_object(Bucket=bucket, Key="inbox/children/kids.csv", Body="\n".join(rows).encode())
    summary = wait_for(
        "the summary of inbox/children/kids.csv",
        lambda: _results(stack, "results/children/kids.csv.summary.json"),
        stack,
    )
    summary = json.loads(summary)
    assert (summary["status"], summary["inserted"], summary["updated"], summary["rejected"]) == (
        "completed_with_rejections", 1, 1, 1,
    ), summary
    report = _results(stack, "results/children/kids.csv.report.jsonl").decode().splitlines()
    assert [json.loads(line)["field"] for line in report] == ["birth_date"]
    # A registry administrator reads the job from the table and its row error from the
    # partner bucket's results/ through children-api.
    status, _, body = stack.http(CHILDREN, "GET", "/intake/jobs", tokens["clinic"], query="kind=children")
    assert status == 200, body
    job = next(j for j in body["items"] if j["file"] == "inbox/children/kids.csv")
    assert (job["status"], job["rejected"]) == ("completed_with_rejections", 1), job
    status, _, body = stack.http(CHILDREN, "GET", f"/intake/jobs/{job['id']}/errors", tokens["clinic"])
    assert status == 200 and [e["field"] for e in body["items"]] == ["birth_date"], body
    status, _, body = stack.http(CHILDREN, "GET", f"/children/{state['child']}", tokens["clinic"])
    assert body["family_name"] == "Ozola", body

    # An audited kind: the worker appends to Anna's chain and archives the entry.
    # The second row names nobody: the stored state refuses it, and the refusal, stored with
    # its batch, is read back for the report.
    register = (
        "event;personal_code;new_personal_code;atvk;date\n"
        f"address_change;{ANNA_CODE};;0001000;{datetime.date.today()}\n"
        f"address_change;{UNKNOWN_CODE};;0001000;{datetime.date.today()}\n"
    )
    stack.s3.put_object(Bucket=bucket, Key="inbox/population-register/moves.csv", Body=register.encode())
    summary = wait_for(
        "the population-register summary",
        lambda: _results(stack, "results/population-register/moves.csv.summary.json"),
        stack,
    )
    summary = json.loads(summary)
    assert (summary["updated"], summary["rejected"]) == (1, 1), summary
    report = _results(stack, "results/population-register/moves.csv.report.jsonl").decode().splitlines()
    assert [json.loads(line)["reason"] for line in report] == ["no child with this personal code"]
    assert _drain_audit_archive(stack) > state["audit_entries"]


def test_a_message_that_is_not_an_s3_notification_goes_to_the_dlq_at_once(stack):
    queue = stack.queue_url("IntakeQueue")
    dlq = stack.queue_url("IntakeDLQ")
    stack.sqs.send_message(QueueUrl=queue, MessageBody="this is not an S3 event")

    def dead_letter():
        got = stack.sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MessageAttributeNames=["All"])
        return got.get("Messages")

    [message] = wait_for("the message in the intake DLQ", dead_letter, stack)
    assert message["Body"] == "this is not an S3 event"
    reason = message["MessageAttributes"]["ravis-dead-letter-reason"]["StringValue"]
    assert "not an S3 event notification" in reason

    # Deleted from the intake queue after its one delivery (the trigger deletes it once the
    # invocation answers), not made visible again for a retry.
    def intake_queue_empty():
        attributes = stack.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        counts = (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"])
        return counts == ("0", "0")

    wait_for("the intake queue to be empty", intake_queue_empty, stack, seconds=20)
    intake_trigger = next(t for t in stack.triggers if t.function.logical == "IntakeWorkerFunction")
    assert not intake_trigger.errors


def test_a_notification_for_a_deleted_object_is_skipped(stack):
    # The object named by the event is gone (deleted, or expired under inbox/'s lifecycle):
    # the worker's HEAD gets a 404 (not a 403: its role may list the bucket), it logs that
    # and the message is done.
    bucket = stack.bucket("PartnerBucket")
    event = {
        "Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": "inbox/children/gone.csv"}}}
        ]
    }
    queue = stack.queue_url("IntakeQueue")
    stack.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))

    def logged():
        return "no longer exists" in stack.functions["IntakeWorkerFunction"].log_text()

    wait_for("the worker to skip the missing object", logged, stack)
    assert _results(stack, "results/children/gone.csv.summary.json") is None


def test_a_message_that_is_not_a_scoring_message_goes_to_the_scoring_dlq_at_once(stack):
    stack.sqs.send_message(QueueUrl=stack.queue_url("ScoringQueue"), MessageBody='{"not":"a scoring message"}')

    def dead_letter():
        got = stack.sqs.receive_message(QueueUrl=stack.queue_url("ScoringDLQ"), WaitTimeSeconds=1)
        return got.get("Messages")

    [message] = wait_for("the message in the scoring DLQ", dead_letter, stack)
    assert message["Body"] == '{"not":"a scoring message"}'


def _reports_idle(stack):
    """Every report message handled (deleted by the trigger once its invocation answered)."""

    def idle():
        attributes = stack.sqs.get_queue_attributes(
            QueueUrl=stack.queue_url("ReportQueue"), AttributeNames=["All"]
        )["Attributes"]
        return (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")

    wait_for("every report message to be handled", idle, stack)


def test_a_report_is_asked_for_made_by_the_reports_function_and_read_back(stack, tokens):
    # children-api records the report and queues it (SendMessage on the report queue); the
    # reports function (SQS trigger) writes the lake (older than a day: none yet), makes the
    # report and stores its files in the reports bucket; children-api reads them back.
    analyst = stack.tokens.mint(["ministry_analyst"], "ministry", subject="analyst-1")
    year = str(datetime.date.today().year)
    status, headers, body = stack.http(CHILDREN, "POST", "/reports", analyst, {"period": year})
    assert status == 202, body
    report = body["id"]

    def done():
        status, _, body = stack.http(CHILDREN, "GET", f"/reports/{report}", analyst)
        assert status == 200, body
        assert body["state"] != "failed", body
        return body if body["state"] == "done" else None

    body = wait_for("the reports function to make the report", done, stack)
    names = {link["name"] for link in body["links"]}
    assert {"indicators.json", "report.en.html", "screening.csv"} <= names, body
    status, headers, file = stack.http(CHILDREN, "GET", f"/reports/{report}/files/indicators.json", analyst)
    assert status == 200 and headers["content-type"].startswith("application/json"), file
    status, _, listed = stack.http(CHILDREN, "GET", "/reports", analyst)
    assert status == 200 and report in {r["id"] for r in listed["items"]}, listed
    lake = stack.s3.list_objects_v2(Bucket=stack.bucket("AnalyticsBucket"), Prefix="lake/").get("Contents", [])
    assert any(o["Key"].startswith("lake/results/") for o in lake), lake
    _reports_idle(stack)


def test_the_monthly_schedule_rewrites_the_lake_and_publishes_last_months_open_data(stack):
    function = stack.functions["ReportsFunction"]
    event = json.loads((ROOT / "events" / "reports" / "schedule.json").read_text())
    ok, answer = function.invoke(event)
    assert ok, answer
    assert answer["lake"]["children"] >= 1, answer
    today = datetime.date.today()
    last_month = today.replace(day=1) - datetime.timedelta(days=1)
    period = f"{last_month.year}-{last_month.month:02}"
    assert period in {q["period"] for q in answer["queued"]}, answer
    # Each period is scheduled once.
    ok, again = function.invoke(event)
    assert ok and again["queued"] == [], again
    bucket = stack.bucket("OpenDataBucket")

    def published():
        listed = stack.s3.list_objects_v2(Bucket=bucket, Prefix=f"open-data/{period}/").get("Contents", [])
        keys = {o["Key"].rsplit("/", 1)[1] for o in listed}
        return keys if "metadata.jsonld" in keys else None

    keys = wait_for("the open-data release in the open-data bucket", published, stack)
    assert {"screening.csv", "codelists.json", "metadata.jsonld"} <= keys, keys
    metadata = json.loads(stack.s3.get_object(Bucket=bucket, Key=f"open-data/{period}/metadata.jsonld")["Body"].read())
    # The access URLs are the distribution's (RAVIS_OPEN_DATA_BASE_URL).
    assert f"/open-data/{period}/" in json.dumps(metadata) and "cloudfront.net" in json.dumps(metadata), metadata
    _reports_idle(stack)


def test_a_message_that_is_not_a_report_message_goes_to_the_report_dlq_at_once(stack):
    stack.sqs.send_message(QueueUrl=stack.queue_url("ReportQueue"), MessageBody='{"not":"a report message"}')

    def dead_letter():
        got = stack.sqs.receive_message(
            QueueUrl=stack.queue_url("ReportDLQ"), WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        return got.get("Messages")

    [message] = wait_for("the message in the report DLQ", dead_letter, stack)
    assert message["Body"] == '{"not":"a report message"}'
    assert "ravis-dead-letter-reason" in message["MessageAttributes"]
    _reports_idle(stack)


# ---------------------------------------------------------------- least privilege


def _check(stack, template_text=None, extra_calls=()):
    text = template_text or cfn.template_text()
    checked_stack = copy.copy(stack.stack)
    checked_stack.template = cfn.load(text)
    calls = iam.read_calls(stack.call_log) + list(extra_calls)
    return iam.check(checked_stack, text, calls, stack.keys)


def test_every_recorded_call_is_allowed_and_every_grant_is_used_or_justified(stack):
    report = _check(stack)
    # Every function made calls of its own (the recorder saw them under its access key).
    assert all(report.checked[f] > 0 for f in stack.functions), report.checked
    assert not report.failures, "\n".join(report.failures)
    print("\nunused grants, each justified in infra/template.yaml:")
    for function, sid, action, resource in report.unused:
        print(f"  {function} {sid}: {action} on {resource}")


def test_the_check_fails_when_a_grant_is_removed(stack):
    text = cfn.template_text()
    start = text.index("  IntakeWorkerPolicy:")
    policy = text[start : text.index("\n  # ----", start)]
    assert "              - dynamodb:DeleteItem\n" in policy
    weakened = text.replace(policy, policy.replace("              - dynamodb:DeleteItem\n", "", 1))
    report = _check(stack, weakened)
    assert any(
        f.function == "IntakeWorkerFunction" and f.problem.startswith("dynamodb:DeleteItem") for f in report.denied
    ), report.failures


def test_the_check_fails_on_a_kind_of_call_the_code_did_not_make_before(stack):
    key = next(k for k, f in stack.keys.items() if f == "IntakeWorkerFunction")
    scan = {
        "access_key": key, "region": "eu-north-1", "service": "dynamodb", "method": "POST",
        "operation": "Scan", "TableName": stack.stack.physical_name("RavisTable"), "status": 200,
    }
    report = _check(stack, extra_calls=[scan])
    assert [f.problem.split(" (")[0] for f in report.denied] == [
        f"dynamodb:Scan on {stack.stack.arn('RavisTable')}"
    ], report.failures


def test_the_check_catches_a_404_that_s3_would_answer_403(stack):
    key = next(k for k, f in stack.keys.items() if f == "ChildrenApiFunction")
    head = {
        "access_key": key, "region": "eu-north-1", "service": "s3", "method": "HEAD",
        "bucket": stack.bucket("AuditArchiveBucket"), "key": "audit/x/00000000000000000001.json",
        "query": [], "status": 404,
    }
    report = _check(stack, extra_calls=[head])
    assert any("S3 answers 403" in f.problem for f in report.denied), report.failures
