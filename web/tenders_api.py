"""Tenders and bid envelopes for platforms: ``/api/v1/tenders/...``.

Views parse and render; the use cases are :class:`envelopes.tenders.Tenders`.
A tender belongs to the API key that created it (the platform): any other
key gets TENDER_NOT_FOUND, as if it did not exist. Envelope documents are
ordinary documents (``/api/v1/documents/{id}``): they are signed through the
signing sessions there and sealed with ``/api/v1/documents/{id}/seal``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file

from envelopes.tender_types import (
    Bidder,
    Caller,
    DocumentSource,
    EnvelopeView,
    NewEnvelope,
    NewTender,
    Requirements,
    Signatory,
)
from envelopes.tenders import Tenders
from pakat import errors
from pakat.errors import InputError
from web.auth import caller_api_key_sha256, organisation_of_caller
from web.inputs import digits_text, json_body, moment, optional_text, required_text
from web.state import app_services
from web.uploads import report_file_name, upload_request, uploaded_path

bp = Blueprint("tenders", __name__, url_prefix="/api/v1/tenders")

ENVELOPE = "/<tender_id>/envelopes/<envelope_id>"


def tenders() -> Tenders:
    """The use cases over this application's state; the seal service is only built by a submission."""
    return app_services().tenders()


def caller() -> Caller:
    """The API key's organisation and platform; before any body is read."""
    organisation = organisation_of_caller()
    return Caller(organisation, caller_api_key_sha256())


@bp.post("")
def create_tender() -> tuple[Response, int]:
    """JSON ``{"reference", "title_fa", "title_en", "deadline"}``; 201 with the tender."""
    who = caller()
    body = json_body()
    new = NewTender(
        reference=required_text(body.get("reference"), "reference", 128),
        title_fa=required_text(body.get("title_fa"), "title_fa", 500),
        title_en=required_text(body.get("title_en"), "title_en", 500),
        deadline=_deadline(body.get("deadline")),
    )
    return jsonify(tenders().create_tender(who, new).as_dict()), 201


@bp.get("")
def list_tenders() -> Response:
    return jsonify({"tenders": [t.as_dict() for t in tenders().tenders(caller())]})


@bp.get("/<tender_id>")
def get_tender(tender_id: str) -> Response:
    return jsonify(tenders().tender(caller(), tender_id).as_dict())


@bp.post("/<tender_id>/open")
def open_envelopes(tender_id: str) -> Response:
    """JSON ``{"kind": "A"}``: open the tender's submitted envelopes of that kind (A, then B, then C)."""
    who = caller()
    kind = required_text(json_body().get("kind"), "kind", 1)
    return jsonify(tenders().open(who, tender_id, kind.upper()).as_dict())


@bp.post("/<tender_id>/envelopes")
def create_envelope(tender_id: str) -> tuple[Response, int]:
    """JSON ``{"kind", "bidder": {...}, "requirements": {...}}``; 201 with the envelope."""
    who = caller()
    body = json_body()
    bidder = _object(body.get("bidder"), "bidder")
    new = NewEnvelope(
        kind=required_text(body.get("kind"), "kind", 1).upper(),
        bidder=Bidder(
            national_id=digits_text(bidder.get("national_id"), "bidder.national_id"),
            name_fa=required_text(bidder.get("name_fa"), "bidder.name_fa", 255),
            name_en=required_text(bidder.get("name_en"), "bidder.name_en", 255),
        ),
        requirements=_requirements(_object(body.get("requirements"), "requirements")),
    )
    return _envelope_json(tenders().create_envelope(who, tender_id, new)), 201


@bp.get("/<tender_id>/envelopes")
def list_envelopes(tender_id: str) -> Response:
    return jsonify({"envelopes": [e.as_dict() for e in tenders().envelopes(caller(), tender_id)]})


