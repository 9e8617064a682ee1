"""Incremental updates to a PDF: signature fields, the DSS, and their holes.

A signed PDF is its original bytes followed by incremental updates. We parse
the original with qpdf (through pikepdf, strictly: a damaged file is refused,
never repaired) only to read the few objects an update rewrites: the catalog,
the AcroForm and its field list, the page that gets the signature's widget
and its annotations, the DSS. The update itself is written here, as text, so
nothing that was not changed is re-encoded and the original bytes are copied
through untouched.

A rewritten object keeps every entry it had, exactly: qpdf gives the object's
syntax with its children as references, and :mod:`signer.pdf_syntax` cuts it
into entries whose text is carried over as it is (an indirect ``/Length 3 0
R``, a reference to a freed object, a nested dictionary). Each rewritten
object is kept as a shallow model (:class:`RawDict`, :class:`RawArray`) so a
later revision in the same run (DSS, document timestamp) builds on the earlier
one without parsing our own output again.

An encrypted document (one that opens with an empty user password) takes the
slower path: its new and rewritten objects are serialised by pyHanko with the
document's own security handler (:mod:`signer.encryption`), so their strings
and streams are encrypted as the file requires.

Nothing here decides whether a document may be signed (:mod:`signer.permissions`)
or whether what was written is sound (:mod:`signer.output_check`).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Protocol

import pikepdf

from pakat import errors
from pakat.errors import InputError
from pakat.pdf_input import TAIL_BYTES, check_envelope
from signer.encryption import EncryptedWriter
from signer.pdf_syntax import (
    BYTE_RANGE_PLACEHOLDER,
    CONTENTS_HOLE,
    CONTENTS_KEY,
    StreamBody,
    SyntaxSplitError,
    split_array,
    split_dictionary,
)

_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF", re.S)


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


_REF = re.compile(rb"^(\d+)\s+(\d+)\s+R$")


def parse_ref(raw: bytes) -> Ref | None:
    m = _REF.match(raw.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def number(value: object) -> float | None:
    """A PDF number's value (pikepdf's explicit Integer or Real), else None."""
    if isinstance(value, pikepdf.Integer | pikepdf.Real):
        return float(value)
    return None


@dataclass
class RawArray:
    """An array whose members are kept as their exact PDF syntax."""

    items: list[bytes] = field(default_factory=list)

    @classmethod
    def of(cls, obj: pikepdf.Object) -> RawArray:
        return cls(split_array(_syntax_of(obj)))

    def serialize(self) -> bytes:
        return b"[" + b" ".join(self.items) + b"]"


@dataclass
class RawDict:
    """A dictionary whose values are kept as their exact PDF syntax.

    Direct arrays stay :class:`RawArray` so an update can append to them.
    """

    entries: dict[bytes, bytes | RawArray] = field(default_factory=dict)

    @classmethod
    def of(cls, obj: pikepdf.Object) -> RawDict:
        entries: dict[bytes, bytes | RawArray] = {}
        for key, value in split_dictionary(_syntax_of(obj)):
            entries[key] = RawArray(split_array(value)) if value.startswith(b"[") else value
        return cls(entries)

    def raw(self, key: bytes) -> bytes | None:
        value = self.entries.get(key)
        return value.serialize() if isinstance(value, RawArray) else value

    def serialize(self) -> bytes:
        body = (k + b" " + (v.serialize() if isinstance(v, RawArray) else v) for k, v in self.entries.items())
        return b"<<" + b"".join(body) + b">>"


def _syntax_of(obj: pikepdf.Object) -> bytes:
    """An object's own syntax, its children written as references (never followed)."""
    text: bytes = obj.unparse(resolved=True)
    return text


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


class Role(Enum):
    """What a rewritten object is, so the output check knows which of its entries may change."""

    CATALOG = "catalog"
    ACROFORM = "acroform"
    PAGE = "page"
    DSS = "dss"
    FIELDS = "fields"  # the AcroForm's /Fields array
    ANNOTS = "annots"  # a page's /Annots array


