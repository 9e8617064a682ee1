"""One signing session walked with the user's token: the steps of ``pakat agent sign``.

GET the session, find the tokens and pick the certificate the session's
expected signer allows (refused before any PIN when none does), show what will
be signed, ask for the PIN, log in, post the certificate, check the attributes,
download the prepared revision and check that it extends the document shown and
that its /ByteRange digest is the attributes' message digest, sign, post the
signature. A DOCUMENT_CHANGED answer starts another round in the same
logged-in session (at most :data:`MAX_ROUNDS`), so the PIN is asked once.

A session may cover several documents (an envelope's A, B, C; the session's
``documents``): all are shown, the PIN is asked once, and each is signed under
its own session id with the same secret. A refusal of one document is that
document's result and the next one is signed; a fault of the token or the
connection stops the rest. How the user is asked is an :class:`Interaction`,
so the flow runs the same from a terminal, a script or a test.
"""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.attributes import check_document_digest, check_signed_attributes, digest_algorithm
from agent.client import AgentClient
from agent.discovery import Discovery, FoundCertificate, discover, expected_signer, matching, no_match_detail
from agent.prepared import byte_range_digest, max_prepared_bytes
from agent.present import FACTORY_PIN_WARNING, certificate_facts, session_lines
from agent.token import (
    TokenCertificate,
    TokenSession,
    certificate_der,
    ensure_not_locked,
    is_factory_pin,
    logged_in,
)
from pakat import errors
from pakat.dates import format_int
from pakat.errors import PakatError
from pakat.text import clean_text
from signer.cms import DigestAlgorithm

MAX_ROUNDS = 3
DIGEST = "sha256"  # what the agent asks for; the server may answer with a stronger one
_SIGNATURE_ALGORITHMS = {"rsa": "rsa-pkcs1v15", "ecdsa": "ecdsa"}
_SPOOL_BYTES = 8 * 1024 * 1024  # a prepared revision up to this stays in memory, a larger one in a temp file
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ShownDocument:
    """The document the session answer described, and the user was shown: its SHA-256 and size."""

    sha256: str
    size: int


class Interaction(Protocol):
    """How the flow talks to the person at the token."""

    def show(self, lines: Sequence[str]) -> None:
        """Show information (what will be signed) before anything is asked."""

    def warn(self, text: str) -> None:
        """Show a warning."""

    def choose(self, candidates: Sequence[FoundCertificate]) -> FoundCertificate | None:
        """Let the user pick one certificate; None when nobody can be asked."""

    def pin(self) -> str:
        """The PIN; raises USER_CANCELLED when none is given."""


class ChoiceNeeded(Exception):
    """Several certificates fit the session, none named and nobody to ask: the caller must name one."""

    def __init__(self, candidates: Sequence[FoundCertificate]) -> None:
        super().__init__("several signing certificates fit this session")
        self.candidates = tuple(candidates)


@dataclass(frozen=True)
class SignRequest:
    """What ``pakat agent sign`` was told (the secret kept out of reprs).

    Without ``module`` every known module is searched; without ``token_label``
    every token present in the module(s).
    """

    session_url: str
    secret: str = field(repr=False)
    module: str | None = None
    token_label: str | None = None
    certificate: str | None = None


@dataclass(frozen=True)
class DocumentOutcome:
    """One document of the session: signed (the server's state), or why not."""

    session: str
    name: str
    sha256: str
    state: str  # the server's answer ("signed", "completed"), or "not_signed"
    rounds: int = 0
    error: PakatError | None = None

    @property
    def signed(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"session": self.session, "name": self.name, "sha256": self.sha256,
                                "state": self.state}
        if self.error is not None:
            body["error"] = self.error.as_dict()
        return body

    def lines(self, level: str) -> list[str]:
        if self.error is None:
            return [
                f"امضا شد: «{self.name}» — سطح {level} را سرور کامل می‌کند (مهر زمانی و داده‌های اعتبارسنجی).",
                f"Signed: \"{self.name}\" — the server completes level {level} (timestamp and validation data).",
            ]
        kind = self.error.kind
        return [f"امضا نشد: «{self.name}» — {kind.fa} ({kind.code})",
                f"Not signed: \"{self.name}\" — {kind.en} ({kind.code})"]


