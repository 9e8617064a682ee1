"""What the agent checks in the server's ``signed_attributes`` before it lets the token sign.

An agent never signs a hash it cannot explain: the digest it signs is the one
it computes over the attributes itself, and those attributes must be a CMS
SET with a message digest of the document and an ESS signing-certificate-v2
naming the user's own certificate, and the message digest must be the
agent's own digest of the prepared revision's /ByteRange
(:func:`check_document_digest`). A server (or anyone in between) handing
over the hash of something else gets nothing signed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import tsp as _tsp  # noqa: F401  (registers signing_certificate_v2 with asn1crypto.cms)

from pakat import errors
from pakat.errors import PakatError
from signer.cms import DIGESTS, DigestAlgorithm

# The digest OIDs ESS and CMS algorithm protection may name, by asn1crypto's names.
_ALLOWED_ESS_HASHES = {"sha256", "sha384", "sha512"}


@dataclass(frozen=True)
class CheckedAttributes:
    """Signed attributes the agent has verified: the digest to sign and the document digest they carry."""

    algorithm: DigestAlgorithm
    digest: bytes
    message_digest: bytes


def digest_algorithm(name: object) -> DigestAlgorithm:
    """SHA-256, -384 or -512 by the protocol's names; anything else is DIGEST_REFUSED."""
    if not isinstance(name, str) or name not in DIGESTS:
        raise PakatError(errors.DIGEST_REFUSED, f"the server asked for {str(name)[:40]!r}")
    return DIGESTS[name]


def check_signed_attributes(
    signed_attributes: bytes, server_digest_hex: str, algorithm: DigestAlgorithm, certificate_der: bytes
) -> CheckedAttributes:
    """Refuse (SERVER_REQUEST_REFUSED, with the reason) unless the attributes are what the user agreed to sign.

    The digest is recomputed here and compared with the server's ``digest``;
    the attributes must parse as a DER SET and hold exactly one message digest
    of the right size and an ESS signing-certificate-v2 whose first entry is
    the hash of ``certificate_der``.
    """
    digest = algorithm.digest(signed_attributes)
    if not hmac.compare_digest(digest.hex(), server_digest_hex.strip().lower()):
        raise _refused("the server's digest is not the digest of its signed_attributes")
    try:
        attributes = cms.CMSAttributes.load(signed_attributes, strict=True)
        by_type: dict[str, list[cms.CMSAttribute]] = {}
        for attribute in attributes:
            by_type.setdefault(attribute["type"].native, []).append(attribute)
        message_digests = by_type.get("message_digest", [])
        if len(message_digests) != 1 or len(message_digests[0]["values"]) != 1:
            raise _refused("the signed attributes carry no single message digest")
        message_digest = bytes(message_digests[0]["values"][0].native)
        if len(message_digest) != algorithm.size:
            raise _refused("the message digest does not have the announced algorithm's size")
        _check_signing_certificate(by_type.get("signing_certificate_v2", []), certificate_der)
        _check_algorithm_protection(by_type.get("cms_algorithm_protection", []), algorithm)
    except PakatError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        reason = f"the signed attributes are not a readable CMS attribute set ({type(exc).__name__})"
        raise _refused(reason) from None
    return CheckedAttributes(algorithm, digest, message_digest)


def check_document_digest(checked: CheckedAttributes, document_digest: bytes) -> None:
    """Refuse (DOCUMENT_DIGEST_MISMATCH) unless the message digest is the agent's own digest of the ByteRange.

    ``document_digest`` comes from :func:`agent.prepared.byte_range_digest`
    over the downloaded prepared revision: attributes that carry any other
    message digest would make the token sign something else than the document.
    """
    if not hmac.compare_digest(checked.message_digest, document_digest):
        raise PakatError(
            errors.DOCUMENT_DIGEST_MISMATCH,
            "nothing was signed: the signed attributes' message digest is not the digest of the prepared revision",
        )


def _check_signing_certificate(found: list[cms.CMSAttribute], certificate_der: bytes) -> None:
    if len(found) != 1 or len(found[0]["values"]) != 1:
        raise _refused("the signed attributes carry no single ESS signing-certificate-v2")
    certs = found[0]["values"][0]["certs"]
    if len(certs) == 0:
        raise _refused("the ESS signing-certificate-v2 names no certificate")
    first = certs[0]  # RFC 5035: the first ESSCertIDv2 is the signer's
    hash_name = first["hash_algorithm"]["algorithm"].native
    if hash_name not in _ALLOWED_ESS_HASHES:
        raise _refused(f"the ESS signing-certificate-v2 uses {hash_name}")
    expected = hashlib.new(hash_name, certificate_der).digest()
    if not hmac.compare_digest(bytes(first["cert_hash"].native), expected):
        raise _refused("the ESS signing-certificate-v2 names another certificate than yours")


def _check_algorithm_protection(found: list[cms.CMSAttribute], algorithm: DigestAlgorithm) -> None:
    # Optional (RFC 6211), but when present it must not announce another digest than the one signed.
    for attribute in found:
        for value in attribute["values"]:
            if value["digest_algorithm"]["algorithm"].native != algorithm.name:
                raise _refused("the CMS algorithm protection names another digest algorithm")


def _refused(reason: str) -> PakatError:
    # Not the user's fault and nothing they can fix: the server sent something unexplainable.
    return PakatError(errors.SERVER_REQUEST_REFUSED, f"nothing was signed: {reason}")
