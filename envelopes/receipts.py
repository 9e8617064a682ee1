"""Submission receipts: the small PDF a platform's seal signs when a bid envelope is submitted.

The receipt lists the tender, the bidder, the envelope's kind, and for each
document the exact revision submitted (its SHA-256) with who signed it and
when their timestamps prove it. It cannot print its own official time: that
is the signature timestamp of the seal put on it afterwards, which
:func:`signature_timestamp` reads back, so the receipt says where to find it.

Drawn with fpdf2 and Vazirmatn, Persian shaped by HarfBuzz, the way the PDF
validation report is (:mod:`validation.reports.pdf`): Persian first, right to
left, and English under it, left to right.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from asn1crypto import cms, tsp
from cryptography import x509
from fpdf import FPDF
from pyhanko.pdf_utils.reader import PdfFileReader

from pakat import errors
from pakat.dates import format_datetime, iso_utc
from pakat.errors import PakatError
from pakat.fonts import BOLD, REGULAR
from pakat.text import Lang, contains_rtl, persian_digits
from validation.reports.pdf import FONT_FAMILY, INK, LINE, MUTED, TONE_INK, isolate

KIND_NAMES = {
    "A": ("الف — تضمین شرکت در مناقصه", "A — bid guarantee"),
    "B": ("ب — پیشنهاد فنی و بازرگانی", "B — technical offer"),
    "C": ("ج — پیشنهاد قیمت", "C — price offer"),
}


@dataclass(frozen=True)
class ReceiptSigner:
    """One signature on a submitted document, as the receipt lists it."""

    kind: Literal["signature", "seal"]
    name: str | None
    national_id: str | None
    role: str | None
    timestamp: datetime | None  # the signature timestamp's time: when it is proven to exist


@dataclass(frozen=True)
class ReceiptDocument:
    """One submitted document: which revision, its digest, and its signatures."""

    position: int
    document_id: str
    name: str
    revision: int
    sha256: str
    signers: tuple[ReceiptSigner, ...]


@dataclass(frozen=True)
class ReceiptContents:
    """Everything a receipt states, also kept as JSON beside the sealed PDF."""

    envelope_id: str
    kind: str
    tender_reference: str
    tender_title_fa: str
    tender_title_en: str
    deadline: datetime
    bidder_national_id: str
    bidder_name_fa: str
    bidder_name_en: str
    platform_fa: str
    platform_en: str
    issued_at: datetime  # the server's clock when drawn: informative only
    documents: tuple[ReceiptDocument, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values, times in ISO 8601 UTC."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class TimestampProof:
    """The signature timestamp of a sealed PDF: the official submission time and the token that proves it."""

    time: datetime
    tsa: str  # the TSA certificate's subject
    token_sha256: str  # of the token's DER (a CMS ContentInfo)
    serial: str  # the token's serial number, hex


def render_receipt(contents: ReceiptContents) -> bytes:
    """The receipt as a complete PDF (A4, Vazirmatn subset embedded); nothing is fetched."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.add_font(FONT_FAMILY, "", str(REGULAR))
    pdf.add_font(FONT_FAMILY, "B", str(BOLD))
    pdf.set_title(f"Pakat submission receipt — {contents.tender_reference} — {contents.kind}")
    pdf.set_creator("Pakat")
    # fpdf2's default opening view ([page /FitH null]) puts a null in the catalog, which Pakat's
    # incremental writer (signer/pdf.py) refuses to carry over when sealing: a whole-page view has none.
    pdf.set_display_mode("fullpage")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    _Drawer(pdf).draw(contents)
    return bytes(pdf.output())


def signature_timestamp(path: Path) -> TimestampProof:
    """The signature timestamp of the first signature in the PDF at ``path`` (a receipt just sealed).

    Raises INTERNAL if there is none: the caller sealed at a timestamped level.
    """
    with path.open("rb") as stream:
        signatures = PdfFileReader(stream).embedded_regular_signatures
        if not signatures:
            raise PakatError(errors.INTERNAL, "the sealed receipt holds no signature")
        attributes = signatures[0].signer_info["unsigned_attrs"]
        tokens = [a["values"][0] for a in attributes if a["type"].native == "signature_time_stamp_token"] \
            if attributes else []
    if not tokens:
        raise PakatError(errors.INTERNAL, "the receipt's seal carries no signature timestamp")
    token: cms.ContentInfo = tokens[0]
    signed: cms.SignedData = token["content"]
    info: tsp.TSTInfo = signed["encap_content_info"]["content"].parsed
    return TimestampProof(
        time=info["gen_time"].native,
        tsa=_tsa_subject(signed),
        token_sha256=hashlib.sha256(token.dump()).hexdigest(),
        serial=format(info["serial_number"].native, "x"),
    )


