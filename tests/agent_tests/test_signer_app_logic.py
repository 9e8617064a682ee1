"""Pakat Signer without a display: the known-servers list, the windows' texts, the order of the steps.

The controller is driven by a scripted :class:`Screens` and a recording
signer, so what is asked, in which order, and what is never sent are checked
without Tk, a token or a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.app import controller, texts
from agent.app.known_servers import KnownServers, Server, config_dir, server_of
from agent.app.paint import fit, png_bytes, text_image
from agent.client import AgentClient
from agent.discovery import FoundCertificate
from agent.flow import DocumentOutcome, Interaction, SignOutcome, SignRequest
from agent.pages import DocumentPages
from pakat import errors
from pakat.errors import PakatError

SECRET = "s3cr3t-" + "x" * 30
LINK = ("pakat://sign?session=https%3A%2F%2Fpakat.example.ir%2Fagent%2Fv1%2Fsessions%2Fabc123"
        f"&secret={SECRET}")
OUTCOME = SignOutcome("abc123", "B-LTA", {"subject_cn": "Ali", "national_id": "0085123459"},
                      (DocumentOutcome("abc123", "bid.pdf", "ab" * 32, "signed", 1),))


def test_config_folder_follows_each_platform(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert config_dir({"HOME": home}, "linux") == tmp_path / ".config" / "pakat-signer"
    assert config_dir({"HOME": home, "XDG_CONFIG_HOME": "/x/cfg"}, "linux") == Path("/x/cfg/pakat-signer")
    assert config_dir({"HOME": home, "XDG_CONFIG_HOME": "rel"}, "linux") == tmp_path / ".config" / "pakat-signer"
    assert config_dir({"APPDATA": r"C:\Users\a\AppData\Roaming"}, "win32") == (
        Path(r"C:\Users\a\AppData\Roaming") / "Pakat" / "Signer")
    assert config_dir({"HOME": home}, "darwin") == tmp_path / "Library" / "Application Support" / "pakat-signer"


def test_server_origin_always_names_the_port() -> None:
    assert server_of("https://Pakat.Example.ir/agent/v1/sessions/a") == Server(
        "https://pakat.example.ir:443", "pakat.example.ir")
    assert server_of("https://pakat.example.ir:8443/x") == Server(
        "https://pakat.example.ir:8443", "pakat.example.ir:8443")
    assert server_of("http://127.0.0.1:5000/x").origin == "http://127.0.0.1:5000"
    assert server_of("http://[::1]:5000/x") == Server("http://[::1]:5000", "[::1]:5000")


def test_known_servers_are_remembered_in_a_file(tmp_path: Path) -> None:
    store = KnownServers(tmp_path / "deep" / "known_servers.txt")
    server = server_of("https://pakat.example.ir/agent/v1/sessions/a")
    assert not store.knows(server)
    store.add(server)
    store.add(server)
    again = KnownServers(store.path)
    assert again.knows(server)
    assert not again.knows(server_of("https://pakat.example.ir:444/x"))  # another port is another server
    assert store.path.read_text(encoding="utf-8").count("https://pakat.example.ir:443") == 1


def test_an_unreadable_list_is_a_coded_error(tmp_path: Path) -> None:
    folder = tmp_path / "list"
    folder.mkdir()  # a folder where the file should be
    with pytest.raises(PakatError) as caught:
        KnownServers(folder).knows(server_of("https://a.example/x"))
    assert caught.value.kind is errors.KNOWN_SERVERS_UNREADABLE
    assert errors.KINDS["KNOWN_SERVERS_UNREADABLE"].fa and errors.KINDS["SERVER_NOT_CONFIRMED"].en


class Script:
    """Scripted windows: answers given in advance, everything shown recorded."""

    def __init__(self, *, link: str | None = None, trust: bool = True, pin: str = "246801") -> None:
        self.link, self.trust, self.pin_value = link, trust, pin
        self.seen: list[str] = []
        self.error: PakatError | None = None
        self.lines: list[str] = []

    def ask_link(self) -> str | None:
        self.seen.append("link")
        return self.link

    def confirm_server(self, server: Server, lines: Sequence[str]) -> bool:
        self.seen.append(f"server {server.host}")
        self.lines += lines
        return self.trust

    def connected(self, client: AgentClient) -> None:
        self.seen.append("connected")

    def show(self, lines: Sequence[str]) -> None:
        self.seen.append("show")

    def warn(self, text: str) -> None:
        self.seen.append("warn")

    def choose(self, candidates: Sequence[FoundCertificate]) -> FoundCertificate | None:
        return None

    def pin(self) -> str:
        self.seen.append("pin")
        return self.pin_value

    def failed(self, error: PakatError, lines: Sequence[str]) -> None:
        self.error = error
        self.lines += lines

    def succeeded(self, outcome: SignOutcome, lines: Sequence[str]) -> None:
        self.seen.append("signed")
        self.lines += lines


def recording_signer(calls: list[SignRequest]) -> Any:
    def sign(request: SignRequest, ui: Interaction, client: AgentClient) -> SignOutcome:
        calls.append(request)
        assert client.url == request.session_url
        ui.show(["…"])
        ui.pin()
        return OUTCOME

    return sign


def test_first_use_asks_once_then_the_server_is_known(tmp_path: Path) -> None:
    store = KnownServers(tmp_path / "known.txt")
    calls: list[SignRequest] = []
    logged: list[str] = []
    first = Script()
    assert controller.run(LINK, first, store, sign=recording_signer(calls), log=logged.append) == 0
    assert first.seen == ["server pakat.example.ir", "connected", "show", "pin", "signed"]
    assert "سرور / Server: pakat.example.ir" in first.lines
    second = Script()
    assert controller.run(LINK, second, store, sign=recording_signer(calls), log=logged.append) == 0
    assert second.seen[0] == "connected"  # no question the second time
    assert [c.secret for c in calls] == [SECRET, SECRET]
    assert all(SECRET not in line for line in [*logged, *first.lines, *second.lines])


def test_a_server_not_confirmed_gets_nothing(tmp_path: Path) -> None:
    store = KnownServers(tmp_path / "known.txt")
    calls: list[SignRequest] = []
    screens = Script(trust=False)
    logged: list[str] = []
    assert controller.run(LINK, screens, store, sign=recording_signer(calls), log=logged.append) == 8
    assert calls == [] and "connected" not in screens.seen
    assert screens.error is not None and screens.error.code == "SERVER_NOT_CONFIRMED"
    assert not store.path.exists()
    assert logged[0].startswith("SERVER_NOT_CONFIRMED: ")


def test_the_link_is_pasted_when_not_given_and_checked_strictly(tmp_path: Path) -> None:
    store = KnownServers(tmp_path / "known.txt")
    calls: list[SignRequest] = []
    pasted = Script(link=LINK)
    assert controller.run(None, pasted, store, sign=recording_signer(calls), log=lambda _: None) == 0
    assert pasted.seen[0] == "link"
    insecure = Script()
    bad = LINK.replace("https%3A", "http%3A")
    assert controller.run(bad, insecure, store, sign=recording_signer(calls), log=lambda _: None) == 3
    assert insecure.error is not None and insecure.error.code == "AGENT_LINK_INSECURE"
    nothing = Script(link=None)
    assert controller.run(None, nothing, store, sign=recording_signer(calls), log=lambda _: None) == 8
    assert nothing.error is not None and nothing.error.code == "USER_CANCELLED"
    assert len(calls) == 1


def test_error_texts_carry_the_code_in_both_languages() -> None:
    error = PakatError(errors.WRONG_PIN, "token-1")
    lines = texts.error_lines(error)
    assert lines[0] == "کد خطا / Error code: WRONG_PIN"
    assert errors.WRONG_PIN.fa in lines and errors.WRONG_PIN.en in lines
    assert any("session is still open" in line for line in lines)
    assert texts.error_title(error) == "Pakat Signer - Error WRONG_PIN"
    assert texts.error_line(error).startswith("WRONG_PIN: " + errors.WRONG_PIN.fa)
    assert "one try left" in " ".join(texts.pin_lines(["Warning: one try left before the PIN locks."]))
    assert any("development" in line for line in texts.server_lines(server_of("http://127.0.0.1:5/x")))


def test_persian_lines_are_drawn_right_aligned_and_previews_fit() -> None:
    image = text_image(["سند / Document"], 400)
    ink = [x for x in range(400) if any(image.getpixel((x, y)) != (255, 255, 255) for y in range(image.height))]
    assert ink and ink[-1] > 380 and ink[0] > 100  # right-aligned: the ink ends at the right edge
    english = text_image(["Document / سند"], 400)
    ink = [x for x in range(400) if any(english.getpixel((x, y)) != (255, 255, 255)
                                        for y in range(english.height))]
    assert ink[0] < 10
    page = png_bytes(Image.new("RGB", (1000, 1400), (250, 250, 250)))
    assert fit(page, 420, 420).size == (300, 420)


def test_the_review_says_what_the_picture_is_and_which_pages_were_left_out() -> None:
    page = Image.new("RGB", (10, 14), (255, 255, 255))
    drawn = texts.pages_lines(DocumentPages((page, page), 2))
    assert any("drawn on this computer after checking its SHA-256" in line for line in drawn)
    assert not any("Only the first" in line for line in drawn)
    capped = texts.pages_lines(DocumentPages((page,) * 20, 35))
    assert capped[-1].endswith("/ Only the first 20 of the 35 pages are shown.")
    assert capped[-1].startswith("فقط ۲۰ صفحهٔ نخست از ۳۵ صفحه")
    assert texts.page_label(2, 20) == "صفحهٔ ۲ از ۲۰ / Page 2 of 20"
    assert texts.page_labels([2]) == [texts.page_label(1, 2), texts.page_label(2, 2)]
    envelope = texts.page_labels([1, 2])  # a session of two documents: which document, then which page
    assert envelope == ["سند ۱ از ۲، صفحهٔ ۱ از ۱ / Document 1 of 2, page 1 of 1",
                        "سند ۲ از ۲، صفحهٔ ۱ از ۲ / Document 2 of 2, page 1 of 2",
                        "سند ۲ از ۲، صفحهٔ ۲ از ۲ / Document 2 of 2, page 2 of 2"]
    # Not drawn here: the server's picture stands in, and the window says why, with the code.
    fallback = texts.preview_lines(True, PakatError(errors.PDF_TOO_LARGE, "70000000 bytes"))
    assert fallback[0].startswith("صفحه‌ها روی این رایانه کشیده نشد (PDF_TOO_LARGE: " + errors.PDF_TOO_LARGE.fa)
    assert fallback[0].endswith(f"(PDF_TOO_LARGE: {errors.PDF_TOO_LARGE.en})")
    assert "as the server renders it" in fallback[1]
    assert texts.preview_lines(False) == ["پیش‌نمایش سند در دسترس نیست. / The document's preview is not available."]
    lines = texts.review_lines(["  SHA-256: ab"], drawn)
    assert lines[0] == "SHA-256: ab" and lines[1:] == drawn
