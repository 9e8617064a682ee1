"""``pakat worker`` with a real Redis of its own and real RQ jobs; seal_file_job is idempotent."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pakat_testkit import (
    assert_no_secret,
    check_sealed,
    child_processes,
    free_port,
    pakat_command,
    pakat_worker,
    pdf_bytes,
    process_env,
    secrets_of,
    sha256,
    stop_process,
    wait_until,
)
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

from envelopes.jobs import record_path, seal_file_job
from signer.levels import PadesLevel


@pytest.fixture(scope="module")
def worker(dev_env: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Queue, Path]]:
    """A long-running ``pakat worker`` on a queue of its own, and where it logs."""
    home = tmp_path_factory.mktemp("worker-home")
    queue_name = f"pakat-test-{uuid.uuid4().hex[:8]}"
    env = {"PAKAT_CONFIG": str(dev_env.deployment_path), "REDIS_URL": redis_url, "PAKAT_QUEUE": queue_name}
    connection = Redis.from_url(redis_url)
    try:
        with pakat_worker(home, env) as log_path:
            yield Queue(queue_name, connection=connection), log_path
    finally:
        connection.close()
    assert_no_secret([log_path.read_bytes()], secrets_of(dev_env))


def finished(job: Job, timeout: float = 120) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} still {job.get_status()} after {timeout} s")


def test_worker_seals_and_is_idempotent(worker: tuple[Queue, Path], dev_env: Any, tmp_path: Path) -> None:
    queue, log_path = worker
    src, dst = tmp_path / "envelope-a.pdf", tmp_path / "sealed" / "envelope-a.pdf"
    dst.parent.mkdir()
    src.write_bytes(pdf_bytes("Envelope A, guarantee"))

    job = finished(queue.enqueue(seal_file_job, "demo-co", str(src), str(dst), "B-LTA"))
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string  # type: ignore[union-attr]
    result = job.return_value()
    assert result["organisation"] == "demo-co" and result["level"] == "B-LTA"
    assert result["destination"] == str(dst) and result["source"] == str(src)
    assert result["input_sha256"] == sha256(src.read_bytes())
    assert result["output_sha256"] == sha256(dst.read_bytes())
    check_sealed(dst.read_bytes(), dev_env.root_cert_path, PadesLevel.B_LTA)
    first_stat = dst.stat()

    # The same job again (a retry, a duplicate enqueue): same answer, no new signature.
    again = finished(queue.enqueue("envelopes.jobs.seal_file_job", "demo-co", str(src), str(dst), "b-lta"))
    assert again.get_status() == JobStatus.FINISHED
    assert again.return_value() == result
    assert (dst.stat().st_ino, dst.stat().st_mtime_ns) == (first_stat.st_ino, first_stat.st_mtime_ns)

    # Another level is another job: it seals afresh over the old output.
    other = finished(queue.enqueue(seal_file_job, "demo-co", str(src), str(dst), "B-T"))
    assert other.get_status() == JobStatus.FINISHED
    assert other.return_value()["output_sha256"] != result["output_sha256"]
    check_sealed(dst.read_bytes(), dev_env.root_cert_path, PadesLevel.B_T)
    assert b"Traceback" not in log_path.read_bytes()


def test_failed_job_writes_nothing(worker: tuple[Queue, Path], tmp_path: Path) -> None:
    queue, _ = worker
    src, dst = tmp_path / "in.pdf", tmp_path / "out.pdf"
    src.write_bytes(b"this is not a PDF")
    job = finished(queue.enqueue(seal_file_job, "demo-co", str(src), str(dst), "B-B"))
    assert job.get_status() == JobStatus.FAILED
    assert "NOT_A_PDF" in (job.latest_result().exc_string or "")  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf"]


def test_job_reseals_when_its_output_or_input_changed(worker: tuple[Queue, Path], dev_env: Any,
                                                      tmp_path: Path) -> None:
    queue, _ = worker
    src, dst = tmp_path / "in.pdf", tmp_path / "out.pdf"
    src.write_bytes(pdf_bytes("first version"))
    finished(queue.enqueue(seal_file_job, "demo-gov", str(src), str(dst), "B-B"))
    assert record_path(dst).exists()

    # Someone replaced the output: it is no longer this job's, so the job seals again.
    dst.write_bytes(b"tampered")
    second = finished(queue.enqueue(seal_file_job, "demo-gov", str(src), str(dst), "B-B")).return_value()
    # (Same input, same second: the new seal may be byte-identical to the first, and that is fine.)
    assert second["output_sha256"] == sha256(dst.read_bytes())
    check_sealed(dst.read_bytes(), dev_env.root_cert_path, PadesLevel.B_B)

    # A new input under the same name is new work too.
    src.write_bytes(pdf_bytes("second version"))
    third = finished(queue.enqueue(seal_file_job, "demo-gov", str(src), str(dst), "B-B")).return_value()
    assert third["input_sha256"] == sha256(src.read_bytes()) != second["input_sha256"]


def test_burst_worker_drains_the_queue_and_exits(dev_env: Any, redis_url: str, tmp_path: Path) -> None:
    queue = Queue(f"pakat-burst-{uuid.uuid4().hex[:8]}", connection=Redis.from_url(redis_url))
    jobs = []
    for n in range(3):
        src = tmp_path / f"in-{n}.pdf"
        src.write_bytes(pdf_bytes(f"batch document {n}"))
        jobs.append(queue.enqueue(seal_file_job, "demo-co", str(src), str(tmp_path / f"out-{n}.pdf"), "B-T"))
    result = subprocess.run(
        pakat_command("worker", "--burst"),
        env=process_env({"PAKAT_HOME": str(tmp_path), "PAKAT_CONFIG": str(dev_env.deployment_path),
                         "REDIS_URL": redis_url, "PAKAT_QUEUE": queue.name}),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for n, job in enumerate(jobs):
        assert job.get_status(refresh=True) == JobStatus.FINISHED
        check_sealed((tmp_path / f"out-{n}.pdf").read_bytes(), dev_env.root_cert_path, PadesLevel.B_T)
    assert_no_secret([result.stdout, result.stderr], secrets_of(dev_env))


def test_worker_without_redis_url_is_a_configuration_error(dev_env: Any, tmp_path: Path) -> None:
    result = subprocess.run(
        pakat_command("worker", "--burst"),
        env=process_env({"PAKAT_HOME": str(tmp_path), "PAKAT_CONFIG": str(dev_env.deployment_path)}),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )
    assert result.returncode == 4
    assert result.stderr.startswith("CONFIG_INVALID: ") and "REDIS_URL" in result.stderr


def test_worker_with_unreachable_redis_names_no_password(dev_env: Any, tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        pakat_command("worker", "--burst"),
        env=process_env({"PAKAT_HOME": str(tmp_path), "PAKAT_CONFIG": str(dev_env.deployment_path),
                         "REDIS_URL": f"redis://:s3cret-redis-pw@127.0.0.1:{port}/0"}),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )
    assert result.returncode == 4, result.stderr
    assert f"127.0.0.1:{port}" in result.stderr
    assert "s3cret-redis-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_the_worker_schedules_in_its_own_process(dev_env: Any, redis_url: str, tmp_path: Path) -> None:
    """Jobs due later run, and the worker starts no process to move them: a forked scheduler would outlive a
    killed worker holding its database sockets, and with them its open transaction's locks."""
    queue = Queue(f"pakat-scheduled-{uuid.uuid4().hex[:8]}", connection=Redis.from_url(redis_url))
    src = tmp_path / "in.pdf"
    src.write_bytes(pdf_bytes("scheduled document"))
    env = {"PAKAT_CONFIG": str(dev_env.deployment_path), "REDIS_URL": redis_url, "PAKAT_QUEUE": queue.name}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(pakat_command("worker"), env=process_env({"PAKAT_HOME": str(tmp_path), **env}),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: b"Listening on" in log_path.read_bytes(), 60, "pakat worker listening", proc)
        job = queue.enqueue_in(timedelta(seconds=1), seal_file_job, "demo-co", str(src), str(tmp_path / "out.pdf"),
                               "B-B")
        assert job.get_status() == JobStatus.SCHEDULED
        assert finished(job, 60).get_status() == JobStatus.FINISHED, log_path.read_text(errors="replace")[-2000:]
        assert child_processes(proc.pid) == []
    finally:
        stop_process(proc)
    assert_no_secret([log_path.read_bytes()], secrets_of(dev_env))
