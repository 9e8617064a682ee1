"""The reports people read: labels, Jalali dates, the HTML page and the PDF, on hand-built reports.

No validator here: every report is built by hand, so each renderer is tested on
exactly the case it must draw (a hostile signer name, a failed signature with
no certificate, a file without signatures). The PDF is checked the way a
reader would meet it: poppler's ``pdftotext`` must give the Persian words
back, and the glyphs drawn must be the joined (initial, medial, final) forms,
not the isolated letters an unshaped renderer would place.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pytest
from fontTools.ttLib import TTFont

from pakat.dates import format_date, format_datetime, format_int
from validation.model import (
    REPORT_SCHEMA_VERSION,
    Affiliation,
    CertificateInfo,
    ChainReport,
    DocumentReport,
    Finding,
    Indication,
    IntegrityReport,
    Modification,
    ModificationReport,
    RevocationReport,
    RevocationStatus,
    Severity,
    SignatureKind,
    SignatureReport,
    SignerIdentity,
    SignerKind,
    SubIndication,
    Text,
    TimestampReport,
)
from validation.reports import labels
from validation.reports.html import render_fragment, render_html
from validation.reports.pdf import FONT_DIR, FONT_FILES, isolate, render_pdf
from validation.reports.view import build_view

MOMENT = datetime(2026, 11, 22, 11, 0, 5, tzinfo=UTC)  # ۱۴۰۵/۰۹/۰۱ ۱۴:۳۰:۰۵ in Tehran
RLO = "\u202e"
HOSTILE = f"<script>alert('x')</script>{RLO}fdp.exe"
PERSIAN_LETTERS = re.compile(r"[\u0600-\u06ff]")
BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# -- hand-built reports -------------------------------------------------------------------

def cert(cn: str, subject: str) -> CertificateInfo:
    return CertificateInfo(
        subject=subject, common_name=cn, issuer="CN=Pakat Dev General CA,O=Pakat Dev,C=IR",
        serial_number="4f3a9c01", not_before=datetime(2025, 3, 21, tzinfo=UTC),
        not_after=datetime(2027, 3, 20, tzinfo=UTC), sha256="ab" * 32, key="RSA-2048",
    )


def signature(
    name: str = "شرکت نمونه پاکت [Stamp]", *, index: int = 1,
    indication: Indication = Indication.TOTAL_PASSED, sub: SubIndication | None = None,
) -> SignatureReport:
    signer_cert = cert(name, f"CN={name},serialNumber=10101234567,C=IR")
    return SignatureReport(
        index=index, field_name="Pakat Seal 1", kind=SignatureKind.APPROVAL, indication=indication,
        sub_indication=sub, reason=Text("امضا معتبر است.", "The signature is valid."), revision=0,
        subfilter="/ETSI.CAdES.detached", pades_level="B-LTA",
        signer=SignerIdentity(
            name=name, national_id="10101234567", organisation="شرکت نمونه پاکت", organisational_unit=None,
            title="Chief Procurement Officer", kind=SignerKind.ORGANISATION_SEAL,
            affiliation=Affiliation.PRIVATE, assurance_level=None, certificate=signer_cert,
        ),
        chain=ChainReport(trusted=True, anchor="CN=Pakat Dev Root,C=IR", anchor_sha256="cd" * 32,
                          certificates=[signer_cert, cert("Pakat Dev Root", "CN=Pakat Dev Root,C=IR")],
                          problem=None),
        revocation=RevocationReport(RevocationStatus.GOOD, "embedded", "OCSP", MOMENT, None, None),
        integrity=IntegrityReport([0, 1000, 9000, 500], True, "entire_revision", True, True),
        modifications=ModificationReport(Modification.LTA_UPDATES, None, None),
        claimed_signing_time=datetime(2026, 11, 22, 10, 59, 58, tzinfo=UTC), best_signature_time=MOMENT,
        timestamps=[TimestampReport(kind="signature", time=MOMENT, tsa="CN=Pakat Dev TSA,C=IR", intact=True,
                                    trusted=True, digest_algorithm="sha256")],
        digest_algorithm="sha256", signature_algorithm="sha256_rsa",
        findings=[Finding("CLAIMED_TIME_BEFORE_TIMESTAMP", Severity.INFO,
                          Text("زمان ادعاشده پیش از مهر زمانی است.", "The claimed time precedes the timestamp."))],
    )


def document(*signatures: SignatureReport, indication: Indication = Indication.TOTAL_PASSED,
             sub: SubIndication | None = None) -> DocumentReport:
    return DocumentReport(
        schema_version=REPORT_SCHEMA_VERSION, generator="Pakat 0.1.0", validation_time=MOMENT,
        file_name="پاکت-ب.pdf", file_sha256="ef" * 32, file_size=123456, indication=indication,
        sub_indication=sub, reason=Text("همه امضاها معتبرند.", "All signatures are valid."),
        signatures=list(signatures),
        document_timestamps=[TimestampReport(kind="document", time=MOMENT, tsa="CN=Pakat Dev TSA,C=IR",
                                             intact=True, trusted=True, digest_algorithm="sha256",
                                             field_name="Pakat Archive Timestamp 1", covers_entire_file=True)],
        revisions=3, trust_anchors=["CN=Pakat Dev Root,C=IR"],
        policy={"allowed_digests": ["sha256", "sha384"], "digest_sunsets": {"sha1": "2017-01-01T00:00:00+00:00"},
                "min_rsa_bits": 2048, "min_ec_bits": 256, "revocation": "require", "clock_skew_seconds": 300},
    )


def broken_signature() -> SignatureReport:
    """A signature whose /Contents could not be read: no signer, no chain, nothing analysed."""
    return dataclasses.replace(
        signature(index=2, indication=Indication.TOTAL_FAILED, sub=SubIndication.FORMAT_FAILURE),
        reason=Text("ساختار امضا خراب است.", "The signature is malformed."),
        signer=None, chain=None, revocation=None, timestamps=[], pades_level=None, subfilter=None,
        integrity=IntegrityReport(None, False, "unclear", None, None),
        modifications=ModificationReport(None, None, None), claimed_signing_time=None,
        digest_algorithm=None, signature_algorithm=None,
        findings=[Finding("BYTE_RANGE_PAST_EOF", Severity.ERROR, Text(
            "بازه بایت‌ها از انتهای فایل می‌گذرد.", "The byte range runs past the end of the file."))],
    )


# -- labels and dates ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("enum_type", "table"),
    [
        (Indication, labels.INDICATIONS), (Indication, labels.INDICATION_MEANINGS),
        (SubIndication, labels.SUB_INDICATIONS), (Modification, labels.MODIFICATIONS),
        (SignatureKind, labels.SIGNATURE_KINDS), (SignerKind, labels.SIGNER_KINDS),
        (Affiliation, labels.AFFILIATIONS), (RevocationStatus, labels.REVOCATION_STATUSES),
        (Severity, labels.SEVERITIES),
    ],
    ids=lambda x: x.__name__ if isinstance(x, type) else "",
)
def test_every_model_value_has_a_label_in_both_languages(enum_type: type[enum.Enum], table: dict) -> None:
    assert set(table) == set(enum_type)
    for text in table.values():
        assert PERSIAN_LETTERS.search(text.fa), text
        assert text.en and not PERSIAN_LETTERS.search(text.en), text


def test_indication_words_a_clerk_understands() -> None:
    assert labels.INDICATIONS[Indication.TOTAL_PASSED] == Text("معتبر", "Valid")
    assert labels.INDICATIONS[Indication.TOTAL_FAILED] == Text("نامعتبر", "Invalid")
    assert labels.INDICATIONS[Indication.INDETERMINATE] == Text("نامشخص", "Indeterminate")
    assert labels.parse_lang("EN") == "en" and labels.parse_lang(None) == "fa" and labels.parse_lang("de") == "fa"


def test_persian_dates_are_jalali_in_tehran_time_with_persian_digits() -> None:
    assert format_datetime(MOMENT, "fa") == "۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۳۰:۰۵ (تهران)"
    assert format_datetime(MOMENT, "en") == "2026-11-22 11:00:05 UTC"
    # Tehran is 3:30 ahead: 21:00 UTC on 20 March 2026 is already Nowruz, 1 Farvardin 1405.
    assert format_datetime(datetime(2026, 3, 20, 21, 0, tzinfo=UTC), "fa") == "۱۴۰۵/۰۱/۰۱ ساعت ۰۰:۳۰:۰۰ (تهران)"
    assert format_datetime(datetime(2026, 3, 20, 20, 0, tzinfo=UTC), "fa").startswith("۱۴۰۴/۱۲/۲۹")
    assert format_date(datetime(2026, 3, 20, 21, 0, tzinfo=UTC), "en") == "2026-03-20"
    # A naive datetime is UTC, not the server's local time.
    assert format_datetime(MOMENT.replace(tzinfo=None), "fa") == format_datetime(MOMENT, "fa")
    assert format_int(123456, "fa") == "۱۲۳٬۴۵۶" and format_int(123456, "en") == "123,456"


# -- HTML ---------------------------------------------------------------------------------------

def test_html_persian_is_rtl_jalali_and_self_contained() -> None:
    page = render_html(document(signature()), "fa")
    assert page.startswith("<!doctype html>")
    assert '<html lang="fa" dir="rtl">' in page
    assert "۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۳۰:۰۵ (تهران)" in page
    assert "معتبر" in page and 'data-indication="TOTAL_PASSED"' in page and "pk-badge-ok" in page
    assert "B-LTA" in page and "CLAIMED_TIME_BEFORE_TIMESTAMP" in page
    assert "<style>" in page
    # Nothing to fetch: no URL, no script, no external stylesheet or font.
    for needle in ("://", "<script", "<link", "src=", "url(", "@import"):
        assert needle not in page, needle


def test_html_english_is_ltr_with_utc_dates() -> None:
    page = render_html(document(signature()), "en")
    assert '<html lang="en" dir="ltr">' in page
    assert "2026-11-22 11:00:05 UTC" in page and ">Valid<" in page
    assert "۱۴۰۵" not in page


def test_html_escapes_a_hostile_signer_name() -> None:
    page = render_html(document(signature(HOSTILE)), "fa")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert RLO not in page, "a right-to-left override from a certificate must not reach the page"
    assert "fdp.exe" in page


def test_html_failed_and_partial_reports() -> None:
    report = document(signature(), broken_signature(), indication=Indication.TOTAL_FAILED,
                      sub=SubIndication.FORMAT_FAILURE)
    page = render_html(report, "fa")
    assert "pk-badge-bad" in page and "نامعتبر" in page
    assert labels.SUB_INDICATIONS[SubIndication.FORMAT_FAILURE].fa in page
    assert "BYTE_RANGE_PAST_EOF" in page and "FORMAT_FAILURE" in page
    assert labels.UI["chain_not_checked"].fa in page and labels.NOT_ANALYSED.fa in page
    empty = render_html(document(), "en")
    assert labels.UI["no_signatures"].en in empty


def test_fragment_is_the_article_alone() -> None:
    fragment = str(render_fragment(document(signature()), "fa"))
    assert fragment.lstrip().startswith("<article") and fragment.rstrip().endswith("</article>")
    assert "<html" not in fragment and 'dir="rtl"' in fragment


# -- PDF ----------------------------------------------------------------------------------------

def pdftotext(data: bytes, tmp_path: Path) -> str:
    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) is required"
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True).stdout
    # pdftotext wraps right-to-left runs in bidi embedding marks; the letters in between are in logical order.
    return BIDI_MARKS.sub("", out.decode("utf-8"))


def test_pdf_persian_text_comes_back_in_logical_order(tmp_path: Path) -> None:
    data = render_pdf(document(signature(HOSTILE)), "fa")
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    text = pdftotext(data, tmp_path)
    # Persian-only runs come back whole and in logical order. In a line that mixes Persian
    # with digit runs («۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۳۰:۰۵ (تهران)») poppler moves the spaces and the
    # parentheses around the digit runs, so the date is checked piece by piece.
    for words in ("گزارش اعتبارسنجی امضا", "معتبر", "امضاکننده", "۱۴۰۵/۰۹/۰۱", "ساعت", "۱۴:۳۰:۰۵", "تهران",
                  "B-LTA",
                  "<script>alert('x')</script>", "CLAIMED_TIME_BEFORE_TIMESTAMP", "TOTAL_PASSED"):
        assert words in text, words
    assert RLO not in text
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert str(pdf.Root.Lang) == "fa"


def test_pdf_english(tmp_path: Path) -> None:
    report = document(signature(), broken_signature(), indication=Indication.TOTAL_FAILED,
                      sub=SubIndication.FORMAT_FAILURE)
    text = pdftotext(render_pdf(report, "en"), tmp_path)
    for words in ("Signature validation report", "Invalid", "2026-11-22 11:00:05 UTC", "FORMAT_FAILURE",
                  "BYTE_RANGE_PAST_EOF", "شرکت نمونه پاکت"):
        assert words in text, words


def _outline(font: TTFont, glyph_name: str) -> tuple[object, ...]:
    coords, ends, _flags = font["glyf"][glyph_name].getCoordinates(font["glyf"])
    return tuple(coords), tuple(ends)


def test_pdf_draws_joined_letter_forms() -> None:
    """Every Persian letter inside a word is drawn with its contextual glyph, not the isolated one.

    The embedded subset font renumbers glyphs, so glyphs are compared by outline:
    for each CID the PDF maps (ToUnicode) to a letter, the subset glyph's outline
    is compared with the isolated glyph the original font's cmap gives for it.
    """
    data = render_pdf(document(signature()), "fa")
    original = TTFont(FONT_DIR / FONT_FILES["B"])  # the title is bold
    isolated = {cp: _outline(original, name) for cp, name in original.getBestCmap().items()}
    forms: dict[int, set[bool]] = {}
    with pikepdf.open(io.BytesIO(data)) as pdf:
        bold = next(f for f in pdf.pages[0].Resources.Font.values() if "Bold" in str(f.BaseFont))
        descendant = bold.DescendantFonts[0]
        subset = TTFont(io.BytesIO(descendant.FontDescriptor.FontFile2.read_bytes()))
        order = subset.getGlyphOrder()
        cid_to_gid = descendant.CIDToGIDMap.read_bytes()
        cmap = bold.ToUnicode.read_bytes().decode("ascii")
    for cid_hex, uni_hex in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]{4})>", cmap):
        cid, cp = int(cid_hex, 16), int(uni_hex, 16)
        if not 0x0620 <= cp <= 0x06FF or cp not in isolated:
            continue
        gid = int.from_bytes(cid_to_gid[2 * cid: 2 * cid + 2], "big")
        forms.setdefault(cp, set()).add(_outline(subset, order[gid]) == isolated[cp])
    # «گزارش اعتبارسنجی امضا»: ت ب س ن ج sit inside words and can only appear joined there.
    for letter in "تبسنج":
        assert False in forms.get(ord(letter), set()), f"{letter} is drawn only in its isolated form"
    joined = [chr(cp) for cp, kinds in forms.items() if False in kinds]
    assert len(joined) >= 8, joined


def test_isolate_keeps_technical_runs_in_their_direction() -> None:
    assert isolate("/ETSI.CAdES.detached", "rtl") == "\u200e/ETSI.CAdES.detached\u200e"
    assert isolate("[0 1000 9000 500]", "rtl").startswith("\u200e")
    assert isolate("شرکت نمونه", "ltr") == "\u200fشرکت نمونه\u200f"
    assert isolate("شرکت نمونه", "rtl") == "شرکت نمونه" and isolate("sha256", "ltr") == "sha256"


def test_views_cover_both_languages_without_persian_in_english_labels() -> None:
    report = document(signature(), broken_signature())
    english = build_view(report, "en")
    labels_used = [row.label for sig in english.signatures for s in sig.sections for row in s.rows]
    labels_used += [row.label for row in english.summary + english.policy]
    assert labels_used and not any(PERSIAN_LETTERS.search(label) for label in labels_used), labels_used
    persian = build_view(report, "fa")
    assert all(PERSIAN_LETTERS.search(row.label) for row in persian.summary)


def test_text_summary_strips_bidi_tricks_from_a_hostile_signer_name() -> None:
    from validation.reports.text import report_to_text

    text = report_to_text(document(signature(HOSTILE)))
    assert RLO not in text, "a right-to-left override from a certificate must not reorder the terminal line"
    assert "fdp.exe" in text


# -- distinguished names: attribute order, each value in its direction, types named ---------------

SEAL_DN = "CN=Pakat Demo Co. [Stamp],serialNumber=14000123453,O=شرکت نمونه پاکت,C=IR"
# As cryptography writes it: the types it has no short name for as dotted OIDs.
DOTTED_DN = ("CN=Pakat Demo Co. [Stamp],2.5.4.5=14000123453,2.5.4.97=NTRIR-14000123453,2.5.4.42=Ali,"
             "2.5.4.4=Rezaei,2.5.4.12=Chief Procurement Officer,2.5.4.65=bidder-7,"
             "1.2.840.113549.1.9.1=seal@example.ir,O=شرکت نمونه پاکت,C=IR")
NAMED = ("serialNumber=", "organizationIdentifier=", "givenName=", "surname=", "title=", "pseudonym=",
         "emailAddress=")
DOTTED = ("2.5.4.5=", "2.5.4.97=", "2.5.4.42=", "2.5.4.4=", "2.5.4.12=", "2.5.4.65=", "1.2.840.113549.1.9.1=")


def seal_report(subject: str = SEAL_DN, issuer: str = "CN=Pakat Dev General CA,O=Pakat Dev,C=IR",
                kind: SignerKind = SignerKind.ORGANISATION_SEAL) -> DocumentReport:
    sig = signature("Pakat Demo Co. [Stamp]")
    assert sig.signer is not None and sig.chain is not None
    info = dataclasses.replace(sig.signer.certificate, subject=subject, issuer=issuer)
    signer = dataclasses.replace(sig.signer, certificate=info, kind=kind,
                                 affiliation=None if kind is SignerKind.UNKNOWN else sig.signer.affiliation)
    chain = dataclasses.replace(sig.chain, anchor=subject, certificates=[info, *sig.chain.certificates[1:]])
    timestamps = [dataclasses.replace(sig.timestamps[0], tsa=subject)]
    report = document(dataclasses.replace(sig, signer=signer, chain=chain, timestamps=timestamps))
    report.trust_anchors = [subject]
    return report


def words_by_line(data: bytes, tmp_path: Path) -> list[list[tuple[float, str]]]:
    """Each line of the PDF's text as (x, word) left to right, from ``pdftotext -bbox``."""
    path = tmp_path / "bbox.pdf"
    path.write_bytes(data)
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], check=True, capture_output=True).stdout.decode()
    lines: dict[tuple[int, float], list[tuple[float, str]]] = {}
    page = 0
    for line in html.splitlines():
        if "<page " in line:
            page += 1
        found = re.search(r'xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>(.*)</word>', line)
        if found:
            x, y, word = float(found[1]), round(float(found[2])), BIDI_MARKS.sub("", found[3])
            lines.setdefault((page, y), []).append((x, word))
    return [sorted(words) for _, words in sorted(lines.items())]


