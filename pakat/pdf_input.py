"""The first look at any PDF a user hands us, shared by sealing and validation.

Size limit, PDF header and end-of-file marker are checked on the raw bytes
before any parser sees the file, so the cheapest refusals come first and carry
the same stable codes whichever command was asked.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from pakat import errors
from pakat.errors import InputError

HEAD_BYTES = 1024  # the header may follow some garbage, as readers tolerate
TAIL_BYTES = 4096  # where %%EOF (and startxref) must appear


def check_envelope(stream: BinaryIO, max_bytes: int) -> int:
    """The file's size, once it is known to be within ``max_bytes`` and to look like a whole PDF.

    Raises :class:`InputError` PDF_TOO_LARGE, NOT_A_PDF or PDF_TRUNCATED; leaves the stream at 0.
    """
    size = stream.seek(0, io.SEEK_END)
    if size > max_bytes:
        raise InputError(errors.PDF_TOO_LARGE, f"{size} bytes > limit {max_bytes}")
    stream.seek(0)
    if b"%PDF-" not in stream.read(HEAD_BYTES):
        raise InputError(errors.NOT_A_PDF)
    stream.seek(max(0, size - TAIL_BYTES))
    if b"%%EOF" not in stream.read():
        raise InputError(errors.PDF_TRUNCATED, "no %%EOF marker at the end of the file")
    stream.seek(0)
    return size
