"""Pakat Signer as a real process in tests: an Xvfb display, the app started from a link, xdotool at its windows.

``xvfb_display`` runs an Xvfb of the caller's own; ``App`` starts ``pakat-signer``
with a link the way the OS does (the command line of
``packaging/linux/pakat-signer.desktop``, ``%u`` replaced by the link), on that
display, with a fresh config folder, then waits for its windows by title, types
into them and takes screenshots (ImageMagick's ``import``); ``sign_through_the_windows``
is the bidder's walk: confirm the server, accept the review, type the PIN.
``pakat_service`` is ``pakat serve`` and a worker on one queue, so sessions
reach "completed" at timestamped levels. Missing tools fail the test, never skip it.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pakat_testkit import pakat_server, pakat_worker, process_env, stop_process, wait_until

DESKTOP_ENTRY = Path(__file__).resolve().parent.parent / "packaging" / "linux" / "pakat-signer.desktop"


def need_tool(tool: str, package: str) -> str:
    """The path of ``tool``; the test fails, naming the Debian package, when it is missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: install the Debian package {package} (./dev.sh test installs it)")
    return path


@contextlib.contextmanager
def xvfb_display() -> Iterator[str]:
    """An Xvfb on a free display number until the block ends: its DISPLAY (xdotool checked too)."""
    xvfb = need_tool("Xvfb", "xvfb")
    need_tool("xdotool", "xdotool")
    number = next(n for n in range(120, 400)
                  if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists())
    proc = subprocess.Popen([xvfb, f":{number}", "-screen", "0", "1024x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), 20, "Xvfb listening", proc)
        yield f":{number}"
    finally:
        stop_process(proc)


@contextlib.contextmanager
def pakat_service(deployment_path: Path, home: Path, redis_url: str) -> Iterator[dict[str, Any]]:
    """``pakat serve`` and a worker (the level is completed on the queue): url, home, config and logs."""
    env = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"app-{uuid.uuid4().hex[:8]}"}
    with (
        pakat_server(deployment_path, home, workers=1, env=env) as (url, serve_log, _),
        pakat_worker(home, {"PAKAT_CONFIG": str(deployment_path), **env}) as worker_log,
    ):
        yield {"url": url, "home": home, "config": deployment_path, "logs": [serve_log, worker_log]}


def link_handler_command(link: str) -> list[str]:
    """The command line the desktop starts for a ``pakat://`` link: the .desktop entry's Exec, ``%u`` = link.

    The program is looked up as on a PATH with this virtualenv's scripts first.
    """
    exec_line = next((line.split("=", 1)[1] for line in DESKTOP_ENTRY.read_text(encoding="utf-8").splitlines()
                      if line.startswith("Exec=")), None)
    assert exec_line, f"{DESKTOP_ENTRY} has no Exec line"
    words = shlex.split(exec_line)
    assert words.count("%u") == 1, f"the Exec line must pass the link once as %u: {exec_line}"
    program = Path(sys.executable).parent / words[0]
    if not program.exists():
        pytest.fail(f"{program} is missing: run ./dev.sh setup (it installs the pakat-signer entry point)")
    return [str(program), *(link if word == "%u" else word for word in words[1:])]


class App:
    """One ``pakat-signer`` process on the test display, and what the test saw of it.

    Screenshots go to ``shots`` as ``<prefix><NN>-<step>.png``.
    """

    def __init__(self, dev_env: Any, display: str, link: str, config: Path, shots: Path, prefix: str = "") -> None:
        self.display, self.shots, self.prefix = display, shots, prefix
        self.env = process_env({**dev_env.softhsm_env(), "DISPLAY": display, "HOME": str(config),
                                "XDG_CONFIG_HOME": str(config / "xdg"), "APPDATA": str(config / "appdata")})
        self.titles: list[str] = []
        self.pictures: list[Path] = []
        self.proc = subprocess.Popen(link_handler_command(link), env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)

    def _xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=20)
        return done.stdout.strip()

    def window(self, step: str, timeout: float = 90) -> str:
        """Wait for the window titled ``Pakat Signer - <step>``, focus it, screenshot it: its id."""
        found: list[str] = []

        def shown() -> bool:
            for wid in self._xdotool("search", "--name", "^Pakat Signer - ").split():
                name = self._xdotool("getwindowname", wid)
                if name and (not self.titles or self.titles[-1] != name):
                    self.titles.append(name)
                if name == f"Pakat Signer - {step}":
                    found[:] = [wid]
                    return True
            return False

        wait_until(shown, timeout, f"the window {step!r} (seen: {self.titles})", self.proc)
        time.sleep(0.4)  # let Tk finish drawing before the picture and the keys
        self._xdotool("windowfocus", "--sync", found[0])
        self.screenshot(step)
        return found[0]

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._xdotool("key", "--clearmodifiers", key)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        self._xdotool("type", "--delay", "40", text)

    def screenshot(self, step: str) -> Path | None:
        """The whole screen as a PNG under ``shots``: its path, or None without ImageMagick."""
        tool = shutil.which("import")
        if tool is None:
            return None  # pictures are a help, not the test (a test that needs them checks ``pictures``)
        number = len(list(self.shots.glob(f"{self.prefix}[0-9][0-9]-*.png")))
        path = self.shots / f"{self.prefix}{number:02d}-{step.replace(' ', '_')}.png"
        subprocess.run([tool, "-window", "root", str(path)], env=self.env, capture_output=True, timeout=30)
        if path.exists():
            self.pictures.append(path)
        print(f"screenshot: {path}")
        return path

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(self.proc)
            raise
        return self.proc.returncode, out, err


def sign_through_the_windows(app: App, pin: str, *, confirm_server: bool) -> None:
    """The bidder's walk: confirm the server (first use), accept the review, type the PIN and press Return."""
    if confirm_server:
        app.window("Confirm server")
        app.keys("Tab", "Return")  # Cancel has the focus: trusting takes a deliberate move to the other button
    app.window("Review")
    app.keys("Return")
    app.window("PIN")
    app.type(pin)
    app.keys("Return")
