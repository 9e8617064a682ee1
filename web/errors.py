"""The one place where errors become HTTP responses.

Every error leaves as ``{"error": {code, message_fa, message_en, detail?}}``
with the kind's HTTP status. Unexpected exceptions are logged with their
traceback and answered with INTERNAL, never with their text: it could carry
paths, library internals or worse.
"""

from __future__ import annotations

import dataclasses
import logging

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from pakat import errors
from pakat.errors import ErrorKind, PakatError
from web.throttle import note_refusal

log = logging.getLogger(__name__)

# HTTP-level refusals that are not Pakat's domain errors; kept here rather than
# in pakat.errors because only the web layer can produce them (no exit codes apply).
BAD_REQUEST = ErrorKind(
    "BAD_REQUEST", 400, 3,
    "درخواست نادرست است.",
    "The request is malformed.",
)
NOT_FOUND = ErrorKind(
    "NOT_FOUND", 404, 3,
    "چنین نشانی‌ای وجود ندارد.",
    "No such URL.",
)
METHOD_NOT_ALLOWED = ErrorKind(
    "METHOD_NOT_ALLOWED", 405, 3,
    "این روش (method) برای این نشانی پذیرفته نیست.",
    "This HTTP method is not allowed for this URL.",
)
HTTP_REFUSED = ErrorKind(
    "HTTP_REFUSED", 400, 3,
    "درخواست پذیرفته نشد.",
    "The request was refused.",
)
_BY_STATUS = {400: BAD_REQUEST, 404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}


def error_response(error: PakatError) -> Response:
    """The JSON body and status for a Pakat error."""
    response = jsonify({"error": error.as_dict()})
    response.status_code = error.kind.http_status
    return response


# Refusals worth retrying, and after how many seconds (Retry-After): the agent and platforms honour it.
RETRY_AFTER = {
    errors.DOCUMENT_BUSY.code: 2,
    errors.QUEUE_UNAVAILABLE.code: 5,
    errors.TSA_UNAVAILABLE.code: 10,
    errors.REVOCATION_UNAVAILABLE.code: 10,
    errors.HSM_UNREACHABLE.code: 10,
}


def _pakat_error(error: PakatError) -> Response:
    # Codes and details are safe to log by contract (pakat.errors never carries secrets).
    log.info("refused: %s%s", error.code, f" ({error.detail})" if error.detail else "")
    note_refusal(error)  # a wrong API key or agent secret counts towards the address's lockout
    response = error_response(error)
    if error.code in RETRY_AFTER:
        response.headers["Retry-After"] = str(RETRY_AFTER[error.code])
    return response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 413:
        limit = current_app.config.get("PAKAT_MAX_PDF_BYTES")
        return _pakat_error(PakatError(errors.PDF_TOO_LARGE, f"limit {limit} bytes" if limit else None))
    if status >= 500:
        return _internal_error(error)
    kind, detail = _BY_STATUS.get(status), None
    if kind is None:
        kind, detail = dataclasses.replace(HTTP_REFUSED, http_status=status), f"HTTP {status}"
    response = error_response(PakatError(kind, detail))
    # Keep werkzeug's headers (Allow on 405): clients use them to see what is permitted.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _internal_error(error: Exception) -> Response:
    log.exception("internal error while handling the request")
    return error_response(PakatError(errors.INTERNAL))


def register(app: Flask) -> None:
    """Install the handlers on an application."""
    app.register_error_handler(PakatError, _pakat_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)
