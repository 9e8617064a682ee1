"""Stored documents: upload, read, the organisation seal on the latest revision.

A document is a chain of revisions, each a whole PDF kept content-addressed in
the :class:`envelopes.blobs.DocumentStore`. ``documents.head`` names the
latest; every signature moves it with a compare-and-set from the revision it
was made on, so two signers racing on one document can never lose a
signature: the later one finds the head moved and is refused or re-prepared.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from envelopes import audit, quotas
from envelopes.audit import AuditLog
from envelopes.bids import check_document_writable
from envelopes.blobs import DocumentStore
from envelopes.database import Database, documents, revisions, utcnow
from envelopes.quotas import PolicyOf, no_limits
from envelopes.sealing import SealService
from hsm_config.deployment import StoragePolicy
from pakat import errors
from pakat.dates import iso_utc
from pakat.errors import InputError, PakatError
from signer.levels import PadesLevel
from signer.output_check import check_readable
from signer.pdf import PdfSource
from signer.placement import VisibleSignature


@dataclass(frozen=True)
class RevisionView:
    """One version of a document, as the API shows it."""

    number: int
    sha256: str
    size: int
    kind: str  # upload | signature | seal | level
    level: str | None
    signer: str | None
    session_id: str | None
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "sha256": self.sha256,
            "size": self.size,
            "kind": self.kind,
            "level": self.level,
            "signer": self.signer,
            "session_id": self.session_id,
            "created_at": iso_utc(self.created_at),
        }


@dataclass(frozen=True)
class DocumentView:
    """A document with its revisions, newest last."""

    id: str
    organisation: str
    name: str
    pages: int
    busy: bool
    created_at: datetime
    api_key_sha256: str | None = None  # the platform that stored it
    revisions: tuple[RevisionView, ...] = field(default_factory=tuple)

    @property
    def head(self) -> RevisionView:
        return self.revisions[-1]

    def as_dict(self) -> dict[str, Any]:
        """The JSON the API answers with: the latest revision's digest first, then the history."""
        signatures = [
            {"revision": r.number, "kind": "seal" if r.kind == "seal" else "signature", "signer": r.signer,
             "level": _final_level(self.revisions, r), "session_id": r.session_id,
             "signed_at": iso_utc(r.created_at)}
            for r in self.revisions
            if r.kind in ("signature", "seal")
        ]
        return {
            "id": self.id,
            "name": self.name,
            "organisation": self.organisation,
            "pages": self.pages,
            "state": "busy" if self.busy else "ready",
            "revision": self.head.number,
            "sha256": self.head.sha256,
            "size": self.head.size,
            "created_at": iso_utc(self.created_at),
            "signatures": signatures,
            "revisions": [r.as_dict() for r in self.revisions],
        }


@dataclass(frozen=True)
class StoredUpload:
    """A checked PDF in the document store, before a document names it."""

    pages: int
    sha256: str
    size: int


