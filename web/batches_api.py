"""Bulk sealing for platforms: ``/api/v1/batches``.

Views parse and render; :mod:`envelopes.batches` does the work, RQ workers
seal. A batch of another organisation answers BATCH_NOT_FOUND, as if absent.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from envelopes import audit
from envelopes.batches import DEFAULT_PAGE, FAILED, MAX_PAGE, QUEUED, SEALED, SEALING, BatchProgress
from pakat import errors
from pakat.errors import InputError
from web.auth import caller_api_key_sha256, check_organisation, organisation_of_caller
from web.batch_intake import accept_batch, allow_batch_upload, results_response
from web.inputs import whole_arg
from web.state import app_services

bp = Blueprint("batches", __name__, url_prefix="/api/v1/batches")

MAX_IDEMPOTENCY_KEY = 255
ITEM_STATES = (QUEUED, SEALING, SEALED, FAILED)


@bp.post("")
def create_batch() -> tuple[Response, int]:
    """Queue a batch: multipart ``archive`` (a zip of PDFs) or ``files`` (several PDFs), ``level``,
    ``organisation``, ``visible``, ``reason``; header ``Idempotency-Key``. 202, or 200 for a replay."""
    own = organisation_of_caller()
    allow_batch_upload()  # before the body is read
    key = _idempotency_key()
    key_sha256 = caller_api_key_sha256()
    created = accept_batch(lambda form: check_organisation(form.get("organisation"), own),
                           actor=audit.api_key_actor(key_sha256), api_key_sha256=key_sha256, idempotency_key=key)
    progress = created.progress
    response = _progress_json(progress)
    response.headers["Location"] = url_for("batches.get_batch", batch_id=progress.id)
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
        return response, 200
    return response, 202


@bp.get("")
def list_batches() -> Response:
    """The organisation's batches, newest first, with their progress; ``?limit=&before=<batch id>`` pages on."""
    organisation = organisation_of_caller()
    limit = whole_arg("limit", default=DEFAULT_PAGE, most=MAX_PAGE, least=1)
    before = request.args.get("before", "").strip() or None
    page = app_services().batches().page(organisation, limit=limit, before=before)
    return jsonify({"batches": [_progress_body(b) for b in page.batches], "next_before": page.next_before})


@bp.get("/<batch_id>")
def get_batch(batch_id: str) -> Response:
    """Progress: total, sealed, failed, rate and estimated time left."""
    return _progress_json(app_services().batches().progress(organisation_of_caller(), batch_id))


@bp.delete("/<batch_id>")
def delete_batch(batch_id: str) -> Response:
    """Delete a finished batch, its items and the files nothing else names (BATCH_RUNNING before)."""
    organisation = organisation_of_caller()
    actor = audit.api_key_actor(caller_api_key_sha256())
    return jsonify(app_services().retention().delete_batch(organisation, batch_id, actor=actor).as_dict())


@bp.get("/<batch_id>/manifest")
def get_manifest(batch_id: str) -> Response:
    """Every item so far: name, input and output SHA-256, status and error; ``?status=failed``: only those."""
    batches = app_services().batches()
    organisation = organisation_of_caller()
    status = request.args.get("status", "").strip() or None
    if status is not None and status not in ITEM_STATES:
        raise InputError(errors.REQUEST_INVALID, f"status must be one of {', '.join(ITEM_STATES)}")
    progress = batches.progress(organisation, batch_id)
    items = [e.as_dict() for e in batches.manifest(organisation, batch_id, status=status)]
    return jsonify({"batch": progress.as_dict(), "items": items})


@bp.get("/<batch_id>/results.zip")
def get_results(batch_id: str) -> Response:
    """The sealed files and ``manifest.json``, once the batch has finished (else BATCH_NOT_FINISHED)."""
    return results_response(organisation_of_caller(), batch_id)


def _progress_body(progress: BatchProgress) -> dict[str, Any]:
    body = progress.as_dict()
    body["links"] = {
        "self": url_for("batches.get_batch", batch_id=progress.id),
        "manifest": url_for("batches.get_manifest", batch_id=progress.id),
        "results": url_for("batches.get_results", batch_id=progress.id),
    }
    return body


def _progress_json(progress: BatchProgress) -> Response:
    return jsonify(_progress_body(progress))


def _idempotency_key() -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable() or not key.isascii():
        raise InputError(errors.REQUEST_INVALID, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} "
                                                 "printable ASCII characters")
    return key

