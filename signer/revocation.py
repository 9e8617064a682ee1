"""Revocation data for the signer's own chains: fetched, verified, and reused while fresh.

Sealing a tender's worth of documents asks the same responders the same
question thousands of times. An OCSP response is reused while it is younger
than ``max_age`` and before its nextUpdate; a CRL until its nextUpdate. Every
answer is verified (signature by the issuer or its delegated responder,
matching serial) before it is cached or embedded.

Certificates come from strangers too (the validator asks about the chains of
uploaded documents), so what one certificate can make this source do is
bounded: at most :data:`MAX_OCSP_URLS` OCSP and :data:`MAX_CRL_URLS` CRL
addresses are tried per certificate, and a failure may be remembered for
``failure_ttl`` seconds (per question and per address), so a responder that is
down or slow is waited for once, not once per request. No lock is held while
a responder is asked: one question (or one CRL address) is fetched by one
thread at a time while the others asking it wait for that answer, and every
other question proceeds.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from pakat import errors
from pakat.errors import ServiceUnavailable
from signer.http import FetchError, HttpClient

DEFAULT_OCSP_MAX_AGE = timedelta(minutes=5)
#: Addresses tried per certificate: a CA names one or two; a hostile certificate may name hundreds.
MAX_OCSP_URLS = 2
MAX_CRL_URLS = 2
# A response whose thisUpdate is slightly ahead of our clock is still usable.
_CLOCK_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class RevocationStatus:
    """What the issuer says of one certificate, and the DER that proves it."""

    revoked: bool
    revoked_at: datetime | None
    reason: str | None
    kind: str  # "ocsp" or "crl"
    der: bytes
    this_update: datetime
    next_update: datetime | None


@dataclass(frozen=True)
class ValidationData:
    """What B-LT puts in the DSS: certificates, OCSP responses and CRLs (all DER)."""

    certificates: tuple[bytes, ...]
    ocsp_responses: tuple[bytes, ...]
    crls: tuple[bytes, ...]

    def merged(self, other: ValidationData) -> ValidationData:
        return ValidationData(
            tuple(dict.fromkeys(self.certificates + other.certificates)),
            tuple(dict.fromkeys(self.ocsp_responses + other.ocsp_responses)),
            tuple(dict.fromkeys(self.crls + other.crls)),
        )


class SingleFlight:
    """One thread at a time per key; other keys proceed. Holds no lock while the work runs.

    ``with flights.one(key):`` waits while another thread works on ``key`` and
    then runs alone for it; the caller looks in its cache again inside.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()  # only around the table, never around the work
        self._running: dict[object, tuple[threading.Lock, list[int]]] = {}

    @contextlib.contextmanager
    def one(self, key: object) -> Iterator[None]:
        with self._guard:
            lock, users = self._running.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._running[key]


