"""Finding what a document holds: its signatures and its document timestamps, each once.

A signature field's value is a signature dictionary; whether it holds a
signature or a document timestamp is what it *is*, not what it says: a value
with the subfilter ``ETSI.RFC3161``, or whose CMS encapsulates an RFC 3161
``TSTInfo``, is a document timestamp whatever its ``/Type`` (writers put
``/Sig``, ``/DocTimeStamp`` or nothing there). One signature dictionary
referenced from several fields is one signature, reported under its first
field with the others named; so is one signature value (the same
``/ByteRange`` and ``/Contents``) copied into several dictionaries. Either is
judged once: a thousand fields showing one value cost one check, not a
thousand, and the report says the value is shared, which no signing software
does on its own. Copies (:attr:`FoundSignature.copies`) are more: two
dictionaries claiming the same signed bytes overlap, and the engine fails the
signature for it, as it would fail each copy judged on its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from asn1crypto import cms
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader, process_data_at_eof
from pyhanko.sign.fields import FieldMDPSpec, enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from pakat import errors
from pakat.errors import InputError
from validation.budget import check_time

TIMESTAMP_SUBFILTER = "/ETSI.RFC3161"


@dataclass
class FoundSignature:
    """One signature value, and the fields that show it."""

    name: str  # the first field's fully qualified name
    field: generic.DictionaryObject  # that field
    value: generic.DictionaryObject | None  # the signature dictionary
    value_ref: generic.Reference | None  # where it lives, when it is an object of its own
    field_ref: generic.Reference  # the field object
    timestamp: bool
    also_in: list[str] = dataclasses.field(default_factory=list)  # other fields showing the same value
    copies: list[str] = dataclasses.field(default_factory=list)  # of those, fields with a copy of the dictionary


def find_signatures(reader: PdfFileReader, *, max_fields: int | None = None) -> list[FoundSignature]:
    """Every filled signature field's value, in form order, each signature value once.

    Raises what pyHanko raises for a form tree it cannot walk (loops); the
    engine turns that into a coded refusal. More than ``max_fields`` filled
    signature fields: PDF_TOO_COMPLEX.
    """
    found: list[FoundSignature] = []
    by_value: dict[object, FoundSignature] = {}
    fields_seen = 0
    for raw_name, _, field_ref in enumerate_sig_fields(reader, filled_status=True):
        fields_seen += 1
        if max_fields is not None and fields_seen > max_fields:
            raise InputError(errors.PDF_TOO_COMPLEX, f"more than {max_fields} filled signature fields")
        check_time()
        name = field_name(raw_name)
        sig_field = field_ref.get_object()
        raw = sig_field.raw_get("/V") if "/V" in sig_field else None
        value_ref = raw.reference if isinstance(raw, generic.IndirectObject) else None
        value = _dictionary(raw)
        keys: list[object] = [(value_ref.idnum, value_ref.generation) if value_ref is not None else id(value)]
        content = _value_content(value)
        if content is not None:
            keys.append(content)
        known = next((by_value[k] for k in keys if k in by_value), None)
        if known is not None:
            known.also_in.append(name)
            if keys[0] not in by_value:
                known.copies.append(name)  # the same value in a dictionary of its own
            for k in keys:
                by_value.setdefault(k, known)
            continue
        entry = FoundSignature(name, sig_field, value, value_ref, field_ref.reference, _is_timestamp(value))
        for k in keys:
            by_value[k] = entry
        found.append(entry)
    return found


def _value_content(value: generic.DictionaryObject | None) -> tuple[str, bytes] | None:
    """What makes a signature value the same one: its /ByteRange and its /Contents as written."""
    contents = raw_contents(value)
    if value is None or not contents:
        return None
    try:
        byte_range = value.raw_get("/ByteRange")
        ranges = tuple(int(v) for v in byte_range) if isinstance(byte_range, generic.ArrayObject) else None
    except Exception:  # an unreadable range: this value is judged (and refused) on its own
        return None
    if ranges is None:
        return None
    return repr(ranges), hashlib.sha256(contents).digest()


def field_name(name: object) -> str:
    """A field's name as text: pyHanko hands over a /T it cannot decode (no PDFDocEncoding, no BOM) as bytes."""
    if isinstance(name, bytes):
        return name.decode("latin-1")  # every byte kept, one character each; the report cleans controls
    return str(name)


def _dictionary(raw: object) -> generic.DictionaryObject | None:
    try:
        value = raw.get_object() if isinstance(raw, generic.IndirectObject) else raw
    except Exception:  # a dangling or damaged reference: no signature dictionary
        return None
    return value if isinstance(value, generic.DictionaryObject) else None


def _is_timestamp(value: generic.DictionaryObject | None) -> bool:
    if value is None:
        return False
    subfilter = value.get("/SubFilter")
    if subfilter is not None and str(subfilter) == TIMESTAMP_SUBFILTER:
        return True
    return _encapsulates_tst_info(value)


