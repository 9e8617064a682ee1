"""Visible signature blocks: placed where asked (or in the free area at the end of the last page), never on
top of each other, Persian shaped and extractable, and every signature still valid.

Real parts throughout: seals signed in SoftHSM, a person's signature through signer.external with their
SoftHSM token, validation by our engine and by pyHanko, text extraction by poppler's pdftotext and
rendering by pdftoppm.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from fontTools.ttLib import TTFont
from pakat_testkit import api_key, pakat_command, pdf_bytes, process_env
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from signing_checks import assert_pades_level, load_asn1_certificate

from devkit.devsetup import DevEnvironment
from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment, validation_config
from pakat import fonts
from pakat.dates import format_datetime
from pakat.errors import InputError
from signer.appearance import BlockFacts, BlockKind, shape, visible_widget
from signer.cms import SHA256
from signer.external import ExpectedSigner, check_signer_certificate, finish_signature, prepare_signature
from signer.keys import Pkcs11Key
from signer.levels import PadesLevel
from signer.pades import SignatureDetails
from signer.pdf import PdfSource, signature_dictionary
from signer.placement import MM, VisibleSignature
from validation.engine import Validator
from validation.model import Indication

LIMIT = 20 * 1024 * 1024
A4 = (595, 842)
BIDI_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# -- fixtures and helpers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(dev_env: DevEnvironment) -> Iterator[SealService]:
    svc = SealService(load_deployment(dev_env.deployment_path))
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def validator(service: SealService) -> Validator:
    return Validator(validation_config(service.deployment))


def envelope(path: Path, pages: int = 3) -> Path:
    path.write_bytes(pdf_bytes("Envelope B", pages=pages))
    return path


def hand_made_pdf(path: Path, tree_keys: bytes) -> Path:
    """One page whose MediaBox and ``tree_keys`` sit on the page tree, inherited (qpdf would push them down)."""
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1/MediaBox[0 0 595 842]" + tree_keys + b">>",
        b"<</Type/Page/Parent 2 0 R/Resources<<>>/Contents 4 0 R>>",
        b"<</Length 27>>stream\n0 0 1 rg 50 700 100 50 re f\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def widgets(data: bytes) -> list[dict[str, Any]]:
    """Every signature widget: its field name, page (0-based), /Rect and appearance XObject."""
    found = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pages = {page.obj.objgen: n for n, page in enumerate(pdf.pages)}
        for field in pdf.Root.AcroForm.Fields:
            if field.get("/FT") != pikepdf.Name.Sig:
                continue
            ap = field.get("/AP")
            found.append({
                "name": str(field.T),
                "page": pages[field.P.objgen],
                "on_page_annots": any(a.objgen == field.objgen for a in field.P.get("/Annots", [])),
                "rect": tuple(float(v) for v in field.Rect),
                "form": ap.N.read_bytes() if ap is not None else None,
                "matrix": [float(v) for v in ap.N.get("/Matrix", [])] if ap is not None else None,
            })
    return found


def visible(data: bytes) -> list[dict[str, Any]]:
    return [w for w in widgets(data) if w["form"] is not None]


def overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def text_of(path: Path, page: int) -> str:
    out = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(path), "-"],
                         capture_output=True, text=True, check=True).stdout
    return BIDI_MARKS.sub("", out)


def render_page(path: Path, page: int, tmp: Path) -> Image.Image:
    """The page as pdftoppm shows it at 72 dpi: one pixel per point."""
    stem = tmp / f"render-{uuid.uuid4().hex[:6]}"
    subprocess.run(["pdftoppm", "-r", "72", "-f", str(page), "-l", str(page), "-singlefile", "-png",
                    str(path), str(stem)], check=True)
    return Image.open(f"{stem}.png").convert("L")


def ink(image: Image.Image, box: tuple[float, float, float, float]) -> float:
    """The share of non-white pixels in ``box`` (x0, y0, x1, y1 in points from the bottom-left)."""
    x0, y0, x1, y1 = box
    height = image.height
    crop = image.crop((round(x0), round(height - y1), round(x1), round(height - y0)))
    histogram = crop.histogram()  # grey levels: 0 black … 255 white
    return sum(histogram[:245]) / max(1, sum(histogram))


def trusted_context(dev_env: DevEnvironment) -> ValidationContext:
    return ValidationContext(trust_roots=[load_asn1_certificate(dev_env.root_cert_path)], allow_fetching=True)


def person_signs(dev_env: DevEnvironment, service: SealService, user_id: str, source: Path, out: Path,
                 appearance: VisibleSignature | None) -> None:
    """A person's signature with their own SoftHSM token, through signer.external as a session does it."""
    user = dev_env.users[user_id]
    certificate = user.certificate()
    signer = check_signer_certificate(certificate, [], service.trust, service.revocation, ExpectedSigner())
    prepared = prepare_signature(source, signer, SHA256, SignatureDetails(field_stem="Pakat Signature",
                                                                          appearance=appearance),
                                 timestamp_reserve=0, max_bytes=LIMIT)
    key = Pkcs11Key(module=dev_env.softhsm_module, token_label=user.token_label, key_label=user.key_label,
                    certificate=certificate, pin=user.read_pin, module_env=dev_env.softhsm_env())
    try:
        signature = key.sign_digest(prepared.digest, SHA256)
    finally:
        key.close()
    finish_signature(prepared, source, signer, signature, out)


