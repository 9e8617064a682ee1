"""What changed in a document after a signature, read as a careful reader would read it.

The signed revision and the final document are compared as documents, not as
object numbers: the catalog, the page tree, every page's entries and
annotations, the form's fields, the names, the DSS. References are followed on
both sides, so an object rewritten as an identical copy, re-pointed to one,
freed, or moved into an object stream is no change at all; an object neither
side rewrote since the signature is equal without being read. Every
difference is recorded as a :class:`Change` of one :class:`ChangeKind`, with
the page and the rectangle it shows in when it has one:

* ``extension`` — validation data (DSS, VRI) and document timestamps;
* ``signature`` — new signature fields, their widgets and appearances, and a
  value put into an empty signature field;
* ``form_filling`` — values, states and appearances of existing form fields;
* ``annotation`` — annotations added, changed or removed (widgets excepted);
* ``metadata`` — document information, XMP metadata, outlines, page labels,
  viewer preferences: nothing a page shows;
* ``structure`` — the logical structure tree (tagged PDF) and the like;
* ``other`` — anything else: page content, resources, pages added or removed,
  fields created or deleted, actions, attachments, optional content.

Whether a change is allowed is not decided here: the validation policy does
that (:mod:`validation.policy`), and :mod:`validation.visual` checks what the
pages show. An analysis that cannot finish raises :class:`AnalysisError`, which
the engine reports as such: an error is never evidence of tampering.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from pakat.errors import PakatError
from pakat.pdf_reader import RevisionView
from validation.budget import check_time

Box = tuple[float, float, float, float]

#: Bounds on the work one comparison may do; beyond them it gives up (AnalysisError).
MAX_OBJECTS = 200_000
_CLOCK_EVERY = 512  # objects compared between looks at the validation's clock
MAX_DEPTH = 64
MAX_PAGES = 10_000
MAX_FIELDS = 20_000
_STREAM_COMPARE_LIMIT = 16 * 1024 * 1024


class AnalysisError(Exception):
    """The comparison could not be completed; the message says why."""


class ChangeKind(enum.StrEnum):
    EXTENSION = "extension"
    SIGNATURE = "signature"
    FORM_FILLING = "form_filling"
    ANNOTATION = "annotation"
    METADATA = "metadata"
    STRUCTURE = "structure"
    OTHER = "other"


@dataclass(frozen=True)
class Change:
    """One difference between the signed revision and the document now."""

    kind: ChangeKind
    where: str  # e.g. "page 2 /Contents", "field 'bidder_name' /V", "catalog /Names /EmbeddedFiles"
    page: int | None = None  # 0-based, for changes that show on a page
    rect: Box | None = None  # the annotation's /Rect on that page, in its user space
    overlay: bool = False  # a form field's appearance: it may not paint over what the page itself shows
    field: str | None = None  # the form field it belongs to (for field locks)
    unseen_effect: bool = False  # acts without showing on a page (scripts, actions, attachments, permissions)


@dataclass
class Changes:
    """Every change found, in the order found."""

    items: list[Change] = field(default_factory=list)

    def add(self, kind: ChangeKind, where: str, **extra: object) -> None:
        self.items.append(Change(kind, where, **extra))  # type: ignore[arg-type]

    def of(self, *kinds: ChangeKind) -> list[Change]:
        return [c for c in self.items if c.kind in kinds]

    @property
    def kinds(self) -> set[ChangeKind]:
        return {c.kind for c in self.items}


# -- catalog entries, by what changing them means ------------------------------------------------------

_CATALOG_METADATA = {"/Metadata", "/Outlines", "/PageLabels", "/ViewerPreferences", "/PageMode", "/PageLayout",
                     "/Lang", "/Threads", "/SpiderInfo", "/PieceInfo", "/Version", "/Extensions", "/Type"}
_CATALOG_STRUCTURE = {"/StructTreeRoot", "/MarkInfo"}
_NAME_TREES = {"/Dests": ChangeKind.ANNOTATION, "/AP": ChangeKind.ANNOTATION, "/IDS": ChangeKind.METADATA,
               "/URLS": ChangeKind.METADATA}
# Page entries that show nothing on the page; everything else a page has is what it shows.
_PAGE_METADATA = {"/PieceInfo", "/LastModified", "/Metadata", "/Thumb", "/B", "/ID", "/PZ", "/Dur", "/Trans"}
_PAGE_STRUCTURE = {"/StructParents", "/Tabs"}
_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
# The catalog entries ISO 32000-2 defines (Table 29). A change to an entry outside this list cannot be
# judged by what pages show: whoever reads it (a plug-in, a platform's own viewer) decides what it does.
_CATALOG_KNOWN = {"/Type", "/Version", "/Extensions", "/Pages", "/PageLabels", "/Names", "/Dests",
                  "/ViewerPreferences", "/PageLayout", "/PageMode", "/Outlines", "/Threads", "/OpenAction", "/AA",
                  "/URI", "/AcroForm", "/Metadata", "/StructTreeRoot", "/MarkInfo", "/Lang", "/SpiderInfo",
                  "/OutputIntents", "/PieceInfo", "/OCProperties", "/Perms", "/Legal", "/Requirements",
                  "/Collection", "/NeedsRendering", "/DSS", "/AF", "/DPartRoot"}
# Trailer entries every update rewrites (or that are judged elsewhere); any other is compared.
_TRAILER_BOOKKEEPING = {"/Size", "/Prev", "/Root", "/Info", "/ID", "/Encrypt", "/XRefStm", "/Type", "/W",
                        "/Index", "/Length", "/Filter", "/DecodeParms"}
# Entries whose change acts without a page showing it: no rendering can clear them.
_UNSEEN_EFFECT = {"/OpenAction", "/AA", "/Perms", "/AF", "/Collection", "/OCProperties", "/JavaScript",
                  "/EmbeddedFiles", "/Encrypt", "/XFA", "/Legal", "/Requirements", "/URI"}
# What filling a field may change (pyHanko's VALUE_UPDATE_KEYS, plus a choice field's selected indices).
_FIELD_VALUE_KEYS = {"/V", "/AS", "/AP", "/DV", "/I", "/Ff", "/DA", "/Q", "/F", "/MK", "/Type"}
_ACROFORM_ALLOWED = {"/Fields", "/NeedAppearances", "/SigFlags", "/DR", "/DA", "/Q"}


def compare_revisions(reader: PdfFileReader, signed: int, final: int) -> Changes:
    """The changes from revision ``signed`` to revision ``final`` (0-based)."""
    cache: dict[object, object] = {}
    diff = _Diff(RevisionView(reader, signed, cache), RevisionView(reader, final, cache))
    try:
        diff.run()
    except (AnalysisError, PakatError):  # PakatError: the validation's time ran out (validation.budget)
        raise
    except RecursionError:
        raise AnalysisError("objects nest too deeply to compare") from None
    except Exception as exc:  # a damaged object, anywhere: the comparison could not be made
        raise AnalysisError(f"{type(exc).__name__}: {exc}"[:300]) from None
    return diff.changes


class _Diff:
    def __init__(self, old: RevisionView, new: RevisionView) -> None:
        self.old, self.new = old, new
        self.changes = Changes()
        self._visited = 0
        self._equal: dict[tuple[object, object], bool] = {}
        # Pages, annotations and fields both revisions hold: each is judged where it is walked, so a
        # reference to one (a destination's page, a widget's /P or /Parent) is equal when it names the same.
        self.walked: set[tuple[int, int]] = set()

    # -- the walk --------------------------------------------------------------------------------------

    def run(self) -> None:
        old_trailer, new_trailer = self.old.trailer, self.new.trailer
        if not self.same(_get_raw(old_trailer, "/Encrypt"), _get_raw(new_trailer, "/Encrypt")):
            self.changes.add(ChangeKind.OTHER, "trailer /Encrypt", unseen_effect=True)
        if not self.same(_get_raw(old_trailer, "/Info"), _get_raw(new_trailer, "/Info")):
            self.changes.add(ChangeKind.METADATA, "trailer /Info")
        for key in sorted((set(old_trailer) | set(new_trailer)) - _TRAILER_BOOKKEEPING):
            if not self.same(_get_raw(old_trailer, key), _get_raw(new_trailer, key)):
                self.changes.add(ChangeKind.METADATA, f"trailer {key}")  # readers act on no other entry
        old_root = self.old.resolve(_get_raw(old_trailer, "/Root"))
        new_root = self.new.resolve(_get_raw(new_trailer, "/Root"))
        if not (isinstance(old_root, generic.DictionaryObject) and isinstance(new_root, generic.DictionaryObject)):
            raise AnalysisError("a revision has no catalog")
        fields = _FieldDiff(self, old_root, new_root)
        old_pages = list(_leaves(self.old, _get_raw(old_root, "/Pages")))
        new_pages = list(_leaves(self.new, _get_raw(new_root, "/Pages")))
        self.walked = _walked(self.old, old_pages, fields.old) & _walked(self.new, new_pages, fields.new)
        for key in sorted(set(old_root) | set(new_root)):
            a, b = _get_raw(old_root, key), _get_raw(new_root, key)
            if key == "/Pages":
                self.pages(old_pages, new_pages, fields)
            elif key == "/AcroForm":
                fields.form(a, b)
            elif self.same(a, b):
                continue
            elif key == "/DSS":
                self.changes.add(ChangeKind.EXTENSION, "catalog /DSS")
            elif key == "/Names":
                self.names(a, b)
            elif key in _CATALOG_METADATA:
                self.changes.add(ChangeKind.METADATA, f"catalog {key}")
            elif key in _CATALOG_STRUCTURE:
                self.changes.add(ChangeKind.STRUCTURE, f"catalog {key}")
            else:  # /OpenAction, /AA, /OCProperties, /Perms, /AF, /Collection, anything unknown
                unseen = key in _UNSEEN_EFFECT or key not in _CATALOG_KNOWN
                self.changes.add(ChangeKind.OTHER, f"catalog {key}", unseen_effect=unseen)
        fields.report()

    def names(self, a: object, b: object) -> None:
        old, new = _dict(self.old.resolve(a)), _dict(self.new.resolve(b))
        for key in sorted(set(old) | set(new)):
            if not self.same(_get_raw(old, key), _get_raw(new, key)):
                self.changes.add(_NAME_TREES.get(key, ChangeKind.OTHER), f"catalog /Names {key}",
                                 unseen_effect=key in _UNSEEN_EFFECT)

    def pages(self, old_pages: list[_Page], new_pages: list[_Page], fields: _FieldDiff) -> None:
        if len(old_pages) != len(new_pages):
            self.changes.add(ChangeKind.OTHER, f"pages: {len(old_pages)} then {len(new_pages)}")
        # Every page is compared entry by entry, even one its revision did not rewrite: what it references
        # (a content stream, a font, an XObject) may have been. An entry whose objects no revision rewrote
        # is equal without being read (see same()), so an unchanged page costs a lookup per reference.
        for index, ((_, old_page, old_inherited), (_, new_page, new_inherited)) in enumerate(
            zip(old_pages, new_pages, strict=False)
        ):
            for key in _INHERITED:
                if not self.same(old_inherited[key], new_inherited[key]):
                    self.changes.add(ChangeKind.OTHER, f"page {index + 1} {key}", page=index)
            for key in sorted((set(old_page) | set(new_page)) - {*_INHERITED, "/Parent", "/Annots"}):
                if self.same(_get_raw(old_page, key), _get_raw(new_page, key)):
                    continue
                kind = (ChangeKind.METADATA if key in _PAGE_METADATA else
                        ChangeKind.STRUCTURE if key in _PAGE_STRUCTURE else ChangeKind.OTHER)
                self.changes.add(kind, f"page {index + 1} {key}", page=index, unseen_effect=key in _UNSEEN_EFFECT)
            self.annotations(index, _get_raw(old_page, "/Annots"), _get_raw(new_page, "/Annots"), fields)

    def annotations(self, page: int, a: object, b: object, fields: _FieldDiff) -> None:
        """Annotations added, removed or changed on one page, each compared as a dictionary.

        (Not through :meth:`same` on the /Annots array: annotations are walked
        objects, equal there by reference.)
        """
        old = _annotation_map(self.old, a)
        new = _annotation_map(self.new, b)
        for key, annot in new.items():
            where = f"page {page + 1} annotation {_describe(annot)}"
            acts = "/A" in annot or "/AA" in annot  # a link or a script: it acts without showing
            if key not in old:
                kind, name = fields.widget_kind(annot, key, added=True)
                where = f"page {page + 1} widget of field {name!r}" if name is not None else where
                self.changes.add(kind, f"{where} added", page=page, rect=_rect(annot), field=name,
                                 unseen_effect=acts)
            elif not self.same(old[key], annot):
                kind, name = fields.widget_kind(annot, key, added=False)
                where = f"page {page + 1} widget of field {name!r}" if name is not None else where
                acts = (acts and not self.same(_get_raw(old[key], "/A"), _get_raw(annot, "/A"))) or \
                    (acts and not self.same(_get_raw(old[key], "/AA"), _get_raw(annot, "/AA")))
                self.changes.add(kind, f"{where} changed", page=page, rect=_rect(annot),
                                 overlay=kind is ChangeKind.FORM_FILLING, field=name, unseen_effect=acts)
        for key, annot in old.items():
            if key not in new:
                kind = ChangeKind.OTHER if _is_widget(annot) else ChangeKind.ANNOTATION
                self.changes.add(kind, f"page {page + 1} annotation {_describe(annot)} removed", page=page,
                                 rect=_rect(annot))

    # -- equality, following references ------------------------------------------------------------------

    def same(self, a: object, b: object, depth: int = 0) -> bool:
        if depth > MAX_DEPTH:
            raise AnalysisError("objects nest too deeply to compare")
        self._visited += 1
        if self._visited > MAX_OBJECTS:
            raise AnalysisError(f"more than {MAX_OBJECTS} objects to compare")
        if self._visited % _CLOCK_EVERY == 0:
            check_time()
        if isinstance(a, generic.IndirectObject) and isinstance(b, generic.IndirectObject):
            ra, rb = a.reference, b.reference
            if ra == rb and (ra.idnum, ra.generation) in self.walked:
                return True  # the same page, annotation or field: judged where it is walked
            va, vb = self.old.version(ra), self.new.version(rb)
            if ra == rb and va == vb:
                return True  # one version of one object: nothing to read
            key = ((ra.idnum, ra.generation, va), (rb.idnum, rb.generation, vb))
            if key in self._equal:
                return self._equal[key]
            self._equal[key] = True  # a cycle compares equal to itself while it is being compared
            result = self.same(self.old(ra), self.new(rb), depth + 1)
            self._equal[key] = result
            return result
        a = self.old.resolve(a)
        b = self.new.resolve(b)
        if _is_null(a) or _is_null(b):
            return _is_null(a) and _is_null(b)
        if isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject):
            return (isinstance(a, generic.StreamObject) and isinstance(b, generic.StreamObject)
                    and _same_stream_data(a, b) and self._same_dict(a, b, depth, skip={"/Length"}))
        if isinstance(a, generic.DictionaryObject):
            return isinstance(b, generic.DictionaryObject) and self._same_dict(a, b, depth)
        if isinstance(a, generic.ArrayObject):
            return isinstance(b, generic.ArrayObject) and len(a) == len(b) and all(
                self.same(a.raw_get(i), b.raw_get(i), depth + 1) for i in range(len(a)))
        if isinstance(a, generic.TextStringObject | generic.ByteStringObject):
            return isinstance(b, generic.TextStringObject | generic.ByteStringObject) \
                and a.original_bytes == b.original_bytes
        if isinstance(a, generic.NameObject) or isinstance(b, generic.NameObject):
            return isinstance(a, generic.NameObject) and isinstance(b, generic.NameObject) and a == b
        if isinstance(a, generic.BooleanObject) or isinstance(b, generic.BooleanObject):
            return type(a) is type(b) and a == b
        return a == b

    def _same_dict(self, a: generic.DictionaryObject, b: generic.DictionaryObject, depth: int,
                   skip: set[str] | None = None) -> bool:
        keys = (set(a) | set(b)) - (skip or set())
        return all(self.same(_get_raw(a, k), _get_raw(b, k), depth + 1) for k in keys)


class _FieldDiff:
    """The form: fields by fully qualified name, before and after."""

    def __init__(
        self, diff: _Diff, old_root: generic.DictionaryObject, new_root: generic.DictionaryObject
    ) -> None:
        self.diff = diff
        self.old = _fields(diff.old, _get_raw(old_root, "/AcroForm"))
        self.new = _fields(diff.new, _get_raw(new_root, "/AcroForm"))
        self.old_objects = {id_ for entry in self.old.values() for id_ in entry.objects}
        self.new_objects = {id_: name for name, entry in self.new.items() for id_ in entry.objects}
        self._reported = False

    def form(self, a: object, b: object) -> None:
        changes = self.diff.changes
        old, new = _dict(self.diff.old.resolve(a)), _dict(self.diff.new.resolve(b))
        for key in sorted((set(old) | set(new)) - _ACROFORM_ALLOWED):
            if not self.diff.same(_get_raw(old, key), _get_raw(new, key)):
                changes.add(ChangeKind.OTHER, f"form {key}", unseen_effect=key in _UNSEEN_EFFECT)
        for key in sorted(_ACROFORM_ALLOWED - {"/Fields"}):
            if not self.diff.same(_get_raw(old, key), _get_raw(new, key)):
                changes.add(ChangeKind.FORM_FILLING, f"form {key}")

    def report(self) -> None:
        changes = self.diff.changes
        for name, entry in self.new.items():
            before = self.old.get(name)
            if before is None:
                if entry.signature:
                    kind = ChangeKind.EXTENSION if entry.timestamp else ChangeKind.SIGNATURE
                    changes.add(kind, f"field {name!r} added", field=name)
                else:
                    changes.add(ChangeKind.OTHER, f"field {name!r} added", field=name)
                continue
            signed_now = self.signed_now(name)
            for key in sorted((set(before.value) | set(entry.value)) - {"/Kids", "/Parent"}):
                if self.diff.same(_get_raw(before.value, key), _get_raw(entry.value, key)):
                    continue
                if signed_now:  # an empty signature field signed: its value, look and flags come with it
                    kind = ChangeKind.EXTENSION if entry.timestamp else ChangeKind.SIGNATURE
                    changes.add(kind, f"field {name!r} signed" if key == "/V" else f"field {name!r} {key}",
                                field=name)
                elif not entry.signature and key in _FIELD_VALUE_KEYS:
                    changes.add(ChangeKind.FORM_FILLING, f"field {name!r} {key}", field=name)
                else:
                    changes.add(ChangeKind.OTHER, f"field {name!r} {key}", field=name)
        for name in self.old:
            if name not in self.new:
                changes.add(ChangeKind.OTHER, f"field {name!r} removed", field=name)

    def signed_now(self, name: str) -> bool:
        """Whether ``name`` is a signature field that was empty in the older revision and is signed now."""
        before, after = self.old.get(name), self.new.get(name)
        if before is None or after is None or not after.signature:
            return False
        old_value = self.diff.old.resolve(_get_raw(before.value, "/V"))
        new_value = self.diff.new.resolve(_get_raw(after.value, "/V"))
        return _is_null(old_value) and not _is_null(new_value)

    def widget_kind(
        self, annot: generic.DictionaryObject, key: object, *, added: bool
    ) -> tuple[ChangeKind, str | None]:
        """What adding or changing this annotation is (a signature's widget, a filled field's, a comment),
        and the field it belongs to."""
        if not _is_widget(annot):
            return ChangeKind.ANNOTATION, None
        name = self.new_objects.get(key)
        entry = self.new.get(name) if name is not None else None
        if name is None or entry is None:
            return ChangeKind.OTHER, None  # a widget of no field
        signature_kind = ChangeKind.EXTENSION if entry.timestamp else ChangeKind.SIGNATURE
        if entry.signature and (name not in self.old or self.signed_now(name)):
            return signature_kind, name  # a new signature's widget, or an empty field's, signed now
        if added:
            return ChangeKind.OTHER, name  # a new widget for an existing field
        if entry.signature:
            return ChangeKind.OTHER, name  # a signed field's look changed after it was signed
        return ChangeKind.FORM_FILLING, name


@dataclass
class _Field:
    value: generic.DictionaryObject  # the terminal field dictionary (merged with its widget when single)
    signature: bool
    timestamp: bool
    objects: set[object]  # identities of the field and its widgets


def _fields(view: RevisionView, acroform: object) -> dict[str, _Field]:
    found: dict[str, _Field] = {}
    form = _dict(view.resolve(acroform))
    stack: list[tuple[object, str, object, int]] = [(item, "", None, 0)
                                                   for item in reversed(_items(view, _get_raw(form, "/Fields")))]
    seen: set[object] = set()
    while stack:
        raw, prefix, inherited_type, depth = stack.pop()
        node = view.resolve(raw)
        ident = _identity(raw)
        if not isinstance(node, generic.DictionaryObject) or ident in seen or depth > MAX_DEPTH:
            continue
        seen.add(ident)
        if len(found) > MAX_FIELDS:
            raise AnalysisError(f"more than {MAX_FIELDS} form fields")
        title = _get_raw(node, "/T")
        part = str(title) if isinstance(title, generic.TextStringObject | generic.ByteStringObject) else ""
        name = f"{prefix}.{part}" if prefix and part else prefix or part
        kind = _get_raw(node, "/FT") if "/FT" in node else inherited_type
        kids = [view.resolve(k) for k in _items(view, _get_raw(node, "/Kids"))]
        child_fields = [k for k in kids if isinstance(k, generic.DictionaryObject) and "/T" in k]
        if child_fields:
            stack.extend((k, name, kind, depth + 1) for k in reversed(_items(view, _get_raw(node, "/Kids"))))
            continue
        value = view.resolve(_get_raw(node, "/V"))
        timestamp = isinstance(value, generic.DictionaryObject) and (
            _get_raw(value, "/Type") == "/DocTimeStamp" or _get_raw(value, "/SubFilter") == "/ETSI.RFC3161")
        widgets = {_identity(k) for k in _items(view, _get_raw(node, "/Kids"))}
        key = name or f"(unnamed {len(found) + 1})"
        found[key] = _Field(node, kind == "/Sig", timestamp, {ident, *widgets})
    return found


_Page = tuple[object, generic.DictionaryObject, dict[str, object]]


def _leaves(view: RevisionView, pages: object) -> Iterator[_Page]:
    """(reference, page, inherited attributes) for every page, in order."""
    stack: list[tuple[object, dict[str, object], int]] = [(pages, dict.fromkeys(_INHERITED), 0)]
    seen: set[object] = set()
    count = 0
    while stack:
        raw, inherited, depth = stack.pop()
        node = view.resolve(raw)
        ident = _identity(raw)
        if not isinstance(node, generic.DictionaryObject) or ident in seen or depth > MAX_DEPTH:
            raise AnalysisError("the page tree is broken or loops")
        seen.add(ident)
        attrs = {k: (_get_raw(node, k) if k in node else inherited[k]) for k in _INHERITED}
        kids = _get_raw(node, "/Kids")
        if _get_raw(node, "/Type") == "/Pages" or (_get_raw(node, "/Type") != "/Page" and kids is not None):
            stack.extend((kid, attrs, depth + 1) for kid in reversed(_items(view, kids)))
            continue
        count += 1
        if count > MAX_PAGES:
            raise AnalysisError(f"more than {MAX_PAGES} pages")
        yield (raw.reference if isinstance(raw, generic.IndirectObject) else None), node, attrs


def _walked(view: RevisionView, pages: list[_Page], fields: dict[str, _Field]) -> set[tuple[int, int]]:
    """References of the pages, their annotations and the form's fields and widgets in one revision."""
    found: set[tuple[int, int]] = set()
    for ref, page, _ in pages:
        if isinstance(ref, generic.Reference):
            found.add((ref.idnum, ref.generation))
        for item in _items(view, _get_raw(page, "/Annots")):
            if isinstance(item, generic.IndirectObject):
                found.add((item.idnum, item.generation))
    for entry in fields.values():
        found.update(o for o in entry.objects if isinstance(o, tuple))
    return found


