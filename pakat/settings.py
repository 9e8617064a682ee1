"""Process settings from the environment: where state lives and where the configuration is.

Every entry point (``pakat serve``, ``pakat worker``, ``pakat seal``) starts from
:meth:`Settings.from_env`; nothing else reads ``PAKAT_*`` variables.

=============  ==========================================  ============================
variable       meaning                                     default
=============  ==========================================  ============================
PAKAT_HOME     state folder                                ``./var`` (from the cwd)
PAKAT_CONFIG   deployment YAML (see hsm_config.deployment)  ``$PAKAT_HOME/pakat.yaml``
REDIS_URL      Redis for the RQ queue                      none (no queue)
PAKAT_QUEUE    RQ queue name                               ``pakat``
PAKAT_TMP      uploads and outputs in flight               ``$PAKAT_HOME/tmp``
PAKAT_DATABASE_URL  SQLAlchemy URL of the database          ``sqlite:///$PAKAT_HOME/pakat.db``
PAKAT_DOCUMENTS     stored documents, by SHA-256            ``$PAKAT_HOME/documents``
PAKAT_DOCUMENT_STORE  where stored documents live: ``folder``  ``folder``
                    (PAKAT_DOCUMENTS, one machine) or
                    ``database`` (PostgreSQL at
                    PAKAT_DATABASE_URL, shared by every
                    machine; PAKAT_DOCUMENTS is then this
                    machine's cache of it)
PAKAT_PUBLIC_URL    base of the URLs given to agents and    none: ``pakat serve`` then listens
                    bidders (http or https, no query);      on loopback only, and links take
                    required to listen beyond loopback      the loopback host asked for
PAKAT_BATCH_LEASE_SECONDS  how long a worker holds batch items  ``120``
                    before another may take them over
PAKAT_BATCH_SWEEP_SECONDS  how often a worker looks for batches ``30``
                    whose queued jobs were lost
PAKAT_BATCH_THREADS  threads sealing batch items in one worker ``4``
PAKAT_BATCH_RUN_SECONDS  how long one job works on a batch      ``60``
                    before a successor takes its place in the queue
PAKAT_HTTP_HEADER_SECONDS  time a client has to send a request's    ``15``
                    line and headers, in total (``pakat serve``)
PAKAT_HTTP_BODY_SECONDS    grace for a request's body, plus one     ``30``
                    second per PAKAT_HTTP_BODY_MIN_RATE bytes received
PAKAT_HTTP_BODY_MIN_RATE   slowest body upload kept, bytes/second   ``10000``
PAKAT_HTTP_IDLE_SECONDS    a kept-alive connection between requests, ``60``
                    or a client not reading its answer, is closed after
PAKAT_LOG_FORMAT    ``json`` (one object per line) or ``text``  ``json``
                    for ``pakat serve`` and ``pakat worker``
PAKAT_CERT_WARN_DAYS  days before a seal or TSA certificate  ``30``
                    expires that metrics, /readyz and the log warn
PAKAT_OPS_ALLOW     addresses or networks (comma-separated)   ``127.0.0.1,::1``
                    that may read /metrics and /readyz
PAKAT_OPS_TOKEN     a bearer token that also opens them        none
                    (from anywhere; never logged)
PAKAT_READY_OPTIONAL  organisations (comma-separated) whose    none
                    seal key or certificate /readyz reports
                    without failing on it
PAKAT_RETENTION_SECONDS  how often a worker deletes what the     ``3600``
                    deployment's ``storage`` retention says is due
PAKAT_VALIDATION_SECONDS  time budget of one validation asked   ``30``
                    over the web (API and page); ``0``: none
PAKAT_CONSOLE_IDLE_SECONDS  a console session unused this long    ``1800``
                    ends (the person signs in again)
PAKAT_CONSOLE_SESSION_SECONDS  a console session ends this long   ``43200``
                    after sign-in, however active
=============  ==========================================  ============================
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pakat import errors
from pakat.errors import AccessError

DEFAULT_QUEUE = "pakat"


@dataclass(frozen=True)
class Settings:
    """Where a Pakat process keeps its state and finds its configuration."""

    home: Path
    config: Path
    tmp: Path
    redis_url: str | None = None
    queue: str = DEFAULT_QUEUE
    database_url: str = ""  # empty: SQLite in ``home``
    documents: Path | None = None  # None: ``home/documents``
    public_url: str | None = None
    document_store: str = "folder"  # folder | database (DOCUMENT_STORES)
    batch_lease_seconds: int = 120
    batch_sweep_seconds: int = 30
    batch_threads: int = 4
    batch_run_seconds: int = 60
    http_header_seconds: int = 15
    http_body_seconds: int = 30
    http_body_min_rate: int = 10_000
    http_idle_seconds: int = 60
    log_format: str = "json"
    cert_warn_days: int = 30
    ops_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    ops_token: str | None = field(default=None, repr=False)
    ready_optional: tuple[str, ...] = ()
    retention_seconds: int = 3600
    # Anyone may ask the web app to validate a document: each validation ends after this long
    # (VALIDATION_TIME_EXCEEDED) instead of holding a worker thread; 0: no budget.
    validation_seconds: int = 30
    # The console's sessions (envelopes.people): idle timeout, and absolute lifetime from sign-in.
    console_idle_seconds: int = 1800
    console_session_seconds: int = 43200

    def __post_init__(self) -> None:
        # Settings built in code (tests, tools) get the same defaults as from_env.
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'pakat.db'}")
        if self.documents is None:
            object.__setattr__(self, "documents", self.home / "documents")

    @property
    def document_root(self) -> Path:
        """Where stored documents live (``documents``, always set after construction)."""
        assert self.documents is not None
        return self.documents

    @property
    def batch_lease(self) -> timedelta:
        return timedelta(seconds=self.batch_lease_seconds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``PAKAT_*`` variables and ``REDIS_URL``; empty values count as unset."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        home = Path(get("PAKAT_HOME") or "var").resolve()
        config = get("PAKAT_CONFIG")
        tmp = get("PAKAT_TMP")
        return cls(
            home=home,
            config=Path(config).resolve() if config else home / "pakat.yaml",
            tmp=Path(tmp).resolve() if tmp else home / "tmp",
            redis_url=get("REDIS_URL"),
            queue=get("PAKAT_QUEUE") or DEFAULT_QUEUE,
            database_url=get("PAKAT_DATABASE_URL") or "",
            documents=Path(documents).resolve() if (documents := get("PAKAT_DOCUMENTS")) else None,
            public_url=_public_url(get("PAKAT_PUBLIC_URL")),
            document_store=_document_store(get("PAKAT_DOCUMENT_STORE"), get("PAKAT_DATABASE_URL") or ""),
            batch_lease_seconds=_whole("PAKAT_BATCH_LEASE_SECONDS", get("PAKAT_BATCH_LEASE_SECONDS"), 120, 86400),
            batch_sweep_seconds=_whole("PAKAT_BATCH_SWEEP_SECONDS", get("PAKAT_BATCH_SWEEP_SECONDS"), 30, 86400),
            batch_threads=_whole("PAKAT_BATCH_THREADS", get("PAKAT_BATCH_THREADS"), 4, 64),
            batch_run_seconds=_whole("PAKAT_BATCH_RUN_SECONDS", get("PAKAT_BATCH_RUN_SECONDS"), 60, 86400),
            http_header_seconds=_whole("PAKAT_HTTP_HEADER_SECONDS", get("PAKAT_HTTP_HEADER_SECONDS"), 15, 3600),
            http_body_seconds=_whole("PAKAT_HTTP_BODY_SECONDS", get("PAKAT_HTTP_BODY_SECONDS"), 30, 86400),
            http_body_min_rate=_whole("PAKAT_HTTP_BODY_MIN_RATE", get("PAKAT_HTTP_BODY_MIN_RATE"), 10_000, 10**9),
            http_idle_seconds=_whole("PAKAT_HTTP_IDLE_SECONDS", get("PAKAT_HTTP_IDLE_SECONDS"), 60, 86400),
            log_format=_log_format(get("PAKAT_LOG_FORMAT")),
            cert_warn_days=_whole("PAKAT_CERT_WARN_DAYS", get("PAKAT_CERT_WARN_DAYS"), 30, 3650),
            ops_allow=_networks(get("PAKAT_OPS_ALLOW")),
            ops_token=get("PAKAT_OPS_TOKEN"),
            ready_optional=tuple(o.strip() for o in (get("PAKAT_READY_OPTIONAL") or "").split(",") if o.strip()),
            retention_seconds=_whole("PAKAT_RETENTION_SECONDS", get("PAKAT_RETENTION_SECONDS"), 3600, 604800),
            validation_seconds=_seconds_or_none("PAKAT_VALIDATION_SECONDS", get("PAKAT_VALIDATION_SECONDS"), 30),
            console_idle_seconds=_whole("PAKAT_CONSOLE_IDLE_SECONDS", get("PAKAT_CONSOLE_IDLE_SECONDS"), 1800,
                                        86400),
            console_session_seconds=_whole("PAKAT_CONSOLE_SESSION_SECONDS", get("PAKAT_CONSOLE_SESSION_SECONDS"),
                                           43200, 7 * 86400),
        )

    def with_config(self, config: str | os.PathLike[str] | None) -> Settings:
        """The same settings with another deployment file (the CLI's ``--config``)."""
        if config is None:
            return self
        return dataclasses.replace(self, config=Path(config).resolve())

    def require_public_url(self, listen_host: str) -> None:
        """Refuse to listen beyond loopback without PAKAT_PUBLIC_URL (CONFIG_INVALID).

        That is what production means here: reachable from other machines. Links for
        agents and bidders must then come from the configured URL, never from a
        Host header a client wrote; on loopback (development) the host asked for is ours.
        """
        if self.public_url is None and not is_loopback(listen_host):
            raise AccessError(errors.PUBLIC_URL_NOT_SET,
                              f"listening on {listen_host} needs PAKAT_PUBLIC_URL (e.g. https://pakat.example.ir)")

    def ensure_tmp(self) -> Path:
        """Create the temp folder if needed; owner-only, since it holds documents in flight."""
        self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.tmp


#: The document stores PAKAT_DOCUMENT_STORE names: one machine's folder, or PostgreSQL shared by several.
DOCUMENT_STORES = ("folder", "database")


def _document_store(raw: str | None, database_url: str) -> str:
    """PAKAT_DOCUMENT_STORE, checked: ``database`` only where the database is PostgreSQL."""
    store = raw or "folder"
    if store not in DOCUMENT_STORES:
        raise AccessError(errors.CONFIG_INVALID, "PAKAT_DOCUMENT_STORE must be folder or database")
    if store == "database" and not database_url.startswith("postgresql"):
        raise AccessError(errors.CONFIG_INVALID,
                          "PAKAT_DOCUMENT_STORE=database needs PAKAT_DATABASE_URL on PostgreSQL")
    return store


def _whole(name: str, raw: str | None, default: int, highest: int) -> int:
    """A whole-number setting from 1 to ``highest``; anything else stops the process with CONFIG_INVALID."""
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= highest:
        raise AccessError(errors.CONFIG_INVALID, f"{name} must be a whole number from 1 to {highest}")
    return int(raw)


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """Whether a host name or address (no port, IPv6 with or without brackets) is this machine's loopback."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _public_url(raw: str | None) -> str | None:
    """PAKAT_PUBLIC_URL without its trailing slash: http(s), a host, no query, fragment or credentials."""
    if raw is None:
        return None
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise AccessError(errors.CONFIG_INVALID, "PAKAT_PUBLIC_URL is not a URL") from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment
            or parts.username is not None or parts.password is not None):
        raise AccessError(errors.CONFIG_INVALID,
                          "PAKAT_PUBLIC_URL must be an http or https URL with a host and no query, e.g. "
                          "https://pakat.example.ir")
    return raw.rstrip("/")


def _log_format(raw: str | None) -> str:
    if raw is None:
        return "json"
    if raw not in ("json", "text"):
        raise AccessError(errors.CONFIG_INVALID, "PAKAT_LOG_FORMAT must be json or text")
    return raw


def _networks(raw: str | None) -> tuple[str, ...]:
    """PAKAT_OPS_ALLOW: addresses or CIDR networks, checked now so a typo stops the process at start."""
    if raw is None:
        return ("127.0.0.1", "::1")
    found = tuple(part.strip() for part in raw.split(",") if part.strip())
    for entry in found:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise AccessError(errors.CONFIG_INVALID,
                              f"PAKAT_OPS_ALLOW: {entry!r} is not an address or network") from None
    return found


def _seconds_or_none(name: str, raw: str | None, default: int) -> int:
    """Whole seconds from 0 (none) to a day; anything else stops the process with CONFIG_INVALID."""
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > 86400:
        raise AccessError(errors.CONFIG_INVALID, f"{name} must be whole seconds from 0 (none) to 86400")
    return int(raw)
