"""The audit log: every seal, signature, validation and configuration change, in one hash chain.

Each entry carries the previous entry's hash, so removing, altering, reordering
or inserting an entry breaks the chain at that entry, and :meth:`AuditLog.verify`
(``pakat audit verify``) names the first one that does not hold.

Entry ``seq`` (1, 2, 3 … without gaps) holds ``at`` (UTC, to the microsecond),
``action``, ``actor``, ``subject``, ``details`` (canonical JSON: sorted keys, no
whitespace, UTF-8 as is), ``prev_hash`` (entry 1: :data:`GENESIS_HASH`) and
``hash``: the SHA-256 of the JSON array ``["pakat-audit-v1", seq, at, action,
actor, subject, details, prev_hash]`` (compact, UTF-8), where ``at`` is
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` and ``details`` the stored JSON text. JSON
escaping makes the encoding unambiguous: no field can bleed into the next.

Actions, who appends them, and their subject:

====================  ==========================================  =====================================
action                appended by                                 subject; details
====================  ==========================================  =====================================
document.sealed       seal of a stored document (same transaction   document id; revision, organisation,
                      as its revision); the stateless API seal      level, input/output sha256
document.signed       a user's signature embedded (same             document id; revision, session,
                      transaction as its revision)                  signer subject / national id / role
signature.completed   the signature reached its session's level     document id; session, revision, level
signature.failed      the level could not be reached (B-B kept)     document id; session, error code
document.validated    validation through the API or the page       ``sha256:<input>``; indication,
                                                                    sub-indication, signatures
batch.created         a batch accepted (envelopes.batches)          the batch id; organisation, level, items
batch.item_sealed     an item of a batch sealed, with its state     ``<batch id>/<item>``; the item, digests,
                                                                    the worker (``host:pid:run``)
batch.finished        every item of a batch settled                 the batch id
envelope.submitted    an envelope submitted (envelopes.envelopes)   the envelope id
document.deleted      a document deleted, on request or by          document id; organisation, reason,
                      retention (envelopes.retention)               name, revisions with digests, bytes
batch.deleted         a finished batch deleted, with its items      the batch id; organisation, reason,
                                                                    items, sealed, bytes
batch.inputs_purged   a finished batch's input files deleted by     the batch id; organisation, items,
                      retention (items and outputs stay)            bytes
config.changed        ``pakat serve``/``worker``/``db upgrade``     ``deployment``; the YAML's sha256,
                      found a deployment unlike the last recorded   organisations, API keys, trust roots
schema.upgraded       the database schema moved to a new revision   ``schema``; from, to
api_key.created       ``pakat api-key create``, the admin API       ``api-key:<id>``; organisation,
                      (envelopes.api_keys)                          scopes, label (never the secret)
api_key.rotated       ``pakat api-key rotate``, the admin API       ``api-key:<id>``; grace seconds
api_key.revoked       ``pakat api-key revoke``, the admin API       ``api-key:<id>``; organisation
seal_key.generated    ``pakat seal-key generate``, the admin API    ``seal:<org>/<key label>``;
                      (envelopes.seal_keys)                         algorithm, token, key id
seal_key.installed    ``pakat seal-key install``, the admin API     ``seal:<org>/<key label>``; subject,
                                                                    serial, not_after, sha256
access.locked_out     wrong API keys, agent secrets or view tokens  ``client:<address>``; the credential
                      locked a client address out (web.throttle);   kind, failures, window and lock
                      one entry per burst, never the secret         seconds
webhook.retried       an administrator sent a failed webhook        ``webhook-event:<event id>``;
                      event again (envelopes.webhook_admin)         organisation, delivery, event, attempt
====================  ==========================================  =====================================

``pakat seal`` and ``pakat validate`` on the command line append nothing: they work
without the service's database, and whoever runs them holds the seal's PIN or
the file already, so an entry they chose to write would prove nothing.

Actors name who acted, never with a secret: ``api-key:<first 12 hex of the
key's SHA-256>`` (:func:`api_key_actor`), ``organisation:<id>``,
``signer:<national id>``, ``system:<process>`` (serve, worker, db-upgrade),
``operator:<user>@<host>`` (an operator's key commands), ``person:<id>`` (a person
signed in to the console, :func:`person_actor`),
``client:<address>`` (a client known by its address alone) and
``anonymous`` (the public validation page and API).

Concurrency: :meth:`AuditLog.append` first UPDATEs the one-row ``audit_head``
(seq and hash of the last entry). On PostgreSQL that row lock queues every
other appender until the transaction ends; on SQLite the UPDATE takes the
database's write lock. Either way the next appender reads the head only after
the previous entry committed (or rolled back, taking its seq with it), so the
chain stays linear and gapless across threads, processes and machines. The
primary key on ``seq`` and the unique ``hash`` are a backstop. On SQLite the
append must be the transaction's first statement or follow a write: a
transaction that only read before it could hold a stale snapshot, which SQLite
refuses to upgrade to a write (SQLITE_BUSY_SNAPSHOT) rather than wait.

A chain only proves itself: someone able to rewrite the whole table and the
head row can forge a consistent history. Keep the head hash that ``pakat audit
verify`` prints somewhere else (a ticket, a signed email) to anchor it.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

import pakat
from envelopes.database import Database, audit_head, audit_log, utcnow
from pakat import errors
from pakat.errors import IntegrityFailure
from pakat.files import sha256_file

if TYPE_CHECKING:
    from envelopes.sealing import SealResult
    from hsm_config.deployment import Deployment
    from validation.model import DocumentReport

# -- vocabulary ------------------------------------------------------------------------------

DOCUMENT_SEALED = "document.sealed"
DOCUMENT_SIGNED = "document.signed"
SIGNATURE_COMPLETED = "signature.completed"
SIGNATURE_FAILED = "signature.failed"
DOCUMENT_VALIDATED = "document.validated"
BATCH_CREATED = "batch.created"
BATCH_ITEM_SEALED = "batch.item_sealed"
BATCH_FINISHED = "batch.finished"
ENVELOPE_SUBMITTED = "envelope.submitted"
TENDER_CREATED = "tender.created"
TENDER_OPENED = "tender.opened"
ENVELOPE_CREATED = "envelope.created"
ENVELOPE_DOCUMENT_ADDED = "envelope.document_added"
ENVELOPE_DOCUMENT_REPLACED = "envelope.document_replaced"
ENVELOPE_WITHDRAWN = "envelope.withdrawn"
SIGNING_SESSION_OPENED = "signing_session.opened"
DOCUMENT_DELETED = "document.deleted"
BATCH_DELETED = "batch.deleted"
BATCH_INPUTS_PURGED = "batch.inputs_purged"
CONFIG_CHANGED = "config.changed"
SCHEMA_UPGRADED = "schema.upgraded"
API_KEY_CREATED = "api_key.created"
API_KEY_ROTATED = "api_key.rotated"
API_KEY_REVOKED = "api_key.revoked"
SEAL_KEY_GENERATED = "seal_key.generated"
SEAL_KEY_INSTALLED = "seal_key.installed"
ACCESS_LOCKED_OUT = "access.locked_out"
WEBHOOK_RETRIED = "webhook.retried"
PERSON_CREATED = "person.created"
PERSON_DISABLED = "person.disabled"
PERSON_ENABLED = "person.enabled"
PERSON_ROLE_CHANGED = "person.role_changed"
PERSON_PASSWORD_RESET = "person.password_reset"
PERSON_PASSWORD_CHANGED = "person.password_changed"
PERSON_SIGNED_IN = "person.signed_in"
PERSON_SIGN_IN_FAILED = "person.sign_in_failed"
PERSON_LOCKED_OUT = "person.locked_out"
PERSON_SIGNED_OUT = "person.signed_out"

ANONYMOUS = "anonymous"
CONFIG_SUBJECT = "deployment"
SCHEMA_SUBJECT = "schema"

GENESIS_HASH = "0" * 64
HASH_DOMAIN = "pakat-audit-v1"
HEAD_ID = 1
MAX_ACTOR = 160
MAX_SUBJECT = 255
MAX_PAGE = 1000
# New actions follow the vocabulary's shape: a noun, a dot, a past participle.
_ACTION = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# An append's three statements, built once: SQLAlchemy then reuses their compiled form at every append.
_TAKE_SEQ = (
    update(audit_head).where(audit_head.c.id == HEAD_ID).values(seq=audit_head.c.seq + 1)
    .returning(audit_head.c.seq, audit_head.c.hash)
)
_ADD_ENTRY = insert(audit_log)
_SET_HEAD_HASH = update(audit_head).where(audit_head.c.id == HEAD_ID).values(hash=bindparam("head_hash"))
_HOLD_HEAD = update(audit_head).where(audit_head.c.id == HEAD_ID).values(seq=audit_head.c.seq)

# -- verdicts: why a chain does not hold ---------------------------------------------------------

SEQ_GAP = "seq_gap"
PREV_HASH_MISMATCH = "prev_hash_mismatch"
HASH_MISMATCH = "hash_mismatch"
TRUNCATED = "truncated"
HEAD_MISMATCH = "head_mismatch"
BEYOND_HEAD = "beyond_head"
HEAD_MISSING = "head_missing"
# Persian and English, with {seq} the first bad entry and {other} what was found instead.
REASONS: dict[str, tuple[str, str]] = {
    SEQ_GAP: ("ردیف {seq} نیست: ردیف‌هایی حذف شده است (ردیف بعدیِ موجود {other} است).",
              "entry {seq} is missing: entries were deleted (the next one present is {other})"),
    PREV_HASH_MISMATCH: ("ردیف {seq} به ردیف پیش از خود زنجیر نیست: "
                         "ردیفی پیش از آن حذف، جابه‌جا یا افزوده شده است.",
                         "entry {seq} does not follow the entry before it: an entry was removed, reordered "
                         "or inserted before it"),
    HASH_MISMATCH: ("ردیف {seq} تغییر کرده است: محتوایش با چکیده‌اش نمی‌خواند.",
                    "entry {seq} was altered: its content does not match its hash"),
    TRUNCATED: ("ردیف {seq} و ردیف‌های پس از آن نیستند: گزارش پیش از سرِ زنجیره (ردیف {other}) تمام می‌شود.",
                "entry {seq} and those after it are missing: the log ends before its head (entry {other})"),
    HEAD_MISMATCH: ("ردیف {seq} آن نیست که سرِ زنجیره ثبت کرده است.",
                    "entry {seq} is not the one the chain's head recorded"),
    BEYOND_HEAD: ("ردیف {seq} پس از سرِ زنجیره (ردیف {other}) آمده است: افزوده شده است.",
                  "entry {seq} lies beyond the chain's head (entry {other}): it was inserted"),
    HEAD_MISSING: ("سرِ زنجیره (جدول audit_head) نیست؛ ردیف {seq} و پس از آن تأییدپذیر نیستند.",
                   "the chain's head (table audit_head) is missing; entry {seq} and after cannot be vouched for"),
}


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the log, as stored."""

    seq: int
    at: datetime
    action: str
    actor: str
    subject: str
    details_json: str  # canonical JSON, exactly what the hash covers
    prev_hash: str
    hash: str

    @property
    def details(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.details_json)
        return value

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "at": iso_time(self.at), "action": self.action, "actor": self.actor,
            "subject": self.subject, "details": self.details, "prev_hash": self.prev_hash, "hash": self.hash,
        }