# -- the default place, validity ---------------------------------------------------------------------


def test_default_block_sits_at_the_bottom_of_the_last_page_and_validates(
    service: SealService, validator: Validator, dev_env: DevEnvironment, tmp_path: Path
) -> None:
    source = envelope(tmp_path / "in.pdf", pages=3)
    out = tmp_path / "sealed.pdf"
    result = service.seal("demo-co", source, out, PadesLevel.B_LTA, appearance=VisibleSignature())
    data = out.read_bytes()

    (block,) = visible(data)
    assert block["page"] == 2 and block["on_page_annots"], "the block belongs on the last page's /Annots"
    x0, y0, x1, y1 = block["rect"]
    assert (x1 - x0, y1 - y0) == pytest.approx((80 * MM, 30 * MM), abs=0.01)
    assert x1 == pytest.approx(A4[0] - 12 * MM, abs=0.01), "the first block starts at the right"
    assert y0 == pytest.approx(12 * MM, abs=0.01), "in the free area at the bottom"
    # The document timestamp stays invisible.
    stamps = [w for w in widgets(data) if w["name"].startswith("Pakat Archive Timestamp")]
    assert stamps and all(w["form"] is None and w["rect"] == (0, 0, 0, 0) for w in stamps)

    assert_pades_level(data, PadesLevel.B_LTA, dev_env.root_cert_path)
    report = validator.validate(data)
    assert report.indication is Indication.TOTAL_PASSED, report
    assert result.document.output_size == len(data)


