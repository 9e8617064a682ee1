"""Platform webhooks: telling the platform that owns an API key that a signature completed or failed.

An event is a compact JSON object ``{"id", "event", "created_at", ...}`` POSTed
to the URL configured on the API key (``api_keys[].webhook`` in the deployment
file), signed with the key's webhook secret::

    X-Pakat-Timestamp: 1767225600
    X-Pakat-Signature: sha256=<hex HMAC-SHA256(secret, b"1767225600." + body)>

Delivery runs on the RQ queue (:func:`envelopes.jobs.deliver_webhook_job`) and is retried
after each ``webhooks.retry_intervals`` wait until the platform answers 2xx.
A retry sends the same event id and body with a fresh timestamp, so a
platform may see an event more than once and must deduplicate by ``id``.
Redirects are never followed: a 3xx is a failed attempt.

Every attempt, delivered or not, is recorded in ``webhook_deliveries`` (see
:func:`record_attempt`): the event, the attempt's number, when, the HTTP status
or why nothing answered, how long it took, and whether it was delivered, will
be retried or was the last. The URL is recorded as ``scheme://host[:port]/path``
only: a query string may carry the platform's own token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import math
import ssl
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import rq
from redis.exceptions import RedisError
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError

from envelopes.database import Database, utcnow, webhook_deliveries
from hsm_config.deployment import Deployment
from pakat import errors
from pakat.dates import iso_utc
from pakat.errors import PakatError, ServiceUnavailable

log = logging.getLogger(__name__)

SIGNATURE_COMPLETED = "signature.completed"
SIGNATURE_FAILED = "signature.failed"
USER_AGENT = "Pakat-Webhook/1"
# Keys every event carries; an event's own data may not replace them.
RESERVED_KEYS = frozenset({"id", "event", "created_at"})
# A platform's answer is not used; read a little of it so the connection closes cleanly.
MAX_ANSWER_BYTES = 64 * 1024
# What became of an attempt.
DELIVERED = "delivered"
RETRYING = "retrying"  # failed; the queue tries again after the next interval
GAVE_UP = "gave_up"  # failed, and it was the last attempt
MAX_DELIVERIES_PAGE = 500

#: The RQ job that delivers an event, by name (it runs on a worker's services).
DELIVERY_JOB = "envelopes.jobs.deliver_webhook_job"


class WebhookRefused(Exception):
    """A delivery attempt failed: a non-2xx answer (``status``) or no answer at all (``status`` None).

    The message names the host and the status or the kind of network failure,
    never the secret, the body or the URL's path and query.
    """

    def __init__(self, host: str, status: int | None, reason: str, cause: str | None = None) -> None:
        self.host = host
        self.status = status
        self.cause = cause  # the kind of network failure when nothing answered, e.g. ConnectionRefusedError
        super().__init__(f"webhook to {host} failed: {reason}")

    @property
    def error(self) -> str:
        """A short code for the delivery record: ``HTTP_500``, or the kind of network failure."""
        return f"HTTP_{self.status}" if self.status is not None else (self.cause or "NO_ANSWER")


@dataclass(frozen=True)
class DeliveryAttempt:
    """One recorded attempt to deliver an event, as the platform may see it."""

    id: int
    event_id: str
    event: str
    url: str
    attempt: int
    at: datetime
    status: int | None
    error: str | None
    duration_ms: int
    outcome: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "event_id": self.event_id, "event": self.event, "url": self.url,
            "attempt": self.attempt, "at": iso_utc(self.at), "status": self.status,
            "error": self.error, "duration_ms": self.duration_ms, "outcome": self.outcome,
        }


def event_body(event: str, data: Mapping[str, Any]) -> tuple[str, bytes]:
    """A new event's id and its JSON body (compact, UTF-8, Persian kept as is)."""
    clash = RESERVED_KEYS.intersection(data)
    if clash:
        raise ValueError(f"event data may not set {', '.join(sorted(clash))}")
    event_id = uuid.uuid4().hex
    created = iso_utc(dt.datetime.now(dt.UTC).replace(microsecond=0))
    payload = {"id": event_id, "event": event, "created_at": created, **data}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return event_id, body


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Pakat-Signature``: ``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    return _signed(secret, timestamp, body)