def _annotation_map(view: RevisionView, annots: object) -> dict[object, generic.DictionaryObject]:
    found: dict[object, generic.DictionaryObject] = {}
    for n, item in enumerate(_items(view, annots)):
        annot = view.resolve(item)
        if isinstance(annot, generic.DictionaryObject):
            key = _identity(item) if isinstance(item, generic.IndirectObject) else ("direct", n)
            found[key] = annot
    return found


def _items(view: RevisionView, value: object) -> list[object]:
    array = view.resolve(value)
    if not isinstance(array, generic.ArrayObject):
        return []
    return [array.raw_get(i) for i in range(len(array))]


def _identity(value: object) -> object:
    if isinstance(value, generic.IndirectObject):
        return (value.idnum, value.generation)
    return id(value)


def _dict(value: object) -> generic.DictionaryObject:
    return value if isinstance(value, generic.DictionaryObject) else generic.DictionaryObject()


def _get_raw(owner: object, key: str) -> object:
    if isinstance(owner, generic.DictionaryObject) and key in owner:
        return owner.raw_get(key)
    return None


def _is_null(value: object) -> bool:
    return value is None or isinstance(value, generic.NullObject)


def _is_widget(annot: generic.DictionaryObject) -> bool:
    return _get_raw(annot, "/Subtype") == "/Widget"


