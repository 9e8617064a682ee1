"""The development environment: dev PKI, SoftHSM tokens, demo organisations and users, pakat.yaml.

:func:`init_dev_environment` builds it under a directory D (``var/`` by
default in the CLI) and :func:`load_dev_environment` reopens it::

    D/pakat.yaml                     deployment file (hsm_config.deployment format)
    D/devpki/state.json              CAs, issued serials, revocations (read by the responders)
    D/devpki/environment.json        what init made: demo organisations and users (written last)
    D/devpki/certs/*.pem             root-ca, general-ca, government-ca, tsa, <org>-seal, <user>
    D/devpki/private/*.key           CA and TSA keys (0600)
    D/softhsm/softhsm2.conf          SOFTHSM2_CONF; tokens in D/softhsm/tokens
    D/secrets/<name>.pin, .so-pin    token PINs (0600)
    D/secrets/<org>.apikey           development API keys in plain text (0600)

The demo organisations' and users' keys are generated inside their SoftHSM
tokens; only their certificates come from the dev PKI.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from devkit import devpki
from devkit.devpki import DevPKI, DevPKIError, PersonSubject, SealSubject, write_file
from devkit.softhsm import KeySpec, SoftHSM
from hsm_config.deployment import (
    DEFAULT_MAX_PDF_BYTES,
    NATIONAL_ROOT_PATH,
    NATIONAL_ROOT_SHA256,
    hash_api_key,
    load_certificate,
)

ENVIRONMENT_VERSION = 1
SEAL_KEY_LABEL = "seal"
USER_KEY_LABEL = "sign"
# The platform the demo API keys stand for: the name the signer is shown, and the organisation whose
# seal signs its submission receipts (the government agency: a platform seals with its own seal, never a bidder's).
_DEV_PLATFORM = {"name_fa": "سامانه نمونه تدارکات", "name_en": "Demo procurement platform", "seal": "demo-gov"}

_Record = TypeVar("_Record", "DemoOrganisation", "DemoUser")

GOOD = "good"
REVOKED = "revoked"
EXPIRED = "expired"


# -- what the demo holds ---------------------------------------------------------


@dataclass(frozen=True)
class _OrgSpec:
    id: str
    name_en: str
    name_fa: str
    kind: str  # "private" or "government"
    national_id: str
    status: str  # what init makes of its seal certificate: good, revoked or expired


@dataclass(frozen=True)
class _UserSpec:
    id: str
    profile: str
    given_name: str
    surname: str
    name_en: str
    national_code: str
    organisation: str | None = None
    title: str | None = None


# National IDs and codes carry valid check digits, so validators that check them accept the demo.
_ORGS = (
    _OrgSpec(
        "demo-co", "Pakat Demo Co.", "شرکت نمونه پاکت", "private", devpki.legal_entity_id("1400012345"), GOOD
    ),
    _OrgSpec(
        "demo-gov",
        "Pakat Demo Government Agency",
        "سازمان دولتی نمونه پاکت",
        "government",
        devpki.legal_entity_id("1400098765"),
        GOOD,
    ),
    _OrgSpec(
        "demo-revoked",
        "Pakat Revoked Demo Co.",
        "شرکت نمونه باطل‌شده پاکت",
        "private",
        devpki.legal_entity_id("1400054321"),
        REVOKED,
    ),
    _OrgSpec(
        "demo-expired",
        "Pakat Expired Demo Co.",
        "شرکت نمونه منقضی پاکت",
        "private",
        devpki.legal_entity_id("1400067890"),
        EXPIRED,
    ),
)
_USERS = (
    _UserSpec(
        "user-independent",
        devpki.PERSON_INDEPENDENT,
        "علی",
        "رضایی",
        "Ali Rezaei",
        devpki.national_code("008512345"),
    ),
    _UserSpec(
        "user-gov",
        devpki.PERSON_GOVERNMENT,
        "مریم",
        "احمدی",
        "Maryam Ahmadi",
        devpki.national_code("008598765"),
        organisation="demo-gov",
        title="Procurement Officer",
    ),
    _UserSpec(
        "user-private",
        devpki.PERSON_PRIVATE,
        "رضا",
        "کریمی",
        "Reza Karimi",
        devpki.national_code("008556789"),
        organisation="demo-co",
    ),
)


# -- the environment as callers see it -------------------------------------------


@dataclass(frozen=True)
class DemoOrganisation:
    """A demo organisation with its seal key on its own SoftHSM token."""

    id: str
    name_en: str
    name_fa: str
    kind: str  # "private" or "government"
    national_id: str
    profile: str  # devpki.SEAL_PRIVATE or devpki.SEAL_GOVERNMENT
    status: str  # "good", "revoked" or "expired", as made by init
    certificate_path: Path
    chain: tuple[Path, ...]  # intermediates up to (not including) the root
    token_label: str
    key_label: str
    key_id: bytes
    pin_file: Path
    so_pin_file: Path
    api_key_file: Path
    serial: int

    def read_pin(self) -> str:
        """The token's development user PIN."""
        return self.pin_file.read_text(encoding="utf-8").strip()

    def read_api_key(self) -> str:
        """The organisation's development API key (plain text; pakat.yaml holds only its hash)."""
        return self.api_key_file.read_text(encoding="utf-8").strip()

    def certificate(self) -> x509.Certificate:
        """The seal certificate."""
        return load_certificate(self.certificate_path)


