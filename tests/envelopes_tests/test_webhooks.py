"""Platform webhooks: configuration, signing, delivery, and retries through a real ``pakat worker``.

The receiver is an HTTP server of the test's own on loopback; it checks every
request with ``verify_signature`` as a platform would. Each path behaves
differently: ``/ok`` accepts, ``/flaky`` refuses an event's first two
attempts, ``/down`` always refuses, ``/redirect`` points elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from pakat_testkit import (
    api_key,
    assert_no_secret,
    free_port,
    pakat_worker,
    secrets_of,
    wait_until,
)
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

from envelopes.database import Database
from envelopes.jobs import deliver_webhook_job
from envelopes.services import forget_process_services
from envelopes.webhooks import (
    DELIVERED,
    GAVE_UP,
    RETRYING,
    SIGNATURE_COMPLETED,
    SIGNATURE_FAILED,
    DeliveryAttempt,
    WebhookRefused,
    deliver,
    deliveries,
    enqueue_event,
    event_body,
    record_attempt,
    recorded_url,
    signature_header,
    verify_signature,
)
from hsm_config.deployment import (
    DEFAULT_WEBHOOK_RETRY_INTERVALS,
    Deployment,
    Webhook,
    WebhookSettings,
    hash_api_key,
    load_deployment,
)
from pakat.errors import AccessError

SECRET_ENV = "DEMO_GOV_WEBHOOK_SECRET"


# -- the receiver -----------------------------------------------------------------


@dataclass
class Delivery:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int


@dataclass
class Receiver:
    """A platform's webhook endpoint: verifies, records, and answers by path."""

    port: int
    secrets: dict[str, str]
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str, event_id: str | None = None) -> list[Delivery]:
        with self.lock:
            return [
                d for d in self.deliveries
                if d.path == path and (event_id is None or d.headers.get("X-Pakat-Event-Id") == event_id)
            ]

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        secret = self.secrets.get(path.split("?")[0], "")
        timestamp, signature = headers.get("X-Pakat-Timestamp"), headers.get("X-Pakat-Signature")
        verified = verify_signature(secret, timestamp, signature, body)
        with self.lock:
            earlier = [
                d for d in self.deliveries
                if d.path == path and d.headers.get("X-Pakat-Event-Id") == headers.get("X-Pakat-Event-Id")
            ]
            extra: dict[str, str] = {}
            if not verified:
                status = 401
            elif path == "/flaky":
                status = 500 if len(earlier) < 2 else 200
            elif path == "/down":
                status = 500
            elif path == "/redirect":
                status, extra = 302, {"Location": self.url("/ok")}
            else:
                status = 204
            self.deliveries.append(Delivery(path, headers, body, verified, status))
        return status, extra


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The receiving platform, in a thread on a free loopback port."""
    state = Receiver(port=0, secrets={
        "/ok": secrets.token_urlsafe(32),
        "/flaky": secrets.token_urlsafe(32),
        "/down": secrets.token_urlsafe(32),
        "/redirect": secrets.token_urlsafe(32),
    })

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, extra = state.answer(self.path, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet test output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- the deployment with webhooks ---------------------------------------------------------


@dataclass(frozen=True)
class WebhookSetup:
    """The test deployment: which API key posts where, with which secret."""

    path: Path
    deployment: Deployment
    key_hash: dict[str, str]  # organisation -> SHA-256 of its API key
    secret_file: Path


def write_variant(source: Path, name: str, edit: Any) -> Path:
    """A copy of the deployment beside ``source`` (relative paths keep working), changed by ``edit(raw)``."""
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    edit(raw)
    copy = source.with_name(f"{name}.yaml")
    copy.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return copy


@pytest.fixture(scope="module")
def setup(dev_env: Any, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookSetup]:
    """demo-co posts to /ok (secret file), demo-gov to /flaky (secret in $DEMO_GOV_WEBHOOK_SECRET),
    demo-revoked to /down, demo-expired has no webhook; retries after 1, 1 and 1 seconds."""
    secrets_dir = tmp_path_factory.mktemp("webhook-secrets")
    ok_file = secrets_dir / "ok.secret"
    ok_file.write_text(receiver.secrets["/ok"] + "\n", encoding="utf-8")
    ok_file.chmod(0o600)
    down_file = secrets_dir / "down.secret"
    down_file.write_text(receiver.secrets["/down"], encoding="utf-8")
    down_file.chmod(0o600)
    hooks: dict[str, dict[str, str]] = {
        "demo-co": {"url": receiver.url("/ok"), "secret_file": str(ok_file)},
        "demo-gov": {"url": receiver.url("/flaky"), "secret_env": SECRET_ENV},
        "demo-revoked": {"url": receiver.url("/down"), "secret_file": str(down_file)},
    }

    def edit(raw: dict[str, Any]) -> None:
        for entry in raw["api_keys"]:
            if entry["organisation"] in hooks:
                entry["webhook"] = hooks[entry["organisation"]]
        raw["webhooks"] = {"retry_intervals": [1, 1, 1], "timeout_seconds": 5}

    path = write_variant(dev_env.deployment_path, f"webhooks-{uuid.uuid4().hex[:8]}", edit)
    try:
        yield WebhookSetup(
            path=path,
            deployment=load_deployment(path),
            key_hash={org: hash_api_key(api_key(dev_env, org)) for org in dev_env.organisations},
            secret_file=ok_file,
        )
    finally:
        path.unlink()


@pytest.fixture(scope="module")
def worker(setup: WebhookSetup, receiver: Receiver, dev_env: Any, redis_url: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Queue, Path]]:
    """A ``pakat worker`` (with its scheduler, for the retries) on a queue of its own, and its log."""
    home = tmp_path_factory.mktemp("webhook-worker")
    queue_name = f"pakat-webhooks-{uuid.uuid4().hex[:8]}"
    env = {"PAKAT_CONFIG": str(setup.path), "REDIS_URL": redis_url, "PAKAT_QUEUE": queue_name,
           SECRET_ENV: receiver.secrets["/flaky"]}
    connection = Redis.from_url(redis_url)
    try:
        with pakat_worker(home, env) as log_path:
            yield Queue(queue_name, connection=connection), log_path
    finally:
        connection.close()
    worker_log = log_path.read_bytes()
    assert_no_secret([worker_log], [*receiver.secrets.values(), *secrets_of(dev_env)])


def settled(job: Job, timeout: float = 60) -> Job:
    """Wait until the job finished or failed for good (a scheduled retry is not the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if job.get_status(refresh=True) in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED):
            job.refresh()  # the retry count and results too, not only the status
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} still {job.get_status()} after {timeout} s")


