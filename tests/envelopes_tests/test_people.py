"""The console's people (envelopes.people), on SQLite and on PostgreSQL.

Hashes carry their scrypt parameters and are remade stronger at sign-in; the
password policy; usernames unique whatever the case; a wrong username and a
wrong password answer alike and cost alike; the 5th wrong password locks the
account for 15 minutes; disabling and resetting end the sessions; sessions end
when idle or at their absolute end; an organisation keeps an admin; no password
reaches the audit log.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from envelopes import audit
from envelopes.audit import AuditLog
from envelopes.database import Database, console_sessions, people, utcnow
from envelopes.people import (
    LOCK_AFTER,
    SCRYPT_N,
    People,
    Role,
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from hsm_config.deployment import load_deployment
from pakat import errors
from pakat.errors import PakatError

PASSWORD = "a long enough passphrase"
ADDRESS = "192.0.2.7"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def people_of(database: Database, dev_env: Any) -> People:
    return People(database, load_deployment(dev_env.deployment_path))


def code(excinfo: pytest.ExceptionInfo[PakatError]) -> str:
    return excinfo.value.code


def test_hashes_carry_their_parameters_compare_in_constant_time_and_are_raised_at_sign_in(
        people_of: People, database: Database) -> None:
    encoded = hash_password(PASSWORD)
    scheme, n, r, p, _salt, _digest = encoded.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2**15, 8, 1) and SCRYPT_N >= 2**15
    assert verify_password(PASSWORD, encoded) and not verify_password(PASSWORD + "x", encoded)
    assert hash_password(PASSWORD) != encoded  # a fresh salt each time
    assert not verify_password(PASSWORD, "scrypt$bad") and not verify_password(PASSWORD, "md5$1$2$3$4$5")
    weak = hash_password(PASSWORD, n=2**14)
    assert needs_rehash(weak) and not needs_rehash(encoded) and verify_password(PASSWORD, weak)

    person = people_of.create("demo-co", "hash-check", Role.VIEWER, actor="system:test", password=PASSWORD).person
    with database.begin() as conn:
        conn.execute(update(people).where(people.c.id == person.id).values(password_hash=weak))
    people_of.sign_in("hash-check", PASSWORD, address=ADDRESS)
    with database.begin() as conn:
        stored = conn.execute(select(people.c.password_hash).where(people.c.id == person.id)).scalar_one()
    assert stored.startswith(f"scrypt${2**15}$8$1$") and verify_password(PASSWORD, stored)


def test_password_policy_and_usernames(people_of: People) -> None:
    for weak, username in (("short", "anna"), ("x" * 257, "anna"), ("Anna.Karimi-1", "anna.karimi-1")):
        with pytest.raises(PakatError) as refused:
            check_password(weak, username)
        assert code(refused) == "PASSWORD_TOO_WEAK"
    check_password("twelve chars", "anna")
    people_of.create("demo-co", "Anna", "operator", actor="system:test", password=PASSWORD)
    with pytest.raises(PakatError) as taken:
        people_of.create("demo-gov", "aNNA", "viewer", actor="system:test", password=PASSWORD)
    assert code(taken) == "USERNAME_TAKEN"
    for bad in ("a", "-anna", "anna smith", "انا"):
        with pytest.raises(PakatError) as invalid:
            people_of.create("demo-co", bad, "viewer", actor="system:test", password=PASSWORD)
        assert code(invalid) == "USERNAME_INVALID"
    with pytest.raises(PakatError) as unknown:
        people_of.create("nobody-co", "bob", "viewer", actor="system:test", password=PASSWORD)
    assert code(unknown) == "UNKNOWN_ORGANISATION"
    with pytest.raises(PakatError) as role:
        people_of.create("demo-co", "bob", "root", actor="system:test", password=PASSWORD)
    assert code(role) == "ROLE_UNKNOWN"
    created = people_of.create("demo-co", "carol", "viewer", actor="system:test")
    assert created.one_time_password and created.person.must_change_password
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)


def _timed(call: Any) -> float:
    start = time.perf_counter()
    with pytest.raises(PakatError) as refused:
        call()
    assert refused.value.kind is errors.SIGN_IN_FAILED
    return time.perf_counter() - start


def test_a_wrong_username_and_a_wrong_password_answer_alike_and_cost_alike(people_of: People) -> None:
    people_of.create("demo-co", "dana", Role.OPERATOR, actor="system:test", password=PASSWORD)
    unknown = [_timed(lambda: people_of.sign_in("nobody-here", PASSWORD, address=ADDRESS)) for _ in range(3)]
    wrong = [_timed(lambda: people_of.sign_in("dana", "not the password", address=ADDRESS)) for _ in range(3)]
    # Both pay for one scrypt (~0.1 s): an unknown name is checked against a dummy hash of the same cost.
    assert statistics.median(unknown) > 0.4 * statistics.median(wrong)
    assert statistics.median(wrong) > 0.4 * statistics.median(unknown)


def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes(people_of: People, database: Database) -> None:
    person = people_of.create("demo-co", "erfan", Role.VIEWER, actor="system:test", password=PASSWORD).person
    for _ in range(LOCK_AFTER):
        with pytest.raises(PakatError):
            people_of.sign_in("erfan", "wrong password!", address=ADDRESS)
    locked = people_of.get(person.id)
    assert locked.locked_until is not None
    assert timedelta(minutes=14) < locked.locked_until - utcnow() <= timedelta(minutes=15)
    with pytest.raises(PakatError) as refused:  # the right password, and still the same answer
        people_of.sign_in("erfan", PASSWORD, address=ADDRESS)
    assert refused.value.kind is errors.SIGN_IN_FAILED
    entries = AuditLog(database).entries(limit=1000)
    assert [e.action for e in entries].count(audit.PERSON_LOCKED_OUT) == 1
    reasons = [e.details["reason"] for e in entries if e.action == audit.PERSON_SIGN_IN_FAILED]
    assert reasons == ["wrong_password"] * LOCK_AFTER + ["locked"]
    with database.begin() as conn:  # fifteen minutes later
        conn.execute(update(people).where(people.c.id == person.id).values(locked_until=utcnow()))
    signed = people_of.sign_in("ERFAN", PASSWORD, address=ADDRESS)
    assert signed.person.id == person.id and people_of.get(person.id).locked_until is None
    assert all(PASSWORD not in e.details_json and "wrong password!" not in e.details_json for e in entries)


def test_disabling_and_resetting_end_sessions_and_sessions_end_idle_or_at_their_end(
        people_of: People, database: Database) -> None:
    people_of.create("demo-co", "boss", Role.ADMIN, actor="system:test", password=PASSWORD)
    person = people_of.create("demo-co", "farid", Role.OPERATOR, actor="system:test", password=PASSWORD).person
    first = people_of.sign_in("farid", PASSWORD, address=ADDRESS)
    second = people_of.sign_in("farid", PASSWORD, address=ADDRESS)
    assert len(first.token) >= 43 and first.token != second.token
    with database.begin() as conn:
        stored = set(conn.execute(select(console_sessions.c.token_sha256)).scalars())
    assert first.token not in stored and len(stored) == 2  # only hashes are kept
    assert people_of.session(first.token) is not None

    people_of.set_disabled("demo-co", person.id, True, actor="system:test")
    assert people_of.session(first.token) is None and people_of.session(second.token) is None
    with pytest.raises(PakatError):
        people_of.sign_in("farid", PASSWORD, address=ADDRESS)
    people_of.set_disabled("demo-co", person.id, False, actor="system:test")

    third = people_of.sign_in("farid", PASSWORD, address=ADDRESS)
    given = people_of.reset_password("demo-co", person.id, actor="system:test")
    assert people_of.session(third.token) is None and given.person.must_change_password
    fourth = people_of.sign_in("farid", given.password, address=ADDRESS)
    assert fourth.person.must_change_password

    live = people_of.session(fourth.token)
    assert live is not None
    with pytest.raises(PakatError) as wrong:
        people_of.change_password(live, "not it at all", "a brand new passphrase", address=ADDRESS)
    assert wrong.value.kind is errors.PASSWORD_WRONG
    fifth = people_of.sign_in("farid", given.password, address=ADDRESS)
    people_of.change_password(live, given.password, "a brand new passphrase", address=ADDRESS)
    assert people_of.session(fifth.token) is None  # the other sessions end, this one stays
    kept = people_of.session(fourth.token)
    assert kept is not None and not kept.person.must_change_password

    with database.begin() as conn:  # unused for longer than the idle timeout
        conn.execute(update(console_sessions).values(last_seen_at=utcnow() - people_of.idle))
    assert people_of.session(fourth.token) is None
    sixth = people_of.sign_in("farid", "a brand new passphrase", address=ADDRESS)
    with database.begin() as conn:  # past the absolute end, however active
        conn.execute(update(console_sessions).values(expires_at=utcnow()))
    assert people_of.session(sixth.token) is None
    assert people_of.session("made-up") is None and people_of.session("") is None


def test_an_organisation_keeps_an_admin_and_an_admin_never_changes_themself(people_of: People) -> None:
    only = people_of.create("demo-co", "gita", Role.ADMIN, actor="system:test", password=PASSWORD).person
    other_org = people_of.create("demo-gov", "hamid", Role.ADMIN, actor="system:test", password=PASSWORD).person
    for refused_change in (lambda: people_of.set_disabled("demo-co", only.id, True, actor="system:test"),
                           lambda: people_of.change_role("demo-co", only.id, "operator", actor="system:test")):
        with pytest.raises(PakatError) as last:
            refused_change()
        assert code(last) == "LAST_ADMIN"
    assert people_of.get(only.id).role is Role.ADMIN and not people_of.get(only.id).disabled
    second = people_of.create("demo-co", "iman", Role.ADMIN, actor="system:test", password=PASSWORD).person
    with pytest.raises(PakatError) as self_change:
        people_of.set_disabled("demo-co", only.id, True, actor="system:test", by=only.id)
    assert code(self_change) == "SELF_CHANGE_REFUSED"
    people_of.change_role("demo-co", second.id, Role.VIEWER, actor="system:test", by=only.id)
    assert people_of.get(second.id).role is Role.VIEWER
    with pytest.raises(PakatError) as elsewhere:  # another organisation's person is not even named
        people_of.set_disabled("demo-co", other_org.id, True, actor="system:test", by=only.id)
    assert code(elsewhere) == "PERSON_NOT_FOUND"
    assert {p.username for p in people_of.list("demo-co")} == {"gita", "iman"}
