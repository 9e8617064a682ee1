"""Signatures whose private key is elsewhere: a user's token behind an agent.

Signing is split in the two halves of pyHanko's interrupted signing (and of EU
DSS's ``getDataToSign`` / ``signDocument``), with every byte that is signed
built here:

1. :func:`check_signer_certificate` decides whether the certificate may sign
   at all (national chain, validity, revocation, key usage and strength, the
   expected person or role);
2. :func:`prepare_signature` lays out the incremental update with an empty
   hole and returns the DER signed attributes the token must sign;
3. :func:`finish_signature` verifies the token's signature with the
   certificate **before** embedding anything, and writes the B-B revision;
4. :func:`raise_signature` later puts the signature timestamp into the same
   hole (the ByteRange never covered it) and appends the DSS and the document
   timestamp for B-LT and B-LTA.

Nothing here knows where the prepared state is kept between the halves; the
caller stores :class:`PreparedSignature` and keeps it on the server.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pakat import errors
from pakat.errors import CertificateRefused, PakatError
from signer.appearance import BlockFacts, BlockKind, visible_widget
from signer.chain import ChainError, TrustStore
from signer.cms import SHA256, DigestAlgorithm, SignerTemplate
from signer.keys import verify_digest_signature
from signer.levels import PadesLevel
from signer.output_check import EmbeddedSignature, check_readable, check_signed_output
from signer.pades import (
    SIGNER_REFUSALS,
    SignatureDetails,
    check_chain,
    check_key_usage,
    copy_hashing,
    hash_file,
    long_term_update,
    signature_update,
)
from signer.pdf import Hole, PdfSource, Revision, last_startxref
from signer.permissions import check_may_sign
from signer.placement import VisibleSignature, place
from signer.purposes import signing_purpose_refusal
from signer.revocation import RevocationSource
from signer.timestamps import TimestampAuthority

_CHUNK = 1 << 20
_WEAK_HASHES = (hashes.SHA1, hashes.MD5)


@dataclass(frozen=True)
class ExpectedSigner:
    """Who a signing session is for: a national ID (کد ملی), a role title, both, or anyone."""

    national_id: str | None = None
    role: str | None = None

    def refusal(self, national_id: str | None, role: str | None) -> str | None:
        """Why a certificate with this national ID and role is not the expected signer, or None."""
        if self.national_id and _normal(national_id) != _normal(self.national_id):
            return f"national ID {national_id or 'absent'}, expected {self.national_id}"
        if self.role and _normal(role) != _normal(self.role):
            return f"role {role or 'absent'}, expected {self.role}"
        return None


@dataclass(frozen=True)
class SignerCertificate:
    """A certificate that passed the checks, with its chain and the identity a person reads."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # the certificate, its issuers, the root
    subject: str
    national_id: str | None
    role: str | None

    @property
    def signature_algorithm(self) -> str:
        """``rsa-pkcs1v15`` or ``ecdsa``: what the token is asked to compute."""
        return "ecdsa" if isinstance(self.certificate.public_key(), ec.EllipticCurvePublicKey) else "rsa-pkcs1v15"

    def template(self, digest: DigestAlgorithm) -> SignerTemplate:
        return SignerTemplate(self.certificate, self.chain[1:-1], digest)


def check_signer_certificate(
    certificate: x509.Certificate,
    supplied_chain: Sequence[x509.Certificate],
    trust: TrustStore,
    revocation: RevocationSource | None,
    expected: ExpectedSigner,
    *,
    min_rsa_bits: int = 2048,
    min_ec_bits: int = 256,
    at: datetime | None = None,
) -> SignerCertificate:
    """Accept ``certificate`` as a signer now, or raise CertificateRefused saying why.

    Cheap checks come first and the revocation question (network, cached) last,
    so a certificate that is wrong on its face costs no OCSP round trip.
    """
    moment = at or datetime.now(UTC)
    subject = certificate.subject.rfc4514_string()
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, _WEAK_HASHES):
        name = algorithm.name if algorithm else "no digest"
        raise CertificateRefused(errors.SIGNER_CERT_UNUSABLE, f"certificate signed with {name}")
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise CertificateRefused(errors.SIGNER_CERT_UNUSABLE, "a CA certificate cannot sign documents")
    check_key_usage(certificate, SIGNER_REFUSALS)
    purpose = signing_purpose_refusal(certificate)
    if purpose is not None:  # e.g. a TSA's or a TLS certificate: its extendedKeyUsage excludes documents
        raise CertificateRefused(errors.SIGNER_CERT_UNUSABLE, purpose)
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < min_rsa_bits:
            raise CertificateRefused(errors.SIGNER_CERT_UNUSABLE, f"RSA key of {key.key_size} bits")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.key_size < min_ec_bits:
            raise CertificateRefused(errors.SIGNER_CERT_UNUSABLE, f"EC key of {key.key_size} bits")
    else:
        raise CertificateRefused(errors.SIGNER_CERT_UNUSABLE, "only RSA and ECDSA keys can sign")
    try:
        chain = tuple(trust.chain_for(certificate, supplied_chain))
    except ChainError as exc:
        raise CertificateRefused(errors.SIGNER_CERT_UNTRUSTED, str(exc)) from None
    check_chain(chain, None, moment, SIGNER_REFUSALS)
    national_id = _first(certificate.subject, NameOID.SERIAL_NUMBER)
    role = _first(certificate.subject, NameOID.TITLE)
    why = expected.refusal(national_id, role)
    if why is not None:
        raise CertificateRefused(errors.SIGNER_NOT_EXPECTED, why)
    check_chain(chain, revocation, moment, SIGNER_REFUSALS)
    return SignerCertificate(certificate, chain, subject, national_id, role)


