"""Independent checks of a signed PDF: pyHanko (trusting only the dev root) and poppler's pdfsig.

Shared by the signer, web, CLI and worker tests so that "the level really
reached" means the same thing everywhere.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from pakat.pdf_reader import open_reader
from signer.levels import PadesLevel


def load_asn1_certificate(path: Path) -> asn1_x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return asn1_x509.Certificate.load(data)


@dataclass(frozen=True)
class DssContents:
    certificates: int
    ocsps: int
    crls: int


def assert_pades_level(data: bytes, level: PadesLevel, root: Path, *, signatures: int = 1) -> None:
    """Assert with pyHanko that the last regular signature is intact, valid, trusted at ``level``.

    The document holds ``signatures`` regular signatures and no DSS below B-LT
    (see :func:`assert_signature_at_level` for the checks of the signature itself).
    """
    reader = _reader(data)
    regular = reader.embedded_regular_signatures
    assert len(regular) == signatures, [s.field_name for s in reader.embedded_signatures]
    if not level.long_term:
        assert _read_dss(reader) is None, f"{level.value} should not carry a DSS"
    doc_timestamps = [s for s in reader.embedded_signatures if s.sig_object.get("/Type") == "/DocTimeStamp"]
    assert bool(doc_timestamps) == level.archival, [s.field_name for s in doc_timestamps]
    assert_signature_at_level(data, level, root, regular[-1].field_name)


def assert_signature_at_level(data: bytes, level: PadesLevel, root: Path, field_name: str) -> None:
    """Assert with pyHanko that signature ``field_name`` is intact, valid and trusted at ``level``.

    B-B and B-T are checked with live revocation (hard-fail); B-LT and B-LTA
    with revocation data taken from the document's DSS only, fetching off,
    which proves the embedded data suffices. For B-LTA the last document
    timestamp must cover the whole file and validate too. The document may
    hold other signatures and (made by others) a DSS of its own.
    """
    trust = [load_asn1_certificate(root)]
    reader = _reader(data)
    # Only the named signature is read: another's CMS may be beyond pyHanko (two SignerInfos, say).
    (sig,) = [EmbeddedPdfSignature(reader, field, name)
              for name, _, field in enumerate_sig_fields(reader, filled_status=True) if name == field_name]
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert sig.md_algorithm in ("sha256", "sha384", "sha512")
    dss = _read_dss(reader)

    if level.long_term:
        assert dss is not None, "B-LT needs a DSS"
        certs, ocsps, crls = dss
        assert ocsps or crls, "the DSS carries no revocation data"
        vc = ValidationContext(
            trust_roots=trust,
            other_certs=certs,
            ocsps=ocsps,
            crls=crls,
            allow_fetching=False,
            revocation_mode="hard-fail",
        )
    else:
        vc = ValidationContext(trust_roots=trust, allow_fetching=True, revocation_mode="hard-fail")

    try:
        status = validate_pdf_signature(sig, vc)
        diffed = True
    except PdfReadError as exc:
        # pyHanko's difference analysis refuses forms whose field names contain a period (EU DSS's
        # pades-same-border-annotations.pdf, for one); the rest of its judgement still stands, and
        # Pakat's validator and pdfsig judge what changed.
        if "Partial names must not contain periods" not in str(exc):
            raise
        again = EmbeddedPdfSignature(reader, sig.sig_field, field_name)
        status = validate_pdf_signature(again, vc, skip_diff=True)
        diffed = False
    assert status.intact and status.valid, status.pretty_print_details()
    assert status.trusted, status.pretty_print_details()
    if level.long_term:
        assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        assert not diffed or status.modification_level == ModificationLevel.LTA_UPDATES, status.modification_level
    else:
        assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        assert status.modification_level == ModificationLevel.NONE
    if level.timestamped:
        ts = status.timestamp_validity
        assert ts is not None, "no signature timestamp"
        assert ts.intact and ts.valid and ts.trusted, ts
    else:
        assert status.timestamp_validity is None

    if level.archival:
        *_, (last_name, _, last_field) = enumerate_sig_fields(reader, filled_status=True)
        last = EmbeddedPdfSignature(reader, last_field, last_name)
        assert last.sig_object.get("/Type") == "/DocTimeStamp", "B-LTA ends with a document timestamp"
        ts_status = validate_pdf_timestamp(last, vc)
        assert ts_status.intact and ts_status.valid and ts_status.trusted, ts_status.pretty_print_details()
        assert ts_status.coverage == SignatureCoverageLevel.ENTIRE_FILE


def _reader(data: bytes) -> PdfFileReader:
    # Pakat's own reader: non-strict, /Encrypt null as no encryption, an owner-password document opened.
    return open_reader(io.BytesIO(data))


def _read_dss(
    reader: PdfFileReader,
) -> tuple[list[asn1_x509.Certificate], list[asn1_ocsp.OCSPResponse], list[asn1_crl.CertificateList]] | None:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return None
    certs = list(dss.load_certs())
    ocsps = [asn1_ocsp.OCSPResponse.load(o.get_object().data) for o in dss.ocsps]
    crls = [asn1_crl.CertificateList.load(c.get_object().data) for c in dss.crls]
    return certs, ocsps, crls


def pdfsig(path: Path, root_pem: Path, nss_dir: Path, intermediates: Iterable[Path] = ()) -> str:
    """poppler's pdfsig output with an NSS database that trusts only ``root_pem``.

    ``intermediates`` (CA certificates, no trust of their own) go into the
    database too. Without them poppler 22's NSS loses track of an issuer it
    took from one signature's CMS by the time it checks the OCSP answer for a
    second certificate of the same CA in the file, and calls that second
    certificate "Unknown issue with Certificate or corrupted data".
    """
    if not (nss_dir / "cert9.db").exists():
        nss_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss_dir}", "--empty-password"], check=True)
        subprocess.run(
            [
                "certutil",
                "-A",
                "-d",
                f"sql:{nss_dir}",
                "-n",
                "pakat-dev-root",
                "-t",
                "CT,C,C",
                "-i",
                str(root_pem),
            ],
            check=True,
        )
        for n, ca in enumerate(intermediates):
            subprocess.run(["certutil", "-A", "-d", f"sql:{nss_dir}", "-n", f"pakat-dev-ca-{n}", "-t", ",,",
                            "-i", str(ca)], check=True)
    result = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss_dir}", str(path)], capture_output=True, text=True, timeout=60
    )
    return result.stdout + result.stderr
