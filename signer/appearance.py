"""The visible signature block: who signed, for which organisation, in what role, and when.

The block is a Form XObject drawn with an embedded subset of Vazirmatn
(``pakat/fonts``): a Type0 font with Identity-H encoding over a CIDFontType2
whose CIDs are the font's glyph ids, with /W widths and a ToUnicode CMap so
the text can be searched and copied. Every line is shaped with HarfBuzz
(``uharfbuzz``): Persian letters take their contextual forms (initial,
medial, final) and runs are laid out right to left. A line's direction is
that of its first strong character, and the Unicode bidi algorithm (fpdf2's
implementation, already a dependency for the PDF report) splits it into
runs, so the digits of a Jalali date inside a Persian line still read left
to right. The glyphs are placed with HarfBuzz's advances and offsets, and
each line shrinks until it fits the box: text never overflows.

Bulk sealing draws the same organisation's block thousands of times: shaped
lines are cached by text, and the subset font program by glyph set, which
always includes both sets of digits so the changing date does not change it.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from io import BytesIO

import uharfbuzz as hb
from cryptography import x509
from cryptography.x509.oid import NameOID
from fontTools import subset
from fontTools.ttLib import TTFont
from fpdf.bidi import BidiParagraph
from fpdf.enums import TextDirection

from pakat import fonts
from pakat.dates import format_datetime
from pakat.text import clean_line, direction
from signer.pdf import PdfSource, Ref, Update, VisibleWidget, pdf_name, ref
from signer.placement import VisibleSignature, place

FONT_NAME = "Vazirmatn-Regular"
MAX_FONT_SIZE = 9.0  # points
MIN_FONT_SIZE = 4.0  # below this a line is cut short with an ellipsis instead
LINE_PITCH = 1.3  # line height over font size
CELL_GAP = 1.0  # em between the right and the left text of one row
HEADER_GAP = 0.35  # em under the header row, where its rule goes
# Shaped into every subset so that a new date never needs a new font program.
_ALWAYS = ("۰۱۲۳۴۵۶۷۸۹", "0123456789", "/:-() ")

INK = b"0.12 0.16 0.2"
ACCENT = b"0.05 0.3 0.52"
MUTED = b"0.3 0.36 0.42"
PAPER = b"0.97 0.98 0.99"
BORDER = b"0.45 0.55 0.66"


class BlockKind(Enum):
    """What the block says the signature is: an organisation's seal or a person's signature."""

    SEAL = ("مهر سازمانی", "Company seal")
    SIGNATURE = ("امضای دیجیتال", "Digital signature")


@dataclass(frozen=True)
class BlockFacts:
    """The text of a signature block, apart from the signing time.

    For a seal, ``name`` is the organisation (the certificate's O) and
    ``organisation`` its other name from the CN; for a person, the CN, the
    Title and the O.
    """

    kind: BlockKind
    name: str
    role: str | None = None
    organisation: str | None = None

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate, kind: BlockKind) -> BlockFacts:
        """The facts a certificate states: CN (without "[Stamp]"), Title and O."""
        subject = certificate.subject
        # Certificate values are the signer's to choose: no controls or bidi overrides on the block.
        cn = clean_line(_first(subject, NameOID.COMMON_NAME).replace("[Stamp]", ""))
        org = clean_line(_first(subject, NameOID.ORGANIZATION_NAME))
        title = clean_line(_first(subject, NameOID.TITLE))
        fallback = clean_line(subject.rfc4514_string())  # a subject without CN or O still names someone
        if kind is BlockKind.SEAL:
            name, other = (org, cn) if org else (cn, "")
            return cls(kind, name or fallback, None, other if other and other != name else None)
        return cls(kind, cn or fallback, title or None, org or None)

    def rows(self, signed_at: datetime) -> tuple[Row, ...]:
        """The block's rows, top to bottom: kind, name, role, organisation, Jalali and Gregorian time."""
        fa, en = self.kind.value
        rows = [Row(fa, en, header=True), Row.of(self.name)]
        rows += [Row.of(text) for text in (self.role, self.organisation) if text]
        rows.append(Row.of(format_datetime(signed_at, "fa"), small=True))
        rows.append(Row.of(format_datetime(signed_at, "en"), small=True))
        return tuple(rows)


@dataclass(frozen=True)
class Row:
    """One line of the block: Persian text at the right, Latin text at the left, or both."""

    right: str | None
    left: str | None
    header: bool = False
    small: bool = False

    @classmethod
    def of(cls, text: str, *, small: bool = False) -> Row:
        """A single text, aligned to the side its direction starts from."""
        rtl = direction(text) == "rtl"
        return cls(text if rtl else None, None if rtl else text, small=small)

    @property
    def scale(self) -> float:
        return 1.1 if self.header else 0.9 if self.small else 1.0


def visible_widget(
    pdf: PdfSource, request: VisibleSignature, facts: BlockFacts, signed_at: datetime
) -> VisibleWidget:
    """Place and draw the block for a signature about to be added to ``pdf``.

    Raises APPEARANCE_OUTSIDE_PAGE, APPEARANCE_OVERLAPS or APPEARANCE_NO_ROOM
    (see :mod:`signer.placement`) before anything is written.
    """
    placement = place(pdf, request)
    width, height = placement.size
    return VisibleWidget(placement.page_index, placement.rect,
                         render(facts.rows(signed_at), width, height, placement.rotate))


# -- shaping ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Glyph:
    """One shaped glyph, in font units: its id, advance and offset, and the text it stands for."""

    gid: int
    advance: int
    dx: int
    dy: int
    text: str  # the characters of its cluster; "" for the other glyphs of a cluster


@dataclass(frozen=True)
class ShapedLine:
    """A line's glyphs in visual order (left to right), and its width in font units."""

    text: str
    glyphs: tuple[Glyph, ...]
    width: int


class _Font:
    """Vazirmatn loaded once: the HarfBuzz font for shaping, metrics and the raw program for subsetting."""

    def __init__(self) -> None:
        self.data = fonts.REGULAR.read_bytes()
        self.hb = hb.Font(hb.Face(hb.Blob(self.data)))
        tt = TTFont(BytesIO(self.data), lazy=True)
        self.upem = int(tt["head"].unitsPerEm)
        order = tt.getGlyphOrder()
        metrics = tt["hmtx"].metrics
        self.widths = [int(metrics[name][0]) for name in order]
        os2, head = tt["OS/2"], tt["head"]
        self.ascent = int(tt["hhea"].ascent)
        self.descent = int(tt["hhea"].descent)
        self.cap_height = int(getattr(os2, "sCapHeight", 0) or self.ascent)
        self.bbox = (int(head.xMin), int(head.yMin), int(head.xMax), int(head.yMax))
        self.italic_angle = float(tt["post"].italicAngle)
        self.ellipsis = "…" if ord("…") in (tt.getBestCmap() or {}) else "..."
        tt.close()
        # HarfBuzz may share a font between threads; the Python binding does not say it may.
        self.lock = threading.Lock()

    def em(self, units: float) -> float:
        """Font units in thousandths of an em, as PDF widths and TJ adjustments count."""
        return units * 1000 / self.upem


@functools.cache
def _font() -> _Font:
    return _Font()


@functools.lru_cache(maxsize=4096)
def shape(text: str) -> ShapedLine:
    """Shape one line: bidi runs in visual order, each shaped by HarfBuzz in its own direction."""
    font = _font()
    base = TextDirection.RTL if direction(text) == "rtl" else TextDirection.LTR
    runs = BidiParagraph(text, base).get_bidi_fragments() if text else ()
    if base == TextDirection.RTL:
        runs = tuple(reversed(runs))  # two levels at most: the paragraph's and the runs inside it
    glyphs: list[Glyph] = []
    for run, run_direction in runs:
        glyphs += _shape_run(font, run, "rtl" if run_direction == TextDirection.RTL else "ltr")
    return ShapedLine(text, tuple(glyphs), sum(g.advance for g in glyphs))


def _shape_run(font: _Font, text: str, direction: str) -> list[Glyph]:
    buf = hb.Buffer()
    buf.add_codepoints([ord(c) for c in text])  # clusters then count characters, not UTF-8 bytes
    buf.guess_segment_properties()
    buf.direction = direction
    if direction == "rtl":
        buf.language = "fa"
    with font.lock:
        hb.shape(font.hb, buf, {})
    infos, positions = buf.glyph_infos, buf.glyph_positions
    starts = sorted({info.cluster for info in infos})
    ends = dict(zip(starts, [*starts[1:], len(text)], strict=True))
    seen: set[int] = set()
    out: list[Glyph] = []
    # The text of a cluster goes to its first glyph in logical order (RTL glyphs come reversed).
    order = range(len(infos) - 1, -1, -1) if direction == "rtl" else range(len(infos))
    texts: dict[int, str] = {}
    for i in order:
        cluster = infos[i].cluster
        if cluster not in seen:
            seen.add(cluster)
            texts[i] = text[cluster:ends[cluster]]
    for i, (info, pos) in enumerate(zip(infos, positions, strict=True)):
        out.append(Glyph(info.codepoint, pos.x_advance, pos.x_offset, pos.y_offset, texts.get(i, "")))
    return out


# -- the font subset ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FontSubset:
    """The embedded font objects' bodies for one glyph set, ready to write into any document."""

    base_font: bytes  # /ABCDEF+Vazirmatn-Regular
    program: bytes  # FlateDecode'd subset TrueType
    program_length: int
    widths: bytes  # the /W array
    to_unicode: bytes  # FlateDecode'd CMap

    def write(self, update: Update) -> Ref:
        """Add the font's objects to ``update``; returns the Type0 font."""
        font = _font()
        program = update.add_stream(self.program, b"/Filter/FlateDecode/Length1 %d" % self.program_length)
        x0, y0, x1, y1 = (round(font.em(v)) for v in font.bbox)
        descriptor = update.add(
            b"<</Type/FontDescriptor/FontName%s/Flags 4/FontBBox[%d %d %d %d]/ItalicAngle %s"
            b"/Ascent %d/Descent %d/CapHeight %d/StemV 80/FontFile2 %s>>"
            % (self.base_font, x0, y0, x1, y1, _num(font.italic_angle), round(font.em(font.ascent)),
               round(font.em(font.descent)), round(font.em(font.cap_height)), ref(program))
        )
        cid_font = update.add(
            b"<</Type/Font/Subtype/CIDFontType2/BaseFont%s/CIDSystemInfo<</Registry(Adobe)/Ordering(Identity)"
            b"/Supplement 0>>/FontDescriptor %s/DW 0/W %s/CIDToGIDMap/Identity>>"
            % (self.base_font, ref(descriptor), self.widths)
        )
        to_unicode = update.add_stream(self.to_unicode, b"/Filter/FlateDecode")
        return update.add(
            b"<</Type/Font/Subtype/Type0/BaseFont%s/Encoding/Identity-H/DescendantFonts[%s]/ToUnicode %s>>"
            % (self.base_font, ref(cid_font), ref(to_unicode))
        )


def font_subset(glyphs: Iterable[Glyph]) -> FontSubset:
    """The subset for ``glyphs`` plus the digits and date punctuation (cached by glyph set)."""
    texts: dict[int, str] = {}
    for glyph in (*glyphs, *(g for line in _ALWAYS for g in shape(line).glyphs)):
        if glyph.text and glyph.gid not in texts:
            texts[glyph.gid] = glyph.text
        texts.setdefault(glyph.gid, "")
    return _subset(tuple(sorted(texts.items())))


@functools.lru_cache(maxsize=256)
def _subset(mapping: tuple[tuple[int, str], ...]) -> FontSubset:
    font = _font()
    gids = [gid for gid, _ in mapping]
    options = subset.Options()
    options.retain_gids = True  # the content stream's CIDs are HarfBuzz's glyph ids
    options.notdef_outline = True
    options.hinting = False
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "gasp", "prep", "DSIG"]
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6]
    tt = TTFont(BytesIO(font.data))
    subsetter = subset.Subsetter(options)
    subsetter.populate(gids=gids)
    subsetter.subset(tt)
    out = BytesIO()
    tt.save(out)
    tt.close()
    program = out.getvalue()
    tag = "".join(chr(ord("A") + b % 26) for b in hashlib.sha256(repr(mapping).encode()).digest()[:6])
    widths = b"[" + b" ".join(b"%d[%s]" % (gid, _num(font.em(font.widths[gid]))) for gid in gids) + b"]"
    return FontSubset(
        base_font=pdf_name(f"{tag}+{FONT_NAME}"),
        program=zlib.compress(program, 6),
        program_length=len(program),
        widths=widths,
        to_unicode=zlib.compress(_to_unicode_cmap(mapping), 6),
    )


