"""Revocation data for the signer's own chains: fetched, verified, and reused while fresh.

Sealing a tender's worth of documents asks the same responders the same
question thousands of times. An OCSP response is reused while it is younger
than ``max_age`` and before its nextUpdate; a CRL until its nextUpdate. Every
answer is verified (signature by the issuer or its delegated responder,
matching serial) before it is cached or embedded.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Sequence
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


class RevocationSource:
    """Answers "is this certificate revoked?" with verified, cached OCSP or CRL data."""

    def __init__(self, http: HttpClient, *, ocsp_max_age: timedelta = DEFAULT_OCSP_MAX_AGE) -> None:
        self.http = http
        self.ocsp_max_age = ocsp_max_age
        self._statuses: dict[tuple[bytes, int], RevocationStatus] = {}
        self._crl: dict[str, x509.CertificateRevocationList] = {}
        self._crl_der: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def status(self, cert: x509.Certificate, issuer: x509.Certificate) -> RevocationStatus:
        """The certificate's status, from OCSP when it names a responder, else from its CRL."""
        now = datetime.now(UTC)
        key = (issuer.fingerprint(hashes.SHA256()), cert.serial_number)
        cached = self._statuses.get(key)
        if cached is not None and self._fresh(cached, now):
            return cached
        with self._lock:  # one fetch per certificate even when many threads miss at once
            cached = self._statuses.get(key)
            if cached is not None and self._fresh(cached, now):
                return cached
            status = self._fetch(cert, issuer, now)
            self._statuses[key] = status
            return status

    def _fresh(self, status: RevocationStatus, now: datetime) -> bool:
        if status.next_update is not None and now >= status.next_update:
            return False
        return status.kind == "crl" or now - status.this_update <= self.ocsp_max_age

    def _fetch(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> RevocationStatus:
        failures: list[str] = []
        for url in _ocsp_urls(cert):
            try:
                return self._ask_ocsp(url, cert, issuer, now)
            except (FetchError, ValueError) as exc:
                failures.append(str(exc))
        for url in _crl_urls(cert):
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
        data = self.http.post(
            url, request.public_bytes(Encoding.DER), "application/ocsp-request", "application/ocsp-response"
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
        crl = self._crl.get(url)
        if crl is None or crl.next_update_utc is None or crl.next_update_utc <= now:
            data = self.http.get(url, "application/pkix-crl")
            crl = x509.load_der_x509_crl(data)
            if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                raise ValueError(f"CRL {url}: not signed by {issuer.subject.rfc4514_string()}")
            if crl.next_update_utc is not None and crl.next_update_utc <= now:
                raise ValueError(f"CRL {url}: already stale")
            self._crl[url], self._crl_der[url] = crl, data
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
            der=self._crl_der[url],
            this_update=crl.last_update_utc,
            next_update=crl.next_update_utc,
        )

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
