"""pakat.dates.parse_datetime: a date and time people type, Jalali (Tehran) or Gregorian, as a UTC moment.

The reverse of format_datetime on many moments (Esfand of leap years, Nowruz midnight,
years when Tehran kept daylight saving), and clear refusals of impossible dates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jdatetime
import pytest

from pakat.dates import TEHRAN, datetime_hint, format_datetime, parse_datetime

LEAP_YEARS = (1399, 1403, 1408)


def _moments() -> list[datetime]:
    # Every 5th day over twenty years at a time of day away from any daylight-saving change (which falls at
    # Tehran midnight), with seconds; plus each Nowruz midnight and each leap year's 30 Esfand.
    found = [datetime(2016, 1, 1, 8, 17, 5, tzinfo=UTC) + timedelta(days=5 * n) for n in range(1470)]
    for year in range(1395, 1415):
        nowruz = jdatetime.date(year, 1, 1).togregorian()
        found.append(datetime(nowruz.year, nowruz.month, nowruz.day, tzinfo=TEHRAN).astimezone(UTC))
    for year in LEAP_YEARS:
        last = jdatetime.date(year, 12, 30).togregorian()
        found.append(datetime(last.year, last.month, last.day, 23, 59, 59, tzinfo=TEHRAN).astimezone(UTC))
    return found


def test_what_format_datetime_writes_reads_back_in_both_languages() -> None:
    moments = _moments()
    assert len(moments) > 1400
    for moment in moments:
        for lang in ("fa", "en"):
            shown = format_datetime(moment, lang)
            assert parse_datetime(shown) == moment, (lang, shown)
        # The form's hint (minutes, no zone: Tehran's wall clock) reads back to the minute.
        assert parse_datetime(datetime_hint(moment, "fa")) == moment.replace(second=0)
        assert parse_datetime(datetime_hint(moment, "en"), TEHRAN) == moment.replace(second=0)


def test_nowruz_midnight_and_the_last_day_of_a_leap_year() -> None:
    assert parse_datetime("۱۴۰۵/۰۱/۰۱ ۰۰:۰۰") == datetime(2026, 3, 20, 20, 30, tzinfo=UTC)
    assert format_datetime(datetime(2026, 3, 20, 20, 30, tzinfo=UTC), "fa") == "۱۴۰۵/۰۱/۰۱ ساعت ۰۰:۰۰:۰۰ (تهران)"
    last = parse_datetime("1403/12/30 23:59:59")
    assert last + timedelta(seconds=1) == parse_datetime("1404/01/01 00:00")
    # 1400 kept daylight saving: 1400/06/01 12:00 was +04:30.
    assert parse_datetime("1400/06/01 12:00") == datetime(2021, 8, 23, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize("typed", ["۱۴۰۵/۰۹/۲۰ ۱۴:۳۰", "1405/09/20 14:30", "1405-9-20 14:30", "١٤٠٥/٠٩/٢٠ ١٤:٣٠",
                                   "1405/09/20T14:30:00", " ۱۴۰۵/۹/۲۰  ساعت ۱۴:۳۰ ", "1405/09/20 14:30 (تهران)",
                                   "2026-12-11 11:00 UTC", "2026-12-11T11:00:00Z", "2026-12-11T14:30:00+03:30",
                                   "2026-12-11T11:00:00.000000+00:00"])
def test_a_tender_notice_deadline_in_any_spelling(typed: str) -> None:
    assert parse_datetime(typed) == datetime(2026, 12, 11, 11, 0, tzinfo=UTC)


def test_a_gregorian_wall_clock_is_in_the_zone_the_page_names() -> None:
    assert parse_datetime("2026-12-11T14:30") == datetime(2026, 12, 11, 14, 30, tzinfo=UTC)
    assert parse_datetime("2026-12-11T14:30", TEHRAN) == datetime(2026, 12, 11, 11, 0, tzinfo=UTC)
    assert parse_datetime("1405/09/20 14:30", UTC) == datetime(2026, 12, 11, 11, 0, tzinfo=UTC)  # Jalali: Tehran


@pytest.mark.parametrize(("typed", "why"), [
    ("1405/12/30 10:00", "day is out of range"),  # 1405 is not a leap year
    ("1405/12/31 10:00", "day is out of range"),
    ("1405/13/01 10:00", "month"),
    ("1405/00/10 10:00", "month"),
    ("1405/07/31 10:00", "day is out of range"),  # Mehr has 30 days
    ("2026-02-29 10:00", "day is out of range"),
    ("1405/09/20", "HH:MM"),  # the time is required
    ("1405/09/20 24:00", "no such time"),
    ("1405/09/20 14:60", "no such time"),
    ("", "HH:MM"), ("فردا ظهر", "HH:MM"), ("1405/09/20 14:30 PST", "HH:MM"), ("05/09/20 14:30", "HH:MM"),
])
def test_an_impossible_date_is_refused_saying_why(typed: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_datetime(typed)
