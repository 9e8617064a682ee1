"""Bulk sealing in the console: /console/batches (issue 16 item 2).

* ``GET /console/batches`` — the organisation's batches, newest first, paged
  (``?before=<batch id>``); anyone of the organisation reads it, operators also
  see "new batch".
* ``GET /console/batches/new`` and ``POST /console/batches`` (operator) — a zip
  or several PDFs with the sealing level and a visible seal or not. The form is
  read by :mod:`web.batch_intake`, exactly as ``POST /api/v1/batches`` reads its
  own: the same fields, limits and refusals. The page's script sends it with
  XMLHttpRequest (upload progress, ``X-CSRF-Token``, ``Accept: application/json``:
  201 with the batch's page, or the error as JSON); without script the form
  posts and answers a redirect, or the page again with the error.
* ``GET /console/batches/<id>`` — its progress, updated from
  ``GET …/<id>/progress`` (a small JSON answer) by polling, the failed items
  (``GET …/<id>/failed``), the results zip once finished (``GET …/<id>/results.zip``,
  streamed as the API does) and, for operators, deletion after a confirmation
  (``GET``/``POST …/<id>/delete``, audited by the use case as the API's is).

A batch belongs to the person's organisation and the audit log names the person
(``person:<id>``) as its actor. Another organisation's batch is BATCH_NOT_FOUND
(404), never shown.
"""

from __future__ import annotations

import math
from typing import Any, cast

from flask import Blueprint, Response, jsonify, redirect, request
from werkzeug.exceptions import RequestEntityTooLarge

from envelopes.audit import person_actor
from envelopes.batches import FINISHED, BatchProgress
from envelopes.people import Role
from pakat import errors
from pakat.errors import InputError, PakatError
from pakat.text import Lang
from signer.levels import PadesLevel
from web.api import DEFAULT_LEVEL
from web.batch_intake import MAX_REASON_CHARS, accept_batch, allow_batch_upload, results_response
from web.console.access import current_person, optional_person, requires, wants_json
from web.errors import error_response
from web.look import current_lang, num, render_page, word, words
from web.state import app_services

bp = Blueprint("console_batches", __name__, url_prefix="/console/batches")

#: How often the batch's page asks for its progress while it runs.
POLL_MS = 1500
LEVELS = tuple(level.value for level in PadesLevel)

