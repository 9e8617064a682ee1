"""Chains to a pinned root, with revocation, judged once and reused while valid.

Path building and validation (pyhanko-certvalidator) is the costly part of
validating a signature, and a batch sealed by one organisation asks the same
question again and again: the same certificate, the same embedded OCSP
answers, within the same minute. :class:`ChainJudge` answers each distinct
question once. The cache key holds everything the answer depends on: the
certificate, every candidate certificate and revocation answer on offer, the
required key usage, the revocation mode and the validation moment to the
minute; so a reused answer is one the validator would have given anyway.

Revocation data comes from the document first. Online fetching happens only
when the policy allows it and only from allow-listed URL prefixes (a
certificate's own AIA/CDP addresses are never trusted on their own).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.policy_decl import AlgorithmUsagePolicy

from pakat.errors import PakatError
from signer.http import HttpClient
from signer.revocation import RevocationSource
from validation.config import RevocationMode, ValidationConfig
from validation.identity import to_cryptography
from validation.model import RevocationReport, RevocationStatus

_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Evidence:
    """What a document offers for path building: certificates, OCSP responses and CRLs."""

    certificates: tuple[asn1_x509.Certificate, ...] = ()
    ocsps: tuple[asn1_ocsp.OCSPResponse, ...] = ()
    crls: tuple[asn1_crl.CertificateList, ...] = ()

    def plus(self, other: Evidence) -> Evidence:
        return Evidence(self.certificates + other.certificates, self.ocsps + other.ocsps, self.crls + other.crls)

    def fingerprint(self) -> frozenset[bytes]:
        parts: Iterable[bytes] = (
            *(c.dump() for c in self.certificates),
            *(o.dump() for o in self.ocsps),
            *(c.dump() for c in self.crls),
        )
        return frozenset(hashlib.sha256(p).digest() for p in parts)


@dataclass(frozen=True)
class ChainOutcome:
    """The answer for one certificate at one moment."""

    trusted: bool
    path: tuple[asn1_x509.Certificate, ...]  # leaf first, anchor last; empty when no chain was built
    failure: str | None  # "no_chain", "revoked", "ca_revoked", "expired", "not_yet_valid",
    #                      "no_revocation", "usage", "algorithm", "general"
    message: str | None
    revocation: RevocationReport
    revoked_at: datetime | None = None
    fetched_online: bool = False
    extra_notes: tuple[str, ...] = field(default=())


class ChainJudge:
    """Validates certificate paths against the configured roots, with a cache."""

    def __init__(self, config: ValidationConfig, algorithm_policy: AlgorithmUsagePolicy | None = None) -> None:
        self._roots = [asn1_x509.Certificate.load(_der(c)) for c in config.trust_roots]
        self._root_keys = {hashlib.sha256(r.dump()).digest() for r in self._roots}
        self._intermediates = [asn1_x509.Certificate.load(_der(c)) for c in config.intermediates]
        self._policy = config.policy
        self._algorithm_policy = algorithm_policy
        prefixes = tuple(config.revocation_url_prefixes)
        self._online = (
            RevocationSource(
                HttpClient(
                    prefixes, timeout=config.policy.fetch_timeout, max_response=config.policy.fetch_max_bytes
                )
            )
            if prefixes
            else None
        )
        self._cache: OrderedDict[tuple[object, ...], ChainOutcome] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def roots(self) -> Sequence[asn1_x509.Certificate]:
        return self._roots

    def judge(
        self,
        cert: asn1_x509.Certificate,
        evidence: Evidence,
        moment: datetime,
        *,
        mode: RevocationMode,
        key_usage: frozenset[str] = frozenset(),
        extended_key_usage: frozenset[str] = frozenset(),
        retroactive: bool = False,
    ) -> ChainOutcome:
        """Whether ``cert`` chains to a root and is unrevoked at ``moment``, from ``evidence`` first."""
        key = (
            hashlib.sha256(cert.dump()).digest(),
            evidence.fingerprint(),
            moment.replace(second=0, microsecond=0),
            mode,
            key_usage,
            extended_key_usage,
            retroactive,
        )
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return cached
        outcome = self._validate(cert, evidence, moment, mode, key_usage, extended_key_usage, retroactive)
        with self._lock:
            self.misses += 1
            self._cache[key] = outcome
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return outcome

    # -- internals --

    def _context(
        self, evidence: Evidence, moment: datetime, mode: RevocationMode, retroactive: bool
    ) -> ValidationContext:
        return ValidationContext(
            trust_roots=self._roots,
            other_certs=[*self._intermediates, *evidence.certificates],
            ocsps=list(evidence.ocsps),
            crls=list(evidence.crls),
            moment=moment,
            allow_fetching=False,  # online data is fetched by us, from allow-listed responders only
            revocation_mode="hard-fail" if mode is RevocationMode.REQUIRE else "soft-fail",
            retroactive_revinfo=retroactive,
            time_tolerance=self._policy.clock_skew,
            algorithm_usage_policy=self._algorithm_policy,
        )

    def _validate(
        self,
        cert: asn1_x509.Certificate,
        evidence: Evidence,
        moment: datetime,
        mode: RevocationMode,
        key_usage: frozenset[str],
        extended_key_usage: frozenset[str],
        retroactive: bool,
    ) -> ChainOutcome:
        fetched = False
        if mode is not RevocationMode.SKIP and self._online is not None:
            extra = self._fetch_missing(cert, evidence)
            if extra.ocsps or extra.crls:
                evidence = evidence.plus(extra)
                fetched = True
        if mode is not RevocationMode.SKIP and moment > cert.not_valid_after + self._policy.clock_skew:
            # An expired certificate is "out of bounds" whatever its revocation data says (certvalidator
            # would report the missing fresh revocation data first): check the rest of the path alone.
            bounds = self._validate(
                cert, evidence, moment, RevocationMode.SKIP, key_usage, extended_key_usage, False
            )
            if bounds.failure not in ("expired", None):
                return bounds
            expired = f"the certificate expired at {cert.not_valid_after.isoformat()}"
            return self._failed("expired", expired, cert, evidence, mode, fetched)
        if mode is RevocationMode.SKIP:
            evidence = Evidence(evidence.certificates)
        context = self._context(evidence, moment, mode, retroactive)
        validator = CertificateValidator(cert, validation_context=context)
        try:
            path = asyncio.run(
                validator.async_validate_usage(
                    key_usage=set(key_usage), extended_key_usage=set(extended_key_usage) or None
                )
            )
        except PathBuildingError as exc:
            return self._failed("no_chain", str(exc), cert, evidence, mode, fetched)
        except RevokedError as exc:
            failure = "revoked" if exc.is_ee_cert else "ca_revoked"
            return self._failed(failure, str(exc), cert, evidence, mode, fetched)
        except ExpiredError as exc:
            return self._failed("expired", str(exc), cert, evidence, mode, fetched)
        except NotYetValidError as exc:
            return self._failed("not_yet_valid", str(exc), cert, evidence, mode, fetched)
        except InsufficientRevinfoError as exc:
            return self._failed("no_revocation", str(exc), cert, evidence, mode, fetched)
        except DisallowedAlgorithmError as exc:
            return self._failed("algorithm", str(exc), cert, evidence, mode, fetched)
        except InvalidCertificateError as exc:
            # A self-signed leaf that is not a trust root has no chain; other refusals are constraints.
            failure = "no_chain" if cert.self_signed != "no" else "usage"
            return self._failed(failure, str(exc), cert, evidence, mode, fetched)
        except (PathValidationError, ValidationError) as exc:
            return self._failed("general", str(exc), cert, evidence, mode, fetched)
        certs = tuple(path.iter_certs(include_root=True))
        return ChainOutcome(
            trusted=True,
            path=_leaf_first(certs, cert),
            failure=None,
            message=None,
            revocation=revocation_report(cert, certs, evidence, mode, fetched),
            fetched_online=fetched,
        )

    def _failed(
        self,
        failure: str,
        message: str,
        cert: asn1_x509.Certificate,
        evidence: Evidence,
        mode: RevocationMode,
        fetched: bool,
    ) -> ChainOutcome:
        certs = self._best_effort_path(cert, evidence)
        report = revocation_report(cert, certs, evidence, mode, fetched)
        return ChainOutcome(
            trusted=False,
            path=certs,
            failure=failure,
            message=message[:300],
            revocation=report,
            revoked_at=report.revoked_at,
            fetched_online=fetched,
        )

    def _best_effort_path(
        self, cert: asn1_x509.Certificate, evidence: Evidence
    ) -> tuple[asn1_x509.Certificate, ...]:
        """For the report when validation failed: issuers found by name, up to a root or a dead end."""
        candidates = [*self._intermediates, *evidence.certificates, *self._roots]
        path = [cert]
        while len(path) < 10 and path[-1].subject != path[-1].issuer:
            issuer = _find_issuer(path[-1], candidates)
            if issuer is None or any(issuer.dump() == c.dump() for c in path):
                break
            path.append(issuer)
        return tuple(path)

    def _fetch_missing(self, cert: asn1_x509.Certificate, evidence: Evidence) -> Evidence:
        """Online answers for chain members the document carries none for (allow-listed responders only)."""
        if self._online is None:
            return Evidence()
        path = self._best_effort_path(cert, evidence)
        ocsps: list[asn1_ocsp.OCSPResponse] = []
        crls: list[asn1_crl.CertificateList] = []
        for member, issuer in itertools.pairwise(path):
            if (
                _matching_ocsp(member, evidence.ocsps) is not None
                or _matching_crl(member, evidence.crls) is not None
            ):
                continue
            try:
                status = self._online.status(to_cryptography(member), to_cryptography(issuer))
            except PakatError:
                continue  # unreachable, refused or not allow-listed: judged as "no data"
            if status.kind == "ocsp":
                ocsps.append(asn1_ocsp.OCSPResponse.load(status.der))
            else:
                crls.append(asn1_crl.CertificateList.load(status.der))
        return Evidence(ocsps=tuple(ocsps), crls=tuple(crls))


def revocation_report(
    cert: asn1_x509.Certificate,
    path: Sequence[asn1_x509.Certificate],
    evidence: Evidence,
    mode: RevocationMode,
    fetched: bool,
) -> RevocationReport:
    """What the evidence says of the leaf (its cryptography was checked by certvalidator)."""
    if mode is RevocationMode.SKIP:
        return RevocationReport(RevocationStatus.NOT_CHECKED, None, None, None, None, None)
    source = "online" if fetched else "embedded"
    single = _matching_ocsp(cert, evidence.ocsps)
    if single is not None:
        produced = single["this_update"].native
        status = single["cert_status"]
        if status.name == "revoked":
            info = status.chosen
            reason = info["revocation_reason"].native if info["revocation_reason"].native else None
            return RevocationReport(
                RevocationStatus.REVOKED, source, "OCSP", produced, info["revocation_time"].native, reason
            )
        if status.name == "good":
            return RevocationReport(RevocationStatus.GOOD, source, "OCSP", produced, None, None)
    crl_entry = _matching_crl(cert, evidence.crls)
    if crl_entry is not None:
        crl, entry = crl_entry
        produced = crl["tbs_cert_list"]["this_update"].native
        if entry is not None:
            reason = entry.crl_reason_value.native if entry.crl_reason_value is not None else None
            return RevocationReport(
                RevocationStatus.REVOKED, source, "CRL", produced, entry["revocation_date"].native, reason
            )
        return RevocationReport(RevocationStatus.GOOD, source, "CRL", produced, None, None)
    return RevocationReport(RevocationStatus.UNKNOWN, None, None, None, None, None)


def _matching_ocsp(
    cert: asn1_x509.Certificate, ocsps: Sequence[asn1_ocsp.OCSPResponse]
) -> asn1_ocsp.SingleResponse | None:
    for response in ocsps:
        try:
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                cert_id = single["cert_id"]
                if cert_id["serial_number"].native == cert.serial_number and cert_id[
                    "issuer_name_hash"
                ].native == _name_hash(cert, cert_id["hash_algorithm"]["algorithm"].native):
                    return single
        except (KeyError, ValueError, TypeError):
            continue
    return None


def _name_hash(cert: asn1_x509.Certificate, algorithm: str) -> bytes:
    return hashlib.new(algorithm, cert.issuer.dump()).digest()


def _matching_crl(
    cert: asn1_x509.Certificate, crls: Sequence[asn1_crl.CertificateList]
) -> tuple[asn1_crl.CertificateList, asn1_crl.RevokedCertificate | None] | None:
    for crl in crls:
        try:
            if crl["tbs_cert_list"]["issuer"] != cert.issuer:
                continue
            for entry in crl["tbs_cert_list"]["revoked_certificates"]:
                if entry["user_certificate"].native == cert.serial_number:
                    return crl, entry
            return crl, None
        except (KeyError, ValueError, TypeError):
            continue
    return None


def _find_issuer(
    cert: asn1_x509.Certificate, candidates: Iterable[asn1_x509.Certificate]
) -> asn1_x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject == cert.issuer:
            return candidate
    return None


def _leaf_first(
    certs: Sequence[asn1_x509.Certificate], leaf: asn1_x509.Certificate
) -> tuple[asn1_x509.Certificate, ...]:
    ordered = list(certs)
    if ordered and ordered[0].dump() != leaf.dump():
        ordered.reverse()
    return tuple(ordered)


def _der(cert: object) -> bytes:
    public_bytes = getattr(cert, "public_bytes", None)
    if public_bytes is not None:
        from cryptography.hazmat.primitives.serialization import Encoding

        return bytes(public_bytes(Encoding.DER))
    dump = getattr(cert, "dump", None)
    if dump is not None:
        return bytes(dump())
    raise TypeError(f"not a certificate: {type(cert).__name__}")
