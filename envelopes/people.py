"""The console's people: accounts per organisation with a role, passwords, sign-in with lockout, sessions.

Roles nest: an *admin* (keys, users, webhooks, seal status) may do whatever an
*operator* (seal, batches, documents, envelopes) may, who may do whatever a
*viewer* (read and validate) may (:meth:`Role.allows`). Each person belongs to
one of the deployment's organisations and only ever sees that organisation's
objects. Usernames are unique whatever their letter case (``username_key``).

Passwords are hashed with scrypt from :mod:`hashlib` (no new dependency):
``scrypt$N$r$p$salt$hash`` (salt and hash base64), so the parameters travel
with each hash and can be raised later: a hash made with weaker parameters than
:data:`SCRYPT_N`/``R``/``P`` is remade at the next successful sign-in. The
comparison is constant-time. Policy (:func:`check_password`): 12 to 256
characters, not the username or the display name.

Sign-in: a wrong username and a wrong password get the same answer
(SIGN_IN_FAILED) after the same work: an unknown username is checked against a
dummy hash of the same cost. The :data:`LOCK_AFTER`-th wrong password in a row
locks the account for :data:`LOCK_FOR` (``person.locked_out``); while locked,
even the right password fails, with the same answer. A disabled account fails
the same way. Every attempt is audited (``person.signed_in`` /
``person.sign_in_failed``), never with the password; an unknown username is not
recorded either (it may be a password typed in the wrong field).

Sessions live in the database (``console_sessions``): the browser holds a
random 256-bit token, the row only its SHA-256, so a copy of the table cannot
act as anyone. A session ends when unused for the idle timeout, at its absolute
end, at sign-out, and when the person is disabled or their password is reset
(a password change ends their other sessions). The CSRF token of a session is
derived from its token (:func:`csrf_token_for`): a per-session secret that is
stored nowhere and never leaves the page it is written into.

Single sign-on later: ``auth_source`` says how a person proves who they are
(``password`` today) and ``external_id`` will hold an OIDC subject. An OIDC
sign-in would find the person by (issuer, subject), skip the password and the
lockout, and open a session through :meth:`People.open_session` like a password
sign-in does; nothing else here depends on passwords.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from envelopes import audit
from envelopes.audit import AuditLog, client_actor, person_actor
from envelopes.database import Database, console_sessions, people, utcnow
from hsm_config.deployment import Deployment
from pakat import errors
from pakat.errors import AccessError, InputError

# -- roles -------------------------------------------------------------------------------------


class Role(enum.StrEnum):
    """What a person may do in the console; each role includes the ones below it."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may (admin ⊃ operator ⊃ viewer)."""
        return self.rank >= needed.rank


ROLES: tuple[str, ...] = tuple(role.value for role in Role)


def parse_role(raw: str | None) -> Role:
    """A role from its name; ROLE_UNKNOWN otherwise."""
    try:
        return Role((raw or "").strip().lower())
    except ValueError:
        raise InputError(errors.ROLE_UNKNOWN, (raw or "")[:32]) from None


