"""Damaged versions of real PDFs, for the fuzz tests and benchmarks of signing and validation.

Each mutation is a pure function of the input bytes and a ``random.Random``,
so a case is reproduced from its seed alone (``mutate(data, seed)``). The
mutations imitate what breaks files in the wild and what an attacker tries:
bits flipped anywhere, bytes cut, inserted or overwritten, a file truncated
(with or without a fresh ``%%EOF``), and tokens changed in place — numbers
(offsets, lengths, object numbers, generations), names, keywords, delimiters
— so the structure is still nearly right and gets deep into a parser.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")
_NAME = re.compile(rb"/[A-Za-z][A-Za-z0-9]*")
_KEYWORD = re.compile(rb"\b(?:obj|endobj|stream|endstream|xref|trailer|startxref|R|null|true|false)\b")
_DELIMITER = re.compile(rb"<<|>>|\[|\]|\(|\)")
_NAMES = [b"/Type", b"/Pages", b"/Kids", b"/Annots", b"/AcroForm", b"/Fields", b"/DSS", b"/Length", b"/Root",
          b"/Prev", b"/Size", b"/W", b"/Index", b"/Filter", b"/ByteRange", b"/Contents", b"/V", b"/FT", b"/Sig",
          b"/Parent", b"/MediaBox", b"/Rotate", b"/Perms", b"/DocMDP", b"/Encrypt", b"/ObjStm", b"/XRef", b"/T"]
_NUMBERS = [b"0", b"1", b"-1", b"2", b"65535", b"4294967296", b"99999999999999999999", b"0.5", b"-0", b"3.4e38"]


def _flip_bits(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)


def _overwrite(data: bytearray, rng: random.Random) -> None:
    at = rng.randrange(len(data))
    data[at : at + rng.randint(1, 16)] = rng.randbytes(rng.randint(1, 16))


def _cut(data: bytearray, rng: random.Random) -> None:
    at = rng.randrange(len(data))
    del data[at : at + rng.randint(1, 64)]


def _insert(data: bytearray, rng: random.Random) -> None:
    at = rng.randrange(len(data))
    data[at:at] = rng.choice([rng.randbytes(rng.randint(1, 32)), b" ", b"\n", b"%", b"<<", b">>", b"0 0 R "])


def _truncate(data: bytearray, rng: random.Random) -> None:
    at = rng.randrange(len(data) // 2, len(data))
    del data[at:]
    if rng.random() < 0.7:
        data += b"\nstartxref\n%d\n%%%%EOF\n" % rng.choice([0, at // 2, at])


def _token(pattern: re.Pattern[bytes], choices: Callable[[random.Random], bytes]) -> Callable[..., None]:
    def mutate(data: bytearray, rng: random.Random) -> None:
        found = list(pattern.finditer(data))
        if not found:
            _flip_bits(data, rng)
            return
        for match in rng.sample(found, min(len(found), rng.randint(1, 3))):
            start, end = match.span()
            replacement = choices(rng)
            if len(replacement) < end - start and rng.random() < 0.5:  # keep offsets where possible
                replacement = replacement.ljust(end - start)
            data[start:end] = replacement

    return mutate


MUTATIONS: dict[str, Callable[[bytearray, random.Random], None]] = {
    "flip": _flip_bits,
    "overwrite": _overwrite,
    "cut": _cut,
    "insert": _insert,
    "truncate": _truncate,
    "number": _token(_NUMBER, lambda rng: rng.choice([*_NUMBERS, str(rng.randint(0, 10**6)).encode()])),
    "name": _token(_NAME, lambda rng: rng.choice(_NAMES)),
    "keyword": _token(_KEYWORD, lambda rng: rng.choice([b"obj", b"endobj", b"R", b"null", b"stream", b"x"])),
    "delimiter": _token(_DELIMITER, lambda rng: rng.choice([b"<<", b">>", b"[", b"]", b"(", b")", b" "])),
}


def mutate(data: bytes, seed: int) -> tuple[str, bytes]:
    """One mutation of ``data`` chosen and made by ``seed``: its name and the damaged bytes."""
    rng = random.Random(seed)
    name = rng.choice(sorted(MUTATIONS))
    damaged = bytearray(data)
    MUTATIONS[name](damaged, rng)
    return name, bytes(damaged)
