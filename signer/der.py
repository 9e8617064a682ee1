"""Just enough DER to assemble CMS structures from pre-encoded parts.

pyHanko builds every CMS through asn1crypto, re-encoding the same
certificates and attributes for each document; on a sealing hot path that
dominates the cost. Here constant parts are encoded once and the per-document
parts (a digest, a signature, a timestamp token) are spliced in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime


def length(n: int) -> bytes:
    """The DER length octets for a content of ``n`` bytes."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + length(len(content)) + content


def sequence(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def set_of(items: Iterable[bytes]) -> bytes:
    """A DER SET OF: members sorted by their encodings (X.690 11.6)."""
    return tlv(0x31, b"".join(sorted(items)))


def explicit(number: int, content: bytes) -> bytes:
    """A constructed context tag ``[number] EXPLICIT``."""
    return tlv(0xA0 | number, content)


def implicit_constructed(number: int, encoded: bytes) -> bytes:
    """Retag a constructed encoding (SEQUENCE or SET) as ``[number] IMPLICIT``."""
    return bytes([0xA0 | number]) + encoded[1:]


def integer(value: int) -> bytes:
    # One extra bit for the sign: 127 fits one byte, 128 needs two; -128 fits one.
    bits = value.bit_length() if value >= 0 else (~value).bit_length()
    size = bits // 8 + 1
    return tlv(0x02, value.to_bytes(size, "big", signed=True))


def octet_string(data: bytes) -> bytes:
    return tlv(0x04, data)


def null() -> bytes:
    return b"\x05\x00"


def boolean(value: bool) -> bytes:
    return b"\x01\x01\xff" if value else b"\x01\x01\x00"


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray()
    for arc in [parts[0] * 40 + parts[1], *parts[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def generalized_time(moment: datetime) -> bytes:
    """GeneralizedTime in UTC with whole seconds, as RFC 5280 requires."""
    text = moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")
    return tlv(0x18, text.encode("ascii"))


def algorithm_identifier(dotted: str, parameters: bytes | None = None) -> bytes:
    return sequence(oid(dotted), parameters or b"")


def read_tlv(data: bytes | memoryview, offset: int = 0) -> tuple[int, int, int]:
    """Parse one TLV header at ``offset``: (tag, content start, content end).

    Only what the splicing needs: single-byte tags, definite lengths.
    """
    tag = data[offset]
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        size = int.from_bytes(bytes(data[pos : pos + count]), "big")
        pos += count
    end = pos + size
    if end > len(data):
        raise ValueError("DER value runs past its buffer")
    return tag, pos, end
