"""Each signature's signed revision (length and SHA-256) and where it shows (page, rectangle, invisible).

Real files: DSS's signed PDFs from several national producers (one signed twice in
incremental revisions, several with invisible signatures) and PDFs of the producer
corpus (LibreOffice, ReportLab, WeasyPrint) sealed by Pakat with a visible block on
a chosen page. The signed revision must be exactly the file's prefix up to the end
of the /ByteRange, and every report must conform to the JSON schema.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pakat_testkit import CONFORMANCE_CORPUS
from pyhanko.pdf_utils import generic

from envelopes.sealing import SealService
from hsm_config.deployment import default_validation_config, load_deployment
from signer.levels import PadesLevel
from signer.placement import VisibleSignature
from validation.engine import Validator
from validation.model import DocumentReport, WidgetPlacement
from validation.placement import annotation_pages
from validation.reports.json_report import report_schema, report_to_dict

DSS = CONFORMANCE_CORPUS / "files" / "dss"
PRODUCERS = Path(__file__).resolve().parent.parent / "producers" / "files"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(default_validation_config())


def check_signed_revisions(report: DocumentReport, data: bytes) -> None:
    """Every sane signature's signed revision is the prefix of the file up to its /ByteRange's end."""
    assert report.signatures
    for sig in report.signatures:
        byte_range = sig.integrity.byte_range
        assert byte_range is not None and sig.signed_revision is not None, sig.index
        assert sig.signed_revision.length == byte_range[2] + byte_range[3]
        assert sig.signed_revision.sha256 == hashlib.sha256(data[:sig.signed_revision.length]).hexdigest()
    jsonschema.validate(report_to_dict(report), report_schema())


@pytest.mark.parametrize("name", [
    "Signature-P-DE_SCI-4.pdf", "Signature-P-BG_BOR-2.pdf", "Signature-P-HU_POL-7.pdf", "Signature-P-FR_CS-5.pdf",
    "doc-firmado.pdf", "pades-bes.pdf",
])
def test_signed_revision_is_the_prefix_up_to_the_byte_range(validator: Validator, name: str) -> None:
    data = (DSS / name).read_bytes()
    check_signed_revisions(validator.validate(data, file_name=name), data)


def test_multi_revision_file_has_one_signed_revision_per_signature(validator: Validator) -> None:
    data = (DSS / "muestra-firmado-firmado.pdf").read_bytes()
    report = validator.validate(data)
    check_signed_revisions(report, data)
    first, second = report.signatures
    assert first.signed_revision and second.signed_revision
    assert first.signed_revision.length < second.signed_revision.length <= len(data)
    assert first.revision is not None and second.revision is not None and first.revision < second.revision
    # The earlier signed revision is a prefix of the later one, as incremental saving keeps it.
    assert data[:second.signed_revision.length].startswith(data[:first.signed_revision.length])
    # Both are visible, on the first page, in different places.
    assert first.placements == [WidgetPlacement(1, [374.0, 681.54, 541.514, 732.0], False)]
    assert second.placements == [WidgetPlacement(1, [69.0, 514.54, 236.514, 565.0], False)]


@pytest.mark.parametrize(("name", "rect"), [
    ("Signature-P-DE_SCI-4.pdf", [351.0, 93.0, 571.0, 206.0]),
    ("Signature-P-BG_BOR-2.pdf", [415.0, 20.0, 535.0, 80.0]),
])
def test_visible_signature_page_and_rectangle(validator: Validator, name: str, rect: list[float]) -> None:
    (sig,) = validator.validate(DSS / name).signatures
    assert sig.placements == [WidgetPlacement(page=1, rect=rect, invisible=False)]


@pytest.mark.parametrize("name", ["pades-bes.pdf", "doc-firmado.pdf", "hello_signed_INCSAVE_signed.pdf"])
def test_invisible_signature_is_zero_size(validator: Validator, name: str) -> None:
    report = validator.validate(DSS / name)
    for sig in report.signatures:
        assert sig.placements == [WidgetPlacement(page=1, rect=[0.0, 0.0, 0.0, 0.0], invisible=True)]
    row = report_to_dict(report)["signatures"][0]
    assert row["placements"] == [{"page": 1, "rect": [0.0, 0.0, 0.0, 0.0], "invisible": True}]
    assert set(row["signed_revision"]) == {"length", "sha256"}


@pytest.fixture(scope="module")
def seals(dev_env: Any) -> Any:
    service = SealService(load_deployment(dev_env.deployment_path))
    yield service
    service.close()


@pytest.mark.parametrize(("producer", "page", "expected_page"), [
    ("libreoffice/lo_plain.pdf", -1, None),
    ("reportlab/reportlab_40_pages.pdf", 7, 7),
    ("weasyprint/weasyprint_persian.pdf", 1, 1),
    ("qpdf/qpdf_object_streams.pdf", -1, None),
])
def test_pakat_seal_on_producer_files(validator: Validator, seals: SealService, tmp_path: Path, producer: str,
                                      page: int, expected_page: int | None) -> None:
    out = tmp_path / "sealed.pdf"
    seals.seal("demo-co", PRODUCERS / producer, out, PadesLevel.B_B, appearance=VisibleSignature(page=page))
    data = out.read_bytes()
    report = validator.validate(data)
    check_signed_revisions(report, data)
    (sig,) = report.signatures
    (place,) = sig.placements
    assert place.page == (expected_page or _page_count(data))
    assert place.rect is not None and not place.invisible
    x1, y1, x2, y2 = place.rect
    assert x2 - x1 > 100 and y2 - y1 > 40, "Pakat's block is 80 × 30 mm"
    # B-B: the seal is the file's last revision, so the signed revision is the whole file.
    assert sig.signed_revision is not None and sig.signed_revision.length == len(data)


def _page_count(data: bytes) -> int:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(io.BytesIO(data)).root["/Pages"]["/Count"])


def test_a_page_tree_missing_its_entries_reads_as_no_page_not_an_error() -> None:
    """A damaged page tree (a node with /Kids but no /Type; a page with no /Annots; a catalogue with no
    /Pages) gives no page for a widget: placement is a courtesy and must never cost the verdict (the seal
    fuzz test once ended in VALIDATION_INCOMPLETE on exactly such a node)."""

    def reader(catalogue: generic.DictionaryObject) -> Any:
        return type("Reader", (), {"root": catalogue})()

    name = generic.NameObject
    page = generic.DictionaryObject({name("/Type"): name("/Page")})
    untyped_node = generic.DictionaryObject({name("/Kids"): generic.ArrayObject([page])})
    assert annotation_pages(reader(generic.DictionaryObject({name("/Pages"): untyped_node}))) == {}
    assert annotation_pages(reader(generic.DictionaryObject())) == {}
    untyped_leaf = generic.DictionaryObject({name("/Annots"): generic.ArrayObject([generic.NullObject()])})
    assert annotation_pages(reader(generic.DictionaryObject({name("/Pages"): untyped_leaf}))) == {}
