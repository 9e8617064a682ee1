"""A Persian clerk types a tender's deadline in Jalali, in a real headless Chromium against a real ``pakat serve``.

The deadline goes in as the tender notice states it, Persian digits and all, and the
tender's page shows it back in Jalali. The form with its hint is photographed at 1280
and 390 px, in Persian and English, into the screenshots folder (browser_kit.screenshot_folder).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jdatetime
import pytest
from browser_kit import assert_only_loopback, screenshot_folder
from console_kit import browser_sign_in, click_and_load, served_console

from pakat.dates import TEHRAN
from pakat.text import persian_digits

CLERK = "maryam.clerk"


@pytest.fixture(scope="module")
def server(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    queue = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"deadline-browser-{uuid.uuid4().hex[:8]}"}
    with served_console(dev_env, tmp_path_factory.mktemp("deadline-serve"), queue) as served:
        served.add_person(CLERK, "operator")
        yield served.url


def test_a_jalali_deadline_typed_on_the_persian_form(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    shots = screenshot_folder("tender-deadline")
    browser.set_window_size(1280, 1200)
    browser_sign_in(browser, server, CLERK, page="/console/tenders?lang=fa")

    for lang in ("fa", "en"):
        for width in (1280, 390):
            browser.set_window_size(width, 1200)
            browser.get(f"{server}/console/tenders?lang={lang}")
            field = browser.find_element(By.ID, "t-deadline")
            assert field.get_attribute("type") == ("text" if lang == "fa" else "datetime-local")
            hint = browser.find_element(By.ID, "t-deadline-hint")
            assert hint.is_displayed() and browser.find_element(By.ID, "t-deadline-now").text
            label = browser.find_element(By.CSS_SELECTOR, "label[for=t-deadline]")
            assert label.is_displayed()
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{overflow} px of sideways scrolling at {width} px"
            browser.execute_script("arguments[0].scrollIntoView()", field)
            browser.save_screenshot(str(shots / f"tender-form-{lang}-{width}.png"))
    browser.set_window_size(1280, 1200)
    browser.get(f"{server}/console/tenders?lang=fa")

    # Ten days ahead, typed as the notice states it: Jalali, Persian digits, Tehran's wall clock.
    local = (datetime.now(UTC) + timedelta(days=10)).astimezone(TEHRAN)
    jalali = jdatetime.date.fromgregorian(date=local.date())
    typed = persian_digits(f"{jalali.year}/{jalali.month:02d}/{jalali.day:02d} 14:30")
    browser.find_element(By.ID, "t-reference").send_keys(f"J-{uuid.uuid4().hex[:8]}")
    browser.find_element(By.ID, "t-title-fa").send_keys("خرید تجهیزات شبکه")
    browser.find_element(By.ID, "t-title-en").send_keys("Network equipment purchase")
    browser.find_element(By.ID, "t-deadline").send_keys(typed)
    assert browser.find_element(By.ID, "t-deadline").get_attribute("value") == typed
    click_and_load(browser, "create-tender", timeout=60)
    assert not browser.find_elements(By.ID, "console-error")
    shown = browser.find_element(By.ID, "tender-deadline").text
    assert shown == typed.replace(" ", " ساعت ") + ":۰۰ (تهران)"
    browser.save_screenshot(str(shots / "tender-fa-1280.png"))
    assert_only_loopback(browser)
