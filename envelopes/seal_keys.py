"""Seal keys of a deployment's organisations over their life: generate, request, install, list.

An organisation's seal is configured as today (``organisations.<id>.seal`` in
the deployment YAML: module, token, key label, certificate file, PIN source);
this is the one way. The key is generated in the token named there, the
request signed by it, and the issued certificate, once checked
(:func:`signer.seal_keys.check_certificate`), is stored on the token beside the
key and written to the certificate file the deployment names, which is what
sealing reads. A key under another label (a rollover while the old
certificate still seals) gets its certificate written beside that file as
``<file stem>.<label>.pem``; point ``key_label`` and ``certificate`` at them
when switching over, then restart the web processes and workers.

Generation and installation are appended to the audit log (never a PIN).
:func:`seal_certificate_expiry` is the plain fact the expiry warnings use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from envelopes.audit import SEAL_KEY_GENERATED, SEAL_KEY_INSTALLED, AuditLog
from envelopes.database import Database
from hsm_config.deployment import Deployment, Organisation, load_certificate, load_certificates
from pakat import errors
from pakat.errors import AccessError, InputError, PakatError
from pakat.files import write_atomically
from signer.chain import TrustStore
from signer.seal_keys import (
    KeyOnToken,
    SealSubject,
    TokenKey,
    certification_request,
    check_certificate,
    generate_key,
    key_on_token,
    public_key_der,
    read_certificate,
    store_certificate,
)

_KEY_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_CERTIFICATE_BYTES = 64 * 1024


@dataclass(frozen=True)
class InstalledSeal:
    """A certificate installed for a seal key: where it went and what it says."""

    organisation: str
    key: KeyOnToken
    certificate: x509.Certificate
    path: Path
    active: bool  # the deployment's key label: sealing uses it after a restart

    def as_dict(self) -> dict[str, Any]:
        return {"organisation": self.organisation, **self.key.as_dict(), **certificate_facts(self.certificate),
                "path": str(self.path), "active": self.active}


@dataclass(frozen=True)
class SealStatus:
    """One organisation's seal as ``pakat seal-key list`` shows it."""

    organisation: str
    token_label: str
    key_label: str
    certificate: x509.Certificate | None
    certificate_error: str | None
    key: KeyOnToken | None
    key_error: str | None

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"organisation": self.organisation, "token_label": self.token_label,
                                "key_label": self.key_label}
        if self.certificate is not None:
            body.update(certificate_facts(self.certificate, now))
        else:
            body["certificate_error"] = self.certificate_error
        if self.key is not None:
            body["key"] = self.key.as_dict()
            if self.certificate is not None:
                body["key_matches_certificate"] = public_key_der(self.certificate) == self.key.public_key_der()
        elif self.key_error is not None:
            body["key_error"] = self.key_error
        return body


def certificate_facts(certificate: x509.Certificate, now: datetime | None = None) -> dict[str, Any]:
    """Subject, serial, validity and days left of a certificate, as listings show them."""
    return {
        "subject": certificate.subject.rfc4514_string(),
        "serial": format(certificate.serial_number, "x"),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "days_to_expiry": days_to_expiry(certificate, now),
        "sha256": hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
    }


def days_to_expiry(certificate: x509.Certificate, now: datetime | None = None) -> int:
    """Whole days until ``certificate`` expires (negative once it has)."""
    left = certificate.not_valid_after_utc - (now or datetime.now(UTC))
    return left.days


def seal_certificate_expiry(deployment: Deployment) -> dict[str, datetime | None]:
    """Each organisation's seal certificate's not_after, from the files sealing reads; None: unreadable.

    No HSM and no PIN involved: cheap enough for a readiness check or a metrics scrape.
    """
    found: dict[str, datetime | None] = {}
    for org_id, org in deployment.organisations.items():
        try:
            found[org_id] = load_certificate(org.seal.certificate).not_valid_after_utc
        except (OSError, ValueError):
            found[org_id] = None
    return found


