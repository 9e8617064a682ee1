"""The JSON endpoints the console is built on, in-process with API keys: every answer checked against
web/openapi.yaml, every scope enforced, and no organisation ever shown another's batches, audit entries,
webhook deliveries, seal or tenders.

Real parts: a ``pakat worker`` seals the batches and delivers the webhooks (to
a receiver of the test's own, which refuses the first attempt), SoftHSM seal
keys behind the seal status, a Redis of the tests' own.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from console_kit import Receiver, code_of, eventually, webhook_app
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH, Spec
from pakat_testkit import api_key, pdf_bytes, secrets_of, unparseable_pdf_bytes

from hsm_config.deployment import hash_api_key

SPEC = Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))
HOOK_SECRET = "console-hook-secret-value-0123456789"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def app(dev_env: Any, redis_url: str, receiver: Receiver,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """This module's app and a worker; demo-co's and demo-gov's platforms post their webhooks to ``receiver``
    (one attempt each: the queue gives up at once)."""
    home = tmp_path_factory.mktemp("console-api-home")
    with webhook_app(dev_env, redis_url, receiver, home, HOOK_SECRET) as application:
        yield application


def key(app: Flask, organisation: str, *scopes: str) -> dict[str, str]:
    issued = app.extensions["pakat"].api_keys().create(organisation, scopes, "console test", actor="system:test")
    return {"Authorization": f"Bearer {issued.api_key}"}


def platform(dev_env: Any, organisation: str) -> dict[str, str]:
    """The organisation's platform key of the deployment file (every scope but admin)."""
    return {"Authorization": f"Bearer {api_key(dev_env, organisation)}"}


def new_batch(client: FlaskClient, headers: dict[str, str], *pdfs: bytes) -> str:
    files = [(io.BytesIO(data), f"doc-{n}.pdf") for n, data in enumerate(pdfs)]
    reply = client.post("/api/v1/batches", data={"files": files}, headers=headers,
                        content_type="multipart/form-data")
    assert reply.status_code == 202, reply.get_json()
    return str(reply.get_json()["id"])


# -- batches ----------------------------------------------------------------------------------------------


def test_batches_are_listed_newest_first_for_the_callers_organisation_only(
    app: Flask, client: FlaskClient, dev_env: Any,
) -> None:
    co, gov = platform(dev_env, "demo-co"), platform(dev_env, "demo-gov")
    broken = new_batch(client, co, pdf_bytes("good"), unparseable_pdf_bytes())
    second = new_batch(client, co, pdf_bytes("second"))
    third = new_batch(client, key(app, "demo-co", "batches"), pdf_bytes("third"))  # another key, same org
    theirs = new_batch(client, gov, pdf_bytes("theirs"))

    first_page = client.get("/api/v1/batches?limit=2", headers=co)
    body = SPEC.check("/api/v1/batches", "get", first_page)
    assert [b["id"] for b in body["batches"]] == [third, second] and body["next_before"] == second
    assert body["batches"][0]["links"]["manifest"] == f"/api/v1/batches/{third}/manifest"
    rest = SPEC.check("/api/v1/batches", "get",
                      client.get(f"/api/v1/batches?limit=2&before={second}", headers=co))
    mine = [b["id"] for b in rest["batches"]]
    assert mine[0] == broken and theirs not in mine
    listed_gov = client.get("/api/v1/batches", headers=gov).get_json()["batches"]
    assert theirs in [b["id"] for b in listed_gov] and not {broken, second, third} & {b["id"] for b in listed_gov}

    # Paging with another organisation's batch, a bad limit, a key without the batches scope.
    assert code_of(client.get(f"/api/v1/batches?before={theirs}", headers=co)) == "BATCH_NOT_FOUND"
    refused = client.get("/api/v1/batches?limit=0", headers=co)
    assert refused.status_code == 400 and code_of(refused) == "REQUEST_INVALID"
    SPEC.check("/api/v1/batches", "get", refused)
    no_scope = client.get("/api/v1/batches", headers=key(app, "demo-co", "documents"))
    assert no_scope.status_code == 403 and code_of(no_scope) == "API_KEY_SCOPE_MISSING"
    assert client.get("/api/v1/batches").status_code == 401

    # The failed items with their reasons, once the worker has tried them.
    eventually(lambda: client.get(f"/api/v1/batches/{broken}", headers=co).get_json()["state"] == "finished",
               "the batch with a broken PDF to finish", timeout=120)
    failed = client.get(f"/api/v1/batches/{broken}/manifest?status=failed", headers=co)
    items = SPEC.check("/api/v1/batches/{batch_id}/manifest", "get", failed)["items"]
    assert [i["name"] for i in items] == ["doc-1.pdf"]
    assert items[0]["error"]["code"] and items[0]["error"]["message_fa"] and items[0]["error"]["message_en"]
    bad = client.get(f"/api/v1/batches/{broken}/manifest?status=lost", headers=co)
    assert bad.status_code == 400 and code_of(bad) == "REQUEST_INVALID"
    SPEC.check("/api/v1/batches/{batch_id}/manifest", "get", bad)
    stranger = client.get(f"/api/v1/batches/{broken}/manifest?status=failed", headers=gov)
    assert code_of(stranger) == "BATCH_NOT_FOUND"


