"""The /validate page: in a real headless Chromium against ``pakat serve``, and its refusals through Flask.

The browser test uploads a PDF sealed by our own signer (SoftHSM key, dev PKI
TSA and OCSP), reads the Persian verdict, switches to English, uploads a text
file, and checks that no page asked anything of a host other than this one.
Chromium and chromedriver are Debian's; a machine without them fails here,
it does not skip.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_kit import EXTERNAL_URL, JALALI_DATE, LOOPBACK, assert_only_loopback, fetched_urls
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import (
    encrypted_pdf_bytes,
    pakat_server,
    pdf_bytes,
    wait_until,
)

from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment
from pakat import errors
from signer.levels import PadesLevel

ISO_DATE = re.compile(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC")
UPLOAD_LIMIT = 200_000


# -- a sealed PDF ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sealed(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-page envelope sealed at B-LTA by demo-co, named as a clerk would name it."""
    folder = tmp_path_factory.mktemp("validate-page")
    source = folder / "envelope.pdf"
    source.write_bytes(pdf_bytes("Envelope B, technical offer", pages=2))
    out = folder / "پاکت-ب.pdf"
    service = SealService(load_deployment(dev_env.deployment_path))
    try:
        service.seal("demo-co", source, out, PadesLevel.B_LTA, location="تهران")
    finally:
        service.close()
    return out


# -- through Flask: every refusal is a page ----------------------------------------------

def post(client: FlaskClient, data: bytes | None, name: str = "envelope.pdf", query: str = "") -> Any:
    form: dict[str, Any] = {} if data is None else {"file": (io.BytesIO(data), name)}
    return client.post(f"/validate{query}", data=form, content_type="multipart/form-data")


def assert_error_page(response: Any, status: int, kind: errors.ErrorKind) -> str:
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert f'data-code="{kind.code}"' in page
    assert kind.fa in page and kind.en in page, "the error must be shown in both languages"
    assert "Traceback" not in page
    return page


def test_form_is_persian_rtl_and_self_contained(client: FlaskClient) -> None:
    response = client.get("/validate")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in page
    assert 'name="file"' in page and 'enctype="multipart/form-data"' in page
    assert not EXTERNAL_URL.search(page), "no CDN, no external URL"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    english = client.get("/validate?lang=en").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in english and 'action="/validate?lang=en"' in english


def test_sealed_pdf_report_with_downloads(client: FlaskClient, sealed: Path) -> None:
    response = post(client, sealed.read_bytes(), sealed.name)
    assert response.status_code == 200, response.data[:500]
    page = response.get_data(as_text=True)
    assert 'data-indication="TOTAL_PASSED"' in page and "معتبر" in page
    assert JALALI_DATE.search(page)
    assert not EXTERNAL_URL.search(page)
    pdf = re.search(r'href="data:application/pdf;base64,([A-Za-z0-9+/=]+)" download="([^"]+)"', page)
    assert pdf and base64.b64decode(pdf.group(1)).startswith(b"%PDF-")
    assert pdf.group(2) == "پاکت-ب-validation-fa.pdf"
    js = re.search(r'href="data:application/json;base64,([A-Za-z0-9+/=]+)"', page)
    assert js
    report = json.loads(base64.b64decode(js.group(1)))
    assert report["indication"] == "TOTAL_PASSED" and report["file_name"] == "پاکت-ب.pdf"


@pytest.mark.parametrize(
    ("data", "name", "status", "kind"),
    [
        (b"Hello, this is a text file and not a PDF.\n", "notes.txt", 422, errors.NOT_A_PDF),
        (encrypted_pdf_bytes(), "locked.pdf", 422, errors.PDF_ENCRYPTED),
        (pdf_bytes("unsigned"), "unsigned.pdf", 422, errors.NO_SIGNATURES),
        (None, "", 400, errors.PDF_MISSING),
        (pdf_bytes(pad_to=UPLOAD_LIMIT + 100_000), "huge.pdf", 413, errors.PDF_TOO_LARGE),
    ],
    ids=["not-a-pdf", "encrypted", "no-signatures", "missing", "too-large"],
)
def test_refusals_are_bilingual_pages(client: FlaskClient, data: bytes | None, name: str, status: int,
                                      kind: errors.ErrorKind) -> None:
    assert_error_page(post(client, data, name), status, kind)