@dataclass(frozen=True)
class DemoUser:
    """A demo natural person with a signing key on their own SoftHSM token."""

    id: str
    kind: str  # devpki.PERSON_INDEPENDENT, PERSON_GOVERNMENT or PERSON_PRIVATE
    name_fa: str
    name_en: str
    national_code: str
    title: str | None
    organisation: str | None  # demo organisation id the person is affiliated with
    certificate_path: Path
    chain: tuple[Path, ...]
    token_label: str
    key_label: str
    key_id: bytes
    pin_file: Path
    so_pin_file: Path
    serial: int

    def read_pin(self) -> str:
        """The token's development user PIN."""
        return self.pin_file.read_text(encoding="utf-8").strip()

    def certificate(self) -> x509.Certificate:
        """The signing certificate."""
        return load_certificate(self.certificate_path)


@dataclass(frozen=True)
class DevEnvironment(devpki.ServiceURLs):
    """Everything ``devpki init`` made, with the URLs the responders serve."""

    directory: Path
    host: str
    port: int
    deployment_path: Path
    root_cert_path: Path
    ca_cert_paths: Mapping[str, Path]  # slug -> PEM, root included
    tsa_cert_path: Path
    softhsm_module: str
    softhsm_conf: Path
    organisations: Mapping[str, DemoOrganisation]
    users: Mapping[str, DemoUser]

    def softhsm_env(self) -> dict[str, str]:
        """Environment variables a process needs before it loads the SoftHSM module."""
        return {"SOFTHSM2_CONF": str(self.softhsm_conf)}

    @property
    def info(self) -> dict[str, Any]:
        """What ``pakat devpki info --json`` prints, development PINs and API keys included."""
        register = devpki.load_register(self.directory / "devpki")
        now = dt.datetime.now(dt.UTC)

        def status(serial: int) -> str:
            rec = register.get(serial)
            if rec is not None and rec.revocation is not None:
                return REVOKED
            if rec is not None and rec.not_after < now:
                return EXPIRED
            return GOOD

        return {
            "directory": str(self.directory),
            "root_certificate": str(self.root_cert_path),
            "ca_certificates": {slug: str(p) for slug, p in self.ca_cert_paths.items()},
            "tsa_certificate": str(self.tsa_cert_path),
            "services": {
                "base_url": self.base_url,
                "healthz": self.healthz_url,
                "ocsp": {slug: self.ocsp_url(slug) for slug in devpki.CA_SLUGS},
                "crl": {slug: self.crl_url(slug) for slug in devpki.CA_SLUGS},
                "certs": {slug: self.cert_url(slug) for slug in (*devpki.CA_SLUGS, devpki.TSA)},
                "tsa": self.tsa_url,
            },
            "deployment": str(self.deployment_path),
            "softhsm": {"module": self.softhsm_module, "SOFTHSM2_CONF": str(self.softhsm_conf)},
            "organisations": {
                org.id: {
                    "id": org.id,
                    "name_en": org.name_en,
                    "name_fa": org.name_fa,
                    "kind": org.kind,
                    "national_id": org.national_id,
                    "certificate": str(org.certificate_path),
                    "chain": [str(p) for p in org.chain],
                    "serial": format(org.serial, "x"),
                    "module": self.softhsm_module,
                    "token_label": org.token_label,
                    "key_label": org.key_label,
                    "key_id": org.key_id.hex(),
                    "pin": org.read_pin(),
                    "pin_file": str(org.pin_file),
                    "api_key": org.read_api_key(),
                    "status": status(org.serial),
                }
                for org in self.organisations.values()
            },
            "users": {
                user.id: {
                    "id": user.id,
                    "name": user.name_fa,
                    "name_en": user.name_en,
                    "kind": user.kind,
                    "national_code": user.national_code,
                    "title": user.title,
                    "organisation": user.organisation,
                    "certificate": str(user.certificate_path),
                    "chain": [str(p) for p in user.chain],
                    "serial": format(user.serial, "x"),
                    "module": self.softhsm_module,
                    "token_label": user.token_label,
                    "key_label": user.key_label,
                    "key_id": user.key_id.hex(),
                    "pin": user.read_pin(),
                    "pin_file": str(user.pin_file),
                    "status": status(user.serial),
                }
                for user in self.users.values()
            },
        }


