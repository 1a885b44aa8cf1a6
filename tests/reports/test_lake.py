"""Independent check of the analytics lake (issue #13 item 4) with DuckDB.

Seeds a fresh data directory through `ravis serve` (children, one merged into another,
screenings scored by the server's worker, a referral started, which opens a support episode),
stops the server, runs `ravis lake`, then reads every Parquet file with DuckDB: the row counts,
the column types, Snappy compression, the `year=` partition of each file, and that no text
column holds a personal code (11 digits), a UUID or a child's name.

Run with `scripts/reports-venv.sh test` (RAVIS_BIN: the `ravis` binary).
"""

import contextlib
import datetime
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import duckdb
import pytest

RAVIS = os.environ.get("RAVIS_BIN", "ravis")
CODES = ["32579461005", "32111111119"]
NAMES = ["Anna", "Ozola", "Jānis", "Bērziņš", "Līga", "Kalniņa"]
# An 11-digit personal code (optionally `DDMMYY-NNNNN`) standing alone, not digits inside
# a pseudonym's hex.
PERSONAL_CODE = re.compile(r"(?<![0-9A-Za-z])\d{6}-?\d{5}(?![0-9A-Za-z])")
PSEUDONYM = re.compile(r"[0-9a-f]{64}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

EXPECTED_TYPES = {
    "results": {
        "child": "VARCHAR", "administered_on": "DATE", "year": "INTEGER", "age_years": "INTEGER",
        "age_band": "VARCHAR", "sex": "VARCHAR", "municipality": "VARCHAR",
        "atvk_version": "VARCHAR", "instrument": "VARCHAR", "instrument_version": "VARCHAR",
        "risk_level": "VARCHAR", "scores": "VARCHAR", "bands": "VARCHAR",
        "recommendation_kinds": "VARCHAR", "rescreen_due_on": "DATE", "rescreen_done_on": "DATE",
        "interview_due_on": "DATE", "interview_done_on": "DATE",
    },
    "episodes": {
        "child": "VARCHAR", "programme": "VARCHAR", "referred_on": "DATE", "started_on": "DATE",
        "ended_on": "DATE", "year": "INTEGER", "age_years": "INTEGER", "age_band": "VARCHAR",
        "sex": "VARCHAR", "municipality": "VARCHAR", "atvk_version": "VARCHAR",
        "outcome": "VARCHAR", "end_reason": "VARCHAR",
    },
    "referrals": {
        "child": "VARCHAR", "programme": "VARCHAR", "referred_on": "DATE", "state": "VARCHAR",
        "started_on": "DATE", "year": "INTEGER", "age_years": "INTEGER", "age_band": "VARCHAR",
        "sex": "VARCHAR", "municipality": "VARCHAR", "atvk_version": "VARCHAR",
    },
}


def ravis(data, *args):
    return subprocess.run([RAVIS, "--data-dir", str(data), *args], check=True,
                          capture_output=True, text=True, timeout=300).stdout


class Api:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, token, body=None, if_match=None):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if if_match:
            headers["If-Match"] = if_match
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        answer = self.conn.getresponse()
        data = answer.read()
        return answer.status, answer.getheader("ETag"), json.loads(data) if data else None

    def ok(self, method, path, token, body=None, if_match=None):
        status, etag, data = self.call(method, path, token, body, if_match)
        assert status in (200, 201, 202), f"{method} {path}: {status} {data}"
        return etag, data


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(api, tokens):
    admin, nurse, provider = tokens["admin"], tokens["nurse"], tokens["provider"]
    for org, kind in [("clinic", "health_practice"), ("provider", "programme_provider")]:
        api.ok("POST", "/organisations", admin,
               {"id": org, "kind": kind, "name": org, "atvk": "0001000"})
    today = datetime.date.today()
    birth = (today - datetime.timedelta(days=20 * 30)).isoformat()
    anna = {"given_name": "Anna", "family_name": "Ozola", "birth_date": birth, "sex": "female",
            "atvk": "0001234"}
    children = {
        "survivor": {**anna, "personal_code": CODES[0]},
        "duplicate": anna,
        "other": {"given_name": "Jānis", "family_name": "Bērziņš", "birth_date": birth,
                  "sex": "male"},
        "coded": {"given_name": "Līga", "family_name": "Kalniņa", "birth_date": birth,
                  "sex": "female", "personal_code": CODES[1], "atvk": "0056000"},
    }
    ids = {name: api.ok("POST", "/children", nurse, body)[1]["id"]
           for name, body in children.items()}
    answers = {str(i): (0 if i in (2, 5, 12) else 1) for i in range(1, 21)}
    screenings = [
        api.ok("POST", "/screenings", nurse,
               {"child_id": child, "instrument": "mchat-r", "answers": answers,
                "administered_on": (today - datetime.timedelta(days=3)).isoformat()})[1]["id"]
        for child in ids.values()
    ]
    deadline = time.monotonic() + 60
    for screening in screenings:
        while api.ok("GET", f"/screenings/{screening}", nurse)[1].get("result") is None:
            assert time.monotonic() < deadline, f"screening {screening} was not scored"
            time.sleep(0.1)
    etag, referral = api.ok("POST", "/referrals", nurse, {
        "child_id": ids["other"], "basis": {"reason": {"text": "parents ask for support"}},
        "programme": "early-intervention-psychomotor", "provider_org": "provider",
        "urgency": "soon", "family_agreement": "agreed"})
    for token, state in [(nurse, "sent"), (provider, "accepted"), (provider, "started")]:
        etag, _ = api.ok("POST", f"/referrals/{referral['id']}/transitions", token,
                         {"to": state}, etag)
    etag, _ = api.ok("GET", f"/children/{ids['survivor']}", admin)
    api.ok("POST", f"/children/{ids['survivor']}/merge", admin,
           {"duplicate": ids["duplicate"], "reason": "same child, registered twice"}, etag)
    return ids


