"""Independent checks of a signed PDF: pyHanko (trusting only the dev root) and poppler's pdfsig.

Shared by the signer, web, CLI and worker tests so that "the level really
reached" means the same thing everywhere.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

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

    B-B and B-T are checked with live revocation (hard-fail); B-LT and B-LTA
    with revocation data taken from the document's DSS only, fetching off,
    which proves the embedded data suffices. For B-LTA the document timestamp
    must cover the whole file and validate too.
    """
    trust = [load_asn1_certificate(root)]
    reader = PdfFileReader(io.BytesIO(data))
    if reader.encrypted:  # an owner-password document opens with the empty user password
        reader.decrypt(b"")
    regular = reader.embedded_regular_signatures
    assert len(regular) == signatures, [s.field_name for s in reader.embedded_signatures]
    sig = regular[-1]
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
        assert dss is None, f"{level.value} should not carry a DSS"
        vc = ValidationContext(trust_roots=trust, allow_fetching=True, revocation_mode="hard-fail")

    status = validate_pdf_signature(sig, vc)
    assert status.intact and status.valid, status.pretty_print_details()
    assert status.trusted, status.pretty_print_details()
    if level.long_term:
        assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        assert status.modification_level == ModificationLevel.LTA_UPDATES, status.modification_level
    else:
        assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        assert status.modification_level == ModificationLevel.NONE
    if level.timestamped:
        ts = status.timestamp_validity
        assert ts is not None, "no signature timestamp"
        assert ts.intact and ts.valid and ts.trusted, ts
    else:
        assert status.timestamp_validity is None

    doc_timestamps = [s for s in reader.embedded_signatures if s.sig_object.get("/Type") == "/DocTimeStamp"]
    if level.archival:
        assert doc_timestamps, "B-LTA needs a document timestamp"
        last = doc_timestamps[-1]
        ts_status = validate_pdf_timestamp(last, vc)
        assert ts_status.intact and ts_status.valid and ts_status.trusted, ts_status.pretty_print_details()
        assert ts_status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    else:
        assert not doc_timestamps


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


def pdfsig(path: Path, root_pem: Path, nss_dir: Path) -> str:
    """poppler's pdfsig output with an NSS database that trusts only ``root_pem``."""
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
    result = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss_dir}", str(path)], capture_output=True, text=True, timeout=60
    )
    return result.stdout + result.stderr
