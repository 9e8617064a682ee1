"""The follow-up work of signing sessions, queued on RQ.

Web processes and workers each hold one :class:`RQJobQueue` (its Redis
connection is opened on first use, after any fork). Jobs are enqueued by
importable name with plain arguments, so any worker with the code runs them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime
from typing import Any

import rq
from redis import Redis
from redis.exceptions import RedisError

from envelopes import webhooks
from hsm_config.deployment import Deployment
from pakat import errors
from pakat.errors import ServiceUnavailable
from pakat.logs import current_request_id, request_id_set

log = logging.getLogger(__name__)

# Seconds between attempts to raise a signature to its level when the TSA or a
# responder is down; after the last, the session ends failed with the B-B signature kept.
RAISE_RETRY_INTERVALS = (5, 30, 120, 600)
#: Jobs started per batch at most: one per worker that should share it. Extra ones find nothing and end.
MAX_BATCH_JOBS = 8
#: Items per job started, so a small batch does not wake every worker.
ITEMS_PER_BATCH_JOB = 25
BATCH_JOB = "envelopes.jobs.seal_batch_job"
#: Seconds a batch job may take: its run, then the last items it claimed (sealed within their lease).
DEFAULT_BATCH_JOB_TIMEOUT = 60 + 120 + 60


#: Where a job carries the id of the request that queued it (see :class:`RequestIdQueue`).
REQUEST_ID_META = "request_id"


class RequestIdQueue(rq.Queue):
    """An RQ queue whose every new job carries the current request id in its meta.

    Every way of queueing (enqueue, enqueue_at, enqueue_many, retries of the
    same job) makes its job here, so a worker's lines for a batch carry the id
    of the request that started it, and so do the jobs that job queues in turn.
    """

    def create_job(self, *args: Any, **kwargs: Any) -> rq.job.Job:
        request_id = current_request_id()
        if request_id is not None:
            kwargs["meta"] = {**(kwargs.get("meta") or {}), REQUEST_ID_META: request_id}
        return super().create_job(*args, **kwargs)


class RequestIdWorker(rq.SimpleWorker):
    """A SimpleWorker that runs each job under the request id it carries, and logs its start and end."""

    def perform_job(self, job: rq.job.Job, queue: rq.Queue) -> bool:
        request_id = (job.meta or {}).get(REQUEST_ID_META)
        with request_id_set(request_id if isinstance(request_id, str) else None):
            started = time.perf_counter()
            log.info("job %s started: %s", job.id, job.func_name, extra={"job_id": job.id})
            done = super().perform_job(job, queue)
            log.info("job %s %s in %.2f s", job.id, "finished" if done else "failed",
                     time.perf_counter() - started, extra={"job_id": job.id})
            return done


class RQJobQueue:
    """:class:`envelopes.sessions.JobQueue` on an RQ queue; without a Redis URL every use is QUEUE_UNAVAILABLE."""

    def __init__(self, redis_url: str | None, name: str, deployment: Deployment, *,
                 batch_job_timeout: int = DEFAULT_BATCH_JOB_TIMEOUT) -> None:
        self.redis_url = redis_url
        self.name = name
        self.deployment = deployment
        # RQ stops a job past its timeout by raising wherever it happens to be (its default: 180 s); a batch
        # run ends on its own well before this.
        self.batch_job_timeout = batch_job_timeout
        self._queue: rq.Queue | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def queue(self) -> rq.Queue:
        if not self.redis_url:
            raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, "REDIS_URL is not set")
        with self._lock:
            if self._queue is None or self._pid != os.getpid():
                self._queue = RequestIdQueue(self.name, connection=Redis.from_url(self.redis_url))
                self._pid = os.getpid()
            return self._queue

    def ping(self) -> None:
        try:
            self.queue().connection.ping()
        except RedisError as exc:
            raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, type(exc).__name__) from None

    def raise_level(self, session_id: str) -> None:
        try:
            self.queue().enqueue(
                "envelopes.jobs.raise_signature_job",
                session_id,
                job_id=f"raise-{session_id}",
                description=f"raise the signature of session {session_id} to its level",
                retry=rq.Retry(max=len(RAISE_RETRY_INTERVALS), interval=list(RAISE_RETRY_INTERVALS)),
            )
        except RedisError as exc:
            raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, type(exc).__name__) from None

    def start_batch(self, batch_id: str, total: int) -> None:
        """Wake enough workers for a new batch; each job works until nothing is left to claim."""
        jobs = max(1, min(MAX_BATCH_JOBS, -(-total // ITEMS_PER_BATCH_JOB)))
        try:
            queue = self.queue()
            queue.enqueue_many([
                rq.Queue.prepare_data(BATCH_JOB, (batch_id,), job_id=f"batch-{batch_id}-{n}",
                                      description=f"seal batch {batch_id}", result_ttl=3600,
                                      timeout=self.batch_job_timeout)
                for n in range(jobs)
            ])
        except RedisError as exc:
            raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, type(exc).__name__) from None

    def wake_batch(self, batch_id: str, at: datetime | None = None) -> bool:
        """One more job for a batch, now or at ``at``; none if one is already waiting. True if enqueued.

        Waking *now* does not trust an earlier wake-up scheduled for later: the
        scheduler that would move it may have died with Redis, so it is taken
        out of the schedule and queued at once.
        """
        job_id = f"batch-{batch_id}-wake"
        try:
            queue = self.queue()
            existing = queue.fetch_job(job_id)
            status = existing.get_status(refresh=False) if existing is not None else None
            if status == "queued" or (at is not None and status in ("scheduled", "deferred")):
                return False
            if status == "scheduled":
                queue.scheduled_job_registry.remove(job_id)
            if at is None:
                queue.enqueue(BATCH_JOB, batch_id, job_id=job_id, description=f"seal batch {batch_id}",
                              result_ttl=3600, job_timeout=self.batch_job_timeout)
            else:
                queue.enqueue_at(at, BATCH_JOB, batch_id, job_id=job_id, description=f"seal batch {batch_id}",
                                 result_ttl=3600, job_timeout=self.batch_job_timeout)
            return True
        except RedisError as exc:
            raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, type(exc).__name__) from None

    def continue_batch(self, batch_id: str, job_id: str | None) -> bool:
        """Queue the successor of a batch run whose time was up; False if it is already waiting or running.

        A run ends after its time so that other work (a bidder's signature, a
        webhook) gets a worker between runs; its successor goes to the back of
        the queue. Runs alternate between two job ids, ``…`` and ``…-next``, so
        a batch keeps as many runs going as it was started with, never more.
        """
        if job_id is None or not job_id.startswith(f"batch-{batch_id}-"):
            return self.wake_batch(batch_id)  # not run by RQ under a batch job id
        successor = job_id.removesuffix("-next") if job_id.endswith("-next") else f"{job_id}-next"
        try:
            queue = self.queue()
            existing = queue.fetch_job(successor)
            if existing is not None and existing.get_status(refresh=False) in ("queued", "started"):
                return False
            queue.enqueue(BATCH_JOB, batch_id, job_id=successor, description=f"seal batch {batch_id}",
                          result_ttl=3600, job_timeout=self.batch_job_timeout)
            return True
        except RedisError as exc:
            raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, type(exc).__name__) from None

    def event(self, api_key_sha256: str | None, event: str, data: dict[str, Any]) -> None:
        webhooks.enqueue_event(self.queue(), self.deployment, api_key_sha256, event, data)
