"""Sealing at every PAdES level with the demo organisation's SoftHSM key, checked independently.

Real parts throughout: the seal key signs inside SoftHSM through PKCS#11, the
TSA and OCSP/CRL answers come over HTTP from the dev PKI's responders, and
the output is judged by pyHanko (trusting only the dev root) and by poppler's
pdfsig with an NSS database that trusts only the dev root.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pikepdf
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from pakat_testkit import NO_CHANGES_ALLOWED, check_sealed, encrypted_pdf_bytes
from signing_checks import assert_pades_level, pdfsig

from devkit.devsetup import DevEnvironment
from envelopes.sealing import SealResult, SealService
from hsm_config.deployment import TrustAnchor, load_certificate, load_deployment
from pakat import errors
from pakat.errors import CertificateRefused, InputError
from signer.levels import PadesLevel
from signer.pades import SignedDocument


def simple_pdf(path: Path, *, pages: int = 2, object_streams: bool = False) -> Path:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page()
    pdf.docinfo["/Title"] = "پاکت ب — پیشنهاد فنی"
    mode = pikepdf.ObjectStreamMode.generate if object_streams else pikepdf.ObjectStreamMode.disable
    pdf.save(path, object_stream_mode=mode)
    return path


@pytest.fixture(scope="module")
def service(dev_env: DevEnvironment) -> Iterator[SealService]:
    svc = SealService(load_deployment(dev_env.deployment_path))
    yield svc
    svc.close()


def test_a_seal_result_wraps_the_signed_document_and_reads_as_one_flat_json_object() -> None:
    signed = SignedDocument(
        destination=Path("/srv/out/bid.pdf"), level=PadesLevel.B_T, input_sha256="aa" * 32,
        output_sha256="bb" * 32, output_size=1234, signed_at=datetime(2026, 11, 22, 11, 0, 5, tzinfo=UTC),
        timestamp_time=datetime(2026, 11, 22, 11, 0, 6, tzinfo=UTC),
    )
    result = SealResult("demo-co", signed)
    assert result.document is signed
    # `pakat seal --json` and the worker's job record print this: keys, order and values as they always were.
    assert json.dumps(result.as_dict()) == json.dumps({
        "organisation": "demo-co", "level": "B-T", "destination": "/srv/out/bid.pdf",
        "input_sha256": "aa" * 32, "output_sha256": "bb" * 32, "output_size": 1234,
        "signed_at": "2026-11-22T11:00:05+00:00", "timestamp_time": "2026-11-22T11:00:06+00:00",
    })
    untimed = SealResult("demo-co", dataclasses.replace(signed, timestamp_time=None))
    assert untimed.as_dict()["timestamp_time"] is None


@pytest.mark.parametrize("level", list(PadesLevel), ids=lambda lv: lv.value)
def test_each_level_is_reached_and_accepted_by_pyhanko_and_pdfsig(
    service: SealService, dev_env: DevEnvironment, tmp_path: Path, level: PadesLevel
) -> None:
    source = simple_pdf(tmp_path / "envelope.pdf")
    original = source.read_bytes()
    out = tmp_path / "sealed.pdf"

    result = service.seal("demo-co", source, out, level, location="تهران")

    data = out.read_bytes()
    assert data.startswith(original), "the original bytes must pass through untouched"
    assert result.document.output_size == len(data)
    assert result.document.level is level
    assert (result.document.timestamp_time is not None) == level.timestamped
    assert_pades_level(data, level, dev_env.root_cert_path)

    report = pdfsig(out, dev_env.root_cert_path, tmp_path.parent / "nss")
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Certificate Validation: Certificate is Trusted." in report, report
    assert "Signature Type: ETSI.CAdES.detached" in report
    if level.archival:
        # poppler 22.12 cannot verify RFC 3161 document timestamps ("Unimplemented
        # Feature"); it still sees the field covering the whole file. pyHanko
        # verified the timestamp itself above.
        stamp = report.split("Signature #2:", 1)[1]
        assert "Pakat Archive Timestamp 1" in stamp and "Total document signed" in stamp, report
    if level.long_term:
        # Later revisions (DSS, document timestamp) follow the signature.
        assert "Not total document signed" in report, report
    else:
        assert "Total document signed" in report, report


def test_xref_stream_input_and_a_second_seal_on_top(
    service: SealService, dev_env: DevEnvironment, tmp_path: Path
) -> None:
    source = simple_pdf(tmp_path / "in.pdf", object_streams=True)
    first, second = tmp_path / "one.pdf", tmp_path / "two.pdf"
    service.seal("demo-co", source, first, PadesLevel.B_LTA)
    service.seal("demo-gov", first, second, PadesLevel.B_LTA)

    assert_pades_level(second.read_bytes(), PadesLevel.B_LTA, dev_env.root_cert_path, signatures=2)
    with pikepdf.open(second) as pdf:
        dss = pdf.Root.DSS
        blobs = [bytes(s.read_bytes()) for key in ("/Certs", "/OCSPs", "/CRLs") for s in dss.get(key, [])]
        assert len(blobs) == len(set(blobs)), "validation data already in the DSS was added again"
        names = [str(f.T) for f in pdf.Root.AcroForm.Fields]
    assert names == ["Pakat Seal 1", "Pakat Archive Timestamp 1", "Pakat Seal 2", "Pakat Archive Timestamp 2"]


def test_nulls_in_the_objects_an_update_rewrites_are_kept(
    service: SealService, dev_env: DevEnvironment, tmp_path: Path
) -> None:
    """fpdf2 and others write /OpenAction [page /XYZ null null 0] into the catalog we rewrite."""
    source = simple_pdf(tmp_path / "in.pdf")
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        pdf.Root.OpenAction = pikepdf.Array([pdf.pages[0].obj, pikepdf.Name.XYZ, None, None, 0])
        pdf.save(source)
    sealed = tmp_path / "sealed.pdf"
    service.seal("demo-co", source, sealed, PadesLevel.B_LT)
    assert_pades_level(sealed.read_bytes(), PadesLevel.B_LT, dev_env.root_cert_path)
    with pikepdf.open(sealed) as pdf:
        assert list(pdf.Root.OpenAction)[1:] == [pikepdf.Name.XYZ, None, None, 0]


def test_existing_form_fields_and_annotations_are_kept(
    service: SealService, dev_env: DevEnvironment, tmp_path: Path
) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    page = pdf.pages[0]
    field = pdf.make_indirect(
        pikepdf.Dictionary(
            FT=pikepdf.Name.Tx,
            T="bidder",
            V="ACME",
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Widget,
            Rect=[10, 10, 100, 30],
            P=page.obj,
        )
    )
    link = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 0, 5, 5])
    )
    page.Annots = pdf.make_indirect(pikepdf.Array([field, link]))
    pdf.Root.AcroForm = pikepdf.Dictionary(Fields=[field])  # direct AcroForm, direct Fields
    source = tmp_path / "form.pdf"
    pdf.save(source)

    out = tmp_path / "sealed.pdf"
    service.seal("demo-co", source, out, PadesLevel.B_T)
    assert_pades_level(out.read_bytes(), PadesLevel.B_T, dev_env.root_cert_path)
    with pikepdf.open(out) as signed:
        names = [str(f.T) for f in signed.Root.AcroForm.Fields]
        annots = signed.pages[0].Annots
        assert names == ["bidder", "Pakat Seal 1"]
        assert len(annots) == 3 and annots.is_indirect
        assert int(signed.Root.AcroForm.SigFlags) == 3


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"PK\x03\x04 this is a zip file", errors.NOT_A_PDF),
        (b"", errors.NOT_A_PDF),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", errors.PDF_TRUNCATED),
        (b"%PDF-1.7\ngarbage\nstartxref\n999999\n%%EOF\n", errors.PDF_UNPARSEABLE),
    ],
    ids=["zip", "empty", "truncated", "unparseable"],
)
def test_bad_input_is_refused_and_nothing_is_written(
    service: SealService, tmp_path: Path, content: bytes, code: errors.ErrorKind
) -> None:
    source = tmp_path / "bad.pdf"
    source.write_bytes(content)
    out = tmp_path / "out" / "sealed.pdf"
    out.parent.mkdir()
    with pytest.raises(InputError) as caught:
        service.seal("demo-co", source, out, PadesLevel.B_B)
    assert caught.value.kind is code
    assert list(out.parent.iterdir()) == []


def test_truncated_locked_and_no_changes_pdfs_are_refused(service: SealService, tmp_path: Path) -> None:
    good = simple_pdf(tmp_path / "good.pdf").read_bytes()
    (tmp_path / "cut.pdf").write_bytes(good[: len(good) // 2])
    (tmp_path / "locked.pdf").write_bytes(encrypted_pdf_bytes("user"))
    (tmp_path / "no-changes.pdf").write_bytes(encrypted_pdf_bytes("", allow=NO_CHANGES_ALLOWED))
    refusals = {
        "cut.pdf": errors.PDF_TRUNCATED,
        "locked.pdf": errors.PDF_ENCRYPTED,
        "no-changes.pdf": errors.PDF_SIGNING_NOT_PERMITTED,
    }
    for name, code in refusals.items():
        with pytest.raises(InputError) as caught:
            service.seal("demo-co", tmp_path / name, tmp_path / "out.pdf", PadesLevel.B_B)
        assert caught.value.kind is code, name
        assert not (tmp_path / "out.pdf").exists()


@pytest.mark.parametrize("level", list(PadesLevel))
def test_owner_password_pdf_is_sealed_encrypted(
    service: SealService, dev_env: DevEnvironment, tmp_path: Path, level: PadesLevel
) -> None:
    """A PDF that opens without a password but restricts printing is sealed, its update encrypted as it must be."""
    restricted = pikepdf.Permissions(print_highres=False, extract=False)
    source = tmp_path / "owner.pdf"
    source.write_bytes(encrypted_pdf_bytes("", allow=restricted))
    out = tmp_path / "out.pdf"
    service.seal("demo-co", source, out, level)
    data = out.read_bytes()
    assert data.startswith(source.read_bytes())
    with pikepdf.open(out) as reopened:  # still encrypted with the owner's settings
        assert reopened.is_encrypted
        assert reopened.allow.print_highres is False
    check_sealed(data, dev_env.root_cert_path, level)


def test_oversized_pdf_is_refused(dev_env: DevEnvironment, tmp_path: Path) -> None:
    small = SealService(dataclasses.replace(load_deployment(dev_env.deployment_path), max_pdf_bytes=1000))
    source = simple_pdf(tmp_path / "in.pdf", pages=5)
    with pytest.raises(InputError) as caught:
        small.seal("demo-co", source, tmp_path / "out.pdf", PadesLevel.B_B)
    assert caught.value.kind is errors.PDF_TOO_LARGE
    assert not (tmp_path / "out.pdf").exists()


@pytest.mark.parametrize(
    ("org", "code"),
    [("demo-revoked", errors.SEAL_CERT_REVOKED), ("demo-expired", errors.SEAL_CERT_EXPIRED)],
)
def test_revoked_and_expired_seals_are_refused_before_signing(
    service: SealService, tmp_path: Path, org: str, code: errors.ErrorKind
) -> None:
    source = simple_pdf(tmp_path / "in.pdf")
    with pytest.raises(CertificateRefused) as caught:
        service.seal(org, source, tmp_path / "out.pdf", PadesLevel.B_LTA)
    assert caught.value.kind is code
    assert not (tmp_path / "out.pdf").exists()


def test_seal_certificate_from_an_unconfigured_root_is_refused(dev_env: DevEnvironment, tmp_path: Path) -> None:
    """A deployment that trusts only the national root refuses the dev seal before signing."""
    national = Path(__file__).resolve().parents[2] / "hsm_config" / "trust" / "iran-root-ca-g3.pem"
    pin = load_certificate(national).fingerprint(hashes.SHA256()).hex()
    deployment = dataclasses.replace(
        load_deployment(dev_env.deployment_path), trust_roots=(TrustAnchor(national, pin),), intermediates=()
    )
    with pytest.raises(CertificateRefused) as caught:
        SealService(deployment).seal(
            "demo-co", simple_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf", PadesLevel.B_B
        )
    assert caught.value.kind is errors.SEAL_CERT_UNTRUSTED
    assert not (tmp_path / "out.pdf").exists()


def test_signed_bytes_are_what_pyhanko_reads(service: SealService, tmp_path: Path) -> None:
    """The ByteRange covers everything but the hole, and the hole holds exactly our CMS."""
    out = tmp_path / "sealed.pdf"
    service.seal("demo-co", simple_pdf(tmp_path / "in.pdf"), out, PadesLevel.B_B)
    from pyhanko.pdf_utils.reader import PdfFileReader

    data = out.read_bytes()
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    a, b, c, d = sig.byte_range
    assert a == 0 and c + d == len(data)
    assert data[b] == ord("<") and data[c - 1] == ord(">")


def test_a_direct_dss_is_extended_without_duplicates(
    service: SealService, dev_env: DevEnvironment, tmp_path: Path
) -> None:
    root_der = load_certificate(dev_env.root_cert_path).public_bytes(Encoding.DER)
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.Root.DSS = pikepdf.Dictionary(Type=pikepdf.Name.DSS, Certs=[pdf.make_stream(root_der)])  # direct
    source = tmp_path / "dss.pdf"
    pdf.save(source)
    out = tmp_path / "sealed.pdf"
    service.seal("demo-co", source, out, PadesLevel.B_LT)
    assert_pades_level(out.read_bytes(), PadesLevel.B_LT, dev_env.root_cert_path)
    with pikepdf.open(out) as signed:
        certs = [bytes(s.read_bytes()) for s in signed.Root.DSS.Certs]
    assert certs.count(root_der) == 1 and len(certs) > 1
