"""Persistence: the schema's migrations on SQLite and PostgreSQL, the tables' behaviour, the document store.

Every database test runs twice, on a fresh SQLite file and on a fresh database
in the tests' own PostgreSQL cluster (``database_url`` / ``bare_database_url``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pakat_testkit import pakat_command, pakat_server, process_env, wait_until
from sqlalchemy import Column, Engine, MetaData, String, func, inspect, make_url, select, text, update
from sqlalchemy.exc import DBAPIError, StatementError

from envelopes import schema
from envelopes.blobs import DocumentStore
from envelopes.database import audit_head, documents, make_engine, metadata, signing_sessions, utcnow
from pakat import errors
from pakat.errors import AccessError, InputError

TABLES = {"documents", "revisions", "signing_sessions"}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Pakat's engine on the upgraded test database."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def differences(engine: Engine, target: MetaData) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match ``target``."""
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), target))


def downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(schema.alembic_config(conn), revision)
    finally:
        engine.dispose()


def add_document(conn: Any, doc_id: str = "d1", *, when: datetime | None = None) -> None:
    now = when or utcnow()
    conn.execute(documents.insert().values(
        id=doc_id, organisation="demo-co", name="bid.pdf", pages=1, head=0, created_at=now, updated_at=now))


def add_session(conn: Any, session_id: str, doc_id: str = "d1", state: str = "created") -> None:
    now = utcnow()
    conn.execute(signing_sessions.insert().values(
        id=session_id, document_id=doc_id, organisation="demo-co", secret_sha256="0" * 64, state=state,
        level="B-T", created_at=now, updated_at=now, expires_at=now + timedelta(minutes=10)))


# -- migrations ------------------------------------------------------------------------------


def test_upgrade_from_empty_then_again_changes_nothing(
    bare_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert schema.current(bare_database_url) is None
    with caplog.at_level(logging.INFO, logger="alembic"):
        schema.upgrade(bare_database_url)
    assert "Running upgrade" in caplog.text  # the check below would be empty if Alembic said nothing
    assert schema.current(bare_database_url) == schema.head()
    assert table_names(bare_database_url) >= TABLES

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="alembic"):
        schema.upgrade(bare_database_url)  # what every process start does: no migration runs again
    assert "Running upgrade" not in caplog.text
    assert schema.current(bare_database_url) == schema.head()
    schema.check_current(bare_database_url)


def test_a_failing_upgrade_leaves_the_database_as_it_was(bare_database_url: str) -> None:
    """Migrations and version stamp are one transaction, on SQLite too (where DDL autocommits by default)."""
    engine = make_engine(bare_database_url)
    try:
        with engine.begin() as conn:
            # The migration's last table already exists: its CREATE TABLE fails after two others succeeded.
            conn.execute(text("CREATE TABLE signing_sessions (x INTEGER)"))
    finally:
        engine.dispose()
    with pytest.raises(DBAPIError):
        schema.upgrade(bare_database_url)
    assert table_names(bare_database_url) == {"signing_sessions"}
    assert schema.current(bare_database_url) is None


def test_the_migrations_build_exactly_the_tables_of_the_code(engine: Engine) -> None:
    """Alembic's autogenerate finds nothing to change: models and migrations cannot drift apart."""
    assert differences(engine, metadata) == []


def test_the_drift_check_does_see_a_difference(engine: Engine) -> None:
    """The comparison above is not vacuous: one extra column in the code shows up."""
    drifted = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["documents"].append_column(Column("colour", String(8), nullable=True))
    found = differences(engine, drifted)
    # ("add_column", schema, table, column)
    assert [(d[0], d[2], d[3].name) for d in found] == [("add_column", "documents", "colour")]


def test_downgrade_to_base_and_back(database_url: str) -> None:
    downgrade(database_url, "base")
    assert table_names(database_url) & TABLES == set()
    assert schema.current(database_url) is None
    schema.upgrade(database_url)
    assert table_names(database_url) >= TABLES


def test_check_current_refuses_a_database_behind(database_url: str) -> None:
    schema.check_current(database_url)
    downgrade(database_url, "base")
    with pytest.raises(AccessError) as caught:
        schema.check_current(database_url)
    assert caught.value.kind is errors.CONFIG_INVALID
    assert caught.value.detail is not None
    assert caught.value.detail.startswith(
        f"database schema is at none, this Pakat needs {schema.head()}: run `pakat db upgrade`")


