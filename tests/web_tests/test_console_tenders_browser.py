"""A tender's envelope from creation to the opening, in a real headless Chromium against a real ``pakat serve``.

An operator (made with ``pakat user add``) signs in, creates a tender with a
short deadline and an envelope, uploads its documents, seals them (the
envelope asks for the bidder's company seal: the dev HSM seals, the dev TSA
timestamps), opens a signing session on another envelope's document (its link
and QR code), submits (the sealed receipt), and once the deadline has passed
opens A → B → C. The countdown ticks without a reload. Screenshots at 1280
and 390 px, in Persian and English, go to the artifacts folder (printed).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_kit import JALALI_DATE, assert_only_loopback, screenshot_folder
from console_kit import PASSWORD, browser_sign_in, by_id, click_and_load, served_console
from pakat_testkit import pdf_bytes

from pakat.dates import TEHRAN

OPERATOR, VIEWER = "sara.operator", "reza.viewer"
BIDDER = "14000123453"  # demo-co: its seal meets the envelope's seal requirement
# Long enough for the work before the deadline on a busy two-core machine (sealing, a receipt, page loads).
CLOSES_IN = 150


@pytest.fixture(scope="module")
def server(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A signing session is opened on the queue (Redis); nobody signs here, so no worker is needed.
    queue = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"tenders-browser-{uuid.uuid4().hex[:8]}"}
    with served_console(dev_env, tmp_path_factory.mktemp("tenders-serve"), queue) as served:
        served.add_person(OPERATOR, "operator")
        served.add_person(VIEWER, "viewer")
        yield served.url


def _click(browser: Any, element: Any) -> None:
    """Click a button that sends a form and wait for the page that answers (sealing and receipts take seconds)."""
    click_and_load(browser, element, timeout=120)


def _page_checks(browser: Any, lang: str) -> None:
    from selenium.webdriver.common.by import By

    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == (lang, "rtl" if lang == "fa" else "ltr")
    assert "Vazirmatn" in browser.execute_script("return getComputedStyle(document.body).fontFamily")
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow} px of sideways scrolling at {browser.get_window_size()['width']} px"
    assert PASSWORD not in browser.page_source and PASSWORD not in browser.current_url
    assert not browser.find_elements(By.ID, "console-error"), browser.find_element(By.ID, "console-error").text


def _shoot(browser: Any, shots: Path, name: str, url: str) -> None:
    """The page at ``url`` in Persian and English, at 1280 and 390 px, each checked and photographed."""
    for lang in ("fa", "en"):
        for width in (1280, 390):
            browser.set_window_size(width, 1200)
            browser.get(f"{url}?lang={lang}")
            _page_checks(browser, lang)
            browser.save_screenshot(str(shots / f"{name}-{lang}-{width}.png"))
    browser.set_window_size(1280, 1200)
    browser.get(f"{url}?lang=fa")


def _receipt(browser: Any) -> list[Any]:
    """The receipt link fetched as the browser would download it: status, type and its first bytes."""
    return list(browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('receipt-download').href, {credentials: 'same-origin'})"
        ".then(r => r.arrayBuffer().then(b => done([r.status, r.headers.get('content-type'),"
        " String.fromCharCode.apply(null, new Uint8Array(b.slice(0, 5)))])));"))


def test_a_tender_envelope_from_creation_to_the_opening(browser: Any, server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    shots = screenshot_folder("console-tenders")
    files = []
    for name in ("guarantee", "annex"):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(pdf_bytes(name))
        files.append(path)
    browser.set_window_size(1280, 1200)
    browser_sign_in(browser, server, OPERATOR, page="/console/tenders?lang=fa")

    # The tender: a deadline a few minutes away, typed as Tehran's wall clock into the datetime-local field.
    reference = f"T-{uuid.uuid4().hex[:8]}"
    deadline = (datetime.now(UTC) + timedelta(seconds=CLOSES_IN)).replace(microsecond=0)
    by_id(browser, "t-reference").send_keys(reference)
    by_id(browser, "t-title-fa").send_keys("خرید تجهیزات شبکه")
    by_id(browser, "t-title-en").send_keys("Network equipment purchase")
    browser.execute_script("arguments[0].value = arguments[1];", by_id(browser, "t-deadline"),
                           deadline.astimezone(TEHRAN).strftime("%Y-%m-%dT%H:%M:%S"))
    _click(browser, by_id(browser, "create-tender"))
    assert by_id(browser, "notice").is_displayed()
    tender_id = by_id(browser, "tender-facts").get_attribute("data-tender")
    tender_url = f"{server}/console/tenders/{tender_id}"
    assert JALALI_DATE.fullmatch(by_id(browser, "tender-deadline").text)
    assert by_id(browser, "open-A").find_element(By.CLASS_NAME, "why").get_attribute("data-code") \
        == "DEADLINE_NOT_REACHED"

    # The countdown ticks without a reload.
    browser.get(f"{server}/console/tenders")
    row = by_id(browser, f"tender-{tender_id}")
    timer = row.find_element(By.CLASS_NAME, "countdown")
    first = int(timer.get_attribute("data-left"))
    time.sleep(2.2)
    assert int(timer.get_attribute("data-left")) < first and "۰" <= timer.text[-1] <= "۹"

    # Envelope A: the seal alone is required; two documents uploaded at once.
    browser.get(tender_url)
    Select(by_id(browser, "e-kind")).select_by_value("A")
    by_id(browser, "e-bidder-id").send_keys(BIDDER)
    by_id(browser, "e-bidder-fa").send_keys("شرکت نمونه پاکت")
    by_id(browser, "e-bidder-en").send_keys("Pakat Demo Co.")
    _click(browser, by_id(browser, "create-envelope"))
    envelope_id = by_id(browser, "envelope-facts").get_attribute("data-envelope")
    envelope_url = f"{tender_url}/envelopes/{envelope_id}"
    by_id(browser, "pdf-files").send_keys("\n".join(str(p) for p in files))
    _click(browser, by_id(browser, "upload"))
    checks = browser.find_elements(By.CSS_SELECTOR, "tr.check")
    assert [c.get_attribute("data-met") for c in checks] == ["no", "no"]
    assert all(c.find_element(By.CLASS_NAME, "why").text for c in checks)  # why, in Persian
    for button in [b.get_attribute("id") for b in browser.find_elements(By.CSS_SELECTOR, "button.seal-doc")]:
        _click(browser, by_id(browser, button))
        assert by_id(browser, "notice").is_displayed()
    assert [c.get_attribute("data-met") for c in browser.find_elements(By.CSS_SELECTOR, "tr.check")] == ["yes"] * 2
    assert by_id(browser, "envelope-state").get_attribute("data-state") == "complete"

    # Envelope B asks for a signatory: its signing session's link and QR code.
    browser.get(tender_url)
    Select(by_id(browser, "e-kind")).select_by_value("B")
    by_id(browser, "e-bidder-id").send_keys(BIDDER)
    by_id(browser, "e-bidder-fa").send_keys("شرکت نمونه پاکت")
    by_id(browser, "e-bidder-en").send_keys("Pakat Demo Co.")
    by_id(browser, "e-signatories").send_keys("0012345678, مدیرعامل")
    _click(browser, by_id(browser, "create-envelope"))
    by_id(browser, "pdf-files").send_keys(str(files[0]))
    _click(browser, by_id(browser, "upload"))
    _click(browser, browser.find_element(By.CSS_SELECTOR, "button.new-session"))
    assert not browser.find_elements(By.ID, "console-error"), browser.find_element(By.ID, "console-error").text \
        + " " + "".join(e.text for e in browser.find_elements(By.ID, "error-detail"))
    link = by_id(browser, "signing-page-url").get_attribute("href")
    assert link.startswith(f"{server}/sign/") and "#" in link
    qr = by_id(browser, "session-qr")
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert browser.execute_script("return arguments[0].naturalWidth", qr) > 0
    for width in (1280, 390):
        browser.set_window_size(width, 1200)
        _page_checks(browser, "fa")
        browser.save_screenshot(str(shots / f"session-link-fa-{width}.png"))
    browser.set_window_size(1280, 1200)

    # Submit A, confirmed: the sealed receipt.
    browser.get(envelope_url)
    by_id(browser, "submit-envelope").click()  # the confirmation box is required: nothing is sent
    assert browser.current_url == envelope_url
    by_id(browser, "submit-confirm").click()
    _click(browser, by_id(browser, "submit-envelope"))
    assert by_id(browser, "envelope-state").get_attribute("data-state") == "submitted"
    assert JALALI_DATE.fullmatch(by_id(browser, "submitted-at").text)
    assert _receipt(browser) == [200, "application/pdf", "%PDF-"]
    _shoot(browser, shots, "envelope-submitted", envelope_url)
    _shoot(browser, shots, "tender-open", tender_url)
    _shoot(browser, shots, "tenders", f"{server}/console/tenders")
    left = (deadline - datetime.now(UTC)).total_seconds()
    assert left > 0, f"the work before the deadline took too long: {-left:.0f} s past it"

    # A viewer reads the envelope and its receipt but is offered no change.
    browser_sign_in(browser, server, VIEWER, PASSWORD, "/console/tenders?lang=fa")
    browser.get(envelope_url)
    assert not browser.find_elements(By.CSS_SELECTOR, "form[method=post][action^='/console/tenders']")
    assert _receipt(browser) == [200, "application/pdf", "%PDF-"]

    # After the deadline: the opening, A → B → C.
    browser_sign_in(browser, server, OPERATOR, page="/console/tenders?lang=fa")
    time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 1)
    browser.get(tender_url)
    assert by_id(browser, "tender-state").find_element(By.CLASS_NAME, "tender-state").get_attribute(
        "data-state") == "closed"
    assert "why" in by_id(browser, "open-B").get_attribute("innerHTML")  # not due before A
    for kind in ("A", "B", "C"):
        _click(browser, by_id(browser, f"open-kind-{kind}"))
        assert by_id(browser, f"open-{kind}").get_attribute("data-opened") == "yes"
    assert by_id(browser, "tender-state").find_element(By.CLASS_NAME, "tender-state").get_attribute(
        "data-state") == "opened"
    states = {row.get_attribute("data-kind"): row.get_attribute("data-state")
              for row in browser.find_elements(By.CSS_SELECTOR, "#envelopes tbody tr")}
    assert states == {"A": "opened", "B": "not_submitted"}
    _shoot(browser, shots, "tender-opened", tender_url)
    _shoot(browser, shots, "envelope-opened", envelope_url)
    assert_only_loopback(browser)
    assert len(list(shots.glob("*.png"))) == 2 + 5 * 4
