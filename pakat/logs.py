"""Process logging: one JSON object per line (or plain text), the request id, and no personal data.

``pakat serve`` and ``pakat worker`` log through :func:`configure`; every line
carries the request id of the HTTP request (or of the request that queued the
job) it belongs to, so a batch's lines in the worker are found by the id the
platform got back in ``X-Request-Id``.

National IDs (the 10 digits of a person's کد ملی, the 11 of an organisation's
شناسهٔ ملی) are masked in every line at every level: they arrive in
certificate subjects, error details and messages that no one wrote with
logging in mind, and a log is kept and shipped far longer than a request.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

#: How a line is written: ``json`` (one object per line) or ``text`` (for people at a terminal).
LOG_FORMATS = ("json", "text")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("pakat_request_id", default=None)

# A client's own id is kept only if it is short and plain: it is written into every log line and
# echoed in a response header, so it must not carry line breaks, quotes or a novel.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
# A run of 10 or 11 digits standing alone: a national ID (کد ملی) or an organisation's national ID.
_NATIONAL_ID = re.compile(r"(?<![0-9A-Za-z])[0-9۰-۹]{10,11}(?![0-9A-Za-z])")
NATIONAL_ID_MASK = "[national-id]"

# Libraries that narrate their routine work at INFO: only their warnings reach the log.
QUIET_LIBRARIES = ("urllib3", "rq", "rq.worker", "rq.queue", "rq.scheduler", "pyhanko", "pyhanko_certvalidator",
                   "alembic", "fontTools", "PIL")

# Within those, what an operator wants to read at INFO: each schema migration as it runs ("Running upgrade").
STORY_LINES = ("alembic.runtime.migration",)

# The attributes every LogRecord has; anything else on a record was passed in ``extra=`` and is a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def valid_request_id(value: str | None) -> str | None:
    """``value`` if it is acceptable as a request id (8–128 letters, digits, ``._:-``), else None."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    """A fresh request id: 128 random bits in hex."""
    return secrets.token_hex(16)


def current_request_id() -> str | None:
    """The request id of the work this thread is doing, if any."""
    return _request_id.get()


def set_request_id(request_id: str | None) -> contextvars.Token[str | None]:
    """Make ``request_id`` the current one; give the token to :func:`reset_request_id` when the work ends."""
    return _request_id.set(request_id)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


@contextlib.contextmanager
def request_id_set(request_id: str | None) -> Iterator[None]:
    """Lines logged inside the block carry ``request_id``."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def mask_national_ids(text: str) -> str:
    """``text`` with every standalone run of 10 or 11 digits replaced by ``[national-id]``."""
    return _NATIONAL_ID.sub(NATIONAL_ID_MASK, text)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (``record.request_id``, None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, process, then the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_national_ids(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
            "process": record.process,
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in line:
                line[name] = mask_national_ids(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exception"] = mask_national_ids(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The human-readable line: time, process, level, logger, message, and the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = mask_national_ids(super().format(record))
        request_id = getattr(record, "request_id", None)
        return f"{text} [request {request_id}]" if request_id else text


def configure(log_format: str = "json", level: int = logging.INFO) -> logging.Handler:
    """Send the process's log to stderr in ``log_format``; libraries' routine chatter stays below the line.

    Replaces whatever handlers the root logger had, so calling it twice does
    not double the lines. Returns the handler (a server hands it to its own loggers).
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in STORY_LINES:
        logging.getLogger(name).setLevel(logging.INFO)
    return handler


def hand_to_root(*loggers: logging.Logger) -> None:
    """Make ``loggers`` write through the root's handler (a server's own loggers, e.g. gunicorn's error log)."""
    for logger in loggers:
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
