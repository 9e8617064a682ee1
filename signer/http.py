"""A small HTTP client for TSA, OCSP and CRL traffic.

Keep-alive connections are kept per thread and per origin, so a batch talks
to its responders over a handful of sockets instead of one per request. Every
request has a timeout and a response-size cap; only ``http``/``https`` URLs
under an allow-listed prefix are ever contacted, so a certificate cannot make
the service fetch an arbitrary address.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

from pakat.metrics import timed_remote

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RESPONSE = 16 * 1024 * 1024
# Which remote service a request is for, by what it sends or asks for: the metrics' ``service`` label.
_SERVICES = {
    "application/timestamp-query": "tsa",
    "application/ocsp-request": "ocsp",
    "application/pkix-crl": "crl",
}


class FetchError(Exception):
    """A request failed; the message names the URL's origin and why, never a secret."""


class HttpClient:
    """Keep-alive POST/GET for binary payloads, restricted to allowed URL prefixes."""

    def __init__(
        self,
        allowed_prefixes: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response: int = DEFAULT_MAX_RESPONSE,
    ) -> None:
        self.allowed_prefixes = tuple(allowed_prefixes)
        self.timeout = timeout
        self.max_response = max_response
        self._local = threading.local()

    def allowed(self, url: str) -> bool:
        scheme = urlsplit(url).scheme
        return scheme in ("http", "https") and any(url.startswith(p) for p in self.allowed_prefixes)

    def post(self, url: str, body: bytes, content_type: str, accept: str) -> bytes:
        with timed_remote(_SERVICES.get(content_type, "other")):
            return self._request("POST", url, body, {"Content-Type": content_type, "Accept": accept})

    def get(self, url: str, accept: str = "*/*") -> bytes:
        with timed_remote(_SERVICES.get(accept, "other")):
            return self._request("GET", url, None, {"Accept": accept})

    def _request(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> bytes:
        if not self.allowed(url):
            raise FetchError(f"{_origin(url)} is not an allowed responder")
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        # A kept-alive connection the server has closed fails on first use; retry once fresh.
        for attempt in (0, 1):
            conn = self._connection(parts.scheme, parts.netloc, fresh=attempt == 1)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read(self.max_response + 1)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if attempt == 0:
                    continue
                raise FetchError(f"{_origin(url)}: {type(exc).__name__}") from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise FetchError(f"{_origin(url)}: {type(exc).__name__}: {exc}") from None
            if len(data) > self.max_response:
                conn.close()
                raise FetchError(f"{_origin(url)}: response larger than {self.max_response} bytes")
            if response.status != 200:
                raise FetchError(f"{_origin(url)}: HTTP {response.status}")
            if response.will_close:
                conn.close()
            return data
        raise AssertionError("unreachable")

    def _connection(self, scheme: str, netloc: str, *, fresh: bool) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        key = (scheme, netloc)
        conn = pool.get(key)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = pool[key] = cls(netloc, timeout=self.timeout)
        return conn


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
