"""API keys kept in the database: created, listed, rotated and revoked; who is calling, with which scopes.

A key reads ``pk_<id>_<secret>``: ``id`` (12 hex digits) finds the row, and
``secret`` (256 random bits, base64url) is compared in constant time against
the SHA-256 stored for it. A plain SHA-256 is enough, with no salt and no slow
KDF: a slow hash only helps against guessing a low-entropy secret from a
stolen table, and a 256-bit random secret cannot be guessed from its hash
whatever the hash costs. It is shown once, at creation or rotation, and never
stored, logged or listed.

Each key belongs to one organisation and carries scopes (:data:`SCOPES`): the
web layer demands the scope of each route group. A rotation gives a new secret
and lets the old one work until the grace period ends; a revocation ends the
key at once (every request reads the row: nothing caches it). Creation,
rotation and revocation are appended to the audit log, never with the secret.

The keys of the deployment YAML (``api_keys``: hand-written SHA-256) keep
working as keys with every scope but ``admin``; :func:`authenticate` looks at
the database first, then at the YAML. ``pakat api-key create`` is the way now.

What a key's requests record as their platform (``api_key_sha256`` on
documents, batches, tenders and webhook deliveries) is its ``reference``: a
value that stays the same across rotations. A database key created to take a
YAML key's place (``replaces``) takes that key's reference, so its tenders,
batches, webhook and return URLs stay its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from envelopes.audit import API_KEY_CREATED, API_KEY_REVOKED, API_KEY_ROTATED, AuditLog
from envelopes.database import Database, api_keys, utcnow
from hsm_config.deployment import Deployment
from pakat import errors
from pakat.errors import AccessError, InputError

SEAL, DOCUMENTS, BATCHES, TENDERS, VALIDATE, ADMIN = "seal", "documents", "batches", "tenders", "validate", "admin"
#: Every scope a key may carry: a route group each, and ``admin`` for the admin API.
SCOPES: tuple[str, ...] = (SEAL, DOCUMENTS, BATCHES, TENDERS, VALIDATE, ADMIN)
#: What the deployment YAML's keys may do: everything they did before scopes existed (no admin API).
YAML_KEY_SCOPES: frozenset[str] = frozenset(SCOPES) - {ADMIN}
PREFIX = "pk_"
ID_HEX = 12
SECRET_BYTES = 32
#: How long a rotated key's old secret keeps working unless the caller says otherwise.
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=30)
#: last_used_at is written at most this often per key: a write per request would queue every request on
#: SQLite's one writer.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_KEY = re.compile(r"pk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_LABEL_MAX = 255


@dataclass(frozen=True)
class Caller:
    """Who a request's API key says is calling: organisation, scopes, and the reference its records carry."""

    organisation: str
    scopes: frozenset[str]
    reference: str  # 64 hex: what documents, batches and tenders record as api_key_sha256
    key_id: str | None = None  # None: a key of the deployment YAML


@dataclass(frozen=True)
class ApiKeyView:
    """One key as listings show it: never its secret or the secret's hash."""

    id: str
    organisation: str
    label: str
    scopes: tuple[str, ...]
    reference: str
    created_at: datetime
    rotated_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    previous_valid_until: datetime | None

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "organisation": self.organisation,
            "label": self.label,
            "scopes": list(self.scopes),
            "reference": self.reference[:12],
            "created_at": iso(self.created_at),
            "rotated_at": iso(self.rotated_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
            "previous_valid_until": iso(self.previous_valid_until),
            "state": "revoked" if self.revoked_at else "active",
        }


@dataclass(frozen=True)
class IssuedKey:
    """A key just created or rotated: the one time its whole value is known."""

    key: ApiKeyView
    api_key: str  # pk_<id>_<secret>: give it to the platform, then forget it

    def as_dict(self) -> dict[str, Any]:
        return {**self.key.as_dict(), "api_key": self.api_key}


