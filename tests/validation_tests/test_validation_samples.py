"""Self-checks: every validation sample is what its name says, judged without our validator.

The judges are raw bytes, pikepdf (qpdf), asn1crypto and cryptography for the
CMS, the dev PKI's own register for revocations, and pyHanko's
``validate_pdf_signature`` (trusting only the dev root) for integrity,
coverage, difference analysis and DocMDP.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pikepdf
import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from signing_checks import assert_pades_level, load_asn1_certificate
from validation_samples import (
    ATTACKER_PAGE_TEXT,
    BID_LINE_RECT,
    BID_TEXT,
    FORGED_TEXT,
    SAMPLES,
    Category,
    Sample,
    SampleFactory,
    SignatureBytes,
    asn1_cert,
    samples_for,
    signatures_in,
    startxref,
)

from devkit import devpki
from devkit.devsetup import DevEnvironment
from signer.levels import PadesLevel

BID = BID_TEXT.encode("latin-1")
FORGED = FORGED_TEXT.encode("latin-1")


@pytest.fixture(scope="session")
def samples(dev_env: DevEnvironment) -> Iterator[SampleFactory]:
    factory = samples_for(dev_env)
    yield factory
    factory.close()


@dataclass(frozen=True)
class Ctx:
    """What a check may use besides the sample."""

    factory: SampleFactory
    env: DevEnvironment
    root: asn1_x509.Certificate


@pytest.fixture(scope="session")
def ctx(samples: SampleFactory, dev_env: DevEnvironment) -> Ctx:
    return Ctx(samples, dev_env, load_asn1_certificate(dev_env.root_cert_path))


# -- judges ---------------------------------------------------------------------------------------


def pyhanko_status(
    data: bytes, root: asn1_x509.Certificate, index: int = 0, *, moment: dt.datetime | None = None
) -> PdfSignatureStatus:
    """pyHanko's verdict on the ``index``-th regular signature, trusting ``root``, fetching revocation."""
    reader = PdfFileReader(io.BytesIO(data))
    sig = reader.embedded_regular_signatures[index]
    vc = ValidationContext(trust_roots=[root], allow_fetching=True, moment=moment)
    return validate_pdf_signature(sig, vc)


@contextlib.contextmanager
def opened(data: bytes) -> Iterator[pikepdf.Pdf]:
    """The PDF as qpdf reads it; it must need no repair at all."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        yield pdf
        assert pdf.get_warnings() == [], pdf.get_warnings()


def sig_values(pdf: pikepdf.Pdf) -> list[pikepdf.Object]:
    """The /V dictionaries of the signature fields, in /Fields order."""
    return [f.V for f in pdf.Root.AcroForm.Fields if f.get("/FT") == pikepdf.Name.Sig and "/V" in f]


def only_signature(data: bytes) -> SignatureBytes:
    found = signatures_in(data)
    assert len(found) == 1, found
    return found[0]


def signer_info(der: bytes) -> asn1_cms.SignerInfo:
    info = asn1_cms.ContentInfo.load(der)
    assert info["content_type"].native == "signed_data"
    return info["content"]["signer_infos"][0]


def message_digest(si: asn1_cms.SignerInfo) -> bytes:
    for attr in si["signed_attrs"]:
        if attr["type"].native == "message_digest":
            return bytes(attr["values"][0].native)
    raise AssertionError("no messageDigest attribute")


def digest_algorithm(si: asn1_cms.SignerInfo) -> str:
    return str(si["digest_algorithm"]["algorithm"].native)


def ranges_digest(data: bytes, byte_range: tuple[int, ...] | list[int], algorithm: str) -> bytes:
    a, b, c, d = byte_range
    return hashlib.new(algorithm, data[a : a + b] + data[c : c + d]).digest()


def signing_certificate(der: bytes) -> x509.Certificate:
    """The certificate a CMS names as its signer (issuer and serial, or key identifier)."""
    signed = asn1_cms.ContentInfo.load(der)["content"]
    sid = signed["signer_infos"][0]["sid"]
    for choice in signed["certificates"]:
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if cert.serial_number == sid.chosen["serial_number"].native:
                return x509.load_der_x509_certificate(cert.dump())
        elif cert.key_identifier == sid.chosen.native:
            return x509.load_der_x509_certificate(cert.dump())
    raise AssertionError("the CMS does not carry its signer's certificate")


def signature_verifies(cert: x509.Certificate, si: asn1_cms.SignerInfo) -> bool:
    """Whether the RSA signature over the signed attributes verifies with ``cert``."""
    signed_attrs = b"\x31" + si["signed_attrs"].dump()[1:]  # [0] IMPLICIT -> SET OF
    algorithm = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256()}[digest_algorithm(si)]
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(si["signature"].native, signed_attrs, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def timestamp_time(der: bytes) -> dt.datetime | None:
    """genTime of the signature timestamp in the CMS's unsigned attributes."""
    si = signer_info(der)
    if si["unsigned_attrs"].native is None:
        return None
    for attr in si["unsigned_attrs"]:
        if attr["type"].native == "signature_time_stamp_token":
            token = attr["values"][0]["content"]
            gen_time: dt.datetime = token["encap_content_info"]["content"].parsed["gen_time"].native
            return gen_time
    return None