def job_of(queue: Queue, event_id: str) -> Job:
    return Job.fetch(f"webhook-{event_id}", connection=queue.connection)


def recorded(database_url: str, api_key_sha256: str, event_id: str) -> list[DeliveryAttempt]:
    """The delivery attempts recorded for one event, oldest first."""
    database = Database(database_url)
    try:
        return [d for d in deliveries(database, api_key_sha256, limit=500) if d.event_id == event_id]
    finally:
        database.dispose()


def worker_database_url(log_path: Path) -> str:
    """The worker fixture's database: the default SQLite file in its home, beside its log."""
    return f"sqlite:///{log_path.parent / 'pakat.db'}"


def assert_secret_only_in_signature(deliveries: list[Delivery], secret: str) -> None:
    for delivery in deliveries:
        assert secret not in delivery.body.decode("utf-8")
        for name, value in delivery.headers.items():
            assert secret not in value, name
        # The signature is an HMAC, not the secret itself.
        assert delivery.headers["X-Pakat-Signature"] != f"sha256={secret}"


# -- delivery through the worker -------------------------------------------------------------


def test_event_arrives_signed(worker: tuple[Queue, Path], setup: WebhookSetup, receiver: Receiver) -> None:
    queue, _ = worker
    data = {"document_id": "doc-1", "session_id": "ses-1", "signer": {"name": "مریم رضایی"}}
    event_id = enqueue_event(queue, setup.deployment, setup.key_hash["demo-co"], SIGNATURE_COMPLETED, data)
    assert event_id is not None
    job = settled(job_of(queue, event_id))
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string  # type: ignore[union-attr]
    assert job.return_value() == {"event_id": event_id, "event": SIGNATURE_COMPLETED, "delivered": True,
                                  "status": 204}

    (delivery,) = receiver.received("/ok", event_id)
    assert delivery.verified and delivery.status == 204
    headers = delivery.headers
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-Pakat-Event"] == SIGNATURE_COMPLETED
    assert headers["X-Pakat-Event-Id"] == event_id
    assert headers["User-Agent"].startswith("Pakat")
    assert abs(int(headers["X-Pakat-Timestamp"]) - time.time()) < 60
    body = json.loads(delivery.body)
    assert body["id"] == event_id and body["event"] == SIGNATURE_COMPLETED
    assert body["document_id"] == "doc-1" and body["signer"]["name"] == "مریم رضایی"
    assert "مریم".encode() in delivery.body  # UTF-8 as is, not \\u escapes
    assert_secret_only_in_signature([delivery], receiver.secrets["/ok"])


