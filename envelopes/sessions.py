"""Signing sessions: a user's own token signs a stored document through an agent.

The platform opens a session for a document; the agent, holding the one-time
secret, walks it: certificate → (Pakat prepares, the token signs) → signature.
Every step is one conditional UPDATE from the state it requires, so a
replayed or raced step finds the state moved and is refused, whichever web
process serves it. The prepared state (the update with its empty hole, the
signed attributes) is kept in the session's row and never leaves the server.

After the signature step the document holds the B-B signature and is busy for
this session until :func:`raise_signature_job` has added the timestamp and
the LTV data on the queue; the platform hears of the outcome by webhook.

Two secrets, one stored hash. The *view token* is drawn at random and goes
only into the signing page's URL fragment (never to a server log or a
Referer); the *agent secret* is derived from it (:func:`agent_secret_for`).
The database keeps the hash of the agent secret alone, so it can check both
(a view token by deriving the secret and hashing it), yet can rebuild the
pairing link only for a caller who presents the view token: a copy of the
database signs nothing. The agent secret cannot be turned back into the view
token.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import Connection, Row, insert, select, update

from envelopes import audit
from envelopes.audit import AuditLog
from envelopes.bids import check_session_certificate, session_signer
from envelopes.blobs import DocumentStore
from envelopes.database import Database, documents, signing_sessions, utcnow
from envelopes.documents import DocumentService, DocumentView, add_revision, load_document
from envelopes.sealing import SealService
from hsm_config.deployment import Deployment
from pakat import errors
from pakat.dates import iso_utc
from pakat.errors import CertificateRefused, InputError, PakatError
from signer import der
from signer.cms import digest_algorithm
from signer.external import (
    SIGNATURE_FIELD_STEM,
    ExpectedSigner,
    PreparedSignature,
    SignerCertificate,
    WrittenRevision,
    check_signable,
    check_signer_certificate,
    finish_signature,
    prepare_signature,
    raise_signature,
)
from signer.levels import PadesLevel
from signer.pades import SignatureDetails
from signer.pdf import Hole
from signer.placement import VisibleSignature

log = logging.getLogger(__name__)

AWAITING_CERTIFICATE = "awaiting_certificate"
AWAITING_SIGNATURE = "awaiting_signature"
SIGNED = "signed"  # in the document at B-B; the level is being raised on the queue
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"  # never stored: an open session past its expiry
OPEN_STATES = (AWAITING_CERTIFICATE, AWAITING_SIGNATURE)

# Who raises a signature's level, in the audit log: the queue, on nobody's request at that moment.
WORKER_ACTOR = audit.system_actor("worker")
DEFAULT_EXPIRY = timedelta(minutes=10)
MAX_EXPIRY = timedelta(hours=1)
MIN_EXPIRY = timedelta(minutes=1)
MAX_CHAIN = 8
#: Documents one session covers at most (an envelope's documents, or a list).
MAX_SESSION_DOCUMENTS = 20
MAX_CERTIFICATE_BYTES = 16 * 1024
ACCEPTED_DIGESTS = ("sha256", "sha384", "sha512")
_PREPARED_COLUMNS = (
    "base_revision", "digest_algorithm", "certificate", "chain", "signer_subject", "signer_national_id",
    "signer_role", "signing_time", "prepared_update", "hole_start", "hole_end", "signed_attributes",
)


class JobQueue(Protocol):
    """Where follow-up work goes: RQ in production (see :mod:`web.state`)."""

    def ping(self) -> None:
        """Raise QUEUE_UNAVAILABLE when jobs cannot be queued now."""

    def raise_level(self, session_id: str) -> None:
        """Queue :func:`envelopes.jobs.raise_signature_job` for a signed session."""

    def event(self, api_key_sha256: str | None, event: str, data: dict[str, Any]) -> None:
        """Queue a webhook to the platform behind ``api_key_sha256``, if it has one."""


@dataclass(frozen=True)
class SessionView:
    """A signing session as the platform and the agent see it (never with its secret)."""

    id: str
    document_id: str
    organisation: str
    state: str
    level: str
    expected_signer: ExpectedSigner
    created_at: datetime
    expires_at: datetime
    signer_subject: str | None
    signer_national_id: str | None
    signer_role: str | None
    signed_revision: int | None
    completed_revision: int | None
    error_code: str | None
    error_detail: str | None
    return_url: str | None = None
    group_id: str | None = None  # set when the session covers several documents: the first one's id

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "document_id": self.document_id,
            "state": self.state,
            "level": self.level,
            "expected_signer": {
                "national_id": self.expected_signer.national_id,
                "role": self.expected_signer.role,
            },
            "created_at": iso_utc(self.created_at),
            "expires_at": iso_utc(self.expires_at),
        }
        if self.signer_subject:
            body["signer"] = {"subject": self.signer_subject, "national_id": self.signer_national_id,
                              "role": self.signer_role}
        if self.signed_revision is not None:
            body["signed_revision"] = self.signed_revision
        if self.completed_revision is not None:
            body["completed_revision"] = self.completed_revision
        if self.return_url:
            body["return_url"] = self.return_url
        if self.group_id:
            body["group"] = self.group_id
        if self.error_code:
            kind = errors.KINDS.get(self.error_code)
            body["error"] = {"code": self.error_code, "message_fa": kind.fa if kind else None,
                             "message_en": kind.en if kind else None, "detail": self.error_detail}
        return body


@dataclass(frozen=True)
class NewSession:
    """A session just created: the only time its agent secret and view token are shown."""

    session: SessionView
    secret: str
    view_token: str


@dataclass(frozen=True)
class NewSessionGroup:
    """A session on several documents just created: one secret and view token, a session row per document."""

    sessions: tuple[SessionView, ...]
    secret: str
    view_token: str

    @property
    def id(self) -> str:
        """The group's id: its first document's session id (the one the link and the page name)."""
        return self.sessions[0].id


@dataclass(frozen=True)
class SessionDocument:
    """One document of a session, with its own session row's state."""

    session: SessionView
    document: DocumentView


