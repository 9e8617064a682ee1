"""Uploads go straight to disk under PAKAT_TMP, and every temp file dies with its request.

Werkzeug's default keeps uploads under 500 KB in memory and larger ones in an
anonymous temp file; the seal service needs a named file, and a 150 MB bid
envelope must never sit in memory. :class:`UploadRequest` streams each file part
into a named file in PAKAT_TMP and remembers it; the teardown hook removes
every file the request registered, whether the request succeeded, was
refused, or broke half-way through the upload.
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from functools import cached_property
from pathlib import Path
from typing import IO

from flask import Flask, current_app, request
from flask.wrappers import Request

log = logging.getLogger(__name__)

# Control characters, and what would break out of a Content-Disposition filename or name a folder.
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\"\\/]")
MAX_FILE_NAME_CHARS = 200


class UploadRequest(Request):
    """A request whose uploaded files are named temp files under PAKAT_TMP."""

    @cached_property
    def temp_paths(self) -> list[Path]:
        """Files to remove when the request ends."""
        return []

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        stream = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by werkzeug, removed at teardown
            mode="w+b", prefix="upload-", suffix=".part", dir=temp_dir(), delete=False
        )
        self.temp_paths.append(Path(stream.name))
        return stream

    def new_temp_path(self, prefix: str, suffix: str) -> Path:
        """A fresh path under PAKAT_TMP (not created) that is removed with the request."""
        path = temp_dir() / f"{prefix}{uuid.uuid4().hex}{suffix}"
        self.temp_paths.append(path)
        return path


def temp_dir() -> Path:
    """The application's PAKAT_TMP."""
    return Path(current_app.config["PAKAT_TMP"])


def uploaded_path(stream: IO[bytes]) -> Path:
    """The file behind an upload stream made by :class:`UploadRequest`, flushed to disk."""
    stream.flush()
    return Path(stream.name)


def upload_name(original: str | None) -> str:
    """A client's file name without its folders (``/`` or ``\\``), control characters or quotes; may be empty.

    Persian names are kept as they are.
    """
    name = (original or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("", name).strip()


def report_file_name(original: str | None) -> str | None:
    """The name the report shows for an upload: :func:`upload_name`, at most 200 characters, or None."""
    return upload_name(original)[:MAX_FILE_NAME_CHARS] or None


def _remove_temp_files(_exc: BaseException | None) -> None:
    # Runs after the view, once send_file has opened its file: on POSIX the open
    # descriptor keeps the bytes readable while the name is already gone.
    for path in getattr(request, "temp_paths", ()):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove temp file %s", path.name, exc_info=True)


def register(app: Flask) -> None:
    """Use :class:`UploadRequest` and clean its files up after every request."""
    app.request_class = UploadRequest
    app.teardown_request(_remove_temp_files)


def upload_request() -> UploadRequest:
    """The current request, typed as the upload-aware class the app installs."""
    current = request._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, UploadRequest):
        raise RuntimeError("web.uploads.register() was not applied to this application")
    return current