@contextlib.contextmanager
def serving(data, log_name):
    """`ravis serve` on a free loopback port over `data` until the block ends (SIGINT, then
    wait); yields an `Api` on it. The server's output goes to `log_name` beside `data`."""
    port = free_port()
    log = open(data.parent / log_name, "wb")
    server = subprocess.Popen(
        [RAVIS, "--data-dir", str(data), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RAVIS_LOG": "warn"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "ravis serve exited"
                assert time.monotonic() < deadline, "ravis serve did not listen"
                time.sleep(0.1)
        yield Api(port)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        log.close()


def token(data, role, org):
    """A development token of the data directory for `role` in `org`."""
    return ravis(data, "token", "--role", role, "--org", org).strip()


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    data = tmp_path_factory.mktemp("ravis-data")
    with serving(data, "serve.log") as api:
        tokens = {
            "admin": token(data, "registry_administrator", "ravis"),
            "nurse": token(data, "health_specialist", "clinic"),
            "provider": token(data, "programme_provider", "provider"),
        }
        ids = seed(api, tokens)
    summary = json.loads(ravis(data, "lake"))
    # The local bucket is a directory; each key segment is one file-name segment with
    # `/` and `=` percent-encoded (docs/REPORTS.md, "Analytics lake").
    bucket = data / "blobs" / "analytics"
    files = {}
    for path in bucket.rglob("*.parquet"):
        key = urllib.parse.unquote(str(path.relative_to(bucket))).replace("//", "/")
        files[key] = path
    return {"summary": summary, "files": files, "ids": ids, "data": data}


def tables(files):
    """Files by table: `lake/<table>/year=YYYY/part-0.parquet`."""
    out = {}
    for key, path in files.items():
        match = re.fullmatch(r"lake/(\w+)/year=(\d{4})/part-0\.parquet", key)
        assert match, f"unexpected object {key}"
        out.setdefault(match.group(1), []).append((int(match.group(2)), path))
    return out


def test_every_table_has_the_expected_rows(lake):
    by_table = tables(lake["files"])
    assert set(by_table) == {"results", "episodes", "referrals"}
    con = duckdb.connect()
    counts = {}
    for table, parts in by_table.items():
        counts[table] = sum(
            con.execute("SELECT count(*) FROM read_parquet(?)", [str(p)]).fetchone()[0]
            for _, p in parts)
        assert counts[table] == lake["summary"]["tables"][table]["rows"]
    # Four children were screened once each; the duplicate counts under its survivor.
    assert counts == {"results": 4, "episodes": 1, "referrals": 1}
    assert lake["summary"]["children"] == 3
    results = [str(p) for _, p in by_table["results"]]
    people = con.execute(
        "SELECT count(DISTINCT child), max(n) FROM (SELECT child, count(*) AS n "
        "FROM read_parquet(?) GROUP BY child)", [results]).fetchone()
    assert people == (3, 2)
    sexes = dict(con.execute(
        "SELECT sex, count(*) FROM read_parquet(?) GROUP BY sex", [results]).fetchall())
    assert sexes == {"female": 3, "male": 1}
    municipalities = dict(con.execute(
        "SELECT coalesce(municipality, 'none'), count(*) FROM read_parquet(?) GROUP BY 1",
        [results]).fetchall())
    assert municipalities == {"0001004": 2, "0056000": 1, "none": 1}
    # A follow-up is asked only by a result that recommends it, due on or after it, and done
    # (if done) on or after the day it was asked (the merged child's two same-day screenings:
    # the second is the rescreen of the first).
    bad = con.execute(
        "SELECT count(*) FROM read_parquet(?) WHERE "
        "(rescreen_due_on IS NOT NULL AND (position('rescreen' IN recommendation_kinds) = 0 "
        "  OR rescreen_due_on < administered_on OR rescreen_done_on < administered_on)) OR "
        "(interview_due_on IS NOT NULL AND (position('follow_up_interview' IN "
        "  recommendation_kinds) = 0 OR interview_done_on < administered_on)) OR "
        "(rescreen_due_on IS NULL AND rescreen_done_on IS NOT NULL) OR "
        "(interview_due_on IS NULL AND interview_done_on IS NOT NULL)", [results]).fetchone()[0]
    assert bad == 0
    state = con.execute("SELECT state, started_on IS NOT NULL FROM read_parquet(?)",
                        [[str(p) for _, p in by_table["referrals"]]]).fetchall()
    assert state == [("started", True)]


def test_columns_have_the_documented_types_and_snappy_pages(lake):
    con = duckdb.connect()
    for table, parts in tables(lake["files"]).items():
        for year, path in parts:
            described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)])
            types = {row[0]: row[1] for row in described.fetchall()}
            assert types == EXPECTED_TYPES[table], f"{table} {year}"
            codecs = {row[0] for row in con.execute(
                "SELECT DISTINCT compression FROM parquet_metadata(?)", [str(path)]).fetchall()}
            assert codecs == {"SNAPPY"}, codecs
            years = {row[0] for row in con.execute(
                "SELECT DISTINCT year FROM read_parquet(?)", [str(path)]).fetchall()}
            assert years == {year}, f"{path}: rows of another year"


