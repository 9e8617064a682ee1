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


def parse_day(text: str) -> tuple[datetime, datetime]:
    """A day people typed, as the UTC moments it starts and ends at (end exclusive); ValueError otherwise.

    The reverse of :func:`format_date`: a Jalali date (a year before 1700, Persian,
    Arabic or ASCII digits, ``/`` or ``-``) is a day in Tehran, as a Persian reader
    sees dates; a Gregorian one (``2026-11-22``) a day in UTC, as an English reader does.
    """
    found = _DAY.fullmatch(text.translate(_ANY_DIGITS))
    if found is None:
        raise ValueError("a day reads YYYY/MM/DD")
    year, month, day = (int(part) for part in found.groups())
    if year < 1700:
        try:
            gregorian = jdatetime.date(year, month, day).togregorian()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a Jalali date: {exc}") from None
        start = datetime(gregorian.year, gregorian.month, gregorian.day, tzinfo=TEHRAN)
    else:
        start = datetime(year, month, day, tzinfo=UTC)
    # Tehran keeps no daylight saving since 2022, but a day in 1400 may have had it: add a day in local time.
    end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=start.tzinfo)
    return start.astimezone(UTC), end.astimezone(UTC)
