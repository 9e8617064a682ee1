"""The last look at every file Pakat writes, before anyone else can see it.

Each signing writes one or two incremental updates after the bytes it was
given. Before the output is renamed into place (or recorded as a document's
new revision) it is opened again with pyHanko's reader, the one Pakat's
validator uses, and the updates are judged on their own terms:

* the file reopens, its revisions end where they were written, every update
  frees nothing and only appends (no object number reused);
* every object an update rewrote is one a signature may touch (the catalog,
  the AcroForm and its /Fields, the page and its /Annots, the DSS), and it
  kept every entry it had, value for value, except the few a new signature
  field or new validation data changes (an array may only grow at its end);
* every new object is reachable from what the update added: the signature
  fields, their signature dictionaries and appearances, the DSS's streams;
* every signature and document timestamp written in this run sits in its
  field with the /ByteRange that was hashed, its /Contents holds exactly the
  CMS that was made, and that CMS verifies over the digest of those bytes
  (pyHanko's check, the one the validator makes).

An earlier signature covers bytes that are never touched here; what could
still change its verdict is a disallowed modification, and the rules above
admit nothing but what a signature and its validation data need (the
certification and field-lock rules are enforced before signing, in
:mod:`signer.permissions`).

The cost is one parse of the cross-reference sections and of the dozen
objects involved; the document's pages and streams are never read.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pikepdf
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import generic_cms
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator, SignatureValidationContext

from pakat import errors
from pakat.errors import InputError, PakatError
from pakat.pdf_reader import RevisionView, open_reader
from signer.pdf import Hole, parse_ref
from signer.pdf_syntax import split_array, split_dictionary

_SIGNATURE_KINDS = ("/Sig", "/DocTimeStamp")
_ALLOWED_KEYS = {
    "catalog": {"/AcroForm", "/DSS", "/Extensions"},
    "acroform": {"/Fields", "/SigFlags", "/NeedAppearances"},
    "page": {"/Annots"},
    "dss": {"/Type", "/Certs", "/OCSPs", "/CRLs"},
}
_GROWING = {"/Fields", "/Annots", "/Certs", "/OCSPs", "/CRLs"}
_MAX_DEPTH = 32
log = logging.getLogger(__name__)


class OutputRejected(PakatError):
    """What was written is not what was meant: nothing is returned or stored."""

    def __init__(self, detail: str) -> None:
        super().__init__(errors.OUTPUT_CHECK_FAILED, detail[:300])


@dataclass(frozen=True)
class EmbeddedSignature:
    """A signature or document timestamp put into a hole in this run, as the check expects to find it.

    ``covered_end`` is where its /ByteRange ends (the end of the revision that
    holds it); ``digest`` is the digest of those bytes without the hole, in the
    CMS's own digest algorithm.
    """

    hole: Hole
    der: bytes
    covered_end: int
    digest: bytes
    timestamp: bool = False


def check_signed_output(
    path: Path,
    *,
    base_size: int,
    base_startxref: int,
    revisions: int,
    signatures: Sequence[EmbeddedSignature],
) -> None:
    """Raise :class:`OutputRejected` unless ``path`` is ``base_size`` bytes plus ``revisions`` sound updates.

    ``signatures`` lists every hole filled in this run, in the new updates or
    (for a signature raised to a higher level) in an earlier one.
    """
    with open(path, "rb") as stream:
        try:
            _Check(stream, base_size, base_startxref, revisions).run(signatures)
        except OutputRejected:
            disagreement = _readers_disagree(path, base_size, revisions)
            if disagreement is not None:
                # What we wrote is what qpdf read; the validator's reader reads the document otherwise.
                raise InputError(errors.PDF_UNPARSEABLE, disagreement) from None
            raise
        except InputError:
            raise
        except Exception as exc:  # whatever it is, the output is not shown to be sound: it is not handed out
            log.exception("checking a signed output failed unexpectedly")
            raise OutputRejected(f"{type(exc).__name__}: {exc}") from None


def _readers_disagree(path: Path, base_size: int, revisions: int) -> str | None:
    """How qpdf and pyHanko read the objects we rewrote differently in the original, or None if they agree.

    Asked only when the check failed: a writer that faithfully carried what
    qpdf read is not to blame for what pyHanko reads otherwise.
    """
    try:
        with open(path, "rb") as fh:
            original = fh.read(base_size)
            reader = open_reader(fh)
            first = reader.xrefs.total_revisions - revisions
            old_size = reader.xrefs.get_xref_container_info(first - 1).size
            refs = {r for rev in range(first, first + revisions)
                    for r in reader.xrefs.explicit_refs_in_revision(rev) if r.idnum < old_size}
            with pikepdf.open(io.BytesIO(original), attempt_recovery=False, inherit_page_attributes=False) as pdf:
                for r in sorted(refs, key=lambda ref: ref.idnum):
                    theirs = reader.get_object(r, revision=first - 1)
                    why = _differs(theirs, pdf.get_object((r.idnum, r.generation)))
                    if why:
                        return f"object {r.idnum} reads differently in qpdf and in the validator's reader ({why})"
    except Exception as exc:
        return f"the validator's reader: {type(exc).__name__}: {exc}"[:200]
    return None


def _differs(theirs: object, ours: object) -> str | None:
    """The first difference in entries (or items) between pyHanko's and qpdf's reading of one object."""
    if not isinstance(ours, pikepdf.Object):
        return "qpdf reads nothing there"
    text: bytes = ours.unparse(resolved=True)
    if isinstance(theirs, generic.DictionaryObject) and text.startswith(b"<<"):
        entries = dict(split_dictionary(text))
        keys = {k.encode("latin-1") for k in theirs}
        if keys != set(entries):
            return "entries " + ", ".join(sorted(k.decode("latin-1") for k in keys ^ set(entries)))
        for key, value in entries.items():
            raw = theirs.raw_get(key.decode("latin-1"))
            mine = parse_ref(value)
            if (mine is not None or isinstance(raw, generic.IndirectObject)) and (
                    not isinstance(raw, generic.IndirectObject) or mine != (raw.idnum, raw.generation)):
                return f"entry {key.decode('latin-1')}"
            if isinstance(raw, generic.NameObject) and value != str(raw).encode("utf-8", "replace"):
                return f"entry {key.decode('latin-1')}: {raw} against {value.decode('latin-1')}"
        return None
    if isinstance(theirs, generic.ArrayObject) and text.startswith(b"["):
        items = split_array(text)
        return None if len(items) == len(theirs) else f"{len(theirs)} items against {len(items)}"
    return "not the same kind of object"


def check_readable(path: Path, size: int, startxref: int) -> None:
    """Refuse (PDF_UNPARSEABLE) a document the validator's reader does not read as qpdf did.

    For a signature that a person is about to make: their PIN is not asked
    for a document whose signed output would be refused at the end.
    """
    with open(path, "rb") as stream:
        _Check(stream, size, startxref, revisions=0)


class _Check:
    def __init__(self, stream: BinaryIO, base_size: int, base_startxref: int, revisions: int) -> None:
        self.stream = stream
        self.size = stream.seek(0, 2)
        self.reader = open_reader(stream)
        xrefs = self.reader.xrefs
        self.first = xrefs.total_revisions - revisions
        if self.first < 1 or xrefs.get_startxref_for_revision(self.first - 1) != base_startxref:
            raise InputError(
                errors.PDF_UNPARSEABLE,
                "the validator's reader does not see the document's own last revision where qpdf does",
            )
        if revisions and xrefs.get_startxref_for_revision(self.first) < base_size:
            raise OutputRejected("the first new revision starts inside the original bytes")

    def run(self, signatures: Sequence[EmbeddedSignature]) -> None:
        found: list[generic.DictionaryObject] = []
        cache: dict[Any, Any] = {}
        for revision in range(self.first, self.reader.xrefs.total_revisions):
            found.extend(_Revision(self.reader, revision, self.first, cache).check())
        for expected in signatures:
            self._signature(expected, found)
        self._fields()

    def _fields(self) -> None:
        """The validator starts by listing every signature field: it must be able to, here too."""
        try:
            list(enumerate_sig_fields(self.reader, filled_status=True))
        except Exception as exc:  # the form's existing fields: qpdf read what we touched, pyHanko not the rest
            detail = f"the form's fields: {type(exc).__name__}: {exc}"[:200]
            raise InputError(errors.PDF_UNPARSEABLE, detail) from None

    def _signature(self, expected: EmbeddedSignature, new_values: list[generic.DictionaryObject]) -> None:
        hole = expected.hole
        value = next((v for v in new_values if _byte_range(v)[1:3] == [hole.start, hole.end]), None)
        if value is None:
            value = next((v for v in _all_signature_values(self.reader) if _byte_range(v)[1:3] ==
                          [hole.start, hole.end]), None)
        if value is None:
            raise OutputRejected(f"no signature dictionary with the hole {hole.start}…{hole.end}")
        if _byte_range(value) != [0, hole.start, hole.end, expected.covered_end - hole.end]:
            raise OutputRejected(f"/ByteRange {_byte_range(value)} is not the range that was hashed")
        if expected.covered_end > self.size:
            raise OutputRejected("the signed range runs past the end of the file")
        written = generic_contents(value)
        padded = expected.der + b"\0" * (hole.capacity - len(expected.der))
        self.stream.seek(hole.start)
        raw = self.stream.read(hole.end - hole.start)
        if written != padded or raw != b"<" + padded.hex().encode("ascii") + b">":
            raise OutputRejected(f"/Contents at {hole.start} is not the CMS that was made")
        kind = _get(value, "/Type")
        if kind not in _SIGNATURE_KINDS or (kind == "/DocTimeStamp") != expected.timestamp:
            raise OutputRejected(f"a signature dictionary of /Type {kind}")
        _verify_cms(expected)

    # the structure of each new revision is judged in _Revision


class _View(RevisionView):
    """A revision of the output, blaming the document for what pyHanko cannot read of its own objects."""

    def __init__(self, reader: PdfFileReader, revision: int, *, first: int, cache: dict[Any, Any]) -> None:
        super().__init__(reader, revision, cache)
        self.first = first  # our first revision: the ones before it are the document as it was given

    @property
    def trailer_view(self) -> generic.DictionaryObject:
        return self.trailer

    def __call__(self, r: generic.Reference) -> generic.PdfObject:
        try:
            return super().__call__(r)
        except Exception as exc:
            if not self._original(r):
                raise
            # qpdf read this object of the document; pyHanko cannot.
            detail = f"object {r.idnum}: {type(exc).__name__}: {exc}"[:200]
            raise InputError(errors.PDF_UNPARSEABLE, detail) from None

    def _original(self, r: generic.Reference) -> bool:
        """Whether ``r`` as this revision holds it comes from the document as it was given."""
        if self.revision < self.first:
            return True
        try:
            return bool(self.reader.xrefs.get_last_change(r) < self.first)  # not written by us since
        except KeyError:
            return False

    def is_ref_unassignable(self, r: generic.Reference) -> bool:
        """Whether the number was beyond this revision's /Size, so free to take later."""
        return bool(r.idnum >= self.reader.xrefs.get_xref_container_info(self.revision).size)


