"""Who signed: the signer's identity as the certificate states it, and its class.

Names come from certificates, which anyone can make: they are reported as
written and never interpreted as markup. The class (person or organisation
seal, government or private, assurance level) comes only from configured
rules on the issuing CA and the policy OIDs: the national OIDs are not public.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from validation.config import ClassificationRule
from validation.model import CertificateInfo, SignerIdentity, SignerKind

SEAL_MARKER = "[Stamp]"


def to_cryptography(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def sha256_hex(cert: asn1_x509.Certificate) -> str:
    return hashlib.sha256(cert.dump()).hexdigest()


def key_description(cert: x509.Certificate) -> str:
    """The public key as people name it: ``RSA-2048``, ``ECDSA-P256``, ``Ed25519``."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ECDSA-P256", "secp384r1": "ECDSA-P384", "secp521r1": "ECDSA-P521"}.get(
            key.curve.name, f"ECDSA-{key.curve.name}"
        )
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


def certificate_info(cert: asn1_x509.Certificate) -> CertificateInfo:
    """The facts about a certificate a report shows."""
    c = to_cryptography(cert)
    return CertificateInfo(
        subject=c.subject.rfc4514_string(),
        common_name=_first(c.subject, NameOID.COMMON_NAME),
        issuer=c.issuer.rfc4514_string(),
        serial_number=format(c.serial_number, "x"),
        not_before=c.not_valid_before_utc,
        not_after=c.not_valid_after_utc,
        sha256=sha256_hex(cert),
        key=key_description(c),
    )


def signer_identity(
    cert: asn1_x509.Certificate,
    issuer: asn1_x509.Certificate | None,
    rules: Sequence[ClassificationRule],
) -> SignerIdentity:
    """Name, national ID, organisation, title and class of the signer."""
    c = to_cryptography(cert)
    name = _first(c.subject, NameOID.COMMON_NAME)
    if name is None:
        parts = [_first(c.subject, NameOID.GIVEN_NAME), _first(c.subject, NameOID.SURNAME)]
        name = " ".join(p for p in parts if p) or None
    rule = classify(c, sha256_hex(issuer) if issuer is not None else None, rules)
    return SignerIdentity(
        name=name,
        national_id=_first(c.subject, NameOID.SERIAL_NUMBER),
        organisation=_first(c.subject, NameOID.ORGANIZATION_NAME),
        organisational_unit=_first(c.subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        title=_first(c.subject, NameOID.TITLE),
        kind=rule.kind if rule else SignerKind.UNKNOWN,
        affiliation=rule.affiliation if rule else None,
        assurance_level=rule.assurance_level if rule else None,
        certificate=certificate_info(cert),
    )


def classify(
    cert: x509.Certificate, issuer_sha256: str | None, rules: Sequence[ClassificationRule]
) -> ClassificationRule | None:
    """The first configured rule the certificate satisfies, or None."""
    policies = _policy_oids(cert)
    cn = _first(cert.subject, NameOID.COMMON_NAME) or ""
    for rule in rules:
        if rule.issuer_sha256 is not None and rule.issuer_sha256 != issuer_sha256:
            continue
        if rule.policy_oid is not None and rule.policy_oid not in policies:
            continue
        if rule.requires_stamp_marker and SEAL_MARKER not in cn:
            continue
        return rule
    return None


def _policy_oids(cert: x509.Certificate) -> set[str]:
    try:
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return set()
    return {p.policy_identifier.dotted_string for p in policies}


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