def _to_unicode_cmap(mapping: Sequence[tuple[int, str]]) -> bytes:
    pairs = [(gid, text) for gid, text in mapping if text]
    lines = [
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
        b"/CIDSystemInfo <</Registry (Adobe) /Ordering (UCS) /Supplement 0>> def",
        b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange",
    ]
    for at in range(0, len(pairs), 100):  # at most 100 entries per block
        chunk = pairs[at:at + 100]
        lines.append(b"%d beginbfchar" % len(chunk))
        lines += [b"<%04X> <%s>" % (gid, text.encode("utf-16-be").hex().upper().encode()) for gid, text in chunk]
        lines.append(b"endbfchar")
    lines.append(b"endcmap CMapName currentdict /CMap defineresource pop end end")
    return b"\n".join(lines)


# -- drawing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Appearance:
    """A drawn block: the Form XObject's content and the font it uses; written once per document."""

    content: bytes  # FlateDecode'd
    width: float
    height: float
    rotate: int
    font: FontSubset

    def write(self, update: Update) -> Ref:
        """Add the Form XObject and its font to ``update``; returns the XObject (the widget's /AP /N)."""
        font = self.font.write(update)
        matrix = _MATRICES[self.rotate]
        return update.add_stream(
            self.content,
            b"/Type/XObject/Subtype/Form/BBox[0 0 %s %s]/Matrix%s/Resources<</Font<</F1 %s>>>>/Filter/FlateDecode"
            % (_num(self.width), _num(self.height), matrix, ref(font)),
        )


