"""Pages as poppler draws them, from a stranger's PDF, within time and memory limits.

One way to run ``pdftoppm`` for all of Pakat: in a child process under
``prlimit`` (CPU seconds and address space; not ``preexec_fn``, since web
processes have threads), with a wall-clock timeout, into a private folder.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from pakat import errors
from pakat.errors import PakatError

TIMEOUT_SECONDS = 20
MEMORY_LIMIT = 1 << 30


class RenderError(Exception):
    """poppler could not draw the pages (damaged content, limits reached)."""


def pdftoppm() -> str:
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise PakatError(errors.CONFIG_INVALID, "pdftoppm (poppler-utils) is not installed")
    return tool


def run_pdftoppm(args: list[str], *, timeout: float = TIMEOUT_SECONDS) -> None:
    """``pdftoppm ARGS`` under the limits; RenderError when poppler fails or runs out of them."""
    # Whole CPU seconds, at least one: --cpu=0 would kill poppler at once (a timeout under a second is
    # what a validation's time budget leaves it), and the wall-clock timeout below ends it anyway.
    command = ["prlimit", f"--as={MEMORY_LIMIT}", f"--cpu={max(1, math.ceil(timeout))}", pdftoppm(), *args]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.CalledProcessError as exc:
        raise RenderError(f"pdftoppm exited with {exc.returncode}") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"pdftoppm took more than {timeout:.1f} s") from None


def render_pages(pdf: Path, pages: Iterable[int], *, dpi: int, hide_annotations: bool = False,
                 timeout: float = TIMEOUT_SECONDS) -> dict[int, Image.Image]:
    """Pages (0-based) of ``pdf`` in grey at ``dpi``; a page poppler cannot find is missing from the result."""
    wanted = sorted(set(pages))
    found: dict[int, Image.Image] = {}
    if not wanted:
        return found
    with tempfile.TemporaryDirectory(prefix="pakat-render-") as work:
        stem = Path(work) / "p"
        args = ["-r", str(dpi), "-gray", "-f", str(wanted[0] + 1), "-l", str(wanted[-1] + 1)]
        if hide_annotations:
            args.append("-hide-annotations")
        run_pdftoppm([*args, str(pdf), str(stem)], timeout=timeout)
        for path in Path(work).glob("p-*.pgm"):
            index = int(path.stem.rsplit("-", 1)[1]) - 1
            if index in wanted:
                with Image.open(path) as image:
                    found[index] = image.copy()
    return found
