"""The composition root: every service a Pakat process runs on, built from its settings in one place.

The web application (one :class:`Services` per app), the RQ jobs and webhook
deliveries (one per worker process, :func:`process_services`) and the commands
all take their database, document store, queue, seal service, validator and
use cases from here; nothing else constructs them.

Everything is cheap to build and lazy where it matters: the database engine and
the Redis connection open on first use, after any fork; the seal service logs in
to the HSM on the first seal (:class:`LazySealService`); the validator is built
on the first validation and then shared, with its caches, by every thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from envelopes.api_keys import ApiKeys
from envelopes.archives import BatchLimits
from envelopes.audit import AuditLog
from envelopes.audit_queries import OrganisationAudit
from envelopes.batches import Batches
from envelopes.blobs import DocumentStore
from envelopes.database import Database
from envelopes.database_store import document_store
from envelopes.documents import DocumentService
from envelopes.operations import Readiness
from envelopes.people import People
from envelopes.queueing import RQJobQueue
from envelopes.retention import Retention
from envelopes.seal_keys import SealKeys
from envelopes.seal_status import SealStatuses
from envelopes.sealing import SealService
from envelopes.sessions import SigningSessions
from envelopes.tenders import Tenders
from envelopes.webhook_admin import OrganisationWebhooks
from hsm_config.deployment import Deployment, Organisation, load_deployment, validation_config
from pakat.settings import Settings
from validation.engine import Validator


class LazySealService:
    """One :class:`SealService` per process, built on first use.

    PKCS#11 modules must not be initialised before a fork (the serving processes, and
    anything else that forks), so the service is only created when a request or
    job first needs it, and is rebuilt if the holder finds itself in a child
    process. Threads share the one service, which keeps one HSM login per
    organisation.
    """

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self._lock = threading.Lock()
        self._service: SealService | None = None
        self._pid = 0

    def get(self) -> SealService:
        """The process's service, creating it (and logging in lazily) on first use."""
        with self._lock:
            if self._service is None or self._pid != os.getpid():
                # A service inherited across fork() belongs to the parent's PKCS#11
                # state: abandon it without finalising, and start afresh here.
                self._service = SealService.from_deployment(self.deployment)
                self._pid = os.getpid()
            return self._service

    def close(self) -> None:
        """Log out and release the HSM sessions, if this process opened any."""
        with self._lock:
            service, self._service = self._service, None
            if service is not None and self._pid == os.getpid():
                service.close()


