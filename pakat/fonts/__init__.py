"""The vendored Vazirmatn font (SIL OFL, licence beside it), shared by everything that draws Persian.

It lives here, not under ``validation`` or ``signer``, so the PDF report and the
visible signature block use one copy without either package importing the other.
"""

from __future__ import annotations

from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent
REGULAR = FONT_DIR / "Vazirmatn-Regular.ttf"
BOLD = FONT_DIR / "Vazirmatn-Bold.ttf"
