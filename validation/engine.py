"""Judging a signed PDF: every signature, then the document, as EN 319 102-1 verdicts.

For each signature field, in the order a careful reader would check:

1. structure: /ByteRange and /Contents (:mod:`validation.structure`);
2. integrity: the digest over the signed bytes and the CMS signature value;
3. what changed after signing (pyHanko's difference analysis) and DocMDP;
4. the cryptographic policy (digest algorithm, key size);
5. timestamps, which give the best signature time (proof of existence);
6. the signer's chain to a pinned root with revocation, now, and when that
   fails for expiry or revocation, again at the proven signing time.

The first failing step decides the indication. Findings from every step are
kept, so the report says all that was seen, not only the first problem.

A :class:`Validator` is built once per process and reused: it caches chain
and revocation answers (:class:`validation.trust.ChainJudge`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from asn1crypto import cms, tsp
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    FormUpdatingRule,
    GenericFieldModificationRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
)
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.dss import DocumentSecurityStore, NoDSSFoundError
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator.policy_decl import AcceptAllAlgorithms

from pakat import __version__, errors
from pakat.errors import InputError
from pakat.pdf_input import check_envelope
from pakat.pdf_reader import open_reader
from validation.config import RevocationMode, ValidationConfig, ValidationPolicy
from validation.identity import certificate_info, signer_identity, to_cryptography
from validation.messages import finding, reason
from validation.model import (
    REPORT_SCHEMA_VERSION,
    ChainReport,
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
    SignerIdentity,
    SubIndication,
    Text,
    TimestampReport,
)
from validation.structure import check_byte_range, overlapping_gaps
from validation.trust import ChainJudge, ChainOutcome, Evidence

# pyHanko logs each rejected modification with a traceback at ERROR level. For a validator those
# are expected outcomes, stated in the report as MODIFIED_AFTER_SIGNING; logging them again as
# errors would bury real failures in the service's log.
logging.getLogger("pyhanko.sign.diff_analysis").setLevel(logging.CRITICAL)

_HASH_CHUNK = 1024 * 1024
_PADES_SUBFILTER = "/ETSI.CAdES.detached"
_SIGNING_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})
_TSA_EKU = frozenset({"time_stamping"})
_COVERAGE_NAMES = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
# The policy for checking a signature value itself is "any algorithm we can
# compute": which algorithms are acceptable is our policy's call, made separately.
_ANY_ALGORITHM = AcceptAllAlgorithms()
# pyHanko's default difference analysis, except that a certification allowing form filling and
# signing (DocMDP P=2, 3) also allows new *visible* signature fields, as ISO 32000-2 12.8.2.2
# ("signing") reads and as iText and Pakat's own signer do; pyHanko allows only invisible ones.
_DIFF_POLICY = StandardDiffPolicy(
    global_rules=DEFAULT_DIFF_POLICY.global_rules,
    form_rule=FormUpdatingRule(
        field_rules=[
            SigFieldCreationRule(allow_new_visible_after_certify=True),
            SigFieldModificationRule(),
            GenericFieldModificationRule(),
        ]
    ),
)


@dataclass
class _Document:
    """One open file and what every signature in it shares."""

    stream: BinaryIO
    size: int
    sha256: str
    reader: PdfFileReader
    evidence: Evidence  # DSS contents
    dss_changes: tuple[int, ...]  # revisions that wrote the DSS
    moment: datetime
    policy: ValidationPolicy
    doc_timestamps: list[_DocTimestamp] = field(default_factory=list)


@dataclass
class _DocTimestamp:
    report: TimestampReport
    revision: int  # the revision the timestamp covers
    sound: bool  # intact and trusted: usable as proof of existence


class Validator:
    """Validates signed PDFs under one configuration; safe to share between threads."""

    def __init__(self, config: ValidationConfig) -> None:
        self.config = config
        self.chains = ChainJudge(config)
        self._anchor_names = [to_cryptography(r).subject.rfc4514_string() for r in self.chains.roots]

    def validate(
        self,
        source: bytes | str | os.PathLike[str],
        *,
        file_name: str | None = None,
        at: datetime | None = None,
        revocation: RevocationMode | None = None,
    ) -> DocumentReport:
        """Judge every signature in ``source`` (bytes or a path) at ``at`` (default: now).

        Raises :class:`pakat.errors.InputError` for unusable input: not a PDF,
        truncated, unparseable, encrypted, too large, or holding no signature.
        """
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        policy = self.config.policy.with_revocation(revocation)
        with _open(source) as stream:
            size, digest = _check_envelope(stream, self.config.max_pdf_bytes)
            reader = open_reader(stream)
            evidence, dss_changes = _dss_evidence(reader)
            doc = _Document(stream, size, digest, reader, evidence, dss_changes, moment, policy)
            try:
                fields = list(enumerate_sig_fields(reader, filled_status=True))
            except (misc.PdfError, ValueError, TypeError, KeyError, RecursionError) as exc:
                raise InputError(errors.PDF_UNPARSEABLE, f"signature fields: {exc}") from None
            regular = [(n, v, f) for n, v, f in fields if _field_type(v) != "/DocTimeStamp"]
            stamps = [(n, v, f) for n, v, f in fields if _field_type(v) == "/DocTimeStamp"]
            if not regular:
                raise InputError(errors.NO_SIGNATURES, f"{len(stamps)} document timestamp(s) only")
            doc.doc_timestamps = [self._document_timestamp(doc, name, f) for name, _, f in stamps]
            gaps: list[tuple[int, int] | None] = []
            reports = [self._signature(doc, i + 1, name, f, gaps) for i, (name, _, f) in enumerate(regular)]
            _flag_overlaps(reports, gaps)
            revisions = reader.xrefs.total_revisions
        return self._document_report(doc, file_name, reports, revisions)

    # -- one signature ---------------------------------------------------------------------

    def _signature(
        self,
        doc: _Document,
        index: int,
        name: str,
        sig_field: generic.DictionaryObject,
        gaps: list[tuple[int, int] | None],
    ) -> SignatureReport:
        sig_obj = _signature_dictionary(sig_field)
        subfilter = _name(sig_obj.get("/SubFilter")) if sig_obj is not None else None
        contents = _contents(sig_obj)
        check = check_byte_range(
            _raw(sig_obj, "/ByteRange") if sig_obj is not None else None, contents, doc.stream, doc.size
        )
        gaps.append(check.gap)
        verdict = _Verdict(index=index, name=name, subfilter=subfilter, moment=doc.moment)
        verdict.findings.extend(check.findings)
        verdict.byte_range = check.byte_range
        if not check.sane:
            return verdict.fail(SubIndication.FORMAT_FAILURE)
        try:
            emb = EmbeddedPdfSignature(doc.reader, sig_field, name)
        except Exception as exc:  # attacker-controlled bytes: any parse failure is a format failure
            verdict.findings.append(finding("CMS_UNREADABLE", detail=type(exc).__name__))
            return verdict.fail(SubIndication.FORMAT_FAILURE)
        verdict.revision = emb.signed_revision
        verdict.kind = SignatureKind.CERTIFICATION if emb.docmdp_level is not None else SignatureKind.APPROVAL
        verdict.claimed_time = _claimed_time(emb)
        verdict.digest_algorithm = emb.md_algorithm
        verdict.signature_algorithm = _signature_algorithm(emb.signer_info)
        if subfilter != _PADES_SUBFILTER:
            verdict.findings.append(finding("NOT_PADES", detail=subfilter))

        # 2. integrity
        try:
            certs = generic_cms.extract_certificate_info(emb.signed_data)
            signer_cert: asn1_x509.Certificate | None = certs.signer_cert
        except Exception:
            certs, signer_cert = None, None
        try:
            actual_digest = emb.compute_digest()
        except Exception as exc:
            verdict.findings.append(finding("BYTE_RANGE_INVALID", detail=type(exc).__name__))
            return verdict.fail(SubIndication.FORMAT_FAILURE)
        if signer_cert is None:
            verdict.findings.append(finding("SIGNER_CERTIFICATE_MISSING"))
            embedded = _message_digest(emb.signer_info)
            verdict.digest_ok = embedded == actual_digest if embedded is not None else None
            if verdict.digest_ok is False:
                verdict.findings.append(finding("DIGEST_MISMATCH"))
                return verdict.fail(SubIndication.HASH_FAILURE)
            return verdict.indeterminate(SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
        verdict.signer_cert = signer_cert
        try:
            intact, valid = generic_cms.validate_sig_integrity(
                emb.signer_info, signer_cert, expected_content_type="data", actual_digest=actual_digest
            )
        except SignatureValidationError as exc:
            verdict.findings.append(finding("CMS_UNREADABLE", detail=exc.failure_message[:200]))
            return verdict.fail(SubIndication.FORMAT_FAILURE)
        except Exception as exc:  # e.g. an algorithm the library cannot compute
            verdict.findings.append(finding("UNSUPPORTED_ALGORITHM", detail=f"{type(exc).__name__}: {exc}"[:200]))
            return verdict.indeterminate(SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
        verdict.digest_ok, verdict.signature_ok = intact, valid
        if not intact:
            verdict.findings.append(finding("DIGEST_MISMATCH"))
            return verdict.fail(SubIndication.HASH_FAILURE)
        if not valid:
            verdict.findings.append(finding("SIGNATURE_INVALID"))
            return verdict.fail(SubIndication.SIG_CRYPTO_FAILURE)

        # 3. coverage and modifications
        self._modifications(emb, verdict)

        # 5 (before 4: the crypto policy needs the proof of existence). Timestamps.
        evidence = doc.evidence.plus(_cms_evidence(emb.signed_data, emb.signer_info))
        verdict.timestamps = self._signature_timestamps(doc, emb, evidence)
        poe = _earliest(
            [t.time for t in verdict.timestamps if t.intact and t.trusted]
            + [t.report.time for t in doc.doc_timestamps if t.sound and t.revision >= emb.signed_revision]
        )
        verdict.best_time = poe
        if verdict.claimed_time and poe and verdict.claimed_time > poe + doc.policy.clock_skew:
            verdict.findings.append(finding("CLAIMED_TIME_AFTER_TIMESTAMP"))

        # 6. chain, revocation, identity
        outcome = self._signer_chain(doc, signer_cert, evidence, poe)
        verdict.outcome = outcome
        issuer = outcome.path[1] if len(outcome.path) > 1 else None
        verdict.identity = signer_identity(signer_cert, issuer, self.config.classification)
        verdict.pades_level = _pades_level(emb, subfilter, verdict, doc, outcome)

        # Decide. Failures (format, hash, signature value) outrank any indeterminate result; then
        # EN 319 102-1's order: the chain (XCV), the cryptographic constraints, the key usage.
        if verdict.has_error(("MODIFIED_AFTER_SIGNING", "COVERAGE_INCOMPLETE", "DOCMDP_VIOLATION")):
            return verdict.fail(SubIndication.FORMAT_FAILURE)
        if not outcome.trusted:
            return _chain_verdict(verdict, outcome)
        crypto = _crypto_constraints(doc.policy, emb.md_algorithm, signer_cert, poe, verdict)
        if crypto is not None:
            return verdict.indeterminate(crypto)
        if not _signing_key_usage_ok(signer_cert):
            return verdict.indeterminate(SubIndication.CHAIN_CONSTRAINTS_FAILURE)
        return _chain_verdict(verdict, outcome)

    def _modifications(self, emb: EmbeddedPdfSignature, verdict: _Verdict) -> None:
        try:
            emb.compute_integrity_info(diff_policy=_DIFF_POLICY)
            summary = emb.summarise_integrity_info()
        except Exception as exc:  # the difference analysis gave up: treat as unexplained change
            verdict.coverage = "unclear"
            verdict.modification = Modification.OTHER
            verdict.findings.append(finding("MODIFIED_AFTER_SIGNING", detail=type(exc).__name__))
            return
        coverage = summary["coverage"]
        verdict.coverage = _COVERAGE_NAMES.get(coverage, "unclear")
        diff = summary["diff_result"]
        level = diff.modification_level if isinstance(diff, DiffResult) else None
        verdict.modification = Modification(level.name) if level is not None else Modification.OTHER
        verdict.docmdp = int(emb.docmdp_level.value) if emb.docmdp_level is not None else None
        verdict.docmdp_ok = summary["docmdp_ok"]
        if coverage < SignatureCoverageLevel.ENTIRE_REVISION:
            verdict.findings.append(finding("COVERAGE_INCOMPLETE", detail=verdict.coverage))
        elif verdict.modification is Modification.OTHER:
            detail = None if isinstance(diff, DiffResult) else str(diff)[:200]
            verdict.findings.append(finding("MODIFIED_AFTER_SIGNING", detail=detail))
        elif verdict.docmdp_ok is False:
            verdict.findings.append(finding("DOCMDP_VIOLATION", detail=f"P{verdict.docmdp}"))
        elif verdict.modification is Modification.ANNOTATIONS:
            verdict.findings.append(finding("ANNOTATIONS_AFTER_SIGNING"))
        elif verdict.modification is Modification.FORM_FILLING:
            verdict.findings.append(finding("FORM_FILLED_AFTER_SIGNING"))

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

    # -- timestamps --------------------------------------------------------------------------

    def _signature_timestamps(
        self, doc: _Document, emb: EmbeddedPdfSignature, evidence: Evidence
    ) -> list[TimestampReport]:
        reports = []
        signature_value = emb.signer_info["signature"].native
        try:
            tokens = list(generic_cms.extract_tst_data_iter(emb.signer_info, signed=False))
        except Exception:
            return [_broken_timestamp("signature", "unreadable timestamp token")]
        for token in tokens:
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
            signer_info = token["signer_infos"][0]
            tsa_cert = generic_cms.extract_certificate_info(token).signer_cert
            content = token["encap_content_info"]["content"].contents
            econtent_digest = hashlib.new(signer_info["digest_algorithm"]["algorithm"].native, content).digest()
            intact, valid = generic_cms.validate_sig_integrity(
                signer_info, tsa_cert, expected_content_type="tst_info", actual_digest=econtent_digest
            )
        except Exception as exc:
            return _broken_timestamp(kind, f"{type(exc).__name__}: {exc}"[:200], field_name=field_name)
        tsa_evidence = evidence.plus(_cms_evidence(token, None))
        chain = self._tsa_chain(doc, tsa_cert, tsa_evidence, gen_time)
        problem = None if imprint_ok and intact and valid else "imprint or signature does not verify"
        if problem is None and not chain.trusted:
            problem = chain.message
        return TimestampReport(
            kind=kind,
            time=gen_time,
            tsa=to_cryptography(tsa_cert).subject.rfc4514_string(),
            intact=imprint_ok and intact and valid,
            trusted=chain.trusted,
            digest_algorithm=md,
            field_name=field_name,
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

    def _document_timestamp(self, doc: _Document, name: str, sig_field: generic.DictionaryObject) -> _DocTimestamp:
        try:
            emb = EmbeddedPdfSignature(doc.reader, sig_field, name)
            digest = emb.compute_digest()
            covers_file = emb.evaluate_signature_coverage() == SignatureCoverageLevel.ENTIRE_FILE
        except Exception as exc:
            return _DocTimestamp(_broken_timestamp("document", type(exc).__name__, field_name=name), -1, False)
        report = self._timestamp(doc, emb.signed_data, "document", doc.evidence, digest=digest, field_name=name)
        report = TimestampReport(**{**report.__dict__, "covers_entire_file": covers_file})
        return _DocTimestamp(report, emb.signed_revision, report.intact and report.trusted)

    # -- the document ---------------------------------------------------------------------------

    def _document_report(
        self, doc: _Document, file_name: str | None, signatures: list[SignatureReport], revisions: int
    ) -> DocumentReport:
        findings: list[Finding] = []
        for stamp in doc.doc_timestamps:
            if not stamp.report.intact:
                findings.append(finding("TIMESTAMP_INVALID", detail=stamp.report.field_name))
            elif not stamp.report.trusted:
                findings.append(finding("TIMESTAMP_UNTRUSTED", detail=stamp.report.field_name))
        failed = [s for s in signatures if s.indication is Indication.TOTAL_FAILED]
        unsure = [s for s in signatures if s.indication is Indication.INDETERMINATE]
        if failed:
            indication, sub, text = Indication.TOTAL_FAILED, failed[0].sub_indication, failed[0].reason
        elif any(f.severity is Severity.ERROR for f in findings):
            indication, sub = Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
            text = findings[0].text
        elif unsure:
            indication, sub, text = Indication.INDETERMINATE, unsure[0].sub_indication, unsure[0].reason
        else:
            indication, sub = Indication.TOTAL_PASSED, None
            n = len(signatures)
            text = Text(
                fa=f"همه {_fa_digits(n)} امضای سند معتبرند." if n > 1 else "امضای سند معتبر است.",
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
            revisions=revisions,
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

    def has_error(self, codes: Sequence[str]) -> bool:
        return any(f.code in codes and f.severity is Severity.ERROR for f in self.findings)

    def fail(self, sub: SubIndication) -> SignatureReport:
        return self.report(Indication.TOTAL_FAILED, sub)

    def indeterminate(self, sub: SubIndication) -> SignatureReport:
        return self.report(Indication.INDETERMINATE, sub)

    def passed(self) -> SignatureReport:
        return self.report(Indication.TOTAL_PASSED, None)

    def report(self, indication: Indication, sub: SubIndication | None) -> SignatureReport:
        deciding = next((f for f in self.findings if f.severity is Severity.ERROR), None)
        if indication is not Indication.TOTAL_FAILED or sub is not SubIndication.FORMAT_FAILURE:
            # Only structural verdicts are best explained by their finding; others by the sub-indication.
            deciding = deciding if sub in (SubIndication.HASH_FAILURE, SubIndication.SIG_CRYPTO_FAILURE) else None
        outcome = self.outcome
        chain = None
        if outcome is not None:
            chain = ChainReport(
                trusted=outcome.trusted,
                anchor=to_cryptography(outcome.path[-1]).subject.rfc4514_string() if outcome.trusted else None,
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
            modifications=ModificationReport(self.modification, self.docmdp, self.docmdp_ok),
            claimed_signing_time=self.claimed_time,
            best_signature_time=self.best_time or self.moment,
            timestamps=self.timestamps,
            digest_algorithm=self.digest_algorithm,
            signature_algorithm=self.signature_algorithm,
            findings=self.findings,
        )


def _chain_verdict(verdict: _Verdict, outcome: ChainOutcome) -> SignatureReport:
    if outcome.trusted:
        if outcome.fetched_online:
            verdict.findings.append(finding("REVOCATION_FETCHED_ONLINE"))
        if outcome.revocation.status is RevocationStatus.NOT_CHECKED:
            verdict.findings.append(finding("REVOCATION_NOT_CHECKED"))
        elif outcome.revocation.status is RevocationStatus.REVOKED:
            verdict.findings.append(finding("REVOKED_AFTER_SIGNING"))
        return verdict.passed()
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
        not_after = to_cryptography(cert).not_valid_after_utc if cert is not None else None
        if verdict.best_time is not None and not_after is not None and verdict.best_time > not_after:
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


def _crypto_constraints(
    policy: ValidationPolicy,
    md_algorithm: str,
    cert: asn1_x509.Certificate,
    poe: datetime | None,
    verdict: _Verdict,
) -> SubIndication | None:
    """The digest and key-size policy; a sunset digest passes only with proof of existence before its date."""
    md = md_algorithm.lower().replace("-", "_")
    if md not in policy.allowed_digests:
        sunset = policy.digest_sunsets.get(md)
        if sunset is None or poe is None or poe >= sunset:
            verdict.findings.append(finding("DIGEST_NOT_ALLOWED", detail=md))
            if poe is None and sunset is not None:
                return SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE
            return SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    key = to_cryptography(cert).public_key()
    bits: int | None = None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < policy.min_rsa_bits:
        bits = key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < policy.min_ec_bits:
        bits = key.curve.key_size
    if bits is not None:
        verdict.findings.append(finding("KEY_TOO_SMALL", detail=f"{bits} bits"))
        return SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    return None


def _signing_key_usage_ok(cert: asn1_x509.Certificate) -> bool:
    usage = cert.key_usage_value
    return usage is None or bool(set(usage.native) & _SIGNING_KEY_USAGES)


def _pades_level(
    emb: EmbeddedPdfSignature, subfilter: str | None, verdict: _Verdict, doc: _Document, outcome: ChainOutcome
) -> str | None:
    """The PAdES baseline level the signature reaches (EN 319 142-1), or None when it is not PAdES."""
    if subfilter != _PADES_SUBFILTER:
        return None
    attrs = emb.signer_info["signed_attrs"]
    names = {a["type"].native for a in attrs} if attrs else set()
    if not names & {"signing_certificate", "signing_certificate_v2"}:
        return None
    stamped_docs = [t for t in doc.doc_timestamps if t.sound and t.revision >= emb.signed_revision]
    if not any(t.intact and t.trusted for t in verdict.timestamps) and not stamped_docs:
        return "B-B"
    signed = emb.signed_revision
    # B-LT: validation data added after the signature, and enough to validate it offline.
    long_term = (
        any(r > signed for r in doc.dss_changes) and outcome.trusted and outcome.revocation.source == "embedded"
    )
    if not long_term:
        return "B-T"
    # B-LTA: a document timestamp over such data (a DSS written after it, for the timestamp itself, is normal).
    if any(any(signed < r <= t.revision for r in doc.dss_changes) for t in stamped_docs):
        return "B-LTA"
    return "B-LT"


# -- reading the file ---------------------------------------------------------------------------


@contextlib.contextmanager
def _open(source: bytes | str | os.PathLike[str]) -> Iterator[BinaryIO]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(bytes(source))
        return
    try:
        fh = open(Path(source), "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise InputError(errors.PDF_MISSING, Path(source).name) from exc
    with fh:
        yield fh


def _check_envelope(stream: BinaryIO, max_bytes: int) -> tuple[int, str]:
    """The shared first look at the file, plus its SHA-256 for the report."""
    size = check_envelope(stream, max_bytes)
    digest = hashlib.sha256()
    while chunk := stream.read(_HASH_CHUNK):
        digest.update(chunk)
    stream.seek(0)
    return size, digest.hexdigest()


def _dss_evidence(reader: PdfFileReader) -> tuple[Evidence, tuple[int, ...]]:
    """The DSS's certificates and revocation data, and the revisions that wrote it."""
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
    certs = tuple(
        c.chosen for c in (signed_data["certificates"] or []) if isinstance(c.chosen, asn1_x509.Certificate)
    )
    ocsps: list[asn1_ocsp.OCSPResponse] = []
    crls: list[asn1_crl.CertificateList] = []
    if signer_info is not None and signer_info["signed_attrs"]:
        for attr in signer_info["signed_attrs"]:
            if attr["type"].native == "adobe_revocation_info_archival":
                for value in attr["values"]:
                    ocsps.extend(value["ocsp"] or [])
                    crls.extend(value["crl"] or [])
    return Evidence(certs, tuple(ocsps), tuple(crls))


