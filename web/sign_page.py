"""The bidder's signing page, ``/sign/<session>#<view token>``: what will be signed, and a button to sign it.

Access design: no secret that can sign ever travels in a URL a server logs or a
browser sends as a Referer.

* The platform gets ``signing_page_url`` = ``/sign/<session id>#<view token>``.
  The session id alone grants nothing; the view token rides in the fragment,
  which browsers never send to a server (so it is in no access log, proxy log
  or Referer).
* ``GET /sign/<id>`` is the same static shell for every id, token or not: it
  holds no session data and cannot tell a real session from an invented one.
* The page's script (served from here, under a CSP that allows no other
  script) reads the fragment and sends the token in the ``X-Pakat-View-Token``
  header to ``GET /sign/<id>/state``, which answers the session's facts and
  state, and, while the session is open, the ``pakat://`` pairing link and its
  QR code. The agent secret in that link is derived from the view token
  (:func:`envelopes.sessions.agent_secret_for`); the server keeps only its hash.
* ``/sign/<id>/preview.png`` and ``/sign/<id>/signed.pdf`` are authorized the
  same way (the script fetches them and hands the browser a ``blob:`` URL).
* An unknown session and a wrong or missing token answer the same 404
  SESSION_NOT_FOUND. Every answer is ``Cache-Control: no-store`` and
  ``Referrer-Policy: no-referrer``; the page never asks for a PIN (the PIN is
  typed into the agent, on the bidder's own machine).

Views parse and render; :meth:`envelopes.sessions.SigningSessions.for_page` decides.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import segno
from cryptography import x509
from cryptography.x509.oid import NameOID
from flask import Blueprint, Response, jsonify, request, send_file, url_for

from envelopes.bids import check_download
from envelopes.database import utcnow
from envelopes.documents import DocumentView, RevisionView
from envelopes.previews import first_page_png
from envelopes.sessions import (
    AWAITING_CERTIFICATE,
    AWAITING_SIGNATURE,
    CANCELLED,
    COMPLETED,
    EXPIRED,
    FAILED,
    SIGNED,
    PageView,
    SessionDocument,
    SessionView,
    pairing_link,
)
from pakat import errors
from pakat.dates import format_datetime, format_int, iso_utc
from pakat.errors import InputError, PakatError
from pakat.text import Lang, localize_digits
from web.documents_api import agent_url
from web.look import current_lang, render_page
from web.security import PAGE_CONTENT_SECURITY_POLICY
from web.state import app_services

bp = Blueprint("sign_page", __name__, template_folder="templates")

TOKEN_HEADER = "X-Pakat-View-Token"
POLL_SECONDS = 3
# The pages' policy (web.security): scripts, styles, fonts and fetches from this server only; images
# also as data: (the QR code) and blob: (the preview the script fetched with the token).
CONTENT_SECURITY_POLICY = PAGE_CONTENT_SECURITY_POLICY

# What the bidder reads, by the session's state: the page's six phases.
PHASES: dict[str, str] = {
    AWAITING_CERTIFICATE: "waiting",
    AWAITING_SIGNATURE: "signing",
    SIGNED: "signing",  # the signature is in; the timestamp and LTV data are being added
    COMPLETED: "signed",
    FAILED: "failed",
    EXPIRED: "expired",
    CANCELLED: "cancelled",
}
FINAL_PHASES = frozenset({"signed", "partly_signed", "failed", "expired", "cancelled"})

WORDS: dict[str, tuple[str, str]] = {
    "title": ("امضای سند", "Sign a document"),
    "documents": ("سندها", "Documents"),
    "document_n": ("سند {n} از {count}", "Document {n} of {count}"),
    "switch": ("English", "فارسی"),
    "loading": ("در حال خواندن نشست امضا…", "Reading the signing session…"),
    "not_found": ("این نشانی امضا درست یا کامل نیست، یا نشست دیگر وجود ندارد. نشانی را دوباره از سامانه بگیرید.",
                  "This signing link is wrong or incomplete, or the session no longer exists. "
                  "Get the link again from the platform."),
    "asks": ("درخواست‌کننده", "Requested by"),
    "why": ("این سامانه از شما می‌خواهد سند زیر را با توکن امضای خودتان امضا کنید.",
            "This platform asks you to sign the document below with your own signing token."),
    "document": ("سند", "Document"),
    "pages": ("تعداد صفحه‌ها", "Pages"),
    "size": ("اندازه", "Size"),
    "sha256": ("چکیدهٔ SHA-256", "SHA-256 digest"),
    "signer": ("امضاکنندهٔ مورد انتظار", "Expected signer"),
    "national_id": ("کد ملی", "National ID"),
    "role": ("سمت", "Role"),
    "anyone": ("هر دارندهٔ گواهی معتبر", "Anyone with a valid certificate"),
    "level": ("سطح امضا", "Signature level"),
    "expires": ("مهلت", "Deadline"),
    "time_left": ("زمان باقی‌مانده", "Time left"),
    "state": ("وضعیت", "State"),
    "sign": ("امضا با توکن من", "Sign with my token"),
    "sign_help": ("توکن را به رایانه وصل کنید و دکمه را بزنید؛ برنامهٔ پاکت رمز توکن را می‌پرسد، نه این صفحه.",
                  "Plug in your token and press the button; the Pakat app asks for the token's PIN, "
                  "never this page."),
    "qr": ("یا با گوشی این کد را بخوانید", "Or scan this code with your phone"),
    "preview": ("صفحهٔ نخست سند", "The document's first page"),
    "download": ("دریافت PDF امضاشده", "Download the signed PDF"),
    "back": ("بازگشت به سامانه", "Back to the platform"),
    "signed_by": ("امضاکننده", "Signed by"),
    "error": ("خطا", "Error"),
    "bytes": ("بایت", "bytes"),
    "phase_waiting": ("در انتظار امضا", "Waiting for your signature"),
    "phase_signing": ("در حال امضا…", "Signing…"),
    "phase_signed": ("امضا شد", "Signed"),
    "phase_failed": ("امضا ناموفق بود", "Signing failed"),
    "phase_expired": ("مهلت امضا تمام شد", "The signing session expired"),
    "phase_cancelled": ("نشست امضا لغو شد", "The signing session was cancelled"),
    "phase_partly_signed": ("برخی سندها امضا شد", "Some of the documents were signed"),
    "why_several": ("این سامانه از شما می‌خواهد همهٔ سندهای زیر را با توکن امضای خودتان امضا کنید؛ رمز توکن "
                    "یک بار پرسیده می‌شود.",
                    "This platform asks you to sign all the documents below with your own signing token; "
                    "the token's PIN is asked once."),
}


def word(key: str, lang: Lang) -> str:
    fa, en = WORDS[key]
    return fa if lang == "fa" else en


@bp.after_request
def _private(response: Response) -> Response:
    # Every answer here is about one bidder's session: no cache keeps it, no Referer leaves it.
    # Referrer-Policy no-referrer and nosniff come with every answer (web.security); the policy is this page's.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


@bp.get("/sign/<session_id>")
def page(session_id: str) -> Response:
    """The page's shell: the same for every id; its script fetches the session with the fragment's token."""
    lang = _lang()
    other: Lang = "en" if lang == "fa" else "fa"
    return render_page(
        "sign.html",
        words={key: word(key, lang) for key in WORDS},
        other_title=word("title", other),
        switch_url=_page_url(session_id, other),
        base=url_for("sign_page.page", session_id=session_id),
        poll_ms=POLL_SECONDS * 1000,
    )


@bp.get("/sign/<session_id>/state")
def state(session_id: str) -> Response:
    """The session's facts and live state; the pairing link and its QR code only while it is open."""
    lang = _lang()
    seen = app_services().sessions().for_page(session_id, _token())
    return jsonify(_state_json(seen, lang))