class _Revision:
    """One update written in this run, compared with the revision before it."""

    def __init__(self, reader: PdfFileReader, revision: int, first: int, cache: dict[Any, Any]) -> None:
        self.reader = reader
        self.revision = revision
        self.old = _View(reader, revision - 1, first=first, cache=cache)
        self.new = _View(reader, revision, first=first, cache=cache)
        xref_stream = reader.xrefs.get_xref_container_info(revision).stream_ref
        self.written = {r for r in reader.xrefs.explicit_refs_in_revision(revision) if r != xref_stream}
        self.fresh = {r for r in self.written if self.old.is_ref_unassignable(r)}
        self.explained: set[generic.Reference] = set()

    def check(self) -> list[generic.DictionaryObject]:
        """Judge the revision; returns the signature dictionaries it added."""
        if self.reader.xrefs.refs_freed_in_revision(self.revision):
            raise OutputRejected(f"revision {self.revision} frees objects")
        self._trailer()
        root_ref = self.new.root_ref
        if root_ref is None:
            raise OutputRejected(f"revision {self.revision} names no catalog")
        old_root, new_root = self.old(root_ref), self.new(root_ref)
        if not (isinstance(old_root, generic.DictionaryObject) and isinstance(new_root, generic.DictionaryObject)):
            raise OutputRejected("the catalog is not a dictionary")
        self._dict(root_ref, old_root, new_root, "catalog")
        widgets = self._form(old_root, new_root)
        values = [self._widget(w) for w in widgets]
        self._dss(old_root, new_root)
        unexplained = (self.written - self.fresh) - self.explained
        if unexplained:
            raise OutputRejected(f"revision {self.revision} rewrites objects a signature has no business in: "
                                 f"{sorted(r.idnum for r in unexplained)}")
        reachable = self._reachable()
        orphans = self.fresh - reachable
        if orphans:
            raise OutputRejected(f"revision {self.revision} adds objects nothing uses: "
                                 f"{sorted(r.idnum for r in orphans)}")
        return values

    def _trailer(self) -> None:
        old, new = self.old.trailer_view, self.new.trailer_view
        for key in ("/Root", "/Info", "/Encrypt"):
            if not _same(old.raw_get(key) if key in old else None, new.raw_get(key) if key in new else None):
                raise OutputRejected(f"the trailer's {key} changed")
        if "/ID" in old and (
            "/ID" not in new or not _same(old["/ID"][0], new["/ID"][0])
        ):
            raise OutputRejected("the trailer's /ID changed")

    # -- the objects a signature field touches -------------------------------------------------------

    def _form(
        self, old_root: generic.DictionaryObject, new_root: generic.DictionaryObject
    ) -> list[generic.Reference]:
        """Check the AcroForm and /Fields; returns the widgets the revision added."""
        new_form_ref, new_form = _resolved_entry(self.new, new_root, "/AcroForm")
        if new_form is None:
            return []
        old_form_ref, old_form = _resolved_entry(self.old, old_root, "/AcroForm")
        self._rewritten_or_fresh(old_form_ref, new_form_ref, old_form, new_form, "acroform")
        added = self._grown(old_form, new_form, "/Fields")
        for widget in added:
            if widget not in self.fresh:
                raise OutputRejected(f"/Fields gained object {widget.idnum}, which is not new")
        return added

    def _widget(self, widget_ref: generic.Reference) -> generic.DictionaryObject:
        widget = self.new(widget_ref)
        if not isinstance(widget, generic.DictionaryObject) or _get(widget, "/FT") != "/Sig" \
                or _get(widget, "/Subtype") != "/Widget" or "/Kids" in widget:
            raise OutputRejected(f"new field {widget_ref.idnum} is not a signature widget")
        value_ref = _ref(widget.raw_get("/V"))
        page_ref = _ref(widget.raw_get("/P"))
        if value_ref is None or value_ref not in self.fresh or page_ref is None:
            raise OutputRejected(f"signature field {widget_ref.idnum} lacks a new value or its page")
        value = self.new(value_ref)
        if not isinstance(value, generic.DictionaryObject):
            raise OutputRejected(f"the value of signature field {widget_ref.idnum} is not a dictionary")
        old_page, new_page = self.old(page_ref), self.new(page_ref)
        if not (isinstance(old_page, generic.DictionaryObject) and isinstance(new_page, generic.DictionaryObject)):
            raise OutputRejected(f"signature field {widget_ref.idnum} points at no page")
        if _get(new_page, "/Type") not in ("/Page", None):  # some producers leave /Type out; readers cope
            raise OutputRejected(f"signature field {widget_ref.idnum} points at no page")
        if page_ref in self.written:
            self._dict(page_ref, old_page, new_page, "page")
        added = self._grown(old_page, new_page, "/Annots")
        if widget_ref not in added:
            raise OutputRejected(f"signature widget {widget_ref.idnum} was not added to its page's /Annots")
        return value

    def _dss(self, old_root: generic.DictionaryObject, new_root: generic.DictionaryObject) -> None:
        new_ref, new_dss = _resolved_entry(self.new, new_root, "/DSS")
        if new_dss is None:
            return
        old_ref, old_dss = _resolved_entry(self.old, old_root, "/DSS")
        self._rewritten_or_fresh(old_ref, new_ref, old_dss, new_dss, "dss")
        for key in ("/Certs", "/OCSPs", "/CRLs"):
            for item in self._grown(old_dss, new_dss, key):
                if item not in self.fresh or not isinstance(self.new(item), generic.StreamObject):
                    raise OutputRejected(f"the DSS's {key} gained object {item.idnum}, not a new stream")

    def _rewritten_or_fresh(
        self,
        old_ref: generic.Reference | None,
        new_ref: generic.Reference | None,
        old: generic.DictionaryObject | None,
        new: generic.DictionaryObject,
        role: str,
    ) -> None:
        if new_ref is not None and new_ref in self.fresh:
            # A new object: it carries over a direct dictionary (or starts from nothing).
            self._compare(old or generic.DictionaryObject(), new, role)
        elif new_ref is not None and new_ref in self.written:
            if old_ref != new_ref:
                raise OutputRejected(f"the catalog's {role} now points at another existing object")
            self._dict(new_ref, old, new, role)
        elif old is None or not _same(old, new):
            raise OutputRejected(f"the {role} changed without being rewritten")

    def _dict(
        self, r: generic.Reference, old: object, new: object, role: str
    ) -> None:
        if not isinstance(old, generic.DictionaryObject) or isinstance(old, generic.StreamObject):
            raise OutputRejected(f"object {r.idnum} ({role}) was not a dictionary")
        if not isinstance(new, generic.DictionaryObject) or isinstance(new, generic.StreamObject):
            raise OutputRejected(f"object {r.idnum} ({role}) is no longer a dictionary")
        self._compare(old, new, role, r)
        self.explained.add(r)

    def _compare(
        self, old: generic.DictionaryObject, new: generic.DictionaryObject, role: str,
        r: generic.Reference | None = None,
    ) -> None:
        allowed = _ALLOWED_KEYS[role]
        for key in set(old) | set(new):
            if key in allowed:
                continue
            if not _same(old.raw_get(key) if key in old else None, new.raw_get(key) if key in new else None):
                raise OutputRejected(f"the {role}'s {key} changed")
        if role == "catalog":
            for key in ("/Extensions",):
                if key in old and not _same(old.raw_get(key), new.raw_get(key) if key in new else None):
                    raise OutputRejected(f"the catalog's {key} changed")
        if role == "acroform" and "/SigFlags" in new and _get(new, "/SigFlags") != _get(old, "/SigFlags") \
                and _get(new, "/SigFlags") != 3:
            raise OutputRejected("/SigFlags changed to something other than 3")
        if role == "acroform" and "/NeedAppearances" in new \
                and not _same(old.raw_get("/NeedAppearances") if "/NeedAppearances" in old else None,
                              new.raw_get("/NeedAppearances")):
            raise OutputRejected("/NeedAppearances may only be taken away")

    def _grown(
        self, old_owner: generic.DictionaryObject | None, new_owner: generic.DictionaryObject, key: str
    ) -> list[generic.Reference]:
        """The references appended to an array entry (direct, or indirect and rewritten); old items kept."""
        old_ref, old_items = _array_entry(self.old, old_owner, key)
        new_ref, new_items = _array_entry(self.new, new_owner, key)
        if new_ref is not None and new_ref in self.written and new_ref not in self.fresh:
            if new_ref != old_ref:
                raise OutputRejected(f"{key} now points at another existing array")
            self.explained.add(new_ref)
        elif new_ref is not None and new_ref == old_ref and not _same_items(old_items, new_items):
            raise OutputRejected(f"{key} changed without being rewritten")
        if len(new_items) < len(old_items) or not _same_items(old_items, new_items[: len(old_items)]):
            raise OutputRejected(f"{key} lost or changed an entry it had")
        added = [_ref(item) for item in new_items[len(old_items) :]]
        if any(a is None for a in added):
            raise OutputRejected(f"{key} gained something that is not a reference")
        return [a for a in added if a is not None]

    def _reachable(self) -> set[generic.Reference]:
        """The new objects reachable from the catalog and the rewritten objects, following new objects only."""
        seen: set[generic.Reference] = set()
        roots = [r for r in self.written if r not in self.fresh]
        if self.new.root_ref is not None:
            roots.append(self.new.root_ref)
        for r in roots:
            self._collect(self.new(r), seen, 0)
        return seen

    def _collect(self, obj: object, seen: set[generic.Reference], depth: int) -> None:
        # pyHanko's own collect_dependencies does not look inside encrypted documents' containers.
        if depth > _MAX_DEPTH:
            raise OutputRejected("new objects nest too deeply")
        if isinstance(obj, generic.IndirectObject):
            r = obj.reference
            if r in seen or r not in self.fresh:
                return
            seen.add(r)
            obj = self.new(r)
        # Only references matter here: values are taken as written, never decrypted (a signature's
        # /Contents is not encrypted and would not decrypt).
        if isinstance(obj, generic.DictionaryObject):
            for key in list(obj):
                self._collect(obj.raw_get(key, decrypt=generic.EncryptedObjAccess.RAW), seen, depth + 1)
        elif isinstance(obj, generic.ArrayObject):
            for i in range(len(obj)):
                self._collect(obj.raw_get(i, decrypt=generic.EncryptedObjAccess.RAW), seen, depth + 1)


