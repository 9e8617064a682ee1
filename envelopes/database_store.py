"""Stored PDFs in PostgreSQL, so that every machine of a deployment reads what any of them stored.

Chosen over large objects: chunked rows (``document_blobs`` + ``document_chunks``
of :data:`envelopes.blobs.CHUNK` bytes each) are plain rows, so a blob's row and
its chunks commit in **one transaction** (a reader on any machine sees the
whole blob or nothing), deleting one is a ``DELETE`` that cascades (no orphaned
large object for ``vacuumlo`` to find), ``pg_dump`` takes them with the rest of
the schema under the same permissions, and SQLAlchemy Core reads and writes
them without psycopg's ``lo`` API. Each chunk is one row of at most a mebibyte,
so writing and reading stream: no whole document is ever held in memory.

The store keeps the :class:`~envelopes.blobs.DocumentStore` contract (its
methods, names and errors) and uses a local folder of the same layout as a
**cache**: writers write under its ``.incoming`` as before; :meth:`adopt`
streams the finished file into the database and then keeps it in the cache;
:meth:`path`, for code that needs a file (the signer, the previews), copies a
blob into the cache once, checking its SHA-256 on the way. The database decides
what exists: :meth:`path` answers only for a blob the database holds, so a
blob deleted on one machine is never served from another's cache, whose copy
goes at the next :meth:`prune_cache` (files unused for :data:`CACHE_KEEP_SECONDS`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from envelopes.blobs import CHUNK, SHA256_HEX, DocumentStore
from envelopes.database import Database, document_blobs, document_chunks, utcnow
from pakat import errors
from pakat.errors import AccessError, InputError
from pakat.settings import Settings

#: A cached copy unused for this long is removed by :meth:`DatabaseDocumentStore.prune_cache`.
CACHE_KEEP_SECONDS = 3600
#: How often (at most) a process walks its cache to prune it, on the way through :meth:`path`.
CACHE_PRUNE_EVERY_SECONDS = 600


class DatabaseDocumentStore(DocumentStore):
    """PDFs by SHA-256 in PostgreSQL, shared by every machine; ``cache_root`` is this machine's local copy."""

    in_database = True

    def __init__(self, database: Database, cache_root: Path) -> None:
        if not database.url.startswith("postgresql"):
            raise AccessError(errors.CONFIG_INVALID,
                              "PAKAT_DOCUMENT_STORE=database needs PAKAT_DATABASE_URL on PostgreSQL")
        super().__init__(cache_root)
        self.database = database
        self._pruned_at = time.monotonic()

    # -- writing ------------------------------------------------------------------------------

    def adopt(self, temp_path: Path, sha256: str) -> Path:
        """Stream a finished temp file (from :meth:`incoming`) into the database in one transaction.

        Then the file becomes this machine's cached copy, whose path is returned.
        Content already stored is not sent again; two machines storing the same
        content at once serialise on the blob's primary key, and the second adds nothing.
        """
        if not SHA256_HEX.fullmatch(sha256):
            raise ValueError("not a lowercase hex SHA-256")
        size = temp_path.stat().st_size
        if not self._stored(sha256):
            with self.database.begin() as conn, temp_path.open("rb") as source:
                inserted = conn.execute(
                    pg_insert(document_blobs)
                    .values(sha256=sha256, size=size, chunks=-(-size // CHUNK), created_at=utcnow())
                    .on_conflict_do_nothing()
                    .returning(document_blobs.c.sha256)
                ).first()
                if inserted is not None:
                    seq = 0
                    while chunk := source.read(CHUNK):
                        conn.execute(document_chunks.insert().values(sha256=sha256, seq=seq, data=chunk))
                        seq += 1
        return super().adopt(temp_path, sha256)

    def discard(self, sha256: str) -> None:
        """Remove a blob from the database (every machine) and from this machine's cache."""
        self._checked(sha256)
        with self.database.begin() as conn:
            conn.execute(document_blobs.delete().where(document_blobs.c.sha256 == sha256))
        super().discard(sha256)

    # -- reading ------------------------------------------------------------------------------

    def has(self, sha256: str) -> bool:
        return SHA256_HEX.fullmatch(sha256) is not None and self._stored(sha256)

    def size(self, sha256: str) -> int:
        self._checked(sha256)
        with self.database.begin() as conn:
            size = conn.execute(select(document_blobs.c.size).where(document_blobs.c.sha256 == sha256)).scalar()
        if size is None:
            raise InputError(errors.DOCUMENT_NOT_FOUND, f"no stored file with SHA-256 {sha256}")
        return int(size)

    def open(self, sha256: str) -> BinaryIO:
        """The blob as a stream read chunk by chunk from the database; DOCUMENT_NOT_FOUND if absent."""
        size = self.size(sha256)
        return io.BufferedReader(_ChunkReader(self.database, sha256, size), buffer_size=CHUNK)

    def path(self, sha256: str) -> Path:
        """A local file with the blob's bytes (this machine's cached copy, made now if needed)."""
        size = self.size(sha256)
        self._maybe_prune()
        cached = self._final(sha256)
        with contextlib.suppress(FileNotFoundError):
            os.utime(cached)  # in use: the pruner keeps it
            return cached
        temp = self.incoming()
        try:
            digest = hashlib.sha256()
            with self.open(sha256) as source, open(temp, "xb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256 or temp.stat().st_size != size:
                # Never a wrong file under a blob's name: the stored rows do not hash to their key.
                raise OSError(f"stored document {sha256} does not match its SHA-256")
            return super().adopt(temp, sha256)
        finally:
            temp.unlink(missing_ok=True)

    # -- the local cache ----------------------------------------------------------------------

    def prune_cache(self, older_than_seconds: float = CACHE_KEEP_SECONDS) -> int:
        """Remove cached copies unused for this long (the database keeps them); returns how many."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for shard in self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]"):
            for entry in os.scandir(shard):
                with contextlib.suppress(FileNotFoundError):
                    unused = entry.stat(follow_symlinks=False).st_mtime < cutoff
                    if entry.is_file(follow_symlinks=False) and unused:
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def _maybe_prune(self) -> None:
        if time.monotonic() - self._pruned_at >= CACHE_PRUNE_EVERY_SECONDS:
            self._pruned_at = time.monotonic()
            self.prune_cache()

    def _stored(self, sha256: str) -> bool:
        with self.database.begin() as conn:
            found = conn.execute(select(document_blobs.c.sha256).where(document_blobs.c.sha256 == sha256)).first()
        return found is not None


class _ChunkReader(io.RawIOBase):
    """A stored blob's bytes, one chunk row at a time (one short query each: no transaction held open)."""

    def __init__(self, database: Database, sha256: str, size: int) -> None:
        self.database = database
        self.sha256 = sha256
        self.left = size
        self.seq = 0
        self.chunk = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self.chunk:
            if self.left <= 0:
                return 0
            with self.database.begin() as conn:
                data = conn.execute(select(document_chunks.c.data).where(
                    document_chunks.c.sha256 == self.sha256, document_chunks.c.seq == self.seq)).scalar()
            if not data:
                # Deleted while being read: a cut stream is an error, never a short document.
                raise OSError(f"stored document {self.sha256} was removed while being read")
            self.chunk = memoryview(bytes(data))
            self.seq += 1
        n = min(len(buffer), len(self.chunk))
        buffer[:n] = self.chunk[:n]
        self.chunk = self.chunk[n:]
        self.left -= n
        return n


def document_store(settings: Settings, database: Database) -> DocumentStore:
    """The store ``settings`` name: the local folder, or PostgreSQL with the folder as this machine's cache."""
    if settings.document_store == "database":
        return DatabaseDocumentStore(database, settings.document_root)
    return DocumentStore(settings.document_root)
