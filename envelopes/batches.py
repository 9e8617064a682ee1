"""Bulk sealing: a batch of PDFs sealed by whichever workers are running, each item exactly once.

The database is the truth, the queue only wakes workers. A batch is a row and
its files are items; a worker *claims* a few queued items by one conditional
UPDATE that stamps them with its name and a lease, seals them into the store,
and then records each result by compare-and-set on (state ``sealing``, its own
lease). So:

- a worker killed mid-item never records anything; its lease runs out and
  another worker takes the item over (``attempts`` counts both);
- a worker that was presumed dead and comes back finds its compare-and-set
  refused and drops its output: one recorded seal per item, whatever happens;
- a lost queue (Redis restarted empty) loses no work: :func:`Batches.stalled`
  finds running batches and ``pakat worker`` wakes them again.

One bad PDF fails alone with its reason; a service that is down (TSA, OCSP,
HSM) puts the item back with a growing wait, and only after the last attempt
is it failed, naming what was down.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from envelopes import audit, quotas
from envelopes.archives import BatchInput, discard
from envelopes.audit import AuditLog
from envelopes.blobs import DocumentStore
from envelopes.database import Database, batch_items, batches, utcnow
from envelopes.quotas import PolicyOf, no_limits
from envelopes.sealing import SealService
from pakat import errors
from pakat.dates import iso_utc
from pakat.errors import InputError, KeyStoreError, PakatError, ServiceUnavailable
from pakat.files import SHARED, open_atomic, write_atomically
from signer.levels import PadesLevel
from signer.placement import VisibleSignature

log = logging.getLogger(__name__)

RUNNING, FINISHED = "running", "finished"
QUEUED, SEALING, SEALED, FAILED = "queued", "sealing", "sealed", "failed"

#: Threads sealing side by side in one worker: most of a seal's time is waiting on the TSA, the HSM
#: and the disk, so a few threads keep a core busy where one would leave it idle.
DEFAULT_THREADS = 4
#: Items one claim takes per thread: enough to amortise the claim and the record, few enough to share.
CLAIM_PER_THREAD = 2
DEFAULT_LEASE = timedelta(seconds=120)
#: Batches per page of an organisation's list, by default and at most.
DEFAULT_PAGE = 20
MAX_PAGE = 100
#: Seconds to wait before each retry of an item whose service (TSA, OCSP, HSM) was unavailable.
RETRY_INTERVALS = (2, 10, 30, 120)
#: HSM failures that a moment later may be gone (a dropped session, a busy device, a token missing from the
#: slot list while another process holds its files or a network HSM refreshes its slots). A token that is
#: really absent fails its items after the last retry.
TRANSIENT_KEY_STORE = frozenset({errors.HSM_UNREACHABLE.code, errors.HSM_SIGN_FAILED.code,
                                 errors.HSM_TOKEN_NOT_FOUND.code})


@dataclass(frozen=True)
class BatchOptions:
    """How every item of a batch is sealed."""

    level: PadesLevel
    reason: str | None = None
    visible: bool = False

    def as_json(self) -> str:
        return json.dumps({"reason": self.reason, "visible": self.visible}, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_row(cls, level: str, options: str) -> BatchOptions:
        data = json.loads(options)
        return cls(PadesLevel.parse(level), data.get("reason"), bool(data.get("visible")))


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands: counts, pace and what is left."""

    id: str
    organisation: str
    level: str
    state: str
    total: int
    sealed: int
    failed: int
    queued: int
    sealing: int
    rate_per_second: float | None
    eta_seconds: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done(self) -> int:
        return self.sealed + self.failed

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["done"] = self.done
        for key in ("created_at", "started_at", "finished_at"):
            value = data[key]
            data[key] = iso_utc(value) if value else None
        return data


@dataclass(frozen=True)
class BatchPage:
    """One page of an organisation's batches, newest first; ``next_before`` continues it (None: the last)."""

    batches: list[BatchProgress]
    next_before: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"batches": [b.as_dict() for b in self.batches], "next_before": self.next_before}


