"""The /validate page's extras (issue 16, item 5): several files, a past validation time, the signed
version of each signature, and where each signature sits; the JSON API's report says the same.

In-process through Flask for the form's answers and refusals, then in a real headless Chromium
against ``pakat serve``: two files validated at a past time, one signature's signed version downloaded
through the page's button (its bytes are the file's prefix), screenshots at 1280 and 390 px in Persian
and English.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from browser_kit import EXTERNAL_URL, assert_only_loopback, screenshot_folder
from flask.testing import FlaskClient
from pakat_testkit import CONFORMANCE_CORPUS, pakat_server, pdf_bytes, wait_until

from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment
from pakat import errors
from signer.levels import PadesLevel
from signer.placement import VisibleSignature
from validation.reports.json_report import report_schema
from web.validate_page import MAX_FILES

UPLOAD_LIMIT = 400_000
TWICE_SIGNED = CONFORMANCE_CORPUS / "files" / "dss" / "muestra-firmado-firmado.pdf"
INVISIBLE = CONFORMANCE_CORPUS / "files" / "dss" / "pades-bes.pdf"
PERSIAN_DIGITS = re.compile(r"[۰-۹]")


@pytest.fixture(scope="module")
def sealed(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-page envelope sealed by demo-co with a visible block on its last page."""
    folder = tmp_path_factory.mktemp("validate-extras")
    source = folder / "envelope.pdf"
    source.write_bytes(pdf_bytes("Envelope C, price offer", pages=2))
    out = folder / "پاکت-ج.pdf"
    service = SealService(load_deployment(dev_env.deployment_path))
    try:
        service.seal("demo-co", source, out, PadesLevel.B_LTA, appearance=VisibleSignature())
    finally:
        service.close()
    return out


def post(client: FlaskClient, files: list[tuple[bytes, str]], **form: str) -> Any:
    data: dict[str, Any] = dict(form)
    data["file"] = [(io.BytesIO(body), name) for body, name in files]
    return client.post(f"/validate{form.pop('query', '')}", data=data, content_type="multipart/form-data")


def json_reports(page: str) -> list[dict[str, Any]]:
    return [json.loads(base64.b64decode(m))
            for m in re.findall(r'href="data:application/json;base64,([A-Za-z0-9+/=]+)"', page)]


# -- in-process ---------------------------------------------------------------------------


def test_form_offers_several_files_and_a_time(client: FlaskClient) -> None:
    page = client.get("/validate").get_data(as_text=True)
    assert re.search(r'<input type="file" id="file" name="file"[^>]* multiple', page)
    # Persian: a Jalali date and time as people write them, with today's shown as the example.
    assert '<label for="at">زمان اعتبارسنجی' in page and 'type="text" id="at" name="at"' in page
    assert re.search(r'<bdi dir="ltr" id="at-now">۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2} ', page)
    english = client.get("/validate?lang=en").get_data(as_text=True)
    assert '<label for="at">Validation time' in english and 'type="datetime-local" id="at" name="at"' in english
    assert '<script src="/static/validate.js"></script>' in page and "<script>" not in page
    assert not EXTERNAL_URL.search(page)
    csp = client.get("/validate").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_several_files_each_have_their_report_or_refusal(client: FlaskClient, sealed: Path) -> None:
    files = [(sealed.read_bytes(), sealed.name), (b"not a pdf at all\n", "notes.txt"),
             (TWICE_SIGNED.read_bytes(), TWICE_SIGNED.name), (pdf_bytes("unsigned"), "unsigned.pdf")]
    response = post(client, files)
    assert response.status_code == 200, response.data[:300]
    page = response.get_data(as_text=True)
    for number in range(1, 5):
        assert f'id="file-{number}"' in page
    # The refused files show their own refusal, in both languages, without hiding the others.
    assert 'id="error-2" data-code="NOT_A_PDF"' in page and 'id="error-4" data-code="NO_SIGNATURES"' in page
    assert errors.NOT_A_PDF.fa in page and errors.NO_SIGNATURES.en in page
    # One PDF and one JSON download per report; the first file keeps the plain ids.
    assert 'id="download-pdf"' in page and 'id="download-pdf-3"' in page and 'id="download-json-3"' in page
    first, third = json_reports(page)
    assert first["file_name"] == sealed.name and first["indication"] == "TOTAL_PASSED"
    assert third["file_name"] == TWICE_SIGNED.name and len(third["signatures"]) == 2
    # Element ids stay unique with several reports on one page.
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    # The signed versions: one button per signature, carrying the report's length and SHA-256.
    data = TWICE_SIGNED.read_bytes()
    for sig in third["signatures"]:
        length, digest = sig["signed_revision"]["length"], sig["signed_revision"]["sha256"]
        assert digest == hashlib.sha256(data[:length]).hexdigest()
        assert f'id="signed-3-{sig["index"]}"' in page and f'data-length="{length}"' in page
        assert f'data-sha256="{digest}"' in page


