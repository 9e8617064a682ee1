"""Documents nobody at Pakat made, for the signing side's tests and benchmarks.

Three sources, one list (:func:`real_documents`):

* **producers** — the committed fixtures of ``tests/producers/`` (LibreOffice,
  Ghostscript, Chromium, img2pdf, ReportLab, WeasyPrint, fpdf2, qpdf, pypdf,
  pikepdf and a few hand-made shapes), each with the outcome its manifest
  promises;
* **conformance** — every file of ``tests/conformance/`` that is not
  ``malformed``: documents signed by EU DSS, iText, Adobe and others, some of
  them attacked;
* **signed here** — producer documents signed first by other software with
  the dev PKI (pyHanko at B-B, B-LT and B-LTA, endesive, certifications with
  DocMDP P=1, 2 and 3, a FieldMDP lock, an encrypted document) or by Pakat
  itself at B-LT and B-LTA.

What Pakat must do with a document is decided here independently of Pakat's
signer (:func:`expected_refusal`): pikepdf and pyHanko are asked whether the
file opens without a password, whether its owner allows new form fields,
whether a signature certifies it with no changes allowed, whether a field
lock covers a new visible signature field, and whether the validator's
reader can read it at all. Anything else must be sealed.
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.validation.pdf_embedded import read_certification_data
from validation_samples import SampleFactory

from pakat.pdf_reader import open_reader
from signer.levels import PadesLevel

HERE = Path(__file__).resolve().parent
PRODUCERS = HERE / "producers"
CONFORMANCE = HERE / "conformance"
#: The name our seal's first field takes, the one a field lock would have to cover.
SEAL_FIELD = "Pakat Seal 1"


@dataclass(frozen=True)
class RealDocument:
    """One input document, under a file name unique in the list."""

    name: str
    origin: str  # where it comes from, for messages
    load: Callable[[], bytes]
    promised: str | None = None  # producers: the refusal the manifest promises ("" for none)

    @functools.cached_property
    def data(self) -> bytes:
        return self.load()


def producer_documents() -> list[RealDocument]:
    manifest = json.loads((PRODUCERS / "manifest.json").read_text(encoding="utf-8"))
    found = []
    for entry in manifest:
        path = PRODUCERS / entry["file"]
        expect = entry["expect"]
        promised = "" if expect == "sealable" else expect["refused"]
        found.append(RealDocument(f"producer-{entry['family']}-{path.stem}.pdf", f"producers/{entry['file']}",
                                  path.read_bytes, promised))
    return found


def conformance_documents() -> list[RealDocument]:
    manifest = json.loads((CONFORMANCE / "manifest.json").read_text(encoding="utf-8"))
    found = []
    for entry in manifest:
        if entry["expect"] == "malformed":
            continue
        path = CONFORMANCE / entry["file"]
        source = entry["file"].split("/")[1]
        found.append(RealDocument(f"conformance-{source}-{path.stem}.pdf", f"conformance/{entry['file']}",
                                  path.read_bytes))
    return found


# -- documents other software (and Pakat) signed first -----------------------------------------------------


def _producer(relative: str) -> bytes:
    return (PRODUCERS / "files" / relative).read_bytes()


def _pyhanko(level: PadesLevel, base: str) -> Callable[[SampleFactory], bytes]:
    def build(f: SampleFactory) -> bytes:
        return f.pyhanko_sign(_producer(base), f.soft_signer("pyhanko"), field="Signature1", level=level)
    return build


def _certified(permission: fields.MDPPerm, base: str) -> Callable[[SampleFactory], bytes]:
    def build(f: SampleFactory) -> bytes:
        signer = f.soft_signer("certifier")
        return f.pyhanko_sign(_producer(base), signer, field="Certification", certify=permission)
    return build


def _endesive(base: str) -> Callable[[SampleFactory], bytes]:
    def build(f: SampleFactory) -> bytes:
        return f.endesive_sign(_producer(base), f.soft_signer("endesive"), field="Endesive1")
    return build


def _pakat(level: PadesLevel, base: str) -> Callable[[SampleFactory], bytes]:
    def build(f: SampleFactory) -> bytes:
        return f.seal(_producer(base), level, f"real-{level.value}-{Path(base).stem}", org="demo-gov")
    return build


def _field_locked(base: str) -> Callable[[SampleFactory], bytes]:
    """pyHanko signs a field whose /Lock locks every field of the form after signing (FieldMDP /All)."""

    def build(f: SampleFactory) -> bytes:
        spec = fields.SigFieldSpec("Locking", field_mdp_spec=fields.FieldMDPSpec(fields.FieldMDPAction.ALL))
        meta = signers.PdfSignatureMetadata(field_name="Locking", subfilter=fields.SigSeedSubFilter.PADES)
        out = io.BytesIO()
        signers.PdfSigner(meta, f.soft_signer("pyhanko").pyhanko(), new_field_spec=spec).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(_producer(base))), output=out
        )
        return out.getvalue()

    return build


def _encrypted_signed(base: str) -> Callable[[SampleFactory], bytes]:
    """pyHanko signs an owner-password document, its update encrypted with the file's key."""

    def build(f: SampleFactory) -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(_producer(base)))
        writer.encrypt(b"")
        meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES)
        out = io.BytesIO()
        signers.PdfSigner(meta, f.soft_signer("pyhanko").pyhanko()).sign_pdf(writer, output=out)
        return out.getvalue()

    return build


