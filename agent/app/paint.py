"""Text drawn into PNG images with the bundled Vazirmatn font, so Persian shows joined and right to left.

Tk lays text out without shaping or the bidi algorithm on X11 (Persian
letters come out separate and in the wrong order), so every line a person
reads is drawn by Pillow's Raqm layout (HarfBuzz shaping, FriBiDi ordering)
and shown as an image. A right-to-left line is right-aligned. Nothing here
needs a display.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache

from PIL import Image, ImageDraw, ImageFont, features

from pakat.fonts import BOLD, REGULAR
from pakat.text import direction

INK = (20, 20, 20)
PAPER = (255, 255, 255)
LINE_GAP = 6


@cache
def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont:
    # Without Raqm (a Pillow built without it) the basic layout still draws, unjoined: better than nothing.
    engine = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(BOLD if bold else REGULAR), size, layout_engine=engine)


def wrap(text: str, width: int, font: ImageFont.FreeTypeFont) -> list[str]:
    """``text`` cut at spaces into lines no wider than ``width`` pixels (a longer word stays whole)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return lines


def text_image(
    lines: Sequence[str],
    width: int,
    *,
    size: int = 15,
    bold: bool = False,
    background: tuple[int, int, int] = PAPER,
) -> Image.Image:
    """The lines, wrapped to ``width`` pixels; each right-aligned when it reads right to left."""
    font = _font(size, bold)
    rows = [(row, direction(line)) for line in lines for row in wrap(line, width, font)]
    height = size + LINE_GAP + 8
    image = Image.new("RGB", (width, max(1, len(rows)) * height + 4), background)
    draw = ImageDraw.Draw(image)
    for n, (row, way) in enumerate(rows):
        left = width - int(font.getlength(row)) if way == "rtl" else 0
        draw.text((max(0, left), 2 + n * height), row, font=font, fill=INK)
    return image


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG, which Tk 8.6 reads itself."""
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def fit(png: bytes, max_width: int, max_height: int) -> Image.Image:
    """A PNG (the server's preview) scaled down to fit the box, proportions kept."""
    with Image.open(io.BytesIO(png)) as opened:
        opened.load()
        image = opened.convert("RGB")
    image.thumbnail((max_width, max_height))
    return image
