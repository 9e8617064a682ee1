"""Shared checks of machine-readable reports: the ETSI XML structure, and a PDF signed by a throw-away signer."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from pakat_testkit import pdf_bytes
from pyhanko.generated.etsi import ts_11910202 as vr
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig

from validation.reports.etsi_xml import NAMESPACES

VR = "{http://uri.etsi.org/19102/v1.2.1#}"
NS = {"vr": "http://uri.etsi.org/19102/v1.2.1#", "ds": "http://www.w3.org/2000/09/xmldsig#"}


def _parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))


def check_etsi_structure(xml: str) -> vr.ValidationReport:
    """Well-formed, every VO reference resolves, and it round-trips through the ETSI bindings complete."""
    root = _parse(xml)
    assert root.tag == f"{VR}ValidationReport"
    ids = root.xpath("//vr:ValidationObject/@id", namespaces=NS)
    assert len(ids) == len(set(ids)), "validation object ids repeat"
    for refs in root.xpath("//@VOReference", namespaces=NS):
        for ref in refs.split():
            assert ref in ids, f"dangling VOReference {ref}"
    parsed = XmlParser().from_string(xml, vr.ValidationReport)  # unknown elements fail here
    assert _missing_required(parsed) == []
    # Nothing lost or reordered on the way: the bindings write back the very same document.
    again = XmlSerializer(config=SerializerConfig(indent="  ")).render(parsed, ns_map=NAMESPACES)
    assert again == xml
    return parsed


def sign_with_throwaway_key(field_name: str = "Bidder") -> tuple[bytes, x509.Certificate]:
    """A PDF signed under a fresh throw-away root: a proper signing certificate whose only fault is its root."""
    from asn1crypto import keys

    now = datetime.now(UTC)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Throw-away Root CA")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pakat report test signer")])

    def usage(*, signing: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=signing, content_commitment=signing, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not signing,
                             crl_sign=not signing, encipher_only=False, decipher_only=False)

    def builder(subject: x509.Name, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(root_name).public_key(public)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365)))

    root = (builder(root_name, root_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage(signing=False), critical=True)
            .sign(root_key, hashes.SHA256()))
    cert = (builder(name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(signing=True), critical=True)
            .sign(root_key, hashes.SHA256()))

    def asn1(c: x509.Certificate) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    signer = SimpleSigner(
        signing_cert=asn1(cert),
        signing_key=keys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs([asn1(root)]),
    )
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf_bytes("ETSI report test"))),
        signers.PdfSignatureMetadata(field_name=field_name, reason="پیشنهاد قیمت", location="تهران",
                                     subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256"),
        signer=signer, output=out,
    )
    return out.getvalue(), cert


def _missing_required(node: Any, where: str = "ValidationReport") -> list[str]:
    """Required elements and attributes (per the bindings' XSD metadata) left empty anywhere in the tree."""
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return []
    missing: list[str] = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        meta = f.metadata
        # Fields in a nested choice/sequence ("sequence" key) may be replaced by their alternative.
        required = meta.get("required") and value is None
        too_few = meta.get("min_occurs", 0) >= 1 and "sequence" not in meta and not value
        if required or too_few:
            missing.append(f"{where}/{meta.get('name', f.name)}")
        for item in value if isinstance(value, tuple) else (value,):
            missing.extend(_missing_required(item, f"{where}/{meta.get('name', f.name)}"))
    return missing
