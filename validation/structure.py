"""Byte-level checks of signature dictionaries: what the cryptography cannot see.

A CMS signature over the bytes a /ByteRange names can verify perfectly while the
PDF a reader displays is something else: the range may point past the file, skip
bytes that are not the signature's own /Contents (signature wrapping), or share
its hole with another signature. These checks run before any cryptography and
name what they found with a stable finding code.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from validation.messages import finding
from validation.model import Finding

_HEX = b"0123456789abcdefABCDEF"
_WHITESPACE = b" \t\r\n\f\x00"


@dataclass(frozen=True)
class ByteRangeCheck:
    """The outcome of :func:`check_byte_range` for one signature."""

    byte_range: list[int] | None  # as written, when it was a list of integers
    gap: tuple[int, int] | None  # [start, end) of the unsigned hole, when the range is sane
    findings: list[Finding]

    @property
    def sane(self) -> bool:
        return not self.findings


def check_byte_range(
    raw_range: object, contents: bytes | None, stream: BinaryIO, file_size: int
) -> ByteRangeCheck:
    """Check one signature's /ByteRange against the file and its /Contents.

    ``raw_range`` is the parsed /ByteRange value (anything: attackers choose it),
    ``contents`` the parsed /Contents bytes. The range must be four non-negative
    integers starting at 0, inside the file, and its hole must hold exactly the
    hex string of this dictionary's /Contents.
    """
    if contents is None:
        return ByteRangeCheck(None, None, [finding("CONTENTS_INVALID", detail="/Contents is missing")])
    if not contents.strip(b"\x00"):
        what = "empty" if not contents else "all zero"
        return ByteRangeCheck(None, None, [finding("CONTENTS_INVALID", detail=f"/Contents is {what}")])
    if not isinstance(raw_range, Sequence) or isinstance(raw_range, (str, bytes)):
        return ByteRangeCheck(None, None, [finding("BYTE_RANGE_INVALID", detail="/ByteRange is missing")])
    values = list(raw_range)
    if len(values) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return ByteRangeCheck(None, None, [finding("BYTE_RANGE_INVALID", detail="not four integers")])
    br = [int(v) for v in values]
    start1, len1, start2, len2 = br
    if start1 != 0 or min(br) < 0 or start2 < len1:
        return ByteRangeCheck(br, None, [finding("BYTE_RANGE_INVALID", detail=f"{br}")])
    if start2 + len2 > file_size:
        return ByteRangeCheck(
            br, None, [finding("BYTE_RANGE_PAST_EOF", detail=f"{br} ends at {start2 + len2}, file is {file_size}")]
        )
    gap = (len1, start2)
    stream.seek(len1)
    hole = stream.read(start2 - len1)
    if not _is_hex_string_of(hole, contents):
        return ByteRangeCheck(br, gap, [finding("BYTE_RANGE_GAP_MISMATCH")])
    return ByteRangeCheck(br, gap, [])


def _is_hex_string_of(hole: bytes, contents: bytes) -> bool:
    """Whether the unsigned hole is exactly ``<hex>`` encoding ``contents``."""
    if len(hole) < 2 or hole[:1] != b"<" or hole[-1:] != b">":
        return False
    digits = hole[1:-1].translate(None, _WHITESPACE)
    if digits.translate(None, _HEX):
        return False
    if len(digits) % 2:
        digits += b"0"
    return binascii.unhexlify(digits) == contents


def overlapping_gaps(gaps: Sequence[tuple[int, int] | None]) -> set[int]:
    """Indexes of signatures whose unsigned holes intersect another signature's hole."""
    hit: set[int] = set()
    known = [(i, g) for i, g in enumerate(gaps) if g is not None]
    for a, (i, (s1, e1)) in enumerate(known):
        for j, (s2, e2) in known[a + 1 :]:
            if s1 < e2 and s2 < e1:
                hit.update((i, j))
    return hit
