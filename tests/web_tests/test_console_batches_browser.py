"""Bulk sealing in a real headless Chromium against a real ``pakat serve``, ``pakat worker`` and Redis.

An operator signs in, drops several PDFs on the drop zone (a real drop event
carrying real files), sends them with the page's script (XMLHttpRequest, upload
progress), lands on the batch's page and watches its progress bar reach 100 %
without a reload, sees the failed file's reason in Persian and English,
downloads the results zip through the browser and every sealed PDF in it
validates at its level, trusting only the dev root. A viewer sees the list
without "new batch". Screenshots of each page at 1280 and 390 px, in Persian and
English (their folder is printed).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import assert_only_loopback, screenshot_folder
from console_kit import at_width, browser_sign_in, served_console
from pakat_testkit import check_sealed, pdf_bytes, unparseable_pdf_bytes

from signer.levels import PadesLevel

WIDTHS = (1280, 390)
SEALED = 7  # good PDFs in the batch, and one broken one


@pytest.fixture(scope="module")
def service(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``pakat serve`` and one worker sealing one item at a time (so the progress is seen to move)."""
    env = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"console-batches-{uuid.uuid4().hex[:8]}",
           "PAKAT_BATCH_THREADS": "1", "PAKAT_BATCH_SWEEP_SECONDS": "2"}
    with served_console(dev_env, tmp_path_factory.mktemp("console-batches-serve"), env, worker=True) as served:
        served.add_person("batch-operator", "operator")
        served.add_person("batch-viewer", "viewer")
        yield served.url


@pytest.fixture(scope="module")
def screens() -> Path:
    return screenshot_folder("console-batches")


def wait_for(driver: Any, check: Any, what: str, timeout: float = 30) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(check, f"still waiting for {what}")


