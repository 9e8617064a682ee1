"""The files of a batch, read safely from an uploaded zip or from several uploaded PDFs.

An uploaded zip is hostile until proven otherwise. Before a single byte is
inflated, every member's name and declared sizes are checked: no absolute
path, no ``..``, no drive letter or backslash, no symlink, no encryption, no
duplicate, nothing but ``.pdf`` files (folders and macOS ``__MACOSX``
leftovers aside), and limits on count, size and compression ratio; the
entries are counted from the zip's end record before its central directory
is even parsed. While inflating, the bytes actually produced are counted
against one budget for the whole archive (:class:`InflateBudget`): at most
``max_expansion`` times the archive's own size (with a floor for small
archives) and never more than ``max_total_bytes``. The declared sizes are
never trusted for this: hundreds of small, highly compressible members each
pass a per-member check, but not the shared budget, and inflating stops at
the first byte past it. Only then is anything written, into the store's
incoming folder, where the caller adopts the files or discards them all.
"""

from __future__ import annotations

import hashlib
import stat
import struct
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
# What a whole archive may inflate to per byte of itself: real PDFs deflate by 1:1 to 1:5 (their streams are
# compressed already); a text-only PDF by 1:20 at most. A 336 KB zip of zeros made 301 MB (1:900).
DEFAULT_MAX_EXPANSION = 50
# A small archive may inflate to this much whatever its ratio: a few tiny generated PDFs deflate far better
# than real ones, and 32 MiB is harmless.
DEFAULT_INFLATE_FLOOR = 32 * 1024 * 1024
# Entries of any kind (folders and __MACOSX included), counted before the central directory is parsed:
# zipfile holds one ZipInfo per entry in memory, so a directory of millions would cost gigabytes.
DEFAULT_MAX_ENTRIES = 2 * DEFAULT_MAX_ITEMS
# A central directory entry is 46 bytes plus its name (at most 500 here) and extra fields.
MAX_DIRECTORY_BYTES_PER_ENTRY = 1024
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
PDF_MAGIC = b"%PDF-"
# The PDF header may follow some junk; readers look this far (ISO 32000-2, 7.5.2 is stricter).
MAGIC_WINDOW = 1024


@dataclass(frozen=True)
class BatchLimits:
    """How much one batch may hold."""

    max_items: int = DEFAULT_MAX_ITEMS
    max_item_bytes: int = 150 * 1024 * 1024
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_expansion: int = DEFAULT_MAX_EXPANSION
    inflate_floor: int = DEFAULT_INFLATE_FLOOR
    max_entries: int = DEFAULT_MAX_ENTRIES

    def inflate_allowance(self, archive_bytes: int) -> int:
        """How many bytes, in all, an archive of ``archive_bytes`` may inflate to."""
        return min(self.max_total_bytes, max(self.inflate_floor, self.max_expansion * archive_bytes))


class InflateBudget:
    """Bytes written so far for one request, against what it may write in all; the first byte past refuses."""

    def __init__(self, allowance: int, what: str) -> None:
        self.allowance = allowance
        self.used = 0
        self.what = what

    def spend(self, count: int) -> None:
        self.used += count
        if self.used > self.allowance:
            raise InputError(errors.ARCHIVE_TOO_LARGE, f"{self.what} past {self.allowance} bytes in all")


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
        archive_bytes = archive.stat().st_size
        _check_entry_count(archive, archive_bytes, limits)
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, struct.error) as exc:
        raise InputError(errors.ARCHIVE_INVALID, str(exc)[:200]) from None
    budget = InflateBudget(limits.inflate_allowance(archive_bytes), f"a zip of {archive_bytes} bytes inflates")
    with zf:
        members = _checked_members(zf.infolist(), limits)
        inputs: list[BatchInput] = []
        try:
            for info, name in members:
                with zf.open(info) as source:
                    inputs.append(_copy_in(source, name, store, limits, budget, declared=info.file_size))
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
        budget = InflateBudget(limits.max_total_bytes, "the files hold")
        for name, path in named:
            with path.open("rb") as source:
                inputs.append(_copy_in(source, name, store, limits, budget, declared=None))
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


def _check_entry_count(archive: Path, archive_bytes: int, limits: BatchLimits) -> None:
    """Refuse a zip whose end record announces more entries (or a larger directory) than allowed.

    Read from the end record (and its ZIP64 form) before :class:`zipfile.ZipFile`
    parses the directory; an end record that cannot be found is left for
    ``zipfile`` to refuse as ARCHIVE_INVALID.
    """
    with archive.open("rb") as f:
        tail_size = min(archive_bytes, 22 + 65535)  # the end record, then a comment of at most 64 KiB
        f.seek(archive_bytes - tail_size)
        tail = f.read(tail_size)
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) < at + 22:
            return
        entries, directory_bytes = struct.unpack_from("<HI", tail, at + 10)
        if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:
            locator = tail.find(_EOCD64_LOCATOR, max(0, at - 20), at)
            if locator >= 0:
                (offset,) = struct.unpack_from("<Q", tail, locator + 8)
                f.seek(offset)
                record = f.read(56)
                if len(record) == 56 and record.startswith(_EOCD64):
                    entries, directory_bytes = struct.unpack_from("<QQ", record, 32)
    if entries > limits.max_entries or directory_bytes > limits.max_entries * MAX_DIRECTORY_BYTES_PER_ENTRY:
        raise InputError(errors.ARCHIVE_TOO_LARGE, f"{entries} entries, at most {limits.max_entries}")


def _checked_members(infos: list[zipfile.ZipInfo], limits: BatchLimits) -> list[tuple[zipfile.ZipInfo, str]]:
    members: list[tuple[zipfile.ZipInfo, str]] = []
    declared_total = 0
    if len(infos) > limits.max_entries:  # the end record may understate what the directory holds
        raise InputError(errors.ARCHIVE_TOO_LARGE, f"{len(infos)} entries, at most {limits.max_entries}")
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
    source: IO[bytes], name: str, store: DocumentStore, limits: BatchLimits, budget: InflateBudget, *,
    declared: int | None,
) -> BatchInput:
    """Copy one member into a temp file of the store, counting and hashing; refuse a non-PDF.

    Every chunk is charged to ``budget`` before it is written, so what a refused
    archive wrote is bounded by the budget, whatever its headers said.
    """
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
                budget.spend(len(chunk))
                digest.update(chunk)
                out.write(chunk)
                chunk = source.read(CHUNK)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return BatchInput(name, temp, digest.hexdigest(), size)
