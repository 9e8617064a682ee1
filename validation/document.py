"""The file being judged, read once: its bytes, its revisions, and what its revisions do not account for.

Three things a validator must see that a PDF library hides:

* **Damage after the last readable revision.** When the file as a whole
  cannot be read, the longest prefix ending at an end-of-file marker that can
  be read is judged instead, and the rest is named: a reader that repairs
  damaged files (poppler, Acrobat) may show what the unreadable tail holds.
* **Objects no cross-reference section lists.** An update may define objects
  without listing them, or with an empty or broken section, so that a library
  following the cross-reference chain sees the signed document while a
  repairing reader shows the new objects. Every object definition after the
  first signed revision is held against the sections the reader followed.
* **The revisions as files**, for drawing their pages: the signed revision is
  the file's first bytes, up to where its signature's byte range ends.

The file's own SHA-256 and every signature's digest come from one pass over
the bytes (:func:`digest_in_one_pass`).
"""

from __future__ import annotations

import bisect
import io
import itertools
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionType

from pakat import errors
from pakat.errors import InputError
from pakat.pdf_reader import open_reader

_CHUNK = 1024 * 1024
#: How many earlier end-of-file markers are tried when the whole file cannot be read.
MAX_PREFIX_ATTEMPTS = 8
_EOF_MARKER = re.compile(rb"%%EOF[ \t\r\n\x00]*")
_OBJECT_HEADER = re.compile(rb"(?<![0-9])([0-9]{1,10})[ \t\r\n\f\x00]+([0-9]{1,5})[ \t\r\n\f\x00]+obj(?![A-Za-z])")


@dataclass(frozen=True)
class Damage:
    """The file could be read only up to ``readable_end``; what was wrong with the rest."""

    readable_end: int
    size: int
    problem: str


@dataclass(frozen=True)
class LooseObject:
    """An object definition after a signed revision that no cross-reference section followed lists."""

    number: int
    generation: int
    offset: int
    shadows: bool  # the number is one the document uses: a repairing reader would take this definition


@dataclass
class OpenedDocument:
    reader: PdfFileReader
    damage: Damage | None
    _accounted: tuple[set[int], set[int]] | None = field(default=None, repr=False)


def open_document(stream: BinaryIO, size: int) -> OpenedDocument:
    """The reader over ``stream``; for a file that cannot be read whole, over its longest readable prefix.

    Raises the whole file's InputError when no prefix can be read either.
    """
    try:
        return OpenedDocument(open_reader(stream), None)
    except InputError as whole:
        if whole.kind is not errors.PDF_UNPARSEABLE:
            raise
        for end in _earlier_ends(stream, size):
            stream.seek(0)
            prefix = io.BytesIO(stream.read(end))
            try:
                reader = open_reader(prefix)
            except InputError:
                continue
            return OpenedDocument(reader, Damage(end, size, whole.detail or whole.kind.code))
        raise


def _earlier_ends(stream: BinaryIO, size: int) -> Iterator[int]:
    """Ends of the end-of-file markers before the last one, latest first."""
    stream.seek(0)
    data = stream.read()
    ends = [m.end() for m in _EOF_MARKER.finditer(data)]
    stream.seek(0)
    yield from [end for end in reversed(ends) if end < size][:MAX_PREFIX_ATTEMPTS]


def loose_objects(opened: OpenedDocument, stream: BinaryIO, start: int, end: int) -> list[LooseObject]:
    """Object definitions in ``[start, end)`` that no cross-reference section the reader followed lists."""
    if end <= start:
        return []
    offsets, numbers = _accounted(opened)
    listed = sorted(o for o in offsets if start <= o < end)
    stream.seek(start)
    data = stream.read(end - start)
    found = []
    for m in _OBJECT_HEADER.finditer(data):
        offset = start + m.start()
        if offset in offsets:
            continue
        # Inside a listed object (its stream's data, say) when that object has not ended before it.
        before = bisect.bisect_left(listed, offset) - 1
        if before >= 0 and data.find(b"endobj", listed[before] - start, m.start()) < 0:
            continue
        number, generation = int(m.group(1)), int(m.group(2))
        found.append(LooseObject(number, generation, offset, number in numbers))
    return found


