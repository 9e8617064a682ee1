"""The /validate page: upload a signed PDF, read the verdict, download the report as PDF or JSON.

Persian by default (``dir="rtl"``, Jalali dates), English with ``?lang=en``
(:func:`web.look.current_lang`); the page is on the layout (web.look).
The report on the page is the same fragment as the downloadable HTML report
(:func:`validation.reports.html.render_fragment`).

The uploaded file dies with the request (``web.uploads``), so the download
links carry the report itself as ``data:`` URLs rendered from this very
validation: nothing about a confidential bid envelope is kept on the server,
and no client-supplied report is ever re-rendered under Pakat's name.

Several files may be sent at once (at most :data:`MAX_FILES`, each within the
deployment's PDF size limit): each gets its own report, downloads and
refusal, so one bad file never hides the others' verdicts. A single refused
file is the page's error, as it always was. ``at`` validates at a past moment
typed as people type dates (:func:`web.inputs.typed_moment`, as the console's
forms): a Jalali date and time on the Persian page, the browser's Gregorian
picker on the English one, Tehran's wall clock unless a zone is written (the
API's callers are programs and give ISO times, this form's are people in Iran).

"View signed version" (as in Acrobat) keeps nothing here either: the report
gives each signature's signed-revision length and SHA-256, and
``static/validate.js`` cuts that prefix from the person's own file in their
browser, checks its SHA-256 against the report and offers it as a download.
Without script the page shows the length and hash only.

Errors on this page are pages too: a clear bilingual message with the stable
code and the HTTP status of :mod:`pakat.errors`, never a stack trace and never
the API's JSON.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, request, send_from_directory, url_for
from werkzeug.exceptions import HTTPException, NotFound

from envelopes import audit
from pakat import errors
from pakat.dates import datetime_hint
from pakat.errors import ErrorKind, InputError, PakatError
from validation.model import DocumentReport
from validation.reports import labels
from validation.reports.formats import RenderedReport, download_name, render
from validation.reports.html import render_fragment, report_css
from validation.reports.labels import Lang
from validation.reports.pdf import FONT_DIR, FONT_FILES
from validation.reports.view import placement_words
from web import errors as web_errors
from web.inputs import typed_moment
from web.look import current_lang, render_page
from web.state import app_services
from web.uploads import report_file_name, upload_request, uploaded_path
from web.validation_service import policy_choices, validate_file

log = logging.getLogger(__name__)

bp = Blueprint("validate_pages", __name__, template_folder="templates")

_FONTS = frozenset(FONT_FILES.values())
#: Files one request may validate: each costs a validation (seconds of CPU) and its size on disk.
MAX_FILES = 10
#: Room for the multipart framing and the form's other fields around the files.
_FORM_MARGIN_BYTES = 256 * 1024
_BY_STATUS: dict[int, ErrorKind] = {
    400: web_errors.BAD_REQUEST, 404: web_errors.NOT_FOUND, 405: web_errors.METHOD_NOT_ALLOWED,
}


@bp.get("/validate")
def form() -> Response:
    """The upload form."""
    return _page(_lang())


@dataclass
class FileResult:
    """One uploaded file's outcome: its report, or why it was refused."""

    number: int  # 1-based, in upload order
    file_name: str
    report: DocumentReport | None = None
    error: PakatError | None = None
    downloads: dict[str, str] = field(default_factory=dict)
    report_html: str | None = None

    @property
    def suffix(self) -> str:
        """Element ids of the first file keep their plain names (#download-pdf); later ones are numbered."""
        return "" if self.number == 1 else f"-{self.number}"


@bp.post("/validate")
def validate() -> Response:
    """Validate every uploaded ``file`` (at ``at``, under ``policy``) and show one report per file."""
    lang = _lang()
    uploads = upload_request()
    # Several files: the request may be as large as MAX_FILES PDFs, set before the body is read.
    uploads.max_content_length = MAX_FILES * _max_pdf_bytes() + _FORM_MARGIN_BYTES
    files = [f for f in uploads.files.getlist("file") if f.filename]
    if not files:
        raise InputError(errors.PDF_MISSING)
    if len(files) > MAX_FILES:
        raise InputError(errors.VALIDATION_TOO_MANY_FILES, f"{len(files)} files; at most {MAX_FILES}")
    at_text = request.form.get("at", "").strip()
    at = typed_moment(at_text, "at") if at_text else None
    policy = request.form.get("policy", "").strip() or None
    results = []
    for number, upload in enumerate(files, 1):
        name = report_file_name(upload.filename) or "document.pdf"
        try:
            report = validate_file(uploaded_path(upload.stream), name, at=at, policy=policy)
        except PakatError as exc:
            if len(files) == 1:
                raise  # one file: its refusal is the page's error, with its status
            log.info("validation of file %d refused: %s", number, exc.code)
            results.append(FileResult(number, name, error=exc))
            continue
        log.info("validated %s: %s (%d signatures)", report.file_sha256, report.indication.value,
                 len(report.signatures))
        app_services().audit_log().record_validation(report, actor=audit.ANONYMOUS, channel="page")
        results.append(_result(number, name, report, lang))
    # Some verdict reached: 200; every file refused: the first refusal's status.
    refusals = [r.error for r in results if r.error is not None]
    status = 200 if len(refusals) < len(results) else refusals[0].kind.http_status
    return _page(lang, results=results, chosen_policy=policy, at=at, at_text=at_text, status=status)


def _max_pdf_bytes() -> int:
    return int(current_app.config["PAKAT_MAX_PDF_BYTES"])


def _result(number: int, name: str, report: DocumentReport, lang: Lang) -> FileResult:
    return FileResult(
        number, name, report=report,
        downloads={
            "pdf": _data_url(render(report, "pdf", lang)),
            "pdf_name": download_name(report, "pdf", lang),
            "json": _data_url(render(report, "json", lang)),
            "json_name": download_name(report, "json", lang),
        },
        report_html=render_fragment(report, lang, id_prefix=f"file-{number}-" if number > 1 else ""),
    )


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


def _page(lang: Lang, *, results: list[FileResult] | None = None, error: PakatError | None = None,
          status: int = 200, chosen_policy: str | None = None, at: datetime | None = None,
          at_text: str = "") -> Response:
    other = labels.other(lang)
    # web.look.render_page: the pages' CSP and no-store (a report says who signed a confidential bid).
    return render_page(
        "validate.html",
        status=status,
        words={key: labels.pick(text, lang) for key, text in labels.PAGE.items()},
        other_words={key: labels.pick(text, other) for key, text in labels.PAGE.items()},
        action=_lang_url("validate_pages.validate", lang),
        error=error,
        results=results or [],
        policies=policy_choices(),
        chosen_policy=chosen_policy or "",
        at=at,
        at_text=at_text,
        at_now=datetime_hint(datetime.now(UTC), lang),
        max_files=MAX_FILES,
        placement_words=lambda place: placement_words(place, lang),
    )
