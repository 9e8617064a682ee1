"""PAdES baseline signing, B-B to B-LTA, in one streaming pass over the document.

The original bytes are read once: copied to a temporary file beside the
destination while one running hash takes them in. Every digest the levels
need (the signature's ByteRange, the document timestamp's ByteRange, the
output's SHA-256) continues from a copy of that hash over the small updates
appended after it, so a 50 MB envelope is hashed once and never held in
memory. The destination appears by an atomic rename only when everything
succeeded; a failure leaves nothing behind.

Revision 1 holds the signature (with its timestamp for B-T and above).
B-LT appends a revision with the DSS (certificates, OCSP responses, CRLs for
the signer's and the TSA's chains); B-LTA puts a document timestamp in that
same revision, covering the DSS.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from cryptography import x509

from pakat import errors
from pakat.errors import CertificateRefused, PakatError
from signer.chain import ChainError, TrustStore
from signer.cms import SHA256, DigestAlgorithm, SignerTemplate
from signer.keys import SigningKey
from signer.levels import PadesLevel
from signer.pdf import Hole, PdfSource, Revision, signature_dictionary
from signer.revocation import RevocationSource, ValidationData
from signer.timestamps import TimestampAuthority, TimestampToken

_COPY_CHUNK = 1 << 20
_CONTENTS_MARGIN = 64


@dataclass(frozen=True)
class SignatureDetails:
    """What a person reads in the signature panel: why, where, whom to contact."""

    reason: str | None = None
    location: str | None = None
    contact: str | None = None
    field_stem: str = "Pakat Seal"


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
        if tsa is not None and tsa.digest is not SHA256:
            raise PakatError(errors.CONFIG_INVALID, "document timestamps are computed over SHA-256")
        _check_key_usage(key.certificate)

    def check_certificate(self, at: datetime | None = None) -> None:
        """Refuse (CertificateRefused) when the signer's chain is expired or revoked at ``at``.

        Revocation answers come from the cache while fresh, so this is cheap
        enough to run before every document.
        """
        moment = at or datetime.now(UTC)
        for cert in self.chain:
            if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
                raise CertificateRefused(
                    errors.SEAL_CERT_EXPIRED,
                    f"{cert.subject.rfc4514_string()} valid {cert.not_valid_before_utc:%Y-%m-%d}"
                    f"…{cert.not_valid_after_utc:%Y-%m-%d}",
                )
        if self.revocation is None:
            return
        for cert, issuer in zip(self.chain, self.chain[1:], strict=False):
            status = self.revocation.status(cert, issuer)
            if status.revoked:
                when = f" on {status.revoked_at:%Y-%m-%d %H:%M}Z" if status.revoked_at else ""
                raise CertificateRefused(
                    errors.SEAL_CERT_REVOKED,
                    f"{cert.subject.rfc4514_string()} revoked{when} ({status.reason or 'unspecified'})",
                )

    def sign(
        self,
        source: Path,
        destination: Path,
        level: PadesLevel,
        details: SignatureDetails = SignatureDetails(),
        *,
        max_bytes: int,
        durable: bool = True,
    ) -> SignedDocument:
        """Sign ``source`` into ``destination`` at ``level``; nothing is written on failure.

        ``durable`` syncs the file to disk before it appears under its name;
        skip it only for outputs that are streamed back and deleted.
        """
        if level.timestamped and self.tsa is None:
            raise PakatError(errors.CONFIG_INVALID, f"{level.value} needs a timestamp authority")
        if level.long_term and self.revocation is None:
            raise PakatError(errors.CONFIG_INVALID, f"{level.value} needs revocation sources")
        signed_at = datetime.now(UTC).replace(microsecond=0)
        # The document first: unusable input must cost neither an HSM login nor an OCSP round trip.
        pdf = PdfSource(source, max_bytes=max_bytes)
        try:
            self.check_certificate(signed_at)
            return self._sign_open(pdf, destination, level, details, signed_at, durable)
        finally:
            pdf.close()

    def _sign_open(
        self,
        pdf: PdfSource,
        destination: Path,
        level: PadesLevel,
        details: SignatureDetails,
        signed_at: datetime,
        durable: bool,
    ) -> SignedDocument:
        reserve = self.template.size_bound(self.tsa.token_size_bound if level.timestamped and self.tsa else 0)
        first = pdf.new_update()
        first.add_signature_field(
            signature_dictionary(
                sub_filter=b"/ETSI.CAdES.detached",
                contents_bytes=reserve + _CONTENTS_MARGIN,
                signing_time=signed_at,
                reason=details.reason,
                location=details.location,
                contact=details.contact,
            ),
            pdf.unique_field_name(details.field_stem),
        )
        revision, xref_at = first.layout(pdf.size, pdf.startxref)
        (hole,) = revision.holes

        destination = destination.resolve()
        fd, temp_name = tempfile.mkstemp(dir=destination.parent, prefix=".pakat-", suffix=".part")
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                original = _copy_hashing(pdf.path, out, pdf.size)
                input_sha256 = original.hexdigest()

                # The signature covers the original and revision 1 except the hole.
                doc_hash = self._continue(original, pdf.path)
                for part in revision.signed_ranges(hole):
                    doc_hash.update(part)
                token = self._sign_into(revision, hole, doc_hash.digest(), level)
                out.write(revision.data)
                whole = original.copy()
                whole.update(revision.data)

                if level.long_term:
                    last = self._add_long_term(pdf, revision, xref_at, whole, level, token)
                    out.write(last.data)
                    whole.update(last.data)
                out.flush()
                if durable:
                    os.fsync(out.fileno())
                size = out.tell()
            os.replace(temp, destination)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return SignedDocument(
            destination=destination,
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
    ) -> TimestampToken | None:
        attrs = self.template.signed_attributes(document_digest)
        signature = self.key.sign_digest(self.template.digest.digest(attrs), self.template.digest)
        token = self.tsa.timestamp(signature) if level.timestamped and self.tsa else None
        cms = self.template.signed_data(attrs, signature, token.der if token else None)
        if len(cms) > hole.capacity:
            # Only a TSA whose tokens suddenly grew can get here; nothing is written yet.
            raise PakatError(errors.TSA_RESPONSE_INVALID, "timestamp token larger than the space reserved for it")
        revision.fill(hole, cms)
        return token

    def _add_long_term(
        self,
        pdf: PdfSource,
        previous: Revision,
        prev_xref: int,
        whole: hashlib._Hash,
        level: PadesLevel,
        token: TimestampToken | None,
    ) -> Revision:
        assert self.revocation is not None
        data = self.revocation.validation_data(self.chain)
        if token is not None:
            data = data.merged(self._tsa_validation_data(token))
        update = pdf.new_update()
        update.add_dss(list(data.certificates), list(data.ocsp_responses), list(data.crls))
        if level.archival:
            assert self.tsa is not None
            update.add_signature_field(
                signature_dictionary(
                    sub_filter=b"/ETSI.RFC3161",
                    contents_bytes=self.tsa.token_size_bound + _CONTENTS_MARGIN,
                    doc_timestamp=True,
                ),
                pdf.unique_field_name("Pakat Archive Timestamp"),
            )
        revision, _ = update.layout(previous.end, prev_xref)
        if level.archival:
            assert self.tsa is not None
            (hole,) = revision.holes
            covered = whole.copy()  # the TSA's digest is SHA-256, checked at construction
            for part in revision.signed_ranges(hole):
                covered.update(part)
            doc_token = self.tsa.timestamp_digest(covered.digest())
            if len(doc_token.der) > hole.capacity:
                raise PakatError(errors.TSA_RESPONSE_INVALID, "document timestamp larger than the space reserved")
            revision.fill(hole, doc_token.der)
        return revision

    def _tsa_validation_data(self, token: TimestampToken) -> ValidationData:
        assert self.revocation is not None
        return self.revocation.validation_data(token.tsa_chain)


def _copy_hashing(path: Path, out: BinaryIO, size: int) -> hashlib._Hash:
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


def _check_key_usage(cert: x509.Certificate) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise CertificateRefused(
            errors.SEAL_CERT_UNUSABLE, "key usage allows neither digitalSignature nor nonRepudiation"
        )
