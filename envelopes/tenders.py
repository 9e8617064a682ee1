"""Tenders and bid envelopes: the use cases a platform calls, from the first document to the opening.

A platform (an API key) creates a tender with a submission deadline, then per
bidder an envelope of kind A (guarantee), B (technical) or C (price) with its
requirements: the authorised signatories, the minimum assurance level of their
certificates, whether the company seal is needed. Documents go in as ordinary
Pakat documents (so signing sessions and seals work on them), are signed and
sealed, and the envelope is submitted: Pakat checks every current document
with its own validator, issues a receipt sealed with the platform's seal, and
takes that seal's signature timestamp as the official submission time.

Until the deadline a document may be replaced (a submitted envelope becomes
unsubmitted, its receipt superseded) or the envelope withdrawn; after it
nothing changes (:mod:`envelopes.bids` guards every path that writes a
document), and the platform opens the envelopes kind by kind, A, then B, then C.

Whether a submission beat the deadline is decided by timestamps from the TSA:
each required signature's, and the receipt seal's. The server clock (``clock``,
injectable) only refuses early what is certainly late.

This module keeps the use cases (database, document store, seals); what they
take and answer is in :mod:`envelopes.tender_types`, and whether documents meet
an envelope's requirements is judged, from validation reports alone, by
:mod:`envelopes.requirements`.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from envelopes import audit, bids, quotas
from envelopes.audit import AuditLog, api_key_actor
from envelopes.bids import change_refusal
from envelopes.blobs import DocumentStore
from envelopes.database import (
    Database,
    documents,
    envelope_documents,
    envelope_receipts,
    envelopes,
    revisions,
    signing_sessions,
    tenders,
    utcnow,
)
from envelopes.documents import DocumentService, StoredUpload, insert_document
from envelopes.receipts import (
    ReceiptContents,
    ReceiptDocument,
    ReceiptSigner,
    TimestampProof,
    render_receipt,
    signature_timestamp,
)
from envelopes.requirements import Judge, ValidatedDocument, heads, unmet_summary
from envelopes.sealing import SealService
from envelopes.tender_types import (
    COMPLETE,
    DRAFT,
    KINDS,
    OPENED,
    PREPARING,
    SIGNING,
    SUBMITTED,
    WITHDRAWN,
    Bidder,
    Caller,
    DocumentCheck,
    DocumentSource,
    EnvelopeDocument,
    EnvelopeView,
    Evaluation,
    NewEnvelope,
    NewTender,
    Opening,
    ReceiptView,
    Requirements,
    TenderView,
    shown_state,
)
from hsm_config.deployment import Deployment, Platform, assurance_rank
from pakat import errors
from pakat.dates import iso_utc
from pakat.errors import InputError, PakatError
from signer.levels import PadesLevel
from validation.engine import Validator
from validation.model import SignatureReport
from validation.policy import ENVELOPE_POLICY

log = logging.getLogger(__name__)

RECEIPT_LEVEL = PadesLevel.B_LTA
MAX_SIGNATORIES = 20
Clock = Callable[[], datetime]


# -- the use cases ----------------------------------------------------------------------------------


class Tenders:
    """Tenders and their envelopes for the platforms of one deployment."""

    def __init__(
        self,
        database: Database,
        store: DocumentStore,
        deployment: Deployment,
        validator: Validator,
        seals: Callable[[], SealService],
        tmp: Path,
        clock: Clock = utcnow,
    ) -> None:
        self.database = database
        self.store = store
        self.deployment = deployment
        self.validator = validator
        self.seals = seals  # built on first use: only a submission seals
        self.tmp = tmp
        self.clock = clock
        self.documents = DocumentService(database, store, deployment.max_pdf_bytes, deployment.storage_policy)

    # -- tenders ----------------------------------------------------------------------

    def create_tender(self, caller: Caller, new: NewTender) -> TenderView:
        """A tender of the caller's platform; its deadline must be ahead."""
        now = self.clock()
        if new.deadline.tzinfo is None:
            raise InputError(errors.REQUEST_INVALID, "deadline needs a UTC offset or Z")
        if new.deadline <= now:
            raise InputError(errors.REQUEST_INVALID, f"deadline {iso_utc(new.deadline)} is not in the future")
        tender_id = secrets.token_hex(16)
        try:
            # Written before anything is read: two platforms' processes racing on SQLite stay in line.
            with self.database.write() as conn:
                conn.execute(insert(tenders).values(
                    id=tender_id, api_key_sha256=caller.api_key_sha256, organisation=caller.organisation,
                    reference=new.reference, title_fa=new.title_fa, title_en=new.title_en, deadline=new.deadline,
                    opened_through=None, created_at=now, updated_at=now,
                ))
                AuditLog(self.database).append(conn, audit.TENDER_CREATED, actor=_actor(caller), subject=tender_id,
                                               details={"organisation": caller.organisation,
                                                        "reference": new.reference,
                                                        "deadline": iso_utc(new.deadline)})
        except IntegrityError:
            raise PakatError(errors.TENDER_EXISTS, new.reference) from None
        return self.tender(caller, tender_id)

    def tenders(self, caller: Caller) -> list[TenderView]:
        """The platform's tenders, the latest deadline first, with their envelopes counted by state."""
        return self._listed(tenders.c.api_key_sha256 == caller.api_key_sha256)

    def organisation_tenders(self, organisation: str) -> list[TenderView]:
        """Every tender of the organisation (whichever of its platforms made it), the latest deadline first.

        What the console shows an organisation's people: a tender is the
        organisation's its ``organisation`` column names (the API key's that made it).
        """
        return self._listed(tenders.c.organisation == organisation)

    def _listed(self, condition: Any) -> list[TenderView]:
        now = self.clock()
        with self.database.begin() as conn:
            rows = conn.execute(select(tenders).where(condition)
                                .order_by(tenders.c.deadline.desc(), tenders.c.id)).all()
            counts = _envelope_counts(conn, [row.id for row in rows], now)
        return [_tender_view(row, now, counts.get(row.id, {})) for row in rows]

    def platforms(self, organisation: str) -> list[Platform]:
        """The organisation's platforms (deployment API keys with a platform): whom a console tender is for."""
        found = [p for p in self.deployment.platforms.values() if p.organisation == organisation]
        return sorted(found, key=lambda p: (p.name_en, p.api_key_sha256))

    def platform_caller(self, organisation: str, api_key_sha256: str, actor: str) -> Caller:
        """A person of ``organisation`` acting for one of its platforms; another's is TENDER_PLATFORM_UNKNOWN."""
        if not any(p.api_key_sha256 == api_key_sha256 for p in self.platforms(organisation)):
            raise InputError(errors.TENDER_PLATFORM_UNKNOWN, api_key_sha256[:12])
        return Caller(organisation, api_key_sha256, actor)

    def console_caller(self, organisation: str, tender_id: str, actor: str) -> Caller:
        """A person of ``organisation`` acting on its tender ``tender_id`` as the platform that made it.

        The console's way in: a tender is the organisation's when its ``organisation``
        column names it (whichever of its platforms made it); any other is
        TENDER_NOT_FOUND, as if absent.
        """
        with self.database.begin() as conn:
            row = conn.execute(select(tenders.c.organisation, tenders.c.api_key_sha256)
                               .where(tenders.c.id == tender_id)).first()
        if row is None or row.organisation != organisation:
            raise InputError(errors.TENDER_NOT_FOUND, tender_id[:64])
        return Caller(organisation, row.api_key_sha256, actor)

    def tender(self, caller: Caller, tender_id: str) -> TenderView:
        """One of the platform's tenders; another platform's is TENDER_NOT_FOUND, as if absent."""
        with self.database.begin() as conn:
            row = _tender_row(conn, caller, tender_id)
            now = self.clock()
            return _tender_view(row, now, _envelope_counts(conn, [row.id], now).get(row.id, {}))

    # -- envelopes --------------------------------------------------------------------

    def create_envelope(self, caller: Caller, tender_id: str, new: NewEnvelope) -> EnvelopeView:
        """A bidder's envelope of one kind, with what must be on each of its documents."""
        now = self.clock()
        if new.kind not in KINDS:
            raise InputError(errors.REQUEST_INVALID, "kind must be A, B or C")
        req = new.requirements
        if not req.signatories and not req.seal_required:
            raise InputError(errors.REQUEST_INVALID, "an envelope needs signatories, the seal, or both")
        if len(req.signatories) > MAX_SIGNATORIES:
            raise InputError(errors.REQUEST_INVALID, f"at most {MAX_SIGNATORIES} signatories")
        for n, signatory in enumerate(req.signatories):
            if replace(req, signatories=req.signatories[:n]).signatory_for(signatory.national_id) is not None:
                raise InputError(errors.REQUEST_INVALID, f"signatory {signatory.national_id} is listed twice")
        if req.min_assurance is not None and req.min_assurance not in self.deployment.assurance_levels:
            known = ", ".join(self.deployment.assurance_levels) or "none are configured"
            raise InputError(errors.REQUEST_INVALID, f"min_assurance must be one of: {known}")
        envelope_id = secrets.token_hex(16)
        with self.database.write() as conn:
            # Touching the tender first orders two creations for one tender (its row lock on PostgreSQL).
            conn.execute(update(tenders).where(tenders.c.id == tender_id).values(updated_at=now))
            tender = _tender_row(conn, caller, tender_id)
            if now >= tender.deadline:
                raise PakatError(errors.DEADLINE_PASSED, f"the deadline was {iso_utc(tender.deadline)}")
            rival = conn.execute(select(envelopes.c.id).where(
                (envelopes.c.tender_id == tender_id) & (envelopes.c.kind == new.kind)
                & (envelopes.c.bidder_national_id == new.bidder.national_id) & (envelopes.c.state != WITHDRAWN)
            )).first()
            if rival is not None:
                raise PakatError(errors.ENVELOPE_EXISTS, f"envelope {rival.id}")
            conn.execute(insert(envelopes).values(
                id=envelope_id, tender_id=tender_id, kind=new.kind, bidder_national_id=new.bidder.national_id,
                bidder_name_fa=new.bidder.name_fa, bidder_name_en=new.bidder.name_en,
                requirements=req.to_json(), state=DRAFT, created_at=now, updated_at=now,
            ))
            AuditLog(self.database).append(conn, audit.ENVELOPE_CREATED, actor=_actor(caller), subject=envelope_id,
                                           details={"tender": tender_id, "kind": new.kind,
                                                    "bidder": new.bidder.national_id})
        return self.envelope(caller, tender_id, envelope_id)

    def envelopes(self, caller: Caller, tender_id: str) -> list[EnvelopeView]:
        """The tender's envelopes, oldest first, each judged afresh if its documents changed."""
        with self.database.begin() as conn:
            _tender_row(conn, caller, tender_id)
            ids = list(conn.execute(
                select(envelopes.c.id).where(envelopes.c.tender_id == tender_id)
                .order_by(envelopes.c.created_at, envelopes.c.id)
            ).scalars())
        return [self.envelope(caller, tender_id, envelope_id) for envelope_id in ids]

    def envelope(self, caller: Caller, tender_id: str, envelope_id: str) -> EnvelopeView:
        """The envelope, its documents judged on their latest revisions (again only when they changed)."""
        now = self.clock()
        with self.database.begin() as conn:
            tender = _tender_row(conn, caller, tender_id)
            row = _envelope_row(conn, tender_id, envelope_id)
        if row.state in PREPARING and now < tender.deadline:
            self._refresh(row, tender.deadline)
        with self.database.begin() as conn:
            return _envelope_view(conn, _envelope_row(conn, tender_id, envelope_id), tender.deadline, now)

    def add_document(
        self, caller: Caller, tender_id: str, envelope_id: str, source: DocumentSource
    ) -> EnvelopeView:
        """Put a document in an envelope being prepared, after the others."""
        tender, row = self._changeable(caller, tender_id, envelope_id, PREPARING)
        stored = self._stored(caller, source)
        now = self.clock()
        with self.database.write() as conn:
            self._claim(conn, row.id, tender.deadline, PREPARING)
            doc_id = self._take(conn, caller, source, stored)
            position = conn.execute(
                select(func.coalesce(func.max(envelope_documents.c.position) + 1, 0))
                .where(envelope_documents.c.envelope_id == row.id)
            ).scalar_one()
            conn.execute(insert(envelope_documents).values(
                envelope_id=row.id, document_id=doc_id, position=position, added_at=now,
            ))
            self._prepared(conn, row.id)
            AuditLog(self.database).append(conn, audit.ENVELOPE_DOCUMENT_ADDED, actor=_actor(caller),
                                           subject=row.id, details={"tender": tender_id, "document": doc_id})
        return self.envelope(caller, tender_id, envelope_id)

    def replace_document(
        self, caller: Caller, tender_id: str, envelope_id: str, doc_id: str, source: DocumentSource
    ) -> EnvelopeView:
        """Put another document in the place of ``doc_id``, before the deadline.

        The old one stays in the history, no longer current. A submitted
        envelope becomes unsubmitted: its receipt is superseded.
        """
        tender, row = self._changeable(caller, tender_id, envelope_id, (*PREPARING, SUBMITTED))
        with self.database.begin() as conn:
            if doc_id not in {d.document_id for d in _current(conn, row.id)}:
                raise InputError(errors.DOCUMENT_NOT_FOUND, f"{doc_id[:64]} is not a current document here")
        stored = self._stored(caller, source)
        now = self.clock()
        with self.database.write() as conn:
            self._claim(conn, row.id, tender.deadline, (*PREPARING, SUBMITTED))
            new_id = self._take(conn, caller, source, stored)
            old = conn.execute(
                update(envelope_documents)
                .where((envelope_documents.c.envelope_id == row.id) & (envelope_documents.c.document_id == doc_id)
                       & envelope_documents.c.replaced_at.is_(None))
                .values(replaced_by=new_id, replaced_at=now)
                .returning(envelope_documents.c.position)
            ).first()
            if old is None:
                raise PakatError(errors.DOCUMENT_CHANGED, f"{doc_id} was replaced meanwhile")
            conn.execute(insert(envelope_documents).values(
                envelope_id=row.id, document_id=new_id, position=old.position, added_at=now,
            ))
            _supersede(conn, row.id, now, "replaced")
            self._prepared(conn, row.id)
            AuditLog(self.database).append(conn, audit.ENVELOPE_DOCUMENT_REPLACED, actor=_actor(caller),
                                           subject=row.id,
                                           details={"tender": tender_id, "document": new_id, "replaced": doc_id})
        log.info("envelope %s: document %s replaced by %s", row.id, doc_id, new_id)
        return self.envelope(caller, tender_id, envelope_id)

    def withdraw(self, caller: Caller, tender_id: str, envelope_id: str) -> EnvelopeView:
        """Withdraw the envelope before the deadline: final for it; a receipt it had is superseded."""
        tender, row = self._changeable(caller, tender_id, envelope_id, (*PREPARING, SUBMITTED))
        now = self.clock()
        with self.database.write() as conn:
            self._claim(conn, row.id, tender.deadline, (*PREPARING, SUBMITTED), state=WITHDRAWN, withdrawn_at=now)
            _supersede(conn, row.id, now, "withdrawn")
            AuditLog(self.database).append(conn, audit.ENVELOPE_WITHDRAWN, actor=_actor(caller), subject=row.id,
                                           details={"tender": tender_id})
        log.info("envelope %s withdrawn", row.id)
        return self.envelope(caller, tender_id, envelope_id)

    def submit(self, caller: Caller, tender_id: str, envelope_id: str) -> EnvelopeView:
        """Submit a complete envelope: judge it afresh, issue the sealed receipt, record the submission.

        Refused, with nothing recorded, when the server clock is already past
        the deadline (DEADLINE_PASSED), a document is still being signed
        (DOCUMENT_BUSY), a requirement is not met (ENVELOPE_INCOMPLETE), or a
        required signature's timestamp or the receipt seal's is not before the
        deadline (SUBMISSION_LATE).
        """
        tender, row = self._changeable(caller, tender_id, envelope_id, PREPARING)
        platform = self.deployment.platforms.get(caller.api_key_sha256)
        if platform is None or platform.seal is None:
            raise PakatError(errors.CONFIG_INVALID, "no seal for the platform's receipts: platform.seal")
        with self.database.begin() as conn:
            docs = _current(conn, row.id)
        if not docs:
            raise PakatError(errors.ENVELOPE_INCOMPLETE, "the envelope holds no document")
        if any(d.busy for d in docs):
            raise PakatError(errors.DOCUMENT_BUSY, "a signature on a document is still being completed")
        requirements = Requirements.from_json(row.requirements)
        evaluation = self._evaluate(requirements, row.bidder_national_id, tender.deadline, docs)
        late = [c for c in evaluation.unmet() if c.problem == "late"]
        if late and len(late) == len(evaluation.unmet()):
            raise PakatError(errors.SUBMISSION_LATE, "; ".join(c.reason.en for c in late)[:500])
        if not evaluation.complete:
            raise PakatError(errors.ENVELOPE_INCOMPLETE, "; ".join(unmet_summary(evaluation))[:500])

        contents = ReceiptContents(
            envelope_id=row.id, kind=row.kind, tender_reference=tender.reference, tender_title_fa=tender.title_fa,
            tender_title_en=tender.title_en, deadline=tender.deadline, bidder_national_id=row.bidder_national_id,
            bidder_name_fa=row.bidder_name_fa, bidder_name_en=row.bidder_name_en, platform_fa=platform.name_fa,
            platform_en=platform.name_en, issued_at=self.clock(),
            documents=tuple(_receipt_document(d, c) for d, c in zip(docs, evaluation.documents, strict=True)),
        )
        stored, proof = self._sealed_receipt(platform.seal, contents)
        try:
            if proof.time >= tender.deadline:
                raise PakatError(
                    errors.SUBMISSION_LATE,
                    f"the receipt's timestamp {iso_utc(proof.time)} is not before the deadline "
                    f"{iso_utc(tender.deadline)}",
                )
            with self.database.write() as conn:
                self._claim(conn, row.id, tender.deadline, PREPARING, state=SUBMITTED,
                            evaluated_heads=evaluation.heads, evaluation=evaluation.to_json())
                if heads(_current(conn, row.id)) != evaluation.heads:
                    raise PakatError(errors.DOCUMENT_CHANGED, "a document changed while the receipt was issued")
                receipt_doc = insert_document(
                    conn, tender.organisation, caller.api_key_sha256,
                    f"receipt-{_safe(tender.reference)}-{row.kind}-{row.bidder_national_id}.pdf", stored,
                    self.deployment.storage_policy(tender.organisation),
                )
                conn.execute(insert(envelope_receipts).values(
                    id=secrets.token_hex(16), envelope_id=row.id, document_id=receipt_doc, sha256=stored.sha256,
                    level=RECEIPT_LEVEL.value, submitted_at=proof.time, tsa=proof.tsa,
                    token_sha256=proof.token_sha256, token_serial=proof.serial,
                    contents=json.dumps(contents.as_dict(), ensure_ascii=False), created_at=self.clock(),
                ))
                # The transaction's last write: the audit head stays locked only until commit.
                AuditLog(self.database).append(
                    conn, audit.ENVELOPE_SUBMITTED, actor=_actor(caller), subject=row.id,
                    details={
                        "tender": tender.id, "kind": row.kind, "bidder": row.bidder_national_id,
                        "submitted_at": iso_utc(proof.time), "tsa_token_sha256": proof.token_sha256,
                        "receipt": {"document": receipt_doc, "sha256": stored.sha256},
                        "documents": [{"id": d.document_id, "revision": d.revision, "sha256": d.sha256}
                                      for d in docs],
                    },
                )
        except BaseException:
            self.store.discard(stored.sha256)  # a fresh seal: no other document has these bytes
            raise
        log.info("envelope %s submitted at %s (TSA token %s)", row.id, iso_utc(proof.time), proof.serial)
        return self.envelope(caller, tender_id, envelope_id)

    def receipt(self, caller: Caller, tender_id: str, envelope_id: str) -> tuple[ReceiptView, Path]:
        """The receipt of the submission in force and its sealed PDF."""
        view = self.envelope(caller, tender_id, envelope_id)
        receipt = view.receipt
        if receipt is None:
            latest = view.receipts[-1] if view.receipts else None
            why = f"the receipt was superseded ({latest.superseded_reason})" if latest else "never submitted"
            raise PakatError(errors.ENVELOPE_STATE, f"no receipt in force: {why}")
        return receipt, self.store.path(receipt.sha256)

    def open(self, caller: Caller, tender_id: str, kind: str) -> Opening:
        """After the deadline, open every submitted envelope of ``kind``: A first, then B, then C."""
        now = self.clock()
        if kind not in KINDS:
            raise InputError(errors.REQUEST_INVALID, "kind must be A, B or C")
        before = KINDS[KINDS.index(kind) - 1] if kind != KINDS[0] else None
        with self.database.write() as conn:
            through = tenders.c.opened_through
            in_turn = through.is_(None) if before is None else through == before
            moved = conn.execute(
                update(tenders)
                .where((tenders.c.id == tender_id) & (tenders.c.api_key_sha256 == caller.api_key_sha256)
                       & (tenders.c.deadline <= now) & in_turn)
                .values(opened_through=kind, updated_at=now)
            )
            if moved.rowcount != 1:
                tender = _tender_view(_tender_row(conn, caller, tender_id), now)
                raise tender.opening_refusal(kind) or PakatError(errors.OPENING_OUT_OF_ORDER, kind)
            ids = list(conn.execute(
                update(envelopes)
                .where((envelopes.c.tender_id == tender_id) & (envelopes.c.kind == kind)
                       & (envelopes.c.state == SUBMITTED))
                .values(state=OPENED, opened_at=now, updated_at=now)
                .returning(envelopes.c.id)
            ).scalars())
            AuditLog(self.database).append(conn, audit.TENDER_OPENED, actor=_actor(caller), subject=tender_id,
                                           details={"kind": kind, "envelopes": sorted(ids)})
        log.info("tender %s: %d envelope(s) of kind %s opened", tender_id, len(ids), kind)
        opened = tuple(sorted((self.envelope(caller, tender_id, i) for i in ids), key=lambda e: e.created_at))
        return Opening(self.tender(caller, tender_id), kind, opened)

    # -- steps ----------------------------------------------------------------------------

    def _changeable(self, caller: Caller, tender_id: str, envelope_id: str,
                    allowed: tuple[str, ...]) -> tuple[Row[Any], Row[Any]]:
        """The tender and envelope rows, if the envelope may change now (else the refusal, nothing touched)."""
        with self.database.begin() as conn:
            tender = _tender_row(conn, caller, tender_id)
            row = _envelope_row(conn, tender_id, envelope_id)
        refusal = change_refusal(row.state, tender.deadline, self.clock(), allowed=allowed)
        if refusal is not None:
            raise refusal
        return tender, row

    def _claim(self, conn: Connection, envelope_id: str, deadline: datetime, allowed: tuple[str, ...],
               **values: Any) -> None:
        """Update (and so lock) the envelope's row, if it is still in an ``allowed`` state before the deadline.

        The first statement of a write transaction: what was checked before it
        may have changed meanwhile, so it is checked again here, atomically.
        """
        now = self.clock()
        moved = conn.execute(
            update(envelopes).where((envelopes.c.id == envelope_id) & envelopes.c.state.in_(allowed))
            .values(updated_at=now, **values)
        )
        if moved.rowcount != 1:
            state = conn.execute(select(envelopes.c.state).where(envelopes.c.id == envelope_id)).scalar_one()
            raise change_refusal(state, deadline, now, allowed=allowed) or PakatError(errors.ENVELOPE_STATE, state)
        if now >= deadline:
            raise PakatError(errors.DEADLINE_PASSED, f"the deadline was {iso_utc(deadline)}")

    def _stored(self, caller: Caller, source: DocumentSource) -> StoredUpload | None:
        """An upload checked and stored (outside any transaction), or None for an existing document."""
        if source.upload is not None:
            # Refused before a byte is stored; the charge itself comes with the document's row (_take).
            policy = self.deployment.storage_policy(caller.organisation)
            quotas.precheck(self.database, policy, caller.organisation, source.upload.stat().st_size, 1)
            return self.documents.store_upload(source.upload)
        if source.document_id is None:
            raise InputError(errors.PDF_MISSING)
        self.documents.get(caller.organisation, source.document_id)  # DOCUMENT_NOT_FOUND for anyone else's
        return None

    def _take(self, conn: Connection, caller: Caller, source: DocumentSource, stored: StoredUpload | None) -> str:
        """The document joining the envelope: recorded now, or an existing one that belongs to no envelope."""
        if stored is not None:
            return insert_document(conn, caller.organisation, caller.api_key_sha256, source.name, stored,
                                   self.deployment.storage_policy(caller.organisation))
        assert source.document_id is not None
        if bids.enclosure(conn, source.document_id) is not None:
            raise PakatError(errors.DOCUMENT_IN_ENVELOPE, source.document_id)
        return source.document_id

    def _prepared(self, conn: Connection, envelope_id: str) -> None:
        """After a change of documents: back to draft or signing, to be judged again on the next read."""
        docs = _current(conn, envelope_id)
        state = SIGNING if _signing_began(conn, [d.document_id for d in docs]) else DRAFT
        conn.execute(update(envelopes).where(envelopes.c.id == envelope_id)
                     .values(state=state, evaluated_heads=None, evaluation=None))

    def _refresh(self, row: Row[Any], deadline: datetime) -> None:
        """Judge an envelope being prepared again if its documents changed, and store its state."""
        with self.database.begin() as conn:
            docs = _current(conn, row.id)
            began = _signing_began(conn, [d.document_id for d in docs])
        current_heads = heads(docs)
        evaluation = None
        if row.evaluated_heads == current_heads and row.evaluation is not None:
            evaluation = Evaluation.from_json(current_heads, row.evaluation)
        if evaluation is None or not evaluation.settled:
            evaluation = self._evaluate(Requirements.from_json(row.requirements), row.bidder_national_id,
                                        deadline, docs)
        state = COMPLETE if evaluation.complete and not any(d.busy for d in docs) else SIGNING if began else DRAFT
        if (state, current_heads, evaluation.to_json()) == (row.state, row.evaluated_heads, row.evaluation):
            return
        with self.database.write() as conn:
            # Only over what was judged: a change meanwhile is judged by the next read.
            conn.execute(
                update(envelopes)
                .where((envelopes.c.id == row.id) & envelopes.c.state.in_(PREPARING)
                       & (envelopes.c.updated_at == row.updated_at))
                .values(state=state, evaluated_heads=current_heads, evaluation=evaluation.to_json())
            )

    def _evaluate(self, req: Requirements, bidder: str, deadline: datetime,
                  docs: Sequence[EnvelopeDocument]) -> Evaluation:
        """Every requirement on every current document, judged by Pakat's validator on its latest revision."""
        judge = Judge(req, bidder, deadline, partial(assurance_rank, self.deployment))
        # A busy document is not validated: a signature on it is being completed, so it is judged busy.
        return judge.evaluate([ValidatedDocument(d, () if d.busy else self._signatures(d)) for d in docs])

    def _signatures(self, doc: EnvelopeDocument) -> list[SignatureReport]:
        try:
            # Envelopes are judged by the bid-envelope policy: nothing a page shows may change after signing.
            policy = self.validator.policy_named(ENVELOPE_POLICY)
            report = self.validator.validate(self.store.path(doc.sha256), file_name=doc.name, policy=policy)
            return report.signatures
        except InputError as exc:
            if exc.kind is errors.NO_SIGNATURES:
                return []
            raise

    def _sealed_receipt(self, seal_org: str, contents: ReceiptContents) -> tuple[StoredUpload, TimestampProof]:
        """Draw the receipt, seal it with the platform's seal, store it; its bytes and its timestamp."""
        self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.tmp, prefix="receipt-") as folder:
            drawn, sealed = Path(folder) / "receipt.pdf", Path(folder) / "sealed.pdf"
            drawn.write_bytes(render_receipt(contents))
            self.seals().seal(
                seal_org, drawn, sealed, RECEIPT_LEVEL,
                reason=f"رسید ارسال پاکت {contents.kind} / Submission receipt, envelope {contents.kind}",
            )
            proof = signature_timestamp(sealed)
            stored = self.documents.store_upload(sealed)
        return stored, proof


