"""The tender requirements judge on hand-built validation reports: no database, no HSM, no validator run.

Each test builds the signatures Pakat's validator would report on a bid
document (:mod:`validation.model`) and asks :class:`envelopes.requirements.Judge`
whether a signatory's or the seal's requirement is met, and why not. The
reasons are compared word for word in both languages: platforms show them
to bidders and store them with each evaluation, so they must not drift.
"""

from __future__ import annotations

import dataclasses
import json
import re
import string
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from envelopes.requirement_messages import REASONS, Digits, reason
from envelopes.requirements import Judge, ValidatedDocument, heads, unmet_summary
from envelopes.tender_types import EnvelopeDocument, Evaluation, RequirementCheck, Requirements, Signatory
from hsm_config.deployment import Deployment, assurance_rank
from validation.model import (
    REPORT_SCHEMA_VERSION,
    CertificateInfo,
    DocumentReport,
    Indication,
    IntegrityReport,
    ModificationReport,
    SignatureKind,
    SignatureReport,
    SignerIdentity,
    SignerKind,
    SubIndication,
    Text,
    TimestampReport,
)

DEADLINE = datetime(2026, 11, 22, 11, 0, 0, tzinfo=UTC)
SIGNED = datetime(2026, 11, 22, 10, 30, 5, tzinfo=UTC)  # ۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۰۰:۰۵ in Tehran
SIGNED_FA = "۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۰۰:۰۵ (تهران)"
SIGNED_EN = "2026-11-22 10:30:05 UTC"
BIDDER, RIVAL = "14000123453", "14000987650"  # companies' national IDs (شناسه ملی)
ALI, SARA = "0012345678", "0099887766"  # people's national IDs (کد ملی)
DIRECTOR = "Managing Director"
VALID = Text("امضا معتبر است و به ریشه مورد اعتماد می‌رسد.", "The signature is valid and chains to a trusted root.")
CHANGED = Text("محتوای امضاشده تغییر کرده است.", "The signed content has been changed.")
DEPLOYMENT = Deployment(source=Path("pakat.yaml"), organisations={}, trust_roots=(),
                        assurance_levels=("bronze", "silver", "gold"))
PERSIAN_LETTERS = re.compile(r"[\u0600-\u06ff]")


# -- hand-built reports ------------------------------------------------------------------------


def signature(
    national_id: str | None = ALI, *, name: str | None = "Ali Rezaei", title: str | None = DIRECTOR,
    level: str | None = "silver", kind: SignerKind = SignerKind.PERSON_AFFILIATED, index: int = 1,
    indication: Indication = Indication.TOTAL_PASSED, sub: SubIndication | None = None, why: Text = VALID,
    stamped: datetime | None = SIGNED, stamp_trusted: bool = True,
) -> SignatureReport:
    """A signature as the validator reports it; ``stamped`` None is a B-B signature (no timestamp)."""
    certificate = CertificateInfo(
        subject=f"CN={name},serialNumber={national_id},C=IR", common_name=name,
        issuer="CN=Pakat Dev General CA,O=Pakat Dev,C=IR", serial_number=f"{index:04x}",
        not_before=DEADLINE - timedelta(days=365), not_after=DEADLINE + timedelta(days=365),
        sha256=f"{index:02x}" * 32, key="RSA-2048",
    )
    timestamps = [] if stamped is None else [TimestampReport(
        kind="signature", time=stamped, tsa="CN=Pakat Dev TSA,C=IR", intact=True, trusted=stamp_trusted,
        digest_algorithm="sha256",
    )]
    return SignatureReport(
        index=index, field_name=f"Signature{index}", kind=SignatureKind.APPROVAL, indication=indication,
        sub_indication=sub, reason=why, revision=index - 1, subfilter="/ETSI.CAdES.detached",
        pades_level="B-B" if stamped is None else "B-LTA",
        signer=SignerIdentity(
            name=name, national_id=national_id, organisation="شرکت پارس", organisational_unit=None, title=title,
            kind=kind, affiliation=None, assurance_level=level, certificate=certificate,
        ),
        chain=None, revocation=None,
        integrity=IntegrityReport([0, 1000, 9000, 500], True, "entire_revision", True, True),
        modifications=ModificationReport(None, None, None),
        claimed_signing_time=None, best_signature_time=stamped or DEADLINE, timestamps=timestamps,
        digest_algorithm="sha256", signature_algorithm="sha256_rsa",
    )


