"""One signing session walked with the user's token: the steps of ``pakat agent sign``.

GET the session, find the tokens and pick the certificate the session's
expected signer allows (refused before any PIN when none does), show what will
be signed, ask for the PIN, log in, post the certificate, check the attributes,
download the prepared revision and check that it extends the document shown and
that its /ByteRange digest is the attributes' message digest, sign, post the
signature. A DOCUMENT_CHANGED answer starts another round in the same
logged-in session (at most :data:`MAX_ROUNDS`), so the PIN is asked once.
How the user is asked is an :class:`Interaction`, so the flow runs the same
from a terminal, a script or a test.
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
from agent.token import certificate_der, ensure_not_locked, is_factory_pin, logged_in
from pakat import errors
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
class SignOutcome:
    """The server's acceptance of the signature."""

    session: str
    state: str
    level: str
    document: str
    document_sha256: str
    certificate: dict[str, Any]
    rounds: int

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form."""
        return {
            "session": self.session,
            "state": self.state,
            "level": self.level,
            "document": {"name": self.document, "sha256": self.document_sha256},
            "certificate": self.certificate,
            "rounds": self.rounds,
        }

    def lines(self) -> list[str]:
        """The outcome for people."""
        return [
            f"امضا شد: «{self.document}» — سطح {self.level} را سرور کامل می‌کند (مهر زمانی و داده‌های اعتبارسنجی).",
            f"Signed: \"{self.document}\" — the server completes level {self.level}"
            " (timestamp and validation data).",
        ]


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
    """Walk one signing session to the server's ``signed``; raises PakatError with a stable code otherwise."""
    client = client or AgentClient(request.session_url, request.secret)
    session = client.get_session()
    _check_state(session)
    shown = _shown_document(session)
    found = pick_certificate(discover(request.module, request.token_label), request.certificate, session, ui)
    chosen = found.certificate
    tries_warning = ensure_not_locked(found.module, found.token_label)
    ui.show(session_lines(session, chosen, found.token_label, client.where))
    if tries_warning is not None:
        ui.warn(tries_warning)  # before the PIN: a wrong guess now may lock the token
    pin = ui.pin()
    if not pin:
        raise PakatError(errors.USER_CANCELLED, "no PIN was given")
    cert_der = chosen.der
    chain = [certificate_der(c) for c in found.contents.issuers_of(chosen.certificate)]
    with logged_in(found.module, found.token_label, chosen, pin) as token:
        if is_factory_pin(pin):
            ui.warn(FACTORY_PIN_WARNING)
        del pin  # not needed any more: later rounds reuse the logged-in session
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
                accepted = client.post_signature(signature, cert_der)
            except PakatError as exc:
                if exc.kind is errors.DOCUMENT_CHANGED and round_number < MAX_ROUNDS:
                    continue  # another signature landed first: the server re-prepares on the next certificate
                raise
            return _outcome(session, accepted, found, round_number)
    raise AssertionError("unreachable")


# What the session's GET answer says about a session that cannot be signed any more.
_OVER = {
    "expired": errors.SESSION_EXPIRED,
    "cancelled": errors.SESSION_CANCELLED,
    "signed": errors.SESSION_ALREADY_SIGNED,  # in the document; the server is completing the level
    "completed": errors.SESSION_ALREADY_SIGNED,
    "failed": errors.SESSION_FAILED,  # signed, but the level was not reached
}


def _check_state(session: dict[str, Any]) -> None:
    state = session.get("state")
    if state == "awaiting_certificate":
        return
    if isinstance(state, str) and state in _OVER:
        raise PakatError(_OVER[state], f"the session is {state}")
    shown = clean_text(str(state))[:40]
    raise PakatError(errors.STEP_OUT_OF_ORDER, f"the session is {shown!r}, not awaiting_certificate")


def _shown_document(session: dict[str, Any]) -> ShownDocument:
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


def _outcome(
    session: dict[str, Any], accepted: dict[str, Any], found: FoundCertificate, rounds: int
) -> SignOutcome:
    given = session.get("document")
    document: dict[str, Any] = given if isinstance(given, dict) else {}
    return SignOutcome(
        session=clean_text(str(session.get("session") or "")),
        state=clean_text(str(accepted.get("state") or "signed")),
        level=clean_text(str(accepted.get("level") or session.get("level") or "")),
        document=clean_text(str(document.get("name") or "")),
        document_sha256=clean_text(str(document.get("sha256") or "")),
        certificate={**certificate_facts(found.certificate), "token": clean_text(found.token_label)},
        rounds=rounds,
    )


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
