"""Pakat Signer's windows in Tk (standard library): one window whose content changes with each step.

Each step draws its texts as images (:mod:`agent.app.paint`: joined Persian,
right to left), lays buttons out right to left, and waits in Tk's own event
loop (``wait_variable``) for the user's answer, so the signing flow runs
straight through in the main thread. Return presses the focused button; the
PIN field's Return signs; Escape cancels; Page Up and Page Down turn the
review's pages (drawn here by :mod:`agent.pages`, one at a time). The PIN
stays in the Entry and the one string handed to the flow, which drops it
after the login.
"""

from __future__ import annotations

import base64
import contextlib
import tkinter as tk
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from agent.app import texts
from agent.app.known_servers import Server
from agent.app.paint import fit, png_bytes, text_image
from agent.client import AgentClient
from agent.discovery import FoundCertificate
from agent.flow import SignOutcome, shown_document, waiting_documents
from agent.pages import DocumentPages, fetch_pages
from agent.present import certificate_facts
from pakat import errors
from pakat.errors import PakatError

WIDTH = 640
# A drawn page, or the server's picture, fits this box (width, height): beside the text, the window stays
# within a 1024-pixel-wide screen.
PAGE_BOX = (325, 460)
# Raised while drawing the pages: the review goes on with the server's picture and says why.
_NOT_DRAWN = (errors.PDF_TOO_LARGE, errors.PDF_UNPARSEABLE)