# -- webhooks -------------------------------------------------------------------------------------------------


def test_an_admin_retries_a_failed_delivery_with_the_same_event_and_sees_only_their_own(
    app: Flask, client: FlaskClient, dev_env: Any, receiver: Receiver,
) -> None:
    services = app.extensions["pakat"]
    co_platform = hash_api_key(api_key(dev_env, "demo-co"))
    admin, gov_admin = key(app, "demo-co", "admin"), key(app, "demo-gov", "admin")
    receiver.failing = True
    services.queue.event(co_platform, "signature.completed", {"session": "s" * 32})

    def gave_up() -> Any:
        found = client.get("/api/v1/admin/webhooks/deliveries", headers=admin).get_json()["deliveries"]
        return [d for d in found if d["event"] == "signature.completed" and d["outcome"] == "gave_up"]

    (failed,) = eventually(gave_up, "the first attempt to fail")
    log = SPEC.check("/api/v1/admin/webhooks/deliveries", "get",
                     client.get("/api/v1/admin/webhooks/deliveries?limit=5", headers=admin))
    assert all(d["platform"] == co_platform[:12] for d in log["deliveries"])
    assert "platform-own-token" not in json.dumps(log) and failed["url"].endswith("/hook")
    theirs = client.get("/api/v1/admin/webhooks/deliveries", headers=gov_admin).get_json()["deliveries"]
    assert all(d["platform"] != co_platform[:12] for d in theirs)

    settings = SPEC.check("/api/v1/admin/webhooks", "get", client.get("/api/v1/admin/webhooks", headers=admin))
    assert [(p["platform"], p["secret_source"]) for p in settings["platforms"]] == [(co_platform[:12], "file")]
    assert HOOK_SECRET not in json.dumps(settings) and "platform-own-token" not in json.dumps(settings)

    retry = f"/api/v1/webhooks/deliveries/{failed['id']}/retry"
    template = "/api/v1/webhooks/deliveries/{delivery_id}/retry"
    # Another organisation's admin, and a key of the organisation whose platform it is not: not found.
    for stranger in (gov_admin, key(app, "demo-co", "documents")):
        refused = client.post(retry, headers=stranger)
        assert refused.status_code == 404 and code_of(refused) == "WEBHOOK_DELIVERY_NOT_FOUND"
        SPEC.check(template, "post", refused)
    receiver.failing = False
    queued = client.post(retry, headers=admin)
    assert queued.status_code == 202, queued.get_json()
    answer = SPEC.check(template, "post", queued)
    assert answer["event_id"] == failed["event_id"] and answer["attempt"] == 2 and answer["queued"]

    def delivered() -> Any:
        found = client.get("/api/v1/admin/webhooks/deliveries", headers=admin).get_json()["deliveries"]
        return [d for d in found if d["event_id"] == failed["event_id"] and d["outcome"] == "delivered"]

    (done,) = eventually(delivered, "the retried attempt to be delivered")
    assert done["attempt"] == 2
    sent = [(event_id, body) for event_id, body, _ in receiver.seen if event_id == failed["event_id"]]
    assert len(sent) == 2 and sent[0] == sent[1]  # the same event id and body, twice
    # Delivered now: nothing to retry, for the admin as for the platform's own key.
    for asker in (admin, platform(dev_env, "demo-co")):
        again = client.post(retry, headers=asker)
        assert again.status_code == 409 and code_of(again) == "WEBHOOK_NOT_RETRYABLE"
        SPEC.check(template, "post", again)
    assert client.post(retry).status_code == 401

    entries = client.get("/api/v1/admin/audit?action=webhook.retried", headers=admin).get_json()["entries"]
    assert [e["subject"] for e in entries] == [f"webhook-event:{failed['event_id']}"]
    assert client.get("/api/v1/admin/audit?action=webhook.retried", headers=gov_admin).get_json()["entries"] == []
    no_admin = client.get("/api/v1/admin/webhooks", headers=platform(dev_env, "demo-co"))
    assert no_admin.status_code == 403 and code_of(no_admin) == "API_KEY_SCOPE_MISSING"


