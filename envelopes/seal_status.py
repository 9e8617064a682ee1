"""An organisation's seal as its administrators see it: is the HSM key reachable, and how long is it valid.

The HSM answer is the readiness probe's (:class:`envelopes.operations.Readiness`):
each check has a short timeout, and the answer is shared for a few seconds with
``/readyz``, so a console page reloaded in a loop cannot hammer the HSM. The
certificate is read from the file sealing reads (no HSM, no PIN): subject,
issuer, serial, validity, days to expiry, and its state against
``PAKAT_CERT_WARN_DAYS`` (``ok``; ``warning`` within that many days of its end;
``fail`` once expired or not yet valid).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from envelopes.operations import FAIL, CertificateExpiry, Check, Readiness
from envelopes.seal_keys import days_to_expiry
from hsm_config.deployment import Deployment, load_certificate
from pakat import errors
from pakat.dates import iso_utc

#: Said when a probe named in the deployment is missing from the readiness answer (it never should be).
_NOT_CHECKED = ("بررسی نشد.", "Not checked.")


@dataclass(frozen=True)
class SealCertificate:
    """The seal certificate's facts and its expiry state."""

    subject: str
    issuer: str
    serial: str
    sha256: str
    not_before: datetime
    not_after: datetime
    days_to_expiry: int
    state: str  # ok | warning | fail
    message_fa: str
    message_en: str

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "issuer": self.issuer, "serial": self.serial, "sha256": self.sha256,
                "not_before": iso_utc(self.not_before), "not_after": iso_utc(self.not_after),
                "days_to_expiry": self.days_to_expiry, "state": self.state, "message_fa": self.message_fa,
                "message_en": self.message_en}


@dataclass(frozen=True)
class SealStatusView:
    """One organisation's seal: the HSM key's answer and the certificate (or why it cannot be read)."""

    organisation: str
    name_fa: str
    name_en: str
    token_label: str
    key_label: str
    hsm_reachable: bool
    hsm_message_fa: str
    hsm_message_en: str
    hsm_detail: str | None  # a stable code (HSM_TOKEN_NOT_FOUND, TIMEOUT …), never a secret
    certificate: SealCertificate | None
    certificate_error: str | None
    warn_days: int
    checked_at: datetime

    @property
    def state(self) -> str:
        """``fail`` if the key does not answer or the certificate is unusable, ``warning`` close to expiry."""
        if not self.hsm_reachable or self.certificate is None:
            return FAIL
        return self.certificate.state

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation, "name_fa": self.name_fa, "name_en": self.name_en,
            "token_label": self.token_label, "key_label": self.key_label, "state": self.state,
            "hsm": {"reachable": self.hsm_reachable, "message_fa": self.hsm_message_fa,
                    "message_en": self.hsm_message_en, "detail": self.hsm_detail},
            "certificate": self.certificate.as_dict() if self.certificate is not None else None,
            "certificate_error": self.certificate_error, "warn_days": self.warn_days,
            "checked_at": iso_utc(self.checked_at),
        }


class SealStatuses:
    """The seal-status use case over one process's readiness checks."""

    def __init__(self, deployment: Deployment, readiness: Readiness) -> None:
        self.deployment = deployment
        self.readiness = readiness

    def of(self, organisation: str) -> SealStatusView:
        """``organisation``'s seal now (UNKNOWN_ORGANISATION if the deployment has none such)."""
        org = self.deployment.organisation(organisation)
        report = self.readiness.report()
        checks = {check.name: check for check in report.checks}
        hsm: Check | None = checks.get(f"hsm:{organisation}")
        cert_check = checks.get(f"certificate:seal:{organisation}")
        certificate: SealCertificate | None = None
        error: str | None = None
        try:
            cert = load_certificate(org.seal.certificate)
        except (OSError, ValueError) as exc:
            # What kind of failure, not its message: that may quote a path the administrator need not see.
            error = f"{errors.SEAL_CERT_UNREADABLE.code}: {type(exc).__name__}"
        else:
            expiry = CertificateExpiry(f"seal:{organisation}", cert.not_valid_before_utc, cert.not_valid_after_utc)
            fa, en = (cert_check.message_fa, cert_check.message_en) if cert_check else _NOT_CHECKED
            certificate = SealCertificate(
                subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
                serial=format(cert.serial_number, "x"),
                sha256=hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
                not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
                days_to_expiry=days_to_expiry(cert, report.checked_at),
                state=expiry.status(report.checked_at, self.readiness.warn_days), message_fa=fa, message_en=en,
            )
        hsm_fa, hsm_en = (hsm.message_fa, hsm.message_en) if hsm else _NOT_CHECKED
        return SealStatusView(
            organisation=organisation, name_fa=org.name_fa, name_en=org.name_en,
            token_label=org.seal.token_label, key_label=org.seal.key_label,
            hsm_reachable=hsm is not None and hsm.status != FAIL, hsm_message_fa=hsm_fa, hsm_message_en=hsm_en,
            hsm_detail=hsm.detail if hsm else None, certificate=certificate, certificate_error=error,
            warn_days=self.readiness.warn_days, checked_at=report.checked_at,
        )
