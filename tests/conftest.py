"""Shared fixtures: a real development PKI with live responders and SoftHSM tokens.

``redis_url`` (session scope) is a redis-server of the tests' own.
``dev_env`` (session scope) builds the environment once in a temporary folder,
points ``SOFTHSM2_CONF`` at its tokens for the whole session, and runs the
OCSP/CRL/TSA responders as a real subprocess on a free loopback port.

Load the PKCS#11 module in a test only after requesting ``dev_env``: SoftHSM
reads ``SOFTHSM2_CONF`` once, when the module is first initialised.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from pakat_testkit import free_port, stop_process, wait_until
from redis import Redis
from redis.exceptions import RedisError

from hsm_config.devpki import DevPKIError
from hsm_config.devsetup import DevEnvironment, init_dev_environment, running_responders
from hsm_config.softhsm import SoftHSMError, find_module, find_util


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
    try:
        with running_responders(env, directory / "responders.log"):
            yield env
    except DevPKIError as exc:
        pytest.fail(str(exc))
    finally:
        if saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of our own on a free loopback port (never the machine's 6379)."""
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed: run ./dev.sh test, which installs it"
    directory = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    connection = Redis(host="127.0.0.1", port=port)

    def ready() -> bool:
        try:
            return bool(connection.ping())
        except RedisError:
            return False

    try:
        wait_until(ready, 20, "redis-server answering PING", proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        connection.close()
        stop_process(proc)
