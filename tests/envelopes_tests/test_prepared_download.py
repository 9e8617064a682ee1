"""``GET /agent/v1/sessions/{sid}/prepared.pdf``: the prepared revision an agent checks before it signs.

In process against the real app and a dev-PKI person's SoftHSM token: the
download is the stored document plus the prepared update, the agent's own
/ByteRange digest of it is the signed attributes' message digest, and the
endpoint refuses like the other agent steps (wrong secret, unknown session,
not awaiting a signature, over the deployment's size limit).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io

import pytest
from asn1crypto import cms
from flask import Flask
from flask.testing import FlaskClient
from session_kit import Agent, Platform, Token, error_code

from agent.prepared import byte_range_digest
from envelopes.sessions import SigningSessions
from pakat import errors
from pakat.errors import PakatError
from signer.cms import DIGESTS


def message_digest(signed_attributes_b64: str) -> bytes:
    attributes = cms.CMSAttributes.load(base64.b64decode(signed_attributes_b64))
    return bytes(next(a for a in attributes if a["type"].native == "message_digest")["values"][0].native)


@pytest.mark.parametrize("digest", ["sha256", "sha384"])
def test_the_download_is_the_document_plus_the_update_and_its_byte_range_is_the_message_digest(
    client: FlaskClient, platform: Platform, token: Token, digest: str
) -> None:
    doc = platform.upload(f"prepared {digest}")
    created = platform.session(doc["id"], expected_signer={"national_id": token.user.national_code})
    agent = Agent(client, created)
    shown = agent.fetch().json["document"]
    answer = agent.certificate(token.certificate_b64, digest_algorithm=digest)
    assert answer.status_code == 200, answer.json

    reply = client.get(agent.path + "/prepared.pdf", headers=agent.headers)
    assert reply.status_code == 200 and reply.mimetype == "application/pdf"
    assert reply.headers["Cache-Control"] == "no-store"
    assert int(reply.headers["Content-Length"]) == len(reply.data) > shown["size"]
    original = client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=platform.headers).data
    assert reply.data.startswith(original) and hashlib.sha256(original).hexdigest() == shown["sha256"]

    computed = byte_range_digest(io.BytesIO(reply.data), len(reply.data), shown["sha256"], shown["size"],
                                 DIGESTS[digest])
    assert computed == message_digest(answer.json["signed_attributes"])
    # Repeatable while the signature is awaited; the session does not move.
    assert client.get(agent.path + "/prepared.pdf", headers=agent.headers).data == reply.data
    assert agent.fetch().json["state"] == "awaiting_signature"


def test_the_download_refuses_like_the_other_steps(
    client: FlaskClient, platform: Platform, token: Token
) -> None:
    doc = platform.upload("prepared refusals")
    created = platform.session(doc["id"], expected_signer={"national_id": token.user.national_code})
    agent = Agent(client, created)
    path = agent.path + "/prepared.pdf"

    early = client.get(path, headers=agent.headers)  # nothing prepared yet
    assert early.status_code == 409 and error_code(early) == "STEP_OUT_OF_ORDER"
    answer = agent.certificate(token.certificate_b64)
    assert answer.status_code == 200
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43}, {"Authorization": created["agent_secret"]}):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 401 and error_code(refused) == "AGENT_SECRET_INVALID"
        assert refused.mimetype == "application/json"
    other = platform.session(doc["id"])
    wrong = client.get(path, headers={"Authorization": f"Bearer {other['agent_secret']}"})
    assert wrong.status_code == 401 and error_code(wrong) == "AGENT_SECRET_INVALID"
    unknown = client.get(f"/agent/v1/sessions/{'0' * 32}/prepared.pdf", headers=agent.headers)
    # An unknown session answers as a wrong secret does: a guesser learns nothing of which sessions exist.
    assert unknown.status_code == 401 and error_code(unknown) == "AGENT_SECRET_INVALID"

    assert agent.signature(token.sign(answer.json), token.certificate_b64).status_code == 202
    late = client.get(path, headers=agent.headers)  # signed: nothing is awaited any more
    assert late.status_code == 409 and error_code(late) == "STEP_OUT_OF_ORDER"


def test_a_cancelled_session_has_nothing_to_download(
    client: FlaskClient, platform: Platform, token: Token
) -> None:
    doc = platform.upload("prepared cancelled")
    created = platform.session(doc["id"], expected_signer={"national_id": token.user.national_code})
    agent = Agent(client, created)
    assert agent.certificate(token.certificate_b64).status_code == 200
    cancel = client.delete(f"/api/v1/documents/{doc['id']}/signing-sessions/{created['id']}",
                           headers=platform.headers)
    assert cancel.status_code == 200, cancel.json
    gone = client.get(agent.path + "/prepared.pdf", headers=agent.headers)
    assert gone.status_code == 410 and error_code(gone) == "SESSION_CANCELLED"


def test_a_prepared_revision_over_the_deployment_limit_is_refused(
    app: Flask, client: FlaskClient, platform: Platform, token: Token
) -> None:
    doc = platform.upload("prepared too large")
    created = platform.session(doc["id"], expected_signer={"national_id": token.user.national_code})
    assert Agent(client, created).certificate(token.certificate_b64).status_code == 200
    state = app.extensions["pakat"]
    small = dataclasses.replace(state.deployment, max_pdf_bytes=doc["size"])  # the update pushes it over
    sessions = SigningSessions(state.database, state.store, small, state.seals.get, state.queue)
    with pytest.raises(PakatError) as caught:
        sessions.prepared_revision(created["id"], created["agent_secret"])
    assert caught.value.kind is errors.PDF_TOO_LARGE
