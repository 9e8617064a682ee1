"""Writing the objects of an update into an encrypted document.

A document that opens with an empty user password (an "owner password" PDF,
as many producers write to restrict printing or copying) can still be
signed, but every string and stream an update adds or rewrites must be
encrypted with the document's own key, exactly as its existing objects are
(ISO 32000-2, 7.6). The one exception is the signature's /Contents, which is
never encrypted (7.6.2), so its hole stays plain hexadecimal and the CMS is
spliced in as for any other document.

This is the slower path of :mod:`signer.pdf`: each object's syntax is parsed
by pyHanko and written back through pyHanko's security handler for the file,
authenticated with the empty user password. The layout (offsets, cross-
reference section, trailer with the original /Encrypt and /ID) stays ours.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.crypt import AuthStatus, SecurityHandler
from pyhanko.pdf_utils.reader import PdfFileReader

from pakat import errors
from pakat.errors import InputError
from signer.pdf_syntax import BYTE_RANGE_PLACEHOLDER, CONTENTS_HOLE, StreamBody


class _Verbatim(generic.PdfObject):
    """Syntax written exactly as given, never encrypted: the signature's placeholders."""

    def __init__(self, text: bytes) -> None:
        self.text = text

    def write_to_stream(self, stream: Any, handler: Any = None, container_ref: Any = None) -> None:
        stream.write(self.text)


@dataclass(frozen=True)
class EncryptedWriter:
    """Serialises update objects for one encrypted document."""

    handler: SecurityHandler

    @classmethod
    def for_document(cls, path: Path) -> EncryptedWriter:
        """Authenticate with the empty user password (the only one Pakat ever tries)."""
        with open(path, "rb") as fh:
            try:
                reader = PdfFileReader(fh, strict=False)
                result = reader.decrypt(b"")
            except (misc.PdfError, ValueError, KeyError, TypeError) as exc:
                raise InputError(errors.PDF_ENCRYPTED, f"{type(exc).__name__}: {exc}"[:200]) from None
            handler = reader.security_handler
        if result.status is AuthStatus.FAILED or handler is None:
            raise InputError(errors.PDF_ENCRYPTED)
        if handler.pdf_mac_enabled:
            # ISO/TS 32004 integrity protection needs a MAC over every revision we would add.
            raise InputError(errors.PDF_ENCRYPTED, "the file's integrity MAC (ISO/TS 32004) is not supported")
        return cls(handler)

    def serialize(self, r: tuple[int, int], body: bytes | StreamBody) -> bytes:
        container = generic.Reference(r[0], r[1])
        obj: generic.PdfObject
        if isinstance(body, StreamBody):
            entries = _parse(b"<<" + body.entries + b">>", container)
            assert isinstance(entries, generic.DictionaryObject)
            obj = generic.StreamObject(dict(entries), encoded_data=body.data)
        else:
            obj = _parse_with_placeholders(body, container)
        out = io.BytesIO()
        obj.write_to_stream(out, self.handler, container)
        return out.getvalue()


def _parse(text: bytes, container: generic.Reference) -> generic.PdfObject:
    return generic.read_object(io.BytesIO(text), container)


def _parse_with_placeholders(body: bytes, container: generic.Reference) -> generic.PdfObject:
    """Parse a body whose signature placeholders (not PDF syntax yet) are kept verbatim."""
    at = body.find(BYTE_RANGE_PLACEHOLDER)
    if at < 0:
        return _parse(body, container)
    found = CONTENTS_HOLE.search(body, at)
    assert found is not None, "a signature dictionary without its /Contents hole"
    contents_at, contents_end = found.start(), body.index(b">", found.end()) + 1
    contents = body[found.end() - 1 : contents_end]
    parseable = (
        body[:at] + b"/ByteRange 0" + body[at + len(BYTE_RANGE_PLACEHOLDER) : contents_at]
        + b"/Contents 0" + body[contents_end:]
    )
    obj = _parse(parseable, container)
    assert isinstance(obj, generic.DictionaryObject)
    obj[generic.NameObject("/ByteRange")] = _Verbatim(BYTE_RANGE_PLACEHOLDER[len(b"/ByteRange ") :])
    obj[generic.NameObject("/Contents")] = _Verbatim(contents)
    return obj
