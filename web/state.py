"""What an application instance shares between its requests."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from envelopes.archives import BatchLimits
from envelopes.batches import Batches
from envelopes.blobs import DocumentStore
from envelopes.database import Database
from envelopes.documents import DocumentService
from envelopes.queueing import RQJobQueue
from envelopes.sessions import SigningSessions
from hsm_config.deployment import Deployment
from pakat.settings import LazySealService, Settings

EXTENSION_KEY = "pakat"


@dataclass(frozen=True)
class PakatState:
    """Settings, the parsed deployment, and the process's (lazy) services."""

    settings: Settings
    deployment: Deployment
    seals: LazySealService
    database: Database
    store: DocumentStore
    queue: RQJobQueue

    def documents(self) -> DocumentService:
        return DocumentService(self.database, self.store, self.deployment.max_pdf_bytes)

    def batches(self) -> Batches:
        """The batch use cases; this process only creates and watches batches, workers seal them."""
        return Batches(self.database, self.store, self.seals.get, lease=self.settings.batch_lease)

    def batch_limits(self) -> BatchLimits:
        return BatchLimits(max_item_bytes=self.deployment.max_pdf_bytes)

    def sessions(self) -> SigningSessions:
        """The signing-session use cases; cheap to build, the heavy parts are shared."""
        return SigningSessions(self.database, self.store, self.deployment, self.seals.get(), self.queue)


def pakat_state() -> PakatState:
    """The state of the application handling the current request."""
    state: PakatState = current_app.extensions[EXTENSION_KEY]
    return state
