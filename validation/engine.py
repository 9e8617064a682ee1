"""Judging a signed PDF: every signature, then the document, as EN 319 102-1 verdicts.

The file is read once (:mod:`validation.document`): its signatures and
document timestamps are found (:mod:`validation.discovery`), and one pass over
its bytes gives the report's file digest and every signature's digest. Then,
for each signature, in the order a careful reader would check:

1. structure: /ByteRange and /Contents (:mod:`validation.structure`);
2. integrity: the digest and the signature value of every SignerInfo
   (:mod:`validation.signatures`);
3. what changed after signing, judged by the validation policy and by what
   the pages show (:mod:`validation.modifications`,
   :mod:`validation.modification_verdict`);
4. timestamps, which give the best signature time (proof of existence): only
   those made by the validation time count, and a signature that by its own
   claimed signing time did not yet exist then is not valid then;
5. the signer's chain to a pinned root with revocation, now, and when that
   fails for expiry or revocation, again at the proven signing time;
6. the policy's cryptographic suite and certificate constraints.

The first failing step decides the indication. Findings from every step are
kept, so the report says all that was seen, not only the first problem. An
error of Pakat's own is never a verdict: a step that cannot be completed says
so (INDETERMINATE / GENERIC), and anything unforeseen ends the validation with
VALIDATION_INCOMPLETE rather than a report.

A :class:`Validator` is built once per process and reused: it caches chain
and revocation answers (:class:`validation.trust.ChainJudge`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from asn1crypto import cms, tsp
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from pakat import __version__, errors
from pakat.errors import InputError, PakatError
from pakat.pdf_input import check_envelope
from pakat.text import persian_digits
from signer.purposes import signing_purpose_refusal
from validation.budget import check_time, time_budget
from validation.config import RevocationMode, ValidationConfig, ValidationPolicy
from validation.discovery import FoundSignature, SignatureValue, find_signatures, raw_contents
from validation.document import (
    LooseObject,
    OpenedDocument,
    RevisionFiles,
    digest_in_one_pass,
    loose_objects,
    open_document,
)
from validation.identity import certificate_info, key_strength, not_after, signer_identity, subject_text
from validation.messages import finding, reason
from validation.model import (
    REPORT_SCHEMA_VERSION,
    ChainReport,
    ChangeReport,
    DocumentReport,
    Finding,
    Indication,
    IntegrityReport,
    Modification,
    ModificationReport,
    RevocationReport,
    RevocationStatus,
    Severity,
    SignatureKind,
    SignatureReport,
    SignedRevision,
    SignerIdentity,
    SubIndication,
    Text,
    TimestampReport,
    WidgetPlacement,
)
from validation.modification_verdict import ModificationVerdict, Revisions, judge
from validation.modifications import AnalysisError, Change, ChangeKind, Changes, compare_revisions, page_geometry
from validation.placement import annotation_pages, placements
from validation.policy import Level, PolicyError, PolicyRules, SignatureType, policy_named
from validation.signatures import CmsCheck, check_cms, embedded_certificates, new_digest
from validation.structure import ByteRangeCheck, check_byte_range, overlapping_gaps
from validation.trust import ChainJudge, ChainOutcome, Evidence

log = logging.getLogger(__name__)

_PADES_SUBFILTER = "/ETSI.CAdES.detached"
_SHA1_SUBFILTER = "/adbe.pkcs7.sha1"
_SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})
_TSA_EKU = frozenset({"time_stamping"})
_COVERAGE_NAMES = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
_SIGNATURE_TYPES = {
    MDPPerm.NO_CHANGES: SignatureType.CERTIFIED_P1,
    MDPPerm.FILL_FORMS: SignatureType.CERTIFIED_P2,
    MDPPerm.ANNOTATE: SignatureType.CERTIFIED_P3,
}
_LEVEL_SEVERITY = {Level.FAIL: Severity.ERROR, Level.WARN: Severity.WARNING, Level.INFORM: Severity.INFO}
# Findings that are a disallowed change after signing: the signature fails as a format failure.
_MODIFICATION_FAILURES = ("MODIFIED_AFTER_SIGNING", "COVERAGE_INCOMPLETE", "DOCMDP_VIOLATION",
                          "FIELD_LOCK_VIOLATION")
# Chain failures EN 319 102-1 carries on to the time comparisons (5.5.4 step 2: TRY_LATER and
# OUT_OF_BOUNDS_* go on to step 4), where a signature made after the validation time is answered first.
_TIME_COMPARED_FAILURES = ("no_revocation", "expired")
# How many changes a finding's detail names (the report lists them all).
_NAMED_CHANGES = 3
# How many of the other fields showing one signature value a finding names.
_NAMED_FIELDS = 5


@dataclass
class _Document:
    """One open file and what every signature in it shares."""

    stream: BinaryIO
    size: int
    opened: OpenedDocument
    files: RevisionFiles
    evidence: Evidence  # DSS contents
    dss_changes: tuple[int, ...]  # revisions that wrote the DSS
    moment: datetime
    policy: ValidationPolicy
    max_compared_pages: int
    max_timestamps: int
    sha256: str = ""
    digests: dict[tuple[str, tuple[tuple[int, int], ...]], bytes] = field(default_factory=dict)
    doc_timestamps: list[_DocTimestamp] = field(default_factory=list)
    loose_from: int = 0  # where the first signed range ends: the bytes after it are searched for loose objects
    _loose: list[LooseObject] | None = None
    _annotation_pages: dict[tuple[int, int], int] | None = None

    @property
    def reader(self) -> PdfFileReader:
        return self.opened.reader

    @property
    def annotation_pages(self) -> dict[tuple[int, int], int]:
        """Annotation reference → 1-based page number, read once for all signatures."""
        if self._annotation_pages is None:
            self._annotation_pages = annotation_pages(self.reader)
        return self._annotation_pages

    @property
    def rules(self) -> PolicyRules:
        return self.policy.rules

    def digest(self, name: str, ranges: tuple[tuple[int, int], ...]) -> bytes:
        """The digest ``name`` of the bytes ``ranges`` cover: from the one pass, else read again.

        KeyError for a digest Pakat does not compute (the signature check
        reports that as an unsupported algorithm).
        """
        key = (name, ranges)
        found = self.digests.get(key)
        if found is None:
            running = new_digest(name)
            for start, length in ranges:
                self.stream.seek(start)
                remaining = length
                while remaining > 0 and (chunk := self.stream.read(min(1 << 20, remaining))):
                    running.update(chunk)
                    remaining -= len(chunk)
            found = self.digests[key] = running.finalize()
        return found

    def loose_after(self, offset: int) -> list[LooseObject]:
        """Objects written after ``offset`` that no cross-reference section lists."""
        if self._loose is None:
            self._loose = loose_objects(self.opened, self.stream, self.loose_from, self.size)
        return [o for o in self._loose if o.offset >= offset]


@dataclass
class _DocTimestamp:
    report: TimestampReport
    revision: int  # the revision the timestamp covers
    sound: bool  # intact and trusted: usable as proof of existence
    covered_end: int | None = None  # where its byte range ends


@dataclass
class _Candidate:
    """A found signature or timestamp, with its byte range checked and its CMS parsed."""

    found: FoundSignature
    check: ByteRangeCheck
    emb: EmbeddedPdfSignature | None
    problem: str | None  # why pyHanko could not read it

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        br = self.check.byte_range
        assert br is not None and self.check.sane
        return (br[0], br[1]), (br[2], br[3])

    @property
    def covered_end(self) -> int:
        br = self.check.byte_range
        assert br is not None
        return br[2] + br[3]

    @property
    def signed_prefix(self) -> tuple[tuple[int, int], ...]:
        """The signed revision as one range: the file from its start to the end of the /ByteRange."""
        return ((0, self.covered_end),)


class Validator:
    """Validates signed PDFs under one configuration; safe to share between threads."""

    def __init__(self, config: ValidationConfig) -> None:
        self.config = config
        self.chains = ChainJudge(config)
        self._anchor_names = [subject_text(r) for r in self.chains.roots]

    def policy_named(self, name: str) -> PolicyRules:
        """A built-in policy or one the configuration names; VALIDATION_POLICY_INVALID otherwise."""
        try:
            return policy_named(name, self.config.policies)
        except PolicyError as exc:
            raise InputError(errors.VALIDATION_POLICY_INVALID, str(exc)) from None

    def validate(
        self,
        source: bytes | str | os.PathLike[str],
        *,
        file_name: str | None = None,
        at: datetime | None = None,
        revocation: RevocationMode | None = None,
        policy: PolicyRules | None = None,
        time_limit: float | None = None,
    ) -> DocumentReport:
        """Judge every signature in ``source`` (bytes or a path) at ``at`` (default: now).

        ``revocation`` and ``policy`` override the configuration's for this call.
        Raises :class:`pakat.errors.InputError` for unusable input (not a PDF,
        truncated, unreadable, locked with a password, too large, holding no
        signature or timestamp, holding more than the configuration's
        :class:`~validation.config.ValidationLimits`: PDF_TOO_COMPLEX),
        VALIDATION_TIME_EXCEEDED when the validation takes more than
        ``time_limit`` seconds (None: no limit; see :mod:`validation.budget`),
        and VALIDATION_INCOMPLETE for an error of Pakat's own: never a verdict
        made of one.
        """
        try:
            with time_budget(time_limit):
                return self._validate(source, file_name, at, revocation, policy)
        except PakatError:
            raise
        except Exception as exc:
            log.error("validation of %s did not complete", file_name or "a document", exc_info=True)
            where = exc.__traceback__
            while where is not None and where.tb_next is not None:
                where = where.tb_next
            place = f" at {Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}" if where else ""
            raise PakatError(errors.VALIDATION_INCOMPLETE, f"{type(exc).__name__}{place}") from None

    def _validate(
        self,
        source: bytes | str | os.PathLike[str],
        file_name: str | None,
        at: datetime | None,
        revocation: RevocationMode | None,
        rules: PolicyRules | None,
    ) -> DocumentReport:
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        policy = self.config.policy.with_revocation(revocation).with_rules(rules)
        limits = self.config.limits
        with _open(source) as (stream, path):
            size = check_envelope(stream, self.config.max_pdf_bytes)
            opened = open_document(stream, size)
            check_time()
            revisions = opened.reader.xrefs.total_revisions
            if revisions > limits.max_revisions:
                raise _too_complex(f"{revisions} revisions; the limit is {limits.max_revisions}")
            try:
                found = find_signatures(opened.reader, max_fields=limits.max_signature_fields)
            except (misc.PdfError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                raise InputError(errors.PDF_UNPARSEABLE, f"signature fields: {type(exc).__name__}: {exc}"[:200]) \
                    from None
            if not found and opened.damage is not None:
                # The readable part holds nothing to judge: the file is refused for its damage.
                raise InputError(errors.PDF_UNPARSEABLE, opened.damage.problem)
            if not found:
                raise InputError(errors.NO_SIGNATURES)
            if len(found) > limits.max_signatures:
                raise _too_complex(f"{len(found)} signatures; the limit is {limits.max_signatures}")
            evidence, dss_changes = _dss_evidence(opened.reader, limits.max_dss_entries)
            check_time()
            files = RevisionFiles(stream, path)
            try:
                doc = _Document(stream, size, opened, files, evidence, dss_changes, moment, policy,
                                limits.max_compared_pages, limits.max_timestamps_per_signature)
                candidates = []
                for f in found:
                    check_time()
                    candidates.append(_candidate(doc, f, limits.max_certificates_per_signature))
                self._hash(doc, candidates)
                check_time()
                signed_ends = [c.covered_end for c in candidates if c.check.sane]
                doc.loose_from = min(signed_ends, default=size)
                stamps = [c for c in candidates if c.found.timestamp]
                regular = [c for c in candidates if not c.found.timestamp]
                doc.doc_timestamps = [self._document_timestamp(doc, c) for c in stamps]
                reports = [self._signature(doc, i + 1, c) for i, c in enumerate(regular)]
                _flag_overlaps(reports, [c.check.gap if c.check.sane else None for c in regular])
                _flag_copies(reports, regular)
                findings = self._document_findings(doc, stamps, only_timestamps=not regular)
                return self._document_report(doc, file_name, reports, findings)
            finally:
                files.close()

    def _hash(self, doc: _Document, candidates: Sequence[_Candidate]) -> None:
        """The file's SHA-256 and every signature's digest, in one read of the file."""
        requests: list[tuple[str, tuple[tuple[int, int], ...]]] = []
        for c in candidates:
            if c.emb is not None and c.check.sane:
                requests.append((c.emb.external_md_algorithm, c.ranges))
                requests.append(("sha256", c.ranges))  # for a CMS that encapsulates the signed bytes
            if c.check.sane:
                requests.append(("sha256", c.signed_prefix))  # the signed revision, for "view signed version"
        doc.sha256, doc.digests = digest_in_one_pass(doc.stream, doc.size, requests, new_digest)

    # -- one signature ---------------------------------------------------------------------

    def _signature(self, doc: _Document, index: int, candidate: _Candidate) -> SignatureReport:
        check_time()
        found = candidate.found
        subfilter = _name(found.value.get("/SubFilter")) if found.value is not None else None
        verdict = _Verdict(index=index, name=found.name, subfilter=subfilter, moment=doc.moment)
        if found.also_in:
            verdict.findings.append(finding("SIGNATURE_IN_SEVERAL_FIELDS", detail=_shared_detail(found.also_in)))
        verdict.findings.extend(candidate.check.findings)
        verdict.byte_range = candidate.check.byte_range
        verdict.placements = placements(found, doc.annotation_pages)
        if not candidate.check.sane:
            return verdict.fail(SubIndication.FORMAT_FAILURE)
        verdict.signed_revision = SignedRevision(
            candidate.covered_end, doc.digest("sha256", candidate.signed_prefix).hex())
        emb = candidate.emb
        if emb is None:
            verdict.findings.append(finding("CMS_UNREADABLE", detail=candidate.problem))
            return verdict.fail(SubIndication.FORMAT_FAILURE)
        verdict.kind = SignatureKind.CERTIFICATION if _docmdp(emb) is not None else SignatureKind.APPROVAL
        verdict.claimed_time = _claimed_time(emb)
        if subfilter != _PADES_SUBFILTER:
            self._constraint(doc, verdict, "pades_format", "NOT_PADES", detail=subfilter)

        # 2. integrity: every SignerInfo, with the digest from the one pass
        cms_check = check_cms(
            emb.signed_data,
            # The signer's certificate may be in the DSS only.
            (*embedded_certificates(emb.signed_data), *doc.evidence.certificates),
            expected_content_type="data",
            digest_of=lambda name: doc.digest(name, candidate.ranges),
            encapsulated_digest="sha1" if subfilter == _SHA1_SUBFILTER else None,
        )
        verdict.digest_algorithm = cms_check.digest_algorithm
        verdict.signature_algorithm = cms_check.signature_algorithm
        verdict.digest_ok, verdict.signature_ok = cms_check.intact, cms_check.valid
        if cms_check.code is not None:
            verdict.findings.append(finding(cms_check.code, detail=cms_check.detail))
        if cms_check.signer_info_count > 1:
            verdict.findings.append(finding("SIGNER_INFOS_MULTIPLE", detail=f"{cms_check.signer_info_count}"))
        broken = cms_check.indication
        if broken is not None and broken[0] is Indication.TOTAL_FAILED:
            return verdict.report(*broken)
        signer_cert = cms_check.signer_cert
        signer_info = _signer_info(emb, cms_check)

        # 3. coverage and modifications
        self._modifications(doc, emb, candidate, verdict)
        if signer_cert is None:
            if verdict.has_error(_MODIFICATION_FAILURES):
                return verdict.fail(SubIndication.FORMAT_FAILURE)
            return verdict.indeterminate(SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
        verdict.signer_cert = signer_cert

        # 4. timestamps
        evidence = doc.evidence.plus(_cms_evidence(emb.signed_data, signer_info))
        verdict.timestamps = self._signature_timestamps(doc, signer_info, evidence)
        # EN 319 102-1, 5.5.4: best-signature-time starts at the validation time (step 1) and a time-stamp
        # lowers it only when generated before it (step 3b): a later one did not exist at the validation
        # time and proves nothing there (_usable leaves it out; _timestamp marks it).
        poe = _earliest(
            [t.time for t in verdict.timestamps if _usable(t)]
            + [t.report.time for t in doc.doc_timestamps if t.sound and t.revision >= emb.signed_revision]
        )
        verdict.best_time = poe
        if any(t.after_validation_time for t in verdict.timestamps):
            verdict.findings.append(finding("TIMESTAMP_AFTER_VALIDATION_TIME"))
        if verdict.claimed_time and poe and verdict.claimed_time > poe + doc.policy.clock_skew:
            self._constraint(doc, verdict, "claimed_time_after_timestamp", "CLAIMED_TIME_AFTER_TIMESTAMP")

        # 5. chain, revocation, identity
        check_time()
        outcome = self._signer_chain(doc, signer_cert, evidence, poe)
        verdict.outcome = outcome
        issuer = outcome.path[1] if len(outcome.path) > 1 else None
        verdict.identity = signer_identity(signer_cert, issuer, self.config.classification)
        verdict.pades_level = _pades_level(emb, subfilter, signer_info, verdict, doc, outcome)

        # Decide. Failures (format, hash, signature value, a disallowed change) outrank any
        # indeterminate result; then a check that could not be completed; then EN 319 102-1's
        # order: the chain (XCV), the cryptographic constraints, the certificate's purpose.
        if verdict.has_error(_MODIFICATION_FAILURES):
            return verdict.fail(SubIndication.FORMAT_FAILURE)
        if verdict.has_error(("MODIFICATION_ANALYSIS_FAILED",)):
            return verdict.indeterminate(SubIndication.GENERIC)
        if broken is not None:  # an algorithm Pakat cannot compute
            return verdict.report(*broken)
        if not outcome.trusted and outcome.failure not in _TIME_COMPARED_FAILURES:
            return _chain_verdict(verdict, outcome)
        late = _made_after_validation_time(doc, verdict)
        if late is not None:
            return late
        if not outcome.trusted:
            return _chain_verdict(verdict, outcome)
        crypto = _crypto_constraints(doc.rules, cms_check, signer_cert, poe, verdict)
        if crypto is not None:
            return verdict.indeterminate(crypto)
        if not _signing_key_usage_ok(signer_cert) and self._constraint(
            doc, verdict, "signer_key_usage", "KEY_USAGE_NOT_SIGNING"
        ):
            return verdict.indeterminate(SubIndication.CHAIN_CONSTRAINTS_FAILURE)
        refusal = signing_purpose_refusal(signer_cert)
        if refusal is not None and self._constraint(
            doc, verdict, "signer_purpose", "SIGNER_CERT_WRONG_PURPOSE", detail=refusal
        ):
            return verdict.indeterminate(SubIndication.CHAIN_CONSTRAINTS_FAILURE)
        return self._trusted_verdict(doc, verdict, outcome)

    def _constraint(
        self, doc: _Document, verdict: _Verdict, constraint: str, code: str, *, detail: str | None = None
    ) -> bool:
        """Note ``code`` at the level the policy sets for ``constraint``; True when that level is FAIL."""
        level = doc.rules.level(constraint)
        if level is not Level.IGNORE:
            verdict.findings.append(finding(code, detail=detail, severity=_LEVEL_SEVERITY[level]))
        return level is Level.FAIL

    def _trusted_verdict(self, doc: _Document, verdict: _Verdict, outcome: ChainOutcome) -> SignatureReport:
        """A trusted signature passes, with the notes the policy asks for (any of which it may make fatal)."""
        fatal = False
        if outcome.fetched_online:
            fatal |= self._constraint(doc, verdict, "revocation_fetched_online", "REVOCATION_FETCHED_ONLINE")
        if outcome.revocation.status is RevocationStatus.NOT_CHECKED:
            fatal |= self._constraint(doc, verdict, "revocation_not_checked", "REVOCATION_NOT_CHECKED")
        elif outcome.revocation.status is RevocationStatus.REVOKED:
            fatal |= self._constraint(doc, verdict, "revoked_after_signing", "REVOKED_AFTER_SIGNING")
        fatal |= any(f.severity is Severity.ERROR for f in verdict.findings)
        return verdict.indeterminate(SubIndication.SIG_CONSTRAINTS_FAILURE) if fatal else verdict.passed()

    # -- 3. what changed after signing ----------------------------------------------------------

    def _modifications(
        self, doc: _Document, emb: EmbeddedPdfSignature, candidate: _Candidate, verdict: _Verdict
    ) -> None:
        docmdp = _docmdp(emb)
        verdict.docmdp = int(docmdp.value) if docmdp is not None else None
        try:
            coverage = emb.evaluate_signature_coverage()
        except Exception as exc:  # pyHanko could not place the range in the file's revisions
            coverage = SignatureCoverageLevel.UNCLEAR
            verdict.findings.append(finding("COVERAGE_INCOMPLETE", detail=type(exc).__name__))
        verdict.revision = emb.signed_revision  # as the coverage check placed it
        verdict.coverage = _COVERAGE_NAMES.get(coverage, "unclear")
        if coverage < SignatureCoverageLevel.ENTIRE_REVISION:
            if not verdict.has_error(("COVERAGE_INCOMPLETE",)):
                verdict.findings.append(finding("COVERAGE_INCOMPLETE", detail=verdict.coverage))
            return
        signature_type = _SIGNATURE_TYPES.get(docmdp, SignatureType.APPROVAL) if docmdp else SignatureType.APPROVAL
        fieldmdp = _fieldmdp(emb)
        locked: Callable[[str], bool] = (lambda name: bool(fieldmdp.is_locked(name))) if fieldmdp else \
            (lambda name: False)
        check_time()
        try:
            outcome = self._changes_after(doc, emb.signed_revision, candidate.covered_end, signature_type, locked)
        except AnalysisError as exc:
            verdict.findings.append(finding("MODIFICATION_ANALYSIS_FAILED", detail=str(exc)[:300]))
            return
        verdict.changes = outcome
        verdict.modification = outcome.level
        lock_broken = [c for c in outcome.disallowed if c.field is not None and locked(c.field)]
        if docmdp is not None:
            verdict.docmdp_ok = not outcome.disallowed
        if lock_broken:
            detail = _named(lock_broken)
            self._constraint(doc, verdict, "locked_field_changed", "FIELD_LOCK_VIOLATION", detail=detail)
        others = [c for c in outcome.disallowed if c not in lock_broken]
        if others:
            code = "DOCMDP_VIOLATION" if docmdp is not None else "MODIFIED_AFTER_SIGNING"
            detail = _named(others)
            verdict.findings.append(finding(code, detail=f"P{verdict.docmdp}: {detail}" if docmdp else detail))
        if outcome.invisible:
            unseen = _named(outcome.invisible)
            self._constraint(doc, verdict, "invisible_changes", "INVISIBLE_CHANGES", detail=unseen)
        allowed = [c for c in outcome.changes if c not in outcome.disallowed and c not in outcome.invisible]
        if any(c.kind is ChangeKind.ANNOTATION for c in allowed):
            verdict.findings.append(finding("ANNOTATIONS_AFTER_SIGNING"))
        if any(c.kind is ChangeKind.FORM_FILLING for c in allowed):
            verdict.findings.append(finding("FORM_FILLED_AFTER_SIGNING"))

    def _changes_after(
        self, doc: _Document, revision: int, covered_end: int, signature_type: SignatureType,
        locked: Callable[[str], bool],
    ) -> ModificationVerdict:
        """What changed after ``revision`` (signed up to byte ``covered_end``), judged under the policy."""
        reader = doc.reader
        last = reader.xrefs.total_revisions - 1
        changes = compare_revisions(reader, revision, last) if revision < last else Changes()
        for loose in doc.loose_after(covered_end):
            # A redefinition of an object in use, listed nowhere, is what a repairing reader shows instead
            # of the signed object: whatever this reader's pages show, another reader's may not.
            what = "redefines an object in use" if loose.shadows else "defines an object"
            changes.add(ChangeKind.OTHER, f"bytes at {loose.offset} {what} ({loose.number} {loose.generation} obj)"
                        " that no cross-reference section lists", unseen_effect=loose.shadows)
        damage = doc.opened.damage
        if damage is not None and damage.readable_end >= covered_end:
            changes.add(ChangeKind.OTHER, f"bytes {damage.readable_end}-{damage.size} are not a readable update")

        def page_count() -> int:
            return max(len(page_geometry(reader, revision)), len(page_geometry(reader, last)))

        revisions = Revisions(
            files=lambda: (doc.files.prefix(covered_end), doc.files.whole()),
            geometry=lambda: page_geometry(reader, revision),
            page_count=page_count,
        )
        return judge(changes, doc.rules, signature_type, locked, revisions, max_pages=doc.max_compared_pages)

    # -- 5. the signer's chain ---------------------------------------------------------------------

    def _signer_chain(
        self, doc: _Document, cert: asn1_x509.Certificate, evidence: Evidence, poe: datetime | None
    ) -> ChainOutcome:
        """The chain now; when expiry or revocation breaks it, again at the proven signing time.

        This is EN 319 102-1's past signature validation: a signature whose existence is
        proven before its certificate expired or was revoked keeps its value.
        """
        mode = doc.policy.revocation
        now = self.chains.judge(cert, evidence, doc.moment, mode=mode)
        if now.trusted or poe is None or now.failure not in ("expired", "revoked", "no_revocation"):
            return now
        if now.failure == "revoked":
            if now.revoked_at is None or poe >= now.revoked_at:
                return now
            # Revoked, but later than the proof of existence: the chain must still hold at that time.
            past = self.chains.judge(cert, evidence, poe, mode=RevocationMode.SKIP)
            if not past.trusted:
                return now
            return replace(past, revocation=now.revocation, fetched_online=now.fetched_online)
        past = self.chains.judge(cert, evidence, poe, mode=mode, retroactive=True)
        return past if past.trusted else now

    # -- 4. timestamps --------------------------------------------------------------------------

    def _signature_timestamps(
        self, doc: _Document, signer_info: cms.SignerInfo, evidence: Evidence
    ) -> list[TimestampReport]:
        reports = []
        try:
            signature_value = signer_info["signature"].native
            tokens: list[cms.SignedData] = []
            for attr in signer_info["unsigned_attrs"] or []:
                if attr["type"].native == "signature_time_stamp_token":
                    tokens.extend(value["content"] for value in attr["values"])
        except Exception:
            return [_broken_timestamp("signature", "unreadable timestamp token")]
        if len(tokens) > doc.max_timestamps:
            # Each token is a CMS to check and a TSA chain to build: a multiplier, so capped.
            raise _too_complex(f"{len(tokens)} timestamps on one signature; the limit is {doc.max_timestamps}")
        for token in tokens:
            check_time()
            reports.append(self._timestamp(doc, token, "signature", evidence, imprint_of=signature_value))
        return reports

    def _timestamp(
        self,
        doc: _Document,
        token: cms.SignedData,
        kind: str,
        evidence: Evidence,
        *,
        imprint_of: bytes | None = None,
        digest: bytes | None = None,
        field_name: str | None = None,
    ) -> TimestampReport:
        """Check one RFC 3161 token: imprint, signature, and the TSA's chain (time-stamping EKU)."""
        try:
            tst_info: tsp.TSTInfo = token["encap_content_info"]["content"].parsed
            gen_time: datetime = tst_info["gen_time"].native
            imprint = tst_info["message_imprint"]
            md = imprint["hash_algorithm"]["algorithm"].native
            expected = digest if digest is not None else hashlib.new(md, imprint_of or b"").digest()
            imprint_ok = imprint["hashed_message"].native == expected
            check = check_cms(token, expected_content_type="tst_info")
            tsa_cert = check.signer_cert
            if tsa_cert is None:
                raise ValueError(check.detail or "no TSA certificate")
        except Exception as exc:
            return _broken_timestamp(kind, f"{type(exc).__name__}: {exc}"[:200], field_name=field_name)
        tsa_evidence = evidence.plus(_cms_evidence(token, None))
        chain = self._tsa_chain(doc, tsa_cert, tsa_evidence, gen_time)
        intact = imprint_ok and check.passed
        problem = None if intact else (check.detail if not check.passed else "the imprint does not match")
        if problem is None and not chain.trusted:
            problem = chain.message
        # A token generated after the validation time did not exist then: whatever its signature and
        # its TSA, it is not valid at that time (EN 319 102-1, 5.4 validates a time-stamp at the
        # validation time; 5.5.4 step 3b uses only those generated before best-signature-time).
        late = _after_validation_time(doc, gen_time)
        if problem is None and late:
            problem = (f"generated at {gen_time.astimezone(UTC).isoformat()}, after the validation time"
                       f" {doc.moment.isoformat()}: it did not exist then")
        return TimestampReport(
            kind=kind,
            time=gen_time,
            tsa=subject_text(tsa_cert),
            intact=intact,
            trusted=chain.trusted,
            digest_algorithm=md,
            field_name=field_name,
            after_validation_time=late,
            problem=problem,
        )

    def _tsa_chain(
        self, doc: _Document, tsa_cert: asn1_x509.Certificate, evidence: Evidence, gen_time: datetime
    ) -> ChainOutcome:
        """The TSA's chain now; if its revocation data has aged or it expired since, at the stamp's own time."""
        mode = doc.policy.revocation
        now = self.chains.judge(tsa_cert, evidence, doc.moment, mode=mode, extended_key_usage=_TSA_EKU)
        if now.trusted or now.failure not in ("expired", "no_revocation"):
            return now
        then = self.chains.judge(
            tsa_cert, evidence, gen_time, mode=mode, extended_key_usage=_TSA_EKU, retroactive=True
        )
        return then if then.trusted else now

    def _document_timestamp(self, doc: _Document, candidate: _Candidate) -> _DocTimestamp:
        check_time()
        name = candidate.found.name
        emb = candidate.emb
        if not candidate.check.sane or emb is None:
            problem = candidate.problem or "; ".join(f.code for f in candidate.check.findings) or "unreadable"
            return _DocTimestamp(_broken_timestamp("document", problem, field_name=name), -1, False)
        try:
            digest = doc.digest(emb.external_md_algorithm, candidate.ranges)
            covers_file = emb.evaluate_signature_coverage() == SignatureCoverageLevel.ENTIRE_FILE
            revision = emb.signed_revision
        except Exception as exc:
            return _DocTimestamp(_broken_timestamp("document", type(exc).__name__, field_name=name), -1, False)
        report = self._timestamp(doc, emb.signed_data, "document", doc.evidence, digest=digest, field_name=name)
        report = replace(report, covers_entire_file=covers_file)
        return _DocTimestamp(report, revision, _usable(report), candidate.covered_end)

    # -- the document ---------------------------------------------------------------------------

    def _document_findings(
        self, doc: _Document, stamps: Sequence[_Candidate], *, only_timestamps: bool
    ) -> list[Finding]:
        findings: list[Finding] = []
        if doc.opened.damage is not None:
            damage = doc.opened.damage
            findings.append(finding("DAMAGED_TAIL", detail=f"bytes {damage.readable_end}-{damage.size}: "
                                    f"{damage.problem}"[:300]))
        if only_timestamps:
            findings.append(finding("TIMESTAMPS_ONLY"))
        for stamp in doc.doc_timestamps:
            if not stamp.report.intact:
                findings.append(finding("TIMESTAMP_INVALID", detail=stamp.report.field_name))
            elif not stamp.report.trusted:
                findings.append(finding("TIMESTAMP_UNTRUSTED", detail=stamp.report.field_name))
            elif stamp.report.after_validation_time:
                findings.append(finding("TIMESTAMP_AFTER_VALIDATION_TIME", detail=stamp.report.field_name))
        if only_timestamps:
            # Nothing else vouches for the document: what changed after each timestamp is judged here.
            for stamp, candidate in zip(doc.doc_timestamps, stamps, strict=True):
                if stamp.revision < 0 or stamp.covered_end is None:
                    continue
                check_time()
                try:
                    outcome = self._changes_after(doc, stamp.revision, stamp.covered_end, SignatureType.APPROVAL,
                                                  lambda name: False)
                except AnalysisError as exc:
                    findings.append(finding("MODIFICATION_ANALYSIS_FAILED", detail=str(exc)[:300]))
                    continue
                if outcome.disallowed:
                    findings.append(finding("MODIFIED_AFTER_TIMESTAMP",
                                            detail=f"{candidate.found.name}: {_named(outcome.disallowed)}"))
        return findings

    def _document_report(
        self, doc: _Document, file_name: str | None, signatures: list[SignatureReport], findings: list[Finding]
    ) -> DocumentReport:
        failed = [s for s in signatures if s.indication is Indication.TOTAL_FAILED]
        unsure = [s for s in signatures if s.indication is Indication.INDETERMINATE]
        errors_ = [f for f in findings if f.severity is Severity.ERROR]
        if failed:
            indication, sub, text = Indication.TOTAL_FAILED, failed[0].sub_indication, failed[0].reason
        elif any(f.code == "MODIFICATION_ANALYSIS_FAILED" for f in errors_):
            indication, sub, text = Indication.INDETERMINATE, SubIndication.GENERIC, errors_[0].text
        elif errors_:
            indication, sub, text = Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE, errors_[0].text
        elif unsure:
            indication, sub, text = Indication.INDETERMINATE, unsure[0].sub_indication, unsure[0].reason
        elif not signatures:
            untrusted = [t for t in doc.doc_timestamps if not (t.report.intact and t.report.trusted)]
            late = [t for t in doc.doc_timestamps if t.report.after_validation_time]
            if untrusted:
                indication, sub = Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND
                text = Text(fa="مرجع مهر زمانی سند مورد اعتماد نیست.", en="A document timestamp's authority is not"
                            " trusted.")
            elif late:
                # Nothing proves the document existed at the validation time: EN 319 102-1's NO_POE
                # (clause 5.1.3, Table 5: a proof of existence is missing).
                indication, sub = Indication.INDETERMINATE, SubIndication.NO_POE
                text = Text(
                    fa="مهر زمانی سند پس از زمان اعتبارسنجی صادر شده است؛ وجود سند در آن زمان ثابت نمی‌شود.",
                    en="A document timestamp was issued after the validation time: nothing proves the document"
                    " existed then.",
                )
            else:
                indication, sub = Indication.TOTAL_PASSED, None
                text = Text(
                    fa="سند امضایی ندارد؛ مهرهای زمانی آن معتبرند و وجود سند را در آن زمان ثابت می‌کنند.",
                    en="The document has no signature; its timestamps are valid and prove it existed at that"
                    " time.",
                )
        else:
            indication, sub = Indication.TOTAL_PASSED, None
            n = len(signatures)
            text = Text(
                fa=f"همه {persian_digits(str(n))} امضای سند معتبرند." if n > 1 else "امضای سند معتبر است.",
                en=f"All {n} signatures are valid." if n > 1 else "The signature is valid.",
            )
        return DocumentReport(
            schema_version=REPORT_SCHEMA_VERSION,
            generator=f"Pakat {__version__}",
            validation_time=doc.moment,
            file_name=file_name,
            file_sha256=doc.sha256,
            file_size=doc.size,
            indication=indication,
            sub_indication=sub,
            reason=text,
            signatures=signatures,
            document_timestamps=[t.report for t in doc.doc_timestamps],
            revisions=doc.reader.xrefs.total_revisions,
            trust_anchors=list(self._anchor_names),
            policy=doc.policy.as_dict(),
            findings=findings,
        )


