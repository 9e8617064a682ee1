"""HTTP responders of the dev PKI: OCSP, CRLs, an RFC 3161 TSA, CA certificates and a health check.

One :class:`http.server.ThreadingHTTPServer` (HTTP/1.1, keep-alive) serves::

    POST /ocsp/<ca>            application/ocsp-request -> application/ocsp-response
    GET  /ocsp/<ca>/<base64>   the same, RFC 6960 appendix A.1 GET form
    GET  /crl/<ca>.crl         DER CRL, nextUpdate one day on
    POST /tsa                  application/timestamp-query -> application/timestamp-reply
    GET  /certs/<name>.cer     DER certificate of a CA or of the TSA
    GET  /healthz              {"status": "ok"}

These responders run beside the signing benchmarks on small machines, so the
per-request work is kept to parsing the request and one RSA signature:
certificates, responder IDs, CertID hashes, algorithm identifiers and the
signed attributes that never change are DER-encoded once per load, and the
responses are assembled from those pieces by hand. ``state.json`` is polled
(at most once a second) so revocations made while serving show up at once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from asn1crypto import algos, cms, core, tsp
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from devkit import devpki
from devkit.devpki import Authority, DevPKI, IssuedCertificate

log = logging.getLogger(__name__)

OCSP_NEXT_UPDATE = dt.timedelta(hours=1)
#: How long a response to a request without nonce may be served again.
OCSP_CACHE_SECONDS = 60.0
CRL_NEXT_UPDATE = dt.timedelta(days=1)
#: A CRL older than this is rebuilt on the next fetch, so lastUpdate stays recent.
CRL_REBUILD_AFTER = dt.timedelta(hours=1)
MAX_BODY = 64 * 1024
STATE_POLL_SECONDS = 1.0
#: Imprint algorithms the TSA accepts, with their digest sizes. SHA-1 is refused (badAlg).
TSA_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}

# -- DER by hand ------------------------------------------------------------------


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _len(len(content)) + content


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _set(*parts: bytes) -> bytes:
    # DER orders SET OF by encoding.
    return _tlv(0x31, b"".join(sorted(parts)))


def _int(value: int) -> bytes:
    # Non-negative only: one spare bit keeps the sign bit clear.
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _gentime(value: dt.datetime) -> bytes:
    return _tlv(0x18, value.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _oid(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


_SHA256_RSA = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": None}).dump()
_RSA = algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15", "parameters": None}).dump()
_SHA256 = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_OCSP_BASIC = _oid("1.3.6.1.5.5.7.48.1.1")
_OCSP_NONCE = "1.3.6.1.5.5.7.48.1.2"
_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
_TST_INFO = _oid("1.2.840.113549.1.9.16.1.4")
_ATTR_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
_OCSP_GOOD = b"\x80\x00"
_OCSP_UNKNOWN = b"\x82\x00"
# OCSPResponseStatus values (RFC 6960 §4.2.1) as complete error responses.
_OCSP_MALFORMED = _seq(b"\x0a\x01\x01")
_OCSP_INTERNAL_ERROR = _seq(b"\x0a\x01\x02")
_OCSP_UNAUTHORIZED = _seq(b"\x0a\x01\x06")
_CRL_REASON_CODES = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
_PKCS1 = padding.PKCS1v15()
_OCSP_HASHES: dict[str, Callable[[bytes], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
# TSA serial numbers: microseconds since the epoch at start-up, then counting
# up; unique across restarts unless a run issues more than a million a second.
_tsa_serials = itertools.count(time.time_ns() // 1000)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- one CA, pre-encoded -----------------------------------------------------------------


class _CA:
    """A CA's OCSP and CRL service with everything constant encoded once."""

    def __init__(self, authority: Authority, issued: Iterable[IssuedCertificate]) -> None:
        self.authority = authority
        self.issued = {rec.serial: rec for rec in issued}
        cert = authority.certificate
        name_der = cert.subject.public_bytes()
        key_der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        # CertID matching (RFC 6960 §4.1.1): hashes of the issuer's DN and of its public key bits,
        # under whichever algorithm the client chose.
        self.cert_id_hashes = {
            name: (fn(name_der).digest(), fn(key_der).digest()) for name, fn in _OCSP_HASHES.items()
        }
        # ResponderID byKey [2] EXPLICIT KeyHash (SHA-1 of the key bits).
        self.responder_id = _tlv(0xA2, _tlv(0x04, hashlib.sha1(key_der).digest()))
        self._cache: dict[bytes, tuple[float, bytes]] = {}
        self._crl: tuple[dt.datetime, bytes] | None = None
        self._crl_lock = threading.Lock()

    # -- OCSP --

    def ocsp(self, request_der: bytes) -> bytes:
        """A DER OCSPResponse for ``request_der``, signed by this CA."""
        try:
            request = asn1_ocsp.OCSPRequest.load(request_der)
            tbs = request["tbs_request"]
            nonce: bytes | None = None
            extensions = tbs["request_extensions"]
            if not isinstance(extensions, core.Void):
                for ext in extensions:
                    if ext["extn_id"].dotted == _OCSP_NONCE:
                        # RFC 8954: a nonce is 1 to 32 octets.
                        if not 2 < len(ext["extn_value"].contents) <= 34:
                            return _OCSP_MALFORMED
                        nonce = ext.dump()
            singles = []
            for item in tbs["request_list"]:
                cert_id = item["req_cert"]
                algorithm = cert_id["hash_algorithm"]["algorithm"].native
                expected = self.cert_id_hashes.get(algorithm)
                if expected is None or expected != (
                    cert_id["issuer_name_hash"].native,
                    cert_id["issuer_key_hash"].native,
                ):
                    # Not our certificate: this CA is not authoritative for it.
                    return _OCSP_UNAUTHORIZED
                singles.append((cert_id.dump(), int(cert_id["serial_number"].native)))
        except (ValueError, TypeError, KeyError):
            return _OCSP_MALFORMED
        if not singles:
            return _OCSP_MALFORMED

        if nonce is None:
            hit = self._cache.get(request_der)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        now = _now()
        this_update, next_update = _gentime(now), _tlv(0xA0, _gentime(now + OCSP_NEXT_UPDATE))
        responses = b"".join(
            _seq(cert_id_der, self._status(serial), this_update, next_update) for cert_id_der, serial in singles
        )
        parts = [self.responder_id, this_update, _tlv(0x30, responses)]
        if nonce is not None:
            parts.append(_tlv(0xA1, _seq(nonce)))
        tbs_der = _seq(*parts)
        signature = self.authority.key.sign(tbs_der, _PKCS1, hashes.SHA256())
        basic = _seq(tbs_der, _SHA256_RSA, _tlv(0x03, b"\x00" + signature))
        response = _seq(b"\x0a\x01\x00", _tlv(0xA0, _seq(_OCSP_BASIC, _tlv(0x04, basic))))
        if nonce is None:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[request_der] = (time.monotonic() + OCSP_CACHE_SECONDS, response)
        return response

    def _status(self, serial: int) -> bytes:
        rec = self.issued.get(serial)
        if rec is None:
            return _OCSP_UNKNOWN
        if rec.revocation is None:
            return _OCSP_GOOD
        reason = _tlv(0xA0, b"\x0a\x01" + bytes((_CRL_REASON_CODES[rec.revocation.reason],)))
        return _tlv(0xA1, _gentime(rec.revocation.time) + reason)

    # -- CRL --

    def crl(self) -> bytes:
        """The DER CRL, rebuilt when older than CRL_REBUILD_AFTER."""
        with self._crl_lock:
            now = _now()
            if self._crl is None or now - self._crl[0] > CRL_REBUILD_AFTER:
                self._crl = (now, self._build_crl(now))
            return self._crl[1]

    def _build_crl(self, now: dt.datetime) -> bytes:
        ca = self.authority
        ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.certificate.subject)
            .last_update(now.replace(microsecond=0))
            .next_update((now + CRL_NEXT_UPDATE).replace(microsecond=0))
            # Seconds since the epoch: increases across rebuilds and restarts alike.
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        )
        for rec in self.issued.values():
            if rec.revocation is not None:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(rec.serial)
                    .revocation_date(rec.revocation.time)
                    .add_extension(x509.CRLReason(x509.ReasonFlags(rec.revocation.reason)), critical=False)
                    .build()
                )
        return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# -- the TSA, pre-encoded -------------------------------------------------------------------


