"""Shared fixtures: a real development PKI with live responders and SoftHSM tokens.

``dev_env`` (session scope) builds the environment once in a temporary folder,
points ``SOFTHSM2_CONF`` at its tokens for the whole session, and runs the
OCSP/CRL/TSA responders as a real subprocess on a free loopback port.

Load the PKCS#11 module in a test only after requesting ``dev_env``: SoftHSM
reads ``SOFTHSM2_CONF`` once, when the module is first initialised.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm_config.devsetup import DevEnvironment, init_dev_environment
from hsm_config.softhsm import SoftHSMError, find_module, find_util

REPO = Path(__file__).resolve().parents[1]
RESPONDER_START_TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"responders exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        # Refused or reset while the server starts: try again.
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(url, timeout=1) as resp,
        ):
            if resp.status == 200:
                return
        if time.monotonic() > deadline:
            pytest.fail(
                f"responders did not answer {url} within {timeout}s:\n{log_path.read_text(errors='replace')}"
            )
        time.sleep(0.05)


@pytest.fixture(scope="session")
def dev_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevEnvironment]:
    """The development environment with its responders running; see :class:`DevEnvironment`."""
    try:
        find_util()
        find_module()
    except SoftHSMError as exc:
        # Fail, never skip: the HSM path is the product's critical path.
        pytest.fail(f"SoftHSM2 is required for these tests: {exc}")

    directory = tmp_path_factory.mktemp("devenv")
    env = init_dev_environment(directory, "127.0.0.1", free_port())

    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ.update(env.softhsm_env())
    log_path = directory / "responders.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hsm_config.cli", "serve", "--dir", str(directory)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(env.healthz_url, proc, log_path, RESPONDER_START_TIMEOUT)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved
