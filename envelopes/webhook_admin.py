"""An organisation's webhooks as its administrators see them: settings, the delivery log, retrying an event.

A delivery belongs to the platform whose event it carried (its ``api_key_sha256``,
a platform reference), and so to that platform's organisation
(:meth:`envelopes.api_keys.ApiKeys.references_of`). The settings show where each
of the organisation's platforms receives its events as :func:`recorded_url` records
it (scheme, host, port and path: never the query, never the secret) and where the
secret is read from (``env`` or ``file``), never its value.

A retry sends an event the queue gave up on once more, with the same event id
and body (platforms deduplicate by id), as the next attempt in the delivery log;
it is appended to the audit log as ``webhook.retried``. Only an event whose last
recorded attempt is ``gave_up`` may be retried: a delivered event needs nothing,
and one still ``retrying`` is the queue's.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from envelopes.api_keys import ApiKeys
from envelopes.audit import WEBHOOK_RETRIED, AuditLog
from envelopes.database import Database, webhook_deliveries
from envelopes.queueing import RQJobQueue
from envelopes.webhooks import GAVE_UP, DeliveryAttempt, recorded_url, requeue_event
from hsm_config.deployment import Deployment
from pakat import errors
from pakat.errors import InputError

DEFAULT_PAGE = 50
MAX_PAGE = 200


@dataclass(frozen=True)
class WebhookSetting:
    """One platform of the organisation and where its events go; never the secret."""

    platform: str  # the first 12 hex of its reference, as audit actors name it
    name_fa: str
    name_en: str
    url: str | None  # recorded_url of the configured webhook; None: the platform has none
    secret_source: str | None  # env | file

    def as_dict(self) -> dict[str, Any]:
        return {"platform": self.platform, "name_fa": self.name_fa, "name_en": self.name_en, "url": self.url,
                "secret_source": self.secret_source}


@dataclass(frozen=True)
class WebhookSettings:
    """The organisation's platforms' webhooks, and how every delivery is retried."""

    platforms: list[WebhookSetting]
    retry_intervals: tuple[int, ...]
    timeout_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"platforms": [p.as_dict() for p in self.platforms], "retry_intervals": list(self.retry_intervals),
                "timeout_seconds": self.timeout_seconds}


@dataclass(frozen=True)
class DeliveryEntry:
    """One attempt in the organisation's log, with its platform and whether its event may be retried now."""

    attempt: DeliveryAttempt
    platform: str
    retryable: bool  # the latest attempt of its event, and that attempt gave up

    def as_dict(self) -> dict[str, Any]:
        return {**self.attempt.as_dict(), "platform": self.platform, "retryable": self.retryable}


@dataclass(frozen=True)
class DeliveryPage:
    """Attempts newest first; ``next_before`` asks for the page after (None: there is none)."""

    deliveries: list[DeliveryEntry]
    next_before: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"deliveries": [d.as_dict() for d in self.deliveries], "next_before": self.next_before}


@dataclass(frozen=True)
class RetryQueued:
    """A retry asked for: the event, the attempt it will be, and whether this request queued it."""

    delivery: int
    event_id: str
    event: str
    attempt: int
    queued: bool  # False: that attempt was already waiting in the queue

    def as_dict(self) -> dict[str, Any]:
        return {"delivery": self.delivery, "event_id": self.event_id, "event": self.event,
                "attempt": self.attempt, "queued": self.queued}