class _TSA:
    """An RFC 3161 timestamping unit; everything but TSTInfo and its digest is encoded once."""

    def __init__(self, authority: Authority, policy: str) -> None:
        self.key = authority.key
        cert = authority.certificate
        cert_der = cert.public_bytes(serialization.Encoding.DER)
        asn1_cert = asn1_x509.Certificate.load(cert_der)
        self.policy_oid = policy
        self.policy = _oid(policy)
        self.tsa_name = _tlv(0xA0, asn1_x509.GeneralName(name="directory_name", value=asn1_cert.subject).dump())
        self.accuracy = _seq(_int(1))  # one second
        self.certificates = _tlv(0xA0, cert_der)  # [0] IMPLICIT CertificateSet
        self.signer_id = cms.IssuerAndSerialNumber(
            {"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number}
        ).dump()
        self.content_type_attr = cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump()
        # ESS signingCertificateV2 (RFC 5816): binds the signature to this TSA certificate.
        self.signing_cert_attr = cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [
                    {
                        "certs": [
                            {
                                "hash_algorithm": {"algorithm": "sha256"},
                                "cert_hash": hashlib.sha256(cert_der).digest(),
                                "issuer_serial": {
                                    "issuer": [
                                        asn1_x509.GeneralName(name="directory_name", value=asn1_cert.issuer)
                                    ],
                                    "serial_number": asn1_cert.serial_number,
                                },
                            }
                        ]
                    }
                ],
            }
        ).dump()

    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp: a token for a good request, a rejection with failInfo otherwise."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            if request["version"].native != "v1":
                return _tsa_rejection("bad_request", "only version 1 requests are understood")
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            policy = request["req_policy"]
            nonce = request["nonce"]
            cert_req = bool(request["cert_req"].native)
            extensions = request["extensions"]
        except (ValueError, TypeError, KeyError):
            return _tsa_rejection("bad_data_format", "the request is not a DER TimeStampReq")
        if algorithm not in TSA_DIGESTS:
            return _tsa_rejection("bad_alg", f"imprint algorithm {algorithm} refused; use SHA-256 or stronger")
        if len(digest) != TSA_DIGESTS[algorithm]:
            return _tsa_rejection("bad_data_format", f"a {algorithm} imprint has {TSA_DIGESTS[algorithm]} bytes")
        if not isinstance(policy, core.Void) and policy.dotted != self.policy_oid:
            return _tsa_rejection("unaccepted_policy", f"this TSA issues under policy {self.policy_oid} only")
        if not isinstance(extensions, core.Void) and len(extensions):
            return _tsa_rejection("unaccepted_extensions", "no request extensions are supported")

        tst_info = _seq(
            b"\x02\x01\x01",
            self.policy,
            imprint.dump(),  # echoed byte for byte
            _int(next(_tsa_serials)),
            _gentime(_now()),
            self.accuracy,
            b"" if isinstance(nonce, core.Void) else nonce.dump(),
            self.tsa_name,
        )
        message_digest = _seq(_ATTR_MESSAGE_DIGEST, _set(_tlv(0x04, hashlib.sha256(tst_info).digest())))
        attrs = sorted((self.content_type_attr, message_digest, self.signing_cert_attr))
        signature = self.key.sign(_tlv(0x31, b"".join(attrs)), _PKCS1, hashes.SHA256())
        signer_info = _seq(
            b"\x02\x01\x01", self.signer_id, _SHA256, _tlv(0xA0, b"".join(attrs)), _RSA, _tlv(0x04, signature)
        )
        signed_data = _seq(
            b"\x02\x01\x03",
            _tlv(0x31, _SHA256),
            _seq(_TST_INFO, _tlv(0xA0, _tlv(0x04, tst_info))),
            self.certificates if cert_req else b"",
            _tlv(0x31, signer_info),
        )
        token = _seq(_SIGNED_DATA, _tlv(0xA0, signed_data))
        return _seq(_seq(b"\x02\x01\x00"), token)


