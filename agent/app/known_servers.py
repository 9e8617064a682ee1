"""The servers this user has confirmed once, like SSH's known hosts: a signing link to any other asks first.

A ``pakat://`` link can be made by anyone; the first time a link names a
server, the user is shown its host and must confirm it before a byte is sent.
The list is a text file in the user's own config folder (XDG on Linux and
other Unixes, ``%APPDATA%`` on Windows, ``~/Library/Application Support`` on
macOS), one origin (``https://host:port``) a line. It holds no secret.
"""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pakat import errors
from pakat.errors import PakatError

APP_FOLDER = "pakat-signer"
FILE_NAME = "known_servers.txt"
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class Server:
    """Where a session lives: its origin (what is remembered) and its host (what the user reads)."""

    origin: str
    host: str


def server_of(session_url: str) -> Server:
    """The origin ``scheme://host:port`` of a session's agent address (the port always written)."""
    parts = urllib.parse.urlsplit(session_url)
    host = (parts.hostname or "").lower()
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    shown = f"[{host}]" if ":" in host else host
    return Server(f"{parts.scheme}://{shown}:{port}", shown if port == _DEFAULT_PORTS.get(parts.scheme)
                  else f"{shown}:{port}")


def config_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """The user's config folder for this app, per the platform's own convention."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        base = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
        return base / "Pakat" / "Signer"
    if platform == "darwin":
        return home / "Library" / "Application Support" / APP_FOLDER
    xdg = env.get("XDG_CONFIG_HOME")
    # The XDG spec: a relative XDG_CONFIG_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / APP_FOLDER


class KnownServers:
    """The confirmed origins, read from and written to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def default(cls) -> KnownServers:
        """The list in this user's config folder."""
        return cls(config_dir() / FILE_NAME)

    def origins(self) -> set[str]:
        """Every confirmed origin; none when the file does not exist yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return set()
        except (OSError, UnicodeDecodeError) as exc:
            raise PakatError(errors.KNOWN_SERVERS_UNREADABLE, f"{self.path}: {type(exc).__name__}") from None
        return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}

    def knows(self, server: Server) -> bool:
        """Whether the user confirmed this origin before."""
        return server.origin in self.origins()

    def add(self, server: Server) -> None:
        """Remember ``server``: written whole to a temporary file then renamed, so a crash leaves the old list."""
        known = self.origins() | {server.origin}
        body = "# Pakat Signer: servers confirmed by this user / سرورهای تأییدشده\n" + "".join(
            f"{origin}\n" for origin in sorted(known)
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".known-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(body)
            os.replace(name, self.path)
        except OSError as exc:
            raise PakatError(errors.KNOWN_SERVERS_UNREADABLE, f"{self.path}: {type(exc).__name__}") from None
