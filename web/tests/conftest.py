"""Fixtures of the browser suite: a real `ravis serve` on a free loopback port with a fresh
data directory, and headless Chromium (Debian's, driven by its chromedriver) with a fresh
profile. Nothing here downloads anything."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("RAVIS_WEB_ARTIFACTS", ROOT / "web-artifacts"))
START_TIMEOUT_SECS = 60


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url):
    try:
        urllib.request.urlopen(url + "/", timeout=2).read()
        return True
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


@pytest.fixture(scope="session")
def data_dir():
    """The data directory of the session's `ravis serve` (removed after the session)."""
    path = tempfile.mkdtemp(prefix="ravis-web-test.")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _start_ravis(data_dir, extra_args=lambda url: []):
    """A `ravis serve` (binary from RAVIS_BIN) on a free loopback port: (process, url, log).
    `extra_args(url)` gives options that depend on the URL (written before the start)."""
    binary = os.environ["RAVIS_BIN"]
    log = open(Path(data_dir) / "server.log", "wb")
    for _attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [binary, "--data-dir", data_dir, "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args(url)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RAVIS_LOG": "warn"},
        )
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while time.monotonic() < deadline and process.poll() is None:
            if _answers(url):
                break
            time.sleep(0.25)
        if process.poll() is None and _answers(url):
            return process, url, log
        process.kill()
        process.wait()
    log.close()
    raise AssertionError("ravis serve did not start: " + (Path(data_dir) / "server.log").read_text())


def _stop_ravis(process, log):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture(scope="session")
def server(data_dir):
    """Base URL of a fresh `ravis serve` (binary from RAVIS_BIN)."""
    process, url, log = _start_ravis(data_dir)
    try:
        yield url
    finally:
        _stop_ravis(process, log)


OIDC_CLIENT_ID = "ravis-web"
OIDC_AUDIENCE = "ravis-web-test"


@pytest.fixture(scope="module")
def oidc():
    """A test OpenID Connect provider (web/tests/oidc_provider.py) and a second `ravis serve`
    that trusts it (--jwt-issuer, --jwt-jwks-url, --jwt-audience) and gives the client an
    app/config.json naming it (--web-config): (provider, server URL, data directory)."""
    from oidc_provider import Provider

    data_dir = tempfile.mkdtemp(prefix="ravis-web-oidc.")
    user = {"sub": "dr-liepa", "ravis:role": "health_specialist", "ravis:org": "clinic-oidc"}
    provider = Provider(OIDC_CLIENT_ID, None, OIDC_AUDIENCE, user)

    def options(url):
        provider.redirect_uri = url + "/"
        config = Path(data_dir) / "web-config.json"
        config.write_text(json.dumps({
            "oidc": {"issuer": provider.issuer, "client_id": OIDC_CLIENT_ID, "redirect_uri": url + "/", "scope": "openid"},
        }))
        return ["--jwt-issuer", provider.issuer, "--jwt-jwks-url", provider.issuer + "/jwks",
                "--jwt-audience", OIDC_AUDIENCE, "--web-config", str(config)]

    process, url, log = _start_ravis(data_dir, options)
    try:
        yield provider, url, data_dir
    finally:
        _stop_ravis(process, log)
        provider.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with a fresh profile; the performance log records every response."""
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--lang=en-US",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.execute_cdp_cmd("Network.enable", {"maxTotalBufferSize": 50_000_000, "maxResourceBufferSize": 5_000_000})
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def axe_source():
    return (ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js").read_text()
