"""Bulk sealing for platforms: ``/api/v1/batches``.

Views parse and render; :mod:`envelopes.batches` does the work, RQ workers
seal. A batch of another organisation answers BATCH_NOT_FOUND, as if absent.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file, url_for

from envelopes import audit
from envelopes.archives import BatchInput, read_files, read_zip
from envelopes.batches import DEFAULT_PAGE, FAILED, MAX_PAGE, QUEUED, SEALED, SEALING, BatchOptions, BatchProgress
from pakat import errors
from pakat.errors import InputError, PakatError
from signer.levels import PadesLevel
from web.api import DEFAULT_LEVEL
from web.auth import caller_api_key_sha256, check_organisation, organisation_of_caller
from web.inputs import whole_arg
from web.state import app_services
from web.uploads import upload_request, uploaded_path

log = logging.getLogger(__name__)

bp = Blueprint("batches", __name__, url_prefix="/api/v1/batches")

MAX_IDEMPOTENCY_KEY = 255
ITEM_STATES = (QUEUED, SEALING, SEALED, FAILED)
# Room for the multipart packaging around the files.
UPLOAD_MARGIN_BYTES = 1024 * 1024


@bp.post("")
def create_batch() -> tuple[Response, int]:
    """Queue a batch: multipart ``archive`` (a zip of PDFs) or ``files`` (several PDFs), ``level``,
    ``organisation``, ``visible``, ``reason``; header ``Idempotency-Key``. 202, or 200 for a replay."""
    own = organisation_of_caller()
    state = app_services()
    limits = state.batch_limits()
    # A batch may be larger than one PDF; the limit is raised for this request only, before the body is read.
    upload_request().max_content_length = limits.max_total_bytes + UPLOAD_MARGIN_BYTES
    key = _idempotency_key()
    req = upload_request()
    form = req.form
    organisation = check_organisation(form.get("organisation"), own)
    options = BatchOptions(
        level=PadesLevel.parse(form.get("level") or DEFAULT_LEVEL),
        reason=(form.get("reason") or "").strip()[:255] or None,
        visible=_flag(form.get("visible")),
    )
    state.queue.ping()  # a batch nobody would hear of is refused now, not left waiting for the sweeper
    archive = req.files.get("archive")
    files = req.files.getlist("files")
    if archive is not None and files:
        raise InputError(errors.REQUEST_INVALID, "send either an archive or files, not both")
    inputs: list[BatchInput]
    if archive is not None:
        inputs = read_zip(uploaded_path(archive.stream), state.store, limits)
    elif files:
        inputs = read_files([(f.filename or "", uploaded_path(f.stream)) for f in files], state.store, limits)
    else:
        raise InputError(errors.BATCH_EMPTY)
    key_sha256 = caller_api_key_sha256()
    created = state.batches().create(
        organisation, inputs, options, api_key_sha256=key_sha256, idempotency_key=key,
        actor=audit.api_key_actor(key_sha256),
    )
    progress = created.progress
    if not created.replayed:
        try:
            state.queue.start_batch(progress.id, progress.total)
        except PakatError as exc:
            # The batch is recorded; a worker's sweep starts it once the queue is back.
            log.warning("batch %s recorded but not queued: %s", progress.id, exc.code)
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
    organisation = organisation_of_caller()
    path = upload_request().new_temp_path("results-", ".zip")
    with path.open("xb") as out:
        app_services().batches().write_results(organisation, batch_id, out)
    response = send_file(path, mimetype="application/zip", as_attachment=True,
                         download_name=f"batch-{batch_id}.zip", conditional=False, etag=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


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


def _flag(raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InputError(errors.REQUEST_INVALID, "visible must be true or false")
