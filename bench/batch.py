"""Batch benchmark: a 500-document B-LTA batch sealed by two ``pakat worker`` processes, beside pyHanko's loop.

    python bench/batch.py [--count 500] [--workers 2] [--baseline-count 40] [--database-url URL]

It makes its own development PKI, SoftHSM tokens and live OCSP/CRL/TSA
responders on loopback, its own Redis, and (unless ``--database-url`` names a
PostgreSQL) the embedded SQLite database. Then, on the same services and the
same HSM key:

- **pyHanko loop**: ``signers.sign_pdf`` per document, synchronous, a fresh
  ``ValidationContext`` (revocation fetched per document), ``HTTPTimeStamper``
  (``bench/seal.py``'s ``PyHankoLoop``), at B-LT and at B-LTA, in this process;
- **Pakat batch**: the documents stored as a batch (as ``POST /api/v1/batches``
  does), queued on RQ, sealed at B-LTA by ``--workers`` real ``pakat worker``
  processes, timed from queueing until the batch is finished (every output
  durable in the store and recorded, each with its audit entry). The time to
  take the documents in is printed apart, and in the end-to-end figure.

With ``--hosts`` it measures scale-out instead: two hosts made of network
namespaces on this machine (``devkit.hosts``), sharing one PostgreSQL (the
database and the documents: ``PAKAT_DOCUMENT_STORE=database``), one Redis and
the responders, all on the hosts' bridge. The same batch is sealed by a worker
on one host, then by a worker on each of the two hosts, beside the pyHanko
loop. Both hosts share this machine's cores, so a second host adds workers,
not CPU: read the two-host figure as "the work spreads and nothing is lost to
sharing", not as a speed-up a second machine would give.

Absolute times drift on a shared machine; the ratios are the figures to read.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seal import PyHankoLoop, make_pdf, measure  # noqa: E402 - needs ROOT on sys.path

if TYPE_CHECKING:
    from devkit.hosts import Host


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="documents in the batch")
    parser.add_argument("--workers", type=int, default=2, help="pakat worker processes")
    parser.add_argument("--baseline-count", type=int, default=40, help="documents per pyHanko loop run")
    parser.add_argument("--database-url", help="default: SQLite in the benchmark's own home")
    parser.add_argument("--hosts", action="store_true",
                        help="one host, then two (network namespaces, run as root), on a shared PostgreSQL")
    args = parser.parse_args()
    if args.hosts:
        scale_out(args.count, args.baseline_count)
        return

    from bench.services import dev_services
    from envelopes.archives import BatchLimits, read_files
    from envelopes.batches import Batches, BatchOptions
    from envelopes.blobs import DocumentStore
    from envelopes.database import Database
    from envelopes.queueing import RQJobQueue
    from envelopes.schema import upgrade
    from envelopes.services import LazySealService
    from hsm_config.deployment import load_deployment
    from signer.levels import PadesLevel

    with tempfile.TemporaryDirectory(prefix="pakat-bench-batch-") as tmp_name, \
            dev_services(Path(tmp_name) / "pki") as env, redis_server(Path(tmp_name)) as redis_url:
        tmp = Path(tmp_name)
        home = tmp / "home"
        home.mkdir()
        database_url = args.database_url or f"sqlite:///{home / 'pakat.db'}"
        upgrade(database_url)
        deployment = load_deployment(env.deployment_path)
        sources = []
        for n in range(args.count):
            path = tmp / "in" / f"envelope-{n:04d}.pdf"
            path.parent.mkdir(exist_ok=True)
            make_pdf(path, 0, f"Pakat batch benchmark - bid envelope {n}")
            sources.append(path)
        print(f"# Pakat batch benchmark — {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        print(f"# services: {env.base_url} (OCSP, CRL, TSA on loopback); key: SoftHSM RSA-2048 via PKCS#11;"
              f" database: {database_url.split(':', 1)[0]}; {args.workers} workers\n")

        baseline = PyHankoLoop(deployment, "demo-co")
        loops = {}
        for level in (PadesLevel.B_LT, PadesLevel.B_LTA):
            out = tmp / "baseline.pdf"

            def one(i: int, level: PadesLevel = level, out: Path = out) -> None:
                baseline.sign(sources[i % len(sources)], out, level)

            loops[level] = measure(one, args.baseline_count)
        baseline.close()

        queue_name = "pakat-bench"
        worker_env = {**os.environ, "PAKAT_HOME": str(home), "PAKAT_CONFIG": str(env.deployment_path),
                      "REDIS_URL": redis_url, "PAKAT_QUEUE": queue_name, "PAKAT_DATABASE_URL": database_url}
        with workers(args.workers, home, worker_env) as pids:
            store = DocumentStore(home / "documents")
            database = Database(database_url)
            # This process only records and watches the batch, as a web process does; the workers seal.
            engine = Batches(database, store, LazySealService(deployment).get)
            t0 = time.perf_counter()
            inputs = read_files([(p.name, p) for p in sources], store, BatchLimits())
            batch = engine.create("demo-co", inputs, BatchOptions(PadesLevel.B_LTA), actor="system:bench").progress
            ingest = time.perf_counter() - t0
            cpu0 = sum(process_cpu(pid) for pid in pids)
            t1 = time.perf_counter()
            RQJobQueue(redis_url, queue_name, deployment).start_batch(batch.id, batch.total)
            while (progress := engine.progress(None, batch.id)).state != "finished":
                time.sleep(0.05)
            sealing = time.perf_counter() - t1
            cpu = sum(process_cpu(pid) for pid in pids) - cpu0
            database.dispose()
        assert progress.sealed == args.count, progress

        ours = args.count / sealing
        end_to_end = args.count / (sealing + ingest)
        print("| run | level | docs | docs/s | CPU ms/doc | ratio to the pyHanko loop at B-LT | at B-LTA |")
        print("|---|---|---|---|---|---|---|")
        lt, lta = loops[PadesLevel.B_LT], loops[PadesLevel.B_LTA]
        for name, level, measured in (("pyHanko loop", "B-LT", lt), ("pyHanko loop", "B-LTA", lta)):
            print(f"| {name} | {level} | {measured.docs} | {measured.docs_per_s:.1f} | {measured.cpu_ms:.1f} "
                  f"| {measured.docs_per_s / lt.docs_per_s:.2f}× | {measured.docs_per_s / lta.docs_per_s:.2f}× |")
        print(f"| Pakat batch, {args.workers} workers | B-LTA | {args.count} | {ours:.1f} "
              f"| {1000 * cpu / args.count:.1f} (workers) | {ours / lt.docs_per_s:.1f}× | "
              f"{ours / lta.docs_per_s:.1f}× |")
        print(f"| … with taking the documents in ({ingest:.2f} s) | B-LTA | {args.count} | {end_to_end:.1f} | – "
              f"| {end_to_end / lt.docs_per_s:.1f}× | {end_to_end / lta.docs_per_s:.1f}× |")
        print(f"\nPakat sealed {progress.sealed} of {progress.total} in {sealing:.2f} s "
              f"(batch rate as Pakat reports it: {progress.rate_per_second} docs/s).")


def scale_out(count: int, baseline_count: int) -> None:
    """The ``--hosts`` run: one host's worker, then one worker on each of two hosts, beside the pyHanko loop."""
    from bench.services import free_port
    from devkit.devsetup import init_dev_environment, running_responders
    from devkit.hosts import host_network
    from devkit.postgres import postgres_cluster
    from envelopes.archives import BatchLimits, read_files
    from envelopes.batches import Batches, BatchOptions
    from envelopes.database import Database
    from envelopes.database_store import DatabaseDocumentStore
    from envelopes.queueing import RQJobQueue
    from envelopes.schema import upgrade
    from envelopes.services import LazySealService
    from hsm_config.deployment import load_deployment
    from signer.levels import PadesLevel

    with tempfile.TemporaryDirectory(prefix="pakat-bench-hosts-") as tmp_name, \
            host_network(["host-a", "host-b"]) as network:
        tmp = Path(tmp_name)
        env = init_dev_environment(tmp / "pki", network.gateway, free_port())
        os.environ.update(env.softhsm_env())
        subnet = f"{network.gateway}/{network.prefix}"
        with running_responders(env, tmp / "responders.log"), postgres_cluster(network.gateway, subnet) as pg, \
                redis_server(tmp, network.gateway) as redis_url:
            deployment = load_deployment(env.deployment_path)
            sources = []
            for n in range(count):
                path = tmp / "in" / f"envelope-{n:04d}.pdf"
                path.parent.mkdir(exist_ok=True)
                make_pdf(path, 0, f"Pakat batch benchmark - bid envelope {n}")
                sources.append(path)
            print(f"# Pakat batch benchmark, scale-out — {os.cpu_count()} cores shared by both hosts, "
                  f"Python {sys.version.split()[0]}")
            print(f"# hosts on {subnet}; PostgreSQL (database and documents), Redis and the OCSP/CRL/TSA"
                  f" responders on {network.gateway}; key: SoftHSM RSA-2048 via PKCS#11; B-LTA\n")
            baseline = PyHankoLoop(deployment, "demo-co")
            loop = measure(lambda i: baseline.sign(sources[i % len(sources)], tmp / "baseline.pdf",
                                                   PadesLevel.B_LTA), baseline_count)
            baseline.close()

            rows = []
            for run, hosts in (("1 host, 1 worker", network.hosts[:1]), ("2 hosts, 1 worker each", network.hosts)):
                database_name = f"run{len(rows)}"
                with pg.admin() as admin:
                    admin.execute(f'CREATE DATABASE "{database_name}"')
                database_url = pg.url(database_name)
                upgrade(database_url)
                queue_name = f"pakat-bench-{len(rows)}"
                home = tmp / f"run-{len(rows)}"
                home.mkdir()
                worker_env = {**os.environ, "PAKAT_CONFIG": str(env.deployment_path), "REDIS_URL": redis_url,
                              "PAKAT_QUEUE": queue_name, "PAKAT_DATABASE_URL": database_url,
                              "PAKAT_DOCUMENT_STORE": "database"}
                with workers(len(hosts), home, worker_env, hosts) as pids:
                    database = Database(database_url)
                    # This process takes the documents in and watches, as host A's web process would.
                    store = DatabaseDocumentStore(database, home / "web-documents")
                    engine = Batches(database, store, LazySealService(deployment).get)
                    inputs = read_files([(p.name, p) for p in sources], store, BatchLimits())
                    batch = engine.create("demo-co", inputs, BatchOptions(PadesLevel.B_LTA),
                                          actor="system:bench").progress
                    cpu0 = sum(process_cpu(pid) for pid in pids)
                    t0 = time.perf_counter()
                    RQJobQueue(redis_url, queue_name, deployment).start_batch(batch.id, batch.total)
                    while (progress := engine.progress(None, batch.id)).state != "finished":
                        time.sleep(0.05)
                    sealing = time.perf_counter() - t0
                    cpu = sum(process_cpu(pid) for pid in pids) - cpu0
                    database.dispose()
                assert progress.sealed == count, progress
                rows.append((run, count / sealing, 1000 * cpu / count))

        print("| run | level | docs | docs/s | CPU ms/doc | ratio to the pyHanko loop | ratio to one host |")
        print("|---|---|---|---|---|---|---|")
        print(f"| pyHanko loop, this process | B-LTA | {loop.docs} | {loop.docs_per_s:.1f} | {loop.cpu_ms:.1f} "
              f"| 1.00× | – |")
        one_host = rows[0][1]
        for run, rate, cpu_ms in rows:
            print(f"| Pakat batch, {run} | B-LTA | {count} | {rate:.1f} | {cpu_ms:.1f} (workers) "
                  f"| {rate / loop.docs_per_s:.2f}× | {rate / one_host:.2f}× |")


