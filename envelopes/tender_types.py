"""The tender use cases' data: what platforms hand in and what they are answered, as plain dataclasses.

:class:`envelopes.tenders.Tenders` takes and returns these; the requirements
judge (:mod:`envelopes.requirements`) answers an :class:`Evaluation`, one
:class:`DocumentCheck` per document. Each view renders itself for the JSON API
(``as_dict``, as ``web/openapi.yaml`` describes it); an evaluation is stored
as JSON on its envelope's row and read back (``to_json``, ``from_json``).
The envelope's vocabulary (its kinds, states and their texts, signatories and
requirements) is here too, for the guards in :mod:`envelopes.bids`, the judge
and the use cases alike. Nothing here reads the database or the clock: a view
is given ``now``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pakat import errors
from pakat.dates import iso_utc
from pakat.errors import PakatError
from signer.external import ExpectedSigner
from validation.model import Text

# -- what callers hand in -------------------------------------------------------------------------


KINDS = ("A", "B", "C")

DRAFT = "draft"
SIGNING = "signing"
COMPLETE = "complete"
SUBMITTED = "submitted"
WITHDRAWN = "withdrawn"
OPENED = "opened"
LOCKED = "locked"  # shown only: submitted, and the deadline has passed
NOT_SUBMITTED = "not_submitted"  # shown only: the deadline passed while it was being prepared
PREPARING = (DRAFT, SIGNING, COMPLETE)
#: Every state an envelope is shown in, in the order of its life.
SHOWN_STATES = (DRAFT, SIGNING, COMPLETE, SUBMITTED, LOCKED, NOT_SUBMITTED, WITHDRAWN, OPENED)

STATE_TEXT = {
    DRAFT: Text("پیش‌نویس: اسناد در حال افزوده شدن‌اند", "Draft: documents are being added"),
    SIGNING: Text("در حال امضا", "Being signed"),
    COMPLETE: Text("کامل: همهٔ امضاها و مهر لازم بر همهٔ اسناد هست", "Complete: every required signature and seal "
                   "is on every document"),
    SUBMITTED: Text("ارسال‌شده؛ تا مهلت می‌توان اسناد را جایگزین یا پاکت را مسترد کرد",
                    "Submitted; until the deadline documents may be replaced or the envelope withdrawn"),
    WITHDRAWN: Text("مستردشده", "Withdrawn"),
    OPENED: Text("گشوده‌شده", "Opened"),
    LOCKED: Text("قفل‌شده: مهلت گذشته است؛ تا گشایش چیزی تغییر نمی‌کند", "Locked: the deadline has passed; "
                 "nothing changes until the opening"),
    NOT_SUBMITTED: Text("ارسال‌نشده: مهلت پیش از ارسال گذشت", "Not submitted: the deadline passed first"),
}


@dataclass(frozen=True)
class Signatory:
    """An authorised signatory of the bidder: a national ID (کد ملی) and, optionally, a role title."""

    national_id: str
    role: str | None = None

    @property
    def expected(self) -> ExpectedSigner:
        """The same person as a signing session expects them (IDs and titles compared as people type them)."""
        return ExpectedSigner(self.national_id, self.role)

    def as_dict(self) -> dict[str, Any]:
        return {"national_id": self.national_id, "role": self.role}


@dataclass(frozen=True)
class Requirements:
    """Who must sign every document of an envelope, how well assured, and whether the company seal must too."""

    signatories: tuple[Signatory, ...]
    min_assurance: str | None
    seal_required: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "signatories": [s.as_dict() for s in self.signatories],
            "min_assurance": self.min_assurance,
            "seal_required": self.seal_required,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Requirements:
        raw = json.loads(text)
        return cls(
            signatories=tuple(Signatory(s["national_id"], s.get("role")) for s in raw["signatories"]),
            min_assurance=raw.get("min_assurance"),
            seal_required=bool(raw["seal_required"]),
        )

    def signatory_for(self, national_id: str | None) -> Signatory | None:
        """The signatory with this national ID, if there is one."""
        for signatory in self.signatories:
            if ExpectedSigner(signatory.national_id).refusal(national_id, None) is None:
                return signatory
        return None


@dataclass(frozen=True)
class Enclosure:
    """The envelope a document belongs to, as the guards see it."""

    envelope_id: str
    state: str  # as stored
    deadline: datetime
    current: bool  # not replaced
    receipt: bool  # the document is one of the envelope's submission receipts
    requirements: Requirements


def shown_state(stored: str, deadline: datetime, now: datetime) -> str:
    """The state as people see it at ``now``: the deadline turns submitted into locked."""
    if now >= deadline:
        if stored == SUBMITTED:
            return LOCKED
        if stored in PREPARING:
            return NOT_SUBMITTED
    return stored


@dataclass(frozen=True)
class Caller:
    """Who calls: the API key's organisation (which owns the documents) and the key's SHA-256 (the platform).

    ``actor`` names who acts in the audit log when it is not the API key itself:
    a person of the console acting on one of the organisation's platforms' tenders.
    """

    organisation: str
    api_key_sha256: str
    actor: str | None = None


@dataclass(frozen=True)
class NewTender:
    reference: str
    title_fa: str
    title_en: str
    deadline: datetime  # aware


@dataclass(frozen=True)
class Bidder:
    national_id: str  # the company's national ID (شناسه ملی), which its seal certificate carries
    name_fa: str
    name_en: str

    def as_dict(self) -> dict[str, Any]:
        return {"national_id": self.national_id, "name_fa": self.name_fa, "name_en": self.name_en}


@dataclass(frozen=True)
class NewEnvelope:
    kind: str
    bidder: Bidder
    requirements: Requirements


@dataclass(frozen=True)
class DocumentSource:
    """A document for an envelope: a PDF just uploaded, or a document already stored (``document_id``)."""

    upload: Path | None = None
    name: str | None = None
    document_id: str | None = None


# -- what the use cases answer ----------------------------------------------------------------------


@dataclass(frozen=True)
class TenderView:
    id: str
    reference: str
    title_fa: str
    title_en: str
    deadline: datetime
    opened_through: str | None
    created_at: datetime
    now: datetime
    # Its envelopes by state as people see it now (shown_state), every state present; withdrawn ones too.
    envelope_counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def seconds_to_deadline(self) -> int:
        """Whole seconds until the deadline (0 once it has passed): a countdown's start."""
        return max(0, int((self.deadline - self.now).total_seconds()))

    @property
    def state(self) -> str:
        """``open`` until the deadline, then ``closed``, ``opening`` once A is opened, ``opened`` after C."""
        if self.now < self.deadline:
            return "open"
        if self.opened_through is None:
            return "closed"
        return "opened" if self.opened_through == KINDS[-1] else "opening"

    @property
    def opened_kinds(self) -> list[str]:
        if self.opened_through is None:
            return []
        return list(KINDS[: KINDS.index(self.opened_through) + 1])

    @property
    def next_kind(self) -> str | None:
        """The kind the next opening opens (A, then B, then C); None once C is opened."""
        done = len(self.opened_kinds)
        return KINDS[done] if done < len(KINDS) else None

    def opening_refusal(self, kind: str) -> PakatError | None:
        """Why opening ``kind`` now would be refused (as :meth:`Tenders.open` refuses it), or None if it may be."""
        if self.now < self.deadline:
            return PakatError(errors.DEADLINE_NOT_REACHED, f"the deadline is {iso_utc(self.deadline)}")
        if kind != self.next_kind:
            done = ", ".join(self.opened_kinds) or "none"
            due = self.next_kind or "none"
            return PakatError(errors.OPENING_OUT_OF_ORDER, f"opened so far: {done}; next: {due}")
        return None

    def as_dict(self) -> dict[str, Any]:
        base = f"/api/v1/tenders/{self.id}"
        return {
            "id": self.id,
            "reference": self.reference,
            "title_fa": self.title_fa,
            "title_en": self.title_en,
            "deadline": iso_utc(self.deadline),
            "state": self.state,
            "opened_kinds": self.opened_kinds,
            "created_at": iso_utc(self.created_at),
            "seconds_to_deadline": self.seconds_to_deadline,
            "envelope_counts": {state: self.envelope_counts.get(state, 0) for state in SHOWN_STATES},
            "links": {"self": base, "envelopes": f"{base}/envelopes", "open": f"{base}/open"},
        }


