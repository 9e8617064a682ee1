"""Services a benchmark needs: the development PKI, its SoftHSM tokens and live responders."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devkit.devsetup import DevEnvironment, init_dev_environment, running_responders


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dev_services(directory: Path) -> Iterator[DevEnvironment]:
    """A fresh development environment in ``directory`` with its responders running."""
    env = init_dev_environment(directory, "127.0.0.1", free_port())
    os.environ.update(env.softhsm_env())
    with running_responders(env, directory / "responders.log"):
        yield env
