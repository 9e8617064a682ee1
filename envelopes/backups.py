"""Backups of a Pakat deployment, and restoring one: the database, the documents, the configuration.

A backup is a folder::

    manifest.json        what the backup holds, with every file's SHA-256 (written last)
    database.sqlite      SQLite's online backup of the database, or
    database.pgdump      pg_dump's custom format (pg_restore reads it)
    documents/ab/cd/<sha256>.pdf   every stored document a row names, content-addressed as in the store
    config/…             the deployment YAML and the files it names (trust roots, certificates,
                         policies), at their paths relative to the YAML's folder; PIN and
                         webhook-secret files only when asked for (``include_secrets``)

**Consistency.** The database is copied first, as one snapshot (SQLite's online
backup API; on PostgreSQL a repeatable-read transaction whose snapshot pg_dump
shares through ``--snapshot``), and the audit head, the row counts and the list
of documents are read from that same snapshot. Documents are immutable and
content-addressed, and a row names one only once it is durable, so every
document the snapshot names can be copied afterwards, while Pakat runs. The
folder is built under a temporary name beside the destination and renamed into
place whole: a destination holds a complete backup or nothing.

**Documents kept in the database.** A document store whose blobs live in the
database itself sets ``in_database = True``: the database's dump already holds
them, so the backup copies none and restore checks them in the restored database.

**Restore** refuses a target whose database or document store holds anything
(unless forced), checks every file of the backup against the manifest and every
document against its name before it writes anything, restores the database,
verifies the audit chain (:meth:`envelopes.audit.AuditLog.verify`) and that its
head is the manifest's, then copies the documents, checks that every document a
row names is there and reads back a sample (or all) of them. Whatever fails,
what restore wrote is removed again: the target is left empty, as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from sqlalchemy import Connection, create_engine, inspect, select, text
from sqlalchemy.engine import URL, make_url

import pakat
from envelopes import schema
from envelopes.audit import GENESIS_HASH, AuditLog, AuditVerdict, iso_time
from envelopes.blobs import CHUNK, SHA256_HEX, DocumentStore
from envelopes.database import Database, batch_items, envelope_receipts, make_engine, revisions
from hsm_config.deployment import Deployment
from pakat import errors
from pakat.errors import AccessError, InputError, IntegrityFailure
from pakat.files import fsync_dir, open_atomic, sha256_file, write_atomically

FORMAT = "pakat-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
PG_DUMP_FILE = "database.pgdump"
DOCUMENTS = "documents"
CONFIG = "config"
#: Where Debian installs each PostgreSQL major version's programs, when they are not on PATH.
POSTGRESQL_VERSIONS = Path("/usr/lib/postgresql")
#: Documents restore reads back and hashes again, unless told to read them all.
DEFAULT_SAMPLE = 50
# Columns that name a stored document by SHA-256; NULL where an item has no output yet.
DOCUMENT_COLUMNS = (revisions.c.sha256, batch_items.c.input_sha256, batch_items.c.output_sha256,
                    envelope_receipts.c.sha256)


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds, or what a restore put back: the manifest's facts, for people and scripts."""

    path: Path
    database: str  # sqlite | postgresql
    audit_entries: int
    audit_head: str
    documents: int
    counts: dict[str, int]
    secrets_included: bool = False
    secrets_left_out: tuple[str, ...] = ()
    documents_checked: int = 0
    audit_verified: bool = False
    config_restored_to: Path | None = None
    missing_documents: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "database": self.database, "audit_entries": self.audit_entries,
            "audit_head": self.audit_head, "documents": self.documents, "counts": self.counts,
            "secrets_included": self.secrets_included, "secrets_left_out": list(self.secrets_left_out),
            "documents_checked": self.documents_checked, "audit_verified": self.audit_verified,
            "config_restored_to": str(self.config_restored_to) if self.config_restored_to else None,
            "missing_documents": list(self.missing_documents),
        }


# -- creating a backup ---------------------------------------------------------------------


