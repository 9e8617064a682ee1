"""Sealing use case: an organisation applies its company seal to a PDF.

One :class:`SealService` per process holds, per organisation, a logged-in
PKCS#11 key and a :class:`signer.pades.PadesSigner`; the HTTP client, the
revocation cache and the TSA client are shared by all organisations, so a
batch reuses connections and fresh OCSP answers across documents.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hsm_config.deployment import Deployment, Organisation, load_certificate
from pakat import errors
from pakat.errors import KeyStoreError, PakatError
from pakat.metrics import metrics
from signer.chain import TrustStore
from signer.http import HttpClient
from signer.keys import Pkcs11Key
from signer.levels import PadesLevel
from signer.pades import PadesSigner, SignatureDetails, SignedDocument
from signer.placement import VisibleSignature
from signer.revocation import RevocationSource
from signer.timestamps import TimestampAuthority


@dataclass(frozen=True)
class SealResult:
    """What a seal produced: whose seal it is, and the signed document (file, level, digests, times)."""

    organisation: str
    document: SignedDocument

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``pakat seal --json``, the worker's job record): one flat object."""
        doc = self.document
        return {
            "organisation": self.organisation,
            "level": doc.level.value,
            "destination": str(doc.destination),
            "input_sha256": doc.input_sha256,
            "output_sha256": doc.output_sha256,
            "output_size": doc.output_size,
            "signed_at": doc.signed_at.isoformat(),
            "timestamp_time": doc.timestamp_time.isoformat() if doc.timestamp_time else None,
        }


class SealService:
    """Seals PDFs for the organisations of one deployment; thread-safe.

    Create it after any fork (gunicorn, RQ): PKCS#11 sessions do not survive one.
    """

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.trust = TrustStore(
            [anchor.load() for anchor in deployment.trust_roots],
            [load_certificate(p) for p in deployment.intermediates],
        )
        allowed = list(deployment.revocation_url_prefixes)
        if deployment.tsa_url:
            allowed.append(deployment.tsa_url)
        self.http = HttpClient(allowed)
        self.revocation = RevocationSource(self.http)
        self.tsa = TimestampAuthority(deployment.tsa_url, self.http, self.trust) if deployment.tsa_url else None
        self._signers: dict[str, PadesSigner] = {}
        # Keys outlive failed logins so a refused PIN is remembered, not retried.
        self._keys: dict[str, Pkcs11Key] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_deployment(cls, deployment: Deployment) -> SealService:
        return cls(deployment)

    def signer_for(self, org_id: str) -> PadesSigner:
        """The organisation's signer; its key logs in to the HSM on the first signature."""
        signer = self._signers.get(org_id)
        if signer is not None:
            return signer
        with self._lock:
            signer = self._signers.get(org_id)
            if signer is None:
                signer = self._signers[org_id] = self._make_signer(self.deployment.organisation(org_id))
            return signer

    def _make_signer(self, org: Organisation) -> PadesSigner:
        seal = org.seal
        key = self._keys.get(org.id)
        if key is None:
            key = self._keys[org.id] = Pkcs11Key(
                module=seal.module,
                token_label=seal.token_label,
                key_label=seal.key_label,
                certificate=load_certificate(seal.certificate),
                pin=seal.read_pin,
                module_env=seal.module_env,
            )
        signer = PadesSigner(
            key,
            self.trust,
            chain_hint=[load_certificate(p) for p in seal.chain],
            revocation=self.revocation,
            tsa=self.tsa,
        )
        return signer  # the key logs in on its first signature, after the document was checked

    def seal(
        self,
        org_id: str,
        source: Path,
        destination: Path,
        level: PadesLevel,
        *,
        reason: str | None = None,
        location: str | None = None,
        contact: str | None = None,
        durable: bool = True,
        appearance: VisibleSignature | None = None,
        in_place: bool = False,
    ) -> SealResult:
        """Seal ``source`` into ``destination`` (atomically; nothing is written on failure).

        ``appearance`` asks for a visible seal block (see :mod:`signer.placement`).
        Pass ``durable=False`` only for a temporary output that is sent and deleted.
        ``in_place`` appends the seal to ``source`` itself (``destination`` is the
        same path): only for a file the caller owns, such as an upload being answered.
        """
        signer = self.signer_for(org_id)
        org = self.deployment.organisation(org_id)
        details = SignatureDetails(
            reason=reason or f"مهر سازمانی {org.name_fa} / Company seal of {org.name_en}",
            location=location,
            contact=contact,
            appearance=appearance,
        )
        started, outcome = time.perf_counter(), "sealed"
        try:
            signed = signer.sign(
                source, destination, level, details, max_bytes=self.deployment.max_pdf_bytes, durable=durable,
                in_place=in_place,
            )
        except PakatError as exc:
            outcome = exc.code
            if isinstance(exc, KeyStoreError) or exc.kind is errors.SEAL_KEY_MISMATCH:
                metrics().hsm_errors.labels(exc.code).inc()
            raise
        except BaseException:
            outcome = "INTERNAL"
            raise
        finally:
            metrics().seal_seconds.labels(level.value, outcome).observe(time.perf_counter() - started)
        return SealResult(org_id, signed)

    def check_key(self, org_id: str) -> None:
        """Whether the organisation's seal key answers: the token is there and the login holds (readiness).

        Uses the session the seals use (logging in only if there is none yet),
        so a probe never costs a login of its own; KeyStoreError says what failed.
        """
        signer = self.signer_for(org_id)
        key = signer.key
        if not isinstance(key, Pkcs11Key):
            return
        try:
            key.probe()
        except KeyStoreError as exc:
            metrics().hsm_errors.labels(exc.code).inc()
            raise

    def close(self) -> None:
        with self._lock:
            for key in self._keys.values():
                key.close()
            self._keys.clear()
            self._signers.clear()
