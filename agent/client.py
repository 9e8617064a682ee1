"""The agent side of the session protocol over HTTP(S): JSON steps, the preview, the document, the prepared PDF.

Standard library only (``urllib.request``): a 15 s timeout, redirects are
never followed (a redirect could carry the bearer secret elsewhere), JSON
answers above 1 MiB or not JSON are refused, downloads have their own caps. The agent secret goes only in
``Authorization: Bearer`` and is scrubbed from anything the server sends back
before it can reach a message.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from pakat import errors
from pakat.errors import KINDS, PakatError

TIMEOUT_SECONDS = 15.0
MAX_ANSWER_BYTES = 1024 * 1024
BUSY_PATIENCE_SECONDS = 60.0
MAX_PREVIEW_BYTES = 8 * 1024 * 1024
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_CHUNK = 256 * 1024

# The server's codes that mean "not with this certificate".
CERTIFICATE_CODES = (
    "SIGNER_CERT_UNTRUSTED", "SIGNER_CERT_EXPIRED", "SIGNER_CERT_REVOKED", "SIGNER_CERT_UNUSABLE",
    "SIGNER_NOT_EXPECTED", "CERTIFICATE_UNREADABLE", "CERTIFICATE_MISMATCH",
)
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_SESSION_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class ServerError(Exception):
    """An error answer of the server, as its JSON said it (already cleaned of the secret)."""

    status: int
    code: str
    message_en: str
    detail: str | None
    retry_after: float | None = None

    def as_pakat_error(self) -> PakatError:
        """The agent's error for it: certificate rejected, or the server's own kind.

        A session that is over keeps the server's own code (SESSION_EXPIRED,
        SESSION_CANCELLED, SESSION_FINISHED): each asks something else of the user.
        """
        said = f"{self.code}: {self.message_en}" + (f" ({self.detail})" if self.detail else "")
        if self.code in CERTIFICATE_CODES:
            return PakatError(errors.CERTIFICATE_REJECTED, said)
        if self.code in KINDS and self.code != "INTERNAL":
            return PakatError(KINDS[self.code], self.detail)
        return PakatError(errors.INTERNAL, f"server answered HTTP {self.status}, {said}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class AgentClient:
    """Calls of one signing session: ``GET`` it, post the certificate, post the signature."""

    def __init__(
        self,
        session_url: str,
        secret: str,
        *,
        timeout: float = TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        busy_patience: float = BUSY_PATIENCE_SECONDS,
    ) -> None:
        parsed = urllib.parse.urlsplit(session_url.strip())
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            raise PakatError(errors.REQUEST_INVALID, "the session URL must be an http(s) address of a session")
        if parsed.username or parsed.password or parsed.query or parsed.fragment:
            # Whatever is there would be sent around and logged by proxies: keep addresses plain.
            raise PakatError(errors.REQUEST_INVALID, "the session URL must carry no user, query or fragment")
        if not secret or any(ch.isspace() or ord(ch) < 0x21 for ch in secret):
            raise PakatError(errors.AGENT_SECRET_INVALID, "the secret file is empty or holds more than one word")
        self.url = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))
        self.where = parsed.netloc
        self._secret = secret
        self._timeout = timeout
        self._sleep = sleep
        self._busy_patience = busy_patience
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
        if parsed.hostname in _LOOPBACK:
            handlers.append(urllib.request.ProxyHandler({}))  # never send loopback traffic to a proxy
        self._opener = urllib.request.build_opener(*handlers)
        # The answer the flow read and showed: a window checks the pages it draws against this very answer,
        # not against a second GET that a server could answer differently.
        self.last_session: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"AgentClient({self.url!r})"  # the secret stays out of reprs and tracebacks

    def for_session(self, session_id: str) -> AgentClient:
        """The calls of another document's session of the same signing session: same server, same secret.

        Only an id goes into the path, so a server answer cannot point the agent anywhere else.
        """
        if not _SESSION_ID.fullmatch(session_id):
            raise PakatError(errors.SERVER_REQUEST_REFUSED, "nothing was signed: the server named no session id")
        return AgentClient(f"{self.url.rsplit('/', 1)[0]}/{session_id}", self._secret, timeout=self._timeout,
                           sleep=self._sleep, busy_patience=self._busy_patience)

    def get_session(self) -> dict[str, Any]:
        """The session: what is to be signed, for whom, until when; also kept as :attr:`last_session`."""
        self.last_session = self._call("GET", "", None)
        return self.last_session

    def get_preview(self) -> bytes:
        """The first page of the document as the server rendered it (PNG), from this session's own address.

        The session answer's ``preview_url`` is not followed: the preview comes
        from the server the user confirmed, whatever that answer says.
        """
        with self._download("preview.png", "image/png") as (kind, answer):
            payload = answer.read(MAX_PREVIEW_BYTES + 1)
        if kind != "image/png" or len(payload) > MAX_PREVIEW_BYTES or not payload.startswith(_PNG_MAGIC):
            raise PakatError(errors.SERVER_UNREACHABLE, f"{self.where}: the preview is not a PNG of at most 8 MiB")
        return payload

    def get_prepared(self, destination: IO[bytes], max_bytes: int) -> int:
        """Write the prepared revision (``prepared.pdf``, hole empty) into ``destination``; its size."""
        return self._save("prepared.pdf", "the prepared revision", destination, max_bytes)

    def get_document(self, destination: IO[bytes], max_bytes: int) -> int:
        """Write the document as stored (``document.pdf``, the head revision) into ``destination``; its size.

        Like :meth:`get_preview`, from this session's own address: the session
        answer's ``document_url`` is not followed.
        """
        return self._save("document.pdf", "the document", destination, max_bytes)

    def _save(self, name: str, what: str, destination: IO[bytes], max_bytes: int) -> int:
        """Write the PDF ``name`` below the session's address into ``destination``; its size.

        Streamed in chunks and refused beyond ``max_bytes`` (SERVER_UNREACHABLE:
        not a Pakat answer), so a hostile server cannot fill the disk or memory.
        """
        written = 0
        with self._download(name, "application/pdf") as (kind, answer):
            if kind != "application/pdf":
                raise PakatError(errors.SERVER_UNREACHABLE, f"{self.where}: {what} is no PDF")
            while chunk := answer.read(min(_CHUNK, max_bytes + 1 - written)):
                written += len(chunk)
                if written > max_bytes:
                    raise PakatError(errors.SERVER_UNREACHABLE, f"{self.where}: {what} is over {max_bytes} bytes")
                destination.write(chunk)
        return written

    @contextlib.contextmanager
    def _download(self, name: str, accept: str) -> Iterator[tuple[str, Any]]:
        """GET ``name`` below the session's address: the answer's media type and the open answer.

        A refusal is read and mapped as for the JSON calls; no answer at all is SERVER_UNREACHABLE.
        """
        request = urllib.request.Request(f"{self.url}/{name}", method="GET")
        request.add_header("Authorization", f"Bearer {self._secret}")
        request.add_header("Accept", accept)
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                yield (answer.headers.get("Content-Type") or "").split(";")[0].strip().lower(), answer
        except urllib.error.HTTPError as answer:
            with answer:
                payload = answer.read(MAX_ANSWER_BYTES + 1)
            error = self._server_error(answer.code, answer.headers, payload)
            raise (error.as_pakat_error() if isinstance(error, ServerError) else error) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise PakatError(errors.SERVER_UNREACHABLE, f"{self.where}: {type(exc).__name__}") from None

    def post_certificate(self, certificate: bytes, chain: list[bytes], digest_algorithm: str) -> dict[str, Any]:
        """Announce the certificate; the answer carries ``signed_attributes`` and ``digest``."""
        body = {
            "certificate": _b64(certificate),
            "chain": [_b64(c) for c in chain],
            "digest_algorithm": digest_algorithm,
        }
        return self._call("POST", "/certificate", body)

    def post_signature(self, signature: bytes, certificate: bytes) -> dict[str, Any]:
        """Hand over the signature; the server verifies it before it embeds anything."""
        return self._call("POST", "/signature", {"signature": _b64(signature), "certificate": _b64(certificate)})

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        """One call, retried while the server says DOCUMENT_BUSY (Retry-After, else 1 s), up to the patience."""
        deadline = time.monotonic() + self._busy_patience
        while True:
            try:
                return self._once(method, path, body)
            except ServerError as error:
                left = deadline - time.monotonic()
                if error.code != "DOCUMENT_BUSY" or left <= 0:
                    raise error.as_pakat_error() from None
                self._sleep(min(left, error.retry_after if error.retry_after is not None else 1.0))

    def _once(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._secret}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self._timeout) as answer:
                return self._decode(answer.status, answer.headers, answer.read(MAX_ANSWER_BYTES + 1))
        except urllib.error.HTTPError as answer:
            with answer:
                payload = answer.read(MAX_ANSWER_BYTES + 1)
            raise self._server_error(answer.code, answer.headers, payload) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            name = type(reason).__name__ if isinstance(reason, BaseException) else type(exc).__name__
            # The type says enough (refused, DNS, timeout, TLS); the text could echo headers.
            raise PakatError(errors.SERVER_UNREACHABLE, f"{self.where}: {name}") from None

    def _decode(self, status: int, headers: Any, payload: bytes) -> dict[str, Any]:
        value = self._json(status, headers, payload)
        if "error" in value:
            raise self._server_error(status, headers, payload)
        return value

    def _json(self, status: int, headers: Any, payload: bytes) -> dict[str, Any]:
        if len(payload) > MAX_ANSWER_BYTES:
            raise PakatError(errors.SERVER_UNREACHABLE, f"{self.where}: an answer larger than 1 MiB")
        kind = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            value = json.loads(payload.decode("utf-8")) if kind == "application/json" else None
        except (UnicodeDecodeError, ValueError):
            value = None
        if not isinstance(value, dict):
            # A proxy's page, a captive portal: the Pakat server itself was not reached.
            raise PakatError(
                errors.SERVER_UNREACHABLE,
                f"{self.where}: HTTP {status} without a Pakat JSON answer ({kind or '-'})",
            )
        return value

    def _server_error(self, status: int, headers: Any, payload: bytes) -> PakatError | ServerError:
        if 300 <= status < 400:
            return PakatError(errors.SERVER_UNREACHABLE, f"{self.where}: a redirect (HTTP {status}), not followed")
        try:
            value = self._json(status, headers, payload)
        except PakatError as exc:
            return exc
        error = value.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            return PakatError(errors.INTERNAL, f"{self.where}: HTTP {status} without an error code")
        detail = error.get("detail")
        return ServerError(
            status,
            self._clean(error["code"], 64),
            self._clean(error.get("message_en"), 300),
            self._clean(detail, 500) if detail is not None else None,
            _retry_after(headers.get("Retry-After")),
        )

    def _clean(self, value: object, limit: int) -> str:
        """Server text made safe for a terminal: printable, bounded, and never the secret."""
        text = "".join(ch if ch.isprintable() else " " for ch in str(value or ""))[:limit]
        return text.replace(self._secret, "[secret]")


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, min(float(value), BUSY_PATIENCE_SECONDS)) if value else None
    except ValueError:
        return None  # an HTTP date: a second is as good a guess


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