def test_three_signers_in_turn_get_blocks_that_do_not_overlap(
    service: SealService, validator: Validator, dev_env: DevEnvironment, tmp_path: Path
) -> None:
    source = envelope(tmp_path / "in.pdf", pages=2)
    first, second, third = tmp_path / "1.pdf", tmp_path / "2.pdf", tmp_path / "3.pdf"
    service.seal("demo-co", source, first, PadesLevel.B_B, appearance=VisibleSignature())
    person_signs(dev_env, service, "user-gov", first, second, VisibleSignature())
    service.seal("demo-gov", second, third, PadesLevel.B_B, appearance=VisibleSignature())
    data = third.read_bytes()

    blocks = visible(data)
    assert [b["name"] for b in blocks] == ["Pakat Seal 1", "Pakat Signature 1", "Pakat Seal 2"]
    assert {b["page"] for b in blocks} == {1}
    rects = [b["rect"] for b in blocks]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not overlaps(a, b), rects
    # Right to left along the bottom, then a row above: 80 mm blocks, two to an A4 row.
    assert rects[1][2] < rects[0][0] and rects[1][1] == pytest.approx(rects[0][1])
    assert rects[2][1] > rects[0][3]

    report = validator.validate(data)
    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED] * 3, report
    # Adding a visible signature later is form filling for the earlier ones, not a change of content.
    reader = PdfFileReader(io.BytesIO(data))
    context = trusted_context(dev_env)
    for earlier in reader.embedded_regular_signatures[:2]:
        status = validate_pdf_signature(earlier, context)
        assert status.intact and status.valid, status.pretty_print_details()
        assert status.modification_level is not None
        assert status.modification_level <= ModificationLevel.FORM_FILLING, status.modification_level

    text = text_of(third, 2)
    for expected in ("امضای دیجیتال", "Digital signature", "مریم احمدی", "Procurement Officer",
                     "سازمان دولتی نمونه پاکت", "مهر سازمانی", "Company seal", "شرکت نمونه پاکت"):
        assert expected in text, (expected, text)


# -- shaping, text, rendering --------------------------------------------------------------------------


def drawn_glyph_names(form: bytes) -> list[list[str]]:
    """The glyph names of each text show (TJ) in a block's content stream, in drawing order."""
    font = TTFont(fonts.REGULAR, lazy=True)
    order = font.getGlyphOrder()
    shows = []
    holder = pikepdf.new()  # the stream must belong to a live document while it is parsed
    for operands, operator in pikepdf.parse_content_stream(holder.make_stream(form)):
        if operator == pikepdf.Operator("TJ"):
            codes = b"".join(bytes(item) for item in operands[0] if isinstance(item, pikepdf.String))
            shows.append([order[int.from_bytes(codes[i:i + 2], "big")] for i in range(0, len(codes), 2)])
    return shows


def presentation_form(name: str) -> str:
    """"uniFEE3" → "INITIAL" (Arabic presentation forms carry the contextual form in their Unicode name)."""
    match = re.fullmatch(r"uni([0-9A-F]{4})", name)
    if not match:
        return ""
    return unicodedata.name(chr(int(match.group(1), 16)), "").rsplit(" ", 2)[-2]


def test_persian_is_shaped_extractable_and_drawn(service: SealService, tmp_path: Path) -> None:
    source = envelope(tmp_path / "in.pdf", pages=1)
    out = tmp_path / "sealed.pdf"
    result = service.seal("demo-co", source, out, PadesLevel.B_B, appearance=VisibleSignature())
    (block,) = visible(out.read_bytes())
    shows = drawn_glyph_names(block["form"])

    # «مهر» drawn left to right is final reh, medial heh, initial meem: HarfBuzz's contextual forms.
    # Without shaping it would be the isolated uni0645 uni0647 uni0631, in logical order.
    header_fa = next(s for s in shows if "uniFEE3" in s)
    forms = [presentation_form(n) for n in header_fa]
    assert forms[-3:] == ["FINAL", "MEDIAL", "INITIAL"], header_fa
    assert {"INITIAL", "MEDIAL", "FINAL"} <= set(forms)
    assert not {"uni0645", "uni0647"} & set(header_fa), "isolated forms: the text was not shaped"

    text = text_of(out, 1)
    for expected in ("مهر سازمانی", "Company seal", "شرکت نمونه پاکت", "Pakat Demo Co."):
        assert expected in text, (expected, text)
    # Both dates, through the ToUnicode map: Jalali with Persian digits, Gregorian in UTC.
    signed_at = result.document.signed_at
    jalali, gregorian = format_datetime(signed_at, "fa"), format_datetime(signed_at, "en")
    jalali_date, _, rest = jalali.partition(" ساعت ")
    assert re.fullmatch("[۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2}", jalali_date), jalali
    assert jalali_date in text and rest.split(" ")[0] in text, (jalali, text)
    assert gregorian in text, (gregorian, text)

    image = render_page(out, 1, tmp_path)
    x0, y0, x1, y1 = block["rect"]
    assert ink(image, (x0 + 2, y0 + 2, x1 - 2, y1 - 2)) > 0.05, "the block is blank"
    text_band = (x1 - 60, (y0 + y1) / 2 - 12, x1 - 5, (y0 + y1) / 2 + 12)
    assert ink(image, text_band) > 0.08, "no text where the Persian lines end"
    for outside in ((x0 - 20, y0, x0 - 4, y1), (x0, y1 + 4, x1, y1 + 20), (x0, y0 - 16, x1, y0 - 4)):
        assert ink(image, outside) == 0, f"something was drawn outside the block at {outside}"


