"""Deleting documents and batches, on request or when the retention policy says they are due.

A deletion removes the rows (a document with its revisions and signing
sessions; a batch with its items), takes their bytes off the organisation's
quota (:mod:`envelopes.quotas`), and appends one audit entry that says what
went, all in one transaction; the audit log itself is never touched, so
``pakat audit verify`` still holds. Only after the commit are the blobs that
no row names any more removed from the store (:func:`envelopes.quotas.collect_blobs`):
content-addressed, a blob shared with another document or batch stays.

Refused, with a code, and changing nothing:

- a document in an open signing session, or busy while its signature is
  raised to its level (DOCUMENT_HELD);
- a document in a bid envelope that is not yet opened or withdrawn, as a
  document or as a submission receipt (DOCUMENT_HELD): the tender's record
  stays whole until the opening; an envelope left unsubmitted past the
  deadline is over too;
- a batch still being sealed (BATCH_RUNNING).

Retention (``storage`` in the deployment, per organisation: ``documents_days``,
``batch_inputs_days``, ``batches_days``) is applied by :meth:`Retention.purge`,
which ``pakat documents purge`` runs by hand and ``pakat worker`` runs every
``PAKAT_RETENTION_SECONDS``. What is due but held is skipped and tried again
at the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, union, update

from envelopes import audit, quotas
from envelopes.audit import AuditLog
from envelopes.batches import FINISHED, RUNNING
from envelopes.bids import enclosure
from envelopes.blobs import DocumentStore
from envelopes.database import (
    Database,
    batch_items,
    batches,
    documents,
    envelope_documents,
    envelope_receipts,
    revisions,
    signing_sessions,
    utcnow,
)
from envelopes.quotas import PolicyOf, no_limits
from envelopes.sessions import OPEN_STATES, SIGNED
from envelopes.tender_types import OPENED, PREPARING, WITHDRAWN
from pakat import errors
from pakat.dates import iso_utc
from pakat.errors import InputError, PakatError

log = logging.getLogger(__name__)

ON_REQUEST, BY_RETENTION = "request", "retention"
#: At most this many due rows per kind and organisation in one purge run: a run stays short, the next goes on.
PURGE_PAGE = 500


@dataclass(frozen=True)
class Deletion:
    """What one deletion removed."""

    kind: str  # document | batch | batch_inputs
    id: str
    organisation: str
    freed_bytes: int
    freed_documents: int
    blobs_removed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PurgeReport:
    """What a retention run deleted, and what was due but held (tried again next time)."""

    deleted: list[Deletion] = field(default_factory=list)
    held: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"deleted": [d.as_dict() for d in self.deleted], "held": self.held,
                "freed_bytes": sum(d.freed_bytes for d in self.deleted)}


class Retention:
    """Deletion on request and by the retention policy, for one deployment's database and store."""

    def __init__(self, database: Database, store: DocumentStore, policy_of: PolicyOf = no_limits, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.store = store
        self.policy_of = policy_of
        self.clock = clock
        self.audit = AuditLog(database)

    # -- on request ---------------------------------------------------------------------------
    def delete_document(self, organisation: str | None, doc_id: str, *, actor: str,
                        reason: str = ON_REQUEST) -> Deletion:
        """Delete a document (``organisation`` None: any organisation's, from the shell)."""
        now = self.clock()
        with self.database.write() as conn:
            # A write first: it locks the row (PostgreSQL) and makes this the writer (SQLite) before any read.
            conn.execute(update(documents).where(documents.c.id == doc_id)
                         .values(updated_at=documents.c.updated_at))
            row = conn.execute(select(documents).where(documents.c.id == doc_id)).first()
            if row is None or (organisation is not None and row.organisation != organisation):
                raise InputError(errors.DOCUMENT_NOT_FOUND, doc_id[:64])
            _check_not_held(conn, doc_id, row.busy_session, now)
            revs = conn.execute(select(revisions.c.number, revisions.c.sha256, revisions.c.size)
                                .where(revisions.c.document_id == doc_id).order_by(revisions.c.number)).all()
            freed = sum(int(r.size) for r in revs)
            conn.execute(delete(envelope_documents).where(envelope_documents.c.document_id == doc_id))
            conn.execute(delete(envelope_receipts).where(envelope_receipts.c.document_id == doc_id))
            conn.execute(delete(signing_sessions).where(signing_sessions.c.document_id == doc_id))
            conn.execute(delete(revisions).where(revisions.c.document_id == doc_id))
            conn.execute(delete(documents).where(documents.c.id == doc_id))
            quotas.release(conn, row.organisation, freed, 1)
            # Last: the audit head stays locked only until commit.
            self.audit.append(conn, audit.DOCUMENT_DELETED, actor=actor, subject=doc_id, details={
                "organisation": row.organisation, "reason": reason, "name": row.name,
                "revisions": [{"number": r.number, "sha256": r.sha256, "size": r.size} for r in revs],
                "bytes": freed,
            })
        removed = quotas.collect_blobs(self.database, self.store, [r.sha256 for r in revs])
        return Deletion("document", doc_id, row.organisation, freed, 1, len(removed))

    def delete_batch(self, organisation: str | None, batch_id: str, *, actor: str,
                     reason: str = ON_REQUEST) -> Deletion:
        """Delete a finished batch, its items and their files (``organisation`` None: from the shell)."""
        with self.database.write() as conn:
            conn.execute(update(batches).where(batches.c.id == batch_id).values(created_at=batches.c.created_at))
            row = conn.execute(select(batches).where(batches.c.id == batch_id)).first()
            if row is None or (organisation is not None and row.organisation != organisation):
                raise InputError(errors.BATCH_NOT_FOUND, batch_id[:64])
            if row.state == RUNNING:
                raise PakatError(errors.BATCH_RUNNING, batch_id)
            items = conn.execute(select(batch_items.c.input_sha256, batch_items.c.input_size,
                                        batch_items.c.output_sha256, batch_items.c.output_size)
                                 .where(batch_items.c.batch_id == batch_id)).all()
            inputs_kept = row.inputs_purged_at is None
            freed = sum(int(i.output_size or 0) + (int(i.input_size) if inputs_kept else 0) for i in items)
            conn.execute(delete(batch_items).where(batch_items.c.batch_id == batch_id))
            conn.execute(delete(batches).where(batches.c.id == batch_id))
            quotas.release(conn, row.organisation, freed, len(items))
            self.audit.append(conn, audit.BATCH_DELETED, actor=actor, subject=batch_id, details={
                "organisation": row.organisation, "reason": reason, "items": len(items), "bytes": freed,
                "sealed": sum(1 for i in items if i.output_sha256),
            })
        candidates = [i.output_sha256 for i in items if i.output_sha256]
        if inputs_kept:
            candidates += [i.input_sha256 for i in items]
        removed = quotas.collect_blobs(self.database, self.store, candidates)
        return Deletion("batch", batch_id, row.organisation, freed, len(items), len(removed))

    def purge_batch_inputs(self, batch_id: str, *, actor: str) -> Deletion | None:
        """Delete a finished batch's input files, keeping its items, digests and sealed outputs; None if done."""
        with self.database.write() as conn:
            purged = conn.execute(update(batches).where(
                batches.c.id == batch_id, batches.c.state == FINISHED, batches.c.inputs_purged_at.is_(None),
            ).values(inputs_purged_at=self.clock()).returning(batches.c.organisation)).scalar()
            if purged is None:
                return None
            items = conn.execute(select(batch_items.c.input_sha256, batch_items.c.input_size)
                                 .where(batch_items.c.batch_id == batch_id)).all()
            freed = sum(int(i.input_size) for i in items)
            quotas.release(conn, purged, freed, 0)
            self.audit.append(conn, audit.BATCH_INPUTS_PURGED, actor=actor, subject=batch_id, details={
                "organisation": purged, "reason": BY_RETENTION, "items": len(items), "bytes": freed,
            })
        removed = quotas.collect_blobs(self.database, self.store, [i.input_sha256 for i in items])
        return Deletion("batch_inputs", batch_id, purged, freed, 0, len(removed))

    # -- by the retention policy ----------------------------------------------------------------
    def purge(self, *, actor: str, organisations: Iterable[str] | None = None) -> PurgeReport:
        """Delete what each organisation's retention policy says is due now; held items are skipped.

        ``organisations`` None: every organisation that stores something.
        """
        now = self.clock()
        report = PurgeReport()
        for org in sorted(organisations if organisations is not None else self._organisations()):
            policy = self.policy_of(org)
            if policy.documents_days is not None:
                for doc_id in self._due(documents.c.id, documents.c.organisation == org,
                                        documents.c.updated_at < now - timedelta(days=policy.documents_days)):
                    self._attempt(report, "document", doc_id, lambda i: self.delete_document(
                        None, i, actor=actor, reason=BY_RETENTION))
            if policy.batches_days is not None:
                for batch_id in self._due(batches.c.id, batches.c.organisation == org, batches.c.state == FINISHED,
                                          batches.c.finished_at < now - timedelta(days=policy.batches_days)):
                    self._attempt(report, "batch", batch_id, lambda i: self.delete_batch(
                        None, i, actor=actor, reason=BY_RETENTION))
            if policy.batch_inputs_days is not None:
                cutoff = now - timedelta(days=policy.batch_inputs_days)
                for batch_id in self._due(batches.c.id, batches.c.organisation == org, batches.c.state == FINISHED,
                                          batches.c.inputs_purged_at.is_(None), batches.c.finished_at < cutoff):
                    self._attempt(report, "batch_inputs", batch_id,
                                  lambda i: self.purge_batch_inputs(i, actor=actor))
        if report.deleted or report.held:
            log.info("retention: %d deleted (%d bytes), %d held", len(report.deleted),
                     sum(d.freed_bytes for d in report.deleted), len(report.held))
        return report

    def _organisations(self) -> list[str]:
        with self.database.begin() as conn:
            query = union(select(documents.c.organisation).distinct(), select(batches.c.organisation).distinct())
            return [str(org) for org in conn.execute(query).scalars()]

    def _due(self, column: Any, *conditions: Any) -> list[str]:
        with self.database.begin() as conn:
            return [str(v) for v in conn.execute(select(column).where(*conditions).order_by(column)
                                                 .limit(PURGE_PAGE)).scalars()]

    def _attempt(self, report: PurgeReport, kind: str, ident: str,
                 action: Callable[[str], Deletion | None]) -> None:
        try:
            done = action(ident)
        except PakatError as exc:
            if exc.kind in (errors.DOCUMENT_NOT_FOUND, errors.BATCH_NOT_FOUND):
                return  # deleted meanwhile by a request or another run
            if exc.kind not in (errors.DOCUMENT_HELD, errors.BATCH_RUNNING):
                raise
            report.held.append({"kind": kind, "id": ident, "code": exc.code, "detail": exc.detail or ""})
            return
        if done is not None:
            report.deleted.append(done)


def _check_not_held(conn: Connection, doc_id: str, busy_session: str | None, now: datetime) -> None:
    """DOCUMENT_HELD when a signing session or a bid envelope still needs the document."""
    if busy_session is not None:
        raise PakatError(errors.DOCUMENT_HELD, f"signing session {busy_session} is raising its signature's level")
    open_session = conn.execute(select(signing_sessions.c.id).where(
        signing_sessions.c.document_id == doc_id,
        ((signing_sessions.c.state.in_(OPEN_STATES)) & (signing_sessions.c.expires_at > now))
        | (signing_sessions.c.state == SIGNED),
    ).limit(1)).scalar()
    if open_session is not None:
        raise PakatError(errors.DOCUMENT_HELD, f"signing session {open_session} is open")
    held = enclosure(conn, doc_id, lock=True)
    if held is None:
        return
    over = held.state in (OPENED, WITHDRAWN) or (held.state in PREPARING and now >= held.deadline)
    if not over:
        role = "receipt" if held.receipt else "document"
        raise PakatError(errors.DOCUMENT_HELD, f"a {role} of bid envelope {held.envelope_id} ({held.state}, "
                                               f"deadline {iso_utc(held.deadline)})")

