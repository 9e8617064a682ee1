"""Incremental updates to a PDF: signature fields, the DSS, and their holes.

A signed PDF is its original bytes followed by incremental updates. We parse
the original with qpdf (through pikepdf, strictly: a damaged file is refused,
never repaired) only to read the few objects an update rewrites: the catalog,
the AcroForm and its field list, the page that gets the signature's widget
and its annotations. The
update itself is written here, as text, so nothing that was not changed is
re-encoded and the original bytes are copied through untouched.

Each rewritten object is kept as a shallow model (:class:`RawDict`,
:class:`RawArray`) whose values are the exact PDF syntax of the original, so a
later revision in the same run (DSS, document timestamp) builds on the
earlier one without parsing our own output again.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pikepdf

from pakat import errors
from pakat.errors import InputError
from pakat.pdf_input import TAIL_BYTES, check_envelope

# How much of the file's head and tail we look at before handing it to qpdf.
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF", re.S)

# ByteRange is written with fixed-width placeholders and rewritten in place
# once the update's layout is known; the width must hold any file offset.
_BYTE_RANGE_PLACEHOLDER = b"/ByteRange [0 ********** ********** **********]"

Ref = tuple[int, int]


def ref(r: Ref) -> bytes:
    return b"%d %d R" % r


def pdf_name(name: str) -> bytes:
    return pikepdf.Name("/" + name.lstrip("/")).unparse()


def text_string(text: str) -> bytes:
    """A PDF text string: a literal for plain ASCII, else UTF-16BE hex with a BOM."""
    if text.isascii() and text.isprintable():
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def pdf_date(moment: datetime) -> bytes:
    return moment.astimezone(UTC).strftime("(D:%Y%m%d%H%M%SZ)").encode("ascii")


@dataclass
class RawArray:
    """An array whose members are kept as their exact PDF syntax."""

    items: list[bytes] = field(default_factory=list)

    @classmethod
    def of(cls, obj: pikepdf.Array) -> RawArray:
        return cls([_syntax(v) for v in obj])

    def serialize(self) -> bytes:
        return b"[" + b" ".join(self.items) + b"]"


@dataclass
class RawDict:
    """A dictionary whose values are kept as their exact PDF syntax.

    Direct arrays stay :class:`RawArray` so an update can append to them.
    """

    entries: dict[bytes, bytes | RawArray] = field(default_factory=dict)

    @classmethod
    def of(cls, obj: pikepdf.Dictionary) -> RawDict:
        entries: dict[bytes, bytes | RawArray] = {}
        for k, v in obj.items():
            name = pikepdf.Name(k).unparse()
            if isinstance(v, pikepdf.Array) and not v.is_indirect:
                entries[name] = RawArray.of(v)
            else:
                entries[name] = _syntax(v)
        return cls(entries)

    def raw(self, key: bytes) -> bytes | None:
        value = self.entries.get(key)
        return value.serialize() if isinstance(value, RawArray) else value

    def serialize(self) -> bytes:
        body = (k + b" " + (v.serialize() if isinstance(v, RawArray) else v) for k, v in self.entries.items())
        return b"<<" + b"".join(body) + b">>"


def _syntax(value: object) -> bytes:
    """The PDF syntax of a value pikepdf hands back (it turns scalars into Python values)."""
    if isinstance(value, pikepdf.Object):
        return value.unparse(resolved=False)
    if value is None:  # pikepdf's null, e.g. in /OpenAction [page /XYZ null null 0]
        return b"null"
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, Decimal):
        return format(value, "f").encode("ascii")  # PDF reals have no exponent
    raise InputError(errors.PDF_UNPARSEABLE, f"unexpected value {type(value).__name__}")


_REF = re.compile(rb"^(\d+) (\d+) R$")


def parse_ref(raw: bytes) -> Ref | None:
    m = _REF.match(raw.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


class AppearanceStream(Protocol):
    """Something that can write a widget's normal appearance (a Form XObject) into an update."""

    def write(self, update: Update) -> Ref:
        """Add the XObject and whatever it uses; return the XObject's reference."""
        ...


@dataclass(frozen=True)
class VisibleWidget:
    """Where a visible signature's widget goes: a page (0-based), its /Rect, and how it looks."""

    page_index: int
    rect: tuple[float, float, float, float]
    appearance: AppearanceStream


