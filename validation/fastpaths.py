"""A faster equivalent of one pyHanko parsing routine that dominates validation time.

pyHanko reads a hex string (every signature's /Contents: tens of kilobytes)
one character at a time through a Python generator; on a small signed PDF that
is about half of the whole validation. :func:`read_hex_string_from_stream`
does the same job in a few bulk operations with the same results and errors.
Installed once by :func:`install`; nothing else in pyHanko is touched.
"""

from __future__ import annotations

import binascii
import io
from typing import BinaryIO

from pyhanko.pdf_utils import generic, misc

_HEX_DIGITS = b"0123456789abcdefABCDEF"
_CHUNK = 64 * 1024
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


def install() -> None:
    """Route pyHanko's object reader through the bulk hex-string reader (idempotent)."""
    global _installed
    if not _installed:
        generic.read_hex_string_from_stream = read_hex_string_from_stream
        _installed = True
