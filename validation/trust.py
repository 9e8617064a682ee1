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
when the policy allows it, only from allow-listed URL prefixes (a
certificate's own AIA/CDP addresses are never trusted on their own), and only
for a path that reaches a pinned root, built and checked without fetching
anything: a stranger's chain makes no request at all.

Certificates come from attackers as often as from CAs, and asn1crypto parses
them lazily, so a broken field surfaces wherever it is first read. Reading is
made lenient where only finding a path depends on it, never where trust does:

* names are compared as RFC 5280 asks (RFC 4518 string preparation); a value
  asn1crypto cannot prepare (a Persian name ending in a Latin ``[Stamp]``,
  which its bidi rule rejects although RFC 4518 ignores bidi; an undecodable
  string) is compared by its exact DER instead, never more loosely;
* a document's certificate that cannot even be indexed (an unparseable name,
  key or extension) is left out of path building;
* whatever else a certificate makes the path validator raise is a failed
  chain (``"general"``) with the reason, never an exception;
* a path that validates is trusted only when every certificate on it but the
  anchor has readable extensions, each present once (:func:`extensions_problem`).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
from validation.budget import TimeExceeded, check_time
from validation.config import RevocationMode, ValidationConfig
from validation.identity import name_text, subject_text, to_cryptography
from validation.model import RevocationReport, RevocationStatus

