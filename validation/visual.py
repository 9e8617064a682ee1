"""What a reader sees: the signed revision's pages beside the document's pages now, as EU DSS compares them.

The structural analysis (:mod:`validation.modifications`) says what changed;
this module says whether any page shows it. Both revisions are drawn by
poppler and compared pixel by pixel, except inside the regions the policy
allows to change (a later signature's widget, a filled field, an allowed
annotation). A filled field is held to one more rule, against "shadow"
attacks that fill a field lying over the page's own text: inside its region a
pixel may change only where the signed page itself (drawn without its
annotations) shows nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops

from pakat.rendering import TIMEOUT_SECONDS, RenderError, render_pages

Box = tuple[float, float, float, float]
DPI = 50
_MARGIN = 2  # pixels around an allowed region: anti-aliasing at its edge
_WHITE = 250


@dataclass(frozen=True)
class Region:
    """Where a page may change: a rectangle in the page's user space."""

    page: int
    rect: Box
    overlay: bool = False  # a form field: it may not paint over the page's own content


@dataclass(frozen=True)
class PageGeometry:
    """A page as it is shown: its box (CropBox within MediaBox) and its rotation."""

    box: Box
    rotate: int

    def to_pixels(self, rect: Box, width: int, height: int) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = self.box
        page_w, page_h = x1 - x0, y1 - y0
        corners = []
        for x, y in ((rect[0], rect[1]), (rect[2], rect[3])):
            u, v = x - x0, y1 - y  # from the top-left of the unrotated page
            u, v = {0: (u, v), 90: (page_h - v, u), 180: (page_w - u, page_h - v),
                    270: (v, page_w - u)}.get(self.rotate, (u, v))
            corners.append((u, v))
        shown_w = page_h if self.rotate in (90, 270) else page_w
        sx, sy = width / shown_w, height / (page_w if self.rotate in (90, 270) else page_h)
        (a, b), (c, d) = corners
        return (max(0, int(min(a, c) * sx) - _MARGIN), max(0, int(min(b, d) * sy) - _MARGIN),
                min(width, int(max(a, c) * sx + 1) + _MARGIN), min(height, int(max(b, d) * sy + 1) + _MARGIN))


@dataclass(frozen=True)
class VisualOutcome:
    changed_pages: list[int]  # 0-based: pages showing a change outside what may change
    covered_pages: list[int]  # 0-based: pages where a filled field paints over the page's own content


def compare_pages(
    signed: Path, final: Path, pages: Sequence[int], regions: Sequence[Region],
    geometry: dict[int, PageGeometry], *, dpi: int = DPI, timeout: float = TIMEOUT_SECONDS,
) -> VisualOutcome:
    """Draw ``pages`` of both files and report where they differ outside ``regions``.

    Raises :class:`pakat.rendering.RenderError` when poppler cannot draw them
    within ``timeout`` seconds (each drawing: they run side by side).
    """
    if timeout <= 0:
        raise RenderError("no time left to draw the pages")
    overlays = {r.page for r in regions if r.overlay}
    # The drawings are separate poppler processes: run them side by side.
    with ThreadPoolExecutor(max_workers=3) as pool:
        drawn_before = pool.submit(render_pages, signed, pages, dpi=dpi, timeout=timeout)
        drawn_after = pool.submit(render_pages, final, pages, dpi=dpi, timeout=timeout)
        drawn_bare = pool.submit(render_pages, signed, [p for p in pages if p in overlays], dpi=dpi,
                                 hide_annotations=True, timeout=timeout)
        before, after, bare = drawn_before.result(), drawn_after.result(), drawn_bare.result()
    changed: list[int] = []
    covered: list[int] = []
    for page in sorted(set(pages)):
        a, b = before.get(page), after.get(page)
        if a is None or b is None or a.size != b.size:
            if a is not None or b is not None:
                changed.append(page)  # a page only one revision has, or resized
            continue
        diff = ImageChops.difference(a, b).point(lambda v: 255 if v > 0 else 0)
        if diff.getbbox() is None:
            continue
        shape = geometry.get(page)
        for region in (r for r in regions if r.page == page and shape is not None):
            assert shape is not None
            box = shape.to_pixels(region.rect, a.width, a.height)
            inside = diff.crop(box)
            if region.overlay and page in bare and _paints_over(inside, bare[page].crop(box)):
                covered.append(page)
            diff.paste(0, box)
        if diff.getbbox() is not None:
            changed.append(page)
    return VisualOutcome(changed, sorted(set(covered)))


def _paints_over(changed: Image.Image, page_content: Image.Image) -> bool:
    """Whether any changed pixel lies where the page itself shows something (not paper white)."""
    ink = page_content.point(lambda v: 255 if v < _WHITE else 0)
    return ImageChops.multiply(changed, ink).getbbox() is not None