def create_backup(destination: Path, database_url: str, store: DocumentStore, deployment: Deployment | None,
                  *, include_secrets: bool = False) -> BackupSummary:
    """Write a consistent backup to ``destination`` (absent or an empty folder); nothing is left on failure."""
    destination = destination.absolute()
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise InputError(errors.OUTPUT_EXISTS, f"{destination} exists and is not an empty folder")
    try:
        destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent))
    except OSError as exc:
        raise _io_error(exc) from None
    try:
        manifest = _write_backup(work, database_url, store, deployment, include_secrets)
        write_atomically(work / MANIFEST, _json(manifest))
        fsync_dir(work)
        if destination.exists():
            destination.rmdir()  # empty, checked above: the rename needs the name free
        os.replace(work, destination)
        fsync_dir(destination.parent)
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _io_error(exc) from None
        raise
    return _summary(destination, manifest)


def _write_backup(work: Path, database_url: str, store: DocumentStore, deployment: Deployment | None,
                  include_secrets: bool) -> dict[str, Any]:
    kind = _kind(database_url)
    if kind == "sqlite":
        snapshot = work / SQLITE_FILE
        _sqlite_copy(_sqlite_path(database_url), snapshot)
        with _sqlite_reader(snapshot) as conn:
            facts = _snapshot_facts(conn)
    else:
        snapshot = work / PG_DUMP_FILE
        facts = _pg_dump(database_url, snapshot)
    in_database = store.in_database
    missing: list[str] = []
    copied: list[str] = []
    if not in_database:
        for sha256 in facts["documents"]:
            try:
                source = store.open(sha256)
            except InputError:  # named by a row, absent from the store: recorded, so restore expects it absent
                missing.append(sha256)
                continue
            with source:
                if _copy_private(source, work / _document_path(sha256)) != sha256:
                    # The store itself is damaged: an incident to look into, not something to back up quietly.
                    raise IntegrityFailure(errors.BACKUP_CORRUPT,
                                           f"stored document {sha256} does not match its name in the store")
            copied.append(sha256)
    config = _copy_config(work, deployment, include_secrets)
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_at": iso_time(datetime.now(UTC)),
        "pakat_version": pakat.__version__,
        "database": {"kind": kind, "file": snapshot.name, "sha256": sha256_file(snapshot),
                     "size": snapshot.stat().st_size, "schema": facts["schema"]},
        "audit": {"entries": facts["audit_entries"], "head_seq": facts["head_seq"],
                  "head_hash": facts["head_hash"]},
        "counts": facts["counts"],
        "documents": {"in_database": in_database, "sha256": copied, "missing": missing},
        "config": config,
    }


def _snapshot_facts(conn: Connection) -> dict[str, Any]:
    """The schema revision, audit head, row counts and named documents, all read in ``conn``'s snapshot."""
    tables = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
    counts = {table: int(conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()) for table in tables}
    head = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
    schema_revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    documents: set[str] = set()
    for column in DOCUMENT_COLUMNS:
        documents.update(str(v) for v in conn.execute(select(column).where(column.isnot(None))).scalars())
    return {
        "schema": schema_revision,
        "audit_entries": counts.get("audit_log", 0),
        "head_seq": int(head.seq) if head else 0,
        "head_hash": str(head.hash) if head else None,
        "counts": counts,
        "documents": sorted(documents),
    }


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while other processes write (pages copied under its lock)."""
    if not source.is_file():
        raise AccessError(errors.CONFIG_INVALID, f"no SQLite database at {source}")
    # Opened as Pakat opens it (a read-only open of a WAL database needs its -shm writable anyway); the
    # backup API only reads from it, under a read lock, so the copy is one consistent state.
    src = sqlite3.connect(source, timeout=30)
    try:
        # The copy is made owner-only before SQLite writes a byte of it.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            dst.close()
    finally:
        src.close()


@contextmanager
def _sqlite_reader(path: Path) -> Iterator[Connection]:
    """A read-only connection to a SQLite file that leaves it byte for byte as it was (no -wal, no -shm)."""
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(f"file:{path}?mode=ro&immutable=1",
                                                                        uri=True, check_same_thread=False))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _pg_dump(database_url: str, target: Path) -> dict[str, Any]:
    """pg_dump in the custom format, sharing the snapshot from which the manifest's facts are read."""
    pg_dump = _pg_tool("pg_dump")
    # This transaction idles while pg_dump works: the server must not end it (0 turns the timeout off).
    engine = make_engine(database_url, idle_in_transaction_seconds=0)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            facts = _snapshot_facts(conn)
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # owner-only from the start
            # The transaction stays open while pg_dump reads the snapshot it exported.
            _run_pg_tool([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}",
                          f"--file={target}"], database_url)
    finally:
        engine.dispose()
    return facts