@dataclass(frozen=True)
class AuditVerdict:
    """What :meth:`AuditLog.verify` found: an unbroken chain, or the first entry that breaks it."""

    ok: bool
    checked: int  # entries found good, from entry 1 on
    last_seq: int  # the last good entry (0: none)
    last_hash: str  # its hash (GENESIS_HASH: none)
    head_seq: int | None = None  # what the head row says (None: no head row)
    first_bad_seq: int | None = None
    reason: str | None = None  # one of REASONS' keys
    other: int | None = None  # the seq found instead (gap, head)

    @property
    def message_fa(self) -> str | None:
        return REASONS[self.reason][0].format(seq=self.first_bad_seq, other=self.other) if self.reason else None

    @property
    def message_en(self) -> str | None:
        return REASONS[self.reason][1].format(seq=self.first_bad_seq, other=self.other) if self.reason else None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "checked": self.checked, "last_seq": self.last_seq,
                                "last_hash": self.last_hash, "head_seq": self.head_seq}
        if not self.ok:
            body.update(first_bad_seq=self.first_bad_seq, reason=self.reason,
                        message_fa=self.message_fa, message_en=self.message_en)
        return body


# -- actors ---------------------------------------------------------------------------------


def api_key_actor(api_key_sha256: str) -> str:
    """``api-key:`` and the first 12 hex of the key's SHA-256; refuses anything but a SHA-256 (never a key)."""
    if not _SHA256_HEX.fullmatch(api_key_sha256):
        raise ValueError("api_key_actor takes the hex SHA-256 of an API key, not the key")
    return f"api-key:{api_key_sha256[:12]}"


