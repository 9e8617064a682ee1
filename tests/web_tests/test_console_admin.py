"""The console's administration pages, in-process with Flask's test client: seal, API keys, webhooks, audit.

Admins only: operators and viewers are refused (403 ROLE_FORBIDDEN) by page and by
direct POST, and every form is refused without its CSRF token. Another
organisation's key or delivery is never listed and never reachable (404). A key
made on the page works on the API at once, is shown once only, and stops working
the moment it is revoked; every change is in the audit log with the person as its
actor; no secret reaches a later page, a URL or a log.

Real parts: a ``pakat worker`` delivers webhooks to a receiver of the test's own
(which refuses until told otherwise), SoftHSM seal keys behind the seal status, a
Redis of the tests' own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from console_kit import PASSWORD, Console, Receiver, audit_entries, code_of, eventually, webhook_app
from flask import Flask
from markupsafe import escape
from pakat_testkit import api_key
from werkzeug.test import TestResponse

from envelopes.people import Role
from hsm_config.deployment import hash_api_key
from pakat.dates import format_date

HOOK_SECRET = "admin-page-hook-secret-0123456789"
HOOK_TOKEN = "platform-own-query-token"
_KEY = re.compile(r'<code dir="ltr" id="new-key">(pk_[0-9a-f]{12}_[A-Za-z0-9_-]{43})</code>')
PAGES = ("/console/admin/seals", "/console/admin/api-keys", "/console/admin/webhooks", "/console/admin/audit")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver(HOOK_TOKEN)
    yield found
    found.close()


@pytest.fixture(scope="module")
def app(dev_env: Any, redis_url: str, receiver: Receiver,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The module's app and a worker; demo-co's and demo-gov's platforms post their webhooks to ``receiver``."""
    home = tmp_path_factory.mktemp("console-admin-home")
    with webhook_app(dev_env, redis_url, receiver, home, HOOK_SECRET) as application:
        yield application


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def audit_of(app: Flask, action: str) -> list[Any]:
    return [e for e in audit_entries(app) if e.action == action]


def test_only_admins_reach_the_pages_and_their_forms(app: Flask) -> None:
    admin = Console(app, "demo-co", Role.ADMIN)
    key = app.extensions["pakat"].api_keys().create("demo-co", ("batches",), "role test", actor="system:test")
    posts = [("/console/admin/api-keys", {"scopes": "batches", "label": "x"}),
             (f"/console/admin/api-keys/{key.key.id}/rotate", {"grace_seconds": "0"}),
             (f"/console/admin/api-keys/{key.key.id}/revoke", {}),
             ("/console/admin/webhooks/deliveries/1/retry", {}),
             ("/console/admin/audit/verify", {})]
    for role in (Role.OPERATOR, Role.VIEWER):
        person = Console(app, "demo-co", role)
        home = text(person.get("/console"))
        assert all(page not in home for page in PAGES), role
        for page in (*PAGES, f"/console/admin/api-keys/{key.key.id}/revoke"):
            refused = person.get(page)
            assert refused.status_code == 403 and code_of(refused) == "ROLE_FORBIDDEN", (role, page)
        for path, data in posts:
            refused = person.post(path, data)
            assert refused.status_code == 403 and code_of(refused) == "ROLE_FORBIDDEN", (role, path)
    # Nothing was changed by the refused requests: the key is as it was, and works.
    assert app.extensions["pakat"].api_keys().get(key.key.id).revoked_at is None
    works = app.test_client().get("/api/v1/batches", headers={"Authorization": f"Bearer {key.api_key}"})
    assert works.status_code == 200

    # Without a session: the sign-in page, coming back here afterwards.
    for page in PAGES:
        bounced = app.test_client().get(page)
        assert bounced.status_code == 303 and bounced.headers["Location"].startswith("/console/sign-in?next=")
    # An admin sees every surface linked, on the console's home and on each page's own navigation.
    home = text(admin.get("/console"))
    assert all(f'href="{page}"' in home for page in PAGES)
    for page in PAGES:
        shown = admin.get(page)
        assert shown.status_code == 200, (page, text(shown)[:500])
        assert all(f'href="{other}"' in text(shown) for other in PAGES)
        assert "script-src 'self'" in shown.headers["Content-Security-Policy"]
        assert shown.headers["Cache-Control"] == "no-store"
        assert re.search(r"<(input|select)\b(?![^>]*type=\"hidden\")(?![^>]*\bid=)", text(shown)) is None, page


