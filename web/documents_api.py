"""Stored documents and signing sessions for platforms: ``/api/v1/documents/...``.

Views parse and render; the use cases are :mod:`envelopes.documents` and
:mod:`envelopes.sessions`. Every call needs the organisation's API key, and a
document of another organisation answers DOCUMENT_NOT_FOUND, as if absent.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import segno
from flask import Blueprint, Response, jsonify, request, send_file

from envelopes import audit
from envelopes.bids import check_download
from envelopes.documents import DocumentView, document_links
from envelopes.sessions import DEFAULT_EXPIRY, SessionView, pairing_link
from pakat import errors
from pakat.errors import InputError
from signer.external import ExpectedSigner
from signer.levels import PadesLevel
from signer.placement import VisibleSignature
from web.api import DEFAULT_LEVEL, parse_visible
from web.auth import caller_api_key_sha256, organisation_of_caller
from web.state import app_services
from web.uploads import report_file_name, upload_request, uploaded_path

bp = Blueprint("documents", __name__, url_prefix="/api/v1/documents")

MAX_JSON_BYTES = 64 * 1024


@bp.post("")
def add_document() -> tuple[Response, int]:
    """Store a PDF (multipart ``pdf``, optional ``name``); 201 with the document."""
    organisation = organisation_of_caller()
    req = upload_request()
    upload = req.files.get("pdf")
    if upload is None:
        raise InputError(errors.PDF_MISSING)
    name = report_file_name(req.form.get("name") or upload.filename)
    doc = app_services().documents().add(organisation, caller_api_key_sha256(), uploaded_path(upload.stream), name)
    return _document_json(doc), 201


@bp.get("/<doc_id>")
def get_document(doc_id: str) -> Response:
    """The document's state, revisions and signatures so far."""
    return _document_json(app_services().documents().get(organisation_of_caller(), doc_id))


@bp.get("/<doc_id>/pdf")
def get_pdf(doc_id: str) -> Response:
    """The latest revision, as a PDF download; a submitted envelope's documents only once it is opened."""
    state = app_services()
    doc, path = state.documents().latest(organisation_of_caller(), doc_id)
    check_download(state.database, doc_id)
    response = send_file(path, mimetype="application/pdf", as_attachment=True, download_name=doc.name,
                         conditional=False, etag=False, max_age=0)
    response.headers["X-Pakat-SHA256"] = doc.head.sha256
    response.headers["X-Pakat-Revision"] = str(doc.head.number)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/<doc_id>")
def delete_document(doc_id: str) -> Response:
    """Delete the document, its revisions and the files nothing else names (DOCUMENT_HELD while needed)."""
    organisation = organisation_of_caller()
    actor = audit.api_key_actor(caller_api_key_sha256())
    return jsonify(app_services().retention().delete_document(organisation, doc_id, actor=actor).as_dict())


@bp.post("/<doc_id>/seal")
def seal_document(doc_id: str) -> Response:
    """The organisation's seal on the latest revision; JSON ``{"level": "B-LTA", "visible": true}``."""
    organisation = organisation_of_caller()
    body = json_body()
    level = PadesLevel.parse(str(body.get("level") or DEFAULT_LEVEL))
    appearance = parse_visible(body.get("visible"))
    state = app_services()
    actor = audit.api_key_actor(caller_api_key_sha256())
    return _document_json(state.documents().seal(organisation, doc_id, level, state.seals.get(),
                                                 actor=actor, appearance=appearance))


@bp.post("/<doc_id>/signing-sessions")
def create_session(doc_id: str) -> tuple[Response, int]:
    """Open a signing session; the answer carries the one-time agent secret, the pairing QR code and
    the signing page's URL (its view token in the fragment: see :mod:`web.sign_page`)."""
    organisation = organisation_of_caller()
    asked = session_request(json_body())
    created = app_services().sessions().create(organisation, doc_id, asked.level, asked.expected,
                                              asked.expires_in, appearance=asked.appearance,
                                              return_url=asked.return_url)
    response = jsonify({**_session_json(created.session),
                        **pairing_json(created.session.id, created.secret, created.view_token)})
    response.headers["Cache-Control"] = "no-store"  # it carries the agent secret
    return response, 201


@bp.get("/<doc_id>/signing-sessions/<session_id>")
def get_session(doc_id: str, session_id: str) -> Response:
    return jsonify(app_services().sessions().get(organisation_of_caller(), doc_id, session_id).as_dict())


@bp.delete("/<doc_id>/signing-sessions/<session_id>")
def cancel_session(doc_id: str, session_id: str) -> Response:
    return jsonify(app_services().sessions().cancel(organisation_of_caller(), doc_id, session_id).as_dict())