@dataclass(frozen=True)
class Hole:
    """Where a signature's /Contents goes: offsets in the whole output file."""

    start: int  # offset of '<'
    end: int  # offset just after '>'

    @property
    def capacity(self) -> int:
        """Bytes of DER that fit (two hex digits per byte)."""
        return (self.end - self.start - 2) // 2


@dataclass
class Revision:
    """One incremental update, laid out and ready to write after ``base`` bytes."""

    data: bytearray
    base: int
    holes: list[Hole]

    @property
    def end(self) -> int:
        return self.base + len(self.data)

    def fill(self, hole: Hole, der: bytes) -> None:
        """Put a signature's DER into its hole (zero-padded hex)."""
        if len(der) > hole.capacity:
            raise ValueError("signature larger than its reserved space")
        at = hole.start + 1 - self.base
        hexed = der.hex().encode("ascii")
        self.data[at : at + len(hexed)] = hexed

    def signed_ranges(self, hole: Hole) -> Iterator[memoryview]:
        """The parts of this revision's bytes a signature over ``hole`` covers."""
        view = memoryview(self.data)
        before = max(0, min(len(view), hole.start - self.base))
        after = max(0, min(len(view), hole.end - self.base))
        yield view[:before]
        yield view[after:]


class PdfSource:
    """A PDF opened for incremental signing: parsed once, updated revision by revision."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.size = _check_envelope(path, max_bytes)
        with open(path, "rb") as fh:
            fh.seek(max(0, self.size - TAIL_BYTES))
            tail = fh.read()
        matches = list(_STARTXREF.finditer(tail))
        if not matches:
            raise InputError(errors.PDF_TRUNCATED, "no startxref / %%EOF at the end of the file")
        self.startxref = int(matches[-1].group(1))
        try:
            # qpdf would otherwise copy inherited page attributes (MediaBox, Rotate…) into every page,
            # making some of them new indirect objects: a page we rewrite for its /Annots would then
            # come out with keys it never had and references to objects the file does not hold.
            self.pdf = pikepdf.open(path, attempt_recovery=False, inherit_page_attributes=False)
        except pikepdf.PasswordError:
            raise InputError(errors.PDF_ENCRYPTED) from None
        except (pikepdf.PdfError, OSError, RuntimeError, ValueError) as exc:
            raise InputError(errors.PDF_UNPARSEABLE, _qpdf_reason(exc)) from None
        try:
            self._inspect()
        except InputError:
            self.pdf.close()
            raise
        except (pikepdf.PdfError, RuntimeError, ValueError, KeyError, AttributeError, TypeError) as exc:
            self.pdf.close()
            raise InputError(errors.PDF_UNPARSEABLE, _qpdf_reason(exc)) from None

    def _inspect(self) -> None:
        pdf = self.pdf
        if pdf.is_encrypted:
            raise InputError(errors.PDF_ENCRYPTED)
        if len(pdf.pages) == 0:
            raise InputError(errors.PDF_UNPARSEABLE, "the document has no pages")
        with open(self.path, "rb") as fh:
            fh.seek(self.startxref)
            head = fh.read(32)
        if head.startswith(b"xref"):
            self.xref_stream = False
        elif re.match(rb"\s*\d+\s+\d+\s+obj", head):
            self.xref_stream = True
        else:
            raise InputError(errors.PDF_UNPARSEABLE, "startxref does not point at a cross-reference section")
        trailer = pdf.trailer
        root = pdf.Root
        if not root.is_indirect:
            raise InputError(errors.PDF_UNPARSEABLE, "the catalog is not an indirect object")
        self.root: Ref = root.objgen
        self.info: bytes | None = trailer.Info.unparse(resolved=False) if "/Info" in trailer else None
        self.id_raw: bytes | None = trailer.ID.unparse(resolved=False) if "/ID" in trailer else None
        self.next_object = max(int(trailer.Size), max((o.objgen[0] for o in pdf.objects), default=0) + 1)
        self.first_page: Ref = self.page_ref(0)
        # Objects rewritten by earlier revisions of this run, by reference.
        self._dicts: dict[Ref, RawDict] = {}
        self._arrays: dict[Ref, RawArray] = {}
        self._field_names = self._existing_field_names()

    def close(self) -> None:
        self.pdf.close()

    def page_ref(self, index: int) -> Ref:
        """The object of page ``index`` (0-based); qpdf reads the page tree once, lazily."""
        ref_: Ref = self.pdf.pages[index].obj.objgen
        return ref_

    # -- reading with our own earlier edits on top -----------------------------
    def dict_at(self, r: Ref) -> RawDict:
        if r not in self._dicts:
            obj = self.pdf.get_object(r)
            if not isinstance(obj, pikepdf.Dictionary):
                raise InputError(errors.PDF_UNPARSEABLE, f"object {r[0]} is not a dictionary")
            self._dicts[r] = RawDict.of(obj)
        return self._dicts[r]

    def array_at(self, r: Ref) -> RawArray:
        if r not in self._arrays:
            obj = self.pdf.get_object(r)
            if not isinstance(obj, pikepdf.Array):
                raise InputError(errors.PDF_UNPARSEABLE, f"object {r[0]} is not an array")
            self._arrays[r] = RawArray.of(obj)
        return self._arrays[r]

    def _existing_field_names(self) -> set[str]:
        names: set[str] = set()
        form = self.pdf.Root.get("/AcroForm")
        if isinstance(form, pikepdf.Dictionary):
            for f in form.get("/Fields", pikepdf.Array()):
                if isinstance(f, pikepdf.Dictionary) and "/T" in f:
                    names.add(str(f.T))
        return names

    def unique_field_name(self, stem: str) -> str:
        n = 1
        while f"{stem} {n}" in self._field_names:
            n += 1
        name = f"{stem} {n}"
        self._field_names.add(name)
        return name

    # -- building an update ------------------------------------------------------
    def new_update(self) -> Update:
        return Update(self)


class Update:
    """Collects the objects of one incremental update, then lays it out."""

    def __init__(self, source: PdfSource) -> None:
        self.source = source
        self._objects: dict[Ref, bytes] = {}
        self._dirty_dicts: set[Ref] = set()
        self._dirty_arrays: set[Ref] = set()

    def allocate(self) -> Ref:
        r = (self.source.next_object, 0)
        self.source.next_object += 1
        return r

    def add(self, body: bytes) -> Ref:
        r = self.allocate()
        self._objects[r] = body
        return r

    def add_stream(self, data: bytes, extra: bytes = b"") -> Ref:
        return self.add(b"<</Length %d%s>>stream\n%s\nendstream" % (len(data), extra, data))

    def edit_dict(self, r: Ref) -> RawDict:
        self._dirty_dicts.add(r)
        return self.source.dict_at(r)

    def edit_array(self, r: Ref) -> RawArray:
        self._dirty_arrays.add(r)
        return self.source.array_at(r)

    # -- the signature-field plumbing shared by signatures and document timestamps
    def add_signature_field(
        self, value_dict: bytes, field_name: str, visible: VisibleWidget | None = None
    ) -> None:
        """A signature field whose value is ``value_dict``, invisible on page 1 unless ``visible`` says where.

        The widget has Print+Locked flags and sits in its page's /Annots: an
        invisible one has an empty /Rect on the first page, a visible one its
        /Rect and normal appearance (/AP /N) on the chosen page. The field joins
        the AcroForm with /SigFlags 3.
        """
        sig = self.add(value_dict)
        if visible is None:
            page = self.source.first_page
            look = b"/Rect[0 0 0 0]"
        else:
            page = self.source.page_ref(visible.page_index)
            form = visible.appearance.write(self)
            rect = b" ".join(format(round(v, 3), "f").rstrip("0").rstrip(".").encode() for v in visible.rect)
            look = b"/Rect[%s]/AP<</N %s>>" % (rect, ref(form))
        widget = self.add(
            b"<</Type/Annot/Subtype/Widget/FT/Sig/F 132%s/T %s/V %s/P %s>>"
            % (look, text_string(field_name), ref(sig), ref(page))
        )
        self._append_to(page, b"/Annots", ref(widget))
        form = self._acroform()
        if self.source.dict_at(form).raw(b"/SigFlags") != b"3":
            self.edit_dict(form).entries[b"/SigFlags"] = b"3"
        self._append_to(form, b"/Fields", ref(widget))

    def add_dss(self, certs: list[bytes], ocsps: list[bytes], crls: list[bytes]) -> None:
        """Add validation data to the document security store, keeping what it holds.

        Entries already in the DSS (compared by content) are not added twice.
        """
        root = self.source.root
        catalog = self.source.dict_at(root)
        raw = catalog.raw(b"/DSS")
        dss = parse_ref(raw) if raw else None
        known = self._dss_contents() if raw else set()
        if dss is None:
            # A direct (or absent) DSS becomes an indirect object we can extend.
            dss = self.allocate()
            self.source._dicts[dss] = (
                RawDict.of(_as_dict(self.source.pdf.Root.DSS)) if raw else RawDict({b"/Type": b"/DSS"})
            )
            self._dirty_dicts.add(dss)
            self.edit_dict(root).entries[b"/DSS"] = ref(dss)
        for key, blobs in ((b"/Certs", certs), (b"/OCSPs", ocsps), (b"/CRLs", crls)):
            for blob in dict.fromkeys(blobs):
                if blob not in known:
                    self._append_to(dss, key, ref(self.add_stream(blob)))
        if b"/Extensions" not in catalog.entries:
            # ETSI's extension marker for PDFs carrying a DSS (EN 319 142-1, 5.4).
            self.edit_dict(root).entries[b"/Extensions"] = b"<</ESIC<</BaseVersion/1.7/ExtensionLevel 1>>>>"

    def _dss_contents(self) -> set[bytes]:
        """What the original DSS (direct or indirect) already holds, by decoded content."""
        found: set[bytes] = set()
        dss = self.source.pdf.Root.get("/DSS")
        if not isinstance(dss, pikepdf.Dictionary):
            return found
        for key in ("/Certs", "/OCSPs", "/CRLs"):
            for stream in dss.get(key, pikepdf.Array()):
                if isinstance(stream, pikepdf.Stream):
                    found.add(bytes(stream.read_bytes()))
        return found

    def _acroform(self) -> Ref:
        catalog = self.source.dict_at(self.source.root)
        raw = catalog.raw(b"/AcroForm")
        target = parse_ref(raw) if raw else None
        if target is not None:
            return target
        # A direct (or absent) AcroForm becomes an indirect object we can edit later.
        form = RawDict.of(_as_dict(self.source.pdf.Root.AcroForm)) if raw else RawDict()
        new = self.allocate()
        self.source._dicts[new] = form
        self._dirty_dicts.add(new)
        self.edit_dict(self.source.root).entries[b"/AcroForm"] = ref(new)
        return new

    def _append_to(self, owner: Ref, key: bytes, item: bytes) -> None:
        value = self.source.dict_at(owner).entries.get(key)
        if isinstance(value, RawArray):
            self.edit_dict(owner)
            value.items.append(item)
            return
        target = parse_ref(value) if value is not None else None
        if target is not None:
            self.edit_array(target).items.append(item)
        elif value is None:
            self.edit_dict(owner).entries[key] = RawArray([item])
        else:
            raise InputError(errors.PDF_UNPARSEABLE, f"{key.decode()} of object {owner[0]} is not an array")

    # -- layout -----------------------------------------------------------------
    def layout(self, base: int, prev_startxref: int) -> tuple[Revision, int]:
        """Serialize after ``base`` bytes of file; returns the revision and its startxref.

        Signature dictionaries' ByteRange placeholders are resolved here, so the
        caller only fills each hole with its DER afterwards.
        """
        objects = dict(self._objects)
        for r in self._dirty_dicts:
            objects[r] = self.source._dicts[r].serialize()
        for r in self._dirty_arrays:
            objects[r] = self.source._arrays[r].serialize()

        buf = bytearray(b"\n")
        offsets: dict[Ref, int] = {}
        for r in sorted(objects):
            offsets[r] = base + len(buf)
            buf += b"%d %d obj\n" % r
            buf += objects[r]
            buf += b"\nendobj\n"

        source = self.source
        xref_at = base + len(buf)
        trailer = RawDict({b"/Size": b"0", b"/Root": ref(source.root), b"/Prev": b"%d" % prev_startxref})
        if source.info:
            trailer.entries[b"/Info"] = source.info
        if source.id_raw:
            trailer.entries[b"/ID"] = source.id_raw
        if source.xref_stream:
            own = (source.next_object, 0)
            source.next_object += 1
            offsets[own] = xref_at
            trailer.entries[b"/Size"] = b"%d" % source.next_object
            buf += _xref_stream(own, offsets, trailer)
        else:
            trailer.entries[b"/Size"] = b"%d" % source.next_object
            buf += _xref_table(offsets)
            buf += b"trailer\n" + trailer.serialize() + b"\n"
        buf += b"startxref\n%d\n%%%%EOF\n" % xref_at

        holes = _resolve_byte_ranges(buf, base)
        return Revision(buf, base, holes), xref_at


def signature_dictionary(
    *,
    sub_filter: bytes,
    contents_bytes: int,
    signing_time: datetime | None = None,
    reason: str | None = None,
    location: str | None = None,
    contact: str | None = None,
    name: str | None = None,
    doc_timestamp: bool = False,
) -> bytes:
    """A /Sig or /DocTimeStamp dictionary with a ByteRange placeholder and an empty hole."""
    kind = b"/DocTimeStamp" if doc_timestamp else b"/Sig"
    parts = [
        b"<</Type%s/Filter/Adobe.PPKLite/SubFilter%s" % (kind, sub_filter),
        _BYTE_RANGE_PLACEHOLDER,
        b"/Contents<" + b"0" * (2 * contents_bytes) + b">",
    ]
    if signing_time is not None:
        parts.append(b"/M" + pdf_date(signing_time))
    texts = {b"/Reason": reason, b"/Location": location, b"/ContactInfo": contact, b"/Name": name}
    for key, value in texts.items():
        if value:
            parts.append(key + text_string(value))
    if not doc_timestamp:
        parts.append(b"/Prop_Build<</App<</Name/Pakat>>>>")
    parts.append(b">>")
    return b"".join(parts)


def _resolve_byte_ranges(buf: bytearray, base: int) -> list[Hole]:
    """Fill each ByteRange placeholder; returns the holes in order."""
    holes: list[Hole] = []
    total = base + len(buf)
    start = 0
    while (at := buf.find(_BYTE_RANGE_PLACEHOLDER, start)) >= 0:
        contents = buf.index(b"/Contents<", at) + len(b"/Contents")
        close = buf.index(b">", contents)
        hole = Hole(base + contents, base + close + 1)
        text = b"/ByteRange [0 %d %d %d]" % (hole.start, hole.end, total - hole.end)
        buf[at : at + len(_BYTE_RANGE_PLACEHOLDER)] = text.ljust(len(_BYTE_RANGE_PLACEHOLDER))
        holes.append(hole)
        start = at + len(_BYTE_RANGE_PLACEHOLDER)
    return holes


def _xref_runs(offsets: dict[Ref, int]) -> list[list[Ref]]:
    runs: list[list[Ref]] = []
    for r in sorted(offsets):
        if runs and runs[-1][-1][0] + 1 == r[0]:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def _xref_table(offsets: dict[Ref, int]) -> bytes:
    out = io.BytesIO()
    out.write(b"xref\n")
    for run in _xref_runs(offsets):
        out.write(b"%d %d\n" % (run[0][0], len(run)))
        for r in run:
            out.write(b"%010d %05d n \n" % (offsets[r], r[1]))
    return out.getvalue()


def _xref_stream(own: Ref, offsets: dict[Ref, int], trailer: RawDict) -> bytes:
    width = 4 if max(offsets.values()) < 2**32 else 8
    rows = bytearray()
    index: list[bytes] = []
    for run in _xref_runs(offsets):
        index.append(b"%d %d" % (run[0][0], len(run)))
        for r in run:
            rows += b"\x01" + offsets[r].to_bytes(width, "big") + r[1].to_bytes(2, "big")
    entries = dict(trailer.entries)
    entries.update({b"/Type": b"/XRef", b"/W": b"[1 %d 2]" % width, b"/Index": b"[" + b" ".join(index) + b"]"})
    entries[b"/Length"] = b"%d" % len(rows)
    head = RawDict(entries).serialize()
    return b"%d %d obj\n%s\nstream\n%s\nendstream\nendobj\n" % (own[0], own[1], head, bytes(rows))


def _check_envelope(path: Path, max_bytes: int) -> int:
    try:
        with open(path, "rb") as fh:
            return check_envelope(fh, max_bytes)
    except OSError as exc:
        raise InputError(errors.PDF_MISSING, path.name) from exc


def _qpdf_reason(exc: BaseException) -> str:
    # qpdf messages start with the file path; keep only the reason.
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(": ", 1)[-1][:200]


def _as_dict(obj: pikepdf.Object) -> pikepdf.Dictionary:
    if not isinstance(obj, pikepdf.Dictionary):
        raise InputError(errors.PDF_UNPARSEABLE, "expected a dictionary")
    return obj
