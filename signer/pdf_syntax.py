"""Splitting PDF syntax into the items of a dictionary or an array, without parsing their values.

An incremental update rewrites a few existing objects (the catalog, a page,
the AcroForm) with one or two entries changed. Every other entry must come
out exactly as it went in: an indirect reference stays a reference even when
it points at a number or at nothing (a freed object reads as null), a nested
dictionary stays nested. qpdf hands us an object's syntax with its children as
references (``unparse(resolved=True)``); this module cuts that text at the
top-level boundaries so each value is carried over as written.

The grammar is PDF's (ISO 32000-2, 7.2 and 7.3): delimiters, literal strings
with escapes and balanced parentheses, hexadecimal strings, names, numbers,
``n g R`` references, and nested ``<< >>`` / ``[ ]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A signature dictionary is written with a fixed-width ByteRange placeholder, rewritten in place
# once the update's layout is known (the width holds any file offset), and an empty /Contents hole.
BYTE_RANGE_PLACEHOLDER = b"/ByteRange [0 ********** ********** **********]"
CONTENTS_KEY = b"/Contents<"
CONTENTS_HOLE = re.compile(rb"/Contents\s*<")

_WHITESPACE = b"\x00\t\n\x0c\r "
_REGULAR = re.compile(rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]+")
_NAME = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_REFERENCE = re.compile(rb"\d+[\x00\t\n\x0c\r ]+\d+[\x00\t\n\x0c\r ]+R(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])")


@dataclass(frozen=True)
class StreamBody:
    """A stream written by an update: its dictionary entries other than /Length, and its (filtered) data."""

    entries: bytes
    data: bytes

    def serialize(self) -> bytes:
        return b"<</Length %d%s>>stream\n%s\nendstream" % (len(self.data), self.entries, self.data)


class SyntaxSplitError(ValueError):
    """The text is not a well-formed PDF dictionary or array."""


def split_dictionary(text: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of a ``<< … >>`` dictionary, each value's syntax exactly as written."""
    pos = _skip(text, 0)
    if not text.startswith(b"<<", pos):
        raise SyntaxSplitError("not a dictionary")
    pos = _skip(text, pos + 2)
    pairs: list[tuple[bytes, bytes]] = []
    while not text.startswith(b">>", pos):
        key = _NAME.match(text, pos)
        if key is None:
            raise SyntaxSplitError(f"a dictionary key that is not a name at {pos}")
        pos = _skip(text, key.end())
        end = _value_end(text, pos)
        pairs.append((key.group(), text[pos:end]))
        pos = _skip(text, end)
    _expect_end(text, pos + 2)
    return pairs


def split_array(text: bytes) -> list[bytes]:
    """The items of a ``[ … ]`` array, each item's syntax exactly as written."""
    pos = _skip(text, 0)
    if not text.startswith(b"[", pos):
        raise SyntaxSplitError("not an array")
    pos = _skip(text, pos + 1)
    items: list[bytes] = []
    while not text.startswith(b"]", pos):
        end = _value_end(text, pos)
        items.append(text[pos:end])
        pos = _skip(text, end)
    _expect_end(text, pos + 1)
    return items


def _value_end(text: bytes, pos: int) -> int:
    """Where the value starting at ``pos`` ends."""
    if pos >= len(text):
        raise SyntaxSplitError("the text ends inside a container")
    reference = _REFERENCE.match(text, pos)
    if reference is not None:
        return reference.end()
    c = text[pos : pos + 1]
    if text.startswith(b"<<", pos):
        return _container_end(text, pos)
    if c == b"[":
        return _container_end(text, pos)
    if c == b"(":
        return _literal_string_end(text, pos)
    if c == b"<":
        end = text.find(b">", pos)
        if end < 0:
            raise SyntaxSplitError("an unterminated hexadecimal string")
        return end + 1
    if c == b"/":
        name = _NAME.match(text, pos)
        assert name is not None  # a lone "/" is the empty name
        return name.end()
    regular = _REGULAR.match(text, pos)
    if regular is None:
        raise SyntaxSplitError(f"unexpected {c!r} at {pos}")
    return regular.end()


def _container_end(text: bytes, pos: int) -> int:
    """The end of the dictionary or array opening at ``pos`` (nested containers and strings skipped)."""
    depth = 0
    while pos < len(text):
        if text.startswith(b"<<", pos) or text.startswith(b"[", pos):
            depth += 1
            pos += 2 if text[pos : pos + 1] == b"<" else 1
        elif text.startswith(b">>", pos) or text.startswith(b"]", pos):
            depth -= 1
            pos += 2 if text[pos : pos + 1] == b">" else 1
            if depth == 0:
                return pos
        elif text.startswith(b"(", pos):
            pos = _literal_string_end(text, pos)
        elif text.startswith(b"<", pos):
            end = text.find(b">", pos)
            if end < 0:
                raise SyntaxSplitError("an unterminated hexadecimal string")
            pos = end + 1
        elif text.startswith(b"%", pos):
            pos = _line_end(text, pos)
        else:
            pos += 1
    raise SyntaxSplitError("an unterminated dictionary or array")


def _literal_string_end(text: bytes, pos: int) -> int:
    depth = 0
    while pos < len(text):
        c = text[pos]
        if c == 0x5C:  # backslash: the next byte is escaped
            pos += 2
            continue
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    raise SyntaxSplitError("an unterminated literal string")


def _skip(text: bytes, pos: int) -> int:
    """Past whitespace and comments."""
    while pos < len(text):
        if text[pos] in _WHITESPACE:
            pos += 1
        elif text[pos] == 0x25:  # %
            pos = _line_end(text, pos)
        else:
            break
    return pos


def _line_end(text: bytes, pos: int) -> int:
    ends = [i for i in (text.find(b"\n", pos), text.find(b"\r", pos)) if i >= 0]
    return min(ends) if ends else len(text)


def _expect_end(text: bytes, pos: int) -> None:
    if _skip(text, pos) != len(text):
        raise SyntaxSplitError("text after the end of the container")
