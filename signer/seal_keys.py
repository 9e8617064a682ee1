"""A seal key over its life, inside the HSM: generated there, asked a certificate for, given its certificate.

Nothing here sees a private key: the pair is made by the token
(``C_GenerateKeyPair``, private half TOKEN, PRIVATE, SENSITIVE, not
EXTRACTABLE, SIGN only), the PKCS#10 request is signed by it (the digest made
on the host, as :mod:`signer.keys` does for seals), and the issued certificate
is checked against the token's public key, the trust roots and the key usage a
seal needs before anything is stored. PINs are read through a callable at the
moment of login and never kept, logged or put in an error.

Every call opens its own read-write session under the module's process-wide
lock (:func:`signer.keys.module_lock`) and closes it; a process that also seals
(the web app) keeps its sealing sessions: login state is shared by the
application, so an already logged-in token is used as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pkcs11.exceptions as p11e
from asn1crypto import core as asn1_core
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.x509 import decode_x509_certificate

from pakat import errors
from pakat.errors import CertificateRefused, InputError, KeyStoreError
from signer.chain import ChainError, TrustStore
from signer.cms import SHA256
from signer.keys import load_module, module_lock, reinitialize_module, sign_digest_on_token

RSA_3072 = "rsa-3072"
EC_P256 = "ec-p256"
#: The key algorithms a seal may be generated with: RSA 3072 (what Iranian CAs issue most) and EC P-256.
ALGORITHMS: tuple[str, ...] = (RSA_3072, EC_P256)
#: What Iranian seal certificates carry after the name in their CN.
STAMP_MARK = "[Stamp]"
_LEGAL_ENTITY_ID = re.compile(r"[0-9]{11}")
# Arabic-script letters: a CN that mixes them with the Latin "[Stamp]" is a mixed-direction string that
# pyhanko-certvalidator's name comparison (RFC 4518 string preparation) rejects, so such a seal could not
# be validated at all; the Persian name goes in O.
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")


@dataclass(frozen=True)
class TokenKey:
    """Where a seal key is, or is to be: module, token and key label, and how to read the user PIN."""

    module: str
    token_label: str
    key_label: str
    pin: Callable[[], str] = field(repr=False)
    module_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyOnToken:
    """A seal key pair as the token holds it: its algorithm, CKA_ID and public key."""

    key_label: str
    key_id: str  # hex of CKA_ID
    algorithm: str  # rsa-3072, rsa-2048, ec-p256 …
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey

    def public_key_der(self) -> bytes:
        """The SubjectPublicKeyInfo, DER: what a certificate for this key must carry."""
        return self.public_key.public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)

    def as_dict(self) -> dict[str, Any]:
        return {"key_label": self.key_label, "key_id": self.key_id, "algorithm": self.algorithm,
                "public_key_sha256": hashlib.sha256(self.public_key_der()).hexdigest()}


@dataclass(frozen=True)
class SealSubject:
    """Who a seal certificate names: organisation (Persian) in O, national ID in serialNumber, ``<name> [Stamp]``
    in CN, country IR."""

    organisation_fa: str
    national_id: str
    common_name: str

    def to_name(self) -> x509.Name:
        """The X.500 name, checked: SEAL_SUBJECT_INVALID names what is wrong."""
        organisation = " ".join(self.organisation_fa.split())
        national_id = self.national_id.strip()
        name = " ".join(self.common_name.split())
        if name.endswith(STAMP_MARK):
            name = name[: -len(STAMP_MARK)].rstrip()
        if not organisation or len(organisation) > 64:
            raise InputError(errors.SEAL_SUBJECT_INVALID, "organisation: 1 to 64 characters")
        if not _LEGAL_ENTITY_ID.fullmatch(national_id):
            raise InputError(errors.SEAL_SUBJECT_INVALID, "national ID: the organisation's 11 digits")
        if not name or len(name) + len(STAMP_MARK) + 1 > 64:
            raise InputError(errors.SEAL_SUBJECT_INVALID, "common name: 1 to 56 characters before [Stamp]")
        if _ARABIC_SCRIPT.search(name):
            raise InputError(errors.SEAL_SUBJECT_INVALID,
                             "common name: Latin script (the Persian name goes in the organisation)")
        return x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, national_id),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {STAMP_MARK}"),
        ])


# -- sessions -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _session(where: TokenKey) -> Iterator[Any]:
    """A read-write session logged in as the user, under the module's lock; closed afterwards."""
    with module_lock(where.module):
        token = _token(where)
        pin = where.pin()
        try:
            session = token.open(rw=True, user_pin=pin)
        except p11e.UserAlreadyLoggedIn:
            session = token.open(rw=True)  # this process's sealing sessions logged in already
        except (p11e.PinIncorrect, p11e.PinLenRange, p11e.PinInvalid):
            raise KeyStoreError(errors.HSM_PIN_INCORRECT, where.token_label) from None
        except p11e.PinLocked:
            raise KeyStoreError(errors.HSM_PIN_LOCKED, where.token_label) from None
        except p11e.PKCS11Error as exc:
            raise KeyStoreError(errors.HSM_UNREACHABLE, type(exc).__name__) from None
        try:
            yield session
        except p11e.PKCS11Error as exc:
            raise KeyStoreError(errors.HSM_SIGN_FAILED, f"{where.token_label}: {type(exc).__name__}") from None
        finally:
            with contextlib.suppress(p11e.PKCS11Error):
                session.close()