def _letters(word: str) -> str:
    return "".join(PERSIAN_LETTERS.findall(word))


def _position(line: list[tuple[float, str]], wanted: str) -> float:
    """Where ``wanted`` starts on the line: a Latin token by substring, a Persian word in either letter order."""
    for x, word in line:
        if PERSIAN_LETTERS.search(wanted):
            letters = _letters(word)
            if letters in (wanted, wanted[::-1]):
                return x
        elif wanted in word:
            return x
    raise AssertionError(f"{wanted!r} not on {line}")


def _dn_lines(data: bytes, tmp_path: Path) -> list[list[tuple[float, str]]]:
    return [line for line in words_by_line(data, tmp_path) if any("serialNumber=" in w for _, w in line)]


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_pdf_dn_keeps_attribute_order_and_reads_persian_right_to_left(tmp_path: Path, lang: str) -> None:
    """The subject, the anchor, the TSA and the trust anchors all draw the DN one way: the clerks' bug.

    Read left to right, the attributes come in the certificate's order (CN, serialNumber, O, C), and
    the Persian organisation, in its place, reads right to left: «شرکت» rightmost, «پاکت» leftmost.
    """
    data = render_pdf(seal_report(), lang)  # type: ignore[arg-type]
    lines = _dn_lines(data, tmp_path)
    assert len(lines) >= 4, lines  # subject, chain anchor, TSA, trust anchor
    for line in lines:
        order = [_position(line, token) for token in ("CN=Pakat", "serialNumber=14000123453", "پاکت", "نمونه",
                                                       "شرکت", "C=IR")]
        assert order == sorted(order), line
    if lang == "en":
        # On an English page poppler's text comes back in logical order: compare it whole.
        text = pdftotext(data, tmp_path)
        assert "CN=Pakat Demo Co. [Stamp], serialNumber=14000123453, O=شرکت نمونه پاکت, C=IR" in text


