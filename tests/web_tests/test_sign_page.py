"""The bidder's signing page ``/sign/<id>#<view token>``: through Flask, then in a real headless Chromium.

The Flask tests check the access design (the view token only in a header, the
same 404 for an unknown session and a wrong token, the pairing link only for a
valid token and only while open), the headers, and the return_url allow-list.
The browser test opens the page as a bidder would, signs with a dev-PKI
person's SoftHSM token through the link the page shows, watches the page turn
to "signed" without a reload, downloads the signed PDF and validates it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
import yaml
from browser_kit import EXTERNAL_URL, JALALI_DATE, assert_only_loopback, screenshot_folder
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH, Spec
from pakat_testkit import api_key, pakat_app, pakat_server, pdf_bytes, tidy_client, wait_until
from session_kit import PERSON, Agent, Platform, Token

from envelopes.sessions import agent_secret_for
from hsm_config.deployment import Platform as PlatformConfig
from hsm_config.deployment import hash_api_key, load_deployment, return_url_allowed, validation_config
from validation.engine import Validator
from validation.model import Indication

RETURN_PREFIX = "https://platform.example/tenders/"
SPEC = Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))
TOKEN_HEADER = "X-Pakat-View-Token"


def with_return_urls(dev_env: Any, folder: Path) -> Path:
    """The dev deployment, demo-co's key allowed to send bidders back under RETURN_PREFIX."""
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    own = hash_api_key(api_key(dev_env, "demo-co"))
    for entry in raw["api_keys"]:
        if entry["sha256"] == own:
            entry["return_urls"] = [RETURN_PREFIX]
    config = dev_env.deployment_path.with_name(f"sign-page-{folder.name}.yaml")
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def app(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    home = tmp_path_factory.mktemp("sign-page-home")
    config = with_return_urls(dev_env, home)
    try:
        with pakat_app(config, home, 20 * 1024 * 1024, redis_url=redis_url, queue=f"sign-page-{home.name}") as a:
            yield a
    finally:
        config.unlink(missing_ok=True)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with tidy_client(app) as test_client:
        yield test_client


def view_token(created: dict[str, Any]) -> str:
    url = urlsplit(created["signing_page_url"])
    assert url.path == "/sign/" + created["id"] and not url.query
    return url.fragment


def state(client: FlaskClient, session_id: str, token: str | None, lang: str = "fa") -> Any:
    headers = {TOKEN_HEADER: token} if token is not None else {}
    return client.get(f"/sign/{session_id}/state?lang={lang}", headers=headers)


# -- the access design ------------------------------------------------------------------

def test_page_url_carries_the_view_token_only_in_its_fragment(client: FlaskClient, platform: Platform) -> None:
    doc = platform.upload()
    reply = client.post(f"/api/v1/documents/{doc['id']}/signing-sessions", headers=platform.headers,
                        json={"level": "B-B", "return_url": RETURN_PREFIX + "1234/bids?x=1"})
    created = SPEC.check("/api/v1/documents/{doc_id}/signing-sessions", "post", reply)
    token = view_token(created)
    assert len(token) >= 43 and agent_secret_for(token) == created["agent_secret"]
    assert created["return_url"] == RETURN_PREFIX + "1234/bids?x=1"

    page = client.get(urlsplit(created["signing_page_url"]).path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html
    # The shell knows nothing of the session: no secret, no token, no document name, no link.
    for secret in (token, created["agent_secret"], "pakat://", doc["sha256"], "پاکت-ب"):
        assert secret not in html
    assert not EXTERNAL_URL.search(html)
    assert "<script>" not in html and "onclick" not in html, "no inline script"
    assert re.search(r'<script src="/static/sign.js" defer></script>', html)
    invented = client.get("/sign/" + "0" * 32).get_data(as_text=True)
    assert invented.replace("0" * 32, created["id"]) == html  # the same shell for any id
    english = client.get(urlsplit(created["signing_page_url"]).path + "?lang=en").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in english and "Sign with my token" in english
    assert "امضا با توکن من" in html


def test_state_for_a_valid_token(client: FlaskClient, platform: Platform, dev_env: Any) -> None:
    user = dev_env.users[PERSON]
    doc = platform.upload()
    created = platform.session(doc["id"], level="B-B",
                               expected_signer={"national_id": user.national_code, "role": "مدیرعامل"})
    reply = state(client, created["id"], view_token(created))
    assert reply.status_code == 200, reply.json
    body = SPEC.check("/sign/{session_id}/state", "get", reply)
    assert body["state"] == "awaiting_certificate" and body["phase"] == "waiting" and not body["final"]
    assert body["phase_label"] == "در انتظار امضا"
    assert body["pairing_link"] == created["pairing_link"]
    assert base64.b64decode(body["qr_svg"].removeprefix("data:image/svg+xml;base64,")).startswith(b"<svg")
    assert body["document"]["sha256"] == doc["sha256"] and body["document"]["pages"] == 2
    assert body["document"]["pages_text"] == "۲" and body["document"]["name"] == "پاکت-ب.pdf"
    national = body["expected_signer"]["national_id"]
    assert national and not re.search(r"[0-9]", national) and len(national) == len(user.national_code)
    assert body["platform"] == "سامانه نمونه تدارکات" or body["platform"]
    assert JALALI_DATE.search(body["expires_at_text"]) and 0 < body["seconds_left"] <= 600
    english = state(client, created["id"], view_token(created), "en").json
    assert english["phase_label"] == "Waiting for your signature"
    assert english["expected_signer"]["national_id"] == user.national_code
    for answer in (reply, client.get(f"/sign/{created['id']}")):
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    preview = client.get(f"/sign/{created['id']}/preview.png", headers={TOKEN_HEADER: view_token(created)})
    assert preview.status_code == 200 and preview.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("path", ["state", "preview.png", "signed.pdf"])
def test_unknown_session_and_wrong_token_answer_alike(client: FlaskClient, platform: Platform, path: str) -> None:
    created = platform.session(platform.upload()["id"], level="B-B")
    token = view_token(created)
    answers = [
        client.get(f"/sign/{created['id']}/{path}", headers={TOKEN_HEADER: token[:-2] + "xx"}),
        client.get(f"/sign/{created['id']}/{path}"),
        # The agent secret is not a view token: it cannot be turned back into one.
        client.get(f"/sign/{created['id']}/{path}", headers={TOKEN_HEADER: created["agent_secret"]}),
        client.get(f"/sign/{'f' * 32}/{path}", headers={TOKEN_HEADER: token}),
        client.get(f"/sign/nope/{path}", headers={TOKEN_HEADER: token}),
        # A token in the query string is not read: it would have reached the access log.
        client.get(f"/sign/{created['id']}/{path}?token={token}"),
    ]
    bodies = {a.get_data(as_text=True) for a in answers}
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert len(bodies) == 1, bodies
    assert answers[0].json["error"]["code"] == "SESSION_NOT_FOUND"
    SPEC.check(f"/sign/{{session_id}}/{path}", "get", answers[0])
    assert all(a.headers["Cache-Control"] == "no-store" for a in answers)


def test_pairing_link_only_while_open_and_pdf_once_signed(app: Flask, client: FlaskClient, platform: Platform,
                                                          dev_env: Any) -> None:
    doc = platform.upload()
    created = platform.session(doc["id"], level="B-B", return_url=RETURN_PREFIX)
    token, headers = view_token(created), {TOKEN_HEADER: view_token(created)}
    early = client.get(f"/sign/{created['id']}/signed.pdf", headers=headers)
    assert early.status_code == 409 and early.json["error"]["code"] == "SIGNED_PDF_NOT_READY"
    person = Token(dev_env, PERSON)
    try:
        agent = Agent(client, created)
        answer = agent.certificate(person.certificate_b64)
        assert answer.status_code == 200, answer.json
        assert state(client, created["id"], token).json["phase"] == "signing"
        assert agent.signature(person.sign(answer.json)).status_code == 202
    finally:
        person.key.close()
    body = state(client, created["id"], token).json
    SPEC.check("/sign/{session_id}/state", "get", state(client, created["id"], token))
    assert (body["state"], body["phase"], body["final"], body["download"]) == ("completed", "signed", True, True)
    assert "pairing_link" not in body and "qr_svg" not in body
    assert created["agent_secret"] not in str(body)
    assert body["return_url"] == RETURN_PREFIX and body["signer"]
    pdf = client.get(f"/sign/{created['id']}/signed.pdf", headers=headers)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert pdf.headers["Cache-Control"] == "no-store"
    report = Validator(validation_config(app.extensions["pakat"].deployment)).validate(pdf.data)
    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED]

    cancelled = platform.session(doc["id"], level="B-B")
    client.delete(f"/api/v1/documents/{doc['id']}/signing-sessions/{cancelled['id']}", headers=platform.headers)
    gone = state(client, cancelled["id"], view_token(cancelled)).json
    assert (gone["phase"], gone["final"]) == ("cancelled", True) and "pairing_link" not in gone


# -- return_url ---------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "allowed"), [
    (RETURN_PREFIX, True),
    (RETURN_PREFIX + "1234?x=1#done", True),
    ("HTTPS://Platform.Example:443/tenders/9", True),
    ("https://platform.example/tenders", False),  # the prefix's own segment "tenders/" needs the slash
    ("https://platform.example/tenders-old/1", False),
    ("https://platform.example.evil.com/tenders/1", False),
    ("https://platform.example@evil.com/tenders/1", False),
    ("https://user@platform.example/tenders/1", False),
    ("http://platform.example/tenders/1", False),
    ("https://platform.example:8443/tenders/1", False),
    ("https://platform.example/tenders/../admin", False),
    ("https://platform.example/tenders/%2e%2e/admin", False),
    ("https://platform.example/tenders/..%2fadmin", False),
    ("https://platform.example\\@evil.com/tenders/1", False),
    ("javascript:alert(1)//platform.example/tenders/", False),
    ("//platform.example/tenders/1", False),
])
def test_return_url_is_compared_parsed(url: str, allowed: bool) -> None:
    assert return_url_allowed(url, RETURN_PREFIX) is allowed
    configured = PlatformConfig("0" * 64, "demo-co", "x", "y", return_urls=(RETURN_PREFIX,))
    assert configured.allows_return_url(url) is allowed


