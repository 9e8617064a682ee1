"""Two hosts sharing one PostgreSQL (database and documents) and one Redis; one of them dies mid-batch.

Each host is a network namespace of its own (``devkit.hosts``) running
``pakat serve`` and ``pakat worker`` under its own host name, with a home of its
own (its document cache). PostgreSQL, Redis and the dev PKI's OCSP/CRL/TSA
responders listen on the bridge's address, which both hosts reach; the dev PKI
is made for that address, so the URLs in its certificates and deployment
resolve from inside the hosts. The documents live in PostgreSQL
(``PAKAT_DOCUMENT_STORE=database``): what host A's web process stored, host
B's worker reads.

A batch of 500 PDFs is submitted through host A's API and sealed at B-T (a
timestamp from the TSA over the bridge; B-LTA would triple the time for no
more evidence of sharing). Once both hosts' workers have sealed items, every
process of host A is SIGKILLed at once while its worker holds items. Host B
finishes: every item sealed exactly once (one recorded output, one audit entry
each, the chain whole), the items A died holding taken over by B, the results
served by host B, a sample of the outputs valid.
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from pakat_testkit import free_port, pakat_command, pdf_bytes, process_env, sha256, stop_process, wait_until
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select

from devkit.devsetup import DevEnvironment, init_dev_environment, running_responders
from devkit.hosts import Host, HostNetwork, host_network
from devkit.postgres import postgres_cluster
from envelopes import schema
from envelopes.audit import BATCH_ITEM_SEALED, AuditLog
from envelopes.database import Database, audit_log, batch_items, document_blobs
from hsm_config.deployment import load_deployment, validation_config
from validation.engine import Validator
from validation.model import Indication

ITEMS = 500
LEASE_SECONDS = 5
SAMPLE = 25  # outputs validated: every 20th item


@contextmanager
def redis_on(address: str, directory: Path) -> Iterator[str]:
    """A redis-server of the test's own, on the bridge's address."""
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed: run ./dev.sh test"
    port = free_port()
    proc = subprocess.Popen(
        # Not protected mode: it refuses anyone but loopback, and the hosts reach it over the bridge.
        [server, "--bind", address, "--port", str(port), "--protected-mode", "no", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def ready() -> bool:
        try:
            with Redis(host=address, port=port) as connection:
                return bool(connection.ping())
        except RedisError:
            return False

    try:
        wait_until(ready, 20, "redis-server answering PING", proc)
        yield f"redis://{address}:{port}/0"
    finally:
        stop_process(proc)


def start(host: Host, argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(host.command(pakat_command(*argv)), env=process_env(env), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


@contextmanager
def pakat_hosts(
    hosts: tuple[Host, ...], homes: Path, env: dict[str, str]
) -> Iterator[list[tuple[str, list[Path]]]]:
    """``pakat serve`` and ``pakat worker`` on each host, all started at once, all ready: (base URL, logs) each."""
    running: list[tuple[Host, str, list[Path], list[subprocess.Popen[bytes]]]] = []
    try:
        for host in hosts:
            home = homes / host.name
            home.mkdir()
            port = free_port()
            # Each host listens beyond loopback, so its links need its own public URL (PUBLIC_URL_NOT_SET).
            host_env = {**env, "PAKAT_HOME": str(home), "PAKAT_PUBLIC_URL": f"http://{host.address}:{port}"}
            logs = [home / "serve.log", home / "worker.log"]
            procs = [start(host, ["serve", "--host", host.address, "--port", str(port), "--workers", "1",
                                  "--threads", "4"], host_env, logs[0]),
                     start(host, ["worker"], host_env, logs[1])]
            running.append((host, f"http://{host.address}:{port}", logs, procs))
        for host, url, logs, (web, worker) in running:
            def up(url: str = url) -> bool:
                try:
                    return requests.get(f"{url}/healthz", timeout=1).status_code == 200
                except requests.RequestException:
                    return False

            wait_until(up, 90, f"pakat serve on {host.name}", web)
            wait_until(lambda log=logs[1]: b"Listening on" in log.read_bytes(), 90,
                       f"pakat worker on {host.name}", worker)
        yield [(url, logs) for _, url, logs, _ in running]
    finally:
        # Nothing of theirs outlives the test: SIGKILL (the database is thrown away), then reap.
        for host, _, _, procs in running:
            host.kill()
            for proc in procs:
                proc.wait(10)


def sealed_by(database: Database, batch_id: str) -> dict[int, str]:
    """Sealed items by number, each with the host whose worker sealed it (from its audit entry)."""
    with database.begin() as conn:
        entries = conn.execute(select(audit_log.c.subject, audit_log.c.details).where(
            audit_log.c.action == BATCH_ITEM_SEALED, audit_log.c.subject.startswith(f"{batch_id}/"))).all()
    hosts: dict[int, str] = {}
    for subject, details in entries:
        number = int(subject.rsplit("/", 1)[1])
        assert number not in hosts, f"item {number} has two audit entries: sealed twice"
        hosts[number] = json.loads(details)["worker"].split(":")[0]
    return hosts


def leased_on(database: Database, batch_id: str, host: str) -> list[int]:
    """Items a worker of ``host`` holds right now (lease owners are ``host:pid:run``)."""
    with database.begin() as conn:
        owners = conn.execute(select(batch_items.c.number, batch_items.c.lease_owner).where(
            batch_items.c.batch_id == batch_id, batch_items.c.state == "sealing")).all()
    return [n for n, owner in owners if owner and owner.split(":")[0] == host]


@pytest.fixture
def hosts() -> Iterator[HostNetwork]:
    with host_network(["host-a", "host-b"]) as network:
        yield network


@pytest.fixture
def pki(hosts: HostNetwork, tmp_path: Path) -> Iterator[DevEnvironment]:
    """A dev PKI whose certificates and deployment name responders on the bridge, and the responders."""
    env = init_dev_environment(tmp_path / "pki", hosts.gateway, free_port())
    with running_responders(env, tmp_path / "responders.log"):
        yield env


def test_a_batch_sealed_on_two_hosts_survives_one_of_them_dying(
    hosts: HostNetwork, pki: DevEnvironment, tmp_path: Path,
) -> None:
    host_a = hosts.hosts[0]
    headers = {"Authorization": f"Bearer {pki.info['organisations']['demo-co']['api_key']}"}
    inputs = {f"envelopes/{n:03d}.pdf": pdf_bytes(f"tender 1405-{n}") for n in range(ITEMS)}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in inputs.items():
            zf.writestr(name, data)

    with postgres_cluster(hosts.gateway, f"{hosts.gateway}/{hosts.prefix}") as postgres, \
            redis_on(hosts.gateway, tmp_path) as redis_url:
        with postgres.admin() as admin:
            admin.execute('CREATE DATABASE "pakat"')
        database_url = postgres.url("pakat")
        schema.upgrade(database_url)
        database = Database(database_url)
        env = {
            "PAKAT_CONFIG": str(pki.deployment_path), **pki.softhsm_env(),
            "REDIS_URL": redis_url, "PAKAT_QUEUE": f"pakat-hosts-{uuid.uuid4().hex[:8]}",
            "PAKAT_DATABASE_URL": database_url, "PAKAT_DOCUMENT_STORE": "database",
            "PAKAT_BATCH_LEASE_SECONDS": str(LEASE_SECONDS), "PAKAT_BATCH_SWEEP_SECONDS": "2",
            "PAKAT_BATCH_RUN_SECONDS": "2",
        }
        with pakat_hosts(hosts.hosts, tmp_path, env) as [(url_a, logs_a), (url_b, logs_b)]:

            def explain() -> str:
                tails = [f"--- {log.parent.name}/{log.name}\n" + "\n".join(
                    log.read_text(errors="replace").splitlines()[-30:]) for log in [*logs_a, *logs_b]]
                with database.begin() as conn:
                    states = dict(conn.execute(select(batch_items.c.state, func.count())
                                               .group_by(batch_items.c.state)).all())
                return f"items by state: {states}\n" + "\n".join(tails)

            def wait_for(predicate: Any, timeout: float, what: str) -> None:
                try:
                    wait_until(predicate, timeout, what)
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\n{explain()}") from None

            created = requests.post(f"{url_a}/api/v1/batches", headers=headers, timeout=60, data={"level": "B-T"},
                                    files={"archive": ("tender.zip", archive.getvalue(), "application/zip")})
            assert created.status_code == 202, created.text
            batch_id = created.json()["id"]

            # Both hosts' workers take items; then host A dies at once, its worker holding some.
            def both_sealing() -> bool:
                by_host = set(sealed_by(database, batch_id).values())
                return by_host == {"host-a", "host-b"} and bool(leased_on(database, batch_id, "host-a"))

            wait_for(both_sealing, 120, "both hosts sealing, host A holding items")
            # Frozen first, so that it is killed holding items, not in the instant between a record and its
            # next claim; what it held is read again after its death, when nothing of it can change any more.
            for _ in range(100):
                host_a.signal(signal.SIGSTOP)
                if leased_on(database, batch_id, "host-a"):
                    break
                host_a.signal(signal.SIGCONT)
                time.sleep(0.05)
            host_a.kill()
            time.sleep(0.5)  # a commit already on its way to the server lands, or not, meanwhile
            held = leased_on(database, batch_id, "host-a")
            before = sealed_by(database, batch_id)
            assert held and len(before) < ITEMS - 50, "host A died too late in the batch to show a takeover"
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{url_a}/healthz", timeout=2)

            def finished() -> bool:
                progress = requests.get(f"{url_b}/api/v1/batches/{batch_id}", headers=headers, timeout=10).json()
                assert not progress["failed"], "items failed"
                return bool(progress["state"] == "finished")

            wait_for(finished, 240, "host B finishing the batch")
            progress = requests.get(f"{url_b}/api/v1/batches/{batch_id}", headers=headers, timeout=10).json()
            assert (progress["sealed"], progress["failed"], progress["total"]) == (ITEMS, 0, ITEMS)
            results = requests.get(f"{url_b}/api/v1/batches/{batch_id}/results.zip", headers=headers, timeout=60)
            assert results.status_code == 200

        # Exactly once: one audit entry per item; the items host A held were sealed by host B, after its death.
        after = sealed_by(database, batch_id)
        assert sorted(after) == list(range(ITEMS))
        assert {after[n] for n in held} == {"host-b"}
        assert all(host == "host-b" for n, host in after.items() if n not in before)
        assert AuditLog(database).verify().ok
        with database.begin() as conn:
            stored = conn.execute(select(func.count()).select_from(document_blobs)).scalar_one()
            attempts = dict(conn.execute(select(batch_items.c.number, batch_items.c.attempts)
                                         .where(batch_items.c.batch_id == batch_id)).all())
        assert all(attempts[n] >= 2 for n in held)
        # In the shared store: every input and every output, and at most the outputs host A stored
        # but died before recording (no record names them; nothing else is stored twice).
        assert 2 * ITEMS <= stored <= 2 * ITEMS + len(held)
        database.dispose()

    with zipfile.ZipFile(io.BytesIO(results.content)) as zf:
        items = json.loads(zf.read("manifest.json"))["items"]
        outputs = {name[len("sealed/"):]: zf.read(name) for name in zf.namelist() if name.startswith("sealed/")}
    assert [i["name"] for i in items] == list(inputs) and set(outputs) == set(inputs)
    for item in items:
        assert item["status"] == "sealed" and item["input_sha256"] == sha256(inputs[item["name"]])
        assert item["output_sha256"] == sha256(outputs[item["name"]])
    validator = Validator(validation_config(load_deployment(pki.deployment_path)))
    sample = [items[n] for n in range(0, ITEMS, ITEMS // SAMPLE)] + [items[n] for n in held[:5]]
    for item in sample:
        report = validator.validate(outputs[item["name"]])
        assert report.indication is Indication.TOTAL_PASSED, (item["name"], report.reason)
        (signature,) = report.signatures  # one seal: never sealed twice over
        assert signature.pades_level == "B-T"
