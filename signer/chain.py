"""Certificate chains to pinned trust anchors, as the signer needs them.

The signer builds the chain of its own seal and TSA certificates to decide
whether to sign at all and what validation data to embed; judging other
people's signatures is ``validation``'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

_MAX_DEPTH = 8


class ChainError(Exception):
    """No chain to a trust anchor could be built; the message says where it broke."""


class TrustStore:
    """Pinned roots plus known intermediates; roots are matched by exact DER."""

    def __init__(self, roots: Iterable[x509.Certificate], intermediates: Iterable[x509.Certificate] = ()) -> None:
        self.roots = list(roots)
        self._root_der = {r.public_bytes(Encoding.DER) for r in self.roots}
        self.intermediates = list(intermediates)

    def is_root(self, cert: x509.Certificate) -> bool:
        return cert.public_bytes(Encoding.DER) in self._root_der

    def chain_for(
        self,
        cert: x509.Certificate,
        extra: Sequence[x509.Certificate] = (),
        *,
        at: datetime | None = None,
    ) -> list[x509.Certificate]:
        """``[cert, intermediate…, root]``, each link's signature checked.

        With ``at``, every certificate must be valid at that moment; the leaf's
        own validity is left to the caller, which reports it more precisely.
        """
        candidates = [*extra, *self.intermediates, *self.roots]
        chain = [cert]
        while not self.is_root(chain[-1]):
            if len(chain) > _MAX_DEPTH:
                raise ChainError("chain too long")
            child = chain[-1]
            issuer = _find_issuer(child, candidates)
            if issuer is None:
                raise ChainError(f"no trusted issuer for {child.subject.rfc4514_string()}")
            if at is not None and not (issuer.not_valid_before_utc <= at <= issuer.not_valid_after_utc):
                raise ChainError(f"issuer {issuer.subject.rfc4514_string()} is not valid at {at:%Y-%m-%d}")
            chain.append(issuer)
        return chain


def _find_issuer(child: x509.Certificate, candidates: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != child.issuer or candidate is child:
            continue
        try:
            constraints = candidate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            continue
        if not constraints.ca:
            continue
        try:
            child.verify_directly_issued_by(candidate)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return candidate
    return None
