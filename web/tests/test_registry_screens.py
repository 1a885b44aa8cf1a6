"""The registry administrator's partner-file results and past merges, and the data
protection officer's entry list and break-the-glass report, in a real browser against a
real `ravis serve` (the fixtures and the `Flow` of test_browser.py: a screenshot and an
axe-core run per screen)."""

import datetime
import json
import time
import urllib.request
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from test_browser import Flow, birth_date_months_ago


def dev_token(base, roles, organisation):
    """A development token from the server's loopback sign-in (another user of the system)."""
    request = urllib.request.Request(
        base + "/dev/token",
        method="POST",
        data=json.dumps({"roles": roles, "organisation": organisation}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["token"]


def call(base, token, method, path, body=None, headers=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null"), response.headers


def sign_in_as(flow, role, organisation, heading):
    """Signs out (if signed in) and in again as another user, in English."""
    signed_in = flow.d.find_elements(By.XPATH, "//button[normalize-space()='Sign out']")
    if signed_in:
        signed_in[0].click()
    Select(flow.css("#role")).select_by_value(role)
    org = flow.css("#organisation")
    org.clear()
    org.send_keys(organisation)
    flow.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    flow.heading(heading)


def test_registry_administrator_reads_partner_file_errors_and_undoes_an_earlier_merge(
    browser, server, data_dir, artifacts, axe_source
):
    flow = Flow(browser, server, artifacts, axe_source, "registry-intake-and-merges")
    flow.sign_in("registry_administrator", "registry-2")
    # A partner drops a children file with a bad second row into the server's inbox; the
    # server takes it once it has not changed for a second and imports it.
    inbox = Path(data_dir) / "inbox" / "children"
    rows = [
        "personal_code;given_name;family_name;birth_date;sex;gestational_age_weeks;atvk",
        f";Roberts;Kļaviņš;{birth_date_months_ago(20).isoformat()};male;;",
        ";Bad;Date;2024-02-30;male;;",
    ]
    (inbox / "web-kids.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    # An earlier merge, made through the API before the page is opened.
    born = birth_date_months_ago(26).isoformat()
    kept, _ = flow.call_api(
        "POST", "/children", {"given_name": "Anete", "family_name": "Zariņa", "birth_date": born, "sex": "female"}
    )
    twice, _ = flow.call_api(
        "POST", "/children", {"given_name": "Anete", "family_name": "Zariņa", "birth_date": born, "sex": "female"}
    )
    assert twice["possible_duplicate_of"] == [kept["id"]]
    _, headers = flow.call_api("GET", f"/children/{kept['id']}")
    flow.call_api(
        "POST", f"/children/{kept['id']}/merge", {"duplicate": twice["id"], "reason": "Registered twice by the clinic"},
        {"If-Match": headers["ETag"]},
    )

    # Partner files: the job with its counts, newest first (asked again until it is done).
    flow.d.find_element(By.LINK_TEXT, "Partner files").click()
    flow.heading("Partner files")

    def job_row(d):
        for row in d.find_elements(By.CSS_SELECTOR, "#intake-jobs tbody tr"):
            if "inbox/children/web-kids.csv" in row.text:
                return row
        d.find_element(By.XPATH, "//form//button[normalize-space()='Show']").click()
        time.sleep(0.5)
        return False

    row = flow.wait(job_row, "the imported file's job")
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[1:3] == ["children", "completed, rows refused"], cells
    # rows read, added, changed, unchanged, refused
    assert cells[4:] == ["2", "1", "0", "0", "1"], cells
    flow.screen("intake-jobs")
    # The keyboard opens the job: its summary and the refused row, column and reason.
    link = row.find_element(By.TAG_NAME, "a")
    link.send_keys(Keys.ENTER)
    flow.heading("Partner file: inbox/children/web-kids.csv")
    assert flow.active().get_attribute("id") == "page-title"
    errors = flow.css("#row-errors tbody tr")
    cells = [c.text for c in errors.find_elements(By.TAG_NAME, "td")]
    assert cells[:2] == ["2", "birth_date"], cells
    assert "2024-02-30" in cells[2]
    assert len(flow.d.find_elements(By.CSS_SELECTOR, "#row-errors tbody tr")) == 1
    flow.screen("intake-job")
    # Latvian as well.
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Latviski']").click()
    flow.heading("Partnera fails: inbox/children/web-kids.csv")
    assert "Noraidītās rindas" in flow.body_text()
    flow.screen("intake-job-lv")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='English']").click()
    flow.heading("Partner file: inbox/children/web-kids.csv")

    # The merge made before the page was opened is listed and undone (a reason required).
    flow.d.find_element(By.LINK_TEXT, "Possible duplicates").click()
    flow.heading("Possible duplicates")
    undo = f"unmerge-{twice['id']}"
    title = flow.wait(
        lambda d: (t := d.find_element(By.ID, f"{undo}-title")) and "Anete Zariņa" in t.text and t, "the earlier merge"
    )
    assert twice["id"] in title.text
    assert "Registered twice by the clinic" in flow.css(f"#{undo}-title + p").text
    flow.screen("past-merges")
    flow.css(f"#{undo}-submit").click()
    flow.wait(lambda d: "must not be empty" in d.find_element(By.ID, f"{undo}-reason-error").text, "reason refused")
    assert flow.active().get_attribute("id") == f"{undo}-reason"
    flow.keys("Two children: twins with the same name were never registered")
    flow.css(f"#{undo}-submit").click()
    flow.wait(lambda d: "The merge is undone" in d.find_element(By.ID, "unmerge-done").text, "the un-merge")
    # The duplicate is its own record again, flagged as a possible duplicate once more.
    flow.css(f"#merge-{twice['id']}-title")
    assert not flow.d.find_elements(By.ID, f"{undo}-title")
    restored, _ = flow.call_api("GET", f"/children/{twice['id']}")
    assert restored["id"] == twice["id"] and "merged_into" not in restored
    flow.screen("merge-undone")


def test_officer_reads_audit_entries_and_the_break_the_glass_report(browser, server, artifacts, axe_source):
    # A specialist of another organisation breaks the glass for a child registered by a clinic.
    clinic = dev_token(server, ["health_specialist"], "clinic-7")
    child, _ = call(
        server, clinic, "POST", "/children",
        {"given_name": "Elza", "family_name": "Ābola", "birth_date": birth_date_months_ago(18).isoformat(), "sex": "female"},
    )
    stranger = dev_token(server, ["health_specialist"], "hospital-9")
    reason = "Child in the emergency room, parents unreachable"
    call(server, stranger, "POST", f"/children/{child['id']}/break-the-glass", {"reason": reason})
    call(server, stranger, "GET", f"/children/{child['id']}")

    flow = Flow(browser, server, artifacts, axe_source, "dpo-entries-and-break-glass")
    flow.d.get(server + "/")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='English']").click()
    flow.heading("Development sign-in")
    sign_in_as(flow, "data_protection_officer", "dvi", "Audit report")

    # The entry list: a malformed id is refused before anything is sent, then the entries.
    flow.d.find_element(By.LINK_TEXT, "Audit entries").click()
    flow.heading("Audit entries")
    flow.css("#entries-child").send_keys("not-a-child")
    flow.d.find_element(By.XPATH, "//form//button[normalize-space()='Show']").click()
    flow.wait(lambda d: "must be a child id" in d.find_element(By.ID, "entries-child-error").text, "the id refused")
    assert flow.active().get_attribute("id") == "entries-child"
    flow.css("#entries-child").clear()
    flow.css("#entries-child").send_keys(child["id"])
    flow.keys(Keys.ENTER)
    verification = flow.css("#entries-verification")
    # Registered, the glass broken, read under the grant (the officer's read is recorded in
    # the officers' own chain, not the child's).
    assert "The audit chain is intact (3 entries)" in verification.text, verification.text
    entries = flow.d.find_elements(By.CSS_SELECTOR, "#audit-entries tbody tr")
    texts = [e.text for e in entries]
    assert len(texts) == 3, texts
    assert "clinic-7" in texts[0] and "create: child" in texts[0]
    assert "hospital-9" in texts[1] and "create: break the glass" in texts[1] and reason in texts[1]
    assert "hospital-9" in texts[2] and "read: child" in texts[2] and reason in texts[2]
    flow.screen("audit-entries")

    # The break-the-glass report: a period that ends before it starts is refused on the
    # page, then the grant is listed with who, the child and why.
    today = datetime.date.today()
    flow.d.get(f"{server}/#/audit/break-the-glass?from={today.isoformat()}&to={(today - datetime.timedelta(days=1)).isoformat()}")
    flow.heading("Break-the-glass report")
    flow.d.find_element(By.XPATH, "//form//button[normalize-space()='Show']").click()
    flow.wait(lambda d: "must be after from" in d.find_element(By.ID, "btg-to-error").text, "the period refused")
    flow.d.get(f"{server}/#/audit/break-the-glass?from={today.isoformat()}&to={(today + datetime.timedelta(days=1)).isoformat()}")
    flow.heading("Break-the-glass report")
    flow.d.find_element(By.XPATH, "//form//button[normalize-space()='Show']").click()

    def grant_row(d):
        for row in d.find_elements(By.CSS_SELECTOR, "#btg-grants tbody tr"):
            if child["id"] in row.text:
                return row
        return False

    row = flow.wait(grant_row, "the grant")
    assert "hospital-9" in row.text and reason in row.text and "Health specialist" in row.text
    flow.screen("break-the-glass")
    # From the report to the child's entries.
    row.find_element(By.LINK_TEXT, child["id"]).click()
    flow.heading("Audit entries")
    flow.css("#entries-verification")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Latviski']").click()
    flow.heading("Audita ieraksti")
    flow.screen("audit-entries-lv")
