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
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_kit import assert_only_loopback, screenshot_folder
from pakat_testkit import pakat_command, pakat_server, process_env

PASSWORD = "browser admin passphrase"
WIDTHS = (1280, 390)
PAGES = ("seals", "api-keys", "webhooks", "audit")


class Served:
    """``pakat serve`` with its home, and the environment its CLI commands need."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(pakat_command(*args), env=process_env(self.env), input=stdin, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def served(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("console-admin-serve")
    env = {"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(dev_env.deployment_path), "REDIS_URL": redis_url,
           "PAKAT_QUEUE": f"console-admin-browser-{uuid.uuid4().hex[:8]}"}
    with pakat_server(dev_env.deployment_path, home, workers=1, env=env) as (url, _, _):
        yield Served(url, env)


@pytest.fixture(scope="module")
def admin(served: Served) -> str:
    """The organisation's first administrator, made on the command line with the password on stdin."""
    username = f"admin-{uuid.uuid4().hex[:6]}"
    served.cli("user", "add", "--org", "demo-co", "--username", username, "--role", "admin",
               "--display-name", "مدیر آزمون", "--password-stdin", stdin=PASSWORD + "\n")
    return username


@pytest.fixture(scope="module")
def screens() -> Path:
    return screenshot_folder("console-admin")


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def sign_in(driver: Any, served: Served, username: str) -> None:
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.delete_all_cookies()
    driver.get(f"{served.url}/console/sign-in?lang=fa")
    by_id(driver, "username").send_keys(username)
    by_id(driver, "password").send_keys(PASSWORD)
    by_id(driver, "password").submit()
    assert by_id(driver, "who-username").text == username


def at_width(driver: Any, width: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


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
    sign_in(browser, served, admin)
    browser.get(f"{served.url}/console")
    by_id(browser, "surface-api-keys").click()
    label = f"ERP {uuid.uuid4().hex[:6]}"
    by_id(browser, "key-label").send_keys(label)
    by_id(browser, "scope-batches").click()
    by_id(browser, "create-key").click()
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
    by_id(browser, f"revoke-{key_id}").click()
    assert by_id(browser, "revoke-key-id").text == key_id
    browser.save_screenshot(str(screens / "api-key-revoke-confirm-fa-1280.png"))
    by_id(browser, "revoke-confirm").click()
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
    sign_in(browser, served, admin)
    browser.get(f"{served.url}/console/admin/audit?lang=en")
    by_id(browser, "verify").click()
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
    sign_in(browser, served, admin)
    for lang in ("fa", "en"):
        for width in WIDTHS:
            at_width(browser, width)
            browser.get_log("browser")  # forget what earlier pages logged
            browser.get(f"{served.url}/console/admin/{page}?lang={lang}")
            if page == "audit":
                by_id(browser, "verify").click()
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