SIGNATURE_FIELD_STEM = "Pakat Signature"


def check_signable(source: Path, appearance: VisibleSignature | None, *, max_bytes: int) -> None:
    """Refuse now what :func:`prepare_signature` would refuse once the user has chosen a certificate.

    For a signing session being opened: a document that may take no further
    signature (:mod:`signer.permissions`), that the validator's reader would not
    read, or that has no room for the requested block is refused before anyone
    is asked for a PIN. The place is chosen again when the signature is
    prepared, on the document as it is then.
    """
    pdf = PdfSource(source, max_bytes=max_bytes)
    try:
        field_name = pdf.unique_field_name(SIGNATURE_FIELD_STEM)
        check_may_sign(pdf, field_name=field_name)
        check_readable(source, pdf.size, pdf.startxref)
        if appearance is not None:
            place(pdf, appearance)
    finally:
        pdf.close()


@dataclass(frozen=True)
class PreparedSignature:
    """The first half of a signature: the update with its empty hole and what the token signs."""

    base_size: int  # the document it was prepared on ends here
    update: bytes
    hole: Hole  # offsets in the whole signed file
    signed_attributes: bytes
    digest_algorithm: DigestAlgorithm
    signing_time: datetime

    @property
    def digest(self) -> bytes:
        """The digest of the signed attributes: what the token's key signs."""
        return self.digest_algorithm.digest(self.signed_attributes)


def prepare_signature(
    source: Path,
    signer: SignerCertificate,
    digest: DigestAlgorithm,
    details: SignatureDetails,
    *,
    timestamp_reserve: int,
    max_bytes: int,
    signing_time: datetime | None = None,
) -> PreparedSignature:
    """Lay out a signature of ``source`` by ``signer`` and build the attributes to sign.

    ``timestamp_reserve`` is the room kept in the hole for the signature
    timestamp added by :func:`raise_signature` (0 for B-B). A visible block
    (``details.appearance``) shows the certificate's CN, Title and O.
    """
    moment = (signing_time or datetime.now(UTC)).replace(microsecond=0)
    template = signer.template(digest)
    pdf = PdfSource(source, max_bytes=max_bytes)
    try:
        field_name = pdf.unique_field_name(details.field_stem)
        check_may_sign(pdf, field_name=field_name)
        # The user is about to type a PIN: a document the validator would not read is refused first.
        check_readable(source, pdf.size, pdf.startxref)
        widget = None
        if details.appearance is not None:
            facts = BlockFacts.from_certificate(signer.certificate, BlockKind.SIGNATURE)
            widget = visible_widget(pdf, details.appearance, facts, moment)
        reserve = template.size_bound(timestamp_reserve)
        revision, hole, _ = signature_update(pdf, reserve, details, field_name, moment, widget)
        running = hash_file(source, digest.hash(), pdf.size)
        base_size = pdf.size
    finally:
        pdf.close()
    for part in revision.signed_ranges(hole):
        running.update(part)
    return PreparedSignature(
        base_size=base_size,
        update=bytes(revision.data),
        hole=hole,
        signed_attributes=template.signed_attributes(running.digest()),
        digest_algorithm=digest,
        signing_time=moment,
    )


@dataclass(frozen=True)
class WrittenRevision:
    """A new revision of a document: its digest and size, and the signature timestamp if one was added."""

    sha256: str
    size: int
    timestamp_time: datetime | None = None


