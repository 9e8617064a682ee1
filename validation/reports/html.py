"""The validation report as HTML: a standalone page, and the fragment the /validate page embeds.

Both come from the same template (``templates/report_body.html``), so a report
downloaded as HTML and the page a person saw cannot differ. Autoescaping is on
for every template: signer names and field names come from attacker-made
certificates and PDFs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from validation.model import DocumentReport
from validation.reports.labels import Lang
from validation.reports.view import ReportView, build_view

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,  # a misspelt field fails the tests instead of printing nothing
        trim_blocks=False,
        lstrip_blocks=False,
    )


@cache
def report_css() -> Markup:
    """The report's stylesheet, trusted (it is ours) so it can be inlined in a ``<style>`` element."""
    return Markup((TEMPLATE_DIR / "report.css").read_text(encoding="utf-8"))


def render_html(report: DocumentReport, lang: Lang = "fa") -> str:
    """A standalone HTML page for ``report``: inline CSS, no external URL, RTL for Persian.

    ``lang`` is ``"fa"`` (default: Jalali dates, Persian digits, ``dir="rtl"``)
    or ``"en"`` (Gregorian UTC, ``dir="ltr"``).
    """
    view = build_view(report, lang)
    return _environment().get_template("report.html").render(v=view, css=report_css())


def render_fragment(report: DocumentReport | ReportView, lang: Lang = "fa", *, id_prefix: str = "") -> Markup:
    """The report body alone (an ``<article>``), to place inside another page with :func:`report_css`.

    ``id_prefix`` starts its element ids, so several reports can share one page.
    """
    view = report if isinstance(report, ReportView) else build_view(report, lang)
    return Markup(_environment().get_template("report_body.html").render(v=view, id_prefix=id_prefix))