def _copy_config(work: Path, deployment: Deployment | None, include_secrets: bool) -> dict[str, Any]:
    """The deployment YAML and the files it names, at their places relative to its folder."""
    if deployment is None:
        return {"deployment": None, "files": [], "secrets_included": include_secrets, "secrets_left_out": []}
    base = deployment.source.parent
    files, secrets = _config_files(deployment)
    entries: list[dict[str, Any]] = []
    left_out: list[str] = []
    for path in sorted(files | secrets):
        relative = _relative(path, base)
        if path in secrets and not include_secrets:
            left_out.append(relative)
            continue
        with path.open("rb") as original:
            digest = _copy_private(original, work / CONFIG / relative)
        entries.append({"path": relative, "sha256": digest, "secret": path in secrets})
    return {"deployment": _relative(deployment.source, base), "files": entries,
            "secrets_included": include_secrets, "secrets_left_out": left_out}


def _config_files(deployment: Deployment) -> tuple[set[Path], set[Path]]:
    """(files the deployment names, secrets it names): trust, certificates, policies; PINs, webhook secrets."""
    files: set[Path] = {deployment.source}
    for root in deployment.trust_roots:
        files.add(root.path)
    for item in deployment.intermediates:
        files.update(p for p in (sorted(item.rglob("*")) if item.is_dir() else [item]) if p.is_file())
    secrets: set[Path] = set()
    for organisation in deployment.organisations.values():
        files.add(organisation.seal.certificate)
        files.update(organisation.seal.chain)
        if organisation.seal.pin_file is not None:
            secrets.add(organisation.seal.pin_file)
    for platform in deployment.platforms.values():
        if platform.webhook is not None and platform.webhook.secret_file is not None:
            secrets.add(platform.webhook.secret_file)
    # Named policy files are parsed into rules: find their paths in the YAML itself.
    raw = yaml.safe_load(deployment.source.read_text(encoding="utf-8")) or {}
    validation = raw.get("validation") or {}
    named = [validation.get("policy"), *(validation.get("policies") or {}).values()]
    for value in named:
        if isinstance(value, str) and (deployment.source.parent / value).is_file():
            files.add((deployment.source.parent / value).resolve())
    files = {p.resolve() for p in files if p.is_file()}
    secrets = {p.resolve() for p in secrets if p.is_file()}
    return files - secrets, secrets


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to the YAML's folder; outside it, under ``external/`` with its absolute path."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return "external" + path.resolve().as_posix()


# -- restoring a backup -------------------------------------------------------------------


def restore_backup(source: Path, database_url: str, store: DocumentStore, *, force: bool = False,
                   config_dir: Path | None = None, sample: int | None = DEFAULT_SAMPLE) -> BackupSummary:
    """Restore ``source`` into the database and store; ``sample=None`` reads back every document.

    Errors: BACKUP_INVALID (not a backup of this kind), BACKUP_TARGET_NOT_EMPTY,
    BACKUP_CORRUPT (a file or document differs from the manifest, or the restored
    head is not the manifest's), AUDIT_CHAIN_BROKEN (the restored chain does not hold).
    """
    try:
        return _restore(source, database_url, store, force=force, config_dir=config_dir, sample=sample)
    except OSError as exc:
        raise _io_error(exc) from None


