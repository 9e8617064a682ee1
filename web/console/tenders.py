"""Tenders and envelopes in the console: /console/tenders.

* ``/console/tenders`` — the organisation's tenders (Jalali deadline, a live
  countdown, state, envelopes by state); an operator creates one for one of the
  organisation's platforms (the API's fields and validation).
* ``/console/tenders/<id>`` — its envelopes, a new envelope, the opening A → B → C
  (each kind with why it may not be opened yet).
* ``/console/tenders/<id>/envelopes/<id>`` — documents (upload, seal), who must
  sign and each requirement's state and why, signing sessions (a new one shows
  its signing-page link and QR code once), submit and withdraw (confirmed), the
  sealed receipt.

The views parse and render; the use cases are :class:`envelopes.tenders.Tenders`
(reached as the platform that made the tender: :meth:`~envelopes.tenders.Tenders.console_caller`,
which answers TENDER_NOT_FOUND for another organisation's tender), the documents'
seal and the signing sessions. Viewers read; operators change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request, send_file

from envelopes.audit import person_actor
from envelopes.people import Role
from envelopes.sessions import SessionView
from envelopes.tender_types import (
    KINDS,
    SHOWN_STATES,
    STATE_TEXT,
    Bidder,
    Caller,
    DocumentSource,
    EnvelopeView,
    NewEnvelope,
    NewTender,
    Requirements,
    Signatory,
    TenderView,
)
from envelopes.tenders import Tenders
from pakat import errors
from pakat.dates import datetime_hint
from pakat.errors import InputError, PakatError
from pakat.text import Lang
from signer.external import ExpectedSigner
from signer.levels import PadesLevel
from web.console.access import current_person, requires, surface
from web.documents_api import signing_page_url
from web.inputs import digits_text, optional_text, required_text, typed_moment
from web.look import current_lang, num, render_page, word, words
from web.security import public_base
from web.sign_page import qr_data_url
from web.state import app_services
from web.uploads import report_file_name, upload_request, uploaded_path

bp = Blueprint("console_tenders", __name__, url_prefix="/console/tenders")

#: The level of a console seal or signature on a bid document: timestamped, as the envelope's deadline needs.
LEVEL = PadesLevel.B_T
MAX_UPLOADS = 20

words({
    "tenders.title": ("مناقصه‌ها", "Tenders"),
    "tenders.none": ("هنوز مناقصه‌ای نیست.", "No tenders yet."),
    "tenders.reference": ("شماره", "Reference"),
    "tenders.title_fa": ("عنوان فارسی", "Persian title"),
    "tenders.title_en": ("عنوان انگلیسی", "English title"),
    "tenders.name": ("عنوان", "Title"),
    "tenders.deadline": ("مهلت ارسال", "Deadline"),
    "tenders.deadline_hint": ("به وقت تهران", "Tehran time"),
    "tenders.deadline_format": ("تاریخ شمسی و ساعت: سال/ماه/روز ساعت:دقیقه؛ اکنون در تهران:",
                                "Gregorian date and time; now in Tehran:"),
    "tenders.left": ("مانده", "Left"),
    "tenders.state": ("وضعیت", "State"),
    "tenders.envelopes": ("پاکت‌ها", "Envelopes"),
    "tenders.platform": ("سامانه", "Platform"),
    "tenders.no_platform": ("سازمان شما سامانه‌ای (کلید API با platform) ندارد؛ مناقصه‌ای نمی‌توان ساخت.",
                            "Your organisation has no platform (an API key with a platform); no tender can be"
                            " created."),
    "tenders.create": ("مناقصهٔ تازه", "New tender"),
    "tenders.create_submit": ("ساختن مناقصه", "Create the tender"),
    "tenders.created": ("مناقصه ساخته شد.", "The tender was created."),
    "tenders.passed": ("مهلت گذشته است", "The deadline has passed"),
    "tenders.day": ("روز", "d"),
    "tenders.back": ("همهٔ مناقصه‌ها", "All tenders"),
    "tenders.tender_state_open": ("باز", "Open"),
    "tenders.tender_state_closed": ("بسته (در انتظار گشایش)", "Closed (awaiting the opening)"),
    "tenders.tender_state_opening": ("در حال گشایش", "Being opened"),
    "tenders.tender_state_opened": ("گشوده‌شده", "Opened"),
    "tenders.tender_envelopes_title": ("پاکت‌های این مناقصه", "This tender's envelopes"),
    "tenders.tender_no_envelopes": ("هنوز پاکتی نیست.", "No envelopes yet."),
    "tenders.tender_kind": ("نوع", "Kind"),
    "tenders.tender_bidder": ("پیشنهاددهنده", "Bidder"),
    "tenders.tender_documents": ("اسناد", "Documents"),
    "tenders.tender_open_title": ("گشایش پاکت‌ها: الف ← ب ← ج", "The opening: A → B → C"),
    "tenders.tender_open_kind": ("گشودن پاکت‌های", "Open the envelopes of kind"),
    "tenders.tender_opened_kind": ("گشوده شد", "opened"),
    "tenders.tender_opened_now": ("پاکت‌های این نوع گشوده شدند:", "Envelopes of this kind opened:"),
    "tenders.tender_new_envelope": ("پاکت تازه", "New envelope"),
    "tenders.tender_bidder_id": ("شناسهٔ ملی پیشنهاددهنده", "Bidder's national ID"),
    "tenders.tender_bidder_fa": ("نام فارسی پیشنهاددهنده", "Bidder's Persian name"),
    "tenders.tender_bidder_en": ("نام انگلیسی پیشنهاددهنده", "Bidder's English name"),
    "tenders.tender_signatories": ("امضاکنندگان مجاز (هر سطر: کد ملی، و اگر خواستید پس از ویرگول سِمَت)",
                           "Authorised signatories (one a line: national ID, optionally a comma and a role)"),
    "tenders.tender_min_assurance": ("کمترین سطح اطمینان گواهی", "Minimum certificate assurance"),
    "tenders.tender_any_assurance": ("هر سطحی", "Any"),
    "tenders.tender_seal_required": ("مهر سازمانی پیشنهاددهنده لازم است", "The bidder's company seal is required"),
    "tenders.tender_create_envelope": ("ساختن پاکت", "Create the envelope"),
    "tenders.kind_A": ("الف (تضمین)", "A (guarantee)"),
    "tenders.kind_B": ("ب (فنی)", "B (technical)"),
    "tenders.kind_C": ("ج (مالی)", "C (price)"),
    "tenders.envelope_title": ("پاکت", "Envelope"),
    "tenders.envelope_state": ("وضعیت", "State"),
    "tenders.envelope_who": ("چه کسانی باید امضا کنند", "Who must sign"),
    "tenders.envelope_seal_of": ("مهر سازمانی با شناسهٔ ملی", "Company seal with national ID"),
    "tenders.envelope_any_role": ("هر سمتی", "any role"),
    "tenders.envelope_documents": ("اسناد و وضعیت هر الزام", "Documents and each requirement's state"),
    "tenders.envelope_no_documents": ("هنوز سندی نیست.", "No documents yet."),
    "tenders.envelope_requirement": ("الزام", "Requirement"),
    "tenders.envelope_met": ("برآورده", "Met"),
    "tenders.envelope_unmet": ("برآورده نشده", "Not met"),
    "tenders.envelope_why": ("چرا", "Why"),
    "tenders.envelope_not_judged": ("هنوز سنجیده نشده است.", "Not judged yet."),
    "tenders.envelope_busy": ("امضایی روی این سند در حال تکمیل است.",
                              "A signature on this document is being completed."),
    "tenders.envelope_revision": ("نسخه", "Revision"),
    "tenders.envelope_signatory": ("امضا", "Signature"),
    "tenders.envelope_seal": ("مهر", "Seal"),
    "tenders.envelope_upload": ("افزودن سند (PDF)", "Add documents (PDF)"),
    "tenders.envelope_upload_submit": ("بارگذاری", "Upload"),
    "tenders.envelope_seal_submit": ("مهر سازمان بر این سند", "Seal this document"),
    "tenders.envelope_sessions": ("نشست‌های امضا", "Signing sessions"),
    "tenders.envelope_no_sessions": ("نشستی نیست.", "No sessions."),
    "tenders.envelope_new_session": ("نشست امضای تازه", "New signing session"),
    "tenders.envelope_expected": ("امضاکنندهٔ مورد انتظار", "Expected signer"),
    "tenders.envelope_anyone": ("هر یک از امضاکنندگان", "Any of the signatories"),
    "tenders.envelope_session_link": ("پیوند صفحهٔ امضا — فقط همین یک بار نشان داده می‌شود؛ به امضاکننده بدهید:",
                              "The signing page's link — shown this once only; give it to the signer:"),
    "tenders.envelope_qr": ("یا امضاکننده این کد را با گوشی بخواند", "Or the signer scans this code"),
    "tenders.envelope_session_state": ("وضعیت نشست", "Session state"),
    "tenders.envelope_expires": ("انقضا", "Expires"),
    "tenders.envelope_submit": ("ارسال پاکت", "Submit the envelope"),
    "tenders.envelope_submit_confirm": ("تأیید می‌کنم که این پاکت با همین اسناد ارسال شود.",
                                "I confirm this envelope is submitted with these documents."),
    "tenders.envelope_withdraw": ("استرداد پاکت", "Withdraw the envelope"),
    "tenders.envelope_withdraw_confirm": ("تأیید می‌کنم که این پاکت مسترد شود؛ استرداد برگشت‌ناپذیر است.",
                                  "I confirm this envelope is withdrawn; a withdrawal cannot be undone."),
    "tenders.envelope_receipt": ("رسید مهرشدهٔ ارسال", "The sealed submission receipt"),
    "tenders.envelope_receipt_download": ("دریافت رسید (PDF)", "Download the receipt (PDF)"),
    "tenders.envelope_submitted_at": ("زمان رسمی ارسال (مهر زمانی)", "Official submission time (timestamp)"),
    "tenders.envelope_done": ("انجام شد.", "Done."),
    "tenders.envelope_back": ("بازگشت به مناقصه", "Back to the tender"),
    "tenders.envelope_actions": ("کارها", "Actions"),
    **{f"tenders.envelope_state_{state}": (STATE_TEXT[state].fa, STATE_TEXT[state].en) for state in SHOWN_STATES},
    "tenders.state_short_draft": ("پیش‌نویس", "Draft"),
    "tenders.state_short_signing": ("در حال امضا", "Signing"),
    "tenders.state_short_complete": ("کامل", "Complete"),
    "tenders.state_short_submitted": ("ارسال‌شده", "Submitted"),
    "tenders.state_short_locked": ("قفل‌شده", "Locked"),
    "tenders.state_short_not_submitted": ("ارسال‌نشده", "Not submitted"),
    "tenders.state_short_withdrawn": ("مستردشده", "Withdrawn"),
    "tenders.state_short_opened": ("گشوده‌شده", "Opened"),
})

SESSION_STATE_WORDS = {"awaiting_certificate": ("در انتظار امضاکننده", "Waiting for the signer"),
                       "awaiting_signature": ("در انتظار امضا", "Waiting for the signature"),
                       "signed": ("امضا شد؛ سطح در حال تکمیل", "Signed; the level is being completed"),
                       "completed": ("کامل", "Completed"), "failed": ("ناموفق", "Failed"),
                       "expired": ("منقضی", "Expired"), "cancelled": ("لغو شد", "Cancelled")}
words({f"tenders.session_state_{k}": v for k, v in SESSION_STATE_WORDS.items()})


surface("/console/tenders", "tenders.title", Role.VIEWER, "surface-tenders")


def tenders() -> Tenders:
    return app_services().tenders()


def remaining(seconds: int, lang: Lang) -> str:
    """Time left to a deadline as the countdown shows it: «۲ روز ۰۳:۰۵:۱۰» / ``2 d 03:05:10``."""
    if seconds <= 0:
        return word("tenders.passed", lang)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    text = f"{days} {word('tenders.day', lang)} {clock}" if days else clock
    return num(text)


def _caller(tender_id: str) -> Caller:
    me = current_person()
    return tenders().console_caller(me.organisation, tender_id, person_actor(me.id))


# -- the list ---------------------------------------------------------------------------------------


def _list_page(status: int = 200, *, error: PakatError | None = None,
               form: dict[str, str] | None = None) -> Response:
    me = current_person()
    found = tenders().organisation_tenders(me.organisation)
    return render_page("console/tenders.html", status=status, tenders=found, error=error, form=form or {},
                       platforms=tenders().platforms(me.organisation), states=SHOWN_STATES,
                       remaining=remaining, may_change=me.may(Role.OPERATOR),
                       deadline_now=datetime_hint(datetime.now(UTC), current_lang()))


@bp.get("")
@requires(Role.VIEWER)
def tender_list() -> Response:
    return _list_page()


@bp.post("")
@requires(Role.OPERATOR)
def create_tender() -> Response:
    me = current_person()
    form = request.form
    try:
        caller = tenders().platform_caller(me.organisation, form.get("platform", ""), person_actor(me.id))
        new = NewTender(
            reference=required_text(form.get("reference"), "reference", 128),
            title_fa=required_text(form.get("title_fa"), "title_fa", 500),
            title_en=required_text(form.get("title_en"), "title_en", 500),
            deadline=form_deadline(form.get("deadline")),
        )
        created = tenders().create_tender(caller, new)
    except PakatError as error:
        return _list_page(error.kind.http_status, error=error, form=dict(form.items()))
    return _tender_page(created.id, status=201, notice="tenders.created")


def form_deadline(raw: str | None) -> datetime:
    """A deadline from the form, as the UTC moment it names: :func:`pakat.dates.parse_datetime`.

    The Persian form takes a Jalali date and time as tender notices state them («۱۴۰۵/۰۹/۲۰ ۱۴:۳۰»),
    the English form a ``datetime-local`` value; both are Tehran's wall clock, as the page says
    beside the field. An ISO moment with its offset (a script posting the form) is taken as written.
    """
    return typed_moment(raw, "deadline")


# -- a tender ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpeningStep:
    """One kind of the opening as the page shows it: opened, may be opened now, or why not."""

    kind: str
    opened: bool
    refusal: PakatError | None


def opening_steps(tender: TenderView) -> list[OpeningStep]:
    return [OpeningStep(kind, kind in tender.opened_kinds,
                        None if kind in tender.opened_kinds else tender.opening_refusal(kind)) for kind in KINDS]


def _tender_page(tender_id: str, status: int = 200, *, error: PakatError | None = None, notice: str | None = None,
                 form: dict[str, str] | None = None, opened: list[EnvelopeView] | None = None) -> Response:
    me = current_person()
    caller = _caller(tender_id)
    tender = tenders().tender(caller, tender_id)
    found = tenders().envelopes(caller, tender_id)
    return render_page("console/tender.html", status=status, tender=tender, envelopes=found, error=error,
                       notice=notice, form=form or {}, opened=opened, steps=opening_steps(tender),
                       kinds=KINDS, remaining=remaining, may_change=me.may(Role.OPERATOR),
                       assurance_levels=app_services().deployment.assurance_levels)


@bp.get("/<tender_id>")
@requires(Role.VIEWER)
def tender_page(tender_id: str) -> Response:
    return _tender_page(tender_id)


@bp.post("/<tender_id>/envelopes")
@requires(Role.OPERATOR)
def create_envelope(tender_id: str) -> Response:
    caller = _caller(tender_id)
    form = request.form
    try:
        new = NewEnvelope(
            kind=required_text(form.get("kind"), "kind", 1).upper(),
            bidder=Bidder(
                national_id=digits_text(form.get("bidder_national_id"), "bidder.national_id"),
                name_fa=required_text(form.get("bidder_name_fa"), "bidder.name_fa", 255),
                name_en=required_text(form.get("bidder_name_en"), "bidder.name_en", 255),
            ),
            requirements=Requirements(
                signatories=signatories(form.get("signatories", "")),
                min_assurance=optional_text(form.get("min_assurance"), "requirements.min_assurance", 64),
                seal_required=form.get("seal_required") == "yes",
            ),
        )
        created = tenders().create_envelope(caller, tender_id, new)
    except PakatError as error:
        return _tender_page(tender_id, error.kind.http_status, error=error, form=dict(form.items()))
    return _envelope_page(tender_id, created.id, status=201, notice="tenders.envelope_done")


def signatories(raw: str) -> tuple[Signatory, ...]:
    """The form's signatories, one a line: ``national ID`` or ``national ID, role`` (Persian digits accepted)."""
    found = []
    for n, line in enumerate(line for line in raw.splitlines() if line.strip()):
        national_id, _, role = line.replace("،", ",").partition(",")
        what = f"requirements.signatories[{n}]"
        found.append(Signatory(national_id=digits_text(_ascii_digits(national_id.strip()), f"{what}.national_id"),
                               role=optional_text(role, f"{what}.role", 255)))
    return tuple(found)