@bp.get(ENVELOPE)
def get_envelope(tender_id: str, envelope_id: str) -> Response:
    return _envelope_json(tenders().envelope(caller(), tender_id, envelope_id))


@bp.post(f"{ENVELOPE}/documents")
def add_document(tender_id: str, envelope_id: str) -> tuple[Response, int]:
    """A multipart ``pdf`` (and ``name``), or JSON ``{"document_id"}`` of a stored document; 201."""
    who = caller()
    source = _document_source()
    return _envelope_json(tenders().add_document(who, tender_id, envelope_id, source)), 201


@bp.put(f"{ENVELOPE}/documents/<doc_id>")
def replace_document(tender_id: str, envelope_id: str, doc_id: str) -> Response:
    """Replace a current document, as ``add_document`` takes one; a submitted envelope becomes unsubmitted."""
    who = caller()
    source = _document_source()
    return _envelope_json(tenders().replace_document(who, tender_id, envelope_id, doc_id, source))


@bp.post(f"{ENVELOPE}/submit")
def submit(tender_id: str, envelope_id: str) -> Response:
    return _envelope_json(tenders().submit(caller(), tender_id, envelope_id))


@bp.post(f"{ENVELOPE}/withdraw")
def withdraw(tender_id: str, envelope_id: str) -> Response:
    return _envelope_json(tenders().withdraw(caller(), tender_id, envelope_id))


@bp.get(f"{ENVELOPE}/receipt.pdf")
def receipt(tender_id: str, envelope_id: str) -> Response:
    """The sealed receipt of the submission in force."""
    found, path = tenders().receipt(caller(), tender_id, envelope_id)
    response = send_file(path, mimetype="application/pdf", as_attachment=True,
                         download_name=f"receipt-{envelope_id[:32]}.pdf", conditional=False, etag=False, max_age=0)
    response.headers["X-Pakat-SHA256"] = found.sha256
    response.headers["Cache-Control"] = "no-store"
    return response


# -- parsing ----------------------------------------------------------------------------------------


def _envelope_json(view: EnvelopeView) -> Response:
    return jsonify(view.as_dict())


def _document_source() -> DocumentSource:
    if request.mimetype == "multipart/form-data":
        req = upload_request()
        upload = req.files.get("pdf")
        if upload is None:
            raise InputError(errors.PDF_MISSING)
        name = report_file_name(req.form.get("name") or upload.filename)
        return DocumentSource(upload=uploaded_path(upload.stream), name=name)
    body = json_body()
    doc_id = body.get("document_id")
    if doc_id is None:
        raise InputError(errors.PDF_MISSING, "send a multipart pdf, or JSON with document_id")
    return DocumentSource(document_id=required_text(doc_id, "document_id", 64))


def _requirements(raw: dict[str, Any]) -> Requirements:
    signatories = raw.get("signatories", [])
    if not isinstance(signatories, list):
        raise InputError(errors.REQUEST_INVALID, "requirements.signatories must be a list")
    parsed = []
    for n, item in enumerate(signatories):
        entry = _object(item, f"requirements.signatories[{n}]")
        parsed.append(Signatory(
            national_id=digits_text(entry.get("national_id"), f"requirements.signatories[{n}].national_id"),
            role=optional_text(entry.get("role"), f"requirements.signatories[{n}].role", 255),
        ))
    seal_required = raw.get("seal_required", True)
    if not isinstance(seal_required, bool):
        raise InputError(errors.REQUEST_INVALID, "requirements.seal_required must be true or false")
    return Requirements(
        signatories=tuple(parsed),
        min_assurance=optional_text(raw.get("min_assurance"), "requirements.min_assurance", 64),
        seal_required=seal_required,
    )


def _deadline(raw: Any) -> datetime:
    return moment(required_text(raw, "deadline", 64), "deadline", offset_required=True)


def _object(raw: Any, what: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(errors.REQUEST_INVALID, f"{what} must be an object")
    return raw


