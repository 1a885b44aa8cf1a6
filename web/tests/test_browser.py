"""The web client in a real browser against a real `ravis serve`: sign in, register a
child, fill an M-CHAT-R form with the keyboard only, see the scored result, find the
follow-up on the worklist, refer to a programme — as a health specialist, and as an
education specialist, who must never receive the child's personal code. Every screen is
screenshotted (artefacts) and checked with axe-core (no serious or critical violation)."""

import datetime
import json
import os
import subprocess
import urllib.request
from pathlib import Path

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_SECS = 30
ROOT = Path(__file__).resolve().parents[2]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# M-CHAT-R: 0 = no, 1 = yes; "no" is at risk except items 2, 5 and 12. Items 1, 3, 4 and 6
# at risk: total 4, medium risk → the Follow-Up interview within 14 days.
ANSWERS = {str(i): 1 for i in range(1, 21)}
ANSWERS.update({"1": 0, "3": 0, "4": 0, "6": 0, "2": 0, "5": 0, "12": 0})


def birth_date_months_ago(months):
    today = datetime.date.today()
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    return datetime.date(year, month + 1, min(today.day, 28))


class Flow:
    """One user's walk through the client, with a screenshot and an axe run per screen."""

    def __init__(self, driver, base, artifacts, axe_source, name):
        self.d = driver
        self.base = base
        self.dir = artifacts / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.axe_source = axe_source
        self.shots = 0
        self.pages = []
        self.after_registration = 0

    def wait(self, condition, what):
        # The client re-renders: an element found a moment ago may be replaced.
        return WebDriverWait(
            self.d, WAIT_SECS, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
        ).until(condition, message=f"waiting for {what}")

    def css(self, selector):
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, selector), selector)

    def heading(self, text):
        self.wait(lambda d: text in d.find_element(By.CSS_SELECTOR, "h1").text, f"heading {text!r}")

    def body_text(self):
        return self.d.find_element(By.TAG_NAME, "body").text

    def keys(self, *keys):
        ActionChains(self.d).send_keys(*keys).perform()

    def active(self):
        return self.d.switch_to.active_element

    def screen(self, name):
        """Screenshot, page text for later checks, and axe-core: no serious/critical violation."""
        self.shots += 1
        self.d.save_screenshot(str(self.dir / f"{self.shots:02d}-{name}.png"))
        self.pages.append(self.d.page_source)
        self.d.execute_script(self.axe_source)
        violations = self.d.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})
              .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                      nodes: v.nodes.map(n => n.target.join(' '))}))))
              .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
            """,
            AXE_TAGS,
        )
        (self.dir / f"{self.shots:02d}-{name}.axe.json").write_text(json.dumps(violations, indent=1))
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert bad == [], f"axe on {name}: {bad}"
        # Nothing the page did was blocked by its Content Security Policy, and no script failed.
        console = [e for e in self.d.get_log("browser") if e["level"] == "SEVERE"]
        blocked = [e for e in console if "Content Security Policy" in e["message"] or "Uncaught" in e["message"]]
        assert blocked == [], f"console on {name}: {blocked}"

    def sign_in(self, role, organisation):
        self.d.get(self.base + "/")
        self.heading("Izstrādes pieteikšanās")  # Latvian by default
        self.screen("sign-in-lv")
        self.d.find_element(By.XPATH, "//button[normalize-space()='English']").click()
        self.heading("Development sign-in")
        Select(self.css("#role")).select_by_value(role)
        org = self.css("#organisation")
        org.clear()
        org.send_keys(organisation)
        self.screen("sign-in-en")
        self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.heading("Worklist")
        self.screen("worklist-empty")

    def register_child(self, code, given, family, birth_date):
        self.d.find_element(By.LINK_TEXT, "Children").click()
        self.heading("Children")
        self.screen("children")
        self.d.find_element(By.LINK_TEXT, "Register a child").click()
        self.heading("Register a child")
        # Bad input is refused in the browser, in the API's words, before anything is sent.
        self.css("#personal_code").send_keys("12345")
        self.css("#given_name").send_keys(given)
        self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.wait(
            lambda d: "a personal code has 11 digits" in d.find_element(By.ID, "personal_code-error").text,
            "the personal code refused",
        )
        assert "must not be empty" in self.d.find_element(By.ID, "family_name-error").text
        assert self.d.find_element(By.ID, "personal_code").get_attribute("aria-invalid") == "true"
        self.screen("register-refused")
        code_input = self.d.find_element(By.ID, "personal_code")
        code_input.clear()
        code_input.send_keys(code)
        self.d.find_element(By.ID, "family_name").send_keys(family)
        # Chromium's date field takes the digits in the browser's locale order (--lang=en-US).
        self.d.find_element(By.ID, "birth_date").send_keys(birth_date.strftime("%m%d%Y"))
        Select(self.d.find_element(By.ID, "sex")).select_by_value("female")
        self.screen("register-filled")
        self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.heading(f"{given} {family}")
        # Pages from here on never held what the user typed into the registration form.
        self.after_registration = len(self.pages)
        self.screen("child")
        return self.d.current_url.split("#/children/")[1]

    def screen_mchat(self):
        Select(self.css("#instrument")).select_by_value("mchat-r")
        self.d.find_element(By.XPATH, "//form//button[normalize-space()='Start']").click()
        self.css("#wording-notice")
        assert "no wording pack has been loaded" in self.body_text()
        self.screen("mchat-form")
        # From here on only the keyboard: the page's heading has the focus.
        assert self.active().tag_name == "h1"

        def tab_to(name):
            for _ in range(12):
                self.keys(Keys.TAB)
                if self.active().get_attribute("name") == name:
                    return
            raise AssertionError(f"Tab never reached {name}")

        def answer(item):
            tab_to(f"item-{item}")
            # The first option ("no", 0) has the focus: Space picks it, → moves to and picks "yes".
            self.keys(Keys.SPACE if ANSWERS[item] == 0 else Keys.ARROW_RIGHT)

        for item in map(str, range(1, 20)):
            answer(item)
        # Item 20 left out: the form refuses and says which, before anything is sent.
        self.keys(Keys.TAB, Keys.TAB)
        assert self.active().get_attribute("type") == "submit"
        self.keys(Keys.ENTER)
        self.wait(lambda d: "Unanswered: 20" in d.find_element(By.CSS_SELECTOR, "[role=alert]").text, "missing item named")
        assert "not answered" in self.d.find_element(By.ID, "item-20-error").text
        assert "#/children/" in self.d.current_url, "nothing was submitted"
        self.screen("mchat-missing")
        # The focus went to the first unanswered item; no typed answer was lost.
        assert self.active().get_attribute("name") == "item-20"
        checked = self.d.execute_script(
            "return [...document.querySelectorAll('input[type=radio]:checked')].map(r => [r.name, r.value])"
        )
        assert len(checked) == 19
        self.keys(Keys.SPACE if ANSWERS["20"] == 0 else Keys.ARROW_RIGHT)
        self.keys(Keys.TAB)
        assert self.active().get_attribute("type") == "submit"
        self.screen("mchat-complete")
        self.keys(Keys.ENTER)
        self.wait(lambda d: "#/screenings/" in d.current_url, "the result page")
        self.css("#result")
        self.screen("result")
        return self.d.current_url.split("#/screenings/")[1]

    def follow_up_on_worklist(self, given):
        self.d.find_element(By.LINK_TEXT, "Worklist").click()
        self.heading("Worklist")
        self.wait(lambda d: "Follow-up interview" in self.body_text(), "the follow-up on the worklist")
        row = self.d.find_element(By.XPATH, f"//tr[td[contains(., '{given}')]]")
        assert "Follow-up interview" in row.text and "mchat-r" in row.text
        self.screen("worklist-follow-up")
        row.find_element(By.TAG_NAME, "a").click()

    def refer(self, given, family):
        self.heading(f"{given} {family}")
        self.d.find_element(By.LINK_TEXT, "Refer to a programme").click()
        self.heading(f"Refer to a programme: {given} {family}")
        Select(self.css("#programme")).select_by_value("early-intervention-psychomotor")
        Select(self.css("#provider_org")).select_by_value("dev-provider")
        self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        # The reason is required for a referral of the specialist's choice.
        self.wait(lambda d: "must not be empty" in d.find_element(By.ID, "reason-error").text, "reason refused")
        self.css("#reason").send_keys("Medium risk on M-CHAT-R; parents ask for support")
        self.screen("refer")
        self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        created = self.css("#referral-created")
        assert "proposed" in created.text and "dev-provider" in created.text
        self.screen("referral-created")
        self.d.find_element(By.LINK_TEXT, "Worklist").click()
        self.wait(lambda d: "Referral to send" in self.body_text(), "the referral on the worklist")
        self.screen("worklist-referral")

    def call_api(self, method, path, body=None, headers=None):
        """The public API with this browser's token (another user's concurrent change)."""
        token = self.d.execute_script("return JSON.parse(sessionStorage.getItem('ravis.session')).token")
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null"), response.headers

    def edit_after_a_concurrent_change(self, child_id, given, family):
        """A 412 is shown in words, the typed value survives, and saving again works."""
        self.d.get(f"{self.base}/#/children/{child_id}")
        self.heading(f"{given} {family}")
        self.d.find_element(By.LINK_TEXT, "Change details").click()
        self.heading(f"Change details: {given} {family}")
        field = self.css("#family_name")
        field.clear()
        field.send_keys(f"{family}-Kalniņa")
        # Meanwhile someone else changes the record.
        child, headers = self.call_api("GET", f"/children/{child_id}")
        changed = {k: child.get(k) for k in ("given_name", "family_name", "birth_date", "sex", "atvk")}
        changed["atvk"] = "0001000"
        self.call_api("PUT", f"/children/{child_id}", changed, {"If-Match": headers["ETag"]})
        self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        alert = self.wait(lambda d: d.find_element(By.CSS_SELECTOR, "[role=alert]"), "the 412 in words")
        assert "Someone changed this record after you opened it" in alert.text
        assert self.d.find_element(By.ID, "family_name").get_attribute("value") == f"{family}-Kalniņa"
        self.screen("edit-conflict")
        self.d.find_element(By.ID, "use-latest").click()
        self.css("#latest-version")
        # The user's change stays; the other user's change is taken in.
        assert self.d.find_element(By.ID, "family_name").get_attribute("value") == f"{family}-Kalniņa"
        assert self.d.find_element(By.ID, "atvk").get_attribute("value") == "0001000"
        self.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.heading(f"{given} {family}-Kalniņa")
        assert "0001000" in self.body_text()
        self.screen("edited")

    def api_responses(self):
        """Every response of the server to this browser: (url, headers, body)."""
        out = []
        for entry in self.d.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] != "Network.responseReceived":
                continue
            response = message["params"]["response"]
            if not response["url"].startswith(self.base):
                continue
            try:
                body = self.d.execute_cdp_cmd("Network.getResponseBody", {"requestId": message["params"]["requestId"]})
                text = body.get("body", "")
            except Exception as e:  # noqa: BLE001 - a body the browser no longer holds
                text = f"<unavailable: {e}>"
            out.append((response["url"], json.dumps(response.get("headers", {})), text))
        return out


def run(browser, server, artifacts, axe_source, name, role, org, code, given, family):
    flow = Flow(browser, server, artifacts, axe_source, name)
    flow.sign_in(role, org)
    child_id = flow.register_child(code, given, family, birth_date_months_ago(20))
    flow.screen_mchat()
    result = flow.body_text()
    flow.follow_up_on_worklist(given)
    flow.refer(given, family)
    return flow, child_id, result


# ---------------------------------------------------------------- item wording packs
# (issue #16) Kept apart from the flows above: a pack loaded by the operator command into the
# server's data directory is shown on the form, with its source; the language without a pack
# says why. Uses the SDQ parent form, so the M-CHAT-R flows above still have no pack.


def wording_pack(instrument, language):
    """A pack of invented placeholder wording (never an instrument's licensed text)."""
    definition = json.loads((ROOT / "shared" / "instruments" / f"{instrument}.json").read_text())
    return {
        "instrument": definition["id"],
        "versions": [definition["version"]],
        "language": language,
        "source": "Invented test wording (RAVIS browser suite)",
        "licence": "Test data, no licence needed",
        "items": {item["id"]: f"Test wording of item {item['id']}" for item in definition["items"]},
        "option_labels": {
            name: [f"Option {code}" for code in range(len(coding["scores"]))]
            for name, coding in definition["codings"].items()
        },
    }


def ravis_wording(data_dir, tmp_path, pack, name):
    path = tmp_path / name
    path.write_text(json.dumps(pack))
    return subprocess.run(
        [os.environ["RAVIS_BIN"], "--data-dir", data_dir, "wording", "load", str(path)],
        capture_output=True, text=True, timeout=60,
    )


def test_the_form_shows_a_loaded_wording_pack(browser, server, data_dir, artifacts, axe_source, tmp_path):
    # A bad pack is refused by the operator command, each problem named by its field.
    bad = wording_pack("sdq-parent-4-17", "en")
    bad["language"] = "de"
    del bad["items"]["7"]
    refused = ravis_wording(data_dir, tmp_path, bad, "bad.json")
    assert refused.returncode != 0
    assert "language: 'de' is not one of lv, en" in refused.stderr
    assert "items.7: missing" in refused.stderr
    loaded = ravis_wording(data_dir, tmp_path, wording_pack("sdq-parent-4-17", "en"), "sdq.en.json")
    assert loaded.returncode == 0, loaded.stderr
    # A child registered through the API; the form is opened by its address.
    token = json.loads(urllib.request.urlopen(urllib.request.Request(
        server + "/dev/token", data=json.dumps({"roles": ["health_specialist"], "organisation": "clinic-w"}).encode(),
        headers={"Content-Type": "application/json"})).read())["token"]
    child = json.loads(urllib.request.urlopen(urllib.request.Request(
        server + "/children", data=json.dumps({
            "given_name": "Vārds", "family_name": "Teksts", "birth_date": birth_date_months_ago(60).isoformat(),
            "sex": "male", "atvk": "0001000"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})).read())
    flow = Flow(browser, server, artifacts, axe_source, "wording")
    flow.sign_in("health_specialist", "clinic-w")
    flow.d.get(f"{server}/#/children/{child['id']}/screen/sdq-parent-4-17")
    flow.css("#wording-source")
    flow.wait(lambda d: "Test wording of item 7" in flow.body_text(), "the item wording")
    text = flow.body_text()
    assert "Invented test wording (RAVIS browser suite)" in text and "Test data, no licence needed" in text
    assert "Option 2 (2)" in text  # the pack's option labels
    assert not flow.d.find_elements(By.ID, "wording-notice")
    legend = flow.d.find_element(By.XPATH, "//fieldset[.//input[@name='item-7']]/legend").text
    assert "Test wording of item 7" in legend  # the radio group's name carries the wording
    flow.screen("wording-en")
    # Latvian has no pack: the form refetches, words nothing and says why.
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Latviski']").click()
    flow.css("#wording-notice")
    flow.wait(lambda d: "nav ielādējis tekstu pakotni" in flow.body_text(), "the Latvian notice")
    assert "Test wording of item 7" not in flow.body_text()
    flow.screen("wording-lv-none")


def test_health_specialist_screens_and_refers(browser, server, artifacts, axe_source):
    code = "32579461005"
    flow, child_id, result = run(
        browser, server, artifacts, axe_source, "health-specialist", "health_specialist", "clinic-1",
        code, "Anna", "Bērziņa",
    )
    flow.edit_after_a_concurrent_change(child_id, "Anna", "Bērziņa")
    assert "Risk: medium" in result
    assert "total: 4 (medium_risk)" in result
    assert "Total 3-7, medium risk" in result  # the explanation
    assert "Follow-up interview" in result
    # The clinical role sees the code: the absence check below is not vacuous.
    responses = flow.api_responses()
    assert any(code in body for _, _, body in responses)
    assert any(code in page for page in flow.pages)
    assert any(f"/children/{child_id}" in url for url, _, _ in responses)


def test_education_specialist_never_receives_the_personal_code(browser, server, artifacts, axe_source):
    code = "32687452019"
    flow, child_id, result = run(
        browser, server, artifacts, axe_source, "education-specialist", "education_specialist", "preschool-1",
        code, "Jānis", "Ozols",
    )
    # The support summary: whether support is needed and what to do, no scores.
    assert "Needs support: yes" in result
    assert "Follow-up interview" in result
    assert "medium_risk" not in result and "Scores" not in result
    assert len(flow.pages) - flow.after_registration >= 8
    for page in flow.pages[flow.after_registration :]:
        assert code not in page
    responses = flow.api_responses()
    assert any(f"/children/{child_id}" in url for url, _, _ in responses)
    assert len(responses) > 10
    for url, headers, body in responses:
        assert code not in body, url
        assert code not in headers, url
        assert "<unavailable" not in body, url


def test_registry_administrator_merges_a_duplicate_and_the_officer_reads_the_trail(
    browser, server, artifacts, axe_source
):
    flow = Flow(browser, server, artifacts, axe_source, "registry-and-dpo")
    flow.sign_in("registry_administrator", "registry-1")
    born = birth_date_months_ago(30).isoformat()
    first, _ = flow.call_api(
        "POST", "/children",
        {"personal_code": "32914567012", "given_name": "Līga", "family_name": "Kalna", "birth_date": born, "sex": "female"},
    )
    # The same child registered again without a code: flagged as a possible duplicate.
    second, _ = flow.call_api(
        "POST", "/children", {"given_name": "Līga", "family_name": "Kalna", "birth_date": born, "sex": "female"}
    )
    assert second["possible_duplicate_of"] == [first["id"]]
    other, _ = flow.call_api(
        "POST", "/children", {"given_name": "Ilze", "family_name": "Priede", "birth_date": born, "sex": "female"}
    )
    flow.call_api("GET", f"/children/{other['id']}")
    flow.d.find_element(By.LINK_TEXT, "Possible duplicates").click()
    flow.heading("Possible duplicates")
    card = flow.css(f"#merge-{second['id']}-title")
    assert "Līga Kalna" in card.text
    assert first["id"] in flow.css(f"#merge-{second['id']}-survivor").get_attribute("value")
    flow.screen("duplicates")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Merge']").click()
    flow.wait(lambda d: "must not be empty" in d.find_element(By.ID, f"merge-{second['id']}-reason-error").text, "reason refused")
    flow.css(f"#merge-{second['id']}-reason").send_keys("Registered twice: once with the code, once by the clinic")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Merge']").click()
    flow.wait(lambda d: "No child is flagged as a possible duplicate." in flow.body_text(), "the merge")
    flow.screen("merged")
    # The merge can be undone from the same page (a reason is required); the flag is back.
    # Listed among the merges in effect, it takes the focus.
    undo = f"unmerge-{second['id']}"
    flow.wait(lambda d: flow.active().get_attribute("id") == f"{undo}-title", "focus on the merge")
    flow.css(f"#{undo}-submit").click()
    flow.wait(lambda d: "must not be empty" in d.find_element(By.ID, f"{undo}-reason-error").text, "reason refused")
    flow.css(f"#{undo}-reason").send_keys("Merged by mistake")
    flow.css(f"#{undo}-submit").click()
    flow.wait(lambda d: "The merge is undone" in d.find_element(By.ID, "unmerge-done").text, "the un-merge")
    flow.css(f"#merge-{second['id']}-title")
    flow.screen("unmerged")
    flow.css(f"#merge-{second['id']}-reason").send_keys("Registered twice, checked with the family")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Merge']").click()
    flow.wait(lambda d: "No child is flagged as a possible duplicate." in flow.body_text(), "the merge again")
    merged, _ = flow.call_api("GET", f"/children/{first['id']}")
    assert merged["personal_code"] == "32914567012"

    # The data protection officer sees who touched the survivor's data, and the chain is intact.
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    Select(flow.css("#role")).select_by_value("data_protection_officer")
    org = flow.css("#organisation")
    org.clear()
    org.send_keys("dvi")
    flow.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    flow.heading("Audit report")
    assert not flow.d.find_elements(By.LINK_TEXT, "Worklist")
    flow.css("#audit-child").send_keys(other["id"])
    flow.d.find_element(By.XPATH, "//form//button[normalize-space()='Show']").click()
    verification = flow.css("#audit-verification")
    assert "The audit chain is intact (2 entries)" in verification.text
    row = flow.css("#audit-accesses tbody tr").text
    assert "registry-1" in row and "Registry administrator" in row
    # reads, writes, refused, break the glass
    assert row.endswith("1 1 0 0"), row
    flow.screen("audit-report")


def test_child_history_and_referral_steps(browser, server, artifacts, axe_source):
    """Three screenings → the score chart has three points and the screenings list three rows;
    the referring side records the family's agreement and sends the referral, the provider
    accepts it and starts support, each through the step buttons; the started episode is
    on the child page."""
    flow = Flow(browser, server, artifacts, axe_source, "child-history-and-steps")
    flow.sign_in("health_specialist", "clinic-3")
    child, _ = flow.call_api(
        "POST", "/children",
        {"given_name": "Marta", "family_name": "Liepa", "birth_date": birth_date_months_ago(22).isoformat(), "sex": "female"},
    )
    today = datetime.date.today()
    earlier = dict(ANSWERS)
    earlier.update({"7": 0, "9": 0})  # two more at risk: total 6
    first = dict(ANSWERS)
    first.update({"7": 0})  # one more at risk: total 5
    screenings = []
    for administered_on, answers in ((today - datetime.timedelta(days=80), first),
                                     (today - datetime.timedelta(days=40), earlier), (today, ANSWERS)):
        accepted, _ = flow.call_api(
            "POST", "/screenings",
            {"child_id": child["id"], "instrument": "mchat-r", "administered_on": administered_on.isoformat(), "answers": answers},
            {"Idempotency-Key": f"child-history-{administered_on.isoformat()}"},
        )
        screenings.append(accepted["id"])
    for screening in screenings:
        flow.wait(lambda d: flow.call_api("GET", f"/screenings/{screening}")[0]["status"] == "scored", "scoring")
    referral, _ = flow.call_api(
        "POST", "/referrals",
        {"child_id": child["id"], "programme": "early-intervention-psychomotor", "provider_org": "dev-provider",
         "basis": {"reason": {"text": "M-CHAT-R medium risk twice"}}},
    )

    flow.d.get(f"{flow.base}/#/children/{child['id']}")
    flow.heading("Marta Liepa")
    chart = flow.css("figure.chart[data-instrument='mchat-r']")
    assert len(chart.find_elements(By.CSS_SELECTOR, "svg circle")) == 3
    assert "mchat-r" in chart.find_element(By.CSS_SELECTOR, "svg title").get_attribute("textContent")
    # The values for screen readers, oldest first: totals 5, 6, then 4 (the whole history,
    # not only the latest two).
    hidden = chart.find_elements(By.CSS_SELECTOR, "table.visually-hidden tbody tr td:nth-child(2)")
    assert [c.get_attribute("textContent") for c in hidden] == ["5", "6", "4"]
    rows = flow.d.find_elements(By.CSS_SELECTOR, "#child-screenings tbody tr")
    assert len(rows) == 3
    assert {r.find_element(By.TAG_NAME, "a").get_attribute("href").split("#/screenings/")[1] for r in rows} == set(screenings)
    assert [r.find_elements(By.TAG_NAME, "td")[3].text for r in rows] == ["4", "6", "5"]  # newest first
    assert flow.d.find_elements(By.CSS_SELECTOR, "#child-episodes") == [] or "None" in flow.body_text()
    flow.screen("child-history")

    # The referring side: the family's agreement, then Send.
    flow.d.find_element(By.LINK_TEXT, "early-intervention-psychomotor").click()
    flow.heading("Referral: early-intervention-psychomotor")
    assert "proposed" in flow.css("#referral-state").text
    assert not flow.d.find_elements(By.ID, "step-button-accepted")  # a provider's step
    flow.screen("referral-proposed")
    # Meanwhile a colleague records that the family was not asked yet: this page's ETag is old.
    _, headers = flow.call_api("GET", f"/referrals/{referral['id']}")
    flow.call_api("PUT", f"/referrals/{referral['id']}/family-agreement", {"status": "not_asked"}, {"If-Match": headers["ETag"]})
    Select(flow.css("#agreement")).select_by_value("agreed")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Record the agreement']").click()
    alert = flow.wait(lambda d: d.find_element(By.CSS_SELECTOR, "[role=alert]"), "the 412 in words")
    assert "Someone changed this record after you opened it" in alert.text
    flow.screen("referral-conflict")
    flow.css("#reload-referral").click()
    # (The agreement was "not asked" before the colleague's change too: wait for the reload.)
    flow.css("#referral-latest")
    flow.wait(lambda d: d.find_element(By.ID, "family-agreement").text == "not asked", "the newest version")
    # The choice made before the conflict is kept.
    assert Select(flow.css("#agreement")).first_selected_option.get_attribute("value") == "agreed"
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Record the agreement']").click()
    flow.wait(lambda d: d.find_element(By.ID, "family-agreement").text == "agreed", "the agreement")
    flow.css("#step-button-sent").click()
    flow.wait(lambda d: d.find_element(By.ID, "referral-state").text == "sent", "sent")
    assert "the referral is now sent" in flow.css("#step-done").text
    flow.screen("referral-sent")

    # The provider: from its worklist to the referral, Accept, then Start support.
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    Select(flow.css("#role")).select_by_value("programme_provider")
    org = flow.css("#organisation")
    org.clear()
    org.send_keys("dev-provider")
    flow.d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    flow.heading("Worklist")
    flow.wait(lambda d: d.find_element(By.CSS_SELECTOR, f"a[href='#/referrals/{referral['id']}']"), "the referral on the worklist").click()
    flow.heading("Referral: early-intervention-psychomotor")
    flow.screen("provider-referral")
    flow.css("#step-button-accepted").click()
    flow.wait(lambda d: d.find_element(By.ID, "referral-state").text == "accepted", "accepted")
    assert flow.active().get_attribute("id") == "step-done"
    flow.css("#step-button-started").click()
    # The start form opens with the focus on its first field (the first day, today by default).
    assert flow.wait(lambda d: flow.active().get_attribute("id") == "step-date", "focus on the date")
    flow.screen("provider-start")
    flow.css("#step-confirm").click()
    flow.wait(lambda d: d.find_element(By.ID, "referral-state").text == "support started", "started")
    assert flow.d.find_elements(By.ID, "step-button-completed")
    flow.screen("provider-started")
    flow.d.find_element(By.LINK_TEXT, "The child's page").click()
    flow.heading("Marta Liepa")
    episodes = flow.css("#child-episodes tbody tr")
    assert "early-intervention-psychomotor" in episodes.text and "dev-provider" in episodes.text
    flow.screen("provider-child")