def seal(national_id: str | None = BIDDER, **changes: Any) -> SignatureReport:
    """The company seal of ``national_id``: an organisation's certificate, no role, no assurance level."""
    return signature(national_id, name="Pars Co [Seal]", title=None, level=None,
                     kind=SignerKind.ORGANISATION_SEAL, **changes)


def report(*signatures: SignatureReport) -> DocumentReport:
    """A whole document's report, as :meth:`validation.engine.Validator.validate` answers it."""
    passed = all(s.indication is Indication.TOTAL_PASSED for s in signatures)
    return DocumentReport(
        schema_version=REPORT_SCHEMA_VERSION, generator="Pakat test", validation_time=DEADLINE,
        file_name="bid.pdf", file_sha256="ab" * 32, file_size=1000,
        indication=Indication.TOTAL_PASSED if passed else Indication.TOTAL_FAILED, sub_indication=None,
        reason=VALID, signatures=list(signatures), document_timestamps=[], revisions=len(signatures) + 1,
        trust_anchors=["CN=Pakat Dev Root,C=IR"], policy={},
    )


def document(n: int = 0, *, revision: int = 2, busy: bool = False) -> EnvelopeDocument:
    return EnvelopeDocument(f"doc-{n}", f"bid-{n}.pdf", n, revision, f"{n:064x}", busy, DEADLINE, None, None)


def judge(*signatories: Signatory, min_assurance: str | None = None, seal_required: bool = False) -> Judge:
    return Judge(Requirements(signatories, min_assurance, seal_required), BIDDER, DEADLINE,
                 partial(assurance_rank, DEPLOYMENT))


# -- a signatory's requirement ------------------------------------------------------------------------


def test_a_valid_timestamped_signature_of_the_signatory_meets_it() -> None:
    check = judge().signatory(Signatory(ALI), report(signature()).signatures)
    assert check == RequirementCheck(
        "signatory", ALI, None, True,
        Text(f"امضای معتبر Ali Rezaei با مهر زمانی {SIGNED_FA}",
             f"Valid signature of Ali Rezaei, timestamped {SIGNED_EN}"),
        problem=None, signer="Ali Rezaei", assurance_level="silver", level="B-LTA", timestamp=SIGNED,
    )


def test_national_ids_compare_as_people_type_them() -> None:
    """A requirement typed in Persian digits is met by the certificate's Latin ones."""
    check = judge().signatory(Signatory("۰۰۱۲۳۴۵۶۷۸"), [signature(ALI)])
    assert check.met and check.signer == "Ali Rezaei"


def test_no_signature_of_the_signatory_is_missing_in_both_languages() -> None:
    check = judge().signatory(Signatory(ALI, DIRECTOR), [signature(SARA, name="Sara Ahmadi")])
    assert (check.met, check.problem, check.role, check.signer) == (False, "missing", DIRECTOR, None)
    assert check.reason == Text("امضایی با شناسهٔ ۰۰۱۲۳۴۵۶۷۸ بر این سند نیست.",
                                "No signature by national ID 0012345678 on this document.")


def test_a_seal_bearing_the_persons_id_does_not_stand_for_the_person() -> None:
    check = judge().signatory(Signatory(ALI), [seal(ALI)])
    assert (check.met, check.problem) == (False, "missing")


