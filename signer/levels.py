"""PAdES baseline levels (ETSI EN 319 142-1)."""

from __future__ import annotations

import enum

from pakat import errors
from pakat.errors import InputError


class PadesLevel(enum.Enum):
    """The baseline level a signature is raised to.

    B-B is the bare CAdES-detached signature; B-T adds a signature timestamp;
    B-LT adds the certificates, OCSP responses and CRLs needed to validate it
    later into the document's DSS; B-LTA adds a document timestamp over all of it.
    """

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @classmethod
    def parse(cls, text: str) -> PadesLevel:
        """Accepts ``B-LTA``, ``b-lta``, ``LTA``, ``PAdES-B-LTA``; raises LEVEL_UNKNOWN."""
        key = text.strip().upper().replace("_", "-")
        key = key.removeprefix("PADES-")
        if not key.startswith("B-"):
            key = "B-" + key
        for level in cls:
            if level.value == key:
                return level
        raise InputError(errors.LEVEL_UNKNOWN, text[:40])

    @property
    def timestamped(self) -> bool:
        return self is not PadesLevel.B_B

    @property
    def long_term(self) -> bool:
        return self in (PadesLevel.B_LT, PadesLevel.B_LTA)

    @property
    def archival(self) -> bool:
        return self is PadesLevel.B_LTA