# -- building it -------------------------------------------------------------------


def init_dev_environment(
    directory: Path,
    host: str = devpki.DEFAULT_HOST,
    port: int = devpki.DEFAULT_PORT,
    *,
    force: bool = False,
    module: str | None = None,
) -> DevEnvironment:
    """Build the development environment under ``directory``, or return the one already there.

    Idempotent: a complete environment is reused without touching a file, except pakat.yaml when
    this Pakat writes it differently.
    A half-built one (an interrupted run) keeps its CAs and rebuilds tokens,
    leaves and pakat.yaml; existing API keys are kept. ``force`` deletes
    everything init made and starts again. Asking for another host or port
    than an existing PKI was made for raises DevPKIError, since the URLs are
    inside its certificates.
    """
    directory = Path(directory).resolve()
    if force:
        _remove_generated(directory)
    else:
        env = _try_load(directory)
        if env is not None:
            _check_address(env.host, env.port, host, port, directory)
            if _complete(env):
                # pakat.yaml is derived from the environment: a newer Pakat brings its new sections
                # (the platform's seal, assurance levels …) to an environment an older one made.
                _write_deployment(env)
                return env

    pki_dir = directory / "devpki"
    pki: DevPKI | None = None
    if devpki.state_path(pki_dir).exists():
        pki = DevPKI.load(pki_dir)
        _check_address(pki.host, pki.port, host, port, directory)

    # A half-built token set cannot be trusted (PIN files may not match), so
    # the tokens are always made afresh here.
    hsm_dir = directory / "softhsm"
    if hsm_dir.exists():
        shutil.rmtree(hsm_dir)
    hsm = SoftHSM.create(hsm_dir, module)
    secrets_dir = directory / "secrets"
    secrets_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir.chmod(0o700)

    specs: dict[str, KeySpec] = {}
    for name, key_label in [*((o.id, SEAL_KEY_LABEL) for o in _ORGS), *((u.id, USER_KEY_LABEL) for u in _USERS)]:
        pin, so_pin = _digits(8), _digits(16)
        write_file(secrets_dir / f"{name}.pin", pin.encode() + b"\n", mode=0o600)
        write_file(secrets_dir / f"{name}.so-pin", so_pin.encode() + b"\n", mode=0o600)
        label = _token_label(name, key_label)
        hsm.init_token(label, pin, so_pin)
        specs[name] = KeySpec(label, key_label, secrets.token_bytes(8), pin)
    # The tokens make their keys in a child process while this one makes the
    # CA keys (the RSA-4096 root is the slow one): about a second saved.
    pending = hsm.start_key_generation(list(specs.values()))
    try:
        if pki is None:
            pki = DevPKI.create(pki_dir, host, port)
    except BaseException:
        pending.cancel()
        raise
    public_keys = pending.result()

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    issued: dict[str, x509.Certificate] = {}
    for org in _ORGS:
        profile = devpki.SEAL_GOVERNMENT if org.kind == "government" else devpki.SEAL_PRIVATE
        validity: dict[str, dt.datetime] = {}
        if org.status == EXPIRED:
            validity = {"not_before": now - dt.timedelta(days=730), "not_after": now - dt.timedelta(days=365)}
        elif org.status == REVOKED:
            validity = {"not_before": now - dt.timedelta(days=30)}
        cert = pki.issue(
            profile,
            SealSubject(org.name_fa, org.national_id, label=org.name_en),
            public_keys[specs[org.id].token_label],
            f"{org.id}-seal",
            **validity,
        )
        if org.status == REVOKED:
            pki.revoke(cert.serial_number, time=now - dt.timedelta(days=1), reason="keyCompromise")
        issued[org.id] = cert
    orgs_by_id = {o.id: o for o in _ORGS}
    for user in _USERS:
        affiliation = orgs_by_id[user.organisation].name_fa if user.organisation else None
        subject = PersonSubject(
            f"{user.given_name} {user.surname}",
            user.given_name,
            user.surname,
            user.national_code,
            title=user.title,
            organisation=affiliation,
        )
        issued[user.id] = pki.issue(user.profile, subject, public_keys[specs[user.id].token_label], user.id)
    hsm.store_certificates([(specs[name], cert) for name, cert in issued.items()])

    for org in _ORGS:
        key_file = secrets_dir / f"{org.id}.apikey"
        if not key_file.exists():
            write_file(key_file, secrets.token_urlsafe(32).encode() + b"\n", mode=0o600)

    env = _environment(directory, pki, hsm, specs, issued)
    _write_deployment(env)
    # Written last: its presence means the environment is complete.
    _write_manifest(env)
    return env


