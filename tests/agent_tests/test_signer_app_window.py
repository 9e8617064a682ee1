"""Pakat Signer's real windows: under Xvfb, typed into with xdotool, against ``pakat serve`` and SoftHSM.

``pakat-signer LINK`` runs as the OS would start it, with a fresh config folder;
the test confirms the server, reads the review, types the PIN and presses
Return, then checks the session on the server and validates the signed PDF.
Refusals: a token that is not the expected signer's (no PIN window ever), a
server not confirmed (nothing sent), a wrong PIN (coded message, the session
still signs afterwards), a stored document altered behind the server's back
(DOCUMENT_DIGEST_MISMATCH, no review, no PIN). The review shows the pages the
app drew itself: found pixel for pixel in the screenshots, page after page.
Screenshots of each window go under the test's tmp folder; their paths are
printed.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from app_kit import App, pakat_service, sign_through_the_windows
from pakat_testkit import api_key, assert_no_secret, pdf_bytes, wait_until
from PIL import Image

from agent.app import texts
from agent.app.paint import text_image
from agent.app.tk_ui import PAGE_BOX
from agent.pages import render_pages
from envelopes.blobs import DocumentStore
from hsm_config.deployment import load_deployment, validation_config
from validation.engine import Validator
from validation.model import Indication

PERSON = "user-gov"
WRONG_PIN = "2468013579"  # not a factory PIN: no warning window in the way


@pytest.fixture(scope="module")
def service(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``pakat serve`` and a worker (the level is completed on the queue), on the dev deployment."""
    with pakat_service(dev_env.deployment_path, tmp_path_factory.mktemp("signer-app-home"), redis_url) as served:
        yield served


def _new_session(
    dev_env: Any, url: str, name: str, expected: dict[str, Any], pdf: bytes | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    doc = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                        files={"pdf": (name, io.BytesIO(pdf or pdf_bytes(f"bid {name}", pages=2)))})
    assert doc.status_code == 201, doc.text
    created = requests.post(f"{url}/api/v1/documents/{doc.json()['id']}/signing-sessions", headers=headers,
                            json={"level": "B-LTA", "expected_signer": expected}, timeout=30)
    assert created.status_code == 201, created.text
    return {**created.json(), "document_sha256": doc.json()["sha256"]}, headers


def _state(url: str, headers: dict[str, str], session: dict[str, Any]) -> str:
    reply = requests.get(f"{url}/api/v1/documents/{session['document_id']}/signing-sessions/{session['id']}",
                         headers=headers, timeout=30)
    return str(reply.json()["state"])


def test_the_bidder_confirms_the_server_types_the_pin_and_the_pdf_validates(
    dev_env: Any, service: dict[str, Any], display: str, tmp_path: Path
) -> None:
    user = dev_env.users[PERSON]
    url = service["url"]
    session, headers = _new_session(dev_env, url, "app-signed.pdf",
                                    {"national_id": user.national_code, "role": user.title})
    shots = tmp_path / "screenshots"
    shots.mkdir()
    app = App(dev_env, display, session["pairing_link"], tmp_path / "config", shots)
    sign_through_the_windows(app, user.read_pin(), confirm_server=True)
    app.window("Signed")
    app.keys("Return")
    code, out, err = app.finish()
    assert code == 0, out + err
    assert "Pakat Signer - PIN" in app.titles and "Pakat Signer - Review" in app.titles
    known = (tmp_path / "config" / "xdg" / "pakat-signer" / "known_servers.txt").read_text(encoding="utf-8")
    assert url in known.splitlines()  # http://127.0.0.1:PORT: the origin, port written

    wait_until(lambda: _state(url, headers, session) == "completed", 120, "the session completed at B-LTA")
    pdf = requests.get(f"{url}/api/v1/documents/{session['document_id']}/pdf", headers=headers, timeout=30)
    assert pdf.status_code == 200
    report = Validator(validation_config(load_deployment(dev_env.deployment_path))).validate(pdf.content)
    assert report.indication is Indication.TOTAL_PASSED
    assert [(s.indication, s.pades_level) for s in report.signatures] == [(Indication.TOTAL_PASSED, "B-LTA")]
    secrets = [session["agent_secret"], user.read_pin()]
    assert_no_secret([out, err, *(log.read_bytes() for log in service["logs"])], secrets)
    print(f"screenshots: {shots}")