def test_refusal_keeps_the_page_language(client: FlaskClient) -> None:
    page = assert_error_page(post(client, b"not a pdf", "x.txt", "?lang=en"), 422, errors.NOT_A_PDF)
    assert '<html lang="en" dir="ltr">' in page


def test_internal_error_is_a_page_without_details(app: Flask, client: FlaskClient,
                                                  monkeypatch: pytest.MonkeyPatch, sealed: Path) -> None:
    def boom(path: Path, file_name: str | None) -> Any:
        raise RuntimeError("secret internals /srv/pakat")

    monkeypatch.setattr("web.validate_page.validate_file", boom)
    page = assert_error_page(post(client, sealed.read_bytes()), 500, errors.INTERNAL)
    assert "secret internals" not in page


def test_font_is_served_from_here(client: FlaskClient) -> None:
    with client.get("/validate/fonts/Vazirmatn-Regular.ttf") as font:
        assert font.status_code == 200 and font.mimetype == "font/ttf"
        assert font.data[:4] == b"\x00\x01\x00\x00"
    assert client.get("/validate/fonts/..%2Fpdf.py").status_code == 404
    assert client.get("/validate/fonts/OFL.txt").status_code == 404


# -- a real browser against a real server ------------------------------------------------

@pytest.fixture(scope="module")
def server(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("validate-serve")
    with pakat_server(dev_env.deployment_path, home, workers=1) as (url, _, _):
        yield url


def upload(driver: Any, path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    # The page's script sends the form with fetch and replaces the body (it keeps the files for "view
    # signed version"), so the body, not the document, goes stale.
    old = driver.find_element(By.TAG_NAME, "body")
    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 20).until(expected_conditions.staleness_of(old))


def test_browser_validates_in_persian_then_english(browser: Any, server: str, sealed: Path,
                                                   tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/validate")
    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("dir"), html.get_attribute("lang")) == ("rtl", "fa")
    assert browser.execute_script("return getComputedStyle(document.body).direction") == "rtl"

    upload(browser, sealed)
    report = browser.find_element(By.CSS_SELECTOR, "article.pk-report")
    assert report.get_attribute("data-indication") == "TOTAL_PASSED"
    assert "معتبر" in browser.find_element(By.CSS_SELECTOR, ".pk-verdict .pk-badge-label").text
    assert JALALI_DATE.search(report.text), report.text[:500]
    assert "demo" in report.text.lower() or "پاکت" in report.text  # the signer's name is shown
    # The downloads really download (data: URLs with a download name), under a strict CSP.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.find_element(By.ID, "download-pdf").click()
    browser.find_element(By.ID, "download-json").click()
    pdf_file, json_file = downloads / "پاکت-ب-validation-fa.pdf", downloads / "پاکت-ب-validation.json"
    wait_until(lambda: pdf_file.exists() and json_file.exists(), 10, "the report downloads")
    assert pdf_file.read_bytes().startswith(b"%PDF-")
    assert json.loads(json_file.read_text(encoding="utf-8"))["indication"] == "TOTAL_PASSED"
    urls = assert_only_loopback(browser)
    assert any(u.endswith("/validate/fonts/Vazirmatn-Regular.ttf") for u in urls), urls

    browser.find_element(By.ID, "lang-switch").click()
    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("dir"), html.get_attribute("lang")) == ("ltr", "en")
    assert browser.current_url.endswith("/validate?lang=en")
    upload(browser, sealed)
    report = browser.find_element(By.CSS_SELECTOR, "article.pk-report")
    assert report.get_attribute("dir") == "ltr"
    assert browser.find_element(By.CSS_SELECTOR, ".pk-verdict .pk-badge-label").text == "Valid"
    assert ISO_DATE.search(report.text)
    assert_only_loopback(browser)

    text_file = tmp_path / "notes.txt"
    text_file.write_text("Hello, this is a text file and not a PDF.\n", encoding="utf-8")
    upload(browser, text_file)
    error = browser.find_element(By.ID, "error")
    assert error.get_attribute("data-code") == "NOT_A_PDF"
    assert errors.NOT_A_PDF.fa in error.text and errors.NOT_A_PDF.en in error.text
    assert "NOT_A_PDF" in error.text
    # The 422 itself is logged by Chromium as a failed resource; nothing else may be.
    problems = [e["message"] for e in browser.get_log("browser")
                if e["level"] in ("SEVERE", "WARNING") and "422" not in e["message"]]
    assert problems == [], problems
    for url in fetched_urls(browser):
        assert urlsplit(url).hostname in LOOPBACK, url