def test_every_admin_form_is_refused_without_its_csrf_token(app: Flask) -> None:
    admin = Console(app, "demo-co", Role.ADMIN)
    key = app.extensions["pakat"].api_keys().create("demo-co", ("batches",), "csrf test", actor="system:test")
    for path, data in [("/console/admin/api-keys", {"scopes": "batches"}),
                       (f"/console/admin/api-keys/{key.key.id}/rotate", {"grace_seconds": "0"}),
                       (f"/console/admin/api-keys/{key.key.id}/revoke", {}),
                       ("/console/admin/webhooks/deliveries/1/retry", {}),
                       ("/console/admin/audit/verify", {})]:
        for token in (None, "not-the-token"):
            refused = admin.post(path, data if token is None else {**data, "csrf_token": token}, csrf=False)
            assert refused.status_code == 403 and code_of(refused) == "CSRF_INVALID", (path, token)
    assert app.extensions["pakat"].api_keys().get(key.key.id).revoked_at is None
    # Every form on the pages carries the token.
    for page in (*PAGES, f"/console/admin/api-keys/{key.key.id}/revoke"):
        body = text(admin.get(page))
        for form in re.findall(r'<form method="post".*?</form>', body, re.S):
            assert 'name="csrf_token"' in form, (page, form[:200])


def test_a_key_made_on_the_page_works_at_once_is_shown_once_and_dies_when_revoked(
    app: Flask, logs: pytest.LogCaptureFixture,
) -> None:
    admin = Console(app, "demo-co", Role.ADMIN)
    api = app.test_client()
    made = admin.post("/console/admin/api-keys", {"label": "ERP برنامه", "scopes": ["batches", "tenders"]})
    assert made.status_code == 201, text(made)[:800]
    secret = _KEY.search(text(made)).group(1)  # type: ignore[union-attr]
    key_id = secret.split("_")[1]
    assert 'id="copy-key"' in text(made) and "دیگر آن را نخواهید دید" in text(made)
    assert made.headers["Cache-Control"] == "no-store"
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/batches", headers=bearer).status_code == 200
    refused_scope = api.get("/api/v1/admin/api-keys", headers=bearer)
    assert refused_scope.status_code == 403  # only the scopes ticked

    listing = admin.get("/console/admin/api-keys")
    row = re.search(rf'<tr id="key-{key_id}".*?</tr>', text(listing), re.S)
    assert row and "batches tenders" in row.group(0) and 'data-state="active"' in row.group(0)
    assert secret not in text(listing) and secret.split("_", 2)[2] not in text(listing)
    # No scope ticked: refused with the domain's code, nothing made.
    none = admin.post("/console/admin/api-keys", {"label": "nothing"})
    assert none.status_code == 400 and code_of(none) == "API_KEY_SCOPE_UNKNOWN"

    rotated = admin.post(f"/console/admin/api-keys/{key_id}/rotate", {"grace_seconds": "0"})
    assert rotated.status_code == 200, text(rotated)[:500]
    new_secret = _KEY.search(text(rotated)).group(1)  # type: ignore[union-attr]
    assert new_secret != secret and new_secret.startswith(f"pk_{key_id}_")
    assert api.get("/api/v1/batches", headers=bearer).status_code == 401  # no grace chosen
    bearer = {"Authorization": f"Bearer {new_secret}"}
    assert api.get("/api/v1/batches", headers=bearer).status_code == 200
    assert admin.post(f"/console/admin/api-keys/{key_id}/rotate", {"grace_seconds": "5"}).status_code == 400

    confirm = admin.get(f"/console/admin/api-keys/{key_id}/revoke")
    assert confirm.status_code == 200 and 'id="revoke-confirm"' in text(confirm) and key_id in text(confirm)
    assert app.extensions["pakat"].api_keys().get(key_id).revoked_at is None  # asking is not revoking
    revoked = admin.post(f"/console/admin/api-keys/{key_id}/revoke")
    assert revoked.status_code == 200 and 'id="revoked"' in text(revoked)
    assert re.search(rf'<tr id="key-{key_id}" data-state="revoked"', text(revoked))
    assert api.get("/api/v1/batches", headers=bearer).status_code == 401
    again = admin.post(f"/console/admin/api-keys/{key_id}/revoke")
    assert again.status_code == 409 and code_of(again) == "API_KEY_REVOKED"
    assert f'id="rotate-{key_id}"' not in text(again)

    for action in ("api_key.created", "api_key.rotated", "api_key.revoked"):
        (entry,) = [e for e in audit_of(app, action) if e.subject == f"api-key:{key_id}"]
        assert entry.actor == admin.actor, action
    # Each secret appeared once, in the answer that made it; never in a URL, a later page or a log.
    for shown in (secret, new_secret):
        assert sum(shown in seen for seen in admin.seen) == 1
    everything = [*admin.seen, *(r.getMessage() for r in logs.records)]
    everything += [e.details_json for e in audit_entries(app)]
    assert not any(secret.split("_", 2)[2] in t or new_secret.split("_", 2)[2] in t
                   for t in everything if "id=\"new-key\"" not in t)
    assert not any(PASSWORD in t for t in everything)