class SealKeys:
    """The seal-key use cases of one deployment; ``database`` holds the audit log."""

    def __init__(self, deployment: Deployment, database: Database,
                 prompt_pin: Callable[[Organisation], str] | None = None) -> None:
        self.deployment = deployment
        self.database = database
        # Asked when the seal has no PIN source set (a terminal's no-echo prompt); never a command-line value.
        self.prompt_pin = prompt_pin

    def _pin(self, org: Organisation) -> Callable[[], str]:
        def read() -> str:
            try:
                return org.seal.read_pin()
            except AccessError as error:
                if error.kind is not errors.PIN_NOT_CONFIGURED or self.prompt_pin is None:
                    raise
                return self.prompt_pin(org)

        return read

    def _where(self, org: Organisation, key_label: str | None) -> TokenKey:
        label = org.seal.key_label if key_label is None else key_label.strip()
        if not _KEY_LABEL.fullmatch(label):
            raise InputError(errors.REQUEST_INVALID, "key label: letters, digits, '.', '_' or '-', at most 64")
        seal = org.seal
        return TokenKey(seal.module, seal.token_label, label, self._pin(org), seal.module_env)

    def generate(self, org_id: str, algorithm: str, *, actor: str, key_label: str | None = None) -> KeyOnToken:
        """A new key pair in the organisation's token (SEAL_KEY_EXISTS if the label is taken)."""
        org = self.deployment.organisation(org_id)
        where = self._where(org, key_label)
        key = generate_key(where, algorithm)
        AuditLog(self.database).record(
            SEAL_KEY_GENERATED, actor=actor, subject=f"seal:{org_id}/{where.key_label}"[:255],
            details={"token": where.token_label, **key.as_dict()},
        )
        return key

    def request(self, org_id: str, *, national_id: str, organisation_fa: str | None = None,
                common_name: str | None = None, key_label: str | None = None) -> x509.CertificateSigningRequest:
        """The PKCS#10 request for the key; O and CN default to the organisation's Persian and English names."""
        org = self.deployment.organisation(org_id)
        subject = SealSubject(organisation_fa or org.name_fa, national_id, common_name or org.name_en)
        return certification_request(self._where(org, key_label), subject)

    def install(self, org_id: str, certificate_data: bytes, *, actor: str, chain_data: bytes = b"",
                key_label: str | None = None) -> InstalledSeal:
        """Check the issued certificate against the key and the trust roots, then store and record it.

        Refused (nothing changes): SEAL_CERT_UNREADABLE, SEAL_CERT_NOT_FOR_KEY, SEAL_CERT_VALIDITY_REFUSED,
        SEAL_CERT_USAGE_REFUSED, SEAL_CERT_CHAIN_REFUSED.
        """
        if len(certificate_data) > MAX_CERTIFICATE_BYTES or len(chain_data) > 8 * MAX_CERTIFICATE_BYTES:
            raise InputError(errors.REQUEST_TOO_LARGE, "a certificate is a few kilobytes")
        org = self.deployment.organisation(org_id)
        where = self._where(org, key_label)
        certificate = read_certificate(certificate_data)
        chain = _certificates(chain_data)
        key = key_on_token(where)
        trust = TrustStore(
            [anchor.load() for anchor in self.deployment.trust_roots],
            [c for p in (*self.deployment.intermediates, *org.seal.chain) for c in _readable(p)],
        )
        check_certificate(certificate, key, trust, chain)
        active = where.key_label == org.seal.key_label
        path = org.seal.certificate if active else org.seal.certificate.with_name(
            f"{org.seal.certificate.stem}.{where.key_label}.pem")
        store_certificate(where, certificate)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Public, so readable by whoever runs the service; replaced atomically: a seal never reads half a file.
        write_atomically(path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
        installed = InstalledSeal(org_id, key, certificate, path, active)
        facts = certificate_facts(certificate)
        AuditLog(self.database).record(
            SEAL_KEY_INSTALLED, actor=actor, subject=f"seal:{org_id}/{where.key_label}"[:255],
            details={"subject": facts["subject"], "serial": facts["serial"], "not_after": facts["not_after"],
                     "sha256": facts["sha256"], "path": path.name, "active": active},
        )
        return installed

    def list(self, *, with_keys: bool = True, organisation: str | None = None) -> list[SealStatus]:
        """Every organisation's seal (or one's): certificate facts, and the key on the token when ``with_keys``.

        A seal whose certificate or token cannot be read is listed with the error's code, not skipped.
        """
        found = []
        for org_id, org in self.deployment.organisations.items():
            if organisation is not None and org_id != organisation:
                continue
            certificate: x509.Certificate | None = None
            certificate_error = key_error = None
            key: KeyOnToken | None = None
            try:
                certificate = load_certificate(org.seal.certificate)
            except (OSError, ValueError):
                certificate_error = "SEAL_CERT_UNREADABLE"
            if with_keys:
                try:
                    key = key_on_token(self._where(org, None))
                except PakatError as error:
                    key_error = error.code
            found.append(SealStatus(org_id, org.seal.token_label, org.seal.key_label, certificate,
                                    certificate_error, key, key_error))
        return found


def _readable(path: Path) -> list[x509.Certificate]:
    try:
        return load_certificates(path)
    except (OSError, ValueError):
        return []


def _certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in PEM (one or more) or DER ``data``; SEAL_CERT_UNREADABLE otherwise."""
    if not data.strip():
        return []
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError:
            pass
    return [read_certificate(data)]