@dataclass(frozen=True)
class NewBatch:
    """A created batch, or the one an earlier request with the same Idempotency-Key created."""

    progress: BatchProgress
    replayed: bool


@dataclass(frozen=True)
class ManifestEntry:
    """One line of a batch's manifest: what went in, what came out, or why nothing did."""

    number: int
    name: str
    input_sha256: str
    input_size: int
    status: str
    output_sha256: str | None
    output_size: int | None
    attempts: int
    error: dict[str, str] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Claimed:
    number: int
    name: str
    input_sha256: str
    attempts: int


@dataclass
class _Outcome:
    item: _Claimed
    state: str  # SEALED | FAILED | QUEUED (retry later)
    output_sha256: str | None = None
    output_size: int | None = None
    error: PakatError | None = None
    retry_at: datetime | None = None

    def audit_details(self, options: BatchOptions) -> dict[str, Any]:
        return {"name": self.item.name, "level": options.level.value, "input_sha256": self.item.input_sha256,
                "output_sha256": self.output_sha256}


@dataclass
class WorkReport:
    """What one run of :meth:`Batches.work` did, and what the batch needs next."""

    batch_id: str
    sealed: int = 0
    failed: int = 0
    retrying: int = 0
    lost: int = 0  # sealed here, but another worker had taken the item over: output dropped
    finished_now: bool = False  # this run saw the last item settle
    api_key_sha256: str | None = None  # the platform to tell
    wake_at: datetime | None = None  # items wait (a retry or another worker's lease): work again then
    out_of_time: bool = False  # the run's time was up with items perhaps left to claim: a successor goes on
    progress: BatchProgress | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id, "sealed": self.sealed, "failed": self.failed, "retrying": self.retrying,
            "lost": self.lost, "finished_now": self.finished_now, "out_of_time": self.out_of_time,
            "wake_at": iso_utc(self.wake_at) if self.wake_at else None,
        }


