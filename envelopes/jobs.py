"""RQ jobs: sealing files and batches, and raising agent signatures to their level, in a long-lived worker.

``pakat worker`` runs an RQ ``SimpleWorker`` (no fork per job), so the seal
service built by the first job stays logged in for the next ones. Jobs take
their services from :func:`envelopes.services.process_services`. Jobs take
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
from pathlib import Path
from typing import Any

from rq import get_current_job

from envelopes import webhooks
from envelopes.services import process_services
from pakat.errors import ServiceUnavailable
from pakat.files import sha256_file, write_atomically
from signer.levels import PadesLevel

log = logging.getLogger(__name__)

RECORD_SUFFIX = ".pakat.json"

def seal_batch_job(batch_id: str) -> dict[str, Any]:
    """Seal a batch's items until none is left to claim; safe to run in many workers, and again.

    A run ends after ``PAKAT_BATCH_RUN_SECONDS`` and queues its successor, so
    other jobs get a worker in between. Items that must wait (a retry after a
    TSA outage, another worker's lease) get a job scheduled for when they can
    be claimed; the run that settles the last item tells the platform
    (``batch.finished``).
    """
    services = process_services()
    batches, queue = services.batches(), services.queue
    # A new name per run: a run that was presumed dead and comes back cannot record over its successor.
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    report = batches.work(batch_id, owner, max_seconds=services.settings.batch_run_seconds)
    try:
        if report.out_of_time and not report.finished_now:
            job = get_current_job()
            queue.continue_batch(batch_id, job.id if job is not None else None)
        elif report.wake_at is not None:
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
    return process_services().sessions().raise_level(session_id, final_attempt=final).as_dict()


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
    result = process_services().seals.get().seal(org_id, src, dst, pades)
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


def deliver_webhook_job(api_key_sha256: str, event_id: str, body: str) -> dict[str, Any]:
    """Deliver one webhook event with this worker's configuration; raise so that RQ retries.

    The URL and secret are read from the deployment at each attempt, never
    carried in the job; each attempt is recorded in this process's database.
    """
    services = process_services()
    attempt, last = _attempt()
    return webhooks.deliver_event(services.deployment, services.database, api_key_sha256, event_id, body,
                                  attempt=attempt, last=last)


def _attempt() -> tuple[int, bool]:
    """This run's attempt number (1 first) and whether it is the last, from the RQ job running it."""
    job = get_current_job()
    if job is None:  # called directly: one attempt, nobody retries it
        return 1, True
    left = job.retries_left or 0
    planned = int(job.meta.get("retries", len(job.retry_intervals or ())))
    # A retry asked for by hand (webhooks.requeue_event) goes on numbering after the attempts recorded.
    first = int(job.meta.get("first_attempt", 1))
    return max(first, first + planned - left), left <= 0
