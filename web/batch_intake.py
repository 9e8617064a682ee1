"""A batch received over HTTP and its results sent back: one way for the API and the console alike.

``/api/v1/batches`` (platforms, API keys) and ``/console/batches`` (people) both
read the same multipart form — ``archive`` (a zip of PDFs) or ``files`` (several
PDFs), ``level``, ``visible``, ``reason`` — within the same limits
(:meth:`envelopes.services.Services.batch_limits`), hand it to the same use case
(:meth:`envelopes.batches.Batches.create`) and wake the workers the same way.
Only who the batch is for (the organisation) and who asked (the audit actor)
differ, and the caller says those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Response, send_file
from werkzeug.datastructures import MultiDict

from envelopes.archives import BatchInput, BatchLimits, read_files, read_zip
from envelopes.batches import BatchOptions, NewBatch
from pakat import errors
from pakat.errors import InputError, PakatError
from signer.levels import PadesLevel
from web.api import DEFAULT_LEVEL
from web.state import app_services
from web.uploads import upload_request, uploaded_path

log = logging.getLogger(__name__)

# Room for the multipart packaging around the files.
UPLOAD_MARGIN_BYTES = 1024 * 1024
MAX_REASON_CHARS = 255


def allow_batch_upload() -> BatchLimits:
    """Raise this request's body limit to a whole batch's (a batch may be larger than one PDF); its limits.

    Must run before anything reads the body (the form): the limit applies while it is parsed.
    """
    limits = app_services().batch_limits()
    upload_request().max_content_length = limits.max_total_bytes + UPLOAD_MARGIN_BYTES
    return limits


def batch_options(form: MultiDict[str, str]) -> BatchOptions:
    """The sealing options of a batch form: ``level`` (default the API's), ``visible``, ``reason``."""
    return BatchOptions(
        level=PadesLevel.parse(form.get("level") or DEFAULT_LEVEL),
        reason=(form.get("reason") or "").strip()[:MAX_REASON_CHARS] or None,
        visible=parse_flag(form.get("visible")),
    )


def accept_batch(organisation_of: Callable[[MultiDict[str, str]], str], *, actor: str,
                 api_key_sha256: str | None = None, idempotency_key: str | None = None) -> NewBatch:
    """Read the request's batch, create it for ``organisation_of(form)`` as ``actor`` and wake a worker.

    The refusals are the use case's and the archive reader's (BATCH_EMPTY,
    ARCHIVE_*, NOT_A_PDF, PDF_TOO_LARGE, LEVEL_UNKNOWN, QUEUE_UNAVAILABLE,
    STORAGE_QUOTA_EXCEEDED, IDEMPOTENCY_KEY_REUSED …), raised as they come.
    """
    state = app_services()
    limits = allow_batch_upload()
    req = upload_request()
    form = req.form
    organisation = organisation_of(form)
    options = batch_options(form)
    state.queue.ping()  # a batch nobody would hear of is refused now, not left waiting for the sweeper
    # A browser sends a file input nobody chose as a part with an empty file name: not a file.
    archive = req.files.get("archive")
    archive = archive if archive is not None and archive.filename else None
    files = [f for f in req.files.getlist("files") if f.filename]
    if archive is not None and files:
        raise InputError(errors.REQUEST_INVALID, "send either an archive or files, not both")
    inputs: list[BatchInput]
    if archive is not None:
        inputs = read_zip(uploaded_path(archive.stream), state.store, limits)
    elif files:
        inputs = read_files([(f.filename or "", uploaded_path(f.stream)) for f in files], state.store, limits)
    else:
        raise InputError(errors.BATCH_EMPTY)
    created = state.batches().create(organisation, inputs, options, api_key_sha256=api_key_sha256,
                                     idempotency_key=idempotency_key, actor=actor)
    if not created.replayed:
        try:
            state.queue.start_batch(created.progress.id, created.progress.total)
        except PakatError as exc:
            # The batch is recorded; a worker's sweep starts it once the queue is back.
            log.warning("batch %s recorded but not queued: %s", created.progress.id, exc.code)
    return created


def results_response(organisation: str, batch_id: str) -> Response:
    """The finished batch's sealed files and ``manifest.json`` as a zip download (BATCH_NOT_FINISHED before).

    The zip is written to a temp file of the request (removed when it ends) and
    sent from there, never held in memory.
    """
    path = upload_request().new_temp_path("results-", ".zip")
    with path.open("xb") as out:
        app_services().batches().write_results(organisation, batch_id, out)
    response = send_file(path, mimetype="application/zip", as_attachment=True,
                         download_name=f"batch-{batch_id}.zip", conditional=False, etag=False, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


def parse_flag(raw: str | None) -> bool:
    """A form's yes/no field: ``1 true yes`` or ``0 false no`` (empty: no); anything else REQUEST_INVALID."""
    value = (raw or "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InputError(errors.REQUEST_INVALID, "visible must be true or false")
