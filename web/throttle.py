"""Rate limits and lockouts: 429 with Retry-After, counted where every process and host sees them.

Before any view, each request counts in the windows that apply to it
(:class:`hsm_config.throttling.Throttling`, from the deployment's ``limits:``):

* ``api_key``: an API request with a valid API key, per key (its SHA-256, never the key);
* ``anonymous``: any other request (a wrong key included), per client address
  (:func:`web.security.client_address`);
* ``validate``: an anonymous validation (API or page), per client address, on top: it costs CPU;
* ``session``: an agent or signing-page call, per signing session, on top.

Windows are fixed, each opened by its subject's first request (not aligned to
the clock, so not everyone's window turns at once). Over a limit the answer is
RATE_LIMITED (429) with ``Retry-After``: the seconds left in the window.
Wrong credentials (an API key, an agent secret, a signing page's view token, a console password)
are counted per client address where their check fails (:func:`note_refusal`,
called by :mod:`web.errors` for those codes). The ``lockout.failures``-th
within ``lockout.seconds`` locks the address out of everything but
``/healthz`` for ``lockout.lock_seconds`` (CREDENTIALS_LOCKED, 429) and writes
one ``access.locked_out`` audit entry for the burst, never the guessed secret.

Why our own fixed-window counter rather than flask-limiter: the lockout needs
to count *failed* checks, lock and audit exactly once per burst, which
flask-limiter does not model, and one small counter serves both. Counters live
in Redis when REDIS_URL is set (SET NX EX, then INCR, so every process and
host shares them) and in this process's memory otherwise (one process: the
development setup). When Redis does not answer, requests are let through and a
warning is logged: a throttle must not take the service down with it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from flask import Flask, Response, current_app, g, request
from redis import Redis
from redis.exceptions import RedisError

from envelopes import audit
from envelopes.services import Services
from hsm_config.throttling import Rate, Throttling
from pakat import errors
from pakat.errors import PakatError
from web.auth import caller_api_key_sha256, organisation_of_caller
from web.security import client_address

log = logging.getLogger(__name__)

EXTENSION_KEY = "pakat.throttle"
#: Liveness, readiness and metrics answer whoever may ask, however often: load balancers and Prometheus poll
#: them (readiness and metrics are kept to operators by PAKAT_OPS_ALLOW or PAKAT_OPS_TOKEN).
EXEMPT_BLUEPRINTS = frozenset({"health", "observability"})
VALIDATION_ENDPOINTS = frozenset({"api.validate", "validate_pages.validate"})
SESSION_PREFIXES = ("/agent/", "/sign/")
REDIS_PREFIX = "pakat:throttle:"
REDIS_RETRY_SECONDS = 5
MAX_MEMORY_WINDOWS = 100_000
#: The error codes that mean "a wrong credential", and the credential's name in the audit entry.
CREDENTIAL_REFUSALS = {errors.API_KEY_INVALID.code: "api_key", errors.AGENT_SECRET_INVALID.code: "agent_secret",
                       # the console's sign-in and password change (web.console.auth calls note_refusal)
                       errors.SIGN_IN_FAILED.code: "console_password",
                       errors.PASSWORD_WRONG.code: "console_password"}


class Throttled(PakatError):
    """A 429: RATE_LIMITED or CREDENTIALS_LOCKED, with the seconds to wait (sent as Retry-After)."""

    def __init__(self, kind: errors.ErrorKind, retry_after: int, detail: str | None = None) -> None:
        super().__init__(kind, detail)
        self.retry_after = max(1, retry_after)
        g.pakat_retry_after = self.retry_after


class Counters(Protocol):
    """Fixed windows and locks, shared by whoever shares the store."""

    def hit(self, key: str, seconds: int) -> tuple[int, int]:
        """Count one in the current window of ``seconds``: (the count so far, seconds left in the window)."""

    def lock(self, key: str, seconds: int) -> bool:
        """Lock ``key`` for ``seconds`` unless locked already; whether this call locked it."""

    def locked_for(self, key: str) -> int:
        """Seconds left on the lock of ``key``; 0 when not locked."""


class MemoryCounters:
    """This process's own counters: for one process (development); several processes each count apart."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[float, int]] = {}  # key → (monotonic end of its window, count)
        self._locks: dict[str, float] = {}  # key → monotonic end
        self._lock = threading.Lock()

    def hit(self, key: str, seconds: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            if len(self._counts) > MAX_MEMORY_WINDOWS:  # windows of addresses gone quiet
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
                if len(self._counts) > MAX_MEMORY_WINDOWS:  # a flood of made-up ids: bounded memory first
                    self._counts.clear()
            end, count = self._counts.get(key, (0.0, 0))
            if end <= now:  # the first request opens a window of its own
                end, count = now + seconds, 0
            self._counts[key] = (end, count + 1)
        return count + 1, max(1, int(end - now + 0.999))

    def lock(self, key: str, seconds: int) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._locks.get(key, 0.0) > now:
                return False
            self._locks = {k: end for k, end in self._locks.items() if end > now}
            self._locks[key] = now + seconds
            return True

    def locked_for(self, key: str) -> int:
        with self._lock:
            left = self._locks.get(key, 0.0) - time.monotonic()
        return int(left + 0.999) if left > 0 else 0


class RedisCounters:
    """Counters in Redis: every web process on every host sees the same counts."""

    def __init__(self, url: str) -> None:
        # Short timeouts: a throttle that waits on a stalled Redis would stall every request.
        self.redis = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._warned = 0.0
        self._down_until = 0.0  # after a failure Redis is not asked for a while: no request waits on it

    def hit(self, key: str, seconds: int) -> tuple[int, int]:
        name = f"{REDIS_PREFIX}{key}:{seconds}"
        if self._down():
            return 0, seconds
        try:
            # The first request opens the window (SET NX with its expiry); the others count in it.
            pipe = self.redis.pipeline()
            pipe.set(name, 0, ex=seconds, nx=True)
            pipe.incr(name)
            pipe.ttl(name)
            _, count, left = pipe.execute()
        except RedisError as exc:
            self._unreachable(exc)
            return 0, seconds
        return int(count), max(1, int(left))

    def lock(self, key: str, seconds: int) -> bool:
        if self._down():
            return False
        try:
            return bool(self.redis.set(f"{REDIS_PREFIX}lock:{key}", b"1", ex=seconds, nx=True))
        except RedisError as exc:
            self._unreachable(exc)
            return False

    def locked_for(self, key: str) -> int:
        if self._down():
            return 0
        try:
            left = int(self.redis.ttl(f"{REDIS_PREFIX}lock:{key}"))
        except RedisError as exc:
            self._unreachable(exc)
            return 0
        return max(0, left)

    def _down(self) -> bool:
        return time.monotonic() < self._down_until

    def _unreachable(self, exc: RedisError) -> None:
        self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
        if time.monotonic() - self._warned > 60:  # once a minute, not once a request
            self._warned = time.monotonic()
            log.warning("rate limits not enforced: Redis does not answer (%s)", type(exc).__name__)


class Throttle:
    """One application's limits and where they are counted."""

    def __init__(self, services: Services, counters: Counters) -> None:
        self.services = services
        self.counters = counters

    @property
    def config(self) -> Throttling:
        return self.services.deployment.throttling

    def check(self) -> None:
        """Refuse the current request if its address is locked out or a window it counts in is full."""
        if request.blueprint in EXEMPT_BLUEPRINTS:
            return
        address = client_address()
        locked = self.counters.locked_for(address)
        if locked:
            raise Throttled(errors.CREDENTIALS_LOCKED, locked)
        for bucket, subject, rate in self._windows(address):
            count, left = self.counters.hit(f"{bucket}:{subject}", rate.seconds)
            if count > rate.count:
                raise Throttled(errors.RATE_LIMITED, left, f"{bucket}: {rate.count} per {rate.seconds} s")

    def _windows(self, address: str) -> list[tuple[str, str, Rate]]:
        config = self.config
        if _bearer() and request.path.startswith("/api/") and _known_key():
            return [("api_key", caller_api_key_sha256(), config.api_key)]
        # A made-up key buys no window of its own: it counts as anonymous here, and where a key is
        # required its failed check counts towards the lockout as well.
        windows = [("anonymous", address, config.anonymous)]
        if request.endpoint in VALIDATION_ENDPOINTS:
            windows.append(("validate", address, config.validate))
        session_id = (request.view_args or {}).get("session_id")
        if isinstance(session_id, str) and request.path.startswith(SESSION_PREFIXES):
            windows.append(("session", session_id, config.session))
        return windows

    def note_refusal(self, error: PakatError) -> None:
        """Count a failed credential check; the burst's last allowed failure locks the address and is audited."""
        credential = CREDENTIAL_REFUSALS.get(error.code)
        if credential is None and error.kind is errors.SESSION_NOT_FOUND and request.blueprint == "sign_page":
            credential = "view_token"  # the signing page answers a wrong token as an unknown session
        if credential is None:
            return
        address = client_address()
        lockout = self.config.lockout
        failures, _ = self.counters.hit(f"failures:{address}", lockout.seconds)
        if failures < lockout.failures or not self.counters.lock(address, lockout.lock_seconds):
            return
        log.warning("locked out %s for %d s after %d wrong credentials (%s)", address, lockout.lock_seconds,
                    failures, credential)
        try:
            self.services.audit_log().record(
                audit.ACCESS_LOCKED_OUT, actor=audit.client_actor(address), subject=audit.client_actor(address),
                details={"credential": credential, "failures": failures, "window_seconds": lockout.seconds,
                         "lock_seconds": lockout.lock_seconds},
            )
        except Exception:  # the lock holds either way; a failed entry is logged, not answered as a 500
            log.exception("could not write the lockout to the audit log")


def _known_key() -> bool:
    """Whether the request's API key passes the check the views make (web.auth), without counting a failure."""
    try:
        organisation_of_caller()
    except PakatError:
        return False
    return True


def _bearer() -> bool:
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(value.strip())


def throttle() -> Throttle | None:
    """The current application's throttle, if :func:`register` installed one."""
    found: Throttle | None = current_app.extensions.get(EXTENSION_KEY)
    return found


def note_refusal(error: PakatError) -> None:
    """Count ``error`` towards the lockout if it refuses a credential (for :mod:`web.errors`)."""
    found = throttle()
    if found is not None:
        found.note_refusal(error)


def _check() -> None:
    found = throttle()
    if found is not None:
        found.check()


def _retry_after(response: Response) -> Response:
    # Here rather than in each error handler: the JSON errors and the /validate page's both pass by.
    wait = g.get("pakat_retry_after")
    if wait is not None:
        response.headers["Retry-After"] = str(wait)
    return response


def register(app: Flask, services: Services) -> None:
    """Count every request before its view; Redis when REDIS_URL is set, else this process's memory."""
    url = services.settings.redis_url
    counters: Counters = RedisCounters(url) if url else MemoryCounters()
    app.extensions[EXTENSION_KEY] = Throttle(services, counters)
    app.before_request(_check)
    app.after_request(_retry_after)
