"""Who signed: the signer's identity as the certificate states it, and its class.

Names come from certificates, which anyone can make: they are reported as
written and never interpreted as markup. The class (person or organisation
seal, government or private, assurance level) comes only from configured
rules on the issuing CA and the policy OIDs: the national OIDs are not public.

Everything here is read with asn1crypto, field by field, because it is for
people to read: a certificate that a strict DER parser (``cryptography``)
refuses — a UserNotice in a VisibleString holding UTF-8, a country name of
ten letters, a negative serial number — is still shown, and a field that
cannot be read at all is shown as :data:`UNREADABLE` (an attribute value as
RFC 4514's ``#`` and its DER in hex) instead of failing the whole report.
Nothing here decides trust: :mod:`validation.trust` does, strictly. The
class is the one judgement made here, and an unreadable or duplicated policy
extension gives no policy OID, so such a certificate matches no policy rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from validation.config import ClassificationRule
from validation.model import CertificateInfo, SignerIdentity, SignerKind

SEAL_MARKER = "[Stamp]"
#: What a report shows for a field that cannot be read.
UNREADABLE = "(unreadable)"
#: The validity bound of a certificate whose validity cannot be read (the model needs a datetime).
UNREADABLE_TIME = datetime.min.replace(tzinfo=UTC)

# Attribute types by OID, named as RFC 4514 (its short names), RFC 4519 and ETSI EN 319 412-1 name them.
ATTRIBUTE_NAMES: dict[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.4": "surname",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.13": "description",
    "2.5.4.15": "businessCategory",
    "2.5.4.16": "postalAddress",
    "2.5.4.17": "postalCode",
    "2.5.4.18": "postOfficeBox",
    "2.5.4.20": "telephoneNumber",
    "2.5.4.41": "name",
    "2.5.4.42": "givenName",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.45": "x500UniqueIdentifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.72": "role",
    "2.5.4.97": "organizationIdentifier",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}
_CN, _SURNAME, _GIVEN_NAME, _SERIAL_NUMBER = "2.5.4.3", "2.5.4.4", "2.5.4.42", "2.5.4.5"
_ORGANISATION, _UNIT, _TITLE = "2.5.4.10", "2.5.4.11", "2.5.4.12"
_CERTIFICATE_POLICIES = "2.5.29.32"
_CURVES = {"secp256r1": "ECDSA-P256", "secp384r1": "ECDSA-P384", "secp521r1": "ECDSA-P521"}


def to_cryptography(cert: asn1_x509.Certificate) -> x509.Certificate:
    """The certificate as ``cryptography`` reads it; :class:`ValueError` when its strict parser refuses it."""
    return x509.load_der_x509_certificate(cert.dump())


def as_asn1(cert: asn1_x509.Certificate | x509.Certificate) -> asn1_x509.Certificate:
    """The certificate as asn1crypto reads it (lazily: fields are parsed when first read)."""
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def sha256_hex(cert: asn1_x509.Certificate) -> str:
    return hashlib.sha256(cert.dump()).hexdigest()


# -- names -------------------------------------------------------------------------------------


def attribute_name(oid: str) -> str:
    """``serialNumber`` for 2.5.4.5; an attribute type without a name keeps its dotted OID."""
    return ATTRIBUTE_NAMES.get(oid, oid)


def name_text(name: asn1_x509.Name) -> str:
    """The name as RFC 4514 writes it: most specific RDN first, attribute types named, values escaped.

    A value that cannot be read as text is written as RFC 4514 writes any
    value without a string form: ``#`` and its DER in hex. A name that cannot
    be parsed at all is :data:`UNREADABLE`.
    """
    try:
        rdns = list(name.chosen)
    except Exception:
        return UNREADABLE
    parts = []
    for rdn in reversed(rdns):
        try:
            parts.append("+".join(f"{_attribute_type(ntv)}={_escaped_value(ntv)}" for ntv in rdn))
        except Exception:
            parts.append(f"{UNREADABLE}")
    return ",".join(parts)


def subject_text(cert: asn1_x509.Certificate) -> str:
    """The certificate's subject per :func:`name_text`, or :data:`UNREADABLE`."""
    try:
        return name_text(cert.subject)
    except Exception:
        return UNREADABLE