@dataclass(frozen=True)
class PageView:
    """What the signing page shows a holder of the view token; ``secret`` only while a document is open.

    ``members`` are every document of the session, in the order the platform
    gave them (one for a session of one document); ``session`` and
    ``document`` are the row the page was opened with.
    """

    session: SessionView
    document: DocumentView
    secret: str | None
    members: tuple[SessionDocument, ...] = ()


@dataclass(frozen=True)
class PreparedRevision:
    """What the certificate step prepared, for the agent to check: the stored base, then the update.

    The update (with its empty hole) is small; the base is streamed from the
    store, never copied in memory.
    """

    base: Path
    base_size: int
    update: bytes

    @property
    def size(self) -> int:
        return self.base_size + len(self.update)


@dataclass(frozen=True)
class DataToSign:
    """The certificate step's answer: what the token signs, and for whom."""

    session: SessionView
    prepared: PreparedSignature
    signer: SignerCertificate


class SigningSessions:
    """The signing-session use cases; shared by the API, the agent protocol and the jobs."""

    def __init__(
        self,
        database: Database,
        store: DocumentStore,
        deployment: Deployment,
        seals: Callable[[], SealService],
        queue: JobQueue,
    ) -> None:
        self.database = database
        self.store = store
        self.deployment = deployment
        self.seals = seals
        self.queue = queue
        self.documents = DocumentService(database, store, deployment.max_pdf_bytes)

    # -- the platform's side ------------------------------------------------------
    def create(
        self,
        organisation: str,
        doc_id: str,
        level: PadesLevel,
        expected: ExpectedSigner,
        expires_in: timedelta = DEFAULT_EXPIRY,
        appearance: VisibleSignature | None = None,
        return_url: str | None = None,
        actor: str | None = None,
    ) -> NewSession:
        """Open a session on a document of ``organisation``; the secrets are returned once, stored hashed.

        ``appearance`` makes the signature visible; a place the document cannot
        offer now is refused here rather than after the user chose a certificate.
        ``return_url`` must already be allowed for the caller (the web layer checks
        it against the API key's ``return_urls``).
        """
        group = self.create_group(organisation, [doc_id], level, expected, expires_in, appearance, return_url,
                                  actor=actor)
        return NewSession(group.sessions[0], group.secret, group.view_token)

    def create_group(
        self,
        organisation: str,
        doc_ids: Sequence[str],
        level: PadesLevel,
        expected: ExpectedSigner,
        expires_in: timedelta = DEFAULT_EXPIRY,
        appearance: VisibleSignature | None = None,
        return_url: str | None = None,
        actor: str | None = None,
    ) -> NewSessionGroup:
        """Open one session on several documents (an envelope's A, B, C): one link, one PIN for them all.

        Each document gets a session row of its own, prepared, signed and
        completed on its own, so a failure in one leaves the others as they
        are; the rows share the secret, the expiry, the level and the expected
        signer. Every document is checked before a row is written: a refusal
        opens nothing. ``actor`` (a console person) is named in a
        ``signing_session.opened`` audit entry, never with the secrets.
        """
        if not 1 <= len(doc_ids) <= MAX_SESSION_DOCUMENTS:
            raise InputError(errors.REQUEST_INVALID, f"documents: 1 to {MAX_SESSION_DOCUMENTS} document ids")
        if len(set(doc_ids)) != len(doc_ids):
            raise InputError(errors.REQUEST_INVALID, "documents: a document is named twice")
        if not MIN_EXPIRY <= expires_in <= MAX_EXPIRY:
            raise InputError(errors.REQUEST_INVALID, "expires_in must be between 60 and 3600 seconds")
        if level.timestamped and self.seals().tsa is None:
            raise PakatError(errors.CONFIG_INVALID, f"{level.value} needs a timestamp authority")
        self.queue.ping()  # the signature step will need it: refuse now, not after the user signed
        signers: list[ExpectedSigner] = []
        for doc_id in doc_ids:
            doc = self.documents.get(organisation, doc_id)
            with self.database.begin() as conn:
                # A bid envelope's document: only while the envelope accepts changes, for one of its signatories.
                signers.append(session_signer(conn, doc_id, expected, utcnow()))
            check_signable(self.store.path(doc.head.sha256), appearance, max_bytes=self.deployment.max_pdf_bytes)
        if len(set(signers)) != 1:
            # One certificate signs them all: documents that ask for different signers need sessions of their own.
            raise InputError(errors.REQUEST_INVALID, "documents: they do not ask for the same signer")
        signer = signers[0]
        view_token = secrets.token_urlsafe(32)  # 256 bits
        secret = agent_secret_for(view_token)
        now = utcnow()
        session_ids = [secrets.token_hex(16) for _ in doc_ids]
        group_id = session_ids[0] if len(doc_ids) > 1 else None
        with self.database.write() as conn:
            conn.execute(insert(signing_sessions), [
                {"id": session_id, "document_id": doc_id, "organisation": organisation,
                 "secret_sha256": _hash_secret(secret), "state": AWAITING_CERTIFICATE, "level": level.value,
                 "expected_national_id": signer.national_id, "expected_role": signer.role, "created_at": now,
                 "updated_at": now, "expires_at": now + expires_in,
                 "appearance": json.dumps(appearance.as_dict()) if appearance is not None else None,
                 "return_url": return_url, "group_id": group_id,
                 "group_position": position if group_id else None}
                for position, (session_id, doc_id) in enumerate(zip(session_ids, doc_ids, strict=True))
            ])
            if actor is not None:
                AuditLog(self.database).append(
                    conn, audit.SIGNING_SESSION_OPENED, actor=actor, subject=session_ids[0],
                    details={"documents": list(doc_ids), "level": level.value,
                             "expected_national_id": signer.national_id})
        views = tuple(self.get(organisation, doc_id, session_id)
                      for session_id, doc_id in zip(session_ids, doc_ids, strict=True))
        return NewSessionGroup(views, secret, view_token)

    def group(self, organisation: str, session_id: str) -> tuple[SessionView, ...]:
        """Every document's session of the session ``session_id`` names (itself alone if of one document)."""
        with self.database.begin() as conn:
            row = _session_row(conn, session_id)
            if row.organisation != organisation:
                raise InputError(errors.SESSION_NOT_FOUND, session_id[:64])
            return tuple(_view(member) for member in _members(conn, row))

    def cancel_group(self, organisation: str, session_id: str) -> tuple[SessionView, ...]:
        """Cancel every document's session not signed yet; the signed ones stay as they are."""
        for view in self.group(organisation, session_id):
            if view.is_open:
                with contextlib.suppress(PakatError):  # it expired or was signed meanwhile: left as it is
                    self.cancel(organisation, view.document_id, view.id)
        return self.group(organisation, session_id)

    def get(self, organisation: str, doc_id: str, session_id: str) -> SessionView:
        """A session of this organisation's document; anything else is SESSION_NOT_FOUND."""
        with self.database.begin() as conn:
            row = _session_row(conn, session_id)
        if row.organisation != organisation or row.document_id != doc_id:
            raise InputError(errors.SESSION_NOT_FOUND, session_id[:64])
        return _view(row)

    def of_document(self, organisation: str, doc_id: str) -> list[SessionView]:
        """The sessions opened on this organisation's document, oldest first (none for anyone else's)."""
        with self.database.begin() as conn:
            rows = conn.execute(
                select(signing_sessions)
                .where((signing_sessions.c.document_id == doc_id)
                       & (signing_sessions.c.organisation == organisation))
                .order_by(signing_sessions.c.created_at, signing_sessions.c.id)
            ).all()
        return [_view(row) for row in rows]

    def cancel(self, organisation: str, doc_id: str, session_id: str) -> SessionView:
        """Cancel a session whose signature has not been posted yet."""
        self.get(organisation, doc_id, session_id)
        with self.database.write() as conn:
            done = conn.execute(
                update(signing_sessions)
                .where(
                    (signing_sessions.c.id == session_id)
                    & signing_sessions.c.state.in_(OPEN_STATES)
                    & (signing_sessions.c.expires_at > utcnow())
                )
                .values(state=CANCELLED, updated_at=utcnow(), **_cleared())
            )
        if done.rowcount != 1:
            view = self.get(organisation, doc_id, session_id)
            if view.state == EXPIRED:
                raise PakatError(errors.SESSION_EXPIRED)
            if view.state != CANCELLED:
                raise PakatError(errors.SESSION_FINISHED, view.state)
        return self.get(organisation, doc_id, session_id)

    # -- the signing page's side ------------------------------------------------------
    def for_page(self, session_id: str, view_token: str) -> PageView:
        """The session and its document for a holder of the view token; else SESSION_NOT_FOUND.

        An unknown session and a wrong token are refused alike (same code, same
        work), so the page's endpoints tell a stranger nothing, not even that an
        id exists. The agent secret comes back only while the session is open.
        """
        secret = agent_secret_for(view_token) if view_token else ""
        with self.database.begin() as conn:
            row = conn.execute(select(signing_sessions).where(signing_sessions.c.id == session_id)).first()
            stored = row.secret_sha256 if row is not None else _UNKNOWN_SESSION_HASH
            if not hmac.compare_digest(_hash_secret(secret), stored) or row is None or not view_token:
                raise InputError(errors.SESSION_NOT_FOUND)
            members = _with_documents(conn, _members(conn, row))
        (seen,) = (m for m in members if m.session.id == session_id)
        is_open = any(m.session.is_open for m in members)
        return PageView(seen.session, seen.document, secret if is_open else None, members)

    # -- the agent's side -----------------------------------------------------------
    def for_agent(self, session_id: str, secret: str) -> tuple[SessionView, DocumentView]:
        """The session and its document, for a caller holding the session's secret, while the session is open.

        Once it has ended (signed, completed, failed, cancelled, expired) the secret
        reads no document any more: the agent has nothing left to show or sign, and
        a secret copied later (a QR code photographed, a link forwarded) must not
        leak a bid envelope. SESSION_EXPIRED, SESSION_CANCELLED or SESSION_FINISHED.
        """
        with self.database.begin() as conn:
            row = _authenticated(conn, session_id, secret)
            _require_open(row)
            doc = load_document(conn, None, row.document_id)
        return _view(row), doc

    def group_for_agent(self, session_id: str, secret: str) -> tuple[SessionDocument, ...]:
        """Every document of the session, each with its own session id and state, for the secret's holder."""
        with self.database.begin() as conn:
            row = _authenticated(conn, session_id, secret)
            return _with_documents(conn, _members(conn, row))

    def present_certificate(
        self, session_id: str, secret: str, certificate: str, chain: list[str], digest_name: str
    ) -> DataToSign:
        """Check the user's certificate and prepare the document; answer what the token must sign.

        Also from ``awaiting_signature``: what was prepared before is replaced, so a
        token pulled out (or an app closed) after this step can sign when tried
        again, within the session's time. A signature made for the earlier
        preparation then no longer verifies and is refused (SIGNATURE_INVALID).
        """
        with self.database.begin() as conn:
            row = _authenticated(conn, session_id, secret)  # first: strangers learn nothing from the body
            if _state(row) != AWAITING_SIGNATURE:
                _require(row, AWAITING_CERTIFICATE)
            doc = load_document(conn, None, row.document_id)
        digest = digest_algorithm(digest_name)  # DIGEST_REFUSED for SHA-1 and unknown names
        leaf = _certificate(certificate)
        if len(chain) > MAX_CHAIN:
            raise InputError(errors.REQUEST_INVALID, f"at most {MAX_CHAIN} chain certificates")
        issuers = [_certificate(c) for c in chain]
        if doc.busy:
            raise PakatError(errors.DOCUMENT_BUSY)
        # A key the validation policy's crypto suite would not accept today is refused before signing.
        crypto, now = self.deployment.validation_policy.rules.crypto, utcnow()
        seals = self.seals()
        signer = check_signer_certificate(
            leaf, issuers, seals.trust, seals.revocation,
            ExpectedSigner(row.expected_national_id, row.expected_role),
            min_rsa_bits=crypto.min_bits("rsa", now), min_ec_bits=crypto.min_bits("ec", now),
        )
        with self.database.begin() as conn:
            check_session_certificate(conn, row.document_id, signer, self.deployment, utcnow())
        level = PadesLevel.parse(row.level)
        tsa = seals.tsa
        prepared = prepare_signature(
            self.store.path(doc.head.sha256), signer, digest,
            SignatureDetails(reason=_reason(signer), field_stem=SIGNATURE_FIELD_STEM,
                             appearance=VisibleSignature.from_dict(json.loads(row.appearance))
                             if row.appearance else None),
            timestamp_reserve=tsa.token_size_bound if level.timestamped and tsa is not None else 0,
            max_bytes=self.deployment.max_pdf_bytes,
        )
        with self.database.write() as conn:
            moved = conn.execute(
                update(signing_sessions)
                .where(_open_in(session_id, AWAITING_CERTIFICATE) | _open_in(session_id, AWAITING_SIGNATURE))
                .values(state=AWAITING_SIGNATURE, updated_at=utcnow(), **_prepared_values(doc.head.number,
                                                                                           signer, prepared))
            )
            if moved.rowcount != 1:
                raise PakatError(errors.STEP_OUT_OF_ORDER, "the session moved on meanwhile")
            row = _session_row(conn, session_id)
        return DataToSign(_view(row), prepared, signer)

    def prepared_revision(self, session_id: str, secret: str) -> PreparedRevision:
        """The revision the certificate step prepared, hole still empty, while a signature is awaited.

        The agent hashes its /ByteRange itself and compares the signed
        attributes' message digest, so a swapped hash is caught at the user's
        side. The same refusals as the steps: a stranger learns nothing, and
        outside ``awaiting_signature`` there is nothing prepared to give.
        """
        with self.database.begin() as conn:
            row = _authenticated(conn, session_id, secret)
            _require(row, AWAITING_SIGNATURE)
            doc = load_document(conn, None, row.document_id)
        base = doc.revisions[row.base_revision]
        update_bytes = zlib.decompress(row.prepared_update)
        prepared = PreparedRevision(self.store.path(base.sha256), base.size, update_bytes)
        if prepared.size > self.deployment.max_pdf_bytes:
            raise PakatError(errors.PDF_TOO_LARGE, f"the prepared revision has {prepared.size} bytes")
        return prepared

    def post_signature(self, session_id: str, secret: str, signature: str, certificate: str | None) -> SessionView:
        """Verify the token's signature, embed it, and queue the level's timestamp and LTV work.

        Nothing changes when the signature does not verify, comes with another
        certificate than the announced one, or the document moved meanwhile
        (then the session goes back to the certificate step: DOCUMENT_CHANGED).
        """
        with self.database.begin() as conn:
            row = _authenticated(conn, session_id, secret)
            _require(row, AWAITING_SIGNATURE)
            doc = load_document(conn, None, row.document_id)
        raw_signature = _b64(signature, "signature", 2048)
        if certificate is not None and _certificate(certificate).public_bytes(Encoding.DER) != row.certificate:
            raise CertificateRefused(errors.CERTIFICATE_MISMATCH)
        level = PadesLevel.parse(row.level)
        if doc.head.number != row.base_revision or doc.busy:
            self._back_to_certificate(session_id)
            raise PakatError(errors.DOCUMENT_CHANGED, f"revision {row.base_revision} is no longer the latest")
        signer, prepared = _prepared_from(row, doc.head.size)
        if level.timestamped:
            self.queue.ping()
        written = self._stored(lambda temp: finish_signature(
            prepared, self.store.path(doc.head.sha256), signer, raw_signature, temp))
        try:
            with self.database.write() as conn:
                number = add_revision(
                    conn, doc.id, row.base_revision, written.sha256, written.size, kind="signature",
                    level=PadesLevel.B_B.value, signer=signer.subject, session_id=session_id,
                    busy_session=session_id if level.timestamped else None,
                    policy=self.deployment.storage_policy(doc.organisation),
                )
                moved = conn.execute(
                    update(signing_sessions)
                    .where(_open_in(session_id, AWAITING_SIGNATURE))
                    .values(state=SIGNED if level.timestamped else COMPLETED, signature=raw_signature,
                            signed_revision=number,
                            completed_revision=None if level.timestamped else number, updated_at=utcnow())
                )
                if moved.rowcount != 1:
                    raise PakatError(errors.STEP_OUT_OF_ORDER, "the signature was already posted")
                self._audit_signed(conn, session_id, doc.id, number, written.sha256, signer, level)
        except BaseException as exc:
            self.store.discard(written.sha256)
            if isinstance(exc, PakatError) and exc.kind is errors.DOCUMENT_CHANGED:
                self._back_to_certificate(session_id)
            raise
        view = self.get(row.organisation, row.document_id, session_id)
        # The signer's name and national ID are personal data: the audit log holds them, the process log does not.
        log.info("session %s: signed revision %d of %s", session_id, number, doc.id)
        if level.timestamped:
            try:
                self.queue.raise_level(session_id)
            except PakatError:
                # The signature is in; the worker re-queues signed sessions when it starts.
                log.error("session %s: signed, but the level job could not be queued", session_id)
        else:
            self._tell(doc.api_key_sha256, "signature.completed", completed_event(view))
        return view

    def _audit_signed(self, conn: Connection, session_id: str, doc_id: str, number: int, sha256: str,
                      signer: SignerCertificate, level: PadesLevel) -> None:
        """``document.signed``, and ``signature.completed`` for B-B (done at once), in the signature's write."""
        trail = AuditLog(self.database)
        actor = audit.signer_actor(signer.national_id, signer.subject)
        trail.append(conn, audit.DOCUMENT_SIGNED, actor=actor, subject=doc_id, details={
            "session_id": session_id, "revision": number, "sha256": sha256, "level": PadesLevel.B_B.value,
            "target_level": level.value,
            "signer": {"subject": signer.subject, "national_id": signer.national_id, "role": signer.role},
        })
        if not level.timestamped:
            trail.append(conn, audit.SIGNATURE_COMPLETED, actor=actor, subject=doc_id, details={
                "session_id": session_id, "revision": number, "level": level.value, "sha256": sha256,
                "signed_revision": number,
            })

    def _stored(self, write: Callable[[Path], WrittenRevision]) -> WrittenRevision:
        """Let ``write`` make a new revision's file, then store it durably, before any database write.

        The fsync happens here, outside every transaction, so it never holds
        the database's write lock.
        """
        temp = self.store.incoming()
        try:
            written = write(temp)
            self.store.adopt(temp, written.sha256)
        finally:
            temp.unlink(missing_ok=True)
        return written

    def _tell(self, api_key_sha256: str | None, event: str, data: dict[str, Any]) -> None:
        """Queue a webhook; an outage is logged, never turned into a failure of what already happened."""
        try:
            self.queue.event(api_key_sha256, event, data)
        except PakatError as exc:
            log.error("webhook %s not queued: %s", event, exc)

    def _back_to_certificate(self, session_id: str) -> None:
        with self.database.write() as conn:
            conn.execute(
                update(signing_sessions)
                .where(_open_in(session_id, AWAITING_SIGNATURE))
                .values(state=AWAITING_CERTIFICATE, updated_at=utcnow(), **_cleared())
            )

    # -- the queue's side ---------------------------------------------------------------
    def requeue_signed(self) -> int:
        """Queue the level job again for every session left signed (its job lost); how many.

        Safe while jobs run: a second run of the job finds the session over, or
        the head moved, and reports nothing.
        """
        with self.database.begin() as conn:
            query = select(signing_sessions.c.id).where(signing_sessions.c.state == SIGNED)
            ids = list(conn.execute(query).scalars())
        for session_id in ids:
            self.queue.raise_level(session_id)
        return len(ids)

    def raise_level(self, session_id: str, *, final_attempt: bool) -> SessionView:
        """Raise a signed session's signature to its level; idempotent once the session is over.

        A retryable failure (TSA, OCSP) is raised again for the queue to retry,
        except on the final attempt, which ends the session ``failed`` (the
        document keeps the B-B signature) and tells the platform.
        """
        with self.database.begin() as conn:
            row = _session_row(conn, session_id)
            doc = load_document(conn, None, row.document_id)
        if row.state != SIGNED:
            return _view(row)
        signer, prepared = _prepared_from(row, doc.revisions[row.base_revision].size)
        level = PadesLevel.parse(row.level)
        seals = self.seals()
        try:
            written = self._stored(lambda temp: raise_signature(
                self.store.path(doc.head.sha256), prepared, signer, row.signature, level, temp,
                tsa=seals.tsa, revocation=seals.revocation, max_bytes=self.deployment.max_pdf_bytes,
            ))
            try:
                with self.database.write() as conn:
                    number = add_revision(
                        conn, doc.id, row.signed_revision, written.sha256, written.size, kind="level",
                        level=level.value, signer=signer.subject, session_id=session_id,
                        release_session=session_id, policy=self.deployment.storage_policy(doc.organisation),
                    )
                    conn.execute(
                        update(signing_sessions)
                        .where((signing_sessions.c.id == session_id) & (signing_sessions.c.state == SIGNED))
                        .values(state=COMPLETED, completed_revision=number, updated_at=utcnow())
                    )
                    AuditLog(self.database).append(
                        conn, audit.SIGNATURE_COMPLETED, actor=WORKER_ACTOR, subject=doc.id, details={
                            "session_id": session_id, "revision": number, "level": level.value,
                            "sha256": written.sha256, "signed_revision": row.signed_revision,
                        },
                    )
            except BaseException:
                self.store.discard(written.sha256)
                raise
        except PakatError as exc:
            retryable = exc.kind.http_status in (502, 503)
            if retryable and not final_attempt:
                raise
            self._fail(session_id, doc.id, doc.api_key_sha256, exc)
            return self.get(row.organisation, row.document_id, session_id)
        view = self.get(row.organisation, row.document_id, session_id)
        self._tell(doc.api_key_sha256, "signature.completed", completed_event(view))
        return view

    def _fail(self, session_id: str, doc_id: str, api_key_sha256: str | None, error: PakatError) -> None:
        with self.database.write() as conn:
            failed = conn.execute(
                update(signing_sessions)
                .where((signing_sessions.c.id == session_id) & (signing_sessions.c.state == SIGNED))
                .values(state=FAILED, error_code=error.code, error_detail=(error.detail or "")[:500] or None,
                        updated_at=utcnow())
            )
            conn.execute(
                update(documents)
                .where((documents.c.id == doc_id) & (documents.c.busy_session == session_id))
                .values(busy_session=None, updated_at=utcnow())
            )
            if failed.rowcount == 1:
                AuditLog(self.database).append(conn, audit.SIGNATURE_FAILED, actor=WORKER_ACTOR, subject=doc_id,
                                               details={"session_id": session_id, "error": error.code})
            row = _session_row(conn, session_id)
        if failed.rowcount != 1:
            return  # another run of this job finished the session first: nothing to report
        log.warning("session %s: level not reached: %s", session_id, error)
        view = _view(row)
        self._tell(api_key_sha256, "signature.failed", {
            **_event_base(view), "error": view.as_dict().get("error"),
        })