def test_another_organisations_keys_are_never_listed_or_reached(app: Flask) -> None:
    admin = Console(app, "demo-co", Role.ADMIN)
    theirs = app.extensions["pakat"].api_keys().create("demo-gov", ("batches",), "gov's", actor="system:test")
    gov_id = theirs.key.id
    assert gov_id not in text(admin.get("/console/admin/api-keys"))
    for response in (admin.get(f"/console/admin/api-keys/{gov_id}/revoke"),
                     admin.post(f"/console/admin/api-keys/{gov_id}/revoke"),
                     admin.post(f"/console/admin/api-keys/{gov_id}/rotate", {"grace_seconds": "0"}),
                     admin.get("/console/admin/api-keys/000000000000/revoke")):
        assert response.status_code == 404 and "API_KEY_NOT_FOUND" in text(response)
        assert "gov's" not in text(response)
    gov = app.extensions["pakat"].api_keys().get(gov_id)
    assert gov.revoked_at is None and gov.rotated_at is None
    assert app.test_client().get("/api/v1/batches",
                                 headers={"Authorization": f"Bearer {theirs.api_key}"}).status_code == 200


def test_webhook_settings_log_and_retry_of_the_organisation_only(
    app: Flask, dev_env: Any, receiver: Receiver,
) -> None:
    services = app.extensions["pakat"]
    admin, gov_admin = Console(app, "demo-co", Role.ADMIN), Console(app, "demo-gov", Role.ADMIN)
    co_platform = hash_api_key(api_key(dev_env, "demo-co"))
    receiver.failing = True
    services.queue.event(co_platform, "signature.completed", {"session": "a" * 32})

    def gave_up() -> Any:
        page = services.webhooks().deliveries("demo-co")
        return [d for d in page.deliveries if d.retryable]

    (failed, *_) = eventually(gave_up, "a delivery the queue gave up on")
    delivery = failed.attempt.id
    page = text(admin.get("/console/admin/webhooks"))
    assert f'id="retry-{delivery}"' in page and f'id="platform-{co_platform[:12]}"' in page
    assert "/hook" in page and HOOK_TOKEN not in page and HOOK_SECRET not in page
    gov_page = text(gov_admin.get("/console/admin/webhooks"))
    assert f'id="delivery-{delivery}"' not in gov_page and co_platform[:12] not in gov_page
    refused = gov_admin.post(f"/console/admin/webhooks/deliveries/{delivery}/retry")
    assert refused.status_code == 404 and "WEBHOOK_DELIVERY_NOT_FOUND" in text(refused)

    receiver.failing = False
    retried = admin.post(f"/console/admin/webhooks/deliveries/{delivery}/retry")
    assert retried.status_code == 202 and 'id="retried"' in text(retried), text(retried)[:500]

    def delivered() -> Any:
        return [d for d in services.webhooks().deliveries("demo-co").deliveries
                if d.attempt.event_id == failed.attempt.event_id and d.attempt.outcome == "delivered"]

    eventually(delivered, "the retried event to be delivered")
    later = admin.get("/console/admin/webhooks")
    assert f'id="retry-{delivery}"' not in text(later)
    again = admin.post(f"/console/admin/webhooks/deliveries/{delivery}/retry")
    assert again.status_code == 409 and code_of(again) == "WEBHOOK_NOT_RETRYABLE"
    (entry,) = [e for e in audit_of(app, "webhook.retried")
                if e.subject == f"webhook-event:{failed.attempt.event_id}"]
    assert entry.actor == admin.actor
    assert not any(HOOK_SECRET in t or HOOK_TOKEN in t for t in admin.seen + gov_admin.seen)


