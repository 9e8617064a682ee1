"""The agent against a loopback stub of the Pakat server: every protocol answer it must handle.

The stub (:class:`StubServer`) speaks docs/agent-protocol.md with canned or
computed JSON: it prepares real signed attributes with signer.cms and verifies
the signature it gets, so a passing run is a signature the real server would
take. The token is a demo user's SoftHSM token (in this process, logged out
after every run); the secret must never appear in anything the agent says.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pakat_testkit import free_port, pdf_bytes

from agent.client import AgentClient
from agent.discovery import FoundCertificate
from agent.flow import SignOutcome, SignRequest, sign_session
from devkit.devsetup import DemoUser, DevEnvironment
from pakat import errors
from pakat.errors import KINDS, PakatError
from signer.cms import DIGESTS, SignerTemplate
from signer.keys import verify_digest_signature

SECRET = "agent-secret-Zq7xW2vT9bL4nM8kR1yP"
SESSION_ID = "sess-0001"
BASE = pdf_bytes("bid B", pages=3)  # the document the session shows


def prepared_revision(base: bytes, hole_digits: int = 4000) -> bytes:
    """``base`` and an incremental update with a signature dictionary and its empty hole, as Pakat lays it out."""
    head = b"\n7 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /ByteRange [0 %010d %010d %010d] /Contents "
    tail = b" >>\nendobj\n%%EOF\n"
    start = len(base) + len(head % (0, 0, 0))
    end = start + hole_digits + 2
    total = end + len(tail)
    return base + head % (start, end, total - end) + b"<" + b"0" * hole_digits + b">" + tail


def declared_range_digest(revision: bytes, algorithm: str) -> bytes:
    """The digest over what the revision's last /ByteRange says it covers (what a consistent liar signs)."""
    found = re.findall(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", revision)
    if not found:
        return os.urandom(hashlib.new(algorithm).digest_size)  # nothing declared: any hash will do
    a, b, c, d = (int(n) for n in found[-1])
    return hashlib.new(algorithm, revision[a:a + b] + revision[c:c + d]).digest()


def error_body(code: str, detail: str | None = None) -> dict[str, Any]:
    """An error answer as the server writes it."""
    kind = KINDS[code]
    body: dict[str, Any] = {"code": code, "message_fa": kind.fa, "message_en": kind.en}
    if detail:
        body["detail"] = detail
    return {"error": body}


@dataclass
class Canned:
    """One answer the stub gives instead of computing one."""

    status: int
    body: dict[str, Any] | bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    """One request the stub received."""

    method: str
    path: str
    authorization: str
    body: dict[str, Any] | None


class StubServer:
    """A loopback stand-in for the agent side of the Pakat server."""

    def __init__(self, expected_national_id: str = "0000000000") -> None:
        self.requests: list[Recorded] = []
        # Keyed by step: "session", "certificate", "prepared.pdf", "signature"; consumed before computing.
        self.queued: dict[str, list[Canned]] = {"session": [], "certificate": [], "prepared.pdf": [],
                                                "signature": []}
        self.tamper: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        # Changes the prepared revision before the signed attributes are built over its /ByteRange.
        self.tamper_revision: Callable[[bytes], bytes] | None = None
        self.revision = b""
        self.session: dict[str, Any] = {
            "session": SESSION_ID,
            "state": "awaiting_certificate",
            "expires_at": "2030-11-21T10:10:00Z",
            "level": "B-LTA",
            "document": {"name": "bid-B.pdf", "sha256": hashlib.sha256(BASE).hexdigest(), "size": len(BASE),
                         "pages": 3},
            "requested_by": {"organisation": "demo-co", "name_fa": "شرکت نمونه پاکت", "name_en": "Pakat Demo Co."},
            "expected_signer": {"national_id": expected_national_id, "role": None},
            "digest_algorithms": ["sha256", "sha384", "sha512"],
            "preview_url": f"/agent/v1/sessions/{SESSION_ID}/preview.png",
        }
        self._announced: x509.Certificate | None = None
        self._digest: bytes | None = None
        self._algorithm = "sha256"
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The session's agent address."""
        return f"http://127.0.0.1:{self.port}/agent/v1/sessions/{SESSION_ID}"

    def steps(self) -> list[str]:
        """The steps asked for, in order."""
        return [_step(r.path) for r in self.requests]

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def answer(self, step: str, body: dict[str, Any] | None) -> Canned:
        """The answer to one request (canned first, else computed as the server would)."""
        if self.queued[step]:
            return self.queued[step].pop(0)
        if step == "session":
            return Canned(200, self.session)
        if step == "prepared.pdf":
            return Canned(200, self.revision, {"Content-Type": "application/pdf"})
        assert body is not None
        if step == "certificate":
            cert = x509.load_der_x509_certificate(base64.b64decode(body["certificate"]))
            self._announced, self._algorithm = cert, body["digest_algorithm"]
            algorithm = DIGESTS[self._algorithm]
            revision = prepared_revision(BASE)
            self.revision = self.tamper_revision(revision) if self.tamper_revision else revision
            message_digest = declared_range_digest(self.revision, self._algorithm)
            attributes = SignerTemplate(cert, []).signed_attributes(message_digest)
            self._digest = algorithm.digest(attributes)
            key_kind = "ecdsa" if isinstance(cert.public_key(), ec.EllipticCurvePublicKey) else "rsa-pkcs1v15"
            prepared = {
                "state": "awaiting_signature",
                "signed_attributes": base64.b64encode(attributes).decode(),
                "digest_algorithm": self._algorithm,
                "signature_algorithm": key_kind,
                "digest": self._digest.hex(),
                "signer": {"subject": cert.subject.rfc4514_string(), "national_id": "", "role": None},
            }
            return Canned(200, self.tamper(prepared) if self.tamper else prepared)
        assert self._announced is not None and self._digest is not None
        signature = base64.b64decode(body["signature"])
        if not verify_digest_signature(self._announced, self._digest, signature, DIGESTS[self._algorithm]):
            return Canned(422, error_body("SIGNATURE_INVALID"))
        return Canned(202, {"state": "signed", "level": "B-LTA"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass  # quiet test output

            def do_GET(self) -> None:
                self._serve(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(json.loads(self.rfile.read(length)))

            def _serve(self, body: dict[str, Any] | None) -> None:
                authorization = self.headers.get("Authorization") or ""
                stub.requests.append(Recorded(self.command, self.path, authorization, body))
                step = _step(self.path)
                if authorization != f"Bearer {SECRET}":
                    canned = Canned(401, error_body("AGENT_SECRET_INVALID"))
                else:
                    canned = stub.answer(step, body)
                payload = canned.body if isinstance(canned.body, bytes) else json.dumps(canned.body).encode()
                self.send_response(canned.status)
                self.send_header("Content-Type", canned.headers.pop("Content-Type", "application/json"))
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _step(path: str) -> str:
    last = path.rsplit("/", 1)[-1]
    return "session" if last == SESSION_ID else last


@dataclass
class FakeUser:
    """The person at the token, scripted: records what was shown and when the PIN was asked."""

    pin_value: str
    events: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def show(self, lines: Sequence[str]) -> None:
        self.events.append("show")
        self.shown.extend(lines)

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def choose(self, candidates: Sequence[FoundCertificate]) -> FoundCertificate | None:
        self.events.append("choose")
        return None

    def pin(self) -> str:
        self.events.append("pin")
        return self.pin_value


def assert_secret_absent(*texts: object) -> None:
    """The agent secret in none of ``texts``."""
    for text in texts:
        assert SECRET not in str(text), "the agent secret leaked"


@pytest.fixture
def user(dev_env: DevEnvironment) -> DemoUser:
    """The demo user whose token these tests sign with (user-private: no other test file logs in to it)."""
    return dev_env.users["user-private"]


@pytest.fixture
def stub(user: DemoUser) -> Iterator[StubServer]:
    national_id = user.certificate().subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)[0].value
    with StubServer(str(national_id)) as server:
        yield server


def run(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer, *, pin: str | None = None, **client: Any
) -> tuple[SignOutcome, FakeUser]:
    """One signing run in this process; its outcome and what the user saw."""
    person = FakeUser(pin if pin is not None else user.read_pin())
    request = SignRequest(stub.url, SECRET, dev_env.softhsm_module, user.token_label)
    agent_client = AgentClient(stub.url, SECRET, **client)
    return sign_session(request, person, agent_client), person


def refused(dev_env: DevEnvironment, user: DemoUser, stub: StubServer, **kwargs: Any) -> PakatError:
    """The PakatError a run ends with; the secret is in neither its text nor its JSON."""
    with pytest.raises(PakatError) as caught:
        run(dev_env, user, stub, **kwargs)
    assert_secret_absent(caught.value, caught.value.as_dict(), repr(caught.value))
    return caught.value


# -- the whole walk -------------------------------------------------------------


def test_signs_after_showing_what_and_for_whom(dev_env: DevEnvironment, user: DemoUser, stub: StubServer) -> None:
    outcome, person = run(dev_env, user, stub)
    assert stub.steps() == ["session", "certificate", "prepared.pdf", "signature"]
    (document,) = outcome.documents
    assert outcome.state == "signed" and document.rounds == 1 and document.name == "bid-B.pdf"
    # What is signed and for whom is on screen before anyone is asked for the PIN.
    assert person.events == ["show", "pin"]
    shown = "\n".join(person.shown)
    wanted = ("bid-B.pdf", hashlib.sha256(BASE).hexdigest(), "شرکت نمونه پاکت", "Pakat Demo Co.", "B-LTA",
              user.name_fa, user.national_code)
    for expected in wanted:
        assert expected in shown
    assert "Warning" not in shown  # the certificate is the expected signer's
    certificate = stub.requests[1].body
    assert certificate is not None and certificate["digest_algorithm"] == "sha256"
    assert x509.load_der_x509_certificate(base64.b64decode(certificate["certificate"])) == user.certificate()
    assert certificate["chain"] == []  # the demo tokens hold no issuer certificates
    assert all(r.authorization == f"Bearer {SECRET}" for r in stub.requests)
    assert SECRET not in stub.url
    assert person.warnings == []  # a random dev PIN is no factory PIN
    assert_secret_absent(outcome.as_dict(), person.shown)


def test_document_changed_reposts_the_certificate_without_a_second_pin(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    stub.queued["signature"].append(Canned(409, error_body("DOCUMENT_CHANGED")))
    outcome, person = run(dev_env, user, stub)
    assert stub.steps() == ["session", "certificate", "prepared.pdf", "signature", "certificate", "prepared.pdf",
                            "signature"]
    assert outcome.documents[0].rounds == 2 and person.events.count("pin") == 1


def test_document_changed_gives_up_after_three_rounds(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    stub.queued["signature"].extend(Canned(409, error_body("DOCUMENT_CHANGED")) for _ in range(3))
    assert refused(dev_env, user, stub).kind is errors.DOCUMENT_CHANGED
    assert stub.steps().count("certificate") == 3


def test_document_busy_waits_for_retry_after(dev_env: DevEnvironment, user: DemoUser, stub: StubServer) -> None:
    stub.queued["certificate"].extend(
        [Canned(409, error_body("DOCUMENT_BUSY"), {"Retry-After": "0"}), Canned(409, error_body("DOCUMENT_BUSY"))]
    )
    slept: list[float] = []
    outcome, _ = run(dev_env, user, stub, sleep=slept.append)
    assert outcome.state == "signed" and slept == [0.0, 1.0]
    assert stub.steps() == ["session", "certificate", "certificate", "certificate", "prepared.pdf", "signature"]


def test_document_busy_for_too_long_is_reported(dev_env: DevEnvironment, user: DemoUser, stub: StubServer) -> None:
    stub.queued["certificate"].extend(Canned(409, error_body("DOCUMENT_BUSY")) for _ in range(5))
    err = refused(dev_env, user, stub, sleep=lambda _s: None, busy_patience=0.0)
    assert err.kind is errors.DOCUMENT_BUSY


# -- the session is over ------------------------------------------------------------


@pytest.mark.parametrize("code", ["SESSION_EXPIRED", "SESSION_CANCELLED", "SESSION_FINISHED"])
def test_a_session_that_is_over_keeps_the_servers_code(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer, code: str
) -> None:
    stub.queued["session"].append(Canned(410, error_body(code, "the session is cancelled")))
    err = refused(dev_env, user, stub)
    assert err.kind is KINDS[code] and err.detail == "the session is cancelled"
    assert stub.steps() == ["session"]


@pytest.mark.parametrize(("state", "code"), [
    ("expired", "SESSION_EXPIRED"), ("cancelled", "SESSION_CANCELLED"), ("signed", "SESSION_ALREADY_SIGNED"),
    ("completed", "SESSION_ALREADY_SIGNED"), ("failed", "SESSION_FAILED"), ("withdrawn", "STEP_OUT_OF_ORDER"),
])
def test_each_state_that_cannot_be_signed_has_its_own_code_before_the_pin(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer, state: str, code: str
) -> None:
    stub.session["state"] = state
    person = FakeUser(user.read_pin())
    with pytest.raises(PakatError) as caught:
        sign_session(SignRequest(stub.url, SECRET, dev_env.softhsm_module, user.token_label), person)
    assert caught.value.code == code and state in (caught.value.detail or "")
    assert person.events == [] and stub.steps() == ["session"]


def test_an_expired_state_stops_before_the_pin(dev_env: DevEnvironment, user: DemoUser, stub: StubServer) -> None:
    stub.session["state"] = "expired"
    person = FakeUser(user.read_pin())
    with pytest.raises(PakatError) as caught:
        sign_session(SignRequest(stub.url, SECRET, dev_env.softhsm_module, user.token_label), person)
    assert caught.value.kind is errors.SESSION_EXPIRED and person.events == []


def test_expiry_between_steps(dev_env: DevEnvironment, user: DemoUser, stub: StubServer) -> None:
    stub.queued["signature"].append(Canned(410, error_body("SESSION_EXPIRED")))
    assert refused(dev_env, user, stub).kind is errors.SESSION_EXPIRED


# -- the server refuses the certificate or the signature ----------------------------------


@pytest.mark.parametrize("code", ["SIGNER_NOT_EXPECTED", "SIGNER_CERT_REVOKED", "CERTIFICATE_MISMATCH"])
def test_certificate_rejected_carries_the_servers_reason(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer, code: str
) -> None:
    stub.queued["certificate"].append(Canned(422, error_body(code, "national ID 0085 is not 0099")))
    err = refused(dev_env, user, stub)
    assert err.kind is errors.CERTIFICATE_REJECTED and err.kind.exit_code == 6
    assert code in (err.detail or "") and KINDS[code].en in (err.detail or "")
    assert "national ID 0085 is not 0099" in (err.detail or "")


def test_known_server_codes_keep_their_kind_and_unknown_ones_are_internal(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    stub.queued["signature"].append(Canned(422, error_body("SIGNATURE_INVALID")))
    assert refused(dev_env, user, stub).kind is errors.SIGNATURE_INVALID
    stub.queued["certificate"].append(
        Canned(500, {"error": {"code": "FLUX_CAPACITOR", "message_fa": "؟", "message_en": "odd"}})
    )
    err = refused(dev_env, user, stub)
    assert err.kind is errors.INTERNAL and "FLUX_CAPACITOR" in (err.detail or "")


def test_a_server_echoing_the_secret_does_not_make_the_agent_print_it(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    stub.queued["certificate"].append(Canned(422, error_body("SIGNER_CERT_UNTRUSTED", f"you sent {SECRET}")))
    err = refused(dev_env, user, stub)
    assert err.kind is errors.CERTIFICATE_REJECTED and "[secret]" in (err.detail or "")


def test_a_wrong_secret_is_agent_secret_invalid(dev_env: DevEnvironment, user: DemoUser, stub: StubServer) -> None:
    request = SignRequest(stub.url, "not-the-secret", dev_env.softhsm_module, user.token_label)
    with pytest.raises(PakatError) as caught:
        sign_session(request, FakeUser(user.read_pin()))
    assert caught.value.kind is errors.AGENT_SECRET_INVALID


# -- what the agent refuses to sign --------------------------------------------------


def test_sha1_is_refused_and_nothing_is_signed(dev_env: DevEnvironment, user: DemoUser, stub: StubServer) -> None:
    stub.tamper = lambda prepared: {**prepared, "digest_algorithm": "sha1"}
    assert refused(dev_env, user, stub).kind is errors.DIGEST_REFUSED
    assert "signature" not in stub.steps()


def test_a_digest_that_is_not_of_the_attributes_is_refused(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    stub.tamper = lambda prepared: {**prepared, "digest": "00" * 32}
    err = refused(dev_env, user, stub)
    assert err.code == "SERVER_REQUEST_REFUSED"
    assert "nothing was signed" in (err.detail or "") and "digest" in (err.detail or "")
    assert "signature" not in stub.steps()


def test_attributes_naming_another_certificate_are_refused(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    other = dev_env.users["user-gov"].certificate()
    algorithm = DIGESTS["sha256"]
    forged = SignerTemplate(other, []).signed_attributes(os.urandom(32))

    def swap(prepared: dict[str, Any]) -> dict[str, Any]:
        # Self-consistent (the digest is right) but for someone else's certificate.
        return {**prepared, "signed_attributes": base64.b64encode(forged).decode(),
                "digest": algorithm.digest(forged).hex()}

    stub.tamper = swap
    err = refused(dev_env, user, stub)
    assert err.code == "SERVER_REQUEST_REFUSED" and "another certificate" in (err.detail or "")
    assert "signature" not in stub.steps()


def test_attributes_that_are_not_cms_are_refused(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    blob = b"\x31\x03\x02\x01\x05"  # a SET holding an INTEGER: no attributes at all
    stub.tamper = lambda prepared: {**prepared, "signed_attributes": base64.b64encode(blob).decode(),
                                    "digest": DIGESTS["sha256"].digest(blob).hex()}
    assert "nothing was signed" in (refused(dev_env, user, stub).detail or "")
    assert "signature" not in stub.steps()


# -- what you see is what you sign: the prepared revision ---------------------------------


def test_a_swapped_message_digest_is_caught_and_nothing_is_signed(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    algorithm = DIGESTS["sha256"]

    def swap(prepared: dict[str, Any]) -> dict[str, Any]:
        # Self-consistent and for the right certificate, but over another document's hash.
        forged = SignerTemplate(user.certificate(), []).signed_attributes(os.urandom(32))
        return {**prepared, "signed_attributes": base64.b64encode(forged).decode(),
                "digest": algorithm.digest(forged).hex()}

    stub.tamper = swap
    err = refused(dev_env, user, stub)
    assert err.kind is errors.DOCUMENT_DIGEST_MISMATCH and err.kind.exit_code == 6
    assert "message digest" in (err.detail or "") and "nothing was signed" in (err.detail or "")
    assert stub.steps() == ["session", "certificate", "prepared.pdf"]  # no signature posted


def _shift_range(revision: bytes, start: int = 0, end: int = 0, length: int = 0) -> bytes:
    """The revision with its /ByteRange numbers moved (same width), the rest untouched."""
    found = re.search(rb"/ByteRange \[0 (\d+) (\d+) (\d+)\]", revision)
    assert found is not None
    a, b, c = (int(n) for n in found.groups())
    text = b"/ByteRange [0 %010d %010d %010d]" % (a + start, b + end, c + length)
    return revision[:found.start()] + text + revision[found.end():]


@pytest.mark.parametrize(("tamper", "reason"), [
    (lambda r: _shift_range(r, length=-5), "does not cover all but one hole"),  # the end left out
    (lambda r: _shift_range(r, start=-len(BASE) + 100, end=0), "does not cover all but one hole"),  # the shown doc
    (lambda r: _shift_range(r, start=-12), "more than the signature's hole"),  # '/Contents' left out too
    (lambda r: r.replace(b"/ByteRange", b"/ByteRangX"), "no readable /ByteRange"),
    (lambda r: r + b"% appended after the covered range\n", "does not cover all but one hole"),
])
def test_a_byte_range_that_does_not_cover_all_but_the_hole_is_refused(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer, tamper: Callable[[bytes], bytes], reason: str
) -> None:
    stub.tamper_revision = tamper  # the stub's attributes carry the digest of what its /ByteRange declares
    err = refused(dev_env, user, stub)
    assert err.kind is errors.DOCUMENT_DIGEST_MISMATCH and reason in (err.detail or "")
    assert "signature" not in stub.steps()


@pytest.mark.parametrize("tamper", [
    lambda r: r[:200] + (b"X" if r[200:201] != b"X" else b"Y") + r[201:],  # one byte of the document changed
    lambda r: b"%PDF-1.7\n% another document\n" + r[len(b"%PDF-1.7\n% another document\n"):],
])
def test_a_prepared_revision_that_does_not_start_with_the_shown_document_is_refused(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer, tamper: Callable[[bytes], bytes]
) -> None:
    stub.tamper_revision = tamper
    err = refused(dev_env, user, stub)
    assert err.kind is errors.DOCUMENT_DIGEST_MISMATCH
    assert "does not start with the document you were shown" in (err.detail or "")
    assert "signature" not in stub.steps()


def test_a_session_without_the_documents_digest_is_refused_before_the_pin(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    stub.session["document"] = {"name": "bid-B.pdf", "pages": 3}
    person = NoPinPlease("unused")
    with pytest.raises(PakatError) as caught:
        sign_session(SignRequest(stub.url, SECRET, dev_env.softhsm_module, user.token_label), person)
    assert caught.value.kind is errors.SERVER_REQUEST_REFUSED and stub.steps() == ["session"]


def test_the_servers_refusal_of_the_download_keeps_its_code(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    stub.queued["prepared.pdf"].append(Canned(409, error_body("STEP_OUT_OF_ORDER")))
    assert refused(dev_env, user, stub).kind is errors.STEP_OUT_OF_ORDER
    assert "signature" not in stub.steps()


def test_the_download_is_capped_typed_and_never_redirected(stub: StubServer) -> None:
    client = AgentClient(stub.url, SECRET)
    stub.revision = prepared_revision(BASE)
    sink = io.BytesIO()
    assert client.get_prepared(sink, len(stub.revision)) == len(stub.revision) and sink.getvalue() == stub.revision
    with pytest.raises(PakatError) as caught:
        client.get_prepared(io.BytesIO(), len(stub.revision) - 1)
    assert caught.value.kind is errors.SERVER_UNREACHABLE and "over" in (caught.value.detail or "")
    stub.queued["prepared.pdf"].append(Canned(200, b"%PDF-1.7", {"Content-Type": "text/html"}))
    with pytest.raises(PakatError) as caught:
        client.get_prepared(io.BytesIO(), 10**6)
    assert caught.value.kind is errors.SERVER_UNREACHABLE and "no PDF" in (caught.value.detail or "")
    stub.queued["prepared.pdf"].append(Canned(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}))
    with pytest.raises(PakatError) as caught:
        client.get_prepared(io.BytesIO(), 10**6)
    assert caught.value.kind is errors.SERVER_UNREACHABLE and "redirect" in (caught.value.detail or "")
    assert all(r.authorization == f"Bearer {SECRET}" for r in stub.requests) and len(stub.requests) == 4


# -- the server cannot be reached ------------------------------------------------------


def test_a_closed_port_is_server_unreachable(dev_env: DevEnvironment, user: DemoUser) -> None:
    url = f"http://127.0.0.1:{free_port()}/agent/v1/sessions/{SESSION_ID}"
    person = FakeUser(user.read_pin())
    with pytest.raises(PakatError) as caught:
        sign_session(SignRequest(url, SECRET, dev_env.softhsm_module, user.token_label), person)
    assert caught.value.kind is errors.SERVER_UNREACHABLE and caught.value.kind.exit_code == 7
    assert_secret_absent(caught.value, caught.value.as_dict())
    assert person.events == []


def test_non_json_and_redirect_answers_are_not_followed(stub: StubServer) -> None:
    client = AgentClient(stub.url, SECRET)
    stub.queued["session"].append(Canned(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"}))
    with pytest.raises(PakatError) as caught:
        client.get_session()
    assert caught.value.kind is errors.SERVER_UNREACHABLE and "502" in (caught.value.detail or "")
    stub.queued["session"].append(Canned(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"}))
    with pytest.raises(PakatError) as caught:
        client.get_session()
    assert caught.value.kind is errors.SERVER_UNREACHABLE and "redirect" in (caught.value.detail or "")
    assert len(stub.requests) == 2  # nothing went to the Location


def test_answers_above_one_mebibyte_are_refused(stub: StubServer) -> None:
    stub.queued["session"].append(Canned(200, {"padding": "x" * (1024 * 1024)}))
    with pytest.raises(PakatError) as caught:
        AgentClient(stub.url, SECRET).get_session()
    assert "1 MiB" in (caught.value.detail or "")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", f"http://127.0.0.1/s?secret={SECRET}", "not a url"])
def test_odd_session_urls_are_refused(url: str) -> None:
    with pytest.raises(PakatError) as caught:
        AgentClient(url, SECRET)
    assert caught.value.kind is errors.REQUEST_INVALID
    assert_secret_absent(caught.value, caught.value.as_dict())


# -- which certificate, found without being told -------------------------------------------


class NoPinPlease(FakeUser):
    """A person who must never be asked for the PIN."""

    def pin(self) -> str:
        raise AssertionError("the PIN was asked for")


def test_no_certificate_of_the_expected_signer_is_refused_before_the_pin(
    dev_env: DevEnvironment, user: DemoUser
) -> None:
    with StubServer("0000000000") as stub:  # nobody on the demo tokens
        person = NoPinPlease("unused")
        request = SignRequest(stub.url, SECRET, dev_env.softhsm_module)  # every token of the module
        with pytest.raises(PakatError) as caught:
            sign_session(request, person)
        assert stub.steps() == ["session"]  # nothing posted: the session stays usable
    err = caught.value
    assert err.kind is errors.NO_MATCHING_CERTIFICATE and err.kind.exit_code == 6
    assert "0000000000" in (err.detail or "") and user.national_code in (err.detail or "")
    assert person.events == [] and person.shown == []
    assert_secret_absent(err, err.as_dict())


def test_the_expected_signers_certificate_is_picked_among_every_token(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    outcome = sign_session(SignRequest(stub.url, SECRET, dev_env.softhsm_module), FakeUser(user.read_pin()))
    assert outcome.certificate["token"] == user.token_label
    assert outcome.certificate["national_id"] == user.national_code
    assert stub.steps() == ["session", "certificate", "prepared.pdf", "signature"]


def test_a_role_that_does_not_match_is_refused_before_the_pin(
    dev_env: DevEnvironment, user: DemoUser, stub: StubServer
) -> None:
    stub.session["expected_signer"]["role"] = "مدیرعامل شرکت دیگر"
    with pytest.raises(PakatError) as caught:
        sign_session(SignRequest(stub.url, SECRET, dev_env.softhsm_module, user.token_label), NoPinPlease("x"))
    assert caught.value.kind is errors.NO_MATCHING_CERTIFICATE and stub.steps() == ["session"]