# -- reading values the same way on both sides --------------------------------------------------------


def _resolved_entry(
    resolver: _View, owner: generic.DictionaryObject | None, key: str
) -> tuple[generic.Reference | None, generic.DictionaryObject | None]:
    """A dictionary-valued entry: its reference (None when direct) and its value (None when absent or null)."""
    if owner is None or key not in owner:
        return None, None
    raw = owner.raw_get(key)
    r = _ref(raw)
    value = resolver(r) if r is not None else raw
    return r, value if isinstance(value, generic.DictionaryObject) else None


def _array_entry(
    resolver: _View, owner: generic.DictionaryObject | None, key: str
) -> tuple[generic.Reference | None, list[generic.PdfObject]]:
    if owner is None or key not in owner:
        return None, []
    raw = owner.raw_get(key)
    r = _ref(raw)
    value = resolver(r) if r is not None else raw
    if not isinstance(value, generic.ArrayObject):
        return r, []
    return r, [value.raw_get(i) for i in range(len(value))]


def _get(owner: object, key: str) -> object:
    """An entry's value, resolved and decrypted (pyHanko's ``dict.get`` would hand back an encrypted proxy)."""
    if not isinstance(owner, generic.DictionaryObject) or key not in owner:
        return None
    try:
        return owner[key]
    except (misc.PdfError, KeyError):
        return None