# -- rows and views ----------------------------------------------------------------------------------


def _actor(caller: Caller) -> str:
    """Who the audit log names: the console's person if one acts, else the API key."""
    return caller.actor or api_key_actor(caller.api_key_sha256)


def _tender_row(conn: Connection, caller: Caller, tender_id: str) -> Row[Any]:
    row = conn.execute(select(tenders).where(tenders.c.id == tender_id)).first()
    if row is None or row.api_key_sha256 != caller.api_key_sha256:
        raise InputError(errors.TENDER_NOT_FOUND, tender_id[:64])
    return row


def _envelope_row(conn: Connection, tender_id: str, envelope_id: str) -> Row[Any]:
    row = conn.execute(select(envelopes).where(envelopes.c.id == envelope_id)).first()
    if row is None or row.tender_id != tender_id:
        raise InputError(errors.ENVELOPE_NOT_FOUND, envelope_id[:64])
    return row


def _tender_view(row: Row[Any], now: datetime, counts: dict[str, int] | None = None) -> TenderView:
    return TenderView(row.id, row.reference, row.title_fa, row.title_en, row.deadline, row.opened_through,
                      row.created_at, now, counts or {})


def _envelope_counts(conn: Connection, tender_ids: list[str], now: datetime) -> dict[str, dict[str, int]]:
    """Per tender: its envelopes counted by state as people see it now (the deadline turns some)."""
    found: dict[str, dict[str, int]] = {}
    if not tender_ids:
        return found
    rows = conn.execute(
        select(envelopes.c.tender_id, tenders.c.deadline, envelopes.c.state, func.count())
        .join(tenders, tenders.c.id == envelopes.c.tender_id)
        .where(envelopes.c.tender_id.in_(tender_ids))
        .group_by(envelopes.c.tender_id, tenders.c.deadline, envelopes.c.state)
    ).all()
    for tender_id, deadline, state, count in rows:
        shown = shown_state(state, deadline, now)
        per = found.setdefault(tender_id, {})
        per[shown] = per.get(shown, 0) + int(count)
    return found


