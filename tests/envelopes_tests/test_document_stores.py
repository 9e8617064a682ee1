"""The document store's contract, on both backends: the local folder and PostgreSQL shared by several machines.

Every test of the contract runs on a :class:`DocumentStore` folder and on a
:class:`DatabaseDocumentStore` in a fresh database of the tests' own PostgreSQL
cluster. The shared-store tests use two database stores with separate cache
folders, as two machines would have, and the web test two Pakat apps.
"""

from __future__ import annotations

import hashlib
import io
import threading
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pakat_testkit import api_key, pakat_app, pdf_bytes, tidy_client
from sqlalchemy import event, func, select, text, update

from devkit.postgres import PostgresServer
from envelopes import schema
from envelopes.blobs import CHUNK, DocumentStore
from envelopes.database import Database, document_blobs, document_chunks
from envelopes.database_store import DatabaseDocumentStore
from pakat import errors
from pakat.errors import AccessError, InputError
from pakat.settings import Settings

BIG = 50 * 1024 * 1024
#: Peak Python memory allowed while a 50 MB document goes in or out: a few chunks, never the document.
STREAMING_PEAK = 8 * CHUNK


@pytest.fixture
def shared_database(postgres_server: PostgresServer) -> Iterator[Database]:
    """A fresh PostgreSQL database at the schema's head, dropped afterwards."""
    name = f"pakat_store_{uuid.uuid4().hex[:16]}"
    with postgres_server.admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    database = Database(postgres_server.url(name))
    try:
        schema.upgrade(database.url)
        yield database
    finally:
        database.dispose()
        with postgres_server.admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["folder", "database"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DocumentStore:
    if request.param == "folder":
        return DocumentStore(tmp_path / "documents")
    return DatabaseDocumentStore(request.getfixturevalue("shared_database"), tmp_path / "cache")


def machines(database: Database, tmp_path: Path) -> tuple[DatabaseDocumentStore, DatabaseDocumentStore]:
    """Two machines' stores: one database, each its own cache folder (and its own engine)."""
    return (DatabaseDocumentStore(database, tmp_path / "a"),
            DatabaseDocumentStore(Database(database.url), tmp_path / "b"))


def rows(database: Database) -> tuple[int, int]:
    with database.begin() as conn:
        return (conn.execute(select(func.count()).select_from(document_blobs)).scalar_one(),
                conn.execute(select(func.count()).select_from(document_chunks)).scalar_one())


# -- the contract, on both backends -----------------------------------------------------------------


def test_what_is_stored_reads_back_by_its_sha256(store: DocumentStore, tmp_path: Path) -> None:
    data = b"%PDF-1.7 " + bytes(range(256)) * (3 * CHUNK // 256) + b"tail"  # several chunks and a short one
    source = tmp_path / "in.pdf"
    source.write_bytes(data)
    sha, size = store.put_file(source)
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.has(sha) and store.size(sha) == len(data)
    with store.open(sha) as stream:
        assert stream.read() == data
    assert store.path(sha).read_bytes() == data
    assert list(store.incoming_dir.iterdir()) == []


def test_the_same_content_twice_is_stored_once(store: DocumentStore) -> None:
    first = store.put_stream(io.BytesIO(b"same bytes"))
    assert store.put_stream(io.BytesIO(b"same bytes")) == first
    temp = store.incoming()
    temp.write_bytes(b"same bytes")
    store.adopt(temp, first[0])  # a signer's output that happens to be stored already
    assert not temp.exists()
    if isinstance(store, DatabaseDocumentStore):
        assert rows(store.database) == (1, 1)
    else:
        assert [p.name for p in store.root.rglob("*.pdf")] == [f"{first[0]}.pdf"]


def test_a_copy_failing_midway_stores_nothing(store: DocumentStore) -> None:
    class FailingSource(io.RawIOBase):
        def __init__(self) -> None:
            self.left = 3 * CHUNK

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            if self.left <= 0:
                raise OSError("connection reset by peer")
            self.left -= CHUNK
            return b"p" * CHUNK

    with pytest.raises(OSError, match="connection reset"):
        store.put_stream(FailingSource())  # type: ignore[arg-type]
    assert not store.has(hashlib.sha256(b"p" * 3 * CHUNK).hexdigest())
    assert list(store.incoming_dir.iterdir()) == []
    if isinstance(store, DatabaseDocumentStore):
        assert rows(store.database) == (0, 0)


@pytest.mark.parametrize("name", ["ab" * 32, "../../etc/passwd", "A" * 64, ""])
def test_an_absent_or_malformed_name_is_document_not_found(store: DocumentStore, name: str) -> None:
    calls: list[Callable[[str], Any]] = [store.path, store.open, store.size]
    for call in calls:
        with pytest.raises(InputError) as caught:
            call(name)
        assert caught.value.kind is errors.DOCUMENT_NOT_FOUND
    assert not store.has(name)


def test_discard_removes_a_blob_and_its_size(store: DocumentStore) -> None:
    kept, _ = store.put_stream(io.BytesIO(b"kept"))
    gone, _ = store.put_stream(io.BytesIO(b"x" * (2 * CHUNK + 1)))
    store.path(gone)  # a cached copy too, on the database backend
    store.discard(gone)
    store.discard(gone)  # absent already: nothing happens
    assert not store.has(gone)
    with pytest.raises(InputError):
        store.size(gone)
    with pytest.raises(InputError):
        store.path(gone)
    assert store.has(kept) and store.size(kept) == 4
    if isinstance(store, DatabaseDocumentStore):
        assert rows(store.database) == (1, 1)  # the chunks went with their blob


def test_a_50_mb_document_streams_in_and_out(store: DocumentStore, tmp_path: Path) -> None:
    """Peak Python memory stays at a few chunks while 50 MB is stored, read as a stream, and copied to a file."""
    source = tmp_path / "big.pdf"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for i in range(BIG // CHUNK):
            chunk = (i.to_bytes(4, "big") * (CHUNK // 4))
            digest.update(chunk)
            out.write(chunk)
    expected = digest.hexdigest()

    def peak(action: Callable[[], Any]) -> tuple[Any, int]:
        tracemalloc.start()
        try:
            return action(), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    (sha, size), put_peak = peak(lambda: store.put_file(source))
    assert (sha, size) == (expected, BIG)

    def read_all() -> str:
        seen = hashlib.sha256()
        with store.open(sha) as stream:
            while chunk := stream.read(CHUNK):
                seen.update(chunk)
        return seen.hexdigest()

    read_sha, read_peak = peak(read_all)
    assert read_sha == expected
    if isinstance(store, DatabaseDocumentStore):
        DocumentStore.discard(store, sha)  # only this machine's cached copy: path() fetches it afresh
    local, path_peak = peak(lambda: store.path(sha))
    assert local.stat().st_size == BIG
    assert max(put_peak, read_peak, path_peak) < STREAMING_PEAK, (put_peak, read_peak, path_peak)


# -- PostgreSQL shared by several machines -----------------------------------------------------------


def test_what_one_machine_stores_another_reads_and_a_deletion_reaches_both(
    shared_database: Database, tmp_path: Path
) -> None:
    a, b = machines(shared_database, tmp_path)
    data = pdf_bytes("shared") + b"%" * CHUNK
    sha, _ = a.put_stream(io.BytesIO(data))
    assert b.has(sha) and b.size(sha) == len(data)
    with b.open(sha) as stream:
        assert stream.read() == data
    cached = b.path(sha)
    assert cached.is_relative_to(tmp_path / "b") and cached.read_bytes() == data
    a.discard(sha)
    assert not b.has(sha)
    with pytest.raises(InputError) as caught:
        b.path(sha)  # b's cached copy is never served for a blob the database no longer holds
    assert caught.value.kind is errors.DOCUMENT_NOT_FOUND
    b.database.dispose()


def test_a_blob_is_visible_only_once_complete_and_not_at_all_if_its_writer_fails(
    shared_database: Database, tmp_path: Path
) -> None:
    a, b = machines(shared_database, tmp_path)
    data = b"c" * (5 * CHUNK)
    sha = hashlib.sha256(data).hexdigest()
    halfway, go_on = threading.Event(), threading.Event()
    fail = False

    def on_chunk(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "document_chunks" in statement and "INSERT" in statement and parameters.get("seq") == 2:
            halfway.set()
            assert go_on.wait(30)
            if fail:
                raise OSError("the machine lost its connection mid-way")

    event.listen(a.database.engine, "before_cursor_execute", on_chunk)
    for attempt in ("fails", "succeeds"):
        fail = attempt == "fails"
        halfway.clear()
        go_on.clear()
        temp = a.incoming()
        temp.write_bytes(data)
        outcome: list[BaseException | None] = []

        def write(temp: Path = temp, outcome: list[BaseException | None] = outcome) -> None:
            try:
                a.adopt(temp, sha)
                outcome.append(None)
            except BaseException as exc:  # handed to the test thread
                outcome.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        assert halfway.wait(30)
        # Two chunks are written, in a transaction not yet committed: nobody else sees any of it.
        assert not b.has(sha)
        with pytest.raises(InputError):
            b.open(sha)
        go_on.set()
        writer.join(30)
        if fail:
            assert isinstance(outcome[0], OSError)
            assert not b.has(sha) and rows(shared_database) == (0, 0)
            assert not a.has(sha)
            temp.unlink()
        else:
            assert outcome == [None]
            assert b.path(sha).read_bytes() == data
    b.database.dispose()


def test_rows_that_do_not_hash_to_their_name_are_never_handed_out_as_a_file(
    shared_database: Database, tmp_path: Path
) -> None:
    a, b = machines(shared_database, tmp_path)
    sha, _ = a.put_stream(io.BytesIO(b"genuine content"))
    with shared_database.begin() as conn:
        conn.execute(update(document_chunks).values(data=b"tampered content"))
    with pytest.raises(OSError, match="does not match"):
        b.path(sha)
    assert list((tmp_path / "b").rglob("*.pdf")) == []
    b.database.dispose()


def test_the_cache_keeps_what_is_in_use_and_prunes_the_rest(shared_database: Database, tmp_path: Path) -> None:
    a, _ = machines(shared_database, tmp_path)
    sha, _ = a.put_stream(io.BytesIO(b"cached"))
    assert a.prune_cache(older_than_seconds=3600) == 0
    assert a.prune_cache(older_than_seconds=-1) == 1
    assert a.has(sha) and a.path(sha).read_bytes() == b"cached"  # fetched again from the database


# -- choosing the backend ------------------------------------------------------------------------------


def test_the_database_store_is_chosen_by_a_setting_and_needs_postgresql(tmp_path: Path) -> None:
    home = {"PAKAT_HOME": str(tmp_path)}
    assert Settings.from_env(home).document_store == "folder"
    pg = {**home, "PAKAT_DATABASE_URL": "postgresql+psycopg://pakat@127.0.0.1:1/pakat"}
    assert Settings.from_env({**pg, "PAKAT_DOCUMENT_STORE": "database"}).document_store == "database"
    for wrong in ({**home, "PAKAT_DOCUMENT_STORE": "database"}, {**pg, "PAKAT_DOCUMENT_STORE": "s3"}):
        with pytest.raises(AccessError) as caught:
            Settings.from_env(wrong)
        assert caught.value.kind is errors.CONFIG_INVALID
    with pytest.raises(AccessError):
        DatabaseDocumentStore(Database(f"sqlite:///{tmp_path / 'pakat.db'}"), tmp_path / "cache")


def test_a_document_uploaded_to_one_app_is_sealed_and_downloaded_through_another(
    dev_env: Any, shared_database: Database, tmp_path: Path
) -> None:
    """Two web apps with their own homes (two machines) on one PostgreSQL: the documents are shared."""
    key = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    shared = {"database_url": shared_database.url, "document_store": "database"}
    with pakat_app(dev_env.deployment_path, tmp_path / "a", 20 * 1024 * 1024, **shared) as app_a, \
            pakat_app(dev_env.deployment_path, tmp_path / "b", 20 * 1024 * 1024, **shared) as app_b, \
            tidy_client(app_a) as client_a, tidy_client(app_b) as client_b:
        created = client_a.post("/api/v1/documents", headers=key,
                                data={"pdf": (io.BytesIO(pdf_bytes("two machines")), "bid.pdf")})
        assert created.status_code == 201, created.get_json()
        doc_id = created.get_json()["id"]
        sealed = client_b.post(f"/api/v1/documents/{doc_id}/seal", headers=key, json={"level": "B-B"})
        assert sealed.status_code == 200, sealed.get_json()
        download = client_a.get(f"/api/v1/documents/{doc_id}/pdf", headers=key)
        assert download.status_code == 200
        assert hashlib.sha256(download.data).hexdigest() == download.headers["X-Pakat-SHA256"]
        assert download.headers["X-Pakat-Revision"] == "1"
    with shared_database.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM document_blobs")).scalar_one() == 2