def test_pdf_persian_value_with_digits_reads_right_to_left_in_its_place(tmp_path: Path) -> None:
    dn = "CN=Pakat Demo Co. [Stamp],serialNumber=14000123453,O=شرکت ساختمانی ۱۲۸,C=IR"
    for lang in ("fa", "en"):
        line = _dn_lines(render_pdf(seal_report(dn), lang), tmp_path)[0]  # type: ignore[arg-type]
        order = [_position(line, t) for t in ("CN=Pakat", "serialNumber=", "۱۲۸", "ساختمانی", "شرکت", "C=IR")]
        assert order == sorted(order), (lang, line)


def test_html_dn_isolates_each_value_in_its_own_direction() -> None:
    page = render_html(seal_report(), "fa")
    dn = ('<bdi dir="ltr" class="pk-dn">'
          '<span class="pk-attr">CN</span>=<bdi dir="ltr">Pakat Demo Co. [Stamp]</bdi>, '
          '<span class="pk-attr">serialNumber</span>=<bdi dir="ltr">14000123453</bdi>, '
          '<span class="pk-attr">O</span>=<bdi dir="rtl">شرکت نمونه پاکت</bdi>, '
          '<span class="pk-attr">C</span>=<bdi dir="ltr">IR</bdi></bdi>')
    assert page.count(dn) >= 4, "subject, anchor, TSA and trust anchor"  # attribute order kept
    english = render_html(seal_report(), "en")
    assert dn in english