@contextlib.contextmanager
def qpdf_reading() -> Iterator[None]:
    """Turn a failure of qpdf while reading the document into PDF_UNPARSEABLE.

    qpdf reads objects lazily, so a damaged object is found when it is first
    touched, anywhere in building an update. Only qpdf's own errors (and the
    syntax of what it hands back) are the document's fault; any other
    exception is ours and goes up as it is.
    """
    try:
        yield
    except pikepdf.PasswordError:
        raise InputError(errors.PDF_ENCRYPTED) from None
    except (pikepdf.PdfError, SyntaxSplitError) as exc:
        raise InputError(errors.PDF_UNPARSEABLE, _qpdf_reason(exc)) from None
    except RuntimeError as exc:  # qpdf's std::runtime_error: loops in the page tree, bad object streams
        raise InputError(errors.PDF_UNPARSEABLE, _qpdf_reason(exc)) from None


@contextlib.contextmanager
def _numbers_out_of_range() -> Iterator[None]:
    """pikepdf refuses, while opening, a number qpdf cannot hold (ValueError: overflow converting …)."""
    try:
        yield
    except ValueError as exc:
        if "overflow" not in str(exc):
            raise
        raise InputError(errors.PDF_UNPARSEABLE, str(exc)[:200]) from None


class PdfSource:
    """A PDF opened for incremental signing: parsed once, updated revision by revision."""

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.size = _check_envelope(path, max_bytes)
        self.startxref = last_startxref(path, self.size)
        with qpdf_reading(), _numbers_out_of_range():
            # qpdf would otherwise copy inherited page attributes (MediaBox, Rotate…) into every page,
            # making some of them new indirect objects: a page we rewrite for its /Annots would then
            # come out with keys it never had and references to objects the file does not hold.
            # Explicit conversion keeps numbers as PDF objects, so an indirect one stays a reference.
            self.pdf = pikepdf.open(
                path,
                attempt_recovery=False,
                inherit_page_attributes=False,
                conversion_mode="explicit",
            )
        try:
            with qpdf_reading():
                self._inspect()
        except BaseException:
            self.pdf.close()
            raise

    def _inspect(self) -> None:
        pdf = self.pdf
        self.pages = _page_tree(pdf)
        if not self.pages:
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
        self.info = _trailer_entry(trailer, "/Info")
        self.id_raw = _trailer_entry(trailer, "/ID")
        self.encrypt_raw = _trailer_entry(trailer, "/Encrypt")
        self.encrypted = bool(pdf.is_encrypted)
        # Every object number the file uses, in any revision or object stream, is below this.
        size = number(trailer.get("/Size")) or 0
        self._xref = pdf.get_xref_table()
        in_use = max((num for num, _ in self._xref), default=0)
        self.next_object = max(int(size), in_use + 1)
        self.first_page: Ref = self.page_ref(0)
        # Objects rewritten by earlier revisions of this run, by reference.
        self._dicts: dict[Ref, RawDict] = {}
        self._arrays: dict[Ref, RawArray] = {}
        self._field_names = self._existing_field_names()

    def close(self) -> None:
        self.pdf.close()

    def page_ref(self, index: int) -> Ref:
        """The object of page ``index`` (0-based)."""
        return self.pages[index]

    def page(self, index: int) -> pikepdf.Dictionary:
        """Page ``index`` (0-based) as the file holds it."""
        page = self.pdf.get_object(self.pages[index])
        if not isinstance(page, pikepdf.Dictionary):
            raise InputError(errors.PDF_UNPARSEABLE, f"page {index + 1} is not a dictionary")
        return page

    # -- reading with our own earlier edits on top -----------------------------
    def target(self, raw: bytes | None) -> Ref | None:
        """The object a reference points at, or None when ``raw`` is no reference or points at nothing.

        A reference to a freed or missing object reads as null (ISO 32000-2, 7.3.10): for an
        entry we extend, that is the same as the entry being absent.
        """
        r = parse_ref(raw) if raw is not None else None
        if r is None or r in self._dicts or r in self._arrays or self.pdf.get_object(r) is not None:
            return r
        entry = self._xref.get(r)
        if entry is not None and entry.type in (1, 2):
            # In use, yet qpdf reads nothing there: the object is damaged, not freed.
            raise InputError(errors.PDF_UNPARSEABLE, f"object {r[0]}, which the document uses, cannot be read")
        return None

    def dict_at(self, r: Ref) -> RawDict:
        if r not in self._dicts:
            obj = self.pdf.get_object(r)
            if not isinstance(obj, pikepdf.Dictionary) or isinstance(obj, pikepdf.Stream):
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
            fields = form.get("/Fields")
            for f in fields if isinstance(fields, pikepdf.Array) else ():
                title = f.get("/T") if isinstance(f, pikepdf.Dictionary) else None
                if isinstance(title, pikepdf.String):
                    names.add(str(title))
        return names

    def has_signatures(self) -> bool:
        """Whether any signature field of the form holds a value (a signature or a document timestamp)."""
        form = self.pdf.Root.get("/AcroForm")
        fields = form.get("/Fields") if isinstance(form, pikepdf.Dictionary) else None
        return any(_signed(f) for f in _walk_fields(fields))

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
        self._objects: dict[Ref, bytes | StreamBody] = {}
        self._dirty_dicts: set[Ref] = set()
        self._dirty_arrays: set[Ref] = set()
        self.roles: dict[Ref, Role] = {}

    def allocate(self) -> Ref:
        r = (self.source.next_object, 0)
        self.source.next_object += 1
        return r

    def add(self, body: bytes) -> Ref:
        r = self.allocate()
        self._objects[r] = body
        return r

    def add_stream(self, data: bytes, extra: bytes = b"") -> Ref:
        r = self.allocate()
        self._objects[r] = StreamBody(extra, data)
        return r

    def edit_dict(self, r: Ref, role: Role) -> RawDict:
        self._dirty_dicts.add(r)
        self.roles.setdefault(r, role)
        return self.source.dict_at(r)

    def edit_array(self, r: Ref, role: Role) -> RawArray:
        self._dirty_arrays.add(r)
        self.roles.setdefault(r, role)
        return self.source.array_at(r)

    # -- the signature-field plumbing shared by signatures and document timestamps
    def add_signature_field(
        self, value_dict: bytes, field_name: str, visible: VisibleWidget | None = None
    ) -> None:
        """A signature field whose value is ``value_dict``, invisible on page 1 unless ``visible`` says where.

        The widget has Print+Locked flags and sits in its page's /Annots: an
        invisible one has an empty /Rect on the first page, a visible one its
        /Rect and normal appearance (/AP /N) on the chosen page. The field joins
        the AcroForm; /SigFlags becomes 3 unless the form already holds a
        signature, whose signed revision a changed /SigFlags would contradict.
        A visible field takes /NeedAppearances away, so viewers show its block.
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
        self._append_to(page, Role.PAGE, b"/Annots", Role.ANNOTS, ref(widget))
        form = self._acroform()
        if self.source.dict_at(form).raw(b"/SigFlags") != b"3" and not self.source.has_signatures():
            self.edit_dict(form, Role.ACROFORM).entries[b"/SigFlags"] = b"3"
        if visible is not None and self.source.dict_at(form).raw(b"/NeedAppearances") not in (None, b"false"):
            # A viewer told to redraw the form's fields (Acrobat, poppler) redraws the signature's block
            # away. Without the flag every viewer shows the appearances the document holds, which are
            # what the signatures cover; pyHanko and iText drop it when they sign, too.
            del self.edit_dict(form, Role.ACROFORM).entries[b"/NeedAppearances"]
        self._append_to(form, Role.ACROFORM, b"/Fields", Role.FIELDS, ref(widget))

    def add_dss(self, certs: list[bytes], ocsps: list[bytes], crls: list[bytes]) -> None:
        """Add validation data to the document security store, keeping what it holds.

        Entries already in the DSS (compared by content) are not added twice.
        The arrays are written directly in the DSS dictionary, as pyHanko and
        EU DSS write them: an existing indirect array is carried over as a
        direct copy rather than rewritten, so every new stream is reachable
        from the DSS itself.
        """
        root = self.source.root
        catalog = self.source.dict_at(root)
        raw = catalog.raw(b"/DSS")
        dss = self.source.target(raw)
        direct = raw is not None and raw.startswith(b"<<")
        known = self._dss_contents() if raw else set()
        if dss is None:
            # A direct (or absent) DSS becomes an indirect object we can extend.
            dss = self.allocate()
            self.source._dicts[dss] = (
                RawDict.of(self.source.pdf.Root.DSS) if direct else RawDict({b"/Type": b"/DSS"})
            )
            self._dirty_dicts.add(dss)
            self.edit_dict(root, Role.CATALOG).entries[b"/DSS"] = ref(dss)
        entries = self.edit_dict(dss, Role.DSS).entries
        for key, blobs in ((b"/Certs", certs), (b"/OCSPs", ocsps), (b"/CRLs", crls)):
            fresh = [blob for blob in dict.fromkeys(blobs) if blob not in known]
            if not fresh:
                continue
            current = entries.get(key)
            if isinstance(current, bytes):
                target = self.source.target(current)
                if target is None and current != b"null" and parse_ref(current) is None:
                    raise InputError(errors.PDF_UNPARSEABLE, f"the DSS's {key.decode()} is not an array")
                current = RawArray(list(self.source.array_at(target).items) if target else [])
                entries[key] = current
            elif current is None:
                current = entries[key] = RawArray()
            current.items.extend(ref(self.add_stream(blob)) for blob in fresh)
        if b"/Extensions" not in catalog.entries:
            # ETSI's extension marker for PDFs carrying a DSS (EN 319 142-1, 5.4).
            self.edit_dict(root, Role.CATALOG).entries[b"/Extensions"] = (
                b"<</ESIC<</BaseVersion/1.7/ExtensionLevel 1>>>>"
            )

    def _dss_contents(self) -> set[bytes]:
        """What the original DSS (direct or indirect) already holds, by decoded content."""
        found: set[bytes] = set()
        dss = self.source.pdf.Root.get("/DSS")
        if not isinstance(dss, pikepdf.Dictionary):
            return found
        for key in ("/Certs", "/OCSPs", "/CRLs"):
            items = dss.get(key)
            for stream in items if isinstance(items, pikepdf.Array) else ():
                if isinstance(stream, pikepdf.Stream):
                    with contextlib.suppress(pikepdf.PdfError):  # undecodable: added again, harmlessly
                        found.add(bytes(stream.read_bytes()))
        return found

    def _acroform(self) -> Ref:
        catalog = self.source.dict_at(self.source.root)
        raw = catalog.raw(b"/AcroForm")
        target = self.source.target(raw)
        if target is not None:
            return target
        # A direct (or absent) AcroForm becomes an indirect object we can edit later.
        direct = raw is not None and raw.startswith(b"<<")
        form = RawDict.of(self.source.pdf.Root.AcroForm) if direct else RawDict()
        new = self.allocate()
        self.source._dicts[new] = form
        self._dirty_dicts.add(new)
        self.roles[new] = Role.ACROFORM
        self.edit_dict(self.source.root, Role.CATALOG).entries[b"/AcroForm"] = ref(new)
        return new

    def _append_to(self, owner: Ref, owner_role: Role, key: bytes, array_role: Role, item: bytes) -> None:
        value = self.source.dict_at(owner).entries.get(key)
        if isinstance(value, RawArray):
            self.edit_dict(owner, owner_role)
            value.items.append(item)
            return
        target = self.source.target(value)
        if target is not None:
            self.edit_array(target, array_role).items.append(item)
        elif value is None or value == b"null" or parse_ref(value) is not None:
            self.edit_dict(owner, owner_role).entries[key] = RawArray([item])
        else:
            raise InputError(errors.PDF_UNPARSEABLE, f"{key.decode()} of object {owner[0]} is not an array")

    # -- layout -----------------------------------------------------------------
    def layout(self, base: int, prev_startxref: int) -> tuple[Revision, int]:
        """Serialize after ``base`` bytes of file; returns the revision and its startxref.

        Signature dictionaries' ByteRange placeholders are resolved here, so the
        caller only fills each hole with its DER afterwards.
        """
        objects: dict[Ref, bytes | StreamBody] = dict(self._objects)
        for r in self._dirty_dicts:
            objects[r] = self.source._dicts[r].serialize()
        for r in self._dirty_arrays:
            objects[r] = self.source._arrays[r].serialize()
        # An encrypted document takes the slower path: pyHanko encrypts what we write.
        serialize = EncryptedWriter.for_document(self.source.path).serialize if self.source.encrypted else _plain

        buf = bytearray(b"\n")
        offsets: dict[Ref, int] = {}
        for r in sorted(objects):
            offsets[r] = base + len(buf)
            buf += b"%d %d obj\n" % r
            buf += serialize(r, objects[r])
            buf += b"\nendobj\n"

        source = self.source
        xref_at = base + len(buf)
        trailer = RawDict({b"/Size": b"0", b"/Root": ref(source.root), b"/Prev": b"%d" % prev_startxref})
        for key, value in ((b"/Info", source.info), (b"/ID", source.id_raw), (b"/Encrypt", source.encrypt_raw)):
            if value:
                trailer.entries[key] = value
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


def _plain(_: Ref, body: bytes | StreamBody) -> bytes:
    return body.serialize() if isinstance(body, StreamBody) else body


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
        BYTE_RANGE_PLACEHOLDER,
        CONTENTS_KEY + b"0" * (2 * contents_bytes) + b">",
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
    while (at := buf.find(BYTE_RANGE_PLACEHOLDER, start)) >= 0:
        found = CONTENTS_HOLE.search(buf, at)
        if found is None:
            raise ValueError("a ByteRange placeholder without its /Contents hole")
        contents = found.end() - 1
        close = buf.index(b">", contents)
        hole = Hole(base + contents, base + close + 1)
        text = b"/ByteRange [0 %d %d %d]" % (hole.start, hole.end, total - hole.end)
        buf[at : at + len(BYTE_RANGE_PLACEHOLDER)] = text.ljust(len(BYTE_RANGE_PLACEHOLDER))
        holes.append(hole)
        start = at + len(BYTE_RANGE_PLACEHOLDER)
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


def _trailer_entry(trailer: pikepdf.Object, key: str) -> bytes | None:
    """A trailer entry's syntax as written (a reference stays a reference), or None."""
    for name, value in split_dictionary(trailer.unparse(resolved=True)):
        if name == key.encode("ascii"):
            return value
    return None