def load_dev_environment(directory: Path) -> DevEnvironment:
    """Reopen the environment :func:`init_dev_environment` made under ``directory``."""
    directory = Path(directory).resolve()
    path = _manifest_path(directory)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DevPKIError(f"no development environment in {directory}; run `pakat devpki init`") from None
    except (OSError, ValueError) as exc:
        raise DevPKIError(f"cannot read {path}: {exc}") from exc
    if raw.get("version") != ENVIRONMENT_VERSION:
        raise DevPKIError(f"{path}: unsupported version {raw.get('version')!r}")

    def p(value: str) -> Path:
        return directory / value

    return DevEnvironment(
        directory=directory,
        host=raw["host"],
        port=int(raw["port"]),
        deployment_path=p(raw["deployment"]),
        root_cert_path=p(raw["ca_certificates"][devpki.ROOT]),
        ca_cert_paths={slug: p(v) for slug, v in raw["ca_certificates"].items()},
        tsa_cert_path=p(raw["tsa_certificate"]),
        softhsm_module=raw["softhsm_module"],
        softhsm_conf=p(raw["softhsm_conf"]),
        organisations={o["id"]: _from_record(DemoOrganisation, o, directory) for o in raw["organisations"]},
        users={u["id"]: _from_record(DemoUser, u, directory) for u in raw["users"]},
    )


# -- internals -------------------------------------------------------------------------


def _try_load(directory: Path) -> DevEnvironment | None:
    try:
        return load_dev_environment(directory)
    except DevPKIError:
        return None  # nothing there yet, or an interrupted init


def _manifest_path(directory: Path) -> Path:
    return directory / "devpki" / "environment.json"


def _token_label(name: str, key_label: str) -> str:
    # Token labels are at most 32 characters in PKCS#11.
    label = f"{name}-seal" if key_label == SEAL_KEY_LABEL else name
    assert len(label) <= 32, label
    return label


def _digits(n: int) -> str:
    # Random per token: never a factory PIN such as 12345678.
    return "".join(secrets.choice("0123456789") for _ in range(n))


def _check_address(have_host: str, have_port: int, host: str, port: int, directory: Path) -> None:
    if (have_host, have_port) != (host, port):
        raise DevPKIError(
            f"the dev PKI in {directory} was made for {have_host}:{have_port}, whose URLs are inside its "
            f"certificates; init again with --force to rebuild it for {host}:{port}"
        )


def _complete(env: DevEnvironment) -> bool:
    """Whether every file the environment names is still there (cheap: no token is opened)."""
    files = [
        env.deployment_path,
        env.root_cert_path,
        env.tsa_cert_path,
        env.softhsm_conf,
        devpki.state_path(env.directory / "devpki"),
        *env.ca_cert_paths.values(),
    ]
    for org in env.organisations.values():
        files += [org.certificate_path, org.pin_file, org.so_pin_file, org.api_key_file]
    for user in env.users.values():
        files += [user.certificate_path, user.pin_file, user.so_pin_file]
    token_dir = env.softhsm_conf.parent / "tokens"
    tokens = [d for d in token_dir.iterdir() if d.is_dir()] if token_dir.is_dir() else []
    return all(f.exists() for f in files) and len(tokens) >= len(env.organisations) + len(env.users)


