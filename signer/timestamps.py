"""RFC 3161 timestamps: the signature timestamp of B-T and the document timestamp of B-LTA.

Each token is checked before it is embedded: status granted, the imprint and
nonce we sent, a CMS signature that verifies with a timestamping certificate,
and (once per TSA certificate) a chain to a trusted root.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from pakat import errors
from pakat.errors import ServiceUnavailable
from signer import der
from signer.chain import ChainError, TrustStore
from signer.cms import SHA256, DigestAlgorithm, digest_algorithm
from signer.http import FetchError, HttpClient

# Reserved for a token before the first one tells us its real size.
_INITIAL_TOKEN_ESTIMATE = 8192
_TOKEN_MARGIN = 512


@dataclass(frozen=True)
class TimestampToken:
    """A verified TimeStampToken (a CMS ContentInfo) and what we learned from it."""

    der: bytes
    gen_time: datetime
    tsa_chain: tuple[x509.Certificate, ...]


class TimestampAuthority:
    """A TSA we ask for tokens over HTTP; thread-safe."""

    def __init__(self, url: str, http: HttpClient, trust: TrustStore, digest: DigestAlgorithm = SHA256) -> None:
        self.url = url
        self.http = http
        self.trust = trust
        self.digest = digest
        self._largest = 0
        self._chains: dict[bytes, tuple[x509.Certificate, ...]] = {}
        self._lock = threading.Lock()

    @property
    def token_size_bound(self) -> int:
        """Bytes to reserve for one of this TSA's tokens."""
        return self._largest + _TOKEN_MARGIN if self._largest else _INITIAL_TOKEN_ESTIMATE

    def timestamp(self, data: bytes) -> TimestampToken:
        """A token over ``data`` (hashed here with the TSA's digest)."""
        return self.timestamp_digest(self.digest.digest(data))

    def timestamp_digest(self, imprint: bytes) -> TimestampToken:
        """A token over a digest already computed with :attr:`digest`."""
        nonce = secrets.randbits(63)
        request = der.sequence(
            der.integer(1),
            der.sequence(self.digest.identifier, der.octet_string(imprint)),
            der.integer(nonce),
            der.boolean(True),
        )
        try:
            reply = self.http.post(self.url, request, "application/timestamp-query", "application/timestamp-reply")
        except FetchError as exc:
            raise ServiceUnavailable(errors.TSA_UNAVAILABLE, str(exc)) from None
        try:
            token = self._check(reply, imprint, nonce)
        except (ValueError, KeyError, TypeError) as exc:
            raise ServiceUnavailable(errors.TSA_RESPONSE_INVALID, str(exc)) from None
        with self._lock:
            self._largest = max(self._largest, len(token.der))
        return token

    def _check(self, reply: bytes, imprint: bytes, nonce: int) -> TimestampToken:
        response = tsp.TimeStampResp.load(reply)
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = response["status"]["status_string"].native
            raise ValueError(f"TSA refused: {status} {text or ''}".strip())
        token = response["time_stamp_token"]
        signed = token["content"]
        info = signed["encap_content_info"]["content"].parsed
        mi = info["message_imprint"]
        if mi["hashed_message"].native != imprint or mi["hash_algorithm"]["algorithm"].dotted != self.digest.oid:
            raise ValueError("token's message imprint is not what we asked for")
        if info["nonce"].native != nonce:
            raise ValueError("token's nonce is not ours")
        certificates = [
            x509.load_der_x509_certificate(c.chosen.dump())
            for c in signed["certificates"] or []
            if c.name == "certificate"
        ]
        signer_info = signed["signer_infos"][0]
        tsa_cert = _signer_certificate(signer_info, certificates)
        _verify_signer_info(signer_info, signed["encap_content_info"]["content"].contents, tsa_cert)
        return TimestampToken(token.dump(), info["gen_time"].native, self._chain(tsa_cert, certificates))

    def _chain(self, tsa_cert: x509.Certificate, extra: list[x509.Certificate]) -> tuple[x509.Certificate, ...]:
        key = tsa_cert.fingerprint(hashes.SHA256())
        chain = self._chains.get(key)
        if chain is None:
            eku = tsa_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
            if ExtendedKeyUsageOID.TIME_STAMPING not in eku.value or not eku.critical:
                raise ValueError("TSA certificate lacks the critical timeStamping key purpose")
            try:
                chain = tuple(self.trust.chain_for(tsa_cert, extra))
            except ChainError as exc:
                raise ValueError(f"TSA certificate untrusted: {exc}") from None
            self._chains[key] = chain
        return chain


def _signer_certificate(signer_info: cms.SignerInfo, certificates: list[x509.Certificate]) -> x509.Certificate:
    sid = signer_info["sid"]
    for cert in certificates:
        if sid.name == "issuer_and_serial_number":
            isn = sid.chosen
            if (
                cert.serial_number == isn["serial_number"].native
                and cert.issuer.public_bytes() == isn["issuer"].dump()
            ):
                return cert
        else:
            ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
            if ski == sid.chosen.native:
                return cert
    raise ValueError("token does not carry its TSA certificate")


def _verify_signer_info(signer_info: cms.SignerInfo, content: bytes, cert: x509.Certificate) -> None:
    digest = digest_algorithm(signer_info["digest_algorithm"]["algorithm"].native)
    attrs = signer_info["signed_attrs"]
    md = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
    if md != digest.digest(content):
        raise ValueError("token's message digest does not match its content")
    signed_bytes = b"\x31" + attrs.dump()[1:]
    signature = signer_info["signature"].native
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest.name]
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            mech = signer_info["signature_algorithm"]["algorithm"].native
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO)
                if mech == "rsassa_pss"
                else padding.PKCS1v15()
            )
            key.verify(signature, signed_bytes, pad, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(algorithm))
        else:
            raise ValueError("unsupported TSA key")
    except InvalidSignature:
        raise ValueError("token's signature does not verify") from None


def certificate_der(chain: tuple[x509.Certificate, ...]) -> tuple[bytes, ...]:
    return tuple(c.public_bytes(Encoding.DER) for c in chain)