def test_the_font_is_an_embedded_subset_with_widths_and_tounicode(service: SealService, tmp_path: Path) -> None:
    source = envelope(tmp_path / "in.pdf", pages=1)
    out = tmp_path / "sealed.pdf"
    service.seal("demo-gov", source, out, PadesLevel.B_B, appearance=VisibleSignature())
    with pikepdf.open(out) as pdf:
        widget = next(f for f in pdf.Root.AcroForm.Fields if "/AP" in f)
        form = widget.AP.N
        assert form.Subtype == pikepdf.Name.Form and [float(v) for v in form.BBox][:2] == [0, 0]
        font = form.Resources.Font.F1
        assert font.Subtype == pikepdf.Name.Type0 and font.Encoding == pikepdf.Name("/Identity-H")
        (cid,) = font.DescendantFonts
        assert cid.Subtype == pikepdf.Name.CIDFontType2 and cid.CIDToGIDMap == pikepdf.Name.Identity
        assert re.fullmatch(r"/[A-Z]{6}\+Vazirmatn-Regular", str(cid.BaseFont))
        program = cid.FontDescriptor.FontFile2.read_bytes()
        cmap = font.ToUnicode.read_bytes().decode("ascii")
        widths = list(cid.W)
        drawn = {name for show in drawn_glyph_names(form.read_bytes()) for name in show}
    full = fonts.REGULAR.stat().st_size
    assert len(program) < full / 3, f"a {len(program)}-byte font program is no subset of {full} bytes"
    subset, original = TTFont(io.BytesIO(program)), TTFont(fonts.REGULAR)
    order, kept = original.getGlyphOrder(), subset.getGlyphOrder()
    drawn_ids = {order.index(name) for name in drawn}

    def outline(font: TTFont, gid: int) -> Any:
        glyph = font["glyf"][font.getGlyphOrder()[gid]]
        return glyph.getCoordinates(font["glyf"])[0] if glyph.numberOfContours else None

    # Glyph ids are kept (HarfBuzz's ids are the CIDs), with outlines only for what is drawn.
    for gid in drawn_ids:
        assert outline(subset, gid) == outline(original, gid), order[gid]
    for name in ("Q", "uniFE8F"):  # neither is in the block
        gid = order.index(name)
        assert gid >= len(kept) or outline(subset, gid) is None, f"{name} kept in the subset"
    # Every drawn glyph has its width (thousandths of an em) and a ToUnicode entry.
    upem = original["head"].unitsPerEm
    listed = {int(widths[i]): float(widths[i + 1][0]) for i in range(0, len(widths), 2)}
    for gid in drawn_ids:
        assert listed[gid] == pytest.approx(original["hmtx"][order[gid]][0] * 1000 / upem, abs=0.01)
    assert "uniFEE3" in drawn and f"<{order.index('uniFEE3'):04X}> <0645>" in cmap, "initial meem is meem"
    assert f"<{order.index('uni06F1'):04X}> <06F1>" in cmap, "Persian digits map to themselves"