def test_refusals_a_wrong_token_an_unconfirmed_server_and_a_wrong_pin(
    dev_env: Any, service: dict[str, Any], display: str, tmp_path: Path
) -> None:
    user = dev_env.users[PERSON]
    url = service["url"]
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # Nobody's token fits: the coded message, and the PIN window never appears.
    nobody, headers = _new_session(dev_env, url, "app-nobody.pdf", {"national_id": "0012345679"})
    app = App(dev_env, display, nobody["pairing_link"], tmp_path / "config-a", shots)
    app.window("Confirm server")
    app.keys("Tab", "Return")
    app.window("Error NO_MATCHING_CERTIFICATE")
    app.keys("Return")
    code, out, err = app.finish()
    assert code == 6 and "NO_MATCHING_CERTIFICATE" in err, out + err
    assert "Pakat Signer - PIN" not in app.titles and "Pakat Signer - Review" not in app.titles
    assert _state(url, headers, nobody) == "awaiting_certificate"

    # The user does not recognise the server and presses Cancel (it has the focus): nothing is sent.
    session, headers = _new_session(dev_env, url, "app-refused.pdf",
                                    {"national_id": user.national_code, "role": user.title})
    fresh = tmp_path / "config-b"
    app = App(dev_env, display, session["pairing_link"], fresh, shots)
    app.window("Confirm server")
    app.keys("Return")
    app.window("Error SERVER_NOT_CONFIRMED")
    app.keys("Return")
    code, out, err = app.finish()
    assert code == 8 and "SERVER_NOT_CONFIRMED" in err, out + err
    assert _state(url, headers, session) == "awaiting_certificate"
    assert not (fresh / "xdg" / "pakat-signer" / "known_servers.txt").exists()
    served = b"".join(log.read_bytes() for log in service["logs"])
    assert f"/agent/v1/sessions/{session['id']}".encode() not in served  # not even the session was read

    # A wrong PIN: coded message, the session stays usable, and the next try signs without asking the server.
    known = tmp_path / "config-c"
    app = App(dev_env, display, session["pairing_link"], known, shots)
    sign_through_the_windows(app, WRONG_PIN, confirm_server=True)
    app.window("Error WRONG_PIN")
    app.keys("Return")
    code, out, err = app.finish()
    assert code == 5 and "WRONG_PIN" in err, out + err
    assert _state(url, headers, session) == "awaiting_certificate"
    again = App(dev_env, display, session["pairing_link"], known, shots)
    sign_through_the_windows(again, user.read_pin(), confirm_server=False)
    again.window("Signed")
    again.keys("Return")
    code2, out2, err2 = again.finish()
    assert code2 == 0, out2 + err2
    assert "Pakat Signer - Confirm server" not in again.titles
    assert _state(url, headers, session) in ("signed", "completed")
    assert_no_secret([out, err, out2, err2], [session["agent_secret"], user.read_pin(), WRONG_PIN])
    print(f"screenshots: {shots}")


def _shows(screenshot: Path | None, part: Image.Image) -> bool:
    """Whether ``part`` stands pixel for pixel somewhere on the screen (Tk shows PNGs unchanged at 24 bits)."""
    assert screenshot is not None, "ImageMagick's import is missing: ./dev.sh setup installs it"
    with Image.open(screenshot) as opened:
        screen = opened.convert("RGB")
    part = part.convert("RGB")
    width, row_bytes = screen.width * 3, part.width * 3
    pixels, wanted = screen.tobytes(), part.tobytes()
    rows = [wanted[y * row_bytes:(y + 1) * row_bytes] for y in range(part.height)]
    # Search for the part's most inked row (the least white), then compare the whole part there.
    anchor = min(range(part.height), key=lambda y: rows[y].count(255))
    for top in range(screen.height - part.height + 1):
        line = pixels[(top + anchor) * width:(top + anchor + 1) * width]
        at = line.find(rows[anchor])
        while at != -1:
            if at % 3 == 0 and all(
                pixels[(top + y) * width + at:(top + y) * width + at + row_bytes] == rows[y]
                for y in range(part.height)
            ):
                return True
            at = line.find(rows[anchor], at + 1)
    return False


def test_the_review_shows_the_pages_the_app_drew_and_a_changed_document_is_refused_before_the_pin(
    dev_env: Any, service: dict[str, Any], display: str, tmp_path: Path
) -> None:
    user = dev_env.users[PERSON]
    url = service["url"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    expected = {"national_id": user.national_code, "role": user.title}
    pdf = pdf_bytes("bid drawn by the app", pages=3)
    session, headers = _new_session(dev_env, url, "app-pages.pdf", expected, pdf)
    # What the app must show: the same pages drawn from the same bytes, and which page of how many.
    pages = render_pages(io.BytesIO(pdf), PAGE_BOX).images

    def label(number: int) -> Image.Image:
        return text_image([texts.page_label(number, 3)], PAGE_BOX[0], size=13)

    app = App(dev_env, display, session["pairing_link"], tmp_path / "config", shots)
    app.window("Confirm server")
    app.keys("Tab", "Return")
    app.window("Review")
    first = app.screenshot("Review page 1")
    assert _shows(first, pages[0]) and _shows(first, label(1)), f"page 1 is not on the screen: {first}"
    assert not _shows(first, pages[1])
    app.keys("Next")  # Page Down
    time.sleep(0.5)
    second = app.screenshot("Review page 2")
    assert _shows(second, pages[1]) and _shows(second, label(2)), f"page 2 is not on the screen: {second}"
    app.keys("Next", "Next")  # past the last page: it stays there
    time.sleep(0.5)
    third = app.screenshot("Review page 3")
    assert _shows(third, pages[2]) and _shows(third, label(3)), f"page 3 is not on the screen: {third}"
    app.keys("Escape")
    app.window("Error USER_CANCELLED")
    app.keys("Return")
    code, out, err = app.finish()
    assert code == 8 and "USER_CANCELLED" in err, out + err
    assert "Pakat Signer - PIN" not in app.titles
    assert _state(url, headers, session) == "awaiting_certificate"

    # The stored file altered behind the server's back (same length): the session answer still names the
    # recorded SHA-256, the app's download does not match it, and the walk ends before the review and the PIN.
    changed, headers = _new_session(dev_env, url, "app-changed.pdf", expected)
    stored = DocumentStore(service["home"] / "documents").path(changed["document_sha256"])
    original = stored.read_bytes()
    stored.write_bytes(original.replace(b"app-changed.pdf 2", b"app-changed.pdf 9"))
    try:
        app = App(dev_env, display, changed["pairing_link"], tmp_path / "config", shots)
        app.window("Error DOCUMENT_DIGEST_MISMATCH")
        app.keys("Return")
        code, out, err = app.finish()
    finally:
        stored.write_bytes(original)
    assert code == 6 and "DOCUMENT_DIGEST_MISMATCH" in err, out + err
    assert "Pakat Signer - PIN" not in app.titles and "Pakat Signer - Review" not in app.titles
    assert _state(url, headers, changed) == "awaiting_certificate"
    assert_no_secret([out, err], [changed["agent_secret"], session["agent_secret"]])
    print(f"screenshots: {shots}")