def verify_signature(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    tolerance_seconds: int = 300,
) -> bool:
    """For platforms: is this request from Pakat, unchanged, and recent?

    ``body`` must be the raw bytes received (before any JSON parsing). A
    timestamp more than ``tolerance_seconds`` away from now is refused, so a
    recorded request cannot be replayed later.
    """
    if not timestamp_header or not signature_header:
        return False
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError:
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    expected = _signed(secret, timestamp, body)
    return hmac.compare_digest(expected.encode("ascii"), signature_header.strip().encode("utf-8", "replace"))


def _signed(secret: str, timestamp: int, body: bytes) -> str:
    # A function of its own: verify_signature's parameter shadows signature_header's name.
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def deliver(url: str, secret: str, event_id: str, body: bytes, timeout: float) -> int:
    """POST one signed event to ``url`` and return the 2xx status; :class:`WebhookRefused` otherwise.

    ``timeout`` bounds the connection and each read. Redirects are not followed.
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    event = _event_name(body)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Pakat-Event": event,
        "X-Pakat-Event-Id": event_id,
        "X-Pakat-Timestamp": str(timestamp),
        "X-Pakat-Signature": signature_header(secret, timestamp, body),
    }
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(MAX_ANSWER_BYTES)
        status = answer.status
    except (OSError, http.client.HTTPException) as exc:
        # Only the kind of failure: the library's message may quote the URL.
        cause = type(exc).__name__
        raise WebhookRefused(host, None, f"no answer ({cause})", cause) from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise WebhookRefused(host, status, f"HTTP {status}")
    return status


def deliver_event(
    deployment: Deployment, database: Database, api_key_sha256: str, event_id: str, body: str, *,
    attempt: int = 1, last: bool = True,
) -> dict[str, Any]:
    """Deliver one event to the platform of ``api_key_sha256``, recording the attempt; raise if it failed.

    The URL and secret are read from ``deployment`` at each attempt, never
    carried in the job. A platform whose webhook has been removed from the
    configuration is skipped without error. Delivering twice sends the same
    event id twice; platforms deduplicate by it. ``attempt`` numbers this try
    (1 first), ``last`` says whether nobody will try again.
    """
    platform = deployment.platforms.get(api_key_sha256)
    if platform is None or platform.webhook is None:
        log.warning("webhook event %s dropped: API key %.12s… has no webhook configured", event_id, api_key_sha256)
        return {"event_id": event_id, "delivered": False}
    webhook = platform.webhook
    data = body.encode("utf-8")
    event = _event_name(data)
    status: int | None = None
    error: str | None = None
    started = time.monotonic()
    try:
        status = deliver(webhook.url, webhook.read_secret(), event_id, data, deployment.webhooks.timeout_seconds)
    except WebhookRefused as exc:
        status, error = exc.status, exc.error
        raise
    except PakatError as exc:  # the secret cannot be read: the configuration's fault, recorded as such
        error = exc.code
        raise
    except BaseException as exc:  # the job's time ran out, the worker is stopping …
        error = type(exc).__name__
        raise
    finally:
        outcome = DELIVERED if error is None else (GAVE_UP if last else RETRYING)
        record_attempt(database, api_key_sha256=api_key_sha256, event_id=event_id, event=event,
                       url=webhook.url, attempt=attempt, status=status, error=error,
                       duration_ms=round((time.monotonic() - started) * 1000), outcome=outcome)
    log.info("webhook event %s delivered to %s (HTTP %d)", event_id, urlsplit(webhook.url).hostname, status)
    return {"event_id": event_id, "event": event, "delivered": True, "status": status}


def record_attempt(
    database: Database, *, api_key_sha256: str, event_id: str, event: str, url: str, attempt: int,
    status: int | None, error: str | None, duration_ms: int, outcome: str,
) -> None:
    """Record one delivery attempt; a database failure is logged, never raised.

    The attempt already happened: failing the job now would only make the queue
    send a delivered event again.
    """
    try:
        with database.write() as conn:
            conn.execute(insert(webhook_deliveries).values(
                event_id=event_id, event=event[:64], api_key_sha256=api_key_sha256, url=recorded_url(url),
                attempt=attempt, at=utcnow(), status=status, error=error[:64] if error else None,
                duration_ms=duration_ms, outcome=outcome,
            ))
    except SQLAlchemyError as exc:
        log.error("webhook event %s: attempt %d (%s) not recorded: %s", event_id, attempt, outcome,
                  type(exc).__name__)


def deliveries(
    database: Database, api_key_sha256: str, *, after: int = 0, limit: int = 100
) -> list[DeliveryAttempt]:
    """The attempts to deliver the events of one API key's platform, oldest first, with id above ``after``."""
    with database.begin() as conn:
        rows = conn.execute(
            select(webhook_deliveries)
            .where((webhook_deliveries.c.api_key_sha256 == api_key_sha256) & (webhook_deliveries.c.id > after))
            .order_by(webhook_deliveries.c.id)
            .limit(max(0, min(limit, MAX_DELIVERIES_PAGE)))
        ).all()
    return [
        DeliveryAttempt(r.id, r.event_id, r.event, r.url, r.attempt, r.at, r.status, r.error, r.duration_ms,
                        r.outcome)
        for r in rows
    ]


