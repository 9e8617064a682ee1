"""CAdES-detached SignedData for PAdES baseline signatures, from pre-encoded parts.

A :class:`SignerTemplate` is built once per signing certificate: the
certificate set, the signer identifier and the signed attributes are encoded
then, with the message digest's place marked. Each document then costs one
splice for the signed attributes and one concatenation for the SignedData.

Signed attributes follow EN 319 122-1 baseline B as PAdES uses it: content
type, message digest, ESS signing-certificate-v2 and CMS algorithm protection
(RFC 6211); no signing-time attribute, because PAdES puts the claimed time in
the signature dictionary's /M.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from pakat import errors
from pakat.errors import CertificateRefused, InputError
from signer import der

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
OID_ALGORITHM_PROTECTION = "1.2.840.113549.1.9.52"
OID_SIGNATURE_TIMESTAMP = "1.2.840.113549.1.9.16.2.14"


@dataclass(frozen=True)
class DigestAlgorithm:
    """A digest allowed for new signatures: SHA-256 or stronger, never SHA-1."""

    name: str
    oid: str
    rsa_oid: str
    ecdsa_oid: str
    size: int

    def hash(self) -> hashlib._Hash:
        return hashlib.new(self.name)

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.name, data).digest()

    @property
    def identifier(self) -> bytes:
        # Parameters absent, as RFC 5754 prefers for SHA-2.
        return der.algorithm_identifier(self.oid)

    @property
    def digest_info_prefix(self) -> bytes:
        """The PKCS#1 v1.5 DigestInfo header (RFC 8017, 9.2 note 1) before the digest."""
        info = der.sequence(der.algorithm_identifier(self.oid, der.null()), der.octet_string(b"\0" * self.size))
        return info[: -self.size]


SHA256 = DigestAlgorithm("sha256", "2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.11", "1.2.840.10045.4.3.2", 32)
SHA384 = DigestAlgorithm("sha384", "2.16.840.1.101.3.4.2.2", "1.2.840.113549.1.1.12", "1.2.840.10045.4.3.3", 48)
SHA512 = DigestAlgorithm("sha512", "2.16.840.1.101.3.4.2.3", "1.2.840.113549.1.1.13", "1.2.840.10045.4.3.4", 64)
DIGESTS = {d.name: d for d in (SHA256, SHA384, SHA512)}


def digest_algorithm(name: str) -> DigestAlgorithm:
    """``sha256``/``SHA-256`` and stronger; SHA-1 and unknown names are refused."""
    key = name.lower().replace("-", "")
    if key not in DIGESTS:
        raise InputError(errors.DIGEST_REFUSED, name)
    return DIGESTS[key]


def _issuer_and_serial(cert: x509.Certificate) -> bytes:
    return der.sequence(cert.issuer.public_bytes(), der.integer(cert.serial_number))


class SignerTemplate:
    """Everything about a signer's CMS that does not change from document to document."""

    def __init__(
        self,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
        digest: DigestAlgorithm = SHA256,
    ) -> None:
        self.certificate = certificate
        self.digest = digest
        key = certificate.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            self.key_kind = "rsa"
            # RFC 4055: sha*WithRSAEncryption carries explicit NULL parameters.
            self.signature_algorithm = der.algorithm_identifier(digest.rsa_oid, der.null())
            self.max_signature_size = (key.key_size + 7) // 8
        elif isinstance(key, ec.EllipticCurvePublicKey):
            self.key_kind = "ecdsa"
            self.signature_algorithm = der.algorithm_identifier(digest.ecdsa_oid)
            # DER SEQUENCE of two INTEGERs, each possibly with a leading zero.
            self.max_signature_size = 2 * ((key.key_size + 7) // 8) + 9
        else:
            raise CertificateRefused(errors.SEAL_CERT_UNUSABLE, "only RSA and ECDSA keys are supported")

        cert_der = certificate.public_bytes(Encoding.DER)
        seen: dict[bytes, None] = {cert_der: None}
        for c in chain:
            seen.setdefault(c.public_bytes(Encoding.DER), None)
        self.certificates_der = list(seen)
        self._certificates = der.tlv(0xA0, b"".join(self.certificates_der))
        self._sid = _issuer_and_serial(certificate)

        ess_cert_id = der.sequence(
            *(() if digest is SHA256 else (digest.identifier,)),  # SHA-256 is the DEFAULT
            der.octet_string(digest.digest(cert_der)),
            der.sequence(
                der.sequence(der.tlv(0xA4, certificate.issuer.public_bytes())),
                der.integer(certificate.serial_number),
            ),
        )
        attributes = [
            _attribute(OID_CONTENT_TYPE, der.oid(OID_DATA)),
            _attribute(OID_MESSAGE_DIGEST, der.octet_string(b"\xaa" * digest.size)),
            _attribute(OID_SIGNING_CERTIFICATE_V2, der.sequence(der.sequence(ess_cert_id))),
            _attribute(
                OID_ALGORITHM_PROTECTION,
                der.sequence(digest.identifier, der.implicit_constructed(1, self.signature_algorithm)),
            ),
        ]
        encoded = der.set_of(attributes)
        marker = der.octet_string(b"\xaa" * digest.size)
        at = encoded.index(marker) + len(marker) - digest.size
        self._attrs_head = encoded[:at]
        self._attrs_tail = encoded[at + digest.size :]
        largest = self.signed_data(self.signed_attributes(b"\0" * digest.size), b"\0" * self.max_signature_size)
        # Outer length fields may each grow by a byte or two with the timestamp; 16 covers it.
        self._base_size = len(largest) + 16

    def signed_attributes(self, document_digest: bytes) -> bytes:
        """The DER SET of signed attributes over ``document_digest``: what the key signs."""
        if len(document_digest) != self.digest.size:
            raise ValueError("digest length does not match the template's algorithm")
        return self._attrs_head + document_digest + self._attrs_tail

    def signed_data(
        self, signed_attributes: bytes, signature: bytes, timestamp_token: bytes | None = None
    ) -> bytes:
        """The ContentInfo(SignedData) for /Contents, optionally with a signature timestamp."""
        unsigned = b""
        if timestamp_token is not None:
            unsigned = der.tlv(0xA1, _attribute(OID_SIGNATURE_TIMESTAMP, timestamp_token))
        signer_info = der.sequence(
            der.integer(1),
            self._sid,
            self.digest.identifier,
            der.implicit_constructed(0, signed_attributes),
            self.signature_algorithm,
            der.octet_string(signature),
            unsigned,
        )
        signed_data = der.sequence(
            der.integer(1),
            der.set_of([self.digest.identifier]),
            der.sequence(der.oid(OID_DATA)),
            self._certificates,
            der.tlv(0x31, signer_info),
        )
        return der.sequence(der.oid(OID_SIGNED_DATA), der.explicit(0, signed_data))

    def size_bound(self, timestamp_token_size: int = 0) -> int:
        """An upper bound on :meth:`signed_data`'s length, for reserving /Contents."""
        if timestamp_token_size:
            # Attribute, SET and [1] wrappers: at most 3 headers of up to 4 bytes plus the OID.
            return self._base_size + timestamp_token_size + 32
        return self._base_size


def _attribute(oid: str, value: bytes) -> bytes:
    return der.sequence(der.oid(oid), der.set_of([value]))