def test_no_column_holds_a_personal_code_a_uuid_or_a_name(lake):
    con = duckdb.connect()
    forbidden = CODES + NAMES + list(lake["ids"].values())
    checked = 0
    for table, parts in tables(lake["files"]).items():
        for _, path in parts:
            rows = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
            columns = [d[0] for d in rows.description]
            for row in rows.fetchall():
                for column, value in zip(columns, row):
                    if not isinstance(value, str):
                        continue
                    checked += 1
                    if column == "child":
                        assert PSEUDONYM.fullmatch(value), f"{table}.child: {value}"
                    assert not PERSONAL_CODE.search(value), f"{table}.{column}: {value}"
                    assert not UUID.search(value), f"{table}.{column}: {value}"
                    for word in forbidden:
                        assert word not in value, f"{table}.{column} holds {word}"
            raw = path.read_bytes()
            for word in forbidden:
                assert word.encode() not in raw, f"{path} holds {word}"
    assert checked > 0


def test_a_second_run_rewrites_the_same_files(lake):
    before = {key: path.read_bytes() for key, path in lake["files"].items()}
    again = json.loads(ravis(lake["data"], "lake"))
    assert again["tables"] == {
        t: {**c, "deleted": 0} for t, c in lake["summary"]["tables"].items()}
    for key, path in lake["files"].items():
        assert path.read_bytes() == before[key], key
