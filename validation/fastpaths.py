"""Two pyHanko parsing routines, made fit for validating many and large files.

* Hex strings: pyHanko reads one (every signature's /Contents: tens of
  kilobytes) a character at a time through a Python generator; on a small
  signed PDF that is about half of the whole validation.
  :func:`read_hex_string_from_stream` does the same job in a few bulk
  operations with the same results and errors.
* Stream payloads: pyHanko reads every stream's bytes when it parses the
  stream object, and its difference analysis parses every reachable object,
  so a 50 MB image was held in memory only to be compared by reference. For a
  real file, payloads of a megabyte or more become read-only views of a
  memory-mapped copy of the file (:func:`maybe_read_stream_payload`): pages are
  read only if someone looks at the bytes. Anything unusual falls back to
  pyHanko's own reader.

Installed once by :func:`install`; nothing else in pyHanko is touched.
"""

from __future__ import annotations

import binascii
import contextlib
import io
import mmap
from collections.abc import Iterator
from typing import Any, BinaryIO

from pyhanko.pdf_utils import generic, misc

_HEX_DIGITS = b"0123456789abcdefABCDEF"
_CHUNK = 64 * 1024
_LAZY_PAYLOAD = 1024 * 1024
_pyhanko_read_hex = generic.read_hex_string_from_stream
_pyhanko_read_payload = generic._maybe_read_stream_payload
_installed = False


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
        _installed = True


@contextlib.contextmanager
def pyhanko_as_shipped() -> Iterator[None]:
    """pyHanko's own readers for the duration, ours back afterwards (benchmarks compare against stock)."""
    ours = generic.read_hex_string_from_stream, generic._maybe_read_stream_payload
    generic.read_hex_string_from_stream, generic._maybe_read_stream_payload = (
        _pyhanko_read_hex,
        _pyhanko_read_payload,
    )
    try:
        yield
    finally:
        generic.read_hex_string_from_stream, generic._maybe_read_stream_payload = ours