def organisation_actor(organisation: str) -> str:
    """``organisation:<id>``: an organisation acting through one of its platforms."""
    return f"organisation:{organisation}"[:MAX_ACTOR]


def signer_actor(national_id: str | None, subject: str) -> str:
    """``signer:<national id>`` (else the certificate subject): a person signing with their own token."""
    return f"signer:{national_id or subject}"[:MAX_ACTOR]


def operator_actor() -> str:
    """``operator:<user>@<host>``: whoever ran a key command (``pakat api-key``, ``pakat seal-key``) here."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"operator:{user}@{socket.gethostname()}"[:MAX_ACTOR]


def person_actor(person_id: str) -> str:
    """``person:<id>``: a person of the console acting (their id, never their username or a password)."""
    return f"person:{person_id}"[:MAX_ACTOR]


def client_actor(address: str) -> str:
    """``client:<address>``: a caller known by its network address alone (a lockout's subject and actor)."""
    return f"client:{address or 'unknown'}"[:MAX_ACTOR]


def system_actor(process: str) -> str:
    """``system:<process>``: Pakat itself (serve, worker, db-upgrade) with no caller behind it."""
    return f"system:{process}"[:MAX_ACTOR]


# -- encoding ---------------------------------------------------------------------------------


def canonical_json(value: Mapping[str, Any]) -> str:
    """Sorted keys, no whitespace, non-ASCII kept as is; NaN and non-JSON values are refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def iso_time(moment: datetime) -> str:
    """UTC with all six fractional digits and ``Z``: one spelling per instant."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(seq: int, at: datetime, action: str, actor: str, subject: str, details_json: str,
               prev_hash: str) -> str:
    """The hex SHA-256 an entry must carry (see the module's docstring for the encoding)."""
    material = json.dumps([HASH_DOMAIN, seq, iso_time(at), action, actor, subject, details_json, prev_hash],
                          ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# -- the log ------------------------------------------------------------------------------------


class AuditLog:
    """The audit log in one database; cheap to build, holds no connection of its own."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def append(self, conn: Connection, action: str, *, actor: str, subject: str,
               details: Mapping[str, Any] | None = None) -> AuditEntry:
        """Append an entry inside the caller's write transaction: it commits or rolls back with it.

        On SQLite call it first in the transaction or after a write (see the
        module's docstring). The head row stays locked until the caller commits,
        so make it the transaction's last write: a row locked after it would make
        every other appender wait on that row too (or, on PostgreSQL, deadlock).
        """
        _check(action, actor, subject)
        details_json = canonical_json(details or {})
        # First a write: it takes the head's row lock (PostgreSQL) or the write lock (SQLite).
        head = conn.execute(_TAKE_SEQ).first()
        if head is None:
            raise IntegrityFailure(errors.AUDIT_CHAIN_BROKEN, "the audit head row is missing")
        seq, prev_hash = int(head.seq), str(head.hash)
        at = utcnow()  # under the lock, so time follows seq
        digest = entry_hash(seq, at, action, actor, subject, details_json, prev_hash)
        conn.execute(_ADD_ENTRY, {"seq": seq, "at": at, "action": action, "actor": actor, "subject": subject,
                                  "details": details_json, "prev_hash": prev_hash, "hash": digest})
        conn.execute(_SET_HEAD_HASH, {"head_hash": digest})
        return AuditEntry(seq, at, action, actor, subject, details_json, prev_hash, digest)

    def record(self, action: str, *, actor: str, subject: str,
               details: Mapping[str, Any] | None = None) -> AuditEntry:
        """Append in a short write transaction of its own (:meth:`Database.write`)."""
        with self.database.write() as conn:
            return self.append(conn, action, actor=actor, subject=subject, details=details)

    def entries(self, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Entries with seq greater than ``after``, oldest first, at most ``limit`` (and at most 1000)."""
        with self.database.begin() as conn:
            rows = conn.execute(
                select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq)
                .limit(max(0, min(limit, MAX_PAGE)))
            ).all()
        return [_entry(row) for row in rows]

    def verify(self) -> AuditVerdict:
        """Walk the chain from entry 1 to the head, a page at a time, and say where it first breaks.

        The head is read first: entries appended while the walk runs lie beyond
        it and are left for the next run, unless they are beyond the head as it
        stands at the end too (inserted behind the appenders' back).
        """
        with self.database.begin() as conn:
            head = conn.execute(
                select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID)
            ).first()
            head_seq = None if head is None else int(head.seq)
            expected, prev_hash = 1, GENESIS_HASH

            def verdict(reason: str | None = None, bad: int | None = None,
                        other: int | None = None) -> AuditVerdict:
                return AuditVerdict(ok=reason is None, checked=expected - 1, last_seq=expected - 1,
                                    last_hash=prev_hash, head_seq=head_seq, first_bad_seq=bad, reason=reason,
                                    other=other)

            while True:
                query = select(audit_log).where(audit_log.c.seq >= expected)
                if head_seq is not None:
                    query = query.where(audit_log.c.seq <= head_seq)
                rows = conn.execute(query.order_by(audit_log.c.seq).limit(MAX_PAGE)).all()
                if not rows:
                    break
                for row in rows:
                    if row.seq != expected:
                        return verdict(SEQ_GAP, expected, int(row.seq))
                    if row.prev_hash != prev_hash:
                        return verdict(PREV_HASH_MISMATCH, expected)
                    if entry_hash(row.seq, row.at, row.action, row.actor, row.subject, row.details,
                                  row.prev_hash) != row.hash:
                        return verdict(HASH_MISMATCH, expected)
                    prev_hash = row.hash
                    expected += 1
            if head is None or head_seq is None:
                return verdict(HEAD_MISSING, expected)
            if expected - 1 < head_seq:
                return verdict(TRUNCATED, expected, head_seq)
            if head.hash != prev_hash:
                return verdict(HEAD_MISMATCH, head_seq)
            beyond = conn.execute(select(func.min(audit_log.c.seq)).where(audit_log.c.seq > head_seq)).scalar()
            if beyond is not None:
                # Read after the entry: an honest appender committed it with the head that covers it.
                now = conn.execute(select(audit_head.c.seq).where(audit_head.c.id == HEAD_ID)).scalar()
                if now is None or int(beyond) > int(now):
                    return verdict(BEYOND_HEAD, int(beyond), head_seq)
            return verdict()

    # -- what the rest of Pakat records ------------------------------------------------------------

    def record_validation(self, report: DocumentReport, *, actor: str, channel: str) -> AuditEntry:
        """``document.validated`` for a report made through ``channel`` (api, page)."""
        return self.record(DOCUMENT_VALIDATED, actor=actor, subject=f"sha256:{report.file_sha256}", details={
            "channel": channel,
            "sha256": report.file_sha256,
            "size": report.file_size,
            "indication": report.indication.value,
            "sub_indication": report.sub_indication.value if report.sub_indication else None,
            "signatures": len(report.signatures),
        })

    def record_stateless_seal(self, result: SealResult, *, actor: str) -> AuditEntry:
        """``document.sealed`` for a file sealed and handed back without being stored."""
        sealed = result.document
        return self.record(DOCUMENT_SEALED, actor=actor, subject=f"sha256:{sealed.output_sha256}", details={
            "stored": False,
            "organisation": result.organisation,
            "level": sealed.level.value,
            "input_sha256": sealed.input_sha256,
            "output_sha256": sealed.output_sha256,
            "output_size": sealed.output_size,
        })

    def record_configuration(self, deployment: Deployment, *, actor: str) -> AuditEntry | None:
        """``config.changed`` when the deployment file differs from the last one recorded; else nothing.

        The summary names organisations, counts API keys and pins trust roots by
        fingerprint; the file holds no secret (PINs and webhook secrets live
        elsewhere), and only its digest is kept anyway.
        """
        digest = sha256_file(deployment.source)
        details = {
            "sha256": digest,
            "file": str(deployment.source)[:MAX_SUBJECT],
            "organisations": sorted(deployment.organisations),
            "api_keys": len(deployment.api_key_hashes),
            "trust_roots": sorted(anchor.sha256 for anchor in deployment.trust_roots),
            "host": socket.gethostname(),
            "version": pakat.__version__,
        }
        return self._append_unless(CONFIG_CHANGED, lambda last: last.get("sha256") == digest,
                                   actor=actor, subject=CONFIG_SUBJECT, details=details)

    def record_schema_upgrade(self, before: str | None, after: str, *, actor: str) -> AuditEntry | None:
        """``schema.upgraded`` when the schema moved from ``before`` to ``after``.

        Processes starting together all saw ``before``, but only one moved it:
        the first to record the move does, the others find it recorded.
        """
        if before == after:
            return None
        return self._append_unless(
            SCHEMA_UPGRADED, lambda last: (last.get("from"), last.get("to")) == (before, after),
            actor=actor, subject=SCHEMA_SUBJECT, details={"from": before, "to": after},
        )

    def _append_unless(self, action: str, recorded: Callable[[dict[str, Any]], bool], *, actor: str,
                       subject: str, details: Mapping[str, Any]) -> AuditEntry | None:
        """Append unless the last entry of ``action`` already says so: decided under the head's lock."""
        with self.database.write() as conn:
            # A write that changes nothing, to hold the lock while reading: two processes deciding at once
            # would otherwise both find nothing recorded.
            conn.execute(_HOLD_HEAD)
            last = conn.execute(
                select(audit_log.c.details).where(audit_log.c.action == action)
                .order_by(audit_log.c.seq.desc()).limit(1)
            ).scalar()
            if last is not None and recorded(json.loads(last)):
                return None
            return self.append(conn, action, actor=actor, subject=subject, details=details)


def _check(action: str, actor: str, subject: str) -> None:
    # Programming errors, not user input: every caller passes values of its own making.
    if not _ACTION.fullmatch(action) or len(action) > 64:
        raise ValueError(f"audit action {action!r} is not of the form noun.verb")
    if not actor or len(actor) > MAX_ACTOR:
        raise ValueError(f"audit actor must be 1 to {MAX_ACTOR} characters")
    if not subject or len(subject) > MAX_SUBJECT:
        raise ValueError(f"audit subject must be 1 to {MAX_SUBJECT} characters")


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(int(row.seq), row.at, row.action, row.actor, row.subject, row.details, row.prev_hash,
                      row.hash)