class DocumentService:
    """Documents of one deployment: stored once, read by any process."""

    def __init__(self, database: Database, store: DocumentStore, max_pdf_bytes: int,
                 policy_of: PolicyOf = no_limits) -> None:
        self.database = database
        self.store = store
        self.max_pdf_bytes = max_pdf_bytes
        self.policy_of = policy_of

    def add(self, organisation: str, api_key_sha256: str | None, upload: Path, name: str | None) -> DocumentView:
        """Check ``upload`` as signing will read it, store it, and record revision 0, within the quota.

        The quota is checked before a byte is stored, and charged with the
        document's row: an upload that a concurrent one pushed over the quota
        is refused then, and its blob removed unless something else names it.
        """
        policy = self.policy_of(organisation)
        quotas.precheck(self.database, policy, organisation, upload.stat().st_size, 1)
        stored = self.store_upload(upload)
        try:
            with self.database.write() as conn:
                doc_id = insert_document(conn, organisation, api_key_sha256, name, stored, policy)
        except PakatError as exc:
            if exc.kind is errors.STORAGE_QUOTA_EXCEEDED:
                quotas.collect_blobs(self.database, self.store, [stored.sha256])
            raise
        if not self.store.has(stored.sha256):
            # A deletion of the last other document with these bytes removed the blob between our store and
            # our record: store it again, now that our row names it.
            self.store.put_file(upload)
        return self.get(organisation, doc_id)

    def store_upload(self, upload: Path) -> StoredUpload:
        """Check ``upload`` as signing will read it and store its bytes; no document names it yet."""
        pdf = PdfSource(upload, max_bytes=self.max_pdf_bytes)
        try:
            pages = len(pdf.pages)
            # A document the validator's reader would read otherwise than qpdf could never be signed soundly.
            check_readable(upload, pdf.size, pdf.startxref)
        finally:
            pdf.close()
        sha256, size = self.store.put_file(upload)
        return StoredUpload(pages, sha256, size)

    def get(self, organisation: str, doc_id: str) -> DocumentView:
        """The document, if it is this organisation's; anyone else's is DOCUMENT_NOT_FOUND."""
        with self.database.begin() as conn:
            return load_document(conn, organisation, doc_id)

    def latest(self, organisation: str, doc_id: str) -> tuple[DocumentView, Path]:
        """The document and the path of its latest revision's PDF."""
        doc = self.get(organisation, doc_id)
        return doc, self.store.path(doc.head.sha256)

    def seal(self, organisation: str, doc_id: str, level: PadesLevel, seals: SealService, *,
             actor: str | None = None, appearance: VisibleSignature | None = None) -> DocumentView:
        """Apply the organisation's seal to the latest revision, as a new revision (visible if ``appearance``).

        Refused with DOCUMENT_BUSY while a signature is being raised to its
        level, and with DOCUMENT_CHANGED if a signature landed while sealing.
        The revision and its ``document.sealed`` audit entry (by ``actor``,
        default the organisation) commit together.
        """
        doc, source = self.latest(organisation, doc_id)
        if doc.busy:
            raise PakatError(errors.DOCUMENT_BUSY)
        policy = self.policy_of(organisation)
        # The sealed revision is at least as large as the one it seals: no HSM work for a seal that cannot fit.
        quotas.precheck(self.database, policy, organisation, doc.head.size, 0)
        temp = self.store.incoming()
        try:
            sealed = seals.seal(organisation, source, temp, level, appearance=appearance).document
            self.store.adopt(temp, sealed.output_sha256)  # durable before the database names it
        finally:
            temp.unlink(missing_ok=True)
        try:
            with self.database.write() as conn:
                number = add_revision(conn, doc_id, doc.head.number, sealed.output_sha256, sealed.output_size,
                                      kind="seal", level=level.value, signer=seal_signer(seals, organisation),
                                      policy=policy)
                AuditLog(self.database).append(
                    conn, audit.DOCUMENT_SEALED, actor=actor or audit.organisation_actor(organisation),
                    subject=doc_id, details={
                        "stored": True, "revision": number, "organisation": organisation, "level": level.value,
                        "input_sha256": doc.head.sha256, "output_sha256": sealed.output_sha256,
                        "output_size": sealed.output_size,
                    },
                )
        except BaseException:
            self.store.discard(sealed.output_sha256)  # a fresh seal: no other revision has these bytes
            raise
        return self.get(organisation, doc_id)


def seal_signer(seals: SealService, organisation: str) -> str:
    return seals.signer_for(organisation).key.certificate.subject.rfc4514_string()


def insert_document(
    conn: Connection, organisation: str, api_key_sha256: str | None, name: str | None, stored: StoredUpload,
    policy: StoragePolicy,
) -> str:
    """Record a new document whose revision 0 is ``stored``, in the caller's transaction; its id.

    Charged to the organisation's quota (``policy``) in the same transaction: STORAGE_QUOTA_EXCEEDED.
    """
    quotas.charge(conn, policy, organisation, stored.size, 1)
    now = utcnow()
    doc_id = secrets.token_hex(16)
    conn.execute(insert(documents).values(
        id=doc_id, organisation=organisation, api_key_sha256=api_key_sha256,
        name=(name or "document.pdf")[:255], pages=stored.pages, head=0, busy_session=None,
        created_at=now, updated_at=now,
    ))
    conn.execute(insert(revisions).values(
        document_id=doc_id, number=0, sha256=stored.sha256, size=stored.size, kind="upload", created_at=now,
    ))
    return doc_id


