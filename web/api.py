"""JSON API v1 for platforms: ``/api/v1/...``.

Views parse the request and render the answer; sealing itself is
:class:`envelopes.sealing.SealService`.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, Response, send_file

from pakat import errors
from pakat.errors import InputError
from signer.levels import PadesLevel
from web.auth import check_organisation, organisation_of_caller
from web.state import pakat_state
from web.uploads import upload_request, uploaded_path

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

DEFAULT_LEVEL = "B-B"
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\"\\/]")


@bp.post("/seal")
def seal() -> Response:
    """Seal one PDF with the caller's organisation seal and send the sealed PDF back.

    Multipart form: ``pdf`` (file), ``level`` (B-B, B-T, B-LT, B-LTA; default B-B),
    optional ``organisation`` (must be the API key's), ``reason``, ``location``, ``contact``.
    """
    own_org = organisation_of_caller()  # before the body is read: no spooling for strangers
    req = upload_request()
    form = req.form
    upload = req.files.get("pdf")
    org_id = check_organisation(form.get("organisation"), own_org)
    level = PadesLevel.parse(form.get("level") or DEFAULT_LEVEL)
    if upload is None:
        raise InputError(errors.PDF_MISSING)

    destination = req.new_temp_path("sealed-", ".pdf")
    result = pakat_state().seals.get().seal(
        org_id,
        uploaded_path(upload.stream),
        destination,
        level,
        reason=_optional(form.get("reason")),
        location=_optional(form.get("location")),
        contact=_optional(form.get("contact")),
        durable=False,  # a temporary file, streamed back and deleted with the request
    )
    log.info(
        "sealed for %s at %s: %d bytes, sha256 %s",
        result.organisation, result.level.value, result.output_size, result.output_sha256,
    )
    response = send_file(
        destination,
        mimetype="application/pdf",
        as_attachment=True,
        download_name=sealed_download_name(upload.filename),
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["X-Pakat-Level"] = result.level.value
    response.headers["X-Pakat-SHA256"] = result.output_sha256
    # A sealed bid envelope is confidential: no shared cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


def sealed_download_name(original: str | None) -> str:
    """``bid.pdf`` → ``bid-sealed.pdf``; keeps Persian names, drops any path and control characters."""
    name = (original or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("", name).strip()
    if name.lower().endswith(".pdf"):
        name = name[:-4]
    return f"{name[:150] or 'document'}-sealed.pdf"


def _optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None