# -- a signature's verdict as it is being built ------------------------------------------------


@dataclass
class _Verdict:
    index: int
    name: str
    subfilter: str | None
    moment: datetime
    kind: SignatureKind = SignatureKind.APPROVAL
    revision: int | None = None
    byte_range: list[int] | None = None
    coverage: str = "unclear"
    digest_ok: bool | None = None
    signature_ok: bool | None = None
    modification: Modification | None = None
    changes: ModificationVerdict | None = None
    docmdp: int | None = None
    docmdp_ok: bool | None = None
    claimed_time: datetime | None = None
    best_time: datetime | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    signer_cert: asn1_x509.Certificate | None = None
    identity: SignerIdentity | None = None
    outcome: ChainOutcome | None = None
    pades_level: str | None = None
    timestamps: list[TimestampReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    signed_revision: SignedRevision | None = None
    placements: list[WidgetPlacement] = field(default_factory=list)

    def has_error(self, codes: Sequence[str]) -> bool:
        return any(f.code in codes and f.severity is Severity.ERROR for f in self.findings)

    def fail(self, sub: SubIndication) -> SignatureReport:
        return self.report(Indication.TOTAL_FAILED, sub)

    def indeterminate(self, sub: SubIndication) -> SignatureReport:
        return self.report(Indication.INDETERMINATE, sub)

    def passed(self) -> SignatureReport:
        return self.report(Indication.TOTAL_PASSED, None)

    def report(self, indication: Indication, sub: SubIndication | None) -> SignatureReport:
        # Structural verdicts, broken values and unfinished checks are best explained by the finding
        # that decided them; the others by their sub-indication's reason.
        explained_by_finding = sub in (SubIndication.HASH_FAILURE, SubIndication.SIG_CRYPTO_FAILURE,
                                       SubIndication.GENERIC) or (
            indication is Indication.TOTAL_FAILED and sub is SubIndication.FORMAT_FAILURE)
        deciding = next((f for f in self.findings if f.severity is Severity.ERROR), None) \
            if explained_by_finding else None
        outcome = self.outcome
        chain = None
        if outcome is not None:
            chain = ChainReport(
                trusted=outcome.trusted,
                anchor=subject_text(outcome.path[-1]) if outcome.trusted else None,
                anchor_sha256=hashlib.sha256(outcome.path[-1].dump()).hexdigest() if outcome.trusted else None,
                certificates=[certificate_info(c) for c in outcome.path]
                or ([certificate_info(self.signer_cert)] if self.signer_cert is not None else []),
                problem=outcome.message,
            )
        return SignatureReport(
            index=self.index,
            field_name=self.name,
            kind=self.kind,
            indication=indication,
            sub_indication=sub,
            reason=reason(sub, detail=deciding),
            revision=self.revision,
            subfilter=self.subfilter,
            pades_level=self.pades_level if indication is Indication.TOTAL_PASSED else None,
            signer=self.identity,
            chain=chain,
            revocation=outcome.revocation if outcome is not None else None,
            integrity=IntegrityReport(
                byte_range=self.byte_range,
                byte_range_ok=not any(f.code.startswith("BYTE_RANGE") for f in self.findings),
                coverage=self.coverage,
                digest_ok=self.digest_ok,
                signature_ok=self.signature_ok,
            ),
            modifications=self._modification_report(),
            claimed_signing_time=self.claimed_time,
            best_signature_time=self.best_time or self.moment,
            timestamps=self.timestamps,
            digest_algorithm=self.digest_algorithm,
            signature_algorithm=self.signature_algorithm,
            findings=self.findings,
            signed_revision=self.signed_revision,
            placements=self.placements,
        )

    def _modification_report(self) -> ModificationReport:
        outcome = self.changes
        if outcome is None:
            return ModificationReport(self.modification, self.docmdp, self.docmdp_ok)
        disallowed, invisible = outcome.disallowed, outcome.invisible

        def verdict_of(change: Change) -> str:
            return "not_allowed" if change in disallowed else "not_shown" if change in invisible else "allowed"

        return ModificationReport(
            level=self.modification,
            docmdp_permission=self.docmdp,
            docmdp_ok=self.docmdp_ok,
            changes=[ChangeReport(c.kind.value, c.where, c.page + 1 if c.page is not None else None, verdict_of(c))
                     for c in outcome.changes],
            changed_pages=[p + 1 for p in outcome.changed_pages],
            compared_visually=outcome.compared_visually,
        )


def _chain_verdict(verdict: _Verdict, outcome: ChainOutcome) -> SignatureReport:
    """The verdict when the signer's chain does not hold (EN 319 102-1's X.509 validation results)."""
    failure = outcome.failure
    if failure == "no_chain":
        return verdict.indeterminate(SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    if failure == "revoked":
        revoked_at = outcome.revoked_at
        if revoked_at is not None and verdict.claimed_time is not None and verdict.claimed_time >= revoked_at:
            return verdict.fail(SubIndication.REVOKED)  # the signer's own word puts signing after revocation
        return verdict.indeterminate(SubIndication.REVOKED_NO_POE)
    if failure == "ca_revoked":
        return verdict.indeterminate(SubIndication.REVOKED_CA_NO_POE)
    if failure == "expired":
        cert = verdict.signer_cert
        end = not_after(cert) if cert is not None else None
        if verdict.best_time is not None and end is not None and verdict.best_time > end:
            return verdict.fail(SubIndication.EXPIRED)  # a timestamp proves it was signed after expiry
        if outcome.revocation.status is RevocationStatus.GOOD:
            return verdict.indeterminate(SubIndication.OUT_OF_BOUNDS_NOT_REVOKED)
        return verdict.indeterminate(SubIndication.OUT_OF_BOUNDS_NO_POE)
    if failure == "not_yet_valid":
        return verdict.indeterminate(SubIndication.NOT_YET_VALID)
    if failure == "no_revocation":
        return verdict.indeterminate(SubIndication.TRY_LATER)
    if failure == "usage":
        return verdict.indeterminate(SubIndication.CHAIN_CONSTRAINTS_FAILURE)
    if failure == "algorithm":
        return verdict.indeterminate(SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    return verdict.indeterminate(SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE)


def _after_validation_time(doc: _Document, moment: datetime) -> bool:
    """Whether ``moment`` lies after the validation time, beyond the policy's allowance for clock skew."""
    return moment.astimezone(UTC) > doc.moment + doc.policy.clock_skew


def _usable(stamp: TimestampReport) -> bool:
    """A timestamp that proves existence at the validation time: intact, trusted, and existing by then."""
    return stamp.intact and stamp.trusted and not stamp.after_validation_time


def _made_after_validation_time(doc: _Document, verdict: _Verdict) -> SignatureReport | None:
    """The verdict on a signature that, by the signer's own word, did not yet exist at the validation time.

    EN 319 102-1 validates at the validation time ("current time", clause 5.2.6.1), where best-signature-
    time starts (5.5.4 step 1): a signature whose claimed signing time lies after it, with no proof of
    existence at or before it (a time-stamp generated by then), did not exist at that time and is not
    valid at it. The standard's sub-indication for a missing proof of existence is NO_POE (clause 5.1.3,
    Table 5: "a proof of existence is missing to ascertain that a signed object has been produced before
    some compromising event"; here the event is the validation time itself), under INDETERMINATE: the
    signature may well be valid at a later time, so it is not FAILED. (A certificate not yet valid at the
    validation time has already been answered by the chain check: 5.2.6.4 step 7, 5.5.4 step 4.)
    EU DSS has no such check: it only leaves a later time-stamp out of best-signature-time.
    """
    claimed = verdict.claimed_time
    if claimed is None or verdict.best_time is not None or not _after_validation_time(doc, claimed):
        return None
    verdict.findings.append(finding("SIGNED_AFTER_VALIDATION_TIME", detail=f"claimed {claimed.isoformat()}"))
    report = verdict.indeterminate(SubIndication.NO_POE)
    report.reason = verdict.findings[-1].text
    return report


def _crypto_constraints(
    rules: PolicyRules, check: CmsCheck, cert: asn1_x509.Certificate, poe: datetime | None, verdict: _Verdict
) -> SubIndication | None:
    """The policy's crypto suite: the digest and the key, each acceptable until its date.

    A digest or key past its date at the validation time passes only with
    proof of existence (a timestamp) before that date (EN 319 102-1, 5.2.8);
    one the suite does not list never passes.
    """
    suite = rules.crypto

    def expired(until: datetime | None) -> bool:
        return until is not None and verdict.moment >= until and (poe is None or poe >= until)

    listed, until = suite.digest_until(check.digest_algorithm)
    if not listed or expired(until):
        verdict.findings.append(finding("DIGEST_NOT_ALLOWED", detail=check.digest_algorithm))
        return SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE if listed and poe is None else \
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    # Read with asn1crypto: a certificate cryptography refuses still has a key to weigh.
    algorithm = _key_algorithm(cert)
    strength = key_strength(cert)
    if algorithm in ("ed25519", "ed448"):
        listed, until, what = algorithm in suite.eddsa, suite.eddsa.get(algorithm), algorithm
    elif strength is not None and strength[0] in ("rsa", "dsa", "ec") and strength[1] > 0:
        family, bits = strength
        listed, until = suite.key_until("ec" if family == "ec" else "rsa", bits)
        what = f"{family.upper()} {bits} bits"
    else:
        listed, until, what = False, None, f"{algorithm or 'unreadable'} key"
    if not listed or expired(until):
        verdict.findings.append(finding("KEY_TOO_SMALL", detail=what))
        return SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE if listed and poe is None else \
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    return None


def _key_algorithm(cert: asn1_x509.Certificate) -> str | None:
    try:
        return str(cert["tbs_certificate"]["subject_public_key_info"].algorithm)
    except Exception:
        return None


def _signing_key_usage_ok(cert: asn1_x509.Certificate) -> bool:
    try:
        usage = cert.key_usage_value
    except Exception:  # an unreadable extension allows nothing
        return False
    return usage is None or bool(set(usage.native) & _SIGNING_KEY_USAGES)


def _pades_level(
    emb: EmbeddedPdfSignature,
    subfilter: str | None,
    signer_info: cms.SignerInfo,
    verdict: _Verdict,
    doc: _Document,
    outcome: ChainOutcome,
) -> str | None:
    """The PAdES baseline level the file's evidence reaches (EN 319 142-1), or None when it is not PAdES.

    Judged from what the file holds, whatever the revocation mode of this run:
    B-LT needs validation data for the signer's chain added after the signature.
    """
    if subfilter != _PADES_SUBFILTER:
        return None
    try:
        names = {a["type"].native for a in signer_info["signed_attrs"] or []}
    except Exception:
        return None
    if not names & {"signing_certificate", "signing_certificate_v2"}:
        return None
    signed = emb.signed_revision
    stamped_docs = [t for t in doc.doc_timestamps if t.sound and t.revision >= signed]
    if not any(_usable(t) for t in verdict.timestamps) and not stamped_docs:
        return "B-B"
    path = outcome.path[:-1] if outcome.path else ((verdict.signer_cert,) if verdict.signer_cert else ())
    long_term = any(r > signed for r in doc.dss_changes) and bool(path) and all(
        _has_revocation_data(doc.evidence, cert) for cert in path
    )
    if not long_term:
        return "B-T"
    # B-LTA: a document timestamp over such data (a DSS written after it, for the timestamp itself, is normal).
    if any(any(signed < r <= t.revision for r in doc.dss_changes) for t in stamped_docs):
        return "B-LTA"
    return "B-LT"


def _has_revocation_data(evidence: Evidence, cert: asn1_x509.Certificate) -> bool:
    """Whether the DSS holds an OCSP response about ``cert`` or a CRL from its issuer."""
    try:
        serial, issuer = cert.serial_number, cert.issuer
        for response in evidence.ocsps:
            basic = response["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                cert_id = single["cert_id"]
                algorithm = cert_id["hash_algorithm"]["algorithm"].native
                if cert_id["serial_number"].native == serial and \
                        cert_id["issuer_name_hash"].native == hashlib.new(algorithm, issuer.dump()).digest():
                    return True
        return any(crl["tbs_cert_list"]["issuer"] == issuer for crl in evidence.crls)
    except Exception:  # unreadable validation data is none
        return False


# -- reading the file ---------------------------------------------------------------------------


@contextlib.contextmanager
def _open(source: bytes | str | os.PathLike[str]) -> Iterator[tuple[BinaryIO, Path | None]]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(bytes(source)), None
        return
    path = Path(source)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise InputError(errors.PDF_MISSING, path.name) from exc
    with fh:
        yield fh, path


def _candidate(doc: _Document, found: FoundSignature, max_certificates: int) -> _Candidate:
    check = check_byte_range(_raw(found.value, "/ByteRange"), raw_contents(found.value), doc.stream, doc.size)
    if not check.sane:
        return _Candidate(found, check, None, None)
    try:
        value = SignatureValue(doc.reader, found)
    except Exception as exc:  # attacker-controlled bytes: any parse failure is a format failure
        return _Candidate(found, check, None, f"{type(exc).__name__}: {exc}"[:200])
    # Every certificate a CMS carries is offered to every chain built for it: a multiplier, so capped.
    carried = _certificate_count(value.signed_data)
    if carried > max_certificates:
        raise _too_complex(f"{carried} certificates in the signature in {found.name!r}; the limit is"
                           f" {max_certificates}")
    return _Candidate(found, check, value, None)


def _certificate_count(signed_data: cms.SignedData) -> int:
    try:
        certificates = signed_data["certificates"]
        return len(certificates) if certificates is not None else 0
    except Exception:  # unreadable certificates are left to the signature check, which reports them
        return 0


def _too_complex(detail: str) -> InputError:
    return InputError(errors.PDF_TOO_COMPLEX, detail)


def _shared_detail(fields: Sequence[str]) -> str:
    """The other fields showing one signature value: a few by name, the rest counted."""
    shown = ", ".join(fields[:_NAMED_FIELDS])
    more = len(fields) - _NAMED_FIELDS
    return f"{len(fields)} other field(s): {shown}" + (f" and {more} more" if more > 0 else "")


def _signer_info(emb: EmbeddedPdfSignature, check: CmsCheck) -> cms.SignerInfo:
    """The SignerInfo the check judged (the worst of several), else the first."""
    try:
        return emb.signed_data["signer_infos"][check.signer_info_index]
    except (IndexError, KeyError, TypeError):
        return emb.signer_info


def _docmdp(emb: EmbeddedPdfSignature) -> MDPPerm | None:
    try:
        return emb.docmdp_level
    except Exception:  # an unreadable /Reference or /Lock sets no permission
        return None


def _fieldmdp(emb: EmbeddedPdfSignature) -> FieldMDPSpec | None:
    try:
        return emb.fieldmdp
    except Exception:
        return None


def _named(changes: Sequence[Change]) -> str:
    names = "; ".join(c.where for c in changes[:_NAMED_CHANGES])
    return names + (f"; and {len(changes) - _NAMED_CHANGES} more" if len(changes) > _NAMED_CHANGES else "")


def _dss_evidence(reader: PdfFileReader, max_entries: int) -> tuple[Evidence, tuple[int, ...]]:
    """The DSS's certificates and revocation data, and the revisions that wrote it.

    PDF_TOO_COMPLEX when it holds more than ``max_entries`` (counted before any is read).
    """
    entries = _dss_entry_count(reader)
    if entries > max_entries:
        raise _too_complex(f"{entries} DSS entries; the limit is {max_entries}")
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return Evidence(), ()
    except Exception:  # a broken DSS is no evidence; the signatures are still judged
        return Evidence(), ()
    try:
        certs = tuple(dss.load_certs())
        ocsps = tuple(asn1_ocsp.OCSPResponse.load(o.get_object().data) for o in dss.ocsps)
        crls = tuple(asn1_crl.CertificateList.load(c.get_object().data) for c in dss.crls)
    except Exception:
        return Evidence(), ()
    return Evidence(certs, ocsps, crls), _dss_changes(reader)


def _dss_entry_count(reader: PdfFileReader) -> int:
    """Certificates, OCSP responses, CRLs and VRI entries the DSS lists (0 when it cannot be read)."""
    try:
        dss = _followed(reader.root.get("/DSS"))  # get() hands over a reference as it is
        if not isinstance(dss, generic.DictionaryObject):
            return 0
        count = 0
        for key in ("/Certs", "/OCSPs", "/CRLs", "/VRI"):
            value = _followed(dss.get(key))
            if isinstance(value, generic.ArrayObject | generic.DictionaryObject):
                count += len(value)
        return count
    except Exception:  # a broken DSS is no evidence (read_dss says so too)
        return 0


def _followed(value: object) -> object:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def _dss_changes(reader: PdfFileReader) -> tuple[int, ...]:
    """The revisions that wrote the DSS (or a catalog holding it directly).

    A revision without a readable catalog of its own (the first-page section
    of a linearized file, whose trailer names no /Root) wrote no DSS.
    """
    changes = []
    for revision in range(reader.xrefs.total_revisions):
        try:
            root = reader.get_historical_root(revision)
            if "/DSS" not in root:
                continue
            value = root.raw_get("/DSS")
        except (KeyError, AssertionError, misc.PdfError):  # pyHanko asserts the catalog is a dictionary
            continue
        written = reader.xrefs.explicit_refs_in_revision(revision)
        ref = value.reference if isinstance(value, generic.IndirectObject) else reader.root_ref
        if ref in written:
            changes.append(revision)
    return tuple(changes)


def _cms_evidence(signed_data: cms.SignedData, signer_info: cms.SignerInfo | None) -> Evidence:
    """Certificates in the CMS, and revocation data in Adobe's revocation-info-archival attribute."""
    certs = embedded_certificates(signed_data)
    ocsps: list[asn1_ocsp.OCSPResponse] = []
    crls: list[asn1_crl.CertificateList] = []
    try:
        for attr in (signer_info["signed_attrs"] or []) if signer_info is not None else []:
            if attr["type"].native == "adobe_revocation_info_archival":
                for value in attr["values"]:
                    ocsps.extend(value["ocsp"] or [])
                    crls.extend(value["crl"] or [])
    except Exception:  # an unreadable archival attribute holds no evidence
        ocsps, crls = [], []
    return Evidence(certs, tuple(ocsps), tuple(crls))


def _raw(sig_obj: generic.DictionaryObject | None, key: str) -> object:
    if sig_obj is None:
        return None
    try:
        value = sig_obj.raw_get(key)
    except KeyError:
        return None
    if isinstance(value, generic.IndirectObject):
        return None  # an indirect /ByteRange can be swapped by a later revision
    if isinstance(value, generic.ArrayObject):
        return [v if isinstance(v, int) else None for v in value]
    return value


def _name(value: object) -> str | None:
    return str(value) if value is not None else None


def _claimed_time(emb: EmbeddedPdfSignature) -> datetime | None:
    try:
        claimed = emb.self_reported_timestamp
    except Exception:
        return None
    return claimed.astimezone(UTC) if claimed is not None else None


def _broken_timestamp(kind: str, problem: str, *, field_name: str | None = None) -> TimestampReport:
    return TimestampReport(
        kind=kind,
        time=datetime.min.replace(tzinfo=UTC),
        tsa=None,
        intact=False,
        trusted=False,
        digest_algorithm="unknown",
        field_name=field_name,
        problem=problem,
    )


def _earliest(times: Sequence[datetime]) -> datetime | None:
    return min(times) if times else None


def _flag_overlaps(reports: list[SignatureReport], gaps: list[tuple[int, int] | None]) -> None:
    """Live signatures (their byte ranges hold) that share unsigned bytes cannot both be what they claim."""
    for i in sorted(overlapping_gaps(gaps)):
        _overlapping(reports[i])


def _flag_copies(reports: list[SignatureReport], candidates: Sequence[_Candidate]) -> None:
    """A value copied into other signature dictionaries claims the same bytes twice: they overlap.

    Judged once (:func:`validation.discovery.find_signatures`), it fails as each copy judged
    on its own would have: by :func:`_flag_overlaps`.
    """
    for report, candidate in zip(reports, candidates, strict=True):
        if candidate.found.copies and not any(f.code == "SIGNATURES_OVERLAP" for f in report.findings):
            _overlapping(report)


def _overlapping(report: SignatureReport) -> None:
    report.findings.append(finding("SIGNATURES_OVERLAP"))
    report.indication, report.sub_indication = Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
    report.reason = report.findings[-1].text
    report.pades_level = None


__all__ = ["RevocationReport", "Validator"]