def _accounted(opened: OpenedDocument) -> tuple[set[int], set[int]]:
    """Where the listed objects are written, and the object numbers in use, over every revision."""
    if opened._accounted is None:
        xrefs = opened.reader.xrefs
        offsets: set[int] = set()
        numbers: set[int] = set()
        for revision in range(xrefs.total_revisions):
            data = xrefs.get_xref_data(revision)
            sections = [data] + ([data.hybrid.xref_data] if data.hybrid is not None else [])
            for section in sections:
                offsets.update(offset for _, offset in section.standard_xrefs.values())
                numbers.update(section.standard_xrefs)
                numbers.update(section.xrefs_in_objstm)
            meta = xrefs.get_xref_container_info(revision)
            if meta.xref_section_type is XRefSectionType.STREAM:
                offsets.add(meta.start_location)
        opened._accounted = (offsets, numbers)
    return opened._accounted


class RunningDigest(Protocol):
    def update(self, data: bytes) -> None: ...
    def finalize(self) -> bytes: ...
    def copy(self) -> RunningDigest: ...


DigestKey = tuple[str, tuple[tuple[int, int], ...]]


def digest_in_one_pass(
    stream: BinaryIO,
    size: int,
    requests: Sequence[DigestKey],
    new_digest: Callable[[str], RunningDigest],
) -> tuple[str, dict[DigestKey, bytes]]:
    """The file's SHA-256, and for each (digest name, ranges) request the digest of those bytes.

    Ranges are (offset, length), inside the file. ``new_digest(name)`` starts a
    digest (KeyError or ValueError: a name it does not know, left out of the
    answer). One read of the file serves them all, and bytes several requests
    share are hashed once: requests of one algorithm that have covered the same
    bytes so far share one running state, copied only where they part (a
    signature's hole, the end of its revision). A large document's signatures
    and its file digest then cost about one hash of the file, not one each.
    """
    wanted: dict[DigestKey, list[tuple[int, int]]] = {("sha256", ((0, size),)): [(0, size)]}
    for name, ranges in requests:
        wanted.setdefault((name, tuple(ranges)), [(start, start + length) for start, length in ranges])
    by_name: dict[str, list[DigestKey]] = {}
    for key in wanted:
        by_name.setdefault(key[0], []).append(key)
    groups: list[_Group] = []
    for name, keys in by_name.items():
        try:
            groups.append(_Group(new_digest(name), keys))
        except (KeyError, ValueError):
            continue
    bounds = sorted({0, size, *(edge for spans in wanted.values() for span in spans for edge in span)})
    stream.seek(0)
    for lo, hi in itertools.pairwise(bounds):
        covering = [k for k in wanted if any(start <= lo and hi <= end for start, end in wanted[k])]
        groups = [part for group in groups for part in group.split(set(covering))]
        active = [g for g in groups if g.covers]
        position = lo
        stream.seek(lo)
        while position < hi and (chunk := stream.read(min(_CHUNK, hi - position))):
            for group in active:
                group.state.update(chunk)
            position += len(chunk)
    stream.seek(0)
    found = {key: group.state.copy().finalize() for group in groups for key in group.keys}
    return found.pop(("sha256", ((0, size),))).hex(), found


class _Group:
    """Requests of one algorithm that have digested the same bytes so far, and their shared state."""

    def __init__(self, state: RunningDigest, keys: list[DigestKey], covers: bool = False) -> None:
        self.state, self.keys, self.covers = state, keys, covers

    def split(self, covering: set[DigestKey]) -> list[_Group]:
        inside = [k for k in self.keys if k in covering]
        outside = [k for k in self.keys if k not in covering]
        if not inside or not outside:
            self.covers = bool(inside)
            return [self]
        return [_Group(self.state.copy(), inside, True), _Group(self.state, outside, False)]


class RevisionFiles:
    """The signed revisions and the whole document as files poppler can draw, made when first asked for."""

    def __init__(self, stream: BinaryIO, path: Path | None) -> None:
        self._stream = stream
        self._path = path
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._made: dict[int | None, Path] = {}

    def whole(self) -> Path:
        if self._path is not None:
            return self._path
        return self._write(None)

    def prefix(self, end: int) -> Path:
        """The file's first ``end`` bytes: a signed revision as it was signed."""
        return self._write(end)

    def _write(self, end: int | None) -> Path:
        made = self._made.get(end)
        if made is not None:
            return made
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="pakat-revisions-")
        target = Path(self._folder.name) / ("whole.pdf" if end is None else f"upto-{end}.pdf")
        self._stream.seek(0)
        with open(target, "wb") as out:
            if end is None:
                shutil.copyfileobj(self._stream, out, _CHUNK)
            else:
                remaining = end
                while remaining > 0 and (chunk := self._stream.read(min(_CHUNK, remaining))):
                    out.write(chunk)
                    remaining -= len(chunk)
        self._stream.seek(0)
        self._made[end] = target
        return target

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