def test_prefix_without_slash_admits_itself_and_below() -> None:
    prefix = "https://platform.example/tenders"
    assert return_url_allowed("https://platform.example/tenders", prefix)
    assert return_url_allowed("https://platform.example/tenders/1", prefix)
    assert not return_url_allowed("https://platform.example/tenders2", prefix)


def test_return_url_refused_with_a_code(client: FlaskClient, platform: Platform, dev_env: Any) -> None:
    doc = platform.upload()
    for url in ("https://evil.example/tenders/", "https://platform.example.evil.com/tenders/1", "not a url"):
        reply = client.post(f"/api/v1/documents/{doc['id']}/signing-sessions", headers=platform.headers,
                            json={"level": "B-B", "return_url": url})
        assert reply.status_code == 400 and reply.json["error"]["code"] == "RETURN_URL_REFUSED", reply.json
        SPEC.check("/api/v1/documents/{doc_id}/signing-sessions", "post", reply)
        assert url not in reply.get_data(as_text=True)
    other = Platform(client, api_key(dev_env, "demo-gov"))  # a key with no return_urls at all
    doc = other.upload()
    reply = client.post(f"/api/v1/documents/{doc['id']}/signing-sessions", headers=other.headers,
                        json={"level": "B-B", "return_url": RETURN_PREFIX})
    assert reply.status_code == 400 and reply.json["error"]["code"] == "RETURN_URL_REFUSED"