# -- the audit log --------------------------------------------------------------------------------------------


def test_the_audit_log_shows_an_admin_their_organisations_entries_and_verifies_the_chain(
    app: Flask, client: FlaskClient, dev_env: Any,
) -> None:
    admin, gov_admin = key(app, "demo-co", "admin"), key(app, "demo-gov", "admin")
    mine = new_batch(client, platform(dev_env, "demo-co"), pdf_bytes("audited"))
    theirs = new_batch(client, platform(dev_env, "demo-gov"), pdf_bytes("not yours"))
    app.extensions["pakat"].audit_log().record("config.changed", actor="system:serve", subject="deployment",
                                               details={"organisations": ["demo-co", "demo-gov"]})

    reply = client.get("/api/v1/admin/audit?limit=200", headers=admin)
    page = SPEC.check("/api/v1/admin/audit", "get", reply)
    subjects = {e["subject"] for e in page["entries"]}
    assert mine in subjects and theirs not in subjects
    assert all(e["action"] != "config.changed" for e in page["entries"])
    assert all("demo-gov" not in json.dumps(e) for e in page["entries"])
    gov_subjects = {e["subject"] for e in client.get("/api/v1/admin/audit?limit=200",
                                                     headers=gov_admin).get_json()["entries"]}
    assert theirs in gov_subjects and mine not in gov_subjects

    created = client.get(f"/api/v1/admin/audit?action=batch.created&subject={mine}", headers=admin).get_json()
    assert [e["action"] for e in created["entries"]] == ["batch.created"]
    since = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    later = client.get("/api/v1/admin/audit", query_string={"from": since}, headers=admin)
    assert later.get_json()["entries"] == []
    two = client.get("/api/v1/admin/audit?limit=2", headers=admin).get_json()
    after = client.get(f"/api/v1/admin/audit?limit=2&before={two['next_before']}", headers=admin).get_json()
    assert after["entries"][0]["seq"] < two["entries"][-1]["seq"]
    for query in ({"from": "yesterday"}, {"from": "2026-01-01T00:00:00"}, {"action": "Batch!"}, {"limit": "500"}):
        bad = client.get("/api/v1/admin/audit", query_string=query, headers=admin)
        assert bad.status_code == 400 and code_of(bad) == "AUDIT_FILTER_INVALID", query
        SPEC.check("/api/v1/admin/audit", "get", bad)

    verified = client.post("/api/v1/admin/audit/verify", headers=admin)
    verdict = SPEC.check("/api/v1/admin/audit/verify", "post", verified)
    # The worker may append while the check runs: the head answered is the entry of that seq.
    (at_head,) = app.extensions["pakat"].audit_log().entries(after=verdict["head_seq"] - 1, limit=1)
    assert verdict["ok"] and verdict["head_hash"] == at_head.hash and verdict["checked"] >= verdict["head_seq"]
    for refused in (client.post("/api/v1/admin/audit/verify", headers=platform(dev_env, "demo-co")),
                    client.get("/api/v1/admin/audit", headers=key(app, "demo-co", "batches"))):
        assert refused.status_code == 403 and code_of(refused) == "API_KEY_SCOPE_MISSING"


