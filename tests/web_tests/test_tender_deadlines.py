"""The tender form's deadline, in process: Jalali on the Persian form, Gregorian on the English one, same moment.

A Persian clerk types the deadline as the tender notice states it («۱۴۰۵/۰۹/۲۰ ۱۴:۳۰», Tehran);
the English form keeps the browser's datetime-local box (Tehran's wall clock too). An impossible
date keeps the form, with DATETIME_INVALID's message in the page's language.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jdatetime
import pytest
from console_kit import Console
from flask import Flask

from envelopes.people import Role
from pakat import errors
from pakat.dates import TEHRAN
from pakat.text import persian_digits


@pytest.fixture(scope="module")
def operator(app: Flask) -> Console:
    return Console(app, "demo-co", Role.OPERATOR)


def _create(app: Flask, console: Console, lang: str, deadline: str, status: int) -> tuple[str, Any]:
    (platform,) = app.extensions["pakat"].tenders().platforms("demo-co")
    reference = f"D-{uuid.uuid4().hex[:8]}"
    html = console.submit(f"/console/tenders?lang={lang}", status, {
        "platform": platform.api_key_sha256, "reference": reference,
        "title_fa": "خرید تجهیزات شبکه", "title_en": "Network equipment purchase", "deadline": deadline})
    made = [t for t in app.extensions["pakat"].tenders().organisation_tenders("demo-co")
            if t.reference == reference]
    return html, (made[0] if made else None)


def test_the_persian_form_takes_jalali_and_the_english_form_gregorian(app: Flask, operator: Console) -> None:
    moment = (datetime.now(UTC) + timedelta(days=9)).replace(second=0, microsecond=0)
    local = moment.astimezone(TEHRAN)
    jalali = jdatetime.datetime.fromgregorian(datetime=local)
    typed_fa = persian_digits(f"{jalali.year}/{jalali.month:02d}/{jalali.day:02d} {local:%H:%M}")

    fa_page = operator.page("/console/tenders?lang=fa")
    field = re.search(r'<input id="t-deadline"[^>]*>', fa_page)
    assert field and 'type="text"' in field.group(0) and 'aria-describedby="t-deadline-hint"' in field.group(0)
    today = jdatetime.datetime.fromgregorian(datetime=datetime.now(TEHRAN))
    assert persian_digits(f"{today.year}/{today.month:02d}/{today.day:02d} ") in fa_page  # the hint shows today
    en_page = operator.page("/console/tenders?lang=en")
    field = re.search(r'<input id="t-deadline"[^>]*>', en_page)
    assert field and 'type="datetime-local"' in field.group(0)
    assert f"{datetime.now(TEHRAN):%Y-%m-%d} " in en_page

    fa_html, fa_tender = _create(app, operator, "fa", typed_fa, 201)
    en_html, en_tender = _create(app, operator, "en", f"{local:%Y-%m-%dT%H:%M}", 201)
    assert fa_tender.deadline == en_tender.deadline == moment  # the same UTC moment
    assert f"{moment:%Y-%m-%d %H:%M}:00 UTC" in en_html  # an English reader sees it in UTC, as everywhere
    # The tender's page shows it back as the clerk typed it (with seconds, «ساعت» and the zone).
    shown = re.search(r'<dd id="tender-deadline">([^<]+)</dd>', fa_html)
    assert shown and shown.group(1).startswith(typed_fa.replace(" ", " ساعت ") + ":۰۰")
    # ASCII digits and dashes do too.
    _, ascii_tender = _create(app, operator, "fa", f"{jalali.year}-{jalali.month}-{jalali.day} {local:%H:%M}", 201)
    assert ascii_tender.deadline == moment


@pytest.mark.parametrize("typed", ["1405/12/30 10:00", "1405/13/01 10:00", "1409/05/20", "tomorrow", ""])
def test_an_impossible_deadline_keeps_the_form_with_the_message(app: Flask, operator: Console,
                                                                 typed: str) -> None:
    for lang in ("fa", "en"):
        html, made = _create(app, operator, lang, typed, 400)
        assert made is None
        assert "<code dir=\"ltr\">DATETIME_INVALID</code>" in html
        kind = errors.DATETIME_INVALID
        assert (kind.fa if lang == "fa" else kind.en) in html
        assert f'value="{typed}"' in html  # what was typed stays, to be corrected
        assert 'id="tender-form"' in html
