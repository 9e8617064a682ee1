"""The validation report as a PDF a person can download, print and file with the tender papers.

Drawn with fpdf2 from the same :class:`~validation.reports.view.ReportView` as
the HTML page. Persian needs real text shaping (letters joined in their
initial, medial and final forms, runs laid right to left): fpdf2 hands every
line to HarfBuzz (``uharfbuzz``) and runs the Unicode bidi algorithm. The
font is Vazirmatn (SIL OFL, vendored in ``pakat/fonts/``), which carries Arabic
script, Persian digits and Latin in one file, so mixed lines need no
fallback font. fpdf2 embeds a subset with a ToUnicode map, so the text stays
searchable and copyable.

fpdf2's bidi support has two levels: a line's runs are laid in the paragraph's
direction, each run shaped in its own. A distinguished name mixing Latin and
Persian values (``CN=Pakat Demo Co. [Stamp], serialNumber=…, O=شرکت نمونه
پاکت, C=IR``) needs three: on a Persian page the attributes would come out in
reverse order. So a DN is drawn as a left-to-right paragraph of its own
(:meth:`_ReportPDF.ltr_paragraph`), in its attributes' order, and a Persian
value holding digits or Latin letters is handed over as one right-to-left run
already in display order (:func:`rtl_run`), so each value reads in its own
direction in its place.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from fpdf import FPDF
from fpdf.bidi import BidiParagraph
from fpdf.enums import TextDirection
from fpdf.fonts import FontFace
from fpdf.util import Padding

from pakat.fonts import FONT_DIR
from pakat.text import Direction, direction
from validation.model import DocumentReport
from validation.reports.labels import Lang
from validation.reports.view import (
    FindingView,
    NameView,
    ReportView,
    Row,
    Section,
    Tone,
    Verdict,
    build_view,
)

FONT_FAMILY = "Vazirmatn"
FONT_FILES = {"": "Vazirmatn-Regular.ttf", "B": "Vazirmatn-Bold.ttf"}

RGB = tuple[int, int, int]
INK: RGB = (31, 41, 51)
MUTED: RGB = (82, 96, 109)
LINE: RGB = (217, 222, 227)
WHITE: RGB = (255, 255, 255)
# Strong colour for text and badges, pale for backgrounds; the same palette as report.css.
TONE_INK: dict[Tone, RGB] = {"ok": (11, 110, 79), "bad": (180, 35, 24), "warn": (138, 90, 0), "plain": INK}
TONE_PALE: dict[Tone, RGB] = {"ok": (227, 244, 236), "bad": (253, 236, 234), "warn": (255, 244, 214),
                              "plain": (244, 246, 248)}

LABEL_WIDTH = 58.0  # mm; the value column takes the rest of the 180 mm line
LRM, RLM = "\u200e", "\u200f"
RLO, PDF_MARK = "\u202e", "\u202c"  # Vazirmatn has (zero-width) glyphs for these, not for the isolates
# Characters that keep a right-to-left value in one right-to-left run inside a left-to-right line.
_RTL_RUN_CLASSES = frozenset({"R", "AL", "NSM", "WS", "BN"})


def isolate(text: str, paragraph: Direction) -> str:
    """``text`` held in its own direction inside a ``paragraph`` ("rtl"/"ltr") line.

    Without this the bidi algorithm reorders neutral characters at a run's edge:
    ``/ETSI.CAdES.detached`` shows as ``ETSI.CAdES.detached/`` and the ByteRange
    ``[0 1000 9000 500]`` comes out backwards on a Persian page. Strong marks at
    both ends fix the run's direction; Vazirmatn has glyphs (of zero width) for
    them, while it has none for the isolate controls (U+2066 to U+2069).
    """
    own = direction(text)
    if own == paragraph:
        return text
    mark = LRM if own == "ltr" else RLM
    return f"{mark}{text}{mark}"


def rtl_run(text: str) -> str:
    """``text`` (read right to left) as one right-to-left run that a left-to-right line keeps whole.

    Text of right-to-left letters and spaces only is returned as it is. Text
    holding digits, Latin or punctuation would be split by fpdf2 into runs laid
    left to right; instead its display order is computed here (the Unicode bidi
    algorithm, right-to-left paragraph), reversed into the order a
    right-to-left run is drawn in, and wrapped in RLO…PDF so every character
    stays in that one run. Letters stay in logical order (so they join),
    digit and Latin runs end up in reading order.
    """
    if all(unicodedata.bidirectional(ch) in _RTL_RUN_CLASSES for ch in text):
        return text
    visual = BidiParagraph(text, TextDirection.RTL).get_reordered_string()
    return f"{RLO}{visual[::-1]}{PDF_MARK}"


def dn_line(name: NameView) -> str:
    """A distinguished name for a left-to-right paragraph: attributes in order, each value in its direction."""
    out = []
    for i, part in enumerate(name.parts):
        if i:
            out.append(" + " if part.separator == "+" else ", ")
        if part.attribute:
            out.append(f"{part.attribute}=")
        out.append(rtl_run(part.value) if part.rtl else part.value)
    return "".join(out)


class _ReportPDF(FPDF):
    """A4 pages with the report's footer: page number and the file's SHA-256, on every page."""

    def __init__(self, view: ReportView, file_sha256: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.view = view
        self.file_sha256 = file_sha256
        self.rtl = view.dir == "rtl"
        self._ltr_paragraphs: set[str] = set()

    def ltr_paragraph(self, text: str) -> str:
        """Mark ``text`` to be laid out as a left-to-right paragraph wherever it is drawn (tables included)."""
        self._ltr_paragraphs.add(text)
        return text

    def multi_cell(self, *args: Any, **kwargs: Any) -> Any:
        text = kwargs["text"] if "text" in kwargs else (args[2] if len(args) > 2 else None)
        if not self.text_shaping or text not in self._ltr_paragraphs:
            return super().multi_cell(*args, **kwargs)
        saved = self.text_shaping["direction"]
        self.text_shaping["direction"] = TextDirection.LTR
        try:
            return super().multi_cell(*args, **kwargs)
        finally:
            self.text_shaping["direction"] = saved

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT_FAMILY, "", 7.5)
        self.set_text_color(*MUTED)
        page = f"{self.page_no()}/{{nb}}"
        self.cell(0, 5, f"{self.view.title} · SHA-256 {self.file_sha256[:16]}… · {page}",
                  align="C")


def render_pdf(report: DocumentReport, lang: Lang = "fa") -> bytes:
    """A PDF of ``report`` in ``lang``: Persian (default) right to left with Jalali dates, or English.

    The result is a complete PDF file (A4, fonts embedded and subset); nothing is
    fetched while drawing it.
    """
    view = build_view(report, lang)
    pdf = _ReportPDF(view, report.file_sha256)
    for style, name in FONT_FILES.items():
        pdf.add_font(FONT_FAMILY, style, str(FONT_DIR / name))
    # The paragraph direction is the page's; the bidi algorithm still lays a Latin run
    # (an algorithm name, a DN) left to right inside a Persian line, and the reverse.
    pdf.set_text_shaping(use_shaping_engine=True, direction=view.dir)
    pdf.set_lang(lang)
    pdf.set_title(f"{view.title} — {report.file_name or report.file_sha256[:16]}")
    pdf.set_creator(view.generator or "Pakat")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    pdf.alias_nb_pages()
    pdf.add_page()
    _Drawer(pdf, view).draw()
    return bytes(pdf.output())


class _Drawer:
    """Walks the view top to bottom; keeps the RTL column order and alignment in one place."""

    def __init__(self, pdf: _ReportPDF, view: ReportView) -> None:
        self.pdf = pdf
        self.view = view
        self.align = "R" if pdf.rtl else "L"
        self.direction = view.dir

    def _iso(self, text: str) -> str:
        return isolate(text, self.direction)

    def draw(self) -> None:
        v = self.view
        self._title()
        self._verdict(v.verdict, big=True)
        self._heading(v.words["document"], size=12)
        self._rows(v.summary)
        if v.findings:
            self._heading(v.words["document_findings"], size=10)
            self._findings(v.findings)
        if not v.signatures:
            self._paragraph(v.words["no_signatures"], color=MUTED)
        for sig in v.signatures:
            self._space(4)
            heading = f"{sig.heading} — {self._iso(sig.who)}" if sig.who else sig.heading
            if sig.signer_kind:
                heading += f" ({self._iso(sig.signer_kind)})"
            self._heading(heading, size=13)
            self._verdict(sig.verdict, big=False)
            for section in sig.sections:
                self._section(section)
            self._heading(v.words["findings"], size=10)
            self._findings(sig.findings)
        if v.document_timestamps:
            self._space(4)
            self._heading(v.words["document_timestamps"], size=13)
            for section in v.document_timestamps:
                self._section(section)
        self._space(4)
        self._heading(v.words["policy"], size=11)
        self._rows(v.policy)
        self._heading(v.words["trust_anchors"], size=10)
        for anchor in v.trust_anchors:
            self._paragraph(self.pdf.ltr_paragraph(dn_line(anchor)), size=8.5)
        self._space(4)
        self._paragraph(v.footer, size=8.5, color=MUTED)
        self._paragraph(f"{v.words['generator']}: {self._iso(v.generator)}", size=8, color=MUTED)

    # -- pieces ------------------------------------------------------------------

    def _title(self) -> None:
        pdf = self.pdf
        pdf.set_font(FONT_FAMILY, "B", 16)
        pdf.set_text_color(*TONE_INK["ok"])
        pdf.multi_cell(0, 9, self.view.title, align=self.align, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT_FAMILY, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(0, 5, self.view.title_other, align=self.align, new_x="LMARGIN", new_y="NEXT")
        self._space(3)

    def _verdict(self, verdict: Verdict, *, big: bool) -> None:
        """A coloured band with the verdict in both languages, then the reason on a pale band."""
        pdf = self.pdf
        pdf.set_fill_color(*TONE_INK[verdict.tone])
        pdf.set_text_color(*WHITE)
        pdf.set_font(FONT_FAMILY, "B", 15 if big else 11.5)
        pdf.multi_cell(0, 10 if big else 7.5, f"{verdict.label}  ·  {verdict.label_other}", align=self.align,
                       fill=True, new_x="LMARGIN", new_y="NEXT", padding=(0, 3))
        pdf.set_fill_color(*TONE_PALE[verdict.tone])
        pdf.set_text_color(*INK)
        pdf.set_font(FONT_FAMILY, "B", 10.5 if big else 10)
        lines = [(self._iso(verdict.reason), "B", 10.5, INK)]
        if big:
            lines.append((verdict.meaning, "", 9.5, INK))
        if verdict.sub_label:
            lines.append((verdict.sub_label, "", 9.5, MUTED))
        codes = verdict.indication + (f" / {verdict.sub_indication}" if verdict.sub_indication else "")
        lines.append((self._iso(codes), "", 8.5, MUTED))
        for text, style, size, color in lines:
            pdf.set_font(FONT_FAMILY, style, size)
            pdf.set_text_color(*color)
            pdf.multi_cell(0, 6, text, align=self.align, fill=True, new_x="LMARGIN", new_y="NEXT", padding=(0, 3))
        self._space(3)

    def _heading(self, text: str, *, size: float) -> None:
        pdf = self.pdf
        # Keep a heading with at least a few lines of what follows it.
        if pdf.will_page_break(size * 0.5 + 18):
            pdf.add_page()
        pdf.set_font(FONT_FAMILY, "B", size)
        pdf.set_text_color(*INK)
        pdf.multi_cell(0, size * 0.55, text, align=self.align, new_x="LMARGIN", new_y="NEXT")
        self._space(1)

    def _section(self, section: Section) -> None:
        self._heading(section.title, size=10.5)
        self._rows(section.rows)

    def _rows(self, rows: Sequence[Row]) -> None:
        """Label and value side by side; for Persian the label is on the right, as people read it."""
        if not rows:
            return
        pdf = self.pdf
        pdf.set_font(FONT_FAMILY, "", 9)
        pdf.set_draw_color(*LINE)
        pdf.set_fill_color(*WHITE)  # the table would otherwise take the last band's fill
        value_width = pdf.epw - LABEL_WIDTH
        widths = (value_width, LABEL_WIDTH) if pdf.rtl else (LABEL_WIDTH, value_width)
        with pdf.table(
            col_widths=widths, first_row_as_headings=False, borders_layout="HORIZONTAL_LINES",
            text_align=self.align, line_height=5.2, padding=(1.2, 1.5), v_align="TOP",
        ) as table:
            for row in rows:
                label_cell = (row.label, FontFace(color=MUTED, size_pt=9))
                if row.name is not None:
                    value_text = dn_line(row.name)
                    if row.note:
                        note = row.note
                        value_text += "\n" + (rtl_run(note) if direction(note) == "rtl" else note)
                    value_text = self.pdf.ltr_paragraph(value_text)
                else:
                    value_text = self._iso(row.value) + (f"  {self._iso(f'[{row.code}]')}" if row.code else "")
                    if row.note:
                        value_text += "\n" + self._iso(row.note)
                emphasis = "B" if row.tone == "bad" else ""
                value_cell = (value_text, FontFace(color=TONE_INK[row.tone], emphasis=emphasis,
                                                   size_pt=8 if row.ltr else 9))
                cells = (value_cell, label_cell) if pdf.rtl else (label_cell, value_cell)
                line = table.row()
                for text, style in cells:
                    line.cell(text, style=style)
        self._space(2)

    def _findings(self, findings: Sequence[FindingView]) -> None:
        if not findings:
            self._paragraph(self.view.words["no_findings"], size=9, color=MUTED)
            return
        for f in findings:
            text = f"{f.severity} {self._iso(f'[{f.code}]')} {self._iso(f.text)}"
            fill = TONE_PALE[f.tone] if f.tone != "plain" else None
            self._paragraph(text, size=9, color=TONE_INK[f.tone], fill=fill)

    def _paragraph(self, text: str, *, size: float = 9.5, color: RGB = INK, fill: RGB | None = None) -> None:
        pdf = self.pdf
        pdf.set_font(FONT_FAMILY, "", size)
        pdf.set_text_color(*color)
        if fill:
            pdf.set_fill_color(*fill)
        pdf.multi_cell(0, size * 0.6, text, align=self.align, fill=fill is not None,
                       new_x="LMARGIN", new_y="NEXT", padding=Padding(top=0.6, right=2, bottom=0.6, left=2))
        self._space(0.8)

    def _space(self, mm: float) -> None:
        self.pdf.ln(mm)