def _tsa_rejection(fail_info: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text], "fail_info": {fail_info}})
    return _seq(status.dump())


# -- everything a server needs for one version of state.json ----------------------------------


@dataclass(frozen=True)
class Responders:
    """The OCSP/CRL/TSA services for one load of the dev PKI, plus the DER certificates."""

    cas: dict[str, _CA]
    tsa: _TSA
    certificates: dict[str, bytes]
    state_mtime_ns: int

    @classmethod
    def load(cls, directory: Path) -> Responders:
        """Load ``directory/state.json`` and the keys, and pre-encode what never changes."""
        mtime = devpki.state_path(directory).stat().st_mtime_ns
        pki = DevPKI.load(directory)
        return cls(
            cas={slug: _CA(pki.ca(slug), pki.issued_by(slug)) for slug in devpki.CA_SLUGS},
            tsa=_TSA(pki.tsa, devpki.TSA_POLICY_OID),
            certificates={
                slug: a.certificate.public_bytes(serialization.Encoding.DER) for slug, a in pki.authorities.items()
            },
            state_mtime_ns=mtime,
        )


class DevPKIServer(ThreadingHTTPServer):
    """The responders' HTTP server; reloads the PKI state when ``state.json`` changes."""

    daemon_threads = True
    request_queue_size = 128  # the benchmark opens many connections at once

    def __init__(self, address: tuple[str, int], directory: Path, *, verbose: bool = False) -> None:
        self.directory = directory
        self.verbose = verbose
        self._responders = Responders.load(directory)
        self._checked_at = time.monotonic()
        self._reload_lock = threading.Lock()
        super().__init__(address, _Handler)

    def responders(self) -> Responders:
        """The current services, reloaded if ``state.json`` changed (checked at most once a second)."""
        now = time.monotonic()
        if now - self._checked_at < STATE_POLL_SECONDS:
            return self._responders
        with self._reload_lock:
            if now - self._checked_at >= STATE_POLL_SECONDS:
                self._checked_at = now
                try:
                    mtime = devpki.state_path(self.directory).stat().st_mtime_ns
                    if mtime != self._responders.state_mtime_ns:
                        self._responders = Responders.load(self.directory)
                        log.info("dev PKI state changed; reloaded %s", devpki.state_path(self.directory))
                except (OSError, ValueError, KeyError, devpki.DevPKIError) as exc:
                    # Mid-rebuild (init --force): keep serving the old state and retry.
                    log.warning("cannot reload the dev PKI state yet: %s", exc)
        return self._responders


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PakatDevPKI/1"
    sys_version = ""
    # Buffer the response so headers and body leave in one segment (no Nagle /
    # delayed-ACK stall on keep-alive connections); flushed after every request.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed, freeing their thread
    server: DevPKIServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: int, text: str) -> None:
        self._reply(status, "text/plain; charset=utf-8", text.encode("utf-8") + b"\n")

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._text(411, "Content-Length required")
            return None
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._text(413, "request too large")
            return None
        return self.rfile.read(int(length))

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            responders = self.server.responders()
            if path == "/healthz":
                self._reply(200, "application/json", b'{"status": "ok"}\n')
            elif path.startswith("/certs/") and path.endswith(".cer"):
                der = responders.certificates.get(path[len("/certs/") : -len(".cer")])
                if der is None:
                    self._text(404, "no such certificate")
                else:
                    self._reply(200, "application/pkix-cert", der)
            elif path.startswith("/crl/") and path.endswith(".crl"):
                ca = responders.cas.get(path[len("/crl/") : -len(".crl")])
                if ca is None:
                    self._text(404, "no such CA")
                else:
                    self._reply(200, "application/pkix-crl", ca.crl())
            elif path.startswith("/ocsp/"):
                slug, _, encoded = path[len("/ocsp/") :].partition("/")
                ca = responders.cas.get(slug)
                if ca is None:
                    self._text(404, "no such CA")
                    return
                try:
                    # Standard or URL-safe base64; padding is often dropped by clients.
                    raw = unquote(encoded).replace("-", "+").replace("_", "/")
                    request = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
                except (binascii.Error, ValueError):
                    self._reply(200, "application/ocsp-response", _OCSP_MALFORMED)
                    return
                self._reply(200, "application/ocsp-response", ca.ocsp(request))
            else:
                self._text(404, "not found")
        except Exception:
            log.exception("GET %s failed", path)
            self._text(500, "internal error")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if body is None:
            return
        try:
            responders = self.server.responders()
            if path == "/tsa":
                self._reply(200, "application/timestamp-reply", responders.tsa.respond(body))
            elif path.startswith("/ocsp/"):
                ca = responders.cas.get(path[len("/ocsp/") :].strip("/"))
                if ca is None:
                    self._text(404, "no such CA")
                else:
                    self._reply(200, "application/ocsp-response", ca.ocsp(body))
            else:
                self._text(404, "not found")
        except Exception:
            log.exception("POST %s failed", path)
            if path.startswith("/ocsp/"):
                self._reply(200, "application/ocsp-response", _OCSP_INTERNAL_ERROR)
            else:
                self._text(500, "internal error")


def make_server(directory: Path, host: str, port: int, *, verbose: bool = False) -> DevPKIServer:
    """A bound, not yet serving, responder server for the dev PKI in ``directory`` (D/devpki)."""
    return DevPKIServer((host, port), directory, verbose=verbose)
