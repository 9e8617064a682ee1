"""Where a signature shows: each widget of its field, the page that lists it and its rectangle.

A signature field is its own widget (field and annotation merged, as most
signing software writes it) or has widget /Kids. A widget's page is the page
whose /Annots lists it; its /P is only the writer's claim and is believed only
when that page lists no widget at all (some writers forget /Annots). A widget
of zero width or height, or flagged Hidden or NoView, is "invisible": nothing
shows on the page, which is how invisible signatures are written.

Everything here reads attacker-controlled objects: whatever cannot be read is
left out (a page of ``None``, a rectangle of ``None``), never an exception that
would cost the verdict.
"""

from __future__ import annotations

import math

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from validation.budget import check_time
from validation.discovery import FoundSignature
from validation.model import WidgetPlacement

#: Pages and widgets looked at: a page tree or a /Kids list beyond these is a denial of service, not a document.
MAX_PAGES = 100_000
MAX_WIDGETS = 64
_HIDDEN, _NO_VIEW = 1 << 1, 1 << 5  # annotation flags (ISO 32000-1, 12.5.3)

Key = tuple[int, int]


def annotation_pages(reader: PdfFileReader) -> dict[Key, int]:
    """(object number, generation) of every annotation each page lists → its 1-based page number."""
    found: dict[Key, int] = {}
    try:
        root = reader.root.raw_get("/Pages")
    except Exception:  # no page tree (or no readable catalogue): no page for any widget
        return found
    stack: list[object] = [root]
    seen: set[object] = set()
    number = 0
    while stack and number < MAX_PAGES:
        raw = stack.pop()
        ident = (raw.idnum, raw.generation) if isinstance(raw, generic.IndirectObject) else id(raw)
        if ident in seen:
            continue
        seen.add(ident)
        node = _resolve(raw)
        if not isinstance(node, generic.DictionaryObject):
            continue
        kids = _entry(node, "/Kids")
        if isinstance(kids, generic.ArrayObject) and _entry(node, "/Type") != "/Page":
            stack.extend(reversed(list(kids)))
            continue
        number += 1
        if number % 1000 == 0:
            check_time()
        annots = _entry(node, "/Annots")
        if isinstance(annots, generic.ArrayObject):
            for item in annots:
                if isinstance(item, generic.IndirectObject):
                    found.setdefault((item.idnum, item.generation), number)
        if isinstance(raw, generic.IndirectObject):
            found.setdefault(_page_key(raw), number)
    return found


def placements(found: FoundSignature, pages: dict[Key, int]) -> list[WidgetPlacement]:
    """The widgets of ``found``'s field with their page and rectangle, in /Kids order."""
    field = found.field
    widgets: list[tuple[Key | None, generic.DictionaryObject]] = []
    merged = "/Rect" in field or _entry(field, "/Subtype") == "/Widget"
    if merged:
        widgets.append(((found.field_ref.idnum, found.field_ref.generation), field))
    else:
        kids = _entry(field, "/Kids")
        if isinstance(kids, generic.ArrayObject):
            for kid in list(kids)[:MAX_WIDGETS]:
                widget = _resolve(kid)
                if isinstance(widget, generic.DictionaryObject):
                    key = (kid.idnum, kid.generation) if isinstance(kid, generic.IndirectObject) else None
                    widgets.append((key, widget))
    return [_placement(key, widget, pages) for key, widget in widgets]


def _placement(key: Key | None, widget: generic.DictionaryObject, pages: dict[Key, int]) -> WidgetPlacement:
    page = pages.get(key) if key is not None else None
    if page is None:
        claimed = _raw_entry(widget, "/P")
        if isinstance(claimed, generic.IndirectObject):
            page = pages.get(_page_key(claimed))
    rect = _rect(widget)
    flags = _entry(widget, "/F") or 0
    hidden = isinstance(flags, int) and bool(flags & (_HIDDEN | _NO_VIEW))
    empty = rect is None or rect[2] - rect[0] == 0 or rect[3] - rect[1] == 0
    return WidgetPlacement(page=page, rect=rect, invisible=hidden or empty)


def _rect(widget: generic.DictionaryObject) -> list[float] | None:
    raw = _entry(widget, "/Rect")
    if not isinstance(raw, generic.ArrayObject) or len(raw) != 4:
        return None
    try:
        x1, y1, x2, y2 = (float(_resolve(v)) for v in raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    return [round(min(x1, x2), 3), round(min(y1, y2), 3), round(max(x1, x2), 3), round(max(y1, y2), 3)]


def _page_key(ref: generic.IndirectObject) -> Key:
    # Pages share the key space with annotations; a negative generation keeps the two apart.
    return ref.idnum, -1 - ref.generation


def _raw_entry(dictionary: generic.DictionaryObject, key: str) -> object:
    """The entry as written (a reference stays one); None when absent."""
    try:
        return dictionary.raw_get(key)
    except Exception:  # absent (KeyError) or unreadable
        return None


def _entry(dictionary: generic.DictionaryObject, key: str) -> object:
    """The entry's value, references followed; None when absent, dangling or unreadable."""
    return _resolve(_raw_entry(dictionary, key))


def _resolve(raw: object) -> object:
    try:
        return raw.get_object() if isinstance(raw, generic.IndirectObject) else raw
    except Exception:  # a dangling or damaged reference reads as nothing
        return None
