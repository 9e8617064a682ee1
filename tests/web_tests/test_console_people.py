"""The console's sign-in, sessions, CSRF, roles and people pages, in-process with Flask's test client.

Cookie flags; every console form refused without its CSRF token; a viewer and an
operator refused admin actions by page and by direct POST; another
organisation's people never listed or reachable; a safe ``next`` only; the
account lockout and the address lockout; the one-time password flow; no
password or session token in a page, a URL or a log.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from console_kit import CSRF_FIELD, PASSWORD, Console, code_of, make_person, people_of, unique
from flask import Flask
from pakat_testkit import pakat_app

from envelopes import audit
from envelopes.people import LOCK_AFTER, Role

_FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S)


def test_sign_in_and_out_with_the_cookie_flags_and_audit(app: Flask, logs: pytest.LogCaptureFixture) -> None:
    admin = make_person(app, "demo-co", Role.ADMIN).username
    browser = Console(app)
    first = browser.get("/console/admin/users?x=1")
    assert first.status_code == 303
    assert first.headers["Location"] == "/console/sign-in?next=/console/admin/users%3Fx%3D1"
    page = browser.get(first.headers["Location"])
    assert page.status_code == 200
    assert 'name="next" value="/console/admin/users?x=1"' in page.get_data(as_text=True)
    for label in ('for="username"', 'for="password"'):
        assert label in page.get_data(as_text=True)

    signed = browser.sign_in(admin.upper(), next_path="/console/admin/users?x=1")
    assert signed.status_code == 303 and signed.headers["Location"] == "/console/admin/users?x=1"
    cookie = next(c for c in signed.headers.getlist("Set-Cookie") if c.startswith("pakat_console="))
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert "httponly" in flags and flags["samesite"] == "SameSite=Strict" and flags["path"] == "Path=/console"
    assert "secure" not in flags  # plain http on loopback; https below
    token = cookie.split(";")[0].split("=", 1)[1]
    assert len(token) >= 43

    home = browser.get("/console")
    text = home.get_data(as_text=True)
    assert home.status_code == 200 and admin in text and 'data-role="admin"' in text
    assert 'href="/console/admin/users"' in text and 'href="/console/batches"' in text
    assert home.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in home.headers["Content-Security-Policy"]

    out = browser.post("/console/sign-out")
    assert out.status_code == 303 and out.headers["Location"] == "/console/sign-in?signed_out=1"
    assert browser.get("/console").status_code == 303
    # The old token is dead on the server, whatever a browser kept.
    browser.client.set_cookie("pakat_console", token, path="/console")
    assert browser.get("/console").status_code == 303

    actions = [e.action for e in app.extensions["pakat"].audit_log().entries(limit=1000)
               if e.subject.startswith("person:")]
    assert audit.PERSON_SIGNED_IN in actions and audit.PERSON_SIGNED_OUT in actions
    everything = browser.seen + [r.getMessage() for r in logs.records]
    assert not any(PASSWORD in text for text in everything)
    assert not any(token in text for text in everything if not text.startswith("pakat_console="))


def test_the_cookie_is_secure_when_the_public_url_is_https(dev_env: Any, tmp_path: Any) -> None:
    with pakat_app(dev_env.deployment_path, tmp_path / "home", 1024 * 1024,
                   public_url="https://pakat.example.ir") as app:
        admin = make_person(app, "demo-co", Role.ADMIN).username
        signed = Console(app).sign_in(admin)
        cookie = next(c for c in signed.headers.getlist("Set-Cookie") if c.startswith("pakat_console="))
        assert "; Secure" in cookie


def test_every_console_form_is_refused_without_its_csrf_token(app: Flask) -> None:
    admin = make_person(app, "demo-co", Role.ADMIN).username
    target = make_person(app, "demo-co", Role.VIEWER).username
    target_id = people_of(app).by_username(target).id
    browser = Console(app)
    assert browser.sign_in(admin).status_code == 303

    # Every form the console's pages show carries the token.
    for page in ("/console", "/console/admin/users", "/console/account/password", "/console/sign-out"):
        text = browser.get(page).get_data(as_text=True)
        forms = _FORM.findall(text)
        assert forms, page
        assert all('name="csrf_token" value="' in form and CSRF_FIELD.search(form).group(1)
                   for form in forms), page

    posts = sorted(rule.rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith("/console") and "POST" in (rule.methods or set()))
    assert {"/console/sign-in", "/console/sign-out", "/console/account/password", "/console/admin/users",
            "/console/admin/users/<person_id>/disable"} <= set(posts)
    for rule in posts:
        path = rule.replace("<person_id>", target_id)
        for sent in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
            refused = browser.client.post(path, data={"role": "admin", **sent})
            assert refused.status_code == 403 and code_of(refused) == "CSRF_INVALID", (path, sent)
        as_json = browser.client.post(path, headers={"Accept": "application/json", "X-CSRF-Token": "forged"})
        assert as_json.status_code == 403 and as_json.get_json()["error"]["code"] == "CSRF_INVALID"
    person = people_of(app).by_username(target)
    assert not person.disabled and person.role is Role.VIEWER and browser.signed_in()
    # The header works as well as the field.
    ok = browser.client.post(f"/console/admin/users/{target_id}/role", data={"role": "operator"},
                             headers={"X-CSRF-Token": browser.csrf()})
    assert ok.status_code == 200 and people_of(app).by_username(target).role is Role.OPERATOR
    # Another session's token is not this session's.
    other = Console(app)
    other.sign_in(make_person(app, "demo-co", Role.ADMIN).username)
    stolen = other.csrf()
    assert browser.client.post(f"/console/admin/users/{target_id}/disable",
                               data={"csrf_token": stolen}).status_code == 403


def test_viewers_and_operators_are_refused_admin_actions_by_page_and_by_post(app: Flask) -> None:
    target = make_person(app, "demo-co", Role.VIEWER).username
    target_id = people_of(app).by_username(target).id
    for role in (Role.VIEWER, Role.OPERATOR):
        browser = Console(app)
        assert browser.sign_in(make_person(app, "demo-co", role).username).status_code == 303
        home = browser.get("/console").get_data(as_text=True)
        assert 'href="/console/admin/users"' not in home
        assert 'href="/console/batches"' in home  # viewers read the batches, operators also seal
        page = browser.get("/console/admin/users")
        assert page.status_code == 403 and code_of(page) == "ROLE_FORBIDDEN"
        assert target not in page.get_data(as_text=True)
        fetched = browser.get("/console/admin/users", headers={"Accept": "application/json"})
        assert fetched.status_code == 403 and fetched.get_json()["error"]["code"] == "ROLE_FORBIDDEN"
        for path, data in (("/console/admin/users", {"username": unique("sneaky"), "role": "admin"}),
                           (f"/console/admin/users/{target_id}/disable", {}),
                           (f"/console/admin/users/{target_id}/role", {"role": "admin"}),
                           (f"/console/admin/users/{target_id}/reset-password", {})):
            refused = browser.post(path, data)
            assert refused.status_code == 403 and code_of(refused) == "ROLE_FORBIDDEN", path
        person = people_of(app).by_username(target)
        assert not person.disabled and person.role is Role.VIEWER and not person.must_change_password
    assert not [p for p in people_of(app).list() if p.username.startswith("sneaky")]
    # Nobody signed in: a page redirects to the sign-in page, a fetch gets JSON 401.
    anonymous = Console(app)
    fetched = anonymous.get("/console/admin/users", headers={"Accept": "application/json"})
    assert fetched.status_code == 401 and fetched.get_json()["error"]["code"] == "SIGN_IN_REQUIRED"
    assert anonymous.get("/console/admin/users").status_code == 303


def test_another_organisations_people_are_never_listed_or_reached(app: Flask) -> None:
    ours = make_person(app, "demo-co", Role.OPERATOR).username
    ours_id = people_of(app).by_username(ours).id
    browser = Console(app)
    theirs_admin = make_person(app, "demo-gov", Role.ADMIN).username
    browser.sign_in(theirs_admin)
    listing = browser.get("/console/admin/users").get_data(as_text=True)
    assert ours not in listing and ours_id not in listing and theirs_admin in listing
    for action, data in (("disable", {}), ("reset-password", {}), ("role", {"role": "viewer"})):
        refused = browser.post(f"/console/admin/users/{ours_id}/{action}", data)
        assert refused.status_code == 404 and code_of(refused) == "PERSON_NOT_FOUND"
        assert ours not in refused.get_data(as_text=True)
    person = people_of(app).by_username(ours)
    assert not person.disabled and person.role is Role.OPERATOR and not person.must_change_password


def test_admins_add_people_with_a_one_time_password_that_must_be_changed(
        app: Flask, logs: pytest.LogCaptureFixture) -> None:
    admin_browser = Console(app)
    admin = make_person(app, "demo-co", Role.ADMIN).username
    admin_browser.sign_in(admin)
    username = unique("newcomer")
    added = admin_browser.post("/console/admin/users", {"username": username, "display_name": "تازه‌وارد",
                                                        "role": "operator"})
    assert added.status_code == 201
    otp = re.search(r'id="one-time-password">([^<]+)<', added.get_data(as_text=True)).group(1)
    assert admin_browser.get("/console/admin/users").get_data(as_text=True).count(otp) == 0  # shown once
    taken = admin_browser.post("/console/admin/users", {"username": username.upper(), "role": "viewer"})
    assert taken.status_code == 409 and code_of(taken) == "USERNAME_TAKEN"

    me_id = people_of(app).by_username(admin).id
    for action in ("disable", "role", "reset-password"):
        refused = admin_browser.post(f"/console/admin/users/{me_id}/{action}", {"role": "viewer"})
        assert refused.status_code == 409 and code_of(refused) == "SELF_CHANGE_REFUSED"

    newcomer = Console(app)
    first = newcomer.sign_in(username, otp, next_path="/console/admin/users")
    assert first.status_code == 303 and first.headers["Location"] == "/console/account/password"
    assert newcomer.get("/console").headers["Location"] == "/console/account/password"
    differ = newcomer.post("/console/account/password", {"current_password": otp, "new_password": PASSWORD,
                                                         "repeat_password": PASSWORD + "!"})
    assert differ.status_code == 422
    weak = newcomer.post("/console/account/password", {"current_password": otp, "new_password": "short",
                                                       "repeat_password": "short"})
    assert weak.status_code == 422 and code_of(weak) == "PASSWORD_TOO_WEAK"
    changed = newcomer.post("/console/account/password", {"current_password": otp, "new_password": PASSWORD,
                                                          "repeat_password": PASSWORD})
    assert changed.status_code == 303
    assert newcomer.get("/console").status_code == 200

    texts = admin_browser.seen + newcomer.seen
    assert not any(otp in t for t in texts if 'id="one-time-password"' not in t)
    assert not any(PASSWORD in t for t in texts)
    assert not any(otp in r.getMessage() or PASSWORD in r.getMessage() for r in logs.records)
    assert all(otp not in e.details_json and PASSWORD not in e.details_json
               for e in app.extensions["pakat"].audit_log().entries(limit=1000))


@pytest.fixture
def strict_app(dev_env: Any, tmp_path: Path) -> Iterator[Flask]:
    """An app whose address lockout is the default's (10 wrong credentials), not the dev deployment's 1000."""
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    raw["limits"] = {**raw.get("limits", {}), "lockout": {"failures": 10, "seconds": 600, "lock_seconds": 600}}
    config = dev_env.deployment_path.with_name(f"console-lockout-{tmp_path.name}.yaml")  # beside: paths resolve
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    try:
        with pakat_app(config, tmp_path / "home", 1024 * 1024) as application:
            yield application
    finally:
        config.unlink()


def test_wrong_passwords_lock_the_account_and_count_towards_the_address(strict_app: Flask) -> None:
    app = strict_app
    username = make_person(app, "demo-co", Role.VIEWER).username
    browser = Console(app)
    unknown = browser.sign_in(unique("nobody"), "whatever password")
    wrong = browser.sign_in(username, "whatever password")
    assert unknown.status_code == wrong.status_code == 401
    assert code_of(unknown) == code_of(wrong) == "SIGN_IN_FAILED"
    assert "whatever password" not in unknown.get_data(as_text=True)
    for _ in range(LOCK_AFTER - 1):
        browser.sign_in(username, "whatever password")
    assert people_of(app).by_username(username).locked_until is not None
    assert browser.sign_in(username).status_code == 401  # the right password, while locked
    # The address's own lockout (10 wrong credentials by default) counts console failures too.
    for _ in range(3):
        browser.sign_in(username, "whatever password")
    locked = browser.client.get("/console/sign-in")
    assert locked.status_code == 429 and "Retry-After" in locked.headers


@pytest.mark.parametrize("raw", ["https://evil.example/console", "//evil.example/console", "/\\evil.example",
                                 "javascript:alert(1)", "/validate", "/console@evil.example", ""])
def test_next_is_a_console_path_of_this_site_only(app: Flask, raw: str) -> None:
    browser = Console(app)
    username = make_person(app, "demo-co", Role.VIEWER).username
    signed = browser.sign_in(username, next_path=raw)
    assert signed.headers["Location"] == "/console"
    page = browser.client.get("/console/sign-in", query_string={"next": raw})
    assert page.headers["Location"] == "/console"
