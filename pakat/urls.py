"""Whether a URL falls under an allow-listed prefix, compared as URLs, never as strings.

One comparison for all of Pakat: a platform's return links
(``hsm_config.deployment``) and the responders a signer or a validator may
contact (``signer.http``). ``str.startswith`` admits
``http://pki.example/ocsp-evil``, ``http://pki.example.evil.com/`` and
``http://pki.example@evil/`` under ``http://pki.example/ocsp``; here the
scheme, host and port must be equal and the prefix's path must match whole
path segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2000


@dataclass(frozen=True)
class UrlParts:
    """A plain absolute http(s) URL, split for comparison."""

    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]
    query: str
    fragment: str

    @property
    def has_extra(self) -> bool:
        """A query or a fragment."""
        return bool(self.query or self.fragment)


def url_parts(url: str) -> UrlParts | None:
    """``url`` split for comparison, or None when it is no plain absolute http(s) URL.

    Refused outright: credentials, backslashes and control characters (browsers
    and parsers disagree on them), and ``.``/``..`` segments or percent-encoded
    slashes and dots (they would let a path climb out of its prefix once a
    client or a server normalised it).
    """
    if len(url) > MAX_URL_LENGTH:
        return None
    if "\\" in url or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return None
    lowered = parts.path.lower()
    if "%2f" in lowered or "%5c" in lowered or "%2e" in lowered:
        return None
    segments = tuple(parts.path.split("/")[1:]) if parts.path else ()
    if any(s in (".", "..") for s in segments):
        return None
    return UrlParts(scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme], segments,
                    parts.query, parts.fragment)


def url_under(url: str, prefix: str) -> bool:
    """Whether ``url`` is under ``prefix``: same scheme, host and port, and the prefix's whole path segments.

    A prefix ending in ``/`` admits anything below it; one without admits
    itself and anything below it. A prefix with a query or fragment admits
    only itself (a TSA address may carry one).
    """
    got, allowed = url_parts(url), url_parts(prefix)
    if got is None or allowed is None:
        return False
    if (got.scheme, got.host, got.port) != (allowed.scheme, allowed.host, allowed.port):
        return False
    if allowed.has_extra:
        return got == allowed
    below = bool(allowed.segments) and allowed.segments[-1] == ""  # "/ocsp/": strictly below /ocsp
    want = allowed.segments[:-1] if below else allowed.segments
    if below and len(got.segments) <= len(want):
        return False
    return got.segments[:len(want)] == want


def url_allowed(url: str, prefixes: tuple[str, ...] | list[str]) -> bool:
    """Whether ``url`` falls under any of ``prefixes``."""
    return any(url_under(url, prefix) for prefix in prefixes)
