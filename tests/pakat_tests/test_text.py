"""pakat.text: which way a string reads, the two cleaning rules for untrusted strings, Persian digits."""

from __future__ import annotations

import pytest

from pakat.text import (
    MAX_LINE_CHARS,
    MAX_TEXT_CHARS,
    clean_line,
    clean_text,
    contains_rtl,
    direction,
    localize_digits,
    persian_digits,
)

RLO, PDF, LRI, PDI, LRM, RLM = "\u202e", "\u202c", "\u2066", "\u2069", "\u200e", "\u200f"
ZWNJ, ZWJ = "\u200c", "\u200d"


# -- direction -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("شرکت نمونه پاکت", "rtl"),  # Persian
        ("Pakat Demo Co.", "ltr"),  # Latin
        ("شرکت Pakat", "rtl"),  # mixed: the first strong letter decides
        ("Pakat شرکت", "ltr"),
        ("۱۴۰۵/۰۹/۰۱ ساعت", "rtl"),  # digits are weak: the Persian word after them decides
        ("1405 Pakat", "ltr"),
        ("עברית", "rtl"),  # Hebrew (bidi class R) reads right to left too
        ("", "ltr"),  # no strong letter at all reads left to right
        ("12345 - []", "ltr"),
        (None, "ltr"),
    ],
)
def test_direction_is_the_first_strong_letters(text: str | None, expected: str) -> None:
    assert direction(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("شرکت نمونه", True),
        ("Pakat Demo Co.", False),
        ("Bid 2 پیشنهاد.pdf", True),  # reads left to right, yet holds Persian
        ("report-2026.pdf", False),
        ("", False),
        (None, False),
    ],
)
def test_contains_rtl_looks_at_every_letter(text: str | None, expected: bool) -> None:
    assert contains_rtl(text) is expected


def test_mixed_text_can_start_left_to_right_and_still_hold_persian() -> None:
    mixed = "Tender 12 — پیشنهاد فنی"
    assert direction(mixed) == "ltr" and contains_rtl(mixed)


# -- cleaning for running text -------------------------------------------------------------------

def test_clean_text_drops_bidi_tricks_and_controls_but_keeps_persian_spelling() -> None:
    assert clean_text(f"{RLO}fdp.exe") == "fdp.exe"
    assert clean_text(f"می{ZWNJ}شود") == f"می{ZWNJ}شود"  # the zero-width non-joiner is Persian orthography
    assert clean_text(f"ل{ZWJ}ا") == f"ل{ZWJ}ا"
    assert clean_text(f"a\x00b\nc{LRI}d{PDI}") == "ab cd"
    assert clean_text(f"{LRM}x{RLM}{PDF}\ufeff\x07\x1b[31m") == "x[31m"


def test_clean_text_turns_line_breaks_into_spaces_without_folding() -> None:
    assert clean_text("one\ttwo\r\nthree") == "one two  three"
    assert clean_text("  padded \n") == "padded"
    assert clean_text("a  b") == "a  b"


def test_clean_text_drops_what_would_show_as_a_box_or_not_encode() -> None:
    private, unassigned, surrogate = "\ue000", "\u0378", "\ud800"
    assert clean_text(f"a{private}b{unassigned}c{surrogate}d") == "abcd"
    clean_text(f"x{surrogate}").encode("utf-8")  # no UnicodeEncodeError


def test_clean_text_marks_a_cut_with_an_ellipsis() -> None:
    assert clean_text(None) == "" and clean_text("") == ""
    exact = "x" * MAX_TEXT_CHARS
    assert clean_text(exact) == exact
    cut = clean_text("x" * 5000)
    assert len(cut) == MAX_TEXT_CHARS and cut.endswith("…")
    assert clean_text("abcdef", limit=4) == "abc…"


# -- cleaning for one fitted line ----------------------------------------------------------------

def test_clean_line_drops_bidi_tricks_and_controls_but_keeps_persian_spelling() -> None:
    assert clean_line(f"علی{RLO} رضایی\x07") == "علی رضایی"
    assert clean_line(f"شرکت{ZWNJ}ها") == f"شرکت{ZWNJ}ها"
    assert clean_line(f"{LRI}CN{PDI}") == "CN"


def test_clean_line_folds_white_space_and_drops_line_breaks() -> None:
    # Line breaks are controls here: they go, they do not become spaces.
    assert clean_line("Pakat\nDemo") == "PakatDemo"
    assert clean_line("  Pakat \u00a0  Demo\u2003Co.  ") == "Pakat Demo Co."


def test_clean_line_keeps_what_the_font_decides_about_and_cuts_silently() -> None:
    assert clean_line("a\ue000b") == "a\ue000b"  # private use is left to the font, unlike running text
    assert clean_line("x" * 5000) == "x" * MAX_LINE_CHARS
    assert clean_line("abcdef", limit=4) == "abcd"


# -- digits ------------------------------------------------------------------------------------------

def test_persian_digits_change_only_ascii_digits() -> None:
    assert persian_digits("B-LTA 2026") == "B-LTA ۲۰۲۶"
    assert persian_digits("1405/09/01 14:30") == "۱۴۰۵/۰۹/۰۱ ۱۴:۳۰"
    assert persian_digits("۱۲ and ١٢") == "۱۲ and ١٢"  # already Persian or Arabic-Indic: kept
    assert persian_digits("") == ""


def test_localize_digits_by_language() -> None:
    assert localize_digits("12", "fa") == "۱۲"
    assert localize_digits("12", "en") == "12"
