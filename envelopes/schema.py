"""The database schema's version: bring a database to this Pakat's head, or tell how far behind it is.

Alembic is configured here in code (no ``alembic.ini``): the scripts live in
``envelopes/migrations``. :func:`upgrade` runs every pending migration in one
transaction, under a lock, so several processes starting at once against one
empty database serialise instead of racing: on PostgreSQL an advisory lock, on
SQLite the database's own write lock (``BEGIN IMMEDIATE``). Call it once per
process start, from one thread (Alembic's ``context`` is process-global).

A database URL may carry a password: only :func:`describe` (dialect, host,
port, database) ever reaches a log line or an error.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from envelopes.database import make_engine
from pakat import errors
from pakat.errors import AccessError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# pg_advisory_xact_lock's key: any constant that no other program on the server uses ("pakat" in ASCII).
ADVISORY_LOCK_KEY = 0x70616B6174

# How long a process starting next to one that is migrating waits for SQLite's write lock.
SQLITE_MIGRATION_WAIT_MS = 120_000


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for Pakat's migrations; ``connection`` is what env.py migrates."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def head() -> str:
    """The revision this Pakat's code expects (the newest migration)."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return revision


def current(url: str) -> str | None:
    """The database's revision, or None when it has none (empty, or a SQLite file not yet created)."""
    parsed = _parse(url)
    path = _sqlite_file(parsed)
    if path is not None and not path.exists():
        return None  # do not create the file just to say it is empty
    engine = make_engine(url)
    try:
        with _reaching(parsed), engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str) -> None:
    """Bring the database to :func:`head`; at head already, this only reads its version.

    Every pending migration and the version stamp commit in one transaction,
    taken under the lock, so a crash or a failing migration leaves the database
    as it was, and a second process waits, then finds nothing left to do.
    """
    parsed = _parse(url)
    path = _sqlite_file(parsed)
    if path is not None:
        # Typically $PAKAT_HOME/pakat.db: the folder must exist before SQLite can create the file.
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = current(url)
    if found == head():
        return
    if found is not None and not _is_known(found):
        _refuse(url, found)  # Alembic would only say it cannot find the revision
    engine = _migration_engine(url)
    try:
        with _reaching(parsed), engine.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                # Released at commit or rollback; whoever waited re-reads the version after us.
                conn.execute(select(func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
            command.upgrade(alembic_config(conn), "head")
    finally:
        engine.dispose()


def check_current(url: str) -> None:
    """Refuse to run against a database whose schema is not this Pakat's head."""
    found = current(url)
    if found != head():
        _refuse(url, found)


def _refuse(url: str, found: str | None) -> NoReturn:
    wanted = head()
    known = found is None or _is_known(found)
    hint = "run `pakat db upgrade`" if known else "it was migrated by a newer Pakat: upgrade Pakat"
    raise AccessError(
        errors.CONFIG_INVALID,
        f"database schema is at {found or 'none'}, this Pakat needs {wanted}: {hint} ({describe(url)})",
    )


def describe(url: str) -> str:
    """Where a URL points, for people: dialect, host, port and database, never the user or password."""
    try:
        return _describe(make_url(url))
    except ArgumentError:
        return "an unparseable database URL"


def _describe(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{url.database or ':memory:'}"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()}://{url.host or 'localhost'}{port}/{url.database or ''}"


def _is_known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown revision
        return False


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        # SQLAlchemy's message quotes the whole URL, password included.
        raise AccessError(errors.CONFIG_INVALID, "PAKAT_DATABASE_URL is not a database URL") from None


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):
        return None  # a URI filename: SQLite's own syntax, left to SQLite
    return Path(url.database)


@contextmanager
def _reaching(url: URL) -> Iterator[None]:
    """Turn "cannot reach or open the database" into a configuration error that names no secret."""
    try:
        yield
    except NoSuchModuleError:
        raise AccessError(errors.CONFIG_INVALID, f"no database driver for {url.drivername}") from None
    except DBAPIError as exc:
        if exc.statement is not None:
            raise  # a statement failed: a bug or a broken schema, which keeps its traceback
        # No statement yet: connecting, authenticating or opening the file failed.
        lines = str(exc.orig).strip().splitlines()
        message = lines[0] if lines else ""
        if url.password:
            message = message.replace(str(url.password), "***")
        raise AccessError(
            errors.CONFIG_INVALID,
            f"cannot reach the database at {_describe(url)}: {type(exc.orig).__name__}: {message}",
        ) from None


def _migration_engine(url: str) -> Engine:
    """Pakat's engine, plus on SQLite real transactions around DDL under the write lock."""
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_manual_transactions)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 commits implicitly before DDL and begins only before DML, so
    # Alembic's CREATE TABLEs would each commit alone: let SQLAlchemy's BEGIN rule instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_MIGRATION_WAIT_MS}")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    # IMMEDIATE takes the write lock before Alembic reads the version: the second
    # process starting at once waits here, then sees the first one's head.
    conn.exec_driver_sql("BEGIN IMMEDIATE")
