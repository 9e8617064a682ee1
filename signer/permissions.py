"""Whether a document may take one more signature, decided before anything is signed.

Three things can forbid it, and each is refused with its own code before the
HSM or the user's token is asked for anything:

* **the author's permissions** in an encrypted document that opens without a
  password (an "owner password" PDF): adding a signature field is creating
  an interactive form field, which needs both "modify" and "annotate and fill
  forms" (ISO 32000-2, Table 22, bits 4 and 6) — PDF_SIGNING_NOT_PERMITTED;
* **a certification that allows no changes** (DocMDP P=1, ISO 32000-2,
  12.8.2.2): any further signature breaks the author's certification —
  DOCUMENT_CERTIFIED_NO_CHANGES;
* **a field lock** of an earlier signature (FieldMDP, 12.8.2.4, /Lock or a
  FieldMDP reference) that covers the new field's name: a lock on "all"
  fields (or on all but some) covers fields added later too, and filling one
  with a signature breaks the earlier signature, as pyHanko's difference
  analysis (the one Pakat's validator runs) judges it — DOCUMENT_FIELDS_LOCKED.

Certifications allowing form filling and signing (P=2) or annotations too
(P=3) take further signatures, visible or not.

The document is read as pyHanko's validator reads these entries: a
signature's DocMDP level from its /Reference, else from its field's /Lock
/P; its field lock from its FieldMDP /Reference or its field's /Lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pikepdf

from pakat import errors
from pakat.errors import InputError
from signer.pdf import PdfSource, number, qpdf_reading

_MAX_FIELD_DEPTH = 32


@dataclass(frozen=True)
class FieldLock:
    """Which fields an earlier signature locks: all, only those named, or all but those named."""

    action: str  # "/All", "/Include" or "/Exclude"
    fields: frozenset[str]

    def locks(self, name: str) -> bool:
        if self.action == "/All":
            return True
        if self.action == "/Include":
            return name in self.fields
        return name not in self.fields


@dataclass(frozen=True)
class EarlierSignature:
    """What an existing signature says about later changes."""

    field_name: str
    docmdp: int | None  # 1, 2 or 3 when it certifies (or locks with /P)
    locks: tuple[FieldLock, ...]


def check_may_sign(pdf: PdfSource, *, field_name: str) -> None:
    """Refuse (InputError) when ``pdf`` may not take a new signature field ``field_name``."""
    with qpdf_reading():
        if pdf.encrypted:
            allow = pdf.pdf.allow
            if not (allow.modify_other and allow.modify_annotation):
                raise InputError(
                    errors.PDF_SIGNING_NOT_PERMITTED,
                    "the owner-password permissions forbid creating form fields",
                )
        for earlier in earlier_signatures(pdf.pdf):
            if earlier.docmdp == 1:
                raise InputError(errors.DOCUMENT_CERTIFIED_NO_CHANGES, f"certified by {earlier.field_name!r}")
            if any(lock.locks(field_name) for lock in earlier.locks):
                raise InputError(errors.DOCUMENT_FIELDS_LOCKED, f"locked by field {earlier.field_name!r}")


def earlier_signatures(pdf: pikepdf.Pdf) -> Iterator[EarlierSignature]:
    """Every signed signature field of the form, and the certification the catalog names."""
    root = pdf.Root
    perms = root.get("/Perms")
    certified = perms.get("/DocMDP") if isinstance(perms, pikepdf.Dictionary) else None
    if isinstance(certified, pikepdf.Dictionary):
        level = _docmdp_of(certified)
        if level is not None:
            yield EarlierSignature("/Perms /DocMDP", level, ())
    form = root.get("/AcroForm")
    fields = form.get("/Fields") if isinstance(form, pikepdf.Dictionary) else None
    for name, field_obj in _signature_fields(fields, "", None, 0):
        value = field_obj.get("/V")
        if not isinstance(value, pikepdf.Dictionary):
            continue
        lock = field_obj.get("/Lock")
        lock = lock if isinstance(lock, pikepdf.Dictionary) else None
        level = _docmdp_of(value)
        if level is None and lock is not None:
            level = _permission(lock.get("/P"))
        locks = [_field_lock(params) for params in _transform_params(value, "/FieldMDP")]
        if lock is not None:
            locks.append(_field_lock(lock))
        yield EarlierSignature(name, level, tuple(lock for lock in locks if lock is not None))


def _signature_fields(
    fields: object, prefix: str, inherited_type: object, depth: int
) -> Iterator[tuple[str, pikepdf.Dictionary]]:
    """(fully qualified name, field) for every signature field, /FT inherited through /Parent."""
    if not isinstance(fields, pikepdf.Array) or depth > _MAX_FIELD_DEPTH:
        return
    for item in fields:
        if not isinstance(item, pikepdf.Dictionary):
            continue
        title = item.get("/T")
        part = str(title) if isinstance(title, pikepdf.String) else ""
        name = f"{prefix}.{part}" if prefix and part else prefix or part
        field_type = item.get("/FT", inherited_type)
        if field_type == pikepdf.Name.Sig:
            yield name, item
        yield from _signature_fields(item.get("/Kids"), name, field_type, depth + 1)


def _transform_params(value: pikepdf.Dictionary, method: str) -> Iterator[pikepdf.Dictionary]:
    references = value.get("/Reference")
    for reference in references if isinstance(references, pikepdf.Array) else ():
        if isinstance(reference, pikepdf.Dictionary) and reference.get("/TransformMethod") == pikepdf.Name(method):
            params = reference.get("/TransformParams")
            if isinstance(params, pikepdf.Dictionary):
                yield params


def _docmdp_of(value: pikepdf.Dictionary) -> int | None:
    for params in _transform_params(value, "/DocMDP"):
        # ISO 32000-2, Table 257: P defaults to 2 when absent.
        return _permission(params.get("/P")) or 2
    return None


def _permission(value: object) -> int | None:
    level = number(value)
    return int(level) if level in (1.0, 2.0, 3.0) else None


def _field_lock(params: pikepdf.Dictionary) -> FieldLock | None:
    action = params.get("/Action")
    if action not in (pikepdf.Name.All, pikepdf.Name.Include, pikepdf.Name.Exclude):
        return None
    listed = params.get("/Fields")
    names = frozenset(str(n) for n in listed if isinstance(n, pikepdf.String)) if isinstance(
        listed, pikepdf.Array) else frozenset()
    return FieldLock(str(action), names)
