"""``GET /agent/v1/sessions/{sid}/document.pdf``: the document itself, for the agent to draw its pages.

In process against the real app: the download is the stored head revision,
the very bytes the session answer's ``document.sha256`` and ``size`` describe,
never cached, only while the session is open, and refused like the session's
own GET (a wrong secret and an unknown session alike).
"""

from __future__ import annotations

import hashlib

from flask.testing import FlaskClient
from session_kit import Agent, Platform, Token, error_code


def test_the_download_is_the_document_the_session_describes(
    client: FlaskClient, platform: Platform, token: Token
) -> None:
    doc = platform.upload("document download")
    created = platform.session(doc["id"], expected_signer={"national_id": token.user.national_code})
    agent = Agent(client, created)
    shown = agent.fetch().json
    assert shown["document_url"] == agent.path + "/document.pdf"

    reply = client.get(shown["document_url"], headers=agent.headers)
    assert reply.status_code == 200 and reply.mimetype == "application/pdf"
    assert reply.headers["Cache-Control"] == "no-store"
    assert int(reply.headers["Content-Length"]) == len(reply.data) == shown["document"]["size"]
    assert hashlib.sha256(reply.data).hexdigest() == shown["document"]["sha256"]
    stored = client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=platform.headers).data
    assert reply.data == stored

    # Reading changes nothing, and stays possible between the steps.
    answer = agent.certificate(token.certificate_b64)
    assert answer.status_code == 200, answer.json
    assert client.get(shown["document_url"], headers=agent.headers).data == stored
    assert agent.fetch().json["state"] == "awaiting_signature"

    # Once the signature is in, the session has ended: the secret reads its state, not the document.
    assert agent.signature(token.sign(answer.json), token.certificate_b64).status_code == 202
    after = agent.fetch().json
    assert after["state"] in ("signed", "completed") and "document" not in after
    assert [set(member) for member in after["documents"]] == [{"session", "state"}]
    ended = client.get(shown["document_url"], headers=agent.headers)
    assert ended.status_code == 409 and error_code(ended) == "SESSION_FINISHED" and b"%PDF" not in ended.data


def test_the_download_refuses_like_the_session_itself(client: FlaskClient, platform: Platform) -> None:
    doc = platform.upload("document refusals")
    created = platform.session(doc["id"])
    agent = Agent(client, created)
    path = agent.path + "/document.pdf"
    other = platform.session(doc["id"])
    for headers in ({}, {"Authorization": "Bearer " + "x" * 43}, {"Authorization": created["agent_secret"]},
                    {"Authorization": f"Bearer {other['agent_secret']}"}):
        refused = client.get(path, headers=headers)
        same = client.get(agent.path, headers=headers)
        assert refused.status_code == same.status_code == 401
        assert error_code(refused) == error_code(same) == "AGENT_SECRET_INVALID"
        assert refused.mimetype == "application/json" and b"%PDF" not in refused.data
    unknown = client.get(f"/agent/v1/sessions/{'0' * 32}/document.pdf", headers=agent.headers)
    assert unknown.status_code == 401 and error_code(unknown) == "AGENT_SECRET_INVALID"