def _ref(value: object) -> generic.Reference | None:
    if isinstance(value, generic.IndirectObject):
        return value.reference
    return None


def _same(old: object, new: object, depth: int = 0) -> bool:
    """Whether two raw values mean the same (references by number; a null equals an absent value)."""
    if depth > _MAX_DEPTH:
        raise OutputRejected("values nest too deeply to compare")
    if isinstance(old, generic.IndirectObject) and isinstance(new, generic.IndirectObject):
        return old.reference == new.reference
    if isinstance(old, generic.IndirectObject) or isinstance(new, generic.IndirectObject):
        return _is_null(old) and _is_null(new)  # a reference to a freed object and a null mean the same
    if _is_null(old) or _is_null(new):
        return _is_null(old) and _is_null(new)
    if isinstance(old, generic.TextStringObject | generic.ByteStringObject):
        return isinstance(new, generic.TextStringObject | generic.ByteStringObject) \
            and old.original_bytes == new.original_bytes
    if isinstance(old, generic.StreamObject) or isinstance(new, generic.StreamObject):
        return False  # streams are never rewritten by a signature
    if isinstance(old, generic.DictionaryObject):
        if not isinstance(new, generic.DictionaryObject):
            return False
        return all(_same(old.raw_get(k) if k in old else None, new.raw_get(k) if k in new else None, depth + 1)
                   for k in set(old) | set(new))
    if isinstance(old, generic.ArrayObject):
        return isinstance(new, generic.ArrayObject) and len(old) == len(new) \
            and all(_same(a, b, depth + 1) for a, b in zip(old, new, strict=True))
    if isinstance(old, generic.NameObject) or isinstance(new, generic.NameObject):
        return isinstance(old, generic.NameObject) and isinstance(new, generic.NameObject) and old == new
    if isinstance(old, generic.BooleanObject) or isinstance(new, generic.BooleanObject):
        return type(old) is type(new) and old == new
    return (type(old) is type(new) and old == new) or _numbers_equal(old, new)