def first_cms(data: bytes) -> bytes:
    return signatures_in(data)[0].cms_der(data)


def page_content(pdf: pikepdf.Pdf, index: int = 0) -> bytes:
    return bytes(pikepdf.Page(pdf.pages[index]).obj.Contents.read_bytes())


def shown_text(data: bytes) -> str:
    """What poppler shows: ``pdftotext`` of the file (it repairs a damaged cross-reference table)."""
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True, timeout=30)
    return done.stdout.decode("utf-8", "replace")


def changed_offsets(a: bytes, b: bytes) -> list[int]:
    assert len(a) == len(b), (len(a), len(b))
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def assert_edited_in_place(s: Sample, lo: int, hi: int) -> None:
    """Same length as the base, and every changed byte inside ``[lo, hi)``."""
    assert s.base is not None
    changed = changed_offsets(s.base, s.data)
    assert changed, "nothing was changed"
    assert lo <= min(changed) and max(changed) < hi, (lo, hi, min(changed), max(changed))


def assert_edited_inside_signature_object(s: Sample) -> None:
    assert s.base is not None
    sig = only_signature(s.base)
    lo = s.base.rindex(b" obj", 0, sig.byte_range_span[0])
    hi = s.base.index(b"endobj", sig.hole[1])
    assert_edited_in_place(s, lo, hi)


def assert_valid_base(s: Sample, ctx: Ctx) -> None:
    """The attack started from a signature pyHanko accepts: intact, valid, trusted, whole file."""
    assert s.base is not None
    status = pyhanko_status(s.base, ctx.root)
    assert status.bottom_line, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE


def assert_update_after(s: Sample, ctx: Ctx, level: ModificationLevel = ModificationLevel.OTHER) -> None:
    """The base bytes untouched, an incremental update after them that pyHanko classes at ``level``."""
    assert s.base is not None
    assert s.data.startswith(s.base) and len(s.data) > len(s.base)
    status = pyhanko_status(s.data, ctx.root)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert status.modification_level == level, status.modification_level
    assert not status.bottom_line


# -- 1. universal signature forgery -----------------------------------------------------------------


def base_sig_value(s: Sample) -> dict[str, object]:
    assert s.base is not None
    with opened(s.base) as pdf:
        (value,) = sig_values(pdf)
        return {"contents": bytes(value.Contents), "byte_range": [int(n) for n in value.ByteRange]}


def check_usf_contents_empty(s: Sample, ctx: Ctx) -> None:
    assert_edited_inside_signature_object(s)
    with opened(s.data) as pdf:
        (value,) = sig_values(pdf)
        assert bytes(value.Contents) == b""
        assert [int(n) for n in value.ByteRange] == base_sig_value(s)["byte_range"]


def check_usf_contents_zeroed(s: Sample, ctx: Ctx) -> None:
    assert_edited_inside_signature_object(s)
    with opened(s.data) as pdf:
        (value,) = sig_values(pdf)
        contents = bytes(value.Contents)
    assert len(contents) == len(base_sig_value(s)["contents"])  # type: ignore[arg-type]
    assert set(contents) == {0}


def check_usf_contents_missing(s: Sample, ctx: Ctx) -> None:
    assert_edited_inside_signature_object(s)
    with opened(s.data) as pdf:
        (value,) = sig_values(pdf)
        assert "/Contents" not in value
        assert [int(n) for n in value.ByteRange] == base_sig_value(s)["byte_range"]


def check_usf_contents_not_cms(s: Sample, ctx: Ctx) -> None:
    assert_edited_inside_signature_object(s)
    with opened(s.data) as pdf:
        (value,) = sig_values(pdf)
        contents = bytes(value.Contents)
    assert len(contents) == len(base_sig_value(s)["contents"])  # type: ignore[arg-type]
    assert contents[0] != 0x30, "must not even start like a DER SEQUENCE"
    with pytest.raises(ValueError):
        _ = asn1_cms.ContentInfo.load(contents).native


def check_usf_byte_range_missing(s: Sample, ctx: Ctx) -> None:
    assert_edited_inside_signature_object(s)
    with opened(s.data) as pdf:
        (value,) = sig_values(pdf)
        assert "/ByteRange" not in value
        assert bytes(value.Contents) == base_sig_value(s)["contents"]


def _byte_range_of(s: Sample) -> list[int]:
    assert_edited_inside_signature_object(s)
    with opened(s.data) as pdf:
        (value,) = sig_values(pdf)
        assert bytes(value.Contents) == base_sig_value(s)["contents"]
        return [int(n) for n in value.ByteRange]


def check_usf_byte_range_three_numbers(s: Sample, ctx: Ctx) -> None:
    byte_range = _byte_range_of(s)
    assert len(byte_range) == 3
    assert byte_range == base_sig_value(s)["byte_range"][:3]  # type: ignore[index]


