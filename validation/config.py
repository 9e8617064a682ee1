"""What a validation trusts and demands: anchors, policy and certificate classification.

Loaded certificates and plain values only; reading YAML and pinning fingerprints
is ``hsm_config``'s job, so the CLI, the web app and the tests can build a
configuration however they need.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from validation.model import Affiliation, SignerKind


class RevocationMode(enum.StrEnum):
    """How hard revocation data is demanded."""

    REQUIRE = "require"  # no answer for a certificate: INDETERMINATE
    IF_AVAILABLE = "if-available"  # checked when data is embedded or fetchable, else noted
    SKIP = "skip"  # not checked at all (offline triage)


# SHA-1 is broken for collisions; a signature made with it is accepted only when a
# timestamp proves it existed before this date (EN 319 102-1's POE rule).
DEFAULT_DIGEST_SUNSETS: dict[str, datetime] = {
    "sha1": datetime(2017, 1, 1, tzinfo=UTC),
    "md5": datetime(2009, 1, 1, tzinfo=UTC),
}


@dataclass(frozen=True)
class ValidationPolicy:
    """The constraints a signature must meet besides being intact and trusted."""

    allowed_digests: tuple[str, ...] = (
        "sha256",
        "sha384",
        "sha512",
        "sha3_256",
        "sha3_384",
        "sha3_512",
        "shake256",  # Ed448's digest
    )
    # Digests not allowed for new signatures, but acceptable with proof of existence before the date.
    digest_sunsets: dict[str, datetime] = field(default_factory=lambda: dict(DEFAULT_DIGEST_SUNSETS))
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256
    revocation: RevocationMode = RevocationMode.REQUIRE
    clock_skew: timedelta = timedelta(minutes=5)
    fetch_timeout: float = 5.0  # seconds, per online revocation request
    fetch_max_bytes: int = 1024 * 1024

    def with_revocation(self, mode: RevocationMode | None) -> ValidationPolicy:
        """This policy, with the revocation mode overridden when one is given."""
        return self if mode is None else replace(self, revocation=mode)

    def as_dict(self) -> dict[str, Any]:
        """The policy as the report prints it."""
        return {
            "allowed_digests": list(self.allowed_digests),
            "digest_sunsets": {k: v.isoformat() for k, v in sorted(self.digest_sunsets.items())},
            "min_rsa_bits": self.min_rsa_bits,
            "min_ec_bits": self.min_ec_bits,
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
class ValidationConfig:
    """Trust anchors (already pinned), extra intermediates, online fetching and policy."""

    trust_roots: Sequence[x509.Certificate]
    intermediates: Sequence[x509.Certificate] = ()
    revocation_url_prefixes: Sequence[str] = ()  # online fetching only from these; empty: never
    policy: ValidationPolicy = field(default_factory=ValidationPolicy)
    classification: Sequence[ClassificationRule] = ()
    max_pdf_bytes: int = 150 * 1024 * 1024

    def with_extra_anchors(self, anchors: Sequence[x509.Certificate]) -> ValidationConfig:
        """This configuration, also trusting ``anchors`` (``--trust`` for one run)."""
        if not anchors:
            return self
        return replace(self, trust_roots=(*self.trust_roots, *anchors))
