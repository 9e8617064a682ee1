"""The hash-chained audit log: built by real seals, signatures and validations, verified, tampered with, raced.

Every database test runs on SQLite and on PostgreSQL (``database_url``). The
chain is checked by ``pakat audit verify`` in a real process; tampering goes
straight to the tables, as someone with database access would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import (
    api_key,
    assert_no_secret,
    free_port,
    pakat_command,
    pakat_server,
    pdf_bytes,
    process_env,
    secrets_of,
    wait_until,
)
from session_kit import Agent, Platform, Token
from sqlalchemy import Engine, delete, insert, select, update

from envelopes import audit, schema
from envelopes.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditLog,
    api_key_actor,
    canonical_json,
    entry_hash,
)
from envelopes.database import Database, audit_head, audit_log, documents, make_engine, utcnow
from envelopes.sealing import SealService
from envelopes.sessions import SigningSessions
from hsm_config.deployment import hash_api_key
from pakat import errors
from pakat.errors import PakatError

LIMIT = 20 * 1024 * 1024


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A plain engine on the test database, for reading and tampering behind Pakat's back."""
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def all_entries(trail: AuditLog) -> list[AuditEntry]:
    found: list[AuditEntry] = []
    while page := trail.entries(after=found[-1].seq if found else 0, limit=1000):
        found += page
    return found