class OrganisationWebhooks:
    """The webhook use cases of an organisation's administrators, and of a platform on its own deliveries."""

    def __init__(self, database: Database, deployment: Deployment, queue: RQJobQueue) -> None:
        self.database = database
        self.deployment = deployment
        self.queue = queue

    def references(self, organisation: str) -> frozenset[str]:
        return ApiKeys(self.database, self.deployment).references_of(organisation)

    def settings(self, organisation: str) -> WebhookSettings:
        """Each of the organisation's platforms (YAML API keys) and its webhook, as far as it may be shown."""
        shown = []
        for digest, platform in sorted(self.deployment.platforms.items()):
            if platform.organisation != organisation:
                continue
            hook = platform.webhook
            source = None if hook is None else ("env" if hook.secret_env else "file")
            shown.append(WebhookSetting(digest[:12], platform.name_fa, platform.name_en,
                                        recorded_url(hook.url) if hook is not None else None, source))
        return WebhookSettings(shown, tuple(self.deployment.webhooks.retry_intervals),
                               self.deployment.webhooks.timeout_seconds)

    def deliveries(self, organisation: str, *, before: int | None = None, limit: int = DEFAULT_PAGE,
                   references: Collection[str] | None = None) -> DeliveryPage:
        """The attempts to deliver the organisation's events, newest first.

        ``references`` narrows them to some of its platforms (a platform's own
        log); it never widens them beyond the organisation.
        """
        if not 1 <= limit <= MAX_PAGE or (before is not None and before < 1):
            raise InputError(errors.REQUEST_INVALID, f"limit: 1 to {MAX_PAGE}; before: a delivery id")
        own = self.references(organisation)
        wanted = sorted(own if references is None else own.intersection(references))
        if not wanted:
            return DeliveryPage([], None)
        query = select(webhook_deliveries).where(webhook_deliveries.c.api_key_sha256.in_(wanted))
        if before is not None:
            query = query.where(webhook_deliveries.c.id < before)
        with self.database.begin() as conn:
            rows = conn.execute(query.order_by(webhook_deliveries.c.id.desc()).limit(limit + 1)).all()
            shown = rows[:limit]
            latest = _latest_attempts(conn, {r.event_id for r in shown})
        entries = [DeliveryEntry(_attempt(r), r.api_key_sha256[:12],
                                 latest.get(r.event_id) == (r.id, GAVE_UP)) for r in shown]
        return DeliveryPage(entries, shown[-1].id if len(rows) > limit else None)

    def retry(self, organisation: str, delivery_id: int, *, actor: str,
              references: Collection[str] | None = None) -> RetryQueued:
        """Send the event of ``delivery_id`` once more (see the module's docstring).

        WEBHOOK_DELIVERY_NOT_FOUND for another organisation's delivery (or, with
        ``references``, another platform's); WEBHOOK_NOT_RETRYABLE unless its
        event's last attempt gave up; WEBHOOK_EVENT_GONE when the queue lost the
        event's body; WEBHOOK_NOT_CONFIGURED when the platform's webhook was removed.
        """
        own = self.references(organisation)
        allowed = own if references is None else own.intersection(references)
        with self.database.begin() as conn:
            row = conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)).first()
            if row is None or row.api_key_sha256 not in allowed:
                raise InputError(errors.WEBHOOK_DELIVERY_NOT_FOUND, str(delivery_id))
            last = conn.execute(
                select(webhook_deliveries.c.attempt, webhook_deliveries.c.outcome)
                .where(webhook_deliveries.c.event_id == row.event_id)
                .order_by(webhook_deliveries.c.id.desc()).limit(1)
            ).one()
        if last.outcome != GAVE_UP:
            raise InputError(errors.WEBHOOK_NOT_RETRYABLE, f"its last attempt was {last.outcome}")
        attempt = int(last.attempt) + 1
        queued = requeue_event(self.queue.queue(), self.deployment, row.api_key_sha256, row.event_id, attempt)
        if queued:
            AuditLog(self.database).record(WEBHOOK_RETRIED, actor=actor, subject=f"webhook-event:{row.event_id}",
                                           details={"organisation": organisation, "delivery": row.id,
                                                    "event": row.event, "attempt": attempt,
                                                    "platform": row.api_key_sha256[:12]})
        return RetryQueued(row.id, row.event_id, row.event, attempt, queued)


def _attempt(r: Any) -> DeliveryAttempt:
    return DeliveryAttempt(r.id, r.event_id, r.event, r.url, r.attempt, r.at, r.status, r.error, r.duration_ms,
                           r.outcome)


def _latest_attempts(conn: Any, event_ids: set[str]) -> dict[str, tuple[int, str]]:
    """Per event: the id and outcome of its latest recorded attempt."""
    if not event_ids:
        return {}
    newest = (select(webhook_deliveries.c.event_id, func.max(webhook_deliveries.c.id).label("id"))
              .where(webhook_deliveries.c.event_id.in_(sorted(event_ids)))
              .group_by(webhook_deliveries.c.event_id).subquery())
    rows = conn.execute(
        select(webhook_deliveries.c.event_id, webhook_deliveries.c.id, webhook_deliveries.c.outcome)
        .join(newest, newest.c.id == webhook_deliveries.c.id)
    ).all()
    return {r.event_id: (int(r.id), str(r.outcome)) for r in rows}