def _tsa_subject(signed: cms.SignedData) -> str:
    sid = signed["signer_infos"][0]["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number" and cert.serial_number == sid.chosen["serial_number"].native:
            return x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
        if sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(cert.dump()).subject.rfc4514_string()
    return "unknown"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class _Drawer:
    """Top to bottom: each item in Persian (right to left), then in English (left to right)."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf

    def draw(self, c: ReceiptContents) -> None:
        kind_fa, kind_en = KIND_NAMES.get(c.kind, (c.kind, c.kind))
        self.line("رسید ارسال پاکت مناقصه", "fa", 16, bold=True, color=TONE_INK["ok"])
        self.line("Bid envelope submission receipt", "en", 11, color=MUTED)
        self.space(2)
        self.line(f"سامانه: {c.platform_fa}", "fa", 9.5, color=MUTED)
        self.line(f"Platform: {c.platform_en}", "en", 8.5, color=MUTED)
        self.rule()

        self.heading("مناقصه", "Tender")
        self.pair(f"شماره: {self.iso_fa(c.tender_reference)} — {c.tender_title_fa}",
                  f"Reference: {c.tender_reference} — {c.tender_title_en}")
        self.pair(f"مهلت ارسال: {format_datetime(c.deadline, 'fa')}",
                  f"Submission deadline: {format_datetime(c.deadline, 'en')}")
        self.heading("پیشنهاددهنده و پاکت", "Bidder and envelope")
        self.pair(f"پیشنهاددهنده: {c.bidder_name_fa} — شناسه ملی {persian_digits(c.bidder_national_id)}",
                  f"Bidder: {c.bidder_name_en} — national ID {c.bidder_national_id}")
        self.pair(f"پاکت {kind_fa}", f"Envelope {kind_en}")
        self.line(f"Envelope ID {c.envelope_id}", "en", 8, color=MUTED)

        self.heading("اسناد ارسال‌شده", "Documents submitted")
        for doc in c.documents:
            self.document(doc)

        self.heading("زمان رسمی ارسال", "Official submission time")
        self.pair(
            "زمان رسمی ارسال، زمانِ مهر زمانی امضای همین رسید است: مهر سامانه روی این فایل را اعتبارسنجی کنید.",
            "The official submission time is the signature timestamp of the seal on this receipt: "
            "validate the seal on this file to read it.",
        )
        self.pair(f"تهیهٔ رسید (ساعت سرور): {format_datetime(c.issued_at, 'fa')}",
                  f"Receipt drawn (server clock): {format_datetime(c.issued_at, 'en')}", color=MUTED)

    def document(self, doc: ReceiptDocument) -> None:
        n = doc.position + 1
        # The name in its own direction: fpdf2's bidi splits a Persian name at a ZWNJ inside an English line.
        if contains_rtl(doc.name):
            self.line(f"{persian_digits(str(n))}. {self.iso_fa(doc.name)}", "fa", 10, bold=True)
        else:
            self.line(f"{n}. {doc.name}", "en", 10, bold=True)
        self.line(f"نسخهٔ {persian_digits(str(doc.revision))} از سند {self.iso_fa(doc.document_id)}", "fa", 8.5,
                  color=MUTED)
        self.line(f"Revision {doc.revision} of document {doc.document_id}", "en", 8, color=MUTED)
        self.line(f"SHA-256: {doc.sha256}", "en", 8.5, color=INK)
        for s in doc.signers:
            what_fa = "مهر سازمانی" if s.kind == "seal" else "امضا"
            what_en = "Company seal" if s.kind == "seal" else "Signature"
            when_fa = format_datetime(s.timestamp, "fa") if s.timestamp else "بدون مهر زمانی"
            when_en = format_datetime(s.timestamp, "en") if s.timestamp else "no timestamp"
            role = f" — {s.role}" if s.role else ""
            nid = s.national_id or "—"
            self.line(f"{what_fa}: {self.iso_fa(s.name or '—')}{role} — شناسه {persian_digits(nid)} — {when_fa}",
                      "fa", 8.5, color=MUTED)
            self.line(f"{what_en}: {self.iso_en(s.name or '—')}{role} — ID {nid} — {when_en}", "en", 8,
                      color=MUTED)
        self.space(2)

    # -- pieces ------------------------------------------------------------------------

    def iso_fa(self, text: str) -> str:
        return isolate(text, "rtl")

    def iso_en(self, text: str) -> str:
        return isolate(text, "ltr")

    def heading(self, fa: str, en: str) -> None:
        self.space(2)
        self.line(f"{fa} / {isolate(en, 'rtl')}", "fa", 11.5, bold=True)
        self.space(0.5)

    def pair(self, fa: str, en: str, *, color: tuple[int, int, int] = INK) -> None:
        self.line(fa, "fa", 9.5, color=color)
        self.line(en, "en", 8.5, color=MUTED if color == INK else color)
        self.space(0.8)

    def line(self, text: str, lang: Lang, size: float, *, bold: bool = False,
             color: tuple[int, int, int] = INK) -> None:
        pdf = self.pdf
        rtl = lang == "fa"
        # One paragraph direction per line: Persian lines right to left, English left to right.
        pdf.set_text_shaping(use_shaping_engine=True, direction="rtl" if rtl else "ltr")
        pdf.set_font(FONT_FAMILY, "B" if bold else "", size)
        pdf.set_text_color(*color)
        pdf.multi_cell(0, size * 0.55, text, align="R" if rtl else "L", new_x="LMARGIN", new_y="NEXT")

    def rule(self) -> None:
        pdf = self.pdf
        self.space(1.5)
        pdf.set_draw_color(*LINE)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        self.space(1.5)

    def space(self, mm: float) -> None:
        self.pdf.ln(mm)
