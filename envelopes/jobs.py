"""RQ jobs: sealing files and batches, and raising agent signatures to their level, in a long-lived worker.

``pakat worker`` runs an RQ ``SimpleWorker`` (no fork per job), so the seal
service built by the first job stays logged in for the next ones. Jobs take
and return plain JSON-able values, so any producer can enqueue them by name::

    Queue("pakat", connection=redis).enqueue(
        "envelopes.jobs.seal_file_job", "demo-co", "/data/in.pdf", "/data/out.pdf", "B-LTA")

Paths are read by the worker, so they should be absolute (a relative path is
taken from the worker's current folder).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

from rq import get_current_job

from envelopes.batches import Batches
from envelopes.blobs import DocumentStore
from envelopes.database import Database
from envelopes.queueing import RQJobQueue
from envelopes.sealing import SealService
from envelopes.sessions import SigningSessions
from pakat.errors import ServiceUnavailable
from pakat.files import sha256_file, write_atomically
from pakat.settings import LazySealService, Settings
from signer.levels import PadesLevel

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".pakat.json"

_services: LazySealService | None = None
_services_lock = threading.Lock()
_sessions: SigningSessions | None = None
_batches: tuple[Batches, RQJobQueue] | None = None


def worker_seal_service() -> SealService:
    """This process's seal service, built from the environment's settings on first use."""
    global _services
    with _services_lock:
        if _services is None:
            _services = LazySealService(Settings.from_env().load_deployment())
        holder = _services
    return holder.get()


def worker_signing_sessions() -> SigningSessions:
    """This process's signing-session use cases, over the environment's database, store and queue."""
    global _sessions
    seals = worker_seal_service()
    with _services_lock:
        if _sessions is None or _sessions.seals is not seals:
            settings = Settings.from_env()
            deployment = seals.deployment
            _sessions = SigningSessions(
                Database(settings.database_url),
                DocumentStore(settings.document_root),
                deployment,
                seals,
                RQJobQueue(settings.redis_url, settings.queue, deployment),
            )
        return _sessions


def worker_batches() -> tuple[Batches, RQJobQueue]:
    """This process's batch use cases and queue, over the environment's database and store."""
    global _batches
    with _services_lock:
        if _batches is None:
            settings = Settings.from_env()
            deployment = settings.load_deployment()
            _batches = (
                Batches(Database(settings.database_url), DocumentStore(settings.document_root),
                        worker_seal_service, lease=settings.batch_lease, threads=settings.batch_threads),
                RQJobQueue(settings.redis_url, settings.queue, deployment),
            )
        return _batches


def seal_batch_job(batch_id: str) -> dict[str, Any]:
    """Seal a batch's items until none is left to claim; safe to run in many workers, and again.

    Items that must wait (a retry after a TSA outage, another worker's lease)
    get a job scheduled for when they can be claimed; the run that settles the
    last item tells the platform (``batch.finished``).
    """
    batches, queue = worker_batches()
    # A new name per run: a run that was presumed dead and comes back cannot record over its successor.
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    report = batches.work(batch_id, owner)
    try:
        if report.wake_at is not None:
            queue.wake_batch(batch_id, report.wake_at)
        if report.finished_now and report.progress is not None:
            progress = report.progress
            queue.event(report.api_key_sha256, "batch.finished", {
                "batch": batch_id, "organisation": progress.organisation, "total": progress.total,
                "sealed": progress.sealed, "failed": progress.failed,
            })
    except ServiceUnavailable as exc:
        # The seals are recorded; a lost wake-up is made good by the workers' sweep.
        log.warning("batch %s: could not queue its follow-up (%s)", batch_id, exc.code)
    return report.as_dict()


def raise_signature_job(session_id: str) -> dict[str, Any]:
    """Raise a signed session's signature to its level (timestamp, LTV); a no-op once the session is over.

    Retryable failures are raised for RQ to retry; the last attempt instead
    ends the session ``failed`` and tells the platform.
    """
    job = get_current_job()
    final = job is None or not job.retries_left
    return worker_signing_sessions().raise_level(session_id, final_attempt=final).as_dict()


def close_worker_services() -> None:
    """Log out of the HSM at worker shutdown."""
    global _services
    with _services_lock:
        holder, _services = _services, None
    if holder is not None:
        holder.close()


def record_path(destination: Path) -> Path:
    """Where a job notes what it wrote: beside the output, ``OUT.pdf.pakat.json``."""
    return destination.with_name(destination.name + RECORD_SUFFIX)


def seal_file_job(org_id: str, source: str, destination: str, level: str) -> dict[str, Any]:
    """Seal ``source`` into ``destination`` for ``org_id`` at ``level``; safe to run twice.

    If ``destination`` is already this job's completed output (same organisation,
    level and source, and the file is byte for byte what was recorded), its
    result is returned without signing again: a retried or duplicated job costs
    no HSM operation and does not change the file. Otherwise the file is sealed
    (replacing whatever was there) and the record is written after it.
    """
    src, dst = Path(source).absolute(), Path(destination).absolute()
    pades = PadesLevel.parse(level)
    done = _completed_record(org_id, src, dst, pades)
    if done is not None:
        log.info("already sealed: %s (%s, %s)", dst.name, org_id, pades.value)
        return done
    result = worker_seal_service().seal(org_id, src, dst, pades)
    # Record the paths as this job names them, so a rerun recognises its own output.
    record = {**result.as_dict(), "source": str(src), "destination": str(dst)}
    write_atomically(record_path(dst), json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8"))
    return record


def _completed_record(org_id: str, src: Path, dst: Path, level: PadesLevel) -> dict[str, Any] | None:
    try:
        record = json.loads(record_path(dst).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    same_job = (
        record.get("organisation") == org_id
        and record.get("level") == level.value
        and record.get("source") == str(src)
        and record.get("destination") == str(dst)
    )
    if not same_job or not dst.is_file() or sha256_file(dst) != record.get("output_sha256"):
        return None
    # A source changed since (same name, new content) is new work; a source
    # already cleaned up does not make the finished output invalid.
    if src.exists() and sha256_file(src) != record.get("input_sha256"):
        return None
    return record
