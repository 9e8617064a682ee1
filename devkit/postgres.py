"""A throwaway PostgreSQL cluster for tests and benchmarks (``postgres_server`` in tests/conftest.py).

It runs as the ``postgres`` user when started by root (initdb refuses root),
with ``fsync=off`` (nothing in it outlives the run), on a free port of the
address asked for: loopback by default, or the bridge of ``devkit.hosts``
so that several hosts share it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg


class PostgresError(RuntimeError):
    """The cluster could not be made or started; the message carries PostgreSQL's own output."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL cluster of a test's or a benchmark's own, trusting the user ``pakat``."""

    host: str
    port: int
    user: str
    #: Stops the cluster now (a test seeing what happens without its database); the block's end does it otherwise.
    stop: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)

    def url(self, database: str, password: str | None = None) -> str:
        """The SQLAlchemy URL of one database here (any password works: authentication is trust)."""
        auth = f"{self.user}:{password}" if password else self.user
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection[Any]:
        """An autocommit connection to the ``postgres`` database, for CREATE and DROP DATABASE."""
        return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True)


def postgres_bin() -> Path:
    # The newest major version, if several are installed.
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: (len(p.parent.parent.name), p.parent.parent.name))
    if not found:
        raise PostgresError("PostgreSQL's initdb and pg_ctl are not under /usr/lib/postgresql/*/bin: "
                            "run ./dev.sh test, which installs postgresql")
    return found[-1].parent


@contextmanager
def postgres_cluster(host: str = "127.0.0.1", trusted_network: str | None = None) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster listening on ``host`` (a free port), also trusting ``trusted_network``."""
    bin_dir = postgres_bin()
    # initdb refuses to run as root: then the cluster belongs to the postgres user, in a folder
    # of its own under /tmp (pytest's tmp folders are root's, mode 0700, closed to postgres).
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="pakat-pg-"))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir()
    prefix: list[str] = []
    if as_root:
        postgres = pwd.getpwnam("postgres")
        for path in (base, sockets):
            os.chown(path, postgres.pw_uid, postgres.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], cwd=base, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise PostgresError(f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    port = _free_port()
    running = [False]

    def stop() -> None:
        if running[0]:
            running[0] = False
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")

    server = PostgresServer(host, port, "pakat", stop)
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", server.user, "--no-sync")
        if trusted_network:  # initdb's -A trust covers loopback only: the multi-host test's hosts too
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {trusted_network} trust\n")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
            f"-p {port} -k {sockets} -c listen_addresses={host} -c fsync=off", "start")
        running[0] = True
        server.admin().close()  # pg_ctl -w waited until it accepts connections: this one must work
        yield server
    finally:
        stop()
        shutil.rmtree(base, ignore_errors=True)
