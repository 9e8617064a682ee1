"""One signing session walked with the user's token: the steps of ``pakat agent sign``.

GET the session, pick the certificate, show what will be signed, ask for the
PIN, log in, post the certificate, check and sign the attributes, post the
signature. A DOCUMENT_CHANGED answer starts another round in the same
logged-in session (at most :data:`MAX_ROUNDS`), so the PIN is asked once.
How the user is asked is an :class:`Interaction`, so the flow runs the same
from a terminal, a script or a test.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.attributes import check_signed_attributes, digest_algorithm
from agent.client import AgentClient
from agent.present import FACTORY_PIN_WARNING, certificate_facts, session_lines
from agent.token import (
    TokenCertificate,
    TokenContents,
    certificate_der,
    ensure_not_locked,
    is_factory_pin,
    logged_in,
    read_token,
)
from pakat import errors
from pakat.errors import PakatError
from pakat.text import clean_text

MAX_ROUNDS = 3
DIGEST = "sha256"  # what the agent asks for; the server may answer with a stronger one
_SIGNATURE_ALGORITHMS = {"rsa": "rsa-pkcs1v15", "ecdsa": "ecdsa"}


class Interaction(Protocol):
    """How the flow talks to the person at the token."""

    def show(self, lines: Sequence[str]) -> None:
        """Show information (what will be signed) before anything is asked."""

    def warn(self, text: str) -> None:
        """Show a warning."""

    def choose(self, candidates: Sequence[TokenCertificate]) -> TokenCertificate | None:
        """Let the user pick one certificate; None when nobody can be asked."""

    def pin(self) -> str:
        """The PIN; raises USER_CANCELLED when none is given."""


class ChoiceNeeded(Exception):
    """Several signing certificates, none named and nobody to ask: the caller must name one."""

    def __init__(self, token_label: str, candidates: Sequence[TokenCertificate]) -> None:
        super().__init__(f"several signing certificates on token {token_label!r}")
        self.token_label = token_label
        self.candidates = tuple(candidates)


@dataclass(frozen=True)
class SignRequest:
    """What ``pakat agent sign`` was told (the secret kept out of reprs)."""

    session_url: str
    secret: str = field(repr=False)
    module: str
    token_label: str
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


def pick_certificate(contents: TokenContents, wanted: str | None, ui: Interaction) -> TokenCertificate:
    """``--certificate`` (hex CKA_ID or label), else the only one, else the user's choice."""
    candidates = list(contents.signing)
    if not candidates:
        raise PakatError(errors.NO_CERTIFICATE, f"token {contents.label!r}")
    if wanted is not None:
        matches = [c for c in candidates if c.matches(wanted)]
        if len(matches) != 1:
            ids = ", ".join(f"{c.key_id.hex()} ({c.label})" for c in candidates)
            raise PakatError(errors.NO_CERTIFICATE, f"none or several match {wanted!r}; the token has: {ids}")
        return matches[0]
    if len(candidates) == 1:
        return candidates[0]
    chosen = ui.choose(candidates)
    if chosen is None:
        raise ChoiceNeeded(contents.label, candidates)
    return chosen


def sign_session(request: SignRequest, ui: Interaction, client: AgentClient | None = None) -> SignOutcome:
    """Walk one signing session to the server's ``signed``; raises PakatError with a stable code otherwise."""
    client = client or AgentClient(request.session_url, request.secret)
    session = client.get_session()
    _check_state(session)
    contents = read_token(request.module, request.token_label)
    chosen = pick_certificate(contents, request.certificate, ui)
    ensure_not_locked(request.module, request.token_label)
    ui.show(session_lines(session, chosen))
    pin = ui.pin()
    if not pin:
        raise PakatError(errors.USER_CANCELLED, "no PIN was given")
    cert_der = chosen.der
    chain = [certificate_der(c) for c in contents.issuers_of(chosen.certificate)]
    with logged_in(request.module, request.token_label, chosen, pin) as token:
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
            signature = token.sign_digest(checked.digest, algorithm)
            try:
                accepted = client.post_signature(signature, cert_der)
            except PakatError as exc:
                if exc.kind is errors.DOCUMENT_CHANGED and round_number < MAX_ROUNDS:
                    continue  # another signature landed first: the server re-prepares on the next certificate
                raise
            return _outcome(session, accepted, chosen, round_number)
    raise AssertionError("unreachable")


def _check_state(session: dict[str, Any]) -> None:
    state = session.get("state")
    if state == "awaiting_certificate":
        return
    if state in ("expired", "cancelled"):
        raise PakatError(errors.SESSION_EXPIRED, f"the session is {state}")
    if state in ("signed", "completed", "failed"):
        raise PakatError(errors.SESSION_EXPIRED, f"the session is already {state}: SESSION_FINISHED")
    shown = clean_text(str(state))[:40]
    raise PakatError(errors.STEP_OUT_OF_ORDER, f"the session is {shown!r}, not awaiting_certificate")


def _outcome(
    session: dict[str, Any], accepted: dict[str, Any], chosen: TokenCertificate, rounds: int
) -> SignOutcome:
    found = session.get("document")
    document: dict[str, Any] = found if isinstance(found, dict) else {}
    return SignOutcome(
        session=clean_text(str(session.get("session") or "")),
        state=clean_text(str(accepted.get("state") or "signed")),
        level=clean_text(str(accepted.get("level") or session.get("level") or "")),
        document=clean_text(str(document.get("name") or "")),
        document_sha256=clean_text(str(document.get("sha256") or "")),
        certificate=certificate_facts(chosen),
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