def test_flaky_receiver_gets_the_event_on_the_third_attempt(worker: tuple[Queue, Path], setup: WebhookSetup,
                                                           receiver: Receiver) -> None:
    queue, _ = worker
    event_id = enqueue_event(queue, setup.deployment, setup.key_hash["demo-gov"], SIGNATURE_FAILED,
                             {"document_id": "doc-2", "session_id": "ses-2", "error": {"code": "TSA_UNAVAILABLE"}})
    assert event_id is not None
    job = settled(job_of(queue, event_id))
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string  # type: ignore[union-attr]

    attempts = receiver.received("/flaky", event_id)
    assert [d.status for d in attempts] == [500, 500, 200]
    # Each attempt recorded by the worker, failures with the answer they got, then the delivery.
    records = recorded(worker_database_url(worker[1]), setup.key_hash["demo-gov"], event_id)
    assert [(r.attempt, r.status, r.error, r.outcome) for r in records] == [
        (1, 500, "HTTP_500", RETRYING), (2, 500, "HTTP_500", RETRYING), (3, 200, None, DELIVERED)]
    assert {r.event for r in records} == {SIGNATURE_FAILED}
    assert {r.url for r in records} == {receiver.url("/flaky")}
    assert all(r.duration_ms >= 0 for r in records) and records[0].at < records[1].at < records[2].at
    assert all(d.verified for d in attempts)
    # The same event each time (receivers deduplicate by id); only the timestamp and signature are new.
    assert len({d.body for d in attempts}) == 1
    assert {d.headers["X-Pakat-Event-Id"] for d in attempts} == {event_id}
    assert json.loads(attempts[0].body)["id"] == event_id
    assert_secret_only_in_signature(attempts, receiver.secrets["/flaky"])


def test_receiver_that_always_fails_ends_in_a_failed_job(worker: tuple[Queue, Path], setup: WebhookSetup,
                                                         receiver: Receiver) -> None:
    queue, log_path = worker
    event_id = enqueue_event(queue, setup.deployment, setup.key_hash["demo-revoked"], SIGNATURE_COMPLETED,
                             {"document_id": "doc-3", "session_id": "ses-3"})
    assert event_id is not None
    job = settled(job_of(queue, event_id))
    assert job.get_status() == JobStatus.FAILED
    assert len(receiver.received("/down", event_id)) == 1 + 3  # the first attempt and three retries
    assert job.retries_left == 0
    records = recorded(worker_database_url(log_path), setup.key_hash["demo-revoked"], event_id)
    assert [(r.attempt, r.status, r.outcome) for r in records] == [
        (1, 500, RETRYING), (2, 500, RETRYING), (3, 500, RETRYING), (4, 500, GAVE_UP)]
    failure = job.latest_result().exc_string or ""  # type: ignore[union-attr]
    assert "WebhookRefused" in failure and "HTTP 500" in failure and "127.0.0.1" in failure
    secret = receiver.secrets["/down"]
    assert secret not in failure and "doc-3" not in failure  # neither the secret nor the body
    assert secret not in log_path.read_text(encoding="utf-8", errors="replace")


def test_platform_without_webhook_enqueues_nothing(worker: tuple[Queue, Path], setup: WebhookSetup) -> None:
    queue, _ = worker
    before = queue.count
    assert enqueue_event(queue, setup.deployment, setup.key_hash["demo-expired"], SIGNATURE_COMPLETED, {}) is None
    assert enqueue_event(queue, setup.deployment, None, SIGNATURE_COMPLETED, {}) is None
    assert enqueue_event(queue, setup.deployment, "0" * 64, SIGNATURE_COMPLETED, {}) is None
    assert queue.count == before