def _restore(source: Path, database_url: str, store: DocumentStore, *, force: bool, config_dir: Path | None,
             sample: int | None) -> BackupSummary:
    manifest = read_manifest(source)
    kind = _kind(database_url)
    if manifest["database"]["kind"] != kind:
        raise InputError(errors.BACKUP_INVALID, f"the backup holds a {manifest['database']['kind']} database,"
                                                f" the target is {kind}")
    check_backup_files(source, manifest)
    if config_dir is not None and config_dir.exists() and any(config_dir.iterdir()) and not force:
        raise InputError(errors.BACKUP_TARGET_NOT_EMPTY, f"{config_dir} is not empty")
    _refuse_non_empty(database_url, store, force)
    written: list[Path] = []
    restored_database = False
    try:
        _restore_database(source, manifest, database_url)
        restored_database = True
        _check_audit(_verify_audit(database_url), manifest)
        for sha256 in manifest["documents"]["sha256"]:
            if not store.has(sha256):
                with (source / _document_path(sha256)).open("rb") as blob:
                    stored, _size = store.put_stream(blob)
                written.append(store.path(stored))
                if stored != sha256:  # checked before, so only a change while restoring gets here
                    raise IntegrityFailure(errors.BACKUP_CORRUPT, f"document {sha256} changed while restoring")
        checked = _check_documents(database_url, store, manifest, sample)
        config_to = _restore_config(source, manifest, config_dir, written) if config_dir is not None else None
    except BaseException as exc:
        for path in written:
            path.unlink(missing_ok=True)
            for folder in (path.parent, path.parent.parent):  # a shard or config folder it made, if now empty
                with contextlib.suppress(OSError):
                    folder.rmdir()
        if restored_database:
            _empty_database(database_url)
        if isinstance(exc, OSError):
            raise _io_error(exc) from None
        raise
    return _summary(source, manifest, documents_checked=checked, config_restored_to=config_to,
                    audit_verified=True)


def verify_backup(source: Path) -> BackupSummary:
    """Check a backup without restoring it: every digest, and on SQLite the audit chain and head in its copy.

    A PostgreSQL dump's chain can only be walked once restored (``restore`` does);
    ``audit_verified`` says whether it was walked here.
    """
    try:
        manifest = read_manifest(source)
        check_backup_files(source, manifest)
        if manifest["database"]["kind"] != "sqlite":
            return _summary(source, manifest, audit_verified=False)
        with tempfile.TemporaryDirectory(prefix="pakat-verify-") as scratch:
            # A copy: opening the backup's own file with Pakat's settings would turn it into WAL mode.
            copy = Path(scratch) / SQLITE_FILE
            shutil.copyfile(source / SQLITE_FILE, copy)
            _check_audit(_verify_audit(f"sqlite:///{copy}"), manifest)
            if not manifest["documents"]["in_database"]:
                listed = {*manifest["documents"]["sha256"], *manifest["documents"]["missing"]}
                _check_named(sorted(_named_documents(f"sqlite:///{copy}") - listed))
    except OSError as exc:
        raise _io_error(exc) from None
    return _summary(source, manifest, audit_verified=True)


def _check_audit(verdict: AuditVerdict, manifest: dict[str, Any]) -> None:
    """The chain holds (AUDIT_CHAIN_BROKEN) and ends where the manifest says (BACKUP_CORRUPT)."""
    if not verdict.ok:
        raise IntegrityFailure(errors.AUDIT_CHAIN_BROKEN, f"{verdict.message_fa} / {verdict.message_en}")
    audit = manifest["audit"]
    if verdict.last_seq != audit["head_seq"] or verdict.last_hash != (audit["head_hash"] or GENESIS_HASH):
        raise IntegrityFailure(errors.BACKUP_CORRUPT,
                               f"the audit head is entry {verdict.last_seq} {verdict.last_hash}, the"
                               f" manifest says {audit['head_seq']} {audit['head_hash']}")