# The form is drawn upright on a page shown rotated by /Rotate (clockwise).
_MATRICES = {0: b"[1 0 0 1 0 0]", 90: b"[0 1 -1 0 0 0]", 180: b"[-1 0 0 -1 0 0]", 270: b"[0 -1 1 0 0 0]"}


def render(rows: Sequence[Row], width: float, height: float, rotate: int = 0) -> Appearance:
    """Draw ``rows`` in a ``width`` × ``height`` point block (as shown on a page rotated by ``rotate``)."""
    font = _font()
    pad = max(3.0, min(width, height) * 0.07)
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    # Room for every row's line, plus a little under the header for its rule.
    ems = sum(row.scale * LINE_PITCH + (HEADER_GAP if row.header else 0) for row in rows)
    base = min(MAX_FONT_SIZE, inner_h / ems)
    out = [
        b"q %s rg %s RG 0.6 w 0.3 0.3 %s %s re B Q" % (PAPER, BORDER, _num(width - 0.6), _num(height - 0.6)),
    ]
    used: list[Glyph] = []
    text_center = (font.ascent + font.descent) / 2 / font.upem
    top = height - pad - max(0.0, inner_h - base * ems) / 2
    for row in rows:
        pitch = base * row.scale * LINE_PITCH
        right, left, size = _fit(row, base * row.scale, inner_w)
        baseline = top - pitch / 2 - text_center * size
        colour = ACCENT if row.header else MUTED if row.small else INK
        # The header is drawn filled and thinly stroked: bold without embedding a second font.
        mode = b"2 Tr %s w " % _num(size * 0.03) if row.header else b""
        for line, x in ((right, width - pad - (right.width / font.upem * size if right else 0)), (left, pad)):
            if line is None or not line.glyphs:
                continue
            out.append(b"BT /F1 %s Tf %s%s rg %s RG 1 0 0 1 %s %s Tm %s ET" % (
                _num(size), mode, colour, colour, _num(x), _num(baseline), _show(line, font, size)))
            used += line.glyphs
        if row.header:
            rule = top - pitch - base * HEADER_GAP / 3
            out.append(b"q %s RG 0.4 w %s %s m %s %s l S Q"
                       % (BORDER, _num(pad), _num(rule), _num(width - pad), _num(rule)))
            top -= base * HEADER_GAP
        top -= pitch
    return Appearance(zlib.compress(b"\n".join(out), 6), width, height, rotate, font_subset(used))


