"""What every answer says to the browser, where links point, and who the client is.

* Security headers on every response, pages, JSON, files and errors alike:
  a Content-Security-Policy (a page sets its own; anything else gets
  :data:`DEFAULT_CONTENT_SECURITY_POLICY`, which allows no script and no
  framing; pages get :data:`PAGE_CONTENT_SECURITY_POLICY` from
  ``web.look.render_page``, which allows script only from this server),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (the signing
  page's URL names a session), ``X-Frame-Options``
  for old browsers, and HSTS when served over TLS (the request is secure, or
  PAKAT_PUBLIC_URL is https and a proxy ends TLS in front of us).
* Links given to agents and bidders (``agent_url``, the pairing link,
  ``signing_page_url``) start from PAKAT_PUBLIC_URL, never from the request's
  Host header, which any client writes. Without it, only a request to a
  loopback name gets links (the development setup, where ``pakat serve`` listens
  on loopback); anything else is PUBLIC_URL_NOT_SET.
* The client's address is the socket's peer, unless that peer is one of the
  deployment's ``trusted_proxies``: then X-Forwarded-For is read from the right,
  past the trusted proxies, to the first address they did not add.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import Flask, Response, request

from pakat import errors
from pakat.errors import AccessError
from pakat.settings import is_loopback
from web.state import app_services

DEFAULT_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Every page for people (web.look.render_page): scripts, styles, fonts and fetches from this server only;
# images also as data: (a QR code) and blob: (a preview a script fetched). No inline script, no inline style.
PAGE_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; font-src 'self'; "
    "img-src 'self' data: blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The API documentation page: the vendored Redoc bundle styles its elements inline (styled-components)
# and runs its search in a blob: worker. Still no inline script and nothing from another origin.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; img-src 'self' data: blob:; worker-src blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000"


def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", DEFAULT_CONTENT_SECURITY_POLICY)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    public = app_services().settings.public_url or ""
    if request.is_secure or public.startswith("https://"):
        headers["Strict-Transport-Security"] = HSTS
    return response


def public_base() -> str:
    """Where people and agents reach Pakat: PAKAT_PUBLIC_URL; without it, only a loopback request's own host."""
    configured = app_services().settings.public_url
    if configured:
        return configured
    try:
        host = urlsplit(f"//{request.host}").hostname or ""
    except ValueError:  # a Host header that is not even a host ("[::1", "a]b")
        host = ""
    if not is_loopback(host):
        raise AccessError(errors.PUBLIC_URL_NOT_SET)
    return request.host_url.rstrip("/")


def client_address() -> str:
    """The client's address: the peer, or what trusted proxies in front of us say it was."""
    peer = request.remote_addr or ""
    trusted = app_services().deployment.throttling.trusted_proxies
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in ",".join(request.headers.getlist("X-Forwarded-For")).split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _is_address(hop) else peer
    return hops[0] if hops and _is_address(hops[0]) else peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)


def register(app: Flask) -> None:
    """Put the security headers on every response, error answers included."""
    app.after_request(_headers)
