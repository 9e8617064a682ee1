"""Every console route behind its guards, found by walking the app's URL map (in process).

Each route under /console is classified below by who may use it; a route added
without a classification fails ``test_every_console_route_is_classified``, so a
new one cannot slip past these checks. For every route that changes something
(POST, PUT, PATCH, DELETE; path variables filled with a dummy id):

* an administrator without the CSRF token is refused, 403 CSRF_INVALID, and the
  audit log's head does not move;
* a viewer with the token is refused, 403 ROLE_FORBIDDEN (or 404 where the
  dummy object is looked for first), except the few routes a viewer may use;
* someone not signed in is sent to sign in (a script asking for JSON gets 401
  SIGN_IN_REQUIRED); a page, with ``next`` to come back to it.

And every page: a viewer gets it or 403 ROLE_FORBIDDEN (or 404 for a dummy id),
never a server error; nothing a viewer or an administrator is shown holds an
API key, their password or their session token.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from console_kit import JSON, PASSWORD, Console, audit_entries, code_of
from flask import Flask
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from envelopes.people import Role

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANYONE, SIGNING_OUT, SIGNED_IN, OPERATOR, ADMIN = "anyone", "signing out", "signed in", "operator", "admin"

#: Who may use each console route (method, rule). "signed in" is any role, a viewer too; signing out is for
#: anyone (without a session it is the sign-in page, whatever the request asked for).
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/console"): SIGNED_IN,
    ("GET", "/console/sign-in"): ANYONE,
    ("POST", "/console/sign-in"): ANYONE,
    ("GET", "/console/sign-out"): SIGNING_OUT,
    ("POST", "/console/sign-out"): SIGNING_OUT,
    ("GET", "/console/account/password"): SIGNED_IN,
    ("POST", "/console/account/password"): SIGNED_IN,
    # people
    ("GET", "/console/admin/users"): ADMIN,
    ("POST", "/console/admin/users"): ADMIN,
    ("POST", "/console/admin/users/<person_id>/disable"): ADMIN,
    ("POST", "/console/admin/users/<person_id>/enable"): ADMIN,
    ("POST", "/console/admin/users/<person_id>/reset-password"): ADMIN,
    ("POST", "/console/admin/users/<person_id>/role"): ADMIN,
    # administration
    ("GET", "/console/admin/seals"): ADMIN,
    ("GET", "/console/admin/api-keys"): ADMIN,
    ("POST", "/console/admin/api-keys"): ADMIN,
    ("GET", "/console/admin/api-keys/<key_id>/revoke"): ADMIN,
    ("POST", "/console/admin/api-keys/<key_id>/revoke"): ADMIN,
    ("POST", "/console/admin/api-keys/<key_id>/rotate"): ADMIN,
    ("GET", "/console/admin/webhooks"): ADMIN,
    ("POST", "/console/admin/webhooks/deliveries/<int(max=2147483647):delivery_id>/retry"): ADMIN,
    ("GET", "/console/admin/audit"): ADMIN,
    ("POST", "/console/admin/audit/verify"): ADMIN,
    # batches
    ("GET", "/console/batches"): SIGNED_IN,
    ("GET", "/console/batches/new"): OPERATOR,
    ("POST", "/console/batches"): OPERATOR,
    ("GET", "/console/batches/<batch_id>"): SIGNED_IN,
    ("GET", "/console/batches/<batch_id>/progress"): SIGNED_IN,
    ("GET", "/console/batches/<batch_id>/failed"): SIGNED_IN,
    ("GET", "/console/batches/<batch_id>/results.zip"): SIGNED_IN,
    ("GET", "/console/batches/<batch_id>/delete"): OPERATOR,
    ("POST", "/console/batches/<batch_id>/delete"): OPERATOR,
    # tenders
    ("GET", "/console/tenders"): SIGNED_IN,
    ("POST", "/console/tenders"): OPERATOR,
    ("GET", "/console/tenders/<tender_id>"): SIGNED_IN,
    ("POST", "/console/tenders/<tender_id>/open"): OPERATOR,
    ("POST", "/console/tenders/<tender_id>/envelopes"): OPERATOR,
    ("GET", "/console/tenders/<tender_id>/envelopes/<envelope_id>"): SIGNED_IN,
    ("GET", "/console/tenders/<tender_id>/envelopes/<envelope_id>/receipt.pdf"): SIGNED_IN,
    ("POST", "/console/tenders/<tender_id>/envelopes/<envelope_id>/documents"): OPERATOR,
    ("POST", "/console/tenders/<tender_id>/envelopes/<envelope_id>/documents/<doc_id>/seal"): OPERATOR,
    ("POST", "/console/tenders/<tender_id>/envelopes/<envelope_id>/documents/<doc_id>/sessions"): OPERATOR,
    ("POST", "/console/tenders/<tender_id>/envelopes/<envelope_id>/submit"): OPERATOR,
    ("POST", "/console/tenders/<tender_id>/envelopes/<envelope_id>/withdraw"): OPERATOR,
}

_VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>")
_API_KEY = re.compile(r"pk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")


def console_routes(app: Flask) -> dict[tuple[str, str], Rule]:
    """Every (method, rule) under /console the app answers (HEAD and OPTIONS are Flask's own)."""
    found: dict[tuple[str, str], Rule] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule == "/console" or rule.rule.startswith("/console/"):
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                found[(method, rule.rule)] = rule
    return found


def dummy_path(rule: str) -> str:
    """The rule with each path variable filled: 1 for a number, else an id nothing has."""
    return _VARIABLE.sub(lambda m: "1" if m.group(1) in ("int", "integer") else "0" * 32, rule)


def audit_head(app: Flask) -> int:
    entries = audit_entries(app)
    return int(entries[-1].seq) if entries else 0


def test_every_console_route_is_classified(app: Flask) -> None:
    found = set(console_routes(app))
    assert found - ROUTES.keys() == set(), "classify these new console routes in ROUTES (who may use them)"
    assert ROUTES.keys() - found == set(), "these classified routes are gone: take them out of ROUTES"


def test_no_change_without_the_csrf_token_even_for_an_admin(app: Flask) -> None:
    admin = Console(app, "demo-co", Role.ADMIN)
    head = audit_head(app)
    for (method, rule) in sorted(console_routes(app)):
        if method not in CHANGES:
            continue
        path = dummy_path(rule)
        for headers in ({}, JSON):
            refused = admin.send_form(method, path, csrf=False, headers=headers)
            assert refused.status_code == 403 and code_of(refused) == "CSRF_INVALID", (method, path, headers)
        forged = admin.client.open(path, method=method, data={"csrf_token": "x" * 43})
        assert forged.status_code == 403 and code_of(forged) == "CSRF_INVALID", (method, path)
    assert audit_head(app) == head, "a refused request changed something"
    assert admin.signed_in()  # not even the sign-out went through


def test_a_viewer_changes_nothing_but_their_own(app: Flask) -> None:
    viewer = Console(app, "demo-co", Role.VIEWER)
    head = audit_head(app)
    for (method, rule), who in sorted(ROUTES.items()):
        if method not in CHANGES or who in (ANYONE, SIGNING_OUT, SIGNED_IN):
            continue  # a viewer may sign in and out and change their own password
        path = dummy_path(rule)
        for headers in ({}, JSON):
            refused = viewer.send_form(method, path, headers=headers)
            assert refused.status_code in (403, 404), (method, path, refused.status_code, refused.text[:300])
            if refused.status_code == 403:
                assert code_of(refused) == "ROLE_FORBIDDEN", (method, path, headers)
    assert audit_head(app) == head, "a viewer's refused request changed something"
    assert viewer.signed_in()


def test_a_stranger_is_sent_to_sign_in(app: Flask) -> None:
    for (method, rule), who in sorted(ROUTES.items()):
        if who == ANYONE:
            continue
        path = dummy_path(rule)
        stranger = Console(app)
        page = stranger.send_form(method, path, csrf=method in CHANGES)
        assert page.status_code == 303, (method, path, page.status_code, page.text[:300])
        if who == SIGNING_OUT:
            assert page.headers["Location"] in ("/console/sign-in", "/console/sign-in?signed_out=1"), path
            continue
        # A page comes back after sign-in; a change is not replayed (its form is gone with the request).
        wanted = "/console/sign-in" if method in CHANGES else "/console/sign-in?next=" + quote(path, safe="/")
        assert page.headers["Location"] == wanted, (method, path)
        script = stranger.send_form(method, path, csrf=method in CHANGES, headers=JSON)
        assert script.status_code == 401 and code_of(script) == "SIGN_IN_REQUIRED", (method, path)
        assert not stranger.signed_in()


def test_every_page_a_viewer_opens_shows_no_secret(app: Flask) -> None:
    issued = app.extensions["pakat"].api_keys().create("demo-co", ("batches",), "guard test", actor="system:test")
    viewer = Console(app, "demo-co", Role.VIEWER)
    pages: list[TestResponse] = []
    for (method, rule), who in sorted(ROUTES.items()):
        if method != "GET":
            continue
        path = dummy_path(rule)
        for lang in ("fa", "en"):
            page = viewer.get(f"{path}?lang={lang}")
            pages.append(page)
            if who == ANYONE:  # the sign-in page, for someone signed in already: home
                assert page.status_code == 303 and page.headers["Location"] == "/console", path
            elif who in (OPERATOR, ADMIN):
                assert page.status_code == 403 and code_of(page) == "ROLE_FORBIDDEN", (path, page.status_code)
            elif who == SIGNING_OUT:
                assert page.status_code == 200, path  # the sign-out form
            elif "<" in rule:
                assert page.status_code == 404, (path, page.status_code)  # nothing has the dummy id
            else:
                assert page.status_code == 200, (path, page.status_code)
    assert_no_secret(viewer, pages, issued.api_key)


def test_every_page_an_admin_opens_shows_no_secret(app: Flask) -> None:
    """The admin's pages list keys, people and deliveries: none shows a key's secret or a session's token."""
    issued = app.extensions["pakat"].api_keys().create("demo-co", ("batches",), "guard test", actor="system:test")
    admin = Console(app, "demo-co", Role.ADMIN)
    pages = [admin.get(f"{dummy_path(rule)}?lang={lang}") for (method, rule) in sorted(ROUTES)
             if method == "GET" for lang in ("fa", "en")]
    assert all(page.status_code in (200, 303, 404) for page in pages), [
        (page.request.path, page.status_code) for page in pages if page.status_code not in (200, 303, 404)]
    assert_no_secret(admin, pages, issued.api_key)


def assert_no_secret(console: Console, pages: list[TestResponse], api_key: str) -> None:
    session = console.client.get_cookie("pakat_console", path="/console")
    assert session is not None
    for page in pages:
        shown = page.get_data(as_text=True) + page.headers.get("Location", "")
        assert not _API_KEY.search(shown), page.request.path
        assert api_key not in shown and PASSWORD not in shown, page.request.path
        assert session.value not in shown, page.request.path