SIGNED_FIRST: dict[str, tuple[Callable[[SampleFactory], bytes], str]] = {
    "pyhanko-b-b": (_pyhanko(PadesLevel.B_B, "libreoffice/lo_plain.pdf"),
                    "pyHanko B-B approval on a LibreOffice export"),
    "pyhanko-b-lt": (_pyhanko(PadesLevel.B_LT, "weasyprint/weasyprint_persian.pdf"),
                     "pyHanko B-LT (DSS) on a WeasyPrint file with xref and object streams"),
    "pyhanko-b-lta": (_pyhanko(PadesLevel.B_LTA, "ghostscript/gs_pdfa2b.pdf"),
                      "pyHanko B-LTA (DSS, VRI, document timestamp) on a Ghostscript PDF/A-2b"),
    "endesive": (_endesive("reportlab/reportlab_persian.pdf"), "endesive adbe.pkcs7.detached on ReportLab"),
    "certified-p1": (_certified(fields.MDPPerm.NO_CHANGES, "libreoffice/lo_plain.pdf"),
                     "certified by pyHanko, DocMDP P=1: no changes allowed"),
    "certified-p2": (_certified(fields.MDPPerm.FILL_FORMS, "libreoffice/lo_form.pdf"),
                     "certified by pyHanko, DocMDP P=2: form filling and signing"),
    "certified-p3": (_certified(fields.MDPPerm.ANNOTATE, "chromium/chromium_print.pdf"),
                     "certified by pyHanko, DocMDP P=3: annotations too"),
    "field-locked": (_field_locked("libreoffice/lo_form.pdf"),
                     "approval signature whose field locks every field (FieldMDP /All)"),
    "encrypted-signed": (_encrypted_signed("qpdf/qpdf_aes256_owner_only.pdf"),
                         "pyHanko signature in an AES-256 owner-password document"),
    "pakat-b-lt": (_pakat(PadesLevel.B_LT, "libreoffice/lo_tagged.pdf"), "Pakat B-LT seal on a tagged PDF"),
    "pakat-b-lta": (_pakat(PadesLevel.B_LTA, "ghostscript/gs_redistilled.pdf"),
                    "Pakat B-LTA seal (DSS and document timestamp) on Ghostscript output"),
}


def signed_first_documents(factory: Callable[[], SampleFactory]) -> list[RealDocument]:
    """Documents signed by other software first; built on first use with the session's dev PKI."""
    return [RealDocument(f"signed-{name}.pdf", f"signed here: {why}", functools.partial(_build, factory, build))
            for name, (build, why) in SIGNED_FIRST.items()]


def _build(factory: Callable[[], SampleFactory], build: Callable[[SampleFactory], bytes]) -> bytes:
    return build(factory())


def document_names() -> list[str]:
    """Every document's name, known without building anything (for test parametrisation)."""
    names = [d.name for d in producer_documents() + conformance_documents()]
    names += [f"signed-{name}.pdf" for name in SIGNED_FIRST]
    return names


def real_documents(factory: Callable[[], SampleFactory]) -> list[RealDocument]:
    return producer_documents() + conformance_documents() + signed_first_documents(factory)


# -- what must happen to each, decided without Pakat's signer ---------------------------------------------


def expected_refusal(data: bytes) -> str | None:
    """The error code a signature on ``data`` must be refused with, or None when it must succeed."""
    try:
        with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pdf:
            encrypted, allow = pdf.is_encrypted, pdf.allow
    except pikepdf.PasswordError:
        return "PDF_ENCRYPTED"
    except pikepdf.PdfError:
        return "PDF_UNPARSEABLE"  # only repair would read it: an update on top would rest on sand
    try:
        # The validator's reader (pyHanko's, reading /Encrypt null as no encryption, as ISO 32000 says).
        reader = open_reader(io.BytesIO(data))
        signed = [(field, value) for _, value, field in fields.enumerate_sig_fields(reader, filled_status=True)]
    except Exception:  # the validator's reader cannot read it: nothing signed on it could be judged
        return "PDF_UNPARSEABLE"
    if encrypted and not (allow.modify_other and allow.modify_annotation):
        return "PDF_SIGNING_NOT_PERMITTED"
    certification = read_certification_data(reader)
    if certification is not None and certification.permission == fields.MDPPerm.NO_CHANGES:
        return "DOCUMENT_CERTIFIED_NO_CHANGES"
    for field, value in signed:  # as the signatures' dictionaries say, whatever their CMS holds
        value = value.get_object()
        lock = field.get_object().get("/Lock")
        lock = lock.get_object() if lock is not None else None
        docmdp = _transform(value, "/DocMDP")
        level = docmdp.get("/P", 2) if docmdp is not None else (lock.get("/P") if lock is not None else None)
        if level == 1:
            return "DOCUMENT_CERTIFIED_NO_CHANGES"
        locks = [fields.FieldMDPSpec.from_pdf_object(p) for p in (_transform(value, "/FieldMDP"), lock) if p]
        if any(spec.is_locked(SEAL_FIELD) for spec in locks):
            return "DOCUMENT_FIELDS_LOCKED"
    return None