def check_usf_byte_range_negative(s: Sample, ctx: Ctx) -> None:
    byte_range = _byte_range_of(s)
    assert len(byte_range) == 4 and byte_range[1] < 0


def check_usf_byte_range_not_from_start(s: Sample, ctx: Ctx) -> None:
    byte_range = _byte_range_of(s)
    original = base_sig_value(s)["byte_range"]
    assert byte_range[0] == 10 and byte_range[0] + byte_range[1] == original[1]  # type: ignore[index]
    assert byte_range[2:] == original[2:]  # type: ignore[index]


def check_usf_cms_without_certificates(s: Sample, ctx: Ctx) -> None:
    assert s.base is not None
    assert_edited_inside_signature_object(s)
    sig = only_signature(s.data)
    der, base_der = sig.cms_der(s.data), sig.cms_der(s.base)
    signed = asn1_cms.ContentInfo.load(der)["content"]
    assert signed["certificates"].native is None
    assert len(asn1_cms.ContentInfo.load(base_der)["content"]["certificates"]) >= 1
    si, base_si = signer_info(der), signer_info(base_der)
    assert si.dump() == base_si.dump(), "signed attributes and signature value are kept byte for byte"
    # Still a good signature by the original key over the original bytes: only the certificate is missing.
    assert signature_verifies(signing_certificate(base_der), si)
    assert ranges_digest(s.data, sig.byte_range, digest_algorithm(si)) == message_digest(si)


def check_integrity_digest_mismatch(s: Sample, ctx: Ctx) -> None:
    assert s.base is not None
    sig = only_signature(s.data)
    changed = changed_offsets(s.base, s.data)
    assert len(changed) == 1 and changed[0] < sig.hole[0], "one signed byte changed"
    si = signer_info(sig.cms_der(s.data))
    assert ranges_digest(s.base, sig.byte_range, digest_algorithm(si)) == message_digest(si)
    assert ranges_digest(s.data, sig.byte_range, digest_algorithm(si)) != message_digest(si)
    with opened(s.data) as pdf:
        assert FORGED in page_content(pdf)


def check_integrity_signature_value_corrupted(s: Sample, ctx: Ctx) -> None:
    assert s.base is not None
    sig = only_signature(s.data)
    assert_edited_in_place(s, *sig.hole)
    der, base_der = sig.cms_der(s.data), sig.cms_der(s.base)
    si = signer_info(der)
    assert ranges_digest(s.data, sig.byte_range, digest_algorithm(si)) == message_digest(si)
    cert = signing_certificate(base_der)
    assert signature_verifies(cert, signer_info(base_der))
    assert not signature_verifies(cert, si)


# -- 2. incremental saving ------------------------------------------------------------------------


def check_isa_page_added(s: Sample, ctx: Ctx) -> None:
    assert_update_after(s, ctx)
    assert s.base is not None
    with opened(s.base) as pdf:
        assert len(pdf.pages) == 1
    with opened(s.data) as pdf:
        assert len(pdf.pages) == 2
        assert ATTACKER_PAGE_TEXT.encode() in page_content(pdf, 1)
    assert timestamp_time(first_cms(s.data)) is not None, "the base is a B-T seal"


def check_isa_content_replaced(s: Sample, ctx: Ctx) -> None:
    assert_update_after(s, ctx)
    assert s.base is not None
    with opened(s.base) as pdf:
        before = pdf.pages[0].obj.Contents.objgen
        assert BID in page_content(pdf)
    with opened(s.data) as pdf:
        assert pdf.pages[0].obj.Contents.objgen == before, "the same object number, redefined"
        assert FORGED in page_content(pdf) and BID not in page_content(pdf)


def check_isa_catalog_changed(s: Sample, ctx: Ctx) -> None:
    assert_update_after(s, ctx)
    assert s.base is not None
    with opened(s.base) as pdf:
        assert "/OpenAction" not in pdf.Root
    with opened(s.data) as pdf:
        action = pdf.Root.OpenAction
        assert action.is_indirect and str(action.S) == "/JavaScript"


def check_isa_empty_xref_no_prev(s: Sample, ctx: Ctx) -> None:
    assert s.base is not None
    assert s.data.startswith(s.base) and len(s.data) > len(s.base)
    tail = s.data[len(s.base) :]
    assert b"xref\n0 0\ntrailer" in tail and b"/Prev" not in tail, "an empty xref section, no /Prev"
    with pytest.raises(Exception):  # noqa: B017 - pyHanko cannot follow the cross-reference chain at all
        PdfFileReader(io.BytesIO(s.data), strict=False).root  # noqa: B018
    shown = shown_text(s.data)
    assert FORGED_TEXT in shown and BID_TEXT not in shown, "poppler repairs the file and shows the new content"


# -- 3. signature wrapping -------------------------------------------------------------------------


