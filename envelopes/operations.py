"""What an operator asks of a running Pakat: is it ready to serve, what state is it in, what expires soon.

:class:`Readiness` checks everything a seal or a batch needs (the database,
Redis, each organisation's HSM key, the TSA, the revocation responders) and
the certificates whose expiry would stop sealing (every seal certificate and
the TSA's). Each check has a short timeout, they run side by side, and the
answer is kept for a few seconds: a burst of probes costs one round of checks,
so ``/readyz`` cannot be used to hammer the HSM or the TSA.

:class:`StateCollector` gives the scrape-time metrics (queue depth, batch
items by state, certificate days to expiry); :class:`ExpiryWatch` writes a
WARNING line at start and daily for a certificate close to its end.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import http.client
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from envelopes.database import Database, batch_items, batches
from envelopes.queueing import RQJobQueue
from envelopes.sealing import SealService
from hsm_config.deployment import Deployment, load_certificate
from pakat.errors import PakatError
from signer.http import HttpClient
from signer.timestamps import TimestampAuthority

log = logging.getLogger(__name__)

OK, WARNING, FAIL = "ok", "warning", "fail"
#: Seconds one check may take before it counts as failed.
CHECK_TIMEOUT = 3.0
#: Seconds a readiness answer is reused.
CACHE_SECONDS = 5.0
#: The digest the TSA probe asks a timestamp over (what is stamped does not matter, only that it is).
_PROBE_IMPRINT = bytes(32)
_DAY = 86400.0

# Persian, then English, for each kind of check and outcome; ``{name}`` is the organisation or responder.
_MESSAGES: dict[tuple[str, str], tuple[str, str]] = {
    ("database", OK): ("پایگاه داده پاسخ می‌دهد.", "The database answers."),
    ("database", FAIL): ("پایگاه داده پاسخ نمی‌دهد.", "The database does not answer."),
    ("redis", OK): ("Redis (صف کارها) پاسخ می‌دهد.", "Redis (the job queue) answers."),
    ("redis", FAIL): ("Redis (صف کارها) پاسخ نمی‌دهد؛ کارهای صف انجام نمی‌شوند.",
                      "Redis (the job queue) does not answer; queued work cannot run."),
    ("hsm", OK): ("کلید مهر {name} در HSM در دسترس است.", "The seal key of {name} answers in the HSM."),
    ("hsm", FAIL): ("کلید مهر {name} در HSM در دسترس نیست.", "The seal key of {name} cannot be used in the HSM."),
    ("tsa", OK): ("سرویس مهر زمانی پاسخ می‌دهد.", "The timestamp authority answers."),
    ("tsa", FAIL): ("سرویس مهر زمانی پاسخ نمی‌دهد؛ مهر در سطح B-T و بالاتر ممکن نیست.",
                    "The timestamp authority does not answer; seals at B-T and above fail."),
    ("ocsp", OK): ("پاسخ‌گوی وضعیت ابطال {name} در دسترس است.", "The revocation responder {name} answers."),
    ("ocsp", FAIL): ("پاسخ‌گوی وضعیت ابطال {name} در دسترس نیست؛ مهر در سطح B-LT و بالاتر ممکن نیست.",
                     "The revocation responder {name} does not answer; seals at B-LT and above fail."),
    ("certificate", OK): ("گواهی {name} تا {days} روز دیگر معتبر است.",
                          "The certificate {name} is valid for {days} more days."),
    ("certificate", WARNING): ("گواهی {name} تا {days} روز دیگر منقضی می‌شود؛ گواهی تازه بگیرید.",
                               "The certificate {name} expires in {days} days; get a new one."),
    ("certificate", FAIL): ("گواهی {name} معتبر نیست (منقضی شده یا هنوز آغاز نشده).",
                            "The certificate {name} is not valid now (expired, or not yet valid)."),
}


@dataclass(frozen=True)
class Check:
    """One readiness check's outcome; ``detail`` is a stable code or a short fact, never a secret."""

    name: str
    kind: str
    status: str
    latency_ms: float
    message_fa: str
    message_en: str
    detail: str | None = None
    required: bool = True

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name, "status": self.status, "required": self.required,
                                 "latency_ms": round(self.latency_ms, 1),
                                 "message_fa": self.message_fa, "message_en": self.message_en}
        if self.detail:
            found["detail"] = self.detail
        return found


