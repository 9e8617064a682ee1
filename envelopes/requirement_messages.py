"""Every sentence the tender requirements judge says, in Persian and English, under a stable code.

Each is the reason beside one requirement on one bid document (a signatory's
signature, the company seal): the line a clerk reads in the envelope's view,
stored with its evaluation and, in English, in a refused submission's error.
The judge (:mod:`envelopes.requirements`) names a code and gives the values;
:func:`reason` writes each value the way its language reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pakat.dates import format_datetime
from pakat.text import Lang, localize_digits
from validation.model import Text

# code -> (Persian, English); ``{name}`` is a value given to :func:`reason`, ``{name!r}`` the same quoted.
REASONS: dict[str, tuple[str, str]] = {
    "DOCUMENT_BUSY": (
        "امضایی روی این سند در حال تکمیل است.",
        "A signature on it is being completed.",
    ),
    "SIGNATURE_MISSING": (
        "امضایی با شناسهٔ {national_id} بر این سند نیست.",
        "No signature by national ID {national_id} on this document.",
    ),
    "SEAL_MISSING": (
        "مهر سازمانی پیشنهاددهنده بر این سند نیست.",
        "The bidder's company seal is not on this document.",
    ),
    "SEAL_OF_ANOTHER": (
        "مهر سازمانی دیگری ({others}) بر سند است، نه مهر پیشنهاددهنده ({bidder}).",
        "Another organisation's seal ({others}) is on the document, not the bidder's ({bidder}).",
    ),
    "SIGNATURE_INVALID": (
        "امضای {who} معتبر نیست: {why}",
        "The signature of {who} is not valid: {why}",
    ),
    "ROLE_MISMATCH": (
        "سمت {who} در گواهی «{title}» است، نه «{role}».",
        "The certificate of {who} states the role {title!r}, not {role!r}.",
    ),
    "ASSURANCE_TOO_LOW": (
        "سطح اطمینان گواهی {who} «{level}» است؛ دست‌کم «{minimum}» لازم است.",
        "The certificate of {who} is at assurance level {level}; at least {minimum} is required.",
    ),
    "NO_TIMESTAMP": (
        "امضای {who} مهر زمانی ندارد (B-B)؛ دست‌کم سطح B-T لازم است.",
        "The signature of {who} has no timestamp (B-B); at least B-T is required.",
    ),
    "TIMESTAMP_LATE": (
        "مهر زمانی امضای {who} ({time}) پس از مهلت است.",
        "The timestamp on the signature of {who} ({time}) is not before the deadline.",
    ),
    "SIGNATURE_MET": (
        "امضای معتبر {who} با مهر زمانی {time}",
        "Valid signature of {who}, timestamped {time}",
    ),
}

# What a value left None reads as: a certificate may state no role title, or a level no rule gave it.
ABSENT: dict[str, Text] = {
    "title": Text("—", "(none)"),
    "level": Text("نامشخص", "unknown"),
}


@dataclass(frozen=True)
class Digits:
    """National IDs as a clerk reads them: in Persian digits in the Persian sentence."""

    text: str


Value = str | Digits | Text | datetime | None


def reason(code: str, **values: Value) -> Text:
    """The reason ``code`` in both languages, each value written for its language.

    A :class:`~validation.model.Text` gives each language its own words (a
    validator's reason), a datetime is written as :func:`pakat.dates.format_datetime`
    writes it, :class:`Digits` take Persian digits in Persian, and None (or an
    empty string) reads as the parameter's :data:`ABSENT` text. Any other string
    goes in as given.
    """
    fa, en = REASONS[code]
    return Text(
        fa=fa.format(**{name: _written(name, value, "fa") for name, value in values.items()}),
        en=en.format(**{name: _written(name, value, "en") for name, value in values.items()}),
    )


def _written(name: str, value: Value, lang: Lang) -> str:
    if not value and name in ABSENT:  # an empty title in a certificate reads as none, like a missing one
        value = ABSENT[name]
    if isinstance(value, Text):
        return value.fa if lang == "fa" else value.en
    if isinstance(value, datetime):
        return format_datetime(value, lang)
    if isinstance(value, Digits):
        return localize_digits(value.text, lang)
    if value is None:
        raise ValueError(f"reason value {name!r} is None and has no text for absence")
    return value