_CACHE_SIZE = 4096
_MAX_PATH = 10  # certificates from a leaf to its root: national chains have three
log = logging.getLogger(__name__)


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
        self._roots = _usable("trust root", (load_certificate(_der(c)) for c in config.trust_roots))
        self._root_keys = {hashlib.sha256(r.dump()).digest() for r in self._roots}
        self._intermediates = _usable("intermediate", (load_certificate(_der(c)) for c in config.intermediates))
        self._policy = config.policy
        self._algorithm_policy = algorithm_policy
        prefixes = tuple(config.revocation_url_prefixes)
        self._online = (
            RevocationSource(
                HttpClient(
                    prefixes, timeout=config.policy.fetch_timeout, max_response=config.policy.fetch_max_bytes
                ),
                failure_ttl=config.policy.fetch_failure_seconds,
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
        outcome = self._validate_safely(cert, evidence, moment, mode, key_usage, extended_key_usage, retroactive)
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
            other_certs=[*self._intermediates, *(c for c in evidence.certificates if _registrable(c))],
            ocsps=list(evidence.ocsps),
            crls=list(evidence.crls),
            moment=moment,
            allow_fetching=False,  # online data is fetched by us, from allow-listed responders only
            revocation_mode="hard-fail" if mode is RevocationMode.REQUIRE else "soft-fail",
            retroactive_revinfo=retroactive,
            time_tolerance=self._policy.clock_skew,
            algorithm_usage_policy=self._algorithm_policy,
        )

    def _validate_safely(
        self,
        cert: asn1_x509.Certificate,
        evidence: Evidence,
        moment: datetime,
        mode: RevocationMode,
        key_usage: frozenset[str],
        extended_key_usage: frozenset[str],
        retroactive: bool,
    ) -> ChainOutcome:
        """:meth:`_validate`, with whatever a malformed certificate makes it raise turned into a failed chain."""
        try:
            harden_names(cert)
            return self._validate(cert, evidence, moment, mode, key_usage, extended_key_usage, retroactive)
        except TimeExceeded:
            raise  # no answer at all (and none cached): the validation ends with its error
        except Exception as exc:  # attacker-made certificates: any parse failure is an untrusted chain
            message = f"the certificate could not be read: {type(exc).__name__}: {exc}"
            return self._failed("general", message, cert, evidence, mode, False)

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
        not_after = cert.not_valid_after
        if not isinstance(not_after, datetime):
            unreadable = "the certificate's validity cannot be read"
            return self._failed("general", unreadable, cert, evidence, mode, fetched)
        if mode is not RevocationMode.SKIP and moment > not_after + self._policy.clock_skew:
            # An expired certificate is "out of bounds" whatever its revocation data says (certvalidator
            # would report the missing fresh revocation data first): check the rest of the path alone.
            bounds = self._validate(
                cert, evidence, moment, RevocationMode.SKIP, key_usage, extended_key_usage, False
            )
            if bounds.failure not in ("expired", None):
                return bounds
            expired = f"the certificate expired at {not_after.isoformat()}"
            return self._failed("expired", expired, cert, evidence, mode, fetched)
        not_before = cert.not_valid_before
        if mode is not RevocationMode.SKIP and isinstance(not_before, datetime) \
                and moment < not_before - self._policy.clock_skew:
            # Not yet valid at the moment: "out of bounds" too (EN 319 102-1, 5.2.6.4 step 7), whatever
            # revocation data there is (none can speak of a time before the certificate existed).
            bounds = self._validate(
                cert, evidence, moment, RevocationMode.SKIP, key_usage, extended_key_usage, False
            )
            if bounds.failure is not None:
                return bounds
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
        for member in certs:
            if hashlib.sha256(member.dump()).digest() in self._root_keys:
                continue  # the anchor is trusted as configured, whatever its extensions say
            problem = extensions_problem(member)
            if problem is not None:
                return self._failed("general", f"{_who(member)}: {problem}", cert, evidence, mode, fetched)
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
        try:
            certs = self._best_effort_path(cert, evidence)
        except Exception:  # the report's path is a courtesy: a certificate too broken to follow ends it
            certs = (cert,)
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
        while len(path) < 10 and not same_name(path[-1].subject, path[-1].issuer):
            issuer = _find_issuer(path[-1], candidates)
            if issuer is None or any(issuer.dump() == c.dump() for c in path):
                break
            path.append(issuer)
        return tuple(path)

    def _anchored_path(
        self, cert: asn1_x509.Certificate, evidence: Evidence
    ) -> tuple[asn1_x509.Certificate, ...] | None:
        """``cert``'s path up to a pinned root, each link's signature checked, found without any fetch; or None.

        Only such a path is worth asking responders about: a chain of a stranger's
        certificates would otherwise make the service send whatever requests its
        certificates ask for (under the allow-listed prefixes) and learn nothing.
        """
        candidates = [*self._intermediates, *evidence.certificates, *self._roots]
        path = [cert]
        while hashlib.sha256(path[-1].dump()).digest() not in self._root_keys:
            if len(path) >= _MAX_PATH or same_name(path[-1].subject, path[-1].issuer):
                return None
            issuer = _find_issuer(path[-1], candidates)
            if issuer is None or any(issuer.dump() == c.dump() for c in path):
                return None
            path.append(issuer)
        for member, signer in itertools.pairwise(path):
            # Raises when the named issuer did not sign it: a look-alike name proves nothing.
            to_cryptography(member).verify_directly_issued_by(to_cryptography(signer))
        return tuple(path)

    def _fetch_missing(self, cert: asn1_x509.Certificate, evidence: Evidence) -> Evidence:
        """Online answers for chain members the document carries none for (allow-listed responders only).

        Only for a path that reaches a pinned root (:meth:`_anchored_path`).
        """
        if self._online is None:
            return Evidence()
        try:
            anchored = self._anchored_path(cert, evidence)
        except Exception:  # a certificate too broken to follow, or a link whose signature does not verify
            return Evidence()
        if anchored is None:
            return Evidence()
        ocsps: list[asn1_ocsp.OCSPResponse] = []
        crls: list[asn1_crl.CertificateList] = []
        for member, issuer in itertools.pairwise(anchored):
            if (
                _matching_ocsp(member, evidence.ocsps) is not None
                or _matching_crl(member, evidence.crls) is not None
            ):
                continue
            check_time()  # a responder may be slow: each question starts only within the validation's time
            try:
                status = self._online.status(to_cryptography(member), to_cryptography(issuer))
            except PakatError:
                continue  # unreachable, refused or not allow-listed: judged as "no data"
            except Exception:  # a certificate the strict parser refuses, or an answer that does not parse
                continue
            try:
                if status.kind == "ocsp":
                    ocsps.append(asn1_ocsp.OCSPResponse.load(status.der))
                else:
                    crls.append(asn1_crl.CertificateList.load(status.der))
            except ValueError:
                continue
        return Evidence(ocsps=tuple(ocsps), crls=tuple(crls))


def revocation_report(
    cert: asn1_x509.Certificate,
    path: Sequence[asn1_x509.Certificate],
    evidence: Evidence,
    mode: RevocationMode,
    fetched: bool,
) -> RevocationReport:
    """What the evidence says of the leaf (its cryptography was checked by certvalidator).

    Data that cannot be read says nothing: the status is unknown, and a time
    that is not a real datetime (asn1crypto gives year 0 as another type) is None.
    """
    if mode is RevocationMode.SKIP:
        return RevocationReport(RevocationStatus.NOT_CHECKED, None, None, None, None, None)
    try:
        return _revocation_report(cert, evidence, "online" if fetched else "embedded")
    except Exception:
        return RevocationReport(RevocationStatus.UNKNOWN, None, None, None, None, None)


def _revocation_report(cert: asn1_x509.Certificate, evidence: Evidence, source: str) -> RevocationReport:
    single = _matching_ocsp(cert, evidence.ocsps)
    if single is not None:
        produced = _moment(single["this_update"].native)
        status = single["cert_status"]
        if status.name == "revoked":
            info = status.chosen
            reason = _reason(info["revocation_reason"].native)
            return RevocationReport(
                RevocationStatus.REVOKED, source, "OCSP", produced, _moment(info["revocation_time"].native), reason
            )
        if status.name == "good":
            return RevocationReport(RevocationStatus.GOOD, source, "OCSP", produced, None, None)
    crl_entry = _matching_crl(cert, evidence.crls)
    if crl_entry is not None:
        crl, entry = crl_entry
        produced = _moment(crl["tbs_cert_list"]["this_update"].native)
        if entry is not None:
            reason = _reason(entry.crl_reason_value.native) if entry.crl_reason_value is not None else None
            return RevocationReport(
                RevocationStatus.REVOKED, source, "CRL", produced, _moment(entry["revocation_date"].native), reason
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
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError):
            continue
    return None


def _name_hash(cert: asn1_x509.Certificate, algorithm: str) -> bytes:
    return hashlib.new(algorithm, cert.issuer.dump()).digest()


def _matching_crl(
    cert: asn1_x509.Certificate, crls: Sequence[asn1_crl.CertificateList]
) -> tuple[asn1_crl.CertificateList, asn1_crl.RevokedCertificate | None] | None:
    for crl in crls:
        try:
            if not same_name(crl["tbs_cert_list"]["issuer"], cert.issuer):
                continue
            for entry in crl["tbs_cert_list"]["revoked_certificates"]:
                if entry["user_certificate"].native == cert.serial_number:
                    return crl, entry
            return crl, None
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError):
            continue
    return None


