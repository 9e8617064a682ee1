#!/usr/bin/env python3
"""Regenerate the real-producer PDF fixtures in tests/producers/files/.

Every fixture is made by a real tool (LibreOffice, Ghostscript, Chromium,
img2pdf, ReportLab, WeasyPrint, fpdf2, qpdf, pypdf, pikepdf) from sources this
script writes itself, or - where no tool on Debian writes the shape we need
(a Word-style hybrid xref, an increment that frees an object, inherited page
attributes) - by hand, byte for byte, and then marked family "handmade".

After making each file the script measures its structure (xref kind, object
streams, linearization, revisions, encryption, AcroForm shape, ...) with
pikepdf and a small xref walker, checks it with `qpdf --check`, pikepdf,
pyHanko and `pdftoppm -r 20`, and writes manifest.json.

CI does not run this script (it needs LibreOffice and Chromium); the PDFs are
committed.  See README.md beside it for how to set up the tools.

Run it with the Python of a venv that holds the PyPI tools:

    /tmp/fixtures-venv/bin/python tests/producers/make_fixtures.py [--keep-work DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zlib
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

try:
    import pikepdf
    from pikepdf import Array, Dictionary, Name, String
except ImportError:  # pragma: no cover - setup hint
    sys.exit(
        "make_fixtures.py needs the PyPI tools; run it with the fixtures venv:\n"
        "  python3 -m venv /tmp/fixtures-venv && /tmp/fixtures-venv/bin/pip install "
        "reportlab weasyprint pypdf arabic-reshaper python-bidi fpdf2 uharfbuzz pikepdf Pillow pyhanko\n"
        "  /tmp/fixtures-venv/bin/python tests/producers/make_fixtures.py"
    )

if TYPE_CHECKING:
    from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FILES = HERE / "files"
MANIFEST = HERE / "manifest.json"

FONT_FA = REPO / "pakat" / "fonts" / "Vazirmatn-Regular.ttf"
FONT_FA_BOLD = REPO / "pakat" / "fonts" / "Vazirmatn-Bold.ttf"
FONT_LATIN = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
SRGB_ICC = Path("/usr/share/color/icc/ghostscript/srgb.icc")

# One fixed moment for every tool that lets us choose its dates:
# 2025-01-15 09:30:00 UTC (1403/10/26 in the Solar Hijri calendar).
EPOCH = 1736933400
FIXED_DATE = dt.datetime.fromtimestamp(EPOCH, dt.UTC)
PDF_DATE = "D:20250115093000Z"

# Passwords of the encrypted fixtures (they are test data, not secrets).
OWNER_PASSWORD = "pakat-owner"
USER_PASSWORD = "pakat-user"

# --------------------------------------------------------------------------
# The document every family renders: a bid envelope cover and declaration.
# ZWNJ (U+200C) is kept in words such as «صفحه‌ها» because real Persian
# documents carry it and some PDF writers trip over it.
# --------------------------------------------------------------------------
ZWNJ = "\u200c"
DOC = {
    "fa_title": "پاکت «ب» — پیشنهاد فنی",
    "en_title": "Envelope B — Technical proposal",
    "fa_lines": [
        "شمارهٔ فراخوان: ۲۰۰۳۰۰۱۲۳۴۰۰۰۰۵۶",
        "پیشنهاددهنده: شرکت مهندسی نمونهٔ پارس (سهامی خاص)",
        "موضوع: خرید و نصب ۲۰ دستگاه سرور برای مرکز داده",
        "تاریخ: ۲۶ دی ۱۴۰۳",
    ],
    "en_lines": [
        "Tender no.: 2003001234000056",
        "Bidder: Pars Sample Engineering Co. (private joint stock)",
        "Subject: supply and installation of 20 servers for the data centre",
        "Date: 15 January 2025",
    ],
    "fa_body": (
        f"این پاکت شامل پیشنهاد فنی پیشنهاددهنده است و پیش از جلسهٔ بازگشایی نباید گشوده شود. "
        f"همهٔ صفحه{ZWNJ}ها باید با امضای صاحبان امضای مجاز و مهر شرکت همراه باشد."
    ),
    "en_body": (
        "This envelope holds the bidder's technical proposal and must not be opened before "
        "the opening session. Every page must carry the signatures of the authorised "
        "signatories and the company seal."
    ),
    "fa_table_head": ["ردیف", "شرح", "تعداد", "مبلغ واحد (ریال)"],
    "en_table_head": ["No.", "Item", "Qty", "Unit price (IRR)"],
    "rows": [
        ("۱", "1", "سرور رک‌مونت ۲U", "2U rack server", "۲۰", "20", "۱٬۲۵۰٬۰۰۰٬۰۰۰", "1,250,000,000"),
        ("۲", "2", "سوئیچ شبکهٔ ۴۸ پورت", "48-port network switch", "۴", "4", "۳۸۰٬۰۰۰٬۰۰۰", "380,000,000"),
        ("۳", "3", f"نصب و راه{ZWNJ}اندازی", "Installation and commissioning", "۱", "1",
         "۹۵۰٬۰۰۰٬۰۰۰", "950,000,000"),
    ],
    "fa_decl_title": "تعهدنامه",
    "en_decl_title": "Declaration",
    "fa_decl": (
        "پیشنهاددهنده تأیید می‌کند که همهٔ اسناد مناقصه را خوانده و پذیرفته است و "
        "پیشنهاد او تا نود روز پس از بازگشایی معتبر است."
    ),
    "en_decl": (
        "The bidder confirms that it has read and accepts all the tender documents and "
        "that its offer stays valid for ninety days after the opening."
    ),
    "fa_sign": "نام و امضای صاحب امضای مجاز",
    "en_sign": "Name and signature of the authorised signatory",
    "fa_seal": "مهر شرکت",
    "en_seal": "Company seal",
}
# The ZWNJ inside «رک‌مونت» and «می‌کند» above is typed in the string literal.

INVOICE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- A tiny e-invoice in the spirit of Factur-X / ZUGFeRD: the kind of XML a
     PDF/A-3 envelope carries as an associated file. -->
<Invoice xmlns="urn:example:pakat:invoice:1">
  <ID>INV-1403-0042</ID>
  <IssueDate>2025-01-15</IssueDate>
  <Seller><Name>Pars Sample Engineering Co.</Name><NationalID>10101234567</NationalID></Seller>
  <Buyer><Name>Sample Procurement Organisation</Name></Buyer>
  <Line><Item>2U rack server</Item><Qty>20</Qty><UnitPrice currency="IRR">1250000000</UnitPrice></Line>
  <Line><Item>48-port network switch</Item><Qty>4</Qty><UnitPrice currency="IRR">380000000</UnitPrice></Line>
  <Line><Item>Installation and commissioning</Item><Qty>1</Qty>
    <UnitPrice currency="IRR">950000000</UnitPrice></Line>
  <Total currency="IRR">27470000000</Total>
</Invoice>
"""


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
class Ctx:
    """Where things go while the script runs."""

    def __init__(self, work: Path):
        self.work = work
        self.env = dict(os.environ)
        # Fixed dates for every tool that honours SOURCE_DATE_EPOCH
        # (Ghostscript, img2pdf, WeasyPrint's pydyf, ...).
        self.env["SOURCE_DATE_EPOCH"] = str(EPOCH)
        self.env["TZ"] = "UTC"
        self.env["HOME"] = str(work / "home")
        (work / "home").mkdir(parents=True, exist_ok=True)
        # A private fontconfig setup that also sees Pakat's vendored Vazirmatn,
        # so LibreOffice and Chromium find it without installing anything.
        fc = work / "fonts.conf"
        fc.write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
            "  <include ignore_missing=\"yes\">/etc/fonts/fonts.conf</include>\n"
            f"  <dir>{FONT_FA.parent}</dir>\n"
            f"  <cachedir>{work / 'fc-cache'}</cachedir>\n</fontconfig>\n"
        )
        self.env["FONTCONFIG_FILE"] = str(fc)
        # LibreOffice and Chromium ignore SOURCE_DATE_EPOCH; when libfaketime
        # is installed, their clocks start at the fixed moment instead.  (Their
        # /ID and, for LibreOffice, font object order still vary per run.)
        self.faketime = (["faketime", "-f", "@" + FIXED_DATE.strftime("%Y-%m-%d %H:%M:%S")]
                         if shutil.which("faketime") else [])
        self.entries: list[dict] = []
        self.versions = tool_versions()


def run(ctx: Ctx, cmd: list[str], ok_codes=(0,), **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=ctx.env, capture_output=True, text=True, **kw)
    if proc.returncode not in ok_codes:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return proc


