"""The document's pages drawn at the user's side (agent/pages.py), against the real app over loopback HTTP.

The module's app is served by werkzeug on a free loopback port, so the
agent's own client downloads ``document.pdf`` as it would from a deployment.
A real three-page PDF is drawn page by page; a stored file altered behind the
server's back, or a session answer naming other bytes, is refused with
DOCUMENT_DIGEST_MISMATCH; the size and page caps hold.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import pdf_bytes
from PIL import Image
from session_kit import Platform
from werkzeug.serving import make_server

from agent.client import AgentClient
from agent.pages import DocumentPages, fetch_pages, render_pages
from pakat import errors
from pakat.errors import PakatError

BOX = (360, 480)
PAGES = 3


@pytest.fixture(scope="module")
def served(app: Flask) -> Iterator[str]:
    """The module's app on a loopback port: its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def _session(
    client: FlaskClient, platform: Platform, served: str, text: str
) -> tuple[AgentClient, dict[str, Any]]:
    """A fresh document of PAGES pages and a session on it: the agent's client and the session answer."""
    upload = client.post("/api/v1/documents", headers=platform.headers,
                         data={"pdf": (io.BytesIO(pdf_bytes(text, pages=PAGES)), "pages.pdf")})
    assert upload.status_code == 201, upload.json
    created = platform.session(upload.json["id"])
    agent = AgentClient(f"{served}/agent/v1/sessions/{created['id']}", created["agent_secret"])
    return agent, agent.get_session()


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Dark pixels in ``box`` of ``image``."""
    return sum(image.crop(box).convert("L").histogram()[:128])


def test_the_pages_are_drawn_from_the_checked_document(
    client: FlaskClient, platform: Platform, served: str
) -> None:
    agent, session = _session(client, platform, served, "drawn here")
    assert agent.last_session is session
    shown = session["document"]
    pages = fetch_pages(agent, shown["sha256"], shown["size"], BOX)
    assert isinstance(pages, DocumentPages) and pages.total == PAGES == shown["pages"] and pages.left_out == 0
    # A4 (595 x 842 pt) fitted into 360 x 480: the height fills the box.
    assert [image.size for image in pages.images] == [(340, 480)] * PAGES
    # Each page's line "drawn here N" sits at 72 pt from the left, 82 pt from the top: ink there, none below.
    for image in pages.images:
        assert _ink(image, (35, 35, 200, 55)) > 50 and _ink(image, (0, 100, 340, 480)) == 0
    assert len({image.tobytes() for image in pages.images}) == PAGES  # "… 1", "… 2", "… 3": three pages

    capped = fetch_pages(agent, shown["sha256"], shown["size"], BOX, max_pages=2)
    assert len(capped.images) == 2 and capped.total == PAGES and capped.left_out == 1
    assert [i.tobytes() for i in capped.images] == [i.tobytes() for i in pages.images[:2]]


def test_bytes_other_than_the_ones_shown_are_refused(
    app: Flask, client: FlaskClient, platform: Platform, served: str
) -> None:
    agent, session = _session(client, platform, served, "tampered")
    shown = session["document"]
    # The session answer names other bytes than the server then sends (a liar, or a swap in between).
    other = hashlib.sha256(b"another document").hexdigest()
    with pytest.raises(PakatError) as caught:
        fetch_pages(agent, other, shown["size"], BOX)
    assert caught.value.kind is errors.DOCUMENT_DIGEST_MISMATCH
    assert "not the document you were shown" in (caught.value.detail or "")
    with pytest.raises(PakatError) as caught:
        fetch_pages(agent, shown["sha256"], shown["size"] - 1, BOX)  # the file is longer than shown
    assert caught.value.kind is errors.DOCUMENT_DIGEST_MISMATCH and "bytes" in (caught.value.detail or "")

    # The stored file altered behind the server's back, same length: the server's own answer still names
    # the digest it recorded, and the agent's check catches the difference.
    stored = app.extensions["pakat"].store.path(shown["sha256"])
    original = stored.read_bytes()
    changed = original.replace(b"tampered 2", b"tampered 9")
    assert changed != original and len(changed) == len(original)
    stored.write_bytes(changed)
    try:
        assert agent.get_session()["document"]["sha256"] == shown["sha256"]
        with pytest.raises(PakatError) as caught:
            fetch_pages(agent, shown["sha256"], shown["size"], BOX)
        assert caught.value.kind is errors.DOCUMENT_DIGEST_MISMATCH
    finally:
        stored.write_bytes(original)
    assert fetch_pages(agent, shown["sha256"], shown["size"], BOX).total == PAGES


def test_the_size_cap_the_secret_and_an_undrawable_file(
    client: FlaskClient, platform: Platform, served: str
) -> None:
    agent, session = _session(client, platform, served, "caps")
    shown = session["document"]
    with pytest.raises(PakatError) as caught:
        fetch_pages(agent, shown["sha256"], shown["size"], BOX, max_bytes=shown["size"] - 1)
    assert caught.value.kind is errors.PDF_TOO_LARGE  # refused before anything is downloaded

    stranger = AgentClient(agent.url, "x" * 43)
    with pytest.raises(PakatError) as caught:
        fetch_pages(stranger, shown["sha256"], shown["size"], BOX)
    assert caught.value.kind is errors.AGENT_SECRET_INVALID

    with pytest.raises(PakatError) as caught:
        render_pages(io.BytesIO(b"%PDF-1.7\nnot really a PDF\n%%EOF\n"), BOX)
    assert caught.value.kind is errors.PDF_UNPARSEABLE
    # A page of an odd shape (the largest width PDF allows, 9 pt high; same length, so the xref holds) still
    # fits the box, at least a pixel high.
    pdf = pdf_bytes("wide").replace(b"/MediaBox [ 0 0 595 842 ]", b"/MediaBox [ 0 0 14400 9 ]")
    wide = render_pages(io.BytesIO(pdf), BOX)
    assert wide.images[0].width == BOX[0] and 1 <= wide.images[0].height <= BOX[1]
