"""The audit log as an organisation's administrator reads it: filtered, paged, only what concerns them.

An entry concerns organisation X when any of these holds:

1. its details name X: ``"organisation": "X"`` at any depth (batch.created, document.sealed,
   document.deleted, batch.deleted, batch.inputs_purged, api_key.created, api_key.revoked,
   webhook.retried, and whatever new action records the organisation it acted for);
2. its actor is X's: ``organisation:X``, or ``api-key:<12 hex>`` of one of X's API keys, from the
   database or the deployment YAML (:meth:`envelopes.api_keys.ApiKeys.references_of`);
3. its subject is X's: ``seal:X/<key>``, ``api-key:<id>`` of one of X's database keys, or the id of one of
   X's batches (batch.finished), documents (document.signed, signature.*) or envelopes (envelope.submitted).

Entries of the deployment as a whole (``config.changed`` on ``deployment``, ``schema.upgraded`` on
``schema``) and those known by a client address alone (``access.locked_out``) concern no organisation:
they are the operator's, read with ``pakat audit`` on the machine. No organisation's administrator sees
them through the API or the console (``config.changed`` names every organisation of the deployment).

The chain is one for the whole deployment, so "verify" checks all of it
(:meth:`envelopes.audit.AuditLog.verify`) and answers its verdict with the
head's seq and hash; a break names only a seq number, never another
organisation's entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from envelopes.api_keys import ApiKeys
from envelopes.audit import HEAD_ID, MAX_ACTOR, MAX_SUBJECT, AuditEntry, AuditLog, AuditVerdict, iso_time
from envelopes.database import (
    Database,
    audit_head,
    audit_log,
    batches,
    documents,
    envelopes,
    tenders,
    utcnow,
)
from hsm_config.deployment import Deployment
from pakat import errors
from pakat.errors import InputError

#: Entries per page, by default and at most.
DEFAULT_PAGE = 50
MAX_PAGE = 200
#: An action filter: an action, or the beginning of one up to its dot (``batch.`` for every batch action).
_ACTION_FILTER = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)*\.?")


@dataclass(frozen=True)
class AuditFilter:
    """What an administrator asks of the log; every field narrows it, None leaves it open."""

    action: str | None = None  # an action, or a prefix ending with a dot
    actor: str | None = None  # exactly
    subject: str | None = None  # exactly
    since: datetime | None = None  # at or after (UTC)
    until: datetime | None = None  # before (UTC)
    before: int | None = None  # entries with a smaller seq: the previous page's next_before
    limit: int = DEFAULT_PAGE

    def checked(self) -> AuditFilter:
        """This filter if it is sound; AUDIT_FILTER_INVALID naming the first field that is not."""
        if self.action is not None and (len(self.action) > 64 or not _ACTION_FILTER.fullmatch(self.action)):
            raise InputError(errors.AUDIT_FILTER_INVALID, "action: noun.verb, or a noun and a dot")
        if self.actor is not None and not 0 < len(self.actor) <= MAX_ACTOR:
            raise InputError(errors.AUDIT_FILTER_INVALID, f"actor: 1 to {MAX_ACTOR} characters")
        if self.subject is not None and not 0 < len(self.subject) <= MAX_SUBJECT:
            raise InputError(errors.AUDIT_FILTER_INVALID, f"subject: 1 to {MAX_SUBJECT} characters")
        for name, moment in (("from", self.since), ("to", self.until)):
            if moment is not None and moment.tzinfo is None:
                raise InputError(errors.AUDIT_FILTER_INVALID, f"{name}: a time with its UTC offset")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InputError(errors.AUDIT_FILTER_INVALID, "from must come before to")
        if self.before is not None and self.before < 1:
            raise InputError(errors.AUDIT_FILTER_INVALID, "before: a seq of 1 or more")
        if not 1 <= self.limit <= MAX_PAGE:
            raise InputError(errors.AUDIT_FILTER_INVALID, f"limit: 1 to {MAX_PAGE}")
        return self


@dataclass(frozen=True)
class AuditPage:
    """Entries newest first; ``next_before`` asks for the page after (None: there is none)."""

    entries: list[AuditEntry]
    next_before: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"entries": [e.as_dict() for e in self.entries], "next_before": self.next_before}


@dataclass(frozen=True)
class ChainCheck:
    """The whole chain's verdict, and the head it was checked against (keep its hash somewhere else)."""

    verdict: AuditVerdict
    head_seq: int | None
    head_hash: str | None
    checked_at: datetime

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    def as_dict(self) -> dict[str, Any]:
        return {**self.verdict.as_dict(), "head_seq": self.head_seq, "head_hash": self.head_hash,
                "checked_at": iso_time(self.checked_at)}