def test_all_files_refused_takes_the_first_refusal_status(client: FlaskClient) -> None:
    response = post(client, [(b"text", "a.txt"), (pdf_bytes("unsigned"), "b.pdf")])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-code="NOT_A_PDF"' in page and 'data-code="NO_SIGNATURES"' in page


def test_too_many_files_is_refused(client: FlaskClient) -> None:
    response = post(client, [(b"%PDF-1.7\n", f"{n}.pdf") for n in range(MAX_FILES + 1)])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    kind = errors.VALIDATION_TOO_MANY_FILES
    assert f'data-code="{kind.code}"' in page and kind.fa in page and kind.en in page


def test_each_file_keeps_the_size_limit(client: FlaskClient, sealed: Path) -> None:
    big = pdf_bytes(pad_to=UPLOAD_LIMIT + 1000)
    response = post(client, [(sealed.read_bytes(), sealed.name), (big, "big.pdf")])
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="error-2" data-code="PDF_TOO_LARGE"' in page and 'id="download-pdf"' in page


def test_past_validation_time_is_shown_in_jalali(client: FlaskClient) -> None:
    response = post(client, [(INVISIBLE.read_bytes(), INVISIBLE.name)], at="2020-03-01T10:00")
    assert response.status_code == 200, response.data[:300]
    page = response.get_data(as_text=True)
    shown = re.search(r'id="validated-at">[^<]*<strong>([^<]+)</strong>', page)
    assert shown and PERSIAN_DIGITS.search(shown.group(1)) and "۱۳۹۸/۱۲/۱۱" in shown.group(1), shown
    assert "۱۰:۰۰:۰۰" in shown.group(1), "a time without an offset is Tehran's clock"
    (report,) = json_reports(page)
    assert report["validation_time"] == "2020-03-01T06:30:00Z"
    assert 'value="2020-03-01T10:00"' in page, "the form keeps the chosen time"
    english = post(client, [(INVISIBLE.read_bytes(), INVISIBLE.name)], at="2020-03-01T10:00:00Z", query="?lang=en")
    text = english.get_data(as_text=True)
    assert "2020-03-01 10:00:00 UTC" in text and json_reports(text)[0]["validation_time"] == "2020-03-01T10:00:00Z"


@pytest.mark.parametrize("at", ["yesterday", "1900-01-01T00:00", "2020-13-01T00:00", "1404/12/30 10:00"])
def test_bad_validation_time_is_a_400_on_page_and_api(client: FlaskClient, sealed: Path, at: str) -> None:
    # The page reads what people type (Jalali or Gregorian, DATETIME_INVALID saying what is wrong); the API
    # reads ISO 8601 for programs (BAD_REQUEST): both refuse, nothing is validated at a moment nobody meant.
    page = post(client, [(sealed.read_bytes(), sealed.name)], at=at)
    assert page.status_code == 400
    assert 'data-code="DATETIME_INVALID"' in page.get_data(as_text=True)
    api = client.post(f"/api/v1/validate?at={at}", data={"file": (io.BytesIO(sealed.read_bytes()), "x.pdf")},
                      content_type="multipart/form-data")
    assert api.status_code == 400 and api.get_json()["error"]["code"] == "BAD_REQUEST"


def test_placement_and_signed_version_in_page_and_api(client: FlaskClient, sealed: Path) -> None:
    page = post(client, [(sealed.read_bytes(), sealed.name), (INVISIBLE.read_bytes(), INVISIBLE.name)])
    text = page.get_data(as_text=True)
    assert "جای امضا روی صفحه" in text and "صفحه ۲ — مستطیل" in text and "نامرئی" in text
    assert "اندازه نسخه امضاشده" in text and "چکیده نسخه امضاشده" in text
    api = client.post("/api/v1/validate", data={"file": (io.BytesIO(sealed.read_bytes()), sealed.name)},
                      content_type="multipart/form-data")
    report = api.get_json()
    jsonschema.validate(report, report_schema())
    (sig,) = report["signatures"]
    (place,) = sig["placements"]
    assert place["page"] == 2 and not place["invisible"] and len(place["rect"]) == 4
    data = sealed.read_bytes()
    assert sig["signed_revision"]["sha256"] == hashlib.sha256(data[:sig["signed_revision"]["length"]]).hexdigest()
    # The page's report and the API's agree.
    (from_page, _) = json_reports(text)
    assert from_page["signatures"][0]["placements"] == sig["placements"]
    assert from_page["signatures"][0]["signed_revision"] == sig["signed_revision"]