def _find_issuer(
    cert: asn1_x509.Certificate, candidates: Iterable[asn1_x509.Certificate]
) -> asn1_x509.Certificate | None:
    for candidate in candidates:
        try:
            if same_name(candidate.subject, cert.issuer):
                return candidate
        except Exception:  # a candidate too broken to name is no issuer
            continue
    return None


def load_certificate(der: bytes) -> asn1_x509.Certificate:
    """A certificate from DER, as lenient as asn1crypto: what a strict parser refuses may still be an anchor.

    Raises :class:`ValueError` when the outer structure is not a certificate.
    """
    cert = asn1_x509.Certificate.load(der)
    cert["tbs_certificate"]["subject_public_key_info"]  # the outer structure parsed now, not while building a path
    return cert


def load_certificates(data: bytes) -> list[asn1_x509.Certificate]:
    """Every certificate in a PEM file (one or more blocks), or the one DER certificate in ``data``.

    For ``pakat validate --trust``: certificates that ``cryptography`` refuses
    (a negative serial, a DN value of the wrong length, a VisibleString holding
    UTF-8) load here; whether they can anchor a chain is the path validator's call.
    Raises :class:`ValueError` when nothing in ``data`` is a certificate.
    """
    from asn1crypto import pem

    if pem.detect(data):
        ders = [der for kind, _, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
    else:
        ders = [data]
    if not ders:
        raise ValueError("no CERTIFICATE block")
    return [load_certificate(der) for der in ders]


def extensions_problem(cert: asn1_x509.Certificate) -> str | None:
    """Why a certificate's extensions cannot be relied on, or None when each is readable and present once.

    Every extension asn1crypto knows is parsed to the end (no trailing bytes);
    one it does not know is opaque to every check, so only its presence counts.
    RFC 5280 forbids two instances of an extension, and readers disagree on
    which one counts (asn1crypto takes the last), so a repeated one is refused.
    """
    try:
        extensions = cert["tbs_certificate"]["extensions"]
        seen: set[str] = set()
        for extension in extensions:
            oid = extension["extn_id"].dotted
            name = extension["extn_id"].native
            if oid in seen:
                return f"the {name} extension appears more than once"
            seen.add(oid)
            extension["critical"].native  # noqa: B018 - must be a readable BOOLEAN
            value = extension["extn_value"]
            if name != oid:  # a known extension: read it all
                parsed = value.parsed
                parsed.native  # noqa: B018
                if len(parsed.dump()) != len(value.contents):
                    return f"the {name} extension has bytes after its value"
    except Exception as exc:
        return f"an extension cannot be read ({type(exc).__name__})"
    return None


def _usable(what: str, certs: Iterable[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    """The configured certificates the path builder can index; the others are logged and left out."""
    usable = []
    for cert in certs:
        if _registrable(cert):
            usable.append(cert)
        else:
            log.warning("configured %s %s cannot be indexed for path building; left out",
                        what, hashlib.sha256(cert.dump()).hexdigest())
    return usable


def _registrable(cert: asn1_x509.Certificate) -> bool:
    """Whether the path builder can index ``cert``: its names, serial, key and key identifiers read."""
    try:
        harden_names(cert)
        cert.issuer_serial  # noqa: B018
        cert.public_key.sha1  # noqa: B018
        cert.subject.hashable  # noqa: B018
        cert.issuer.hashable  # noqa: B018
        cert.key_identifier  # noqa: B018 - reads every known extension
        cert.authority_key_identifier  # noqa: B018
    except Exception:
        return False
    return True


def harden_names(cert: asn1_x509.Certificate) -> None:
    """Let asn1crypto compare the certificate's names where its string preparation gives up.

    asn1crypto prepares every attribute value by RFC 4518 before comparing,
    but raises for a value mixing right-to-left and left-to-right letters
    (RFC 4518 section 2.5 ignores bidi) or one it cannot decode. Such a value
    is given its exact DER, with a prefix no prepared string has (prepared
    strings have no NUL), as its prepared form: it then equals only a
    byte-identical value. asn1crypto caches the prepared form in ``_prepped``,
    which is what is set here; names that prepare normally are untouched. The
    name's ``human_friendly`` form, which the path builder puts in its
    messages, falls back to :func:`validation.identity.name_text` likewise.
    """
    for name in (cert.subject, cert.issuer):
        if getattr(name, "_human_friendly", "") is None:  # how the path builder names a certificate in messages
            try:
                name.human_friendly  # noqa: B018
            except ValueError:
                name._human_friendly = name_text(name)
        for rdn in name.chosen:
            for ntv in rdn:
                if getattr(ntv, "_prepped", "") is not None:
                    continue  # already prepared (or not asn1crypto 1.x: leave it alone)
                try:
                    ntv.prepped_value  # noqa: B018
                except ValueError:
                    ntv._prepped = "\x00" + ntv["value"].dump().hex()


def same_name(a: asn1_x509.Name, b: asn1_x509.Name) -> bool:
    """RFC 5280 name equality; names asn1crypto cannot prepare are equal only when byte-identical."""
    try:
        return bool(a == b)
    except Exception:
        try:
            return bool(a.dump() == b.dump())
        except Exception:
            return False


def _moment(value: object) -> datetime | None:
    """A datetime from asn1crypto, or None for anything else (year 0 comes as ``extended_datetime``)."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _reason(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _who(cert: asn1_x509.Certificate) -> str:
    return subject_text(cert)


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