@dataclass(frozen=True)
class ReadinessReport:
    """Every check; ready unless one failed (a warning still serves)."""

    checks: tuple[Check, ...]
    checked_at: datetime

    @property
    def ready(self) -> bool:
        return all(check.status != FAIL for check in self.checks if check.required)

    @property
    def status(self) -> str:
        if not self.ready:
            return FAIL
        return WARNING if any(check.status != OK for check in self.checks) else OK

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "checked_at": self.checked_at.isoformat(timespec="seconds"),
                "checks": [check.as_dict() for check in self.checks]}


@dataclass(frozen=True)
class CertificateExpiry:
    """A certificate whose end stops sealing, and how far off that end is."""

    name: str  # "seal:<organisation>" or "tsa"
    not_before: datetime
    not_after: datetime

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / _DAY

    def status(self, now: datetime, warn_days: int) -> str:
        if now < self.not_before or now >= self.not_after:
            return FAIL
        return WARNING if self.days_left(now) < warn_days else OK


def _check(kind: str, status: str, name: str, started: float, detail: str | None = None, **fill: Any) -> Check:
    fa, en = _MESSAGES[(kind, status)]
    shown = name.split(":", 1)[-1]
    return Check(name, kind, status, (time.perf_counter() - started) * 1000, fa.format(name=shown, **fill),
                 en.format(name=shown, **fill), detail)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PakatError):
        return exc.code
    return type(exc).__name__


def reachable(url: str, timeout: float) -> None:
    """Raise OSError unless something answers HTTP at ``url`` (any status: a 404 at a responder's root lives)."""
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.netloc, timeout=timeout)
    try:
        conn.request("HEAD", parts.path or "/")
        conn.getresponse().read(0)
    except http.client.HTTPException as exc:
        raise OSError(type(exc).__name__) from None
    finally:
        conn.close()


