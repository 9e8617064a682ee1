"""One signing session on several documents (an envelope's A, B, C): one link, one secret, one PIN.

Each document is walked, verified and embedded under its own session row, so
a refusal on one leaves the others as they are; the platform reads and
cancels them together, and the signing page shows them all. In process, with
a real Redis queue and a SoftHSM person token; every answer is checked
against the OpenAPI document.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH, Spec
from pakat_testkit import api_key
from session_kit import Agent, Platform, Token, raise_level
from sqlalchemy import func, select

from envelopes.database import signing_sessions
from envelopes.sessions import MAX_SESSION_DOCUMENTS
from hsm_config.deployment import validation_config
from validation.engine import Validator
from validation.model import Indication

SPEC = Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))
TOKEN_HEADER = "X-Pakat-View-Token"


def open_group(platform: Platform, doc_ids: list[str], **body: Any) -> Any:
    return platform.client.post("/api/v1/signing-sessions", headers=platform.headers,
                                json={"documents": doc_ids, "level": "B-T", **body})


def error_code(reply: Any) -> str:
    return str((reply.json or {}).get("error", {}).get("code"))


def session_rows(app: Flask) -> int:
    with app.extensions["pakat"].database.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(signing_sessions)).scalar_one())


def page_state(client: FlaskClient, created: dict[str, Any], lang: str = "fa") -> Any:
    token = urlsplit(created["signing_page_url"]).fragment
    return client.get(f"/sign/{created['id']}/state?lang={lang}", headers={TOKEN_HEADER: token})


def test_an_envelopes_documents_are_signed_under_one_session(
    app: Flask, client: FlaskClient, platform: Platform, token: Token,
) -> None:
    docs = [platform.upload(f"envelope {part}") for part in "ABC"]
    expected = {"national_id": token.user.national_code}
    reply = open_group(platform, [d["id"] for d in docs], expected_signer=expected)
    created = SPEC.check("/api/v1/signing-sessions", "post", reply)
    assert reply.status_code == 201 and reply.headers["Cache-Control"] == "no-store"
    members = created["sessions"]
    assert [m["document_id"] for m in members] == [d["id"] for d in docs]
    assert created["id"] == members[0]["id"] and all(m["group"] == created["id"] for m in members)
    assert created["state"] == "open" and created["agent_url"].endswith("/agent/v1/sessions/" + created["id"])

    # The agent is given the link alone; the session's answer names every document, in order.
    query = parse_qs(urlsplit(created["pairing_link"]).query)
    assert unquote(query["session"][0]) == created["agent_url"] and query["secret"][0] == created["agent_secret"]
    shown = Agent(client, created).fetch()
    assert shown.status_code == 200
    listed = shown.json["documents"]
    assert [(d["session"], d["document"]["sha256"], d["state"]) for d in listed] == [
        (m["id"], d["sha256"], "awaiting_certificate") for m, d in zip(members, docs, strict=True)]

    page = SPEC.check("/sign/{session_id}/state", "get", page_state(client, created))
    assert page["phase"] == "waiting" and [d["name"] for d in page["documents"]] == ["پاکت-ب.pdf"] * 3
    assert [d["heading"] for d in page["documents"]] == ["سند ۱ از ۳", "سند ۲ از ۳", "سند ۳ از ۳"]
    assert page["pairing_link"] == created["pairing_link"]

    # Same secret, each document's own session: A and C are signed; B's signature does not verify.
    agents = [Agent(client, {"id": d["session"], "agent_secret": created["agent_secret"]}) for d in listed]
    answers = [agent.certificate(token.certificate_b64) for agent in agents]
    assert [a.status_code for a in answers] == [200, 200, 200]
    signatures = [token.sign(a.json) for a in answers]
    assert agents[0].signature(signatures[0]).status_code == 202
    refused = agents[1].signature(signatures[2])  # C's signature posted for B
    assert refused.status_code == 422 and error_code(refused) == "SIGNATURE_INVALID", refused.json
    assert agents[2].signature(signatures[2]).status_code == 202
    for member in (members[0], members[2]):
        assert raise_level(app, member["id"])["state"] == "completed"

    together = SPEC.check("/api/v1/signing-sessions/{session_id}", "get",
                          client.get(f"/api/v1/signing-sessions/{created['id']}", headers=platform.headers))
    assert together["state"] == "open"
    assert [m["state"] for m in together["sessions"]] == ["completed", "awaiting_signature", "completed"]
    b = platform.document(docs[1]["id"])
    assert (b["revision"], b["sha256"], b["state"]) == (0, docs[1]["sha256"], "ready")  # B as it was

    # The platform gives up on B: cancelled, while A and C stay signed.
    cancelled = client.delete(f"/api/v1/signing-sessions/{created['id']}", headers=platform.headers)
    body = SPEC.check("/api/v1/signing-sessions/{session_id}", "delete", cancelled)
    assert body["state"] == "partly_completed"
    assert [m["state"] for m in body["sessions"]] == ["completed", "cancelled", "completed"]

    page = SPEC.check("/sign/{session_id}/state", "get", page_state(client, created, "en"))
    assert (page["phase"], page["final"], page["phase_label"]) == ("partly_signed", True,
                                                                   "Some of the documents were signed")
    assert [(d["phase"], d["download"]) for d in page["documents"]] == [
        ("signed", True), ("cancelled", False), ("signed", True)]
    # The digest on the page stays the one the bidder was shown before signing, not the signed file's.
    assert [d["sha256"] for d in page["documents"]] == [d["sha256"] for d in docs]
    assert "pairing_link" not in page
    headers = {TOKEN_HEADER: urlsplit(created["signing_page_url"]).fragment}
    validator = Validator(validation_config(app.extensions["pakat"].deployment))
    for number in (0, 2):
        pdf = client.get(f"/sign/{created['id']}/documents/{number}/signed.pdf", headers=headers)
        assert pdf.status_code == 200 and pdf.headers["X-Pakat-SHA256"] == platform.document(
            docs[number]["id"])["sha256"]
        report = validator.validate(pdf.data)
        assert report.indication is Indication.TOTAL_PASSED and report.signatures[0].pades_level == "B-T"
    not_ready = client.get(f"/sign/{created['id']}/documents/1/signed.pdf", headers=headers)
    assert not_ready.status_code == 409 and error_code(not_ready) == "SIGNED_PDF_NOT_READY"
    preview = client.get(f"/sign/{created['id']}/documents/1/preview.png", headers=headers)
    assert preview.status_code == 200 and preview.data.startswith(b"\x89PNG")
    for beyond in (f"/sign/{created['id']}/documents/3/preview.png",
                   f"/sign/{created['id']}/documents/3/signed.pdf"):
        assert error_code(client.get(beyond, headers=headers)) == "SESSION_NOT_FOUND"


@pytest.mark.parametrize("documents, why", [
    ([], "no document"),
    ("abc", "not a list"),
    (["same", "same"], "a document twice"),
    (["x"] * (MAX_SESSION_DOCUMENTS + 1), "too many"),
    ([7], "not an id"),
])
def test_malformed_document_lists_are_refused(client: FlaskClient, platform: Platform, app: Flask,
                                              documents: Any, why: str) -> None:
    before = session_rows(app)
    if documents == ["same", "same"]:
        doc = platform.upload("twice")
        documents = [doc["id"], doc["id"]]
    reply = SPEC.check("/api/v1/signing-sessions", "post", open_group(platform, documents))
    assert error_code(client.post("/api/v1/signing-sessions", headers=platform.headers,
                                  json={"documents": documents})) == "REQUEST_INVALID", why
    assert reply["error"]["code"] == "REQUEST_INVALID" and session_rows(app) == before


def test_one_refused_document_opens_nothing(client: FlaskClient, platform: Platform, app: Flask,
                                            dev_env: Any) -> None:
    ours = platform.upload("ours")
    theirs = Platform(client, api_key(dev_env, "demo-gov")).upload("theirs")
    before = session_rows(app)
    reply = open_group(platform, [ours["id"], theirs["id"]])
    assert reply.status_code == 404 and error_code(reply) == "DOCUMENT_NOT_FOUND"
    assert session_rows(app) == before


def test_another_organisation_sees_no_session(client: FlaskClient, platform: Platform, dev_env: Any) -> None:
    docs = [platform.upload("a"), platform.upload("b")]
    created = open_group(platform, [d["id"] for d in docs]).json
    other = {"Authorization": f"Bearer {api_key(dev_env, 'demo-gov')}"}
    for method in (client.get, client.delete):
        reply = method(f"/api/v1/signing-sessions/{created['id']}", headers=other)
        assert reply.status_code == 404 and error_code(reply) == "SESSION_NOT_FOUND"
    mine = client.get(f"/api/v1/signing-sessions/{created['id']}", headers=platform.headers).json
    assert [m["state"] for m in mine["sessions"]] == ["awaiting_certificate"] * 2


def test_a_session_of_one_document_reads_the_same_way(client: FlaskClient, platform: Platform) -> None:
    doc = platform.upload("alone")
    created = platform.session(doc["id"], level="B-B")
    assert "group" not in created
    together = client.get(f"/api/v1/signing-sessions/{created['id']}", headers=platform.headers)
    body = SPEC.check("/api/v1/signing-sessions/{session_id}", "get", together)
    assert body["id"] == created["id"] and [m["id"] for m in body["sessions"]] == [created["id"]]
    listed = Agent(client, created).fetch().json["documents"]
    assert [(d["session"], d["document"]["sha256"]) for d in listed] == [(created["id"], doc["sha256"])]
