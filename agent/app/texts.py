"""Every text Pakat Signer shows, Persian first and English beside it, built without a display.

Window titles carry the English step name too, so a screen reader, the
taskbar and the tests can tell the windows apart; an error window's title
carries the error's stable code.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.app.known_servers import Server
from agent.flow import SignOutcome
from agent.pages import DocumentPages
from pakat import errors
from pakat.dates import format_int
from pakat.errors import PakatError
from pakat.text import clean_text

APP_NAME = "امضاکنندهٔ پاکت / Pakat Signer"

CONFIRM = "تأیید / Confirm"
TRUST = "به این سرور اعتماد دارم / Trust this server"
CANCEL = "لغو / Cancel"
CONTINUE = "ادامه: وارد کردن رمز / Continue: enter the PIN"
SIGN = "امضا / Sign"
CLOSE = "بستن / Close"
OK = "باشد / OK"
PREVIOUS_PAGE = "صفحهٔ قبل / Previous page"
NEXT_PAGE = "صفحهٔ بعد / Next page"


def title(step_en: str) -> str:
    """A window's title: the app, then the step in English (what the tests and the taskbar match)."""
    return f"Pakat Signer - {step_en}"


LINK_TITLE = title("Link")
SERVER_TITLE = title("Confirm server")
REVIEW_TITLE = title("Review")
PIN_TITLE = title("PIN")
CHOOSE_TITLE = title("Choose certificate")
WARNING_TITLE = title("Warning")
WORKING_TITLE = title("Working")
SIGNED_TITLE = title("Signed")


def error_title(error: PakatError) -> str:
    """The error window's title names the stable code, e.g. ``Pakat Signer - Error NO_MATCHING_CERTIFICATE``."""
    return title(f"Error {error.code}")


LINK_LINES = (
    "پیوند امضا (pakat://sign?…) را از سامانه کپی کنید و اینجا بچسبانید.",
    "Copy the signing link (pakat://sign?…) from the platform and paste it here.",
)

WORKING_LINES = ("لطفاً صبر کنید… / Please wait…",)


def server_lines(server: Server) -> list[str]:
    """The first-use question: is this host the user's own platform?"""
    lines = [
        "نخستین بار است که پیوندی از این سرور باز می‌کنید.",
        "This is the first signing link from this server.",
        f"سرور / Server: {clean_text(server.host)}",
        "فقط اگر این نشانی سامانهٔ تدارکات خودتان است تأیید کنید؛ تا تأیید نکنید چیزی به آن فرستاده نمی‌شود.",
        "Confirm only if this is your own e-procurement platform's address; nothing is sent to it until you do.",
    ]
    if server.origin.startswith("http://"):
        lines.append(
            "(نشانی آزمایشی روی همین رایانه، بدون https / a development address on this computer, no https)"
        )
    return lines


def review_lines(session_lines: Sequence[str], picture: Sequence[str]) -> list[str]:
    """What will be signed (the flow's own lines) and what the picture beside them is."""
    return [*[line.strip() for line in session_lines], *picture]


def pages_lines(pages: DocumentPages) -> list[str]:
    """The picture is the document's own pages, drawn here; and how many were left out."""
    lines = [
        "تصویر: صفحه‌های خود سند، کشیده‌شده روی همین رایانه پس از سنجیدن SHA-256 آن.",
        "Picture: the document's own pages, drawn on this computer after checking its SHA-256.",
    ]
    if pages.left_out:
        shown, total = len(pages.images), pages.total
        lines.append(
            f"فقط {format_int(shown, 'fa')} صفحهٔ نخست از {format_int(total, 'fa')} صفحه نشان داده می‌شود."
            f" / Only the first {shown} of the {total} pages are shown."
        )
    return lines


def preview_lines(preview_shown: bool, not_drawn: PakatError | None = None) -> list[str]:
    """The server's picture stands in for the pages: why they were not drawn here, and what the picture is."""
    lines = []
    if not_drawn is not None:
        lines.append(f"صفحه‌ها روی این رایانه کشیده نشد ({not_drawn.code}: {not_drawn.kind.fa})"
                     f" / The pages were not drawn on this computer ({not_drawn.code}: {not_drawn.kind.en})")
    lines.append(
        "تصویر: صفحهٔ نخست سند، آن‌گونه که سرور آن را نشان می‌دهد. / Picture: the document's first page, as the"
        " server renders it."
        if preview_shown
        else "پیش‌نمایش سند در دسترس نیست. / The document's preview is not available."
    )
    return lines


def page_label(number: int, count: int) -> str:
    """Which drawn page is in view, counted from 1."""
    return f"صفحهٔ {format_int(number, 'fa')} از {format_int(count, 'fa')} / Page {number} of {count}"


def page_labels(drawn: Sequence[int]) -> list[str]:
    """The label of every drawn page, the documents' pages one after another (``drawn``: pages per document).

    With several documents each label also says which document:
    "سند ۲ از ۳، صفحهٔ ۱ از ۴ / Document 2 of 3, page 1 of 4".
    """
    if len(drawn) == 1:
        return [page_label(n, drawn[0]) for n in range(1, drawn[0] + 1)]
    count = len(drawn)
    return [
        f"سند {format_int(d, 'fa')} از {format_int(count, 'fa')}، صفحهٔ {format_int(n, 'fa')} از"
        f" {format_int(pages, 'fa')} / Document {d} of {count}, page {n} of {pages}"
        for d, pages in enumerate(drawn, 1) for n in range(1, pages + 1)
    ]


def pin_lines(warnings: Sequence[str]) -> list[str]:
    """The PIN question, with what the token said about tries left."""
    return [
        "رمز (PIN) توکن را وارد کنید.",
        "Enter the token's PIN.",
        "رمز فقط به توکن داده می‌شود؛ به سرور فرستاده و جایی نوشته نمی‌شود.",
        "The PIN goes only to the token; it is never sent to the server or written anywhere.",
        *warnings,
    ]


_AFTERWARDS = {
    errors.WRONG_PIN.code: (
        "نشست هنوز باز است؛ پیوند را دوباره باز کنید و رمز درست را وارد کنید.",
        "The session is still open: open the link again and enter the right PIN.",
    ),
    errors.NO_MATCHING_CERTIFICATE.code: (
        "رمز پرسیده نشد و چیزی فرستاده نشد.",
        "No PIN was asked and nothing was sent.",
    ),
}


def error_lines(error: PakatError) -> list[str]:
    """An error for people: the stable code, the Persian and English message, the detail, and what next."""
    lines = [f"کد خطا / Error code: {error.code}", error.kind.fa, error.kind.en]
    if error.detail:
        lines.append(f"({clean_text(error.detail)})")
    lines += _AFTERWARDS.get(error.code, ())
    return lines


def error_line(error: PakatError) -> str:
    """The one-line form written to stderr, as the CLI agent writes it."""
    detail = f" ({clean_text(error.detail)})" if error.detail else ""
    return f"{error.code}: {error.kind.fa} / {error.kind.en}{detail}"


def result_lines(outcome: SignOutcome) -> list[str]:
    """The server's acceptance, for people."""
    cert = outcome.certificate
    signed = [f"SHA-256: {d.sha256}" for d in outcome.documents if d.signed]
    return [
        *outcome.lines(),
        *signed,
        f"گواهی / Certificate: {cert.get('subject_cn', '')} ({cert.get('national_id') or '—'})",
        "می‌توانید این پنجره را ببندید. / You can close this window.",
    ]
