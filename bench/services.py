"""Services a benchmark needs: the development PKI, its SoftHSM tokens and live responders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hsm_config.devsetup import DevEnvironment, init_dev_environment

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dev_services(directory: Path) -> Iterator[DevEnvironment]:
    """A fresh development environment in ``directory`` with its responders running."""
    env = init_dev_environment(directory, "127.0.0.1", _free_port())
    os.environ.update(env.softhsm_env())
    log = open(directory / "responders.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "hsm_config.cli", "serve", "--dir", str(directory)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(env.healthz_url, timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((directory / "responders.log").read_text()) from None
                time.sleep(0.05)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