def test_the_audit_page_filters_pages_and_verifies_the_chain(app: Flask) -> None:
    services = app.extensions["pakat"]
    admin, gov_admin = Console(app, "demo-co", Role.ADMIN), Console(app, "demo-gov", Role.ADMIN)
    made = admin.post("/console/admin/api-keys", {"label": "audited", "scopes": "batches"})
    key_id = _KEY.search(text(made)).group(1).split("_")[1]  # type: ignore[union-attr]
    gov_key = services.api_keys().create("demo-gov", ("batches",), "gov audited", actor="system:test").key.id

    everything = text(admin.get("/console/admin/audit"))
    assert f"api-key:{key_id}" in everything and f"api-key:{gov_key}" not in everything
    assert f'(<bdi dir="ltr">{admin.username}</bdi>)' in everything  # person:<id> is shown with the username
    assert f"api-key:{gov_key}" in text(gov_admin.get("/console/admin/audit"))

    mine = text(admin.get("/console/admin/audit", query_string={"action": "api_key.created",
                                                                 "actor": admin.actor}))
    rows = re.findall(r'<tr id="entry-\d+" data-action="([a-z_.]+)"', mine)
    assert rows == ["api_key.created"] and f"api-key:{key_id}" in mine
    prefix = re.findall(r'data-action="([a-z_.]+)"', text(admin.get("/console/admin/audit?action=person.")))
    assert prefix and all(a.startswith("person.") for a in prefix)

    entry = next(e for e in audit_of(app, "api_key.created") if e.subject == f"api-key:{key_id}")
    today_fa, today_en = format_date(entry.at, "fa"), format_date(entry.at, "en")
    for day in (today_fa, today_en):
        found = text(admin.get("/console/admin/audit", query_string={"from": day, "to": day,
                                                                      "subject": f"api-key:{key_id}"}))
        assert f"api-key:{key_id}" in found and 'id="no-entries"' not in found, day
        assert f'value="{day}"' in found  # the filter is kept in its field
    future = text(admin.get("/console/admin/audit", query_string={"from": "2999-01-01"}))
    assert 'id="no-entries"' in future
    for bad in ({"from": "yesterday"}, {"to": "1405/13/40"}, {"action": "Batch!"},
                {"from": "2026-02-02", "to": "2026-02-01"}):
        refused = admin.get("/console/admin/audit", query_string=bad)
        assert refused.status_code == 400 and code_of(refused) == "AUDIT_FILTER_INVALID", bad

    for n in range(55):  # more than a page of the organisation's own entries
        services.audit_log().record("batch.created", actor="system:test", subject=f"paging-{n}",
                                    details={"organisation": "demo-co"})
    first = text(admin.get("/console/admin/audit?action=batch.created"))
    seqs = [int(s) for s in re.findall(r'<tr id="entry-(\d+)"', first)]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    older = re.search(r'<a href="([^"]+)" id="older">', first)
    assert older and "action=batch.created" in older.group(1)
    second = text(admin.get("/console/admin/audit" + older.group(1).replace("&amp;", "&")))
    next_seqs = [int(s) for s in re.findall(r'<tr id="entry-(\d+)"', second)]
    assert next_seqs and max(next_seqs) < min(seqs) and 'id="newest"' in second

    verified = admin.post("/console/admin/audit/verify?action=api_key.created")
    body = text(verified)
    assert verified.status_code == 200 and 'data-ok="yes"' in body
    head_hash = re.search(r'id="head-hash">([0-9a-f]{64})<', body).group(1)  # type: ignore[union-attr]
    head_seq = int(re.search(r'data-seq-head="(\d+)"', body).group(1))  # type: ignore[union-attr]
    (at_head,) = services.audit_log().entries(after=head_seq - 1, limit=1)
    assert at_head.hash == head_hash
    assert re.findall(r'data-action="([a-z_.]+)"', body) and all(
        a == "api_key.created" for a in re.findall(r'data-action="([a-z_.]+)"', body))
    # Deployment-wide entries are no organisation's.
    services.audit_log().record("config.changed", actor="system:serve", subject="deployment",
                                details={"organisations": ["demo-co", "demo-gov"]})
    assert "config.changed" not in text(admin.get("/console/admin/audit"))


def test_the_seal_page_shows_the_token_the_certificate_and_its_expiry(app: Flask) -> None:
    admin = Console(app, "demo-co", Role.ADMIN)
    status = app.extensions["pakat"].seal_statuses().of("demo-co")
    assert status.certificate is not None
    fa = text(admin.get("/console/admin/seals"))
    assert 'data-reachable="yes"' in fa and 'data-state="ok"' in fa
    assert str(escape(status.certificate.subject)) in fa and str(escape(status.certificate.issuer)) in fa
    assert format_date(status.certificate.not_after, "fa") in fa  # Jalali, Persian digits
    en = text(admin.get("/console/admin/seals?lang=en"))
    assert format_date(status.certificate.not_after, "en") in en and "Days to expiry" in en
    gov = text(Console(app, "demo-gov", Role.ADMIN).get("/console/admin/seals?lang=en"))
    assert "(<bdi dir=\"ltr\">demo-gov</bdi>)" in gov and "(<bdi dir=\"ltr\">demo-co</bdi>)" not in gov
