"""Finding 4: a zip bomb stores nothing, quotas hold under races, and deletion keeps the audit log verifiable.

Real parts: the web app on SQLite and on PostgreSQL (``database_url``), the
dev PKI's SoftHSM seal keys for batches sealed in this process, and the
``pakat`` command line as a subprocess for ``documents``/``batches``/``audit``.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH, Spec
from pakat_testkit import api_key, pakat_app, pakat_command, pdf_bytes, process_env, sha256
from sqlalchemy import func, select, update

from envelopes import quotas, schema
from envelopes.archives import BatchLimits, read_files
from envelopes.audit import AuditLog
from envelopes.batches import Batches, BatchOptions
from envelopes.blobs import DocumentStore
from envelopes.database import (
    Database,
    batch_items,
    batches,
    documents,
    make_engine,
    revisions,
    storage_usage,
    utcnow,
)
from envelopes.documents import DocumentService
from envelopes.retention import Retention
from envelopes.schema import upgrade
from envelopes.sealing import SealService
from hsm_config.deployment import StoragePolicy, load_deployment
from pakat.errors import AccessError, PakatError
from signer.levels import PadesLevel

LIMIT = 20 * 1024 * 1024
SPEC = Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


# -- helpers ---------------------------------------------------------------------------------------


def deployment_with_storage(dev_env: Any, storage: Any, per_org: dict[str, Any] | None = None) -> Path:
    """A copy of the dev deployment beside it with a ``storage`` default and organisations' own."""
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    raw["storage"] = storage
    for org, entry in (per_org or {}).items():
        raw["organisations"][org]["storage"] = entry
    copy = dev_env.deployment_path.with_name(f"storage-{uuid.uuid4().hex[:8]}.yaml")
    copy.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return copy


@contextmanager
def storage_app(dev_env: Any, redis_url: str, database_url: str, tmp_path: Path, storage: dict[str, Any],
                per_org: dict[str, Any] | None = None) -> Iterator[Flask]:
    config = deployment_with_storage(dev_env, storage, per_org)
    try:
        with pakat_app(config, tmp_path / f"home-{uuid.uuid4().hex[:8]}", LIMIT, redis_url=redis_url,
                       queue=f"storage-{uuid.uuid4().hex[:8]}", database_url=database_url) as app:
            yield app
    finally:
        config.unlink()


def auth(dev_env: Any, org: str = "demo-co") -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key(dev_env, org)}"}