def _fit(row: Row, size: float, room: float) -> tuple[ShapedLine | None, ShapedLine | None, float]:
    """The row's shaped texts and the largest size up to ``size`` at which they fit ``room`` points."""
    font = _font()
    right = shape(row.right) if row.right else None
    left = shape(row.left) if row.left else None
    ems = sum(line.width for line in (right, left) if line) / font.upem
    if right and left:
        ems += CELL_GAP
    if ems * size <= room:
        return right, left, size
    if ems and room / ems >= MIN_FONT_SIZE:
        return right, left, room / ems
    # Even the smallest readable size is too wide: cut the longest text short with an ellipsis.
    budget = room / MIN_FONT_SIZE * font.upem - (CELL_GAP * font.upem if right and left else 0)
    if right and left:
        share = budget * right.width / (right.width + left.width)
        return _cut(right.text, share), _cut(left.text, budget - share), MIN_FONT_SIZE
    only = right or left
    assert only is not None
    cut = _cut(only.text, budget)
    return (cut, None, MIN_FONT_SIZE) if right else (None, cut, MIN_FONT_SIZE)


def _cut(text: str, units: float) -> ShapedLine:
    """The longest start of ``text`` that fits ``units`` with an ellipsis after it."""
    ellipsis = _font().ellipsis
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if shape(text[:mid].rstrip() + ellipsis).width <= units:
            low = mid
        else:
            high = mid - 1
    return shape(text[:low].rstrip() + ellipsis)


