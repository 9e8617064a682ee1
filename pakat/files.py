"""Files that appear whole or not at all, and a file's SHA-256: one way for every layer.

A reader (another process, a platform polling a folder, the next run after a
crash) must never find half a file under its final name. So a file is written
to a temp file in the destination's own folder (a rename across filesystems
would be a copy), flushed to disk, renamed over the destination with
``os.replace`` (atomic on POSIX), and the folder is flushed so the rename
itself survives a power cut. Any failure removes the temp file and leaves the
destination as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: Private to the owner: what ``tempfile.mkstemp`` gives, and what a signed bid or a job record needs.
PRIVATE = 0o600
#: What ``open()`` gives a new file: everyone may read it unless the user's umask says otherwise.
SHARED = 0o666
#: The umask every Pakat entry point sets (:func:`keep_new_files_private`): group and others get nothing.
PRIVATE_UMASK = 0o077
TEMP_PREFIX = ".pakat-"
TEMP_SUFFIX = ".part"


@dataclass(frozen=True)
class AtomicFile:
    """A temp file being written: its path (to read back before it appears) and its open binary file."""

    path: Path
    file: BinaryIO


@contextlib.contextmanager
def open_atomic(destination: Path, *, mode: int = PRIVATE, durable: bool = True) -> Iterator[AtomicFile]:
    """A temp file beside ``destination``, open for binary writing; a clean exit renames it into place.

    ``mode`` is asked for when the temp file is created and the umask applies,
    as with ``open()``. ``durable=False`` skips both flushes to disk, only for
    an output that is sent and deleted anyway. If the block raises, the temp
    file is removed and ``destination`` is left untouched.
    """
    folder = destination.parent
    temp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"
    # O_EXCL: never write into a file someone else placed under the temp name.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            yield AtomicFile(temp, out)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.replace(temp, destination)
        if durable:
            fsync_dir(folder)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomically(destination: Path, data: bytes, *, mode: int = PRIVATE) -> None:
    """Write ``data`` to ``destination`` durably: readers see the old file or the whole new one."""
    with open_atomic(destination, mode=mode) as target:
        target.file.write(data)


def keep_new_files_private() -> int:
    """Make every file and folder this process (and its children) creates from now on owner-only.

    Called first by each entry point (``pakat``, ``pakat-signer``): the database,
    SQLite's -wal and -shm (SQLite gives them the database's mode), temp files,
    exports and whatever a library creates are then 0600 and folders 0700, with
    no chmod after the fact, which would leave a window and miss files nobody
    thought of. Returns the umask it replaced.
    """
    return os.umask(PRIVATE_UMASK)


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries to disk, so a file created or renamed in it survives a crash."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    """The lowercase hex SHA-256 of the file at ``path``, read in chunks (never whole into memory)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
