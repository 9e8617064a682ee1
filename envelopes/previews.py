"""First-page previews for the agent: what the user is about to sign, as a small PNG.

Rendered by poppler's ``pdftoppm`` in a child process with a time and memory
limit (the PDF is a stranger's), once per revision digest, and cached beside
the stored documents.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from pakat import errors
from pakat.errors import PakatError

PREVIEW_WIDTH = 800
_TIMEOUT_SECONDS = 20
_MEMORY_LIMIT = 1 << 30


def first_page_png(pdf: Path, sha256: str, cache: Path) -> bytes:
    """The first page of ``pdf`` (whose digest is ``sha256``) as a PNG at most 800 px wide."""
    cached = cache / f"{sha256}.png"
    if cached.is_file():
        return cached.read_bytes()
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise PakatError(errors.CONFIG_INVALID, "pdftoppm (poppler-utils) is not installed")
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        out = Path(work) / "page"
        try:
            # prlimit (util-linux), not preexec_fn: the web process has threads.
            subprocess.run(
                ["prlimit", f"--as={_MEMORY_LIMIT}", f"--cpu={_TIMEOUT_SECONDS}", tool, "-png", "-f", "1", "-l",
                 "1", "-singlefile", "-scale-to", str(PREVIEW_WIDTH), str(pdf), str(out)],
                check=True, capture_output=True, timeout=_TIMEOUT_SECONDS,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise PakatError(errors.PDF_UNPARSEABLE, f"no preview: {type(exc).__name__}") from None
        png = out.with_suffix(".png")
        png.replace(cached)
    return cached.read_bytes()