def _show(line: ShapedLine, font: _Font, size: float) -> bytes:
    """A TJ (with rises for offset glyphs) placing each glyph where HarfBuzz put it."""
    parts: list[bytes] = []
    items: list[bytes] = []
    rise = 0
    for glyph in line.glyphs:
        if glyph.dy != rise:
            if items:
                parts.append(b"[" + b"".join(items) + b"]TJ")
                items = []
            rise = glyph.dy
            parts.append(b"%s Ts" % _num(rise / font.upem * size))  # Ts counts in points, not ems
        if glyph.dx:
            items.append(_num(-font.em(glyph.dx)))
        items.append(b"<%04X>" % glyph.gid)
        # TJ moves by the glyph's /W width; HarfBuzz wants its own advance (kerning, zero-width marks).
        correction = font.em(font.widths[glyph.gid] + glyph.dx - glyph.advance)
        if abs(correction) > 0.005:
            items.append(_num(correction))
    if items:
        parts.append(b"[" + b"".join(items) + b"]TJ")
    if rise:
        parts.append(b"0 Ts")
    return b" ".join(parts)


def _num(value: float) -> bytes:
    """A PDF number with at most three decimals and no exponent."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return (text if text not in ("", "-0") else "0").encode("ascii")


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    value = values[0].value if values else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