@dataclass(frozen=True)
class SignOutcome:
    """What the server accepted: every document of the session, each signed or with its reason."""

    session: str
    level: str
    certificate: dict[str, Any]
    documents: tuple[DocumentOutcome, ...]

    @property
    def state(self) -> str:
        """``signed`` when every document was, else ``partly_signed``."""
        return "signed" if all(d.signed for d in self.documents) else "partly_signed"

    @property
    def not_signed(self) -> tuple[DocumentOutcome, ...]:
        return tuple(d for d in self.documents if not d.signed)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form (``document`` is the first one's, as for a session of one document)."""
        first = self.documents[0]
        return {
            "session": self.session,
            "state": self.state,
            "level": self.level,
            "document": {"name": first.name, "sha256": first.sha256},
            "documents": [d.as_dict() for d in self.documents],
            "certificate": self.certificate,
            "rounds": max(d.rounds for d in self.documents),
        }

    def lines(self) -> list[str]:
        """The outcome for people, document by document."""
        return [line for d in self.documents for line in d.lines(self.level)]


def pick_certificate(
    found: Discovery, wanted: str | None, session: dict[str, Any], ui: Interaction
) -> FoundCertificate:
    """The one certificate to sign with: named by ``--certificate``, and the session's expected signer's.

    None fitting the expected signer is NO_MATCHING_CERTIFICATE, raised before
    any PIN is asked and before anything is posted, so the session stays usable
    for the right token. Several fitting: the user's choice, else ChoiceNeeded.
    """
    candidates = list(found.certificates)
    if wanted is not None:
        candidates = [c for c in candidates if c.matches(wanted)]
        if not candidates:
            ids = ", ".join(f"{c.certificate.key_id.hex()} ({c.certificate.label})" for c in found.certificates)
            raise PakatError(errors.NO_CERTIFICATE, f"none matches {wanted!r}; the tokens have: {ids}")
    expected = expected_signer(session)
    fitting = matching(candidates, expected)
    if not fitting:
        raise PakatError(errors.NO_MATCHING_CERTIFICATE, no_match_detail(candidates, expected))
    if len(fitting) == 1:
        return fitting[0]
    if wanted is not None:
        ids = ", ".join(f"{c.certificate.key_id.hex()} ({c.certificate.label})" for c in fitting)
        raise PakatError(errors.NO_CERTIFICATE, f"several match {wanted!r}: {ids}")
    chosen = ui.choose(fitting)
    if chosen is None:
        raise ChoiceNeeded(fitting)
    return chosen


def sign_session(request: SignRequest, ui: Interaction, client: AgentClient | None = None) -> SignOutcome:
    """Walk a signing session's documents to the server's ``signed``, one PIN for all.

    Raises PakatError with a stable code when nothing was signed (the first
    document's reason); when some documents were signed, the outcome names
    the others and why.
    """
    client = client or AgentClient(request.session_url, request.secret)
    session = client.get_session()
    waiting = waiting_documents(session)
    if not waiting:
        _check_state(session)  # the session is over: say how
        raise PakatError(errors.STEP_OUT_OF_ORDER, "no document of the session awaits a signature")
    shown = [shown_document(document) for document in waiting]
    found = pick_certificate(discover(request.module, request.token_label), request.certificate, session, ui)
    chosen = found.certificate
    tries_warning = ensure_not_locked(found.module, found.token_label)
    ui.show(session_lines(session, chosen, found.token_label, client.where) + _more_documents(waiting))
    if tries_warning is not None:
        ui.warn(tries_warning)  # before the PIN: a wrong guess now may lock the token
    pin = ui.pin()
    if not pin:
        raise PakatError(errors.USER_CANCELLED, "no PIN was given")
    chain = [certificate_der(c) for c in found.contents.issuers_of(chosen.certificate)]
    results: list[DocumentOutcome] = []
    with logged_in(found.module, found.token_label, chosen, pin) as token:
        if is_factory_pin(pin):
            ui.warn(FACTORY_PIN_WARNING)
        del pin  # not needed any more: every document and round reuses the logged-in session
        stopped: PakatError | None = None
        for document, seen in zip(waiting, shown, strict=True):
            name = clean_text(str(_get(document.get("document"), "name") or ""))
            session_id = clean_text(str(document.get("session") or ""))
            if stopped is not None:
                results.append(DocumentOutcome(session_id, name, seen.sha256, "not_signed", error=stopped))
                continue
            try:
                member = client if session_id == session.get("session") else client.for_session(session_id)
                accepted, rounds = _sign_document(member, seen, token, chosen, chain)
                state = clean_text(str(accepted.get("state") or "signed"))
                results.append(DocumentOutcome(session_id, name, seen.sha256, state, rounds))
            except PakatError as exc:
                results.append(DocumentOutcome(session_id, name, seen.sha256, "not_signed", error=exc))
                if exc.kind in _STOP_KINDS:
                    stopped = exc  # the token or the connection failed: the other documents would fail alike
    if not any(result.signed for result in results):
        first = results[0].error
        assert first is not None
        raise first
    return SignOutcome(
        session=clean_text(str(session.get("session") or "")),
        level=clean_text(str(session.get("level") or "")),
        certificate={**certificate_facts(found.certificate), "token": clean_text(found.token_label)},
        documents=tuple(results),
    )


def _sign_document(
    client: AgentClient, shown: ShownDocument, token: TokenSession, chosen: TokenCertificate, chain: list[bytes]
) -> tuple[dict[str, Any], int]:
    """One document's steps in the logged-in token session: its server answer and the rounds it took."""
    cert_der = chosen.der
    for round_number in range(1, MAX_ROUNDS + 1):
        prepared = client.post_certificate(cert_der, chain, DIGEST)
        algorithm = digest_algorithm(prepared.get("digest_algorithm"))
        expected_algorithm = _SIGNATURE_ALGORITHMS.get(chosen.key_kind)
        if prepared.get("signature_algorithm") not in (None, expected_algorithm):
            raise PakatError(
                errors.SERVER_REQUEST_REFUSED, "nothing was signed: the server expects another key type"
            )
        checked = check_signed_attributes(
            _b64_field(prepared, "signed_attributes"), _str_field(prepared, "digest"), algorithm, cert_der
        )
        # What you see is what you sign: the message digest must be this agent's own digest of the
        # prepared revision, and that revision must extend the document shown, before the key is used.
        # Checked after the PIN, not before: the certificate step moves the session on for good, and a
        # mistyped or cancelled PIN must leave the session usable for another try.
        check_document_digest(checked, _prepared_digest(client, shown, algorithm))
        signature = token.sign_digest(checked.digest, algorithm)
        try:
            return client.post_signature(signature, cert_der), round_number
        except PakatError as exc:
            if exc.kind is errors.DOCUMENT_CHANGED and round_number < MAX_ROUNDS:
                continue  # another signature landed first: the server re-prepares on the next certificate
            raise
    raise AssertionError("unreachable")


# Faults of the token or of the way to the server, not of one document: the documents after it are not tried.
_STOP_KINDS = frozenset({
    errors.TOKEN_NOT_PRESENT, errors.WRONG_PIN, errors.PIN_LOCKED, errors.SERVER_UNREACHABLE,
    errors.AGENT_SECRET_INVALID, errors.INTERNAL,
})


def waiting_documents(session: dict[str, Any]) -> list[dict[str, Any]]:
    """The session's documents that can be signed now, in order; a server without ``documents`` has one."""
    listed = session.get("documents")
    if not isinstance(listed, list) or not listed:
        listed = [{"session": session.get("session"), "state": session.get("state"),
                   "document": session.get("document")}]
    if not all(isinstance(d, dict) for d in listed):
        raise PakatError(errors.SERVER_REQUEST_REFUSED, "nothing was signed: the session lists no documents")
    return [d for d in listed if d.get("state") in SIGNABLE_STATES]


def _more_documents(waiting: Sequence[dict[str, Any]]) -> list[str]:
    """When the session covers several documents, every one of them, before the PIN."""
    if len(waiting) < 2:
        return []
    lines = [f"  سندهای این نشست / Documents of this session: {format_int(len(waiting), 'fa')} / {len(waiting)}"]
    for number, document in enumerate(waiting, 1):
        facts = document.get("document")
        lines.append(f"    {number}. {clean_text(str(_get(facts, 'name') or '')) or '—'}"
                     f"  SHA-256 {clean_text(str(_get(facts, 'sha256') or ''))}")
    return lines


def _get(mapping: object, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


# What the session's GET answer says about a session that cannot be signed any more.
_OVER = {
    "expired": errors.SESSION_EXPIRED,
    "cancelled": errors.SESSION_CANCELLED,
    "signed": errors.SESSION_ALREADY_SIGNED,  # in the document; the server is completing the level
    "completed": errors.SESSION_ALREADY_SIGNED,
    "failed": errors.SESSION_FAILED,  # signed, but the level was not reached
}


#: States a document can be signed from: the certificate step may be taken again while a signature is awaited
#: (a token pulled out, an app closed after that step).
SIGNABLE_STATES = ("awaiting_certificate", "awaiting_signature")


def _check_state(session: dict[str, Any]) -> None:
    state = session.get("state")
    if state in SIGNABLE_STATES:
        return
    if isinstance(state, str) and state in _OVER:
        raise PakatError(_OVER[state], f"the session is {state}")
    shown = clean_text(str(state))[:40]
    raise PakatError(errors.STEP_OUT_OF_ORDER, f"the session is {shown!r}, not awaiting_certificate")


def shown_document(session: dict[str, Any]) -> ShownDocument:
    given = session.get("document")
    document: dict[str, Any] = given if isinstance(given, dict) else {}
    sha256, size = document.get("sha256"), document.get("size")
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256) or type(size) is not int or size <= 0:
        raise PakatError(
            errors.SERVER_REQUEST_REFUSED, "nothing was signed: the session names no document SHA-256 and size"
        )
    return ShownDocument(sha256, size)


def _prepared_digest(client: AgentClient, shown: ShownDocument, algorithm: DigestAlgorithm) -> bytes:
    """Download the prepared revision and digest its /ByteRange (checked by :mod:`agent.prepared`)."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        total = client.get_prepared(spool, max_prepared_bytes(shown.size))
        return byte_range_digest(spool, total, shown.sha256, shown.size, algorithm)


def _str_field(answer: dict[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str):
        raise PakatError(errors.SERVER_REQUEST_REFUSED, f"nothing was signed: the server's answer has no {name}")
    return value


def _b64_field(answer: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(_str_field(answer, name), validate=True)
    except (binascii.Error, ValueError):
        raise PakatError(
            errors.SERVER_REQUEST_REFUSED, f"nothing was signed: the server's {name} is not base64"
        ) from None
