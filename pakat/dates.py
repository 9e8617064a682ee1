"""Dates and numbers as people read them: Jalali in Tehran time for Persian, Gregorian UTC for English.

A Persian reader gets «۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۳۰:۰۵ (تهران)», the way an Iranian
tender calendar states deadlines; an English reader gets
``2026-11-22 11:00:05 UTC``, unambiguous for anyone comparing with logs.
Shared by the reports, the agent and the visible signature block.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jdatetime

from pakat.text import Lang, persian_digits


def _tehran() -> tzinfo:
    try:
        return ZoneInfo("Asia/Tehran")
    except ZoneInfoNotFoundError:
        # No tz database (a bare Windows Python without tzdata): Iran has kept
        # +03:30 all year since it dropped daylight saving in 2022.
        return timezone(timedelta(hours=3, minutes=30), "Asia/Tehran")


TEHRAN = _tehran()


def _aware(moment: datetime) -> datetime:
    # The model's datetimes are UTC; a naive one (a careless producer) is taken as UTC too
    # rather than as the server's local time, which would shift it by the server's zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_datetime(moment: datetime, lang: Lang) -> str:
    """A moment for people.

    Persian: Jalali date, Tehran wall-clock time, Persian digits, e.g.
    «۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۳۰:۰۵ (تهران)». English: ``2026-11-22 11:00:05 UTC``.
    """
    moment = _aware(moment)
    if lang == "fa":
        local = moment.astimezone(TEHRAN)
        jalali = jdatetime.datetime.fromgregorian(datetime=local)
        return persian_digits(jalali.strftime("%Y/%m/%d") + " ساعت " + local.strftime("%H:%M:%S")) + " (تهران)"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_date(moment: datetime, lang: Lang) -> str:
    """The date alone (certificate validity): Jalali in Tehran for Persian, ISO in UTC for English."""
    moment = _aware(moment)
    if lang == "fa":
        jalali = jdatetime.datetime.fromgregorian(datetime=moment.astimezone(TEHRAN))
        return persian_digits(jalali.strftime("%Y/%m/%d"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def format_int(value: int, lang: Lang) -> str:
    """A count or size with thousands separators: «۱۲٬۳۴۵» or ``12,345``."""
    if lang == "fa":
        # U+066C ARABIC THOUSANDS SEPARATOR, the one Persian typesetting uses.
        return persian_digits(f"{value:,}".replace(",", "٬"))
    return f"{value:,}"


def iso_utc(moment: datetime) -> str:
    """A UTC moment as the API writes times: ISO 8601 with a ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


_DAY = re.compile(r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})\s*")
_ANY_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
#: A date and time people type or read: what :func:`format_datetime` writes (with «ساعت» and «(تهران)»
#: or ``UTC``), a tender notice's «۱۴۰۵/۰۹/۲۰ ۱۴:۳۰», a ``datetime-local`` value, or ISO 8601 with an offset.
_MOMENT = re.compile(
    r"\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:\s*[Tt]\s*|\s+(?:ساعت\s+)?)"
    r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?"
    r"\s*(Z|z|UTC|\(تهران\)|[+-]\d{2}:?\d{2})?\s*")
#: Years before this are Jalali (1405 is 2026); from it on, Gregorian. No real date is ambiguous.
_GREGORIAN_FROM = 1700


def _calendar_day(year: int, month: int, day: int) -> tuple[datetime, bool]:
    """The day a person means as a naive midnight (Gregorian) and whether they wrote it in Jalali; ValueError."""
    if year < _GREGORIAN_FROM:
        try:
            gregorian = jdatetime.date(year, month, day).togregorian()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a Jalali date: {exc}") from None
        return datetime(gregorian.year, gregorian.month, gregorian.day), True
    return datetime(year, month, day), False


def parse_day(text: str) -> tuple[datetime, datetime]:
    """A day people typed, as the UTC moments it starts and ends at (end exclusive); ValueError otherwise.

    The reverse of :func:`format_date`: a Jalali date (a year before 1700, Persian,
    Arabic or ASCII digits, ``/`` or ``-``) is a day in Tehran, as a Persian reader
    sees dates; a Gregorian one (``2026-11-22``) a day in UTC, as an English reader does.
    """
    found = _DAY.fullmatch(text.translate(_ANY_DIGITS))
    if found is None:
        raise ValueError("a day reads YYYY/MM/DD")
    midnight, jalali = _calendar_day(*(int(part) for part in found.groups()))
    zone = TEHRAN if jalali else UTC
    start = midnight.replace(tzinfo=zone)
    # Tehran keeps no daylight saving since 2022, but a day in 1400 may have had it: add a day in local time.
    end = (midnight + timedelta(days=1)).replace(tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def parse_datetime(text: str, gregorian_zone: tzinfo = UTC) -> datetime:
    """A date and time people typed, as a UTC moment; ValueError (saying what is wrong) otherwise.

    The reverse of :func:`format_datetime`, and the same rule as :func:`parse_day`: a
    Jalali date (a year before 1700; Persian, Arabic or ASCII digits; ``/`` or ``-``)
    with ``HH:MM`` or ``HH:MM:SS`` is Tehran's wall clock, e.g. «۱۴۰۵/۰۹/۲۰ ۱۴:۳۰»; a
    Gregorian one (``2026-12-11 14:30`` or ``2026-12-11T14:30``) is ``gregorian_zone``'s
    (UTC unless the page said otherwise). An explicit zone (``UTC``, ``Z``, «(تهران)»
    or an offset such as ``+03:30``) wins over both. The time is required: a deadline of
    «۱۴۰۵/۰۹/۲۰» alone could mean its first or its last minute.
    """
    found = _MOMENT.fullmatch(text.translate(_ANY_DIGITS))
    if found is None:
        raise ValueError("a date and time read YYYY/MM/DD HH:MM")
    year, month, day, hour, minute = (int(part) for part in found.groups()[:5])
    second = int(found.group(6) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"no such time of day: {hour:02d}:{minute:02d}:{second:02d}")
    try:
        midnight, jalali = _calendar_day(year, month, day)
    except ValueError as exc:
        raise ValueError(str(exc) or f"no such day: {year}-{month}-{day}") from None
    zone: tzinfo = TEHRAN if jalali else gregorian_zone
    marked = found.group(7)
    if marked in ("Z", "z", "UTC"):
        zone = UTC
    elif marked == "(تهران)":
        zone = TEHRAN
    elif marked:
        sign = -1 if marked[0] == "-" else 1
        digits = marked[1:].replace(":", "")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    local = midnight.replace(hour=hour, minute=minute, second=second, tzinfo=zone)
    return local.astimezone(UTC)


def datetime_hint(moment: datetime, lang: Lang) -> str:
    """A moment the way :func:`parse_datetime` takes it from a Persian page («۱۴۰۵/۰۹/۲۰ ۱۴:۳۰», Tehran) or an
    English one (``2026-12-11 14:30``, Tehran: the tender pages' wall clock); for a form's hint."""
    local = _aware(moment).astimezone(TEHRAN)
    if lang == "fa":
        jalali = jdatetime.datetime.fromgregorian(datetime=local)
        return persian_digits(jalali.strftime("%Y/%m/%d") + " " + local.strftime("%H:%M"))
    return local.strftime("%Y-%m-%d %H:%M")