def _ascii_digits(text: str) -> str:
    return text.translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789"))


@bp.post("/<tender_id>/open")
@requires(Role.OPERATOR)
def open_kind(tender_id: str) -> Response:
    caller = _caller(tender_id)
    try:
        opening = tenders().open(caller, tender_id, required_text(request.form.get("kind"), "kind", 1).upper())
    except PakatError as error:
        return _tender_page(tender_id, error.kind.http_status, error=error)
    return _tender_page(tender_id, notice="tenders.envelope_done", opened=list(opening.opened))


# -- an envelope --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewLink:
    """A signing session just opened: its signing-page link and QR code, shown once."""

    document: str
    url: str
    qr: str


def _envelope_page(tender_id: str, envelope_id: str, status: int = 200, *, error: PakatError | None = None,
                   notice: str | None = None, link: NewLink | None = None) -> Response:
    me = current_person()
    caller = _caller(tender_id)
    tender = tenders().tender(caller, tender_id)
    envelope = tenders().envelope(caller, tender_id, envelope_id)
    sessions: dict[str, list[SessionView]] = {
        d.document_id: app_services().sessions().of_document(me.organisation, d.document_id)
        for d in envelope.documents
    }
    return render_page("console/tender_envelope.html", status=status, tender=tender, envelope=envelope,
                       sessions=sessions, error=error, notice=notice, link=link, remaining=remaining,
                       may_change=me.may(Role.OPERATOR),
                       base=f"/console/tenders/{tender_id}/envelopes/{envelope_id}")


