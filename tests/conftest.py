"""Shared fixtures: a real development PKI with live responders and SoftHSM tokens.

``redis_url`` (session scope) is a redis-server of the tests' own.
``dev_env`` (session scope) builds the environment once in a temporary folder,
points ``SOFTHSM2_CONF`` at its tokens for the whole session, and runs the
OCSP/CRL/TSA responders as a real subprocess on a free loopback port.

Load the PKCS#11 module in a test only after requesting ``dev_env``: SoftHSM
reads ``SOFTHSM2_CONF`` once, when the module is first initialised.

``postgres_server`` (session scope) is a PostgreSQL cluster of the tests' own;
``database_url`` and ``bare_database_url`` are a fresh database per test, on
SQLite and on PostgreSQL, upgraded to the schema's head or left empty.

``app`` (module scope) is the web application a test module talks to: SQLite in
a home of its own, a queue of its own on ``redis_url``, and the module's
``UPLOAD_LIMIT`` (bytes; 20 MB if the module sets none). ``client`` is its test
client, which also checks that no upload is left in the temp folder.
``app_on_each_database`` is a fresh app for one test, on SQLite and again on
PostgreSQL. Every app logs out of the HSM and closes its database afterwards.

``browser`` (module scope) is a real headless Chromium (see browser_kit).
``display`` (module scope) is an Xvfb of the module's own, for Pakat Signer's windows (see app_kit).
``platform`` is demo-co's platform calling the module app's API; ``token`` (module
scope) is a person's SoftHSM token (see session_kit).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from app_kit import xvfb_display
from browser_kit import open_browser
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import api_key, free_port, pakat_app, stop_process, tidy_client, wait_until
from redis import Redis
from redis.exceptions import RedisError
from session_kit import PERSON, Platform, Token

from devkit.devpki import DevPKIError
from devkit.devsetup import DevEnvironment, init_dev_environment, running_responders
from devkit.postgres import PostgresServer, postgres_cluster
from devkit.softhsm import SoftHSMError, find_module, find_util


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


# -- databases ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on a free loopback port (never the machine's 5432), stopped at the end."""
    with postgres_cluster() as server:
        yield server


@contextmanager
def _fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the requested kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pakat.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"pakat_test_{uuid.uuid4().hex[:16]}"
    with server.admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        with server.admin() as admin:
            # FORCE: a connection a failed test left open must not keep the database alive.
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database (no schema at all), on SQLite and on PostgreSQL."""
    with _fresh_database(request, tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database already upgraded to the schema's head, on SQLite and on PostgreSQL."""
    from envelopes import schema

    with _fresh_database(request, tmp_path) as url:
        schema.upgrade(url)
        yield url


#: The web app's PDF limit in a test module that does not set its own ``UPLOAD_LIMIT``.
DEFAULT_UPLOAD_LIMIT = 20 * 1024 * 1024


def _upload_limit(request: pytest.FixtureRequest) -> int:
    return int(getattr(request.module, "UPLOAD_LIMIT", DEFAULT_UPLOAD_LIMIT))


def _queue_name(request: pytest.FixtureRequest) -> str:
    return f"{request.module.__name__.removeprefix('test_')}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def app(
    request: pytest.FixtureRequest, dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """The module's web app: SQLite in a home of its own, a queue of its own, the module's upload limit."""
    home = tmp_path_factory.mktemp(f"{request.module.__name__}-home")
    with pakat_app(dev_env.deployment_path, home, _upload_limit(request), redis_url=redis_url,
                   queue=_queue_name(request)) as application:
        yield application


@pytest.fixture
def app_on_each_database(
    request: pytest.FixtureRequest, dev_env: Any, redis_url: str, database_url: str, tmp_path: Path
) -> Iterator[Flask]:
    """A fresh web app for one test, on SQLite and on PostgreSQL."""
    with pakat_app(dev_env.deployment_path, tmp_path / "home", _upload_limit(request), redis_url=redis_url,
                   queue=_queue_name(request), database_url=database_url) as application:
        yield application


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    """The module app's test client; afterwards no upload may be left in the app's temp folder."""
    with tidy_client(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A real headless Chromium for the module's page tests."""
    with open_browser() as driver:
        yield driver


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """An Xvfb of the module's own on a free display number (xdotool checked too): its DISPLAY."""
    with xvfb_display() as name:
        yield name


@pytest.fixture
def platform(client: FlaskClient, dev_env: Any) -> Platform:
    """demo-co's platform, calling the module app's API with its key."""
    return Platform(client, api_key(dev_env, "demo-co"))


@pytest.fixture(scope="module")
def token(dev_env: Any) -> Iterator[Token]:
    """The SoftHSM token of a dev-PKI person, logged out when the module ends."""
    person = Token(dev_env, PERSON)
    yield person
    person.key.close()
