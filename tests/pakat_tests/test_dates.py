"""pakat.dates.parse_day: a day people type, Jalali (Tehran) or Gregorian (UTC), as the UTC moments it spans."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pakat.dates import format_date, parse_day


def test_a_jalali_day_is_a_day_in_tehran_in_any_digits() -> None:
    start, end = parse_day("۱۴۰۵/۰۹/۰۱")
    assert (start, end) == (datetime(2026, 11, 21, 20, 30, tzinfo=UTC), datetime(2026, 11, 22, 20, 30, tzinfo=UTC))
    assert parse_day("1405-9-1") == parse_day("١٤٠٥/٠٩/٠١") == (start, end)
    assert format_date(start, "fa") == "۱۴۰۵/۰۹/۰۱"  # the reverse of what a Persian page shows


def test_a_gregorian_day_is_a_day_in_utc() -> None:
    start, end = parse_day(" 2026-11-22 ")
    assert (start, end) == (datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    assert format_date(start, "en") == "2026-11-22"


@pytest.mark.parametrize("typed", ["", "yesterday", "1405/13/01", "1405/12/31x", "2026-02-30", "26-11-22",
                                   "2026-11-22T10:00"])
def test_anything_else_is_refused(typed: str) -> None:
    with pytest.raises(ValueError):
        parse_day(typed)