def summary_state(sessions: Sequence[SessionView]) -> str:
    """One word for a session's documents together.

    ``open`` while any document awaits the user, ``signing`` while a signature's
    level is being raised, then ``completed`` (all), ``partly_completed``,
    ``expired`` or ``cancelled`` (all), else ``failed``.
    """
    states = [s.state for s in sessions]
    if any(state in OPEN_STATES for state in states):
        return "open"
    if SIGNED in states:
        return "signing"
    if all(state == COMPLETED for state in states):
        return COMPLETED
    if COMPLETED in states:
        return "partly_completed"
    for final in (EXPIRED, CANCELLED):
        if all(state == final for state in states):
            return final
    return FAILED


def completed_event(view: SessionView) -> dict[str, Any]:
    """The webhook body's data for ``signature.completed``."""
    return {
        **_event_base(view),
        "revision": view.completed_revision,
        "signer": {"subject": view.signer_subject, "national_id": view.signer_national_id,
                   "role": view.signer_role},
    }


def _event_base(view: SessionView) -> dict[str, Any]:
    return {"document_id": view.document_id, "session_id": view.id, "level": view.level}


def agent_secret_for(view_token: str) -> str:
    """The agent secret of the session whose view token this is: HMAC-SHA256, base64url without padding.

    One way only: the page's token yields the agent's secret, never the reverse.
    """
    mac = hmac.new(view_token.encode("utf-8"), b"pakat signing-session agent secret v1", hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def pairing_link(agent_url: str, secret: str) -> str:
    """``pakat://sign?session=…&secret=…``: for the user's own device only (QR code, deep link)."""
    return f"pakat://sign?session={quote(agent_url, safe='')}&secret={quote(secret, safe='')}"


# -- rows ----------------------------------------------------------------------------------


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# Compared against when the session does not exist, so that case costs what a wrong token costs.
_UNKNOWN_SESSION_HASH = "0" * 64


def _session_row(conn: Connection, session_id: str) -> Row[Any]:
    row = conn.execute(select(signing_sessions).where(signing_sessions.c.id == session_id)).first()
    if row is None:
        raise InputError(errors.SESSION_NOT_FOUND, session_id[:64])
    return row


def _members(conn: Connection, row: Row[Any]) -> list[Row[Any]]:
    """The rows of the session ``row`` belongs to, in the platform's order: ``row`` alone if of one document."""
    if row.group_id is None:
        return [row]
    return list(conn.execute(select(signing_sessions).where(signing_sessions.c.group_id == row.group_id)
                             .order_by(signing_sessions.c.group_position)).all())


def _with_documents(conn: Connection, rows: list[Row[Any]]) -> tuple[SessionDocument, ...]:
    return tuple(SessionDocument(_view(row), load_document(conn, None, row.document_id)) for row in rows)


def _authenticated(conn: Connection, session_id: str, secret: str) -> Row[Any]:
    """The session's row for the holder of its secret; an unknown session is refused as a wrong secret is.

    Same code, same status, no detail, and the same hash comparison, so a
    stranger cannot even learn whether a session id exists.
    """
    row = conn.execute(select(signing_sessions).where(signing_sessions.c.id == session_id)).first()
    stored = row.secret_sha256 if row is not None else _UNKNOWN_SESSION_HASH
    if not hmac.compare_digest(_hash_secret(secret), stored) or row is None or not secret:
        raise PakatError(errors.AGENT_SECRET_INVALID)
    return row


def _require_open(row: Row[Any]) -> None:
    """Refuse, with the state's own error, a session that can no longer be signed."""
    state = _state(row)
    if state in OPEN_STATES:
        return
    if state == EXPIRED:
        raise PakatError(errors.SESSION_EXPIRED, f"expired at {iso_utc(row.expires_at)}")
    if state == CANCELLED:
        raise PakatError(errors.SESSION_CANCELLED)
    raise PakatError(errors.SESSION_FINISHED, state)


def _state(row: Row[Any]) -> str:
    if row.state in OPEN_STATES and utcnow() >= row.expires_at:
        return EXPIRED
    return str(row.state)


def _require(row: Row[Any], wanted: str) -> None:
    state = _state(row)
    if state == wanted:
        return
    if state == EXPIRED:
        raise PakatError(errors.SESSION_EXPIRED, f"expired at {iso_utc(row.expires_at)}")
    if state == CANCELLED:
        raise PakatError(errors.SESSION_CANCELLED)
    raise PakatError(errors.STEP_OUT_OF_ORDER, f"the session is {state}, this step needs {wanted}")


def _open_in(session_id: str, state: str) -> Any:
    return (
        (signing_sessions.c.id == session_id)
        & (signing_sessions.c.state == state)
        & (signing_sessions.c.expires_at > utcnow())
    )


def _view(row: Row[Any]) -> SessionView:
    return SessionView(
        id=row.id,
        document_id=row.document_id,
        organisation=row.organisation,
        state=_state(row),
        level=row.level,
        expected_signer=ExpectedSigner(row.expected_national_id, row.expected_role),
        created_at=row.created_at,
        expires_at=row.expires_at,
        signer_subject=row.signer_subject,
        signer_national_id=row.signer_national_id,
        signer_role=row.signer_role,
        signed_revision=row.signed_revision,
        completed_revision=row.completed_revision,
        error_code=row.error_code,
        error_detail=row.error_detail,
        return_url=row.return_url,
        group_id=row.group_id,
    )


def _prepared_values(base: int, signer: SignerCertificate, prepared: PreparedSignature) -> dict[str, Any]:
    return {
        "base_revision": base,
        "digest_algorithm": prepared.digest_algorithm.name,
        "certificate": signer.certificate.public_bytes(Encoding.DER),
        "chain": b"".join(c.public_bytes(Encoding.DER) for c in signer.chain[1:]),
        "signer_subject": signer.subject,
        "signer_national_id": signer.national_id,
        "signer_role": signer.role,
        "signing_time": prepared.signing_time,
        # The update is mostly the hole's zeros: it compresses to a few hundred bytes.
        "prepared_update": zlib.compress(prepared.update, 6),
        "hole_start": prepared.hole.start,
        "hole_end": prepared.hole.end,
        "signed_attributes": prepared.signed_attributes,
    }


def _cleared() -> dict[str, Any]:
    return dict.fromkeys(_PREPARED_COLUMNS)


def _prepared_from(row: Row[Any], base_size: int) -> tuple[SignerCertificate, PreparedSignature]:
    """Rebuild the prepared signature stored by the certificate step (its checks already passed).

    ``base_size`` is the size of the revision it was prepared on.
    """
    certificate = x509.load_der_x509_certificate(row.certificate)
    chain = tuple(x509.load_der_x509_certificate(part) for part in _split_der(row.chain or b""))
    signer = SignerCertificate(
        certificate, (certificate, *chain), row.signer_subject, row.signer_national_id, row.signer_role
    )
    update_bytes = zlib.decompress(row.prepared_update)
    prepared = PreparedSignature(
        base_size=base_size,
        update=update_bytes,
        hole=Hole(row.hole_start, row.hole_end),
        signed_attributes=row.signed_attributes,
        digest_algorithm=digest_algorithm(row.digest_algorithm),
        signing_time=row.signing_time,
    )
    return signer, prepared


def _split_der(data: bytes) -> list[bytes]:
    """Concatenated DER certificates, one by one (the ``chain`` column)."""
    parts, offset = [], 0
    while offset < len(data):
        _, _, end = der.read_tlv(data, offset)
        parts.append(data[offset:end])
        offset = end
    return parts


def _certificate(text: str) -> x509.Certificate:
    raw = _b64(text, "certificate", MAX_CERTIFICATE_BYTES, kind=errors.CERTIFICATE_UNREADABLE)
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        raise CertificateRefused(errors.CERTIFICATE_UNREADABLE, "not a DER X.509 certificate") from None


def _b64(text: str, what: str, limit: int, kind: errors.ErrorKind = errors.REQUEST_INVALID) -> bytes:
    if not isinstance(text, str) or len(text) > limit * 4 // 3 + 4:
        raise InputError(kind, f"{what}: base64 text of at most {limit} bytes expected")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(kind, f"{what} is not valid base64") from None


def _reason(signer: SignerCertificate) -> str:
    names = signer.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else signer.subject
    return f"امضای {name} / Signed by {name}"