words({
    "batches.title": ("مهر گروهی", "Bulk sealing"),
    "batches.intro": ("دسته‌هایی که این سازمان برای مهر فرستاده است، از تازه‌ترین.",
                      "The batches this organisation sent for sealing, newest first."),
    "batches.new": ("دستهٔ تازه", "New batch"),
    "batches.none": ("هنوز دسته‌ای نیست.", "No batches yet."),
    "batches.created": ("زمان ساخت", "Created"),
    "batches.level": ("سطح PAdES", "PAdES level"),
    "batches.counts": ("مهرشده / ناموفق / همه", "Sealed / failed / all"),
    "batches.state": ("وضعیت", "State"),
    "batches.open": ("دیدن", "Open"),
    "batches.open_batch": ("دیدن دستهٔ ساخته‌شده در", "Open the batch created"),
    "batches.state_running": ("در حال مهر", "Sealing"),
    "batches.state_finished": ("پایان‌یافته", "Finished"),
    "batches.older": ("دسته‌های قدیمی‌تر", "Older batches"),
    "batches.newest": ("تازه‌ترین دسته‌ها", "Newest batches"),
    "batches.deleted": ("دسته حذف شد.", "The batch was deleted."),
    "batches.new_title": ("دستهٔ تازه برای مهر", "A new batch to seal"),
    "batches.drop": ("فایل‌های PDF یا یک فایل zip را اینجا رها کنید، یا با Enter یا فاصله انتخاب کنید.",
                     "Drop PDF files or one zip file here, or press Enter or Space to choose them."),
    "batches.drop_label": ("محل رها کردن فایل‌ها", "Drop zone for the files"),
    "batches.files": ("فایل‌های PDF", "PDF files"),
    "batches.archive": ("یا یک فایل zip از PDFها", "Or one zip file of PDFs"),
    "batches.chosen": ("فایل‌های انتخاب‌شده", "Chosen files"),
    "batches.clear": ("پاک کردن فهرست", "Clear the list"),
    "batches.limits": ("حداکثر {items} فایل، هر کدام تا {item} و روی هم تا {total}.",
                       "At most {items} files, each up to {item}, {total} in all."),
    "batches.level_hint": ("B-B امضای پایه؛ B-T با مهر زمانی؛ B-LT با داده‌های اعتبارسنجی؛ B-LTA برای نگهداری"
                           " بلندمدت.",
                           "B-B a basic signature; B-T with a timestamp; B-LT with validation data; B-LTA for"
                           " long-term keeping."),
    "batches.visible": ("مهر دیدنی روی صفحه", "A visible seal on the page"),
    "batches.reason": ("دلیل مهر (اختیاری)", "Reason for sealing (optional)"),
    "batches.submit": ("بارگذاری و مهر", "Upload and seal"),
    "batches.uploading": ("در حال بارگذاری", "Uploading"),
    "batches.upload_progress": ("{sent} از {total} بارگذاری شد", "{sent} of {total} uploaded"),
    "batches.upload_failed": ("بارگذاری انجام نشد؛ اتصال را بررسی کنید و دوباره بفرستید.",
                              "The upload failed; check the connection and send again."),
    "batches.mixed": ("یا چند PDF یا یک zip بفرستید، نه هر دو.", "Send either PDFs or one zip, not both."),
    "batches.batch_title": ("دستهٔ مهر", "Sealing batch"),
    "batches.progress": ("پیشرفت", "Progress"),
    "batches.progress_text": ("{done} از {total} انجام شد ({percent}٪): {sealed} مهر شد، {failed} ناموفق.",
                              "{done} of {total} done ({percent}%): {sealed} sealed, {failed} failed."),
    "batches.sealed": ("مهرشده", "Sealed"),
    "batches.failed": ("ناموفق", "Failed"),
    "batches.total": ("همه", "All"),
    "batches.rate": ("سرعت", "Rate"),
    "batches.eta": ("زمان باقی‌مانده", "Time left"),
    "batches.unknown": ("هنوز معلوم نیست", "not known yet"),
    "batches.per_second": ("{rate} فایل در ثانیه", "{rate} files a second"),
    "batches.per_minute": ("{rate} فایل در دقیقه", "{rate} files a minute"),
    "batches.seconds": ("{s} ثانیه", "{s} s"),
    "batches.minutes": ("{m} دقیقه و {s} ثانیه", "{m} min {s} s"),
    "batches.kilobytes": ("{n} کیلوبایت", "{n} KB"),
    "batches.megabytes": ("{n} مگابایت", "{n} MB"),
    "batches.gigabytes": ("{n} گیگابایت", "{n} GB"),
    "batches.hours": ("{h} ساعت و {m} دقیقه", "{h} h {m} min"),
    "batches.poll_failed": ("وضعیت تازه خوانده نشد؛ دوباره تلاش می‌شود.",
                            "Could not read the latest state; trying again."),
    "batches.failed_items": ("فایل‌های ناموفق", "Failed files"),
    "batches.no_failures": ("هیچ فایلی ناموفق نبوده است.", "No file has failed."),
    "batches.item": ("ردیف", "No."),
    "batches.name": ("نام فایل", "File name"),
    "batches.reason_fa": ("دلیل (فارسی)", "Reason (Persian)"),
    "batches.reason_en": ("دلیل (انگلیسی)", "Reason (English)"),
    "batches.code": ("کد", "Code"),
    "batches.results": ("دریافت نتیجه (zip)", "Download the results (zip)"),
    "batches.results_note": ("فایل‌های مهرشده و manifest.json.", "The sealed files and manifest.json."),
    "batches.delete": ("حذف دسته", "Delete the batch"),
    "batches.delete_title": ("حذف این دسته؟", "Delete this batch?"),
    "batches.delete_question": ("دسته، ردیف‌هایش و فایل‌های مهرشده‌اش برای همیشه حذف می‌شوند. ادامه می‌دهید؟",
                                "The batch, its items and its sealed files are deleted for good. Go on?"),
    "batches.delete_confirm": ("بله، حذف شود", "Yes, delete it"),
    "batches.cancel": ("انصراف", "Cancel"),
    "batches.yes": ("بله", "Yes"),
    "batches.no": ("خیر", "No"),
    "batches.back": ("بازگشت به دسته‌ها", "Back to the batches"),
})


