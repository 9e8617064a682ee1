"""The front door: dev.sh parses, the README promises two commands, CI runs the README's test command."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a reader (and the pre-stop check) would take for a command to run.
COMMAND_LINE = re.compile(r"^\s*(make|\./|bash |sh |python|uv |tox|nox|pip |\.venv/)")


def _quick_start_block(readme: str) -> list[str]:
    section = re.search(r"^## [^\n]*Quick start[^\n]*\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section, "README has no Quick start section"
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", section.group(1), re.M | re.S)
    assert len(blocks) == 1, "the quick start should have exactly one code block"
    return [line.strip() for line in blocks[0].splitlines() if line.strip()]


def test_dev_sh_parses_and_is_executable() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "dev.sh")], check=True)
    assert os.access(ROOT / "dev.sh", os.X_OK)
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_quick_start_has_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _quick_start_block(readme) == ["./dev.sh start", "./dev.sh test"]
    # No other line anywhere in the README reads as a command to type.
    commands = sorted({line.strip() for line in readme.splitlines() if COMMAND_LINE.match(line)})
    assert commands == ["./dev.sh start", "./dev.sh test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)
    lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "./dev.sh test" in lines
    assert not [line for line in lines if "./dev.sh" in line and line != "./dev.sh test"]


def test_dev_sh_usage_and_unknown_command() -> None:
    ok = subprocess.run([str(ROOT / "dev.sh"), "help"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0
    for word in ("start", "test", "stop"):
        assert word in ok.stdout
    bad = subprocess.run([str(ROOT / "dev.sh"), "no-such-command"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2

