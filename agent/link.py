"""The pairing link ``pakat://sign?session=…&secret=…``, read strictly before anything is sent.

The server hands the link out (:func:`envelopes.sessions.pairing_link`) as a QR
code or deep link; whoever can make a user open a link can choose where the
agent sends its certificate, so the link is refused unless it is exactly what
the server writes: scheme ``pakat``, target ``sign``, the parameters
``session`` and ``secret`` once each and nothing else, and a session address
that is https (plain http only to this machine, for development).

No error names the secret: the details say which rule failed, never what the
link held.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field

from pakat import errors
from pakat.errors import PakatError

SCHEME = "pakat"
TARGET = "sign"
MAX_LINK_CHARS = 4096
# What secrets.token_urlsafe writes; bounded so a pasted paragraph is not taken for a secret.
_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")
# The agent address the server writes: <base>/agent/v1/sessions/<id>.
_SESSION_PATH = re.compile(r"(?:/[^/?#]+)*/agent/v1/sessions/[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class PairingLink:
    """The session's agent address and its one-time secret (kept out of reprs)."""

    session_url: str
    secret: str = field(repr=False)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost`` or a loopback IP address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_pairing_link(text: str) -> PairingLink:
    """The link's session URL and secret; AGENT_LINK_INVALID or AGENT_LINK_INSECURE otherwise."""
    link = text.strip()
    if not link or len(link) > MAX_LINK_CHARS or any(ch.isspace() or not ch.isprintable() for ch in link):
        raise _invalid("the link is empty, too long or holds spaces or control characters")
    parts = urllib.parse.urlsplit(link)
    if parts.scheme != SCHEME:
        raise _invalid(f"the link must start with {SCHEME}://{TARGET}?")
    # pakat://sign?… puts "sign" in the host; some launchers add a slash (pakat://sign/?…).
    if parts.netloc != TARGET or parts.path not in ("", "/"):
        raise _invalid(f"the link's target must be {TARGET!r}")
    if parts.fragment or "#" in link:
        raise _invalid("the link must carry no fragment (#…)")
    try:
        pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True,
                                       max_num_fields=8)
    except ValueError:
        raise _invalid("the link's parameters cannot be read") from None
    names = sorted(name for name, _ in pairs)
    if names != ["secret", "session"]:
        raise _invalid("the link must carry exactly the parameters session and secret, once each")
    values = dict(pairs)
    secret = values["secret"]
    if not _SECRET.fullmatch(secret):
        raise _invalid("the secret parameter is not a session secret")
    return PairingLink(_session_url(values["session"], secret), secret)


def _session_url(value: str, secret: str) -> str:
    session = urllib.parse.urlsplit(value)
    if session.scheme not in ("https", "http") or not session.hostname:
        raise _invalid("the session parameter is not an http(s) address")
    if session.username or session.password or session.query or session.fragment or secret in value:
        raise _invalid("the session address must carry no user, query, fragment or secret")
    if not _SESSION_PATH.fullmatch(session.path.rstrip("/")):
        raise _invalid("the session parameter is not a session's agent address (…/agent/v1/sessions/ID)")
    try:
        session.port  # noqa: B018  (raises ValueError for a port out of range or not a number)
    except ValueError:
        raise _invalid("the session address has an unusable port") from None
    if session.scheme == "http" and not is_loopback(session.hostname):
        # Plain http would hand the secret and the certificate to anyone on the way.
        raise PakatError(errors.AGENT_LINK_INSECURE, f"http://{session.hostname}: https is required")
    return urllib.parse.urlunsplit((session.scheme, session.netloc, session.path.rstrip("/"), "", ""))


def _invalid(reason: str) -> PakatError:
    return PakatError(errors.AGENT_LINK_INVALID, reason)
