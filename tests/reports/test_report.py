"""`ravis report` end to end, checked from outside (issue #13, "Done when").

Seeds a fresh data directory through `ravis serve`: children across 20 small municipalities
of four regions, each screened with M-CHAT-R during the year and scored by the server's
worker, some at risk referred and started in support. Stops the server, runs
`ravis report --period 2026 --regions FILE --out DIR`, and checks what it wrote:

- the report (one CSV per dataset, indicators.json, targets.csv, the HTML report in both
  languages) and the open-data release (the datasets, codelists.json, metadata.jsonld);
- the release as published, with HiGHS (the audit of `test_disclosure.py`):
  every count of all datasets together, every hierarchy equation rebuilt from the
  published codelists, every hidden cell's interval at least the threshold wide, no free
  count of 1 or 2, decimals hidden whenever a count they come from is;
- the metadata against the DCAT-AP 3.0.1 mandatory shapes (pySHACL);
- no child's name, personal code, RAVIS id or pseudonym in any file.

Run with `scripts/reports-venv.sh test` (RAVIS_BIN: the `ravis` binary).
"""

import csv
import datetime
import json
import re
import time
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import Graph

from test_disclosure import DIMENSIONS, TOLERANCE, Audit, equations
from test_lake import ravis, serving, token

HERE = Path(__file__).parent
REGIONS = {f"R{r}": [f"00{20 + r * 5 + i:02d}000" for i in range(5)] for r in range(4)}
PER_MUNICIPALITY = 30
DATASETS = ["screening", "support", "sdq15"]


def answers(at_risk):
    """M-CHAT-R answers with `at_risk` items failed ("no" fails, except items 2, 5, 12)."""
    return {str(i): int((i <= at_risk) == (i in (2, 5, 12))) for i in range(1, 21)}


def seed(api, admin, nurse, provider):
    for org, kind in [("clinic", "health_practice"), ("provider", "programme_provider")]:
        api.ok("POST", "/organisations", admin,
               {"id": org, "kind": kind, "name": org, "atvk": "0001000"})
    today = datetime.date.today()
    start = datetime.date(today.year, 1, 1)
    span = (today - start).days
    screenings, at_risk_children = [], []
    n = 0
    for municipalities in REGIONS.values():
        for m in municipalities:
            for _ in range(PER_MUNICIPALITY):
                n += 1
                on = start + datetime.timedelta(days=(n * 37) % span)
                birth = on - datetime.timedelta(days=30 * (18 + n % 10))
                _, child = api.ok("POST", "/children", nurse, {
                    "given_name": "Līga", "family_name": "Kalniņa", "birth_date": birth.isoformat(),
                    "sex": "female" if n % 2 else "male", "atvk": m})
                risk = [0, 1, 4, 9, 0][n % 5]
                _, s = api.ok("POST", "/screenings", nurse, {
                    "child_id": child["id"], "instrument": "mchat-r", "answers": answers(risk),
                    "administered_on": on.isoformat()})
                screenings.append(s["id"])
                if risk >= 8:
                    at_risk_children.append(child["id"])
    deadline = time.monotonic() + 300
    for screening in screenings:
        while api.ok("GET", f"/screenings/{screening}", nurse)[1].get("result") is None:
            assert time.monotonic() < deadline, f"screening {screening} was not scored"
            time.sleep(0.05)
    for child in at_risk_children[::2]:
        etag, referral = api.ok("POST", "/referrals", nurse, {
            "child_id": child, "basis": {"reason": {"text": "M-CHAT-R high"}},
            "programme": "early-intervention-psychomotor", "provider_org": "provider",
            "urgency": "soon", "family_agreement": "agreed"})
        for token, state in [(nurse, "sent"), (provider, "accepted"), (provider, "started")]:
            etag, _ = api.ok("POST", f"/referrals/{referral['id']}/transitions", token,
                             {"to": state}, etag)
    return n


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    data = tmp_path_factory.mktemp("ravis-report-data")
    with serving(data, "serve-report.log") as api:
        children = seed(api, token(data, "registry_administrator", "ravis"),
                        token(data, "health_specialist", "clinic"),
                        token(data, "programme_provider", "provider"))
    regions = data.parent / "regions.csv"
    regions.write_text("municipality,region,region_name\n" + "".join(
        f"{m},{r},Region {r}\n" for r, ms in REGIONS.items() for m in ms))
    out = data.parent / "out"
    year = str(datetime.date.today().year)
    done = json.loads(ravis(data, "report", "--period", year, "--regions", str(regions),
                            "--out", str(out)))
    return {"done": done, "out": out, "year": year, "children": children}