@bp.get("/<tender_id>/envelopes/<envelope_id>")
@requires(Role.VIEWER)
def envelope_page(tender_id: str, envelope_id: str) -> Response:
    return _envelope_page(tender_id, envelope_id)


def _act(tender_id: str, envelope_id: str, action: Any, notice: str = "tenders.envelope_done",
         status: int = 200) -> Response:
    """Run a change on the envelope; its refusal comes back on the envelope's page with its code."""
    caller = _caller(tender_id)
    tenders().envelope(caller, tender_id, envelope_id)  # ENVELOPE_NOT_FOUND before anything is done
    try:
        link = action(caller)
    except PakatError as error:
        return _envelope_page(tender_id, envelope_id, error.kind.http_status, error=error)
    return _envelope_page(tender_id, envelope_id, status, notice=notice, link=link)


@bp.post("/<tender_id>/envelopes/<envelope_id>/documents")
@requires(Role.OPERATOR)
def upload(tender_id: str, envelope_id: str) -> Response:
    def add(caller: Caller) -> None:
        files = [f for f in upload_request().files.getlist("pdf") if f.filename]
        if not files:
            raise InputError(errors.PDF_MISSING)
        if len(files) > MAX_UPLOADS:
            raise InputError(errors.REQUEST_INVALID, f"at most {MAX_UPLOADS} files at once")
        for file in files:
            source = DocumentSource(upload=uploaded_path(file.stream), name=report_file_name(file.filename))
            tenders().add_document(caller, tender_id, envelope_id, source)

    return _act(tender_id, envelope_id, add, status=201)