class _Failures:
    """Failures remembered for a while: a responder that is down is not asked again at once."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._until: dict[object, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: object) -> str | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._until.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._until[key]
                return None
            return entry[1]

    def put(self, key: object, message: str) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._until) >= _MAX_REMEMBERED_FAILURES:
                now = time.monotonic()
                self._until = {k: v for k, v in self._until.items() if v[0] > now}
                if len(self._until) >= _MAX_REMEMBERED_FAILURES:
                    self._until.clear()  # a flood of distinct failures: forget rather than grow
            self._until[key] = (time.monotonic() + self.ttl, message)


_MAX_REMEMBERED_FAILURES = 4096


class RevocationSource:
    """Answers "is this certificate revoked?" with verified, cached OCSP or CRL data."""

    def __init__(
        self,
        http: HttpClient,
        *,
        ocsp_max_age: timedelta = DEFAULT_OCSP_MAX_AGE,
        failure_ttl: float = 0.0,
    ) -> None:
        """``failure_ttl``: seconds a failed question or address is answered from memory (0: never)."""
        self.http = http
        self.ocsp_max_age = ocsp_max_age
        self._statuses: dict[tuple[bytes, int], RevocationStatus] = {}
        self._crl: dict[str, tuple[x509.CertificateRevocationList, bytes]] = {}
        self._failed = _Failures(failure_ttl)
        self._flights = SingleFlight()

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> RevocationStatus:
        """The certificate's status, from OCSP when it names a responder, else from its CRL."""
        now = datetime.now(UTC)
        key = (issuer.fingerprint(hashes.SHA256()), cert.serial_number)
        cached = self._statuses.get(key)
        if cached is not None and self._fresh(cached, now):
            return cached
        # One fetch per certificate even when many threads miss at once; other certificates proceed.
        with self._flights.one(("status", key)):
            cached = self._statuses.get(key)
            if cached is not None and self._fresh(cached, now):
                return cached
            failed = self._failed.get(("status", key))
            if failed is not None:
                raise ServiceUnavailable(errors.REVOCATION_UNAVAILABLE, failed)
            try:
                status = self._fetch(cert, issuer, now)
            except ServiceUnavailable as exc:
                self._failed.put(("status", key), exc.detail or "")
                raise
            self._statuses[key] = status
            return status

    def _fresh(self, status: RevocationStatus, now: datetime) -> bool:
        if status.next_update is not None and now >= status.next_update:
            return False
        return status.kind == "crl" or now - status.this_update <= self.ocsp_max_age

    def _fetch(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> RevocationStatus:
        failures: list[str] = []
        for url in _ocsp_urls(cert)[:MAX_OCSP_URLS]:
            try:
                return self._ask_ocsp(url, cert, issuer, now)
            except (FetchError, ValueError) as exc:
                failures.append(str(exc))
        for url in _crl_urls(cert)[:MAX_CRL_URLS]:
            try:
                return self._from_crl(url, cert, issuer, now)
            except (FetchError, ValueError) as exc:
                failures.append(str(exc))
        subject = cert.subject.rfc4514_string()
        raise ServiceUnavailable(
            errors.REVOCATION_UNAVAILABLE, f"{subject}: " + ("; ".join(failures) or "no OCSP or CRL address")
        )

    def _ask_ocsp(
        self, url: str, cert: x509.Certificate, issuer: x509.Certificate, now: datetime
    ) -> RevocationStatus:
        # SHA-1 here only names the certificate (RFC 5019 profile); it secures nothing.
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        data = self._send(
            url, lambda: self.http.post(
                url, request.public_bytes(Encoding.DER), "application/ocsp-request", "application/ocsp-response"
            )
        )
        response = ocsp.load_der_ocsp_response(data)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise ValueError(f"OCSP {url}: {response.response_status.name}")
        single = next((r for r in response.responses if r.serial_number == cert.serial_number), None)
        if single is None:
            raise ValueError(f"OCSP {url}: no answer for the serial asked")
        _verify_ocsp_signature(response, issuer)
        this_update = single.this_update_utc
        if this_update > now + _CLOCK_SKEW:
            raise ValueError(f"OCSP {url}: thisUpdate in the future")
        next_update = single.next_update_utc
        if next_update is not None and next_update <= now:
            raise ValueError(f"OCSP {url}: response already stale")
        if single.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
            raise ValueError(f"OCSP {url}: certificate unknown to the responder")
        revoked = single.certificate_status == ocsp.OCSPCertStatus.REVOKED
        return RevocationStatus(
            revoked=revoked,
            revoked_at=single.revocation_time_utc if revoked else None,
            reason=single.revocation_reason.name if revoked and single.revocation_reason else None,
            kind="ocsp",
            der=data,
            this_update=this_update,
            next_update=next_update,
        )

    def _from_crl(
        self, url: str, cert: x509.Certificate, issuer: x509.Certificate, now: datetime
    ) -> RevocationStatus:
        crl, der = self._crl_at(url, now)
        if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise ValueError(f"CRL {url}: not signed by {issuer.subject.rfc4514_string()}")
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        reason = None
        if entry is not None:
            with contextlib.suppress(x509.ExtensionNotFound):
                reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
        return RevocationStatus(
            revoked=entry is not None,
            revoked_at=entry.revocation_date_utc if entry is not None else None,
            reason=reason,
            kind="crl",
            der=der,
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
        )

    def _crl_at(self, url: str, now: datetime) -> tuple[x509.CertificateRevocationList, bytes]:
        """The CRL at ``url``, downloaded once while it is current, whoever asks (each checks its issuer)."""
        known = self._crl.get(url)
        if known is not None and known[0].next_update_utc is not None and known[0].next_update_utc > now:
            return known
        with self._flights.one(("crl", url)):
            known = self._crl.get(url)
            if known is not None and known[0].next_update_utc is not None and known[0].next_update_utc > now:
                return known
            data = self._send(url, lambda: self.http.get(url, "application/pkix-crl"))
            crl = x509.load_der_x509_crl(data)
            if crl.next_update_utc is not None and crl.next_update_utc <= now:
                raise ValueError(f"CRL {url}: already stale")
            self._crl[url] = (crl, data)
            return crl, data

    def _send(self, url: str, request: Callable[[], bytes]) -> bytes:
        """``request()`` to ``url``, unless the address failed a moment ago (then FetchError at once)."""
        failed = self._failed.get(("url", url))
        if failed is not None:
            raise FetchError(failed)
        try:
            return request()
        except FetchError as exc:
            self._failed.put(("url", url), str(exc))
            raise

    def validation_data(self, chain: Sequence[x509.Certificate]) -> ValidationData:
        """Certificates and revocation data for every link of ``[leaf, …, root]``."""
        ocsps: list[bytes] = []
        crls: list[bytes] = []
        for cert, issuer in itertools.pairwise(chain):
            status = self.status(cert, issuer)
            (ocsps if status.kind == "ocsp" else crls).append(status.der)
        certs = tuple(c.public_bytes(Encoding.DER) for c in chain)
        return ValidationData(certs, tuple(ocsps), tuple(crls))


def _verify_ocsp_signature(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
    """Signed by the issuer itself, or by a responder certificate the issuer delegated to."""
    signer = issuer
    if (response.responder_name is not None and response.responder_name != issuer.subject) or (
        response.responder_key_hash is not None and response.responder_key_hash != _key_hash(issuer)
    ):
        delegated = next((c for c in response.certificates if _is_delegated_responder(c, issuer)), None)
        if delegated is None:
            raise ValueError("OCSP response not signed by the issuer or a responder it delegated to")
        signer = delegated
    algorithm = response.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, hashes.SHA1):
        raise ValueError("OCSP response signed with a refused digest")
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        else:
            raise ValueError("unsupported OCSP signer key")
    except InvalidSignature:
        raise ValueError("OCSP response signature does not verify") from None


def _key_hash(cert: x509.Certificate) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _is_delegated_responder(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        cert.verify_directly_issued_by(issuer)
    except (x509.ExtensionNotFound, InvalidSignature, ValueError, TypeError):
        return False
    return ExtendedKeyUsageOID.OCSP_SIGNING in eku


def _ocsp_urls(cert: x509.Certificate) -> list[str]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]


def _crl_urls(cert: x509.Certificate) -> list[str]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or []
        if isinstance(name, x509.UniformResourceIdentifier)
    ]
