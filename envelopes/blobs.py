"""Stored PDFs, content-addressed by SHA-256: ``root/ab/cd/<sha256>.pdf``.

A file is written under ``root/.incoming`` first (the same filesystem, so
finishing it is a rename, never a copy), flushed to disk, then renamed to its
final name. Nothing half-written is ever visible under a final name; a crash
leaves only files in ``.incoming``, which :meth:`DocumentStore.sweep_incoming`
removes. Blobs are immutable: a second copy of the same content is dropped.
Not :func:`pakat.files.open_atomic`, whose temp file sits beside a name known
in advance: here the name is the content's digest, known only once the bytes
are written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import time
from pathlib import Path
from typing import BinaryIO

from pakat import errors
from pakat.errors import InputError
from pakat.files import fsync_dir

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
INCOMING = ".incoming"
CHUNK = 1 << 20


class DocumentStore:
    """PDFs on disk by SHA-256 under one owner-only root folder; safe for several processes at once."""

    #: Whether the documents live in the database itself (its dump holds them: backups copy no files).
    in_database: bool = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming_dir = root / INCOMING
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.incoming_dir.mkdir(mode=0o700, exist_ok=True)

    def incoming(self) -> Path:
        """A fresh temp name in ``root/.incoming`` for a document about to be written.

        The file is not created: the writer creates it (``open(path, "xb")``),
        hashes what it writes, then calls :meth:`adopt`, or removes it on failure.
        """
        return self.incoming_dir / f"{secrets.token_hex(16)}.part"

    def adopt(self, temp_path: Path, sha256: str) -> Path:
        """Move a finished temp file (from :meth:`incoming`) to its final name, and return that name.

        ``sha256`` is trusted: the caller hashed the bytes as it wrote them. The
        file is flushed to disk before the rename; if the blob is already
        stored, the temp file is simply removed.
        """
        if not SHA256_HEX.fullmatch(sha256):
            raise ValueError("not a lowercase hex SHA-256")
        final = self._final(sha256)
        if final.exists():
            temp_path.unlink(missing_ok=True)
            return final
        fd = os.open(temp_path, os.O_RDONLY)
        try:
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._make_dirs(final.parent)
        # Atomic on one filesystem: readers see no file, or the whole file. Two
        # processes adopting the same content race harmlessly: the bytes are equal.
        os.replace(temp_path, final)
        fsync_dir(final.parent)
        return final

    def discard(self, sha256: str) -> None:
        """Remove a blob; nothing happens if it is absent. Content is shared: only for a blob nothing names.

        A signed revision holds a fresh signature, so no other revision can
        share its digest: removing one whose recording failed cannot take
        anyone else's file.
        """
        self._checked(sha256).unlink(missing_ok=True)

    def put_stream(self, source: BinaryIO) -> tuple[str, int]:
        """Store everything ``source`` reads; returns (SHA-256, size). A failing read stores nothing."""
        temp = self.incoming()
        digest, size = hashlib.sha256(), 0
        try:
            with open(temp, "xb") as out:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            sha256 = digest.hexdigest()
            self.adopt(temp, sha256)
        finally:
            temp.unlink(missing_ok=True)  # gone already once adopted
        return sha256, size

    def put_file(self, path: Path) -> tuple[str, int]:
        """Copy a file into the store while hashing it; returns (SHA-256, size)."""
        with path.open("rb") as source:
            return self.put_stream(source)

    def has(self, sha256: str) -> bool:
        """Whether this content is stored (False for anything that is not a SHA-256)."""
        return SHA256_HEX.fullmatch(sha256) is not None and self._final(sha256).is_file()

    def size(self, sha256: str) -> int:
        """The stored blob's size in bytes; :data:`errors.DOCUMENT_NOT_FOUND` if absent or not a SHA-256."""
        try:
            return self._checked(sha256).stat().st_size
        except FileNotFoundError:
            raise InputError(errors.DOCUMENT_NOT_FOUND, f"no stored file with SHA-256 {sha256}") from None

    def path(self, sha256: str) -> Path:
        """The stored file's path; :data:`errors.DOCUMENT_NOT_FOUND` if absent or not a SHA-256."""
        final = self._checked(sha256)
        if not final.is_file():
            raise InputError(errors.DOCUMENT_NOT_FOUND, f"no stored file with SHA-256 {sha256}")
        return final

    def open(self, sha256: str) -> BinaryIO:
        """The stored file, open for reading; :data:`errors.DOCUMENT_NOT_FOUND` if absent."""
        final = self._checked(sha256)
        try:
            return final.open("rb")
        except FileNotFoundError:
            raise InputError(errors.DOCUMENT_NOT_FOUND, f"no stored file with SHA-256 {sha256}") from None

    def sweep_incoming(self, older_than_seconds: float) -> int:
        """Remove temp files a crash left in ``.incoming``, if older than this; returns how many."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in os.scandir(self.incoming_dir):
            # Younger files may still be being written by another process.
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
        return removed

    def _checked(self, sha256: str) -> Path:
        # Only 64 lowercase hex digits make a name: no "..", no "/", no other spelling of one blob.
        if not SHA256_HEX.fullmatch(sha256):
            raise InputError(errors.DOCUMENT_NOT_FOUND, "not a SHA-256 (64 lowercase hex digits)")
        return self._final(sha256)

    def _final(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.pdf"

    def _make_dirs(self, folder: Path) -> None:
        """Create the shard folders (0700), making each new entry durable in its parent."""
        missing: list[Path] = []
        for candidate in (folder, folder.parent):
            if not candidate.is_dir():
                missing.append(candidate)
        for candidate in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another process made it meanwhile
                candidate.mkdir(mode=0o700)
            fsync_dir(candidate.parent)
