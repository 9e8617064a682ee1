"""The validation policy: what a signature must meet besides being intact and trusted, as a file.

A policy is a versioned YAML document (``validation/policies/*.yaml`` ship with
Pakat; a deployment or a caller may name its own file) with:

* ``modifications`` — per kind of signature (approval, certification with
  DocMDP P=1, 2 or 3) the kinds of change (:class:`validation.modifications.ChangeKind`)
  allowed after it; a change not allowed fails the signature if a page shows
  it (the visual comparison), and is reported at the ``invisible_changes``
  level if none does. Changes with effects no page shows (actions, scripts,
  attachments, encryption, permissions) are never allowed unless listed;
* ``constraints`` — per check, FAIL / WARN / INFORM / IGNORE, as in EU DSS's
  constraint policy;
* ``crypto`` — the cryptographic suite (ETSI TS 119 312/322 style): each digest
  and each key size with the date until which it is acceptable, judged at the
  signature's proven time of existence.

Every report names the policy's id, version and the SHA-256 of its file.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from validation.modifications import ChangeKind

BUILT_IN = ("general", "bid-envelope")
DEFAULT_POLICY = "general"
#: The policy Pakat's own envelope judging applies (tenders): nothing a page shows may change after signing.
ENVELOPE_POLICY = "bid-envelope"


class PolicyError(ValueError):
    """The policy file is not a policy; the message says where."""


class Level(enum.StrEnum):
    """What a constraint's failure does (EU DSS's levels)."""

    FAIL = "FAIL"  # the signature does not pass
    WARN = "WARN"  # a warning in the report
    INFORM = "INFORM"  # a note in the report
    IGNORE = "IGNORE"  # not reported


class SignatureType(enum.StrEnum):
    APPROVAL = "approval"
    CERTIFIED_P1 = "certified_p1"
    CERTIFIED_P2 = "certified_p2"
    CERTIFIED_P3 = "certified_p3"


#: The checks a policy can set, and the level each has when a policy is silent.
CONSTRAINTS: dict[str, Level] = {
    "invisible_changes": Level.WARN,  # changes not allowed, but shown on no page
    "locked_field_changed": Level.FAIL,  # a field a signature's FieldMDP lock covers changed after it
    "signer_purpose": Level.FAIL,  # the signer certificate's extended key usage allows document signing
    "signer_key_usage": Level.FAIL,  # digitalSignature or nonRepudiation
    "pades_format": Level.INFORM,  # a signature that is not ETSI.CAdES.detached
    "claimed_time_after_timestamp": Level.WARN,
    "revocation_fetched_online": Level.INFORM,
    "revocation_not_checked": Level.WARN,
    "revoked_after_signing": Level.INFORM,
}


@dataclass(frozen=True)
class CryptoSuite:
    """Digests and key sizes with the date each stops being acceptable (None: no end set)."""

    digests: dict[str, datetime | None]
    rsa_bits: dict[int, datetime | None]  # a key of at least this many bits, until
    ec_bits: dict[int, datetime | None]
    eddsa: dict[str, datetime | None]  # "ed25519", "ed448"

    def digest_until(self, name: str) -> tuple[bool, datetime | None]:
        """Whether the digest is in the suite at all, and until when it is acceptable."""
        key = name.lower().replace("-", "_")
        if key not in self.digests:
            return False, None
        return True, self.digests[key]

    def key_until(self, kind: str, bits: int) -> tuple[bool, datetime | None]:
        """Whether a key of ``kind`` ("rsa", "ec") and size is in the suite, and until when."""
        table = self.rsa_bits if kind == "rsa" else self.ec_bits
        fitting = [threshold for threshold in table if threshold <= bits]
        if not fitting:
            return False, None
        return True, table[max(fitting)]

    def min_bits(self, kind: str, at: datetime) -> int:
        """The smallest key of ``kind`` acceptable at ``at`` (for certificates about to sign)."""
        table = self.rsa_bits if kind == "rsa" else self.ec_bits
        good = [bits for bits, until in table.items() if until is None or at < until]
        return min(good) if good else max(table, default=0) + 1

    def as_dict(self) -> dict[str, Any]:
        def dates(table: dict[Any, datetime | None]) -> dict[str, str | None]:
            return {str(k): (v.date().isoformat() if v else None) for k, v in sorted(table.items())}

        return {"digests": dates(self.digests), "rsa_bits": dates(self.rsa_bits), "ec_bits": dates(self.ec_bits),
                "eddsa": dates(self.eddsa)}


@dataclass(frozen=True)
class PolicyRules:
    """One loaded validation policy."""

    id: str
    version: int
    title_fa: str
    title_en: str
    sha256: str
    allowed_changes: dict[SignatureType, frozenset[ChangeKind]]
    constraints: dict[str, Level]
    crypto: CryptoSuite
    source: str = field(default="")  # "built-in: general" or a path, for people

    def allowed(self, signature: SignatureType) -> frozenset[ChangeKind]:
        return self.allowed_changes[signature]

    def level(self, constraint: str) -> Level:
        return self.constraints.get(constraint, CONSTRAINTS[constraint])

    def as_dict(self) -> dict[str, Any]:
        """What the report prints: which policy, exactly (its hash), and what it allows."""
        return {
            "id": self.id,
            "version": self.version,
            "sha256": self.sha256,
            "title": {"fa": self.title_fa, "en": self.title_en},
            "modifications": {t.value: sorted(k.value for k in kinds)
                              for t, kinds in self.allowed_changes.items()},
            "constraints": {name: self.level(name).value for name in CONSTRAINTS},
            "crypto": self.crypto.as_dict(),
        }


def load_policy(name_or_path: str | Path) -> PolicyRules:
    """A built-in policy by name ("general", "bid-envelope") or a policy file by path."""
    if isinstance(name_or_path, str) and name_or_path in BUILT_IN:
        return _built_in(name_or_path)
    path = Path(name_or_path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{path}: {exc.strerror}") from None
    return parse_policy(text, str(path))


def policy_named(name: str, named: Mapping[str, PolicyRules] | None = None) -> PolicyRules:
    """The built-in policy ``name``, or one a deployment named (``validation.policies``); PolicyError otherwise."""
    key = name.strip()
    if named and key in named:
        return named[key]
    if key in BUILT_IN:
        return _built_in(key)
    known = ", ".join(sorted({*BUILT_IN, *(named or {})}))
    raise PolicyError(f"no validation policy is called {key!r} (known: {known})")


@functools.cache
def _built_in(name: str) -> PolicyRules:
    text = resources.files("validation").joinpath(f"policies/{name}.yaml").read_bytes()
    return parse_policy(text, f"built-in: {name}")


def parse_policy(text: bytes, source: str) -> PolicyRules:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: a policy is a mapping")
    try:
        policy_id = _text(raw, "id", source)
        version = raw.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise PolicyError(f"{source}: version must be a whole number from 1")
        title = raw.get("title") or {}
        changes = raw.get("modifications")
        if not isinstance(changes, dict):
            raise PolicyError(f"{source}: modifications must be a mapping")
        allowed = {t: _kinds(changes.get(t.value), f"{source}: modifications.{t.value}") for t in SignatureType}
        constraints = raw.get("constraints") or {}
        if not isinstance(constraints, dict):
            raise PolicyError(f"{source}: constraints must be a mapping")
        unknown = sorted(set(constraints) - set(CONSTRAINTS))
        if unknown:
            raise PolicyError(f"{source}: unknown constraints {unknown} (known: {sorted(CONSTRAINTS)})")
        levels = {str(k): Level(str(v).upper()) for k, v in constraints.items()}
        crypto = _crypto(raw.get("crypto"), source)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(f"{source}: {exc}") from None
    return PolicyRules(
        id=policy_id, version=version,
        title_fa=str(title.get("fa", policy_id)), title_en=str(title.get("en", policy_id)),
        sha256=hashlib.sha256(text).hexdigest(), allowed_changes=allowed, constraints=levels, crypto=crypto,
        source=source,
    )


def _text(raw: dict[str, Any], key: str, source: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{source}: {key} must be a non-empty text")
    return value.strip()


def _kinds(value: Any, where: str) -> frozenset[ChangeKind]:
    if not isinstance(value, list):
        raise PolicyError(f"{where} must be a list of kinds of change ({', '.join(k.value for k in ChangeKind)})")
    try:
        return frozenset(ChangeKind(str(v)) for v in value)
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from None


def _crypto(raw: Any, source: str) -> CryptoSuite:
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: crypto must be a mapping")

    def table(key: str) -> dict[str, datetime | None]:
        value = raw.get(key) or {}
        if not isinstance(value, dict):
            raise PolicyError(f"{source}: crypto.{key} must be a mapping of name to date (or null)")
        return {str(k).lower().replace("-", "_"): _date(v, f"{source}: crypto.{key}.{k}")
                for k, v in value.items()}

    return CryptoSuite(
        digests=table("digests"),
        rsa_bits={int(k): v for k, v in table("rsa_bits").items()},
        ec_bits={int(k): v for k, v in table("ec_bits").items()},
        eddsa=table("eddsa"),
    )


def _date(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        return datetime.combine(date.fromisoformat(str(value)), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        raise PolicyError(f"{where}: not a date (YYYY-MM-DD) or null") from None
