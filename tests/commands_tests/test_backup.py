"""``pakat backup create`` / ``restore`` on SQLite and on PostgreSQL (finding 13 of issue 15).

State is made the real way (documents stored and sealed through the web app, a
validation, a batch sealed by ``pakat seal-batch``), backed up by the ``pakat``
command, restored into a fresh home and a fresh database, and then the restored
audit chain verifies with the backup's head and every stored document reads back
identical through the web app. A backup with an altered document, an altered
database file, or an audit row altered before the backup was taken is refused
with its code, and the target is left empty.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pakat_testkit import api_key, pakat_app, pakat_command, pdf_bytes, process_env, sha256, tidy_client
from sqlalchemy import inspect, text

from envelopes import backups
from envelopes.backups import create_backup, restore_backup
from envelopes.blobs import DocumentStore
from envelopes.database import Database, make_engine
from envelopes.documents import DocumentService
from envelopes.schema import upgrade
from hsm_config.deployment import load_deployment
from pakat.errors import AccessError, InputError, IntegrityFailure

LIMIT = 20 * 1024 * 1024


@contextmanager
def fresh_target(request: pytest.FixtureRequest, source_url: str, tmp_path: Path, name: str) -> Iterator[str]:
    """An empty database of the source's kind, for a restore (dropped afterwards on PostgreSQL)."""
    if source_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / name / 'pakat.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    database = f"pakat_restore_{uuid.uuid4().hex[:12]}"
    with server.admin() as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield server.url(database)
    finally:
        with server.admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def pakat(home: Path, database_url: str, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = process_env({"PAKAT_HOME": str(home), "PAKAT_DATABASE_URL": database_url, "PAKAT_CONFIG": str(config)})
    return subprocess.run(pakat_command(*args), env=env, capture_output=True, text=True, timeout=300,
                          check=False, stdin=subprocess.DEVNULL)


def json_out(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return value


def make_state(dev_env: Any, home: Path, database_url: str, config: Path, tmp_path: Path) -> dict[str, bytes]:
    """Documents stored and sealed, a validation and a batch: their ids and the bytes of their latest revisions."""
    kept: dict[str, bytes] = {}
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    with pakat_app(config, home, LIMIT, database_url=database_url) as app, tidy_client(app) as client:
        for n in range(2):
            stored = client.post("/api/v1/documents", headers=headers, content_type="multipart/form-data",
                                 data={"pdf": (io.BytesIO(pdf_bytes(f"bid {n}")), f"bid-{n}.pdf")})
            assert stored.status_code == 201, stored.get_json()
            doc_id = stored.get_json()["id"]
            sealed = client.post(f"/api/v1/documents/{doc_id}/seal", headers=headers, json={"level": "B-T"})
            assert sealed.status_code == 200, sealed.get_json()
            kept[doc_id] = client.get(f"/api/v1/documents/{doc_id}/pdf", headers=headers).data
        signed = kept[next(iter(kept))]
        checked = client.post("/api/v1/validate", content_type="multipart/form-data",
                              data={"file": (io.BytesIO(signed), "signed.pdf")})
        assert checked.status_code == 200
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for n in range(2):
        (inputs / f"item-{n}.pdf").write_bytes(pdf_bytes(f"item {n}"))
    batch = pakat(home, database_url, config, "seal-batch", str(inputs), "--org", "demo-co", "--level", "B-B",
                  "-o", str(tmp_path / "batch-out"), "--json")
    assert batch.returncode == 0, batch.stderr
    return kept


def audit_head(home: Path, database_url: str, config: Path) -> dict[str, Any]:
    done = pakat(home, database_url, config, "audit", "verify", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json_out(done)


def assert_empty(database_url: str, home: Path) -> None:
    """What a failed restore leaves: no table, no stored document."""
    if database_url.startswith("sqlite"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()
    else:
        engine = make_engine(database_url)
        try:
            with engine.connect() as conn:
                assert inspect(conn).get_table_names() == []
        finally:
            engine.dispose()
    documents = home / "documents"
    assert not documents.exists() or [p.name for p in documents.iterdir()] == [".incoming"]


@dataclass(frozen=True)
class Source:
    """A Pakat home with state on one kind of database, and a clean backup of it taken by ``pakat backup``."""

    home: Path
    url: str
    config: Path
    kept: dict[str, bytes]  # document id: its latest revision's bytes
    head: dict[str, Any]  # `pakat audit verify --json` before the backup
    backup: Path
    summary: dict[str, Any]

    def pakat(self, *args: str) -> subprocess.CompletedProcess[str]:
        return pakat(self.home, self.url, self.config, *args)

    def copy_of_backup(self, tmp_path: Path) -> Path:
        """A copy of the clean backup for a test to alter."""
        return Path(shutil.copytree(self.backup, tmp_path / "backup-copy"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def source(request: pytest.FixtureRequest, dev_env: Any, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Source]:
    """Made once per kind of database for the module: the state takes a while to make the real way."""
    base = tmp_path_factory.mktemp(f"backup-source-{request.param}")
    home = base / "home"
    home.mkdir()
    config = dev_env.deployment_path
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{home / 'pakat.db'}"
        else:
            url = stack.enter_context(fresh_target(request, "postgresql", base, "source"))
        upgrade(url)
        kept = make_state(dev_env, home, url, config, base)
        head = audit_head(home, url, config)
        backup = base / "backup"
        made = pakat(home, url, config, "backup", "create", str(backup), "--json")
        assert made.returncode == 0, made.stderr
        yield Source(home, url, config, kept, head, backup, json_out(made))


def test_backup_restores_into_a_fresh_home_with_its_audit_chain_and_documents(
    request: pytest.FixtureRequest, dev_env: Any, source: Source, tmp_path: Path
) -> None:
    config, backup, before, summary = source.config, source.backup, source.head, source.summary
    assert before["checked"] >= 6  # seals, a validation, the batch and its items, the schema
    assert summary["audit_head"] == before["last_hash"]
    assert summary["documents"] >= len(source.kept) * 2 + 4  # uploads and seals, the batch's inputs and outputs
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["audit"]["head_hash"] == before["last_hash"]
    assert manifest["counts"]["documents"] == len(source.kept) and manifest["counts"]["batches"] == 1
    # The PINs stay out unless asked for; the deployment file and the certificates it names are in.
    assert summary["secrets_left_out"] and not list(backup.glob("config/**/*.pin"))
    assert (backup / "config" / manifest["config"]["deployment"]).is_file()
    verified = source.pakat("backup", "verify", str(backup), "--json")
    assert verified.returncode == 0, verified.stderr
    assert json_out(verified)["audit_verified"] is source.url.startswith("sqlite")

    with fresh_target(request, source.url, tmp_path, "restored") as target:
        restored_home = tmp_path / "restored"
        done = pakat(restored_home, target, config, "backup", "restore", str(backup), "--check-all-documents",
                     "--config-dir", str(tmp_path / "restored-config"), "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        assert json_out(done)["documents_checked"] == summary["documents"]
        after = audit_head(restored_home, target, config)
        assert (after["checked"], after["last_hash"]) == (before["checked"], before["last_hash"])
        restored_config = tmp_path / "restored-config" / manifest["config"]["deployment"]
        assert restored_config.read_bytes() == config.read_bytes()
        load_deployment(restored_config)  # the files it names came back beside it

        headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
        with pakat_app(config, restored_home, LIMIT, database_url=target) as app, tidy_client(app) as client:
            for doc_id, data in source.kept.items():
                answer = client.get(f"/api/v1/documents/{doc_id}/pdf", headers=headers)
                assert answer.status_code == 200
                assert sha256(answer.data) == sha256(data)

        again = pakat(restored_home, target, config, "backup", "restore", str(backup), "--json")
        assert again.returncode == 3
        assert json_out(again)["error"]["code"] == "BACKUP_TARGET_NOT_EMPTY"
        forced = pakat(restored_home, target, config, "backup", "restore", str(backup), "--force")
        assert forced.returncode == 0, forced.stderr
        assert audit_head(restored_home, target, config)["last_hash"] == before["last_hash"]


def test_restore_refuses_an_altered_document_or_database_file(
    request: pytest.FixtureRequest, source: Source, tmp_path: Path
) -> None:
    backup = source.copy_of_backup(tmp_path)
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    victim = next(backup.glob("documents/*/*/*.pdf"))
    original = victim.read_bytes()
    victim.write_bytes(original.replace(b"%%EOF", b"%%EOF\n% changed"))
    checked = source.pakat("backup", "verify", str(backup), "--json")
    assert checked.returncode == 9 and json_out(checked)["error"]["code"] == "BACKUP_CORRUPT"

    with fresh_target(request, source.url, tmp_path, "restored") as target:
        restored_home = tmp_path / "restored"
        done = pakat(restored_home, target, source.config, "backup", "restore", str(backup), "--json")
        assert done.returncode == 9, done.stdout + done.stderr
        error = json_out(done)["error"]
        assert error["code"] == "BACKUP_CORRUPT" and victim.stem in error["detail"]
        assert_empty(target, restored_home)

        victim.write_bytes(original)
        dump = backup / manifest["database"]["file"]
        with dump.open("r+b") as fh:
            fh.seek(dump.stat().st_size // 2)
            byte = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([byte[0] ^ 0xFF]))
        done = pakat(restored_home, target, source.config, "backup", "restore", str(backup), "--json")
        assert done.returncode == 9
        assert json_out(done)["error"]["code"] == "BACKUP_CORRUPT"
        assert_empty(target, restored_home)


def test_a_backup_whose_manifest_leaves_out_a_document_the_database_names_is_refused(
    request: pytest.FixtureRequest, source: Source, tmp_path: Path
) -> None:
    backup = source.copy_of_backup(tmp_path)
    manifest_path = backup / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    dropped = manifest["documents"]["sha256"].pop()
    next(backup.glob(f"documents/*/*/{dropped}.pdf")).unlink()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    if source.url.startswith("sqlite"):
        checked = source.pakat("backup", "verify", str(backup), "--json")
        assert checked.returncode == 9 and json_out(checked)["error"]["code"] == "BACKUP_CORRUPT"
    with fresh_target(request, source.url, tmp_path, "restored") as target:
        done = pakat(tmp_path / "restored", target, source.config, "backup", "restore", str(backup), "--json")
        assert done.returncode == 9, done.stdout + done.stderr
        error = json_out(done)["error"]
        assert error["code"] == "BACKUP_CORRUPT" and dropped in error["detail"]
        assert_empty(target, tmp_path / "restored")


def test_restore_refuses_a_backup_whose_audit_row_was_altered(
    request: pytest.FixtureRequest, source: Source, tmp_path: Path
) -> None:
    """An audit row altered, in the backup's own database file (its digest fixed too) or in the database
    before the backup, breaks the restored chain: AUDIT_CHAIN_BROKEN, exit 9, nothing restored."""
    config = source.config
    if source.url.startswith("sqlite"):
        edited = source.copy_of_backup(tmp_path)
        manifest_path = edited / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        dump = edited / manifest["database"]["file"]
        with sqlite3.connect(dump) as conn:
            conn.execute("UPDATE audit_log SET actor = 'system:nobody' WHERE seq = 4")
        conn.close()
        manifest["database"]["sha256"] = sha256(dump.read_bytes())
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
        checked = source.pakat("backup", "verify", str(edited), "--json")
        assert checked.returncode == 9 and json_out(checked)["error"]["code"] == "AUDIT_CHAIN_BROKEN"
        with fresh_target(request, source.url, tmp_path, "restored-edited") as target:
            done = pakat(tmp_path / "restored-edited", target, config, "backup", "restore", str(edited), "--json")
            assert done.returncode == 9, done.stdout + done.stderr
            error = json_out(done)["error"]
            assert error["code"] == "AUDIT_CHAIN_BROKEN" and "4" in error["detail"]
            assert_empty(target, tmp_path / "restored-edited")

    # Altered in the database itself, then backed up: put back afterwards, the source is the module's.
    engine = make_engine(source.url)
    try:
        with engine.begin() as conn:
            subject = conn.execute(text("SELECT subject FROM audit_log WHERE seq = 3")).scalar_one()
            conn.execute(text("UPDATE audit_log SET subject = 'someone-else' WHERE seq = 3"))
        try:
            backup = tmp_path / "backup"
            assert source.pakat("backup", "create", str(backup)).returncode == 0
        finally:
            with engine.begin() as conn:
                conn.execute(text("UPDATE audit_log SET subject = :subject WHERE seq = 3"), {"subject": subject})
    finally:
        engine.dispose()
    with fresh_target(request, source.url, tmp_path, "restored") as target:
        restored_home = tmp_path / "restored"
        done = pakat(restored_home, target, config, "backup", "restore", str(backup), "--json")
        assert done.returncode == 9, done.stdout + done.stderr
        error = json_out(done)["error"]
        assert error["code"] == "AUDIT_CHAIN_BROKEN" and "3" in error["detail"]
        assert_empty(target, restored_home)


# -- refusals, in this process --------------------------------------------------------------------


@pytest.fixture
def small_backup(tmp_path: Path) -> tuple[Path, str]:
    """A backup of an empty SQLite database of its own (schema and audit entries only), and that database."""
    url = f"sqlite:///{tmp_path / 'source' / 'pakat.db'}"
    upgrade(url)
    backup = tmp_path / "backup"
    create_backup(backup, url, DocumentStore(tmp_path / "source" / "documents"), None)
    return backup, url


def test_restore_refuses_a_folder_that_is_not_a_backup_or_names_paths_outside_it(
    tmp_path: Path, small_backup: tuple[Path, str]
) -> None:
    backup, _url = small_backup
    target = f"sqlite:///{tmp_path / 'target' / 'pakat.db'}"
    store = DocumentStore(tmp_path / "target" / "documents")
    with pytest.raises(InputError) as not_one:
        restore_backup(tmp_path / "source", target, store)
    assert not_one.value.code == "BACKUP_INVALID"

    manifest_path = backup / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["config"]["files"] = [{"path": "../../escaped.yaml", "sha256": "0" * 64, "secret": False}]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(InputError) as outside:
        restore_backup(backup, target, store, config_dir=tmp_path / "config")
    assert outside.value.code == "BACKUP_INVALID"
    assert not (tmp_path / "config").exists() and not (tmp_path / "target" / "pakat.db").exists()

    del manifest["audit"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(InputError) as malformed:
        restore_backup(backup, target, store)
    assert malformed.value.code == "BACKUP_INVALID"


def test_create_refuses_a_destination_it_cannot_write_and_leaves_nothing(
    tmp_path: Path, small_backup: tuple[Path, str]
) -> None:
    _backup, url = small_backup
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    with pytest.raises(AccessError) as unwritable:
        create_backup(blocker / "backup", url, DocumentStore(tmp_path / "source" / "documents"), None)
    assert unwritable.value.code == "BACKUP_IO_FAILED"
    with pytest.raises(InputError) as taken:
        create_backup(blocker, url, DocumentStore(tmp_path / "source" / "documents"), None)
    assert taken.value.code == "OUTPUT_EXISTS"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "backup", "source"]


def test_a_postgresql_backup_without_pg_dump_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backups.shutil, "which", lambda _name: None)
    monkeypatch.setattr(backups, "POSTGRESQL_VERSIONS", tmp_path / "no-postgresql")
    with pytest.raises(AccessError) as missing:
        create_backup(tmp_path / "backup", "postgresql+psycopg://pakat@127.0.0.1:1/none",
                      DocumentStore(tmp_path / "documents"), None)
    assert missing.value.code == "BACKUP_TOOL_MISSING"
    assert not (tmp_path / "backup").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "documents"] == []


def test_a_document_damaged_in_the_store_stops_the_backup(tmp_path: Path) -> None:
    """The backup hashes what it copies: a stored document that no longer matches its name is an incident."""
    url = f"sqlite:///{tmp_path / 'source' / 'pakat.db'}"
    upgrade(url)
    store = DocumentStore(tmp_path / "source" / "documents")
    upload = tmp_path / "bid.pdf"
    upload.write_bytes(pdf_bytes("stored"))
    database = Database(url)
    try:
        document = DocumentService(database, store, LIMIT).add("demo-co", None, upload, "bid.pdf")
    finally:
        database.dispose()
    stored = store.path(sha256(upload.read_bytes()))
    stored.chmod(0o600)
    stored.write_bytes(stored.read_bytes() + b"\n% damaged")
    with pytest.raises(IntegrityFailure) as damaged:
        create_backup(tmp_path / "backup", url, store, None)
    assert damaged.value.code == "BACKUP_CORRUPT" and sha256(upload.read_bytes()) in (damaged.value.detail or "")
    assert document.id and not (tmp_path / "backup").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bid.pdf", "source"]


def test_documents_kept_in_postgresql_travel_in_the_dump_and_are_checked_after_restore(
    request: pytest.FixtureRequest, dev_env: Any, tmp_path: Path
) -> None:
    """PAKAT_DOCUMENT_STORE=database: no document files in the backup; restore re-reads them from the database."""
    config = dev_env.deployment_path
    store_env = {"PAKAT_DOCUMENT_STORE": "database"}

    def run(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = process_env({"PAKAT_HOME": str(home), "PAKAT_DATABASE_URL": url, "PAKAT_CONFIG": str(config),
                           **store_env})
        return subprocess.run(pakat_command(*args), env=env, capture_output=True, text=True, timeout=300,
                              check=False, stdin=subprocess.DEVNULL)

    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    with fresh_target(request, "postgresql", tmp_path, "source") as source_url:
        home = tmp_path / "source-home"
        with pakat_app(config, home, LIMIT, database_url=source_url, document_store="database") as app, \
                tidy_client(app) as client:
            stored = client.post("/api/v1/documents", headers=headers, content_type="multipart/form-data",
                                 data={"pdf": (io.BytesIO(pdf_bytes("in the database")), "bid.pdf")})
            assert stored.status_code == 201, stored.get_json()
            doc_id = stored.get_json()["id"]
            original = client.get(f"/api/v1/documents/{doc_id}/pdf", headers=headers).data
        backup = tmp_path / "backup"
        made = run(home, source_url, "backup", "create", str(backup), "--json")
        assert made.returncode == 0, made.stdout + made.stderr
        manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["documents"]["in_database"] is True and manifest["documents"]["sha256"] == []
        assert not (backup / "documents").exists() or not any((backup / "documents").rglob("*.pdf"))

        with fresh_target(request, "postgresql", tmp_path, "restored") as target:
            restored_home = tmp_path / "restored-home"
            done = run(restored_home, target, "backup", "restore", str(backup), "--check-all-documents", "--json")
            assert done.returncode == 0, done.stdout + done.stderr
            assert json_out(done)["documents_checked"] >= 1  # read back from the restored database and hashed
            with pakat_app(config, restored_home, LIMIT, database_url=target, document_store="database") as app, \
                    tidy_client(app) as client:
                answer = client.get(f"/api/v1/documents/{doc_id}/pdf", headers=headers)
                assert answer.status_code == 200 and sha256(answer.data) == sha256(original)