# -- the seal --------------------------------------------------------------------------------------------------


def test_the_seal_status_of_the_callers_organisation(app: Flask, client: FlaskClient) -> None:
    reply = client.get("/api/v1/admin/seal-status", headers=key(app, "demo-co", "admin"))
    status = SPEC.check("/api/v1/admin/seal-status", "get", reply)
    assert status["organisation"] == "demo-co" and status["hsm"]["reachable"] is True
    assert status["state"] == "ok" and status["certificate"]["days_to_expiry"] > status["warn_days"]
    assert status["certificate"]["subject"] and status["certificate"]["issuer"]
    gov = client.get("/api/v1/admin/seal-status", headers=key(app, "demo-gov", "admin")).get_json()
    assert gov["organisation"] == "demo-gov" and gov["certificate"]["sha256"] != status["certificate"]["sha256"]
    refused = client.get("/api/v1/admin/seal-status", headers=key(app, "demo-co", "seal", "batches"))
    assert refused.status_code == 403 and code_of(refused) == "API_KEY_SCOPE_MISSING"


# -- tenders -----------------------------------------------------------------------------------------------------


def test_tenders_carry_their_countdown_and_envelope_counts(app: Flask, client: FlaskClient, dev_env: Any) -> None:
    co = platform(dev_env, "demo-co")
    deadline = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    created = client.post("/api/v1/tenders", headers=co, json={
        "reference": f"T-{uuid.uuid4().hex[:8]}", "title_fa": "خرید", "title_en": "Purchase",
        "deadline": deadline})
    assert created.status_code == 201, created.get_json()
    tender = SPEC.check("/api/v1/tenders", "post", created)
    for kind in ("A", "B"):
        made = client.post(f"/api/v1/tenders/{tender['id']}/envelopes", headers=co, json={
            "kind": kind, "bidder": {"national_id": "14000123453", "name_fa": "ش", "name_en": "C"},
            "requirements": {"signatories": [], "seal_required": True}})
        assert made.status_code == 201, made.get_json()
    listed = SPEC.check("/api/v1/tenders", "get", client.get("/api/v1/tenders", headers=co))
    (mine,) = [t for t in listed["tenders"] if t["id"] == tender["id"]]
    assert mine["envelope_counts"]["draft"] == 2 and sum(mine["envelope_counts"].values()) == 2
    assert 7000 < mine["seconds_to_deadline"] <= 7200

    # The console lists an organisation's tenders whichever of its platforms made them; never another's.
    tenders = app.extensions["pakat"].tenders()
    assert tender["id"] in [t.id for t in tenders.organisation_tenders("demo-co")]
    assert tender["id"] not in [t.id for t in tenders.organisation_tenders("demo-gov")]
    assert all(t["id"] != tender["id"] for t in
               client.get("/api/v1/tenders", headers=platform(dev_env, "demo-gov")).get_json()["tenders"])


def test_no_secret_reaches_an_answer(app: Flask, client: FlaskClient, dev_env: Any) -> None:
    admin = key(app, "demo-co", "admin")
    texts = [client.get(path, headers=admin).get_data(as_text=True) for path in (
        "/api/v1/admin/audit?limit=200", "/api/v1/admin/webhooks", "/api/v1/admin/webhooks/deliveries",
        "/api/v1/admin/seal-status")]
    secrets = [HOOK_SECRET, admin["Authorization"].split()[1], *secrets_of(dev_env)]
    assert not [s for s in secrets for text in texts if s in text]