@dataclass
class Readiness:
    """The readiness of one process's services, checked at most every ``cache_seconds``."""

    deployment: Deployment
    database: Database
    queue: RQJobQueue
    seals: Callable[[], SealService]
    warn_days: int = 30
    # Organisations whose seal key and certificate are reported but do not make the process unready.
    optional: tuple[str, ...] = ()
    cache_seconds: float = CACHE_SECONDS
    timeout: float = CHECK_TIMEOUT
    _cached: ReadinessReport | None = field(default=None, repr=False)
    _cached_at: float = field(default=0.0, repr=False)
    _tsa_certificate: x509.Certificate | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def report(self) -> ReadinessReport:
        """The last answer if it is fresh, else a new round of checks (one at a time: others wait for it)."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached_at < self.cache_seconds:
                return self._cached
            self._cached = self._run()
            self._cached_at = time.monotonic()
            return self._cached

    def _probes(self) -> list[tuple[str, str, Callable[[], Check]]]:
        probes: list[tuple[str, str, Callable[[], Check]]] = [("database", "database", self._database)]
        if self.queue.redis_url:
            probes.append(("redis", "redis", self._redis))
        for org_id in self.deployment.organisations:
            probes.append((f"hsm:{org_id}", "hsm", lambda org_id=org_id: self._hsm(org_id)))  # type: ignore[misc]
        if self.deployment.tsa_url:
            probes.append(("tsa", "tsa", self._tsa))
        for prefix in self.deployment.revocation_url_prefixes:
            probes.append((f"ocsp:{prefix}", "ocsp", lambda prefix=prefix: self._responder(prefix)))  # type: ignore[misc]
        return probes

    def _run(self) -> ReadinessReport:
        probes = self._probes()
        started = time.perf_counter()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="readiness")
        try:
            futures = [(name, kind, pool.submit(probe)) for name, kind, probe in probes]
            concurrent.futures.wait([f for _, _, f in futures], timeout=self.timeout)
            checks: list[Check] = []
            for name, kind, future in futures:
                if future.done():
                    checks.append(future.result())
                else:  # still waiting on its service: that is the answer
                    checks.append(_check(kind, FAIL, name, started, "TIMEOUT"))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        now = datetime.now(UTC)
        checks.extend(self._certificate_check(cert, now) for cert in self.certificates())
        optional = {f"hsm:{org}" for org in self.optional} | {f"certificate:seal:{org}" for org in self.optional}
        checks = [dataclasses.replace(c, required=False) if c.name in optional else c for c in checks]
        return ReadinessReport(tuple(checks), now)

    def _database(self) -> Check:
        started = time.perf_counter()
        try:
            with self.database.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            return _check("database", FAIL, "database", started, type(exc).__name__)
        return _check("database", OK, "database", started)

    def _redis(self) -> Check:
        started = time.perf_counter()
        try:
            self.queue.ping()
        except PakatError as exc:
            return _check("redis", FAIL, "redis", started, exc.detail or exc.code)
        return _check("redis", OK, "redis", started)

    def _hsm(self, org_id: str) -> Check:
        started, name = time.perf_counter(), f"hsm:{org_id}"
        try:
            self.seals().check_key(org_id)
        except Exception as exc:
            return _check("hsm", FAIL, name, started, _reason(exc))
        return _check("hsm", OK, name, started)

    def _tsa(self) -> Check:
        started = time.perf_counter()
        url = self.deployment.tsa_url
        assert url is not None
        try:
            # A timestamp of our own over a fixed digest: cheap for a TSA, and it brings the TSA's certificate.
            tsa = TimestampAuthority(url, HttpClient([url], timeout=self.timeout), self.seals().trust)
            token = tsa.timestamp_digest(_PROBE_IMPRINT)
        except Exception as exc:
            return _check("tsa", FAIL, "tsa", started, _reason(exc))
        if token.tsa_chain:
            self._tsa_certificate = token.tsa_chain[0]
        return _check("tsa", OK, "tsa", started)

    def _responder(self, prefix: str) -> Check:
        started, name = time.perf_counter(), f"ocsp:{prefix}"
        try:
            reachable(prefix, self.timeout)
        except OSError as exc:
            return _check("ocsp", FAIL, name, started, type(exc).__name__)
        return _check("ocsp", OK, name, started)

    def certificates(self) -> list[CertificateExpiry]:
        """Every seal certificate, and the TSA's once a timestamp has shown it."""
        found = []
        for org_id, org in self.deployment.organisations.items():
            try:
                cert = load_certificate(org.seal.certificate)
            except PakatError:
                continue  # the HSM check names what is wrong with the organisation's seal
            found.append(CertificateExpiry(f"seal:{org_id}", cert.not_valid_before_utc, cert.not_valid_after_utc))
        if self._tsa_certificate is not None:
            tsa = self._tsa_certificate
            found.append(CertificateExpiry("tsa", tsa.not_valid_before_utc, tsa.not_valid_after_utc))
        return found

    def learn_tsa_certificate(self) -> None:
        """Ask the TSA once now (at start), so its certificate's expiry is known before the first probe."""
        if self.deployment.tsa_url and self._tsa_certificate is None:
            self._tsa()

    def _certificate_check(self, cert: CertificateExpiry, now: datetime) -> Check:
        started = time.perf_counter()
        status = cert.status(now, self.warn_days)
        days = max(0, int(cert.days_left(now)))
        return _check("certificate", status, f"certificate:{cert.name}", started,
                      f"not after {cert.not_after.isoformat(timespec='seconds')}", days=days)