def upload(client: FlaskClient, headers: dict[str, str], data: bytes, name: str = "doc.pdf") -> Any:
    return client.post("/api/v1/documents", headers=headers, data={"pdf": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def blobs(store: DocumentStore) -> list[str]:
    return sorted(p.name for p in store.root.rglob("*.pdf") if store.incoming_dir not in p.parents)


def stored_bytes(store: DocumentStore) -> int:
    """Everything under the store's root, the incoming folder included."""
    return sum(p.stat().st_size for p in store.root.rglob("*") if p.is_file())


def count(app_or_db: Flask | Database, table: Any) -> int:
    database = app_or_db if isinstance(app_or_db, Database) else app_or_db.extensions["pakat"].database
    with database.begin() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def usage_of(database: Database, org: str) -> quotas.Usage:
    with database.begin() as conn:
        return quotas.usage(conn, org)


def same_size_pdfs(count_: int, tag: str) -> list[bytes]:
    """PDFs of equal size (texts of equal length), so quotas can be set in whole documents' bytes."""
    made = [pdf_bytes(f"{tag} {n:04d}") for n in range(count_)]
    assert len({len(d) for d in made}) == 1
    return made


def many_small_members(members: int, member_bytes: int) -> bytes:
    body = b"%PDF-1.7\n" + bytes(member_bytes - 9)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for n in range(members):
            zf.writestr(f"{n:04d}.pdf", body)
    return out.getvalue()


def written_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no wchar line")


def audit_actions(database: Database) -> list[str]:
    return [e.action for e in AuditLog(database).entries(limit=1000)]


# -- the zip bomb, through the API --------------------------------------------------------------------


def test_a_zip_of_hundreds_of_small_compressible_members_stores_nothing(app: Flask, dev_env: Any) -> None:
    """The finding's 336 KB zip became 301 MB of documents; now it is refused and the store does not grow."""
    client = app.test_client()
    services = app.extensions["pakat"]
    archive = many_small_members(300, 1 << 20)  # 300 MiB inflated from about 300 KB
    before, batches_before = stored_bytes(services.store), count(app, batches)
    wrote = written_bytes()
    reply = client.post("/api/v1/batches", headers=auth(dev_env), content_type="multipart/form-data",
                        data={"archive": (io.BytesIO(archive), "bomb.zip"), "level": "B-B"})
    wrote = written_bytes() - wrote
    assert (reply.status_code, reply.get_json()["error"]["code"]) == (413, "ARCHIVE_TOO_LARGE")
    SPEC.check("/api/v1/batches", "post", reply)
    assert stored_bytes(services.store) == before
    assert count(app, batches) == batches_before
    # What inflating wrote before the refusal (then removed) is bounded by the archive's allowance.
    assert wrote <= BatchLimits().inflate_allowance(len(archive)) + 2 * len(archive) + (2 << 20)


# -- quotas ------------------------------------------------------------------------------------------


def test_quotas_refuse_the_upload_that_would_pass_them(
    dev_env: Any, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    docs = same_size_pdfs(4, "quota")
    size = len(docs[0])
    # The default holds one document for any organisation; demo-co has two documents' and a half's bytes.
    with storage_app(dev_env, redis_url, database_url, tmp_path, {"max_documents": 1},
                     {"demo-co": {"max_documents": 10, "max_bytes": 2 * size + size // 2}}) as app:
        client, services = app.test_client(), app.extensions["pakat"]
        store, database = services.store, services.database
        first = upload(client, auth(dev_env), docs[0])
        assert first.status_code == 201
        assert upload(client, auth(dev_env), docs[1]).status_code == 201
        held = blobs(store)
        refused = upload(client, auth(dev_env), docs[2])
        body = SPEC.check("/api/v1/documents", "post", refused)
        assert (refused.status_code, body["error"]["code"]) == (507, "STORAGE_QUOTA_EXCEEDED")
        assert "سهمیه" in body["error"]["message_fa"] and "quota" in body["error"]["message_en"]
        assert blobs(store) == held and count(app, documents) == 2
        assert usage_of(database, "demo-co") == quotas.Usage("demo-co", 2 * size, 2)

        # demo-gov has the default: one document, whatever its size.
        assert upload(client, auth(dev_env, "demo-gov"), docs[3]).status_code == 201
        again = upload(client, auth(dev_env, "demo-gov"), docs[2])
        assert (again.status_code, again.get_json()["error"]["code"]) == (507, "STORAGE_QUOTA_EXCEEDED")

        # A seal that would pass demo-co's bytes is refused before any HSM work, and changes nothing.
        sealed = client.post(f"/api/v1/documents/{first.get_json()['id']}/seal", headers=auth(dev_env),
                             json={"level": "B-B"})
        assert (sealed.status_code, sealed.get_json()["error"]["code"]) == (507, "STORAGE_QUOTA_EXCEEDED")
        SPEC.check("/api/v1/documents/{doc_id}/seal", "post", sealed)
        assert blobs(store) == sorted([*held, f"{sha256(docs[3])}.pdf"])

        # A batch that would pass the count is refused before its files are stored, with no batch row.
        files = [("files", (io.BytesIO(d), f"{n}.pdf")) for n, d in enumerate(same_size_pdfs(9, "batch"))]
        reply = client.post("/api/v1/batches", headers=auth(dev_env), content_type="multipart/form-data",
                            data={"level": "B-B", "files": [f for _, f in files]})
        assert (reply.status_code, reply.get_json()["error"]["code"]) == (507, "STORAGE_QUOTA_EXCEEDED")
        SPEC.check("/api/v1/batches", "post", reply)
        assert count(app, batches) == 0
        assert blobs(store) == sorted([*held, f"{sha256(docs[3])}.pdf"])


def test_concurrent_uploads_at_the_edge_of_a_quota_let_exactly_one_in(
    dev_env: Any, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    racers = 8
    docs = same_size_pdfs(racers, "race")
    with storage_app(dev_env, redis_url, database_url, tmp_path, {}, {"demo-co": {"max_documents": 1}}) as app:
        store, database = app.extensions["pakat"].store, app.extensions["pakat"].database
        start = threading.Barrier(racers)
        codes: list[int] = []

        def race(data: bytes) -> None:
            client = app.test_client()
            start.wait()
            codes.append(upload(client, auth(dev_env), data).status_code)

        threads = [threading.Thread(target=race, args=(d,)) for d in docs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(codes) == [201] + [507] * (racers - 1)
        assert count(app, documents) == 1
        assert usage_of(database, "demo-co").documents == 1
        # The losers' blobs, stored before their charge was refused, are gone again.
        assert len(blobs(store)) == 1
        assert list(store.incoming_dir.iterdir()) == []


def test_two_charges_racing_for_the_last_room_one_waits_and_is_refused(database_url: str) -> None:
    """The charge is one conditional UPDATE: the second waits on the first's row (or write) lock, then re-reads."""
    first, second = Database(database_url), Database(database_url)
    policy = StoragePolicy(max_documents=1, max_bytes=100)
    outcome: dict[str, str] = {}
    waiting = threading.Event()

    def charge_second() -> None:
        waiting.set()
        try:
            with second.write() as conn:
                quotas.charge(conn, policy, "org", 10, 1)
            outcome["second"] = "charged"
        except PakatError as exc:
            outcome["second"] = exc.code

    try:
        with first.write() as conn:
            quotas.charge(conn, policy, "org", 10, 1)
            racer = threading.Thread(target=charge_second)
            racer.start()
            waiting.wait(10)
            time.sleep(0.5)  # let the second reach its UPDATE and wait on our lock
            assert "second" not in outcome
        racer.join(30)
        assert outcome["second"] == "STORAGE_QUOTA_EXCEEDED"
        assert usage_of(first, "org") == quotas.Usage("org", 10, 1)
    finally:
        first.dispose()
        second.dispose()


# -- deletion through the API ---------------------------------------------------------------------------


def test_deleting_documents_through_the_api_keeps_shared_blobs_and_the_audit_chain(
    dev_env: Any, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    shared, other = same_size_pdfs(2, "deleted")
    with storage_app(dev_env, redis_url, database_url, tmp_path, {}) as app:
        client, services = app.test_client(), app.extensions["pakat"]
        store, database = services.store, services.database
        first = upload(client, auth(dev_env), shared).get_json()["id"]
        second = upload(client, auth(dev_env), shared).get_json()["id"]
        kept = upload(client, auth(dev_env), other).get_json()["id"]
        assert len(blobs(store)) == 2

        # Another organisation's document is not found, and stays.
        theirs = client.delete(f"/api/v1/documents/{first}", headers=auth(dev_env, "demo-gov"))
        assert (theirs.status_code, theirs.get_json()["error"]["code"]) == (404, "DOCUMENT_NOT_FOUND")

        gone = client.delete(f"/api/v1/documents/{first}", headers=auth(dev_env))
        body = SPEC.check("/api/v1/documents/{doc_id}", "delete", gone)
        assert gone.status_code == 200
        assert (body["kind"], body["id"], body["freed_bytes"], body["blobs_removed"]) == \
            ("document", first, len(shared), 0)
        assert client.get(f"/api/v1/documents/{first}", headers=auth(dev_env)).status_code == 404
        # The blob is shared with the second document: it stays, and the second still reads.
        assert f"{sha256(shared)}.pdf" in blobs(store)
        assert client.get(f"/api/v1/documents/{second}/pdf", headers=auth(dev_env)).data == shared

        last = client.delete(f"/api/v1/documents/{second}", headers=auth(dev_env)).get_json()
        assert last["blobs_removed"] == 1
        assert blobs(store) == [f"{sha256(other)}.pdf"]
        assert client.delete(f"/api/v1/documents/{second}", headers=auth(dev_env)).status_code == 404

        assert usage_of(database, "demo-co") == quotas.Usage("demo-co", len(other), 1)
        verdict = AuditLog(database).verify()
        assert verdict.ok, verdict
        assert audit_actions(database).count("document.deleted") == 2
        assert client.get(f"/api/v1/documents/{kept}", headers=auth(dev_env)).status_code == 200


def test_a_document_in_an_open_signing_session_is_held(
    dev_env: Any, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    with storage_app(dev_env, redis_url, database_url, tmp_path, {}) as app:
        client, services = app.test_client(), app.extensions["pakat"]
        doc_id = upload(client, auth(dev_env), pdf_bytes("held")).get_json()["id"]
        session = client.post(f"/api/v1/documents/{doc_id}/signing-sessions", headers=auth(dev_env),
                              json={"level": "B-B"}).get_json()
        before = (blobs(services.store), count(app, documents), len(audit_actions(services.database)))
        held = client.delete(f"/api/v1/documents/{doc_id}", headers=auth(dev_env))
        assert (held.status_code, held.get_json()["error"]["code"]) == (409, "DOCUMENT_HELD")
        SPEC.check("/api/v1/documents/{doc_id}", "delete", held)
        assert (blobs(services.store), count(app, documents), len(audit_actions(services.database))) == before

        client.delete(f"/api/v1/documents/{doc_id}/signing-sessions/{session['id']}", headers=auth(dev_env))
        assert client.delete(f"/api/v1/documents/{doc_id}", headers=auth(dev_env)).status_code == 200
        assert blobs(services.store) == []
        assert AuditLog(services.database).verify().ok


# -- batches, retention and the command line -----------------------------------------------------------------


@pytest.fixture
def engine(dev_env: Any, database_url: str, tmp_path: Path) -> Iterator[tuple[Database, DocumentStore, Batches]]:
    database = Database(database_url)
    store = DocumentStore(tmp_path / "documents")
    seals = SealService(load_deployment(dev_env.deployment_path))
    yield database, store, Batches(database, store, lambda: seals, threads=2)
    seals.close()
    database.dispose()


def sealed_batch(engine: Batches, store: DocumentStore, tmp_path: Path, contents: list[bytes]) -> str:
    """A batch of ``contents`` sealed at B-B in this process, finished."""
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    paths = []
    for n, data in enumerate(contents):
        path = folder / f"in-{n}.pdf"
        path.write_bytes(data)
        paths.append((path.name, path))
    batch_id = engine.create("demo-co", read_files(paths, store, BatchLimits()), BatchOptions(PadesLevel.B_B),
                             actor="system:test").progress.id
    assert engine.work(batch_id, "test-worker").finished_now
    return batch_id


def run_pakat(dev_env: Any, database_url: str, store: DocumentStore, home: Path, *args: str,
              config: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(config or dev_env.deployment_path),
           "PAKAT_DATABASE_URL": database_url, "PAKAT_DOCUMENTS": str(store.root)}
    return subprocess.run(pakat_command(*args), env=process_env(env), capture_output=True, timeout=120,
                          check=False)


def test_the_command_line_deletes_batches_and_documents_and_audit_verify_holds(
    dev_env: Any, database_url: str, engine: tuple[Database, DocumentStore, Batches], tmp_path: Path
) -> None:
    database, store, batch_engine = engine
    shared, batch_only = pdf_bytes("shared by a batch and a document"), pdf_bytes("batch only")
    docs = DocumentService(database, store, LIMIT)
    upload_path = tmp_path / "shared.pdf"
    upload_path.write_bytes(shared)
    doc = docs.add("demo-co", None, upload_path, "shared.pdf")
    batch_id = sealed_batch(batch_engine, store, tmp_path, [shared, batch_only])
    outputs = [e.output_sha256 for e in batch_engine.manifest(None, batch_id)]
    assert all(outputs)
    running = batch_engine.create("demo-co", read_files([("r.pdf", upload_path)], store, BatchLimits()),
                                  BatchOptions(PadesLevel.B_B), actor="system:test").progress.id

    refused = run_pakat(dev_env, database_url, store, tmp_path, "batches", "delete", running)
    assert refused.returncode == 3 and b"BATCH_RUNNING" in refused.stderr

    done = run_pakat(dev_env, database_url, store, tmp_path, "batches", "delete", batch_id, "--json")
    assert done.returncode == 0, done.stderr
    deletion = json.loads(done.stdout)
    assert (deletion["kind"], deletion["id"], deletion["freed_documents"]) == ("batch", batch_id, 2)
    with database.begin() as conn:
        assert conn.execute(select(batches.c.id).where(batches.c.id == batch_id)).first() is None
        assert conn.execute(select(batch_items.c.number).where(batch_items.c.batch_id == batch_id)).first() is None
    # Outputs and the batch-only input are gone; the input shared with the document (and the running batch) stays.
    assert not any(store.has(sha) for sha in outputs if sha)
    assert not store.has(sha256(batch_only))
    assert store.has(sha256(shared))

    wrong_org = run_pakat(dev_env, database_url, store, tmp_path, "documents", "delete", doc.id,
                          "--org", "demo-gov")
    assert wrong_org.returncode == 3 and b"DOCUMENT_NOT_FOUND" in wrong_org.stderr
    gone = run_pakat(dev_env, database_url, store, tmp_path, "documents", "delete", doc.id)
    assert gone.returncode == 0, gone.stderr
    assert store.has(sha256(shared))  # the running batch's input still names it

    verified = run_pakat(dev_env, database_url, store, tmp_path, "audit", "verify", "--json")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    actions = audit_actions(database)
    assert actions.count("batch.deleted") == 1 and actions.count("document.deleted") == 1
    deleted = next(e for e in AuditLog(database).entries(limit=1000) if e.action == "document.deleted")
    assert deleted.actor.startswith("system:documents-delete:") and deleted.subject == doc.id


def test_retention_deletes_only_what_is_due(
    dev_env: Any, database_url: str, engine: tuple[Database, DocumentStore, Batches], tmp_path: Path
) -> None:
    database, store, batch_engine = engine
    docs = DocumentService(database, store, LIMIT)
    names = ("old", "new", "old batch", "mid batch", "new batch")
    content = {name: pdf_bytes(f"retention {name}") for name in names}
    made = {}
    for name in ("old", "new"):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(content[name])
        made[name] = docs.add("demo-co", None, path, name).id
    old_batch = sealed_batch(batch_engine, store, tmp_path, [content["old batch"]])
    mid_batch = sealed_batch(batch_engine, store, tmp_path, [content["mid batch"]])
    new_batch = sealed_batch(batch_engine, store, tmp_path, [content["new batch"]])
    now = utcnow()
    with database.write() as conn:
        conn.execute(update(documents).where(documents.c.id == made["old"])
                     .values(updated_at=now - timedelta(days=31)))
        conn.execute(update(batches).where(batches.c.id == old_batch).values(finished_at=now - timedelta(days=61)))
        conn.execute(update(batches).where(batches.c.id == mid_batch).values(finished_at=now - timedelta(days=11)))
    mid_output = batch_engine.manifest(None, mid_batch)[0].output_sha256
    before = usage_of(database, "demo-co")
    config = deployment_with_storage(dev_env, {}, {"demo-co": {
        "documents_days": 30, "batches_days": 60, "batch_inputs_days": 10}})
    try:
        purged = run_pakat(dev_env, database_url, store, tmp_path, "documents", "purge", "--json", config=config)
    finally:
        config.unlink()
    assert purged.returncode == 0, purged.stderr
    report = json.loads(purged.stdout)
    assert sorted((d["kind"], d["id"]) for d in report["deleted"]) == sorted(
        [("document", made["old"]), ("batch", old_batch), ("batch_inputs", mid_batch)])
    with database.begin() as conn:
        assert set(conn.execute(select(documents.c.id)).scalars()) == {made["new"]}
        assert set(conn.execute(select(batches.c.id)).scalars()) == {mid_batch, new_batch}
        usage_row = conn.execute(select(storage_usage.c.bytes).where(storage_usage.c.organisation == "demo-co"))
        assert usage_row.scalar_one() == before.bytes - report["freed_bytes"]
    assert not store.has(sha256(content["old"])) and store.has(sha256(content["new"]))
    assert not store.has(sha256(content["old batch"]))
    # The mid batch keeps its items and sealed output; only its input went.
    assert not store.has(sha256(content["mid batch"])) and mid_output and store.has(mid_output)
    assert store.has(sha256(content["new batch"]))
    assert AuditLog(database).verify().ok
    # Nothing more is due: a second run deletes nothing.
    policy = StoragePolicy(documents_days=30, batches_days=60, batch_inputs_days=10)
    assert Retention(database, store, lambda _org: policy).purge(actor="system:test").deleted == []


# -- the deployment's storage section ------------------------------------------------------------------


def test_storage_policies_merge_over_the_default_key_by_key(dev_env: Any) -> None:
    config = deployment_with_storage(dev_env, {"max_bytes": 1000, "documents_days": 30},
                                     {"demo-co": {"max_bytes": None, "batches_days": 7}})
    try:
        deployment = load_deployment(config)
    finally:
        config.unlink()
    assert deployment.storage_policy("demo-co") == StoragePolicy(max_bytes=None, documents_days=30, batches_days=7)
    assert deployment.storage_policy("demo-gov") == StoragePolicy(max_bytes=1000, documents_days=30)


@pytest.mark.parametrize("storage", [
    {"max_bytes": 0}, {"max_documents": -1}, {"documents_days": "thirty"}, {"batches_days": True},
    {"max_files": 10}, ["max_bytes"],
])
def test_a_storage_section_out_of_shape_is_a_configuration_error(dev_env: Any, storage: Any) -> None:
    config = deployment_with_storage(dev_env, storage)
    try:
        with pytest.raises(AccessError) as refused:
            load_deployment(config)
    finally:
        config.unlink()
    assert refused.value.code == "CONFIG_INVALID" and "storage" in str(refused.value)


def test_the_worker_applies_retention_when_it_starts(dev_env: Any, redis_url: str, tmp_path: Path) -> None:
    """``pakat worker`` purges at start and then every PAKAT_RETENTION_SECONDS; ``--burst`` shows the first."""
    home = tmp_path / "home"
    home.mkdir()
    database_url = f"sqlite:///{home / 'pakat.db'}"
    upgrade(database_url)
    database, store = Database(database_url), DocumentStore(home / "documents")
    try:
        docs = DocumentService(database, store, LIMIT)
        ids = {}
        for name in ("old", "new"):
            path = tmp_path / f"{name}.pdf"
            path.write_bytes(pdf_bytes(f"worker retention {name}"))
            ids[name] = docs.add("demo-co", None, path, name).id
        with database.write() as conn:
            conn.execute(update(documents).where(documents.c.id == ids["old"])
                         .values(updated_at=utcnow() - timedelta(days=3)))
        config = deployment_with_storage(dev_env, {"documents_days": 2})
        try:
            env = {"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(config), "REDIS_URL": redis_url,
                   "PAKAT_QUEUE": f"retention-{uuid.uuid4().hex[:8]}"}
            ran = subprocess.run(pakat_command("worker", "--burst"), env=process_env(env), capture_output=True,
                                 timeout=120, check=False)
        finally:
            config.unlink()
        assert ran.returncode == 0, ran.stderr
        with database.begin() as conn:
            assert set(conn.execute(select(documents.c.id)).scalars()) == {ids["new"]}
        entry = next(e for e in AuditLog(database).entries(limit=1000) if e.action == "document.deleted")
        assert (entry.subject, entry.actor, json.loads(entry.details_json)["reason"]) == \
            (ids["old"], "system:worker", "retention")
        assert AuditLog(database).verify().ok
    finally:
        database.dispose()


def test_the_migration_counts_what_is_already_stored(database_url: str) -> None:
    """A deployment upgraded to 0008 starts its quotas from what it stores, not from zero."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            command.downgrade(schema.alembic_config(conn), "0007")
        now = utcnow()
        with engine.begin() as conn:
            # Only columns that 0007 has: the live tables' new ones are left out of each insert.
            for doc_id, sizes in (("d1", (100, 150)), ("d2", (40,))):
                conn.execute(documents.insert().values(id=doc_id, organisation="demo-co", name="x.pdf", pages=1,
                                                       head=len(sizes) - 1, created_at=now, updated_at=now))
                for number, size in enumerate(sizes):
                    conn.execute(revisions.insert().values(document_id=doc_id, number=number,
                                                           sha256=f"{number:064x}", size=size, kind="upload",
                                                           created_at=now))
            conn.execute(batches.insert().values(id="b1", organisation="demo-gov", request_sha256="0" * 64,
                                                 level="B-B", options="{}", total=2, state="finished",
                                                 created_at=now))
            for number, (size, output) in enumerate(((10, 12), (20, None))):
                conn.execute(batch_items.insert().values(batch_id="b1", number=number, name=f"{number}.pdf",
                                                         input_sha256=f"{number:064x}", input_size=size,
                                                         state="sealed", attempts=1, output_size=output))
    finally:
        engine.dispose()
    schema.upgrade(database_url)
    database = Database(database_url)
    try:
        assert usage_of(database, "demo-co") == quotas.Usage("demo-co", 290, 2)
        assert usage_of(database, "demo-gov") == quotas.Usage("demo-gov", 42, 2)
    finally:
        database.dispose()
