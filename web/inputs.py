"""What a client sends, read in one place: the JSON body, whole numbers, durations and moments.

Every API route reads its JSON body through :func:`json_body` and its times,
durations and counts through the parsers here, so an edge input (JSON nested
10,000 deep, ``NaN``, a 5,000-digit number, ``expires_in: 1e20``, the year
9999) is a 400 with a stable code at the door, never an exception deep inside
(a RecursionError, an OverflowError) that would surface as a 500.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import NotFound

from pakat import errors
from pakat.dates import TEHRAN, parse_datetime
from pakat.errors import ErrorKind, InputError

MAX_JSON_BYTES = 64 * 1024
#: Nesting a request body may have: the deepest real body (a tender envelope's signatories) needs 4.
MAX_JSON_DEPTH = 16
#: Digits of a JSON number: no field needs more, and parsing a 4,000-digit integer costs CPU for nothing.
MAX_NUMBER_CHARS = 32
#: Moments a client may name: arithmetic near datetime's year 1 or 9999 overflows, and no real
#: validation time or deadline lies outside these years.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2999


def json_body(limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The request's JSON object, at most ``limit`` bytes and :data:`MAX_JSON_DEPTH` deep.

    Anything else is REQUEST_TOO_LARGE or REQUEST_INVALID: not JSON, not UTF-8,
    not an object, too deep, ``NaN`` or ``Infinity``, a number too long to be real.
    """
    if request.content_length is not None and request.content_length > limit:
        raise InputError(errors.REQUEST_TOO_LARGE, f"at most {limit} bytes")
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(errors.REQUEST_TOO_LARGE, f"at most {limit} bytes")
    if not data.strip():
        return {}
    body = parse_json(data, "the body")
    if not isinstance(body, dict):
        raise InputError(errors.REQUEST_INVALID, "the body must be a JSON object")
    return body


def parse_json(data: bytes | str, what: str) -> Any:
    """JSON text from a client (a body, or a form field carrying JSON), held to the same limits as a body."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # Depth first, on the raw bytes: the decoder itself recurses and would hit Python's limit.
    if _nesting(raw) > MAX_JSON_DEPTH:
        raise InputError(errors.REQUEST_INVALID, f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_int=_whole, parse_float=_real)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        raise InputError(errors.REQUEST_INVALID, f"{what} is not JSON") from None
    if _holds_nul(value):
        # No field of ours means a NUL, and PostgreSQL refuses one in text with an error of its own.
        raise InputError(errors.REQUEST_INVALID, f"{what} holds a NUL character")
    return value


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _nesting(data: bytes) -> int:
    """How deep ``[`` and ``{`` nest in JSON text, brackets inside strings not counted."""
    deepest = depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _whole(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError("a number too long")
    return int(text)


def _real(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise ValueError("a number out of range")
    return value


def whole_number(raw: Any, what: str, *, least: int, most: int) -> int:
    """A JSON whole number from ``least`` to ``most`` (``true`` is not 1); else REQUEST_INVALID."""
    if not isinstance(raw, int) or isinstance(raw, bool) or not least <= raw <= most:
        raise InputError(errors.REQUEST_INVALID, f"{what} must be a whole number from {least} to {most}")
    return raw


def whole_arg(name: str, *, default: int, most: int, least: int = 0,
              kind: ErrorKind = errors.REQUEST_INVALID) -> int:
    """The query parameter ``name`` as a whole number from ``least`` to ``most``; ``default`` when absent."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not least <= int(raw) <= most:
        raise InputError(kind, f"{name} must be a whole number from {least} to {most}")
    return int(raw)


def seconds(raw: Any, what: str, *, least: timedelta, most: timedelta) -> timedelta:
    """A duration given as whole seconds, checked against its bounds before any arithmetic."""
    low, high = int(least.total_seconds()), int(most.total_seconds())
    return timedelta(seconds=whole_number(raw, f"{what} (seconds)", least=low, most=high))


def moment(raw: Any, what: str, *, offset_required: bool = False,
           kind: ErrorKind = errors.REQUEST_INVALID) -> datetime:
    """An ISO 8601 moment in UTC between the years 1970 and 2999; naive means UTC unless an offset is required.

    Refused with ``kind`` (a query parameter's refusal is BAD_REQUEST, a body field's REQUEST_INVALID).
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        raise InputError(kind, f"{what} must be an ISO 8601 time, e.g. 2026-12-01T10:30:00Z")
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(kind, f"{what} must be an ISO 8601 time, e.g. 2026-12-01T10:30:00Z") from None
    if parsed.tzinfo is None:
        if offset_required:
            # Tehran or UTC? A deadline must not depend on the server's guess.
            raise InputError(kind, f"{what} needs a UTC offset or Z")
        parsed = parsed.replace(tzinfo=UTC)
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise InputError(kind, f"{what} must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return parsed.astimezone(UTC)


def typed_moment(raw: Any, what: str) -> datetime:
    """A moment a person typed on a page: a Jalali date and time (the Persian pages, as notices state them:
    «۱۴۰۵/۰۹/۲۰ ۱۴:۳۰») or a Gregorian one (the English pages' datetime-local), Tehran's wall clock unless
    the text names a zone (:func:`pakat.dates.parse_datetime`), within the years the API accepts;
    DATETIME_INVALID (400, saying what is wrong) otherwise. The one reading of every date form field."""
    try:
        found = parse_datetime(raw[:64] if isinstance(raw, str) else "", gregorian_zone=TEHRAN)
    except ValueError as exc:
        raise InputError(errors.DATETIME_INVALID, f"{what}: {exc}") from None
    if not EARLIEST_YEAR <= found.year <= LATEST_YEAR:
        raise InputError(errors.DATETIME_INVALID, f"{what}: between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return found


#: Longest id a path may carry: ours are 32 hex characters; anything far longer is not an id.
#: The largest id an integer column holds (PostgreSQL's 32-bit integer): a route's <int(max=…)> makes a
#: larger one a 404 (no such row) rather than an overflow inside the database driver.
MAX_ROW_ID = 2**31 - 1
MAX_PATH_VALUE_CHARS = 128


def _check_path_values(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    # An id with a control character or of a kilobyte cannot exist; refused before it reaches a query
    # (PostgreSQL refuses a NUL in a string with an exception of its own, which would be a 500).
    for value in (values or {}).values():
        if isinstance(value, str) and (len(value) > MAX_PATH_VALUE_CHARS or not value.isprintable()):
            raise NotFound()


def register(app: Flask) -> None:
    """Refuse path ids that cannot be ids (404 NOT_FOUND, as for any unknown URL) before any view runs."""
    app.url_value_preprocessor(_check_path_values)


def digits_text(raw: Any, what: str) -> str:
    """A required field of ASCII digits (a national ID), at most 32 of them."""
    text = required_text(raw, what, 32)
    if not text.isascii() or not text.isdigit():
        raise InputError(errors.REQUEST_INVALID, f"{what} must be ASCII digits")
    return text


def optional_text(value: Any, what: str, limit: int) -> str | None:
    """A form or JSON text field, stripped; None when absent or blank; REQUEST_INVALID past ``limit``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InputError(errors.REQUEST_INVALID, f"{what} must be text of at most {limit} characters")
    return value.strip()


def required_text(value: Any, what: str, limit: int) -> str:
    """As :func:`optional_text`, but absent or blank is REQUEST_INVALID."""
    text = optional_text(value, what, limit)
    if text is None:
        raise InputError(errors.REQUEST_INVALID, f"{what} is required")
    return text