_MAX_PAGE_TREE_DEPTH = 64


def _page_tree(pdf: pikepdf.Pdf) -> list[Ref]:
    """The pages in order, read from the page tree as the file holds it.

    qpdf's own page list mends what it walks (a page without /Type or
    /Resources gets one, a page listed twice is copied), and a page the
    signer rewrites would carry the mending into the signed file as a change
    nobody made. The tree is walked here instead, refusing what only mending
    could read: a loop, a page that is not an indirect dictionary.
    """
    pages: list[Ref] = []
    seen: set[Ref] = set()
    stack: list[tuple[object, int]] = [(pdf.Root.get("/Pages"), 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, pikepdf.Dictionary) or not node.is_indirect:
            raise InputError(errors.PDF_UNPARSEABLE, "the page tree holds something that is not a page")
        r: Ref = node.objgen
        if r in seen or depth > _MAX_PAGE_TREE_DEPTH:
            raise InputError(errors.PDF_UNPARSEABLE, "the page tree loops or is too deep")
        seen.add(r)
        kids = node.get("/Kids")
        if node.get("/Type") == pikepdf.Name.Pages or (node.get("/Type") != pikepdf.Name.Page
                                                         and isinstance(kids, pikepdf.Array)):
            if not isinstance(kids, pikepdf.Array):
                raise InputError(errors.PDF_UNPARSEABLE, f"page tree node {r[0]} has no /Kids")
            stack.extend((kid, depth + 1) for kid in reversed(list(kids)))
        elif node.get("/Type") not in (pikepdf.Name.Page, None):
            raise InputError(errors.PDF_UNPARSEABLE, f"page tree node {r[0]} is neither a page nor pages")
        else:
            pages.append(r)
    return pages


def _walk_fields(fields: object, depth: int = 0) -> Iterator[pikepdf.Dictionary]:
    """Every field of a form's /Fields tree (bounded: field trees may loop)."""
    if not isinstance(fields, pikepdf.Array) or depth > 32:
        return
    for f in fields:
        if isinstance(f, pikepdf.Dictionary):
            yield f
            yield from _walk_fields(f.get("/Kids"), depth + 1)


def _signed(field_obj: pikepdf.Dictionary) -> bool:
    return field_obj.get("/FT") == pikepdf.Name.Sig and isinstance(field_obj.get("/V"), pikepdf.Dictionary)


def last_startxref(path: Path, size: int) -> int:
    """Where the file's last cross-reference section starts, as its final ``startxref`` says."""
    with open(path, "rb") as fh:
        fh.seek(max(0, size - TAIL_BYTES))
        tail = fh.read(TAIL_BYTES)
    matches = list(_STARTXREF.finditer(tail))
    if not matches:
        raise InputError(errors.PDF_TRUNCATED, "no startxref / %%EOF at the end of the file")
    return int(matches[-1].group(1))


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