def test_a_name_too_long_for_the_box_shrinks_and_never_overflows(tmp_path: Path) -> None:
    source = envelope(tmp_path / "in.pdf", pages=1)
    facts = BlockFacts(BlockKind.SIGNATURE, "سید محمدحسین " * 20, "Head of Procurement and Contracts " * 6,
                       "شرکت بسیار بزرگ مهندسی و ساختمانی نمونه پاکت با نامی بسیار طولانی")
    out = tmp_path / "drawn.pdf"
    pdf = PdfSource(source, max_bytes=LIMIT)
    try:
        widget = visible_widget(pdf, VisibleSignature(1, (30, 100, 80, 30)), facts, datetime.now(UTC))
        update = pdf.new_update()
        update.add_signature_field(signature_dictionary(sub_filter=b"/ETSI.CAdES.detached", contents_bytes=64),
                                   "Drawn only", widget)
        revision, _ = update.layout(pdf.size, pdf.startxref)
    finally:
        pdf.close()
    out.write_bytes(source.read_bytes() + bytes(revision.data))
    x0, y0, x1, y1 = widget.rect
    image = render_page(out, 1, tmp_path)
    assert ink(image, (x0, y0, x1, y1)) > 0.05
    for outside in ((x0 - 25, y0, x0 - 2, y1), (x1 + 2, y0, x1 + 25, y1), (x0, y1 + 2, x1, y1 + 25),
                    (x0, y0 - 25, x1, y0 - 2)):
        assert ink(image, outside) == 0, f"text ran out of the block at {outside}"
    assert "سید محمدحسین" in text_of(out, 1)


def test_bidi_controls_in_a_certificate_cannot_reorder_the_block() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "علی\u202e رضایی\u0007 [Stamp]"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "شرکت\u200cها"),
    ])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2027, 1, 1, tzinfo=UTC)).sign(key, hashes.SHA256()))
    seal = BlockFacts.from_certificate(cert, BlockKind.SEAL)
    assert seal.name == "شرکت\u200cها", "ZWNJ is Persian spelling and stays"
    assert seal.organisation == "علی رضایی", "the override, the bell and [Stamp] are gone"
    person = BlockFacts.from_certificate(cert, BlockKind.SIGNATURE)
    assert (person.name, person.role, person.organisation) == ("علی رضایی", None, "شرکت\u200cها")
    # A Jalali date's digits read left to right inside the Persian line.
    line = shape("۱۴۰۵/۰۹/۰۱ ساعت")
    assert line.glyphs[0].text == "ت", "the Persian word, last in logical order, is drawn leftmost"
    digits = [g.text for g in line.glyphs if g.text and g.text in "۰۱۲۳۴۵۶۷۸۹/"]
    assert "".join(digits) == "۱۴۰۵/۰۹/۰۱"


# -- explicit places and refusals ---------------------------------------------------------------------


def test_an_explicit_place_is_honoured(service: SealService, validator: Validator, tmp_path: Path) -> None:
    source = envelope(tmp_path / "in.pdf", pages=2)
    out = tmp_path / "sealed.pdf"
    service.seal("demo-co", source, out, PadesLevel.B_B, appearance=VisibleSignature(1, (20, 200, 90, 35)))
    (block,) = visible(out.read_bytes())
    assert block["page"] == 0 and block["on_page_annots"]
    assert block["rect"] == pytest.approx((20 * MM, 200 * MM, 110 * MM, 235 * MM), abs=0.01)
    assert validator.validate(out.read_bytes()).indication is Indication.TOTAL_PASSED
    image = render_page(out, 1, tmp_path)
    assert ink(image, (20 * MM + 2, 200 * MM + 2, 110 * MM - 2, 235 * MM - 2)) > 0.05
    assert ink(image, (20 * MM, 12 * MM, 100 * MM, 42 * MM)) == 0, "nothing at the default place"