def _monospaced(page: str) -> list[str]:
    return re.findall(r'class="pk-tech">([^<]*)<', page)


def test_html_monospace_only_for_hashes_serials_and_fingerprints() -> None:
    for lang in ("fa", "en"):
        page = render_html(seal_report(), lang)  # type: ignore[arg-type]
        mono = _monospaced(page)
        assert "ab" * 32 in mono and "4f3a9c01" in mono and "ef" * 32 in mono, mono
        for value in mono:
            assert re.fullmatch(r"-?[0-9a-fA-F]+|[0-9.]+", value), value
        # Persian values: in <bdi> marked right to left, never in the monospace class.
        assert not any(PERSIAN_LETTERS.search(v) for v in mono)
        assert '<bdi dir="rtl">شرکت نمونه پاکت</bdi>' in page
        for persian in re.findall(r"<bdi[^>]*>([^<]*[\u0600-\u06ff][^<]*)</bdi>", page):
            assert persian not in mono


def test_attribute_types_are_named_wherever_a_dn_is_shown(tmp_path: Path) -> None:
    report = seal_report(DOTTED_DN, issuer=DOTTED_DN)
    for lang in ("fa", "en"):
        page = render_html(report, lang)  # type: ignore[arg-type]
        for name in NAMED:
            assert f'<span class="pk-attr">{name[:-1]}</span>=' in page, name
        text = pdftotext(render_pdf(report, lang), tmp_path)  # type: ignore[arg-type]
        for name in NAMED:
            assert name in text, (lang, name)
        for dotted in DOTTED:
            assert dotted not in page and dotted not in text, (lang, dotted)
    view = build_view(report, "en")
    assert view.trust_anchors[0].text.startswith("CN=Pakat Demo Co. [Stamp], serialNumber=14000123453, "
                                                  "organizationIdentifier=NTRIR-14000123453, givenName=Ali")