def run_pakat(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(pakat_command(*args), env=process_env(env), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


# -- the chain built by the real flows -------------------------------------------------------------


def sign(client: FlaskClient, created: dict[str, Any], token: Token) -> dict[str, Any]:
    agent = Agent(client, created)
    answer = agent.certificate(token.certificate_b64)
    assert answer.status_code == 200, answer.json
    reply = agent.signature(token.sign(answer.json), token.certificate_b64)
    assert reply.status_code == 202, reply.json
    return dict(reply.json or {})


def test_seals_signatures_and_validations_form_one_verified_chain(
    app_on_each_database: Flask, dev_env: Any, token: Token
) -> None:
    client = app_on_each_database.test_client()
    key = api_key(dev_env, "demo-co")
    platform = Platform(client, key)
    state = app_on_each_database.extensions["pakat"]
    trail = AuditLog(state.database)
    key_actor = f"api-key:{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    # A stored document: a person signs at B-B (done at once), another session at B-T is raised by
    # the queue's job, a third fails for want of a TSA; then the organisation seals it.
    doc = platform.upload("audited bid")
    at_once = platform.session(doc["id"], level="B-B")
    assert sign(client, at_once, token)["state"] == "completed"
    queued = platform.session(doc["id"], level="B-T")
    assert sign(client, queued, token)["state"] == "signed"
    busy = client.post(f"/api/v1/documents/{doc['id']}/seal", headers=platform.headers, json={"level": "B-B"})
    assert busy.status_code == 409  # refused, so not in the log (the list below has no seal here)
    assert state.sessions().raise_level(queued["id"], final_attempt=True).state == "completed"
    doomed = platform.session(doc["id"], level="B-T")
    sign(client, doomed, token)
    dead_tsa = dataclasses.replace(state.deployment, tsa_url=f"http://127.0.0.1:{free_port()}/tsa")
    dead_seals = SealService(dead_tsa)
    broken = SigningSessions(state.database, state.store, dead_tsa, lambda: dead_seals, state.queue)
    assert broken.raise_level(doomed["id"], final_attempt=True).state == "failed"
    sealed = client.post(f"/api/v1/documents/{doc['id']}/seal", headers=platform.headers, json={"level": "B-B"})
    assert sealed.status_code == 200, sealed.json

    # The stateless seal, and validations through the API (anonymous and named) and the page.
    plain = pdf_bytes("stateless")
    stateless = client.post("/api/v1/seal", headers=platform.headers,
                            data={"pdf": (io.BytesIO(plain), "a.pdf"), "level": "B-B"})
    assert stateless.status_code == 200
    final_pdf = client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=platform.headers).data
    validated = client.post("/api/v1/validate", data={"file": (io.BytesIO(final_pdf), "bid.pdf")})
    assert validated.status_code == 200
    named = client.post("/api/v1/validate", headers=platform.headers,
                        data={"file": (io.BytesIO(stateless.data), "sealed.pdf")})
    assert named.status_code == 200
    strange = client.post("/api/v1/validate", headers={"Authorization": "Bearer not-a-key"},
                          data={"file": (io.BytesIO(stateless.data), "sealed.pdf")})
    assert strange.status_code == 200
    page = client.post("/validate", data={"file": (io.BytesIO(final_pdf), "bid.pdf")})
    assert page.status_code == 200
    refused = client.post("/api/v1/validate", data={"file": (io.BytesIO(b"not a pdf"), "x.pdf")})
    assert refused.status_code == 422  # nothing validated, nothing recorded

    entries = all_entries(trail)
    signer = f"signer:{token.user.national_code}"
    assert [(e.action, e.actor) for e in entries] == [
        (audit.DOCUMENT_SIGNED, signer), (audit.SIGNATURE_COMPLETED, signer),
        (audit.DOCUMENT_SIGNED, signer), (audit.SIGNATURE_COMPLETED, "system:worker"),
        (audit.DOCUMENT_SIGNED, signer), (audit.SIGNATURE_FAILED, "system:worker"),
        (audit.DOCUMENT_SEALED, key_actor),  # the stored document's seal, asked by the platform's key
        (audit.DOCUMENT_SEALED, key_actor),
        (audit.DOCUMENT_VALIDATED, "anonymous"), (audit.DOCUMENT_VALIDATED, key_actor),
        (audit.DOCUMENT_VALIDATED, "anonymous"), (audit.DOCUMENT_VALIDATED, "anonymous"),
    ]
    assert [e.seq for e in entries] == list(range(1, 13))
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(entries))
    assert all(earlier.at <= later.at for earlier, later in pairwise(entries))

    revisions = {r["number"]: r for r in platform.document(doc["id"])["revisions"]}
    first = entries[0]
    assert first.subject == doc["id"]
    assert first.details == {
        "session_id": at_once["id"], "revision": 1, "sha256": revisions[1]["sha256"], "level": "B-B",
        "target_level": "B-B",
        "signer": {"subject": first.details["signer"]["subject"], "national_id": token.user.national_code,
                   "role": None},
    }
    raised = entries[3]
    assert raised.details == {"session_id": queued["id"], "revision": 3, "level": "B-T",
                              "sha256": revisions[3]["sha256"], "signed_revision": 2}
    assert entries[5].details == {"session_id": doomed["id"], "error": "TSA_UNAVAILABLE"}
    seal = entries[6]
    assert seal.subject == doc["id"] and seal.details == {
        "stored": True, "revision": 5, "organisation": "demo-co", "level": "B-B",
        "input_sha256": revisions[4]["sha256"], "output_sha256": revisions[5]["sha256"],
        "output_size": revisions[5]["size"],
    }
    api_seal = entries[7]
    assert api_seal.subject == f"sha256:{hashlib.sha256(stateless.data).hexdigest()}"
    assert api_seal.details["stored"] is False
    assert api_seal.details["input_sha256"] == hashlib.sha256(plain).hexdigest()
    assert api_seal.details["output_sha256"] == stateless.headers["X-Pakat-SHA256"]
    check = entries[8]
    assert check.subject == f"sha256:{hashlib.sha256(final_pdf).hexdigest()}"
    assert check.details == {
        "channel": "api", "sha256": hashlib.sha256(final_pdf).hexdigest(), "size": len(final_pdf),
        "indication": validated.headers["X-Pakat-Indication"], "sub_indication": validated.json["sub_indication"],
        "signatures": len(validated.json["signatures"]),
    }
    assert check.details["signatures"] == 4  # three signatures (one kept at B-B) and the seal
    assert entries[11].details["channel"] == "page"

    verdict = trail.verify()
    assert verdict.ok and verdict.checked == 12 and verdict.last_hash == entries[-1].hash
    # The agent secret of a session, PINs and API keys: none in any entry.
    texts = [json.dumps(e.as_dict(), ensure_ascii=False) for e in entries]
    assert_no_secret(texts, [*secrets_of(dev_env), queued["agent_secret"], doomed["agent_secret"]])


# -- pakat audit verify, unbroken and tampered with -------------------------------------------------


CHAIN_LENGTH = 8


def build_chain(database: Database) -> list[AuditEntry]:
    trail = AuditLog(database)
    for n in range(1, CHAIN_LENGTH + 1):
        trail.record(audit.DOCUMENT_SEALED, actor=audit.organisation_actor("demo-co"), subject=f"doc-{n}",
                     details={"n": n, "نام": "پاکت الف", "nested": {"b": [1, 2], "a": None}})
    return all_entries(trail)