def _wrapped(s: Sample) -> tuple[list[int], bytes]:
    """Checks shared by the wrapping samples; returns the declared ByteRange and the CMS."""
    assert s.base is not None
    base_sig = only_signature(s.base)
    with opened(s.data) as pdf:
        assert FORGED in page_content(pdf) and BID not in page_content(pdf), "the reader shows attacker content"
        (value,) = sig_values(pdf)
        byte_range = [int(n) for n in value.ByteRange]
        der = bytes(value.Contents)
    a, b, c, d = byte_range
    assert (a, b, d) == (0, base_sig.byte_range[1], base_sig.byte_range[3])
    assert c > base_sig.byte_range[2] and c + d == len(s.data), "the second range was moved to the end"
    assert s.data[c:] == s.base[base_sig.byte_range[2] :], "the moved bytes are the original second range"
    assert der == base_sig.cms_der(s.base), "the original CMS, without its padding"
    hole = s.data[b:c]
    assert len(hole) > 2 * len(der) + 2 and b" obj" in hole and b"xref" in hole, "attacker objects in the hole"
    assert b < startxref(s.data) < c, "the signed startxref now points at the attacker's xref"
    return byte_range, der


def check_wrapping_moved_second_range(s: Sample, ctx: Ctx) -> None:
    assert_valid_base(s, ctx)
    assert s.base is not None
    byte_range, der = _wrapped(s)
    si = signer_info(der)
    signed = s.data[: byte_range[1]] + s.data[byte_range[2] :]
    assert signed == only_signature(s.base).signed_bytes(s.base), "the declared ranges hold the signed bytes"
    assert ranges_digest(s.data, byte_range, digest_algorithm(si)) == message_digest(si)
    status = pyhanko_status(s.data, ctx.root)
    assert status.intact and status.valid, "pyHanko: the digest and signature check out"
    assert status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION)


def check_wrapping_moved_second_range_pakat(s: Sample, ctx: Ctx) -> None:
    assert_valid_base(s, ctx)
    byte_range, der = _wrapped(s)
    si = signer_info(der)
    # Our /ByteRange precedes /Contents, in the first signed range: rewriting it breaks the digest.
    assert s.data.index(b"/ByteRange") < byte_range[1]
    assert ranges_digest(s.data, byte_range, digest_algorithm(si)) != message_digest(si)


def check_wrapping_hole_attacker_content(s: Sample, ctx: Ctx) -> None:
    assert_valid_base(s, ctx)
    assert s.base is not None
    sig = only_signature(s.data)
    assert_edited_in_place(s, *sig.hole)
    hole = s.data[slice(*sig.hole)]
    assert not (hole.startswith(b"<") and hole.rstrip().endswith(b">")), "more than a hex string in the hole"
    with opened(s.data) as pdf:
        (value,) = sig_values(pdf)
        assert str(value.Name) == "Ministry of Economy - Treasury"
        cms_der = bytes(value.Contents)
    with opened(s.base) as pdf:
        assert "/Name" not in sig_values(pdf)[0]
    si = signer_info(cms_der)
    assert ranges_digest(s.data, sig.byte_range, digest_algorithm(si)) == message_digest(si)
    assert signature_verifies(signing_certificate(cms_der), si)


# -- 4. shadow attacks ----------------------------------------------------------------------------


def check_shadow_hide(s: Sample, ctx: Ctx) -> None:
    assert_update_after(s, ctx)
    assert s.base is not None
    with opened(s.base) as pdf:
        xobjects = pdf.pages[0].Resources.XObject
        assert FORGED in xobjects.Shadow.read_bytes(), "the forged text was pre-placed and signed"
        assert BID in xobjects.Cover.read_bytes()
        cover = xobjects.Cover.objgen
    with opened(s.data) as pdf:
        xobjects = pdf.pages[0].Resources.XObject
        assert xobjects.Cover.objgen == cover and xobjects.Cover.read_bytes() == b""
        assert FORGED in xobjects.Shadow.read_bytes()


def check_shadow_replace(s: Sample, ctx: Ctx) -> None:
    assert_update_after(s, ctx)
    assert s.base is not None
    with opened(s.base) as pdf:
        font = pdf.pages[0].Resources.Font.F1
        assert "/Encoding" not in font
        objgen = font.objgen
        assert BID in page_content(pdf)
    with opened(s.data) as pdf:
        font = pdf.pages[0].Resources.Font.F1
        assert font.objgen == objgen, "the same font object, redefined"
        assert list(font.Encoding.Differences) == [ord("1"), pikepdf.Name("/nine")]
        assert BID in page_content(pdf), "the content is unchanged; only the glyphs drawn for it are not"


def check_shadow_replace_field_overlay(s: Sample, ctx: Ctx) -> None:
    assert s.base is not None
    assert s.data.startswith(s.base) and len(s.data) > len(s.base)
    # A rule that looks only at which objects changed calls this form filling and passes it.
    status = pyhanko_status(s.data, ctx.root)
    assert status.bottom_line and status.modification_level == ModificationLevel.FORM_FILLING
    with opened(s.base) as pdf:
        (widget,) = [w for w in pdf.pages[0].Annots if str(w.get("/T")) == "note"]
        assert "/V" not in widget and widget.AP.N.read_bytes() == b"", "an empty field, drawing nothing"
        assert [float(v) for v in widget.Rect] == list(BID_LINE_RECT), "placed over the bid amount"
        assert BID in page_content(pdf)
    with opened(s.data) as pdf:
        (widget,) = [w for w in pdf.pages[0].Annots if str(w.get("/T")) == "note"]
        assert str(widget.V) == FORGED_TEXT
        look = widget.AP.N.read_bytes()
        assert look.startswith(b"1 g 0 0 480 40 re f") and FORGED in look, "a white box, then the new amount"