def out_path(family: str, name: str) -> Path:
    p = FILES / family / f"{name}.pdf"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _cmd_version(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (p.stdout or p.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def _deb_version(pkg: str) -> str:
    p = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else "?"


def _py_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def tool_versions() -> dict[str, str]:
    """The exact version of every tool the script calls, for the manifest."""
    v = {
        "libreoffice": f"{_cmd_version(['soffice', '--version'])} "
                       f"(Debian libreoffice-writer {_deb_version('libreoffice-writer')})",
        "ghostscript": f"Ghostscript {_cmd_version(['gs', '--version'])} "
                       f"(Debian ghostscript {_deb_version('ghostscript')})",
        "qpdf": f"{_cmd_version(['qpdf', '--version'])} (Debian qpdf {_deb_version('qpdf')})",
        "img2pdf": f"{_cmd_version(['img2pdf', '--version'])} (Debian img2pdf {_deb_version('img2pdf')})",
        "chromium": f"{_cmd_version(['chromium', '--version'])} (Debian chromium {_deb_version('chromium')})",
        "poppler": f"{_cmd_version(['pdftoppm', '-v'])} (Debian poppler-utils {_deb_version('poppler-utils')})",
        "faketime": f"libfaketime (Debian faketime {_deb_version('faketime')})",
        "python": f"CPython {sys.version.split()[0]}",
    }
    for dist in ("reportlab", "weasyprint", "pydyf", "pypdf", "pikepdf", "fpdf2", "uharfbuzz",
                 "arabic-reshaper", "python-bidi", "Pillow", "pyHanko"):
        v[dist.lower()] = f"{dist} {_py_version(dist)}"
    v["qpdf-lib"] = f"libqpdf {pikepdf.__libqpdf_version__} (inside pikepdf {pikepdf.__version__})"
    return v


def add(ctx: Ctx, path: Path, family: str, tool: str, made_by: str, note: str,
        expect="sealable", password: str | None = None, extra_tools: tuple[str, ...] = ()):
    """Measure a freshly made fixture and record it for the manifest."""
    structure, producer = analyse(path, password)
    version = "; ".join(ctx.versions[t] for t in (tool, *extra_tools))
    entry = {
        "file": str(path.relative_to(HERE)),
        "family": family,
        "producer": producer or ctx.versions[tool].split(" (")[0],
        "tool_version": version,
        "made_by": made_by,
        "structure": structure,
        "expect": expect,
        "note": note,
    }
    if password:
        entry["user_password"] = password
    ctx.entries.append(entry)
    print(f"  made {entry['file']} ({path.stat().st_size // 1024} KB)")
    return entry


# --------------------------------------------------------------------------
# Structure measurement
# --------------------------------------------------------------------------
def _xref_sections(data: bytes, pdf: pikepdf.Pdf) -> list[dict]:
    """Walk the cross-reference chain from the last startxref through /Prev.

    Returns one dict per section: kind ("table" or "stream"), the /XRefStm
    offset if the trailer has one (hybrid), and whether any compressed
    (type 2, in an object stream) entry is listed.  Xref streams are read at
    their byte offset, not by object number: some writers (pypdf's
    incremental mode) reuse an old xref stream's object number for a new
    object in a later revision.
    """
    idx = data.rfind(b"startxref")
    m = re.match(rb"startxref\s+(\d+)", data[idx:])
    offset = int(m.group(1)) if m else None
    sections, seen = [], set()
    while offset is not None and offset not in seen and offset < len(data):
        seen.add(offset)
        sec = {"offset": offset, "kind": None, "xrefstm": None, "compressed": False}
        if data[offset:offset + 20].lstrip().startswith(b"xref"):
            sec["kind"] = "table"
            t = data.find(b"trailer", offset)
            s = data.find(b"startxref", t)
            trailer = data[t:s]
            prev = re.search(rb"/Prev\s+(\d+)", trailer)
            stm = re.search(rb"/XRefStm\s+(\d+)", trailer)
            if stm:
                sec["xrefstm"] = int(stm.group(1))
                sec["compressed"] = _read_xref_stream(data, pdf, int(stm.group(1)))[1]
            offset = int(prev.group(1)) if prev else None
        else:
            prev, compressed = _read_xref_stream(data, pdf, offset)
            sec["kind"] = "stream"
            sec["compressed"] = compressed
            offset = prev
        sections.append(sec)
    return sections


def _read_xref_stream(data: bytes, pdf: pikepdf.Pdf, offset: int) -> tuple[int | None, bool]:
    """Parse the xref stream at a byte offset: (its /Prev, lists type-2 entries?)."""
    s = data.find(b"stream", offset)
    head = data[offset:s]
    if not re.match(rb"\s*\d+\s+\d+\s+obj", head) or b"/XRef" not in head:
        raise ValueError(f"no xref stream at offset {offset}")
    prev = re.search(rb"/Prev\s+(\d+)", head)
    w = [int(x) for x in re.search(rb"/W\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s*\]", head).groups()]
    ln = re.search(rb"/Length\s+(\d+)(\s+(\d+)\s+R)?", head)
    length = int(ln.group(1)) if not ln.group(2) else int(pdf.get_object((int(ln.group(1)), int(ln.group(3)))))
    start = s + len(b"stream")
    start += 2 if data[start:start + 2] == b"\r\n" else 1
    raw = data[start:start + length]
    if b"/FlateDecode" in head:
        raw = zlib.decompress(raw)
    size = sum(w)
    pred = re.search(rb"/Predictor\s+(\d+)", head)
    if pred and int(pred.group(1)) >= 10:
        cols = int(re.search(rb"/Columns\s+(\d+)", head).group(1))
        raw = _png_unpredict(raw, cols)
    compressed = False
    for i in range(0, len(raw) - size + 1, size):
        t = int.from_bytes(raw[i:i + w[0]], "big") if w[0] else 1
        compressed |= t == 2
    return (int(prev.group(1)) if prev else None), compressed


def _png_unpredict(raw: bytes, cols: int) -> bytes:
    out, prev = bytearray(), bytearray(cols)
    for i in range(0, len(raw), cols + 1):
        ftype, row = raw[i], bytearray(raw[i + 1:i + 1 + cols])
        for j in range(len(row)):
            left = row[j - 1] if j else 0
            up, ul = prev[j], (prev[j - 1] if j else 0)
            if ftype == 1:
                row[j] = (row[j] + left) & 255
            elif ftype == 2:
                row[j] = (row[j] + up) & 255
            elif ftype == 3:
                row[j] = (row[j] + (left + up) // 2) & 255
            elif ftype == 4:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                row[j] = (row[j] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 255
        out += row
        prev = row
    return bytes(out)


def _count_fields(acro) -> int:
    """Terminal fields (those with no child fields), through the /Kids tree."""
    def walk(f, depth=0):
        if depth > 50:
            return 0
        kids = f.get("/Kids")
        child_fields = [k for k in kids if "/T" in k] if kids is not None else []
        if child_fields:
            return sum(walk(k, depth + 1) for k in child_fields)
        return 1
    return sum(walk(f) for f in acro.get("/Fields", []))


def analyse(path: Path, password: str | None = None) -> tuple[dict, str | None]:
    data = path.read_bytes()
    user_password_needed = False
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError:
        user_password_needed = True
        pdf = pikepdf.open(path, password=password)
    with pdf:
        sections = _xref_sections(data, pdf)
        has_objstm = any(
            isinstance(o, pikepdf.Stream) and o.stream_dict.get("/Type") == Name.ObjStm
            for o in pdf.objects
        ) or any(s["compressed"] for s in sections)
        indirect_lengths = any(_length_is_indirect(o) for o in pdf.objects)
        encrypted = None
        if pdf.is_encrypted:
            enc = pdf.trailer.Encrypt
            allow = pdf.allow
            encrypted = {
                "user_password_needed": user_password_needed,
                "R": int(enc.R),
                "V": int(enc.V),
                "method": _crypt_method(enc),
                "permissions": {
                    k: bool(getattr(allow, k)) for k in (
                        "accessibility", "extract", "modify_annotation", "modify_assembly",
                        "modify_form", "modify_other", "print_lowres", "print_highres")
                },
            }
        acro = None
        if "/AcroForm" in pdf.Root:
            af = pdf.Root.AcroForm
            acro = {
                "fields": _count_fields(af),
                "need_appearances": bool(af.get("/NeedAppearances", False)),
                "direct_in_catalog": not af.is_indirect,
            }
        eof = data.rfind(b"%%EOF")
        tail = data[eof + 5:] if eof >= 0 else data
        for eol in (b"\r\n", b"\n", b"\r"):
            if tail.startswith(eol):
                tail = tail[len(eol):]
                break
        structure = {
            "pdf_version": pdf.pdf_version,
            "xref_stream": any(s["kind"] == "stream" or s["xrefstm"] is not None for s in sections),
            "object_streams": has_objstm,
            "linearized": bool(pdf.is_linearized),
            "hybrid_xref": any(s["xrefstm"] is not None for s in sections),
            "revisions": _revisions(data, pdf, sections),
            "xref_sections": len(sections),
            "encrypted": encrypted,
            "acroform": acro,
            "pages": len(pdf.pages),
            "pdfa": _pdfa_claim(pdf),
            "indirect_stream_lengths": indirect_lengths,
            "trailing_bytes_after_eof": len(tail),
        }
        producer = None
        if "/Info" in pdf.trailer and "/Producer" in pdf.trailer.Info:
            producer = str(pdf.trailer.Info.Producer)
        return structure, producer


def _pdfa_claim(pdf: pikepdf.Pdf) -> str | None:
    """The PDF/A part and conformance the XMP metadata claims ("2B"), if any."""
    if "/Metadata" not in pdf.Root:
        return None
    try:
        return pdf.open_metadata().pdfa_status or None
    except Exception:
        return None


def _crypt_method(enc) -> str:
    """RC4-40, RC4-128, AES-128 or AES-256, read from the /Encrypt dictionary."""
    v = int(enc.V)
    if v >= 5:
        return "AES-256"
    if v == 4:
        cfm = enc.CF[enc.get("/StmF", Name.Identity)].get("/CFM") if "/CF" in enc else None
        return "AES-128" if cfm == Name.AESV2 else "RC4-128"
    return f"RC4-{int(enc.get('/Length', 40))}"


def _length_is_indirect(o) -> bool:
    if not isinstance(o, pikepdf.Stream):
        return False
    try:
        return o.stream_dict.get_raw("/Length").is_indirect
    except (KeyError, AttributeError):
        return False


def _revisions(data: bytes, pdf: pikepdf.Pdf, sections: list[dict]) -> int:
    """How many times the file was saved: one per %%EOF-terminated section.

    A linearized file carries two xref sections (the first-page one and the
    main one) but is one revision, so for those we count the saves after
    the linearized body instead.
    """
    eofs = len(re.findall(rb"%%EOF", data))
    if pdf.is_linearized:
        # The first-page trailer of a linearized file ends with its own %%EOF.
        return max(1, eofs - 1)
    return max(1, eofs)


# --------------------------------------------------------------------------
# Checks every fixture must pass
# --------------------------------------------------------------------------
def check(ctx: Ctx, entry: dict) -> list[str]:
    """qpdf --check, pikepdf, pyHanko and pdftoppm -r 20; returns problems."""
    path = HERE / entry["file"]
    password = entry.get("user_password")
    problems = []
    cmd = ["qpdf", "--check"] + ([f"--password={password}"] if password else []) + [str(path)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    # qpdf exits 0 when clean, 3 with warnings, 2 on errors.
    if p.returncode == 3:
        entry.setdefault("_warnings", []).append("qpdf --check warnings: " + " | ".join(
            ln for ln in (p.stdout + p.stderr).splitlines() if "WARNING" in ln.upper())[:300])
    elif p.returncode != 0:
        problems.append(f"qpdf --check exit {p.returncode}: {(p.stdout + p.stderr)[-400:]}")
    try:
        with pikepdf.open(path, password=password or "") as pdf:
            for page in pdf.pages:
                page.obj.get("/Contents")
    except Exception as e:
        problems.append(f"pikepdf: {e}")
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader
        with open(path, "rb") as f:
            r = PdfFileReader(f, strict=False)
            if r.encrypted:
                r.decrypt(password or "")
            r.root["/Pages"]
            r.find_page_for_modification(0)
            entry["_pyhanko_revisions"] = r.xrefs.total_revisions
    except Exception as e:
        problems.append(f"pyHanko: {type(e).__name__}: {e}")
    outdir = ctx.work / "render" / entry["file"].replace("/", "_")
    outdir.mkdir(parents=True, exist_ok=True)
    upw = ["-upw", password] if password else []
    cmd = ["pdftoppm", "-r", "20", "-png", *upw, str(path), str(outdir / "p")]
    p = subprocess.run(cmd, capture_output=True, text=True)
    pngs = list(outdir.glob("*.png"))
    if p.returncode != 0 or len(pngs) != entry["structure"]["pages"]:
        problems.append(f"pdftoppm exit {p.returncode}, {len(pngs)} pages: {p.stderr[-300:]}")
    if p.stderr.strip():
        entry.setdefault("_warnings", []).append("pdftoppm: " + p.stderr.strip()[:200])
    return problems


# --------------------------------------------------------------------------
# 1. LibreOffice Writer
# --------------------------------------------------------------------------
def fodt(form: bool = False, landscape_page: bool = False) -> str:
    """A flat ODF text document: the bid envelope in Persian and English.

    Persian paragraphs use an RTL paragraph style and the complex-text font
    (Vazirmatn); Latin text uses DejaVu Serif.
    """
    d = DOC
    e = escape

    def p(style, text):
        return f'<text:p text:style-name="{style}">{e(text)}</text:p>\n'

    def cell(style, text, pstyle):
        return (f'<table:table-cell table:style-name="{style}" office:value-type="string">'
                f'<text:p text:style-name="{pstyle}">{e(text)}</text:p></table:table-cell>')

    def table(name, head, rows, rtl):
        cols = "".join(f'<table:table-column table:style-name="{name}.C{i}"/>' for i in range(4))
        pst = "FaCell" if rtl else "EnCell"
        out = [f'<table:table table:name="{name}" table:style-name="{"TblFa" if rtl else "TblEn"}">{cols}']
        out.append("<table:table-header-rows><table:table-row>" +
                   "".join(cell("Head", h, pst) for h in head) + "</table:table-row></table:table-header-rows>")
        for r in rows:
            out.append("<table:table-row>" + "".join(cell("Cell", c, pst) for c in r) + "</table:table-row>")
        out.append("</table:table>\n")
        return "".join(out)

    body = []
    if form:
        body.append(FODT_FORMS)
    body.append(p("TitleFa", d["fa_title"]))
    body.append(p("TitleEn", d["en_title"]))
    body += [p("Fa", x) for x in d["fa_lines"]]
    body += [p("En", x) for x in d["en_lines"]]
    body.append(p("Fa", d["fa_body"]))
    body.append(p("En", d["en_body"]))
    fa_rows = [(r[0], r[2], r[4], r[6]) for r in d["rows"]]
    en_rows = [(r[1], r[3], r[5], r[7]) for r in d["rows"]]
    body.append(table("ItemsFa", d["fa_table_head"], fa_rows, True))
    body.append(p("En", ""))
    body.append(table("ItemsEn", d["en_table_head"], en_rows, False))
    if form:
        body.append(
            '<text:p text:style-name="En">Bidder name / نام پیشنهاددهنده: '
            '<draw:control text:anchor-type="as-char" draw:z-index="0" draw:style-name="gr1" '
            'svg:width="9cm" svg:height="0.8cm" draw:control="control1"/></text:p>\n'
            '<text:p text:style-name="En">Accept the tender terms / پذیرش شرایط: '
            '<draw:control text:anchor-type="as-char" draw:z-index="1" draw:style-name="gr1" '
            'svg:width="0.6cm" svg:height="0.6cm" draw:control="control2"/></text:p>\n'
            '<text:p text:style-name="En">Currency / ارز: '
            '<draw:control text:anchor-type="as-char" draw:z-index="2" draw:style-name="gr1" '
            'svg:width="4cm" svg:height="0.8cm" draw:control="control3"/></text:p>\n'
            '<text:p text:style-name="En">Delivery city / شهر تحویل: '
            '<draw:control text:anchor-type="as-char" draw:z-index="3" draw:style-name="gr1" '
            'svg:width="5cm" svg:height="2cm" draw:control="control4"/></text:p>\n'
        )
    # Page 2: the declaration, with room left for signatures and the seal.
    body.append(p("Break" if not landscape_page else "Landscape", d["fa_decl_title"]))
    body.append(p("Fa", d["fa_decl"]))
    body.append(p("TitleEn", d["en_decl_title"]))
    body.append(p("En", d["en_decl"]))
    body.append(p("Fa", d["fa_sign"] + ": ........................"))
    body.append(p("En", d["en_sign"] + ": ........................"))
    body.append(p("Fa", d["fa_seal"] + ":"))
    body.append(p("En", d["en_seal"] + ":"))
    if landscape_page:
        # A wide price schedule on a landscape page, as bidders often attach.
        wide = [(r[1], r[3], r[5], r[7]) for r in d["rows"]] * 2
        body.append(table("Schedule", d["en_table_head"], wide, False))

    return FODT_TEMPLATE.format(body="".join(body))


FODT_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:form="urn:oasis:names:tc:opendocument:xmlns:form:1.0"
 xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:ooo="http://openoffice.org/2004/office" xmlns:xlink="http://www.w3.org/1999/xlink"
 xmlns:xforms="http://www.w3.org/2002/xforms" xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0"
 xmlns:dom="http://www.w3.org/2001/xml-events"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
<office:meta>
 <dc:title>Envelope B - Technical proposal</dc:title>
 <meta:initial-creator>Pakat fixtures</meta:initial-creator>
 <meta:creation-date>2025-01-15T09:30:00</meta:creation-date>
 <dc:date>2025-01-15T09:30:00</dc:date>
 <dc:language>fa-IR</dc:language>
</office:meta>
<office:font-face-decls>
 <style:font-face style:name="Vazirmatn" svg:font-family="Vazirmatn"/>
 <style:font-face style:name="DejaVu Serif" svg:font-family="&apos;DejaVu Serif&apos;"/>
</office:font-face-decls>
<office:styles>
 <style:default-style style:family="paragraph">
  <style:paragraph-properties fo:margin-bottom="0.2cm"/>
  <style:text-properties style:font-name="DejaVu Serif" fo:font-size="11pt" fo:language="en" fo:country="GB"
   style:font-name-asian="DejaVu Serif" style:font-name-complex="Vazirmatn" style:font-size-complex="12pt"
   style:language-complex="fa" style:country-complex="IR"/>
 </style:default-style>
 <style:style style:name="Standard" style:family="paragraph" style:class="text"/>
 <style:style style:name="Fa" style:family="paragraph" style:parent-style-name="Standard">
  <style:paragraph-properties fo:text-align="end" style:writing-mode="rl-tb"/>
 </style:style>
 <style:style style:name="En" style:family="paragraph" style:parent-style-name="Standard">
  <style:paragraph-properties fo:text-align="start" style:writing-mode="lr-tb"/>
 </style:style>
 <style:style style:name="TitleFa" style:family="paragraph" style:parent-style-name="Fa"
  style:default-outline-level="1">
  <style:text-properties fo:font-size="16pt" fo:font-weight="bold" style:font-size-complex="18pt"
   style:font-weight-complex="bold"/>
 </style:style>
 <style:style style:name="TitleEn" style:family="paragraph" style:parent-style-name="En"
  style:default-outline-level="1">
  <style:text-properties fo:font-size="15pt" fo:font-weight="bold" style:font-weight-complex="bold"/>
 </style:style>
 <style:style style:name="FaCell" style:family="paragraph" style:parent-style-name="Fa"/>
 <style:style style:name="EnCell" style:family="paragraph" style:parent-style-name="En"/>
</office:styles>
<office:automatic-styles>
 <style:style style:name="TblFa" style:family="table">
  <style:table-properties style:width="17cm" table:align="margins" style:writing-mode="rl-tb"/>
 </style:style>
 <style:style style:name="TblEn" style:family="table">
  <style:table-properties style:width="17cm" table:align="margins"/>
 </style:style>
 <style:style style:name="Head" style:family="table-cell">
  <style:table-cell-properties fo:background-color="#dde4ee" fo:padding="0.1cm" fo:border="0.5pt solid #000000"/>
 </style:style>
 <style:style style:name="Cell" style:family="table-cell">
  <style:table-cell-properties fo:padding="0.1cm" fo:border="0.5pt solid #000000"/>
 </style:style>
 <style:style style:name="Break" style:family="paragraph" style:parent-style-name="TitleFa">
  <style:paragraph-properties fo:break-before="page"/>
 </style:style>
 <style:style style:name="Landscape" style:family="paragraph" style:parent-style-name="TitleFa"
  style:master-page-name="Wide"/>
 <style:style style:name="gr1" style:family="graphic">
  <style:graphic-properties style:vertical-pos="middle" style:vertical-rel="text"/>
 </style:style>
 <style:page-layout style:name="pm1">
  <style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm" style:print-orientation="portrait"
   fo:margin-top="2cm" fo:margin-bottom="2cm" fo:margin-left="2cm" fo:margin-right="2cm"/>
 </style:page-layout>
 <style:page-layout style:name="pm2">
  <style:page-layout-properties fo:page-width="29.7cm" fo:page-height="21cm" style:print-orientation="landscape"
   fo:margin-top="2cm" fo:margin-bottom="2cm" fo:margin-left="2cm" fo:margin-right="2cm"/>
 </style:page-layout>
</office:automatic-styles>
<office:master-styles>
 <style:master-page style:name="Standard" style:page-layout-name="pm1"/>
 <style:master-page style:name="Wide" style:page-layout-name="pm2"/>
</office:master-styles>
<office:body><office:text>
{body}</office:text></office:body>
</office:document>
"""

# ODF form controls: a text box, a checkbox, a drop-down list and a list box.
FODT_FORMS = """<office:forms form:automatic-focus="false" form:apply-design-mode="false">
 <form:form form:name="Standard" form:apply-filter="true" form:command-type="table"
  form:control-implementation="ooo:com.sun.star.form.component.Form" office:target-frame="">
  <form:text form:name="bidder_name" form:control-implementation="ooo:com.sun.star.form.component.TextField"
   xml:id="control1" form:id="control1" form:max-length="80" form:convert-empty-to-null="true"/>
  <form:checkbox form:name="accept_terms" form:control-implementation="ooo:com.sun.star.form.component.CheckBox"
   xml:id="control2" form:id="control2" form:label="" form:current-state="unchecked" form:value="Yes"
   form:image-position="center"/>
  <form:listbox form:name="currency" form:control-implementation="ooo:com.sun.star.form.component.ListBox"
   xml:id="control3" form:id="control3" form:dropdown="true" form:size="1" form:bound-column="1">
   <form:option form:label="IRR"/>
   <form:option form:label="EUR"/>
   <form:option form:label="CNY"/>
  </form:listbox>
  <form:listbox form:name="delivery_city" form:control-implementation="ooo:com.sun.star.form.component.ListBox"
   xml:id="control4" form:id="control4" form:dropdown="false" form:size="3" form:bound-column="1">
   <form:option form:label="Tehran"/>
   <form:option form:label="Isfahan"/>
   <form:option form:label="Tabriz"/>
  </form:listbox>
 </form:form>
</office:forms>
"""


def soffice_pdf(ctx: Ctx, src: Path, dest: Path, options: dict) -> str:
    """Convert one .fodt with LibreOffice's writer_pdf_Export and JSON options."""
    outdir = ctx.work / "lo-out" / dest.stem
    outdir.mkdir(parents=True, exist_ok=True)
    opts = {k: {"type": "boolean" if isinstance(v, bool) else "long",
                "value": ("true" if v else "false") if isinstance(v, bool) else str(v)}
            for k, v in options.items()}
    filt = "pdf:writer_pdf_Export:" + json.dumps(opts, separators=(",", ":")) if opts else "pdf:writer_pdf_Export"
    cmd = [*ctx.faketime, "soffice", f"-env:UserInstallation=file://{ctx.work}/lo-profile", "--headless",
           "--convert-to", filt, "--outdir", str(outdir), str(src)]
    run(ctx, cmd, timeout=300)
    shutil.copyfile(outdir / (src.stem + ".pdf"), dest)
    return _faketime_prefix(ctx) + "soffice --headless --convert-to '" + filt + "' " + src.name


def _faketime_prefix(ctx: Ctx) -> str:
    return f"faketime -f '{ctx.faketime[2]}' " if ctx.faketime else ""


def make_libreoffice(ctx: Ctx) -> None:
    src_dir = ctx.work / "src"
    src_dir.mkdir(exist_ok=True)
    plain = src_dir / "envelope.fodt"
    plain.write_text(fodt(), encoding="utf-8")
    form = src_dir / "envelope_form.fodt"
    form.write_text(fodt(form=True), encoding="utf-8")
    wide = src_dir / "envelope_landscape.fodt"
    wide.write_text(fodt(landscape_page=True), encoding="utf-8")

    variants = [
        ("plain", plain, {},
         "Default Writer export: PDF 1.6, classic xref table, indirect stream /Length, subset TrueType fonts "
         "(Vazirmatn + DejaVu Serif), AcroForm-free; base of the qpdf, pypdf and trailing-bytes fixtures."),
        ("tagged", plain, {"UseTaggedPDF": True},
         "Tagged PDF (StructTreeRoot, MarkInfo, ParentTree): the signer must keep the structure tree intact."),
        ("pdfa1a", plain, {"SelectPdfVersion": 1},
         "Asked for PDF/A-1 (SelectPdfVersion 1), LibreOffice 7.4 writes PDF/A-1a - tagged, XMP pdfaid:part 1 "
         "conformance A - not 1b; PDF 1.4, OutputIntent. Sealing must add nothing PDF/A-1 forbids. "
         "(gs_pdfa1b is the PDF/A-1b.)"),
        ("pdfa2b", plain, {"SelectPdfVersion": 2},
         "PDF/A-2b from Writer: XMP pdfaid:part 2, OutputIntent, tagged."),
        ("pdfa3b", plain, {"SelectPdfVersion": 3},
         "PDF/A-3b from Writer; base of the PDF/A-3 attachment fixtures."),
        ("form", form, {"ExportFormFields": True, "FormsType": 1},
         "Writer document with ODF form controls exported as a PDF AcroForm: text field, checkbox, "
         "drop-down (combo) and list box, empty values. Writer puts /AcroForm as a direct dictionary in the "
         "catalog and sets /NeedAppearances true."),
        ("landscape", wide, {},
         "Two page styles: page 1 portrait A4, page 2 landscape A4 (MediaBox 842x595, no /Rotate) with a "
         "wide table."),
    ]
    for name, src, opts, note in variants:
        dest = out_path("libreoffice", f"lo_{name}")
        made_by = soffice_pdf(ctx, src, dest, opts)
        add(ctx, dest, "libreoffice", "libreoffice", made_by, note)



# --------------------------------------------------------------------------
# 3. Chromium and 6. WeasyPrint share one HTML page
# --------------------------------------------------------------------------
def html_doc(font_regular: str, font_bold: str) -> str:
    """The envelope as an HTML page: RTL Persian, an LTR English block, tables."""
    d = DOC
    e = escape

    def table(head, rows, cls):
        h = "".join(f"<th>{e(x)}</th>" for x in head)
        b = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f'<table class="{cls}"><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>'

    fa_rows = [(r[0], r[2], r[4], r[6]) for r in d["rows"]]
    en_rows = [(r[1], r[3], r[5], r[7]) for r in d["rows"]]
    return f"""<!DOCTYPE html>
<html lang="fa" dir="rtl">
<head>
<meta charset="utf-8">
<title>{e(d['en_title'])}</title>
<meta name="author" content="Pars Sample Engineering Co.">
<meta name="dcterms.created" content="2025-01-15T09:30:00Z">
<meta name="dcterms.modified" content="2025-01-15T09:30:00Z">
<style>
@font-face {{ font-family: "Vazirmatn"; font-weight: 400; src: url("{font_regular}") format("truetype"); }}
@font-face {{ font-family: "Vazirmatn"; font-weight: 700; src: url("{font_bold}") format("truetype"); }}
@page {{ size: A4; margin: 2cm; }}
body {{ font-family: "Vazirmatn", sans-serif; font-size: 11pt; line-height: 1.6; }}
.en {{ direction: ltr; text-align: left; font-family: "DejaVu Serif", serif; }}
h1 {{ font-size: 18pt; margin: 0 0 4pt 0; }}
table {{ border-collapse: collapse; width: 100%; margin: 8pt 0; }}
th, td {{ border: 0.6pt solid #000; padding: 3pt 6pt; }}
th {{ background: #dde4ee; }}
.page2 {{ break-before: page; }}
.sign {{ margin-top: 24pt; }}
</style>
</head>
<body>
<h1>{e(d['fa_title'])}</h1>
{''.join(f'<p>{e(x)}</p>' for x in d['fa_lines'])}
<p>{e(d['fa_body'])}</p>
{table(d['fa_table_head'], fa_rows, 'fa')}
<div class="en">
<h1>{e(d['en_title'])}</h1>
{''.join(f'<p>{e(x)}</p>' for x in d['en_lines'])}
<p>{e(d['en_body'])}</p>
{table(d['en_table_head'], en_rows, 'en')}
</div>
<section class="page2">
<h1>{e(d['fa_decl_title'])}</h1>
<p>{e(d['fa_decl'])}</p>
<p class="sign">{e(d['fa_sign'])}: ........................</p>
<p>{e(d['fa_seal'])}:</p>
<div class="en">
<h1>{e(d['en_decl_title'])}</h1>
<p>{e(d['en_decl'])}</p>
<p class="sign">{e(d['en_sign'])}: ........................</p>
<p>{e(d['en_seal'])}:</p>
</div>
</section>
</body>
</html>
"""


def make_chromium(ctx: Ctx) -> None:
    src = ctx.work / "src" / "envelope.html"
    src.parent.mkdir(exist_ok=True)
    # @font-face points straight at Pakat's vendored font files.
    src.write_text(html_doc(FONT_FA.as_uri(), FONT_FA_BOLD.as_uri()), encoding="utf-8")
    dest = out_path("chromium", "chromium_print")
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=ctx.work)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             # file:// pages may not load fonts from other file:// URLs without this.
             "--allow-file-access-from-files", "--no-pdf-header-footer"]
    run(ctx, [*ctx.faketime, "chromium", *flags, f"--user-data-dir={profile}", f"--print-to-pdf={dest}",
              src.as_uri()], timeout=180)
    add(ctx, dest, "chromium", "chromium",
        _faketime_prefix(ctx) + "chromium --headless --no-sandbox --disable-gpu --allow-file-access-from-files "
        "--no-pdf-header-footer "
        "--print-to-pdf=chromium_print.pdf envelope.html",
        "Chromium (Skia) print-to-PDF of an RTL HTML page with @font-face Vazirmatn and tables: tagged "
        "(StructTreeRoot), CIDFontType2 subsets, classic xref, direct /Length.")


def make_weasyprint(ctx: Ctx) -> None:
    import weasyprint

    dest = out_path("weasyprint", "weasyprint_persian")
    weasyprint.HTML(string=html_doc(FONT_FA.as_uri(), FONT_FA_BOLD.as_uri()),
                    base_url=str(ctx.work)).write_pdf(dest)
    add(ctx, dest, "weasyprint", "weasyprint",
        "weasyprint.HTML(string=envelope.html).write_pdf(weasyprint_persian.pdf)",
        "WeasyPrint (pydyf writer, Pango/HarfBuzz shaping) of the same RTL HTML page as the Chromium fixture.",
        extra_tools=("pydyf",))


# --------------------------------------------------------------------------
# 2. Ghostscript pdfwrite
# --------------------------------------------------------------------------
POSTSCRIPT = r"""%!PS-Adobe-3.0
%%Title: Envelope B - price schedule
%%Creator: Pakat fixtures (hand-written PostScript)
%%CreationDate: (D:20250115093000Z)
%%Pages: 2
%%BoundingBox: 0 0 595 842
%%DocumentMedia: A4 595 842 0 () ()
%%EndComments
%%BeginProlog
/F { findfont exch scalefont setfont } bind def
/L { moveto lineto stroke } bind def
/cell { % x y (text) cell
  3 1 roll moveto show
} bind def
%%EndProlog
%%BeginSetup
[ /Title (Envelope B - price schedule) /Author (Pars Sample Engineering Co.) /DOCINFO pdfmark
<< /PageSize [595 842] >> setpagedevice
%%EndSetup
%%Page: 1 1
18 /Times-Bold F
57 780 moveto (Envelope B - Technical proposal: price schedule) show
11 /Times-Roman F
57 755 moveto (Tender no.: 2003001234000056) show
57 740 moveto (Bidder: Pars Sample Engineering Co. \(private joint stock\)) show
57 725 moveto (Subject: supply and installation of 20 servers for the data centre) show
% the price table: shaded header row, then 5 horizontal and 5 vertical rules
0.85 0.89 0.93 setrgbcolor 57 680 481 20 rectfill 0 setgray
0.6 setlinewidth
[700 680 660 640 620] { /yy exch def 57 yy 538 yy L } forall
[57 97 317 377 538] { /xx exch def xx 700 xx 620 L } forall
10 /Helvetica-Bold F
62 686 (No.) cell 102 686 (Item) cell 322 686 (Qty) cell 382 686 (Unit price \(IRR\)) cell
10 /Helvetica F
62 666 (1) cell 102 666 (2U rack server) cell 322 666 (20) cell 382 666 (1,250,000,000) cell
62 646 (2) cell 102 646 (48-port network switch) cell 322 646 (4) cell 382 646 (380,000,000) cell
62 626 (3) cell 102 626 (Installation and commissioning) cell 322 626 (1) cell 382 626 (950,000,000) cell
showpage
%%Page: 2 2
16 /Times-Bold F
57 780 moveto (Declaration) show
11 /Times-Roman F
57 755 moveto (The bidder confirms that it has read and accepts all the tender documents) show
57 741 moveto (and that its offer stays valid for ninety days after the opening.) show
57 700 moveto (Name and signature of the authorised signatory: ........................) show
57 670 moveto (Company seal:) show
showpage
%%Trailer
%%EOF
"""

PDFA_DEF = f"""%!
% A PDFA_def.ps for Ghostscript's pdfwrite, written by make_fixtures.py after
% the one Ghostscript ships: embed sRGB as the PDF/A OutputIntent profile.
[ /Title (Envelope B - Technical proposal) /DOCINFO pdfmark
/ICCProfile ({SRGB_ICC}) def
[/_objdef {{icc_PDFA}} /type /stream /OBJ pdfmark
[{{icc_PDFA}} << /N 3 >> /PUT pdfmark
[{{icc_PDFA}} ICCProfile (r) file /PUT pdfmark
[/_objdef {{OutputIntent_PDFA}} /type /dict /OBJ pdfmark
[{{OutputIntent_PDFA}} <<
  /Type /OutputIntent /S /GTS_PDFA1 /DestOutputProfile {{icc_PDFA}}
  /OutputConditionIdentifier (sRGB)
>> /PUT pdfmark
[{{Catalog}} << /OutputIntents [ {{OutputIntent_PDFA}} ] >> /PUT pdfmark
"""


def make_ghostscript(ctx: Ctx) -> None:
    gs = ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite"]
    # /prepress embeds (subsets of) every font, the base-14 ones included.

    base = FILES / "libreoffice" / "lo_plain.pdf"
    dest = out_path("ghostscript", "gs_redistilled")
    run(ctx, [*gs, f"-sOutputFile={dest}", str(base)])
    add(ctx, dest, "ghostscript", "ghostscript",
        "gs -dSAFER -dBATCH -dNOPAUSE -sDEVICE=pdfwrite -sOutputFile=gs_redistilled.pdf lo_plain.pdf",
        "LibreOffice's plain fixture re-distilled by pdfwrite (a 'print to PDF' round trip): new object "
        "numbering, re-subset fonts, indirect stream /Length.")

    pdfa_def = ctx.work / "src" / "PDFA_def.ps"
    pdfa_def.write_text(PDFA_DEF)
    pdfa = ["-dPDFACompatibilityPolicy=1", "-sColorConversionStrategy=RGB",
            f"--permit-file-read={SRGB_ICC.parent}/"]

    # LibreOffice cannot make PDF/A-1b (its PDF/A-1 is 1a); Ghostscript can.
    base = FILES / "libreoffice" / "lo_plain.pdf"
    dest = out_path("ghostscript", "gs_pdfa1b")
    run(ctx, [*gs, "-dPDFA=1", *pdfa, f"-sOutputFile={dest}", str(pdfa_def), str(base)])
    add(ctx, dest, "ghostscript", "ghostscript",
        "gs -dPDFA=1 -dPDFACompatibilityPolicy=1 -sColorConversionStrategy=RGB -sDEVICE=pdfwrite "
        "-sOutputFile=gs_pdfa1b.pdf PDFA_def.ps lo_plain.pdf",
        "PDF/A-1b by Ghostscript from LibreOffice's plain export: PDF 1.4, sRGB OutputIntent, XMP pdfaid:part 1 "
        "conformance B, no transparency allowed; sealing must add nothing PDF/A-1 forbids.")

    base = FILES / "chromium" / "chromium_print.pdf"
    dest = out_path("ghostscript", "gs_pdfa2b")
    run(ctx, [*gs, "-dPDFA=2", *pdfa, f"-sOutputFile={dest}", str(pdfa_def), str(base)])
    add(ctx, dest, "ghostscript", "ghostscript",
        "gs -dPDFA=2 -dPDFACompatibilityPolicy=1 -sColorConversionStrategy=RGB -sDEVICE=pdfwrite "
        "-sOutputFile=gs_pdfa2b.pdf PDFA_def.ps chromium_print.pdf",
        "PDF/A-2b by Ghostscript from the Chromium fixture: sRGB OutputIntent, XMP pdfaid:part 2; gs drops "
        "Chromium's structure tree.")

    ps = ctx.work / "src" / "price_schedule.ps"
    ps.write_text(POSTSCRIPT)
    dest = out_path("ghostscript", "gs_from_postscript")
    run(ctx, [*gs, "-dPDFSETTINGS=/prepress", f"-sOutputFile={dest}", str(ps)])
    add(ctx, dest, "ghostscript", "ghostscript",
        "gs -dSAFER -dBATCH -dNOPAUSE -sDEVICE=pdfwrite -dPDFSETTINGS=/prepress "
        "-sOutputFile=gs_from_postscript.pdf price_schedule.ps",
        "Distilled from hand-written DSC PostScript (English only: PostScript has no text shaping), "
        "URW base-35 Type 1 fonts (Times, Helvetica) embedded as subsets.")


# --------------------------------------------------------------------------
# 4. img2pdf: a "scanned" envelope
# --------------------------------------------------------------------------
def scan_page(page: int, dpi: int) -> Image.Image:
    """Draw an A4 page the way a scanner would deliver it: grey paper, slight skew."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = int(8.27 * dpi), int(11.69 * dpi)
    k = dpi / 100
    img = Image.new("L", (w, h), 245)
    draw = ImageDraw.Draw(img)
    fa = ImageFont.truetype(str(FONT_FA), int(20 * k), layout_engine=ImageFont.Layout.RAQM)
    fa_big = ImageFont.truetype(str(FONT_FA_BOLD), int(28 * k), layout_engine=ImageFont.Layout.RAQM)
    en = ImageFont.truetype(str(FONT_LATIN), int(16 * k))
    right, left, y = w - int(80 * k), int(80 * k), int(90 * k)

    def fa_line(text, font=fa, step=36):
        nonlocal y
        draw.text((right, y), text, font=font, fill=25, anchor="ra", direction="rtl", language="fa")
        y += int(step * k)

    def en_line(text, step=28):
        nonlocal y
        draw.text((left, y), text, font=en, fill=25)
        y += int(step * k)

    d = DOC
    if page == 1:
        fa_line(d["fa_title"], fa_big, 52)
        for line in d["fa_lines"]:
            fa_line(line)
        y += int(20 * k)
        en_line(d["en_title"], 36)
        for line in d["en_lines"]:
            en_line(line)
        y += int(20 * k)
        # The price table, ruled by hand.
        cols = [left, left + int(60 * k), left + int(360 * k), left + int(440 * k), right]
        top = y
        for i in range(5):
            yy = top + i * int(34 * k)
            draw.line([(left, yy), (right, yy)], fill=40, width=max(1, int(k)))
        for x in cols:
            draw.line([(x, top), (x, top + 4 * int(34 * k))], fill=40, width=max(1, int(k)))
        for i, r in enumerate([d["en_table_head"]] + [(r[1], r[3], r[5], r[7]) for r in d["rows"]]):
            for j, c in enumerate(r):
                draw.text((cols[j] + int(6 * k), top + i * int(34 * k) + int(8 * k)), c, font=en, fill=25)
    else:
        fa_line(d["fa_decl_title"], fa_big, 52)
        for line in textwrap.wrap(d["fa_decl"], 60):
            fa_line(line, fa)
        y += int(20 * k)
        en_line(d["en_decl_title"], 36)
        for line in textwrap.wrap(d["en_decl"], 70):
            en_line(line)
        y += int(60 * k)
        fa_line(d["fa_sign"] + ": ....................")
        en_line(d["en_sign"] + ": ....................")
        # A round company stamp, as on a real scanned declaration.
        cx, cy, r = w // 2, y + int(160 * k), int(90 * k)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=60, width=int(4 * k))
        draw.ellipse([cx - r + int(12 * k), cy - r + int(12 * k), cx + r - int(12 * k), cy + r - int(12 * k)],
                     outline=60, width=int(2 * k))
        draw.text((cx, cy), "پارس", font=fa_big, fill=60, anchor="mm", direction="rtl", language="fa")
    # Deterministic specks of dust and a small skew.
    rnd = random.Random(page)
    for _ in range(400):
        x, yy = rnd.randrange(w), rnd.randrange(h)
        draw.point((x, yy), fill=rnd.randrange(120, 220))
    return img.rotate(0.4 if page == 1 else -0.3, resample=Image.Resampling.BICUBIC, fillcolor=245)


def make_img2pdf(ctx: Ctx) -> None:
    src = ctx.work / "src"
    p1, p2 = src / "scan-1.jpg", src / "scan-2.png"
    # Page 1: greyscale JPEG (DCTDecode in the PDF); page 2: bilevel PNG (Flate with PNG predictors).
    scan_page(1, 100).save(p1, quality=55, optimize=True)
    scan_page(2, 150).point(lambda v: 255 if v > 160 else 0).convert("1").save(p2, optimize=True)
    dest = out_path("img2pdf", "img2pdf_scan")
    cmd = ["img2pdf", "--pagesize", "A4", "--title", "Envelope B - scanned declaration",
           "--creationdate", "2025-01-15T09:30:00", "--moddate", "2025-01-15T09:30:00",
           "-o", str(dest), str(p1), str(p2)]
    run(ctx, cmd)
    add(ctx, dest, "img2pdf", "img2pdf",
        "img2pdf --pagesize A4 --title ... --creationdate ... -o img2pdf_scan.pdf scan-1.jpg scan-2.png",
        "Image-only 'scanned' envelope: page 1 a greyscale JPEG embedded as-is (DCTDecode), page 2 a 1-bit PNG "
        "(FlateDecode with PNG predictor); no fonts, no text layer. img2pdf uses its pikepdf engine when "
        "pikepdf is installed (Debian's package depends on it), so the file comes out linearized, PDF 1.3.",
        extra_tools=("pillow",))


# --------------------------------------------------------------------------
# 5. ReportLab
# --------------------------------------------------------------------------
def _fa_visual(text: str) -> str:
    """Shape and reorder Persian for tools without a shaping engine."""
    import arabic_reshaper
    from bidi.algorithm import get_display  # the pure-Python one mirrors brackets; bidi.get_display doesn't

    reshaper = arabic_reshaper.ArabicReshaper(configuration={"delete_harakat": False})
    return get_display(reshaper.reshape(text))


def _reportlab_fonts():
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont("Vazirmatn", str(FONT_FA)))
    pdfmetrics.registerFont(TTFont("Vazirmatn-Bold", str(FONT_FA_BOLD)))
    pdfmetrics.registerFont(TTFont("DejaVuSerif", str(FONT_LATIN)))


def make_reportlab(ctx: Ctx) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.pdfgen import canvas
    from reportlab.platypus import Table, TableStyle

    _reportlab_fonts()
    d = DOC
    W, H = A4
    dest = out_path("reportlab", "reportlab_persian")
    # invariant=1: fixed dates and /ID so reruns give the same bytes.
    c = canvas.Canvas(str(dest), pagesize=A4, invariant=1)
    c.setTitle(d["en_title"])
    c.setAuthor("Pars Sample Engineering Co.")
    c.setSubject("Tender 2003001234000056")

    def fa(text, y, size=12, bold=False):
        c.setFont("Vazirmatn-Bold" if bold else "Vazirmatn", size)
        c.drawRightString(W - 2 * cm, y, _fa_visual(text))

    def en(text, y, size=11):
        c.setFont("DejaVuSerif", size)
        c.drawString(2 * cm, y, text)

    y = H - 2.5 * cm
    fa(d["fa_title"], y, 18, True)
    for line in d["fa_lines"]:
        y -= 0.8 * cm
        fa(line, y)
    y -= 1.2 * cm
    en(d["en_title"], y, 16)
    for line in d["en_lines"]:
        y -= 0.7 * cm
        en(line, y)
    rows = [[_fa_visual(x) for x in reversed(d["fa_table_head"])]]
    rows += [[_fa_visual(x) for x in (r[6], r[4], r[2], r[0])] for r in d["rows"]]
    t = Table(rows, colWidths=[4.5 * cm, 2.5 * cm, 7 * cm, 3 * cm])
    t.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "Vazirmatn", 10),
        ("ALIGN", (0, 0), (-1, -1), "RIGHT"),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee")),
    ]))
    _, th = t.wrapOn(c, W - 4 * cm, H)
    y -= 1 * cm + th
    t.drawOn(c, 2 * cm, y)
    c.showPage()
    y = H - 2.5 * cm
    fa(d["fa_decl_title"], y, 16, True)
    y -= 0.9 * cm
    for line in textwrap.wrap(d["fa_decl"], 70):
        fa(line, y)
        y -= 0.7 * cm
    y -= 0.7 * cm
    en(d["en_decl_title"], y, 14)
    for line in textwrap.wrap(d["en_decl"], 86):
        y -= 0.6 * cm
        en(line, y, 10)
    y -= 1.5 * cm
    fa(d["fa_sign"] + ": ........................", y)
    y -= 0.8 * cm
    en(d["en_sign"] + ": ........................", y, 10)
    c.showPage()
    c.save()
    add(ctx, dest, "reportlab", "reportlab",
        "reportlab.pdfgen.canvas.Canvas(invariant=1) + platypus Table; Persian shaped with "
        "arabic_reshaper + bidi.algorithm.get_display",
        "ReportLab with embedded TrueType subsets (Vazirmatn, DejaVu Serif), Persian pre-shaped into "
        "presentation forms; classic xref; base of several pikepdf shape fixtures.",
        extra_tools=("arabic-reshaper", "python-bidi"))

    # A long (40-page) but small document: signing must not walk pages slowly
    # or rewrite them; the visible seal goes on the last page.
    dest = out_path("reportlab", "reportlab_40_pages")
    c = canvas.Canvas(str(dest), pagesize=A4, invariant=1)
    c.setTitle("Envelope B - technical annexes (40 pages)")
    for n in range(1, 41):
        c.setFont("DejaVuSerif", 14)
        c.drawString(2 * cm, H - 2.5 * cm, f"Annex {n} of 40 - technical specification")
        c.setFont("DejaVuSerif", 10)
        for i in range(12):
            c.drawString(2 * cm, H - (4 + i * 0.6) * cm,
                         f"{n}.{i + 1}  Requirement {n}.{i + 1}: the supplied equipment meets clause {n}.{i + 1}.")
        c.setFont("Vazirmatn", 12)
        c.drawRightString(W - 2 * cm, H - 13 * cm, _fa_visual(f"پیوست {n} از ۴۰ — مشخصات فنی"))
        c.setFont("DejaVuSerif", 9)
        c.drawCentredString(W / 2, 1.5 * cm, f"- {n} -")
        c.showPage()
    c.save()
    add(ctx, dest, "reportlab", "reportlab",
        "reportlab.pdfgen.canvas.Canvas(invariant=1), 40 x showPage()",
        "40 pages in a flat page tree (ReportLab puts all pages under one /Pages node); fonts shared by "
        "every page.", extra_tools=("arabic-reshaper", "python-bidi"))


# --------------------------------------------------------------------------
# 7. fpdf2 with HarfBuzz shaping
# --------------------------------------------------------------------------
def make_fpdf2(ctx: Ctx) -> None:
    from fpdf import FPDF

    d = DOC
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(d["en_title"])
    pdf.set_author("Pars Sample Engineering Co.")
    pdf.add_font("Vazirmatn", "", str(FONT_FA))
    pdf.add_font("Vazirmatn", "B", str(FONT_FA_BOLD))
    pdf.add_font("DejaVuSerif", "", str(FONT_LATIN))
    # uharfbuzz does the joining; fpdf2's own bidi pass does the reordering.
    pdf.set_text_shaping(True)
    pdf.set_margins(20, 20, 20)

    def fa(text, size=12, bold=False, h=9):
        pdf.set_font("Vazirmatn", "B" if bold else "", size)
        pdf.multi_cell(0, h, text, align="R", new_x="LMARGIN", new_y="NEXT")

    def en(text, size=11, h=7):
        pdf.set_font("DejaVuSerif", "", size)
        pdf.multi_cell(0, h, text, align="L", new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    fa(d["fa_title"], 18, True, 12)
    for line in d["fa_lines"]:
        fa(line)
    fa(d["fa_body"])
    pdf.ln(4)
    en(d["en_title"], 15, 9)
    for line in d["en_lines"]:
        en(line)
    en(d["en_body"])
    pdf.ln(4)
    pdf.set_font("Vazirmatn", "", 10)
    with pdf.table(col_widths=(45, 20, 75, 20), text_align="RIGHT") as table:
        for r in [list(reversed(d["fa_table_head"]))] + [[r[6], r[4], r[2], r[0]] for r in d["rows"]]:
            row = table.row()
            for cell in r:
                row.cell(cell)
    pdf.add_page()
    fa(d["fa_decl_title"], 16, True, 11)
    fa(d["fa_decl"])
    en(d["en_decl_title"], 14, 9)
    en(d["en_decl"])
    pdf.ln(10)
    fa(d["fa_sign"] + ": ........................")
    en(d["en_sign"] + ": ........................")
    dest = out_path("fpdf2", "fpdf2_persian")
    pdf.output(str(dest))
    add(ctx, dest, "fpdf2", "fpdf2",
        "fpdf.FPDF(); add_font(Vazirmatn); set_text_shaping(True); multi_cell/table; output()",
        "fpdf2 (the writer Pakat itself uses for reports) with uharfbuzz shaping: Type0/CIDFontType2 subsets, "
        "classic xref.", extra_tools=("uharfbuzz",))


# --------------------------------------------------------------------------
# 8, 9, 11. qpdf transforms, attachments and encryption
# --------------------------------------------------------------------------
def make_qpdf(ctx: Ctx) -> None:
    base = FILES / "libreoffice" / "lo_plain.pdf"
    transforms = [
        ("qpdf_linearized", ["--linearize"], base,
         "Linearized ('fast web view'): hint stream, first-page xref section plus main xref; an incremental "
         "update must append after the main trailer and leave the linearization dictionary stale."),
        ("qpdf_object_streams", ["--object-streams=generate"], base,
         "Object streams and a cross-reference stream (PDF 1.5 compressed xref); the signer must append an "
         "xref stream (or a hybrid) that chains with /Prev."),
        ("qpdf_qdf", ["--qdf"], base,
         "QDF: qpdf's editable form - %QDF-1.0 comments, uncompressed streams, every /Length an indirect object."),
        ("qpdf_pdf20", ["--force-version=2.0"], base,
         "Header rewritten to %PDF-2.0 (content unchanged); the signer must not downgrade the version."),
    ]
    for name, opts, src, note in transforms:
        dest = out_path("qpdf", name)
        run(ctx, ["qpdf", "--deterministic-id", *opts, str(src), str(dest)])
        add(ctx, dest, "qpdf", "qpdf", f"qpdf --deterministic-id {' '.join(opts)} {src.name} {dest.name}", note)
    src = FILES / "qpdf" / "qpdf_object_streams.pdf"
    dest = out_path("qpdf", "qpdf_classic_xref")
    run(ctx, ["qpdf", "--deterministic-id", "--object-streams=disable", str(src), str(dest)])
    add(ctx, dest, "qpdf", "qpdf",
        f"qpdf --deterministic-id --object-streams=disable {src.name} {dest.name}",
        "Round trip back from object streams: classic xref table, no object streams, direct /Length.")

    # 9. PDF/A-3 with an embedded e-invoice.
    invoice = ctx.work / "src" / "invoice.xml"
    invoice.write_text(INVOICE_XML, encoding="utf-8")
    src = FILES / "libreoffice" / "lo_pdfa3b.pdf"
    dest = out_path("qpdf", "qpdf_pdfa3_attachment")
    cmd = ["qpdf", "--deterministic-id", str(src), "--add-attachment", str(invoice), "--key=invoice.xml",
           "--mimetype=text/xml", "--description=Electronic invoice for envelope C",
           f"--creationdate={PDF_DATE}", f"--moddate={PDF_DATE}", "--", str(dest)]
    run(ctx, cmd)
    add(ctx, dest, "qpdf", "qpdf",
        "qpdf --deterministic-id lo_pdfa3b.pdf --add-attachment invoice.xml --key=invoice.xml "
        "--mimetype=text/xml --description=... -- qpdf_pdfa3_attachment.pdf",
        "LibreOffice PDF/A-3b plus an embedded XML invoice (EmbeddedFiles name tree, /EF stream with /Params). "
        "qpdf adds no /AF or /AFRelationship, so strictly this is no longer conforming PDF/A-3 - as many "
        "real 'attached' files are.")

    # 11. Encryption.  Owner-password-only files open without a password;
    # whether a signature may be added depends on the permission bits.
    enc = [
        ("qpdf_aes256_owner_only", base, ["--encrypt", "", OWNER_PASSWORD, "256", "--print=low", "--"],
         "sealable",
         "AES-256 (R6), empty user password, owner password set; every permission but high-quality printing. "
         "Opens without a password; signing is permitted."),
        ("qpdf_aes128_no_modify", base,
         ["--encrypt", "", OWNER_PASSWORD, "128", "--use-aes=y", "--modify=none", "--annotate=n", "--form=n",
          "--"],
         {"refused": "PDF_SIGNING_NOT_PERMITTED"},
         "AES-128 (R4), empty user password, no modify/annotate/form permission: opens without a password, but "
         "adding a signature field is forbidden by the permissions."),
        ("qpdf_rc4_128_forms", FILES / "libreoffice" / "lo_form.pdf",
         ["--allow-weak-crypto", "--encrypt", "", OWNER_PASSWORD, "128", "--use-aes=n", "--modify=all",
          "--extract=n", "--"],
         "sealable",
         "RC4-128 (R3, V2), empty user password, the LibreOffice form; changes allowed, copying forbidden: "
         "signing is permitted."),
        ("qpdf_aes128_annotate_only", FILES / "libreoffice" / "lo_form.pdf",
         ["--encrypt", "", OWNER_PASSWORD, "128", "--use-aes=y", "--modify=annotate", "--"],
         {"refused": "PDF_SIGNING_NOT_PERMITTED"},
         "AES-128 (R4), empty user password, the LibreOffice form with only 'annotate and fill forms' (bits 6 "
         "and 9, not 4): Acrobat's 'commenting, filling in form fields, and signing existing signature fields'. "
         "A new signature field is a new form field, which needs bit 4 as well (ISO 32000-2, Table 22)."),
        ("qpdf_user_password", base, ["--encrypt", USER_PASSWORD, OWNER_PASSWORD, "256", "--"],
         {"refused": "PDF_ENCRYPTED"},
         f"AES-256 with a user password ({USER_PASSWORD!r}): cannot be opened, so cannot honestly be sealed."),
    ]
    for name, src, opts, expect, note in enc:
        dest = out_path("qpdf", name)
        run(ctx, ["qpdf", *opts[:opts.index("--encrypt")], str(src), *opts[opts.index("--encrypt"):],
                  str(dest)])
        shown = " ".join(f"'{o}'" if o == "" else o for o in opts)
        add(ctx, dest, "qpdf", "qpdf", f"qpdf {src.name} {shown} {dest.name}", note, expect=expect,
            password=USER_PASSWORD if name == "qpdf_user_password" else None)


# --------------------------------------------------------------------------
# 10, 12. pypdf: filled forms and incremental updates
# --------------------------------------------------------------------------
FORM_VALUES = {
    "bidder_name": "Pars Sample Engineering Co.",
    "accept_terms": "/Yes",
    "currency": "EUR",
    "delivery_city": "Isfahan",
}


def make_pypdf(ctx: Ctx) -> None:
    from pypdf import PdfWriter
    from pypdf.annotations import FreeText, Text

    form = FILES / "libreoffice" / "lo_form.pdf"
    for name, regen, note in [
        ("pypdf_form_filled_needappearances", True,
         "LibreOffice form filled by pypdf with auto_regenerate=True: values set and appearance streams "
         "written, /NeedAppearances true, so viewers rebuild the widgets (poppler then lacks /ZaDb for the "
         "ticked checkbox). pypdf's clone rewrites the file with a %PDF-1.3 header."),
        ("pypdf_form_filled_appearances", False,
         "LibreOffice form filled by pypdf with auto_regenerate=False: pypdf writes the widget appearance "
         "streams itself and sets /NeedAppearances false; %PDF-1.3 header as above."),
    ]:
        w = PdfWriter(clone_from=str(form))
        w.update_page_form_field_values(w.pages[0], FORM_VALUES, auto_regenerate=regen)
        dest = out_path("pypdf", name)
        with open(dest, "wb") as f:
            w.write(f)
        add(ctx, dest, "pypdf", "pypdf",
            f"PdfWriter(clone_from=lo_form.pdf).update_page_form_field_values(page0, values, "
            f"auto_regenerate={regen}); write()", note)

    # Incremental updates on LibreOffice's plain export: 2 and 3 revisions.
    base = FILES / "libreoffice" / "lo_plain.pdf"
    one = out_path("pypdf", "pypdf_incremental_1")
    w = PdfWriter(str(base), incremental=True)
    w.add_metadata({"/Subject": "Reviewed by the procurement clerk", "/ModDate": PDF_DATE})
    w.add_annotation(page_number=0, annotation=Text(
        rect=(500, 760, 520, 780), text="Checked against the tender notice.", open=False))
    with open(one, "wb") as f:
        w.write(f)
    add(ctx, one, "pypdf", "pypdf",
        "PdfWriter(lo_plain.pdf, incremental=True); add_metadata; add_annotation(Text); write()",
        "One incremental update by pypdf on the LibreOffice file (2 revisions): new Info, a sticky note and "
        "the rewritten first page appended after the original %%EOF. pypdf writes the update with an xref "
        "stream after LibreOffice's classic table (mixed sections) and a /Size one too large (qpdf warns).")
    two = out_path("pypdf", "pypdf_incremental_2")
    w = PdfWriter(str(one), incremental=True)
    w.add_annotation(page_number=1, annotation=FreeText(
        text="Seal here", rect=(350, 120, 545, 160), font="Helvetica", font_size="12pt", border_color="0000ff"))
    with open(two, "wb") as f:
        w.write(f)
    add(ctx, two, "pypdf", "pypdf",
        "PdfWriter(pypdf_incremental_1.pdf, incremental=True); add_annotation(FreeText); write()",
        "Two incremental updates by pypdf (3 revisions): the signer appends a fourth. Quirks of pypdf 7.1: "
        "the second update gives its FreeText annotation object number 36, the number of the first update's "
        "xref stream (pyHanko's strict reader refuses that: 'XRef stream objects must not be clobbered'), "
        "and its trailer has no /Info, so the document info written before is no longer reachable.")


# --------------------------------------------------------------------------
# 10, 15. pikepdf: appearance generation and structural shapes
# --------------------------------------------------------------------------
def make_pikepdf(ctx: Ctx) -> None:
    # 10. Appearances generated by qpdf, /NeedAppearances removed.
    src = FILES / "pypdf" / "pypdf_form_filled_needappearances.pdf"
    dest = out_path("pikepdf", "pikepdf_form_appearances_generated")
    with pikepdf.open(src) as pdf:
        pdf.generate_appearance_streams()
        if "/NeedAppearances" in pdf.Root.AcroForm:
            del pdf.Root.AcroForm["/NeedAppearances"]
        pdf.save(dest, deterministic_id=True)
    add(ctx, dest, "pikepdf", "pikepdf",
        "pikepdf.open(pypdf_form_filled_needappearances.pdf); generate_appearance_streams(); "
        "del AcroForm.NeedAppearances; save()",
        "Filled form whose widget appearances were generated by qpdf; /NeedAppearances absent.")

    base = FILES / "reportlab" / "reportlab_persian.pdf"

    # 15a. /Annots as an indirect array object, used by this page only.
    dest = out_path("pikepdf", "pikepdf_annots_indirect_array")
    with pikepdf.open(base) as pdf:
        page = pdf.pages[0]
        link = pdf.make_indirect(Dictionary(
            Type=Name.Annot, Subtype=Name.Link, Rect=[56, 40, 300, 60], Border=[0, 0, 0],
            A=Dictionary(S=Name.URI, URI=String("https://example.org/tender/2003001234000056"))))
        note = pdf.make_indirect(Dictionary(
            Type=Name.Annot, Subtype=Name.Text, Rect=[540, 800, 560, 820], Contents=String("Page 1 checked"),
            Open=False, F=4))
        page.obj.Annots = pdf.make_indirect(Array([link, note]))
        pdf.save(dest, deterministic_id=True)
    add(ctx, dest, "pikepdf", "pikepdf",
        "pikepdf: page.obj.Annots = pdf.make_indirect(Array([link, text])); save()",
        "Page 1's /Annots is an indirect reference to an array object (not an inline array): a signer that "
        "adds a widget must update that array object (or replace it), not assume a direct array.")

    # 15b. Field hierarchy: a non-terminal parent with two child fields, and
    # one field whose value is shown by two widget kids on two pages.
    dest = out_path("pikepdf", "pikepdf_field_kids")
    with pikepdf.open(base) as pdf:
        helv = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica,
                                            Encoding=Name.WinAnsiEncoding))
        dr = Dictionary(Font=Dictionary(Helv=helv))

        def appearance(text, w, h):
            content = (f"/Tx BMC q BT /Helv 10 Tf 0 g 2 {h / 2 - 3:.1f} Td ({text}) Tj ET Q EMC").encode()
            return pdf.make_stream(content, Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, w, h],
                                   Resources=dr)

        def widget(page, rect, text, **extra):
            w, h = rect[2] - rect[0], rect[3] - rect[1]
            annot = pdf.make_indirect(Dictionary(
                Type=Name.Annot, Subtype=Name.Widget, Rect=rect, F=4, P=page.obj,
                MK=Dictionary(BC=[0, 0, 0.6]), AP=Dictionary(N=appearance(text, w, h)), **extra))
            page.obj.Annots = _append_annot(page, annot)
            return annot

        p1, p2 = pdf.pages[0], pdf.pages[1]
        parent = pdf.make_indirect(Dictionary(T=String("bidder"), FT=Name.Tx, Kids=Array()))
        name_f = widget(p1, [60, 120, 300, 140], "Pars Sample Engineering Co.", T=String("name"),
                        V=String("Pars Sample Engineering Co."), Parent=parent, DA=String("/Helv 10 Tf 0 g"))
        nid_f = widget(p1, [320, 120, 540, 140], "10101234567", T=String("national_id"),
                       V=String("10101234567"), Parent=parent, DA=String("/Helv 10 Tf 0 g"))
        parent.Kids = Array([name_f, nid_f])
        total = pdf.make_indirect(Dictionary(T=String("total"), FT=Name.Tx, V=String("27,470,000,000 IRR"),
                                             DA=String("/Helv 10 Tf 0 g"), Kids=Array()))
        k1 = widget(p1, [60, 90, 300, 110], "27,470,000,000 IRR", Parent=total)
        k2 = widget(p2, [60, 90, 300, 110], "27,470,000,000 IRR", Parent=total)
        total.Kids = Array([k1, k2])
        pdf.Root.AcroForm = pdf.make_indirect(Dictionary(
            Fields=Array([parent, total]), DR=dr, DA=String("/Helv 10 Tf 0 g")))
        pdf.save(dest, deterministic_id=True)
    add(ctx, dest, "pikepdf", "pikepdf",
        "pikepdf: AcroForm with /Kids trees built by hand on reportlab_persian.pdf; save()",
        "Field hierarchy: non-terminal 'bidder' with terminal kids 'bidder.name' and 'bidder.national_id' "
        "(field+widget merged), and terminal 'total' with two pure widget kids on pages 1 and 2; "
        "appearances present, no /NeedAppearances; indirect AcroForm.")

    # 9b. PDF/A-3 associated file done properly: /AF and /AFRelationship.
    src = FILES / "libreoffice" / "lo_pdfa3b.pdf"
    dest = out_path("pikepdf", "pikepdf_pdfa3_associated_file")
    with pikepdf.open(src) as pdf:
        spec = pikepdf.AttachedFileSpec(
            pdf, INVOICE_XML.encode(), description="Electronic invoice for envelope C",
            filename="invoice.xml", mime_type="text/xml", creation_date=PDF_DATE, mod_date=PDF_DATE,
            relationship=Name.Data)
        pdf.attachments["invoice.xml"] = spec
        pdf.Root.AF = Array([spec.obj])
        pdf.save(dest, deterministic_id=True)
    add(ctx, dest, "pikepdf", "pikepdf",
        "pikepdf: attachments['invoice.xml'] = AttachedFileSpec(..., relationship=/Data); "
        "Root.AF = [spec]; save()",
        "LibreOffice PDF/A-3b plus an associated XML invoice the PDF/A-3 way (/AF in the catalog, "
        "/AFRelationship /Data, /Subtype text/xml), like Factur-X/ZUGFeRD envelopes.")


def _append_annot(page, annot):
    annots = page.obj.get("/Annots")
    if annots is None:
        return Array([annot])
    annots.append(annot)
    return annots


# --------------------------------------------------------------------------
# Hand-made files (no tool here writes these shapes)
# --------------------------------------------------------------------------
class RawPDF:
    """A tiny byte-level PDF writer: objects in order, offsets remembered."""

    def __init__(self, version: str = "1.7"):
        self.buf = bytearray(f"%PDF-{version}\n%\xe2\xe3\xcf\xd3\n".encode("latin-1"))
        self.offsets: dict[int, int] = {}

    def obj(self, num: int, body: bytes) -> None:
        self.offsets[num] = len(self.buf)
        self.buf += b"%d 0 obj\n" % num + body + b"\nendobj\n"

    def stream(self, num: int, data: bytes, extra: bytes = b"", compress: bool = True) -> None:
        if compress:
            data = zlib.compress(data, 9)
            extra += b"/Filter/FlateDecode"
        self.obj(num, b"<<%s/Length %d>>\nstream\n" % (extra, len(data)) + data + b"\nendstream")

    def xref_table(self, entries: dict[int, bytes], size: int) -> int:
        """Write an xref table from {objnum: 20-byte entry}; returns its offset."""
        start = len(self.buf)
        self.buf += b"xref\n"
        nums = sorted(entries)
        i = 0
        while i < len(nums):  # contiguous subsections
            j = i
            while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
                j += 1
            self.buf += b"%d %d\n" % (nums[i], j - i + 1)
            for n in nums[i:j + 1]:
                self.buf += entries[n]
            i = j + 1
        return start


def _entry(offset: int, gen: int, kind: bytes) -> bytes:
    return b"%010d %05d %s\r\n" % (offset, gen, kind)


def _page_content(lines: list[str], x=72, y=770, size=12, rotate=False) -> bytes:
    out = [b"BT", b"/F1 %d Tf" % size]
    if rotate:
        # Drawn turned 90 degrees anticlockwise: upright once /Rotate 90 turns the page.
        out.append(b"0 1 -1 0 %d %d Tm" % (y - 700, x))
    else:
        out.append(b"%d %d Td" % (x, y))
    out.append(b"%d TL" % int(size * 1.4))
    for ln in lines:
        esc = ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        out.append(b"(" + esc.encode("latin-1") + b") Tj T*")
    out.append(b"ET")
    return b"\n".join(out) + b"\n"


FILE_ID = hashlib.md5(b"pakat-fixtures").hexdigest().upper().encode()


def make_handmade(ctx: Ctx) -> None:
    _handmade_hybrid(ctx, word_like=True)
    _handmade_hybrid(ctx, word_like=False)
    _handmade_inherited(ctx)
    _handmade_freed_object(ctx)
    _handmade_trailing(ctx)


def _handmade_hybrid(ctx: Ctx, word_like: bool) -> None:
    """A hybrid-reference file, shaped like Microsoft Word's 'Save as PDF'.

    Word writes its dictionaries into an object stream, lists them in a
    cross-reference *stream*, and still writes a classic xref table (where
    those objects appear as free entries) whose trailer points at the stream
    with /XRefStm.  Word then ends with a second, empty 'xref 0 0' section
    whose trailer carries /Prev and /XRefStm.  PDF 1.4 readers see the table;
    PDF 1.5+ readers merge in the stream.  Nothing on Debian writes this.
    """
    raw = RawPDF("1.7")
    info = b"<</Title(Envelope B - Technical proposal)/Author(Pars Sample Engineering Co.)" \
           b"/Creator(Microsoft\\256 Word for Microsoft 365)/Producer(Pakat fixtures, imitating Microsoft\\256 " \
           b"Word for Microsoft 365)/CreationDate(" + PDF_DATE.encode() + b"+03'30')>>"
    lines = ["Envelope B - Technical proposal", "",
             "Tender no.: 2003001234000056",
             "Bidder: Pars Sample Engineering Co. (private joint stock)",
             "This file imitates Microsoft Word's hybrid-reference PDF:",
             "objects 2, 3 and 5 live in object stream 7 and are listed",
             "only in the cross-reference stream named by /XRefStm."]
    content = _page_content(lines)
    # Objects that go into the object stream (as Word does with dictionaries).
    packed = {
        2: b"<</Type/Pages/Count 1/Kids[3 0 R]>>",
        3: b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595.32 841.92]/Resources<</Font<</F1 5 0 R>>"
           b"/ProcSet[/PDF/Text]>>/Contents 4 0 R/Group<</Type/Group/S/Transparency/CS/DeviceRGB>>"
           b"/Tabs/S/StructParents 0>>",
        5: b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>",
    }
    raw.obj(1, b"<</Type/Catalog/Pages 2 0 R/Lang(en-GB)/MarkInfo<</Marked false>>>>")
    raw.stream(4, content)
    raw.obj(6, info)
    # Object stream 7: header of "objnum offset" pairs, then the objects.
    header, body = b"", b""
    for n, o in packed.items():
        header += b"%d %d " % (n, len(body))
        body += o + b"\n"
    raw.stream(7, header + body, b"/Type/ObjStm/N %d/First %d" % (len(packed), len(header)))
    # Cross-reference stream 8: only the compressed objects (type 2 entries).
    size = 9
    rows = b""
    index = []
    for i, n in enumerate(packed):
        rows += bytes([2]) + (7).to_bytes(4, "big") + i.to_bytes(2, "big")
        index += [n, 1]
    raw.stream(8, rows, b"/Type/XRef/W[1 4 2]/Index[%s]/Size %d/Root 1 0 R/Info 6 0 R/ID[<%s><%s>]" % (
        b" ".join(b"%d" % x for x in index), size, FILE_ID, FILE_ID), compress=True)
    xrefstm = raw.offsets[8]
    entries = {}
    if word_like:
        # Word lists the packed objects in its table as free (gen 65535), in a
        # free list.  That only works because its trailer with /XRefStm is in
        # a later section: readers take the newer section's stream entries
        # before the older table's free ones.
        free = [0, *packed]
        for k, n in enumerate(free):
            nxt = free[k + 1] if k + 1 < len(free) else 0
            entries[n] = _entry(nxt, 65535, b"f")
    else:
        # In a single section the packed objects are simply left out of the
        # table (free entries there would hide them: the table is read first).
        entries[0] = _entry(0, 65535, b"f")
    for n in (1, 4, 6, 7, 8):
        entries[n] = _entry(raw.offsets[n], 0, b"n")
    trailer_core = b"/Size %d/Root 1 0 R/Info 6 0 R/ID[<%s><%s>]" % (size, FILE_ID, FILE_ID)
    first = raw.xref_table(entries, size)
    if word_like:
        raw.buf += b"trailer\n<<" + trailer_core + b">>\nstartxref\n%d\n%%%%EOF\n" % first
        second = len(raw.buf)
        raw.buf += (b"xref\n0 0\ntrailer\n<<" + trailer_core
                    + b"/Prev %d/XRefStm %d>>\nstartxref\n%d\n%%%%EOF\n" % (first, xrefstm, second))
        name, note = "hybrid_xref_word_like", (
            "Hand-made imitation of Microsoft Word's output (no tool on Debian writes it): a classic xref table "
            "with the object-stream objects listed as free, then an empty 'xref 0 0' section whose trailer has "
            "/Prev and /XRefStm pointing at a cross-reference stream (type-2 entries for objects in ObjStm 7). "
            "Two %%EOF markers but one authoring save.")
    else:
        raw.buf += b"trailer\n<<" + trailer_core + b"/XRefStm %d>>\nstartxref\n%d\n%%%%EOF\n" % (xrefstm, first)
        name, note = "hybrid_xref_single_section", (
            "Hand-made hybrid-reference file in the plain form of ISO 32000 7.5.8.4: one classic xref table "
            "(objects 2, 3, 5 left out of it) whose trailer has /XRefStm pointing at a cross-reference stream "
            "listing them in ObjStm 7.")
    dest = out_path("handmade", name)
    dest.write_bytes(bytes(raw.buf))
    add(ctx, dest, "handmade", "python", "make_fixtures.py RawPDF (bytes written by hand)", note)


def _handmade_inherited(ctx: Ctx) -> None:
    """A page tree where /MediaBox, /Rotate and /Resources live on /Pages nodes."""
    raw = RawPDF("1.4")
    raw.obj(1, b"<</Type/Catalog/Pages 2 0 R>>")
    # Root node: A4 MediaBox, Rotate 90 and the font resources, inherited by all.
    raw.obj(2, b"<</Type/Pages/Kids[3 0 R 6 0 R]/Count 3/MediaBox[0 0 595 842]/Rotate 90"
               b"/Resources<</Font<</F1 9 0 R>>>>>>")
    # An intermediate node with no attributes of its own.
    raw.obj(3, b"<</Type/Pages/Parent 2 0 R/Kids[4 0 R 5 0 R]/Count 2>>")
    raw.obj(4, b"<</Type/Page/Parent 3 0 R/Contents 7 0 R>>")
    raw.obj(5, b"<</Type/Page/Parent 3 0 R/Contents 8 0 R>>")
    # The last page overrides the inherited rotation with its own /Rotate 0.
    raw.obj(6, b"<</Type/Page/Parent 2 0 R/Rotate 0/Contents 10 0 R>>")
    raw.stream(7, _page_content(["Page 1: MediaBox and Rotate 90 inherited from the root /Pages node",
                                 "through an intermediate /Pages node."], rotate=True, x=72, y=770))
    raw.stream(8, _page_content(["Page 2: the same inheritance; a landscape-reading page."], rotate=True))
    raw.stream(10, _page_content(["Page 3: inherits MediaBox and Resources, overrides /Rotate 0.",
                                  "Envelope B - Technical proposal"]))
    raw.obj(9, b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>")
    raw.obj(11, b"<</Title(Inherited page attributes)/Producer(Pakat fixtures RawPDF)/CreationDate("
                + PDF_DATE.encode() + b")>>")
    entries = {0: _entry(0, 65535, b"f")}
    entries.update({n: _entry(off, 0, b"n") for n, off in raw.offsets.items()})
    start = raw.xref_table(entries, 12)
    raw.buf += b"trailer\n<</Size 12/Root 1 0 R/Info 11 0 R/ID[<%s><%s>]>>\nstartxref\n%d\n%%%%EOF\n" % (
        FILE_ID, FILE_ID, start)
    dest = out_path("handmade", "inherited_mediabox_rotate")
    dest.write_bytes(bytes(raw.buf))
    add(ctx, dest, "handmade", "python", "make_fixtures.py RawPDF (bytes written by hand)",
        "Hand-made (qpdf/pikepdf push inherited attributes down when they touch pages): /MediaBox, "
        "/Rotate 90 and /Resources on the root /Pages node, a two-level page tree, pages 1-2 inherit Rotate 90, "
        "page 3 overrides /Rotate 0. A visible seal must use the inherited box and rotation.")


def _append_increment(data: bytes, objects: dict[tuple[int, int], bytes],
                      freed: dict[int, int], size: int) -> bytes:
    """Append one incremental-update section with a classic xref table.

    objects maps (num, gen) to the body to write; freed maps an object
    number to the generation its 'f' entry gets (old gen + 1).  Object 0
    heads the free list, which links the freed numbers in ascending order.
    The trailer repeats /Root, /Info and /ID from the previous trailer.
    """
    with pikepdf.open(io.BytesIO(data)) as pdf:
        root = pdf.Root.objgen
        info = pdf.trailer.Info.objgen if "/Info" in pdf.trailer else None
        ids = pdf.trailer.ID.unparse() if "/ID" in pdf.trailer else None
    prev = int(re.findall(rb"startxref\s+(\d+)", data)[-1])
    out = bytearray(data)
    if not out.endswith(b"\n"):
        out += b"\n"
    entries: dict[int, bytes] = {}
    for (num, gen), body in objects.items():
        entries[num] = _entry(len(out), gen, b"n")
        out += b"%d %d obj\n" % (num, gen) + body + b"\nendobj\n"
    chain = sorted(freed)
    entries[0] = _entry(chain[0] if chain else 0, 65535, b"f")
    for i, num in enumerate(chain):
        entries[num] = _entry(chain[i + 1] if i + 1 < len(chain) else 0, freed[num], b"f")
    xref = len(out)
    out += b"xref\n"
    for num in sorted(entries):  # one-entry subsections keep it simple and valid
        out += b"%d 1\n" % num + entries[num]
    trailer = b"/Size %d/Root %d %d R/Prev %d" % (size, root[0], root[1], prev)
    if info:
        trailer += b"/Info %d %d R" % info
    if ids:
        trailer += b"/ID" + ids
    out += b"trailer\n<<" + trailer + b">>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _handmade_freed_object(ctx: Ctx) -> None:
    """Two hand-written increments: add a sticky note, then delete it.

    No tool here writes an 'f' entry in an incremental update (pypdf never
    does; Acrobat does when a comment is deleted), so the script writes
    both updates itself, with classic xref tables like the LibreOffice base.
    """
    data = (FILES / "libreoffice" / "lo_plain.pdf").read_bytes()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        page = pdf.pages[0].obj
        pnum, pgen = page.objgen
        plain_page = Dictionary({k: v for k, v in page.items() if k != "/Annots"})
        size = int(pdf.trailer.Size)
        note = size  # the new annotation takes the next free number
        # The page dict as PDF syntax, with an /Annots entry spliced in.
        page_with = plain_page.unparse()[:-2] + b"/Annots[%d 0 R]>>" % note
        page_without = plain_page.unparse()
    annot = (b"<</Type/Annot/Subtype/Text/Rect[500 760 520 780]/Contents(Checked against the tender notice.)"
             b"/Open false/F 4/P %d %d R/M(" % (pnum, pgen) + PDF_DATE.encode() + b")>>")
    # Revision 2: the note and the page that lists it.
    data = _append_increment(data, {(note, 0): annot, (pnum, pgen): page_with}, {}, size + 1)
    # Revision 3: the page without it; the note's number goes on the free list
    # with generation 1, so a reused number would be 'note 1 obj'.
    data = _append_increment(data, {(pnum, pgen): page_without}, {note: 1}, size + 1)
    dest = out_path("handmade", "incremental_freed_object")
    dest.write_bytes(data)
    add(ctx, dest, "handmade", "python",
        "lo_plain.pdf + two hand-written increments (make_fixtures.py _append_increment)",
        f"Three revisions, all classic xref tables: LibreOffice original; an update adding a sticky note "
        f"(object {note}) to page 1; an update that deletes it the way Acrobat does - page rewritten, object "
        f"{note} given an 'f' entry with generation 1, linked from object 0's free-list head. Written by hand "
        f"because no tool here writes free entries in an increment.")


def _handmade_trailing(ctx: Ctx) -> None:
    """Bytes after the final %%EOF, as upload gateways and mailers leave them."""
    base = FILES / "libreoffice" / "lo_plain.pdf"
    data = base.read_bytes()
    for name, tail, note in [
        ("trailing_nul_padding", b"\r\n" + b"\0" * 500,
         "LibreOffice's plain export with CRLF plus 500 NUL bytes after %%EOF (block padding left by some "
         "upload gateways); the signer must append after the real end, or strip the padding, and the "
         "/ByteRange must cover what is hashed."),
        ("trailing_text_line", b"Uploaded via gateway 2025-01-15T09:30:00Z id=7f3a9c\n",
         "LibreOffice's plain export with a short text line appended after %%EOF."),
    ]:
        dest = out_path("handmade", name)
        dest.write_bytes(data + tail)
        add(ctx, dest, "handmade", "python", f"lo_plain.pdf bytes + {tail[:12]!r}... appended", note)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep-work", type=Path, help="keep sources and renders in this folder")
    args = ap.parse_args()
    work = args.keep_work or Path(tempfile.mkdtemp(prefix="pakat-fixtures-"))
    work.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(work.resolve())
    if FILES.exists():
        shutil.rmtree(FILES)
    FILES.mkdir(parents=True)
    for step in STEPS:
        print(f"[{step.__name__}]")
        step(ctx)
    failures = {}
    for entry in ctx.entries:
        probs = check(ctx, entry)
        if probs:
            failures[entry["file"]] = probs
    for entry in ctx.entries:
        for w in entry.pop("_warnings", []):
            print(f"  warning {entry['file']}: {w}")
        rev = entry.pop("_pyhanko_revisions", None)
        if rev is not None and rev != entry["structure"]["revisions"]:
            print(f"  note {entry['file']}: pyHanko counts {rev} revisions, "
                  f"manifest {entry['structure']['revisions']}")
    MANIFEST.write_text(json.dumps(ctx.entries, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    total = sum((HERE / e["file"]).stat().st_size for e in ctx.entries)
    print(f"{len(ctx.entries)} fixtures, {total // 1024} KB in all; manifest at {MANIFEST}")
    if failures:
        for f, probs in failures.items():
            print(f"FAILED {f}:\n  " + "\n  ".join(probs))
        sys.exit(1)
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)


STEPS = [
    make_libreoffice,
    make_chromium,
    make_weasyprint,
    make_ghostscript,   # after chromium: its PDF/A-2b is distilled from the Chromium file
    make_img2pdf,
    make_reportlab,
    make_fpdf2,
    make_qpdf,
    make_pypdf,
    make_pikepdf,       # after pypdf and reportlab: it transforms their files
    make_handmade,
]

if __name__ == "__main__":
    main()