@bp.url_value_preprocessor
def _whole_batch_body(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # This runs before any before_request hook, the console's CSRF check among them, which reads the form of a
    # post without the X-CSRF-Token header: by then the body limit must already be a whole batch's. Only for
    # someone who may send one: anyone else stays within the ordinary limit.
    if endpoint == "console_batches.create" and request.method == "POST":
        person = optional_person()
        if person is not None and person.may(Role.OPERATOR) and not person.must_change_password:
            allow_batch_upload()


# -- the list ------------------------------------------------------------------------------------


@bp.get("")
@requires(Role.VIEWER)
def batches() -> Response:
    me = current_person()
    before = request.args.get("before", "").strip()[:64] or None
    page = app_services().batches().page(me.organisation, before=before)
    return render_page("console/batches.html", page=page, before=before, may_seal=me.may(Role.OPERATOR),
                       deleted=request.args.get("deleted") == "1")


# -- a new batch ------------------------------------------------------------------------------------


def _new_page(status: int = 200, error: PakatError | None = None) -> Response:
    limits = app_services().batch_limits()
    return render_page("console/batches_new.html", status=status, error=error, levels=LEVELS,
                       default_level=DEFAULT_LEVEL, max_reason=MAX_REASON_CHARS, limits=limits,
                       limits_text=_limits_text(limits.max_items, limits.max_item_bytes, limits.max_total_bytes))


@bp.get("/new")
@requires(Role.OPERATOR)
def new() -> Response:
    return _new_page()


@bp.post("")
@requires(Role.OPERATOR)
def create() -> Response:
    """The form of /console/batches/new: 201 JSON for the page's script, else a redirect to the batch's page."""
    me = current_person()
    try:
        try:
            created = accept_batch(lambda _form: me.organisation, actor=person_actor(me.id))
        except RequestEntityTooLarge:
            limit = app_services().batch_limits().max_total_bytes
            raise InputError(errors.ARCHIVE_TOO_LARGE, f"the upload is larger than {limit} bytes") from None
    except PakatError as error:
        if wants_json():
            return error_response(error)
        return _new_page(error.kind.http_status, error)
    url = f"/console/batches/{created.progress.id}"
    if wants_json():
        answer = _private(jsonify({"id": created.progress.id, "url": url}))
        answer.status_code = 201
        answer.headers["Location"] = url
        return answer
    return cast(Response, redirect(url, 303))


# -- one batch ---------------------------------------------------------------------------------------


@bp.get("/<batch_id>")
@requires(Role.VIEWER)
def batch(batch_id: str) -> Response:
    me = current_person()
    found = app_services().batches()
    progress = found.progress(me.organisation, batch_id)
    failed = found.failed_items(me.organisation, batch_id)
    options = found.options(me.organisation, batch_id)
    return render_page("console/batches_batch.html", batch=progress, view=progress_view(progress),
                       options=options, failed=failed, may_delete=me.may(Role.OPERATOR), poll_ms=POLL_MS,
                       error=None)


@bp.get("/<batch_id>/progress")
@requires(Role.VIEWER)
def progress(batch_id: str) -> Response:
    """The batch's progress for its page's script: counts, percent, and its texts in the page's language."""
    me = current_person()
    try:
        return _private(jsonify(progress_view(app_services().batches().progress(me.organisation, batch_id))))
    except PakatError as error:
        return error_response(error)


@bp.get("/<batch_id>/failed")
@requires(Role.VIEWER)
def failed(batch_id: str) -> Response:
    """The batch's failed items with their reasons (code, Persian, English), for its page's script."""
    me = current_person()
    try:
        items = app_services().batches().failed_items(me.organisation, batch_id)
    except PakatError as error:
        return error_response(error)
    return _private(jsonify({"items": [{"number": e.number, "name": e.name, **(e.error or {})} for e in items]}))


def _private(answer: Response) -> Response:
    # An organisation's batch, for the signed-in person only: no cache keeps it (as render_page does for pages).
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.get("/<batch_id>/results.zip")
@requires(Role.VIEWER)
def results(batch_id: str) -> Response:
    return results_response(current_person().organisation, batch_id)


@bp.get("/<batch_id>/delete")
@requires(Role.OPERATOR)
def confirm_delete(batch_id: str) -> Response:
    me = current_person()
    progress = app_services().batches().progress(me.organisation, batch_id)
    return render_page("console/batches_delete.html", batch=progress)


@bp.post("/<batch_id>/delete")
@requires(Role.OPERATOR)
def delete(batch_id: str) -> Response:
    me = current_person()
    services = app_services()
    try:
        services.retention().delete_batch(me.organisation, batch_id, actor=person_actor(me.id))
    except PakatError as error:
        if error.kind is errors.BATCH_NOT_FOUND:
            raise
        found = services.batches()
        progress = found.progress(me.organisation, batch_id)
        return render_page("console/batches_batch.html", status=error.kind.http_status, batch=progress,
                           view=progress_view(progress), options=found.options(me.organisation, batch_id),
                           failed=found.failed_items(me.organisation, batch_id), may_delete=True,
                           poll_ms=POLL_MS, error=error)
    return cast(Response, redirect("/console/batches?deleted=1", 303))


# -- what the page shows of a batch's progress ------------------------------------------------------


def progress_view(progress: BatchProgress) -> dict[str, Any]:
    """The batch's counts and its texts for people, in the request's language (digits included)."""
    lang = current_lang()
    finished = progress.state == FINISHED
    percent = 100 if finished or not progress.total else math.floor(100 * progress.done / progress.total)
    return {
        "id": progress.id,
        "state": progress.state,
        "finished": finished,
        "total": progress.total,
        "sealed": progress.sealed,
        "failed": progress.failed,
        "done": progress.done,
        "percent": percent,
        "state_text": word(f"batches.state_{progress.state}", lang),
        "text": word("batches.progress_text", lang).format(
            done=num(progress.done), total=num(progress.total), percent=num(percent), sealed=num(progress.sealed),
            failed=num(progress.failed)),
        "rate_text": _rate_text(progress.rate_per_second, lang),
        "eta_text": _eta_text(progress.eta_seconds, lang),
    }


def _rate_text(rate: float | None, lang: Lang) -> str:
    if not rate:
        return word("batches.unknown", lang)
    if rate >= 1:
        return word("batches.per_second", lang).format(rate=num(f"{rate:.1f}".removesuffix(".0")))
    return word("batches.per_minute", lang).format(rate=num(f"{rate * 60:.1f}".removesuffix(".0")))


def _eta_text(seconds: float | None, lang: Lang) -> str:
    if seconds is None:
        return word("batches.unknown", lang)
    whole = max(0, math.ceil(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return word("batches.hours", lang).format(h=num(hours), m=num(minutes))
    if minutes:
        return word("batches.minutes", lang).format(m=num(minutes), s=num(secs))
    return word("batches.seconds", lang).format(s=num(secs))


def _limits_text(items: int, item_bytes: int, total_bytes: int) -> str:
    lang = current_lang()

    def size(count: int) -> str:
        megabytes = count / (1024 * 1024)
        if megabytes >= 1024:
            return word("batches.gigabytes", lang).format(n=num(f"{megabytes / 1024:.1f}".removesuffix(".0")))
        return word("batches.megabytes", lang).format(n=num(round(megabytes)))

    return word("batches.limits", lang).format(items=num(items), item=size(item_bytes), total=size(total_bytes))