def issuer_text(cert: asn1_x509.Certificate) -> str:
    """The certificate's issuer per :func:`name_text`, or :data:`UNREADABLE`."""
    try:
        return name_text(cert.issuer)
    except Exception:
        return UNREADABLE


def first_value(name: asn1_x509.Name, oid: str) -> str | None:
    """The first readable text value of attribute ``oid`` in ``name``, or None."""
    try:
        rdns = list(name.chosen)
    except Exception:
        return None
    for rdn in rdns:
        try:
            for ntv in rdn:
                if ntv["type"].dotted == oid:
                    value = _text_value(ntv)
                    if value is not None:
                        return value
        except Exception:
            continue
    return None


def _attribute_type(ntv: asn1_x509.NameTypeAndValue) -> str:
    return attribute_name(ntv["type"].dotted)


def _text_value(ntv: asn1_x509.NameTypeAndValue) -> str | None:
    """The value as text, or None when it is not a string or cannot be decoded."""
    try:
        value = ntv["value"].native
    except Exception:
        return None
    if isinstance(value, bytes):
        return None
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")  # no lone surrogates
    except UnicodeEncodeError:
        return None
    return value


def _escaped_value(ntv: asn1_x509.NameTypeAndValue) -> str:
    text = _text_value(ntv)
    if text is None:
        return "#" + ntv["value"].dump().hex()
    return escape_value(text)


def escape_value(text: str) -> str:
    """An attribute value escaped as RFC 4514 section 2.4 asks."""
    out = []
    for i, ch in enumerate(text):
        if ch in ',+"\\<>;' or (i == 0 and ch in "# ") or (i == len(text) - 1 and ch == " "):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


# -- the facts about one certificate --------------------------------------------------------------


def key_description(cert: asn1_x509.Certificate | x509.Certificate) -> str:
    """The public key as people name it: ``RSA-2048``, ``ECDSA-P256``, ``Ed25519``; :data:`UNREADABLE` if it is."""
    if isinstance(cert, x509.Certificate):
        return _cryptography_key_description(cert)
    try:
        info: asn1_keys.PublicKeyInfo = cert["tbs_certificate"]["subject_public_key_info"]
        algorithm = info.algorithm
        if algorithm in ("rsa", "rsassa_pss"):
            return f"RSA-{info.bit_size}"
        if algorithm == "ec":
            kind, curve = info.curve
            return _CURVES.get(curve, f"ECDSA-{curve}") if kind == "named" else "ECDSA"
        if algorithm == "ed25519":
            return "Ed25519"
        if algorithm == "ed448":
            return "Ed448"
        if algorithm == "dsa":
            return f"DSA-{info.bit_size}"
        return str(algorithm)
    except Exception:
        return UNREADABLE


def key_strength(cert: asn1_x509.Certificate) -> tuple[str, int] | None:
    """The key's family and size in bits, as the crypto policy weighs them: ``("rsa", 2048)``, ``("ec", 256)``.

    Read with asn1crypto, so a certificate ``cryptography`` refuses still has a
    size; None when the key itself cannot be read (a policy must then refuse it).
    Ed25519 and Ed448 count as ``("ec", 256)`` and ``("ec", 456)``.
    """
    try:
        info: asn1_keys.PublicKeyInfo = cert["tbs_certificate"]["subject_public_key_info"]
        algorithm = info.algorithm
        if algorithm in ("rsa", "rsassa_pss"):
            return "rsa", int(info.bit_size)
        if algorithm == "ec":
            return "ec", int(info.bit_size)
        if algorithm in ("ed25519", "ed448"):
            return "ec", 256 if algorithm == "ed25519" else 456
        if algorithm == "dsa":
            return "dsa", int(info.bit_size)
        return str(algorithm), 0
    except Exception:
        return None