def verify_in_a_process(database_url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_pakat("audit", "verify", *extra,
                     env={"PAKAT_HOME": str(tmp_path / "home"), "PAKAT_DATABASE_URL": database_url})


def test_pakat_audit_verify_and_show_an_unbroken_chain(database: Database, database_url: str,
                                                       tmp_path: Path) -> None:
    entries = build_chain(database)
    done = verify_in_a_process(database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{CHAIN_LENGTH} entries" in done.stdout and entries[-1].hash in done.stdout
    as_json = json.loads(verify_in_a_process(database_url, tmp_path, "--json").stdout)
    assert as_json == {"ok": True, "checked": CHAIN_LENGTH, "last_seq": CHAIN_LENGTH,
                       "last_hash": entries[-1].hash, "head_seq": CHAIN_LENGTH}

    env = {"PAKAT_HOME": str(tmp_path / "home"), "PAKAT_DATABASE_URL": database_url}
    shown = run_pakat("audit", "show", "--after", "2", "--limit", "3", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == [e.as_dict() for e in entries[2:5]]
    text = run_pakat("audit", "show", "--limit", "1", env=env)
    assert text.stdout.split("\t")[:5] == ["1", entries[0].as_dict()["at"], "document.sealed",
                                           "organisation:demo-co", "doc-1"]
    assert "پاکت الف" in text.stdout


def test_pakat_audit_verify_refuses_a_database_without_the_schema(bare_database_url: str, tmp_path: Path) -> None:
    done = verify_in_a_process(bare_database_url, tmp_path)
    assert done.returncode == errors.CONFIG_INVALID.exit_code
    assert "CONFIG_INVALID" in done.stderr and "pakat db upgrade" in done.stderr


def _shift_up(conn: Any, start: int) -> None:
    """Make room at ``start``: entries from there move one seq up (last first, for the primary key)."""
    seqs = conn.execute(select(audit_log.c.seq).where(audit_log.c.seq >= start)
                        .order_by(audit_log.c.seq.desc())).scalars().all()
    for seq in seqs:
        conn.execute(update(audit_log).where(audit_log.c.seq == seq).values(seq=seq + 1))


def _forged(seq: int, prev_hash: str, *, well: bool) -> dict[str, Any]:
    at = utcnow()
    details = canonical_json({"n": 0, "forged": True})
    digest = entry_hash(seq, at, audit.DOCUMENT_SEALED, "organisation:demo-co", "doc-forged", details, prev_hash)
    return {"seq": seq, "at": at, "action": audit.DOCUMENT_SEALED, "actor": "organisation:demo-co",
            "subject": "doc-forged", "details": details, "prev_hash": prev_hash,
            "hash": digest if well else hashlib.sha256(b"forged").hexdigest()}


def _alter(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    conn.execute(update(audit_log).where(audit_log.c.seq == 4).values(details=canonical_json({"n": 40})))
    return 4, audit.HASH_MISMATCH


def _alter_the_time(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(at=entries[2].at.replace(microsecond=1)))
    return 3, audit.HASH_MISMATCH


def _delete(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    conn.execute(delete(audit_log).where(audit_log.c.seq == 5))
    return 5, audit.SEQ_GAP


def _delete_the_first(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    conn.execute(delete(audit_log).where(audit_log.c.seq == 1))
    return 1, audit.SEQ_GAP


def _swap(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    """Entries 3 and 6 exchange everything but their place in the sequence."""
    rows = {r.seq: r for r in conn.execute(select(audit_log).where(audit_log.c.seq.in_([3, 6])))}
    conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(hash=hashlib.sha256(b"temp").hexdigest()))
    for target, source in ((6, 3), (3, 6)):
        values = {c: getattr(rows[source], c) for c in ("at", "action", "actor", "subject", "details",
                                                        "prev_hash", "hash")}
        conn.execute(update(audit_log).where(audit_log.c.seq == target).values(**values))
    return 3, audit.PREV_HASH_MISMATCH


def _insert_naively(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    _shift_up(conn, 4)
    conn.execute(insert(audit_log).values(**_forged(4, entries[2].hash, well=False)))
    return 4, audit.HASH_MISMATCH


def _insert_well_forged(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    """A forger who knows the encoding makes entry 4 hold; the entry after it cannot."""
    _shift_up(conn, 4)
    conn.execute(insert(audit_log).values(**_forged(4, entries[2].hash, well=True)))
    return 5, audit.PREV_HASH_MISMATCH


def _truncate(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    conn.execute(delete(audit_log).where(audit_log.c.seq >= CHAIN_LENGTH - 1))
    return CHAIN_LENGTH - 1, audit.TRUNCATED


def _append_behind_the_head(conn: Any, entries: list[AuditEntry]) -> tuple[int, str]:
    conn.execute(insert(audit_log).values(**_forged(CHAIN_LENGTH + 1, entries[-1].hash, well=True)))
    return CHAIN_LENGTH + 1, audit.BEYOND_HEAD


TAMPERING = {
    "altered details": _alter, "altered time": _alter_the_time, "deleted": _delete,
    "deleted the first": _delete_the_first, "swapped": _swap, "inserted": _insert_naively,
    "inserted, well forged": _insert_well_forged, "truncated": _truncate,
    "appended behind the head": _append_behind_the_head,
}


@pytest.mark.parametrize("tamper", TAMPERING.values(), ids=list(TAMPERING))
def test_pakat_audit_verify_names_the_first_bad_entry(tamper: Any, database: Database, database_url: str,
                                                      engine: Engine, tmp_path: Path) -> None:
    entries = build_chain(database)
    with engine.begin() as conn:
        bad, reason = tamper(conn, entries)

    done = verify_in_a_process(database_url, tmp_path, "--json")
    assert done.returncode == errors.AUDIT_CHAIN_BROKEN.exit_code == 9, done.stderr
    verdict = json.loads(done.stdout)
    assert (verdict["ok"], verdict["first_bad_seq"], verdict["reason"]) == (False, bad, reason)
    assert verdict["checked"] == verdict["last_seq"] == bad - 1
    assert verdict["error"]["code"] == "AUDIT_CHAIN_BROKEN"
    # Persian and English, naming the entry, on stderr too.
    assert done.stderr.startswith("AUDIT_CHAIN_BROKEN: ")
    assert f"ردیف {bad}" in done.stderr and f"entry {bad}" in done.stderr
    assert verdict["message_fa"] in done.stderr and verdict["message_en"] in done.stderr


def test_a_missing_head_is_reported(database: Database, engine: Engine) -> None:
    build_chain(database)
    with engine.begin() as conn:
        conn.execute(delete(audit_head))
    verdict = AuditLog(database).verify()
    assert not verdict.ok and verdict.reason == audit.HEAD_MISSING and verdict.checked == CHAIN_LENGTH
    with pytest.raises(PakatError) as refused:
        AuditLog(database).record(audit.CONFIG_CHANGED, actor="system:test", subject="deployment")
    assert refused.value.kind is errors.AUDIT_CHAIN_BROKEN


# -- the encoding and the actors -------------------------------------------------------------------------


def test_every_field_is_hashed_unambiguously() -> None:
    at = utcnow()
    fields = (7, at, "document.sealed", "organisation:demo-co", "doc-1", canonical_json({"a": 1}), GENESIS_HASH)
    base = entry_hash(*fields)
    assert len(base) == 64 and int(base, 16) >= 0
    changed = [
        (8, *fields[1:]),
        (fields[0], at.replace(microsecond=(at.microsecond + 1) % 1_000_000), *fields[2:]),
        (*fields[:2], "document.signed", *fields[3:]),
        (*fields[:3], "organisation:demo-gov", *fields[4:]),
        (*fields[:4], "doc-2", *fields[5:]),
        (*fields[:5], canonical_json({"a": 2}), fields[6]),
        (*fields[:6], "1" * 64),
        # Moving a character from one field to the next must change the hash too.
        (*fields[:3], "organisation:demo-c", "odoc-1", *fields[5:]),
    ]
    assert len({base, *(entry_hash(*c) for c in changed)}) == len(changed) + 1
    assert canonical_json({"b": 1, "a": "پاکت", "c": [1, {"z": 0, "y": 1}]}) == \
        '{"a":"پاکت","b":1,"c":[1,{"y":1,"z":0}]}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_actors_never_take_a_key(dev_env: Any) -> None:
    key = api_key(dev_env, "demo-co")
    assert api_key_actor(hash_api_key(key)) == f"api-key:{hash_api_key(key)[:12]}"
    with pytest.raises(ValueError):
        api_key_actor(key)  # the key itself is refused, not shortened
    with pytest.raises(ValueError):
        AuditLog(Database("sqlite://")).append(None, "Not An Action", actor="x", subject="y")  # type: ignore[arg-type]


def test_an_append_rolls_back_with_its_transaction(database: Database) -> None:
    trail = AuditLog(database)
    trail.record(audit.CONFIG_CHANGED, actor="system:test", subject="deployment", details={"n": 1})
    with pytest.raises(RuntimeError), database.write() as conn:
        entry = trail.append(conn, audit.DOCUMENT_SEALED, actor="system:test", subject="doc-x")
        assert entry.seq == 2
        raise RuntimeError("the state change failed")
    again = trail.record(audit.DOCUMENT_SEALED, actor="system:test", subject="doc-y")
    assert again.seq == 2  # the seq went back with the rollback: no gap
    assert [e.subject for e in all_entries(trail)] == ["deployment", "doc-y"]
    assert trail.verify().ok


def test_an_empty_log_verifies(database: Database) -> None:
    verdict = AuditLog(database).verify()
    assert verdict.ok and (verdict.checked, verdict.last_seq, verdict.last_hash, verdict.head_seq) == (
        0, 0, GENESIS_HASH, 0)
    assert AuditLog(database).entries() == []


# -- concurrency: processes and threads appending at once -------------------------------------------------

APPENDER = r"""
import sys, threading, time
from sqlalchemy import insert
from envelopes.audit import AuditLog
from envelopes.database import Database, documents, utcnow

from pathlib import Path

url, tag = sys.argv[1], sys.argv[2]
threads, per_thread, barrier = int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
database = Database(url)
trail = AuditLog(database)
failures = []
# Say we are ready, then wait for the test's go: both processes start together however slow Python's start was.
(barrier / f"ready-{tag}").touch()
while not (barrier / "go").exists():
    time.sleep(0.01)


def work(n):
    writer = f"{tag}-{n}"
    try:
        for i in range(per_thread):
            details = {"writer": writer, "i": i}
            if i % 5 == 4:  # the caller's transaction fails: its entry goes with it
                try:
                    with database.write() as conn:
                        trail.append(conn, "test.rolled_back", actor="system:test", subject=writer,
                                     details=details)
                        raise RuntimeError("rolled back")
                except RuntimeError:
                    pass
            elif i % 5 == 3:  # the caller wrote first, as a batch item's state change does
                with database.write() as conn:
                    now = utcnow()
                    conn.execute(insert(documents).values(id=f"{writer}-{i}", organisation="demo-co", name="x.pdf",
                                                          pages=1, head=0, created_at=now, updated_at=now))
                    trail.append(conn, "test.appended", actor="system:test", subject=writer, details=details)
            else:
                trail.record("test.appended", actor="system:test", subject=writer, details=details)
    except BaseException as exc:
        failures.append(f"{writer}: {exc!r}")


workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
print("\n".join(failures) or "ok")
sys.exit(1 if failures else 0)
"""


def test_processes_and_threads_appending_at_once_keep_one_gapless_chain(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    processes, threads, per_thread = 2, 4, 25
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, database_url, f"p{p}", str(threads),
                          str(per_thread), str(barrier)],
                         env=process_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
        for p in range(processes)
    ]
    # Every thread of both processes starts together, once both are up and connected.
    wait_until(lambda: all((barrier / f"ready-p{p}").exists() for p in range(processes)), 120, "appenders ready")
    (barrier / "go").touch()
    outcomes = [(proc.wait(180), *proc.communicate()) for proc in procs]
    assert [o[0] for o in outcomes] == [0] * processes, outcomes

    trail = AuditLog(database)
    entries = all_entries(trail)
    kept = per_thread - per_thread // 5
    assert len(entries) == processes * threads * kept
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    written = sorted((e.details["writer"], e.details["i"]) for e in entries)
    assert written == sorted((f"p{p}-{n}", i) for p in range(processes) for n in range(threads)
                             for i in range(per_thread) if i % 5 != 4)
    assert {e.action for e in entries} == {"test.appended"}
    # On PostgreSQL both processes really interleave: neither writes all its entries in one run. SQLite
    # makes no such promise: a process queues its own threads on one lock while the other process sleeps
    # in SQLite's busy handler, so under load one process can finish first (the chain must hold either way).
    runs = sum(1 for a, b in pairwise(entries)
               if a.details["writer"][:2] != b.details["writer"][:2])
    assert runs > 2 or database_url.startswith("sqlite")
    verdict = trail.verify()
    assert verdict.ok and verdict.checked == len(entries) and verdict.head_seq == len(entries)


def test_a_batch_worth_of_appends_verifies(database: Database, database_url: str) -> None:
    """500 state changes, each with its entry in its own transaction (the cost is in bench/audit.py)."""
    trail = AuditLog(database)
    count = 500
    for n in range(count):
        with database.write() as conn:
            now = utcnow()
            conn.execute(insert(documents).values(id=f"many-{n}", organisation="demo-co", name="x.pdf", pages=1,
                                                  head=0, created_at=now, updated_at=now))
            trail.append(conn, audit.BATCH_ITEM_SEALED, actor="system:worker", subject="batch-1",
                         details={"item": n, "output_sha256": hashlib.sha256(str(n).encode()).hexdigest()})
    verdict = trail.verify()
    assert verdict.ok and verdict.checked == count and verdict.head_seq == count


# -- configuration and schema, at start -------------------------------------------------------------------


def changed_deployment(source: Path, max_pdf_bytes: int) -> Path:
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw.setdefault("limits", {})["max_pdf_bytes"] = max_pdf_bytes
    copy = source.with_name(f"audit-{uuid.uuid4().hex[:8]}.yaml")
    copy.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return copy


def test_config_changed_once_per_configuration_across_restarts(
    bare_database_url: str, dev_env: Any, redis_url: str, tmp_path: Path
) -> None:
    first = changed_deployment(dev_env.deployment_path, 10 * 1024 * 1024)
    second = changed_deployment(dev_env.deployment_path, 11 * 1024 * 1024)
    home = tmp_path / "home"
    home.mkdir()
    base = {"PAKAT_HOME": str(home), "PAKAT_DATABASE_URL": bare_database_url, "REDIS_URL": redis_url,
            "PAKAT_QUEUE": f"audit-{uuid.uuid4().hex[:8]}"}
    database = Database(bare_database_url)
    trail = AuditLog(database)

    def run(*args: str, config: Path) -> None:
        done = run_pakat(*args, env={**base, "PAKAT_CONFIG": str(config)})
        assert done.returncode == 0, done.stderr

    def recorded() -> list[tuple[str, str, Any]]:
        return [(e.action, e.actor, e.details.get("sha256") or e.details.get("to")) for e in all_entries(trail)]

    try:
        sha = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (first, second)}
        run("db", "upgrade", config=first)
        expected = [(audit.SCHEMA_UPGRADED, "system:db-upgrade", schema.head()),
                    (audit.CONFIG_CHANGED, "system:db-upgrade", sha[first])]
        assert recorded() == expected
        run("db", "upgrade", config=first)
        run("worker", "--burst", config=first)
        with pakat_server(first, home, workers=1, env=base):
            pass
        assert recorded() == expected  # restarted three times with the same file: nothing new

        run("worker", "--burst", config=second)
        run("worker", "--burst", config=second)
        expected.append((audit.CONFIG_CHANGED, "system:worker", sha[second]))
        assert recorded() == expected
        with pakat_server(first, home, workers=1, env=base):
            pass
        expected.append((audit.CONFIG_CHANGED, "system:serve", sha[first]))
        assert recorded() == expected

        summary = all_entries(trail)[1].details
        assert summary["organisations"] == sorted(dev_env.organisations)
        assert summary["api_keys"] == len(dev_env.organisations)
        assert summary["trust_roots"] and all(len(fp) == 64 for fp in summary["trust_roots"])
        assert_no_secret([json.dumps(e.as_dict(), ensure_ascii=False) for e in all_entries(trail)],
                         secrets_of(dev_env))
        assert trail.verify().ok
    finally:
        database.dispose()
        first.unlink()
        second.unlink()


def test_processes_upgrading_together_record_the_move_once(
    bare_database_url: str, dev_env: Any, tmp_path: Path
) -> None:
    env = process_env({"PAKAT_HOME": str(tmp_path / "home"), "PAKAT_DATABASE_URL": bare_database_url,
                       "PAKAT_CONFIG": str(dev_env.deployment_path)})
    procs = [subprocess.Popen(pakat_command("db", "upgrade"), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True) for _ in range(3)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0, 0, 0], results
    database = Database(bare_database_url)
    try:
        entries = all_entries(AuditLog(database))
    finally:
        database.dispose()
    assert [(e.action, e.details.get("from"), e.details.get("to")) for e in entries] == [
        (audit.SCHEMA_UPGRADED, None, schema.head()), (audit.CONFIG_CHANGED, None, None)]