def test_dn_parsing_keeps_escapes_multivalued_rdns_and_hex_values() -> None:
    view = build_view(seal_report(r"CN=Doe\, John+UID=jd,O=#0c02c328,2.5.4.72=Signer\20,C=IR"), "en")
    subject = next(r for s in view.signatures[0].sections for r in s.rows if r.label == "Subject")
    assert subject.name is not None
    assert [(p.attribute, p.value, p.separator) for p in subject.name.parts] == [
        ("CN", "Doe, John", ","), ("UID", "jd", "+"), ("O", "#0c02c328", ","), ("role", "Signer", ","),
        ("C", "IR", ","),
    ]
    assert subject.value == "CN=Doe, John + UID=jd, O=#0c02c328, role=Signer, C=IR"


# -- organisation seals ---------------------------------------------------------------------------

def test_an_organisation_seal_is_labelled_as_one(tmp_path: Path) -> None:
    report = seal_report()
    fa, en = render_html(report, "fa"), render_html(report, "en")
    assert '<span class="pk-kind">مهر سازمانی</span>' in fa
    assert '<span class="pk-kind">organisation seal</span>' in en
    assert "مهر سازمانی (خصوصی)" in fa and "Organisation seal (Private)" in en  # the signer section
    from validation.reports.text import report_to_text

    summary = report_to_text(report)
    assert "Pakat Demo Co. [Stamp] (مهر سازمانی)" in summary
    assert "Pakat Demo Co. [Stamp] (organisation seal)" in summary
    assert "مهر سازمانی" in pdftotext(render_pdf(report, "fa"), tmp_path)
    assert "organisation seal" in pdftotext(render_pdf(report, "en"), tmp_path)