def finish_signature(
    prepared: PreparedSignature, source: Path, signer: SignerCertificate, signature: bytes, destination: Path
) -> WrittenRevision:
    """Verify ``signature`` over the prepared attributes, then write the B-B signed document.

    Raises SIGNATURE_INVALID, writing nothing, when the signature does not
    verify with the signer's certificate. ``destination`` is a new file the
    caller owns (and removes if this fails); it is checked
    (:mod:`signer.output_check`) before this returns.
    """
    template = signer.template(prepared.digest_algorithm)
    if len(signature) > template.max_signature_size or not verify_digest_signature(
        signer.certificate, prepared.digest, signature, prepared.digest_algorithm
    ):
        raise CertificateRefused(errors.SIGNATURE_INVALID, f"{len(signature)}-byte signature")
    if source.stat().st_size != prepared.base_size:
        raise PakatError(errors.DOCUMENT_CHANGED, "the prepared revision is not the stored one")
    revision = Revision(bytearray(prepared.update), prepared.base_size, [prepared.hole])
    cms = template.signed_data(prepared.signed_attributes, signature)
    revision.fill(prepared.hole, cms)
    with open(destination, "xb") as out:
        whole = copy_hashing(source, out, prepared.base_size)
        out.write(revision.data)
    covered = whole.copy() if prepared.digest_algorithm is SHA256 else hash_file(
        source, prepared.digest_algorithm.hash(), prepared.base_size)
    for part in revision.signed_ranges(prepared.hole):
        covered.update(part)
    whole.update(revision.data)
    # The digest is taken afresh over the stored document and the prepared update: a document
    # changed since the attributes were signed fails here, not in a validator later.
    check_signed_output(
        destination,
        base_size=prepared.base_size,
        base_startxref=last_startxref(source, prepared.base_size),
        revisions=1,
        signatures=[EmbeddedSignature(prepared.hole, cms, revision.end, covered.digest())],
    )
    return WrittenRevision(whole.hexdigest(), revision.end)


def raise_signature(
    signed: Path,
    prepared: PreparedSignature,
    signer: SignerCertificate,
    signature: bytes,
    level: PadesLevel,
    destination: Path,
    *,
    tsa: TimestampAuthority | None,
    revocation: RevocationSource | None,
    max_bytes: int,
) -> WrittenRevision:
    """Raise a finished B-B signature in ``signed`` to ``level`` into ``destination``.

    The signature timestamp goes into the signature's own hole, which its
    ByteRange never covered; B-LT appends the DSS for the signer's and the
    TSA's chains, and B-LTA a document timestamp over it. ``destination`` is
    checked (:mod:`signer.output_check`) before this returns.
    """
    if level.timestamped and tsa is None:
        raise PakatError(errors.CONFIG_INVALID, f"{level.value} needs a timestamp authority")
    if level.long_term and revocation is None:
        raise PakatError(errors.CONFIG_INVALID, f"{level.value} needs revocation sources")
    hole = prepared.hole
    token = tsa.timestamp(signature) if level.timestamped and tsa is not None else None
    cms = signer.template(prepared.digest_algorithm).signed_data(
        prepared.signed_attributes, signature, token.der if token else None
    )
    if len(cms) > hole.capacity:
        raise PakatError(errors.TSA_RESPONSE_INVALID, "timestamp token larger than the space reserved for it")
    size = signed.stat().st_size
    with open(destination, "xb") as out:
        copy_hashing(signed, out, size)
        out.seek(hole.start + 1)
        out.write(cms.hex().encode("ascii").ljust(hole.end - hole.start - 2, b"0"))
    whole = hash_file(destination, hashlib.sha256(), size)
    covered_end = prepared.base_size + len(prepared.update)
    embedded = [EmbeddedSignature(hole, cms, covered_end, _range_digest(destination, prepared, covered_end))]
    base_startxref = last_startxref(signed, size)
    revisions, end = 0, size
    if level.long_term:
        assert revocation is not None
        pdf = PdfSource(destination, max_bytes=max_bytes)
        try:
            update, stamp = long_term_update(
                pdf, size, pdf.startxref, whole, level, revocation, tsa, signer.chain, token
            )
        finally:
            pdf.close()
        with open(destination, "ab") as out:
            out.write(update.data)
        whole.update(update.data)
        embedded.extend([stamp] if stamp else [])
        revisions, end = 1, update.end
    check_signed_output(
        destination, base_size=size, base_startxref=base_startxref, revisions=revisions, signatures=embedded
    )
    with open(destination, "rb+") as out:
        os.fsync(out.fileno())
    return WrittenRevision(whole.hexdigest(), end, token.gen_time if token else None)


def _range_digest(path: Path, prepared: PreparedSignature, covered_end: int) -> bytes:
    """The digest of what the signature's /ByteRange covers in ``path``, in the signature's algorithm."""
    h = prepared.digest_algorithm.hash()
    with open(path, "rb") as fh:
        for start, stop in ((0, prepared.hole.start), (prepared.hole.end, covered_end)):
            fh.seek(start)
            remaining = stop - start
            while remaining:
                chunk = fh.read(min(_CHUNK, remaining))
                if not chunk:
                    raise PakatError(errors.PDF_TRUNCATED, "the stored document is shorter than recorded")
                h.update(chunk)
                remaining -= len(chunk)
    return h.digest()


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _normal(text: str | None) -> str:
    """Compare IDs and titles as people type them: NFKC (Persian digits become ASCII), case and spaces folded."""
    folded = unicodedata.normalize("NFKC", text or "")
    folded = "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in folded)
    return " ".join(folded.casefold().split())