@pytest.mark.parametrize(("request_", "code"), [
    (VisibleSignature(1, (150, 20, 80, 30)), "APPEARANCE_OUTSIDE_PAGE"),  # 230 mm on a 210 mm page
    (VisibleSignature(1, (20, -5, 80, 30)), "APPEARANCE_OUTSIDE_PAGE"),
    (VisibleSignature(5, (20, 20, 80, 30)), "APPEARANCE_OUTSIDE_PAGE"),  # a 2-page document
    (VisibleSignature(-3), "APPEARANCE_OUTSIDE_PAGE"),
    (VisibleSignature(2, (100, 25, 60, 20)), "APPEARANCE_OVERLAPS"),  # over the first seal's default block
], ids=["right-edge", "below", "page-5", "page-minus-3", "overlap"])
def test_a_place_that_cannot_be_had_is_refused_and_nothing_is_written(
    service: SealService, tmp_path: Path, request_: VisibleSignature, code: str
) -> None:
    source = envelope(tmp_path / "in.pdf", pages=2)
    first = tmp_path / "first.pdf"
    service.seal("demo-co", source, first, PadesLevel.B_B, appearance=VisibleSignature())
    out = tmp_path / "second.pdf"
    with pytest.raises(InputError) as refused:
        service.seal("demo-gov", first, out, PadesLevel.B_B, appearance=request_)
    assert refused.value.code == code and refused.value.kind.exit_code == 3
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["first.pdf", "in.pdf"]


def test_malformed_requests_are_request_invalid() -> None:
    for bad in ({"page": 0}, {"page": True}, {"page": "1"}, {"rect_mm": [1, 2, 3]}, {"rect_mm": [0, 0, 5, 5]},
                {"rect_mm": [0, 0, float("nan"), 30]}, {"rect_mm": "0,0,80,30"}, {"where": "bottom"}):
        with pytest.raises(InputError) as refused:
            VisibleSignature.from_dict(bad)
        assert refused.value.code == "REQUEST_INVALID", bad
    assert VisibleSignature.from_dict({"page": -2}) == VisibleSignature(-2)
    assert VisibleSignature.from_dict(VisibleSignature(3, (1, 2, 80, 30)).as_dict()) == VisibleSignature(
        3, (1.0, 2.0, 80.0, 30.0))


def test_a_full_page_says_no_room(service: SealService, tmp_path: Path) -> None:
    # A 100 × 60 mm label: its margin is 8 % of its short side (4.8 mm), and one full block fits inside.
    source = tmp_path / "small.pdf"
    small = pikepdf.new()
    small.add_blank_page(page_size=(100 * MM, 60 * MM))
    small.save(source)
    one, two = tmp_path / "1.pdf", tmp_path / "2.pdf"
    service.seal("demo-co", source, one, PadesLevel.B_B, appearance=VisibleSignature())
    (block,) = visible(one.read_bytes())
    assert block["rect"] == pytest.approx((15.2 * MM, 4.8 * MM, 95.2 * MM, 34.8 * MM), abs=0.01)
    with pytest.raises(InputError) as refused:
        service.seal("demo-gov", one, two, PadesLevel.B_B, appearance=VisibleSignature())
    assert refused.value.code == "APPEARANCE_NO_ROOM" and not two.exists()


def test_a_narrow_page_gets_a_smaller_block(service: SealService, tmp_path: Path) -> None:
    # A 60 × 100 mm slip: the 80 × 30 mm block is scaled down whole to the 50.4 mm inside its margins.
    source = tmp_path / "slip.pdf"
    slip = pikepdf.new()
    slip.add_blank_page(page_size=(60 * MM, 100 * MM))
    slip.save(source)
    out = tmp_path / "out.pdf"
    service.seal("demo-co", source, out, PadesLevel.B_B, appearance=VisibleSignature())
    (block,) = visible(out.read_bytes())
    x0, y0, x1, y1 = block["rect"]
    assert (x1 - x0, y1 - y0) == pytest.approx((50.4 * MM, 50.4 * MM * 30 / 80), abs=0.01)
    assert (x0, y0) == pytest.approx((4.8 * MM, 4.8 * MM), abs=0.01)


