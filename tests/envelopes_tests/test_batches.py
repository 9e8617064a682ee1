"""Bulk sealing through ``/api/v1/batches`` and ``pakat seal-batch``, sealed by a real ``pakat worker``.

Real parts throughout: the dev PKI's TSA and responders, SoftHSM seal keys, a
Redis of the tests' own, the worker as a separate process. The exactly-once
guarantee is exercised here deterministically (a worker whose lease ran out);
``test_batch_resilience.py`` does it the hard way with SIGKILL and a Redis restart.
"""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import subprocess
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH, Spec
from pakat_testkit import (
    api_key,
    assert_no_secret,
    check_sealed,
    pakat_command,
    pakat_worker,
    pdf_bytes,
    process_env,
    secrets_of,
    sha256,
    unparseable_pdf_bytes,
)
from sqlalchemy import func, select

from envelopes.archives import BatchLimits, read_files
from envelopes.audit import BATCH_ITEM_SEALED, AuditLog
from envelopes.batches import SEALED, Batches, BatchOptions
from envelopes.blobs import DocumentStore
from envelopes.database import Database, audit_log, batches, utcnow
from envelopes.queueing import RQJobQueue
from envelopes.schema import upgrade
from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment
from pakat.errors import AccessError
from pakat.settings import Settings
from signer.levels import PadesLevel

LIMIT = 20 * 1024 * 1024
SPEC = Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.fixture(scope="module", autouse=True)
def service(app: Flask, dev_env: Any, redis_url: str) -> Iterator[tuple[Flask, Path]]:
    """The module's web app and, for every test here, a worker on its home (SQLite), its store and its queue."""
    settings = app.extensions["pakat"].settings
    env = {"PAKAT_CONFIG": str(dev_env.deployment_path), "REDIS_URL": redis_url, "PAKAT_QUEUE": settings.queue,
           "PAKAT_BATCH_SWEEP_SECONDS": "2"}
    with pakat_worker(settings.home, env) as log_path:
        yield app, settings.home
    assert_no_secret([log_path.read_bytes()], secrets_of(dev_env))


def auth(dev_env: Any, org: str = "demo-co") -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key(dev_env, org)}"}


def post_batch(client: FlaskClient, headers: dict[str, str], archive: bytes, **form: str) -> Any:
    data: dict[str, Any] = {"archive": (io.BytesIO(archive), "bids.zip"), **form}
    return client.post("/api/v1/batches", data=data, headers=headers, content_type="multipart/form-data")


def wait_finished(client: FlaskClient, headers: dict[str, str], batch_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/batches/{batch_id}", headers=headers).get_json()
        if body["state"] == "finished":
            return body
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} not finished: {body}")


def settle(app: Flask, timeout: float = 120) -> None:
    """Wait until no batch is running, so the store holds still."""
    engine = app.extensions["pakat"].batches()
    deadline = time.monotonic() + timeout
    while engine.stalled():
        assert time.monotonic() < deadline, "batches still running"
        time.sleep(0.2)


def count_batches(app: Flask) -> int:
    with app.extensions["pakat"].database.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(batches)).scalar_one())


