"""Whether a bid envelope's documents meet its requirements, judged from validation reports alone.

An envelope's :class:`~envelopes.tender_types.Requirements` name who must sign each of
its documents (a national ID and, optionally, a role), the least assurance
level of their certificates, and whether the bidder's company seal must be on
it too. :class:`Judge` says, for every current document, which of these are
met and why not, from the signatures Pakat's validator reported on the
document's latest revision (:mod:`validation.model`). It reads no database,
file or clock: :class:`envelopes.tenders.Tenders` validates the documents,
hands the reports in and stores the :class:`~envelopes.tender_types.Evaluation`.

A signatory is met by a valid (TOTAL_PASSED) personal signature bearing their
national ID, stating the role if one is required, at or above the minimum
assurance level, with a trusted signature timestamp before the deadline; the
seal by a valid organisation seal bearing the bidder's national ID with such a
timestamp (the seal has no role and no minimum level). Of several candidate
signatures the first that meets every condition counts; when none does, the
first candidate's first unmet condition is the reason. Every reason comes from
:mod:`envelopes.requirement_messages`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from envelopes.requirement_messages import Digits, reason
from envelopes.tender_types import (
    DocumentCheck,
    EnvelopeDocument,
    Evaluation,
    RequirementCheck,
    Requirements,
    Signatory,
)
from signer.external import ExpectedSigner
from validation.model import Indication, SignatureReport, SignerKind

# Where an assurance level stands in the deployment's order: 0 lowest, -1 for none or an unlisted level
# (``functools.partial(hsm_config.deployment.assurance_rank, deployment)``).
Rank = Callable[[str | None], int]


@dataclass(frozen=True)
class ValidatedDocument:
    """A current document of an envelope and the signatures the validator reported on its latest revision."""

    document: EnvelopeDocument
    signatures: Sequence[SignatureReport] = ()  # none for a busy document: it is judged busy, not validated


@dataclass(frozen=True)
class Judge:
    """One envelope's requirements, with what they are judged against: its bidder, the deadline, the ranks."""

    requirements: Requirements
    bidder: str  # the company's national ID (شناسه ملی), which its seal certificate carries
    deadline: datetime  # aware: a required signature's timestamp must be before it
    rank: Rank

    def evaluate(self, documents: Sequence[ValidatedDocument]) -> Evaluation:
        """Every requirement on every document, in order.

        Unsettled while a document is busy or a signature INDETERMINATE (its
        revocation not yet known …): such a verdict may change by itself.
        """
        settled = all(
            not v.document.busy and all(s.indication is not Indication.INDETERMINATE for s in v.signatures)
            for v in documents
        )
        judged = tuple(self.document(v) for v in documents)
        return Evaluation(heads([v.document for v in documents]), judged, settled)

    def document(self, validated: ValidatedDocument) -> DocumentCheck:
        """Every requirement on one document; all unmet while a signature on it is being completed."""
        doc, req = validated.document, self.requirements
        if doc.busy:
            busy = reason("DOCUMENT_BUSY")
            checks = [RequirementCheck("signatory", s.national_id, s.role, False, busy, "busy")
                      for s in req.signatories]
            if req.seal_required:
                checks.append(RequirementCheck("seal", self.bidder, None, False, busy, "busy"))
        else:
            checks = [self.signatory(s, validated.signatures) for s in req.signatories]
            if req.seal_required:
                checks.append(self.seal(validated.signatures))
        return DocumentCheck(doc.document_id, doc.sha256, tuple(checks))

    def signatory(self, signatory: Signatory, signatures: Iterable[SignatureReport]) -> RequirementCheck:
        """The signatory's requirement, met by a personal signature of theirs: a seal never stands for a person."""
        person = ExpectedSigner(signatory.national_id)  # the role is judged per candidate, to say when it differs
        candidates = [s for s in signatures if s.signer is not None
                      and s.signer.kind is not SignerKind.ORGANISATION_SEAL
                      and person.refusal(s.signer.national_id, None) is None]
        base = RequirementCheck("signatory", signatory.national_id, signatory.role, False,
                                reason("SIGNATURE_MISSING", national_id=Digits(signatory.national_id)), "missing")
        return self._best(base, candidates, signatory.role, self.requirements.min_assurance)

    def seal(self, signatures: Iterable[SignatureReport]) -> RequirementCheck:
        """The seal requirement, met by the bidder's own organisation seal; another company's is named."""
        seals = [s for s in signatures if s.signer is not None and s.signer.kind is SignerKind.ORGANISATION_SEAL]
        company = ExpectedSigner(self.bidder)
        ours = [s for s in seals if s.signer is not None and company.refusal(s.signer.national_id, None) is None]
        base = RequirementCheck("seal", self.bidder, None, False, reason("SEAL_MISSING"), "missing")
        if not ours and seals:
            others = ", ".join(sorted({s.signer.national_id or "?" for s in seals if s.signer is not None}))
            base = replace(base, problem="wrong_seal",
                           reason=reason("SEAL_OF_ANOTHER", others=Digits(others), bidder=Digits(self.bidder)))
        return self._best(base, ours, None, None)

    def _best(self, base: RequirementCheck, candidates: Sequence[SignatureReport], role: str | None,
              minimum: str | None) -> RequirementCheck:
        """The first candidate meeting every condition, or the first one's first problem, or ``base``."""
        judged = [self._judge(base, s, role, minimum) for s in candidates]
        met = [j for j in judged if j.met]
        return met[0] if met else judged[0] if judged else base

    def _judge(self, base: RequirementCheck, sig: SignatureReport, role: str | None,
               minimum: str | None) -> RequirementCheck:
        """One candidate signature against every condition, in order; the first it fails is the reason."""
        signer = sig.signer
        assert signer is not None
        # Only a trusted, intact signature timestamp proves when it was signed; the signer's own claim does not.
        stamps = [t.time for t in sig.timestamps if t.kind == "signature" and t.intact and t.trusted]
        found = replace(base, signer=signer.name, assurance_level=signer.assurance_level, level=sig.pades_level,
                        timestamp=min(stamps) if stamps else None)
        who = signer.name or base.national_id
        if sig.indication is not Indication.TOTAL_PASSED:
            return replace(found, problem="invalid", reason=reason("SIGNATURE_INVALID", who=who, why=sig.reason))
        if role is not None and ExpectedSigner(role=role).refusal(None, signer.title) is not None:
            return replace(found, problem="role",
                           reason=reason("ROLE_MISMATCH", who=who, title=signer.title, role=role))
        if minimum is not None and self.rank(signer.assurance_level) < self.rank(minimum):
            return replace(found, problem="assurance", reason=reason(
                "ASSURANCE_TOO_LOW", who=who, level=signer.assurance_level, minimum=minimum))
        if found.timestamp is None:
            return replace(found, problem="no_timestamp", reason=reason("NO_TIMESTAMP", who=who))
        if found.timestamp >= self.deadline:
            return replace(found, problem="late", reason=reason("TIMESTAMP_LATE", who=who, time=found.timestamp))
        return replace(found, met=True, problem=None,
                       reason=reason("SIGNATURE_MET", who=who, time=found.timestamp))


def heads(docs: Sequence[EnvelopeDocument]) -> str:
    """What an evaluation was made on: the current documents, in order, at their latest revisions."""
    text = "\n".join(f"{d.position}:{d.document_id}:{d.revision}:{d.sha256}:{int(d.busy)}" for d in docs)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def unmet_summary(evaluation: Evaluation) -> list[str]:
    """Each unmet requirement, in English, for a refused submission's error detail."""
    return [f"document {d.document_id}: {c.reason.en}"
            for d in evaluation.documents for c in d.checks if not c.met]
