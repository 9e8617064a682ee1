"""How every page looks: web/look.py, the layout, error pages for browsers, the CSP and /api/docs.

Unit tests for the language and word registry run on a tiny Flask app; the
error pages and headers on the module's app; the pages themselves in a real
headless Chromium against ``pakat serve``, at 1280 and 390 px wide, in Persian
and English, with screenshots (their folder is printed).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_kit import LOOPBACK, screenshot_folder
from flask import Flask, Response, jsonify, render_template_string
from flask.testing import FlaskClient
from markupsafe import escape
from pakat_testkit import pakat_server
from werkzeug.exceptions import RequestEntityTooLarge

from pakat import errors
from pakat.errors import PakatError
from web import errors as web_errors
from web import look

VENDOR = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor" / "redoc"


def script_src(csp: str) -> str:
    """The script-src directive of a Content-Security-Policy."""
    return next(d.strip() for d in csp.split(";") if d.strip().startswith("script-src"))


# -- web/look.py alone -------------------------------------------------------------------

@pytest.fixture
def tiny() -> FlaskClient:
    app = Flask("look-test")
    look.register(app)

    @app.get("/page")
    def page() -> str:
        return render_template_string(
            "{{ lang }}|{{ dir }}|{{ switch_url }}|{{ switch_label }}|{{ 1405|num }}|{{ moment|when }}|"
            "{{ person }}|{{ csrf_token() }}|{{ w('look.nav_home') }}",
            moment=datetime(2026, 11, 22, 11, 0, 5, tzinfo=UTC))

    @app.get("/api/thing")
    def api_thing() -> Response:
        return jsonify(lang=look.current_lang())

    return app.test_client()


def test_words_refuse_a_duplicate_key() -> None:
    key = f"look-test.{uuid.uuid4().hex}"  # registered once per process, whatever ran before
    look.words({key: ("یک بار", "once")})
    with pytest.raises(ValueError, match=re.escape(key)):
        look.words({key: ("دوباره", "again")})
    with pytest.raises(ValueError, match=re.escape("look.switch")):  # also a key another module registered
        look.words({"look.switch": ("x", "y")})
    with pytest.raises(ValueError, match="Persian and an English"):
        look.words({f"{key}-half": ("فقط فارسی", "")})
    assert look.word(key, "fa") == "یک بار" and look.word(key, "en") == "once"
    with pytest.raises(KeyError):
        look.word("look-test.never-registered", "fa")


def test_persian_by_default(tiny: FlaskClient) -> None:
    answer = tiny.get("/page")
    lang, direction, switch, label, number, when, person, token, home = answer.get_data(as_text=True).split("|")
    assert (lang, direction, switch, label) == ("fa", "rtl", "/page?lang=en", "English")
    assert number == "۱۴۰۵" and when == "۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۳۰:۰۵ (تهران)"
    assert (person, token, home) == ("None", "", "خانه")
    assert "Set-Cookie" not in answer.headers


def test_lang_query_sets_the_cookie_which_later_pages_follow(tiny: FlaskClient) -> None:
    answer = tiny.get("/page?lang=en&x=1")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{look.LANG_COOKIE}=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    lang, direction, switch, label, number, when, *_ = answer.get_data(as_text=True).split("|")
    assert (lang, direction, label, number, when) == ("en", "ltr", "فارسی", "1405", "2026-11-22 11:00:05 UTC")
    assert switch == "/page?lang=fa&amp;x=1"  # explicit: the cookie says English
    assert tiny.get("/page").get_data(as_text=True).startswith("en|ltr|")  # the cookie, no query
    assert tiny.get("/page?lang=fa").get_data(as_text=True).startswith("fa|rtl|")
    assert tiny.get("/page").get_data(as_text=True).startswith("fa|rtl|")
    assert tiny.get("/page?lang=xx").get_data(as_text=True).startswith("fa|")  # not a language: the cookie's


def test_json_answers_set_no_cookie(tiny: FlaskClient) -> None:
    answer = tiny.get("/api/thing?lang=en")
    assert answer.get_json() == {"lang": "en"} and "Set-Cookie" not in answer.headers


def test_hooks_give_person_csrf_token_and_links(tiny: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(look.PAGE_HOOKS, "person", lambda: "someone")
    monkeypatch.setattr(look.PAGE_HOOKS, "csrf_token", lambda: "t0ken")
    monkeypatch.setattr(look.PAGE_HOOKS, "nav", [lambda: [look.NavLink("/console", "look.nav_console")]])
    *_, person, token, _home = tiny.get("/page").get_data(as_text=True).split("|")
    assert (person, token) == ("someone", "t0ken")
    with tiny.application.test_request_context("/"):
        assert [link.href for link in look.nav_links()][-1] == "/console"


# -- the app: error pages for browsers, JSON for programs --------------------------------

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def assert_error_page(answer: Any, status: int, code: str) -> str:
    assert answer.status_code == status and answer.mimetype == "text/html", answer.data[:300]
    page = answer.get_data(as_text=True)
    kind = {"NOT_FOUND": web_errors.NOT_FOUND, "METHOD_NOT_ALLOWED": web_errors.METHOD_NOT_ALLOWED}.get(code) \
        or getattr(errors, code)
    assert f'data-code="{code}"' in page and str(escape(kind.fa)) in page and str(escape(kind.en)) in page
    assert 'id="lang-switch"' in page and "<script>" not in page and "Traceback" not in page
    csp = answer.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in script_src(csp) and "default-src 'none'" in csp
    assert answer.headers["Cache-Control"] == "no-store"
    return page


def assert_json_error(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status and answer.mimetype == "application/json", answer.data[:300]
    assert answer.get_json()["error"]["code"] == code


def test_unknown_page_is_a_page_for_a_browser_and_json_for_a_program(client: FlaskClient) -> None:
    page = assert_error_page(client.get("/no-such-page", headers=HTML), 404, "NOT_FOUND")
    assert '<html lang="fa" dir="rtl">' in page
    english = assert_error_page(client.get("/no-such-page?lang=en", headers=HTML), 404, "NOT_FOUND")
    assert '<html lang="en" dir="ltr">' in english
    assert_json_error(client.get("/no-such-page"), 404, "NOT_FOUND")  # no Accept: a program
    assert_json_error(client.get("/no-such-page", headers={"Accept": "application/json"}), 404, "NOT_FOUND")


def test_api_and_agent_keep_json_even_for_a_browser(client: FlaskClient) -> None:
    assert_json_error(client.get("/api/v1/nothing-here", headers=HTML), 404, "NOT_FOUND")
    assert_json_error(client.get("/agent/v1/nothing-here", headers=HTML), 404, "NOT_FOUND")
    answer = client.get("/api/v1/seal", headers=HTML)
    assert_json_error(answer, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in answer.headers["Allow"]
    assert_json_error(client.get("/sign/" + "0" * 32 + "/state", headers=HTML), 404, "SESSION_NOT_FOUND")


def test_wrong_method_on_a_page_is_a_page_with_allow(client: FlaskClient) -> None:
    answer = client.post("/", headers=HTML)
    assert_error_page(answer, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in answer.headers["Allow"]
    assert_error_page(client.delete("/api/docs"), 405, "METHOD_NOT_ALLOWED")  # a page path: a page anyway


def test_internal_error_on_a_page_shows_no_details(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> str:
        raise RuntimeError("secret internals /srv/pakat")

    monkeypatch.setattr("web.pages.public_base", boom)
    page = assert_error_page(client.get("/", headers=HTML), 500, "INTERNAL")
    assert "secret internals" not in page


def test_too_large_and_pakat_errors_reach_pages(app: Flask) -> None:
    with app.test_request_context("/somewhere", headers=HTML):
        answer = app.make_response(web_errors._http_error(RequestEntityTooLarge()))
        assert_error_page(answer, 413, "PDF_TOO_LARGE")
    with app.test_request_context("/console/anything"):  # a page path, whatever the Accept
        answer = web_errors._pakat_error(PakatError(errors.PUBLIC_URL_NOT_SET))
        assert_error_page(answer, errors.PUBLIC_URL_NOT_SET.http_status, "PUBLIC_URL_NOT_SET")
    with app.test_request_context("/api/v1/documents", headers=HTML):
        assert_json_error(web_errors._http_error(RequestEntityTooLarge()), 413, "PDF_TOO_LARGE")


def test_pages_share_one_csp_without_inline_script(client: FlaskClient) -> None:
    for path in ("/", "/validate", "/validate?lang=en", "/sign/" + "0" * 32):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.mimetype == "text/html", path
        csp = answer.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp and script_src(csp) == "script-src 'self'", (path, csp)
        page = answer.get_data(as_text=True)
        assert "<script>" not in page and "<style" not in page and " style=" not in page, path
    with client.get("/validate/report.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css" and b".pk-report" in css.data


def test_home_describes_what_exists(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    for link in ('href="/validate"', 'href="/console"', 'href="/api/docs"'):
        assert link in page, link
    assert "به‌زودی" not in page and "Coming next" not in page
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "Signing with a personal token" in english and "Coming next" not in english


def test_api_docs_page_and_its_vendored_bundle(client: FlaskClient) -> None:
    answer = client.get("/api/docs")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    csp = answer.headers["Content-Security-Policy"]
    assert script_src(csp) == "script-src 'self'" and "worker-src blob:" in csp and "http" not in csp
    page = answer.get_data(as_text=True)
    assert 'src="/static/vendor/redoc/redoc.standalone.js"' in page and 'src="/static/api-docs.js"' in page
    assert 'data-spec-url="/api/v1/openapi.json"' in page and "<script>" not in page
    with client.get("/static/vendor/redoc/redoc.standalone.js") as bundle:
        assert bundle.status_code == 200 and b"Redoc" in bundle.data[:2000]
    assert "MIT" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert (VENDOR / "VERSION").read_text(encoding="utf-8").startswith("redoc 2.5.4")


# -- a real browser against a real server ------------------------------------------------

PAGES = {"home": "/", "validate": "/validate", "api-docs": "/api/docs", "error": "/no-such-page"}
WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def server(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("look-serve")
    with pakat_server(dev_env.deployment_path, home, workers=1) as (url, _, _):
        yield url


@pytest.fixture(scope="module")
def screens() -> Path:
    return screenshot_folder("look")


def headers_of(url: str) -> Any:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=HTML), timeout=20) as answer:
            return answer.headers
    except urllib.error.HTTPError as refused:  # the error page
        return refused.headers


def assert_loopback_only(urls: list[str]) -> None:
    for url in urls:
        parts = urlsplit(url[len("blob:"):] if url.startswith("blob:") else url)
        assert parts.scheme == "data" or (parts.scheme == "http" and parts.hostname in LOOPBACK), url


def browser_problems(driver: Any, name: str) -> list[str]:
    problems = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    if name == "error":  # Chromium logs the page's own 404 as a failed resource; nothing else may be
        problems = [p for p in problems if "404" not in p]
    return problems


def look_at(driver: Any, server: str, name: str, lang: str, width: int) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.delete_all_cookies()
    driver.get_log("browser")  # forget what earlier pages logged
    driver.get(f"{server}{PAGES[name]}?lang={lang}")
    if name == "api-docs":  # Redoc rendered the operations from the OpenAPI description
        WebDriverWait(driver, 30).until(
            lambda d: "Liveness" in d.find_element(By.ID, "redoc").text, "Redoc rendered no operation")
    html = driver.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == (lang, "rtl" if lang == "fa" else "ltr")
    assert driver.execute_script("return window.innerWidth") == width
    loaded = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "document.fonts.ready.then(() => done([...document.fonts]"
        ".filter(f => f.family.replace(/\"/g, '') === 'Vazirmatn' && f.status === 'loaded').length));")
    assert loaded >= 1, "Vazirmatn was not loaded"
    family = driver.execute_script("return getComputedStyle(document.body).fontFamily")
    assert family.replace('"', "").startswith("Vazirmatn"), family
    heading = driver.execute_script("return getComputedStyle(document.querySelector('h1')).fontFamily")
    assert heading.replace('"', "").startswith("Vazirmatn"), heading
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} {lang} scrolls sideways at {width} px by {overflow} px"
    urls = driver.execute_script(
        "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));")
    assert_loopback_only([str(u) for u in urls])
    assert any(str(u).endswith("/validate/fonts/Vazirmatn-Regular.ttf") for u in urls), urls
    assert browser_problems(driver, name) == []


@pytest.mark.parametrize("name", list(PAGES))
def test_page_looks_right_in_both_languages_and_widths(browser: Any, server: str, screens: Path,
                                                       name: str) -> None:
    from selenium.webdriver.common.by import By

    for lang in ("fa", "en"):
        csp = headers_of(f"{server}{PAGES[name]}?lang={lang}")["Content-Security-Policy"]
        assert csp and "'unsafe-inline'" not in script_src(csp) and "http" not in csp, csp
        for width in WIDTHS:
            look_at(browser, server, name, lang, width)
            browser.save_screenshot(str(screens / f"{name}-{lang}-{width}.png"))
        # The switch leads to the same page in the other language.
        other = "en" if lang == "fa" else "fa"
        switch = browser.find_element(By.ID, "lang-switch")
        assert switch.get_attribute("hreflang") == other
        switch.click()
        html = browser.find_element(By.TAG_NAME, "html")
        assert html.get_attribute("lang") == other
        assert urlsplit(browser.current_url).path == PAGES[name]
        assert browser.get_cookie(look.LANG_COOKIE)["value"] == other
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