@dataclass
class Services:
    """Settings, the parsed deployment, and what a process builds from them."""

    settings: Settings
    deployment: Deployment
    seals: LazySealService
    database: Database
    queue: RQJobQueue
    _store: DocumentStore | None = field(default=None, repr=False)
    _validator: Validator | None = field(default=None, repr=False)
    _readiness: Readiness | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, deployment: Deployment | None = None) -> Services:
        """Wire the services; the deployment is parsed unless given (a broken one stops here: CONFIG_INVALID)."""
        deployment = deployment or load_deployment(settings.config)
        return cls(
            settings,
            deployment,
            LazySealService(deployment),
            Database(settings.database_url),
            RQJobQueue(settings.redis_url, settings.queue, deployment,
                       batch_job_timeout=settings.batch_run_seconds + settings.batch_lease_seconds + 60),
        )

    @property
    def store(self) -> DocumentStore:
        """The document store, its folders made on first use (``pakat seal`` never makes them).

        With ``PAKAT_DOCUMENT_STORE=database`` the documents live in PostgreSQL, shared by
        every machine, and the folder is this machine's cache of them.
        """
        with self._lock:
            if self._store is None:
                self._store = document_store(self.settings, self.database)
            return self._store

    def validator(self) -> Validator:
        """The validator of this deployment's trust and policy; built once, its caches shared."""
        with self._lock:  # two first validations at once build it once
            if self._validator is None:
                self._validator = Validator(validation_config(self.deployment))
            return self._validator

    def readiness(self) -> Readiness:
        """This process's readiness checks; one per process, so its answer is cached for every request."""
        with self._lock:
            if self._readiness is None:
                self._readiness = Readiness(self.deployment, self.database, self.queue, self.seals.get,
                                            warn_days=self.settings.cert_warn_days,
                                            optional=self.settings.ready_optional)
            return self._readiness

    def audit_log(self) -> AuditLog:
        return AuditLog(self.database)

    def organisation_audit(self) -> OrganisationAudit:
        """The audit log as an organisation's administrators read it: their entries, and the chain's check."""
        return OrganisationAudit(self.database, self.deployment)

    def webhooks(self) -> OrganisationWebhooks:
        """An organisation's webhook settings and delivery log, and retrying an event the queue gave up on."""
        return OrganisationWebhooks(self.database, self.deployment, self.queue)

    def seal_statuses(self) -> SealStatuses:
        """Each organisation's seal: the HSM key's answer (this process's readiness probe) and its certificate."""
        return SealStatuses(self.deployment, self.readiness())

    def api_keys(self) -> ApiKeys:
        """The API keys in the database, beside the deployment YAML's."""
        return ApiKeys(self.database, self.deployment)

    def people(self) -> People:
        """The console's people, their sign-in and sessions (timeouts from the settings)."""
        return People(self.database, self.deployment,
                      idle=timedelta(seconds=self.settings.console_idle_seconds),
                      lifetime=timedelta(seconds=self.settings.console_session_seconds))

    def seal_keys(self, prompt_pin: Callable[[Organisation], str] | None = None) -> SealKeys:
        """The organisations' seal keys over their life (generate, request, install, list)."""
        return SealKeys(self.deployment, self.database, prompt_pin)

    def documents(self) -> DocumentService:
        return DocumentService(self.database, self.store, self.deployment.max_pdf_bytes,
                               self.deployment.storage_policy)

    def batches(self, *, threads: int | None = None) -> Batches:
        """The batch use cases; ``threads`` seal items in this process (default: the settings')."""
        return Batches(self.database, self.store, self.seals.get, lease=self.settings.batch_lease,
                       threads=threads or self.settings.batch_threads, policy_of=self.deployment.storage_policy)

    def retention(self) -> Retention:
        """Deleting documents and batches, on request and by each organisation's retention policy."""
        return Retention(self.database, self.store, self.deployment.storage_policy)

    def batch_limits(self) -> BatchLimits:
        return BatchLimits(max_item_bytes=self.deployment.max_pdf_bytes)

    def sessions(self) -> SigningSessions:
        """The signing-session use cases; the seal service is built only when one needs it."""
        return SigningSessions(self.database, self.store, self.deployment, self.seals.get, self.queue)

    def tenders(self) -> Tenders:
        """The tender use cases; the seal service is built only by a submission's receipt."""
        return Tenders(self.database, self.store, self.deployment, self.validator(), self.seals.get,
                       self.settings.tmp)

    def close(self) -> None:
        """Log out of the HSM and close the database's connections (process exit, or tests)."""
        self.seals.close()
        self.database.dispose()


_process: Services | None = None
_process_lock = threading.Lock()


def process_services() -> Services:
    """This process's services, for code run by name (RQ jobs, webhook deliveries).

    ``pakat worker`` installs its own (:func:`install_process_services`); any
    other worker builds them from the environment's settings on first use.
    """
    global _process
    with _process_lock:
        if _process is None:
            _process = Services.from_settings(Settings.from_env())
        return _process


def install_process_services(services: Services) -> None:
    """Make ``services`` this process's (the worker command's, built before its first job)."""
    global _process
    with _process_lock:
        _process = services


def forget_process_services() -> None:
    """Close this process's services; the next job builds them again (after a configuration change, in tests)."""
    global _process
    with _process_lock:
        services, _process = _process, None
    if services is not None:
        services.close()
