"""Prometheus metrics: what every process counts, and how one scrape sees them all.

``pakat serve`` runs several processes and ``pakat worker`` is another, so the
long-running commands call :func:`use_directory` before anything is counted:
prometheus_client's multiprocess mode then keeps each process's counters and
histograms in memory-mapped files under ``$PAKAT_HOME/metrics``, and
``GET /metrics`` on any web process adds up the files of every process of
this machine (web and workers alike). Without it (tests, the CLI) the
process's own values are exposed.

Values that are a state of the world rather than a count of events (queue
depth, batch items by state, days until a certificate expires) are not
counted here: the web process reads them at each scrape (see
:mod:`envelopes.observability`), so every process would agree on them anyway.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds: a B-B seal takes tens of milliseconds, a B-LTA one with a slow TSA many seconds.
_SEAL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_REMOTE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Metrics:
    """The counters and histograms of one process (see docs/operations.md for each name)."""

    http_requests: Counter
    http_seconds: Histogram
    seal_seconds: Histogram
    validation_seconds: Histogram
    hsm_errors: Counter
    remote_seconds: Histogram
    remote_errors: Counter


_registry = CollectorRegistry(auto_describe=True)
_metrics: Metrics | None = None
_lock = threading.Lock()


def metrics() -> Metrics:
    """This process's metrics, made on first use (after :func:`use_directory`, if the process calls it)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = Metrics(
                http_requests=Counter(
                    "pakat_http_requests", "HTTP requests answered, by route (the URL rule), method and status.",
                    ["route", "method", "status"], registry=_registry),
                http_seconds=Histogram(
                    "pakat_http_request_seconds", "Time to answer an HTTP request, by route.",
                    ["route"], buckets=_HTTP_BUCKETS, registry=_registry),
                seal_seconds=Histogram(
                    "pakat_seal_seconds", "Time to seal one PDF with an HSM key, by PAdES level and outcome.",
                    ["level", "outcome"], buckets=_SEAL_BUCKETS, registry=_registry),
                validation_seconds=Histogram(
                    "pakat_validation_seconds", "Time to validate one PDF, by outcome (indication or error code).",
                    ["outcome"], buckets=_SEAL_BUCKETS, registry=_registry),
                hsm_errors=Counter(
                    "pakat_hsm_errors", "HSM failures while sealing or probed, by error code.", ["code"],
                    registry=_registry),
                remote_seconds=Histogram(
                    "pakat_remote_request_seconds", "Time of a request to a TSA, OCSP responder or CRL server.",
                    ["service"], buckets=_REMOTE_BUCKETS, registry=_registry),
                remote_errors=Counter(
                    "pakat_remote_request_errors", "Failed requests to a TSA, OCSP responder or CRL server.",
                    ["service"], registry=_registry),
            )
        return _metrics


@contextlib.contextmanager
def timed_remote(service: str) -> Iterator[None]:
    """Time one request to ``service`` (tsa, ocsp, crl); an exception out of the block counts as an error."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        metrics().remote_errors.labels(service).inc()
        raise
    finally:
        metrics().remote_seconds.labels(service).observe(time.perf_counter() - started)


def use_directory(directory: Path) -> None:
    """Count in prometheus_client's multiprocess files under ``directory`` (made owner-only if absent).

    Called by ``pakat serve`` and ``pakat worker`` before they count anything;
    the environment variable carries the choice to the processes they start.
    Files of processes no longer running are removed first (their counts go
    with them: Prometheus reads a drop as a counter reset).
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)
    # prometheus_client picks its value class when first imported, which here is before the command ran.
    values.ValueClass = values.get_value_class()
    for path in directory.glob("*.db"):
        found = re.search(r"_(\d+)\.db$", path.name)
        if found and not _running(int(found.group(1))):
            with contextlib.suppress(OSError):
                path.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _OwnMetrics(Collector):
    """This process's own registry, as one collector of a scrape."""

    def collect(self) -> Iterable[Any]:
        return _registry.collect()


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text a scrape gets: every process's counts (or this one's), then the ``extra`` collectors' values."""
    metrics()  # the families exist (with no samples) before anything was counted
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get(MULTIPROCESS_ENV)
    if directory and Path(directory).is_dir():
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_OwnMetrics())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)