@dataclass(frozen=True)
class RequirementCheck:
    """One requirement on one document, met or not, and why."""

    requirement: str  # signatory | seal
    national_id: str
    role: str | None
    met: bool
    reason: Text
    problem: str | None = None  # missing | invalid | role | assurance | no_timestamp | late | wrong_seal | busy
    signer: str | None = None  # the name on the certificate that meets it (or came closest)
    assurance_level: str | None = None
    level: str | None = None  # PAdES level reached
    timestamp: datetime | None = None  # the signature timestamp's time

    def as_dict(self) -> dict[str, Any]:
        return {
            "requirement": self.requirement,
            "national_id": self.national_id,
            "role": self.role,
            "met": self.met,
            "reason": {"fa": self.reason.fa, "en": self.reason.en},
            "problem": self.problem,
            "signer": self.signer,
            "assurance_level": self.assurance_level,
            "level": self.level,
            "timestamp": iso_utc(self.timestamp) if self.timestamp else None,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RequirementCheck:
        return cls(
            requirement=raw["requirement"], national_id=raw["national_id"], role=raw["role"], met=raw["met"],
            reason=Text(raw["reason"]["fa"], raw["reason"]["en"]), problem=raw["problem"], signer=raw["signer"],
            assurance_level=raw["assurance_level"], level=raw["level"],
            timestamp=datetime.fromisoformat(raw["timestamp"]) if raw["timestamp"] else None,
        )


@dataclass(frozen=True)
class DocumentCheck:
    """Every requirement judged on one document's latest revision."""

    document_id: str
    sha256: str
    checks: tuple[RequirementCheck, ...]

    @property
    def complete(self) -> bool:
        return all(c.met for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"document_id": self.document_id, "sha256": self.sha256,
                "checks": [c.as_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DocumentCheck:
        return cls(raw["document_id"], raw["sha256"], tuple(RequirementCheck.from_dict(c) for c in raw["checks"]))


@dataclass(frozen=True)
class Evaluation:
    """An envelope judged: per current document, in order; ``heads`` names what was judged."""

    heads: str
    documents: tuple[DocumentCheck, ...]
    settled: bool  # False when a verdict may change by itself (INDETERMINATE: revocation not yet known …)

    @property
    def complete(self) -> bool:
        return bool(self.documents) and all(d.complete for d in self.documents)

    def unmet(self) -> list[RequirementCheck]:
        return [c for d in self.documents for c in d.checks if not c.met]

    def to_json(self) -> str:
        return json.dumps({"settled": self.settled, "documents": [d.as_dict() for d in self.documents]},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, heads: str, text: str) -> Evaluation:
        raw = json.loads(text)
        return cls(heads, tuple(DocumentCheck.from_dict(d) for d in raw["documents"]), bool(raw["settled"]))


@dataclass(frozen=True)
class EnvelopeDocument:
    """A document of an envelope, current or replaced."""

    document_id: str
    name: str
    position: int
    revision: int
    sha256: str
    busy: bool
    added_at: datetime
    replaced_by: str | None
    replaced_at: datetime | None
    check: DocumentCheck | None = None  # None when not judged on this revision yet

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "document_id": self.document_id,
            "name": self.name,
            "position": self.position,
            "revision": self.revision,
            "sha256": self.sha256,
            "added_at": iso_utc(self.added_at),
        }
        if self.replaced_at is not None:
            body.update(replaced_by=self.replaced_by, replaced_at=iso_utc(self.replaced_at))
            return body
        judged = self.check is not None and self.check.sha256 == self.sha256
        body["busy"] = self.busy
        body["complete"] = bool(judged and self.check is not None and self.check.complete and not self.busy)
        body["requirements"] = [c.as_dict() for c in self.check.checks] if judged and self.check else []
        body["links"] = {"document": f"/api/v1/documents/{self.document_id}",
                         "pdf": f"/api/v1/documents/{self.document_id}/pdf",
                         "signing_sessions": f"/api/v1/documents/{self.document_id}/signing-sessions"}
        return body


@dataclass(frozen=True)
class ReceiptView:
    id: str
    document_id: str
    sha256: str
    level: str
    submitted_at: datetime
    tsa: str
    token_sha256: str
    token_serial: str
    created_at: datetime
    superseded_at: datetime | None
    superseded_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "document_id": self.document_id,
            "sha256": self.sha256,
            "level": self.level,
            "submitted_at": iso_utc(self.submitted_at),
            "timestamp": {"tsa": self.tsa, "token_sha256": self.token_sha256, "serial": self.token_serial},
            "superseded": self.superseded_at is not None,
            "superseded_at": iso_utc(self.superseded_at) if self.superseded_at else None,
            "superseded_reason": self.superseded_reason,
        }


@dataclass(frozen=True)
class EnvelopeView:
    id: str
    tender_id: str
    kind: str
    bidder: Bidder
    requirements: Requirements
    state: str  # as shown: locked and not_submitted come from the clock
    accepts_changes: bool
    deadline: datetime
    documents: tuple[EnvelopeDocument, ...]  # current, in order
    replaced: tuple[EnvelopeDocument, ...]
    receipts: tuple[ReceiptView, ...]  # newest last
    withdrawn_at: datetime | None
    opened_at: datetime | None
    created_at: datetime

    @property
    def receipt(self) -> ReceiptView | None:
        """The receipt of the submission in force, if the envelope is submitted."""
        current = [r for r in self.receipts if r.superseded_at is None]
        return current[-1] if current else None

    def as_dict(self) -> dict[str, Any]:
        base = f"/api/v1/tenders/{self.tender_id}/envelopes/{self.id}"
        receipt = self.receipt
        text = STATE_TEXT[self.state]
        return {
            "id": self.id,
            "tender_id": self.tender_id,
            "kind": self.kind,
            "bidder": self.bidder.as_dict(),
            "requirements": self.requirements.as_dict(),
            "state": self.state,
            "state_text": {"fa": text.fa, "en": text.en},
            "accepts_changes": self.accepts_changes,
            "deadline": iso_utc(self.deadline),
            "documents": [d.as_dict() for d in self.documents],
            "replaced_documents": [d.as_dict() for d in self.replaced],
            "submission": None if receipt is None else {
                "submitted_at": iso_utc(receipt.submitted_at),
                "receipt": receipt.as_dict(),
            },
            "receipts": [r.as_dict() for r in self.receipts],
            "withdrawn_at": iso_utc(self.withdrawn_at) if self.withdrawn_at else None,
            "opened_at": iso_utc(self.opened_at) if self.opened_at else None,
            "created_at": iso_utc(self.created_at),
            "links": {"self": base, "documents": f"{base}/documents", "submit": f"{base}/submit",
                      "withdraw": f"{base}/withdraw", "receipt": f"{base}/receipt.pdf"},
        }


@dataclass(frozen=True)
class Opening:
    """What an opening did: the tender after it and the envelopes it opened."""

    tender: TenderView
    kind: str
    opened: tuple[EnvelopeView, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"tender": self.tender.as_dict(), "kind": self.kind,
                "envelopes": [e.as_dict() for e in self.opened]}