def load_document(conn: Connection, organisation: str | None, doc_id: str) -> DocumentView:
    """Read a document and its revisions; ``organisation`` None skips the ownership check (jobs)."""
    row = conn.execute(select(documents).where(documents.c.id == doc_id)).first()
    if row is None or (organisation is not None and row.organisation != organisation):
        raise InputError(errors.DOCUMENT_NOT_FOUND, doc_id[:64])
    revs = conn.execute(
        select(revisions).where(revisions.c.document_id == doc_id).order_by(revisions.c.number)
    ).all()
    return _view(row, revs)


def add_revision(
    conn: Connection,
    doc_id: str,
    base: int,
    sha256: str,
    size: int,
    *,
    kind: str,
    level: str | None = None,
    signer: str | None = None,
    session_id: str | None = None,
    busy_session: str | None = None,
    release_session: str | None = None,
    policy: StoragePolicy,
) -> int:
    """Record revision ``base + 1`` and move the head to it, if the head is still ``base``.

    ``busy_session`` marks the document busy for that session (its level is
    still to be raised); ``release_session`` is the session whose busy mark
    this revision clears. Raises DOCUMENT_CHANGED when the head moved or the
    document is busy for another session, and DEADLINE_PASSED or ENVELOPE_STATE
    when the document is in a bid envelope that no longer accepts changes
    (:func:`envelopes.bids.check_document_writable`), and STORAGE_QUOTA_EXCEEDED when the
    revision would pass the organisation's quota (``policy``): the caller's transaction then rolls back.
    """
    number = base + 1
    condition = (documents.c.id == doc_id) & (documents.c.head == base)
    if release_session is None:
        condition &= documents.c.busy_session.is_(None)
    else:
        condition &= documents.c.busy_session == release_session
    owner = conn.execute(
        update(documents).where(condition).values(head=number, busy_session=busy_session, updated_at=utcnow())
        .returning(documents.c.organisation)
    ).scalar()
    if owner is None:
        raise PakatError(errors.DOCUMENT_CHANGED, f"revision {base} is no longer the latest")
    quotas.charge(conn, policy, owner, size, 0)
    # After the write, so the lock it took keeps the envelope's answer true until commit.
    check_document_writable(conn, doc_id)
    conn.execute(insert(revisions).values(
        document_id=doc_id, number=number, sha256=sha256, size=size, kind=kind, level=level,
        signer=signer, session_id=session_id, created_at=utcnow(),
    ))
    return number


def _view(row: Row[Any], revs: Sequence[Row[Any]]) -> DocumentView:
    return DocumentView(
        id=row.id,
        organisation=row.organisation,
        name=row.name,
        pages=row.pages,
        busy=row.busy_session is not None,
        created_at=row.created_at,
        api_key_sha256=row.api_key_sha256,
        revisions=tuple(
            RevisionView(r.number, r.sha256, r.size, r.kind, r.level, r.signer, r.session_id, r.created_at)
            for r in revs
        ),
    )


def _final_level(revs: tuple[RevisionView, ...], signature: RevisionView) -> str | None:
    """The level a signature reached: its own, or that of the level revision that raised it."""
    for r in revs:
        if r.kind == "level" and r.session_id is not None and r.session_id == signature.session_id:
            return r.level
    return signature.level


def document_links(doc: Mapping[str, Any]) -> dict[str, str]:
    base = f"/api/v1/documents/{doc['id']}"
    return {"self": base, "pdf": f"{base}/pdf", "signing_sessions": f"{base}/signing-sessions"}