@bp.get("/sign/<session_id>/preview.png")
def preview(session_id: str) -> Response:
    """The first page of the document, for the page's script."""
    seen = app_services().sessions().for_page(session_id, _token())
    return _preview(SessionDocument(seen.session, seen.document))


@bp.get("/sign/<session_id>/documents/<int:number>/preview.png")
def document_preview(session_id: str, number: int) -> Response:
    """The first page of the session's document ``number`` (from 0, in the platform's order)."""
    return _preview(_member(session_id, number))


@bp.get("/sign/<session_id>/signed.pdf")
def signed_pdf(session_id: str) -> Response:
    """The document as this session's signature completed it; SIGNED_PDF_NOT_READY before that."""
    seen = app_services().sessions().for_page(session_id, _token())
    return _signed_pdf(SessionDocument(seen.session, seen.document))


@bp.get("/sign/<session_id>/documents/<int:number>/signed.pdf")
def document_signed_pdf(session_id: str, number: int) -> Response:
    """The session's document ``number`` as its signature completed it."""
    return _signed_pdf(_member(session_id, number))


def _member(session_id: str, number: int) -> SessionDocument:
    members = app_services().sessions().for_page(session_id, _token()).members
    if not 0 <= number < len(members):
        raise InputError(errors.SESSION_NOT_FOUND)  # as for a wrong token: nothing told
    return members[number]


