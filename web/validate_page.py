"""The /validate page: upload a signed PDF, read the verdict, download the report as PDF or JSON.

Persian by default (``dir="rtl"``, Jalali dates), English with ``?lang=en``
(:func:`web.look.current_lang`); the page is on the layout (web.look).
The report on the page is the same fragment as the downloadable HTML report
(:func:`validation.reports.html.render_fragment`).

The uploaded file dies with the request (``web.uploads``), so the download
links carry the report itself as ``data:`` URLs rendered from this very
validation: nothing about a confidential bid envelope is kept on the server,
and no client-supplied report is ever re-rendered under Pakat's name.

Errors on this page are pages too: a clear bilingual message with the stable
code and the HTTP status of :mod:`pakat.errors`, never a stack trace and never
the API's JSON.
"""

from __future__ import annotations

import base64
import logging

from flask import Blueprint, Response, request, send_from_directory, url_for
from werkzeug.exceptions import HTTPException, NotFound

from envelopes import audit
from pakat import errors
from pakat.errors import ErrorKind, InputError, PakatError
from validation.model import DocumentReport
from validation.reports import labels
from validation.reports.formats import RenderedReport, download_name, render
from validation.reports.html import render_fragment, report_css
from validation.reports.labels import Lang
from validation.reports.pdf import FONT_DIR, FONT_FILES
from web import errors as web_errors
from web.look import current_lang, render_page
from web.state import app_services
from web.uploads import report_file_name, upload_request, uploaded_path
from web.validation_service import policy_choices, validate_file

log = logging.getLogger(__name__)

bp = Blueprint("validate_pages", __name__, template_folder="templates")

_FONTS = frozenset(FONT_FILES.values())
_BY_STATUS: dict[int, ErrorKind] = {
    400: web_errors.BAD_REQUEST, 404: web_errors.NOT_FOUND, 405: web_errors.METHOD_NOT_ALLOWED,
}


@bp.get("/validate")
def form() -> Response:
    """The upload form."""
    return _page(_lang())


@bp.post("/validate")
def validate() -> Response:
    """Validate the uploaded ``file`` and show the report, with PDF and JSON downloads."""
    lang = _lang()
    upload = upload_request().files.get("file")
    if upload is None or not upload.filename:
        raise InputError(errors.PDF_MISSING)
    file_name = report_file_name(upload.filename) or "document.pdf"
    policy = request.form.get("policy", "").strip() or None
    report = validate_file(uploaded_path(upload.stream), file_name, policy=policy)
    log.info("validated %s: %s (%d signatures)", report.file_sha256, report.indication.value,
             len(report.signatures))
    app_services().audit_log().record_validation(report, actor=audit.ANONYMOUS, channel="page")
    return _page(lang, report=report, chosen_policy=policy)


@bp.get("/validate/fonts/<name>")
def font(name: str) -> Response:
    """The vendored Vazirmatn, so the page looks the same on machines without a Persian font."""
    if name not in _FONTS:
        raise NotFound()
    return send_from_directory(FONT_DIR, name, mimetype="font/ttf", max_age=7 * 24 * 3600)


@bp.get("/validate/report.css")
def report_style() -> Response:
    """The report's own styles, as a file: the pages' CSP allows no inline style."""
    response = Response(report_css(), mimetype="text/css")
    response.cache_control.max_age = 3600
    return response


@bp.errorhandler(PakatError)
def _refused(error: PakatError) -> Response:
    log.info("validation refused: %s%s", error.code, f" ({error.detail})" if error.detail else "")
    return _page(_lang(), error=error, status=error.kind.http_status)


@bp.errorhandler(HTTPException)
def _http_refused(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 413:  # the upload is over MAX_CONTENT_LENGTH; werkzeug stopped reading it
        return _refused(PakatError(errors.PDF_TOO_LARGE))
    if status >= 500:
        return _broken(error)
    return _refused(PakatError(_BY_STATUS.get(status, web_errors.HTTP_REFUSED), f"HTTP {status}"))


@bp.errorhandler(Exception)
def _broken(error: Exception) -> Response:
    # The traceback goes to the log; the person sees the INTERNAL code only.
    log.exception("internal error on the validation page")
    return _page(_lang(), error=PakatError(errors.INTERNAL), status=500)


def _lang() -> Lang:
    return current_lang()


def _lang_url(endpoint: str, lang: Lang) -> str:
    # Explicit either way: the pakat_lang cookie may name the other language.
    return url_for(endpoint, lang=lang)


def _data_url(rendered: RenderedReport) -> str:
    return f"data:{rendered.media_type};base64,{base64.b64encode(rendered.body).decode('ascii')}"


def _page(lang: Lang, *, report: DocumentReport | None = None, error: PakatError | None = None,
          status: int = 200, chosen_policy: str | None = None) -> Response:
    downloads = None
    if report is not None:
        downloads = {
            "pdf": _data_url(render(report, "pdf", lang)),
            "pdf_name": download_name(report, "pdf", lang),
            "json": _data_url(render(report, "json", lang)),
            "json_name": download_name(report, "json", lang),
        }
    other = labels.other(lang)
    # web.look.render_page: the pages' CSP and no-store (a report says who signed a confidential bid).
    return render_page(
        "validate.html",
        status=status,
        words={key: labels.pick(text, lang) for key, text in labels.PAGE.items()},
        other_words={key: labels.pick(text, other) for key, text in labels.PAGE.items()},
        action=_lang_url("validate_pages.validate", lang),
        error=error,
        report_html=render_fragment(report, lang) if report is not None else None,
        downloads=downloads,
        policies=policy_choices(),
        chosen_policy=chosen_policy or "",
    )