def _documents(conn: Connection, envelope_id: str, *, current: bool | None) -> list[EnvelopeDocument]:
    head = revisions.alias("head")
    query = (
        select(envelope_documents, documents.c.name, documents.c.head, documents.c.busy_session,
               head.c.sha256)
        .select_from(
            envelope_documents.join(documents, documents.c.id == envelope_documents.c.document_id)
            .join(head, (head.c.document_id == documents.c.id) & (head.c.number == documents.c.head))
        )
        .where(envelope_documents.c.envelope_id == envelope_id)
        .order_by(envelope_documents.c.position, envelope_documents.c.added_at)
    )
    if current is not None:
        query = query.where(envelope_documents.c.replaced_at.is_(None) if current
                            else envelope_documents.c.replaced_at.is_not(None))
    return [
        EnvelopeDocument(r.document_id, r.name, r.position, r.head, r.sha256, r.busy_session is not None,
                         r.added_at, r.replaced_by, r.replaced_at)
        for r in conn.execute(query)
    ]


def _current(conn: Connection, envelope_id: str) -> list[EnvelopeDocument]:
    return _documents(conn, envelope_id, current=True)


def _signing_began(conn: Connection, doc_ids: list[str]) -> bool:
    """Whether any of the documents was signed or sealed, or has a signing session."""
    if not doc_ids:
        return False
    signed = conn.execute(select(revisions.c.number).where(
        revisions.c.document_id.in_(doc_ids) & (revisions.c.kind != "upload")).limit(1)).first()
    session = conn.execute(select(signing_sessions.c.id).where(
        signing_sessions.c.document_id.in_(doc_ids)).limit(1)).first()
    return signed is not None or session is not None