def _remove_generated(directory: Path) -> None:
    """Delete what init makes, and nothing else a developer may keep in the same folder."""
    for sub in ("devpki", "softhsm"):
        if (directory / sub).exists():
            shutil.rmtree(directory / sub)
    (directory / "pakat.yaml").unlink(missing_ok=True)
    for name in [*(o.id for o in _ORGS), *(u.id for u in _USERS)]:
        for suffix in (".pin", ".so-pin", ".apikey"):
            (directory / "secrets" / f"{name}{suffix}").unlink(missing_ok=True)


def _environment(
    directory: Path,
    pki: DevPKI,
    hsm: SoftHSM,
    specs: Mapping[str, KeySpec],
    issued: Mapping[str, x509.Certificate],
) -> DevEnvironment:
    secrets_dir = directory / "secrets"
    organisations = {}
    for org in _ORGS:
        profile = devpki.SEAL_GOVERNMENT if org.kind == "government" else devpki.SEAL_PRIVATE
        organisations[org.id] = DemoOrganisation(
            id=org.id,
            name_en=org.name_en,
            name_fa=org.name_fa,
            kind=org.kind,
            national_id=org.national_id,
            profile=profile,
            status=org.status,
            certificate_path=pki.cert_path(f"{org.id}-seal"),
            chain=pki.chain_paths(devpki.PROFILE_ISSUER[profile]),
            token_label=specs[org.id].token_label,
            key_label=specs[org.id].key_label,
            key_id=specs[org.id].key_id,
            pin_file=secrets_dir / f"{org.id}.pin",
            so_pin_file=secrets_dir / f"{org.id}.so-pin",
            api_key_file=secrets_dir / f"{org.id}.apikey",
            serial=issued[org.id].serial_number,
        )
    users = {
        user.id: DemoUser(
            id=user.id,
            kind=user.profile,
            name_fa=f"{user.given_name} {user.surname}",
            name_en=user.name_en,
            national_code=user.national_code,
            title=user.title,
            organisation=user.organisation,
            certificate_path=pki.cert_path(user.id),
            chain=pki.chain_paths(devpki.PROFILE_ISSUER[user.profile]),
            token_label=specs[user.id].token_label,
            key_label=specs[user.id].key_label,
            key_id=specs[user.id].key_id,
            pin_file=secrets_dir / f"{user.id}.pin",
            so_pin_file=secrets_dir / f"{user.id}.so-pin",
            serial=issued[user.id].serial_number,
        )
        for user in _USERS
    }
    return DevEnvironment(
        directory=directory,
        host=pki.host,
        port=pki.port,
        deployment_path=directory / "pakat.yaml",
        root_cert_path=pki.root.cert_path,
        ca_cert_paths={slug: pki.ca(slug).cert_path for slug in devpki.CA_SLUGS},
        tsa_cert_path=pki.tsa.cert_path,
        softhsm_module=hsm.module,
        softhsm_conf=hsm.conf_path,
        organisations=organisations,
        users=users,
    )


# How the dev PKI's (invented) policy OIDs classify signers; production reads its own from configuration.
# Assurance levels, lowest first: an independent person's certificate (bronze) is vouched for by the
# person alone, an employee's of a private company (silver) also by the company, and government staff's
# and every organisation seal's (gold) by the issuing body's own registration of the holder.
_DEV_ASSURANCE_LEVELS = ["bronze", "silver", "gold"]
_DEV_CLASSES = {
    devpki.PERSON_INDEPENDENT: ("person_independent", None, "bronze"),
    devpki.PERSON_GOVERNMENT: ("person_affiliated", "government", "gold"),
    devpki.PERSON_PRIVATE: ("person_affiliated", "private", "silver"),
    devpki.SEAL_PRIVATE: ("organisation_seal", "private", "gold"),
    devpki.SEAL_GOVERNMENT: ("organisation_seal", "government", "gold"),
}
_DEV_CLASSIFICATION = [
    {"kind": kind, "policy_oid": devpki.POLICY_OIDS[profile], **({"affiliation": aff} if aff else {}),
     "assurance_level": level}
    for profile, (kind, aff, level) in _DEV_CLASSES.items()
]