def _cryptography_key_description(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _CURVES.get(key.curve.name, f"ECDSA-{key.curve.name}")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


def serial_text(cert: asn1_x509.Certificate) -> str:
    """The serial number in hex (``-`` first when a careless CA made it negative), or :data:`UNREADABLE`."""
    try:
        serial = cert["tbs_certificate"]["serial_number"]
    except Exception:
        return UNREADABLE
    try:
        return format(int(serial.native), "x")
    except Exception:
        contents = serial.contents or b""
        return contents.hex() if contents else UNREADABLE


def validity(cert: asn1_x509.Certificate) -> tuple[datetime, datetime]:
    """Not before and not after, each :data:`UNREADABLE_TIME` when it cannot be read as a datetime."""
    bounds = []
    for key in ("not_before", "not_after"):
        try:
            value = cert["tbs_certificate"]["validity"][key].native
        except Exception:
            value = None
        bounds.append(_aware(value) if isinstance(value, datetime) else UNREADABLE_TIME)
    return bounds[0], bounds[1]


def not_after(cert: asn1_x509.Certificate) -> datetime | None:
    """The end of the validity period, or None when it cannot be read."""
    end = validity(cert)[1]
    return None if end is UNREADABLE_TIME else end


def certificate_info(cert: asn1_x509.Certificate) -> CertificateInfo:
    """The facts about a certificate a report shows; never fails on what the certificate holds."""
    try:
        subject: asn1_x509.Name | None = cert.subject
    except Exception:
        subject = None
    start, end = validity(cert)
    return CertificateInfo(
        subject=subject_text(cert),
        common_name=first_value(subject, _CN) if subject is not None else None,
        issuer=issuer_text(cert),
        serial_number=serial_text(cert),
        not_before=start,
        not_after=end,
        sha256=sha256_hex(cert),
        key=key_description(cert),
    )


def signer_identity(
    cert: asn1_x509.Certificate,
    issuer: asn1_x509.Certificate | None,
    rules: Sequence[ClassificationRule],
) -> SignerIdentity:
    """Name, national ID, organisation, title and class of the signer."""
    try:
        subject: asn1_x509.Name | None = cert.subject
    except Exception:
        subject = None

    def first(oid: str) -> str | None:
        return first_value(subject, oid) if subject is not None else None

    name = first(_CN)
    if name is None:
        parts = [first(_GIVEN_NAME), first(_SURNAME)]
        name = " ".join(p for p in parts if p) or None
    rule = classify(cert, sha256_hex(issuer) if issuer is not None else None, rules)
    return SignerIdentity(
        name=name,
        national_id=first(_SERIAL_NUMBER),
        organisation=first(_ORGANISATION),
        organisational_unit=first(_UNIT),
        title=first(_TITLE),
        kind=rule.kind if rule else SignerKind.UNKNOWN,
        affiliation=rule.affiliation if rule else None,
        assurance_level=rule.assurance_level if rule else None,
        certificate=certificate_info(cert),
    )


def classify(
    cert: asn1_x509.Certificate | x509.Certificate, issuer_sha256: str | None, rules: Sequence[ClassificationRule]
) -> ClassificationRule | None:
    """The first configured rule the certificate satisfies, or None.

    A policy rule needs the policy OID in a readable certificate policies
    extension that appears once: an unreadable or duplicated extension states
    no policy, so the certificate falls to a rule without one or to none.
    """
    try:
        cert = as_asn1(cert)
    except Exception:
        return None
    policies = policy_oids(cert)
    try:
        cn = first_value(cert.subject, _CN) or ""
    except Exception:
        cn = ""
    for rule in rules:
        if rule.issuer_sha256 is not None and rule.issuer_sha256 != issuer_sha256:
            continue
        if rule.policy_oid is not None and rule.policy_oid not in policies:
            continue
        if rule.requires_stamp_marker and SEAL_MARKER not in cn:
            continue
        return rule
    return None


def policy_oids(cert: asn1_x509.Certificate) -> set[str]:
    """The policy OIDs of the certificate policies extension; empty when it is absent, unreadable or repeated."""
    try:
        found = [e for e in cert["tbs_certificate"]["extensions"] if e["extn_id"].dotted == _CERTIFICATE_POLICIES]
        if len(found) != 1:
            return set()
        policies = found[0]["extn_value"].parsed
        return {p["policy_identifier"].dotted for p in policies}
    except Exception:
        return set()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