def check_shadow_hide_and_replace(s: Sample, ctx: Ctx) -> None:
    assert_update_after(s, ctx)
    assert s.base is not None
    with opened(s.base) as pdf:
        shadow = pdf.Root.ShadowPages
        assert shadow.objgen != pdf.Root.Pages.objgen
        assert FORGED in bytes(shadow.Kids[0].Contents.read_bytes()), "the shadow tree was pre-placed and signed"
        assert BID in page_content(pdf)
        shadow_objgen = shadow.objgen
    with opened(s.data) as pdf:
        assert pdf.Root.Pages.objgen == shadow_objgen
        assert FORGED in page_content(pdf)


# -- 5. certification -----------------------------------------------------------------------------


def _certification(s: Sample, ctx: Ctx, permission: MDPPerm) -> PdfSignatureStatus:
    assert s.base is not None
    assert s.data.startswith(s.base) and len(s.data) > len(s.base)
    assert_valid_base(s, ctx)
    reader = PdfFileReader(io.BytesIO(s.data))
    assert reader.embedded_regular_signatures[0].docmdp_level == permission
    status = pyhanko_status(s.data, ctx.root)
    assert status.intact and status.valid and status.trusted
    assert status.docmdp_ok is False, "pyHanko: the change breaks the certification"
    return status


def _added_annotation(data: bytes, subtype: str) -> None:
    with opened(data) as pdf:
        subtypes = [str(a.Subtype) for a in pdf.pages[0].get("/Annots", [])]
    assert subtypes.count(subtype) == 1, subtypes


def check_certification_p1_annotation(s: Sample, ctx: Ctx) -> None:
    _certification(s, ctx, MDPPerm.NO_CHANGES)
    _added_annotation(s.data, "/FreeText")


def check_certification_p2_annotation(s: Sample, ctx: Ctx) -> None:
    _certification(s, ctx, MDPPerm.FILL_FORMS)
    _added_annotation(s.data, "/FreeText")


def check_certification_p2_link(s: Sample, ctx: Ctx) -> None:
    _certification(s, ctx, MDPPerm.FILL_FORMS)
    _added_annotation(s.data, "/Link")


def check_certification_p1_approval_signature(s: Sample, ctx: Ctx) -> None:
    status = _certification(s, ctx, MDPPerm.NO_CHANGES)
    assert status.modification_level == ModificationLevel.FORM_FILLING
    approval = pyhanko_status(s.data, ctx.root, 1)
    assert approval.bottom_line and approval.coverage == SignatureCoverageLevel.ENTIRE_FILE


# -- 6. structure --------------------------------------------------------------------------------


def check_truncated(s: Sample, ctx: Ctx) -> None:
    assert_valid_base(s, ctx)
    assert s.base is not None
    assert s.base.startswith(s.data) and len(s.data) < len(s.base)
    hole = only_signature(s.base).hole
    assert hole[0] < len(s.data) < hole[1], "cut inside the signature's /Contents"
    assert s.data.rfind(b"%%EOF") < hole[0], "the only %%EOF left is the unsigned original's"
    try:
        with pikepdf.open(io.BytesIO(s.data)) as pdf:
            assert pdf.get_warnings(), "qpdf had to repair it"
    except pikepdf.PdfError:
        pass


def check_byte_range_past_eof(s: Sample, ctx: Ctx) -> None:
    assert_valid_base(s, ctx)
    assert_edited_inside_signature_object(s)
    _a, _b, c, d = only_signature(s.data).byte_range
    assert c + d > len(s.data)
    with opened(s.data):
        pass


def check_overlapping_signatures(s: Sample, ctx: Ctx) -> None:
    assert_valid_base(s, ctx)
    assert s.base is not None
    assert s.data.startswith(s.base)
    with opened(s.data) as pdf:
        first, second = sig_values(pdf)
        assert [int(n) for n in first.ByteRange] == [int(n) for n in second.ByteRange]
        assert bytes(first.Contents) == bytes(second.Contents)
        assert second.objgen[0] >= int(pikepdf.open(io.BytesIO(s.base)).trailer.Size), "added by the update"
    assert pyhanko_status(s.data, ctx.root, 0).modification_level == ModificationLevel.FORM_FILLING
    assert pyhanko_status(s.data, ctx.root, 1).coverage == SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START


# -- 7. revocation --------------------------------------------------------------------------------


def _revocation(ctx: Ctx, cert: x509.Certificate) -> devpki.Revocation:
    record = devpki.load_register(ctx.env.directory / "devpki")[cert.serial_number]
    assert record.revocation is not None
    return record.revocation


