"""Bid envelopes as every part of Pakat must respect them: their states, their signers, their guard.

An envelope's documents are ordinary Pakat documents, so signing sessions and
seals work on them unchanged. What makes them an envelope is this module:

* :func:`check_document_writable` is called by :func:`envelopes.documents.add_revision`,
  the one place where any document gets a new revision (a signature, its
  level, a seal), inside that same transaction: a document of an envelope that
  is submitted, withdrawn, opened, replaced, or past its tender's deadline
  never changes, whichever process or path tries.
* :func:`session_signer` and :func:`check_session_certificate` let a signing
  session on an envelope document start only while the envelope accepts
  changes, and accept only the envelope's authorised signatories at or above
  its minimum assurance level.
* :func:`check_download` keeps a submitted envelope's documents sealed until
  the envelope is opened.

Stored states are ``draft``, ``signing``, ``complete`` (the three in which a
bidder prepares it), ``submitted``, ``withdrawn`` and ``opened``. Two more are
only shown, computed from the clock: ``locked`` (submitted, deadline passed)
and ``not_submitted`` (still being prepared when the deadline passed).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, select

from envelopes.database import Database, envelope_documents, envelope_receipts, envelopes, tenders, utcnow
from envelopes.tender_types import PREPARING, SUBMITTED, WITHDRAWN, Enclosure, Requirements
from hsm_config.deployment import Deployment, assurance_rank
from pakat import errors
from pakat.dates import iso_utc
from pakat.errors import CertificateRefused, InputError, PakatError
from signer.external import ExpectedSigner, SignerCertificate
from validation.identity import classify


def change_refusal(state: str, deadline: datetime, now: datetime, *, allowed: tuple[str, ...] = PREPARING) -> \
        PakatError | None:
    """Why an envelope in ``state`` (as stored) may not change now, or None if it may.

    The deadline comes first: after it nothing changes, whatever the state.
    """
    if now >= deadline:
        return PakatError(errors.DEADLINE_PASSED, f"the deadline was {iso_utc(deadline)}")
    if state not in allowed:
        hint = {SUBMITTED: "it is submitted: replace a document or withdraw it first"}.get(state, f"it is {state}")
        return PakatError(errors.ENVELOPE_STATE, hint)
    return None


def enclosure(conn: Connection, doc_id: str, *, lock: bool = False) -> Enclosure | None:
    """The envelope holding ``doc_id`` as a document or a receipt, or None for a document of no envelope.

    ``lock`` takes the envelope row's lock (PostgreSQL) until the transaction ends, so
    a submission and a signature racing on one envelope are ordered.
    """
    columns = (envelopes.c.id, envelopes.c.state, envelopes.c.requirements, tenders.c.deadline)
    base = envelopes.join(tenders, tenders.c.id == envelopes.c.tender_id)
    as_document = (
        select(*columns, envelope_documents.c.replaced_at)
        .select_from(base.join(envelope_documents, envelope_documents.c.envelope_id == envelopes.c.id))
        .where(envelope_documents.c.document_id == doc_id)
    )
    as_receipt = (
        select(*columns)
        .select_from(base.join(envelope_receipts, envelope_receipts.c.envelope_id == envelopes.c.id))
        .where(envelope_receipts.c.document_id == doc_id)
    )
    if lock:
        as_document = as_document.with_for_update(of=envelopes)
        as_receipt = as_receipt.with_for_update(of=envelopes)
    found = conn.execute(as_document).first()
    if found is not None:
        return Enclosure(found.id, found.state, found.deadline, found.replaced_at is None, False,
                         Requirements.from_json(found.requirements))
    receipt = conn.execute(as_receipt).first()
    if receipt is not None:
        return Enclosure(receipt.id, receipt.state, receipt.deadline, False, True,
                         Requirements.from_json(receipt.requirements))
    return None


def check_document_writable(conn: Connection, doc_id: str, now: datetime | None = None) -> None:
    """Refuse a new revision of an envelope's document unless the envelope still accepts changes.

    Called inside the transaction that moves the document's head, after that
    write (SQLite then holds its write lock, PostgreSQL the document's row), so
    the answer holds until commit.
    """
    found = enclosure(conn, doc_id, lock=True)
    if found is None:
        return
    refusal = _document_refusal(found, now or utcnow())
    if refusal is not None:
        raise refusal


def check_download(database: Database, doc_id: str) -> None:
    """Refuse to hand out a document of a submitted (or withdrawn) envelope before it is opened.

    Sealed-envelope semantics: once submitted, an envelope's contents stay
    unread until the opening; its names, digests and signatures stay visible
    (the receipt lists them anyway). Receipts are always readable.
    """
    with database.begin() as conn:
        found = enclosure(conn, doc_id)
    if found is not None and not found.receipt and found.state in (SUBMITTED, WITHDRAWN):
        raise PakatError(errors.ENVELOPE_SEALED, f"the envelope is {found.state}")


def session_signer(conn: Connection, doc_id: str, expected: ExpectedSigner, now: datetime) -> ExpectedSigner:
    """Who a new signing session on ``doc_id`` is for, once the envelope (if any) allows one.

    A document of no envelope keeps ``expected``. On an envelope document the
    session must name one of the envelope's signatories, or none: with a single
    signatory, that one is filled in; with several, the certificate step accepts
    any of them (:func:`check_session_certificate`).
    """
    found = enclosure(conn, doc_id)
    if found is None:
        return expected
    refusal = _document_refusal(found, now)
    if refusal is not None:
        raise refusal
    signatories = found.requirements.signatories
    if not signatories:
        raise InputError(errors.REQUEST_INVALID, "this envelope requires no personal signature, only the seal")
    if expected.national_id is None:
        if expected.role is None and len(signatories) == 1:
            return signatories[0].expected
        return expected
    signatory = found.requirements.signatory_for(expected.national_id)
    if signatory is None:
        raise InputError(errors.REQUEST_INVALID, "expected_signer is not one of the envelope's signatories")
    return ExpectedSigner(signatory.national_id, expected.role or signatory.role)


def check_session_certificate(
    conn: Connection, doc_id: str, signer: SignerCertificate, deployment: Deployment, now: datetime
) -> None:
    """At a session's certificate step: on an envelope document, only an authorised signatory, well enough assured.

    Refuses with the envelope's state first (nothing is prepared on a closed
    envelope), then SIGNER_NOT_EXPECTED, then SIGNER_ASSURANCE_TOO_LOW.
    """
    found = enclosure(conn, doc_id)
    if found is None:
        return
    refusal = _document_refusal(found, now)
    if refusal is not None:
        raise refusal
    signatory = found.requirements.signatory_for(signer.national_id)
    if signatory is None:
        who = signer.national_id or "absent"
        raise CertificateRefused(errors.SIGNER_NOT_EXPECTED, f"national ID {who} is not an authorised signatory")
    why = signatory.expected.refusal(signer.national_id, signer.role)
    if why is not None:
        raise CertificateRefused(errors.SIGNER_NOT_EXPECTED, why)
    minimum = found.requirements.min_assurance
    level = certificate_assurance(signer, deployment)
    if minimum is not None and assurance_rank(deployment, level) < assurance_rank(deployment, minimum):
        raise CertificateRefused(
            errors.SIGNER_ASSURANCE_TOO_LOW, f"the certificate is {level or 'unclassified'}, {minimum} is required"
        )


def certificate_assurance(signer: SignerCertificate, deployment: Deployment) -> str | None:
    """The assurance level the deployment's classification rules give the signer's certificate."""
    issuer = signer.chain[1] if len(signer.chain) > 1 else None
    issuer_sha256 = hashlib.sha256(issuer.public_bytes(Encoding.DER)).hexdigest() if issuer is not None else None
    rule = classify(signer.certificate, issuer_sha256, deployment.classification)
    return rule.assurance_level if rule is not None else None


def _document_refusal(found: Enclosure, now: datetime) -> PakatError | None:
    if found.receipt:
        return PakatError(errors.ENVELOPE_STATE, "a submission receipt never changes")
    refusal = change_refusal(found.state, found.deadline, now)
    if refusal is None and not found.current:
        refusal = PakatError(errors.ENVELOPE_STATE, "the document was replaced in its envelope")
    return refusal