def read_datasets(directory):
    """Every row of the release's datasets: {key: (value text, status)}, and the codelists."""
    rows = {}
    for name in DATASETS:
        with open(directory / f"{name}.csv", newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == [
                "period", "atvk", "territory_level", "age_band", "sex", "instrument",
                "indicator", "value", "conf_status"]
            for row in reader:
                key = tuple(row[d] for d in DIMENSIONS)
                assert key not in rows, key
                assert row["conf_status"] in ("F", "A", "C"), row
                assert (row["value"] == "") == (row["conf_status"] != "F"), row
                rows[key] = (row["value"], row["conf_status"])
    codelists = json.loads((directory / "codelists.json").read_text())
    return rows, codelists


def test_the_report_and_the_release_are_written(report):
    done, out, year = report["done"], report["out"], report["year"]
    assert done["state"] == "done" and done["open_data"] is True
    files = sorted(p.name for p in (out / "reports" / done["id"]).iterdir())
    assert files == sorted(done["files"])
    for name in ["indicators.json", "report.en.html", "report.lv.html", "targets.csv",
                 *(f"{d}.csv" for d in DATASETS)]:
        assert name in files, name
    release = sorted(p.name for p in (out / "open-data" / year).iterdir())
    assert release == sorted(["codelists.json", "metadata.jsonld", *(f"{d}.csv" for d in DATASETS)])
    rows, codelists = read_datasets(out / "open-data" / year)
    latvia = rows[(year, "LV", "total", "total", "total", "screenings")]
    assert latvia == (str(report["children"]), "F"), "every screening counted in Latvia"
    html = (out / "reports" / done["id"] / "report.en.html").read_text()
    assert "<svg" in html and "<script" not in html


def test_every_hidden_cell_keeps_an_interval_of_the_threshold(report):
    rows, codelists = read_datasets(report["out"] / "open-data" / report["year"])
    threshold = codelists["threshold"]
    decimals = set(codelists["decimal_indicators"])
    cells = {}
    for key, (value, status) in rows.items():
        if key[5] in decimals:
            continue
        cells[key] = (int(value) if status == "F" else None, status)
        if status == "F":
            assert not (0 < int(value) < threshold), f"{key} = {value} is published"
    lists = {d: codelists[d] for d in DIMENSIONS}
    hidden = [k for k, (_, s) in cells.items() if s != "F"]
    assert any(s == "A" for _, s in cells.values()), "small territories have small counts"
    assert any(s == "C" for _, s in cells.values())
    published = {k: v for k, (v, s) in cells.items() if s == "F"}
    for parent, kids in equations(cells, lists):
        if parent in published and all(k in published for k in kids):
            assert published[parent] == sum(published[k] for k in kids), (parent, kids)
    intervals = Audit(cells, lists).intervals()
    assert set(intervals) == set(hidden)
    narrow = {k: i for k, i in intervals.items() if i[1] - i[0] < threshold - TOLERANCE}
    assert not narrow, f"{len(narrow)} hidden cells recoverable, e.g. {list(narrow.items())[:3]}"


def test_decimals_are_hidden_with_their_counts(report):
    rows, codelists = read_datasets(report["out"] / "open-data" / report["year"])
    shares = [(k, v) for k, v in rows.items() if k[5] == "share_high_or_urgent"]
    assert shares
    for key, (value, status) in shares:
        inputs = [key[:5] + (i,) for i in
                  ("screenings", "screenings_risk_high", "screenings_risk_urgent")]
        if any(rows[i][1] != "F" for i in inputs if i in rows):
            assert status == "C" and value == "", key
        else:
            assert status == "F" and 0 <= float(value) <= 1, key


def test_the_metadata_has_every_mandatory_property(report):
    data = Graph().parse(report["out"] / "open-data" / report["year"] / "metadata.jsonld",
                         format="json-ld")
    shapes = Graph().parse(HERE / "dcat-ap-3.0.1-mandatory.ttl", format="turtle")
    conforms, _, text = validate(data, shacl_graph=shapes)
    assert conforms, text


def test_no_file_names_a_child(report):
    out = report["out"]
    pseudonym = re.compile(r"[0-9a-f]{64}")
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        assert "Kalniņa" not in text and "Līga" not in text, path
        assert not pseudonym.search(text), path
        ids = set(uuid.findall(text)) - {report["done"]["id"]}
        assert not ids, f"{path}: {ids}"