def test_check_current_refuses_a_database_of_a_newer_pakat(engine: Engine, database_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(AccessError) as caught:
        schema.check_current(database_url)
    assert "database schema is at f00d" in str(caught.value.detail)
    assert "newer Pakat" in str(caught.value.detail)
    with pytest.raises(AccessError, match="newer Pakat"):
        schema.upgrade(database_url)  # nor does it try to migrate it


# -- the tables' behaviour -------------------------------------------------------------------


def test_utc_datetime_round_trips_aware_utc(engine: Engine) -> None:
    tehran = timezone(timedelta(hours=3, minutes=30))
    moment = datetime(2026, 3, 20, 12, 0, 0, 123456, tzinfo=tehran)
    with engine.begin() as conn:
        add_document(conn, when=moment)
    with engine.connect() as conn:
        stored = conn.execute(select(documents.c.created_at)).scalar_one()
        # Comparisons bind through the same type: the offset is applied, not dropped.
        earlier = conn.execute(select(documents.c.id).where(
            documents.c.created_at < datetime(2026, 3, 20, 8, 31, tzinfo=UTC))).all()
        later = conn.execute(select(documents.c.id).where(
            documents.c.created_at < datetime(2026, 3, 20, 8, 30, tzinfo=UTC))).all()
    assert stored == moment
    assert stored.tzinfo is UTC
    assert stored.isoformat() == "2026-03-20T08:30:00.123456+00:00"
    assert (len(earlier), len(later)) == (1, 0)


def test_utc_datetime_refuses_naive(engine: Engine) -> None:
    with pytest.raises(StatementError) as caught, engine.begin() as conn:
        add_document(conn, when=datetime(2026, 3, 20, 12, 0))
    assert isinstance(caught.value.orig, ValueError)


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(DBAPIError), engine.begin() as conn:
        add_session(conn, "s1", doc_id="no-such-document")


def test_conditional_update_lets_exactly_one_racer_win(engine: Engine) -> None:
    """Two connections UPDATE … WHERE state = 'created': the second waits for the first, then finds nothing."""
    with engine.begin() as conn:
        add_document(conn)
        add_session(conn, "s1")
    advance = (update(signing_sessions).where(signing_sessions.c.id == "s1", signing_sessions.c.state == "created")
               .values(state="prepared"))
    second: list[int] = []
    finished = threading.Event()

    def racer() -> None:
        with engine.begin() as conn:
            second.append(conn.execute(advance).rowcount)
        finished.set()

    with engine.begin() as conn:
        first = conn.execute(advance).rowcount
        thread = threading.Thread(target=racer)
        thread.start()
        # The second UPDATE is blocked behind our uncommitted one (row lock, or SQLite's write lock).
        assert not finished.wait(0.5), "the second UPDATE did not wait for the first transaction"
    thread.join(30)
    assert (first, second) == (1, [0])
    with engine.connect() as conn:
        assert conn.execute(select(signing_sessions.c.state)).scalar_one() == "prepared"


def test_many_racers_one_winner(engine: Engine) -> None:
    with engine.begin() as conn:
        add_document(conn)
        add_session(conn, "s1")
    advance = (update(signing_sessions).where(signing_sessions.c.id == "s1", signing_sessions.c.state == "created")
               .values(state="cancelled"))
    start = threading.Barrier(8)
    counts: list[int] = []
    lock = threading.Lock()

    def racer() -> None:
        start.wait()
        with engine.begin() as conn:
            n = conn.execute(advance).rowcount
        with lock:
            counts.append(n)

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(counts) == [0] * 7 + [1]


# -- the document store ----------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_put_file_lays_blobs_out_by_sha256_owner_only(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    source = tmp_path / "in.pdf"
    source.write_bytes(b"%PDF-1.7 hello")
    sha, size = store.put_file(source)
    assert (sha, size) == (hashlib.sha256(b"%PDF-1.7 hello").hexdigest(), 14)
    final = store.path(sha)
    assert final == tmp_path / "documents" / sha[:2] / sha[2:4] / f"{sha}.pdf"
    assert final.read_bytes() == b"%PDF-1.7 hello"
    with store.open(sha) as f:
        assert f.read() == b"%PDF-1.7 hello"
    assert store.has(sha)
    assert mode(store.root) == 0o700
    assert mode(store.incoming_dir) == 0o700
    assert mode(final.parent) == mode(final.parent.parent) == 0o700
    assert mode(final) == 0o600
    assert list(store.incoming_dir.iterdir()) == []


def test_storing_the_same_content_twice_keeps_one_blob(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    first = store.put_stream(io.BytesIO(b"same bytes"))
    original = store.path(first[0])
    inode = original.stat().st_ino
    assert store.put_stream(io.BytesIO(b"same bytes")) == first
    assert original.stat().st_ino == inode  # left alone, not replaced

    # adopt: the way a signer's output comes in (written to incoming(), hashed by the writer).
    temp = store.incoming()
    assert temp.parent == store.incoming_dir and not temp.exists()
    temp.write_bytes(b"same bytes")
    assert store.adopt(temp, first[0]) == original
    assert not temp.exists()
    assert original.stat().st_ino == inode
    assert list(store.incoming_dir.iterdir()) == []
    assert sorted(p.name for p in store.root.rglob("*.pdf")) == [f"{first[0]}.pdf"]


def test_adopt_moves_a_new_file_in(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    temp = store.incoming()
    with open(temp, "xb") as out:
        out.write(b"signed output")
    sha = hashlib.sha256(b"signed output").hexdigest()
    final = store.adopt(temp, sha)
    assert final == store.path(sha) and final.read_bytes() == b"signed output"
    assert mode(final) == 0o600
    assert not temp.exists()


@pytest.mark.parametrize("bad", [
    "", "../../etc/passwd", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "a" * 62 + "/.", "a" * 64 + "\n",
])
def test_a_name_that_is_not_a_sha256_is_refused(tmp_path: Path, bad: str) -> None:
    store = DocumentStore(tmp_path / "documents")
    for call in (store.path, store.open):
        with pytest.raises(InputError) as caught:
            call(bad)
        assert caught.value.kind is errors.DOCUMENT_NOT_FOUND
    assert not store.has(bad)
    temp = store.incoming()
    temp.write_bytes(b"x")
    with pytest.raises(ValueError):
        store.adopt(temp, bad)


def test_a_missing_blob_is_document_not_found(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    for call in (store.path, store.open):
        with pytest.raises(InputError) as caught:
            call("ab" * 32)
        assert caught.value.kind is errors.DOCUMENT_NOT_FOUND


class FailingSource(io.RawIOBase):
    """Reads some bytes, then fails, like a client that hangs up mid-upload."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("connection reset by peer")
        n = min(self.left, 4096 if size < 0 else size, 4096)
        self.left -= n
        return b"p" * n


def test_a_copy_failing_midway_leaves_no_file_under_a_final_name(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    with pytest.raises(OSError, match="connection reset"):
        store.put_stream(FailingSource(3 * 4096))  # type: ignore[arg-type]
    assert [p for p in store.root.rglob("*") if p.is_file()] == []
    # What was read so far, stored under its own hash, would be a wrong document: it is not there either.
    assert not store.has(hashlib.sha256(b"p" * 3 * 4096).hexdigest())


def test_sweep_removes_only_old_leftovers(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    kept_blob, _ = store.put_stream(io.BytesIO(b"stored"))
    old, fresh = store.incoming(), store.incoming()
    old.write_bytes(b"crashed")
    fresh.write_bytes(b"being written")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert store.sweep_incoming(older_than_seconds=600) == 1
    assert not old.exists() and fresh.exists()
    assert store.has(kept_blob)
    assert store.sweep_incoming(older_than_seconds=600) == 0


# -- the command line ------------------------------------------------------------------------


def run_pakat(*args: str, url: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pakat_command(*args), env=process_env({"PAKAT_HOME": str(home), "PAKAT_DATABASE_URL": url}),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )


def test_pakat_db_upgrade_and_current(bare_database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    before = run_pakat("db", "current", url=bare_database_url, home=home)
    assert before.returncode == 0, before.stderr
    assert before.stdout.startswith(f"none (head is {schema.head()}: run `pakat db upgrade`)")

    for _ in range(2):  # the second finds nothing to do
        upgraded = run_pakat("db", "upgrade", url=bare_database_url, home=home)
        assert upgraded.returncode == 0, upgraded.stderr
        assert f"database schema is at {schema.head()}" in upgraded.stdout

    after = run_pakat("db", "current", url=bare_database_url, home=home)
    assert after.returncode == 0, after.stderr
    assert after.stdout.startswith(f"{schema.head()} (head) — ")
    assert schema.current(bare_database_url) == schema.head()


@contextmanager
def holding_the_migration_lock(url: str) -> Iterator[Callable[[], int]]:
    """Hold the lock ``schema.upgrade`` takes; yields a count of processes waiting for it (-1: unknown)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        con = sqlite3.connect(str(parsed.database), isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("BEGIN IMMEDIATE")
        try:
            yield lambda: -1  # SQLite does not tell who waits for its lock
        finally:
            con.rollback()
            con.close()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as holder, engine.connect() as observer:
            holder.execute(select(func.pg_advisory_lock(schema.ADVISORY_LOCK_KEY)))
            holder.commit()

            def waiting() -> int:
                return int(observer.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar_one())

            try:
                yield waiting
            finally:
                holder.execute(select(func.pg_advisory_unlock(schema.ADVISORY_LOCK_KEY)))
                holder.commit()
    finally:
        engine.dispose()


def test_processes_upgrading_at_once_do_not_race(bare_database_url: str, tmp_path: Path) -> None:
    """Processes starting together on an empty database wait for the lock; then one migrates, all succeed."""
    env = process_env({"PAKAT_HOME": str(tmp_path / "home"), "PAKAT_DATABASE_URL": bare_database_url})
    with holding_the_migration_lock(bare_database_url) as waiting:
        procs = [subprocess.Popen(pakat_command("db", "upgrade"), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True) for _ in range(3)]
        if waiting() < 0:
            time.sleep(3)  # time enough to start Python and reach the lock
        else:
            wait_until(lambda: waiting() == len(procs), 60, "every process waiting for the advisory lock")
        assert [p.poll() for p in procs] == [None] * len(procs), "a process did not wait for the lock"
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0] * len(procs), results
    assert schema.current(bare_database_url) == schema.head()
    assert sum("Running upgrade" in r[2] for r in results) == 1, results


def test_no_password_in_what_pakat_db_prints(postgres_server: Any, tmp_path: Path) -> None:
    password = "Pw-do-not-print-7f3a"
    name = "pakat_test_password"
    with postgres_server.admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        good = postgres_server.url(name, password=password)
        unreachable = good.replace(f":{postgres_server.port}/", ":1/")
        outputs = []
        for url, code in ((good, 0), (unreachable, errors.CONFIG_INVALID.exit_code)):
            for command_name in ("upgrade", "current"):
                done = run_pakat("db", command_name, url=url, home=tmp_path / "home")
                assert done.returncode == code, done.stderr
                outputs += [done.stdout, done.stderr]
        assert "CONFIG_INVALID" in outputs[-1] and "cannot reach the database at postgresql://127.0.0.1:1/" \
            in outputs[-1]
        for output in outputs:
            assert password not in output
    finally:
        with postgres_server.admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_default_database_is_made_in_a_new_home(tmp_path: Path) -> None:
    home = tmp_path / "not" / "yet"
    env = process_env({"PAKAT_HOME": str(home)})
    done = subprocess.run(pakat_command("db", "upgrade"), env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr
    assert schema.current(f"sqlite:///{home / 'pakat.db'}") == schema.head()
    assert mode(home) == 0o700


def test_a_url_that_does_not_parse_is_a_configuration_error(tmp_path: Path) -> None:
    done = run_pakat("db", "upgrade", url="postgresql://pakat:Pw-secret@[oops", home=tmp_path)
    assert done.returncode == errors.CONFIG_INVALID.exit_code
    assert "CONFIG_INVALID" in done.stderr and "Pw-secret" not in done.stdout + done.stderr


def test_describe_names_no_user_or_password() -> None:
    assert schema.describe("postgresql+psycopg://pakat:s3cret@db.example:5433/pakat") == \
        "postgresql://db.example:5433/pakat"
    assert schema.describe("sqlite:////var/lib/pakat/pakat.db") == "sqlite:////var/lib/pakat/pakat.db"


# -- serve and worker upgrade at start -------------------------------------------------------


def test_worker_upgrades_the_database_before_working(
    bare_database_url: str, dev_env: Any, redis_url: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        pakat_command("worker", "--burst"),
        env=process_env({"PAKAT_HOME": str(tmp_path / "home"), "PAKAT_CONFIG": str(dev_env.deployment_path),
                         "PAKAT_DATABASE_URL": bare_database_url, "REDIS_URL": redis_url,
                         "PAKAT_QUEUE": f"pakat-db-{tmp_path.name}"}),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert schema.current(bare_database_url) == schema.head()


def test_serve_upgrades_the_default_sqlite_database(dev_env: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with pakat_server(dev_env.deployment_path, home, workers=2):
        assert schema.current(f"sqlite:///{home / 'pakat.db'}") == schema.head()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_client_stalled_in_a_transaction_loses_its_locks(database_url: str) -> None:
    """A writer that stops mid-transaction (frozen, killed with its socket held elsewhere) is ended by the
    server, so the audit log's head it locked is free again for every other writer."""
    stalled, healthy = make_engine(database_url, idle_in_transaction_seconds=1), make_engine(database_url)
    head = update(audit_head).where(audit_head.c.id == 1).values(seq=audit_head.c.seq)
    try:
        with healthy.connect() as conn:
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "30s"
        with stalled.connect() as conn:
            conn.begin()
            assert conn.execute(head).rowcount == 1  # holds the head's row lock, then goes quiet
            with healthy.begin() as other:
                other.execute(text("SET LOCAL lock_timeout = '20s'"))  # without the guard: a lock timeout
                assert other.execute(head).rowcount == 1
            with pytest.raises(DBAPIError):
                conn.execute(text("SELECT 1"))
    finally:
        stalled.dispose()
        healthy.dispose()
