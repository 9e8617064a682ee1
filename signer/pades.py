"""PAdES baseline signing, B-B to B-LTA, in one streaming pass over the document.

The original bytes are read once: copied to a temporary file beside the
destination while one running hash takes them in, or, when the caller owns
the file (an upload being answered), only read and hashed, the updates then
appended to it in place. Every digest the levels need (the signature's
ByteRange, the document timestamp's ByteRange, the output's SHA-256)
continues from a copy of that hash over the small updates appended after it,
so a 50 MB envelope is hashed once and never held in memory.

Before anything is signed, the document is asked whether it may take a
signature (:mod:`signer.permissions`); before the output becomes visible it is
read back and judged (:mod:`signer.output_check`). The destination appears by
an atomic rename only when everything succeeded (an in-place output is cut
back to its original length); a failure leaves nothing behind.

Revision 1 holds the signature (with its timestamp for B-T and above).
B-LT appends a revision with the DSS (certificates, OCSP responses, CRLs for
the signer's and the TSA's chains); B-LTA puts a document timestamp in that
same revision, covering the DSS.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from cryptography import x509

from pakat import errors
from pakat.errors import CertificateRefused, PakatError
from pakat.files import open_atomic
from signer.appearance import BlockFacts, BlockKind, visible_widget
from signer.chain import ChainError, TrustStore
from signer.cms import SHA256, DigestAlgorithm, SignerTemplate
from signer.keys import SigningKey
from signer.levels import PadesLevel
from signer.output_check import EmbeddedSignature, check_signed_output
from signer.pdf import Hole, PdfSource, Revision, VisibleWidget, qpdf_reading, signature_dictionary
from signer.permissions import check_may_sign
from signer.placement import VisibleSignature
from signer.revocation import RevocationSource
from signer.timestamps import TimestampAuthority, TimestampToken

_COPY_CHUNK = 1 << 20
_CONTENTS_MARGIN = 64


@dataclass(frozen=True)
class SignatureDetails:
    """What a person reads in the signature panel (why, where, whom to contact), and where its block is.

    ``appearance`` None keeps the signature invisible; otherwise the block
    shows the signer's name, organisation, role and the signing time.
    """

    reason: str | None = None
    location: str | None = None
    contact: str | None = None
    field_stem: str = "Pakat Seal"
    appearance: VisibleSignature | None = None


@dataclass(frozen=True)
class SignedDocument:
    """The outcome of one signing: where it went and the digests that identify it."""

    destination: Path
    level: PadesLevel
    input_sha256: str
    output_sha256: str
    output_size: int
    signed_at: datetime
    timestamp_time: datetime | None


class PadesSigner:
    """Signs PDFs with one key at a chosen PAdES level; thread-safe, reused across documents."""

    def __init__(
        self,
        key: SigningKey,
        trust: TrustStore,
        *,
        chain_hint: Sequence[x509.Certificate] = (),
        revocation: RevocationSource | None = None,
        tsa: TimestampAuthority | None = None,
        digest: DigestAlgorithm = SHA256,
    ) -> None:
        self.key = key
        self.revocation = revocation
        self.tsa = tsa
        try:
            self.chain = trust.chain_for(key.certificate, chain_hint)
        except ChainError as exc:
            raise CertificateRefused(errors.SEAL_CERT_UNTRUSTED, str(exc)) from None
        self.template = SignerTemplate(key.certificate, self.chain[1:-1], digest)
        self.block = BlockFacts.from_certificate(key.certificate, BlockKind.SEAL)
        if tsa is not None and tsa.digest is not SHA256:
            raise PakatError(errors.CONFIG_INVALID, "document timestamps are computed over SHA-256")
        check_key_usage(key.certificate, SEAL_REFUSALS)

    def check_certificate(self, at: datetime | None = None) -> None:
        """Refuse (CertificateRefused) when the signer's chain is expired or revoked at ``at``.

        Revocation answers come from the cache while fresh, so this is cheap
        enough to run before every document.
        """
        check_chain(self.chain, self.revocation, at or datetime.now(UTC), SEAL_REFUSALS)

    def sign(
        self,
        source: Path,
        destination: Path,
        level: PadesLevel,
        details: SignatureDetails = SignatureDetails(),
        *,
        max_bytes: int,
        durable: bool = True,
        in_place: bool = False,
    ) -> SignedDocument:
        """Sign ``source`` into ``destination`` at ``level``; nothing is written on failure.

        ``durable`` syncs the file to disk before it appears under its name, and
        its folder after; skip it only for outputs that are streamed back and deleted.
        ``in_place`` appends the signature to ``source`` itself (``destination``
        must be the same file): for a file the caller owns, it saves copying
        the document; a failure cuts the file back to what it was.
        """
        if level.timestamped and self.tsa is None:
            raise PakatError(errors.CONFIG_INVALID, f"{level.value} needs a timestamp authority")
        if level.long_term and self.revocation is None:
            raise PakatError(errors.CONFIG_INVALID, f"{level.value} needs revocation sources")
        if in_place and destination.resolve() != source.resolve():
            raise PakatError(errors.CONFIG_INVALID, "signing in place writes to the source itself")
        signed_at = datetime.now(UTC).replace(microsecond=0)
        # The document first: unusable input must cost neither an HSM login nor an OCSP round trip.
        pdf = PdfSource(source, max_bytes=max_bytes)
        try:
            field_name = pdf.unique_field_name(details.field_stem)
            check_may_sign(pdf, field_name=field_name)
            # A visible block's place is settled first too: a refused place costs no network round trip.
            widget = visible_widget(pdf, details.appearance, self.block, signed_at) if details.appearance else None
            self.check_certificate(signed_at)
            return self._sign_open(pdf, destination, level, details, field_name, signed_at, durable, widget,
                                   in_place)
        finally:
            pdf.close()

    def _sign_open(
        self,
        pdf: PdfSource,
        destination: Path,
        level: PadesLevel,
        details: SignatureDetails,
        field_name: str,
        signed_at: datetime,
        durable: bool,
        widget: VisibleWidget | None,
        in_place: bool,
    ) -> SignedDocument:
        reserve = self.template.size_bound(self.tsa.token_size_bound if level.timestamped and self.tsa else 0)
        revision, hole, xref_at = signature_update(pdf, reserve, details, field_name, signed_at, widget)

        with _output(pdf, destination, in_place=in_place, durable=durable) as out:
            input_sha256 = out.original.hexdigest()
            # The signature covers the original and revision 1 except the hole.
            doc_hash = self._continue(out.original, pdf.path)
            for part in revision.signed_ranges(hole):
                doc_hash.update(part)
            document_digest = doc_hash.digest()
            token, cms = self._sign_into(revision, hole, document_digest, level)
            out.file.write(revision.data)
            whole = out.original.copy()
            whole.update(revision.data)
            embedded = [EmbeddedSignature(hole, cms, revision.end, document_digest)]

            if level.long_term:
                last, stamp = self._add_long_term(pdf, revision.end, xref_at, whole, level, token)
                out.file.write(last.data)
                whole.update(last.data)
                embedded.extend([stamp] if stamp else [])
            out.file.flush()
            check_signed_output(
                out.path,
                base_size=pdf.size,
                base_startxref=pdf.startxref,
                revisions=2 if level.long_term else 1,
                signatures=embedded,
            )
            size = out.file.tell()
        return SignedDocument(
            destination=destination.resolve(),
            level=level,
            input_sha256=input_sha256,
            output_sha256=whole.hexdigest(),
            output_size=size,
            signed_at=signed_at,
            timestamp_time=token.gen_time if token else None,
        )

    def _continue(self, original: hashlib._Hash, path: Path) -> hashlib._Hash:
        """A copy of the running SHA-256, or a fresh pass when the signature digest differs."""
        if self.template.digest is SHA256:
            return original.copy()
        h = self.template.digest.hash()
        with open(path, "rb") as fh:
            while chunk := fh.read(_COPY_CHUNK):
                h.update(chunk)
        return h

    def _sign_into(
        self, revision: Revision, hole: Hole, document_digest: bytes, level: PadesLevel
    ) -> tuple[TimestampToken | None, bytes]:
        attrs = self.template.signed_attributes(document_digest)
        signature = self.key.sign_digest(self.template.digest.digest(attrs), self.template.digest)
        token = self.tsa.timestamp(signature) if level.timestamped and self.tsa else None
        cms = self.template.signed_data(attrs, signature, token.der if token else None)
        if len(cms) > hole.capacity:
            # Only a TSA whose tokens suddenly grew can get here; nothing is written yet.
            raise PakatError(errors.TSA_RESPONSE_INVALID, "timestamp token larger than the space reserved for it")
        revision.fill(hole, cms)
        return token, cms

    def _add_long_term(
        self,
        pdf: PdfSource,
        base: int,
        prev_xref: int,
        whole: hashlib._Hash,
        level: PadesLevel,
        token: TimestampToken | None,
    ) -> tuple[Revision, EmbeddedSignature | None]:
        assert self.revocation is not None
        return long_term_update(
            pdf, base, prev_xref, whole, level, self.revocation, self.tsa, self.chain, token
        )


@dataclass
class _Output:
    """Where a signed document is being written: a new file, or the end of the source itself."""

    path: Path
    file: BinaryIO
    original: hashlib._Hash  # SHA-256 of the source's bytes, taken in as they were copied or read


@contextlib.contextmanager
def _output(pdf: PdfSource, destination: Path, *, in_place: bool, durable: bool) -> Iterator[_Output]:
    """Open the output, yield it, then make it appear (or leave no trace of it on failure)."""
    if in_place:
        with open(pdf.path, "r+b") as fh:
            original = hash_file(pdf.path, hashlib.sha256(), pdf.size)
            fh.seek(pdf.size)
            try:
                yield _Output(pdf.path, fh, original)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            except BaseException:
                fh.truncate(pdf.size)
                raise
        return
    with open_atomic(destination.resolve(), durable=durable) as target:
        original = copy_hashing(pdf.path, target.file, pdf.size)
        yield _Output(target.path, target.file, original)


def signature_update(
    pdf: PdfSource,
    reserve: int,
    details: SignatureDetails,
    field_name: str,
    signed_at: datetime,
    widget: VisibleWidget | None = None,
) -> tuple[Revision, Hole, int]:
    """The incremental update adding the signature field ``field_name`` with an empty hole of ``reserve`` bytes.

    ``widget`` (from :func:`signer.appearance.visible_widget`) makes the field
    visible. Returns the laid-out update, its hole and the update's startxref;
    the caller fills the hole with the CMS once it has the signature.
    """
    with qpdf_reading():
        update = pdf.new_update()
        update.add_signature_field(
            signature_dictionary(
                sub_filter=b"/ETSI.CAdES.detached",
                contents_bytes=reserve + _CONTENTS_MARGIN,
                signing_time=signed_at,
                reason=details.reason,
                location=details.location,
                contact=details.contact,
            ),
            field_name,
            widget,
        )
        revision, xref_at = update.layout(pdf.size, pdf.startxref)
    (hole,) = revision.holes
    return revision, hole, xref_at


def long_term_update(
    pdf: PdfSource,
    base: int,
    prev_xref: int,
    whole: hashlib._Hash,
    level: PadesLevel,
    revocation: RevocationSource,
    tsa: TimestampAuthority | None,
    chain: Sequence[x509.Certificate],
    token: TimestampToken | None,
) -> tuple[Revision, EmbeddedSignature | None]:
    """The update that raises a signature to B-LT (DSS) or B-LTA (DSS and a document timestamp).

    ``base`` and ``prev_xref`` say where the file ends now and where its last
    cross-reference section is; ``whole`` is the running SHA-256 of those
    ``base`` bytes, continued here over the update for the document timestamp.
    Returns the update and, for B-LTA, the document timestamp it holds.
    """
    data = revocation.validation_data(chain)
    if token is not None:
        data = data.merged(revocation.validation_data(token.tsa_chain))
    if level.archival and tsa is None:
        raise PakatError(errors.CONFIG_INVALID, f"{level.value} needs a timestamp authority")
    with qpdf_reading():
        update = pdf.new_update()
        update.add_dss(list(data.certificates), list(data.ocsp_responses), list(data.crls))
        if level.archival:
            assert tsa is not None
            update.add_signature_field(
                signature_dictionary(
                    sub_filter=b"/ETSI.RFC3161",
                    contents_bytes=tsa.token_size_bound + _CONTENTS_MARGIN,
                    doc_timestamp=True,
                ),
                pdf.unique_field_name("Pakat Archive Timestamp"),
            )
        revision, _ = update.layout(base, prev_xref)
    if not level.archival:
        return revision, None
    assert tsa is not None
    (hole,) = revision.holes
    covered = whole.copy()  # the TSA's digest is SHA-256, checked where the TSA is configured
    for part in revision.signed_ranges(hole):
        covered.update(part)
    digest = covered.digest()
    doc_token = tsa.timestamp_digest(digest)
    if len(doc_token.der) > hole.capacity:
        raise PakatError(errors.TSA_RESPONSE_INVALID, "document timestamp larger than the space reserved")
    revision.fill(hole, doc_token.der)
    return revision, EmbeddedSignature(hole, doc_token.der, revision.end, digest, timestamp=True)


def copy_hashing(path: Path, out: BinaryIO, size: int) -> hashlib._Hash:
    """Copy ``size`` bytes of ``path`` into ``out`` through one reused buffer, hashing them."""
    h = hashlib.sha256()
    buffer = bytearray(_COPY_CHUNK)
    view = memoryview(buffer)
    remaining = size
    write = out.write
    with open(path, "rb", buffering=0) as fh:
        while remaining:
            n = fh.readinto(view[: min(remaining, _COPY_CHUNK)])
            if not n:
                raise PakatError(errors.PDF_TRUNCATED, "the file shrank while it was being signed")
            h.update(view[:n])
            write(view[:n])
            remaining -= n
    return h


def hash_file(path: Path, running: hashlib._Hash, size: int) -> hashlib._Hash:
    """Feed the first ``size`` bytes of ``path`` to ``running`` through one reused buffer."""
    buffer = bytearray(_COPY_CHUNK)
    view = memoryview(buffer)
    remaining = size
    with open(path, "rb", buffering=0) as fh:
        while remaining:
            n = fh.readinto(view[: min(remaining, _COPY_CHUNK)])
            if not n:
                raise PakatError(errors.PDF_TRUNCATED, "the file is shorter than it was")
            running.update(view[:n])
            remaining -= n
    return running


@dataclass(frozen=True)
class Refusals:
    """The error kinds a certificate check raises: the seal's own, or a remote signer's."""

    untrusted: errors.ErrorKind
    expired: errors.ErrorKind
    revoked: errors.ErrorKind
    unusable: errors.ErrorKind


SEAL_REFUSALS = Refusals(
    errors.SEAL_CERT_UNTRUSTED, errors.SEAL_CERT_EXPIRED, errors.SEAL_CERT_REVOKED, errors.SEAL_CERT_UNUSABLE
)
SIGNER_REFUSALS = Refusals(
    errors.SIGNER_CERT_UNTRUSTED,
    errors.SIGNER_CERT_EXPIRED,
    errors.SIGNER_CERT_REVOKED,
    errors.SIGNER_CERT_UNUSABLE,
)


def check_chain(
    chain: Sequence[x509.Certificate],
    revocation: RevocationSource | None,
    moment: datetime,
    refusals: Refusals,
) -> None:
    """Refuse a chain with a certificate outside its validity at ``moment`` or revoked now.

    ``chain`` runs from the signer to the root; the root is not asked about.
    """
    for cert in chain:
        if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
            raise CertificateRefused(
                refusals.expired,
                f"{cert.subject.rfc4514_string()} valid {cert.not_valid_before_utc:%Y-%m-%d}"
                f"…{cert.not_valid_after_utc:%Y-%m-%d}",
            )
    if revocation is None:
        return
    for cert, issuer in itertools.pairwise(chain):
        status = revocation.status(cert, issuer)
        if status.revoked:
            when = f" on {status.revoked_at:%Y-%m-%d %H:%M}Z" if status.revoked_at else ""
            raise CertificateRefused(
                refusals.revoked,
                f"{cert.subject.rfc4514_string()} revoked{when} ({status.reason or 'unspecified'})",
            )


def check_key_usage(cert: x509.Certificate, refusals: Refusals) -> None:
    """Refuse a certificate whose key usage allows neither digitalSignature nor nonRepudiation."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise CertificateRefused(refusals.unusable, "key usage allows neither digitalSignature nor nonRepudiation")
