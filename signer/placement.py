"""Where a visible signature block goes on the page.

A :class:`VisibleSignature` asks either for an explicit place (a page and a
rectangle in millimetres) or for the default: the free area at the bottom of
the last page that Setad asks bidders to leave (7–10 × 3 cm), filled right to
left like Persian text: the first block at the bottom right, the next one to
its left, then a row above. Blocks of earlier signatures on that page (their
widgets' /Rect) are never covered: an explicit place that would cover one is
refused with APPEARANCE_OVERLAPS, and the default place moves on to the next
free slot.

Coordinates a caller gives are millimetres from the bottom-left corner of the
page *as it is shown*: a page with /Rotate 90 shows its long side
horizontally, and the block is placed and drawn upright on that view. The
result (:class:`Placement`) is in the page's own user space, ready for /Rect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pikepdf

from pakat import errors
from pakat.errors import InputError
from signer.pdf import PdfSource, number, qpdf_reading

MM = 72 / 25.4  # PDF points per millimetre

DEFAULT_WIDTH_MM = 80.0
DEFAULT_HEIGHT_MM = 30.0
MARGIN_MM = 12.0  # from the page's edges, for the default place
SMALL_PAGE_MARGIN = 0.08  # of the page's short side, when that is less than MARGIN_MM
GAP_MM = 4.0  # between blocks placed by default
MIN_WIDTH_MM = 20.0
MIN_HEIGHT_MM = 8.0
_MAX_PAGE_TREE_DEPTH = 64

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 with x0 < x1, y0 < y1


@dataclass(frozen=True)
class VisibleSignature:
    """A request for a visible signature block.

    ``page`` is 1-based, negative counts from the end (-1, the default, is the
    last page). ``rect_mm`` is ``(x, y, width, height)`` in millimetres from the
    bottom-left corner of the page as shown; None asks for the default place,
    an 80 × 30 mm block in the free area at the bottom of the page.
    """

    page: int = -1
    rect_mm: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.page, bool) or not isinstance(self.page, int) or self.page == 0:
            raise InputError(errors.REQUEST_INVALID, "visible.page must be a non-zero whole number")
        if self.rect_mm is None:
            return
        if len(self.rect_mm) != 4 or not all(_is_number(v) for v in self.rect_mm):
            raise InputError(errors.REQUEST_INVALID, "visible.rect_mm must be four numbers [x, y, width, height]")
        _, _, width, height = self.rect_mm
        if width < MIN_WIDTH_MM or height < MIN_HEIGHT_MM:
            raise InputError(
                errors.REQUEST_INVALID,
                f"visible.rect_mm: a block is at least {MIN_WIDTH_MM:g} × {MIN_HEIGHT_MM:g} mm",
            )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, as the API takes it and a signing session stores it."""
        body: dict[str, Any] = {"page": self.page}
        if self.rect_mm is not None:
            body["rect_mm"] = list(self.rect_mm)
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> VisibleSignature:
        """Read the JSON form; anything unexpected is REQUEST_INVALID."""
        unknown = set(body) - {"page", "rect_mm"}
        if unknown:
            raise InputError(errors.REQUEST_INVALID, f"visible: unknown field {sorted(unknown)[0]!r}")
        page = body.get("page", -1)
        rect = body.get("rect_mm")
        if rect is None:
            return cls(page)
        if not isinstance(rect, list | tuple) or len(rect) != 4 or not all(_is_number(v) for v in rect):
            raise InputError(errors.REQUEST_INVALID, "visible.rect_mm must be four numbers [x, y, width, height]")
        x, y, w, h = (float(v) for v in rect)
        return cls(page, (x, y, w, h))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Placement:
    """A block's place: the page, its /Rect in the page's user space, and how the page is shown."""

    page_index: int  # 0-based
    rect: Box
    rotate: int  # the page's /Rotate: 0, 90, 180 or 270

    @property
    def size(self) -> tuple[float, float]:
        """Width and height of the block as the reader sees it, in points."""
        w, h = self.rect[2] - self.rect[0], self.rect[3] - self.rect[1]
        return (h, w) if self.rotate in (90, 270) else (w, h)