def recorded_url(url: str) -> str:
    """``scheme://host[:port]/path`` of a webhook URL: no query, fragment or user information."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"[:2048]


def enqueue_event(
    queue: rq.Queue, deployment: Deployment, api_key_sha256: str | None, event: str, data: Mapping[str, Any]
) -> str | None:
    """Queue ``event`` for the platform of ``api_key_sha256``; its event id, or None if it has no webhook.

    The job is retried once per ``webhooks.retry_intervals`` entry, after that
    many seconds (the worker's scheduler moves retries back onto the queue).
    """
    if api_key_sha256 is None:
        return None
    platform = deployment.platforms.get(api_key_sha256)
    if platform is None or platform.webhook is None:
        return None
    event_id, body = event_body(event, data)
    intervals = list(deployment.webhooks.retry_intervals)
    try:
        queue.enqueue(
            DELIVERY_JOB,
            api_key_sha256,
            event_id,
            body.decode("utf-8"),
            job_id=f"webhook-{event_id}",
            description=f"webhook {event} {event_id}",
            meta={"retries": len(intervals)},  # to number the attempts in the delivery record
            retry=rq.Retry(max=len(intervals), interval=intervals) if intervals else None,
            # Room for the HTTP timeout (connect + read) and the configuration read.
            job_timeout=math.ceil(deployment.webhooks.timeout_seconds) * 2 + 30,
        )
    except RedisError as exc:
        raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, f"webhook {event}: {type(exc).__name__}") from None
    return event_id


def requeue_event(queue: rq.Queue, deployment: Deployment, api_key_sha256: str, event_id: str,
                  attempt: int) -> bool:
    """Queue one more attempt (number ``attempt``) at an event the queue gave up on: the same id and body.

    The body is the one the first job carried (RQ keeps a failed job for a
    year unless Redis loses it): WEBHOOK_EVENT_GONE when it is no longer there.
    The attempt is the last (no automatic retries follow): an administrator
    asks again if it fails too. False when that attempt is already waiting.
    """
    platform = deployment.platforms.get(api_key_sha256)
    if platform is None or platform.webhook is None:
        raise PakatError(errors.WEBHOOK_NOT_CONFIGURED, api_key_sha256[:12])
    job_id = f"webhook-{event_id}-retry{attempt}"
    try:
        waiting = queue.fetch_job(job_id)
        if waiting is not None and waiting.get_status(refresh=False) in ("queued", "started", "scheduled",
                                                                           "deferred"):
            return False
        first = queue.fetch_job(f"webhook-{event_id}")
        args = first.args if first is not None else None
        if not args or len(args) < 3 or args[1] != event_id or not isinstance(args[2], str):
            raise PakatError(errors.WEBHOOK_EVENT_GONE, event_id)
        queue.enqueue(
            DELIVERY_JOB, api_key_sha256, event_id, args[2], job_id=job_id,
            description=f"webhook {_event_name(args[2].encode('utf-8'))} {event_id} (retried by hand)",
            meta={"retries": 0, "first_attempt": attempt},
            job_timeout=math.ceil(deployment.webhooks.timeout_seconds) * 2 + 30,
        )
    except RedisError as exc:
        raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, f"webhook retry: {type(exc).__name__}") from None
    return True


def _event_name(body: bytes) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return "unknown"
    name = payload.get("event") if isinstance(payload, dict) else None
    return str(name) if name else "unknown"