def _supersede(conn: Connection, envelope_id: str, now: datetime, reason: str) -> None:
    conn.execute(
        update(envelope_receipts)
        .where((envelope_receipts.c.envelope_id == envelope_id) & envelope_receipts.c.superseded_at.is_(None))
        .values(superseded_at=now, superseded_reason=reason)
    )


def _envelope_view(conn: Connection, row: Row[Any], deadline: datetime, now: datetime) -> EnvelopeView:
    checks: dict[str, DocumentCheck] = {}
    if row.evaluation:
        judged = Evaluation.from_json(row.evaluated_heads or "", row.evaluation)
        checks = {d.document_id: d for d in judged.documents}
    current = tuple(replace(d, check=checks.get(d.document_id)) for d in _current(conn, row.id))
    receipts = conn.execute(
        select(envelope_receipts).where(envelope_receipts.c.envelope_id == row.id)
        .order_by(envelope_receipts.c.created_at, envelope_receipts.c.id)
    ).all()
    state = shown_state(row.state, deadline, now)
    return EnvelopeView(
        id=row.id, tender_id=row.tender_id, kind=row.kind,
        bidder=Bidder(row.bidder_national_id, row.bidder_name_fa, row.bidder_name_en),
        requirements=Requirements.from_json(row.requirements),
        state=state,
        accepts_changes=now < deadline and row.state in (*PREPARING, SUBMITTED),
        deadline=deadline,
        documents=current,
        replaced=tuple(_documents(conn, row.id, current=False)),
        receipts=tuple(
            ReceiptView(r.id, r.document_id, r.sha256, r.level, r.submitted_at, r.tsa, r.token_sha256,
                        r.token_serial, r.created_at, r.superseded_at, r.superseded_reason)
            for r in receipts
        ),
        withdrawn_at=row.withdrawn_at, opened_at=row.opened_at, created_at=row.created_at,
    )


def _receipt_document(doc: EnvelopeDocument, check: DocumentCheck) -> ReceiptDocument:
    return ReceiptDocument(
        position=doc.position, document_id=doc.document_id, name=doc.name, revision=doc.revision,
        sha256=doc.sha256,
        signers=tuple(
            ReceiptSigner("seal" if c.requirement == "seal" else "signature", c.signer, c.national_id, c.role,
                          c.timestamp)
            for c in check.checks
        ),
    )


def _safe(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)[:64] or "tender"
