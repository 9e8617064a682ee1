"""A real headless Chromium for the page tests, and the checks every page must pass in it.

``open_browser`` starts Debian's chromium through its chromedriver (a missing one
fails the test loudly, naming the packages); ``assert_only_loopback`` checks that a
page loaded nothing from off this machine and logged no error or warning;
``screenshot_folder`` is where a test keeps its screenshots, for CI to keep as
artifacts.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
JALALI_DATE = re.compile(r"۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2} ساعت [۰-۹]{2}:[۰-۹]{2}:[۰-۹]{2} \(تهران\)")
EXTERNAL_URL = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
#: Where CI collects the tests' artifacts (screenshots...): ``$PAKAT_TEST_ARTIFACTS``, else this folder.
ARTIFACTS_DEFAULT = Path(__file__).resolve().parent.parent / "test-artifacts"
_announced: set[Path] = set()


def screenshot_folder(name: str) -> Path:
    """The folder for a test's screenshots, ``<artifacts>/screenshots/<name>``: emptied of an earlier run's
    pictures and printed the first time this process asks for it.

    Not the pytest tmp folder: CI keeps the artifacts folder after the run, so a failure's pictures can be seen.
    ``name`` is the test file's own (the suite runs a file per process: no other process writes there).
    """
    folder = Path(os.environ.get("PAKAT_TEST_ARTIFACTS") or ARTIFACTS_DEFAULT) / "screenshots" / name
    if folder not in _announced:
        _announced.add(folder)
        shutil.rmtree(folder, ignore_errors=True)  # this run's pictures only (numbered names count what is there)
        print(f"\nscreenshots: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def open_browser() -> Iterator[Any]:
    """A headless Chromium driven by selenium, quit afterwards."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            pytest.fail(f"{path} is required for the page tests (Debian packages chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--window-size=1280,1800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def fetched_urls(driver: Any) -> list[str]:
    """The page itself and everything it loaded (styles, fonts, images, scripts)."""
    entries = driver.execute_script(
        "return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));"
    )
    return [str(u) for u in entries]


def assert_only_loopback(driver: Any) -> list[str]:
    """Everything the page loaded came from this machine, and the browser logged no problem."""
    urls = fetched_urls(driver)
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "data") and (parts.scheme == "data" or parts.hostname in LOOPBACK), url
    problems = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert problems == [], problems
    return urls