def _numbers_equal(old: object, new: object) -> bool:
    numbers = (generic.NumberObject, generic.FloatObject)
    return isinstance(old, numbers) and isinstance(new, numbers) and old == new


def _same_items(old: Sequence[object], new: Sequence[object]) -> bool:
    return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))


def _is_null(value: object) -> bool:
    if value is None or isinstance(value, generic.NullObject):
        return True
    if isinstance(value, generic.IndirectObject):
        try:
            return isinstance(value.get_object(), generic.NullObject)
        except Exception:  # unreadable is not null: the values then differ, and the caller says why
            return False
    return False


# -- signatures -------------------------------------------------------------------------------------


def _byte_range(value: generic.DictionaryObject) -> list[object]:
    raw = _get(value, "/ByteRange")
    return list(raw) if isinstance(raw, generic.ArrayObject) else []


def generic_contents(value: generic.DictionaryObject) -> bytes:
    """The signature dictionary's /Contents as bytes (never decrypted: it is never encrypted)."""
    raw = value.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.RAW)
    if not isinstance(raw, generic.ByteStringObject | generic.TextStringObject):
        raise OutputRejected("/Contents is not a string")
    return bytes(raw.original_bytes)


def _all_signature_values(reader: PdfFileReader) -> Iterator[generic.DictionaryObject]:
    form = _get(reader.root, "/AcroForm")
    fields = _get(form, "/Fields") if isinstance(form, generic.DictionaryObject) else None
    yield from _values(fields, 0)