def test_a_signature_that_fails_validation_is_invalid_with_the_validators_reason() -> None:
    failed = signature(indication=Indication.TOTAL_FAILED, sub=SubIndication.HASH_FAILURE, why=CHANGED)
    check = judge().signatory(Signatory(ALI), [failed])
    assert (check.met, check.problem, check.signer, check.timestamp) == (False, "invalid", "Ali Rezaei", SIGNED)
    assert check.reason == Text("امضای Ali Rezaei معتبر نیست: محتوای امضاشده تغییر کرده است.",
                                "The signature of Ali Rezaei is not valid: The signed content has been changed.")


def test_an_indeterminate_signature_is_not_yet_valid() -> None:
    pending = signature(indication=Indication.INDETERMINATE, sub=SubIndication.TRY_LATER,
                        why=Text("بعداً دوباره بررسی کنید.", "Try again later."))
    check = judge().signatory(Signatory(ALI), [pending])
    assert check.problem == "invalid" and check.reason.en.endswith("is not valid: Try again later.")


def test_a_signer_without_a_name_is_named_by_the_required_id() -> None:
    failed = signature(name=None, indication=Indication.TOTAL_FAILED, why=CHANGED)
    check = judge().signatory(Signatory(ALI), [failed])
    assert check.reason.en == f"The signature of {ALI} is not valid: {CHANGED.en}"
    assert check.reason.fa == f"امضای {ALI} معتبر نیست: {CHANGED.fa}"  # as today: the ID keeps Latin digits here


# -- roles -------------------------------------------------------------------------------------------


def test_the_required_role_is_compared_as_people_type_it() -> None:
    check = judge().signatory(Signatory(ALI, "managing  DIRECTOR"), [signature(title=DIRECTOR)])
    assert check.met and check.role == "managing  DIRECTOR"


def test_another_role_on_the_certificate_is_named_in_both_languages() -> None:
    check = judge().signatory(Signatory(ALI, DIRECTOR), [signature(title="Finance Manager")])
    assert (check.met, check.problem) == (False, "role")
    assert check.reason == Text("سمت Ali Rezaei در گواهی «Finance Manager» است، نه «Managing Director».",
                                "The certificate of Ali Rezaei states the role 'Finance Manager', "
                                "not 'Managing Director'.")


@pytest.mark.parametrize("title", [None, ""])
def test_a_certificate_stating_no_role_says_so(title: str | None) -> None:
    check = judge().signatory(Signatory(ALI, DIRECTOR), [signature(title=title)])
    assert check.problem == "role"
    assert check.reason == Text("سمت Ali Rezaei در گواهی «—» است، نه «Managing Director».",
                                "The certificate of Ali Rezaei states the role '(none)', not 'Managing Director'.")


def test_no_required_role_accepts_any_title() -> None:
    assert judge().signatory(Signatory(ALI), [signature(title=None)]).met


# -- the minimum assurance level ---------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "met"), [("gold", True), ("silver", True), ("bronze", False)])
def test_the_minimum_level_is_by_the_deployments_order(level: str, met: bool) -> None:
    check = judge(min_assurance="silver").signatory(Signatory(ALI), [signature(level=level)])
    assert check.met is met and check.assurance_level == level
    assert check.problem == (None if met else "assurance")


def test_a_level_below_the_minimum_is_named_in_both_languages() -> None:
    check = judge(min_assurance="gold").signatory(Signatory(ALI), [signature(level="silver")])
    assert check.reason == Text("سطح اطمینان گواهی Ali Rezaei «silver» است؛ دست‌کم «gold» لازم است.",
                                "The certificate of Ali Rezaei is at assurance level silver; "
                                "at least gold is required.")


@pytest.mark.parametrize(("level", "shown_fa", "shown_en"), [
    (None, "نامشخص", "unknown"), ("", "نامشخص", "unknown"), ("platinum", "platinum", "platinum"),
])
def test_an_unclassified_or_unlisted_level_meets_no_minimum(level: str | None, shown_fa: str, shown_en: str) \
        -> None:
    check = judge(min_assurance="bronze").signatory(Signatory(ALI), [signature(level=level)])
    assert check.problem == "assurance"
    assert check.reason == Text(f"سطح اطمینان گواهی Ali Rezaei «{shown_fa}» است؛ دست‌کم «bronze» لازم است.",
                                f"The certificate of Ali Rezaei is at assurance level {shown_en}; "
                                "at least bronze is required.")


