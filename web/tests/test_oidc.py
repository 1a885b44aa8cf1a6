"""The OpenID Connect round trip in a real browser: `ravis serve --web-config` gives the
client an app/config.json naming the test provider (oidc_provider.py), and trusts that
provider's RS256 tokens through its JWKS (--jwt-issuer, --jwt-jwks-url, --jwt-audience).
The user signs in by authorisation code with PKCE, reaches the page asked for, and the API
answers the provider's token; the token is renewed with the refresh token before it expires
and once after a 401; when renewal is refused, or there is no refresh token and the token
expires, the session ends, the sign-in page says so, and signing in again returns to the
same page."""

import base64
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request

from oidc_provider import s256
from selenium.webdriver.common.by import By
from test_browser import Flow, birth_date_months_ago


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args):
        return None


def _authorize(provider, challenge):
    """The code the provider redirects back with (not followed)."""
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": provider.client_id, "redirect_uri": provider.redirect_uri,
        "scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256",
    })
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(f"{provider.issuer}/authorize?{query}", timeout=10)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302, redirect.code
        location = urllib.parse.urlsplit(redirect.headers["Location"])
        return dict(urllib.parse.parse_qsl(location.query))["code"]
    raise AssertionError("the authorize endpoint did not redirect")


def _post_form(url, form):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _api_status(base, path, token):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def _tampered(token):
    """The token with one character of its signature changed."""
    head, signature = token.rsplit(".", 1)
    i = len(signature) // 2
    return f"{head}.{signature[:i]}{'A' if signature[i] != 'A' else 'B'}{signature[i + 1:]}"


def test_the_provider_checks_the_pkce_verifier_and_the_api_its_tokens(oidc):
    provider, base, _ = oidc
    verifier = secrets.token_urlsafe(48)
    code = _authorize(provider, s256(verifier))
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": provider.redirect_uri,
                "client_id": provider.client_id}
    wrong = verifier[:-1] + ("A" if verifier[-1] != "A" else "B")
    status, body = _post_form(provider.issuer + "/token", {**exchange, "code_verifier": wrong})
    assert (status, body["error"]) == (400, "invalid_grant"), body
    assert "code_verifier" in body["error_description"]
    # The same code with the right verifier: the refusal above was the verifier's.
    status, body = _post_form(provider.issuer + "/token", {**exchange, "code_verifier": verifier})
    assert status == 200, body
    token = body["access_token"]
    assert _api_status(base, "/worklist", token) == 200
    assert _api_status(base, "/worklist", _tampered(token)) == 401
    # A code is used once.
    status, _ = _post_form(provider.issuer + "/token", {**exchange, "code_verifier": verifier})
    assert status == 400


def test_sign_in_with_pkce_refresh_and_return_to_the_page(browser, oidc, artifacts, axe_source):
    provider, base, _ = oidc
    flow = Flow(browser, base, artifacts, axe_source, "oidc")
    session_token = lambda: flow.d.execute_script(  # noqa: E731
        "return JSON.parse(sessionStorage.getItem('ravis.session') || 'null')?.token || null")
    refreshes = lambda: sum(1 for grant, ok in provider.grants if grant == "refresh_token" and ok)  # noqa: E731

    # Asked for the children list while signed out: the provider's sign-in, then that page.
    provider.token_lifetime = 4
    flow.d.get(base + "/#/children")
    flow.heading("Pieteikties")
    flow.d.find_element(By.XPATH, "//button[normalize-space()='English']").click()
    flow.heading("Sign in")
    assert provider.issuer in flow.body_text()
    assert not flow.d.find_elements(By.ID, "role")  # no development sign-in
    flow.screen("oidc-sign-in")
    flow.d.find_element(By.XPATH, "//main//button[normalize-space()='Sign in']").click()
    flow.heading("Children")
    # The renewed token will live longer, so only this first one is renewed by the timer.
    provider.token_lifetime = 300
    # The code and state are gone from the address; the page asked for is kept.
    assert "code=" not in flow.d.current_url and flow.d.current_url.endswith("/#/children")
    assert ("authorization_code", True) in provider.grants
    first = session_token()
    payload = first.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == provider.issuer and claims["ravis:org"] == "clinic-oidc"
    assert "Health specialist, clinic-oidc" in flow.body_text()
    flow.screen("oidc-children")

    # Renewed with the refresh token before the 4-second token expires.
    flow.wait(lambda d: refreshes() >= 1 and session_token() not in (None, first), "the token renewed")
    flow.d.find_element(By.LINK_TEXT, "Worklist").click()
    flow.heading("Worklist")
    flow.css("main table, main p")
    assert not flow.d.find_elements(By.CSS_SELECTOR, "main [role=alert]")
    child, _ = flow.call_api("POST", "/children", {
        "given_name": "Inese", "family_name": "Vītola", "birth_date": birth_date_months_ago(18).isoformat(), "sex": "female"})

    # The API refuses the token (here: its signature broken): renewed once, the call repeated.
    before = refreshes()
    broken = _tampered(session_token())
    flow.d.execute_script(
        "const s = JSON.parse(sessionStorage.getItem('ravis.session')); s.token = arguments[0];"
        "sessionStorage.setItem('ravis.session', JSON.stringify(s));", broken)
    flow.d.get(f"{base}/#/children/{child['id']}")
    flow.heading("Inese Vītola")
    assert refreshes() == before + 1
    assert session_token() not in (None, broken)
    assert not flow.d.find_elements(By.CSS_SELECTOR, "main [role=alert]")

    # Renewal refused (revoked): the session ends, the sign-in page says why, and signing in
    # again comes back to the child's page.
    flow.d.find_element(By.LINK_TEXT, "Worklist").click()
    flow.heading("Worklist")
    provider.refresh_allowed = False
    broken = _tampered(session_token())
    flow.d.execute_script(
        "const s = JSON.parse(sessionStorage.getItem('ravis.session')); s.token = arguments[0];"
        "sessionStorage.setItem('ravis.session', JSON.stringify(s));", broken)
    flow.d.get(f"{base}/#/children/{child['id']}")
    notice = flow.css("#signin-notice")
    assert "Your sign-in has expired" in notice.text
    assert session_token() is None
    assert ("refresh_token", False) in provider.grants
    assert flow.d.current_url.endswith(f"/#/children/{child['id']}")
    flow.screen("oidc-expired")
    provider.refresh_allowed = True
    flow.d.find_element(By.XPATH, "//main//button[normalize-space()='Sign in']").click()
    flow.heading("Inese Vītola")
    assert flow.d.current_url.endswith(f"/#/children/{child['id']}")
    assert not flow.d.find_elements(By.ID, "signin-notice")

    # Without a refresh token, the session ends when the access token expires: the user is
    # told, and signing in again comes back to the same page.
    provider.issue_refresh, provider.token_lifetime = False, 2
    grants = len(provider.grants)
    flow.d.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    flow.heading("Sign in")
    assert not flow.d.find_elements(By.ID, "signin-notice")  # a sign-out is no expiry
    flow.d.get(f"{base}/#/children/{child['id']}")
    flow.heading("Sign in")
    flow.d.find_element(By.XPATH, "//main//button[normalize-space()='Sign in']").click()
    assert "Your sign-in has expired" in flow.css("#signin-notice").text
    assert provider.grants[grants:] == [("authorization_code", True)]  # nothing renewed
    assert flow.d.current_url.endswith(f"/#/children/{child['id']}")
    provider.token_lifetime = 300
    flow.d.find_element(By.XPATH, "//main//button[normalize-space()='Sign in']").click()
    flow.heading("Inese Vītola")
