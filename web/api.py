"""JSON API v1 for platforms: ``/api/v1/...``.

Views parse the request and render the answer; sealing itself is
:class:`envelopes.sealing.SealService`, validation :mod:`web.validation_service`.
"""

from __future__ import annotations

import functools
import io
import json
import logging
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify, request, send_file

from envelopes import audit
from envelopes.api_keys import ADMIN
from envelopes.webhooks import MAX_DELIVERIES_PAGE, deliveries
from pakat import errors
from pakat.errors import InputError, PakatError
from signer.levels import PadesLevel
from signer.placement import VisibleSignature
from validation.reports.formats import ReportFormat, download_name, parse_format, render
from validation.reports.labels import Lang
from web.auth import (
    caller_api_key_sha256,
    check_organisation,
    current_caller,
    optional_caller,
    organisation_of_caller,
)
from web.errors import BAD_REQUEST
from web.inputs import moment, parse_json, whole_arg
from web.state import app_services
from web.uploads import report_file_name, upload_name, upload_request, uploaded_path
from web.validation_service import validate_file

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LEVEL = "B-B"


@bp.post("/seal")
def seal() -> Response:
    """Seal one PDF with the caller's organisation seal and send the sealed PDF back.

    Multipart form: ``pdf`` (file), ``level`` (B-B, B-T, B-LT, B-LTA; default B-B),
    optional ``organisation`` (must be the API key's), ``reason``, ``location``, ``contact``,
    ``visible`` (``true`` for the default place, or JSON ``{"page": -1, "rect_mm": [x, y, w, h]}``).
    """
    own_org = organisation_of_caller()  # before the body is read: no spooling for strangers
    req = upload_request()
    form = req.form
    upload = req.files.get("pdf")
    org_id = check_organisation(form.get("organisation"), own_org)
    level = PadesLevel.parse(form.get("level") or DEFAULT_LEVEL)
    appearance = parse_visible(form.get("visible"))
    if upload is None:
        raise InputError(errors.PDF_MISSING)

    # The upload is this request's own temp file: the seal is appended to it rather than to a copy
    # (a 50 MB envelope is read once, not copied), and it is streamed back and deleted with the request.
    destination = uploaded_path(upload.stream)
    result = app_services().seals.get().seal(
        org_id,
        destination,
        destination,
        level,
        reason=_optional(form.get("reason")),
        location=_optional(form.get("location")),
        contact=_optional(form.get("contact")),
        durable=False,
        appearance=appearance,
        in_place=True,
    )
    sealed = result.document
    log.info(
        "sealed for %s at %s: %d bytes, sha256 %s",
        result.organisation, sealed.level.value, sealed.output_size, sealed.output_sha256,
    )
    # Before the answer: a seal the audit log does not hold is never handed out.
    actor = audit.api_key_actor(caller_api_key_sha256())
    app_services().audit_log().record_stateless_seal(result, actor=actor)
    response = send_file(
        destination,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=sealed_download_name(upload.filename),
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["X-Pakat-Level"] = sealed.level.value
    response.headers["X-Pakat-SHA256"] = sealed.output_sha256
    # A sealed bid envelope is confidential: no shared cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


def sealed_download_name(original: str | None) -> str:
    """``bid.pdf`` → ``bid-sealed.pdf``; keeps Persian names, drops any path and control characters."""
    name = upload_name(original)
    if name.lower().endswith(".pdf"):
        name = name[:-4]
    return f"{name[:150] or 'document'}-sealed.pdf"


# The report formats the API offers; validation.reports.formats renders them.
API_FORMATS: tuple[ReportFormat, ...] = ("json", "xml", "pdf")


@bp.post("/validate")
def validate() -> Response:
    """Validate one signed PDF and answer with the report; open to anyone, no API key.

    Multipart form: ``file``. Query: ``format`` (json, xml or pdf; otherwise the
    ``Accept`` header decides: ``application/xml`` gives the ETSI TS 119 102-2 XML,
    ``application/pdf`` the PDF report, anything else JSON), ``lang`` (fa or en, for
    the PDF), ``at`` (ISO 8601 validation time; naive means UTC) and ``policy`` (a
    validation policy's name: ``general``, ``bid-envelope`` or one the deployment
    names; default: the deployment's). The status is
    200 whenever a verdict was reached, whatever it is; unusable input gets the
    error JSON with its code.
    """
    # Everything but the body first: a malformed request costs no upload spooling.
    kind = _report_kind()
    lang = _report_lang()
    at = moment(request.args["at"], "at", kind=BAD_REQUEST) if request.args.get("at", "").strip() else None
    upload = upload_request().files.get("file")
    if upload is None:
        raise InputError(errors.PDF_MISSING)

    policy = request.args.get("policy", "").strip() or None
    path = uploaded_path(upload.stream)
    report = validate_file(path, report_file_name(upload.filename), at=at, policy=policy)
    log.info("validated %s: %s, %d signature(s)", report.file_sha256, report.indication.value,
             len(report.signatures))
    app_services().audit_log().record_validation(report, actor=_validation_actor(), channel="api")
    rendered = render(report, kind, lang, pdf=path)
    if kind == "pdf":
        # send_file writes the RFC 6266 filename* form that Persian names need.
        response = send_file(io.BytesIO(rendered.body), mimetype=rendered.media_type, as_attachment=True,
                             download_name=download_name(report, kind, lang), conditional=False, etag=False,
                             max_age=0)
    else:
        response = Response(rendered.body, mimetype=rendered.media_type)
    response.headers["X-Pakat-Indication"] = report.indication.value
    # A report says who signed a confidential bid: no shared cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


def _validation_actor() -> str:
    """Validation needs no API key; a platform that sends a valid one is named in the audit log."""
    caller = optional_caller()  # a key without the validate scope validates anonymously
    return audit.api_key_actor(caller.reference) if caller is not None else audit.ANONYMOUS


def _report_lang() -> Lang:
    lang = request.args.get("lang", "").strip().lower()
    if lang not in ("", "fa", "en"):
        raise PakatError(BAD_REQUEST, "lang must be fa or en")
    return "en" if lang == "en" else "fa"


def _report_kind() -> ReportFormat:
    """json, xml or pdf: ``?format=`` when given, else the best of the ``Accept`` header, else json."""
    asked = request.args.get("format", "").strip().lower()
    if asked:
        if asked not in API_FORMATS:
            raise PakatError(BAD_REQUEST, "format must be json, xml or pdf")
        return parse_format(asked)
    offered = ["application/json", "application/xml", "text/xml", "application/pdf"]
    best = request.accept_mimetypes.best_match(offered, default="application/json")
    chosen: dict[str, ReportFormat] = {"application/xml": "xml", "text/xml": "xml", "application/pdf": "pdf"}
    return chosen.get(best or "", "json")


def _optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


_YES, _NO = ("true", "1", "yes", "on"), ("", "false", "0", "no", "off")


def parse_visible(raw: Any) -> VisibleSignature | None:
    """The optional ``visible`` request field: absent or false (invisible), true (the default place) or
    ``{"page": -1, "rect_mm": [x, y, w, h]}``; a form field carries the same as text (the object as JSON).
    """
    if isinstance(raw, str):
        text = raw.strip()
        if text.lower() in _NO:
            return None
        if text.lower() in _YES:
            return VisibleSignature()
        raw = parse_json(text, "visible")
    if raw is None or raw is False:
        return None
    if raw is True:
        return VisibleSignature()
    if isinstance(raw, dict):
        return VisibleSignature.from_dict(raw)
    raise InputError(errors.REQUEST_INVALID, 'visible must be true, false or {"page": …, "rect_mm": […]}')



@bp.get("/webhooks/deliveries")
def webhook_deliveries() -> Response:
    """The attempts to deliver this API key's webhook events, oldest first; ``?after=<id>&limit=<n>`` pages on."""
    organisation_of_caller()
    after = whole_arg("after", default=0, most=2**62)
    limit = whole_arg("limit", default=100, most=MAX_DELIVERIES_PAGE, least=1)
    found = deliveries(app_services().database, caller_api_key_sha256(), after=after, limit=limit)
    return jsonify({"deliveries": [d.as_dict() for d in found], "next_after": found[-1].id if found else after})


@bp.post("/webhooks/deliveries/<int:delivery_id>/retry")
def retry_webhook_delivery(delivery_id: int) -> tuple[Response, int]:
    """Send a failed event once more (same id and body): this key's own, or with ``admin`` the organisation's."""
    caller = current_caller()
    own = None if ADMIN in caller.scopes else {caller.reference}
    queued = app_services().webhooks().retry(caller.organisation, delivery_id, references=own,
                                              actor=audit.api_key_actor(caller.reference))
    return jsonify(queued.as_dict()), 202 if queued.queued else 200


OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


@functools.cache
def openapi_json() -> bytes:
    """web/openapi.yaml as JSON, parsed once per process."""
    spec = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    return json.dumps(spec, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API, the agent protocol and the webhooks; no API key needed."""
    return Response(openapi_json(), mimetype="application/json")