def _values(fields: object, depth: int) -> Iterator[generic.DictionaryObject]:
    if not isinstance(fields, generic.ArrayObject) or depth > _MAX_DEPTH:
        return
    for item in fields:
        field = item.get_object()
        if not isinstance(field, generic.DictionaryObject):
            continue
        value = _get(field, "/V")
        if isinstance(value, generic.DictionaryObject) and "/ByteRange" in value:
            yield value
        yield from _values(_get(field, "/Kids"), depth + 1)


def _verify_cms(expected: EmbeddedSignature) -> None:
    """The CMS verifies over the digest of the bytes it covers.

    Per document: the message digest is the digest of the covered bytes, the
    content type is right, and the signature value verifies over the signed
    attributes with the certificate the SignerInfo names. Once per certificate
    in a process, pyHanko's whole integrity check (the validator's) is made
    too: signing-certificate attribute, algorithm protection. Those parts are
    the same bytes in every signature made with one certificate.
    """
    try:
        signed_data = cms.ContentInfo.load(expected.der)["content"]
        signer_info = signed_data["signer_infos"][0]
        cert = _signer_certificate(signed_data, signer_info)
        if expected.timestamp:
            tst_info: tsp.TSTInfo = signed_data["encap_content_info"]["content"].parsed
            if tst_info["message_imprint"]["hashed_message"].native != expected.digest:
                raise OutputRejected("the document timestamp's imprint is not the digest of the covered bytes")
            content = signed_data["encap_content_info"]["content"].contents
            algorithm = signer_info["digest_algorithm"]["algorithm"].native
            actual, content_type = hashlib.new(algorithm, content).digest(), "tst_info"
        else:
            actual, content_type = expected.digest, "data"
        first_time = cert.sha256 not in _FULLY_CHECKED
        ok = _integrity(signer_info, cert, content_type, actual, full=first_time)
    except OutputRejected:
        raise
    except Exception as exc:  # anything at all wrong with our own CMS is a rejection, never a pass
        raise OutputRejected(f"the CMS does not read back: {type(exc).__name__}: {exc}") from None
    if not ok:
        raise OutputRejected("the signature does not verify over the bytes it covers")
    if first_time:
        _FULLY_CHECKED.add(cert.sha256)


