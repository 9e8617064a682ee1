"""The one way Pakat reads a PDF with pyHanko: the validator, and the signer's check of its own output.

:func:`open_reader` opens a document as every part of Pakat that judges a PDF
must see it: pyHanko's reader, non-strict (as viewers are), a document that
opens with an empty user password decrypted (as any viewer opens it), the
catalog resolved, and every failure turned into a stable code.

Four pyHanko parsing routines are made fit for validating many and large files:

* Hex strings: pyHanko reads one (every signature's /Contents: tens of
  kilobytes) a character at a time through a Python generator; on a small
  signed PDF that is about half of the whole validation.
  :func:`read_hex_string_from_stream` does the same job in a few bulk
  operations with the same results and errors.
* Names and keywords: pyHanko reads them a byte at a time too and decodes
  every name through its escape loop; :func:`read_until_delimiter` and
  :func:`decode_name` take the common case (no escapes) in one step.
* Stream payloads: pyHanko reads every stream's bytes when it parses the
  stream object, and its difference analysis parses every reachable object,
  so a 50 MB image was held in memory only to be compared by reference. For a
  real file, payloads of a megabyte or more become read-only views of a
  memory-mapped copy of the file (:func:`maybe_read_stream_payload`): pages are
  read only if someone looks at the bytes. Anything unusual falls back to
  pyHanko's own reader.

Installed once, when this module is imported; nothing else in pyHanko is touched.
"""

from __future__ import annotations

import binascii
import contextlib
import io
import mmap
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.reader import PdfFileReader

from pakat import errors
from pakat.errors import InputError

_HEX_DIGITS = b"0123456789abcdefABCDEF"
_CHUNK = 64 * 1024
_LAZY_PAYLOAD = 1024 * 1024
_pyhanko_read_hex = generic.read_hex_string_from_stream
_pyhanko_read_payload = generic._maybe_read_stream_payload
_pyhanko_read_until_delimiter = generic.read_until_delimiter
_pyhanko_decode_name = generic._decode_name
_installed = False
# A token ends at PDF whitespace or a delimiter (ISO 32000-2, 7.2.3).
_TOKEN_END = re.compile(b"[" + re.escape(misc.PDF_WHITESPACE + misc.PDF_DELIMITERS) + b"]")
_PEEK = 128
# A name written without escapes: regular printable characters only.
_PLAIN_NAME = re.compile(rb"[^\x00-\x20\x7f-\xff()<>\[\]{}/%#]*")


def read_hex_string_from_stream(stream: BinaryIO) -> generic.ByteStringObject | generic.TextStringObject:
    """Read ``<hex>`` at the stream's position into a PDF string object, as pyHanko does."""
    stream.read(1)  # the opening "<"
    parts: list[bytes] = []
    while True:
        block = stream.read(_CHUNK)
        if not block:
            raise misc.PdfStreamError("Stream ended prematurely")
        end = block.find(b">")
        if end >= 0:
            parts.append(block[:end])
            stream.seek(end + 1 - len(block), io.SEEK_CUR)
            break
        parts.append(block)
    digits = b"".join(parts).translate(None, misc.PDF_WHITESPACE)
    stray = digits.translate(None, _HEX_DIGITS)
    if stray:
        raise misc.PdfStreamError("Unexpected token in hex string: " + repr(stray[:1]))
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def read_until_delimiter(stream: BinaryIO) -> bytes:
    """The bytes up to the next whitespace or delimiter, the stream left there: pyHanko's, in one read.

    pyHanko reads a byte at a time through a generator; names and keywords are
    most of what a signature's objects are made of.
    """
    start = stream.tell()
    chunk = stream.read(_PEEK)
    found = _TOKEN_END.search(chunk)
    if found is not None:
        stream.seek(start + found.start())
        return chunk[: found.start()]
    if len(chunk) < _PEEK:  # the stream ended first: pyHanko leaves it at the end too
        return chunk
    stream.seek(start)
    result: bytes = _pyhanko_read_until_delimiter(stream)
    return result


def decode_name(name_bytes: bytes) -> generic.NameObject:
    """A name without #-escapes decoded directly; anything else by pyHanko, with its checks and errors."""
    if _PLAIN_NAME.fullmatch(name_bytes):
        return generic.NameObject("/" + name_bytes.decode("ascii"))
    result: generic.NameObject = _pyhanko_decode_name(name_bytes)
    return result


def maybe_read_stream_payload(stream: BinaryIO, data: Any, handler: Any) -> bytes | memoryview | None:
    """The stream payload after a dictionary, as pyHanko's reader returns it, mapped lazily when large."""
    pos = stream.tell()
    if misc.read_non_whitespace(stream, allow_eof=True) != b"s" or stream.read(5) != b"tream":
        stream.seek(pos)
        return None
    misc.skip_over_whitespace(stream, stop_after_eol=True)
    start = stream.tell()
    length = data.get(generic.pdf_name("/Length"))
    view = None
    if isinstance(length, int) and not isinstance(length, bool) and length >= _LAZY_PAYLOAD:
        view = _file_view(stream, start, length)
    if view is not None:
        stream.seek(start + length)
        if misc.read_non_whitespace(stream) + stream.read(8) == b"endstream":
            return view
    # Small, indirect /Length, not a real file, or an odd ending: pyHanko's own path.
    stream.seek(pos)
    return _pyhanko_read_payload(stream, data, handler)