def test_the_role_is_judged_before_the_level() -> None:
    check = judge(min_assurance="gold").signatory(Signatory(ALI, DIRECTOR), [signature(title="Clerk", level=None)])
    assert check.problem == "role"


# -- timestamps and the deadline ---------------------------------------------------------------------------


def test_a_signature_without_a_timestamp_is_b_b_and_not_enough() -> None:
    check = judge().signatory(Signatory(ALI), [signature(stamped=None)])
    assert (check.problem, check.level, check.timestamp) == ("no_timestamp", "B-B", None)
    assert check.reason == Text("امضای Ali Rezaei مهر زمانی ندارد (B-B)؛ دست‌کم سطح B-T لازم است.",
                                "The signature of Ali Rezaei has no timestamp (B-B); at least B-T is required.")


def test_an_untrusted_timestamp_proves_no_time() -> None:
    check = judge().signatory(Signatory(ALI), [signature(stamp_trusted=False)])
    assert (check.problem, check.timestamp) == ("no_timestamp", None)


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1)])
def test_a_timestamp_at_or_after_the_deadline_is_late(after: timedelta) -> None:
    late = DEADLINE + after
    check = judge().signatory(Signatory(ALI), [signature(stamped=late)])
    assert (check.met, check.problem, check.timestamp) == (False, "late", late)
    if after == timedelta(0):
        assert check.reason == Text(
            "مهر زمانی امضای Ali Rezaei (۱۴۰۵/۰۹/۰۱ ساعت ۱۴:۳۰:۰۰ (تهران)) پس از مهلت است.",
            "The timestamp on the signature of Ali Rezaei (2026-11-22 11:00:00 UTC) is not before the deadline.")


def test_the_earliest_trusted_signature_timestamp_counts() -> None:
    stamps = [TimestampReport("signature", DEADLINE + timedelta(hours=1), "CN=TSA", True, True, "sha256"),
              TimestampReport("signature", SIGNED, "CN=TSA", True, True, "sha256"),
              TimestampReport("signature", SIGNED - timedelta(hours=1), "CN=TSA", False, True, "sha256"),
              TimestampReport("document", SIGNED - timedelta(hours=2), "CN=TSA", True, True, "sha256")]
    check = judge().signatory(Signatory(ALI), [dataclasses.replace(signature(), timestamps=stamps)])
    assert check.met and check.timestamp == SIGNED


# -- the best of several candidates -------------------------------------------------------------------------


def test_the_first_candidate_meeting_every_condition_counts() -> None:
    candidates = [
        signature(index=1, indication=Indication.TOTAL_FAILED, why=CHANGED),
        signature(index=2, name="Ali R. (second token)", level="gold"),
        signature(index=3, name="Ali R. (third token)", level="gold"),
    ]
    check = judge(min_assurance="gold").signatory(Signatory(ALI), candidates)
    assert check.met and check.signer == "Ali R. (second token)"


def test_with_no_candidate_meeting_it_the_first_ones_first_problem_is_the_reason() -> None:
    candidates = [signature(index=1, title="Clerk", stamped=None),
                  signature(index=2, indication=Indication.TOTAL_FAILED, why=CHANGED)]
    check = judge().signatory(Signatory(ALI, DIRECTOR), candidates)
    assert (check.problem, check.level) == ("role", "B-B")


def test_other_peoples_signatures_are_no_candidates() -> None:
    candidates = [signature(SARA, name="Sara Ahmadi", index=1), signature(ALI, index=2, level="bronze")]
    check = judge(min_assurance="silver").signatory(Signatory(ALI), candidates)
    assert (check.problem, check.signer) == ("assurance", "Ali Rezaei")


