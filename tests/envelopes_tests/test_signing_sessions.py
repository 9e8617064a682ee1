"""Signing sessions through the web app: the platform API and the agent protocol, in process.

The user's token is a SoftHSM token of a dev-PKI person, reached through
python-pkcs11 exactly as an agent would; the queue is a real Redis, and the
level-raising job is run in this process (the end-to-end test runs it in a
real worker). Every refusal is checked to leave the document unchanged.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import api_key, free_port
from rq.job import Job
from session_kit import Agent, Platform, Token, raise_level
from sqlalchemy import update
from validation_samples import throwaway_ca

from envelopes.database import signing_sessions, utcnow
from envelopes.sealing import SealService
from envelopes.sessions import SigningSessions
from pakat.errors import PakatError
from validation.engine import Validator
from validation.model import Indication

LIMIT = 20 * 1024 * 1024


def error_code(reply: Any) -> str:
    return str((reply.json or {}).get("error", {}).get("code"))


def sign_through(app: Flask, client: FlaskClient, created: dict[str, Any], token: Token) -> dict[str, Any]:
    agent = Agent(client, created)
    answer = agent.certificate(token.certificate_b64)
    assert answer.status_code == 200, answer.json
    reply = agent.signature(token.sign(answer.json), token.certificate_b64)
    assert reply.status_code == 202, reply.json
    return raise_level(app, created["id"]) if reply.json["state"] == "signed" else dict(reply.json)


def test_a_person_signs_then_the_seal_is_applied(app: Flask, client: FlaskClient, platform: Platform,
                                                   token: Token, dev_env: Any) -> None:
    doc = platform.upload()
    assert doc["pages"] == 2 and doc["revision"] == 0 and doc["name"] == "پاکت-ب.pdf"
    created = platform.session(doc["id"], expected_signer={"national_id": token.user.national_code})
    assert len(base64.urlsafe_b64decode(created["agent_secret"] + "=")) >= 32  # 256 bits
    assert created["agent_url"].endswith("/agent/v1/sessions/" + created["id"])
    assert created["pairing_link"].startswith("pakat://sign?session=")
    assert created["qr_svg"].startswith("<svg")
    assert base64.b64decode(created["qr_png_base64"]).startswith(b"\x89PNG")

    agent = Agent(client, created)
    shown = agent.fetch()
    assert shown.status_code == 200
    assert shown.json["document"]["sha256"] == doc["sha256"] and shown.json["document"]["pages"] == 2
    assert shown.json["requested_by"]["organisation"] == "demo-co"
    preview = client.get(agent.path + "/preview.png", headers=agent.headers)
    assert preview.status_code == 200 and preview.data.startswith(b"\x89PNG")

    answer = agent.certificate(token.certificate_b64)
    assert answer.status_code == 200, answer.json
    assert answer.json["digest_algorithm"] == "sha256" and answer.json["signature_algorithm"] == "rsa-pkcs1v15"
    assert answer.json["signer"]["national_id"] == token.user.national_code
    reply = agent.signature(token.sign(answer.json), token.certificate_b64)
    assert reply.status_code == 202 and reply.json == {"state": "signed", "level": "B-LTA"}
    busy = platform.document(doc["id"])
    assert busy["state"] == "busy" and busy["revision"] == 1

    done = raise_level(app, created["id"])
    assert done["state"] == "completed" and done["completed_revision"] == 2
    sealed = client.post(f"/api/v1/documents/{doc['id']}/seal", headers=platform.headers, json={"level": "B-LTA"})
    assert sealed.status_code == 200, sealed.json
    final = platform.document(doc["id"])
    assert final["revision"] == 3 and final["state"] == "ready"
    assert [(s["kind"], s["level"]) for s in final["signatures"]] == [("signature", "B-LTA"), ("seal", "B-LTA")]

    pdf = client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=platform.headers)
    assert hashlib.sha256(pdf.data).hexdigest() == final["sha256"]
    report = Validator(_validation_config(app)).validate(pdf.data)
    assert report.indication is Indication.TOTAL_PASSED, report
    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED] * 2
    assert [s.pades_level for s in report.signatures] == ["B-LTA", "B-LTA"]


def _validation_config(app: Flask) -> Any:
    from hsm_config.deployment import validation_config

    return validation_config(app.extensions["pakat"].deployment)


# -- refusals: each leaves the document as it was ----------------------------------------------------------


@pytest.fixture
def fresh(platform: Platform, token: Token) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = platform.upload("refusals")
    return doc, platform.session(doc["id"], expected_signer={"national_id": token.user.national_code})


def unchanged(platform: Platform, doc: dict[str, Any]) -> None:
    now = platform.document(doc["id"])
    assert (now["revision"], now["sha256"], now["state"]) == (doc["revision"], doc["sha256"], "ready")


def test_wrong_or_missing_secret(client: FlaskClient, platform: Platform, fresh: Any, token: Token) -> None:
    doc, created = fresh
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43}, {"Authorization": created["agent_secret"]}):
        reply = client.post("/agent/v1/sessions/" + created["id"] + "/certificate", headers=headers,
                            json={"certificate": token.certificate_b64})
        assert reply.status_code == 401 and error_code(reply) == "AGENT_SECRET_INVALID"
    other = platform.session(doc["id"])
    assert error_code(Agent(client, created, other["agent_secret"]).fetch()) == "AGENT_SECRET_INVALID"
    unchanged(platform, doc)


def test_steps_are_once_and_in_order(client: FlaskClient, platform: Platform, fresh: Any, token: Token) -> None:
    doc, created = fresh
    agent = Agent(client, created)
    early = agent.signature(base64.b64encode(b"\0" * 256).decode())
    assert early.status_code == 409 and error_code(early) == "STEP_OUT_OF_ORDER"
    answer = agent.certificate(token.certificate_b64)
    assert answer.status_code == 200
    # The certificate step taken again (the token was pulled out before it signed) prepares afresh:
    # a signature made for the first preparation no longer fits and changes nothing.
    time.sleep(1.05)  # the signing time has whole seconds: the new preparation must differ from the first
    again = agent.certificate(token.certificate_b64)
    assert again.status_code == 200 and again.json["signed_attributes"] != answer.json["signed_attributes"]
    stale = agent.signature(token.sign(answer.json))
    assert stale.status_code == 422 and error_code(stale) == "SIGNATURE_INVALID", stale.json
    unchanged(platform, doc)
    signature = token.sign(again.json)
    assert agent.signature(signature).status_code == 202
    replay = agent.signature(signature)
    assert replay.status_code == 409 and error_code(replay) == "STEP_OUT_OF_ORDER"


def test_expired_and_cancelled_sessions(app: Flask, client: FlaskClient, platform: Platform, fresh: Any,
                                        token: Token) -> None:
    doc, created = fresh
    with app.extensions["pakat"].database.begin() as conn:
        conn.execute(update(signing_sessions).where(signing_sessions.c.id == created["id"])
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    reply = Agent(client, created).certificate(token.certificate_b64)
    assert reply.status_code == 410 and error_code(reply) == "SESSION_EXPIRED"
    assert platform.client.get(f"/api/v1/documents/{doc['id']}/signing-sessions/{created['id']}",
                               headers=platform.headers).json["state"] == "expired"

    second = platform.session(doc["id"])
    agent = Agent(client, second)
    answer = agent.certificate(token.certificate_b64)
    cancelled = client.delete(f"/api/v1/documents/{doc['id']}/signing-sessions/{second['id']}",
                              headers=platform.headers)
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    reply = agent.signature(token.sign(answer.json))
    assert reply.status_code == 410 and error_code(reply) == "SESSION_CANCELLED"
    unchanged(platform, doc)


def test_signature_refusals(client: FlaskClient, platform: Platform, fresh: Any, token: Token,
                            dev_env: Any) -> None:
    doc, created = fresh
    agent = Agent(client, created)
    answer = agent.certificate(token.certificate_b64)
    good = token.sign(answer.json)
    forged = base64.b64encode(bytes(256)).decode()
    reply = agent.signature(forged)
    assert reply.status_code == 422 and error_code(reply) == "SIGNATURE_INVALID"
    seal_cert = dev_env.organisations["demo-co"].certificate().public_bytes(Encoding.DER)
    reply = agent.signature(good, base64.b64encode(seal_cert).decode())
    assert reply.status_code == 422 and error_code(reply) == "CERTIFICATE_MISMATCH"
    unchanged(platform, doc)
    assert agent.signature(good).status_code == 202  # the refused attempts consumed nothing


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("untrusted", "SIGNER_CERT_UNTRUSTED"),
        ("revoked", "SIGNER_CERT_REVOKED"),
        ("not-expected", "SIGNER_NOT_EXPECTED"),
        ("sha1", "DIGEST_REFUSED"),
        ("garbage", "CERTIFICATE_UNREADABLE"),
    ],
)
def test_certificate_refusals(client: FlaskClient, platform: Platform, token: Token, dev_env: Any,
                              case: str, code: str) -> None:
    doc = platform.upload(f"certificate refusal {case}")
    national_id = "0012345679" if case == "not-expected" else token.user.national_code
    expected = None if case == "revoked" else {"national_id": national_id}
    created = platform.session(doc["id"], expected_signer=expected)
    cert, extra = token.certificate_b64, {}
    if case == "untrusted":
        stranger, _ = throwaway_ca()
        cert = base64.b64encode(stranger.certificate.public_bytes(Encoding.DER)).decode()
    elif case == "revoked":
        revoked = dev_env.organisations["demo-revoked"].certificate()
        cert = base64.b64encode(revoked.public_bytes(Encoding.DER)).decode()
    elif case == "sha1":
        extra = {"digest_algorithm": "sha1"}
    elif case == "garbage":
        cert = base64.b64encode(b"not a certificate").decode()
    reply = Agent(client, created).certificate(cert, **extra)
    assert reply.status_code in (400, 422) and error_code(reply) == code, reply.json
    again = Agent(client, created).certificate(token.certificate_b64)  # the session is still at its first step
    assert again.status_code in (200, 422)
    unchanged(platform, doc)


def test_oversized_body_is_refused(client: FlaskClient, platform: Platform, fresh: Any) -> None:
    doc, created = fresh
    reply = client.post("/agent/v1/sessions/" + created["id"] + "/certificate",
                        headers={"Authorization": f"Bearer {created['agent_secret']}"},
                        data=b"{" + b" " * (70 * 1024) + b"}", content_type="application/json")
    assert reply.status_code == 413 and error_code(reply) == "REQUEST_TOO_LARGE"
    unchanged(platform, doc)


def test_racing_sessions_never_lose_a_signature(app: Flask, client: FlaskClient, platform: Platform,
                                                 token: Token, dev_env: Any) -> None:
    doc = platform.upload("two signatories")
    first, second = platform.session(doc["id"]), platform.session(doc["id"])
    a, b = Agent(client, first), Agent(client, second)
    answer_a = a.certificate(token.certificate_b64)
    answer_b = b.certificate(token.certificate_b64)  # both prepared on revision 0
    assert a.signature(token.sign(answer_a.json)).status_code == 202

    late = b.signature(token.sign(answer_b.json))
    assert late.status_code == 409 and error_code(late) == "DOCUMENT_CHANGED"
    busy = b.certificate(token.certificate_b64)  # back at the certificate step, but the first is being raised
    assert busy.status_code == 409 and error_code(busy) == "DOCUMENT_BUSY" and busy.headers["Retry-After"] == "2"
    raise_level(app, first["id"])

    again = b.certificate(token.certificate_b64)
    assert again.status_code == 200, again.json
    assert b.signature(token.sign(again.json)).status_code == 202
    raise_level(app, second["id"])
    final = platform.document(doc["id"])
    assert [s["session_id"] for s in final["signatures"]] == [first["id"], second["id"]]
    report = Validator(_validation_config(app)).validate(
        client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=platform.headers).data)
    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED] * 2


def test_another_organisation_sees_nothing(client: FlaskClient, platform: Platform, fresh: Any,
                                           dev_env: Any) -> None:
    doc, created = fresh
    stranger = Platform(client, api_key(dev_env, "demo-gov"))
    for path in (f"/api/v1/documents/{doc['id']}", f"/api/v1/documents/{doc['id']}/pdf"):
        reply = client.get(path, headers=stranger.headers)
        assert reply.status_code == 404 and error_code(reply) == "DOCUMENT_NOT_FOUND"
    reply = client.get(f"/api/v1/documents/{doc['id']}/signing-sessions/{created['id']}", headers=stranger.headers)
    assert reply.status_code == 404


def test_a_level_that_cannot_be_reached_fails_the_session_but_keeps_the_signature(
    app: Flask, client: FlaskClient, platform: Platform, token: Token
) -> None:
    doc = platform.upload("the TSA is down")
    created = platform.session(doc["id"])
    agent = Agent(client, created)
    answer = agent.certificate(token.certificate_b64)
    assert agent.signature(token.sign(answer.json)).status_code == 202

    state = app.extensions["pakat"]
    dead_tsa = dataclasses.replace(state.deployment, tsa_url=f"http://127.0.0.1:{free_port()}/tsa")
    dead_seals = SealService(dead_tsa)
    sessions = SigningSessions(state.database, state.store, dead_tsa, lambda: dead_seals, state.queue)
    with pytest.raises(PakatError) as retry:
        sessions.raise_level(created["id"], final_attempt=False)  # the queue will try again
    assert retry.value.code == "TSA_UNAVAILABLE"
    assert platform.document(doc["id"])["state"] == "busy"

    failed = sessions.raise_level(created["id"], final_attempt=True).as_dict()
    assert failed["state"] == "failed" and failed["error"]["code"] == "TSA_UNAVAILABLE"
    assert failed["error"]["message_fa"] and failed["error"]["message_en"]
    now = platform.document(doc["id"])
    assert now["state"] == "ready" and now["revision"] == 1  # the B-B signature stays; the document is free
    assert [(s["kind"], s["level"]) for s in now["signatures"]] == [("signature", "B-B")]
    assert sessions.raise_level(created["id"], final_attempt=True).state == "failed"  # idempotent once over


def test_signed_sessions_are_queued_and_requeued(app: Flask, client: FlaskClient, platform: Platform,
                                                  token: Token) -> None:
    doc = platform.upload("queued")
    created = platform.session(doc["id"])
    agent = Agent(client, created)
    assert agent.signature(token.sign(agent.certificate(token.certificate_b64).json)).status_code == 202
    state = app.extensions["pakat"]
    queue = state.queue.queue()
    job = Job.fetch(f"raise-{created['id']}", connection=queue.connection)
    assert job.func_name == "envelopes.jobs.raise_signature_job" and job.args == (created["id"],)
    job.delete()  # as if Redis had lost it
    assert state.sessions().requeue_signed() >= 1
    assert Job.fetch(f"raise-{created['id']}", connection=queue.connection).args == (created["id"],)
    raise_level(app, created["id"])


# -- the same races on SQLite and PostgreSQL, with real threads -------------------------------------------


def test_concurrent_steps_resolve_in_the_database(app_on_each_database: Flask, dev_env: Any, token: Token) -> None:
    """Eight agents racing one step: one wins, the others are refused; two signers never lose a signature."""
    client = app_on_each_database.test_client()
    platform = Platform(client, api_key(dev_env, "demo-co"))
    doc = platform.upload("raced")
    created = platform.session(doc["id"], level="B-B")  # done at once: the document is free for the next race

    def post_certificate(_: int) -> Any:
        return app_on_each_database.test_client().post(
            f"/agent/v1/sessions/{created['id']}/certificate",
            headers={"Authorization": f"Bearer {created['agent_secret']}"},
            json={"certificate": token.certificate_b64, "chain": []})

    # The certificate step may be taken again while a signature is awaited: every racer prepares, the last
    # preparation stored stands, and only a signature made for it lands, once.
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post_certificate, range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    agent = Agent(client, created)
    landed = [agent.signature(token.sign(a.json)) for a in answers]
    assert sorted(r.status_code for r in landed).count(202) == 1
    assert {error_code(r) for r in landed if r.status_code != 202} <= {"SIGNATURE_INVALID", "STEP_OUT_OF_ORDER"}
    assert len(platform.document(doc["id"])["signatures"]) == 1

    # Two sessions prepared on the same revision sign at the same moment: one lands, the other is told.
    sessions = [platform.session(doc["id"]) for _ in range(2)]
    agents = [Agent(app_on_each_database.test_client(), s) for s in sessions]
    answers = [a.certificate(token.certificate_b64).json for a in agents]
    signatures = [token.sign(answer) for answer in answers]
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda pair: pair[0].signature(pair[1]), zip(agents, signatures, strict=True)))
    outcomes = sorted((r.status_code, error_code(r) if r.status_code != 202 else "") for r in replies)
    assert outcomes == [(202, ""), (409, "DOCUMENT_CHANGED")]
    now = platform.document(doc["id"])
    assert now["revision"] == 2 and len(now["signatures"]) == 2