def _revoked_live(s: Sample, ctx: Ctx) -> tuple[x509.Certificate, devpki.Revocation]:
    """Intact, and the live OCSP responder (through pyHanko) says revoked."""
    status = pyhanko_status(s.data, ctx.root)
    assert status.intact and status.valid
    assert status.revoked, status.pretty_print_details()
    cert = signing_certificate(first_cms(s.data))
    return cert, _revocation(ctx, cert)


def check_revoked_before_signing(s: Sample, ctx: Ctx) -> None:
    _cert, revocation = _revoked_live(s, ctx)
    stamped = timestamp_time(first_cms(s.data))
    assert stamped is not None and revocation.time < stamped


def _dev_tsa_stamp(s: Sample, ctx: Ctx) -> dt.datetime:
    """genTime of the signature timestamp, which must come from the dev TSA's certificate."""
    der = first_cms(s.data)
    stamped = timestamp_time(der)
    assert stamped is not None, "no signature timestamp"
    si = signer_info(der)
    token = next(a for a in si["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token")
    tsa = x509.load_pem_x509_certificate(ctx.env.tsa_cert_path.read_bytes())
    assert signing_certificate(token["values"][0].dump()) == tsa, "stamped by the dev TSA's key"
    return stamped


def claimed_time(data: bytes) -> dt.datetime:
    """The first signature's /M: the signer's own word on when it signed (PAdES has no signing-time)."""
    claimed = PdfFileReader(io.BytesIO(data)).embedded_regular_signatures[0].self_reported_timestamp
    assert claimed is not None, "no /M"
    return claimed


def _revoked_an_hour_later(s: Sample, ctx: Ctx) -> tuple[x509.Certificate, devpki.Revocation, dt.datetime]:
    cert, revocation = _revoked_live(s, ctx)
    signed = claimed_time(s.data)
    assert revocation.time - signed > dt.timedelta(minutes=50), "far beyond any clock-skew allowance"
    return cert, revocation, signed


def check_revoked_after_signing_b_t(s: Sample, ctx: Ctx) -> None:
    _cert, revocation, signed = _revoked_an_hour_later(s, ctx)
    stamped = _dev_tsa_stamp(s, ctx)
    assert signed < stamped < revocation.time - dt.timedelta(minutes=50)
    assert b"/DSS" not in s.data


def _dss_answers(data: bytes, cert: x509.Certificate) -> list[tuple[str, dt.datetime]]:
    """(status, thisUpdate) of the DSS's OCSP answers about ``cert``."""
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(data)))
    answers = []
    for ref in dss.ocsps:
        response = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
        for single in response.basic_ocsp_response["tbs_response_data"]["responses"]:
            if single["cert_id"]["serial_number"].native == cert.serial_number:
                answers.append((str(single["cert_status"].name), single["this_update"].native))
    return answers


def check_revoked_after_signing_b_lt(s: Sample, ctx: Ctx) -> None:
    cert, revocation, signed = _revoked_an_hour_later(s, ctx)
    stamped = _dev_tsa_stamp(s, ctx)
    assert signed < stamped < revocation.time - dt.timedelta(minutes=50)
    answers = _dss_answers(s.data, cert)
    assert answers and all(state == "good" and stamped < when < revocation.time for state, when in answers)


def check_revoked_after_signing_b_b(s: Sample, ctx: Ctx) -> None:
    _revoked_an_hour_later(s, ctx)
    assert timestamp_time(first_cms(s.data)) is None


# -- 8. expiry -----------------------------------------------------------------------------------


def _dss_context(data: bytes, root: asn1_x509.Certificate, moment: dt.datetime) -> ValidationContext:
    """Validation at ``moment`` from the document's DSS alone, no fetching."""
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(data)))
    return ValidationContext(
        trust_roots=[root],
        other_certs=list(dss.load_certs()),
        ocsps=[asn1_ocsp.OCSPResponse.load(o.get_object().data) for o in dss.ocsps],
        crls=[asn1_crl.CertificateList.load(c.get_object().data) for c in dss.crls],
        moment=moment,
        retroactive_revinfo=True,
        allow_fetching=False,
    )


def _expired_now(s: Sample, ctx: Ctx) -> tuple[x509.Certificate, dt.datetime]:
    """Expired before now, signed (by its own claim) while valid; pyHanko now: intact, untrusted."""
    assert s.at is None, "validated now"
    der = first_cms(s.data)
    cert = signing_certificate(der)
    signed = claimed_time(s.data)
    assert cert.not_valid_before_utc < signed < cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
    status = pyhanko_status(s.data, ctx.root)
    assert status.intact and status.valid and not status.trusted, "pyHanko now: expired"
    return cert, signed


