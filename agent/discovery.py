"""Every signing certificate on every token plugged in, and the one a session's expected signer can use.

Without ``--module`` the agent looks in the known module places
(:mod:`agent.modules`), asks each module for its tokens and each token for its
signing certificates, all without a PIN. A module or token that cannot be read
is noted and skipped, so one broken driver does not hide a working token.
Then :func:`matching` keeps the certificates the session's expected signer
allows, by the same rule the server applies (:class:`signer.external.ExpectedSigner`),
so a wrong token is refused before anyone types a PIN into it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.x509.oid import NameOID

from agent.modules import find_modules, looked_in
from agent.token import TokenCertificate, TokenContents, read_token, token_labels
from pakat import errors
from pakat.errors import PakatError
from pakat.text import clean_text
from signer.external import ExpectedSigner


@dataclass(frozen=True)
class FoundCertificate:
    """A signing certificate and where it is: module, token, and what else the token holds (its chain)."""

    module: str
    token_label: str
    certificate: TokenCertificate
    contents: TokenContents

    @property
    def national_id(self) -> str | None:
        """The certificate's subject serialNumber (کد ملی), as the server reads it."""
        return _first(self.certificate, NameOID.SERIAL_NUMBER)

    @property
    def role(self) -> str | None:
        """The certificate's subject title (سمت), as the server reads it."""
        return _first(self.certificate, NameOID.TITLE)

    def matches(self, wanted: str) -> bool:
        """``--certificate``: the hex CKA_ID or the label."""
        return self.certificate.matches(wanted)


def _first(chosen: TokenCertificate, oid: Any) -> str | None:
    values = chosen.certificate.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


@dataclass(frozen=True)
class Discovery:
    """What was found: modules, tokens (module, label), signing certificates, and what could not be read."""

    modules: tuple[str, ...]
    tokens: tuple[tuple[str, str], ...]
    certificates: tuple[FoundCertificate, ...]
    problems: tuple[str, ...]


def discover(module: str | None = None, token_label: str | None = None) -> Discovery:
    """The signing certificates of the named module and token, or of everything found.

    A module or token that was named and fails is an error (as before); found
    ones that fail are problems, skipped. Raises PKCS11_MODULE_NOT_FOUND when
    no module is installed, TOKEN_NOT_PRESENT when no token is plugged in, and
    NO_CERTIFICATE when the tokens hold no signing certificate.
    """
    named = module is not None
    modules = [module] if module is not None else find_modules()
    if not modules:
        places = ", ".join(looked_in())
        raise PakatError(errors.PKCS11_MODULE_NOT_FOUND, f"looked in: {places}; add one to PAKAT_PKCS11_MODULES")
    tokens: list[tuple[str, str]] = []
    found: list[FoundCertificate] = []
    problems: list[str] = []
    seen: set[bytes] = set()
    for path in modules:
        try:
            labels = [token_label] if token_label is not None else token_labels(path)
        except PakatError as exc:
            if named:
                raise
            problems.append(f"{path}: {exc.detail}")
            continue
        for label in labels:
            try:
                contents = read_token(path, label)
            except PakatError as exc:
                if named and token_label is not None:
                    raise
                problems.append(f"{path}: {exc.detail}")
                continue
            tokens.append((path, label))
            for chosen in contents.signing:
                # OpenSC and a vendor's driver both show the same physical token: offer each certificate once,
                # through the module found first (vendor drivers come before OpenSC in the known list).
                if chosen.der in seen:
                    continue
                seen.add(chosen.der)
                found.append(FoundCertificate(path, label, chosen, contents))
    if not tokens:
        detail = "no token is plugged in" + (f" ({'; '.join(problems)})" if problems else "")
        raise PakatError(errors.TOKEN_NOT_PRESENT, detail)
    if not found:
        raise PakatError(errors.NO_CERTIFICATE, ", ".join(f"token {label!r}" for _, label in tokens))
    return Discovery(tuple(modules), tuple(tokens), tuple(found), tuple(problems))


def expected_signer(session: Mapping[str, Any]) -> ExpectedSigner:
    """The session answer's ``expected_signer`` (anyone when it names nobody)."""
    expected = session.get("expected_signer")
    if not isinstance(expected, Mapping):
        return ExpectedSigner()
    national_id, role = expected.get("national_id"), expected.get("role")
    return ExpectedSigner(
        national_id if isinstance(national_id, str) and national_id else None,
        role if isinstance(role, str) and role else None,
    )


def matching(candidates: Sequence[FoundCertificate], expected: ExpectedSigner) -> list[FoundCertificate]:
    """The candidates the server would take as the expected signer (national ID and role)."""
    return [c for c in candidates if expected.refusal(c.national_id, c.role) is None]


def no_match_detail(candidates: Sequence[FoundCertificate], expected: ExpectedSigner) -> str:
    """Who is expected and what was found instead, for NO_MATCHING_CERTIFICATE."""
    wanted = f"national ID {expected.national_id or 'any'}" + (f", role {expected.role}" if expected.role else "")
    offered = "; ".join(
        f"{clean_text(c.national_id or '-')}"
        + (f" ({clean_text(c.role)})" if c.role else "")
        + f" on token {clean_text(c.token_label)!r}"
        for c in candidates
    )
    return f"expected {wanted}; found {offered}"