# -- the seal ---------------------------------------------------------------------------------------------


def test_the_bidders_seal_meets_the_seal_requirement_whatever_the_minimum_level() -> None:
    check = judge(min_assurance="gold").seal([signature(), seal()])
    assert check == RequirementCheck(
        "seal", BIDDER, None, True,
        Text(f"امضای معتبر Pars Co [Seal] با مهر زمانی {SIGNED_FA}",
             f"Valid signature of Pars Co [Seal], timestamped {SIGNED_EN}"),
        problem=None, signer="Pars Co [Seal]", assurance_level=None, level="B-LTA", timestamp=SIGNED,
    )


def test_no_seal_is_missing() -> None:
    check = judge().seal([signature()])
    assert (check.met, check.problem, check.signer) == (False, "missing", None)
    assert check.reason == Text("مهر سازمانی پیشنهاددهنده بر این سند نیست.",
                                "The bidder's company seal is not on this document.")


def test_another_companys_seal_is_named_beside_the_bidders() -> None:
    check = judge().seal([seal(RIVAL), seal(None, index=2)])
    assert (check.met, check.problem) == (False, "wrong_seal")
    assert check.reason == Text(
        "مهر سازمانی دیگری (۱۴۰۰۰۹۸۷۶۵۰, ?) بر سند است، نه مهر پیشنهاددهنده (۱۴۰۰۰۱۲۳۴۵۳).",
        "Another organisation's seal (14000987650, ?) is on the document, not the bidder's (14000123453).")


def test_the_bidders_seal_failing_validation_is_invalid() -> None:
    check = judge().seal([seal(indication=Indication.TOTAL_FAILED, why=CHANGED), seal(RIVAL, index=2)])
    assert check.problem == "invalid"
    assert check.reason.en == f"The signature of Pars Co [Seal] is not valid: {CHANGED.en}"


def test_a_late_seal_is_late() -> None:
    check = judge().seal([seal(stamped=DEADLINE)])
    assert check.problem == "late"


# -- an envelope's documents ------------------------------------------------------------------------------


def test_every_requirement_on_every_document_in_order() -> None:
    envelope = judge(Signatory(ALI, DIRECTOR), Signatory(SARA), seal_required=True)
    sara = signature(SARA, name="Sara Ahmadi", title=None, index=2)
    signed = report(signature(ALI, index=1), sara, seal(index=3))
    unsealed = report(signature(ALI, index=1), sara)
    docs = [ValidatedDocument(document(0), signed.signatures), ValidatedDocument(document(1), unsealed.signatures)]
    evaluation = envelope.evaluate(docs)
    assert [d.document_id for d in evaluation.documents] == ["doc-0", "doc-1"]
    assert [[(c.requirement, c.national_id, c.met) for c in d.checks] for d in evaluation.documents] == [
        [("signatory", ALI, True), ("signatory", SARA, True), ("seal", BIDDER, True)],
        [("signatory", ALI, True), ("signatory", SARA, True), ("seal", BIDDER, False)],
    ]
    assert evaluation.settled and not evaluation.complete
    assert evaluation.heads == heads([document(0), document(1)])
    assert unmet_summary(evaluation) == ["document doc-1: The bidder's company seal is not on this document."]
    assert Evaluation.from_json(evaluation.heads, evaluation.to_json()) == evaluation


def test_a_complete_envelope() -> None:
    evaluation = judge(Signatory(ALI), seal_required=True).evaluate(
        [ValidatedDocument(document(0), [signature(), seal(index=2)])])
    assert evaluation.complete and evaluation.settled and unmet_summary(evaluation) == []


def test_a_busy_document_is_judged_busy_and_unsettled_without_its_signatures() -> None:
    envelope = judge(Signatory(ALI), seal_required=True)
    evaluation = envelope.evaluate([ValidatedDocument(document(0, busy=True), [signature(), seal(index=2)])])
    busy = Text("امضایی روی این سند در حال تکمیل است.", "A signature on it is being completed.")
    assert evaluation.documents[0].checks == (
        RequirementCheck("signatory", ALI, None, False, busy, "busy"),
        RequirementCheck("seal", BIDDER, None, False, busy, "busy"),
    )
    assert not evaluation.settled and not evaluation.complete


