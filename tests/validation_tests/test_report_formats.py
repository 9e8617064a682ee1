"""validation.reports.formats: one place picks the renderer, the media type and the download name."""

from __future__ import annotations

import dataclasses
import json

import pytest
from test_reports_human import document, signature

from validation.reports.etsi_xml import report_to_etsi_xml
from validation.reports.formats import FORMATS, MEDIA_TYPES, download_name, parse_format, render
from validation.reports.html import render_html
from validation.reports.json_report import report_to_json
from validation.reports.text import report_to_text

REPORT = document(signature())


def test_each_format_is_its_renderers_bytes_with_its_media_type() -> None:
    assert render(REPORT, "json").body == report_to_json(REPORT).encode("utf-8")
    assert render(REPORT, "xml").body == report_to_etsi_xml(REPORT).encode("utf-8")
    assert render(REPORT, "text").body == report_to_text(REPORT).encode("utf-8")
    assert render(REPORT, "html", "en").body == render_html(REPORT, "en").encode("utf-8")
    for fmt in FORMATS:
        rendered = render(REPORT, fmt)
        assert (rendered.format, rendered.media_type) == (fmt, MEDIA_TYPES[fmt])


def test_pdf_in_each_language() -> None:
    fa, en = render(REPORT, "pdf", "fa"), render(REPORT, "pdf", "en")
    assert fa.media_type == "application/pdf"
    assert fa.body.startswith(b"%PDF-") and en.body.startswith(b"%PDF-") and fa.body != en.body


def test_json_ends_with_a_newline_only_when_asked() -> None:
    bare, ended = render(REPORT, "json").body, render(REPORT, "json", newline=True).body
    assert not bare.endswith(b"\n") and ended == bare + b"\n"
    assert json.loads(ended) == json.loads(bare)
    # Text and XML always end with one.
    assert render(REPORT, "text").body.endswith(b"\n") and render(REPORT, "xml").body.endswith(b"\n")


def test_parse_format() -> None:
    assert parse_format(" PDF ") == "pdf" and parse_format("json") == "json"
    with pytest.raises(ValueError, match="unknown report format"):
        parse_format("docx")
    with pytest.raises(ValueError, match="unknown report format"):
        render(REPORT, "docx")  # type: ignore[arg-type]


def test_download_names_carry_the_language_only_for_one_language_formats() -> None:
    assert download_name(REPORT, "pdf", "fa") == "پاکت-ب-validation-fa.pdf"
    assert download_name(REPORT, "html", "en") == "پاکت-ب-validation-en.html"
    assert download_name(REPORT, "json", "fa") == "پاکت-ب-validation.json"
    assert download_name(REPORT, "xml", "en") == "پاکت-ب-validation.xml"
    unnamed = dataclasses.replace(REPORT, file_name=None)
    assert download_name(unnamed, "pdf", "en") == "document-validation-en.pdf"
    upper = dataclasses.replace(REPORT, file_name="BID.PDF")
    assert download_name(upper, "json", "en") == "BID-validation.json"