def _current_document(caller: Caller, tender_id: str, envelope_id: str, doc_id: str) -> EnvelopeView:
    envelope = tenders().envelope(caller, tender_id, envelope_id)
    if doc_id not in {d.document_id for d in envelope.documents}:
        raise InputError(errors.DOCUMENT_NOT_FOUND, doc_id[:64])
    return envelope


@bp.post("/<tender_id>/envelopes/<envelope_id>/documents/<doc_id>/seal")
@requires(Role.OPERATOR)
def seal(tender_id: str, envelope_id: str, doc_id: str) -> Response:
    def apply(caller: Caller) -> None:
        _current_document(caller, tender_id, envelope_id, doc_id)
        services = app_services()
        services.documents().seal(caller.organisation, doc_id, LEVEL, services.seals.get(), actor=caller.actor)

    return _act(tender_id, envelope_id, apply)


@bp.post("/<tender_id>/envelopes/<envelope_id>/documents/<doc_id>/sessions")
@requires(Role.OPERATOR)
def new_session(tender_id: str, envelope_id: str, doc_id: str) -> Response:
    def open_session(caller: Caller) -> NewLink:
        envelope = _current_document(caller, tender_id, envelope_id, doc_id)
        chosen = request.form.get("expected", "")
        signatory = envelope.requirements.signatory_for(chosen) if chosen else None
        if chosen and signatory is None:
            raise InputError(errors.REQUEST_INVALID, "expected signer: not a signatory of this envelope")
        public_base()  # PUBLIC_URL_NOT_SET before a session is written that no link could name
        expected = signatory.expected if signatory is not None else ExpectedSigner()
        created = app_services().sessions().create(caller.organisation, doc_id, LEVEL, expected,
                                                   actor=caller.actor)
        url = signing_page_url(created.session.id, created.view_token)
        return NewLink(doc_id, url, qr_data_url(url))

    return _act(tender_id, envelope_id, open_session, status=201)