def test_an_indeterminate_signature_leaves_the_evaluation_unsettled() -> None:
    pending = signature(SARA, name="Sara Ahmadi", indication=Indication.INDETERMINATE, sub=SubIndication.TRY_LATER)
    evaluation = judge(Signatory(ALI)).evaluate([ValidatedDocument(document(0), [signature(), pending])])
    assert evaluation.complete and not evaluation.settled


def test_no_documents_is_never_complete() -> None:
    evaluation = judge(Signatory(ALI)).evaluate([])
    assert not evaluation.complete and evaluation.settled and evaluation.documents == ()


def test_heads_change_with_any_documents_revision_or_business() -> None:
    first = heads([document(0), document(1)])
    assert first != heads([document(0), document(1, revision=3)])
    assert first != heads([document(0), document(1, busy=True)])
    assert first != heads([document(1), document(0)])
    assert first == heads([document(0), document(1)])


def test_the_stored_json_keeps_every_field() -> None:
    evaluation = judge(Signatory(ALI)).evaluate([ValidatedDocument(document(0), [signature()])])
    stored = json.loads(evaluation.to_json())
    assert stored["documents"][0]["checks"][0] == {
        "requirement": "signatory", "national_id": ALI, "role": None, "met": True,
        "reason": {"fa": f"امضای معتبر Ali Rezaei با مهر زمانی {SIGNED_FA}",
                   "en": f"Valid signature of Ali Rezaei, timestamped {SIGNED_EN}"},
        "problem": None, "signer": "Ali Rezaei", "assurance_level": "silver", "level": "B-LTA",
        "timestamp": "2026-11-22T10:30:05Z",
    }


# -- the catalogue ---------------------------------------------------------------------------------------


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_reason_has_both_languages_with_the_same_values(code: str) -> None:
    fa, en = REASONS[code]
    assert PERSIAN_LETTERS.search(fa) and not PERSIAN_LETTERS.search(en)
    assert _placeholders(fa) == _placeholders(en)
    values = {name: f"<{name}>" for name in _placeholders(fa)}
    text = reason(code, **values)
    assert "{" not in text.fa + text.en and all(v in text.fa and v in text.en for v in values.values())


def test_values_are_written_for_each_language() -> None:
    assert reason("SIGNATURE_MISSING", national_id=Digits("0012345678")) == Text(
        "امضایی با شناسهٔ ۰۰۱۲۳۴۵۶۷۸ بر این سند نیست.", "No signature by national ID 0012345678 on this document.")
    assert reason("SIGNATURE_MET", who="Ali", time=SIGNED) == Text(
        f"امضای معتبر Ali با مهر زمانی {SIGNED_FA}", f"Valid signature of Ali, timestamped {SIGNED_EN}")
    assert reason("SIGNATURE_INVALID", who="Ali", why=CHANGED).fa.endswith(CHANGED.fa)
    assert reason("ROLE_MISMATCH", who="Ali", title=None, role="CEO").en.endswith("role '(none)', not 'CEO'.")


def test_a_value_absent_without_a_text_for_absence_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="who"):
        reason("NO_TIMESTAMP", who=None)


def test_the_judge_imports_no_use_case_database_or_web() -> None:
    """Imports flow one way: the judge and the types never reach the use cases, the store, SQL or Flask."""
    code = ("import sys, envelopes.requirements, envelopes.tender_types, envelopes.requirement_messages; "
            "print(sorted(m for m in ('envelopes.tenders', 'envelopes.blobs', 'envelopes.documents', "
            "'envelopes.database', 'envelopes.bids', 'sqlalchemy', 'validation.engine', 'flask', 'web') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert loaded.stdout.strip() == "[]"
