"""The tables behind documents and signing sessions, and the per-process engine.

SQLAlchemy Core, not the ORM: every state change is one conditional UPDATE
(``… WHERE state = :expected``), so two web processes racing on one session
or one document resolve in the database, whichever process serves which step.
SQLite is the embedded default; PostgreSQL is what several machines share.
The schema is created and migrated by Alembic (``envelopes/migrations``), never
by ``metadata.create_all`` outside tests of the migrations themselves.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.types import TypeDecorator

# Named constraints: a later migration can drop or alter one by name, and on SQLite
# Alembic's batch mode (which rebuilds a table) can only find constraints that have one.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored and returned as aware UTC datetimes, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


documents = Table(
    "documents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("organisation", String(64), nullable=False),
    # SHA-256 of the API key that stored it: which platform's webhook hears about it.
    Column("api_key_sha256", String(64), nullable=True),
    Column("name", String(255), nullable=False),
    Column("pages", Integer, nullable=False),
    # Index of the latest revision; every signature moves it by compare-and-set.
    Column("head", Integer, nullable=False),
    # The session whose signature is being raised to its level: nobody prepares on top meanwhile.
    Column("busy_session", String(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_documents_organisation", "organisation"),
)

revisions = Table(
    "revisions",
    metadata,
    Column("document_id", String(32), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # upload | signature | seal | level
    Column("session_id", String(32), nullable=True),
    Column("level", String(8), nullable=True),
    Column("signer", Text, nullable=True),  # the signer's subject, as a person reads it
    Column("created_at", UtcDateTime, nullable=False),
    # Whether anything still names a blob, before a deletion removes it (migration 0008).
    Index("ix_revisions_sha256", "sha256"),
)

signing_sessions = Table(
    "signing_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("document_id", String(32), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
    Column("organisation", String(64), nullable=False),
    Column("secret_sha256", String(64), nullable=False),  # never the secret itself
    Column("state", String(24), nullable=False),
    Column("level", String(8), nullable=False),
    Column("expected_national_id", String(32), nullable=True),
    Column("expected_role", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # -- prepared state (certificate step); it never leaves the server --
    Column("base_revision", Integer, nullable=True),
    Column("digest_algorithm", String(8), nullable=True),
    Column("certificate", LargeBinary, nullable=True),
    Column("chain", LargeBinary, nullable=True),  # concatenated DER, issuers up to the root
    Column("signer_subject", Text, nullable=True),
    Column("signer_national_id", String(32), nullable=True),
    Column("signer_role", String(255), nullable=True),
    Column("signing_time", UtcDateTime, nullable=True),
    Column("prepared_update", LargeBinary, nullable=True),  # zlib: the update with its empty hole
    Column("hole_start", BigInteger, nullable=True),
    Column("hole_end", BigInteger, nullable=True),
    Column("signed_attributes", LargeBinary, nullable=True),
    # -- signature step and after --
    Column("signature", LargeBinary, nullable=True),
    Column("signed_revision", Integer, nullable=True),
    Column("completed_revision", Integer, nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error_detail", Text, nullable=True),
    # Where the signature's visible block goes (JSON of signer.placement.VisibleSignature); NULL: invisible.
    Column("appearance", Text, nullable=True),
    # Where the signing page links back to, once allowed by the platform's return_urls; NULL: no link.
    Column("return_url", Text, nullable=True),
    # Several documents signed under one session (an envelope's A, B, C): each has its own row, walked on
    # its own; they share the secret, and group_id is the first one's id. NULL: a session of one document.
    Column("group_id", String(32), nullable=True),
    Column("group_position", Integer, nullable=True),
    Index("ix_signing_sessions_document", "document_id"),
    Index("ix_signing_sessions_group", "group_id"),
)


batches = Table(
    "batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("organisation", String(64), nullable=False),
    # The platform that asked (NULL from the shell): whose webhook hears, whose idempotency keys apply.
    Column("api_key_sha256", String(64), nullable=True),
    Column("idempotency_key", String(255), nullable=True),
    # SHA-256 over what was asked (inputs by digest, organisation, level, options): a reused key must match it.
    Column("request_sha256", String(64), nullable=False),
    Column("level", String(8), nullable=False),
    Column("options", Text, nullable=False),  # JSON: reason, visible …
    Column("total", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # running | finished
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),  # first item claimed
    Column("finished_at", UtcDateTime, nullable=True),
    # When retention deleted the input files (the items keep their digests); NULL: still stored (0008).
    Column("inputs_purged_at", UtcDateTime, nullable=True),
    UniqueConstraint("api_key_sha256", "idempotency_key"),
    Index("ix_batches_state", "state"),
)

batch_items = Table(
    "batch_items",
    metadata,
    Column("batch_id", String(32), ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("name", String(512), nullable=False),  # the member's path in the upload, made safe
    Column("input_sha256", String(64), nullable=False),
    Column("input_size", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # queued | sealing | sealed | failed
    Column("attempts", Integer, nullable=False),
    # Who holds the item while sealing it, and until when: a dead worker's lease runs out and another takes over.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("retry_at", UtcDateTime, nullable=True),  # a transient failure waits until then
    Column("output_sha256", String(64), nullable=True),
    Column("output_size", BigInteger, nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error_detail", Text, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_batch_items_batch_state", "batch_id", "state"),
    Index("ix_batch_items_input_sha256", "input_sha256"),
    Index("ix_batch_items_output_sha256", "output_sha256"),
)

# -- what each organisation stores, against its quota (migration 0008; envelopes.storage) --
# One row per organisation, moved in the same transaction as every row that stores or frees bytes, by a
# conditional UPDATE that refuses to pass the quota: the row's lock orders concurrent uploads.
storage_usage = Table(
    "storage_usage",
    metadata,
    Column("organisation", String(64), primary_key=True),
    Column("bytes", BigInteger, nullable=False),  # every revision, batch input and batch output, as recorded
    Column("documents", BigInteger, nullable=False),  # documents and batch items
    Column("updated_at", UtcDateTime, nullable=False),
)


# -- the hash-chained audit log and the webhook delivery record (migration 0003; envelopes.audit) --
audit_log = Table(
    "audit_log",
    metadata,
    # 1, 2, 3 … without gaps: handed out under audit_head's lock, never by a database sequence (which skips).
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("action", String(64), nullable=False),
    Column("actor", String(160), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("details", Text, nullable=False),  # canonical JSON, hashed as stored
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("hash"),
    Index("ix_audit_log_action_seq", "action", "seq"),
)

# One row (id 1): the last entry's seq and hash. Appenders UPDATE it first, so it is the chain's lock.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(32), nullable=False),
    Column("event", String(64), nullable=False),
    Column("api_key_sha256", String(64), nullable=False),
    Column("url", String(2048), nullable=False),  # scheme://host[:port]/path: never the query or credentials
    Column("attempt", Integer, nullable=False),  # 1 for the first try, 2 for the first retry …
    Column("at", UtcDateTime, nullable=False),
    Column("status", Integer, nullable=True),  # the HTTP status, None when nothing answered
    Column("error", String(64), nullable=True),  # why it failed: HTTP_500, ConnectionRefusedError, CONFIG_INVALID
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # delivered | retrying | gave_up
    Index("ix_webhook_deliveries_api_key_sha256_id", "api_key_sha256", "id"),
    Index("ix_webhook_deliveries_event_id", "event_id"),
)


# -- tenders, bid envelopes, their documents and submission receipts (migration 0004; envelopes.tenders) --
tenders = Table(
    "tenders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("api_key_sha256", String(64), nullable=False),  # the platform that owns it: nobody else sees it
    Column("organisation", String(64), nullable=False),  # the API key's organisation, which owns the documents
    Column("reference", String(128), nullable=False),  # the platform's own number for it
    Column("title_fa", String(500), nullable=False),
    Column("title_en", String(500), nullable=False),
    Column("deadline", UtcDateTime, nullable=False),
    Column("opened_through", String(1), nullable=True),  # the last envelope kind opened: A, then B, then C
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("api_key_sha256", "reference"),
)

envelopes = Table(
    "envelopes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tender_id", String(32), ForeignKey("tenders.id"), nullable=False),
    Column("kind", String(1), nullable=False),  # A guarantee | B technical | C price
    Column("bidder_national_id", String(32), nullable=False),
    Column("bidder_name_fa", String(255), nullable=False),
    Column("bidder_name_en", String(255), nullable=False),
    Column("requirements", Text, nullable=False),  # JSON: signatories, min_assurance, seal_required
    # draft | signing | complete | submitted | withdrawn | opened; "locked" is submitted past the deadline.
    Column("state", String(16), nullable=False),
    # The documents' heads the cached evaluation was made on, and that evaluation (JSON, per document).
    Column("evaluated_heads", String(64), nullable=True),
    Column("evaluation", Text, nullable=True),
    Column("withdrawn_at", UtcDateTime, nullable=True),
    Column("opened_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_envelopes_tender_id", "tender_id"),
)

envelope_documents = Table(
    "envelope_documents",
    metadata,
    Column("envelope_id", String(32), ForeignKey("envelopes.id"), primary_key=True),
    Column("document_id", String(32), ForeignKey("documents.id"), primary_key=True),
    Column("position", Integer, nullable=False),  # its place in the envelope, kept by its replacement
    Column("added_at", UtcDateTime, nullable=False),
    # A replaced document stays in the history; only rows without replaced_at are current.
    Column("replaced_by", String(32), nullable=True),
    Column("replaced_at", UtcDateTime, nullable=True),
    UniqueConstraint("document_id"),  # a document belongs to one envelope at most
)

envelope_receipts = Table(
    "envelope_receipts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("envelope_id", String(32), ForeignKey("envelopes.id"), nullable=False),
    Column("document_id", String(32), ForeignKey("documents.id"), nullable=False),  # the sealed receipt PDF
    Column("sha256", String(64), nullable=False),
    Column("level", String(8), nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),  # the receipt seal's signature timestamp (genTime)
    Column("tsa", Text, nullable=False),  # the TSA's subject
    Column("token_sha256", String(64), nullable=False),  # SHA-256 of that timestamp token's DER
    Column("token_serial", String(64), nullable=False),  # the token's serial number, hex
    Column("contents", Text, nullable=False),  # JSON: the documents, revisions, digests and signers it lists
    Column("created_at", UtcDateTime, nullable=False),
    Column("superseded_at", UtcDateTime, nullable=True),
    Column("superseded_reason", String(16), nullable=True),  # replaced | withdrawn
    UniqueConstraint("document_id"),
    Index("ix_envelope_receipts_envelope_id", "envelope_id"),
)

# -- API keys kept in the database (migration 0009; envelopes.api_keys) --
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),  # the public part of ``pk_<id>_<secret>``: lookup is by it
    Column("organisation", String(64), nullable=False),
    Column("label", String(255), nullable=False),  # the operator's name for it ("Setad production")
    Column("scopes", String(255), nullable=False),  # space-separated, sorted: seal documents batches …
    # What documents, batches, tenders and webhook deliveries record as the platform (their api_key_sha256):
    # stable across rotations; the SHA-256 of a YAML key when the key took that key's place.
    Column("reference", String(64), nullable=False),
    Column("secret_sha256", String(64), nullable=False),  # never the secret itself
    # After a rotation the old secret still works until previous_valid_until (the grace period).
    Column("previous_secret_sha256", String(64), nullable=True),
    Column("previous_valid_until", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("rotated_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_api_keys_organisation", "organisation"),
)

# -- documents shared by several machines (migration 0010; envelopes.database_store) --
# A blob's row and its chunks commit in one transaction: a reader sees the whole blob or none of it.
document_blobs = Table(
    "document_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

document_chunks = Table(
    "document_chunks",
    metadata,
    Column("sha256", String(64), ForeignKey("document_blobs.sha256", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),  # 0, 1, 2 … in file order
    Column("data", LargeBinary, nullable=False),  # at most envelopes.blobs.CHUNK bytes
)

# -- the console's people and their sessions (migration 0011; envelopes.people) --
people = Table(
    "people",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("organisation", String(64), nullable=False),
    Column("username", String(64), nullable=False),  # as the person wrote it
    Column("username_key", String(64), nullable=False),  # lower-cased: usernames are unique whatever the case
    Column("display_name", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # admin | operator | viewer
    # Where the person proves who they are: "password" today; an OIDC issuer later, with its subject in
    # external_id (then password_hash stays NULL).
    Column("auth_source", String(64), nullable=False),
    Column("external_id", String(255), nullable=True),
    Column("password_hash", Text, nullable=True),  # scrypt$N$r$p$salt$hash: never the password
    Column("must_change_password", Boolean, nullable=False),  # a one-time password was given out
    Column("failed_attempts", Integer, nullable=False),  # wrong passwords in a row
    Column("locked_until", UtcDateTime, nullable=True),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("last_sign_in_at", UtcDateTime, nullable=True),
    Column("password_changed_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    UniqueConstraint("username_key"),
    UniqueConstraint("auth_source", "external_id"),
    Index("ix_people_organisation", "organisation"),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    # SHA-256 of the 256-bit token in the browser's cookie: the row alone cannot act as the person.
    Column("token_sha256", String(64), primary_key=True),
    Column("person_id", String(32), ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),  # moved at most once a minute: the idle timeout
    Column("expires_at", UtcDateTime, nullable=False),  # the absolute end, whatever the activity
    Index("ix_console_sessions_person_id", "person_id"),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one process writes; the timeout queues writers instead of failing them.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """One engine per process for a database URL, created on first use and again after a fork."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                # An engine inherited across fork() shares sockets with the parent: start afresh.
                self._engine = make_engine(self.url)
                self._pid = os.getpid()
            return self._engine

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on success and rolled back on any error."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that changes something: keep it short, no file I/O inside.

        SQLite has one writer at a time and makes the others sleep in growing
        steps; queueing this process's writers on a lock instead keeps the wait
        to the writers ahead, in order. PostgreSQL needs no such help.
        """
        if not self.url.startswith("sqlite"):
            with self.begin() as conn:
                yield conn
            return
        with self._write_lock, self.begin() as conn:
            yield conn

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None


#: Seconds a PostgreSQL session may sit idle inside a transaction before the server ends it.
IDLE_IN_TRANSACTION_SECONDS = 30


def make_engine(url: str, *, idle_in_transaction_seconds: int = IDLE_IN_TRANSACTION_SECONDS) -> Engine:
    """An engine with the settings Pakat relies on (SQLite: WAL, busy timeout, foreign keys)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A client that stops mid-transaction (a frozen host, a half-open connection, a killed process whose
    # socket something else still holds) would keep its row locks, the audit log's head among them, and
    # stall every other writer; the server ends such a session instead. Pakat's transactions never idle.
    options = f"-c idle_in_transaction_session_timeout={idle_in_transaction_seconds}s"
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         connect_args={"options": options})


def utcnow() -> datetime:
    """Now, in UTC, to the microsecond (what every column of this schema stores)."""
    return datetime.now(UTC)