def _confirmed() -> None:
    if request.form.get("confirm") != "yes":
        raise InputError(errors.REQUEST_INVALID, "confirm: tick the confirmation box")


@bp.post("/<tender_id>/envelopes/<envelope_id>/submit")
@requires(Role.OPERATOR)
def submit(tender_id: str, envelope_id: str) -> Response:
    def send(caller: Caller) -> None:
        _confirmed()
        tenders().submit(caller, tender_id, envelope_id)

    return _act(tender_id, envelope_id, send)


@bp.post("/<tender_id>/envelopes/<envelope_id>/withdraw")
@requires(Role.OPERATOR)
def withdraw(tender_id: str, envelope_id: str) -> Response:
    def take_back(caller: Caller) -> None:
        _confirmed()
        tenders().withdraw(caller, tender_id, envelope_id)

    return _act(tender_id, envelope_id, take_back)


@bp.get("/<tender_id>/envelopes/<envelope_id>/receipt.pdf")
@requires(Role.VIEWER)
def receipt(tender_id: str, envelope_id: str) -> Response:
    found, path = tenders().receipt(_caller(tender_id), tender_id, envelope_id)
    response = send_file(path, mimetype="application/pdf", as_attachment=True,
                         download_name=f"receipt-{envelope_id[:32]}.pdf", conditional=False, etag=False, max_age=0)
    response.headers["X-Pakat-SHA256"] = found.sha256
    response.headers["Cache-Control"] = "no-store"
    return response

