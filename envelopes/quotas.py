"""Per-organisation storage quotas: bytes stored and documents counted, never passed by two racers at once.

Each organisation has one ``storage_usage`` row. Whatever records stored
bytes (a document's upload or new revision, a batch's inputs, a batch item's
sealed output) calls :func:`charge` in the same transaction, and whatever
deletes them calls :func:`release`. :func:`charge` is one conditional UPDATE::

    UPDATE storage_usage SET bytes = bytes + :b, documents = documents + :n
     WHERE organisation = :org AND bytes + :b <= :max_bytes AND documents + :n <= :max_documents

so the check and the increment are one step. On PostgreSQL the row's lock
queues a concurrent charge, which then re-reads the row (READ COMMITTED
re-evaluates the WHERE on the updated row) and is refused if the first one
used up the room; on SQLite the UPDATE takes the database's only write lock.
Either way two uploads that the quota allows only one of cannot both pass.

:func:`precheck` is the same test, read only, made before any byte is
written, so an upload the quota plainly refuses costs no disk; the charge
that follows is still the one that counts.

Bytes are counted as recorded (each revision and each batch file at its
size), not as the content-addressed store holds them: an organisation's
quota does not depend on what another organisation happens to have stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from envelopes.blobs import DocumentStore
from envelopes.database import Database, batch_items, batches, revisions, storage_usage, utcnow
from hsm_config.deployment import StoragePolicy
from pakat import errors
from pakat.errors import PakatError

#: The quotas of each organisation (``Deployment.storage_policy``).
PolicyOf = Callable[[str], StoragePolicy]


def no_limits(_organisation: str) -> StoragePolicy:
    """No quota, no retention: for a service built without a deployment (tests of other parts)."""
    return StoragePolicy()


@dataclass(frozen=True)
class Usage:
    """What an organisation stores now."""

    organisation: str
    bytes: int
    documents: int

    def as_dict(self) -> dict[str, int | str]:
        return {"organisation": self.organisation, "bytes": self.bytes, "documents": self.documents}


def usage(conn: Connection, organisation: str) -> Usage:
    """The organisation's usage row (zero if it never stored anything)."""
    row = conn.execute(select(storage_usage.c.bytes, storage_usage.c.documents)
                       .where(storage_usage.c.organisation == organisation)).first()
    if row is None:
        return Usage(organisation, 0, 0)
    return Usage(organisation, int(row.bytes), int(row.documents))


def precheck(database: Database, policy: StoragePolicy, organisation: str, add_bytes: int,
             add_documents: int) -> None:
    """Refuse now (STORAGE_QUOTA_EXCEEDED) what :func:`charge` would refuse, before anything is written."""
    if policy.max_bytes is None and policy.max_documents is None:
        return
    with database.begin() as conn:
        now = usage(conn, organisation)
    _refuse_if_over(policy, now, add_bytes, add_documents)


def charge(conn: Connection, policy: StoragePolicy, organisation: str, add_bytes: int, add_documents: int) -> None:
    """Count ``add_bytes`` and ``add_documents`` against the quota in the caller's transaction, or refuse.

    Raises STORAGE_QUOTA_EXCEEDED, and the caller's transaction then rolls back.
    """
    if not try_charge(conn, policy, organisation, add_bytes, add_documents):
        _refuse_if_over(policy, usage(conn, organisation), add_bytes, add_documents)
        raise PakatError(errors.STORAGE_QUOTA_EXCEEDED)  # unreachable unless the row vanished meanwhile


def try_charge(conn: Connection, policy: StoragePolicy, organisation: str, add_bytes: int,
               add_documents: int) -> bool:
    """:func:`charge` that answers False instead of raising (a batch item fails alone)."""
    _ensure_row(conn, organisation)
    condition = storage_usage.c.organisation == organisation
    if policy.max_bytes is not None:
        condition &= storage_usage.c.bytes + add_bytes <= policy.max_bytes
    if policy.max_documents is not None:
        condition &= storage_usage.c.documents + add_documents <= policy.max_documents
    moved = conn.execute(update(storage_usage).where(condition).values(
        bytes=storage_usage.c.bytes + add_bytes, documents=storage_usage.c.documents + add_documents,
        updated_at=utcnow()))
    return moved.rowcount == 1


def release(conn: Connection, organisation: str, freed_bytes: int, freed_documents: int) -> None:
    """Take deleted bytes and documents off the organisation's usage, in the deleting transaction."""
    conn.execute(update(storage_usage).where(storage_usage.c.organisation == organisation).values(
        bytes=storage_usage.c.bytes - freed_bytes, documents=storage_usage.c.documents - freed_documents,
        updated_at=utcnow()))


def _ensure_row(conn: Connection, organisation: str) -> None:
    values = {"organisation": organisation, "bytes": 0, "documents": 0, "updated_at": utcnow()}
    # A concurrent first charge inserts the same row: whichever comes second does nothing, then waits on it.
    statement = (postgresql.insert(storage_usage) if conn.dialect.name == "postgresql"
                 else sqlite.insert(storage_usage)).values(**values).on_conflict_do_nothing()
    conn.execute(statement)


def _refuse_if_over(policy: StoragePolicy, now: Usage, add_bytes: int, add_documents: int) -> None:
    if policy.max_bytes is not None and now.bytes + add_bytes > policy.max_bytes:
        raise PakatError(errors.STORAGE_QUOTA_EXCEEDED,
                         f"{now.organisation} stores {now.bytes} bytes; {add_bytes} more would pass its quota "
                         f"of {policy.max_bytes} bytes")
    if policy.max_documents is not None and now.documents + add_documents > policy.max_documents:
        raise PakatError(errors.STORAGE_QUOTA_EXCEEDED,
                         f"{now.organisation} stores {now.documents} documents; {add_documents} more would pass "
                         f"its quota of {policy.max_documents}")


# -- blobs nobody names any more ----------------------------------------------------------------


def blob_referenced(conn: Connection, sha256: str) -> bool:
    """Whether any revision, batch item output or batch input (of a batch that keeps them) names this content."""
    queries = (
        select(revisions.c.number).where(revisions.c.sha256 == sha256),
        select(batch_items.c.number).where(batch_items.c.output_sha256 == sha256),
        select(batch_items.c.number).select_from(batch_items.join(batches, batches.c.id == batch_items.c.batch_id))
        .where(batch_items.c.input_sha256 == sha256, batches.c.inputs_purged_at.is_(None)),
    )
    return any(conn.execute(query.limit(1)).first() is not None for query in queries)


def collect_blobs(database: Database, store: DocumentStore, candidates: Iterable[str]) -> list[str]:
    """Remove from the store each of ``candidates`` that no row names any more; the digests removed.

    Content-addressed: a blob shared with another document or batch item stays.
    Called after the deleting transaction committed, so a blob is never gone
    while a committed row names it. A batch input whose batch purged its inputs
    still names its digest, so it stays too while another row names it.
    """
    removed: list[str] = []
    for sha256 in dict.fromkeys(candidates):
        with database.begin() as conn:
            if blob_referenced(conn, sha256):
                continue
        store.discard(sha256)
        removed.append(sha256)
    return removed