def _write_deployment(env: DevEnvironment) -> None:
    """pakat.yaml in the format of hsm_config.deployment, paths relative to the file."""

    def rel(path: Path) -> str:
        return str(path.relative_to(env.directory))

    root = load_certificate(env.root_cert_path)
    doc: dict[str, Any] = {
        "version": 1,
        "trust": {
            # Dev mode trusts the dev root beside the national one.
            "roots": [
                {"path": str(NATIONAL_ROOT_PATH), "sha256": NATIONAL_ROOT_SHA256},
                {"path": rel(env.root_cert_path), "sha256": root.fingerprint(hashes.SHA256()).hex()},
            ],
            "intermediates": [rel(p) for slug, p in env.ca_cert_paths.items() if slug != devpki.ROOT],
            "revocation_url_prefixes": [f"{env.base_url}/"],
        },
        "validation": {
            "revocation": "require",
            "assurance_levels": _DEV_ASSURANCE_LEVELS,
            "classification": _DEV_CLASSIFICATION,
        },
        "timestamping": {"url": env.tsa_url},
        "limits": {"max_pdf_bytes": DEFAULT_MAX_PDF_BYTES},
        "organisations": {
            org.id: {
                "name_en": org.name_en,
                "name_fa": org.name_fa,
                "seal": {
                    "module": env.softhsm_module,
                    "module_env": env.softhsm_env(),
                    "token_label": org.token_label,
                    "key_label": org.key_label,
                    "certificate": rel(org.certificate_path),
                    "chain": [rel(p) for p in org.chain],
                    "pin_file": rel(org.pin_file),
                },
            }
            for org in env.organisations.values()
        },
        # Every demo key is used by one demo platform; no webhook, since dev has no receiver for it.
        "api_keys": [
            {"sha256": hash_api_key(org.read_api_key()), "organisation": org.id, "platform": dict(_DEV_PLATFORM)}
            for org in env.organisations.values()
        ],
    }
    header = (
        "# Development deployment written by `pakat devpki init`: dev PKI, SoftHSM seal keys, demo API keys.\n"
        "# Not for production. PINs and API keys live in secrets/ (0600); this file holds only hashes.\n"
    )
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, default_flow_style=False, width=200)
    data = (header + body).encode("utf-8")
    if env.deployment_path.exists() and env.deployment_path.read_bytes() == data:
        return  # unchanged: reusing an environment touches no file
    write_file(env.deployment_path, data)


def _write_manifest(env: DevEnvironment) -> None:
    def rel(path: Path) -> str:
        return str(path.relative_to(env.directory))

    manifest = {
        "version": ENVIRONMENT_VERSION,
        "host": env.host,
        "port": env.port,
        "deployment": rel(env.deployment_path),
        "ca_certificates": {slug: rel(p) for slug, p in env.ca_cert_paths.items()},
        "tsa_certificate": rel(env.tsa_cert_path),
        "softhsm_module": env.softhsm_module,
        "softhsm_conf": rel(env.softhsm_conf),
        "organisations": [_to_record(o, env.directory) for o in env.organisations.values()],
        "users": [_to_record(u, env.directory) for u in env.users.values()],
    }
    write_file(
        _manifest_path(env.directory),
        json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8") + b"\n",
    )


# Manifest records: the demo dataclasses field by field, paths relative to D, bytes in hex.
_DECODERS: dict[str, Callable[[Any, Path], Any]] = {
    "Path": lambda value, directory: directory / value,
    "tuple[Path, ...]": lambda value, directory: tuple(directory / v for v in value),
    "bytes": lambda value, _directory: bytes.fromhex(value),
}


def _to_record(obj: DemoOrganisation | DemoUser, directory: Path) -> dict[str, Any]:
    def encode(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value.relative_to(directory))
        if isinstance(value, tuple):
            return [encode(v) for v in value]
        if isinstance(value, bytes):
            return value.hex()
        return value

    return {f.name: encode(getattr(obj, f.name)) for f in fields(obj)}


def _from_record(cls: type[_Record], raw: Mapping[str, Any], directory: Path) -> _Record:
    values = {}
    for f in fields(cls):
        # Field types are strings here (PEP 563), which is what _DECODERS is keyed by.
        decode = _DECODERS.get(str(f.type))
        values[f.name] = raw[f.name] if decode is None else decode(raw[f.name], directory)
    return cls(**values)


@contextmanager
def running_responders(env: DevEnvironment, log_path: Path, timeout: float = 20.0) -> Iterator[None]:
    """The environment's OCSP/CRL/TSA responders in a child process, answering, until the block ends.

    Raises :class:`DevPKIError` with the responders' log when they exit or stay silent.
    """
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devkit.cli", "serve", "--dir", str(env.directory)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            # OSError: not listening yet.
            with contextlib.suppress(OSError), urllib.request.urlopen(env.healthz_url, timeout=1) as resp:
                if resp.status == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {proc.returncode}" if proc.poll() is not None else f"silent for {timeout}s"
                raise DevPKIError(f"responders {state}:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
