"""Signing sessions on several documents for platforms: ``/api/v1/signing-sessions``.

An envelope's documents (A, B, C) are signed with one link, one PIN: each
document has a session of its own (``sessions``, in the order given), walked,
verified and embedded on its own, so one failing leaves the others correct.
The session's id is its first document's session id. A session of one
document, opened under ``/api/v1/documents/<id>/signing-sessions``, can be read
and cancelled here too.

Views parse and render; :class:`envelopes.sessions.SigningSessions` decides.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from envelopes.sessions import MAX_SESSION_DOCUMENTS, SessionView, summary_state
from pakat import errors
from pakat.errors import InputError
from web.auth import organisation_of_caller
from web.documents_api import pairing_json, session_request
from web.inputs import json_body
from web.security import public_base
from web.state import app_services

bp = Blueprint("signing_sessions", __name__, url_prefix="/api/v1/signing-sessions")


@bp.post("")
def create() -> tuple[Response, int]:
    """Open one session on several documents; the answer carries the secret, link and page URL once."""
    organisation = organisation_of_caller()
    public_base()  # PUBLIC_URL_NOT_SET now, before a session is written that no link could name
    body = json_body()
    doc_ids = _document_ids(body.get("documents"))
    asked = session_request(body)
    group = app_services().sessions().create_group(organisation, doc_ids, asked.level, asked.expected,
                                                   asked.expires_in, asked.appearance, asked.return_url)
    response = jsonify({**_group_json(group.sessions), **pairing_json(group.id, group.secret, group.view_token)})
    response.headers["Cache-Control"] = "no-store"  # it carries the agent secret
    return response, 201


@bp.get("/<session_id>")
def get(session_id: str) -> Response:
    return jsonify(_group_json(app_services().sessions().group(organisation_of_caller(), session_id)))


@bp.delete("/<session_id>")
def cancel(session_id: str) -> Response:
    """Cancel the documents not signed yet; those signed stay signed."""
    return jsonify(_group_json(app_services().sessions().cancel_group(organisation_of_caller(), session_id)))


def _document_ids(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw or len(raw) > MAX_SESSION_DOCUMENTS:
        raise InputError(errors.REQUEST_INVALID, f"documents must list 1 to {MAX_SESSION_DOCUMENTS} document ids")
    if not all(isinstance(doc_id, str) and 0 < len(doc_id) <= 64 for doc_id in raw):
        raise InputError(errors.REQUEST_INVALID, "documents must be document ids")
    return list(raw)


def _group_json(sessions: tuple[SessionView, ...]) -> dict[str, Any]:
    first = sessions[0]
    return {
        "id": first.id,
        "state": summary_state(sessions),
        "level": first.level,
        "expires_at": first.as_dict()["expires_at"],
        "sessions": [session.as_dict() for session in sessions],
    }
