"""The document's pages, drawn at the user's side from the very bytes the session answer describes.

The server's picture of the first page (``preview.png``) is whatever the
server chose to draw. Here the agent downloads the document itself
(``document.pdf``) into a spooled temp file, refuses it with
DOCUMENT_DIGEST_MISMATCH unless its size and SHA-256 are the session answer's
``document.size`` and ``document.sha256`` (the digest the user is shown, and
the start the prepared revision is later checked against), and only then has
PDFium (pypdfium2) draw its first pages, each fitted into a box. So the pages
a person reads before typing the PIN are the document the signature will
cover. Nothing here needs a display.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import IO

import pypdfium2 as pdfium
from PIL import Image

from agent.client import AgentClient
from agent.prepared import check_shown_start
from pakat import errors
from pakat.errors import PakatError

MAX_PAGES = 20  # drawn; the rest are counted and the window says they were left out
# Larger documents are not downloaded to be drawn (the window falls back to the server's picture);
# the prepared revision is still checked against the shown SHA-256 before anything is signed.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_SPOOL_BYTES = 8 * 1024 * 1024  # a document up to this stays in memory, a larger one in a temp file


@dataclass(frozen=True)
class DocumentPages:
    """The first pages drawn (at most the cap), and how many the document has."""

    images: tuple[Image.Image, ...]
    total: int

    @property
    def left_out(self) -> int:
        """Pages of the document not drawn (beyond the cap)."""
        return self.total - len(self.images)


def fetch_pages(
    client: AgentClient,
    sha256: str,
    size: int,
    box: tuple[int, int],
    *,
    max_pages: int = MAX_PAGES,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> DocumentPages:
    """Download the session's document, check it is the one shown (``sha256``, ``size``), draw its pages.

    Raises DOCUMENT_DIGEST_MISMATCH for other bytes, PDF_TOO_LARGE (before
    any download) above ``max_bytes``, PDF_UNPARSEABLE when PDFium cannot
    draw it, and the client's errors (the server's refusal, SERVER_UNREACHABLE).
    """
    if size > max_bytes:
        raise PakatError(errors.PDF_TOO_LARGE, f"{size} bytes: this computer draws documents up to {max_bytes}")
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        # One byte more than shown is enough to tell a longer file: that is a mismatch, not a transport error.
        total = client.get_document(spool, size + 1)
        if total != size:
            raise PakatError(
                errors.DOCUMENT_DIGEST_MISMATCH,
                f"nothing was signed: the document downloaded has {total} bytes, the one shown {size}",
            )
        check_shown_start(spool, sha256, size, "the document downloaded is not")
        return render_pages(spool, box, max_pages)


def render_pages(source: IO[bytes], box: tuple[int, int], max_pages: int = MAX_PAGES) -> DocumentPages:
    """The first ``max_pages`` pages of the PDF in ``source``, each scaled to fit ``box`` (width, height) pixels.

    PDFium reads through the file object, so a large document is not copied
    into memory. PDF_UNPARSEABLE when it cannot open or draw the document.
    """
    source.seek(0)
    try:
        pdf = pdfium.PdfDocument(source)
    except pdfium.PdfiumError as exc:
        raise PakatError(errors.PDF_UNPARSEABLE, f"PDFium: {exc}") from None
    try:
        pdf.init_forms()  # form fields' appearances are part of what the reader sees
        images = tuple(_draw(pdf, index, box) for index in range(min(len(pdf), max_pages)))
        return DocumentPages(images, len(pdf))
    except pdfium.PdfiumError as exc:
        raise PakatError(errors.PDF_UNPARSEABLE, f"PDFium: {exc}") from None
    finally:
        pdf.close()


def _draw(pdf: pdfium.PdfDocument, index: int, box: tuple[int, int]) -> Image.Image:
    page = pdf[index]
    try:
        width, height = page.get_size()  # points, the page's own /Rotate applied
        if not (width > 0 and height > 0):
            raise PakatError(errors.PDF_UNPARSEABLE, f"page {index + 1} has no size")
        # The scale that fits the box bounds the bitmap, whatever size the page claims.
        scale = min(box[0] / width, box[1] / height)
        image = page.render(scale=scale).to_pil().convert("RGB")
    finally:
        page.close()
    image.thumbnail(box)  # rounding may add a pixel
    return image
