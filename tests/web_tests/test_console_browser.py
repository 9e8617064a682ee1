"""The console in a real headless Chromium against a real ``pakat serve``: sign in, see the home, sign out.

In Persian and English, at 1280 and 390 px wide: the layout's direction and font,
no sideways scrolling, the session cookie's flags as the browser keeps them,
nothing loaded from off this machine, no password in the page or its URL.
Screenshots go to the artifacts folder (printed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import assert_only_loopback, screenshot_folder
from console_kit import PASSWORD, click_and_load, served_console

USERNAME = "negar.admin"


@pytest.fixture(scope="module")
def server(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_console(dev_env, tmp_path_factory.mktemp("console-serve")) as served:
        # The first admin is made as an operator makes it: the CLI, the password on stdin.
        served.add_person(USERNAME, "admin", display_name="نگار احمدی")
        yield served.url


def _page_checks(browser: Any, lang: str) -> None:
    from selenium.webdriver.common.by import By

    html = browser.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == (lang, "rtl" if lang == "fa" else "ltr")
    assert "Vazirmatn" in browser.execute_script("return getComputedStyle(document.body).fontFamily")
    assert browser.execute_script("return document.fonts.check('16px Vazirmatn')")
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow} px of sideways scrolling at {browser.get_window_size()['width']} px"
    assert PASSWORD not in browser.page_source and PASSWORD not in browser.current_url


@pytest.mark.parametrize("lang", ["fa", "en"])
@pytest.mark.parametrize("width", [1280, 390])
def test_sign_in_see_the_home_and_sign_out(browser: Any, server: str, lang: str, width: int) -> None:
    from selenium.webdriver.common.by import By

    shots = screenshot_folder("console-sign-in")
    browser.delete_all_cookies()
    browser.set_window_size(width, 1000)

    browser.get(f"{server}/console?lang={lang}")
    assert browser.current_url.startswith(f"{server}/console/sign-in?next=/console")
    _page_checks(browser, lang)
    browser.save_screenshot(str(shots / f"sign-in-{lang}-{width}.png"))

    browser.find_element(By.ID, "username").send_keys(USERNAME)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    click_and_load(browser, "sign-in")
    assert browser.current_url == f"{server}/console?lang={lang}"  # back where sign-in was asked for
    assert browser.find_element(By.ID, "who-username").text == USERNAME
    assert browser.find_element(By.ID, "who-role").get_attribute("data-role") == "admin"
    assert browser.find_element(By.ID, "who-role").text == ("مدیر" if lang == "fa" else "Administrator")
    assert browser.find_element(By.ID, "surface-users").get_attribute("href") == f"{server}/console/admin/users"
    cookie = browser.get_cookie("pakat_console")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console" and not cookie["secure"]
    assert browser.execute_script("return document.cookie").find("pakat_console=") == -1  # HttpOnly: no script
    _page_checks(browser, lang)
    browser.save_screenshot(str(shots / f"home-{lang}-{width}.png"))

    click_and_load(browser, "surface-users")
    assert browser.find_element(By.ID, f"person-{USERNAME}") is not None
    _page_checks(browser, lang)
    browser.save_screenshot(str(shots / f"users-{lang}-{width}.png"))

    browser.get(f"{server}/console")
    click_and_load(browser, "sign-out")
    assert browser.current_url == f"{server}/console/sign-in?signed_out=1"
    assert browser.find_element(By.ID, "signed-out").is_displayed()
    assert browser.get_cookie("pakat_console") is None
    _page_checks(browser, lang)
    browser.save_screenshot(str(shots / f"signed-out-{lang}-{width}.png"))
    browser.get(f"{server}/console")
    assert "/console/sign-in" in browser.current_url
    assert_only_loopback(browser)
    assert len(list(shots.glob(f"*-{lang}-{width}.png"))) == 4