def place(pdf: PdfSource, request: VisibleSignature) -> Placement:
    """Choose the block's place on ``pdf``, or refuse (APPEARANCE_*) when the request cannot be met."""
    with qpdf_reading():
        return _place(pdf, request)


def _place(pdf: PdfSource, request: VisibleSignature) -> Placement:
    count = len(pdf.pages)
    index = request.page - 1 if request.page > 0 else count + request.page
    if not 0 <= index < count:
        raise InputError(errors.APPEARANCE_OUTSIDE_PAGE, f"page {request.page} of a {count}-page document")
    page = pdf.page(index)
    view = _PageView(page)
    taken = signature_rects(page)
    if request.rect_mm is not None:
        x, y, w, h = (v * MM for v in request.rect_mm)
        wanted = (x, y, x + w, y + h)
        if not _inside(wanted, (0.0, 0.0, view.width, view.height)):
            raise InputError(
                errors.APPEARANCE_OUTSIDE_PAGE,
                f"{_mm(wanted)} on page {index + 1}, shown {view.width / MM:.0f} × {view.height / MM:.0f} mm",
            )
        rect = view.to_user(wanted)
        for other in taken:
            if _overlap(rect, other):
                raise InputError(errors.APPEARANCE_OVERLAPS, f"another signature's block at {_mm(other)}")
        return Placement(index, rect, view.rotate)
    return Placement(index, _free_slot(view, taken, index), view.rotate)


def _free_slot(view: _PageView, taken: list[Box], index: int) -> Box:
    """The first free default slot: the lowest row first, right to left in it.

    A small page (a label, a receipt slip) keeps a margin in proportion to it
    and, if even then the block does not fit, gets the block scaled down as a
    whole; only a block smaller than the minimum leaves no room. A block keeps
    half a gap from every earlier one; where it can, a whole gap, the spacing
    blocks placed here have. The places tried are the corner of the margins
    and those just beside and above each earlier block: any free place slides
    down and right to one of them, so if none is free the page has no room.
    """
    margin = min(MARGIN_MM * MM, SMALL_PAGE_MARGIN * min(view.width, view.height))
    gap = GAP_MM * MM
    scale = min(1.0, (view.width - 2 * margin) / (DEFAULT_WIDTH_MM * MM),
                (view.height - 2 * margin) / (DEFAULT_HEIGHT_MM * MM))
    w, h = DEFAULT_WIDTH_MM * MM * scale, DEFAULT_HEIGHT_MM * MM * scale
    if w < MIN_WIDTH_MM * MM or h < MIN_HEIGHT_MM * MM:
        raise InputError(errors.APPEARANCE_NO_ROOM, f"page {index + 1} is too small for a signature block")
    shown = [view.to_shown(other) for other in taken]
    eps = 1e-6
    for spacing in (gap, gap / 2):
        rows = sorted({margin, *(other[3] + spacing for other in shown)})
        columns = sorted({view.width - margin - w, *(other[0] - spacing - w for other in shown)}, reverse=True)
        for y in rows:
            if y + h > view.height - margin + eps:
                break
            for x in columns:
                if x < margin - eps or x + w > view.width - margin + eps:
                    continue
                rect = (x, y, x + w, y + h)
                if not any(_overlap(_grown(rect, gap / 2 - eps), other) for other in shown):
                    return view.to_user(rect)
    raise InputError(errors.APPEARANCE_NO_ROOM, f"page {index + 1} has {len(taken)} signature blocks already")