# -- a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("validate-extras-serve")
    with pakat_server(dev_env.deployment_path, home, workers=1) as (url, _, _):
        yield url


def test_browser_two_files_past_time_and_signed_version(browser: Any, server: str, sealed: Path,
                                                        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    shots = screenshot_folder("validate-extras")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    for lang in ("fa", "en"):
        browser.set_window_size(1280, 1800)
        browser.get(f"{server}/validate?lang={lang}")
        old = browser.find_element(By.TAG_NAME, "body")
        browser.find_element(By.ID, "file").send_keys(f"{sealed}\n{TWICE_SIGNED}")
        if lang == "fa":  # typed as a Persian reader writes it: Jalali, Persian digits, Tehran's clock
            browser.find_element(By.ID, "at").send_keys("۱۴۰۴/۱۰/۲۵ ۱۲:۰۰")
        else:  # datetime-local: typed as the browser's locale expects; set through the DOM instead
            browser.execute_script("document.getElementById('at').value = '2026-01-15T12:00:00';")
        browser.find_element(By.ID, "submit").click()
        WebDriverWait(browser, 60).until(expected_conditions.staleness_of(old))
        WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "file-2"))
        html = browser.find_element(By.TAG_NAME, "html")
        assert html.get_attribute("lang") == lang
        reports = browser.find_elements(By.CSS_SELECTOR, "article.pk-report")
        assert len(reports) == 2
        at = browser.find_element(By.ID, "validated-at").text
        assert ("۱۴۰۴/۱۰/۲۵" in at and "۱۲:۰۰:۰۰" in at) if lang == "fa" else "2026-01-15 08:30:00 UTC" in at, at

        # Signature 1 of the twice-signed file: its signed version, cut in the browser from the chosen file.
        button = browser.find_element(By.ID, "signed-2-1")
        assert button.is_displayed()
        length = int(button.get_attribute("data-length"))
        name = button.get_attribute("data-name")
        button.click()
        target = downloads / name
        wait_until(lambda t=target, n=length: t.exists() and t.stat().st_size == n, 15, "the signed version")
        assert target.read_bytes() == TWICE_SIGNED.read_bytes()[:length]
        assert length < TWICE_SIGNED.stat().st_size, "an earlier revision, not the whole file"
        target.unlink()
        if lang == "fa":
            # A page that no longer holds the chosen files asks for the file again: a wrong one is refused
            # (its prefix does not hash to the report's), the right one gives the signed version.
            picker = browser.find_element(By.CSS_SELECTOR, 'input.signed-pick[data-for="signed-2-1"]')
            status = picker.find_element(By.XPATH, "following-sibling::span[@class='signed-status']")
            browser.execute_script("arguments[0].hidden = false;", picker)
            picker.send_keys(str(sealed))
            WebDriverWait(browser, 10).until(lambda _, s=status: "همان فایل گزارش نیست" in s.text)
            assert not target.exists()
            browser.execute_script("arguments[0].value = '';", picker)
            picker.send_keys(str(TWICE_SIGNED))
            wait_until(lambda t=target, n=length: t.exists() and t.stat().st_size == n, 15, "the signed version")
            assert target.read_bytes() == TWICE_SIGNED.read_bytes()[:length] and status.text == ""
            target.unlink()

        browser.execute_script("window.scrollTo(0, 0)")
        for width in (1280, 390):
            browser.set_window_size(width, 1800)
            browser.save_screenshot(str(shots / f"validate-extras-{lang}-{width}.png"))
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            wide = browser.execute_script(
                "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')]"
                ".filter(e => { const r = e.getBoundingClientRect(); return r.right > w + 1 || r.left < -1; })"
                ".slice(-3).map(e => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 60));")
            assert overflow <= 1, f"{lang} at {width} px scrolls sideways by {overflow} px: {wide}"
        assert_only_loopback(browser)

