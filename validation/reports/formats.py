"""The validation report in the format a reader asked for: the one place that picks the renderer.

``pakat validate --format``, the API's ``POST /api/v1/validate`` and the
/validate page's downloads all call :func:`render`, so a format name means the
same bytes and the same media type wherever it is asked for. Which formats a
caller offers, and how it learns which one is wanted (a CLI option, ``?format=``
or ``Accept``), stays with the caller.

Each renderer is imported only when its format is asked for: the PDF pulls in
fpdf2 and the fonts, the XML xsdata, and a command line asking for text should
not pay for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Literal

from pakat.text import Lang
from validation.model import DocumentReport

ReportFormat = Literal["text", "json", "xml", "pdf", "html"]
FORMATS: tuple[ReportFormat, ...] = ("text", "json", "xml", "pdf", "html")
#: Every textual body is UTF-8; the HTTP layer adds the charset parameter where one is due.
MEDIA_TYPES: dict[ReportFormat, str] = {
    "text": "text/plain",
    "json": "application/json",
    "xml": "application/xml",
    "pdf": "application/pdf",
    "html": "text/html",
}
_EXTENSIONS: dict[ReportFormat, str] = {"text": "txt", "json": "json", "xml": "xml", "pdf": "pdf", "html": "html"}
# Written for one reader's language; text is bilingual and JSON and XML are for programs.
_ONE_LANGUAGE = frozenset({"pdf", "html"})


@dataclass(frozen=True)
class RenderedReport:
    """A report rendered in one format: the bytes, and what to call them over HTTP."""

    format: ReportFormat
    body: bytes
    media_type: str


def parse_format(value: str) -> ReportFormat:
    """A format's name, in any case, as a :data:`ReportFormat`; ValueError for an unknown one."""
    name = value.strip().lower()
    for fmt in FORMATS:
        if fmt == name:
            return fmt
    raise ValueError(f"unknown report format {value!r}; one of {', '.join(FORMATS)}")


def render(
    report: DocumentReport,
    fmt: ReportFormat,
    lang: Lang = "fa",
    *,
    pdf: bytes | os.PathLike[str] | IO[bytes] | None = None,
    newline: bool = False,
) -> RenderedReport:
    """``report`` as ``fmt``.

    ``lang`` is for the formats people read in one language (PDF, HTML).
    ``pdf`` is the validated file, from which the ETSI XML report takes the
    signature values and token bytes the model does not keep. ``newline``
    ends the JSON with one, as a file or a terminal expects (text and XML
    always end with one); an HTTP body goes without.
    """
    if fmt == "json":
        from validation.reports.json_report import report_to_json

        text = report_to_json(report)
        return _rendered(fmt, text + "\n" if newline else text)
    if fmt == "xml":
        from validation.reports.etsi_xml import report_to_etsi_xml

        return _rendered(fmt, report_to_etsi_xml(report, pdf))
    if fmt == "pdf":
        from validation.reports.pdf import render_pdf

        return RenderedReport(fmt, render_pdf(report, lang), MEDIA_TYPES[fmt])
    if fmt == "html":
        from validation.reports.html import render_html

        return _rendered(fmt, render_html(report, lang))
    if fmt == "text":
        from validation.reports.text import report_to_text

        return _rendered(fmt, report_to_text(report))
    raise ValueError(f"unknown report format {fmt!r}")


def download_name(report: DocumentReport, fmt: ReportFormat, lang: Lang) -> str:
    """``bid.pdf`` → ``bid-validation-fa.pdf`` (or ``bid-validation.json``): what a downloaded report is called.

    The language is in the name only for the formats written for one reader,
    so a Persian and an English PDF of one file can sit in one folder.
    """
    stem = (report.file_name or "document").removesuffix(".pdf").removesuffix(".PDF")
    suffix = f"-{lang}" if fmt in _ONE_LANGUAGE else ""
    return f"{stem}-validation{suffix}.{_EXTENSIONS[fmt]}"


def _rendered(fmt: ReportFormat, text: str) -> RenderedReport:
    return RenderedReport(fmt, text.encode("utf-8"), MEDIA_TYPES[fmt])