def test_job_for_a_webhook_gone_from_the_configuration_succeeds_quietly(
    worker: tuple[Queue, Path], setup: WebhookSetup, receiver: Receiver
) -> None:
    queue, log_path = worker
    event_id, body = event_body(SIGNATURE_COMPLETED, {"document_id": "doc-4"})
    # As if the webhook had been removed after the event was queued.
    job = settled(queue.enqueue(deliver_webhook_job, setup.key_hash["demo-expired"], event_id, body.decode()))
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"event_id": event_id, "delivered": False}
    assert not [d for d in receiver.deliveries if d.headers.get("X-Pakat-Event-Id") == event_id]
    assert recorded(worker_database_url(log_path), setup.key_hash["demo-expired"], event_id) == []  # no attempt
    wait_until(lambda: f"webhook event {event_id} dropped".encode() in log_path.read_bytes(), 10, "drop logged")


def test_enqueued_job_carries_the_configured_retries(setup: WebhookSetup, redis_url: str) -> None:
    queue = Queue(f"pakat-webhooks-idle-{uuid.uuid4().hex[:8]}", connection=Redis.from_url(redis_url))
    event_id = enqueue_event(queue, setup.deployment, setup.key_hash["demo-co"], SIGNATURE_COMPLETED, {})
    assert event_id is not None
    job = job_of(queue, event_id)
    assert job.retries_left == 3 and job.retry_intervals == [1, 1, 1]
    assert job.func_name == "envelopes.jobs.deliver_webhook_job"
    assert job.args[0] == setup.key_hash["demo-co"] and job.args[1] == event_id
    # The job carries the API key's hash and the body; never a secret or a URL.
    blob = json.dumps(job.args)
    assert setup.secret_file.read_text().strip() not in blob and "http" not in blob
    queue.empty()