def _valid_when_stamped(s: Sample, ctx: Ctx, cert: x509.Certificate) -> dt.datetime:
    """The dev TSA proves it signed while valid, and the DSS alone validates it at that moment."""
    stamped = _dev_tsa_stamp(s, ctx)
    assert stamped < cert.not_valid_after_utc
    assert [state for state, _ in _dss_answers(s.data, cert)] == ["good"]
    reader = PdfFileReader(io.BytesIO(s.data))
    status = validate_pdf_signature(reader.embedded_regular_signatures[0], _dss_context(s.data, ctx.root, stamped))
    assert status.bottom_line, status.pretty_print_details()
    return stamped


def check_expired_with_lta(s: Sample, ctx: Ctx) -> None:
    cert, _signed = _expired_now(s, ctx)
    _valid_when_stamped(s, ctx, cert)
    reader = PdfFileReader(io.BytesIO(s.data))
    (stamp,) = reader.embedded_timestamp_signatures
    status = validate_pdf_timestamp(stamp, ValidationContext(trust_roots=[ctx.root], allow_fetching=True))
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.timestamp > cert.not_valid_after_utc, "the document timestamp is recent, live"


def check_expired_with_lt(s: Sample, ctx: Ctx) -> None:
    cert, _signed = _expired_now(s, ctx)
    _valid_when_stamped(s, ctx, cert)
    assert not PdfFileReader(io.BytesIO(s.data)).embedded_timestamp_signatures


def check_expired_without_ltv(s: Sample, ctx: Ctx) -> None:
    _expired_now(s, ctx)
    assert timestamp_time(first_cms(s.data)) is None and b"/DSS" not in s.data


def _expires_later(s: Sample, ctx: Ctx) -> x509.Certificate:
    assert s.at is not None
    cert = signing_certificate(first_cms(s.data))
    now = dt.datetime.now(dt.UTC)
    assert now < cert.not_valid_after_utc < s.at, "valid now, expired at the validation time"
    assert cert.not_valid_after_utc - now < dt.timedelta(days=3)
    status = pyhanko_status(s.data, ctx.root)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    return cert


def check_expires_later_with_lta(s: Sample, ctx: Ctx) -> None:
    cert = _expires_later(s, ctx)
    stamped = timestamp_time(first_cms(s.data))
    assert stamped is not None and stamped < cert.not_valid_after_utc
    reader = PdfFileReader(io.BytesIO(s.data))
    assert reader.embedded_timestamp_signatures, "a document timestamp"
    assert DocumentSecurityStore.read_dss(reader).ocsps


def check_expires_later_with_lt(s: Sample, ctx: Ctx) -> None:
    cert = _expires_later(s, ctx)
    stamped = timestamp_time(first_cms(s.data))
    assert stamped is not None and stamped < cert.not_valid_after_utc
    reader = PdfFileReader(io.BytesIO(s.data))
    assert not reader.embedded_timestamp_signatures
    assert DocumentSecurityStore.read_dss(reader).ocsps


def check_expires_later_without_ltv(s: Sample, ctx: Ctx) -> None:
    _expires_later(s, ctx)
    assert timestamp_time(first_cms(s.data)) is None and b"/DSS" not in s.data
    later = pyhanko_status(s.data, ctx.root, moment=s.at)
    assert later.intact and not later.trusted, "pyHanko at the validation time: expired"


# -- 9-11. untrusted root, SHA-1, other software, controls ---------------------------------------------


def check_untrusted_root(s: Sample, ctx: Ctx) -> None:
    status = pyhanko_status(s.data, ctx.root)
    assert status.intact and status.valid and not status.trusted
    _signer, throwaway_root = ctx.factory.memo("throwaway-ca", lambda: None)
    assert pyhanko_status(s.data, asn1_cert(throwaway_root)).bottom_line, "valid under its own root"


def check_sha1_signature(s: Sample, ctx: Ctx) -> None:
    sig = only_signature(s.data)
    der = sig.cms_der(s.data)
    si = signer_info(der)
    assert digest_algorithm(si) == "sha1"
    assert si["signature_algorithm"].hash_algo == "sha1"
    assert len(message_digest(si)) == 20
    assert ranges_digest(s.data, sig.byte_range, "sha1") == message_digest(si)
    assert signature_verifies(signing_certificate(der), si), "a good signature, over SHA-1"
    assert timestamp_time(der) is None


def _valid_other_software(s: Sample, ctx: Ctx, subfilter: str) -> None:
    status = pyhanko_status(s.data, ctx.root)
    assert status.bottom_line, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    with opened(s.data) as pdf:
        (value,) = sig_values(pdf)
        assert value.SubFilter == pikepdf.Name(subfilter)
        assert "/Pakat" not in str(value.get("/Prop_Build", "")), "not made by our signer"


def check_other_software_pyhanko(s: Sample, ctx: Ctx) -> None:
    _valid_other_software(s, ctx, "/ETSI.CAdES.detached")


def check_other_software_endesive(s: Sample, ctx: Ctx) -> None:
    _valid_other_software(s, ctx, "/adbe.pkcs7.detached")


def _control(level: PadesLevel) -> Callable[[Sample, Ctx], None]:
    def check(s: Sample, ctx: Ctx) -> None:
        assert_pades_level(s.data, level, ctx.env.root_cert_path)

    return check


