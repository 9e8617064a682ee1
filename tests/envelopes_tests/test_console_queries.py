"""The console's queries and use cases, on SQLite and on PostgreSQL: batches, audit, webhooks, seal status.

Real parts: the dev deployment's SoftHSM seal keys (a batch item really sealed,
a broken PDF really failing), a Redis of the tests' own for the webhook retry,
the readiness probes for the seal status. Each query shows an organisation its
own objects and never another's.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pakat_testkit import api_key, pdf_bytes, unparseable_pdf_bytes
from redis import Redis
from rq import Queue
from sqlalchemy import update

from envelopes import audit
from envelopes.api_keys import ApiKeys
from envelopes.archives import BatchLimits, read_files
from envelopes.audit import AuditLog
from envelopes.audit_queries import AuditFilter, OrganisationAudit
from envelopes.batches import Batches, BatchOptions
from envelopes.blobs import DocumentStore
from envelopes.database import Database, audit_log, utcnow
from envelopes.operations import Readiness
from envelopes.queueing import RQJobQueue
from envelopes.seal_status import SealStatuses
from envelopes.sealing import SealService
from envelopes.webhook_admin import OrganisationWebhooks
from envelopes.webhooks import DELIVERED, GAVE_UP, RETRYING, enqueue_event, record_attempt
from hsm_config.deployment import Deployment, hash_api_key, load_deployment
from pakat import errors
from pakat.errors import PakatError
from signer.levels import PadesLevel


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def deployment(dev_env: Any) -> Deployment:
    return load_deployment(dev_env.deployment_path)


def new_batch(engine: Batches, store: DocumentStore, tmp_path: Path, organisation: str,
              contents: list[bytes]) -> str:
    paths = []
    for data in contents:
        path = tmp_path / f"in-{uuid.uuid4().hex[:8]}.pdf"
        path.write_bytes(data)
        paths.append((path.name, path))
    inputs = read_files(paths, store, BatchLimits())
    return engine.create(organisation, inputs, BatchOptions(PadesLevel.B_B), actor="system:test").progress.id


def code_of(call: Any) -> str:
    with pytest.raises(PakatError) as caught:
        call()
    return caught.value.code


# -- batches -------------------------------------------------------------------------------------------


def test_batches_are_listed_newest_first_paged_with_progress_and_only_the_organisations(
    dev_env: Any, database: Database, deployment: Deployment, tmp_path: Path,
) -> None:
    store = DocumentStore(tmp_path / "documents")
    seals = SealService(deployment)
    try:
        engine = Batches(database, store, lambda: seals, threads=1)
        first = new_batch(engine, store, tmp_path, "demo-co", [pdf_bytes("one"), unparseable_pdf_bytes()])
        engine.work(first, "w1")  # one sealed, one failed, finished
        second = new_batch(engine, store, tmp_path, "demo-co", [pdf_bytes("two")])
        third = new_batch(engine, store, tmp_path, "demo-co", [pdf_bytes("three")])
        other = new_batch(engine, store, tmp_path, "demo-gov", [pdf_bytes("theirs")])

        page = engine.page("demo-co", limit=2)
        assert [b.id for b in page.batches] == [third, second] and page.next_before == second
        rest = engine.page("demo-co", limit=2, before=page.next_before)
        assert [b.id for b in rest.batches] == [first] and rest.next_before is None
        # Each batch's progress is the detail's, rate and time left included.
        assert rest.batches[0] == engine.progress("demo-co", first)
        done = rest.batches[0]
        assert (done.state, done.total, done.sealed, done.failed, done.queued) == ("finished", 2, 1, 1, 0)
        assert done.finished_at is not None and done.eta_seconds in (0.0, None)
        assert [b.id for b in engine.page("demo-gov").batches] == [other]
        assert engine.page("demo-expired").batches == []
        # Another organisation's batch cannot be a page mark either.
        assert code_of(lambda: engine.page("demo-co", before=other)) == errors.BATCH_NOT_FOUND.code

        (failed,) = engine.failed_items("demo-co", first)
        assert failed.status == "failed" and failed.output_sha256 is None and failed.error is not None
        assert failed.error["code"] and failed.error["message_fa"] != failed.error["message_en"]
        assert failed.error["message_en"] == errors.KINDS[failed.error["code"]].en
        assert engine.failed_items("demo-co", second) == []
        assert code_of(lambda: engine.failed_items("demo-gov", first)) == errors.BATCH_NOT_FOUND.code
    finally:
        seals.close()


# -- the audit log ---------------------------------------------------------------------------------------


def test_audit_entries_are_those_concerning_the_organisation_filtered_and_paged(
    dev_env: Any, database: Database, deployment: Deployment, tmp_path: Path,
) -> None:
    log = AuditLog(database)
    keys = ApiKeys(database, deployment)
    mine = keys.create("demo-co", ("admin",), "console", actor="system:test")
    theirs = keys.create("demo-gov", ("admin",), "console", actor="system:test")
    keys.rotate(mine.key.id, actor="system:test", grace=timedelta(0))  # details name no organisation
    yaml_key = audit.api_key_actor(hash_api_key(api_key(dev_env, "demo-co")))
    store = DocumentStore(tmp_path / "documents")
    engine = Batches(database, store, lambda: SealService(deployment))
    batch = new_batch(engine, store, tmp_path, "demo-co", [pdf_bytes("a")])
    new_batch(engine, store, tmp_path, "demo-gov", [pdf_bytes("b")])
    log.record(audit.BATCH_FINISHED, actor=audit.system_actor("worker"), subject=batch)
    log.record(audit.SEAL_KEY_GENERATED, actor="operator:root@host", subject="seal:demo-co/seal-2026")
    log.record(audit.SEAL_KEY_GENERATED, actor="operator:root@host", subject="seal:demo-gov/seal-2026")
    log.record(audit.DOCUMENT_VALIDATED, actor=yaml_key, subject="sha256:" + "0" * 64)
    log.record(audit.DOCUMENT_VALIDATED, actor=audit.ANONYMOUS, subject="sha256:" + "1" * 64)
    log.record(audit.CONFIG_CHANGED, actor="system:serve", subject=audit.CONFIG_SUBJECT,
               details={"organisations": ["demo-co", "demo-gov"]})
    log.record(audit.SCHEMA_UPGRADED, actor="system:db-upgrade", subject=audit.SCHEMA_SUBJECT,
               details={"from": None, "to": "0010"})
    log.record(audit.ACCESS_LOCKED_OUT, actor="client:10.0.0.9", subject="client:10.0.0.9")
    # An organisation id is matched as itself: "demo_co" is not a LIKE pattern that finds "demo-co".
    log.record(audit.BATCH_DELETED, actor="system:retention", subject="b" * 32,
               details={"organisation": "demo_co"})

    queries = OrganisationAudit(database, deployment)
    page = queries.entries("demo-co")
    seen = [(e.action, e.subject) for e in page.entries]
    assert seen == [
        (audit.DOCUMENT_VALIDATED, "sha256:" + "0" * 64),
        (audit.SEAL_KEY_GENERATED, "seal:demo-co/seal-2026"),
        (audit.BATCH_FINISHED, batch),
        (audit.BATCH_CREATED, batch),
        (audit.API_KEY_ROTATED, f"api-key:{mine.key.id}"),
        (audit.API_KEY_CREATED, f"api-key:{mine.key.id}"),
    ]
    assert page.next_before is None
    gov = {(e.action, e.subject) for e in queries.entries("demo-gov").entries}
    assert (audit.API_KEY_CREATED, f"api-key:{theirs.key.id}") in gov and len(gov) == 3
    assert [e.action for e in queries.entries("demo_co").entries] == [audit.BATCH_DELETED]
    assert all(e.action not in (audit.CONFIG_CHANGED, audit.SCHEMA_UPGRADED, audit.ACCESS_LOCKED_OUT)
               for org in ("demo-co", "demo-gov") for e in queries.entries(org).entries)

    # Filters: an action or a noun's actions, an actor, a subject, a time range; pages by seq.
    assert [e.action for e in queries.entries("demo-co", AuditFilter(action="api_key.")).entries] == [
        audit.API_KEY_ROTATED, audit.API_KEY_CREATED]
    assert [e.subject for e in queries.entries("demo-co", AuditFilter(actor=yaml_key)).entries] == [
        "sha256:" + "0" * 64]
    assert len(queries.entries("demo-co", AuditFilter(subject=batch)).entries) == 2
    assert queries.entries("demo-co", AuditFilter(since=utcnow())).entries == []
    newest = page.entries[0]
    window = AuditFilter(since=page.entries[-1].at, until=newest.at)
    assert [e.seq for e in queries.entries("demo-co", window).entries] == [e.seq for e in page.entries[1:]]
    first = queries.entries("demo-co", AuditFilter(limit=4))
    assert len(first.entries) == 4 and first.next_before == first.entries[-1].seq
    second = queries.entries("demo-co", AuditFilter(limit=4, before=first.next_before))
    assert [e.seq for e in first.entries + second.entries] == [e.seq for e in page.entries]
    for bad in (AuditFilter(action="Batch"), AuditFilter(limit=0), AuditFilter(limit=201), AuditFilter(before=0),
                AuditFilter(since=utcnow(), until=utcnow() - timedelta(1)), AuditFilter(actor="x" * 161),
                AuditFilter(since=utcnow().replace(tzinfo=None))):
        assert code_of(lambda bad=bad: queries.entries("demo-co", bad)) == errors.AUDIT_FILTER_INVALID.code


def test_the_chain_check_gives_the_verdict_and_the_head_hash(database: Database, deployment: Deployment) -> None:
    log = AuditLog(database)
    entries = [log.record(audit.BATCH_FINISHED, actor="system:worker", subject=f"b{n}") for n in range(3)]
    queries = OrganisationAudit(database, deployment)
    check = queries.verify()
    assert check.ok and check.head_seq == entries[-1].seq and check.head_hash == entries[-1].hash
    assert check.as_dict()["head_hash"] == entries[-1].hash and check.as_dict()["checked"] == 3

    with database.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == entries[1].seq).values(details='{"x":1}'))
    broken = queries.verify()
    assert not broken.ok and broken.verdict.first_bad_seq == entries[1].seq
    assert broken.head_hash == entries[-1].hash
    body = broken.as_dict()
    assert body["reason"] == audit.HASH_MISMATCH and body["message_fa"] and body["message_en"]


# -- webhooks -----------------------------------------------------------------------------------------------


@pytest.fixture
def hooked(dev_env: Any, tmp_path: Path) -> Deployment:
    """demo-co's and demo-gov's platforms with a webhook (a secret file), one attempt each."""
    secret = tmp_path / "hook.secret"
    secret.write_text("s3cret-webhook-value", encoding="utf-8")
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    for entry in raw["api_keys"]:
        if entry["organisation"] in ("demo-co", "demo-gov"):
            entry["webhook"] = {"url": f"https://hooks.example/{entry['organisation']}/in?token=abc",
                                "secret_file": str(secret)}
    raw["webhooks"] = {"retry_intervals": [], "timeout_seconds": 2}
    path = dev_env.deployment_path.with_name(f"hooked-{uuid.uuid4().hex[:8]}.yaml")
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    try:
        return load_deployment(path)
    finally:
        path.unlink()


def attempt(database: Database, platform: str, event_id: str, number: int, outcome: str) -> None:
    record_attempt(database, api_key_sha256=platform, event_id=event_id, event="signature.completed",
                   url="https://hooks.example/in?token=abc", attempt=number, status=500 if outcome != DELIVERED
                   else 200, error=None if outcome == DELIVERED else "HTTP_500", duration_ms=3, outcome=outcome)


def test_webhook_settings_log_and_retry_stay_within_the_organisation(
    dev_env: Any, database: Database, hooked: Deployment, redis_url: str,
) -> None:
    co, gov = (hash_api_key(api_key(dev_env, org)) for org in ("demo-co", "demo-gov"))
    queue_name = f"console-{uuid.uuid4().hex[:8]}"
    connection = Redis.from_url(redis_url)
    rq_queue = Queue(queue_name, connection=connection)
    hooks = OrganisationWebhooks(database, hooked, RQJobQueue(redis_url, queue_name, hooked))
    try:
        settings = hooks.settings("demo-co")
        assert [(p.platform, p.url, p.secret_source) for p in settings.platforms] == [
            (co[:12], "https://hooks.example/demo-co/in", "file")]
        assert "s3cret" not in json.dumps(settings.as_dict()) and settings.retry_intervals == ()

        def event(platform: str, session: str) -> str:
            event_id = enqueue_event(rq_queue, hooked, platform, "signature.completed", {"session": session})
            assert event_id is not None
            return event_id

        gone_up, delivered, pending, lost = (event(co, f"s{n}") for n in range(4))
        foreign = event(gov, "g1")
        attempt(database, co, gone_up, 1, GAVE_UP)
        attempt(database, co, delivered, 1, DELIVERED)
        attempt(database, co, pending, 1, RETRYING)
        attempt(database, co, lost, 1, GAVE_UP)
        attempt(database, gov, foreign, 1, GAVE_UP)
        rq_queue.fetch_job(f"webhook-{lost}").delete()  # Redis lost it

        page = hooks.deliveries("demo-co", limit=3)
        assert [d.attempt.event_id for d in page.deliveries] == [lost, pending, delivered]
        rest = hooks.deliveries("demo-co", before=page.next_before)
        assert [d.attempt.event_id for d in rest.deliveries] == [gone_up] and rest.next_before is None
        assert {d.attempt.event_id: d.retryable for d in page.deliveries + rest.deliveries} == {
            lost: True, pending: False, delivered: False, gone_up: True}
        assert [d.attempt.event_id for d in hooks.deliveries("demo-gov").deliveries] == [foreign]
        first_id = rest.deliveries[0].attempt.id

        queued = hooks.retry("demo-co", first_id, actor="person:p1")
        assert (queued.event_id, queued.attempt, queued.queued) == (gone_up, 2, True)
        job = rq_queue.fetch_job(f"webhook-{gone_up}-retry2")
        original = rq_queue.fetch_job(f"webhook-{gone_up}")
        assert job is not None and original is not None and job.args == original.args
        assert job.meta["first_attempt"] == 2 and job.meta["retries"] == 0 and job.retries_left is None
        # Asked twice before it ran: the waiting attempt is the answer.
        again = hooks.retry("demo-co", first_id, actor="person:p1")
        assert again.queued is False and again.attempt == 2
        (entry,) = OrganisationAudit(database, hooked).entries("demo-co", AuditFilter(action="webhook.")).entries
        assert entry.actor == "person:p1" and entry.subject == f"webhook-event:{gone_up}"
        assert entry.details == {"organisation": "demo-co", "delivery": first_id, "event": "signature.completed",
                                 "attempt": 2, "platform": co[:12]}

        by_event = {d.attempt.event_id: d.attempt.id for d in page.deliveries}
        assert code_of(lambda: hooks.retry("demo-co", by_event[delivered], actor="x:y")) == \
            errors.WEBHOOK_NOT_RETRYABLE.code
        assert code_of(lambda: hooks.retry("demo-co", by_event[pending], actor="x:y")) == \
            errors.WEBHOOK_NOT_RETRYABLE.code
        assert code_of(lambda: hooks.retry("demo-co", by_event[lost], actor="x:y")) == \
            errors.WEBHOOK_EVENT_GONE.code
        foreign_id = hooks.deliveries("demo-gov").deliveries[0].attempt.id
        assert code_of(lambda: hooks.retry("demo-co", foreign_id, actor="x:y")) == \
            errors.WEBHOOK_DELIVERY_NOT_FOUND.code
        # Narrowed to one platform (a key without admin): another platform's delivery is not found either.
        assert code_of(lambda: hooks.retry("demo-co", first_id, actor="x:y", references={"f" * 64})) == \
            errors.WEBHOOK_DELIVERY_NOT_FOUND.code
        assert code_of(lambda: hooks.retry("demo-co", 10**9, actor="x:y")) == \
            errors.WEBHOOK_DELIVERY_NOT_FOUND.code
        # The webhook removed from the configuration: nothing to send to.
        bare = dataclasses.replace(hooked, platforms={
            k: dataclasses.replace(p, webhook=None) for k, p in hooked.platforms.items()})
        unhooked = OrganisationWebhooks(database, bare, RQJobQueue(redis_url, queue_name, bare))
        attempt(database, co, gone_up, 2, GAVE_UP)
        latest = unhooked.deliveries("demo-co").deliveries[0]
        assert latest.retryable
        assert code_of(lambda: unhooked.retry("demo-co", latest.attempt.id, actor="x:y")) == \
            errors.WEBHOOK_NOT_CONFIGURED.code
    finally:
        rq_queue.empty()
        connection.close()


# -- seal status --------------------------------------------------------------------------------------------


def test_seal_status_names_the_token_the_certificate_and_its_expiry(
    dev_env: Any, database: Database, deployment: Deployment,
) -> None:
    org = deployment.organisation("demo-gov")
    wrong = dataclasses.replace(org, seal=dataclasses.replace(org.seal, token_label="no-such-seal-token"))
    broken = dataclasses.replace(deployment, organisations={**deployment.organisations, "demo-gov": wrong})
    seals = SealService(broken)
    try:
        readiness = Readiness(broken, database, RQJobQueue(None, "none", broken), lambda: seals)
        statuses = SealStatuses(broken, readiness)
        good = statuses.of("demo-co")
        assert good.hsm_reachable and good.state == "ok" and good.certificate is not None
        cert = good.certificate
        assert cert.subject and cert.issuer and cert.subject != cert.issuer and len(cert.sha256) == 64
        assert cert.days_to_expiry > readiness.warn_days and cert.state == "ok"
        assert cert.message_fa and cert.message_en and good.hsm_message_en.startswith("The seal key")
        body = good.as_dict()
        assert body["certificate"]["not_after"].endswith("Z") and body["hsm"]["detail"] is None

        down = statuses.of("demo-gov")
        assert not down.hsm_reachable and down.state == "fail" and down.hsm_detail == "HSM_TOKEN_NOT_FOUND"
        assert down.certificate is not None  # the certificate file is still read

        # Within the warning threshold: a warning, not a failure.
        close = SealStatuses(broken, Readiness(broken, database, RQJobQueue(None, "none", broken), lambda: seals,
                                               warn_days=cert.days_to_expiry + 2))
        warned = close.of("demo-co")
        assert warned.certificate is not None and warned.certificate.state == "warning"
        assert warned.state == "warning"
        assert code_of(lambda: statuses.of("no-such-org")) == errors.UNKNOWN_ORGANISATION.code
    finally:
        seals.close()
