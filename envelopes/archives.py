"""The files of a batch, read safely from an uploaded zip or from several uploaded PDFs.

An uploaded zip is hostile until proven otherwise. Before a single byte is
inflated, every member's name and declared sizes are checked: no absolute
path, no ``..``, no drive letter or backslash, no symlink, no encryption, no
duplicate, nothing but ``.pdf`` files (folders and macOS ``__MACOSX``
leftovers aside), and limits on count, size and compression ratio. While
inflating, the bytes actually produced are counted too, because a zip's
headers can lie. Only then is anything written, into the store's incoming
folder, where the caller adopts the files or discards them all.
"""

from __future__ import annotations

import hashlib
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from envelopes.blobs import CHUNK, DocumentStore
from pakat import errors
from pakat.errors import InputError

# A deflated PDF rarely shrinks past 1:20; 1:100 is generous and still stops bombs early.
MAX_COMPRESSION_RATIO = 100
DEFAULT_MAX_ITEMS = 5000
DEFAULT_MAX_TOTAL_BYTES = 2 * 1024**3
PDF_MAGIC = b"%PDF-"
# The PDF header may follow some junk; readers look this far (ISO 32000-2, 7.5.2 is stricter).
MAGIC_WINDOW = 1024


@dataclass(frozen=True)
class BatchLimits:
    """How much one batch may hold."""

    max_items: int = DEFAULT_MAX_ITEMS
    max_item_bytes: int = 150 * 1024 * 1024
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES


@dataclass(frozen=True)
class BatchInput:
    """One input file, hashed and written to the store's incoming folder (not yet adopted)."""

    name: str
    temp_path: Path
    sha256: str
    size: int


def read_zip(archive: Path, store: DocumentStore, limits: BatchLimits) -> list[BatchInput]:
    """The PDFs inside ``archive``, each in a temp file of ``store``; all or nothing."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(errors.ARCHIVE_INVALID, str(exc)[:200]) from None
    with zf:
        members = _checked_members(zf.infolist(), limits)
        inputs: list[BatchInput] = []
        try:
            for info, name in members:
                with zf.open(info) as source:
                    inputs.append(_copy_in(source, name, store, limits, declared=info.file_size))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            discard(inputs)
            raise InputError(errors.ARCHIVE_INVALID, str(exc)[:200]) from None
        except BaseException:
            discard(inputs)
            raise
    return inputs


def read_files(files: Iterable[tuple[str, Path]], store: DocumentStore, limits: BatchLimits) -> list[BatchInput]:
    """Several uploaded PDFs (name as given by the client, path of the upload); all or nothing."""
    inputs: list[BatchInput] = []
    try:
        named = [(safe_name(name), path) for name, path in files]
        _check_names([n for n, _ in named], limits)
        total = 0
        for name, path in named:
            with path.open("rb") as source:
                item = _copy_in(source, name, store, limits, declared=None)
            inputs.append(item)
            total += item.size
            if total > limits.max_total_bytes:
                raise InputError(errors.ARCHIVE_TOO_LARGE, f"more than {limits.max_total_bytes} bytes in all")
    except BaseException:
        discard(inputs)
        raise
    return inputs


def discard(inputs: Iterable[BatchInput]) -> None:
    """Remove the temp files of inputs that will not be adopted."""
    for item in inputs:
        item.temp_path.unlink(missing_ok=True)


def safe_name(raw: str) -> str:
    """A member or file name as a relative POSIX path, or ARCHIVE_UNSAFE_PATH."""
    if not raw or "\x00" in raw or "\\" in raw or len(raw) > 500:
        raise InputError(errors.ARCHIVE_UNSAFE_PATH, repr(raw[:100]))
    # Judge the name as written: PurePosixPath would quietly drop "." and "//" before we saw them.
    parts = raw.split("/")
    if any(p in ("..", ".", "") for p in parts) or ":" in parts[0] or any(ord(c) < 32 for c in raw):
        raise InputError(errors.ARCHIVE_UNSAFE_PATH, repr(raw[:100]))
    return PurePosixPath(raw).as_posix()


def _checked_members(infos: list[zipfile.ZipInfo], limits: BatchLimits) -> list[tuple[zipfile.ZipInfo, str]]:
    members: list[tuple[zipfile.ZipInfo, str]] = []
    declared_total = 0
    for info in infos:
        if info.filename.startswith("__MACOSX/") or info.is_dir():
            continue
        name = safe_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise InputError(errors.ARCHIVE_UNSAFE_PATH, f"{name} is a symbolic link")
        if info.flag_bits & 0x1:
            raise InputError(errors.ARCHIVE_INVALID, f"{name} is encrypted")
        if not name.lower().endswith(".pdf"):
            raise InputError(errors.ARCHIVE_MEMBER_NOT_PDF, name)
        if info.file_size > limits.max_item_bytes:
            raise InputError(errors.ARCHIVE_TOO_LARGE, f"{name}: {info.file_size} bytes")
        if info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1) and info.file_size > 1 << 20:
            ratio = info.file_size // max(info.compress_size, 1)
            raise InputError(errors.ARCHIVE_TOO_LARGE, f"{name} inflates {ratio}×")
        declared_total += info.file_size
        if declared_total > limits.max_total_bytes:
            raise InputError(errors.ARCHIVE_TOO_LARGE, f"more than {limits.max_total_bytes} bytes in all")
        members.append((info, name))
    _check_names([n for _, n in members], limits)
    return members


def _check_names(names: list[str], limits: BatchLimits) -> None:
    if not names:
        raise InputError(errors.BATCH_EMPTY)
    if len(names) > limits.max_items:
        raise InputError(errors.ARCHIVE_TOO_LARGE, f"{len(names)} files, at most {limits.max_items}")
    seen: set[str] = set()
    for name in names:
        # Two members that only differ in case would overwrite each other on some file systems.
        folded = name.casefold()
        if folded in seen:
            raise InputError(errors.ARCHIVE_UNSAFE_PATH, f"{name} appears twice")
        seen.add(folded)


def _copy_in(
    source: IO[bytes], name: str, store: DocumentStore, limits: BatchLimits, *, declared: int | None
) -> BatchInput:
    """Copy one member into a temp file of the store, counting and hashing; refuse a non-PDF."""
    cap = limits.max_item_bytes if declared is None else min(declared, limits.max_item_bytes)
    temp = store.incoming()
    digest, size = hashlib.sha256(), 0
    try:
        with open(temp, "xb") as out:
            head = source.read(MAGIC_WINDOW)
            if PDF_MAGIC not in head:
                raise InputError(errors.ARCHIVE_MEMBER_NOT_PDF, name)
            chunk = head
            while chunk:
                size += len(chunk)
                if size > cap:
                    # More bytes than the header declared (or than any PDF may have): a lying archive.
                    raise InputError(errors.ARCHIVE_TOO_LARGE, f"{name} inflates past {cap} bytes")
                digest.update(chunk)
                out.write(chunk)
                chunk = source.read(CHUNK)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return BatchInput(name, temp, digest.hexdigest(), size)