def _preview(member: SessionDocument) -> Response:
    services = app_services()
    sha256 = member.document.head.sha256
    png = first_page_png(services.store.path(sha256), sha256, services.settings.home / "previews")
    return Response(png, mimetype="image/png")


def _signed_pdf(member: SessionDocument) -> Response:
    services = app_services()
    revision = _completed(member)
    if revision is None:
        raise PakatError(errors.SIGNED_PDF_NOT_READY, member.session.state)
    check_download(services.database, member.document.id)
    response = send_file(services.store.path(revision.sha256), mimetype="application/pdf", as_attachment=True,
                         download_name=member.document.name, conditional=False, etag=False, max_age=0)
    response.headers["X-Pakat-SHA256"] = revision.sha256
    return response


def _page_url(session_id: str, lang: Lang) -> str:
    # Explicit either way: the pakat_lang cookie may name the other language.
    return url_for("sign_page.page", session_id=session_id, lang=lang)


def _lang() -> Lang:
    return current_lang()


def _token() -> str:
    # Only ever a header: a token in the query string would reach the server's log.
    return request.headers.get(TOKEN_HEADER, "").strip()


def _completed(member: SessionDocument) -> RevisionView | None:
    number = member.session.completed_revision
    if member.session.state != COMPLETED or number is None:
        return None
    return next((r for r in member.document.revisions if r.number == number), None)


def page_phase(sessions: Sequence[SessionView]) -> str:
    """What the bidder reads for the session's documents together.

    ``signing`` while any is being signed, ``waiting`` while any still awaits the
    token, then ``signed`` (all), ``partly_signed``, ``expired`` or ``cancelled``
    (all), else ``failed``.
    """
    phases = [PHASES.get(s.state, "failed") for s in sessions]
    for busy in ("signing", "waiting"):
        if busy in phases:
            return busy
    if all(phase == "signed" for phase in phases):
        return "signed"
    if "signed" in phases:
        return "partly_signed"
    for final in ("expired", "cancelled"):
        if all(phase == final for phase in phases):
            return final
    return "failed"


