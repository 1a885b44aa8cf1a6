"""The referral steps the other flows do not take, through the referral page's step buttons —
withdraw (referring side), decline, start linking an existing episode, complete and end
(provider) — and changing a support episode (its review date) through a 412. The referrals
and episodes are set up through the API; the browser is used for what is under test."""

import datetime
import json
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from test_browser import Flow, birth_date_months_ago

PROGRAMME = "early-intervention-psychomotor"
PROVIDER = "dev-provider"


class Api:
    """The public API as one development user (a token from the development sign-in)."""

    def __init__(self, base, role, organisation):
        self.base = base
        request = urllib.request.Request(
            base + "/dev/token", data=json.dumps({"roles": [role], "organisation": organisation}).encode(),
            headers={"Content-Type": "application/json"})
        self.token = json.loads(urllib.request.urlopen(request, timeout=10).read())["token"]

    def __call__(self, method, path, body=None, headers=None):
        request = urllib.request.Request(
            self.base + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null"), response.headers

    def step(self, referral_id, to, **fields):
        _, headers = self("GET", f"/referrals/{referral_id}")
        return self("POST", f"/referrals/{referral_id}/transitions", {"to": to, **fields}, {"If-Match": headers["ETag"]})[0]


def en_date(d):
    """A date as the client shows it in English (en-GB, medium)."""
    return f"{d.day} {d.strftime('%b')} {d.year}"


def sign_in_form(flow, role, organisation):
    flow.heading("Development sign-in")
    Select(flow.css("#role")).select_by_value(role)
    org = flow.css("#organisation")
    org.clear()
    org.send_keys(organisation)
    flow.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    flow.heading("Worklist")


def switch_user(flow, role, organisation):
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    sign_in_form(flow, role, organisation)


def open_referral(flow, referral_id):
    flow.d.get(f"{flow.base}/#/referrals/{referral_id}")
    flow.heading(f"Referral: {PROGRAMME}")


def take_step(flow, step, state):
    flow.css("#step-confirm").click()
    flow.wait(lambda d: d.find_element(By.ID, "referral-state").text == state, state)
    assert f"the referral is now {state}" in flow.css("#step-done").text
    assert not flow.d.find_elements(By.ID, f"step-button-{step}")


def test_withdraw_decline_start_with_an_episode_complete_end_and_edit_the_episode(
    browser, server, artifacts, axe_source
):
    today = datetime.date.today()
    clinic = Api(server, "health_specialist", "clinic-5")
    provider = Api(server, "programme_provider", PROVIDER)
    child, _ = clinic("POST", "/children", {
        "given_name": "Roberts", "family_name": "Krūmiņš", "birth_date": birth_date_months_ago(26).isoformat(), "sex": "male"})
    refs = {}
    for name in ("withdraw", "decline", "complete", "end"):
        refs[name], _ = clinic("POST", "/referrals", {
            "child_id": child["id"], "programme": PROGRAMME, "provider_org": PROVIDER,
            "basis": {"reason": {"text": f"to {name}"}}})
    for name in ("decline", "complete", "end"):
        rid = refs[name]["id"]
        _, headers = clinic("GET", f"/referrals/{rid}")
        clinic("PUT", f"/referrals/{rid}/family-agreement", {"status": "agreed"}, {"If-Match": headers["ETag"]})
        clinic.step(rid, "sent")
    for name in ("complete", "end"):
        provider.step(refs[name]["id"], "accepted")
    provider.step(refs["end"]["id"], "started")
    # Support the provider recorded before the referral: the start links it.
    episode, _ = provider("POST", "/support-episodes", {
        "child_id": child["id"], "programme": PROGRAMME, "provider_org": PROVIDER,
        "referral_date": (today - datetime.timedelta(days=10)).isoformat(), "referral_source": {"text": "family asked"},
        "start_date": (today - datetime.timedelta(days=5)).isoformat()})

    # The referring side withdraws a proposed referral; the reason is required (the API's words
    # next to the field).
    flow = Flow(browser, server, artifacts, axe_source, "care-steps")
    # The sign-in page is checked by the other flows: signed in without screenshots here.
    flow.d.get(server + "/")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='English']").click()
    sign_in_form(flow, "health_specialist", "clinic-5")
    open_referral(flow, refs["withdraw"]["id"])
    flow.css("#step-button-withdrawn").click()
    assert flow.wait(lambda d: flow.active().get_attribute("id") == "step-reason", "focus on the reason")
    flow.css("#step-confirm").click()
    flow.wait(lambda d: d.find_element(By.ID, "step-reason-error").text.strip() != "", "the reason refused")
    assert flow.css("#step-reason").get_attribute("aria-invalid") == "true"
    flow.screen("withdraw-refused")
    flow.css("#step-reason").send_keys("The family moved to another region")
    take_step(flow, "withdrawn", "withdrawn")
    assert "The family moved to another region" in flow.body_text()  # in the history

    # The provider declines one (reason), starts another linking its episode, completes it
    # (outcome) and ends the third (reason, why, outcome).
    switch_user(flow, "programme_provider", PROVIDER)
    open_referral(flow, refs["decline"]["id"])
    flow.css("#step-button-declined").click()
    flow.css("#step-reason").send_keys("No places this term")
    take_step(flow, "declined", "declined")
    assert "No places this term" in flow.css("#referral-details").text

    open_referral(flow, refs["complete"]["id"])
    start = flow.css("#step-button-started")
    assert not flow.d.find_elements(By.ID, "step-done")  # the other referral's step is not this one's
    start.click()
    # The open episode without a referral is offered, and the form starts there.
    assert flow.wait(lambda d: flow.active().get_attribute("id") == "step-episode_id", "focus on the episode")
    Select(flow.css("#step-episode_id")).select_by_value(episode["id"])
    assert not flow.d.find_elements(By.ID, "step-date")  # a linked episode keeps its own dates
    flow.screen("start-linking")
    take_step(flow, "started", "support started")
    linked, _ = provider("GET", f"/referrals/{refs['complete']['id']}")
    assert linked["episode_id"] == episode["id"]

    # Changing the episode: a value outside the API's rules is refused before sending, in its
    # words; a colleague's change meanwhile is a 412, after which the typed review date stays
    # and the colleague's planned end is taken in.
    # The episode's review is on the provider's worklist, linked to the episode's page.
    flow.d.find_element(By.LINK_TEXT, "Worklist").click()
    flow.heading("Worklist")
    review = flow.css(f"a[href='#/support-episodes/{episode['id']}/edit']")
    assert "Support review" in review.find_element(By.XPATH, "./ancestor::tr").text
    flow.d.get(f"{server}/#/children/{child['id']}")
    flow.heading("Roberts Krūmiņš")
    row = flow.css(f"#episode-{episode['id']}")
    row.find_element(By.PARTIAL_LINK_TEXT, "Change the episode").click()
    flow.heading(f"Support episode: {PROGRAMME} at {PROVIDER}")
    planned = today + datetime.timedelta(days=90)
    current, headers = provider("GET", f"/support-episodes/{episode['id']}")
    changed = {k: current.get(k) for k in ("programme", "provider_org", "referral_date", "referral_source", "start_date")}
    provider("PUT", f"/support-episodes/{episode['id']}", {**changed, "planned_end_date": planned.isoformat()},
             {"If-Match": headers["ETag"]})
    Select(flow.css("#episode-outcome")).select_by_value("goals_met")
    flow.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert "is only given with end_date" in flow.css("#episode-outcome-error").text
    assert flow.active().get_attribute("id") == "episode-outcome"
    flow.screen("episode-refused")
    Select(flow.css("#episode-outcome")).select_by_value("")
    flow.css("#episode-last_review_on").send_keys(today.strftime("%m%d%Y"))
    flow.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # (The earlier refusal's alert may still be on the page until the answer comes.)
    flow.wait(lambda d: "Someone changed this record after you opened it" in d.find_element(By.CSS_SELECTOR, "main").text,
              "the 412 in words")
    assert flow.css("#episode-last_review_on").get_attribute("value") == today.isoformat()
    flow.screen("episode-conflict")
    flow.css("#use-latest").click()
    flow.css("#latest-version")
    assert flow.css("#episode-last_review_on").get_attribute("value") == today.isoformat()
    assert flow.css("#episode-planned_end_date").get_attribute("value") == planned.isoformat()
    flow.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    flow.heading("Roberts Krūmiņš")
    row = flow.css(f"#episode-{episode['id']}").text
    assert en_date(today) in row and en_date(planned) in row, row
    saved, _ = provider("GET", f"/support-episodes/{episode['id']}")
    assert (saved["last_review_on"], saved["planned_end_date"]) == (today.isoformat(), planned.isoformat())
    flow.screen("episode-saved")

    open_referral(flow, refs["complete"]["id"])
    flow.css("#step-button-completed").click()
    Select(flow.css("#step-outcome")).select_by_value("goals_met")
    take_step(flow, "completed", "completed")
    assert "goals met" in flow.css("#referral-details").text

    open_referral(flow, refs["end"]["id"])
    flow.css("#step-button-ended").click()
    flow.css("#step-reason").send_keys("The family chose another provider")
    Select(flow.css("#step-end_reason")).select_by_value("family_withdrew")
    Select(flow.css("#step-outcome")).select_by_value("partly_met")
    flow.screen("end")
    take_step(flow, "ended", "ended")
    details = flow.css("#referral-details").text
    assert "goals partly met" in details and "the family withdrew" in details

    # Both episodes are closed on the child page, with their outcomes.
    flow.d.find_element(By.LINK_TEXT, "The child's page").click()
    flow.heading("Roberts Krūmiņš")
    rows = flow.d.find_elements(By.CSS_SELECTOR, "#child-episodes tbody tr")
    assert len(rows) == 2
    text = "\n".join(r.text for r in rows)
    assert "goals met (completed)" in text and "goals partly met (the family withdrew)" in text
    flow.screen("episodes-closed")