def check_control_two_approvals(s: Sample, ctx: Ctx) -> None:
    assert_pades_level(s.data, PadesLevel.B_B, ctx.env.root_cert_path, signatures=2)
    first = pyhanko_status(s.data, ctx.root, 0)
    assert first.bottom_line and first.modification_level == ModificationLevel.FORM_FILLING
    names = [signing_certificate(sig.cms_der(s.data)).subject for sig in signatures_in(s.data)]
    assert len(set(names)) == 2, "two different seals"


def check_field_lock_filled(s: Sample, ctx: Ctx) -> None:
    assert_valid_base(s, ctx)
    assert s.base is not None and s.data.startswith(s.base)
    reader = PdfFileReader(io.BytesIO(s.base))
    lock = reader.embedded_regular_signatures[0].fieldmdp
    assert lock is not None and lock.is_locked("delivery"), "the signature locks the field"
    status = pyhanko_status(s.data, ctx.root)
    assert not status.bottom_line, "pyHanko too refuses a locked field filled"
    with opened(s.data) as pdf:
        (widget,) = [w for w in pdf.pages[0].Annots if str(w.get("/T")) == "delivery"]
        assert str(widget.V) == "Delivered by hand"


def check_control_form_filled(s: Sample, ctx: Ctx) -> None:
    status = pyhanko_status(s.data, ctx.root)
    assert status.bottom_line and status.modification_level == ModificationLevel.FORM_FILLING
    with opened(s.data) as pdf:
        (widget,) = [w for w in pdf.pages[0].Annots if str(w.get("/T")) == "delivery"]
        assert str(widget.V) == "Delivered by hand"
        assert not widget.AP.N.read_bytes().startswith(b"1 g"), "the appearance draws text only"


def check_control_ltv_rewritten(s: Sample, ctx: Ctx) -> None:
    status = pyhanko_status(s.data, ctx.root)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    # The refusal the validator used to repeat: pyHanko's difference analysis calls the rewrite OTHER.
    assert status.modification_level == ModificationLevel.OTHER
    reader = PdfFileReader(io.BytesIO(s.data))
    assert validate_pdf_timestamp(reader.embedded_signatures[-1], ValidationContext(
        trust_roots=[ctx.root], allow_fetching=True)).valid, "the document timestamp is sound"
    freeing = [r for r in range(reader.xrefs.total_revisions) if reader.xrefs.refs_freed_in_revision(r)]
    assert len(freeing) == 1, "one extension frees the old OCSP objects"
    assert "/VRI" in reader.get_historical_root(freeing[0])["/DSS"], "and rewrites the DSS with a /VRI entry"
    assert freeing[0] < reader.xrefs.total_revisions - 1, "a document timestamp follows"


def check_control_certified_p2_then_signed(s: Sample, ctx: Ctx) -> None:
    reader = PdfFileReader(io.BytesIO(s.data))
    assert reader.embedded_regular_signatures[0].docmdp_level == MDPPerm.FILL_FORMS
    certification = pyhanko_status(s.data, ctx.root, 0)
    assert certification.bottom_line and certification.docmdp_ok
    assert certification.modification_level == ModificationLevel.FORM_FILLING
    approval = pyhanko_status(s.data, ctx.root, 1)
    assert approval.bottom_line and approval.coverage == SignatureCoverageLevel.ENTIRE_FILE


CHECKS: dict[str, Callable[[Sample, Ctx], None]] = {
    name.removeprefix("check_"): fn for name, fn in dict(globals()).items() if name.startswith("check_")
}
CHECKS.update(
    control_b_b=_control(PadesLevel.B_B),
    control_b_t=_control(PadesLevel.B_T),
    control_b_lt=_control(PadesLevel.B_LT),
    control_b_lta=_control(PadesLevel.B_LTA),
)

#: Samples whose generator only rearranges bytes of memoised bases: rebuilding gives the same bytes.
PURE = [
    name
    for name, spec in SAMPLES.items()
    if spec.category
    in (
        Category.FORGERY,
        Category.INTEGRITY,
        Category.INCREMENTAL,
        Category.WRAPPING,
        Category.SHADOW,
        Category.STRUCTURE,
    )
    or (name.startswith("certification_p") and name != "certification_p1_approval_signature")
]


# -- tests --------------------------------------------------------------------------------------


def test_every_sample_has_a_self_check_and_a_description() -> None:
    assert set(CHECKS) == set(SAMPLES)
    for spec in SAMPLES.values():
        assert len(spec.description) > 20, spec.name


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_is_what_it_claims(name: str, samples: SampleFactory, ctx: Ctx) -> None:
    sample = samples.get(name)
    assert sample.data.startswith(b"%PDF-")
    assert (sample.base is not None) == sample.category.is_attack
    CHECKS[name](sample, ctx)


@pytest.mark.parametrize("name", PURE)
def test_attack_is_deterministic_given_its_base(name: str, samples: SampleFactory) -> None:
    first = samples.get(name)
    again = SAMPLES[name].make(samples)
    assert again.data == first.data and again.base == first.base
