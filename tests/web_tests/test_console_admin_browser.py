"""The console's administration pages in a real headless Chromium against ``pakat serve``.

An administrator (made with ``pakat user add``, as the first admin is) signs in,
makes an API key on the page, uses it on the API, revokes it on the page and sees
the API refuse it at once; verifies the audit chain and sees the head hash, the
same as ``pakat audit show`` reads. Every admin page at 1280 and 390 px, in
Persian and English: RTL/LTR, no sideways scrolling, nothing loaded from off this
machine, no console error, screenshots (their folder is printed).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_kit import assert_only_loopback, screenshot_folder
from console_kit import Served, at_width, browser_sign_in, by_id, click_and_load, served_console

WIDTHS = (1280, 390)
PAGES = ("seals", "api-keys", "webhooks", "audit")


@pytest.fixture(scope="module")
def served(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    env = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"console-admin-browser-{uuid.uuid4().hex[:8]}"}
    with served_console(dev_env, tmp_path_factory.mktemp("console-admin-serve"), env) as found:
        yield found


@pytest.fixture(scope="module")
def admin(served: Served) -> str:
    """The organisation's first administrator, made on the command line with the password on stdin."""
    return served.add_person(f"admin-{uuid.uuid4().hex[:6]}", "admin", display_name="مدیر آزمون")


@pytest.fixture(scope="module")
def screens() -> Path:
    return screenshot_folder("console-admin")


def check_page(driver: Any, lang: str, width: int, what: str) -> None:
    """The page is in ``lang``, fits ``width`` without sideways scrolling, and loaded nothing from elsewhere."""
    from selenium.webdriver.common.by import By

    html = driver.find_element(By.TAG_NAME, "html")
    assert (html.get_attribute("lang"), html.get_attribute("dir")) == (lang, "rtl" if lang == "fa" else "ltr")
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{what} {lang} scrolls sideways at {width} px by {overflow} px"
    family = driver.execute_script("return getComputedStyle(document.body).fontFamily")
    assert family.replace('"', "").startswith("Vazirmatn"), family
    assert_only_loopback(driver)


def test_a_key_made_on_the_page_works_until_it_is_revoked_there(browser: Any, served: Served, admin: str,
                                                                   screens: Path) -> None:
    browser_sign_in(browser, served.url, admin)
    browser.get(f"{served.url}/console")
    click_and_load(browser, "surface-api-keys")
    label = f"ERP {uuid.uuid4().hex[:6]}"
    by_id(browser, "key-label").send_keys(label)
    by_id(browser, "scope-batches").click()
    click_and_load(browser, "create-key")
    secret = by_id(browser, "new-key").text.strip()
    assert re.fullmatch(r"pk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", secret), secret
    key_id = secret.split("_")[1]
    assert "دیگر آن را نخواهید دید" in by_id(browser, "issued").text
    copy = by_id(browser, "copy-key")
    assert copy.is_displayed()  # the script unhid it
    copy.click()
    assert by_id(browser, "copy-status").text.strip()  # copied, or told to select it by hand
    assert secret not in browser.current_url
    browser.save_screenshot(str(screens / "api-key-shown-once-fa-1280.png"))
    check_page(browser, "fa", 1280, "the new key")

    bearer = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{served.url}/api/v1/batches", headers=bearer, timeout=20).status_code == 200

    browser.get(f"{served.url}/console/admin/api-keys")
    assert secret not in browser.page_source and secret.split("_", 2)[2] not in browser.page_source
    row = by_id(browser, f"key-{key_id}")
    assert row.get_attribute("data-state") == "active" and label in row.text
    click_and_load(browser, f"revoke-{key_id}")
    assert by_id(browser, "revoke-key-id").text == key_id
    browser.save_screenshot(str(screens / "api-key-revoke-confirm-fa-1280.png"))
    click_and_load(browser, "revoke-confirm")
    assert by_id(browser, f"key-{key_id}").get_attribute("data-state") == "revoked"
    refused = requests.get(f"{served.url}/api/v1/batches", headers=bearer, timeout=20)
    assert refused.status_code == 401, refused.text

    # The audit log has the three changes, by this person.
    browser.get(f"{served.url}/console/admin/audit?subject=api-key:{key_id}&lang=en")
    actions = [r.get_attribute("data-action") for r in
               browser.find_elements("css selector", "#entries tbody tr")]
    assert actions == ["api_key.revoked", "api_key.created"]
    assert admin in by_id(browser, "entries").text


def test_verify_the_audit_chain_and_see_the_head_hash(browser: Any, served: Served, admin: str) -> None:
    browser_sign_in(browser, served.url, admin)
    browser.get(f"{served.url}/console/admin/audit?lang=en")
    click_and_load(browser, "verify")  # a form: wait for its answer, not the page that had the button
    verdict = by_id(browser, "verdict")
    assert verdict.get_attribute("data-ok") == "yes" and "The chain is intact." in verdict.text
    head_hash = by_id(browser, "head-hash").text.strip()
    head_seq = int(by_id(browser, "head-seq").get_attribute("data-seq-head"))
    assert re.fullmatch(r"[0-9a-f]{64}", head_hash)
    (entry,) = json.loads(served.cli("audit", "show", "--after", str(head_seq - 1), "--limit", "1", "--json"))
    assert entry["seq"] == head_seq and entry["hash"] == head_hash
    check_page(browser, "en", 1280, "the verdict")


@pytest.mark.parametrize("page", PAGES)
def test_admin_pages_in_both_languages_and_widths(browser: Any, served: Served, admin: str, screens: Path,
                                                  page: str) -> None:
    browser_sign_in(browser, served.url, admin)
    for lang in ("fa", "en"):
        for width in WIDTHS:
            at_width(browser, width)
            browser.get_log("browser")  # forget what earlier pages logged
            browser.get(f"{served.url}/console/admin/{page}?lang={lang}")
            if page == "audit":
                click_and_load(browser, "verify")  # a form: wait for its answer, not the page that had the button
                assert by_id(browser, "verdict").get_attribute("data-ok") == "yes"
                if lang == "fa":  # Jalali, Persian digits
                    assert re.search(r"۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2}", by_id(browser, "entries").text)
            if page == "seals":
                assert by_id(browser, "hsm").get_attribute("data-reachable") == "yes"
                days = by_id(browser, "cert-days")
                assert days.get_attribute("data-state") in ("ok", "warning")
                if lang == "fa":
                    assert re.search(r"۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2}", by_id(browser, "cert-not-after").text)
            check_page(browser, lang, width, page)
            assert by_id(browser, f"admin-nav-{page}").get_attribute("aria-current") == "page"
            browser.save_screenshot(str(screens / f"{page}-{lang}-{width}.png"))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
