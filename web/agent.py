"""The signing-agent protocol (``/agent/v1``): a user's token signs through a session.

The agent authenticates with the session's one-time secret as a bearer token
(never in the URL). Reading the session is repeatable; the certificate and
signature steps are each valid once, in order; between them the prepared
revision can be downloaded so the agent recomputes the document digest
itself, and the document itself at any time, so the agent draws its pages
from the bytes it checks (see docs/agent-protocol.md).
Views parse and render; :class:`envelopes.sessions.SigningSessions` decides.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, BinaryIO

from flask import Blueprint, Response, jsonify, request

from envelopes.previews import first_page_png
from envelopes.sessions import ACCEPTED_DIGESTS, SessionDocument
from pakat import errors
from pakat.errors import InputError, PakatError
from web.inputs import json_body
from web.state import app_services

bp = Blueprint("agent", __name__, url_prefix="/agent/v1")

MAX_AGENT_BODY = 64 * 1024
_CHUNK = 256 * 1024


@bp.get("/sessions/<session_id>")
def session(session_id: str) -> Response:
    """What is asked: the document, who asks, for whom, the level and the expiry.

    ``documents`` lists every document of the session (an envelope's A, B, C; this one alone for a session
    of one document), each under its own session id, which the agent walks with the same secret.
    A document's facts are told only while its session is open; once every one has ended (signed,
    cancelled, expired) the answer is the states alone: the agent needs no more to tell its user how it
    ended, and a secret copied afterwards learns nothing of the documents.
    """
    state = app_services()
    members = state.sessions().group_for_agent(session_id, _secret())
    (asked,) = (m for m in members if m.session.id == session_id)  # one read answers both
    view, doc = asked.session, asked.document
    body: dict[str, Any] = {
        "session": view.id,
        "state": view.state,
        "expires_at": view.as_dict()["expires_at"],
        "level": view.level,
        "documents": [_member_json(member) for member in members],
    }
    if not any(member.session.is_open for member in members):
        return _no_store(jsonify(body))
    org = state.deployment.organisation(view.organisation)
    platform = state.deployment.platforms.get(doc.api_key_sha256 or "")
    body.update({
        "requested_by": {
            "organisation": org.id,
            "name_fa": org.name_fa,
            "name_en": org.name_en,
            "platform_fa": platform.name_fa if platform else None,
            "platform_en": platform.name_en if platform else None,
        },
        "expected_signer": view.as_dict()["expected_signer"],
        "digest_algorithms": list(ACCEPTED_DIGESTS),
    })
    if view.is_open:
        body.update(_document_facts(asked))
    return _no_store(jsonify(body))


def _member_json(member: SessionDocument) -> dict[str, Any]:
    body = {"session": member.session.id, "state": member.session.state}
    return {**body, **_document_facts(member)} if member.session.is_open else body


def _document_facts(member: SessionDocument) -> dict[str, Any]:
    """The document of an open session, and where the agent fetches it."""
    session, doc = member.session, member.document
    return {
        "document": {"name": doc.name, "sha256": doc.head.sha256, "size": doc.head.size, "pages": doc.pages,
                     "revision": doc.head.number},
        "preview_url": f"/agent/v1/sessions/{session.id}/preview.png",
        "document_url": f"/agent/v1/sessions/{session.id}/document.pdf",
    }


@bp.get("/sessions/<session_id>/preview.png")
def preview(session_id: str) -> Response:
    """The first page of the document being signed; only while the session is open."""
    state = app_services()
    _, doc = state.sessions().for_agent(session_id, _secret())
    png = first_page_png(state.store.path(doc.head.sha256), doc.head.sha256, state.settings.home / "previews")
    return _no_store(Response(png, mimetype="image/png"))


@bp.get("/sessions/<session_id>/document.pdf")
def document(session_id: str) -> Response:
    """The document's head revision as stored: the bytes the session answer's ``document.sha256`` and ``size`` say.

    The agent draws the pages from these bytes after checking them against
    what it shows, rather than trusting a picture the server drew. Only while the session is open.
    """
    state = app_services()
    _, doc = state.sessions().for_agent(session_id, _secret())
    source = state.store.open(doc.head.sha256)  # opened now: a missing file is an error answer, not a cut stream
    response = Response(_stream(source, doc.head.size), mimetype="application/pdf", direct_passthrough=True)
    response.headers["Content-Length"] = str(doc.head.size)
    return _no_store(response)


@bp.post("/sessions/<session_id>/certificate")
def certificate(session_id: str) -> Response:
    """Check the user's certificate, prepare the document, answer with the DER signed attributes."""
    secret = _secret()
    body = json_body(MAX_AGENT_BODY)
    chain = body.get("chain") or []
    if not isinstance(chain, list):
        raise InputError(errors.REQUEST_INVALID, "chain must be a list of base64 certificates")
    prepared = app_services().sessions().present_certificate(
        session_id, secret, _field(body, "certificate"), chain, str(body.get("digest_algorithm") or "sha256")
    )
    signer = prepared.signer
    return _no_store(jsonify({
        "state": prepared.session.state,
        "signed_attributes": base64.b64encode(prepared.prepared.signed_attributes).decode("ascii"),
        "digest_algorithm": prepared.prepared.digest_algorithm.name,
        "signature_algorithm": signer.signature_algorithm,
        "digest": prepared.prepared.digest.hex(),
        "signer": {"subject": signer.subject, "national_id": signer.national_id, "role": signer.role},
    }))


@bp.get("/sessions/<session_id>/prepared.pdf")
def prepared(session_id: str) -> Response:
    """The prepared revision (hole empty), so the agent can recompute the digest it is asked to sign."""
    revision = app_services().sessions().prepared_revision(session_id, _secret())
    source = revision.base.open("rb")  # opened now: a missing file is an error answer, not a cut stream
    response = Response(_stream(source, revision.base_size, revision.update), mimetype="application/pdf",
                        direct_passthrough=True)
    response.headers["Content-Length"] = str(revision.size)
    return _no_store(response)


def _stream(source: BinaryIO, size: int, tail: bytes = b"") -> Iterator[bytes]:
    """``size`` bytes of a stored file, then ``tail`` (the prepared update, for ``prepared.pdf``)."""
    # Chunk by chunk from the store: a document near max_pdf_bytes is never held whole in memory.
    with source:
        left = size
        while left > 0:
            chunk = source.read(min(_CHUNK, left))
            if not chunk:
                raise OSError("the stored revision is shorter than recorded")
            left -= len(chunk)
            yield chunk
    if tail:
        yield tail


@bp.post("/sessions/<session_id>/signature")
def signature(session_id: str) -> tuple[Response, int]:
    """Verify the token's signature, embed it, and queue the level's work: 202."""
    secret = _secret()
    body = json_body(MAX_AGENT_BODY)
    cert = body.get("certificate")
    view = app_services().sessions().post_signature(
        session_id, secret, _field(body, "signature"), cert if isinstance(cert, str) else None
    )
    return _no_store(jsonify({"state": view.state, "level": view.level})), 202


def _secret() -> str:
    scheme, _, secret = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise PakatError(errors.AGENT_SECRET_INVALID)
    return secret.strip()


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InputError(errors.REQUEST_INVALID, f"{name} (base64) is required")
    return value


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