def test_a_rotated_page_gets_an_upright_block_where_the_reader_sees_the_bottom(
    service: SealService, validator: Validator, tmp_path: Path
) -> None:
    # /Rotate inherited from the page tree: the A4 page is shown in landscape, 842 × 595.
    source = hand_made_pdf(tmp_path / "in.pdf", b"/Rotate 90")
    out = tmp_path / "sealed.pdf"
    service.seal("demo-co", source, out, PadesLevel.B_B, appearance=VisibleSignature())
    data = out.read_bytes()
    (block,) = visible(data)
    x0, y0, x1, y1 = block["rect"]
    # In the page's own space the block stands on its side: 30 mm wide, 80 mm tall ...
    assert (x1 - x0, y1 - y0) == pytest.approx((30 * MM, 80 * MM), abs=0.01)
    assert block["matrix"] == [0, 1, -1, 0, 0, 0]
    with pikepdf.open(out, inherit_page_attributes=False) as pdf:  # as written, not as qpdf would push it
        page = pdf.get_object((3, 0))
        assert set(page.keys()) == {"/Type", "/Parent", "/Resources", "/Contents", "/Annots"}, "only /Annots added"
        assert pdf.get_object((2, 0)).Rotate == 90
    assert validator.validate(data).indication is Indication.TOTAL_PASSED
    # ... and as shown (pdftoppm applies /Rotate) it is 80 × 30 mm at the bottom right.
    image = render_page(out, 1, tmp_path)
    assert image.size == (842, 595)
    shown = (842 - 12 * MM - 80 * MM, 12 * MM, 842 - 12 * MM, 42 * MM)
    assert ink(image, (shown[0] + 2, shown[1] + 2, shown[2] - 2, shown[3] - 2)) > 0.05
    assert ink(image, (shown[0], shown[3] + 4, shown[2], shown[3] + 60)) == 0, "nothing above the block"
    text = text_of(out, 1)
    assert "Company seal" in text and "مهر سازمانی" in text, text


# -- the API, signing sessions and the CLI ---------------------------------------------------------------


def bearer(dev_env: DevEnvironment, org: str = "demo-co") -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key(dev_env, org)}"}


def post_seal(client: FlaskClient, dev_env: DevEnvironment, visible_field: str) -> Any:
    reply = client.post("/api/v1/seal", headers=bearer(dev_env), content_type="multipart/form-data",
                        data={"pdf": (io.BytesIO(pdf_bytes("Envelope A", pages=2)), "a.pdf"),
                              "visible": visible_field})
    reply.get_data()
    reply.close()
    return reply


def test_the_seal_api_takes_visible(client: FlaskClient, dev_env: DevEnvironment, validator: Validator) -> None:
    default = post_seal(client, dev_env, "true")
    assert default.status_code == 200, default.data[:300]
    (block,) = visible(default.data)
    assert block["page"] == 1 and block["rect"][1] == pytest.approx(12 * MM, abs=0.01)
    assert validator.validate(default.data).indication is Indication.TOTAL_PASSED

    placed = post_seal(client, dev_env, json.dumps({"page": 1, "rect_mm": [20, 200, 80, 30]}))
    assert placed.status_code == 200
    (block,) = visible(placed.data)
    assert block["page"] == 0 and block["rect"] == pytest.approx((20 * MM, 200 * MM, 100 * MM, 230 * MM), abs=0.01)

    assert visible(post_seal(client, dev_env, "false").data) == []
    for field, status, code in (('{"page": 0}', 400, "REQUEST_INVALID"), ("somewhere", 400, "REQUEST_INVALID"),
                                ('{"page": 9}', 422, "APPEARANCE_OUTSIDE_PAGE")):
        refused = post_seal(client, dev_env, field)
        assert (refused.status_code, refused.json["error"]["code"]) == (status, code), field


