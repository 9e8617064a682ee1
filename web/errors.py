"""The one place where errors become HTTP responses.

Every error leaves as ``{"error": {code, message_fa, message_en, detail?}}``
with the kind's HTTP status, or, for a browser on a page, as a bilingual page
on the layout with the same code and status (:func:`wants_page`: the JSON API
under /api/ and /agent/ always answers JSON; pages always answer pages; any
other path answers a page only to a client that prefers text/html). Unexpected
exceptions are logged with their traceback and answered with INTERNAL, never
with their text: it could carry paths, library internals or worse.
"""

from __future__ import annotations

import dataclasses
import logging

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from pakat import errors
from pakat.errors import ErrorKind, PakatError
from web.look import render_page
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


# Programs' paths: their errors are JSON whatever the client accepts.
JSON_PREFIXES = ("/api/", "/agent/", "/healthz", "/readyz", "/metrics")
# People's pages: their errors are pages whatever the client accepts.
PAGE_PATHS = ("/api/docs",)
PAGE_PREFIXES = ("/validate", "/console")


def wants_page() -> bool:
    """Whether this request's error is answered as an HTML page rather than JSON."""
    path = request.path
    if path in PAGE_PATHS or path == "/" or path.startswith(PAGE_PREFIXES):
        return True
    if path.startswith(JSON_PREFIXES):
        return False
    if path.startswith("/sign/"):  # the page itself is /sign/<id>; below it, the data its script fetches
        return path.rstrip("/").count("/") == 2
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", "text/html"]) == "text/html"


def error_response(error: PakatError) -> Response:
    """The JSON body and status for a Pakat error."""
    response = jsonify({"error": error.as_dict()})
    response.status_code = error.kind.http_status
    return response


def error_page(error: PakatError) -> Response:
    """The bilingual error page on the layout, with the error's stable code and HTTP status."""
    return render_page("error.html", status=error.kind.http_status, error=error)


def _answer(error: PakatError) -> Response:
    if wants_page():
        try:
            return error_page(error)
        except Exception:  # a page that cannot render must not hide the error: the JSON answer still says it
            log.exception("the error page could not be rendered")
    return error_response(error)


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
    response = _answer(error)
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
    response = _answer(PakatError(kind, detail))
    # Keep werkzeug's headers (Allow on 405): clients use them to see what is permitted.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _internal_error(error: Exception) -> Response:
    log.exception("internal error while handling the request")
    return _answer(PakatError(errors.INTERNAL))


def register(app: Flask) -> None:
    """Install the handlers on an application."""
    app.register_error_handler(PakatError, _pakat_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)