def json_body(limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The request's JSON object, at most ``limit`` bytes; anything else is REQUEST_INVALID/TOO_LARGE."""
    if request.content_length is not None and request.content_length > limit:
        raise InputError(errors.REQUEST_TOO_LARGE, f"at most {limit} bytes")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(errors.REQUEST_TOO_LARGE, f"at most {limit} bytes")
    if not data.strip():
        return {}
    try:
        body = json.loads(data)
    except ValueError:
        raise InputError(errors.REQUEST_INVALID, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise InputError(errors.REQUEST_INVALID, "the body must be a JSON object")
    return body


def public_base() -> str:
    """Where people and agents reach Pakat: PAKAT_PUBLIC_URL, else the address this request came to."""
    return app_services().settings.public_url or request.host_url.rstrip("/")


def agent_url(session_id: str) -> str:
    """The session's URL for the agent."""
    return f"{public_base()}/agent/v1/sessions/{session_id}"


def signing_page_url(session_id: str, view_token: str) -> str:
    """The bidder's page: the view token rides in the fragment, which no browser sends to a server."""
    return f"{public_base()}/sign/{session_id}#{view_token}"


@dataclass(frozen=True)
class SessionRequest:
    """What a platform asks of a new signing session, parsed from its JSON body."""

    level: PadesLevel
    expected: ExpectedSigner
    expires_in: timedelta
    appearance: VisibleSignature | None
    return_url: str | None


def session_request(body: dict[str, Any]) -> SessionRequest:
    """Parse a session's options; anything malformed is REQUEST_INVALID (or RETURN_URL_REFUSED)."""
    return SessionRequest(
        level=PadesLevel.parse(str(body.get("level") or DEFAULT_LEVEL)),
        expected=_expected_signer(body.get("expected_signer")),
        expires_in=_expires_in(body.get("expires_in")),
        appearance=parse_visible(body.get("visible")),
        return_url=_return_url(body.get("return_url")),
    )


def pairing_json(session_id: str, secret: str, view_token: str) -> dict[str, Any]:
    """A session just opened, said once: the agent's URL and secret, the link, its QR code, the page."""
    url = agent_url(session_id)
    link = pairing_link(url, secret)
    qr = segno.make(link, error="m")
    svg, png = io.BytesIO(), io.BytesIO()
    qr.save(svg, kind="svg", scale=4, xmldecl=False)
    qr.save(png, kind="png", scale=4)
    return {
        "agent_url": url,
        "agent_secret": secret,
        "pairing_link": link,
        "qr_svg": svg.getvalue().decode("utf-8"),
        "qr_png_base64": base64.b64encode(png.getvalue()).decode("ascii"),
        "signing_page_url": signing_page_url(session_id, view_token),
    }


def _session_json(session: SessionView) -> dict[str, Any]:
    return session.as_dict()


def _document_json(doc: DocumentView) -> Response:
    body = doc.as_dict()
    body["links"] = document_links(body)
    return jsonify(body)


def _expected_signer(raw: Any) -> ExpectedSigner:
    if raw is None:
        return ExpectedSigner()
    if not isinstance(raw, dict):
        raise InputError(errors.REQUEST_INVALID, "expected_signer must be an object")
    national_id = _text(raw.get("national_id"), "expected_signer.national_id", 32)
    role = _text(raw.get("role"), "expected_signer.role", 255)
    if national_id is not None and not national_id.isdigit():
        raise InputError(errors.REQUEST_INVALID, "expected_signer.national_id must be digits")
    return ExpectedSigner(national_id, role)


def _return_url(raw: Any) -> str | None:
    """The session's return_url if under one of the caller's key's ``return_urls``; else RETURN_URL_REFUSED."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise InputError(errors.REQUEST_INVALID, "return_url must be a URL")
    platform = app_services().deployment.platforms.get(caller_api_key_sha256())
    if platform is None or not platform.allows_return_url(raw):
        # The URL is not echoed: a platform's return URL may carry its own tokens.
        raise InputError(errors.RETURN_URL_REFUSED)
    return raw


def _expires_in(raw: Any) -> timedelta:
    if raw is None:
        return DEFAULT_EXPIRY
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise InputError(errors.REQUEST_INVALID, "expires_in must be a whole number of seconds")
    return timedelta(seconds=raw)


def _text(value: Any, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InputError(errors.REQUEST_INVALID, f"{what} must be text of at most {limit} characters")
    return value.strip() or None