def parse_scopes(raw: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Scopes from a list or a comma/space separated string; API_KEY_SCOPE_UNKNOWN for anything else."""
    if raw is None:
        raise InputError(errors.API_KEY_SCOPE_UNKNOWN, "no scope given")
    items = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    if not items or not all(isinstance(s, str) for s in items):
        raise InputError(errors.API_KEY_SCOPE_UNKNOWN, "no scope given")
    unknown = sorted({s for s in items if s not in SCOPES})
    if unknown:
        raise InputError(errors.API_KEY_SCOPE_UNKNOWN, ", ".join(u[:32] for u in unknown[:5]))
    return tuple(s for s in SCOPES if s in items)


def _secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _reference_of(key_id: str) -> str:
    return hashlib.sha256(f"pakat-api-key:{key_id}".encode("ascii")).hexdigest()


def _view(row: Any) -> ApiKeyView:
    return ApiKeyView(
        id=row.id, organisation=row.organisation, label=row.label, scopes=tuple(row.scopes.split()),
        reference=row.reference, created_at=row.created_at, rotated_at=row.rotated_at,
        last_used_at=row.last_used_at, revoked_at=row.revoked_at, previous_valid_until=row.previous_valid_until,
    )


class ApiKeys:
    """The API keys of one database, checked against one deployment's organisations and YAML keys."""

    def __init__(self, database: Database, deployment: Deployment) -> None:
        self.database = database
        self.deployment = deployment

    # -- who is calling --

    def authenticate(self, presented: str) -> Caller | None:
        """The caller behind ``presented``, or None: unknown, revoked, or an old secret past its grace.

        Database keys by id, then the deployment YAML's keys by hash; every comparison is constant-time.
        """
        match = _KEY.fullmatch(presented)
        if match is not None:
            caller = self._database_caller(match.group(1), match.group(2))
            if caller is not None:
                return caller
        platform = self.deployment.platform_for_api_key(presented)
        if platform is None:
            return None
        return Caller(platform.organisation, YAML_KEY_SCOPES, platform.api_key_sha256)

    def _database_caller(self, key_id: str, secret: str) -> Caller | None:
        with self.database.begin() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None or row.revoked_at is not None:
            return None
        digest = _secret_sha256(secret)
        now = utcnow()
        current = hmac.compare_digest(row.secret_sha256, digest)
        # Both compared every time: the time taken does not tell a current secret from an old one.
        previous = hmac.compare_digest(row.previous_secret_sha256 or "", digest)
        in_grace = row.previous_valid_until is not None and now < row.previous_valid_until
        if not (current or (previous and in_grace)):
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            with self.database.write() as conn:
                conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))
        return Caller(row.organisation, frozenset(row.scopes.split()), row.reference, row.id)

    # -- the operator's use cases (CLI and admin API) --

    def create(self, organisation: str, scopes: tuple[str, ...], label: str, *, actor: str,
               replaces: str | None = None) -> IssuedKey:
        """A new key of ``organisation`` with ``scopes``; ``replaces``: the YAML key (SHA-256) it takes over."""
        self.deployment.organisation(organisation)  # UNKNOWN_ORGANISATION
        scopes = parse_scopes(scopes)
        label = _label(label)
        key_id = secrets.token_hex(ID_HEX // 2)
        reference = _reference_of(key_id)
        if replaces is not None:
            reference = self._replaced_reference(replaces, organisation)
        secret = _new_secret()
        now = utcnow()
        row = {
            "id": key_id, "organisation": organisation, "label": label, "scopes": " ".join(scopes),
            "reference": reference, "secret_sha256": _secret_sha256(secret), "created_at": now,
        }
        with self.database.write() as conn:
            conn.execute(api_keys.insert().values(**row))
            AuditLog(self.database).append(
                conn, API_KEY_CREATED, actor=actor, subject=f"api-key:{key_id}",
                details={"organisation": organisation, "scopes": list(scopes), "label": label,
                         "replaces": reference[:12] if replaces else None},
            )
        return IssuedKey(self.get(key_id), f"{PREFIX}{key_id}_{secret}")

    def _replaced_reference(self, replaces: str, organisation: str) -> str:
        wanted = replaces.strip().lower()
        found = [platform for digest, platform in self.deployment.platforms.items()
                 if len(wanted) >= 12 and digest.startswith(wanted)]
        if len(found) != 1:
            raise InputError(errors.REQUEST_INVALID,
                             "replaces: give the SHA-256 (at least its first 12 hex digits) of one api_keys entry")
        if found[0].organisation != organisation:
            raise AccessError(errors.ORGANISATION_FORBIDDEN, f"that key belongs to {found[0].organisation}")
        return found[0].api_key_sha256

    def list(self, organisation: str | None = None) -> list[ApiKeyView]:
        """Every key (of ``organisation``, if given), oldest first; never a secret."""
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if organisation is not None:
            query = query.where(api_keys.c.organisation == organisation)
        with self.database.begin() as conn:
            return [_view(row) for row in conn.execute(query)]

    def references_of(self, organisation: str) -> frozenset[str]:
        """Every platform reference ``organisation``'s records may carry as their ``api_key_sha256``.

        Its database keys' references (revoked ones too: their records stay the
        organisation's) and its YAML keys' SHA-256s. What a delivery, a tender or
        an audit entry's ``api-key:`` actor belongs to is found through these.
        """
        with self.database.begin() as conn:
            found = set(conn.execute(
                select(api_keys.c.reference).where(api_keys.c.organisation == organisation)).scalars())
        found.update(digest for digest, org in self.deployment.api_key_hashes.items() if org == organisation)
        found.update(digest for digest, platform in self.deployment.platforms.items()
                     if platform.organisation == organisation)
        return frozenset(found)

    def get(self, key_id: str) -> ApiKeyView:
        with self.database.begin() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise AccessError(errors.API_KEY_NOT_FOUND, key_id[:32])
        return _view(row)

    def get_of(self, organisation: str, key_id: str) -> ApiKeyView:
        """``key_id`` if it is ``organisation``'s; API_KEY_NOT_FOUND otherwise (another's key is not named)."""
        key = self.get(key_id)
        if key.organisation != organisation:
            raise AccessError(errors.API_KEY_NOT_FOUND, key_id[:32])
        return key

    def rotate(self, key_id: str, *, actor: str, grace: timedelta = DEFAULT_GRACE) -> IssuedKey:
        """A new secret for ``key_id``; the current one keeps working for ``grace`` (0: ends now)."""
        if not timedelta(0) <= grace <= MAX_GRACE:
            raise InputError(errors.REQUEST_INVALID, f"grace must be from 0 to {MAX_GRACE.days} days")
        secret = _new_secret()
        now = utcnow()
        with self.database.write() as conn:
            # One UPDATE, the transaction's first statement (SQLite upgrades no read snapshot): SET reads the
            # row as it was, so the secret being replaced becomes the previous one, even under two rotations.
            done = conn.execute(
                update(api_keys)
                .where((api_keys.c.id == key_id) & api_keys.c.revoked_at.is_(None))
                .values(secret_sha256=_secret_sha256(secret), previous_secret_sha256=api_keys.c.secret_sha256,
                        previous_valid_until=now + grace, rotated_at=now)
            )
            row = conn.execute(select(api_keys.c.organisation).where(api_keys.c.id == key_id)).first()
            if done.rowcount != 1 or row is None:
                raise AccessError(errors.API_KEY_REVOKED if row else errors.API_KEY_NOT_FOUND, key_id[:32])
            AuditLog(self.database).append(
                conn, API_KEY_ROTATED, actor=actor, subject=f"api-key:{key_id}",
                details={"organisation": row.organisation, "grace_seconds": int(grace.total_seconds())},
            )
        return IssuedKey(self.get(key_id), f"{PREFIX}{key_id}_{secret}")

    def revoke(self, key_id: str, *, actor: str) -> ApiKeyView:
        """End ``key_id`` now, its old secret too; API_KEY_REVOKED if it already was."""
        now = utcnow()
        with self.database.write() as conn:
            done = conn.execute(
                update(api_keys).where((api_keys.c.id == key_id) & api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now, previous_secret_sha256=None, previous_valid_until=None)
            )
            if done.rowcount != 1:
                exists = conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id)).first()
                raise AccessError(errors.API_KEY_REVOKED if exists else errors.API_KEY_NOT_FOUND, key_id[:32])
            row = conn.execute(select(api_keys.c.organisation).where(api_keys.c.id == key_id)).one()
            AuditLog(self.database).append(conn, API_KEY_REVOKED, actor=actor, subject=f"api-key:{key_id}",
                                           details={"organisation": row.organisation})
        return self.get(key_id)


def _label(raw: str | None) -> str:
    label = " ".join((raw or "").split())
    if len(label) > _LABEL_MAX or any(ord(c) < 0x20 for c in label):
        raise InputError(errors.REQUEST_INVALID, f"label: at most {_LABEL_MAX} characters")
    return label