class _PageView:
    """A page as it is shown: its visible box (CropBox within MediaBox) and rotation."""

    def __init__(self, page: pikepdf.Dictionary) -> None:
        media = _box(_inherited(page, "/MediaBox"), "MediaBox")
        if media is None:
            raise InputError(errors.PDF_UNPARSEABLE, "a page without a MediaBox")
        crop = _box(_inherited(page, "/CropBox"), "CropBox") or media
        x0, y0 = max(media[0], crop[0]), max(media[1], crop[1])
        x1, y1 = min(media[2], crop[2]), min(media[3], crop[3])
        if x1 <= x0 or y1 <= y0:
            raise InputError(errors.PDF_UNPARSEABLE, "the page's CropBox lies outside its MediaBox")
        self.box: Box = (x0, y0, x1, y1)
        rotate = number(_inherited(page, "/Rotate"))
        angle = int(rotate) if rotate is not None and rotate.is_integer() else 0
        if angle % 90:
            raise InputError(errors.PDF_UNPARSEABLE, f"page /Rotate {angle} is not a multiple of 90")
        self.rotate = angle % 360
        sideways = self.rotate in (90, 270)
        self.width = (y1 - y0) if sideways else (x1 - x0)
        self.height = (x1 - x0) if sideways else (y1 - y0)

    def to_shown(self, user: Box) -> Box:
        """A rectangle of the page's user space as it is shown (the inverse of :meth:`to_user`)."""
        x0, y0, x1, y1 = self.box
        corners = []
        for x, y in ((user[0], user[1]), (user[2], user[3])):
            if self.rotate == 0:
                corners.append((x - x0, y - y0))
            elif self.rotate == 90:
                corners.append((y - y0, x1 - x))
            elif self.rotate == 180:
                corners.append((x1 - x, y1 - y))
            else:
                corners.append((y1 - y, x - x0))
        (au, av), (bu, bv) = corners
        return (min(au, bu), min(av, bv), max(au, bu), max(av, bv))

    def to_user(self, shown: Box) -> Box:
        """A rectangle of the shown page in the page's user space."""
        x0, y0, x1, y1 = self.box
        corners = []
        for u, v in ((shown[0], shown[1]), (shown[2], shown[3])):
            if self.rotate == 0:
                corners.append((x0 + u, y0 + v))
            elif self.rotate == 90:  # shown clockwise: user +y points right, user +x points down
                corners.append((x1 - v, y0 + u))
            elif self.rotate == 180:
                corners.append((x1 - u, y1 - v))
            else:
                corners.append((x0 + v, y1 - u))
        (ax, ay), (bx, by) = corners
        return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def signature_rects(page: pikepdf.Dictionary) -> list[Box]:
    """The /Rect of every visible signature widget on ``page`` (its field type possibly inherited)."""
    found: list[Box] = []
    annots = page.get("/Annots")
    if not isinstance(annots, pikepdf.Array):
        return found
    for annot in annots:
        if not isinstance(annot, pikepdf.Dictionary) or annot.get("/Subtype") != pikepdf.Name.Widget:
            continue
        if _inherited(annot, "/FT", parent="/Parent") != pikepdf.Name.Sig:
            continue
        rect = _box(annot.get("/Rect"), "Rect")
        if rect is not None and rect[2] - rect[0] > 0 and rect[3] - rect[1] > 0:
            found.append(rect)
    return found


def _inherited(obj: pikepdf.Dictionary, key: str, *, parent: str = "/Parent") -> Any:
    """``key`` from ``obj`` or its nearest ancestor, read without touching the objects.

    pikepdf's own page accessors copy inherited boxes into the page, which would
    then be written back with our /Annots edit; this only reads.
    """
    node: Any = obj
    for _ in range(_MAX_PAGE_TREE_DEPTH):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        if key in node:
            return node.get(key)
        node = node.get(parent)
    return None


def _box(value: Any, what: str) -> Box | None:
    if value is None:
        return None
    if not isinstance(value, pikepdf.Array) or len(value) != 4:
        raise InputError(errors.PDF_UNPARSEABLE, f"a /{what} that is not four numbers")
    try:
        a, b, c, d = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(errors.PDF_UNPARSEABLE, f"a /{what} that is not four numbers") from None
    return (min(a, c), min(b, d), max(a, c), max(b, d))


def _inside(inner: Box, outer: Box) -> bool:
    eps = 1e-6
    return (inner[0] >= outer[0] - eps and inner[1] >= outer[1] - eps
            and inner[2] <= outer[2] + eps and inner[3] <= outer[3] + eps)


def _overlap(a: Box, b: Box) -> bool:
    """Whether two rectangles share area (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _grown(box: Box, by: float) -> Box:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def _mm(box: Box) -> str:
    return "[" + ", ".join(f"{v / MM:.1f}" for v in box) + "] mm"