def _like_literal(text: str) -> str:
    """``text`` matched as itself by LIKE (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class OrganisationAudit:
    """The audit use cases of an organisation's administrators (API ``admin`` scope, console admins)."""

    def __init__(self, database: Database, deployment: Deployment) -> None:
        self.database = database
        self.deployment = deployment

    def concerns(self, organisation: str) -> ColumnElement[bool]:
        """The condition an entry of ``organisation`` meets (see the module's docstring)."""
        keys = ApiKeys(self.database, self.deployment)
        actors = {f"organisation:{organisation}"[:MAX_ACTOR]}
        actors.update(f"api-key:{reference[:12]}" for reference in keys.references_of(organisation))
        named = json.dumps({"organisation": organisation}, ensure_ascii=False, separators=(",", ":"))[1:-1]
        key_subjects = sorted(f"api-key:{key.id}" for key in keys.list(organisation))
        own_envelopes = (select(envelopes.c.id).join(tenders, tenders.c.id == envelopes.c.tender_id)
                         .where(tenders.c.organisation == organisation))
        return or_(
            audit_log.c.actor.in_(sorted(actors)),
            audit_log.c.details.like(f"%{_like_literal(named)}%", escape="\\"),
            audit_log.c.subject.like(f"seal:{_like_literal(organisation)}/%", escape="\\"),
            audit_log.c.subject.in_(key_subjects),
            audit_log.c.subject.in_(select(batches.c.id).where(batches.c.organisation == organisation)),
            audit_log.c.subject.in_(select(documents.c.id).where(documents.c.organisation == organisation)),
            audit_log.c.subject.in_(own_envelopes),
        )

    def entries(self, organisation: str, wanted: AuditFilter | None = None) -> AuditPage:
        """The organisation's entries that pass ``wanted``, newest first (AUDIT_FILTER_INVALID if unsound)."""
        wanted = (wanted or AuditFilter()).checked()
        query = select(audit_log).where(self.concerns(organisation))
        if wanted.action is not None:
            if wanted.action.endswith("."):
                query = query.where(audit_log.c.action.like(f"{_like_literal(wanted.action)}%", escape="\\"))
            else:
                query = query.where(audit_log.c.action == wanted.action)
        if wanted.actor is not None:
            query = query.where(audit_log.c.actor == wanted.actor)
        if wanted.subject is not None:
            query = query.where(audit_log.c.subject == wanted.subject)
        if wanted.since is not None:
            query = query.where(audit_log.c.at >= wanted.since)
        if wanted.until is not None:
            query = query.where(audit_log.c.at < wanted.until)
        if wanted.before is not None:
            query = query.where(audit_log.c.seq < wanted.before)
        with self.database.begin() as conn:
            rows = conn.execute(query.order_by(audit_log.c.seq.desc()).limit(wanted.limit + 1)).all()
        found = [AuditEntry(int(r.seq), r.at, r.action, r.actor, r.subject, r.details, r.prev_hash, r.hash)
                 for r in rows[: wanted.limit]]
        return AuditPage(found, found[-1].seq if len(rows) > wanted.limit else None)

    def verify(self) -> ChainCheck:
        """Walk the whole chain (:meth:`AuditLog.verify`) and read the head it ends at."""
        verdict = AuditLog(self.database).verify()
        with self.database.begin() as conn:
            head = conn.execute(
                select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID)).first()
        if head is None:
            return ChainCheck(verdict, None, None, utcnow())
        return ChainCheck(verdict, int(head.seq), str(head.hash), utcnow())