def _state_json(seen: PageView, lang: Lang) -> dict[str, Any]:
    session, doc = seen.session, seen.document
    members = seen.members or (SessionDocument(session, doc),)
    phase = page_phase([m.session for m in members])
    open_now = [m.session for m in members if m.session.is_open]
    body: dict[str, Any] = {
        "state": session.state,
        "phase": phase,
        "phase_label": word(f"phase_{phase}", lang),
        "final": phase in FINAL_PHASES,
        "level": session.level,
        "expires_at": iso_utc(session.expires_at),
        "expires_at_text": format_datetime(session.expires_at, lang),
        "seconds_left": max(0, int((session.expires_at - utcnow()).total_seconds())) if open_now else 0,
        "platform": _platform_name(session, doc, lang),
        "document": _document_json(SessionDocument(session, doc), lang),
        "documents": [_member_json(member, n, len(members), lang) for n, member in enumerate(members)],
        "expected_signer": _expected_json(session, lang),
        "download": _completed(SessionDocument(session, doc)) is not None,
        "return_url": session.return_url,
    }
    signers = [m.session.signer_subject for m in members if m.session.signer_subject]
    if signers:
        body["signer"] = _common_name(signers[0])
    failed = next((m.session for m in members if m.session.error_code), None)
    if failed is not None:
        body["error"] = _error_json(failed, lang)
    if seen.secret is not None:
        # The link names the first document still open; the agent finds the others from it.
        link = pairing_link(agent_url(open_now[0].id if open_now else session.id), seen.secret)
        body["pairing_link"] = link
        body["qr_svg"] = qr_data_url(link)
    return body


def _member_json(member: SessionDocument, number: int, count: int, lang: Lang) -> dict[str, Any]:
    session = member.session
    phase = PHASES.get(session.state, "failed")
    body: dict[str, Any] = {
        **_document_json(member, lang),
        "number": number,
        "heading": word("document_n", lang).format(n=format_int(number + 1, lang), count=format_int(count, lang)),
        "state": session.state,
        "phase": phase,
        "phase_label": word(f"phase_{phase}", lang),
        "download": _completed(member) is not None,
    }
    if session.error_code:
        body["error"] = _error_json(session, lang)
    return body


def _error_json(session: SessionView, lang: Lang) -> dict[str, str]:
    code = str(session.error_code)
    kind = errors.KINDS.get(code)
    return {"code": code, "message": (kind.fa if lang == "fa" else kind.en) if kind else code}


def _common_name(subject: str) -> str:
    # A person reads their name, not an RFC 4514 string of OIDs; the full subject stays in the API.
    try:
        names = x509.Name.from_rfc4514_string(subject).get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return subject
    return str(names[0].value) if names else subject


def _platform_name(session: SessionView, doc: DocumentView, lang: Lang) -> str:
    deployment = app_services().deployment
    platform = deployment.platforms.get(doc.api_key_sha256 or "")
    if platform is not None:
        return platform.name_fa if lang == "fa" else platform.name_en
    org = deployment.organisations.get(session.organisation)
    if org is not None:
        return org.name_fa if lang == "fa" else org.name_en
    return session.organisation


def _document_json(member: SessionDocument, lang: Lang) -> dict[str, Any]:
    doc, shown = member.document, _signed_over(member)
    return {
        "name": doc.name,
        "pages": doc.pages,
        "pages_text": format_int(doc.pages, lang),
        "sha256": shown.sha256,
        "size": shown.size,
        "size_text": f"{format_int(shown.size, lang)} {word('bytes', lang)}",
        "created_at_text": format_datetime(doc.created_at, lang),
    }


def _signed_over(member: SessionDocument) -> RevisionView:
    """The revision the bidder was shown and signed: the one before the signature's, once there is one.

    The digest on the page stays the one the bidder compared with their app, not the signed file's.
    """
    revisions, number = member.document.revisions, member.session.signed_revision
    if number is not None and 0 < number <= len(revisions):
        return revisions[number - 1]
    return member.document.head


def _expected_json(session: SessionView, lang: Lang) -> dict[str, Any]:
    expected = session.expected_signer
    return {
        "national_id": localize_digits(expected.national_id, lang) if expected.national_id else None,
        "role": expected.role,
    }


def qr_data_url(link: str) -> str:
    """A QR code of ``link`` as a data: URL for an <img> (the signing page's and the console's)."""
    # segno's SVG as a data: URL for an <img>: no external QR service, no inline markup to trust.
    svg = io.BytesIO()
    segno.make(link, error="m").save(svg, kind="svg", scale=4, border=2, xmldecl=False)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.getvalue()).decode("ascii")

