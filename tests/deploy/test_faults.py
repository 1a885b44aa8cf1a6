"""AWS faults, end to end: the functions reach the emulated AWS services through
scripts/fault_proxy.py, which injects throttling, 5xx answers, dropped connections and slow
answers into 10 % of their requests. 1,000 screenings (of 100 children) are submitted and each is scored
exactly once, and a partner file is imported whole: nothing lost, nothing duplicated.
The SDK's retries (shared/src/adapters/aws/mod.rs, `retry_config`) absorb the faults.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from emulated import EmulatedStack  # noqa: E402

SCREENINGS = 1000
CHILDREN = 100
PARTNER_ROWS = 400
FAULT_RATE = float(os.environ.get("FAULT_RATE", "0.1"))
DEADLINE_SECONDS = 300  # every wait below ends by itself


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    stack = EmulatedStack(tmp_path_factory.mktemp("faults"), fault_rate=FAULT_RATE, fault_seed=20261206)
    try:
        yield stack
    finally:
        stack.close()


def _until(what, probe, stack, seconds=DEADLINE_SECONDS):
    return stack.wait_for(what, probe, seconds)


def _queue_drained(stack, logical):
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url(logical), AttributeNames=["All"])["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_thousand_screenings_are_each_scored_once_through_faults(faulty):
    token = faulty.tokens.mint(["health_specialist"], "clinic-1")
    # The screenings spread over children as a clinic's would (a few each): the scoring
    # worker reads a child's worklist, episodes and representatives for every screening, so
    # a thousand screenings of one child would make each scoring read the other 999.
    # Each 18 to 27 months old today, in M-CHAT-R's age range (16-30 months) whenever run.
    children = []
    for c in range(CHILDREN):
        born = datetime.date.today() - datetime.timedelta(days=31 * (18 + c % 10))
        child = {"given_name": f"Līga{c}", "family_name": "Kalna", "birth_date": born.isoformat(), "sex": "female"}
        status, _, body = faulty.http("ChildrenApiFunction", "POST", "/children", token, child, headers={"Idempotency-Key": f"faults-child-{c}"})
        assert status == 201, body
        children.append(body["id"])
    today = datetime.date.today().isoformat()
    locations = []
    client_retries = 0
    for n in range(SCREENINGS):
        submission = {
            "child_id": children[n % CHILDREN],
            "instrument": "mchat-r",
            "administered_on": today,
            "answers": {str(i): (i + n) % 2 for i in range(1, 21)},
        }
        key = {"Idempotency-Key": f"faults-{n}"}
        status, headers, body = None, {}, None
        for _attempt in range(3):
            try:
                status, headers, body = faulty.http("ScreeningsApiFunction", "POST", "/screenings", token, submission, headers=key)
            except TimeoutError:
                # The invocation outlived the function's timeout (Lambda would answer 502):
                # the client retries with the same key.
                client_retries += 1
                continue
            if status != 503:
                break
            # The SDK gave up (six faults in a row): a client retries with the same key.
            client_retries += 1
        assert status == 202, body
        locations.append(headers["location"])
    assert len(set(locations)) == SCREENINGS

    _until("the scoring queue to drain", lambda: _queue_drained(faulty, "ScoringQueue"), faulty)
    dead = faulty.sqs.get_queue_attributes(QueueUrl=faulty.queue_url("ScoringDLQ"), AttributeNames=["ApproximateNumberOfMessages"])
    assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"
    # Each screening scored exactly once, read from the table itself (straight from the
    # emulator, not through the proxy): its submission `scored` and one result record.
    table = faulty.stack.physical_name("RavisTable")
    not_scored = []
    for location in locations:
        pk = "SCREENING#" + location.rsplit("/", 1)[1]
        items = []
        page = {"TableName": table, "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": pk}}}
        while True:
            answer = faulty.dynamodb.query(**page)
            items += answer["Items"]
            if "LastEvaluatedKey" not in answer:
                break
            page["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        submission = [i for i in items if i["sk"]["S"] == "SCREENING"]
        results = [i for i in items if i["sk"]["S"].startswith("RESULT#")]
        status = submission[0]["data"]["M"]["status"]["S"] if submission else None
        if status != "scored" or len(results) != 1:
            not_scored.append((location, status, len(results)))
    assert not not_scored, not_scored[:10]
    # And through the API, under faults, for a sample (every 50th).
    for location in locations[::50]:
        status, _, body = faulty.http("ScreeningsApiFunction", "GET", location, token)
        assert status == 200, body
        assert body["status"] == "scored" and len(body["results"]) == 1, body
    faults = faulty.faults()
    print(f"\nfaults injected so far: {faults}; client retries: {client_retries}")
    assert all(faults.get(kind, 0) > 0 for kind in ("throttle", "error", "reset", "slow")), faults
    assert client_retries <= SCREENINGS // 100, "the SDK's retries should absorb nearly every fault"


def test_a_partner_file_is_imported_whole_through_faults(faulty):
    rows = ["personal_code;given_name;family_name;birth_date;sex;gestational_age_weeks;atvk"]
    rows += [
        f";Bērns{n};Kļūme{n};2023-{1 + n % 12:02d}-{1 + n % 28:02d};{'female' if n % 2 else 'male'};;"
        for n in range(PARTNER_ROWS)
    ]
    bucket = faulty.bucket("PartnerBucket")
    faulty.s3.put_object(Bucket=bucket, Key="inbox/children/faults.csv", Body="\n".join(rows).encode())

    def summary():
        try:
            return faulty.s3.get_object(Bucket=bucket, Key="results/children/faults.csv.summary.json")["Body"].read()
        except faulty.s3.exceptions.NoSuchKey:
            return None

    result = json.loads(_until("the partner file's summary", summary, faulty))
    assert (result["status"], result["rows_read"], result["inserted"], result["rejected"]) == ("completed", PARTNER_ROWS, PARTNER_ROWS, 0), result
    _until("the intake queue to drain", lambda: _queue_drained(faulty, "IntakeQueue"), faulty)
    dead = faulty.sqs.get_queue_attributes(QueueUrl=faulty.queue_url("IntakeDLQ"), AttributeNames=["ApproximateNumberOfMessages"])
    assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_every_audit_entry_reaches_the_archive_through_faults(faulty):
    """The audit entries the runs above appended (registrations, submissions, reads) are
    pending in the table; the audit archiver's scheduled runs copy each to the archive
    exactly once through the same faults. A failed run is what the next minute's schedule
    repeats."""
    table = faulty.stack.physical_name("RavisTable")
    event = json.loads((Path(__file__).parents[2] / "events" / "audit-archiver" / "schedule.json").read_text())
    answers = []
    for _run in range(10):
        ok, answer = faulty.functions["AuditArchiverFunction"].invoke(event)
        answers.append(answer)
        if ok and answer["more"] is False and answer["archived"] == 0:
            break
    else:
        raise AssertionError(f"the archiver never finished: {answers}")
    expected = set()
    page = {"TableName": table, "FilterExpression": "begins_with(pk, :a) AND begins_with(sk, :e)",
            "ExpressionAttributeValues": {":a": {"S": "AUDIT#"}, ":e": {"S": "ENTRY#"}}}
    while True:
        answer = faulty.dynamodb.scan(**page)
        for item in answer["Items"]:
            assert "gsi1pk" not in item, f"still pending: {item['pk']['S']} {item['sk']['S']}"
            expected.add(f"audit/{item['pk']['S'][len('AUDIT#'):]}/{item['sk']['S'][len('ENTRY#'):]}.json")
        if "LastEvaluatedKey" not in answer:
            break
        page["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    archived = set()
    listing = {"Bucket": faulty.bucket("AuditArchiveBucket"), "Prefix": "audit/"}
    while True:
        answer = faulty.s3.list_objects_v2(**listing)
        archived |= {o["Key"] for o in answer.get("Contents", [])}
        if not answer.get("IsTruncated"):
            break
        listing["ContinuationToken"] = answer["NextContinuationToken"]
    assert len(expected) >= CHILDREN + SCREENINGS, len(expected)
    assert archived == expected, (sorted(expected - archived)[:5], sorted(archived - expected)[:5])
    print(f"\naudit entries archived: {len(archived)} in {len(answers)} runs: {answers}")