def _transform(value: Any, method: str) -> Any:
    for reference in value.get("/Reference", []) if isinstance(value, dict) else []:
        reference = reference.get_object()
        if reference.get("/TransformMethod") == method:
            return reference["/TransformParams"]
    return None


#: The default block and its margins (README: 80 × 30 mm at the bottom of the last page, 12 mm in, 2 mm clear
#: of any earlier signature's block; on a small page the margin is 8 % of its short side and the block shrinks
#: to fit, down to 20 × 8 mm).
MM = 72 / 25.4
BLOCK = (80 * MM, 30 * MM)
MARGIN, SMALL_MARGIN, CLEARANCE, SMALLEST = 12 * MM, 0.08, 2 * MM, (20 * MM, 8 * MM)


def no_room_for_a_block(data: bytes) -> bool:
    """Whether the last page, as shown, has no place for the default block clear of earlier blocks.

    Decided by trying every place on a 2-point grid, not by Pakat's placement code.
    """
    with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pdf:
        page = pdf.pages[-1].obj
        box, rotate = page_box(page)
        blocks = [shown_rect(r, box, rotate) for r in _signature_blocks(page)]
    width, height = shown_size(box, rotate)
    margin = min(MARGIN, SMALL_MARGIN * min(width, height))
    scale = min(1.0, (width - 2 * margin) / BLOCK[0], (height - 2 * margin) / BLOCK[1])
    w, h = BLOCK[0] * scale, BLOCK[1] * scale
    if w < SMALLEST[0] - 1e-6 or h < SMALLEST[1] - 1e-6:
        return True
    y = margin
    while y + h <= height - margin + 1e-6:
        x = margin
        while x + w <= width - margin + 1e-6:
            if not any(x - CLEARANCE < b[2] and b[0] < x + w + CLEARANCE and y - CLEARANCE < b[3]
                       and b[1] < y + h + CLEARANCE for b in blocks):
                return False
            x += 2
        y += 2
    return True


def _signature_blocks(page: pikepdf.Dictionary) -> list[tuple[float, float, float, float]]:
    found = []
    for annot in page.get("/Annots", pikepdf.Array()):
        if not isinstance(annot, pikepdf.Dictionary) or annot.get("/Subtype") != "/Widget":
            continue
        kind, node = None, annot
        for _ in range(32):
            if not isinstance(node, pikepdf.Dictionary):
                break
            if "/FT" in node:
                kind = node.FT
                break
            node = node.get("/Parent")
        x0, y0, x1, y1 = (float(v) for v in annot.get("/Rect", [0, 0, 0, 0]))
        if kind == "/Sig" and x0 != x1 and y0 != y1:
            found.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return found


def page_box(page: pikepdf.Dictionary) -> tuple[tuple[float, float, float, float], int]:
    """The page's shown box (its CropBox within its MediaBox, inherited if need be) and its /Rotate."""
    media = [float(v) for v in inherited(page, "/MediaBox")]
    crop = [float(v) for v in (inherited(page, "/CropBox") or media)]
    low = [max(min(media[i], media[i + 2]), min(crop[i], crop[i + 2])) for i in (0, 1)]
    high = [min(max(media[i], media[i + 2]), max(crop[i], crop[i + 2])) for i in (0, 1)]
    return (low[0], low[1], high[0], high[1]), int(inherited(page, "/Rotate") or 0) % 360


def shown_size(box: tuple[float, float, float, float], rotate: int) -> tuple[float, float]:
    width, height = box[2] - box[0], box[3] - box[1]
    return (height, width) if rotate in (90, 270) else (width, height)


def shown_rect(rect: tuple[float, float, float, float], box: tuple[float, float, float, float],
               rotate: int) -> tuple[float, float, float, float]:
    """A user-space rectangle in shown coordinates (from the bottom-left of the page as displayed)."""
    x0, y0, x1, y1 = box
    points = []
    for x, y in ((rect[0], rect[1]), (rect[2], rect[3])):
        points.append({0: (x - x0, y - y0), 90: (y - y0, x1 - x), 180: (x1 - x, y1 - y),
                       270: (y1 - y, x - x0)}[rotate])
    (a, b), (c, d) = points
    return (min(a, c), min(b, d), max(a, c), max(b, d))


def inherited(page: pikepdf.Dictionary, key: str) -> Any:
    node: Any = page
    for _ in range(32):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if key in node:
            return node[key]
        node = node.get("/Parent")
    return None


_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_name(name: str) -> str:
    return _SAFE.sub("_", name)