def test_job_follows_the_configuration_it_reads(
    setup: WebhookSetup, dev_env: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    # Without a webhook in the configuration (the dev deployment), nothing is sent.
    monkeypatch.setenv("PAKAT_CONFIG", str(dev_env.deployment_path))
    monkeypatch.setenv("PAKAT_DATABASE_URL", database_url)
    forget_process_services()
    try:
        event_id, body = event_body(SIGNATURE_COMPLETED, {})
        assert deliver_webhook_job(setup.key_hash["demo-co"], event_id, body.decode()) == {
            "event_id": event_id, "delivered": False}
        # With it, the event is delivered.
        monkeypatch.setenv("PAKAT_CONFIG", str(setup.path))
        forget_process_services()
        result = deliver_webhook_job(setup.key_hash["demo-co"], event_id, body.decode())
        assert result["delivered"] is True and result["status"] == 204
        assert [d.verified for d in receiver.received("/ok", event_id)] == [True]
        # Outside a queue the one run is the first and last attempt.
        (record,) = recorded(database_url, setup.key_hash["demo-co"], event_id)
        assert (record.attempt, record.status, record.error, record.outcome) == (1, 204, None, DELIVERED)
    finally:
        forget_process_services()


def test_failed_attempts_are_recorded_without_the_query_or_secret(
    dev_env: Any, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """Nobody listening, and a secret the worker cannot read: both recorded, the URL without its token."""
    closed = free_port()

    def edit(raw: dict[str, Any]) -> None:
        raw["api_keys"][0]["webhook"] = {"url": f"http://127.0.0.1:{closed}/hooks/pakat?token=s3cret-query",
                                         "secret_env": "PAKAT_TEST_DELIVERY_SECRET"}

    path = write_variant(dev_env.deployment_path, f"closed-{uuid.uuid4().hex[:8]}", edit)
    monkeypatch.setenv("PAKAT_CONFIG", str(path))
    monkeypatch.setenv("PAKAT_DATABASE_URL", database_url)
    forget_process_services()
    try:
        key = next(iter(load_deployment(path).platforms))
        monkeypatch.delenv("PAKAT_TEST_DELIVERY_SECRET", raising=False)
        unreadable, body = event_body(SIGNATURE_COMPLETED, {"document_id": "doc-8"})
        with pytest.raises(AccessError):
            deliver_webhook_job(key, unreadable, body.decode())

        monkeypatch.setenv("PAKAT_TEST_DELIVERY_SECRET", "delivery-secret-4d1f")
        refused, body = event_body(SIGNATURE_FAILED, {"document_id": "doc-9"})
        with pytest.raises(WebhookRefused):
            deliver_webhook_job(key, refused, body.decode())
    finally:
        forget_process_services()
        path.unlink()

    (no_secret,) = recorded(database_url, key, unreadable)
    assert (no_secret.status, no_secret.error, no_secret.outcome) == (None, "CONFIG_INVALID", GAVE_UP)
    (no_answer,) = recorded(database_url, key, refused)
    assert (no_answer.attempt, no_answer.status, no_answer.error, no_answer.outcome) == (
        1, None, "ConnectionRefusedError", GAVE_UP)
    assert no_answer.event == SIGNATURE_FAILED
    assert no_answer.url == f"http://127.0.0.1:{closed}/hooks/pakat"
    assert_no_secret([json.dumps(r.as_dict()) for r in (no_secret, no_answer)],
                     ["s3cret-query", "delivery-secret-4d1f", *secrets_of(dev_env)])


def test_a_platform_reads_its_own_delivery_record(
    dev_env: Any, database_url: str, app_on_each_database: Flask
) -> None:
    co, gov = (hash_api_key(api_key(dev_env, org)) for org in ("demo-co", "demo-gov"))
    database = Database(database_url)
    try:
        attempts = [(co, 500, RETRYING), (gov, 204, DELIVERED), (co, 204, DELIVERED)]
        for n, (key, status, outcome) in enumerate(attempts):
            record_attempt(database, api_key_sha256=key, event_id=f"{n + 1:032x}", event=SIGNATURE_COMPLETED,
                           url="https://p.example/h?token=t0ken", attempt=1, status=status,
                           error="HTTP_500" if status == 500 else None, duration_ms=12, outcome=outcome)
    finally:
        database.dispose()
    client = app_on_each_database.test_client()
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    reply = client.get("/api/v1/webhooks/deliveries", headers=headers)
    assert reply.status_code == 200, reply.json
    found = reply.json["deliveries"]
    assert [(d["event_id"][-1], d["status"], d["error"], d["outcome"]) for d in found] == [
        ("1", 500, "HTTP_500", RETRYING), ("3", 204, None, DELIVERED)]  # demo-gov's is not shown
    assert {d["url"] for d in found} == {"https://p.example/h"} and "t0ken" not in reply.get_data(as_text=True)
    assert found[0]["at"].endswith("Z") and reply.json["next_after"] == found[-1]["id"]

    page = client.get(f"/api/v1/webhooks/deliveries?after={found[0]['id']}&limit=1", headers=headers)
    assert [d["event_id"] for d in page.json["deliveries"]] == [found[1]["event_id"]]
    empty = client.get(f"/api/v1/webhooks/deliveries?after={found[1]['id']}", headers=headers)
    assert empty.json == {"deliveries": [], "next_after": found[1]["id"]}

    assert client.get("/api/v1/webhooks/deliveries").status_code == 401
    for query in ("limit=0", "limit=501", "after=-1", "limit=٣", "after=" + "9" * 40):
        refused = client.get(f"/api/v1/webhooks/deliveries?{query}", headers=headers)
        assert refused.status_code == 400 and refused.json["error"]["code"] == "REQUEST_INVALID", query


def test_recorded_url_keeps_scheme_host_port_and_path_only() -> None:
    assert recorded_url("https://user:pw@p.example:8443/a/b?token=x#frag") == "https://p.example:8443/a/b"
    assert recorded_url("https://p.example?token=x") == "https://p.example/"
    assert recorded_url("http://[::1]:9000/h") == "http://[::1]:9000/h"


# -- deliver, directly ---------------------------------------------------------------------


def test_deliver_refuses_a_non_2xx_answer_and_follows_no_redirect(receiver: Receiver) -> None:
    event_id, body = event_body(SIGNATURE_COMPLETED, {"document_id": "doc-5"})
    before = len(receiver.received("/ok"))
    with pytest.raises(WebhookRefused) as refused:
        deliver(receiver.url("/redirect"), receiver.secrets["/redirect"], event_id, body, 5)
    assert refused.value.status == 302
    assert len(receiver.received("/ok")) == before  # the Location was not followed

    with pytest.raises(WebhookRefused) as refused:
        deliver(receiver.url("/down"), receiver.secrets["/down"], event_id, body, 5)
    assert refused.value.status == 500
    assert receiver.secrets["/down"] not in str(refused.value) and "doc-5" not in str(refused.value)

    # A wrong secret: the receiver's verify_signature refuses it.
    with pytest.raises(WebhookRefused) as refused:
        deliver(receiver.url("/ok?token=abc"), "not-the-secret", event_id, body, 5)
    assert refused.value.status == 401
    assert "token=abc" not in str(refused.value)  # the URL's query may be a credential

    assert deliver(receiver.url("/ok"), receiver.secrets["/ok"], event_id, body, 5) == 204


def test_deliver_to_nobody_is_refused_without_the_url() -> None:
    port = free_port()
    event_id, body = event_body(SIGNATURE_COMPLETED, {})
    with pytest.raises(WebhookRefused) as refused:
        deliver(f"http://127.0.0.1:{port}/hook?token=s3cret-token", "secret", event_id, body, 2)
    assert refused.value.status is None
    assert "s3cret-token" not in str(refused.value) and "ConnectionRefusedError" in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


# -- signing and verifying -----------------------------------------------------------------------


def test_signature_header_is_the_hmac_of_timestamp_and_body() -> None:
    import hashlib
    import hmac

    body = b'{"id":"x","event":"signature.completed"}'
    expected = hmac.new(b"k3y", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature_header("k3y", 1700000000, body) == f"sha256={expected}"


def test_verify_signature_refuses_tampering_and_old_or_missing_headers() -> None:
    secret = secrets.token_urlsafe(32)
    _, body = event_body(SIGNATURE_COMPLETED, {"document_id": "doc-6"})
    now = int(time.time())
    good = signature_header(secret, now, body)
    assert verify_signature(secret, str(now), good, body)

    assert not verify_signature(secret, str(now), good, body.replace(b"doc-6", b"doc-7"))  # tampered body
    assert not verify_signature("another-secret", str(now), good, body)
    assert not verify_signature(secret, str(now + 1), good, body)  # timestamp changed, signature not
    old = now - 301
    assert not verify_signature(secret, str(old), signature_header(secret, old, body), body)  # replayed later
    assert verify_signature(secret, str(now - 200), signature_header(secret, now - 200, body), body)
    assert not verify_signature(secret, str(old), signature_header(secret, old, body), body, tolerance_seconds=60)
    future = now + 3600
    assert not verify_signature(secret, str(future), signature_header(secret, future, body), body)
    assert not verify_signature(secret, None, good, body)
    assert not verify_signature(secret, str(now), None, body)
    assert not verify_signature(secret, "yesterday", good, body)
    assert not verify_signature(secret, str(now), good.removeprefix("sha256="), body)
    assert not verify_signature(secret, str(now), "sha256=ü", body)


def test_event_body_is_compact_utf8_json_with_id_and_time() -> None:
    event_id, body = event_body(SIGNATURE_COMPLETED, {"document_id": "d", "signer": "علی"})
    payload = json.loads(body)
    assert list(payload)[:3] == ["id", "event", "created_at"]
    assert payload["id"] == event_id and len(event_id) == 32 and int(event_id, 16) >= 0
    created = dt.datetime.fromisoformat(payload["created_at"])
    assert created.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 60
    assert b" " not in body and "علی".encode() in body
    assert event_body(SIGNATURE_COMPLETED, {})[0] != event_id
    with pytest.raises(ValueError, match="id"):
        event_body(SIGNATURE_COMPLETED, {"id": "mine"})


# -- configuration -----------------------------------------------------------------------------------


def test_platforms_default_to_the_organisation_names(dev_env: Any, setup: WebhookSetup) -> None:
    def strip_platform(raw: dict[str, Any]) -> None:
        for entry in raw["api_keys"]:
            entry.pop("platform", None)
        raw.pop("webhooks", None)

    path = write_variant(dev_env.deployment_path, f"no-platform-{uuid.uuid4().hex[:8]}", strip_platform)
    try:
        deployment = load_deployment(path)
    finally:
        path.unlink()
    key = api_key(dev_env, "demo-co")
    platform = deployment.platform_for_api_key(key)
    assert platform is not None
    org = deployment.organisation("demo-co")
    assert (platform.name_fa, platform.name_en) == (org.name_fa, org.name_en)
    assert platform.organisation == "demo-co" and platform.api_key_sha256 == hash_api_key(key)
    assert platform.webhook is None
    assert deployment.webhooks == WebhookSettings()
    assert DEFAULT_WEBHOOK_RETRY_INTERVALS == (10, 60, 300, 900, 3600, 10800)
    assert deployment.webhooks.retry_intervals == DEFAULT_WEBHOOK_RETRY_INTERVALS
    assert deployment.webhooks.timeout_seconds == 5
    # The older ways of asking keep working.
    assert deployment.organisation_for_api_key(key) == "demo-co"
    assert deployment.api_key_hashes[hash_api_key(key)] == "demo-co"
    assert deployment.platform_for_api_key("not-a-key") is None


def test_dev_deployment_names_the_demo_platform_without_a_webhook(dev_env: Any) -> None:
    deployment = load_deployment(dev_env.deployment_path)
    assert set(deployment.platforms) == set(deployment.api_key_hashes)
    for org_id in dev_env.organisations:
        platform = deployment.platform_for_api_key(api_key(dev_env, org_id))
        assert platform is not None and platform.organisation == org_id
        assert platform.name_fa == "سامانه نمونه تدارکات" and platform.name_en == "Demo procurement platform"
        assert platform.webhook is None


def test_webhook_configuration_is_parsed(setup: WebhookSetup, receiver: Receiver, dev_env: Any) -> None:
    deployment = setup.deployment
    assert deployment.webhooks == WebhookSettings(retry_intervals=(1, 1, 1), timeout_seconds=5.0)
    co = deployment.platforms[setup.key_hash["demo-co"]]
    assert co.webhook == Webhook(url=receiver.url("/ok"), secret_file=setup.secret_file)
    assert co.webhook.read_secret() == receiver.secrets["/ok"]  # stripped of its newline
    gov = deployment.platform_for_api_key(api_key(dev_env, "demo-gov"))
    assert gov is not None and gov.webhook == Webhook(url=receiver.url("/flaky"), secret_env=SECRET_ENV)


def test_unreadable_secrets_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere.secret"
    with pytest.raises(AccessError) as refused:
        Webhook(url="https://p.example/h", secret_file=missing).read_secret()
    assert refused.value.code == "CONFIG_INVALID" and str(missing) in str(refused.value)

    empty = tmp_path / "empty.secret"
    empty.write_text("\n")
    with pytest.raises(AccessError, match="empty or unset"):
        Webhook(url="https://p.example/h", secret_file=empty).read_secret()

    monkeypatch.delenv("PAKAT_TEST_UNSET_SECRET", raising=False)
    with pytest.raises(AccessError, match=r"\$PAKAT_TEST_UNSET_SECRET") as refused:
        Webhook(url="https://p.example/h", secret_env="PAKAT_TEST_UNSET_SECRET").read_secret()
    assert refused.value.code == "CONFIG_INVALID"

    # The environment wins; the file is the fallback.
    present = tmp_path / "present.secret"
    present.write_text("from-the-file\n")
    monkeypatch.setenv("PAKAT_TEST_SET_SECRET", "from-the-env")
    assert Webhook("https://p.example/h", "PAKAT_TEST_SET_SECRET", present).read_secret() == "from-the-env"
    assert Webhook("https://p.example/h", "PAKAT_TEST_UNSET_SECRET", present).read_secret() == "from-the-file"


@pytest.mark.parametrize(
    ("webhook", "message"),
    [
        ({"url": "ftp://p.example/h", "secret_env": "X"}, "webhook.url must be an http or https URL with a host"),
        ({"url": "file:///etc/passwd", "secret_env": "X"}, "webhook.url must be an http or https URL with a host"),
        ({"url": "https:///no-host", "secret_env": "X"}, "webhook.url must be an http or https URL with a host"),
        ({"url": "https://p.example:99999/h", "secret_env": "X"}, "webhook.url is malformed"),
        ({"url": "https://user:hunter2-pw@p.example/h", "secret_env": "X"},
         "webhook.url: credentials never go in a URL"),
        ({"secret_env": "X"}, "webhook.url is missing"),
        ({"url": "https://p.example/h"}, "webhook needs secret_env or secret_file"),
        ({"url": "https://p.example/h", "secret": "hunter2-pw"}, "webhook: secrets never go in this file"),
        ("https://p.example/h", "webhook must be a mapping"),
    ],
)
def test_bad_webhook_configuration_names_the_entry(dev_env: Any, webhook: Any, message: str) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["api_keys"][1]["webhook"] = webhook

    path = write_variant(dev_env.deployment_path, f"bad-webhook-{uuid.uuid4().hex[:8]}", edit)
    org = yaml.safe_load(path.read_text())["api_keys"][1]["organisation"]
    try:
        with pytest.raises(AccessError) as refused:
            load_deployment(path)
    finally:
        path.unlink()
    text = str(refused.value)
    assert refused.value.code == "CONFIG_INVALID"
    assert f"api_keys[1] ({org}).{message}" in text, text
    assert "hunter2-pw" not in text


@pytest.mark.parametrize(
    ("webhooks", "message"),
    [
        ({"retry_intervals": [10, -1]}, "retry_intervals must be a list of whole seconds"),
        ({"retry_intervals": "10, 60"}, "retry_intervals must be a list of whole seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds must be in (0, 60]"),
        ({"timeout_seconds": "5"}, "timeout_seconds must be in (0, 60]"),
        ([10, 60], "webhooks must be a mapping"),
    ],
)
def test_bad_webhook_settings_are_refused(dev_env: Any, webhooks: Any, message: str) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["webhooks"] = webhooks

    path = write_variant(dev_env.deployment_path, f"bad-webhooks-{uuid.uuid4().hex[:8]}", edit)
    try:
        with pytest.raises(AccessError) as refused:
            load_deployment(path)
    finally:
        path.unlink()
    assert refused.value.code == "CONFIG_INVALID" and message in str(refused.value)


def test_empty_retry_list_means_one_attempt(dev_env: Any, setup: WebhookSetup, redis_url: str) -> None:
    def edit(raw: dict[str, Any]) -> None:
        raw["webhooks"] = {"retry_intervals": []}
        raw["api_keys"][0]["webhook"] = {"url": "https://p.example/h", "secret_env": "X"}

    path = write_variant(dev_env.deployment_path, f"no-retries-{uuid.uuid4().hex[:8]}", edit)
    try:
        deployment = load_deployment(path)
    finally:
        path.unlink()
    queue = Queue(f"pakat-webhooks-idle-{uuid.uuid4().hex[:8]}", connection=Redis.from_url(redis_url))
    first_key = next(iter(deployment.platforms))
    event_id = enqueue_event(queue, deployment, first_key, SIGNATURE_FAILED, {})
    assert event_id is not None
    job = job_of(queue, event_id)
    assert not job.retries_left
    queue.empty()


# -- batches ------------------------------------------------------------------------------------------


def test_a_finished_batch_is_announced_once(
    worker: tuple[Queue, Path], setup: WebhookSetup, receiver: Receiver, tmp_path: Path,
) -> None:
    from openapi_kit import SPEC_PATH, Spec
    from pakat_testkit import pdf_bytes

    from envelopes.archives import BatchLimits, read_files
    from envelopes.batches import Batches, BatchOptions
    from envelopes.blobs import DocumentStore
    from envelopes.services import LazySealService
    from signer.levels import PadesLevel

    queue, log_path = worker
    database = Database(worker_database_url(log_path))
    store = DocumentStore(log_path.parent / "documents")
    files = []
    for name in ("a.pdf", "b.pdf"):
        (tmp_path / name).write_bytes(pdf_bytes(name))
        files.append((name, tmp_path / name))
    engine = Batches(database, store, LazySealService(setup.deployment).get)  # only records; the worker seals
    batch = engine.create("demo-co", read_files(files, store, BatchLimits()), BatchOptions(PadesLevel.B_B),
                          actor="system:test", api_key_sha256=setup.key_hash["demo-co"]).progress
    # Two jobs for one batch, as when several workers share it: the event still comes once.
    for _ in range(2):
        queue.enqueue("envelopes.jobs.seal_batch_job", batch.id)

    def announced() -> list[Delivery]:
        return [d for d in receiver.received("/ok") if json.loads(d.body).get("batch") == batch.id]

    deadline = time.monotonic() + 60
    while not announced() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # room for a second announcement, were there one
    (delivery,) = announced()
    assert delivery.verified and delivery.headers["X-Pakat-Event"] == "batch.finished"
    body = json.loads(delivery.body)
    assert (body["total"], body["sealed"], body["failed"], body["organisation"]) == (2, 2, 0, "demo-co")
    Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))).webhook("batch.finished", delivery.body)
    database.dispose()