def shoot(driver: Any, url: str, path: str, name: str, screens: Path) -> None:
    """The page in both languages and both widths: no sideways scrolling, nothing off this machine."""
    from selenium.webdriver.common.by import By

    for lang in ("fa", "en"):
        for pixels in WIDTHS:
            at_width(driver, pixels)
            driver.get(f"{url}{path}?lang={lang}")
            html = driver.find_element(By.TAG_NAME, "html")
            direction = "rtl" if lang == "fa" else "ltr"
            assert (html.get_attribute("lang"), html.get_attribute("dir")) == (lang, direction)
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} {lang} scrolls sideways at {pixels} px by {overflow} px"
            assert_only_loopback(driver)
            driver.save_screenshot(str(screens / f"{name}-{lang}-{pixels}.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


DROP = """
const [files, done] = [arguments[0], arguments[arguments.length - 1]];
const transfer = new DataTransfer();
for (const [name, b64] of files) {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  transfer.items.add(new File([bytes], name, {type: "application/pdf"}));
}
const zone = document.getElementById("drop-zone");
zone.dispatchEvent(new DragEvent("dragenter", {dataTransfer: transfer, bubbles: true, cancelable: true}));
zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
done(document.querySelectorAll("#chosen li").length);
"""


# Wraps XMLHttpRequest.send to note, after the page's own handler, what the upload bar said at each progress
# event, and which headers the page set: kept in sessionStorage, which outlives the navigation that follows.
WATCH_UPLOAD = """
const note = (key, value) => {
  const seen = JSON.parse(sessionStorage.getItem("pakatUpload") || '{"headers": [], "bars": [], "texts": []}');
  seen[key].push(value);
  sessionStorage.setItem("pakatUpload", JSON.stringify(seen));
};
const setHeader = XMLHttpRequest.prototype.setRequestHeader;
XMLHttpRequest.prototype.setRequestHeader = function (name, value) {
  note("headers", name);
  setHeader.call(this, name, value);
};
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (body) {
  this.upload.addEventListener("progress", () => {
    note("bars", document.getElementById("upload-bar").getAttribute("aria-valuenow"));
    note("texts", document.getElementById("upload-text").textContent);
  });
  send.call(this, body);
};
"""


def test_an_operator_seals_a_batch_in_the_browser(browser: Any, service: str, screens: Path, dev_env: Any,
                                                  tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    url = service
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})

    browser_sign_in(browser, url, "batch-operator")
    browser.find_element(By.ID, "surface-batches").click()
    wait_for(browser, lambda d: d.current_url.split("?")[0].endswith("/console/batches"), "the batches page")
    shoot(browser, url, "/console/batches", "batches-empty", screens)
    browser.get(f"{url}/console/batches?lang=fa")
    browser.find_element(By.ID, "new-batch").click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "drop-zone"), "the new batch form")
    shoot(browser, url, "/console/batches/new", "batches-new", screens)

    browser.get(f"{url}/console/batches/new?lang=fa")
    # The drop zone is reached with Tab and opens the PDF picker with Enter or Space (the dialog itself is
    # held back here: a headless browser has none to show).
    zone = browser.find_element(By.ID, "drop-zone")
    browser.execute_script("document.getElementById('files').addEventListener('click', e => {"
                           " window.pickerOpened = (window.pickerOpened || 0) + 1; e.preventDefault(); });"
                           "document.getElementById('back-to-batches').focus();")
    ActionChains(browser).send_keys(Keys.TAB).perform()
    assert browser.switch_to.active_element == zone
    ActionChains(browser).send_keys(Keys.ENTER).send_keys(Keys.SPACE).perform()
    assert browser.execute_script("return window.pickerOpened") == 2
    assert zone.get_attribute("aria-label") and zone.get_attribute("aria-describedby")
    files = [(f"پاکت-{n}.pdf", base64.b64encode(pdf_bytes(f"bid {n}", pages=2)).decode()) for n in range(SEALED)]
    files.insert(3, ("broken.pdf", base64.b64encode(unparseable_pdf_bytes()).decode()))
    assert browser.execute_async_script(DROP, files) == SEALED + 1
    Select(browser.find_element(By.ID, "level")).select_by_value("B-T")
    browser.find_element(By.ID, "visible").click()
    for pixels in WIDTHS:  # the chosen files, before sending
        at_width(browser, pixels)
        browser.save_screenshot(str(screens / f"batches-new-chosen-fa-{pixels}.png"))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_script(WATCH_UPLOAD)
    browser.find_element(By.ID, "send").click()
    wait_for(browser, lambda d: "/console/batches/new" not in d.current_url, "the batch's page", timeout=60)
    upload = json.loads(browser.execute_script("return sessionStorage.getItem('pakatUpload')") or "{}")
    assert upload["headers"] == ["X-CSRF-Token", "Accept"], upload
    assert upload["bars"] and upload["bars"][-1] == "100" and upload["texts"][-1], upload
    batch_path = browser.current_url.split("?")[0][len(url):]
    assert batch_path.startswith("/console/batches/")

    # The bar moves to 100 % by polling: the page is never reloaded (the marker survives).
    browser.execute_script("window.pakatNotReloaded = true;")
    bar = browser.find_element(By.ID, "progress")
    assert bar.get_attribute("role") == "progressbar"
    seen = [int(bar.get_attribute("aria-valuenow"))]
    deadline = time.monotonic() + 180
    while seen[-1] < 100:
        assert time.monotonic() < deadline, seen
        time.sleep(0.3)
        seen.append(int(bar.get_attribute("aria-valuenow")))
    assert seen[0] < 100 and seen == sorted(seen), seen
    assert browser.execute_script("return window.pakatNotReloaded === true")
    wait_for(browser, lambda d: d.find_element(By.ID, "results").is_displayed(), "the results link")
    said = bar.get_attribute("aria-valuetext")
    assert "۸ از ۸" in said and "۷ مهر شد" in said and "۱ ناموفق" in said, said
    assert browser.find_element(By.ID, "progress-text").text == said
    fill = browser.execute_script("return document.getElementById('progress-fill').style.width")
    assert fill == "100%"
    rows = browser.find_elements(By.CSS_SELECTOR, "#failed-rows tr")
    assert len(rows) == 1 and "broken.pdf" in rows[0].text
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    assert cells[2].get_attribute("lang") == "fa" and cells[2].text and cells[3].get_attribute("lang") == "en"
    assert cells[3].text and cells[4].text.isupper()
    assert_only_loopback(browser)

    browser.find_element(By.ID, "results").click()
    wait_for(browser, lambda d: [p for p in downloads.iterdir() if p.suffix == ".zip"], "the results zip", 60)
    (results,) = [p for p in downloads.iterdir() if p.suffix == ".zip"]
    with zipfile.ZipFile(results) as zf:
        sealed = sorted(n for n in zf.namelist() if n.startswith("sealed/"))
        assert sealed == sorted(f"sealed/پاکت-{n}.pdf" for n in range(SEALED)) and "manifest.json" in zf.namelist()
        for name in sealed:
            check_sealed(zf.read(name), dev_env.root_cert_path, PadesLevel.B_T)

    shoot(browser, url, batch_path, "batch-finished", screens)
    shoot(browser, url, "/console/batches", "batches-list", screens)
    shoot(browser, url, f"{batch_path}/delete", "batch-delete", screens)

    # A viewer reads the list and the batch, and is offered neither a new batch nor deletion.
    browser_sign_in(browser, url, "batch-viewer")
    browser.get(f"{url}/console/batches?lang=en")
    assert browser.find_elements(By.CSS_SELECTOR, ".batch-link") and not browser.find_elements(By.ID, "new-batch")
    browser.get(f"{url}{batch_path}?lang=en")
    assert browser.find_element(By.ID, "results").is_displayed() and not browser.find_elements(By.ID, "delete")
    at_width(browser, 390)
    browser.save_screenshot(str(screens / "batch-viewer-en-390.png"))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    print(f"screenshots of the batches pages: {screens}")
