"""The validation report as JSON: the API's default answer and ``pakat validate --format json``.

The shape is the :class:`validation.model.DocumentReport` dataclasses, field for
field, described and versioned by ``schema/report-v1.json`` (JSON Schema 2020-12):

* enums become their values (``"TOTAL_PASSED"``, ``"organisation_seal"``);
* datetimes become ISO 8601 in UTC with a ``Z`` (a naive datetime is taken as UTC);
* :class:`~validation.model.Text` becomes ``{"fa": ..., "en": ...}``;
* every field is present, ``null`` when the model holds ``None``.

Values read from hostile files reach the model as they are, so two more are
made JSON-safe here: asn1crypto's ``extended_datetime`` (year 0, which neither
:class:`datetime` nor RFC 3339 validators accept) is written as the model's
placeholder for a time that could not be read, ``0001-01-01T00:00:00Z``; and a
lone surrogate in a string (which UTF-8 cannot encode) becomes U+FFFD.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from asn1crypto.util import extended_datetime

from validation.model import DocumentReport, Text

SCHEMA_RESOURCE = "schema/report-v1.json"
#: How a time that could not be read appears (the model holds ``datetime.min`` for it).
UNKNOWN_TIME = "0001-01-01T00:00:00Z"


def report_to_dict(report: DocumentReport) -> dict[str, Any]:
    """The report as plain JSON-ready values (str, int, bool, None, list, dict)."""
    result = _plain(report)
    assert isinstance(result, dict)
    return result


def report_to_json(report: DocumentReport, *, indent: int | None = 2) -> str:
    """The report as a JSON document; Persian stays readable (no ``\\u`` escapes)."""
    return json.dumps(report_to_dict(report), ensure_ascii=False, indent=indent)


def report_schema() -> dict[str, Any]:
    """The JSON Schema the reports of this version conform to."""
    text = resources.files("validation.reports").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def iso_utc(value: datetime | extended_datetime) -> str:
    """``2025-03-01T08:30:00Z``; fractions of a second are kept when present (TSA times carry them)."""
    if isinstance(value, extended_datetime):
        return UNKNOWN_TIME
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_iso_time(text: str) -> datetime:
    """An ISO 8601 moment from a person or a platform: ``Z`` or an offset, or none for UTC; a date is midnight UTC.

    Raises :class:`ValueError` with the text that was not understood.
    """
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {text!r} (e.g. 2026-03-01T08:30:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _plain(value: Any) -> Any:
    # Enums first: StrEnum members are also str (and IntEnum members int).
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str):
        return value if value.isascii() else _encodable(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | extended_datetime):
        return iso_utc(value)
    if isinstance(value, Text):
        return {"fa": value.fa, "en": value.en}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    # A new type in the model must be given a JSON form on purpose, not str()'d by accident.
    raise TypeError(f"no JSON form for {type(value).__name__} in a validation report")


def _encodable(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text