def test_a_batch_is_sealed_and_one_bad_pdf_fails_alone(client: FlaskClient, dev_env: Any) -> None:
    headers = auth(dev_env)
    members = {f"tender-7/bid-{n}.pdf": pdf_bytes(f"bid {n}") for n in range(5)}
    members["tender-7/broken.pdf"] = unparseable_pdf_bytes()
    created = post_batch(client, headers, zip_of(members), level="B-LT")
    assert created.status_code == 202, created.get_json()
    body = SPEC.check("/api/v1/batches", "post", created)
    assert body["total"] == 6 and body["state"] == "running"
    assert created.headers["Location"] == f"/api/v1/batches/{body['id']}"

    done = wait_finished(client, headers, body["id"])
    assert (done["sealed"], done["failed"], done["done"], done["queued"]) == (5, 1, 6, 0)
    assert done["rate_per_second"] > 0 and done["eta_seconds"] == 0
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]

    SPEC.check("/api/v1/batches/{batch_id}", "get", client.get(f"/api/v1/batches/{body['id']}", headers=headers))
    results = client.get(f"/api/v1/batches/{body['id']}/results.zip", headers=headers)
    assert results.status_code == 200 and results.mimetype == "application/zip"
    SPEC.check("/api/v1/batches/{batch_id}/results.zip", "get", results)
    with zipfile.ZipFile(io.BytesIO(results.data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        files = {name: zf.read(name) for name in zf.namelist() if name != "manifest.json"}
    items = {item["name"]: item for item in manifest["items"]}
    assert set(items) == set(members)
    for name, data in members.items():
        item = items[name]
        assert item["input_sha256"] == sha256(data) and item["input_size"] == len(data)
        if name.endswith("broken.pdf"):
            assert item["status"] == "failed" and item["output_sha256"] is None
            assert item["error"]["code"] == "PDF_UNPARSEABLE"
            assert item["error"]["message_fa"] and item["error"]["message_en"]
            assert f"sealed/{name}" not in files
        else:
            sealed = files[f"sealed/{name}"]
            assert item["status"] == "sealed" and item["output_sha256"] == sha256(sealed)
            assert item["output_size"] == len(sealed) and item["attempts"] == 1
            check_sealed(sealed, dev_env.root_cert_path, PadesLevel.B_LT)
    manifest_api = SPEC.check("/api/v1/batches/{batch_id}/manifest", "get",
                              client.get(f"/api/v1/batches/{body['id']}/manifest", headers=headers))
    assert manifest_api["items"] == manifest["items"]


def test_files_can_be_sent_without_a_zip_and_sealed_visibly(client: FlaskClient, dev_env: Any) -> None:
    headers = auth(dev_env)
    files = [(io.BytesIO(pdf_bytes("one", pages=2)), "one.pdf"), (io.BytesIO(pdf_bytes("two")), "two.pdf")]
    data = {"files": files, "level": "B-T", "visible": "true"}
    created = client.post("/api/v1/batches", data=data, headers=headers, content_type="multipart/form-data")
    assert created.status_code == 202, created.get_json()
    batch_id = created.get_json()["id"]
    done = wait_finished(client, headers, batch_id)
    assert done["sealed"] == 2
    results = client.get(f"/api/v1/batches/{batch_id}/results.zip", headers=headers)
    with zipfile.ZipFile(io.BytesIO(results.data)) as zf:
        sealed = zf.read("sealed/one.pdf")
    check_sealed(sealed, dev_env.root_cert_path, PadesLevel.B_T)
    with pikepdf.open(io.BytesIO(sealed)) as pdf:
        # The seal block sits on the last page, with a real size and an appearance.
        (widget,) = [a for a in pdf.pages[-1].get("/Annots", []) if a.get("/FT") == "/Sig"]
        x1, y1, x2, y2 = (float(v) for v in widget.Rect)
        assert x2 - x1 > 100 and y2 - y1 > 40 and "/AP" in widget
        assert "/Annots" not in pdf.pages[0] or not [a for a in pdf.pages[0].Annots if a.get("/FT") == "/Sig"]


def test_an_idempotency_key_replays_the_batch_and_refuses_other_content(
    service: tuple[Flask, Path], client: FlaskClient, dev_env: Any,
) -> None:
    app, _ = service
    headers = {**auth(dev_env), "Idempotency-Key": f"tender-9-{uuid.uuid4().hex}"}
    archive = zip_of({"a.pdf": pdf_bytes("a"), "b.pdf": pdf_bytes("b")})
    first = post_batch(client, headers, archive, level="B-B")
    assert first.status_code == 202
    before = count_batches(app)
    again = post_batch(client, headers, archive, level="B-B")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    SPEC.check("/api/v1/batches", "post", again)
    assert again.get_json()["id"] == first.get_json()["id"]
    other = post_batch(client, headers, zip_of({"a.pdf": pdf_bytes("changed")}), level="B-B")
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    SPEC.check("/api/v1/batches", "post", other)
    other_level = post_batch(client, headers, archive, level="B-T")
    assert other_level.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert count_batches(app) == before
    # The same key from another platform is another key.
    theirs = post_batch(client, {**auth(dev_env, "demo-gov"), "Idempotency-Key": headers["Idempotency-Key"]},
                        archive, level="B-B")
    assert theirs.status_code == 202 and theirs.get_json()["id"] != first.get_json()["id"]
    wait_finished(client, headers, first.get_json()["id"])


def test_refusals_change_nothing(service: tuple[Flask, Path], client: FlaskClient, dev_env: Any) -> None:
    app, home = service
    headers = auth(dev_env)
    store = app.extensions["pakat"].store
    settle(app)
    blobs_before = sorted(p.name for p in store.root.rglob("*.pdf"))
    before = count_batches(app)
    good = zip_of({"a.pdf": pdf_bytes("refusals")})
    cases = [
        (post_batch(client, headers, good, organisation="demo-gov"), 403, "ORGANISATION_FORBIDDEN"),
        (post_batch(client, {}, good), 401, "API_KEY_MISSING"),
        (post_batch(client, headers, zip_of({"../../etc/x.pdf": pdf_bytes()})), 400, "ARCHIVE_UNSAFE_PATH"),
        (post_batch(client, headers, zip_of({"a.pdf": pdf_bytes(), "b.docx": b"PK"})), 415,
         "ARCHIVE_MEMBER_NOT_PDF"),
        (post_batch(client, headers, b"not a zip"), 400, "ARCHIVE_INVALID"),
        (post_batch(client, headers, good, level="B-X"), 400, "LEVEL_UNKNOWN"),
        (post_batch(client, headers, good, visible="perhaps"), 400, "REQUEST_INVALID"),
        (post_batch(client, {**headers, "Idempotency-Key": "x" * 300}, good), 400, "REQUEST_INVALID"),
        (client.post("/api/v1/batches", headers=headers, data={"level": "B-B"},
                     content_type="multipart/form-data"), 400, "BATCH_EMPTY"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
        SPEC.check("/api/v1/batches", "post", response)
    assert count_batches(app) == before
    assert sorted(p.name for p in store.root.rglob("*.pdf")) == blobs_before
    assert list(store.incoming_dir.iterdir()) == []
    assert list((home / "tmp").iterdir()) == []


def test_another_organisations_batch_is_not_found(client: FlaskClient, dev_env: Any) -> None:
    created = post_batch(client, auth(dev_env), zip_of({"a.pdf": pdf_bytes("mine")}), level="B-B")
    batch_id = created.get_json()["id"]
    for path in ("", "/manifest", "/results.zip"):
        response = client.get(f"/api/v1/batches/{batch_id}{path}", headers=auth(dev_env, "demo-gov"))
        assert (response.status_code, response.get_json()["error"]["code"]) == (404, "BATCH_NOT_FOUND")
        SPEC.check(f"/api/v1/batches/{{batch_id}}{path}", "get", response)
    wait_finished(client, auth(dev_env), batch_id)


# -- the engine in-process: leases, takeovers and transient failures ---------------------------------


@pytest.fixture
def engine_parts(dev_env: Any, database_url: str, tmp_path: Path) -> Iterator[tuple[Database, DocumentStore]]:
    upgrade(database_url)
    database = Database(database_url)
    yield database, DocumentStore(tmp_path / "documents")
    database.dispose()


def new_batch(engine: Batches, store: DocumentStore, tmp_path: Path, count: int, level: PadesLevel) -> str:
    paths = []
    for n in range(count):
        path = tmp_path / f"in-{n}.pdf"
        path.write_bytes(pdf_bytes(f"item {n}"))
        paths.append((path.name, path))
    inputs = read_files(paths, store, BatchLimits())
    return engine.create("demo-co", inputs, BatchOptions(level), actor="system:test").progress.id


def seal_service(deployment_path: Path) -> SealService:
    return SealService(load_deployment(deployment_path))


def test_an_item_taken_over_after_its_lease_is_recorded_once(
    dev_env: Any, engine_parts: tuple[Database, DocumentStore], tmp_path: Path,
) -> None:
    database, store = engine_parts
    seals = seal_service(dev_env.deployment_path)
    try:
        engine = Batches(database, store, lambda: seals, lease=timedelta(seconds=1))
        batch_id = new_batch(engine, store, tmp_path, 3, PadesLevel.B_T)
        options = BatchOptions(PadesLevel.B_T)
        # A worker claims two items and stalls (a long GC pause, a frozen VM) past its lease.
        ghost = engine._claim(batch_id, "ghost", 2)
        assert [c.number for c in ghost] == [0, 1]
        assert engine.work(batch_id, "alive").sealed == 1  # the leases still hold: only item 2
        time.sleep(1.2)
        report = engine.work(batch_id, "alive")
        assert (report.sealed, report.finished_now) == (2, True)
        # The ghost wakes up, seals what it claimed and tries to record it: refused, its output dropped.
        outcomes = [engine._seal("demo-co", options, item) for item in ghost]
        late = type(report)(batch_id)
        engine._record(batch_id, "demo-co", "ghost", options, outcomes, late)
        assert (late.sealed, late.lost) == (0, 2)
        assert all(not store.has(o.output_sha256 or "") for o in outcomes)
        entries = engine.manifest("demo-co", batch_id)
        assert [e.status for e in entries] == [SEALED] * 3
        assert [e.attempts for e in entries] == [2, 2, 1]
        for entry in entries:
            check_sealed(store.path(str(entry.output_sha256)).read_bytes(), dev_env.root_cert_path, PadesLevel.B_T)
        with database.begin() as conn:
            sealed_entries = conn.execute(select(audit_log.c.subject).where(
                audit_log.c.action == BATCH_ITEM_SEALED)).scalars().all()
        assert sorted(sealed_entries) == [f"{batch_id}/{n}" for n in range(3)]
        assert AuditLog(database).verify().ok
    finally:
        seals.close()


def test_a_run_ends_when_its_time_is_up_after_one_claim_at_least(
    dev_env: Any, engine_parts: tuple[Database, DocumentStore], tmp_path: Path,
) -> None:
    database, store = engine_parts
    seals = seal_service(dev_env.deployment_path)
    try:
        engine = Batches(database, store, lambda: seals, threads=1)  # claims of two items
        batch_id = new_batch(engine, store, tmp_path, 5, PadesLevel.B_B)
        runs = [engine.work(batch_id, f"run-{n}", max_seconds=0) for n in range(3)]
        assert [(r.sealed, r.out_of_time, r.finished_now) for r in runs] == [
            (2, True, False), (2, True, False), (1, True, True)]
        assert runs[0].wake_at is None or runs[0].wake_at <= utcnow()  # nothing waits on a lease or a retry
        assert engine.progress("demo-co", batch_id).sealed == 5
        assert engine.work(batch_id, "late", max_seconds=0).sealed == 0  # a finished batch: nothing to do
    finally:
        seals.close()


def test_a_token_missing_from_the_hsm_is_retried_then_named(
    dev_env: Any, engine_parts: tuple[Database, DocumentStore], tmp_path: Path,
) -> None:
    """A token absent from the slot list may be back a moment later (another process holding its files, a
    network HSM refreshing its slots): the item waits for a retry; absent at the last one, it fails, named."""
    database, store = engine_parts
    deployment = load_deployment(dev_env.deployment_path)
    org = deployment.organisation("demo-co")
    wrong = dataclasses.replace(org, seal=dataclasses.replace(org.seal, token_label="no-such-seal-token"))
    organisations = {**deployment.organisations, "demo-co": wrong}
    seals = SealService(dataclasses.replace(deployment, organisations=organisations))
    try:
        engine = Batches(database, store, lambda: seals, threads=1, retry_intervals=(0,))
        batch_id = new_batch(engine, store, tmp_path, 1, PadesLevel.B_B)
        # The retry is due at once (interval 0), so one run makes both attempts.
        report = engine.work(batch_id, "w1")
        assert (report.sealed, report.retrying, report.failed, report.finished_now) == (0, 1, 1, True)
        (entry,) = engine.manifest("demo-co", batch_id)
        assert entry.error is not None and entry.error["code"] == "HSM_TOKEN_NOT_FOUND" and entry.attempts == 2
    finally:
        seals.close()


def test_a_batch_run_is_followed_by_one_successor_at_a_time(dev_env: Any, redis_url: str) -> None:
    """Runs alternate between two job ids, so a batch never holds more runs than it was started with;
    every batch job has a timeout of its own instead of RQ's 180 s."""
    name = f"pakat-continue-{uuid.uuid4().hex[:8]}"
    jobs = RQJobQueue(redis_url, name, load_deployment(dev_env.deployment_path), batch_job_timeout=321)
    batch_id = uuid.uuid4().hex
    jobs.start_batch(batch_id, 30)
    assert jobs.continue_batch(batch_id, f"batch-{batch_id}-0")
    assert not jobs.continue_batch(batch_id, f"batch-{batch_id}-0")  # its successor already waits
    queue = jobs.queue()
    assert queue.job_ids == [f"batch-{batch_id}-0", f"batch-{batch_id}-1", f"batch-{batch_id}-0-next"]
    queue.remove(f"batch-{batch_id}-0")  # as when a worker has taken it
    queue.fetch_job(f"batch-{batch_id}-0").delete()
    assert jobs.continue_batch(batch_id, f"batch-{batch_id}-0-next")  # and back again
    assert jobs.continue_batch(batch_id, None)  # run outside RQ: the batch's wake-up job
    assert queue.job_ids[-2:] == [f"batch-{batch_id}-0", f"batch-{batch_id}-wake"]
    assert {job.timeout for job in queue.jobs} == {321}
    queue.empty()


class FlakyTsa:
    """A loopback proxy in front of the dev TSA that answers 503 to the first ``failures`` requests."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = upstream
        self.failures = failures
        self.seen = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.seen += 1
                if proxy.seen <= proxy.failures:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                request = urllib.request.Request(proxy.upstream, data=body, method="POST",
                                                 headers={"Content-Type": self.headers["Content-Type"]})
                with urllib.request.urlopen(request, timeout=10) as answer:
                    data = answer.read()
                    self.send_response(200)
                    self.send_header("Content-Type", answer.headers["Content-Type"])
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def deployment_with_tsa(deployment_path: Path, tsa_url: str, name: str) -> Path:
    raw = yaml.safe_load(deployment_path.read_text(encoding="utf-8"))
    raw["timestamping"] = {"url": tsa_url}
    copy = deployment_path.with_name(f"{name}.yaml")
    copy.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return copy


@pytest.mark.parametrize("failures, expect_sealed", [(3, True), (1000, False)])
def test_a_tsa_outage_is_retried_with_backoff_then_named(
    dev_env: Any, engine_parts: tuple[Database, DocumentStore], tmp_path: Path, failures: int, expect_sealed: bool,
) -> None:
    database, store = engine_parts
    tsa = FlakyTsa(load_deployment(dev_env.deployment_path).tsa_url or "", failures)
    config = deployment_with_tsa(dev_env.deployment_path, tsa.url, f"flaky-{uuid.uuid4().hex[:8]}")
    seals = seal_service(config)
    try:
        engine = Batches(database, store, lambda: seals, retry_intervals=(0, 1, 1))
        batch_id = new_batch(engine, store, tmp_path, 1, PadesLevel.B_T)
        report = engine.work(batch_id, "w1")
        while report.wake_at is not None:  # a retry waits: come back when it is due, as the scheduler would
            time.sleep(max(0.0, (report.wake_at - utcnow()).total_seconds()) + 0.05)
            report = engine.work(batch_id, "w1")
        (entry,) = engine.manifest("demo-co", batch_id)
        if expect_sealed:
            assert entry.status == "sealed" and entry.attempts == 4
            check_sealed(store.path(str(entry.output_sha256)).read_bytes(), dev_env.root_cert_path, PadesLevel.B_T)
        else:
            assert entry.status == "failed" and entry.attempts == 4
            assert entry.error is not None and entry.error["code"] == "TSA_UNAVAILABLE"
        assert engine.progress("demo-co", batch_id).state == "finished"
    finally:
        seals.close()
        tsa.close()
        config.unlink()


# -- pakat seal-batch ----------------------------------------------------------------------------------


def run_seal_batch(dev_env: Any, home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        pakat_command("seal-batch", *args),
        env=process_env({"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(dev_env.deployment_path), **(env or {})}),
        capture_output=True, timeout=300, check=False,
    )


def test_seal_batch_seals_a_folder_here_and_writes_files_and_manifest(dev_env: Any, tmp_path: Path) -> None:
    source = tmp_path / "in"
    (source / "A").mkdir(parents=True)
    inputs = {"A/guarantee.pdf": pdf_bytes("A"), "technical.pdf": pdf_bytes("B"), "bad.pdf": b"%PDF-1.7 junk"}
    for name, data in inputs.items():
        (source / name).write_bytes(data)
    (source / "notes.txt").write_text("ignored: only PDFs are taken from a folder")
    out = tmp_path / "out"
    done = run_seal_batch(dev_env, tmp_path / "home", str(source), "--org", "demo-co", "--level", "B-LT",
                          "-o", str(out), "--json")
    assert done.returncode == 3, done.stderr.decode()
    progress = json.loads(done.stdout)
    assert (progress["sealed"], progress["failed"]) == (2, 1)
    assert b"sealed 2, failed 1" in done.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for item in manifest["items"]:
        assert item["input_sha256"] == sha256(inputs[item["name"]])
        if item["status"] == "sealed":
            data = (out / item["name"]).read_bytes()
            assert sha256(data) == item["output_sha256"]
            check_sealed(data, dev_env.root_cert_path, PadesLevel.B_LT)
        else:
            assert item["name"] == "bad.pdf" and not (out / "bad.pdf").exists()
    assert_no_secret([done.stdout, done.stderr], secrets_of(dev_env))
    again = run_seal_batch(dev_env, tmp_path / "home", str(source), "--org", "demo-co", "-o", str(out))
    assert again.returncode == 3 and b"OUTPUT_EXISTS" in again.stderr


def test_seal_batch_through_the_queue_writes_a_zip(
    dev_env: Any, service: tuple[Flask, Path], redis_url: str, tmp_path: Path,
) -> None:
    app, home = service
    archive = tmp_path / "in.zip"
    archive.write_bytes(zip_of({"x.pdf": pdf_bytes("x"), "y.pdf": pdf_bytes("y")}))
    out = tmp_path / "sealed.zip"
    settings: Settings = app.extensions["pakat"].settings
    done = run_seal_batch(dev_env, home, str(archive), "--org", "demo-co", "--level", "B-T", "-o", str(out),
                          "--queue", env={"REDIS_URL": redis_url, "PAKAT_QUEUE": settings.queue})
    assert done.returncode == 0, done.stderr.decode()
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert [i["status"] for i in manifest["items"]] == ["sealed", "sealed"]
        for item in manifest["items"]:
            check_sealed(zf.read(f"sealed/{item['name']}"), dev_env.root_cert_path, PadesLevel.B_T)


@pytest.mark.parametrize("name, value", [
    ("PAKAT_BATCH_THREADS", "0"), ("PAKAT_BATCH_THREADS", "65"), ("PAKAT_BATCH_LEASE_SECONDS", "-5"),
    ("PAKAT_BATCH_SWEEP_SECONDS", "soon"), ("PAKAT_BATCH_RUN_SECONDS", "0"),
])
def test_batch_settings_out_of_range_are_configuration_errors(name: str, value: str) -> None:
    with pytest.raises(AccessError) as caught:
        Settings.from_env({name: value})
    assert caught.value.code == "CONFIG_INVALID" and name in (caught.value.detail or "")


def test_batch_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"PAKAT_BATCH_THREADS": "8", "PAKAT_BATCH_LEASE_SECONDS": "30"})
    assert (settings.batch_threads, settings.batch_lease, settings.batch_sweep_seconds) == (
        8, timedelta(seconds=30), 30)
    assert settings.batch_run_seconds == 60
    assert Settings.from_env({"PAKAT_BATCH_RUN_SECONDS": "5"}).batch_run_seconds == 5
