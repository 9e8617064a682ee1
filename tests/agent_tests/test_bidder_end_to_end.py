"""The bidder's whole flow (issue 14): the signing page in Chromium, the link to Pakat Signer, the token, "signed".

Everything is real and on loopback: ``pakat serve`` and a worker (the level is
raised on the queue), the dev PKI's responders, a platform opening a B-LT
session over the HTTP API, headless Chromium on the signing page (Persian, then
English), Pakat Signer started under Xvfb with exactly the link the page's
"Sign with my token" button carries (the command line the desktop entry gives for
it), a SoftHSM token holding a dev-PKI person's key, the PIN typed into the
app's window with xdotool. The page must turn to "signed" by itself (no reload),
and the PDF it downloads must validate at B-LT in Pakat's validator and in pyHanko.

Artifacts, in the artifacts folder's ``screenshots/`` (the paths are printed):
``page-fa.png``, ``page-en.png``, ``page-signed.png``, ``page-signed-fa.png`` and the
app's windows ``app-NN-<window>.png``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from app_kit import App, need_tool, pakat_service, sign_through_the_windows
from browser_kit import assert_only_loopback, screenshot_folder
from pakat_testkit import api_key, assert_no_secret, pdf_bytes, wait_until
from session_kit import PERSON
from signing_checks import assert_pades_level

from hsm_config.deployment import load_deployment, validation_config
from signer.levels import PadesLevel
from validation.engine import Validator
from validation.model import Indication

LEVEL = PadesLevel.B_LT
NAME = "پاکت-ب.pdf"

# Every phase the page shows, in order, as the page's own script sets it (no polling from the test).
WATCH_PHASES = """
window.__pakatPhases = [document.getElementById('phase').getAttribute('data-phase')];
new MutationObserver(function () {
  var now = document.getElementById('phase').getAttribute('data-phase');
  if (window.__pakatPhases[window.__pakatPhases.length - 1] !== now) { window.__pakatPhases.push(now); }
}).observe(document.getElementById('phase'), {attributes: true, attributeFilter: ['data-phase']});
return performance.timeOrigin;
"""


def sign_with_pakat_signer(app: App, pin: str) -> tuple[str, str]:
    """The bidder's walk through a first-use Pakat Signer to "Signed" and closing it: the app's output."""
    sign_through_the_windows(app, pin, confirm_server=True)
    app.window("Signed")
    app.keys("Return")
    code, out, err = app.finish()
    assert code == 0, out + err
    walked = [t.removeprefix("Pakat Signer - ") for t in app.titles if t != "Pakat Signer - Working"]
    assert walked == ["Confirm server", "Review", "PIN", "Signed"], app.titles
    return out, err


@pytest.fixture(scope="module")
def service(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with pakat_service(dev_env.deployment_path, tmp_path_factory.mktemp("bidder-e2e-home"), redis_url) as served:
        yield served


def test_the_bidder_signs_from_the_page_with_pakat_signer_and_the_page_follows(
    dev_env: Any, service: dict[str, Any], browser: Any, display: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    need_tool("import", "imagemagick")  # the app's screenshots are artifacts of this test, not a nicety
    user = dev_env.users[PERSON]
    url, headers = service["url"], {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    shots = screenshot_folder("bidder-sign-page")

    # The platform: a document and a B-LT session for this person, over the HTTP API.
    doc = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                        files={"pdf": (NAME, io.BytesIO(pdf_bytes("technical envelope B", pages=2)))})
    assert doc.status_code == 201, doc.text
    doc_id = doc.json()["id"]
    created = requests.post(f"{url}/api/v1/documents/{doc_id}/signing-sessions", headers=headers, timeout=30,
                            json={"level": LEVEL.value, "expected_signer": {"national_id": user.national_code}})
    assert created.status_code == 201, created.text
    session = created.json()
    page_url = session["signing_page_url"]
    view_token = urlsplit(page_url).fragment
    assert urlsplit(page_url).netloc == urlsplit(url).netloc and view_token

    def by_id(name: str) -> Any:
        return browser.find_element(By.ID, name)

    def phase() -> str:
        return str(by_id("phase").get_attribute("data-phase"))

    def the_link() -> str:
        # The button's own href attribute: what the browser hands to the OS's pakat:// handler on a click.
        button = by_id("sign-button")
        link = str(button.get_dom_attribute("href"))
        assert browser.execute_script("return arguments[0].href", button) == link  # nothing resolved away
        return link

    # The bidder opens the page the platform sent them to: Persian first.
    browser.get(page_url)
    wait_until(lambda: phase() == "waiting", 20, "the page shows the session")
    wait_until(lambda: by_id("preview").get_attribute("src") or False, 20, "the preview")
    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == ("fa", "rtl")
    assert by_id("doc-name").text == NAME and by_id("level").text == LEVEL.value
    assert by_id("sign-button").text == "امضا با توکن من"
    persian_link = the_link()
    browser.save_screenshot(str(shots / "page-fa.png"))

    by_id("lang-switch").click()
    wait_until(lambda: browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
               and phase() == "waiting", 20, "the English page")
    wait_until(lambda: by_id("preview").get_attribute("src") or False, 20, "the preview")
    assert by_id("sign-button").text == "Sign with my token"
    link = the_link()
    assert link == persian_link == session["pairing_link"] and link.startswith("pakat://sign?")
    browser.save_screenshot(str(shots / "page-en.png"))
    loaded_at = browser.execute_script(WATCH_PHASES)

    # The OS starts Pakat Signer with the link; the bidder confirms the server, reviews, types the PIN.
    app = App(dev_env, display, link, tmp_path / "config", shots, prefix="app-")
    started = time.monotonic()
    out, err = sign_with_pakat_signer(app, user.read_pin())
    assert [p.name for p in app.pictures] == [
        "app-00-Confirm_server.png", "app-01-Review.png", "app-02-PIN.png", "app-03-Signed.png"]

    # The page, never reloaded, follows the session to "signed" (completed at B-LT by the worker).
    wait_until(lambda: phase() == "signed", 60, f"the page shows signed (phases: "
               f"{browser.execute_script('return window.__pakatPhases')})")
    print(f"signed on the page {time.monotonic() - started:.1f} s after Pakat Signer started")
    assert browser.execute_script("return performance.timeOrigin") == loaded_at, "the page was reloaded"
    phases = browser.execute_script("return window.__pakatPhases")
    assert phases[0] == "waiting" and phases[-1] == "signed" and set(phases) <= {"waiting", "signing", "signed"}
    assert by_id("phase").text == "Signed" and not by_id("act").is_displayed()
    assert by_id("signer").text and "=" not in by_id("signer").text
    assert by_id("download").is_displayed()
    browser.save_screenshot(str(shots / "page-signed.png"))

    # The page's own download (a fetch with the view token, saved as a blob), then the two validators.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    by_id("download").click()
    signed = downloads / NAME
    wait_until(lambda: signed.exists() and signed.stat().st_size > 0 and not list(downloads.glob("*.crdownload")),
               20, "the signed PDF downloads")
    data = signed.read_bytes()
    on_api = requests.get(f"{url}/api/v1/documents/{doc_id}/pdf", headers=headers, timeout=30)
    assert on_api.status_code == 200 and on_api.content == data, "the page and the API differ"
    report = Validator(validation_config(load_deployment(service["config"]))).validate(data)
    assert report.indication is Indication.TOTAL_PASSED, report
    assert [(s.indication, s.pades_level) for s in report.signatures] == [(Indication.TOTAL_PASSED, LEVEL.value)]
    assert_pades_level(data, LEVEL, dev_env.root_cert_path)
    assert_only_loopback(browser)

    # The signed page in Persian too (a new load, after the checks above).
    by_id("lang-switch").click()
    wait_until(lambda: browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fa"
               and phase() == "signed", 20, "the Persian signed page")
    assert by_id("phase").text == "امضا شد"
    browser.save_screenshot(str(shots / "page-signed-fa.png"))

    # No secret in the app's output or the service's logs: not the PIN, the agent secret or the view token.
    logs = [log.read_bytes() for log in service["logs"]]
    assert_no_secret([out, err, *logs], [user.read_pin(), session["agent_secret"], view_token])
    for picture in ("page-fa", "page-en", "page-signed", "page-signed-fa"):
        assert (shots / f"{picture}.png").stat().st_size > 0


def test_an_envelopes_documents_are_signed_from_the_page_with_one_pin(
    dev_env: Any, service: dict[str, Any], browser: Any, display: str, tmp_path: Path
) -> None:
    """A session on three documents (an envelope's A, B, C): the page shows each, Pakat Signer draws every
    document's pages and asks the PIN once, and each document comes back signed from the page."""
    from selenium.webdriver.common.by import By

    need_tool("import", "imagemagick")
    user = dev_env.users[PERSON]
    url, headers = service["url"], {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    shots = screenshot_folder("bidder-envelope")
    names = ["پاکت-الف.pdf", "پاکت-ب.pdf", "پاکت-ج.pdf"]
    doc_ids = []
    for number, name in enumerate(names, 1):
        doc = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                            files={"pdf": (name, io.BytesIO(pdf_bytes(f"envelope part {number}", pages=number)))})
        assert doc.status_code == 201, doc.text
        doc_ids.append(doc.json()["id"])
    created = requests.post(f"{url}/api/v1/signing-sessions", headers=headers, timeout=30,
                            json={"documents": doc_ids, "level": LEVEL.value,
                                  "expected_signer": {"national_id": user.national_code}})
    assert created.status_code == 201, created.text
    session = created.json()

    def blocks() -> list[Any]:
        return list(browser.find_elements(By.CSS_SELECTOR, "#documents section.document"))

    def phase() -> str:
        return str(browser.find_element(By.ID, "phase").get_attribute("data-phase"))

    browser.get(session["signing_page_url"])
    wait_until(lambda: phase() == "waiting" and len(blocks()) == 3, 20, "the page shows the three documents")
    assert [b.find_element(By.CSS_SELECTOR, '[data-field="name"]').text for b in blocks()] == names
    assert [b.find_element(By.CSS_SELECTOR, '[data-field="heading"]').text for b in blocks()] == [
        "سند ۱ از ۳", "سند ۲ از ۳", "سند ۳ از ۳"]
    assert browser.find_element(By.ID, "why-several").is_displayed()
    wait_until(lambda: all(b.find_element(By.CSS_SELECTOR, '[data-role="preview"]').get_attribute("src")
                           for b in blocks()), 20, "every document's preview")
    browser.save_screenshot(str(shots / "page-envelope-fa.png"))
    link = str(browser.find_element(By.ID, "sign-button").get_dom_attribute("href"))
    assert link == session["pairing_link"]
    browser.execute_script(WATCH_PHASES)

    app = App(dev_env, display, link, tmp_path / "config", shots, prefix="app-envelope-")
    out, err = sign_with_pakat_signer(app, user.read_pin())  # one PIN for the three

    wait_until(lambda: phase() == "signed", 90, "the page shows the envelope signed")
    wait_until(lambda: all(b.find_element(By.CSS_SELECTOR, '[data-role="download"]').is_displayed()
                           for b in blocks()), 20, "a download for every document")
    browser.save_screenshot(str(shots / "page-envelope-signed.png"))

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    validator = Validator(validation_config(load_deployment(service["config"])))
    for block, name, doc_id in zip(blocks(), names, doc_ids, strict=True):
        block.find_element(By.CSS_SELECTOR, '[data-role="download"]').click()
        signed = downloads / name
        wait_until(lambda s=signed: s.exists() and s.stat().st_size > 0
                   and not list(downloads.glob("*.crdownload")), 20, f"{name} downloads")
        data = signed.read_bytes()
        on_api = requests.get(f"{url}/api/v1/documents/{doc_id}/pdf", headers=headers, timeout=30)
        assert on_api.content == data, f"{name}: the page and the API differ"
        report = validator.validate(data)
        assert report.indication is Indication.TOTAL_PASSED, report
        assert [(s.indication, s.pades_level) for s in report.signatures] == [
            (Indication.TOTAL_PASSED, LEVEL.value)]
        assert_pades_level(data, LEVEL, dev_env.root_cert_path)
    assert_only_loopback(browser)
    logs = [log.read_bytes() for log in service["logs"]]
    assert_no_secret([out, err, *logs], [user.read_pin(), session["agent_secret"],
                                         urlsplit(session["signing_page_url"]).fragment])