def _describe(annot: generic.DictionaryObject) -> str:
    subtype = _get_raw(annot, "/Subtype")
    return str(subtype) if subtype is not None else "(no subtype)"


def _rect(annot: generic.DictionaryObject) -> Box | None:
    rect = _get_raw(annot, "/Rect")
    if not isinstance(rect, generic.ArrayObject):
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in rect)
    except (TypeError, ValueError):
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _same_stream_data(a: generic.StreamObject, b: generic.StreamObject) -> bool:
    if a.encoded_data == b.encoded_data:
        return True
    # Re-encoded (another compression, or encrypted again): the same content decoded is the same stream.
    if len(a.encoded_data) > _STREAM_COMPARE_LIMIT or len(b.encoded_data) > _STREAM_COMPARE_LIMIT:
        return False
    try:
        return bool(a.data == b.data)
    except Exception:
        return False


def page_geometry(reader: PdfFileReader, revision: int) -> dict[int, tuple[Box, int]]:
    """Each page's shown box (its CropBox within its MediaBox) and /Rotate, as of ``revision``."""
    view = RevisionView(reader, revision)
    root = view.resolve(view.trailer.raw_get("/Root")) if "/Root" in view.trailer else None
    found: dict[int, tuple[Box, int]] = {}
    try:
        for index, (_, _, attrs) in enumerate(_leaves(view, _get_raw(root, "/Pages"))):
            media = _box(view.resolve(attrs["/MediaBox"]))
            crop = _box(view.resolve(attrs["/CropBox"])) or media
            if media is None or crop is None:
                continue
            box = (max(media[0], crop[0]), max(media[1], crop[1]), min(media[2], crop[2]), min(media[3], crop[3]))
            rotate = view.resolve(attrs["/Rotate"])
            angle = int(rotate) % 360 if isinstance(rotate, int) and int(rotate) % 90 == 0 else 0
            found[index] = (box, angle)
    except (AnalysisError, ValueError, TypeError):
        pass  # pages found so far keep their geometry; the others are compared whole
    return found


def _box(value: object) -> Box | None:
    if not isinstance(value, generic.ArrayObject) or len(value) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
