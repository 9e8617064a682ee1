"""Strings for people: which way they read, how untrusted ones are made safe to show, Persian digits.

Every layer shows strings it did not write (certificate names, PDF field and
file names, a server's error text) next to its own Persian and English words.
What such a string may contain, and which way it reads, is decided here once,
so a report, a receipt, the visible signature block and the agent's terminal
cannot disagree about it.

Two cleaning rules exist because two kinds of place show text:

* :func:`clean_text` for running text (reports, receipts, a terminal): a value
  may wrap, so only line breaks become spaces; a cut is marked with «…» so a
  reader knows the value goes on; private-use, unassigned and surrogate code
  points go too, since they show as empty boxes or cannot be encoded as UTF-8.
* :func:`clean_line` for one line fitted into a fixed box (the signature
  block): every run of white space folds to one space, since width is all the
  box has; the cut is silent because the block shortens a line that does not
  fit with its own ellipsis anyway.

Both drop control and format characters (bidi embeddings, overrides, isolates,
marks), so a right-to-left override before ``fdp.exe`` cannot make it pose as
``exe.pdf`` and a name cannot reorder the text around it; both keep ZWNJ and
ZWJ, which are Persian spelling («می‌شود»).
"""

from __future__ import annotations

import unicodedata
from typing import Literal

#: A reader's language: Persian first, English beside.
Lang = Literal["fa", "en"]
#: Which way a string reads.
Direction = Literal["rtl", "ltr"]

#: Characters kept of one value in running text, the «…» included.
MAX_TEXT_CHARS = 400
#: Characters kept of one value on a single fitted line.
MAX_LINE_CHARS = 200

_RTL_CLASSES = frozenset({"R", "AL"})  # Hebrew-like and Arabic-script letters
# Zero-width non-joiner and joiner change how Persian letters join: they are spelling, not formatting.
_KEPT_FORMAT = frozenset({"\u200c", "\u200d"})
_HIDDEN_IN_TEXT = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_HIDDEN_ON_A_LINE = frozenset({"Cc", "Cf"})
_LINE_BREAKS = "\t\r\n"
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


# -- direction -----------------------------------------------------------------------------------


def direction(text: str | None) -> Direction:
    """Which way ``text`` reads, from its first strong character; none at all reads left to right.

    This is the Unicode bidi algorithm's paragraph rule (UAX #9 P2, P3) without
    its skipping of isolates: text that could hold isolates has been through
    :func:`clean_text` or :func:`clean_line`, which drop them.
    """
    for ch in text or "":
        bidi = unicodedata.bidirectional(ch)
        if bidi in _RTL_CLASSES:
            return "rtl"
        if bidi == "L":
            return "ltr"
    return "ltr"


def contains_rtl(text: str | None) -> bool:
    """Whether any letter of ``text`` reads right to left, wherever it stands.

    Not the same question as :func:`direction`: ``"Bid 2 پیشنهاد.pdf"`` reads
    left to right but holds Persian, which a left-to-right line would split.
    """
    return any(unicodedata.bidirectional(ch) in _RTL_CLASSES for ch in text or "")


# -- untrusted strings ---------------------------------------------------------------------------


def clean_text(value: str | None, limit: int = MAX_TEXT_CHARS) -> str:
    """An untrusted string made safe to place in running text: no controls, no bidi tricks, bounded.

    Tabs and line breaks become spaces, the ends are stripped, and a value
    longer than ``limit`` is cut to ``limit`` characters ending in «…».
    """
    if not value:
        return ""
    kept = "".join(
        " " if ch in _LINE_BREAKS else ch
        for ch in value
        if ch in _LINE_BREAKS or _shown(ch, _HIDDEN_IN_TEXT)
    ).strip()
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def clean_line(value: str, limit: int = MAX_LINE_CHARS) -> str:
    """An untrusted string made fit for one line of a fixed box: no controls, no bidi tricks, spaces folded.

    Control characters (line breaks included) are dropped, every run of white
    space becomes one space, and at most ``limit`` characters are kept.
    """
    kept = "".join(ch for ch in value if _shown(ch, _HIDDEN_ON_A_LINE))
    return " ".join(kept.split())[:limit]


def _shown(ch: str, hidden: frozenset[str]) -> bool:
    return ch in _KEPT_FORMAT or unicodedata.category(ch) not in hidden


# -- digits ----------------------------------------------------------------------------------------


def persian_digits(text: str) -> str:
    """``"1405/09/01"`` → ``"۱۴۰۵/۰۹/۰۱"``; everything but ASCII digits is kept."""
    return text.translate(_PERSIAN_DIGITS)


def localize_digits(text: str, lang: Lang) -> str:
    """Persian digits for Persian, unchanged for English."""
    return persian_digits(text) if lang == "fa" else text