class StateCollector(Collector):
    """Metrics read at scrape time: queue depth, batch items by state, certificate days to expiry."""

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._queue()
        yield from self._batches()
        yield from self._certificates()

    def _queue(self) -> Iterable[GaugeMetricFamily]:
        queue = self.readiness.queue
        if not queue.redis_url:
            return []
        family = GaugeMetricFamily("pakat_queue_jobs", "Jobs in the RQ queue, by state.",
                                   labels=["queue", "state"])
        try:
            rq_queue = queue.queue()
            family.add_metric([queue.name, "queued"], rq_queue.count)
            family.add_metric([queue.name, "started"], rq_queue.started_job_registry.count)
            family.add_metric([queue.name, "scheduled"], rq_queue.scheduled_job_registry.count)
            family.add_metric([queue.name, "failed"], rq_queue.failed_job_registry.count)
        except Exception as exc:  # Redis is away: /readyz says so; the scrape still answers
            log.warning("metrics: queue depth unavailable (%s)", type(exc).__name__)
            return []
        return [family]

    def _batches(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("pakat_batch_items", "Items of running batches, by state.", labels=["state"])
        running = GaugeMetricFamily("pakat_batches_running", "Batches still running.")
        try:
            with self.readiness.database.engine.connect() as conn:
                rows = conn.execute(
                    select(batch_items.c.state, func.count())
                    .select_from(batch_items.join(batches, batches.c.id == batch_items.c.batch_id))
                    .where(batches.c.state == "running")
                    .group_by(batch_items.c.state)
                ).all()
                count = conn.execute(select(func.count()).select_from(batches)
                                     .where(batches.c.state == "running")).scalar_one()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("metrics: batch progress unavailable (%s)", type(exc).__name__)
            return []
        by_state = {"queued": 0, "sealing": 0, "sealed": 0, "failed": 0, **{str(s): int(n) for s, n in rows}}
        for state, n in sorted(by_state.items()):
            family.add_metric([state], n)
        running.add_metric([], int(count))
        return [family, running]

    def _certificates(self) -> Iterable[GaugeMetricFamily]:
        self.readiness.learn_tsa_certificate()  # once per process, unless a readiness probe already did
        now = datetime.now(UTC)
        days = GaugeMetricFamily("pakat_certificate_expiry_days",
                                 "Days until a seal or TSA certificate expires (negative: expired).",
                                 labels=["certificate"])
        warning = GaugeMetricFamily("pakat_certificate_expiry_warning",
                                    "1 when a certificate expires within the warning threshold or has expired.",
                                    labels=["certificate"])
        for cert in self.readiness.certificates():
            days.add_metric([cert.name], round(cert.days_left(now), 3))
            warning.add_metric([cert.name], 0 if cert.status(now, self.readiness.warn_days) == OK else 1)
        threshold = GaugeMetricFamily("pakat_certificate_expiry_warning_threshold_days",
                                      "Days before expiry at which a certificate is warned about.")
        threshold.add_metric([], self.readiness.warn_days)
        return [days, warning, threshold]


def warn_expiring(readiness: Readiness) -> int:
    """Log a WARNING line per certificate within the threshold or expired; how many there were."""
    now = datetime.now(UTC)
    warned = 0
    for cert in readiness.certificates():
        status = cert.status(now, readiness.warn_days)
        if status == OK:
            continue
        warned += 1
        log.warning("certificate %s %s on %s (%.1f days); threshold %d days", cert.name,
                    "expires" if status == WARNING else "is not valid: its validity ends",
                    cert.not_after.isoformat(timespec="seconds"), cert.days_left(now), readiness.warn_days,
                    extra={"certificate": cert.name, "expires": cert.not_after.isoformat(timespec="seconds")})
    return warned


class ExpiryWatch(threading.Thread):
    """Logs the certificates close to expiry now and then every ``interval`` seconds (a day).

    Started as a thread in a process that never forks (the worker). A process
    that forks (``pakat serve``'s master) must not run it as a thread: a fork
    taking the thread mid-check hands the child a lock, or a library's
    once-only initialisation (cryptography's certificate dates), held by a
    thread the child does not have, and the child's first use of it waits for
    ever. There the master's own loop calls :meth:`tick`, between its forks.
    ``ask_tsa`` False reads only the seal certificates from their files: the
    master has no business with the HTTP client or the metrics.
    """

    def __init__(self, readiness: Readiness, interval: float = _DAY, *, ask_tsa: bool = True) -> None:
        super().__init__(name="expiry-watch", daemon=True)
        self.readiness = readiness
        self.interval = interval
        self.ask_tsa = ask_tsa
        self._stop_event = threading.Event()
        self._next_check = 0.0  # monotonic time of the next check by tick(): the first call checks

    def check(self) -> int:
        try:
            if self.ask_tsa:
                self.readiness.learn_tsa_certificate()
            return warn_expiring(self.readiness)
        except Exception:
            log.exception("certificate expiry check failed")
            return 0

    def tick(self) -> None:
        """Check if one is due: for a caller's own loop, in place of :meth:`start`."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.interval
            self.check()

    def run(self) -> None:
        self.check()
        while not self._stop_event.wait(self.interval):
            self.check()

    def stop(self) -> None:
        self._stop_event.set()