_FULLY_CHECKED: set[bytes] = set()  # certificates whose CMS passed pyHanko's whole check here


def _signer_certificate(signed_data: cms.SignedData, signer_info: cms.SignerInfo) -> asn1_x509.Certificate:
    """The certificate the SignerInfo names by issuer and serial number, compared as encoded."""
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number":
        raise OutputRejected("the SignerInfo names its certificate by key identifier")
    issuer, serial = sid.chosen["issuer"].dump(), sid.chosen["serial_number"].native
    for choice in signed_data["certificates"] or ():
        cert = choice.chosen
        if isinstance(cert, asn1_x509.Certificate) and cert.serial_number == serial \
                and cert.issuer.dump() == issuer:
            return cert
    raise OutputRejected("the CMS does not carry the certificate its SignerInfo names")


def _integrity(
    signer_info: cms.SignerInfo, cert: asn1_x509.Certificate, content_type: str, digest: bytes, *, full: bool
) -> bool:
    if full:
        intact, valid = generic_cms.validate_sig_integrity(
            signer_info, cert, expected_content_type=content_type, actual_digest=digest
        )
        return bool(intact and valid)
    attrs = signer_info["signed_attrs"]
    values = {a["type"].native: a["values"] for a in attrs}
    if values["content_type"][0].native != content_type or values["message_digest"][0].native != digest:
        return False
    try:
        _RAW_SIGNATURES.validate_signature(
            signer_info["signature"].native,
            attrs.untag().dump(),  # signed as a SET OF, not with its [0] tag
            cert.public_key,
            signer_info["signature_algorithm"],
            context=SignatureValidationContext(
                contextual_md_algorithm=signer_info["digest_algorithm"]["algorithm"].native
            ),
        )
    except InvalidSignature:
        return False
    return True


_RAW_SIGNATURES = DefaultSignatureValidator()