def _token(where: TokenKey) -> Any:
    """The token by label; a token made after this process loaded the module is found after one re-initialise."""
    lib = load_module(where.module, where.module_env)
    for attempt in (0, 1):
        try:
            return lib.get_token(token_label=where.token_label)
        except p11e.NoSuchToken:
            if attempt == 1:
                break
            fresh = reinitialize_module(where.module, where.module_env)
            if fresh is None:
                break
            lib = fresh
        except p11e.MultipleTokensReturned:
            raise KeyStoreError(errors.HSM_TOKEN_NOT_FOUND, f"{where.token_label} is not unique") from None
        except p11e.PKCS11Error as exc:
            raise KeyStoreError(errors.HSM_UNREACHABLE, type(exc).__name__) from None
    raise KeyStoreError(errors.HSM_TOKEN_NOT_FOUND, where.token_label)


def _objects(session: Any, object_class: ObjectClass, label: str) -> list[Any]:
    return list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))


def _key_pair(session: Any, where: TokenKey) -> tuple[Any, KeyOnToken]:
    """The private key object and what the token says of the pair; HSM_KEY_NOT_FOUND if there is none."""
    private = _objects(session, ObjectClass.PRIVATE_KEY, where.key_label)
    public = _objects(session, ObjectClass.PUBLIC_KEY, where.key_label)
    if len(private) != 1 or len(public) != 1:
        raise KeyStoreError(errors.HSM_KEY_NOT_FOUND, f"{where.token_label}/{where.key_label}")
    return private[0], _describe(where.key_label, public[0])


def _describe(label: str, public: Any) -> KeyOnToken:
    key_id = bytes(public[Attribute.ID] or b"").hex()
    if public.key_type == KeyType.RSA:
        numbers = rsa.RSAPublicNumbers(int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
                                       int.from_bytes(public[Attribute.MODULUS], "big"))
        key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey = numbers.public_key()
        return KeyOnToken(label, key_id, f"rsa-{key.key_size}", key)
    if public.key_type == KeyType.EC:
        loaded = serialization.load_der_public_key(encode_ec_public_key(public))
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise KeyStoreError(errors.HSM_KEY_NOT_FOUND, f"{label}: not an EC key")
        curve = {"secp256r1": "p256", "secp384r1": "p384"}.get(loaded.curve.name, loaded.curve.name)
        return KeyOnToken(label, key_id, f"ec-{curve}", loaded)
    raise KeyStoreError(errors.HSM_KEY_NOT_FOUND, f"{label}: neither RSA nor EC")


# -- the life of a key ------------------------------------------------------------------------------

#: The private half signs and does nothing else, and never leaves the token.
_PRIVATE_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
    Attribute.DECRYPT: False,
    Attribute.UNWRAP: False,
    Attribute.DERIVE: False,
}
_PUBLIC_TEMPLATE = {Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.VERIFY: True}


def generate_key(where: TokenKey, algorithm: str) -> KeyOnToken:
    """Make a seal key pair inside the token under ``where.key_label`` with a fresh random CKA_ID.

    SEAL_KEY_EXISTS when any key already has the label (a seal key is never replaced in place: generate
    under a new label, then switch the deployment to it once its certificate is installed).
    """
    if algorithm not in ALGORITHMS:
        raise InputError(errors.SEAL_KEY_ALGORITHM_UNKNOWN, algorithm[:32])
    key_id = secrets.token_bytes(16)
    with _session(where) as session:
        if _objects(session, ObjectClass.PRIVATE_KEY, where.key_label) or _objects(
                session, ObjectClass.PUBLIC_KEY, where.key_label):
            raise KeyStoreError(errors.SEAL_KEY_EXISTS, f"{where.token_label}/{where.key_label}")
        common = {"id": key_id, "label": where.key_label, "store": True,
                  "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
                  "public_template": _PUBLIC_TEMPLATE, "private_template": _PRIVATE_TEMPLATE}
        if algorithm == RSA_3072:
            public, _private = session.generate_keypair(KeyType.RSA, 3072, **common)
        else:
            parameters = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
            public, _private = parameters.generate_keypair(**common)
        return _describe(where.key_label, public)


def key_on_token(where: TokenKey) -> KeyOnToken:
    """What the token holds under ``where.key_label``; HSM_KEY_NOT_FOUND if nothing."""
    with _session(where) as session:
        return _key_pair(session, where)[1]