def test_a_session_and_a_stored_seal_draw_blocks_side_by_side(
    app: Flask, client: FlaskClient, dev_env: DevEnvironment, validator: Validator, tmp_path: Path
) -> None:
    headers = bearer(dev_env)
    doc = client.post("/api/v1/documents", headers=headers,
                      data={"pdf": (io.BytesIO(pdf_bytes("Envelope C", pages=2)), "c.pdf")}).json
    sessions = f"/api/v1/documents/{doc['id']}/signing-sessions"
    outside = client.post(sessions, headers=headers,
                          json={"level": "B-B", "visible": {"page": -1, "rect_mm": [180, 10, 80, 30]}})
    assert outside.status_code == 422 and outside.json["error"]["code"] == "APPEARANCE_OUTSIDE_PAGE"

    created = client.post(sessions, headers=headers, json={"level": "B-B", "visible": True}).json
    agent = {"Authorization": f"Bearer {created['agent_secret']}"}
    user = dev_env.users["user-gov"]
    certificate = base64.b64encode(user.certificate().public_bytes(Encoding.DER)).decode()
    path = f"/agent/v1/sessions/{created['id']}"
    answer = client.post(f"{path}/certificate", headers=agent,
                         json={"certificate": certificate, "chain": [], "digest_algorithm": "sha256"})
    assert answer.status_code == 200, answer.json
    key = Pkcs11Key(module=dev_env.softhsm_module, token_label=user.token_label, key_label=user.key_label,
                    certificate=user.certificate(), pin=user.read_pin, module_env=dev_env.softhsm_env())
    try:
        signature = key.sign_digest(bytes.fromhex(answer.json["digest"]), SHA256)
    finally:
        key.close()
    signed = client.post(f"{path}/signature", headers=agent,
                         json={"signature": base64.b64encode(signature).decode()})
    assert signed.status_code == 202 and signed.json["state"] == "completed", signed.json

    sealed = client.post(f"/api/v1/documents/{doc['id']}/seal", headers=headers,
                         json={"level": "B-B", "visible": True})
    assert sealed.status_code == 200, sealed.json
    data = client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=headers).data
    person, seal = visible(data)
    assert (person["name"], seal["name"]) == ("Pakat Signature 1", "Pakat Seal 1")
    assert person["page"] == seal["page"] == 1 and not overlaps(person["rect"], seal["rect"])
    assert seal["rect"][2] < person["rect"][0], "the seal's block goes to the left of the signer's"
    report = validator.validate(data)
    assert [s.indication for s in report.signatures] == [Indication.TOTAL_PASSED] * 2, report
    out = tmp_path / "signed.pdf"
    out.write_bytes(data)
    text = text_of(out, 2)
    assert "مریم احمدی" in text and "Procurement Officer" in text and "امضای دیجیتال" in text, text


def test_pakat_seal_visible_rect(dev_env: DevEnvironment, tmp_path: Path) -> None:
    source = envelope(tmp_path / "in.pdf", pages=2)
    out = tmp_path / "out.pdf"

    def pakat(*args: str) -> subprocess.CompletedProcess[str]:
        env = process_env({"PAKAT_HOME": str(tmp_path), "PAKAT_CONFIG": str(dev_env.deployment_path)})
        return subprocess.run(pakat_command("seal", str(source), "-o", str(out), "--org", "demo-co", *args),
                              env=env, capture_output=True, text=True, timeout=180, check=False)

    done = pakat("--visible-rect", "15,240,85,32", "--visible-page", "1")
    assert done.returncode == 0, done.stderr
    (block,) = visible(out.read_bytes())
    assert block["page"] == 0 and block["rect"] == pytest.approx((15 * MM, 240 * MM, 100 * MM, 272 * MM), abs=0.01)
    out.unlink()
    refused = pakat("--visible-rect", "15,240,85", "--json")
    assert refused.returncode == 3 and json.loads(refused.stdout)["error"]["code"] == "REQUEST_INVALID"
    assert not out.exists()