def _file_view(stream: BinaryIO, start: int, length: int) -> memoryview | None:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    try:
        # A map per large stream, released with the last view of it: nothing outlives the validation.
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    if start + length > len(mapped):
        return None
    # The map lives as long as views of it do; the file descriptor may close earlier.
    return memoryview(mapped)[start : start + length]


def install() -> None:
    """Route pyHanko's object reader through the bulk hex-string and lazy payload readers (idempotent)."""
    global _installed
    if not _installed:
        generic.read_hex_string_from_stream = read_hex_string_from_stream
        generic._maybe_read_stream_payload = maybe_read_stream_payload
        generic.read_until_delimiter = read_until_delimiter
        generic._decode_name = decode_name
        _installed = True


@contextlib.contextmanager
def pyhanko_as_shipped() -> Iterator[None]:
    """pyHanko's own readers for the duration, ours back afterwards (benchmarks compare against stock)."""
    names = ("read_hex_string_from_stream", "_maybe_read_stream_payload", "read_until_delimiter", "_decode_name")
    ours = [getattr(generic, name) for name in names]
    shipped = (_pyhanko_read_hex, _pyhanko_read_payload, _pyhanko_read_until_delimiter, _pyhanko_decode_name)
    for name, original in zip(names, shipped, strict=True):
        setattr(generic, name, original)
    try:
        yield
    finally:
        for name, mine in zip(names, ours, strict=True):
            setattr(generic, name, mine)


class _Reader(PdfFileReader):
    """pyHanko's reader, taking ``/Encrypt null`` as what ISO 32000 says a null value is: no entry."""

    @property
    def encrypt_dict(self) -> generic.DictionaryObject | None:
        try:
            value = self.trailer.raw_get("/Encrypt")
        except KeyError:
            return None
        if isinstance(value, generic.IndirectObject):
            value = self.get_object(value.reference, never_decrypt=True)
        if isinstance(value, generic.NullObject):
            return None
        return super().encrypt_dict


def open_reader(stream: BinaryIO) -> PdfFileReader:
    """A pyHanko reader over ``stream``, as Pakat judges documents; PDF_UNPARSEABLE or PDF_ENCRYPTED otherwise."""
    try:
        reader = _Reader(stream, strict=False)
        # A document that opens without a password (an owner-password PDF) is read as any viewer reads it.
        if reader.encrypted and reader.decrypt(b"").status is AuthStatus.FAILED:
            raise InputError(errors.PDF_ENCRYPTED)
        _ = reader.root  # the catalog must resolve
    except InputError:
        raise
    except RecursionError:
        raise InputError(errors.PDF_UNPARSEABLE, "objects nest too deeply or refer to themselves") from None
    except Exception as exc:  # a damaged file can fail anywhere in pyHanko's reader
        raise InputError(errors.PDF_UNPARSEABLE, f"{type(exc).__name__}: {exc}"[:200]) from None
    return reader


class RevisionView:
    """A document as one of its revisions left it: objects by reference, and that revision's trailer.

    Views of one reader can share a cache keyed by where each object is
    written: a version of an object seen from several revisions is parsed once
    (pyHanko never caches historical reads). A reference the revision does not
    hold reads as null, without pyHanko's warning in the log.
    """

    def __init__(self, reader: PdfFileReader, revision: int, cache: dict[Any, Any] | None = None) -> None:
        self.reader = reader
        self.revision = revision
        self.cache = cache if cache is not None else {}
        self.trailer = reader.trailer.flatten(revision)

    @property
    def root_ref(self) -> generic.Reference | None:
        root = self.trailer.raw_get("/Root") if "/Root" in self.trailer else None
        return root.reference if isinstance(root, generic.IndirectObject) else None

    def version(self, ref: generic.Reference) -> object:
        """Where the version of ``ref`` this revision sees is written (None: not there)."""
        return self.reader.xrefs.get_historical_ref(ref, self.revision)

    def __call__(self, ref: generic.Reference) -> generic.PdfObject:
        where = self.version(ref)
        if where is None:
            return generic.NullObject()
        key = (ref.idnum, ref.generation, where)
        if key not in self.cache:
            self.cache[key] = self.reader.get_object(ref, revision=self.revision)
        obj: generic.PdfObject = self.cache[key]
        return obj

    def resolve(self, value: object) -> object:
        """A value with a reference followed in this revision (anything else as it is)."""
        if isinstance(value, generic.IndirectObject):
            return self(value.reference)
        return value


install()