def _encapsulates_tst_info(value: generic.DictionaryObject) -> bool:
    """Whether /Contents is a CMS whose encapsulated content is a TSTInfo (a timestamp token)."""
    try:
        der = raw_contents(value)
        if not der:
            return False
        info = cms.ContentInfo.load(der, strict=False)
        if info["content_type"].native != "signed_data":
            return False
        return bool(info["content"]["encap_content_info"]["content_type"].native == "tst_info")
    except Exception:  # not a CMS at all: judged (and refused) as a signature
        return False


class SignatureValue(EmbeddedPdfSignature):
    """pyHanko's view of one signature, read as Pakat reads it.

    Two differences from :class:`EmbeddedPdfSignature`: /Contents is taken as
    written (ISO 32000 never encrypts it, but pyHanko decrypts it in an
    encrypted document), and a CMS with several SignerInfos is read (pyHanko
    insists on one; :func:`validation.signatures.check_cms` judges them all).
    ``signer_info`` is the first; the engine uses the one the check chose.
    """

    def __init__(self, reader: PdfFileReader, found: FoundSignature) -> None:
        self.reader = reader
        self.sig_field = found.field
        self.fq_name = found.name
        if found.value is None or found.value_ref is None:
            raise ValueError("the signature dictionary is not an object of its own")
        self.sig_object = found.value
        self.byte_range = found.value.raw_get("/ByteRange")
        contents = raw_contents(found.value)
        if contents is None:
            raise ValueError("/Contents is not a string")
        self.pkcs7_content = contents
        message = cms.ContentInfo.load(contents, strict=False)
        signed_data = message["content"]
        if message["content_type"].native != "signed_data" or not isinstance(signed_data, cms.SignedData):
            raise ValueError("/Contents is not CMS signed data")
        self.signed_data = signed_data
        infos = signed_data["signer_infos"]
        if len(infos) == 0:
            raise ValueError("the CMS has no SignerInfo")
        self.signer_info = infos[0]
        self._sd_cert_info = None
        self.md_algorithm = self.signer_info["digest_algorithm"]["algorithm"].native.lower()
        self.external_md_algorithm = self.md_algorithm
        encapsulated = signed_data["encap_content_info"]
        if encapsulated["content_type"].native == "tst_info":
            # A timestamp's imprint may use another digest than the token's own SignerInfo.
            imprint = encapsulated["content"].parsed["message_imprint"]
            self.external_md_algorithm = imprint["hash_algorithm"]["algorithm"].native
        self.signed_revision = reader.xrefs.get_last_change(found.value_ref)
        self.coverage = None
        self.external_digests = {}
        self._docmdp = None
        self._fieldmdp = None
        self._docmdp_queried = self._fieldmdp_queried = False
        self.tst_signature_digest = None
        self.diff_result = None
        self._integrity_checked = False

    def evaluate_signature_coverage(self) -> SignatureCoverageLevel:
        """pyHanko's coverage, also knowing that one signed revision may span several cross-reference sections.

        A linearized file signed as a whole (its first-page section written
        first in the file, read last) ends, as signed, at the first-page
        section's ``startxref``, while pyHanko places the signature dictionary
        in the main section's revision. When the signed bytes end exactly at a
        later revision's end-of-file and hold every section up to it, the
        signature covers that revision whole; :attr:`signed_revision` becomes it.
        """
        level = super().evaluate_signature_coverage()
        if level is not SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START:
            return level
        _, _, start2, len2 = (int(v) for v in self.byte_range)
        end = start2 + len2
        xrefs = self.reader.xrefs
        try:
            self.reader.stream.seek(end)
            startxref = process_data_at_eof(self.reader.stream)
        except misc.PdfReadError:
            return level
        for revision in range(self.signed_revision + 1, xrefs.total_revisions):
            if xrefs.get_startxref_for_revision(revision) != startxref:
                continue
            if all(xrefs.get_xref_container_info(r).end_location <= end for r in range(revision + 1)):
                self.signed_revision = revision
                return SignatureCoverageLevel.ENTIRE_REVISION
            break
        return level

    @property
    def fieldmdp(self) -> FieldMDPSpec | None:
        """The fields this signature locks: its FieldMDP transform, else its field's /Lock dictionary."""
        spec = super().fieldmdp
        if spec is not None:
            return spec
        lock = self.sig_field.get("/Lock")
        if isinstance(lock, generic.DictionaryObject) and "/Action" in lock:
            try:
                return FieldMDPSpec.from_pdf_object(lock)
            except (ValueError, KeyError, TypeError):
                return None
        return None


def raw_contents(value: generic.DictionaryObject | None) -> bytes | None:
    """A signature dictionary's /Contents bytes as written; None when it is absent, indirect or not a string.

    As written: a signature's /Contents is never encrypted, even in an encrypted
    document, and an indirect one lies outside the signed hole.
    """
    if value is None:
        return None
    try:
        contents = value.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.RAW)
    except KeyError:
        return None
    if isinstance(contents, generic.ByteStringObject | generic.TextStringObject):
        return bytes(contents.original_bytes)
    return None
