"""The prepared revision, checked at the user's side: what the signature will really cover.

After the certificate step the server has laid out the new revision with an
empty hole for the signature; the agent downloads it (``prepared.pdf``) and
checks, before its token signs anything, that

- it starts with exactly the document the user was shown (the session's
  ``document.sha256`` over its first ``document.size`` bytes),
- its last /ByteRange is ``[0 a b c]`` covering the whole file except exactly
  one empty ``<…>`` hole, which lies after the shown document, and
- the digest over that ByteRange is what the signed attributes' message
  digest says (:func:`agent.attributes.check_document_digest`).

A server, or anyone in between, that swaps the hash is then caught: the token
would otherwise sign a message digest nobody at the user's side can explain.
No PDF parser is needed: the signature dictionary Pakat writes keeps its
/ByteRange uncompressed in the new revision, and whatever dictionary the text
sits in, the check is on the bytes that get signed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import IO

from pakat import errors
from pakat.errors import PakatError
from signer.cms import DigestAlgorithm

# Room for the new revision beyond the shown document: the signature's hole (with the
# timestamp reserve), a visible block and, if the document moved on, another signature.
MAX_GROWTH_BYTES = 64 * 1024 * 1024
_CHUNK = 256 * 1024
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d{1,15})\s+(\d{1,15})\s+(\d{1,15})\s+(\d{1,15})\s*\]")
_HEX = re.compile(rb"[0-9A-Fa-f]*")


def max_prepared_bytes(shown_size: int) -> int:
    """The largest prepared revision accepted for a shown document of ``shown_size`` bytes."""
    return shown_size + MAX_GROWTH_BYTES


def byte_range_digest(
    source: IO[bytes], total: int, shown_sha256: str, shown_size: int, algorithm: DigestAlgorithm
) -> bytes:
    """The ``algorithm`` digest of what the prepared revision's /ByteRange covers, after checking it.

    ``source`` holds the ``total`` downloaded bytes. Raises
    DOCUMENT_DIGEST_MISMATCH when the revision does not start with the shown
    document or its /ByteRange does not cover everything but the hole.
    """
    if not 0 < shown_size < total <= max_prepared_bytes(shown_size):
        raise _mismatch(f"the prepared revision has {total} bytes, the shown document {shown_size}")
    covered = algorithm.hash()
    check_shown_start(source, shown_sha256, shown_size, "the prepared revision does not start with", covered)
    tail = source.read(total - shown_size)  # the new part only: bounded by MAX_GROWTH_BYTES
    if len(tail) != total - shown_size:
        raise _mismatch("the prepared revision is shorter than it said")
    start, end = _hole(tail, shown_size, total)
    covered.update(tail[: start - shown_size])
    covered.update(tail[end - shown_size :])
    return covered.digest()


def check_shown_start(
    source: IO[bytes], shown_sha256: str, shown_size: int, differs: str, also: hashlib._Hash | None = None
) -> None:
    """Check that ``source`` starts with the shown document: its first ``shown_size`` bytes hash to the SHA-256.

    Read from the start in chunks (a large document never whole in memory),
    each chunk also fed to ``also`` when given. DOCUMENT_DIGEST_MISMATCH
    otherwise, its detail "nothing was signed: <differs> the document you were shown".
    """
    source.seek(0)
    shown = hashlib.sha256()
    left = shown_size
    while left > 0:
        chunk = source.read(min(_CHUNK, left))
        if not chunk:
            raise _mismatch(f"{differs} the document you were shown: it is shorter")
        shown.update(chunk)
        if also is not None:
            also.update(chunk)
        left -= len(chunk)
    if not hmac.compare_digest(shown.hexdigest(), shown_sha256.strip().lower()):
        raise _mismatch(f"{differs} the document you were shown")


def _hole(tail: bytes, offset: int, total: int) -> tuple[int, int]:
    """The hole the last /ByteRange leaves out, in whole-file offsets; refused unless it is the only gap."""
    found = tail.rfind(b"/ByteRange")
    match = _BYTE_RANGE.match(tail, found) if found >= 0 else None
    if match is None:
        raise _mismatch("the prepared revision has no readable /ByteRange after the shown document")
    first, start, end, length = (int(g) for g in match.groups())
    if first != 0 or not offset <= start < end or end + length != total:
        raise _mismatch(f"the /ByteRange [{first} {start} {end} {length}] does not cover all but one hole")
    hole = tail[start - offset : end - offset]
    # '<' hex digits '>': an empty /Contents string, nothing else left out of what is signed.
    if len(hole) < 2 or hole[:1] != b"<" or hole[-1:] != b">" or not _HEX.fullmatch(hole[1:-1]):
        raise _mismatch("the /ByteRange leaves out more than the signature's hole")
    return start, end


def _mismatch(reason: str) -> PakatError:
    return PakatError(errors.DOCUMENT_DIGEST_MISMATCH, f"nothing was signed: {reason}")