def read_manifest(source: Path) -> dict[str, Any]:
    """The backup's manifest; BACKUP_INVALID when there is none or it is not one this Pakat reads.

    Its names are checked before any is used as a path: a backup is data from
    elsewhere, and none of its names may lead outside it or outside ``--config-dir``.
    """
    try:
        manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(errors.BACKUP_INVALID, f"{source / MANIFEST}: {type(exc).__name__}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise InputError(errors.BACKUP_INVALID, f"{source / MANIFEST} is not a version {VERSION} Pakat backup")
    try:
        database, audit, documents = manifest["database"], manifest["audit"], manifest["documents"]
        shape_ok = (
            (database["kind"], database["file"]) in (("sqlite", SQLITE_FILE), ("postgresql", PG_DUMP_FILE))
            and isinstance(database["sha256"], str)
            and isinstance(audit["head_seq"], int) and isinstance(audit["entries"], int)
            and isinstance(manifest["counts"], dict) and isinstance(documents["in_database"], bool)
            and all(isinstance(sha, str) and SHA256_HEX.fullmatch(sha)
                    for sha in [*documents["sha256"], *documents["missing"]])
            and all(_safe_relative(entry["path"]) and isinstance(entry["sha256"], str)
                    for entry in manifest["config"]["files"])
            and isinstance(manifest["config"]["secrets_left_out"], list)
        )
    except (KeyError, TypeError) as exc:
        raise InputError(errors.BACKUP_INVALID, f"{source / MANIFEST}: missing or wrong {exc}") from None
    if not shape_ok:
        raise InputError(errors.BACKUP_INVALID, f"{source / MANIFEST}: an entry has the wrong form")
    return manifest


def _safe_relative(value: Any) -> bool:
    """A relative path of plain names: no absolute path, no ``..``, no empty part."""
    return (isinstance(value, str) and not value.startswith("/") and "\\" not in value
            and all(part not in ("", ".", "..") for part in value.split("/")))


def check_backup_files(source: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists has its digest, and every document hashes to its name: BACKUP_CORRUPT."""
    database = manifest["database"]
    dump = source / database["file"]
    if not dump.is_file() or sha256_file(dump) != database["sha256"]:
        raise IntegrityFailure(errors.BACKUP_CORRUPT, f"{database['file']} is missing or altered")
    for entry in manifest["config"]["files"]:
        path = source / CONFIG / entry["path"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise IntegrityFailure(errors.BACKUP_CORRUPT, f"{CONFIG}/{entry['path']} is missing or altered")
    for sha256 in manifest["documents"]["sha256"]:
        path = source / _document_path(sha256)
        if not SHA256_HEX.fullmatch(sha256) or not path.is_file() or sha256_file(path) != sha256:
            raise IntegrityFailure(errors.BACKUP_CORRUPT, f"document {sha256} is missing or altered")


def _refuse_non_empty(database_url: str, store: DocumentStore, force: bool) -> None:
    if _database_has_tables(database_url):
        if not force:
            raise InputError(errors.BACKUP_TARGET_NOT_EMPTY,
                             f"the database holds tables ({schema.describe(database_url)})")
        _empty_database(database_url)
    # A database store's folder is only this machine's cache, checked against the database on every read.
    stored = [p for p in store.root.iterdir() if p.name != store.incoming_dir.name]
    if stored and not store.in_database:
        if not force:
            raise InputError(errors.BACKUP_TARGET_NOT_EMPTY, f"the document store {store.root} is not empty")
        for path in stored:
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _database_has_tables(database_url: str) -> bool:
    if _kind(database_url) == "sqlite" and not _sqlite_path(database_url).exists():
        return False
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return bool(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _empty_database(database_url: str) -> None:
    """Leave the target database empty: SQLite's file removed, PostgreSQL's public schema made afresh."""
    if _kind(database_url) == "sqlite":
        path = _sqlite_path(database_url)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _restore_database(source: Path, manifest: dict[str, Any], database_url: str) -> None:
    dump = source / manifest["database"]["file"]
    if _kind(database_url) == "sqlite":
        target = _sqlite_path(database_url)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):  # another database's journal would be replayed into this one
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        with dump.open("rb") as src, open_atomic(target) as out:
            shutil.copyfileobj(src, out.file, CHUNK)
        return
    _run_pg_tool([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                  "--single-transaction"], database_url, trailing=str(dump))


def _verify_audit(database_url: str) -> AuditVerdict:
    database = Database(database_url)
    try:
        return AuditLog(database).verify()
    finally:
        database.dispose()


def _check_documents(database_url: str, store: DocumentStore, manifest: dict[str, Any], sample: int | None) -> int:
    """Every document a restored row names is stored (or was already missing at backup); re-hash a sample."""
    # With the documents in the database the dump carried them: the same checks then read the restored database.
    named = _named_documents(database_url)
    _check_named(sorted(sha for sha in named - set(manifest["documents"]["missing"]) if not store.has(sha)))
    present = sorted(named - set(manifest["documents"]["missing"]))
    chosen = present if sample is None or sample >= len(present) else random.sample(present, sample)
    for sha256 in chosen:
        digest = hashlib.sha256()
        with store.open(sha256) as blob:
            while chunk := blob.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise IntegrityFailure(errors.BACKUP_CORRUPT, f"restored document {sha256} reads back altered")
    return len(chosen)


def _named_documents(database_url: str) -> set[str]:
    """Every document a row of the database names, by SHA-256."""
    database = Database(database_url)
    try:
        with database.begin() as conn:
            named: set[str] = set()
            for column in DOCUMENT_COLUMNS:
                named.update(str(v) for v in conn.execute(select(column).where(column.isnot(None))).scalars())
        return named
    finally:
        database.dispose()


def _check_named(absent: list[str]) -> None:
    if absent:
        raise IntegrityFailure(errors.BACKUP_CORRUPT, f"{len(absent)} document(s) named in the database are not"
                                                      f" in the backup, such as {absent[0]}")


def _restore_config(source: Path, manifest: dict[str, Any], config_dir: Path, written: list[Path]) -> Path:
    """The deployment's files into ``config_dir`` (their layout kept), each added to ``written``."""
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for entry in manifest["config"]["files"]:
        target = config_dir / entry["path"]
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(target, (source / CONFIG / entry["path"]).read_bytes())
        written.append(target)
    return config_dir


# -- helpers -----------------------------------------------------------------------------


def _summary(path: Path, manifest: dict[str, Any], **extra: Any) -> BackupSummary:
    return BackupSummary(
        path=path, database=manifest["database"]["kind"], audit_entries=manifest["audit"]["entries"],
        audit_head=manifest["audit"]["head_hash"] or "", documents=len(manifest["documents"]["sha256"]),
        counts=manifest["counts"], secrets_included=manifest["config"]["secrets_included"],
        secrets_left_out=tuple(manifest["config"]["secrets_left_out"]),
        missing_documents=tuple(manifest["documents"]["missing"]), **extra,
    )


def _copy_private(source: BinaryIO, target: Path) -> str:
    """Copy into a new owner-only file (its folders 0700), flushed to disk; returns the SHA-256 copied."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _io_error(exc: OSError) -> AccessError:
    """A folder that cannot be read or written (no such path, no permission, a full disk), without a traceback."""
    where = f"{exc.filename}: " if exc.filename else ""
    return AccessError(errors.BACKUP_IO_FAILED, f"{where}{exc.strerror or type(exc).__name__}")


def _document_path(sha256: str) -> Path:
    return Path(DOCUMENTS) / sha256[:2] / sha256[2:4] / f"{sha256}.pdf"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _kind(database_url: str) -> str:
    name = make_url(database_url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise AccessError(errors.CONFIG_INVALID, f"cannot back up a {name} database")
    return name


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise AccessError(errors.CONFIG_INVALID, "the SQLite database is not a file")
    return Path(database)


def _pg_tool(name: str) -> str:
    """pg_dump or pg_restore: on PATH, else the newest in /usr/lib/postgresql; else BACKUP_TOOL_MISSING."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(POSTGRESQL_VERSIONS.glob(f"*/bin/{name}"),
                        key=lambda p: (len(p.parent.parent.name), p.parent.parent.name))
    if candidates:
        return str(candidates[-1])
    raise AccessError(errors.BACKUP_TOOL_MISSING, f"{name} is not installed (Debian: postgresql-client)")


def _run_pg_tool(args: list[str], database_url: str, *, trailing: str | None = None) -> None:
    """Run pg_dump/pg_restore on the database; its password goes in the environment, never on the command line."""
    url: URL = make_url(database_url)
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    target = url.set(drivername="postgresql", password=None, query={}).render_as_string(hide_password=False)
    command = [*args, f"--dbname={target}"]
    if trailing is not None:
        command.append(trailing)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=24 * 3600, check=False,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise AccessError(errors.BACKUP_TOOL_FAILED, f"{Path(args[0]).name} exited with {done.returncode}: {last}")