class TkScreens:
    """:class:`agent.app.controller.Screens` on Tk."""

    def __init__(self, root: tk.Tk | None = None) -> None:
        self.root = root or tk.Tk()
        self.root.configure(background="white", padx=16, pady=12)
        self.root.resizable(False, False)
        self.root.protocol("WM_DELETE_WINDOW", self._closed)
        self._frame: tk.Frame | None = None
        self._images: list[tk.PhotoImage] = []  # Tk shows an image only while Python holds it
        self._answer = tk.StringVar(self.root, "")
        self._client: AgentClient | None = None
        self._pending_warnings: list[str] = []
        self._pin_asked = False

    # -- the steps ---------------------------------------------------------------------------------

    def ask_link(self) -> str | None:
        self._page(texts.LINK_TITLE, texts.LINK_LINES)
        entry = self._entry(show="•")  # the secret is in the link: not shown on screen
        self._buttons([(texts.CANCEL, "cancel"), (texts.CONFIRM, "ok")], default="ok")
        entry.bind("<Return>", lambda _e: self._answer.set("ok"))
        entry.focus_force()
        if self._wait() != "ok":
            return None
        return entry.get()

    def confirm_server(self, server: Server, lines: Sequence[str]) -> bool:
        self._page(texts.SERVER_TITLE, lines)
        # Cancel first and focused: trusting a server takes a deliberate Tab to the other button.
        self._buttons([(texts.CANCEL, "cancel"), (texts.TRUST, "trust")], default="cancel")
        return self._wait() == "trust"

    def connected(self, client: AgentClient) -> None:
        self._client = client
        self._working()

    def show(self, lines: Sequence[str]) -> None:
        # Before the PIN: a document whose bytes are not the ones described ends the walk here, coded.
        drawn, not_drawn = self._pages()
        if drawn and all(pages.images for pages in drawn):
            images = tuple(image for pages in drawn for image in pages.images)
            together = DocumentPages(images, sum(pages.total for pages in drawn))
            self._page(texts.REVIEW_TITLE, texts.review_lines(lines, texts.pages_lines(together)), pages=images,
                       page_labels=texts.page_labels([len(pages.images) for pages in drawn]))
        else:
            preview = self._preview()
            picture_lines = texts.preview_lines(preview is not None, not_drawn)
            self._page(texts.REVIEW_TITLE, texts.review_lines(lines, picture_lines), picture=preview)
        self._buttons([(texts.CANCEL, "cancel"), (texts.CONTINUE, "go")], default="go")
        if self._wait() != "go":
            raise PakatError(errors.USER_CANCELLED, "the user stopped at the review")

    def warn(self, text: str) -> None:
        if not self._pin_asked:
            self._pending_warnings.append(text)  # shown in the PIN window, where it matters
            return
        self._page(texts.WARNING_TITLE, [text])
        self._buttons([(texts.OK, "ok")], default="ok")
        self._wait()
        self._working()

    def choose(self, candidates: Sequence[FoundCertificate]) -> FoundCertificate | None:
        lines = ["چند گواهی برای این نشست مناسب است؛ یکی را برگزینید.", "Several certificates fit; choose one."]
        self._page(texts.CHOOSE_TITLE, lines)
        choices: list[tuple[str, str]] = [(texts.CANCEL, "cancel")]
        for n, found in enumerate(candidates):
            facts = certificate_facts(found.certificate)
            who = f"{facts['subject_cn']} ({facts['national_id'] or '—'}) — {found.token_label}"
            choices.append((who, str(n)))
        self._buttons(choices, default="cancel", vertical=True)
        answer = self._wait()
        if not answer.isdigit():
            raise PakatError(errors.USER_CANCELLED, "no certificate was chosen")
        self._working()
        return candidates[int(answer)]

    def pin(self) -> str:
        self._pin_asked = True
        self._page(texts.PIN_TITLE, texts.pin_lines(self._pending_warnings))
        entry = self._entry(show="•")
        self._buttons([(texts.CANCEL, "cancel"), (texts.SIGN, "sign")], default="sign")
        entry.bind("<Return>", lambda _e: self._answer.set("sign"))
        entry.focus_force()
        answer = self._wait()
        pin = entry.get() if answer == "sign" else ""
        entry.delete(0, tk.END)  # out of the widget before anything else runs
        self._working()
        if not pin:
            raise PakatError(errors.USER_CANCELLED, "no PIN was given")
        return pin

    def failed(self, error: PakatError, lines: Sequence[str]) -> None:
        self._page(texts.error_title(error), lines, heading_colour=(160, 20, 20))
        self._buttons([(texts.CLOSE, "close")], default="close")
        self._wait()

    def succeeded(self, outcome: SignOutcome, lines: Sequence[str]) -> None:
        self._page(texts.SIGNED_TITLE, lines, heading_colour=(10, 110, 40))
        self._buttons([(texts.CLOSE, "close")], default="close")
        self._wait()

    def close(self) -> None:
        """Destroy the window (the app is done)."""
        with contextlib.suppress(tk.TclError):  # already gone: the user closed it
            self.root.destroy()

    # -- building blocks ---------------------------------------------------------------------------

    def _pages(self) -> tuple[list[DocumentPages] | None, PakatError | None]:
        """Each document's pages drawn here, checked against the session answer the flow showed; or why not.

        The documents are those the flow signs (every one still awaiting a signature), in the same order.
        """
        client = self._client
        session = client.last_session if client is not None else None
        if client is None or session is None:
            return None, None
        drawn = []
        for document in waiting_documents(session):
            shown = shown_document(document)
            member = str(document.get("session") or "")
            source = client if member == session.get("session") else client.for_session(member)
            try:
                drawn.append(fetch_pages(source, shown.sha256, shown.size, PAGE_BOX))
            except PakatError as error:
                if error.kind in _NOT_DRAWN:
                    return None, error
                raise
        return drawn, None

    def _preview(self) -> Image.Image | None:
        if self._client is None:
            return None
        try:
            return fit(self._client.get_preview(), *PAGE_BOX)
        except PakatError:
            return None  # the review goes on with the facts alone, and says the picture is missing
        except OSError:
            return None  # Pillow could not read what came back as a PNG

    def _page(
        self,
        title: str,
        lines: Sequence[str],
        *,
        picture: Image.Image | None = None,
        pages: Sequence[Image.Image] = (),
        page_labels: Sequence[str] = (),
        heading_colour: tuple[int, int, int] | None = None,
    ) -> None:
        self.root.title(title)
        for key in _PAGE_KEYS:
            self.root.unbind(key)
        if self._frame is not None:
            self._frame.destroy()
        self._images.clear()
        self._answer.set("")
        self._frame = tk.Frame(self.root, background="white")
        self._frame.pack(fill=tk.BOTH, expand=True)
        heading = text_image([texts.APP_NAME], WIDTH, size=18, bold=True)
        if heading_colour is not None:
            heading.paste(heading_colour, (0, heading.height - 3, WIDTH, heading.height))
        self._label(self._frame, heading)
        if picture is None and not pages:
            self._label(self._frame, text_image(lines, WIDTH))
        else:
            # Side by side, text on the right as Persian reads, so the window fits a 768-pixel-high screen.
            row = tk.Frame(self._frame, background="white")
            row.pack(fill=tk.X)
            self._label(row, text_image(lines, WIDTH), side=tk.RIGHT)
            if pages:
                self._pager(row, pages, page_labels)
            elif picture is not None:
                self._label(row, picture, border=True, side=tk.LEFT)
        self.root.bind("<Escape>", lambda _e: self._answer.set("cancel"))

    def _label(self, parent: tk.Misc | None, image: Image.Image, border: bool = False,
               side: str = tk.TOP) -> None:
        photo = self._photo(image)
        tk.Label(parent, image=photo, background="white", borderwidth=1 if border else 0,
                 relief=tk.SOLID if border else tk.FLAT).pack(side=side, anchor=tk.NE, pady=4, padx=4)  # type: ignore[arg-type]

    def _pager(self, parent: tk.Misc, pages: Sequence[Image.Image], labels: Sequence[str]) -> None:
        """One page at a time in a fixed box, its label (which page of how many, of which document), and
        previous/next (also Page Up/Down)."""
        column = tk.Frame(parent, background="white")
        column.pack(side=tk.LEFT, anchor=tk.N)
        photos: dict[int, tuple[tk.PhotoImage, tk.PhotoImage]] = {}  # page and label, made when first shown

        def photo(index: int) -> tuple[tk.PhotoImage, tk.PhotoImage]:
            if index not in photos:
                number = text_image([labels[index]], PAGE_BOX[0], size=13)
                photos[index] = (self._photo(_framed(pages[index])), self._photo(number))
            return photos[index]

        page = tk.Label(column, background="white", borderwidth=0)
        page.pack(side=tk.TOP, padx=4, pady=4)
        label = tk.Label(column, background="white", borderwidth=0)
        label.pack(side=tk.TOP, anchor=tk.E, padx=4)
        row = tk.Frame(column, background="white")
        row.pack(side=tk.TOP, fill=tk.X)
        moves: dict[int, tk.Button] = {}
        for text, step in ((texts.PREVIOUS_PAGE, -1), (texts.NEXT_PAGE, 1)):
            image = self._photo(text_image([text], PAGE_BOX[0] // 2 - 14, size=12, background=(235, 235, 235)))
            button = tk.Button(row, image=image, background="#ebebeb")
            button.bind("<Return>", _invoker(button))
            button.pack(side=tk.RIGHT, padx=4, pady=2)  # right to left: previous at the right edge
            moves[step] = button
        current = [0]

        def turn(step: int) -> None:
            current[0] = max(0, min(len(pages) - 1, current[0] + step))
            page_photo, label_photo = photo(current[0])
            page.configure(image=page_photo)
            label.configure(image=label_photo)
            moves[-1].configure(state=tk.NORMAL if current[0] > 0 else tk.DISABLED)
            moves[1].configure(state=tk.NORMAL if current[0] < len(pages) - 1 else tk.DISABLED)

        for step, button in moves.items():
            button.configure(command=_turner(turn, step))
        self.root.bind(_PAGE_KEYS[0], lambda _e: turn(-1))
        self.root.bind(_PAGE_KEYS[1], lambda _e: turn(1))
        turn(0)

    def _entry(self, show: str) -> tk.Entry:
        entry = tk.Entry(self._frame, show=show, width=40, font=("TkFixedFont", 14), justify=tk.RIGHT)
        entry.pack(anchor=tk.E, pady=8)
        return entry

    def _buttons(self, choices: Sequence[tuple[str, str]], *, default: str, vertical: bool = False) -> None:
        row = tk.Frame(self._frame, background="white")
        row.pack(fill=tk.X, pady=(10, 0))
        focus: tk.Button | None = None
        for text, value in choices:
            photo = self._photo(text_image([text], 10 + int(WIDTH * (0.9 if vertical else 0.42)), size=14,
                                           background=(235, 235, 235)))
            button = tk.Button(row, image=photo, command=_setter(self._answer, value), background="#ebebeb")
            button.bind("<Return>", _invoker(button))
            # Right to left: the first button stands at the right edge, as Persian readers expect.
            button.pack(side=tk.TOP if vertical else tk.RIGHT, anchor=tk.E, padx=4, pady=2)
            if value == default:
                focus = button
        if focus is not None:
            focus.focus_force()

    def _photo(self, image: Image.Image) -> tk.PhotoImage:
        photo = tk.PhotoImage(master=self.root, data=base64.b64encode(png_bytes(image)).decode("ascii"))
        self._images.append(photo)
        return photo

    def _working(self) -> None:
        self._page(texts.WORKING_TITLE, texts.WORKING_LINES)
        self.root.update()  # paint it now: the next step blocks on the network or the token

    def _wait(self) -> str:
        self.root.update_idletasks()
        self.root.deiconify()
        self.root.lift()
        self.root.wait_variable(self._answer)
        return self._answer.get()

    def _closed(self) -> None:
        # The window manager's close button is a Cancel (or Close on the last window).
        self._answer.set("cancel")


_PAGE_KEYS = ("<Prior>", "<Next>")  # Page Up, Page Down


def _framed(page: Image.Image) -> Image.Image:
    """The page in a thin grey frame, top centre in a white box of one size, so the window keeps its size."""
    box = Image.new("RGB", (PAGE_BOX[0] + 2, PAGE_BOX[1] + 2), (255, 255, 255))
    left = (box.width - page.width - 2) // 2
    box.paste((150, 150, 150), (left, 0, left + page.width + 2, page.height + 2))
    box.paste(page, (left + 1, 1))
    return box


def _turner(turn: Callable[[int], None], step: int) -> Callable[[], Any]:
    return lambda: turn(step)


def _invoker(button: tk.Button) -> Callable[[tk.Event[Any]], Any]:
    return lambda _event: button.invoke()


def _setter(variable: tk.StringVar, value: str) -> Callable[[], Any]:
    return lambda: variable.set(value)