class Batches:
    """The batch use cases: create, watch, work, and collect the results."""

    def __init__(
        self,
        database: Database,
        store: DocumentStore,
        seals: Callable[[], SealService],
        *,
        lease: timedelta = DEFAULT_LEASE,
        retry_intervals: Sequence[int] = RETRY_INTERVALS,
        threads: int = DEFAULT_THREADS,
        policy_of: PolicyOf = no_limits,
    ) -> None:
        self.database = database
        self.policy_of = policy_of
        self.store = store
        self.seals = seals
        self.lease = lease
        self.retry_intervals = tuple(retry_intervals)
        self.threads = threads
        self.audit = AuditLog(database)

    # -- making a batch -----------------------------------------------------------------
    def create(
        self,
        organisation: str,
        inputs: list[BatchInput],
        options: BatchOptions,
        *,
        actor: str,
        api_key_sha256: str | None = None,
        idempotency_key: str | None = None,
    ) -> NewBatch:
        """Store the inputs and queue every one of them; the temp files of ``inputs`` are used up either way.

        ``actor`` is who asks, as the audit log names it (see :mod:`envelopes.audit`).
        With an ``idempotency_key`` a repeated request gets the first batch back
        (``replayed``), and a different request under the same key is refused
        before anything is stored. Every input counts against the organisation's
        storage quota (STORAGE_QUOTA_EXCEEDED, checked before the inputs are
        stored and charged with the batch's rows).
        """
        policy = self.policy_of(organisation)
        input_bytes = sum(item.size for item in inputs)
        try:
            fingerprint = _fingerprint(organisation, inputs, options)
            if idempotency_key is not None:
                earlier = self._by_key(api_key_sha256, idempotency_key)
                if earlier is not None:
                    return self._replay(earlier, fingerprint, organisation)
            quotas.precheck(self.database, policy, organisation, input_bytes, len(inputs))
            for item in inputs:
                self.store.adopt(item.temp_path, item.sha256)
        finally:
            discard(inputs)  # adopted files are gone from there already
        batch_id = secrets.token_hex(16)
        now = utcnow()
        try:
            with self.database.write() as conn:
                quotas.charge(conn, policy, organisation, input_bytes, len(inputs))
                conn.execute(insert(batches).values(
                    id=batch_id, organisation=organisation, api_key_sha256=api_key_sha256,
                    idempotency_key=idempotency_key, request_sha256=fingerprint, level=options.level.value,
                    options=options.as_json(), total=len(inputs), state=RUNNING, created_at=now,
                ))
                conn.execute(insert(batch_items), [
                    {"batch_id": batch_id, "number": n, "name": item.name, "input_sha256": item.sha256,
                     "input_size": item.size, "state": QUEUED, "attempts": 0}
                    for n, item in enumerate(inputs)
                ])
                self.audit.append(conn, audit.BATCH_CREATED, actor=actor, subject=batch_id, details={
                    "organisation": organisation, "level": options.level.value, "items": len(inputs),
                    "request_sha256": fingerprint,
                })
        except IntegrityError:
            # Two requests with one key raced; the other one won and made the batch.
            earlier = self._by_key(api_key_sha256, idempotency_key) if idempotency_key else None
            if earlier is None:
                raise
            return self._replay(earlier, fingerprint, organisation)
        except PakatError as exc:
            if exc.kind is errors.STORAGE_QUOTA_EXCEEDED:
                # A concurrent request took the room after our check: the inputs we stored go, unless shared.
                quotas.collect_blobs(self.database, self.store, [item.sha256 for item in inputs])
            raise
        return NewBatch(self.progress(organisation, batch_id), replayed=False)

    def _by_key(self, api_key_sha256: str | None, key: str) -> Any:
        with self.database.begin() as conn:
            return conn.execute(select(batches.c.id, batches.c.request_sha256, batches.c.organisation).where(
                batches.c.api_key_sha256 == api_key_sha256, batches.c.idempotency_key == key,
            )).first()

    def _replay(self, earlier: Any, fingerprint: str, organisation: str) -> NewBatch:
        if earlier.request_sha256 != fingerprint or earlier.organisation != organisation:
            raise InputError(errors.IDEMPOTENCY_KEY_REUSED, f"batch {earlier.id}")
        return NewBatch(self.progress(organisation, earlier.id), replayed=True)

    # -- watching a batch ---------------------------------------------------------------
    def progress(self, organisation: str | None, batch_id: str) -> BatchProgress:
        """Counts, pace and estimated time left; another organisation's batch is BATCH_NOT_FOUND."""
        with self.database.begin() as conn:
            batch = self._batch(conn, organisation, batch_id)
            tallies = _tallies(conn, [batch_id])
        return _progress(batch, *tallies.get(batch_id, ({}, None)))

    def page(self, organisation: str, *, limit: int = DEFAULT_PAGE, before: str | None = None) -> BatchPage:
        """The organisation's batches, newest first, each with its progress as :meth:`progress` gives it.

        A batch belongs to the organisation it seals for (``batches.organisation``),
        whichever of its platforms (API keys) or people created it: the console shows
        an organisation all of them, never another organisation's. ``before`` is a
        batch id of an earlier page (its ``next_before``): the page goes on with
        the batches created before it. An unknown ``before`` is BATCH_NOT_FOUND.
        """
        limit = max(1, min(limit, MAX_PAGE))
        query = select(batches).where(batches.c.organisation == organisation)
        with self.database.begin() as conn:
            if before is not None:
                mark = self._batch(conn, organisation, before)
                query = query.where(or_(batches.c.created_at < mark.created_at,
                                        and_(batches.c.created_at == mark.created_at, batches.c.id < mark.id)))
            rows = conn.execute(query.order_by(batches.c.created_at.desc(), batches.c.id.desc())
                                .limit(limit + 1)).all()
            shown = rows[:limit]
            tallies = _tallies(conn, [row.id for row in shown])
        items = [_progress(row, *tallies.get(row.id, ({}, None))) for row in shown]
        return BatchPage(items, next_before=items[-1].id if len(rows) > limit else None)

    def failed_items(self, organisation: str | None, batch_id: str) -> list[ManifestEntry]:
        """The batch's failed items in input order, each with its reason (code, Persian and English)."""
        return self.manifest(organisation, batch_id, status=FAILED)

    def manifest(self, organisation: str | None, batch_id: str, *,
                 status: str | None = None) -> list[ManifestEntry]:
        """Every item in input order, with its digests, status and error; only those in ``status`` if given."""
        query = select(batch_items).where(batch_items.c.batch_id == batch_id)
        if status is not None:
            query = query.where(batch_items.c.state == status)
        with self.database.begin() as conn:
            self._batch(conn, organisation, batch_id)
            rows = conn.execute(query.order_by(batch_items.c.number)).all()
        return [_manifest_entry(row) for row in rows]

    def write_results(self, organisation: str | None, batch_id: str, out: BinaryIO) -> None:
        """The sealed files under their input names, and ``manifest.json``, as a zip written to ``out``.

        Only a finished batch has results (BATCH_NOT_FINISHED before). ``out``
        need not be seekable, so the zip can stream straight to a client.
        """
        progress = self.progress(organisation, batch_id)
        if progress.state != FINISHED:
            raise InputError(errors.BATCH_NOT_FINISHED, f"{progress.done} of {progress.total} done")
        entries = self.manifest(organisation, batch_id)
        manifest = {"batch": progress.as_dict(), "items": [e.as_dict() for e in entries]}
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for entry in entries:
                if entry.output_sha256 is None:
                    continue
                info = zipfile.ZipInfo(f"sealed/{entry.name}", date_time=_zip_time(progress.finished_at))
                info.external_attr = 0o644 << 16
                with self.store.open(entry.output_sha256) as source, zf.open(info, "w", force_zip64=True) as dst:
                    while chunk := source.read(1 << 20):
                        dst.write(chunk)
            body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            info = zipfile.ZipInfo("manifest.json", date_time=_zip_time(progress.finished_at))
            info.external_attr = 0o644 << 16
            zf.writestr(info, body)

    def export(self, organisation: str | None, batch_id: str, folder: Path) -> list[ManifestEntry]:
        """The sealed files under their input names in ``folder``, then ``manifest.json``; returns the entries.

        Each file appears whole or not at all (:mod:`pakat.files`); the manifest
        comes last, so its presence says the export is complete. The files get
        the permissions any new file would (the umask decides): an export is
        for whoever asked for it, not kept private like the store.
        """
        progress = self.progress(organisation, batch_id)
        if progress.state != FINISHED:
            raise InputError(errors.BATCH_NOT_FINISHED, f"{progress.done} of {progress.total} done")
        entries = self.manifest(organisation, batch_id)
        for entry in entries:
            if entry.output_sha256 is not None:
                _copy_atomically(self.store.path(entry.output_sha256), folder / entry.name)
        manifest = {"batch": progress.as_dict(), "items": [e.as_dict() for e in entries]}
        body = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        write_atomically(folder / "manifest.json", body, mode=SHARED)
        return entries

    def _batch(self, conn: Connection, organisation: str | None, batch_id: str) -> Any:
        row = conn.execute(select(batches).where(batches.c.id == batch_id)).first()
        if row is None or (organisation is not None and row.organisation != organisation):
            raise InputError(errors.BATCH_NOT_FOUND, batch_id)
        return row

    # -- working on a batch -------------------------------------------------------------
    def work(self, batch_id: str, owner: str, *, max_seconds: float | None = None) -> WorkReport:
        """Claim, seal and record items until none is left to claim, or until ``max_seconds`` have passed.

        Every run seals at least one claim, however short its time. Safe to run
        in any number of workers at once, and again after any crash.
        """
        started = time.monotonic()
        with self.database.begin() as conn:
            batch = self._batch(conn, None, batch_id)
        report = WorkReport(batch_id, api_key_sha256=batch.api_key_sha256)
        options = BatchOptions.from_row(batch.level, batch.options)
        claim_size = CLAIM_PER_THREAD * self.threads
        with ThreadPoolExecutor(self.threads, thread_name_prefix="seal") as pool:
            while batch.state == RUNNING:
                claimed = self._claim(batch_id, owner, claim_size)
                if not claimed:
                    break
                outcomes = list(pool.map(lambda item: self._seal(batch.organisation, options, item), claimed))
                self._record(batch_id, batch.organisation, owner, options, outcomes, report)
                if max_seconds is not None and time.monotonic() - started >= max_seconds:
                    report.out_of_time = True
                    break
        self._settle(batch_id, report)
        return report

    def _claim(self, batch_id: str, owner: str, limit: int) -> list[_Claimed]:
        now = utcnow()
        claimable = and_(
            batch_items.c.batch_id == batch_id,
            or_(
                and_(batch_items.c.state == QUEUED,
                     or_(batch_items.c.retry_at.is_(None), batch_items.c.retry_at <= now)),
                and_(batch_items.c.state == SEALING, batch_items.c.lease_until < now),
            ),
        )
        with self.database.write() as conn:
            # SKIP LOCKED (PostgreSQL) lets workers claim side by side instead of queueing on each other's
            # rows. Two statements, not UPDATE … IN (SELECT … LIMIT): PostgreSQL may run such a subquery
            # more than once and take more rows than the limit. The UPDATE checks again, so a row another
            # worker took in between (SQLite has no row locks) is simply not ours.
            numbers = conn.execute(
                select(batch_items.c.number).where(claimable).order_by(batch_items.c.number).limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars().all()
            if not numbers:
                return []
            rows = conn.execute(
                update(batch_items).where(claimable, batch_items.c.number.in_(numbers)).values(
                    state=SEALING, lease_owner=owner, lease_until=now + self.lease,
                    attempts=batch_items.c.attempts + 1,
                ).returning(batch_items.c.number, batch_items.c.name, batch_items.c.input_sha256,
                            batch_items.c.attempts)
            ).all()
            if rows:
                conn.execute(update(batches).where(batches.c.id == batch_id, batches.c.started_at.is_(None))
                             .values(started_at=now))
        claimed = (_Claimed(r.number, r.name, r.input_sha256, r.attempts) for r in rows)
        return sorted(claimed, key=lambda c: c.number)

    def _seal(self, organisation: str, options: BatchOptions, item: _Claimed) -> _Outcome:
        temp = self.store.incoming()
        try:
            sealed = self.seals().seal(
                organisation, self.store.path(item.input_sha256), temp, options.level,
                reason=options.reason, durable=False,
                appearance=VisibleSignature() if options.visible else None,  # the default place: the last page
            ).document
            self.store.adopt(temp, sealed.output_sha256)
            return _Outcome(item, SEALED, sealed.output_sha256, sealed.output_size)
        except PakatError as exc:
            if _transient(exc) and item.attempts <= len(self.retry_intervals):
                wait = self.retry_intervals[item.attempts - 1]
                log.info("batch item %s: %s, retry in %d s", item.name, exc.code, wait)
                return _Outcome(item, QUEUED, error=exc, retry_at=utcnow() + timedelta(seconds=wait))
            return _Outcome(item, FAILED, error=exc)
        except Exception:
            # A bug must not stall the batch: the item fails with INTERNAL and the trace goes to the log.
            log.exception("batch item %s failed unexpectedly", item.name)
            return _Outcome(item, FAILED, error=PakatError(errors.INTERNAL))
        finally:
            temp.unlink(missing_ok=True)

    def _record(
        self, batch_id: str, organisation: str, owner: str, options: BatchOptions,
        outcomes: list[_Outcome], report: WorkReport,
    ) -> None:
        now = utcnow()
        lost: list[str] = []
        recorded: list[_Outcome] = []
        policy = self.policy_of(organisation)
        no_room: list[str] = []
        with self.database.write() as conn:
            for outcome in outcomes:
                mine = and_(batch_items.c.batch_id == batch_id, batch_items.c.number == outcome.item.number,
                            batch_items.c.state == SEALING, batch_items.c.lease_owner == owner)
                error = outcome.error
                values: dict[str, Any] = {
                    "state": outcome.state, "lease_owner": None, "lease_until": None,
                    "error_code": error.code if error else None,
                    "error_detail": error.detail if error else None,
                }
                if outcome.state == SEALED:
                    values.update(output_sha256=outcome.output_sha256, output_size=outcome.output_size,
                                  finished_at=now, retry_at=None)
                elif outcome.state == FAILED:
                    values.update(finished_at=now, retry_at=None)
                else:
                    values.update(retry_at=outcome.retry_at)
                if conn.execute(update(batch_items).where(mine).values(**values)).rowcount != 1:
                    if outcome.output_sha256:
                        lost.append(outcome.output_sha256)
                    continue
                if outcome.state == SEALED and not quotas.try_charge(
                        conn, policy, organisation, outcome.output_size or 0, 0):
                    # No room for the sealed file in the organisation's quota: the item fails, its output goes.
                    assert outcome.output_sha256 is not None
                    no_room.append(outcome.output_sha256)
                    refusal = PakatError(errors.STORAGE_QUOTA_EXCEEDED)
                    conn.execute(update(batch_items).where(
                        batch_items.c.batch_id == batch_id, batch_items.c.number == outcome.item.number,
                    ).values(state=FAILED, output_sha256=None, output_size=None, error_code=refusal.code))
                    outcome = dataclasses.replace(outcome, state=FAILED, output_sha256=None, output_size=None,
                                                  error=refusal)
                if outcome.state == SEALED:
                    report.sealed += 1
                    recorded.append(outcome)
                elif outcome.state == FAILED:
                    report.failed += 1
                else:
                    report.retrying += 1
            # The audit entries come last: an append holds the log's head until commit, and taking it
            # before more row writes would make other workers' transactions wait on ours for longer.
            for outcome in recorded:
                self.audit.append(conn, audit.BATCH_ITEM_SEALED, actor=audit.organisation_actor(organisation),
                                  subject=f"{batch_id}/{outcome.item.number}",
                                  # Which worker (host:pid:run) sealed it: on several machines, which one did.
                                  details={**outcome.audit_details(options), "worker": owner})
        for sha256 in lost:
            # Our lease ran out and another worker sealed the item: its record stands, our copy goes.
            log.warning("batch %s: an item was taken over while sealing; dropping this worker's output", batch_id)
            self.store.discard(sha256)
            report.lost += 1
        for sha256 in no_room:
            self.store.discard(sha256)  # a fresh seal: no other row has these bytes

    def _settle(self, batch_id: str, report: WorkReport) -> None:
        """Finish the batch when every item has settled; else say when waiting items can be claimed."""
        with self.database.write() as conn:
            waiting = conn.execute(
                select(func.count(), func.min(batch_items.c.retry_at), func.min(batch_items.c.lease_until))
                .where(batch_items.c.batch_id == batch_id, batch_items.c.state.in_((QUEUED, SEALING)))
            ).one()
            if waiting[0] == 0:
                finished = conn.execute(update(batches).where(batches.c.id == batch_id, batches.c.state == RUNNING)
                                        .values(state=FINISHED, finished_at=utcnow()))
                report.finished_now = finished.rowcount == 1
                if report.finished_now:
                    self.audit.append(conn, audit.BATCH_FINISHED, actor=audit.system_actor("worker"),
                                      subject=batch_id, details={})
            else:
                times = [t for t in (waiting[1], waiting[2]) if t is not None]
                report.wake_at = min(times) if times else utcnow()
        report.progress = self.progress(None, batch_id)

    def stalled(self) -> list[str]:
        """Running batches, oldest first: after a queue outage, each needs a worker woken for it."""
        with self.database.begin() as conn:
            return list(conn.execute(
                select(batches.c.id).where(batches.c.state == RUNNING).order_by(batches.c.created_at)
            ).scalars())


def _tallies(conn: Connection, batch_ids: list[str]) -> dict[str, tuple[dict[str, int], datetime | None]]:
    """Per batch: its items counted by state, and when its last item settled (one query for a whole page)."""
    found: dict[str, tuple[dict[str, int], datetime | None]] = {}
    if not batch_ids:
        return found
    rows = conn.execute(
        select(batch_items.c.batch_id, batch_items.c.state, func.count(), func.max(batch_items.c.finished_at))
        .where(batch_items.c.batch_id.in_(batch_ids)).group_by(batch_items.c.batch_id, batch_items.c.state)
    ).all()
    for batch_id, state, count, last in rows:
        counts, latest = found.get(batch_id, ({}, None))
        counts[state] = int(count)
        if last is not None and (latest is None or last > latest):
            latest = last
        found[batch_id] = (counts, latest)
    return found


def _progress(batch: Any, counts: dict[str, int], last: datetime | None) -> BatchProgress:
    """A batch's progress from its row, its items' counts by state and when the last one settled."""
    done = counts.get(SEALED, 0) + counts.get(FAILED, 0)
    rate = eta = None
    if batch.started_at is not None and done and last is not None:
        elapsed = (last - batch.started_at).total_seconds()
        if elapsed > 0:
            rate = round(done / elapsed, 2)
            eta = round((batch.total - done) / rate, 1) if batch.state == RUNNING else 0.0
    return BatchProgress(
        id=batch.id, organisation=batch.organisation, level=batch.level, state=batch.state, total=batch.total,
        sealed=counts.get(SEALED, 0), failed=counts.get(FAILED, 0), queued=counts.get(QUEUED, 0),
        sealing=counts.get(SEALING, 0), rate_per_second=rate, eta_seconds=eta, created_at=batch.created_at,
        started_at=batch.started_at, finished_at=batch.finished_at,
    )


def _transient(exc: PakatError) -> bool:
    if isinstance(exc, ServiceUnavailable):
        return True
    return isinstance(exc, KeyStoreError) and exc.code in TRANSIENT_KEY_STORE


def _fingerprint(organisation: str, inputs: list[BatchInput], options: BatchOptions) -> str:
    """What makes two requests the same: organisation, options, and each file's name and content."""
    digest = hashlib.sha256()
    head = {"organisation": organisation, "level": options.level.value, "options": options.as_json()}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for item in inputs:
        digest.update(b"\x00" + item.name.encode("utf-8") + b"\x00" + item.sha256.encode("ascii"))
    return digest.hexdigest()


def _manifest_entry(row: Any) -> ManifestEntry:
    error = None
    if row.state == FAILED and row.error_code:
        kind = errors.KINDS.get(row.error_code, errors.INTERNAL)
        error = {"code": row.error_code, "message_fa": kind.fa, "message_en": kind.en}
        if row.error_detail:
            error["detail"] = row.error_detail
    return ManifestEntry(
        number=row.number, name=row.name, input_sha256=row.input_sha256, input_size=row.input_size,
        status=row.state, output_sha256=row.output_sha256, output_size=row.output_size, attempts=row.attempts,
        error=error,
    )


def _copy_atomically(source: Path, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)  # a member name may hold folders
    with source.open("rb") as inp, open_atomic(destination, mode=SHARED) as target:
        shutil.copyfileobj(inp, target.file, 1 << 20)


def _zip_time(moment: datetime | None) -> tuple[int, int, int, int, int, int]:
    when = moment or utcnow()
    return (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)