def _field_type(sig_obj: object) -> str | None:
    try:
        obj = sig_obj.get_object() if hasattr(sig_obj, "get_object") else sig_obj
        return _name(obj.get("/Type")) if isinstance(obj, generic.DictionaryObject) else None
    except Exception:
        return None


def _signature_dictionary(sig_field: generic.DictionaryObject) -> generic.DictionaryObject | None:
    try:
        value = sig_field.get_object()["/V"].get_object()
    except Exception:
        return None
    return value if isinstance(value, generic.DictionaryObject) else None


def _contents(sig_obj: generic.DictionaryObject | None) -> bytes | None:
    if sig_obj is None:
        return None
    try:
        # As written: a signature's /Contents is never encrypted, even in an encrypted document.
        value = sig_obj.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.RAW)
    except KeyError:
        return None
    if isinstance(value, generic.IndirectObject):
        return None  # /Contents must be direct: an indirect one is outside the signed hole
    if isinstance(value, generic.ByteStringObject | generic.TextStringObject):
        return value.original_bytes
    return None


def _raw(sig_obj: generic.DictionaryObject, key: str) -> object:
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
        claimed = generic_cms.extract_self_reported_ts(emb.signer_info) or emb.self_reported_timestamp
    except Exception:
        return None
    return claimed.astimezone(UTC) if claimed is not None else None


def _signature_algorithm(signer_info: cms.SignerInfo) -> str:
    algorithm = signer_info["signature_algorithm"]
    try:
        return str(algorithm.signature_algo)
    except ValueError:  # an algorithm asn1crypto cannot name: report its OID
        return str(algorithm["algorithm"].dotted)


def _message_digest(signer_info: cms.SignerInfo) -> bytes | None:
    try:
        return generic_cms.extract_message_digest(signer_info)
    except Exception:
        return None


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
    """Signatures sharing unsigned bytes cannot both be what they claim: both fail."""
    for i in sorted(overlapping_gaps(gaps)):
        r = reports[i]
        r.findings.append(finding("SIGNATURES_OVERLAP"))
        r.indication, r.sub_indication = Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
        r.reason = r.findings[-1].text
        r.pades_level = None


def _fa_digits(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))


def validate_pdf(
    source: bytes | str | os.PathLike[str],
    config: ValidationConfig,
    **options: object,
) -> DocumentReport:
    """One-shot validation; build a :class:`Validator` instead when validating many files."""
    return Validator(config).validate(source, **options)  # type: ignore[arg-type]


__all__ = ["RevocationReport", "Validator", "validate_pdf"]