# -- passwords ---------------------------------------------------------------------------------

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
# OpenSSL refuses scrypt above 32 MiB unless told; N=2**15, r=8 needs 32 MiB plus a little.
_MAXMEM = 256 * 1024 * 1024
PASSWORD_MIN, PASSWORD_MAX = 12, 256
PASSWORD_SOURCE = "password"  # auth_source of a person signing in with a password
_ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied by hand


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` of ``password`` with a fresh salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=HASH_BYTES)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (constant-time); False for anything malformed."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        found = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt, validate=True), n=int(n),
                               r=int(r), p=int(p), maxmem=_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, expected)


def needs_rehash(encoded: str) -> bool:
    """Whether ``encoded`` was made with weaker parameters than today's."""
    try:
        scheme, n, r, p, _, _ = encoded.split("$")
        return scheme != "scrypt" or (int(n), int(r), int(p)) < (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    except ValueError:
        return True


# What an unknown username is checked against: the same work as a real one, so time tells nothing.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def check_password(password: str, username: str, display_name: str = "") -> None:
    """PASSWORD_TOO_WEAK unless 12–256 characters and not the username or display name (any case)."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InputError(errors.PASSWORD_TOO_WEAK, f"{PASSWORD_MIN} to {PASSWORD_MAX} characters")
    folded = password.strip().casefold()
    if folded in {username.strip().casefold(), display_name.strip().casefold()}:
        raise InputError(errors.PASSWORD_TOO_WEAK, "the same as the username or display name")


def one_time_password() -> str:
    """A random password to give out once (about 99 bits), in groups of four: xxxx-xxxx-xxxx-xxxx-xxxx."""
    letters = "".join(secrets.choice(_ONE_TIME_ALPHABET) for _ in range(20))
    return "-".join(letters[i:i + 4] for i in range(0, 20, 4))


# -- people -----------------------------------------------------------------------------------

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{2,63}")
_DISPLAY_MAX = 255
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
#: A session's last_seen_at is written at most this often: not a write per page.
SEEN_RESOLUTION = timedelta(minutes=1)
TOKEN_BYTES = 32


def check_username(raw: str) -> str:
    username = (raw or "").strip()
    if not _USERNAME.fullmatch(username):
        raise InputError(errors.USERNAME_INVALID)
    return username


def _display_name(raw: str | None, username: str) -> str:
    name = " ".join((raw or "").split()) or username
    if len(name) > _DISPLAY_MAX or any(ord(c) < 0x20 for c in name):
        raise InputError(errors.REQUEST_INVALID, f"display name: at most {_DISPLAY_MAX} characters")
    return name


@dataclass(frozen=True)
class Person:
    """One account as everyone else sees it: never its password hash."""

    id: str
    organisation: str
    username: str
    display_name: str
    role: Role
    auth_source: str
    must_change_password: bool
    disabled_at: datetime | None
    locked_until: datetime | None
    last_sign_in_at: datetime | None
    created_at: datetime
    changed_at: datetime

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and (now or utcnow()) < self.locked_until

    def may(self, needed: Role) -> bool:
        """Whether this person's role allows what ``needed`` may do (and the account is enabled)."""
        return not self.disabled and self.role.allows(needed)

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id, "organisation": self.organisation, "username": self.username,
            "display_name": self.display_name, "role": self.role.value, "auth_source": self.auth_source,
            "state": "disabled" if self.disabled else "active", "must_change_password": self.must_change_password,
            "locked_until": iso(self.locked_until), "last_sign_in_at": iso(self.last_sign_in_at),
            "created_at": iso(self.created_at), "changed_at": iso(self.changed_at),
        }


@dataclass(frozen=True)
class OneTimePassword:
    """A password just given out (creation without one, or a reset): shown once, then forgotten."""

    person: Person
    password: str


@dataclass(frozen=True)
class Created:
    """A person just created, and the one-time password made for them (None when a password was given)."""

    person: Person
    one_time_password: str | None


@dataclass(frozen=True)
class SignedIn:
    """A session just opened: the token goes into the cookie and nowhere else."""

    person: Person
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class ConsoleSession:
    """The session behind a cookie, and its person."""

    person: Person
    token_sha256: str
    created_at: datetime
    expires_at: datetime


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def csrf_token_for(token: str) -> str:
    """The CSRF token of the session (or pre-session) whose cookie holds ``token``: HMAC, stored nowhere."""
    mac = hmac.new(token.encode("ascii", "replace"), b"pakat-console-csrf-v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").rstrip("=")


def _person(row: Any) -> Person:
    return Person(
        id=row.id, organisation=row.organisation, username=row.username, display_name=row.display_name,
        role=Role(row.role), auth_source=row.auth_source, must_change_password=bool(row.must_change_password),
        disabled_at=row.disabled_at, locked_until=row.locked_until, last_sign_in_at=row.last_sign_in_at,
        created_at=row.created_at, changed_at=row.changed_at,
    )


_PERSON_COLUMNS = [c for c in people.c if c.name != "password_hash"]


class People:
    """The console's people of one database, in one deployment's organisations."""

    def __init__(self, database: Database, deployment: Deployment, *, idle: timedelta = timedelta(minutes=30),
                 lifetime: timedelta = timedelta(hours=12)) -> None:
        self.database = database
        self.deployment = deployment
        self.idle = idle
        self.lifetime = lifetime

    # -- reading --

    def list(self, organisation: str | None = None) -> list[Person]:
        """Every person (of ``organisation``, if given), by username; never a password hash."""
        query = select(*_PERSON_COLUMNS).order_by(people.c.username_key)
        if organisation is not None:
            query = query.where(people.c.organisation == organisation)
        with self.database.begin() as conn:
            return [_person(row) for row in conn.execute(query)]

    def get(self, person_id: str) -> Person:
        with self.database.begin() as conn:
            row = conn.execute(select(*_PERSON_COLUMNS).where(people.c.id == person_id)).first()
        if row is None:
            raise AccessError(errors.PERSON_NOT_FOUND, person_id[:32])
        return _person(row)

    def get_of(self, organisation: str, person_id: str) -> Person:
        """``person_id`` if in ``organisation``; PERSON_NOT_FOUND otherwise (another's person is not named)."""
        try:
            person = self.get(person_id)
        except AccessError:
            raise AccessError(errors.PERSON_NOT_FOUND) from None
        if person.organisation != organisation:
            raise AccessError(errors.PERSON_NOT_FOUND)
        return person

    def by_username(self, username: str) -> Person:
        with self.database.begin() as conn:
            row = conn.execute(select(*_PERSON_COLUMNS)
                               .where(people.c.username_key == username.strip().lower())).first()
        if row is None:
            raise AccessError(errors.PERSON_NOT_FOUND, username[:64])
        return _person(row)

    # -- changes an administrator (or the operator's CLI) makes --

    def create(self, organisation: str, username: str, role: Role | str, *, actor: str,
               display_name: str | None = None, password: str | None = None) -> Created:
        """A new person; without ``password`` a one-time one is made (changed at first sign-in) and returned."""
        self.deployment.organisation(organisation)  # UNKNOWN_ORGANISATION
        username = check_username(username)
        name = _display_name(display_name, username)
        chosen = Role(role) if isinstance(role, Role) else parse_role(role)
        given = password if password is not None else one_time_password()
        check_password(given, username, name)
        now = utcnow()
        person_id = secrets.token_hex(16)
        try:
            with self.database.write() as conn:
                conn.execute(people.insert().values(
                    id=person_id, organisation=organisation, username=username, username_key=username.lower(),
                    display_name=name, role=chosen.value, auth_source=PASSWORD_SOURCE, external_id=None,
                    password_hash=hash_password(given), must_change_password=password is None,
                    failed_attempts=0, created_at=now, changed_at=now,
                    password_changed_at=now if password is not None else None,
                ))
                AuditLog(self.database).append(conn, audit.PERSON_CREATED, actor=actor,
                                               subject=person_actor(person_id),
                                               details={"organisation": organisation, "username": username,
                                                        "role": chosen.value})
        except IntegrityError:
            raise InputError(errors.USERNAME_TAKEN, username) from None
        return Created(self.get(person_id), None if password is not None else given)

    def set_disabled(self, organisation: str, person_id: str, disabled: bool, *, actor: str,
                     by: str | None = None) -> Person:
        """Disable (ending every session) or enable a person; never oneself, never the last admin."""
        self.get_of(organisation, person_id)
        if by == person_id:
            raise AccessError(errors.SELF_CHANGE_REFUSED)
        now = utcnow()
        with self.database.write() as conn:
            self._hold_admins(conn, organisation)
            conn.execute(update(people).where(people.c.id == person_id).values(
                disabled_at=now if disabled else None, changed_at=now, failed_attempts=0, locked_until=None))
            if disabled:
                self._check_an_admin_left(conn, organisation)
                conn.execute(delete(console_sessions).where(console_sessions.c.person_id == person_id))
            row = conn.execute(select(people.c.username).where(people.c.id == person_id)).one()
            AuditLog(self.database).append(
                conn, audit.PERSON_DISABLED if disabled else audit.PERSON_ENABLED, actor=actor,
                subject=person_actor(person_id), details={"organisation": organisation, "username": row.username})
        return self.get(person_id)

    def change_role(self, organisation: str, person_id: str, role: Role | str, *, actor: str,
                    by: str | None = None) -> Person:
        """Give a person another role; never one's own, never taking away the last admin."""
        before = self.get_of(organisation, person_id)
        chosen = Role(role) if isinstance(role, Role) else parse_role(role)
        if by == person_id:
            raise AccessError(errors.SELF_CHANGE_REFUSED)
        if chosen == before.role:
            return before
        with self.database.write() as conn:
            self._hold_admins(conn, organisation)
            conn.execute(update(people).where(people.c.id == person_id)
                         .values(role=chosen.value, changed_at=utcnow()))
            self._check_an_admin_left(conn, organisation)
            AuditLog(self.database).append(conn, audit.PERSON_ROLE_CHANGED, actor=actor,
                                           subject=person_actor(person_id),
                                           details={"organisation": organisation, "from": before.role.value,
                                                    "to": chosen.value})
        return self.get(person_id)

    def reset_password(self, organisation: str, person_id: str, *, actor: str,
                       by: str | None = None) -> OneTimePassword:
        """A one-time password for a person (changed at their next sign-in); their sessions end."""
        person = self.get_of(organisation, person_id)
        if by == person_id:
            raise AccessError(errors.SELF_CHANGE_REFUSED)
        given = one_time_password()
        encoded = hash_password(given)
        now = utcnow()
        with self.database.write() as conn:
            conn.execute(update(people).where(people.c.id == person_id).values(
                password_hash=encoded, must_change_password=True, failed_attempts=0, locked_until=None,
                changed_at=now, password_changed_at=now))
            conn.execute(delete(console_sessions).where(console_sessions.c.person_id == person_id))
            AuditLog(self.database).append(conn, audit.PERSON_PASSWORD_RESET, actor=actor,
                                           subject=person_actor(person_id),
                                           details={"organisation": person.organisation})
        return OneTimePassword(self.get(person_id), given)

    def _hold_admins(self, conn: Connection, organisation: str) -> None:
        # A write first, changing nothing: it locks the organisation's admin rows (PostgreSQL) or the database
        # (SQLite), so two admins demoting each other at once cannot both see the other still standing.
        admins = (people.c.organisation == organisation) & (people.c.role == Role.ADMIN.value)
        conn.execute(update(people).where(admins).values(role=people.c.role))

    def _check_an_admin_left(self, conn: Connection, organisation: str) -> None:
        left = conn.execute(select(func.count()).select_from(people).where(
            (people.c.organisation == organisation) & (people.c.role == Role.ADMIN.value)
            & people.c.disabled_at.is_(None))).scalar_one()
        if not left:
            raise AccessError(errors.LAST_ADMIN)  # the transaction rolls back: nothing changed

    # -- the person themself --

    def sign_in(self, username: str, password: str, *, address: str) -> SignedIn:
        """A new session for the right username and password; SIGN_IN_FAILED for anything else, alike."""
        now = utcnow()
        key = (username or "").strip().lower()[:64]
        with self.database.begin() as conn:
            row = conn.execute(select(people).where(people.c.username_key == key)).first() if key else None
        encoded = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
        matches = verify_password(password or "", encoded)  # the same work whoever asks
        if row is None:
            AuditLog(self.database).record(audit.PERSON_SIGN_IN_FAILED, actor=client_actor(address),
                                           subject=client_actor(address),
                                           details={"reason": "unknown_username", "address": address})
            raise AccessError(errors.SIGN_IN_FAILED)
        locked = row.locked_until is not None and now < row.locked_until
        reason = ("disabled" if row.disabled_at is not None else "locked" if locked
                  else "wrong_password" if not matches or row.password_hash is None else None)
        if reason is not None:
            self._failed(row, reason, address, counts=reason == "wrong_password")
            raise AccessError(errors.SIGN_IN_FAILED)
        person = _person(row)
        rehash = hash_password(password) if needs_rehash(row.password_hash) else None
        with self.database.write() as conn:
            values: dict[str, Any] = {"failed_attempts": 0, "locked_until": None, "last_sign_in_at": now}
            if rehash is not None:
                values["password_hash"] = rehash
            conn.execute(update(people).where(people.c.id == person.id).values(**values))
            signed = self._open(conn, person, now)
            AuditLog(self.database).append(conn, audit.PERSON_SIGNED_IN, actor=person_actor(person.id),
                                           subject=person_actor(person.id),
                                           details={"organisation": person.organisation, "address": address})
        return signed

    def open_session(self, person: Person) -> SignedIn:
        """A session for ``person`` once they proved who they are (a password, or single sign-on later)."""
        with self.database.write() as conn:
            return self._open(conn, person, utcnow())

    def _open(self, conn: Connection, person: Person, now: datetime) -> SignedIn:
        # Sessions past either end go now: the table keeps only live ones (and those unused since last sweep).
        conn.execute(delete(console_sessions).where(or_(console_sessions.c.expires_at <= now,
                                                        console_sessions.c.last_seen_at <= now - self.idle)))
        token = new_token()
        expires = now + self.lifetime
        conn.execute(console_sessions.insert().values(token_sha256=token_sha256(token), person_id=person.id,
                                                      created_at=now, last_seen_at=now, expires_at=expires))
        return SignedIn(person, token, expires)

    def _failed(self, row: Any, reason: str, address: str, *, counts: bool) -> None:
        now = utcnow()
        with self.database.write() as conn:
            locked_until = None
            if counts:
                # One conditional UPDATE: concurrent wrong passwords each count once.
                conn.execute(update(people).where(people.c.id == row.id)
                             .values(failed_attempts=people.c.failed_attempts + 1))
                failures = conn.execute(select(people.c.failed_attempts).where(people.c.id == row.id)).scalar_one()
                if failures >= LOCK_AFTER:
                    locked_until = now + LOCK_FOR
                    conn.execute(update(people).where(people.c.id == row.id)
                                 .values(failed_attempts=0, locked_until=locked_until))
            log = AuditLog(self.database)
            subject = person_actor(row.id)
            log.append(conn, audit.PERSON_SIGN_IN_FAILED, actor=client_actor(address), subject=subject,
                       details={"organisation": row.organisation, "reason": reason, "address": address})
            if locked_until is not None:
                log.append(conn, audit.PERSON_LOCKED_OUT, actor=client_actor(address), subject=subject,
                           details={"organisation": row.organisation, "until": audit.iso_time(locked_until),
                                    "failures": LOCK_AFTER})

    def session(self, token: str) -> ConsoleSession | None:
        """The live session behind a cookie's token, its person enabled; None otherwise (and it is ended)."""
        if not token or len(token) > 128:
            return None
        # Found by the token's SHA-256: a lookup by a 256-bit secret's hash leaks nothing through its timing.
        digest = token_sha256(token)
        now = utcnow()
        with self.database.begin() as conn:
            row = conn.execute(
                select(console_sessions.c.created_at, console_sessions.c.last_seen_at,
                       console_sessions.c.expires_at, *_PERSON_COLUMNS)
                .join(people, people.c.id == console_sessions.c.person_id)
                .where(console_sessions.c.token_sha256 == digest)
            ).first()
        if row is None:
            return None
        if row.expires_at <= now or row.last_seen_at <= now - self.idle or row.disabled_at is not None:
            with self.database.write() as conn:
                conn.execute(delete(console_sessions).where(console_sessions.c.token_sha256 == digest))
            return None
        if now - row.last_seen_at >= SEEN_RESOLUTION:
            with self.database.write() as conn:
                conn.execute(update(console_sessions).where(console_sessions.c.token_sha256 == digest)
                             .values(last_seen_at=now))
        return ConsoleSession(_person(row), digest, row.created_at, row.expires_at)

    def sign_out(self, session: ConsoleSession, *, address: str) -> None:
        """End the session now (``person.signed_out``)."""
        person = session.person
        with self.database.write() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.token_sha256 == session.token_sha256))
            AuditLog(self.database).append(conn, audit.PERSON_SIGNED_OUT, actor=person_actor(person.id),
                                           subject=person_actor(person.id),
                                           details={"organisation": person.organisation, "address": address})

    def change_password(self, session: ConsoleSession, current: str, new: str, *, address: str) -> Person:
        """The person's own new password: the current one first (a wrong one counts towards the lockout).

        The person's other sessions end; this one stays.
        """
        person_id = session.person.id
        with self.database.begin() as conn:
            row = conn.execute(select(people).where(people.c.id == person_id)).one()
        if not verify_password(current or "", row.password_hash or _DUMMY_HASH) or row.password_hash is None:
            self._failed(row, "wrong_current_password", address, counts=True)
            raise AccessError(errors.PASSWORD_WRONG)
        check_password(new or "", row.username, row.display_name)
        if new == current:
            raise InputError(errors.PASSWORD_TOO_WEAK, "the same as the current password")
        now = utcnow()
        with self.database.write() as conn:
            conn.execute(update(people).where(people.c.id == person_id).values(
                password_hash=hash_password(new), must_change_password=False, password_changed_at=now,
                changed_at=now, failed_attempts=0))
            others = ((console_sessions.c.person_id == person_id)
                      & (console_sessions.c.token_sha256 != session.token_sha256))
            conn.execute(delete(console_sessions).where(others))
            AuditLog(self.database).append(conn, audit.PERSON_PASSWORD_CHANGED, actor=person_actor(person_id),
                                           subject=person_actor(person_id),
                                           details={"organisation": row.organisation})
        return self.get(person_id)
