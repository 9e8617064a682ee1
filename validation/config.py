"""What a validation trusts and demands: anchors, policy and certificate classification.

Loaded certificates and plain values only; reading YAML and pinning fingerprints
is ``hsm_config``'s job, so the CLI, the web app and the tests can build a
configuration however they need.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509

from validation.model import Affiliation, SignerKind
from validation.policy import DEFAULT_POLICY, PolicyRules, load_policy


class RevocationMode(enum.StrEnum):
    """How hard revocation data is demanded."""

    REQUIRE = "require"  # no answer for a certificate: INDETERMINATE
    IF_AVAILABLE = "if-available"  # checked when data is embedded or fetchable, else noted
    SKIP = "skip"  # not checked at all (offline triage)


@dataclass(frozen=True)
class ValidationPolicy:
    """What a signature must meet besides being intact and trusted: the policy file, and how to get evidence."""

    rules: PolicyRules = field(default_factory=lambda: load_policy(DEFAULT_POLICY))
    revocation: RevocationMode = RevocationMode.REQUIRE
    clock_skew: timedelta = timedelta(minutes=5)
    fetch_timeout: float = 5.0  # seconds, per online revocation request
    fetch_max_bytes: int = 1024 * 1024
    # A responder that failed is not asked the same again for this long: a slow or dead one is waited
    # for once a minute, not by every validation.
    fetch_failure_seconds: float = 60.0

    def with_revocation(self, mode: RevocationMode | None) -> ValidationPolicy:
        """This policy, with the revocation mode overridden when one is given."""
        return self if mode is None else replace(self, revocation=mode)

    def with_rules(self, rules: PolicyRules | None) -> ValidationPolicy:
        """This policy under another policy file's rules, when one is given."""
        return self if rules is None else replace(self, rules=rules)

    def as_dict(self) -> dict[str, Any]:
        """The policy as the report prints it: the file (id, version, SHA-256, rules) and the run's settings."""
        return {
            **self.rules.as_dict(),
            "revocation": self.revocation.value,
            "clock_skew_seconds": int(self.clock_skew.total_seconds()),
        }


@dataclass(frozen=True)
class ClassificationRule:
    """One rule mapping certificates to a signer kind.

    A rule matches when every condition it sets holds: the issuing CA's SHA-256
    (``issuer_sha256``) and/or a certificate policy OID (``policy_oid``). The
    national policy OIDs are not public, so rules come only from configuration.
    """

    kind: SignerKind
    issuer_sha256: str | None = None
    policy_oid: str | None = None
    affiliation: Affiliation | None = None
    assurance_level: str | None = None
    # Organisation seals are often marked "[Stamp]" in the CN; a rule may require it.
    requires_stamp_marker: bool = False


@dataclass(frozen=True)
class ValidationLimits:
    """What one document may hold before the validator refuses it (PDF_TOO_COMPLEX) instead of judging it.

    Each is a multiplier of the work a validation does, and anyone may upload a
    document: a signature is checked, its chain built and what changed after it
    analysed (pages drawn) once per signature; every DSS entry and every
    certificate a CMS carries is offered to every chain built. The defaults are
    far above what signing practice produces (a bid envelope carries a few
    signatures; an LTA document renewed for decades some tens of revisions).
    """

    max_signatures: int = 100  # signatures and document timestamps, each value once
    max_signature_fields: int = 1000  # filled signature fields (several may show one value)
    max_revisions: int = 500  # incremental updates
    max_dss_entries: int = 2000  # certificates, OCSP responses and CRLs in the DSS together
    max_certificates_per_signature: int = 100  # in one signature's CMS
    max_timestamps_per_signature: int = 10  # signature timestamp tokens on one signature
    max_compared_pages: int = 200  # pages drawn per signature; more, and an unclear change is disallowed

    def as_dict(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class ValidationConfig:
    """Trust anchors (already pinned), extra intermediates, online fetching and policy."""

    # cryptography's certificates, or asn1crypto's for ones cryptography refuses (pakat validate --trust)
    trust_roots: Sequence[x509.Certificate | asn1_x509.Certificate]
    intermediates: Sequence[x509.Certificate | asn1_x509.Certificate] = ()
    revocation_url_prefixes: Sequence[str] = ()  # online fetching only from these; empty: never
    policy: ValidationPolicy = field(default_factory=ValidationPolicy)
    policies: Mapping[str, PolicyRules] = field(default_factory=dict)  # named policy files a caller may choose
    classification: Sequence[ClassificationRule] = ()
    max_pdf_bytes: int = 150 * 1024 * 1024
    limits: ValidationLimits = field(default_factory=ValidationLimits)

    def with_extra_anchors(self, anchors: Sequence[x509.Certificate | asn1_x509.Certificate]) -> ValidationConfig:
        """This configuration, also trusting ``anchors`` (``--trust`` for one run)."""
        if not anchors:
            return self
        return replace(self, trust_roots=(*self.trust_roots, *anchors))