def certification_request(where: TokenKey, subject: SealSubject) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for the token's key, naming ``subject``, signed (SHA-256) by that key in the token."""
    name = subject.to_name()
    with _session(where) as session:
        private, key = _key_pair(session, where)
        info = asn1_csr.CertificationRequestInfo({
            "version": "v1",
            "subject": asn1_x509.Name.load(name.public_bytes()),
            "subject_pk_info": asn1_keys.PublicKeyInfo.load(key.public_key_der()),
            "attributes": [],
        })
        to_sign = info.dump()
        kind = "rsa" if isinstance(key.public_key, rsa.RSAPublicKey) else "ecdsa"
        signature = sign_digest_on_token(private, kind, SHA256.digest(to_sign), SHA256)
    algorithm: dict[str, Any] = (
        {"algorithm": "sha256_rsa", "parameters": asn1_core.Null()} if kind == "rsa"
        else {"algorithm": "sha256_ecdsa"}
    )
    request = asn1_csr.CertificationRequest({
        "certification_request_info": info, "signature_algorithm": algorithm, "signature": signature,
    })
    csr = x509.load_der_x509_csr(request.dump())
    if not csr.is_signature_valid:  # a token that signs wrongly must not send a CA a broken request
        raise KeyStoreError(errors.HSM_SIGN_FAILED, f"{where.token_label}/{where.key_label}: request signature")
    return csr


def public_key_der(certificate: x509.Certificate) -> bytes:
    """The certificate's SubjectPublicKeyInfo, DER."""
    return certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def read_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes; SEAL_CERT_UNREADABLE otherwise."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise CertificateRefused(errors.SEAL_CERT_UNREADABLE) from None


def check_certificate(
    certificate: x509.Certificate, key: KeyOnToken, trust: TrustStore, chain: Sequence[x509.Certificate] = (),
    *, now: datetime | None = None,
) -> list[x509.Certificate]:
    """Whether ``certificate`` may become the seal of ``key``: its chain to a trusted root, or a refusal.

    The certificate must carry the token key's public key (SEAL_CERT_NOT_FOR_KEY), be valid now
    (SEAL_CERT_VALIDITY_REFUSED), be an end entity allowed digitalSignature and nonRepudiation
    (SEAL_CERT_USAGE_REFUSED), and chain to a pinned root with issuers valid now (SEAL_CERT_CHAIN_REFUSED).
    """
    now = now or datetime.now(UTC)
    if public_key_der(certificate) != key.public_key_der():
        raise CertificateRefused(errors.SEAL_CERT_NOT_FOR_KEY, f"key {key.key_label}")
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise CertificateRefused(errors.SEAL_CERT_VALIDITY_REFUSED,
                                 f"valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
                                 f"{certificate.not_valid_after_utc:%Y-%m-%d}")
    _check_usage(certificate)
    try:
        return trust.chain_for(certificate, chain, at=now)
    except ChainError as exc:
        raise CertificateRefused(errors.SEAL_CERT_CHAIN_REFUSED, str(exc)) from None


def _check_usage(certificate: x509.Certificate) -> None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise CertificateRefused(errors.SEAL_CERT_USAGE_REFUSED, "no key usage") from None
    if not (usage.digital_signature and usage.content_commitment):
        raise CertificateRefused(errors.SEAL_CERT_USAGE_REFUSED, "digitalSignature and nonRepudiation needed")
    if usage.key_cert_sign:
        raise CertificateRefused(errors.SEAL_CERT_USAGE_REFUSED, "a CA certificate")
    with contextlib.suppress(x509.ExtensionNotFound):
        if certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise CertificateRefused(errors.SEAL_CERT_USAGE_REFUSED, "a CA certificate")


def store_certificate(where: TokenKey, certificate: x509.Certificate) -> KeyOnToken:
    """Put ``certificate`` on the token beside its key (same label and CKA_ID), replacing an older one there.

    Checked again inside the session: the key must still be the one the certificate was checked against.
    """
    der = certificate.public_bytes(serialization.Encoding.DER)
    with _session(where) as session:
        _private, key = _key_pair(session, where)
        if public_key_der(certificate) != key.public_key_der():
            raise CertificateRefused(errors.SEAL_CERT_NOT_FOR_KEY, f"key {key.key_label}")
        attributes = decode_x509_certificate(der)
        attributes.update({Attribute.TOKEN: True, Attribute.PRIVATE: False, Attribute.LABEL: where.key_label,
                           Attribute.ID: bytes.fromhex(key.key_id)})
        # The new one first, then the old ones: a failure in between leaves the token with a certificate.
        existing = _objects(session, ObjectClass.CERTIFICATE, where.key_label)
        if not any(bytes(found[Attribute.VALUE]) == der for found in existing):
            session.create_object(attributes)
        for found in existing:
            if bytes(found[Attribute.VALUE]) != der:
                found.destroy()
        return key
