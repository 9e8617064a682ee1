"""``pakat serve`` and ``pakat worker``: the web application (waitress, see :mod:`web.server`), and the RQ worker.

Both parse the deployment and bring the database schema to head before they
start, so a broken configuration stops the command rather than every worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path

import click
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.scheduler import RQScheduler

from commands.common import config_option, configure_logging, configure_metrics
from commands.database import upgrade_database
from envelopes.audit import system_actor
from envelopes.operations import ExpiryWatch
from envelopes.queueing import RequestIdWorker
from envelopes.services import Services, forget_process_services, install_process_services
from hsm_config.deployment import load_deployment
from pakat import errors
from pakat.errors import AccessError, PakatError
from pakat.settings import Settings
from web import create_app, server

log = logging.getLogger("pakat")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Serving processes (each logs in to the HSM once); one that dies is replaced.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(min=1),
              help="Threads per process running requests that have fully arrived; they share its HSM sessions.")
@config_option
def serve(host: str, port: int, workers: int, threads: int, config: Path | None) -> None:
    """Run the web application: waitress in several processes, late clients closed (web.server)."""
    if config is not None:
        # The environment is how the settings reach the serving processes' create_app.
        os.environ["PAKAT_CONFIG"] = str(config.resolve())
    settings = Settings.from_env()
    settings.require_public_url(host)  # beyond loopback, links never come from a client's Host header
    deployment = load_deployment(settings.config)  # a broken configuration stops here, not in every process
    settings.ensure_tmp()
    configure_logging(settings)
    configure_metrics(settings)  # before the fork: the serving processes inherit where to count
    upgrade_database(settings, "serve", deployment)  # once, here: the processes fork after this
    # The master forks the serving processes, so it runs no thread: it checks the seal certificates
    # itself between forks (ExpiryWatch.tick), never the TSA. The worker's watch asks the TSA.
    expiry = ExpiryWatch(Services.from_settings(settings, deployment).readiness(), ask_tsa=False)
    # create_app runs in each process after the fork, so each opens the HSM itself on its first seal.
    server.serve(settings, lambda: create_app(settings), host, port, workers, threads, between_forks=expiry.tick)


@click.command()
@click.option("--burst", is_flag=True, help="Work until the queue is empty, then exit.")
@config_option
def worker(burst: bool, config: Path | None) -> None:
    """Run an RQ worker for $PAKAT_QUEUE on $REDIS_URL, staying logged in to the HSM across jobs."""
    if config is not None:
        os.environ["PAKAT_CONFIG"] = str(config.resolve())
    settings = Settings.from_env()
    if not settings.redis_url:
        raise AccessError(errors.CONFIG_INVALID, "set REDIS_URL to run a worker")
    services = Services.from_settings(settings)  # a broken configuration stops now, not on the first job
    configure_logging(settings)
    configure_metrics(settings)
    upgrade_database(settings, "worker", services.deployment)
    install_process_services(services)  # the jobs this worker runs use these

    connection = Redis.from_url(settings.redis_url)
    try:
        connection.ping()
    except RedisError as exc:
        # The URL may carry a password: name only where it points.
        where = connection.connection_pool.connection_kwargs
        raise AccessError(
            errors.CONFIG_INVALID,
            f"cannot reach Redis at {where.get('host', '?')}:{where.get('port', '?')}: {type(exc).__name__}",
        ) from None
    # SimpleWorker runs jobs in this process: a forking worker would log in to the
    # HSM again for every job and throw the session away afterwards.
    def new_worker() -> RequestIdWorker:
        return RequestIdWorker([Queue(settings.queue, connection=connection)], connection=connection,
                               maintenance_interval=MAINTENANCE_SECONDS)

    rq_worker = new_worker()
    # Signatures whose level job was lost (Redis restarted, a queue outage) are picked up again.
    requeued = services.sessions().requeue_signed()
    if requeued:
        log.info("re-queued %d signed session(s) whose level is still to raise", requeued)
    # Batches whose jobs were lost (Redis restarted empty) are woken now and at every sweep.
    sweeper = BatchSweeper(services, settings.batch_sweep_seconds)
    sweeper.sweep()
    scheduler = SchedulerThread(settings.redis_url, settings.queue)
    expiry = ExpiryWatch(services.readiness())
    # What the retention policy says is due is deleted now and then every PAKAT_RETENTION_SECONDS.
    retention = RetentionSweeper(services, settings.retention_seconds)
    retention.sweep()
    if not burst:
        sweeper.start()
        scheduler.start()
        expiry.start()
        retention.start()
    try:
        while True:
            try:
                # Never RQ's own scheduler: see SchedulerThread. RQ's routine lines stay out of the log.
                log.info("Listening on queue %s", settings.queue)
                rq_worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
            except RedisError as exc:  # Redis went away while (re)starting: wait for it as RQ does when idle
                log.error("worker: Redis unavailable (%s), retrying", type(exc).__name__)
            # RQ quits on an error it did not expect, such as Redis restarting under a running job; a
            # worker asked to stop (SIGTERM, SIGINT: RQ notes when) or a burst run really ends.
            if burst or getattr(rq_worker, "_shutdown_requested_date", None) is not None:
                break
            time.sleep(2)
            rq_worker = new_worker()
    finally:
        sweeper.stop()
        retention.stop()
        scheduler.stop()
        expiry.stop()
        forget_process_services()  # logs out of the HSM


#: How often RQ's maintenance (cleaning its registries of dead workers' jobs) runs in a worker.
MAINTENANCE_SECONDS = 60


class SchedulerThread(threading.Thread):
    """RQ's scheduler (due retries and wake-ups into the queue), run as a thread of the worker.

    RQ would fork it from the worker, and a fork inherits the worker's sockets:
    when the worker is killed (SIGKILL, the OOM killer) the orphaned scheduler
    lives on holding its PostgreSQL connections, so a transaction the worker had
    open keeps its row locks for ever and every other worker waits on them. A
    thread dies with its process. One worker holds the queue's scheduler lock at
    a time; the others try again every ``LOCK_RETRY_SECONDS``, so when the holder
    dies its lock (which lives ``interval`` + 60 s unrenewed) passes on.
    """

    LOCK_RETRY_SECONDS = 10.0

    def __init__(self, redis_url: str, queue: str, interval: int = 1) -> None:
        super().__init__(name="rq-scheduler", daemon=True)
        # Whole seconds: RQ passes interval + 60 to Redis as the lock's TTL, which must be an integer.
        self.scheduler = RQScheduler([queue], connection=Redis.from_url(redis_url), interval=interval,
                                     logging_level=logging.WARNING)  # its routine lines are noise in the log
        self.interval = interval
        self._stop_event = threading.Event()

    def tick(self, try_lock: bool) -> None:
        """Move the jobs that are due into the queue if this worker holds the lock; else try for it."""
        scheduler = self.scheduler
        if not scheduler.acquired_locks:
            if try_lock and scheduler.acquire_locks():
                scheduler.register_birth()
            return
        scheduler.heartbeat()  # renews the lock, and takes it again if Redis restarted empty
        scheduler.enqueue_scheduled_jobs()

    def run(self) -> None:
        next_try = 0.0
        while not self._stop_event.wait(self.interval):
            try_lock = time.monotonic() >= next_try
            if try_lock:
                next_try = time.monotonic() + self.LOCK_RETRY_SECONDS
            try:
                self.tick(try_lock)
            except RedisError as exc:  # Redis is away: the next tick tries again
                log.warning("scheduler: Redis unavailable (%s)", type(exc).__name__)
            except Exception:
                log.exception("scheduler tick failed")

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(5)
        with contextlib.suppress(RedisError):
            if self.scheduler.acquired_locks:
                self.scheduler.release_locks()  # another worker need not wait for the lock to expire
                self.scheduler.register_death()


class BatchSweeper(threading.Thread):
    """Wakes every running batch on a timer, so no batch waits forever on a job Redis lost.

    A wake is a no-op when a job for the batch is already waiting, and a job
    finds nothing to do when the batch's items are all claimed and leased.
    """

    def __init__(self, services: Services, interval: float) -> None:
        super().__init__(name="batch-sweeper", daemon=True)
        self.services = services
        self.interval = interval
        self._stop_event = threading.Event()

    def sweep(self) -> int:
        batches, queue = self.services.batches(), self.services.queue
        woken = 0
        try:
            for batch_id in batches.stalled():
                woken += queue.wake_batch(batch_id)
        except PakatError as exc:  # the queue is down: the next sweep tries again
            log.warning("batch sweep: %s", exc.code)
        except Exception:
            log.exception("batch sweep failed")
        if woken:
            log.info("woke %d running batch(es)", woken)
        return woken

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sweep()

    def stop(self) -> None:
        self._stop_event.set()


class RetentionSweeper(threading.Thread):
    """Applies the deployment's retention policy (:meth:`envelopes.retention.Retention.purge`) on a timer.

    Several workers may sweep at once: a deletion another one made first is
    skipped, and each deletion is its own transaction.
    """

    def __init__(self, services: Services, interval: float) -> None:
        super().__init__(name="retention", daemon=True)
        self.services = services
        self.interval = interval
        self._stop_event = threading.Event()

    def sweep(self) -> int:
        try:
            report = self.services.retention().purge(actor=system_actor("worker"))
        except Exception:  # the database is away, or a bug: the next sweep tries again
            log.exception("retention sweep failed")
            return 0
        return len(report.deleted)

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sweep()

    def stop(self) -> None:
        self._stop_event.set()