def test_bad_return_urls_in_the_deployment_are_refused(dev_env: Any, tmp_path: Path) -> None:
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    raw["api_keys"][0]["return_urls"] = ["https://user:pw@platform.example/"]
    config = dev_env.deployment_path.with_name(f"bad-return-{tmp_path.name}.yaml")
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    try:
        with pytest.raises(Exception, match=r"return_urls\[0\]") as caught:
            load_deployment(config)
        assert "pw" not in str(caught.value)
    finally:
        config.unlink()


# -- a real browser against a real server ------------------------------------------------

@pytest.fixture(scope="module")
def server(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("sign-serve")
    config = with_return_urls(dev_env, home)
    env = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"sign-e2e-{home.name}"}
    try:
        with pakat_server(config, home, workers=1, env=env) as (url, log, _):
            yield {"url": url, "log": log, "config": config}
    finally:
        config.unlink(missing_ok=True)


def test_bidder_signs_and_the_page_follows(browser: Any, server: dict[str, Any], dev_env: Any,
                                           tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    shots = screenshot_folder("sign-page")

    url, headers = server["url"], {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    user = dev_env.users[PERSON]
    doc = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                        files={"pdf": ("پاکت-الف.pdf", pdf_bytes("financial envelope", pages=3))}).json()
    created = requests.post(f"{url}/api/v1/documents/{doc['id']}/signing-sessions", headers=headers, timeout=30,
                            json={"level": "B-B", "return_url": RETURN_PREFIX + "77",
                                  "expected_signer": {"national_id": user.national_code}}).json()
    page_url = created["signing_page_url"]
    token = urlsplit(page_url).fragment

    def by_id(name: str) -> Any:
        return browser.find_element(By.ID, name)

    browser.get(page_url)
    wait_until(lambda: by_id("phase").get_attribute("data-phase") == "waiting", 20, "the page shows the session")
    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("dir"), html.get_attribute("lang")) == ("rtl", "fa")
    assert by_id("doc-name").text == "پاکت-الف.pdf" and by_id("doc-pages").text == "۳"
    assert by_id("doc-sha256").text == doc["sha256"]
    assert by_id("expected-id").text and not re.search(r"[0-9]", by_id("expected-id").text)
    assert JALALI_DATE.search(by_id("expires").text)
    assert re.fullmatch(r"[۰-۹]+:[۰-۹]{2}", by_id("countdown").text), by_id("countdown").text
    link = by_id("sign-button").get_attribute("href")
    assert link == created["pairing_link"] and by_id("sign-button").text == "امضا با توکن من"
    assert by_id("qr").get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert browser.execute_script("return document.getElementById('qr').naturalWidth") > 0
    wait_until(lambda: by_id("preview").get_attribute("src") or False, 20, "the preview")
    assert by_id("preview").get_attribute("src").startswith("blob:")
    browser.save_screenshot(str(shots / "sign-page-fa.png"))
    assert_only_loopback(browser)

    by_id("lang-switch").click()
    wait_until(lambda: by_id("phase").get_attribute("data-phase") == "waiting", 20, "the English page")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert urlsplit(browser.current_url).fragment == token, "switching language keeps the access"
    assert by_id("sign-button").text == "Sign with my token" and by_id("doc-pages").text == "3"
    browser.save_screenshot(str(shots / "sign-page-en.png"))

    # The bidder's agent, given exactly the link the page shows.
    query = parse_qs(urlsplit(link).query)
    agent_url, secret = unquote(query["session"][0]), query["secret"][0]
    agent = {"Authorization": f"Bearer {secret}"}
    person = Token(dev_env, PERSON)
    try:
        answer = requests.post(f"{agent_url}/certificate", headers=agent, timeout=30,
                               json={"certificate": person.certificate_b64, "chain": [],
                                     "digest_algorithm": "sha256"})
        assert answer.status_code == 200, answer.text
        wait_until(lambda: by_id("phase").get_attribute("data-phase") == "signing", 20, "the page sees signing")
        posted = requests.post(f"{agent_url}/signature", headers=agent, timeout=30,
                               json={"signature": person.sign(answer.json())})
        assert posted.status_code == 202, posted.text
    finally:
        person.key.close()
    wait_until(lambda: by_id("phase").get_attribute("data-phase") == "signed", 20, "the page sees signed")
    assert by_id("phase").text == "Signed" and not by_id("act").is_displayed()
    assert by_id("signer").text and "=" not in by_id("signer").text  # the name, not an RFC 4514 string
    assert by_id("return").get_attribute("href") == RETURN_PREFIX + "77"
    browser.save_screenshot(str(shots / "sign-page-en-signed.png"))

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    by_id("download").click()
    signed = downloads / "پاکت-الف.pdf"
    wait_until(lambda: signed.exists() and signed.stat().st_size > 0, 20, "the signed PDF downloads")
    report = Validator(validation_config(load_deployment(server["config"]))).validate(signed.read_bytes())
    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED]
    assert_only_loopback(browser)

    # Neither the view token nor the agent secret ever reached the server's log.
    log = server["log"].read_text(encoding="utf-8", errors="replace")
    assert token not in log and secret not in log
