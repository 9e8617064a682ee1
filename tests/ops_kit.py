"""Services a test starts and stops itself, to see what Pakat says when each is gone.

The session's Redis, PostgreSQL and responders are shared by every test, so a
test that stops one uses its own: :func:`own_redis`, :func:`own_postgres`,
:func:`own_responders` (the dev PKI's OCSP/CRL/TSA on a port of its own).
Each yields a handle whose ``stop()`` takes the service away mid-test.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import yaml
from pakat_testkit import free_port, stop_process, wait_until
from redis import Redis
from redis.exceptions import RedisError

from devkit.postgres import postgres_cluster


class Running:
    """A service this test started; ``stop()`` ends it now (the block's end does it otherwise)."""

    def __init__(self, url: str, stop: Any) -> None:
        self.url = url
        self._stop = stop
        self.stopped = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._stop()


@contextlib.contextmanager
def own_redis(directory: Path) -> Iterator[Running]:
    """A redis-server on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    connection = Redis(host="127.0.0.1", port=port)

    def ready() -> bool:
        try:
            return bool(connection.ping())
        except RedisError:
            return False

    running = Running(f"redis://127.0.0.1:{port}/0", lambda: stop_process(proc))
    try:
        wait_until(ready, 20, "redis-server answering PING", proc)
        yield running
    finally:
        connection.close()
        running.stop()


@contextlib.contextmanager
def own_postgres() -> Iterator[Running]:
    """A throwaway PostgreSQL cluster with database ``pakat`` (devkit's, as the suite's), stoppable mid-test."""
    with postgres_cluster() as server:
        with server.admin() as admin:
            admin.execute('CREATE DATABASE "pakat"')
        yield Running(server.url("pakat"), server.stop)


@contextlib.contextmanager
def own_responders(dev_env: Any, log_path: Path) -> Iterator[Running]:
    """The dev PKI's OCSP/CRL/TSA responders on a free port; ``url`` is their base (``http://…:port/``)."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devkit.cli", "serve", "--dir", str(dev_env.directory), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        try:
            return requests.get(f"{base}healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    running = Running(base, lambda: stop_process(proc))
    try:
        wait_until(up, 30, "dev PKI responders answering", proc)
        yield running
    finally:
        running.stop()


def deployment_copy(deployment_path: Path, name: str, *, responders: str | None = None,
                    organisations: dict[str, dict[str, Any]] | None = None) -> Path:
    """A copy of the deployment beside it: TSA and revocation prefixes at ``responders``, organisations added."""
    raw = yaml.safe_load(deployment_path.read_text(encoding="utf-8"))
    if responders is not None:
        raw["timestamping"] = {"url": f"{responders}tsa"}
        raw["trust"]["revocation_url_prefixes"] = [responders]
    for org_id, change in (organisations or {}).items():
        base = raw["organisations"][change.pop("like")]
        entry = {**base, "seal": {**base["seal"], **change}}
        raw["organisations"][org_id] = entry
    copy = deployment_path.with_name(f"{name}.yaml")
    copy.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return copy