@contextmanager
def redis_server(directory: Path, address: str = "127.0.0.1") -> Iterator[str]:
    """A redis-server of the benchmark's own on a free port of ``address`` (loopback, or the hosts' bridge)."""
    from bench.services import free_port

    port = free_port()
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed: run ./dev.sh setup")
    # Not protected mode: it answers only loopback, and hosts reach it over their bridge.
    proc = subprocess.Popen([server, "--bind", address, "--port", str(port), "--protected-mode", "no",
                             "--save", "", "--appendonly", "no", "--dir", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        for _ in range(100):
            try:
                if Redis(host=address, port=port).ping():
                    break
            except RedisError:  # not up yet
                time.sleep(0.1)
        yield f"redis://{address}:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def workers(count: int, home: Path, env: dict[str, str], hosts: Sequence[Host] = ()) -> Iterator[list[int]]:
    """``count`` pakat worker processes (on ``hosts`` in turn, if given), each listening before the clock starts.

    Their first job logs in to the HSM and fetches the first OCSP answers: that is inside the timing.
    """
    procs = []
    try:
        for n in range(count):
            log = home / f"worker-{n}.log"
            argv = [sys.executable, "-m", "pakat", "worker"]
            with log.open("wb") as out:
                procs.append((subprocess.Popen(hosts[n % len(hosts)].command(argv) if hosts else argv, env=env,
                                               stdout=out, stderr=subprocess.STDOUT), log))
        for proc, log in procs:
            deadline = time.monotonic() + 60
            while b"Listening on" not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"worker did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield [proc.pid for proc, _ in procs]
    finally:
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            proc.wait(30)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
