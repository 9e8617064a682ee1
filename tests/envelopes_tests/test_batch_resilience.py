"""500 PDFs sealed at B-LTA by two real workers while one is SIGKILLed and Redis restarts empty.

Each job works on the batch for two seconds and then queues its successor, so
runs hand over throughout, across the kill and the restart.

Afterwards every item is sealed exactly once: one recorded output per item,
one ``batch.item_sealed`` audit entry per item, one seal in each output, and
each output validates TOTAL_PASSED at B-LTA. The manifest matches the files.
PostgreSQL is the database here, as it is when workers run on several machines.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pakat_testkit import (
    api_key,
    assert_no_secret,
    child_processes,
    free_port,
    pakat_app,
    pakat_command,
    pdf_bytes,
    process_env,
    secrets_of,
    sha256,
    stop_process,
    wait_until,
)
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select

from envelopes.audit import BATCH_ITEM_SEALED, AuditLog
from envelopes.database import Database, audit_log, batch_items
from hsm_config.deployment import load_deployment, validation_config
from validation.engine import Validator
from validation.model import Indication

ITEMS = 500
LEASE_SECONDS = 5


class RedisServer:
    """A redis-server of this test's own that keeps nothing on disk, so a restart comes back empty."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "redis-server is not installed: run ./dev.sh test"
        self.proc = subprocess.Popen(
            [server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )

        def ready() -> bool:
            try:
                with Redis(host="127.0.0.1", port=self.port) as connection:
                    return bool(connection.ping())
            except RedisError:
                return False

        wait_until(ready, 20, "redis-server answering PING", self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_worker(name: str, home: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = home / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(pakat_command("worker"), env=process_env({"PAKAT_HOME": str(home), **env}),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_until(lambda: b"Listening on" in log_path.read_bytes(), 60, f"{name} listening", proc)
    return proc, log_path


def counts(database: Database, batch_id: str) -> dict[str, int]:
    with database.begin() as conn:
        return dict(conn.execute(select(batch_items.c.state, func.count())
                                 .where(batch_items.c.batch_id == batch_id).group_by(batch_items.c.state)).all())


def state_of_the_batch(database: Database, batch_id: str, logs: list[Path]) -> str:
    """What a failed wait prints: the items by state, their leases and the workers' last lines."""
    with database.begin() as conn:
        leases = conn.execute(select(batch_items.c.number, batch_items.c.lease_owner, batch_items.c.lease_until,
                                     batch_items.c.attempts)
                              .where(batch_items.c.batch_id == batch_id, batch_items.c.state == "sealing")).all()
        failures = conn.execute(
            select(batch_items.c.error_code, func.min(batch_items.c.error_detail), func.count())
            .where(batch_items.c.batch_id == batch_id, batch_items.c.state == "failed")
            .group_by(batch_items.c.error_code)).all()
    tails = "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                      for log in logs if log.exists())
    return f"items by state: {counts(database, batch_id)}\nfailures: {failures}\nleased: {leases}\n{tails}"


def leased_by(database: Database, batch_id: str, pid: int) -> list[int]:
    """Items a worker process holds right now (its owner names are ``host:pid:run``)."""
    with database.begin() as conn:
        owners = conn.execute(select(batch_items.c.number, batch_items.c.lease_owner).where(
            batch_items.c.batch_id == batch_id, batch_items.c.state == "sealing")).all()
    return [n for n, owner in owners if owner and owner.split(":")[1] == str(pid)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_batch_survives_a_killed_worker_and_a_redis_restart(
    dev_env: Any, database_url: str, redis_server: RedisServer, tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    queue = f"pakat-resilience-{uuid.uuid4().hex[:8]}"
    env = {
        "PAKAT_CONFIG": str(dev_env.deployment_path), "REDIS_URL": redis_server.url, "PAKAT_QUEUE": queue,
        "PAKAT_DATABASE_URL": database_url, "PAKAT_BATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        "PAKAT_BATCH_SWEEP_SECONDS": "2", "PAKAT_BATCH_RUN_SECONDS": "2",  # runs hand over all the time
    }
    inputs = {f"envelopes/{n:03d}.pdf": pdf_bytes(f"tender 1405-{n}") for n in range(ITEMS)}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in inputs.items():
            zf.writestr(name, data)
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    database = Database(database_url)
    victim, victim_log = start_worker("worker-1", home, env)
    survivor, survivor_log = start_worker("worker-2", home, env)
    try:
        with pakat_app(dev_env.deployment_path, home, 20 * 1024 * 1024, redis_url=redis_server.url, queue=queue,
                       database_url=database_url) as app:
            client = app.test_client()
            upload = {"archive": (io.BytesIO(archive.getvalue()), "tender.zip"), "level": "B-LTA"}
            created = client.post("/api/v1/batches", headers=headers, content_type="multipart/form-data",
                                  data=upload)
            assert created.status_code == 202, created.get_json()
            batch_id = created.get_json()["id"]

            # SIGKILL the first worker while it holds items, some way into the batch.
            def wait_for(predicate: Any, timeout: float, what: str, proc: Any = None) -> None:
                try:
                    wait_until(predicate, timeout, what, proc)
                except AssertionError as exc:
                    logs = [victim_log, survivor_log]
                    raise AssertionError(f"{exc}\n{state_of_the_batch(database, batch_id, logs)}") from None

            def sealed(at_least: int) -> bool:
                now = counts(database, batch_id)
                assert not now.get("failed"), "items failed"  # no item may fail here: stop at once, and say why
                return now.get("sealed", 0) >= at_least

            wait_for(lambda: sealed(60), 120, "60 items sealed")
            # SIGKILL the first worker while it holds items; what it died holding is read after its death,
            # when it can no longer change (it holds items all the time but the moment between a record and
            # its next claim). Not SIGSTOP first: a worker frozen inside SoftHSM holds the token's file lock.
            wait_until(lambda: bool(leased_by(database, batch_id, victim.pid)), 30,
                       "the first worker holding items", victim)
            assert child_processes(victim.pid) == []  # nothing of it outlives it, holding its sockets
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            held = leased_by(database, batch_id, victim.pid)
            assert held, "the first worker died between two claims, holding nothing: nothing to take over"

            # Then Redis goes away and comes back empty: queued jobs, scheduled wake-ups, worker records gone.
            wait_for(lambda: sealed(200), 180, "200 items sealed")
            redis_server.stop()
            time.sleep(1)
            redis_server.start()
            with Redis.from_url(redis_server.url) as fresh:
                assert fresh.dbsize() == 0 or not fresh.exists(f"rq:queue:{queue}")

            def finished() -> bool:
                return bool(client.get(f"/api/v1/batches/{batch_id}", headers=headers)
                            .get_json()["state"] == "finished")

            wait_for(finished, 300, "the batch finished", survivor)
            progress = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()
            assert (progress["sealed"], progress["failed"], progress["total"]) == (ITEMS, 0, ITEMS)
            results = client.get(f"/api/v1/batches/{batch_id}/results.zip", headers=headers)
            assert results.status_code == 200
    finally:
        stop_process(victim)
        stop_process(survivor)

    with zipfile.ZipFile(io.BytesIO(results.data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        outputs = {name[len("sealed/"):]: zf.read(name) for name in zf.namelist() if name.startswith("sealed/")}
    items = manifest["items"]
    assert [i["name"] for i in items] == list(inputs) and set(outputs) == set(inputs)

    # The items the killed worker held were taken over after their lease, and sealed by someone else.
    by_number = {i["number"]: i for i in items}
    assert all(by_number[n]["attempts"] >= 2 for n in held)

    validator = Validator(validation_config(load_deployment(dev_env.deployment_path)))
    for item in items:
        sealed = outputs[item["name"]]
        assert item["status"] == "sealed" and item["error"] is None
        assert item["input_sha256"] == sha256(inputs[item["name"]])
        assert item["output_sha256"] == sha256(sealed) and item["output_size"] == len(sealed)
        report = validator.validate(sealed)
        assert report.indication is Indication.TOTAL_PASSED, (item["name"], report.reason)
        (signature,) = report.signatures  # one seal: never sealed twice over
        assert signature.pades_level == "B-LTA"

    # Exactly once in the record too: one audit entry per item, and the chain is whole.
    with database.begin() as conn:
        subjects = conn.execute(select(audit_log.c.subject).where(
            audit_log.c.action == BATCH_ITEM_SEALED)).scalars().all()
    assert sorted(subjects) == sorted(f"{batch_id}/{n}" for n in range(ITEMS))
    assert AuditLog(database).verify().ok
    database.dispose()
    assert_no_secret([victim_log.read_bytes(), survivor_log.read_bytes()], secrets_of(dev_env))
