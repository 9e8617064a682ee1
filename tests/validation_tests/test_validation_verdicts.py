"""Our validator's verdicts on the validation samples: one row per sample, attacks and trust scenarios.

The samples and the proof that each is what it claims live in
``validation_samples.py`` and ``test_validation_samples.py``; here only the
verdict is judged, trusting only the dev root and fetching revocation data only
from the dev responders.

Every attack must leave the document and the attacked signatures short of
TOTAL_PASSED, with at least one error finding naming what happened. Finding
codes are pinned only where the name is part of the contract (structure,
integrity, modifications, DocMDP, overlap).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from validation_samples import CONTROL_LEVELS, SAMPLES, Category, SampleFactory, names, samples_for

from devkit.devsetup import DevEnvironment
from pakat.errors import PakatError
from validation.config import ValidationConfig
from validation.engine import Validator
from validation.model import DocumentReport, Indication, Modification, Severity, SignatureReport, SubIndication

Verdict = tuple[Indication, SubIndication | None]

PASSED: Verdict = (Indication.TOTAL_PASSED, None)
FORMAT: Verdict = (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
HASH: Verdict = (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
SIG_CRYPTO: Verdict = (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)
NO_SIGNER_CERT: Verdict = (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
REVOKED: Verdict = (Indication.TOTAL_FAILED, SubIndication.REVOKED)
REVOKED_NO_POE: Verdict = (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)
OUT_OF_BOUNDS: Verdict = (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NO_POE)
OUT_OF_BOUNDS_NOT_REVOKED: Verdict = (Indication.INDETERMINATE, SubIndication.OUT_OF_BOUNDS_NOT_REVOKED)
NO_CHAIN: Verdict = (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
CRYPTO: Verdict = (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
CRYPTO_NO_POE: Verdict = (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE)

ANY_MODIFICATION = frozenset(Modification)


@dataclass(frozen=True)
class Expect:
    """What the validator must say about a sample.

    ``verdicts``: the acceptable (indication, sub-indication) of each targeted
    signature; ``targets``: 1-based indices of the signatures the row is about
    (None: all); ``codes``: finding codes that must appear on a targeted
    signature; ``modifications``: acceptable ``modifications.level`` of the
    targeted signatures; ``docmdp``: the certification is reported broken
    (``docmdp_ok`` False), and DOCMDP_VIOLATION is named unless the change was
    classed OTHER; ``input_errors``: error codes acceptable instead of a report.
    """

    verdicts: frozenset[Verdict]
    codes: tuple[str, ...] = ()
    modifications: frozenset[Modification] = ANY_MODIFICATION
    targets: tuple[int, ...] | None = None
    docmdp: bool = False
    input_errors: frozenset[str] = frozenset()


def expect(*verdicts: Verdict, **options: object) -> Expect:
    return Expect(frozenset(verdicts), **options)  # type: ignore[arg-type]


MODIFIED = {"codes": ("MODIFIED_AFTER_SIGNING",), "modifications": frozenset({Modification.OTHER})}
CERTIFICATION = {
    "docmdp": True,
    "modifications": frozenset(
        {Modification.OTHER, Modification.ANNOTATIONS, Modification.FORM_FILLING, Modification.SIGNATURES}
    ),
}

EXPECTED: dict[str, Expect] = {
    # 1. universal signature forgery, and tampering in place
    "usf_contents_empty": expect(FORMAT, codes=("CONTENTS_INVALID",)),
    "usf_contents_zeroed": expect(FORMAT, codes=("CONTENTS_INVALID",)),
    "usf_contents_missing": expect(FORMAT, codes=("CONTENTS_INVALID",)),
    "usf_contents_not_cms": expect(FORMAT),
    "usf_byte_range_missing": expect(FORMAT, codes=("BYTE_RANGE_INVALID",)),
    "usf_byte_range_three_numbers": expect(FORMAT, codes=("BYTE_RANGE_INVALID",)),
    "usf_byte_range_negative": expect(FORMAT, codes=("BYTE_RANGE_INVALID",)),
    "usf_byte_range_not_from_start": expect(FORMAT, codes=("BYTE_RANGE_INVALID",)),
    "usf_cms_without_certificates": expect(FORMAT, NO_SIGNER_CERT),
    "integrity_digest_mismatch": expect(HASH, codes=("DIGEST_MISMATCH",)),
    "integrity_signature_value_corrupted": expect(SIG_CRYPTO, codes=("SIGNATURE_INVALID",)),
    # 2. incremental saving
    "isa_page_added": expect(FORMAT, **MODIFIED),
    "isa_content_replaced": expect(FORMAT, **MODIFIED),
    "isa_catalog_changed": expect(FORMAT, **MODIFIED),
    "isa_empty_xref_no_prev": expect(FORMAT, **MODIFIED),
    # 3. signature wrapping
    "wrapping_moved_second_range": expect(FORMAT),
    "wrapping_moved_second_range_pakat": expect(FORMAT, HASH),
    "wrapping_hole_attacker_content": expect(FORMAT),
    # 4. shadow attacks
    "shadow_hide": expect(FORMAT, **MODIFIED),
    "shadow_replace": expect(FORMAT, **MODIFIED),
    "shadow_hide_and_replace": expect(FORMAT, **MODIFIED),
    # Form filling by kind, but the filled field paints over the page's own text.
    "shadow_replace_field_overlay": expect(
        FORMAT, codes=("MODIFIED_AFTER_SIGNING",), modifications=frozenset({Modification.FORM_FILLING})
    ),
    # 5. certification attacks
    "certification_p1_annotation": expect(FORMAT, **CERTIFICATION),
    "certification_p2_annotation": expect(FORMAT, **CERTIFICATION),
    "certification_p2_link": expect(FORMAT, **CERTIFICATION),
    # Form filling is allowed after an approval, but this field was locked by the signer.
    "field_lock_filled": expect(FORMAT, codes=("FIELD_LOCK_VIOLATION",)),
    # The approval signature itself is sound; the certification it breaks must fail.
    "certification_p1_approval_signature": expect(FORMAT, targets=(1,), **CERTIFICATION),
    # 6. structure
    "truncated": expect(
        *(
            (indication, sub)
            for indication in (Indication.TOTAL_FAILED, Indication.INDETERMINATE)
            for sub in SubIndication
        ),
        input_errors=frozenset({"PDF_TRUNCATED", "PDF_UNPARSEABLE"}),
    ),
    "byte_range_past_eof": expect(FORMAT, codes=("BYTE_RANGE_PAST_EOF",)),
    "overlapping_signatures": expect(FORMAT, codes=("SIGNATURES_OVERLAP",)),
    # 7. revocation: only a proof of existence before the revocation saves a signature
    "revoked_before_signing": expect(REVOKED, REVOKED_NO_POE),
    "revoked_after_signing_b_t": expect(PASSED),
    "revoked_after_signing_b_lt": expect(PASSED),
    "revoked_after_signing_b_b": expect(REVOKED_NO_POE),
    # 8. expiry: signed 5 days ago, expired 2 days ago, validated now ...
    "expired_with_lta": expect(PASSED),
    "expired_with_lt": expect(PASSED),
    "expired_without_ltv": expect(OUT_OF_BOUNDS, OUT_OF_BOUNDS_NOT_REVOKED),
    # ... and signed now by a 2-day certificate, validated (at=) a day after it expires
    "expires_later_with_lta": expect(PASSED),
    "expires_later_with_lt": expect(PASSED),
    "expires_later_without_ltv": expect(OUT_OF_BOUNDS, OUT_OF_BOUNDS_NOT_REVOKED),
    # 9, 10
    "untrusted_root": expect(NO_CHAIN),
    "sha1_signature": expect(CRYPTO, CRYPTO_NO_POE),
    # 11. valid signatures, ours and other software's
    **{name: expect(PASSED) for name in names(Category.CONTROL)},
}


@pytest.fixture(scope="session")
def samples(dev_env: DevEnvironment) -> Iterator[SampleFactory]:
    factory = samples_for(dev_env)
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def validator(dev_env: DevEnvironment) -> Validator:
    root = x509.load_pem_x509_certificate(dev_env.root_cert_path.read_bytes())
    return Validator(ValidationConfig(trust_roots=[root], revocation_url_prefixes=[f"{dev_env.base_url}/"]))


@dataclass
class Outcome:
    report: DocumentReport | None = None
    error: str | None = None
    targets: list[SignatureReport] = field(default_factory=list)


def judge(name: str, samples: SampleFactory, validator: Validator) -> Outcome:
    sample = samples.get(name)
    row = EXPECTED[name]
    try:
        report = validator.validate(sample.data, at=sample.at)
    except PakatError as exc:
        assert exc.kind.code in row.input_errors, f"{name}: refused as {exc.kind.code}: {exc}"
        return Outcome(error=exc.kind.code)
    assert report.signatures, f"{name}: no signature reported"
    if row.targets is None:
        targets = report.signatures
    else:
        targets = [s for s in report.signatures if s.index in row.targets]
        assert len(targets) == len(row.targets), [s.index for s in report.signatures]
    return Outcome(report, targets=targets)


def describe(report: SignatureReport) -> str:
    codes = ", ".join(f"{f.code}/{f.severity.value}" for f in report.findings)
    return (
        f"#{report.index} {report.field_name}: {report.indication.value} "
        f"{report.sub_indication.value if report.sub_indication else '-'} "
        f"mod={report.modifications.level} [{codes}] — {report.reason.en}"
    )


def test_the_table_covers_every_sample() -> None:
    assert set(EXPECTED) == set(SAMPLES)


@pytest.mark.parametrize("name", names(*(c for c in Category if c.is_attack)))
def test_no_attack_passes(name: str, samples: SampleFactory, validator: Validator) -> None:
    outcome = judge(name, samples, validator)
    if outcome.report is None:
        return  # refused as unusable input, which EXPECTED allows for this sample
    assert outcome.report.indication is not Indication.TOTAL_PASSED
    for sig in outcome.targets:
        assert sig.indication is not Indication.TOTAL_PASSED, describe(sig)
        assert any(f.severity is Severity.ERROR for f in sig.findings), f"no error finding: {describe(sig)}"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_verdict(name: str, samples: SampleFactory, validator: Validator) -> None:
    row = EXPECTED[name]
    outcome = judge(name, samples, validator)
    if outcome.report is None:
        return
    for sig in outcome.targets:
        assert (sig.indication, sig.sub_indication) in row.verdicts, describe(sig)
        codes = {f.code for f in sig.findings}
        assert set(row.codes) <= codes, describe(sig)
        if sig.modifications.level is not None:
            assert sig.modifications.level in row.modifications, describe(sig)
        else:
            assert row.modifications == ANY_MODIFICATION, describe(sig)
    if row.docmdp:
        certification = outcome.targets[0]
        assert certification.modifications.docmdp_permission in (1, 2), describe(certification)
        assert certification.modifications.docmdp_ok is False, describe(certification)
        if certification.modifications.level is not Modification.OTHER:
            assert "DOCMDP_VIOLATION" in {f.code for f in certification.findings}, describe(certification)
    passed = all(v == PASSED for v in row.verdicts)
    assert (outcome.report.indication is Indication.TOTAL_PASSED) == passed, outcome.report.reason.en


@pytest.mark.parametrize("name", names(Category.CONTROL))
def test_controls_pass_at_their_level(name: str, samples: SampleFactory, validator: Validator) -> None:
    report = validator.validate(samples.get(name).data)
    assert report.indication is Indication.TOTAL_PASSED, [describe(s) for s in report.signatures]
    for sig in report.signatures:
        assert sig.indication is Indication.TOTAL_PASSED, describe(sig)
        assert not [f for f in sig.findings if f.severity is Severity.ERROR], describe(sig)
    assert report.signatures[-1].pades_level == CONTROL_LEVELS[name], describe(report.signatures[-1])


# Long-term scenarios keep their level when validated after expiry or revocation: the level is what the
# document's data proves, and past signature validation uses exactly that data.
LONG_TERM_LEVELS = {
    "expired_with_lta": "B-LTA",
    "expired_with_lt": "B-LT",
    "expires_later_with_lta": "B-LTA",
    "expires_later_with_lt": "B-LT",
    "revoked_after_signing_b_lt": "B-LT",
}


@pytest.mark.parametrize("name", list(LONG_TERM_LEVELS))
def test_long_term_scenarios_reach_their_level(name: str, samples: SampleFactory, validator: Validator) -> None:
    sample = samples.get(name)
    report = validator.validate(sample.data, at=sample.at)
    assert report.signatures[-1].pades_level == LONG_TERM_LEVELS[name], describe(report.signatures[-1])


# What the report names as the change that failed each modification attack: the clerk (and a platform)
# must learn what was changed, not only that something was.
NAMED_CHANGES = {
    "isa_page_added": "pages: 1 then 2",
    "isa_content_replaced": "page 1 /Contents",
    "isa_catalog_changed": "catalog /OpenAction",
    "isa_empty_xref_no_prev": "redefines an object in use",
    "shadow_hide": "page 1 /Resources",
    "shadow_replace": "page 1 /Resources",
    "shadow_hide_and_replace": "page 1 /Contents",
    "shadow_replace_field_overlay": "page 1 widget of field 'note' changed",
    "certification_p1_annotation": "annotation /FreeText added",
    "certification_p2_annotation": "annotation /FreeText added",
    "certification_p2_link": "annotation /Link added",
    "certification_p1_approval_signature": "field 'Pakat Seal 1' added",
    "field_lock_filled": "field 'delivery' /V",
}


@pytest.mark.parametrize("name", list(NAMED_CHANGES))
def test_modification_attacks_name_the_change(name: str, samples: SampleFactory, validator: Validator) -> None:
    report = validator.validate(samples.get(name).data)
    first = report.signatures[0]
    refused = [c.where for c in first.modifications.changes if c.verdict == "not_allowed"]
    assert any(NAMED_CHANGES[name] in where for where in refused), (refused, describe(first))
    assert not [c for c in first.modifications.changes if c.page is not None and c.page < 1]


def test_field_overlay_is_found_by_drawing_the_pages(samples: SampleFactory, validator: Validator) -> None:
    first = validator.validate(samples.get("shadow_replace_field_overlay").data).signatures[0]
    assert first.modifications.compared_visually
    kinds = {c.kind for c in first.modifications.changes if c.verdict == "not_allowed"}
    assert kinds == {"form_filling"}, first.modifications.changes


def test_form_filling_passes_the_general_policy_but_not_the_envelope_policy(
    samples: SampleFactory, validator: Validator
) -> None:
    data = samples.get("control_form_filled").data
    general = validator.validate(data)
    assert general.indication is Indication.TOTAL_PASSED, [describe(s) for s in general.signatures]
    assert general.policy["id"] == "pakat-general"
    assert "FORM_FILLED_AFTER_SIGNING" in {f.code for f in general.signatures[0].findings}

    envelope = validator.validate(data, policy=validator.policy_named("bid-envelope"))
    assert envelope.policy["id"] == "pakat-bid-envelope" and len(envelope.policy["sha256"]) == 64
    first = envelope.signatures[0]
    assert (first.indication, first.sub_indication) == FORMAT, describe(first)
    assert "MODIFIED_AFTER_SIGNING" in {f.code for f in first.findings}
    refused = {c.where for c in first.modifications.changes if c.verdict == "not_allowed"}
    assert "field 'delivery' /V" in refused, refused
    assert first.modifications.changed_pages == [1]


def test_ltv_rewrite_with_freed_objects_is_an_extension(samples: SampleFactory, validator: Validator) -> None:
    report = validator.validate(samples.get("control_ltv_rewritten").data)
    first = report.signatures[0]
    assert first.indication is Indication.TOTAL_PASSED, describe(first)
    assert first.modifications.level is Modification.LTA_UPDATES
    assert {c.kind for c in first.modifications.changes} <= {"extension", "metadata"}
    assert not first.modifications.compared_visually, "nothing needed drawing"


@pytest.mark.parametrize("name", ["control_b_lt", "control_b_lta", "control_ltv_rewritten"])
def test_pades_level_comes_from_the_file_whatever_the_revocation_mode(
    name: str, samples: SampleFactory, validator: Validator
) -> None:
    from validation.config import RevocationMode

    report = validator.validate(samples.get(name).data, revocation=RevocationMode.SKIP)
    assert report.signatures[-1].pades_level == CONTROL_LEVELS[name], describe(report.signatures[-1])
