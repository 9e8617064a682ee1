"""Platform webhooks: telling the platform that owns an API key that a signature completed or failed.

An event is a compact JSON object ``{"id", "event", "created_at", ...}`` POSTed
to the URL configured on the API key (``api_keys[].webhook`` in the deployment
file), signed with the key's webhook secret::

    X-Pakat-Timestamp: 1767225600
    X-Pakat-Signature: sha256=<hex HMAC-SHA256(secret, b"1767225600." + body)>

Delivery runs on the RQ queue (:func:`deliver_webhook_job`) and is retried
after each ``webhooks.retry_intervals`` wait until the platform answers 2xx.
A retry sends the same event id and body with a fresh timestamp, so a
platform may see an event more than once and must deduplicate by ``id``.
Redirects are never followed: a 3xx is a failed attempt.
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
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import rq
from redis.exceptions import RedisError

from hsm_config.deployment import Deployment
from pakat import errors
from pakat.errors import ServiceUnavailable
from pakat.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_COMPLETED = "signature.completed"
SIGNATURE_FAILED = "signature.failed"
USER_AGENT = "Pakat-Webhook/1"
# Keys every event carries; an event's own data may not replace them.
RESERVED_KEYS = frozenset({"id", "event", "created_at"})
# A platform's answer is not used; read a little of it so the connection closes cleanly.
MAX_ANSWER_BYTES = 64 * 1024

_deployment: Deployment | None = None
_deployment_lock = threading.Lock()


class WebhookRefused(Exception):
    """A delivery attempt failed: a non-2xx answer (``status``) or no answer at all (``status`` None).

    The message names the host and the status or the kind of network failure,
    never the secret, the body or the URL's path and query.
    """

    def __init__(self, host: str, status: int | None, reason: str) -> None:
        self.host = host
        self.status = status
        super().__init__(f"webhook to {host} failed: {reason}")


def event_body(event: str, data: Mapping[str, Any]) -> tuple[str, bytes]:
    """A new event's id and its JSON body (compact, UTF-8, Persian kept as is)."""
    clash = RESERVED_KEYS.intersection(data)
    if clash:
        raise ValueError(f"event data may not set {', '.join(sorted(clash))}")
    event_id = uuid.uuid4().hex
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
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
        raise WebhookRefused(host, None, f"no answer ({type(exc).__name__})") from None
    finally:
        connection.close()
    if not 200 <= status < 300:
        raise WebhookRefused(host, status, f"HTTP {status}")
    return status


def deliver_webhook_job(api_key_sha256: str, event_id: str, body: str) -> dict[str, Any]:
    """The RQ job: deliver one event to the platform of ``api_key_sha256``; raise so that RQ retries.

    The URL and secret are read from this process's deployment at each
    attempt, never carried in the job. A platform whose webhook has been
    removed from the configuration is skipped without error. Running the job
    twice delivers twice with the same event id; platforms deduplicate by it.
    """
    deployment = worker_deployment()
    platform = deployment.platforms.get(api_key_sha256)
    if platform is None or platform.webhook is None:
        log.warning("webhook event %s dropped: API key %.12s… has no webhook configured", event_id, api_key_sha256)
        return {"event_id": event_id, "delivered": False}
    webhook = platform.webhook
    data = body.encode("utf-8")
    status = deliver(webhook.url, webhook.read_secret(), event_id, data, deployment.webhooks.timeout_seconds)
    log.info("webhook event %s delivered to %s (HTTP %d)", event_id, urlsplit(webhook.url).hostname, status)
    return {"event_id": event_id, "event": _event_name(data), "delivered": True, "status": status}


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
            deliver_webhook_job,
            api_key_sha256,
            event_id,
            body.decode("utf-8"),
            job_id=f"webhook-{event_id}",
            description=f"webhook {event} {event_id}",
            retry=rq.Retry(max=len(intervals), interval=intervals) if intervals else None,
            # Room for the HTTP timeout (connect + read) and the configuration read.
            job_timeout=math.ceil(deployment.webhooks.timeout_seconds) * 2 + 30,
        )
    except RedisError as exc:
        raise ServiceUnavailable(errors.QUEUE_UNAVAILABLE, f"webhook {event}: {type(exc).__name__}") from None
    return event_id


def worker_deployment() -> Deployment:
    """This process's deployment, read from the environment's settings on first use."""
    global _deployment
    with _deployment_lock:
        if _deployment is None:
            _deployment = Settings.from_env().load_deployment()
        return _deployment


def forget_worker_deployment() -> None:
    """Read the deployment again on the next job (after a configuration change, or in tests)."""
    global _deployment
    with _deployment_lock:
        _deployment = None


def _event_name(body: bytes) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return "unknown"
    name = payload.get("event") if isinstance(payload, dict) else None
    return str(name) if name else "unknown"