def test_an_unclassified_stamp_is_not_called_a_seal_but_noted() -> None:
    """Only configured rules classify; a CN saying [Stamp] earns a note beside "Unknown", never the label."""
    report = seal_report(kind=SignerKind.UNKNOWN)
    fa, en = render_html(report, "fa"), render_html(report, "en")
    assert "pk-kind" not in en.split("</style>", 1)[1] and "pk-kind" not in fa.split("</style>", 1)[1]
    assert labels.SEAL_MARKER_UNCONFIRMED.en in en and labels.SEAL_MARKER_UNCONFIRMED.fa in fa
    assert "(organisation seal)" not in en


# -- what could not be read ---------------------------------------------------------------------

def test_unreadable_fields_and_placeholder_times_are_marked(tmp_path: Path) -> None:
    from validation.identity import UNREADABLE, UNREADABLE_TIME

    sig = signature()
    assert sig.signer is not None
    info = dataclasses.replace(sig.signer.certificate, subject=f"CN=x,{UNREADABLE},C=IR", issuer=UNREADABLE,
                               serial_number=UNREADABLE, not_before=UNREADABLE_TIME, not_after=UNREADABLE_TIME,
                               key=UNREADABLE)
    broken_ts = dataclasses.replace(sig.timestamps[0], time=datetime.min.replace(tzinfo=UTC))
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)  # Tehran is later still: past what datetime can hold
    sig = dataclasses.replace(sig, signer=dataclasses.replace(sig.signer, certificate=info),
                              timestamps=[broken_ts], claimed_signing_time=far)
    report = document(sig)
    fa, en = render_html(report, "fa"), render_html(report, "en")
    assert labels.UNREADABLE.fa in fa and labels.UNREADABLE.en in en
    assert labels.TIME_UNKNOWN.fa in fa and labels.TIME_UNKNOWN.en in en
    assert "0001-01-01" not in en
    for lang in ("fa", "en"):
        assert render_pdf(report, lang).startswith(b"%PDF-")  # type: ignore[arg-type]
