"""Validation at a chosen past time: what did not yet exist then is never reported valid then.

EN 319 102-1 validates at a validation time (clause 5.2.6: "current time" when
none is given) and starts best-signature-time there (5.5.4 step 1); a time-stamp
lowers it only when generated before it (step 3b). A signature sealed today and
validated ten months ago was reported TOTAL_PASSED: its timestamp of today was
taken as a proof of existence and its claimed signing time of today was not
compared with the validation time. Here, with the dev PKI:

- a signer whose certificate was valid long before and after now (so the chain
  holds at every moment used here), signing now, and signing in the past;
- the dev organisation seal (its certificate issued yesterday), at B-LTA;
- a file holding only a document timestamp.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import jsonschema
import pytest
from cryptography import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from validation_samples import PdfSignerAt, SampleFactory, document, samples_for

from devkit.devsetup import DevEnvironment
from signer.levels import PadesLevel
from validation.config import RevocationMode, ValidationConfig
from validation.engine import Validator
from validation.model import DocumentReport, Indication, Severity, SignatureReport, SubIndication
from validation.reports.html import render_html
from validation.reports.json_report import report_schema, report_to_dict

TEN_MONTHS = dt.timedelta(days=300)


@pytest.fixture(scope="module")
def samples(dev_env: DevEnvironment) -> Iterator[SampleFactory]:
    factory = samples_for(dev_env)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def validator(dev_env: DevEnvironment) -> Validator:
    root = x509.load_pem_x509_certificate(dev_env.root_cert_path.read_bytes())
    return Validator(ValidationConfig(trust_roots=[root], revocation_url_prefixes=[f"{dev_env.base_url}/"]))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def describe(sig: SignatureReport) -> str:
    codes = ", ".join(f"{f.code}/{f.severity.value}" for f in sig.findings)
    return f"{sig.indication.value} {sig.sub_indication} [{codes}] {sig.reason.en}"


def codes(sig: SignatureReport) -> set[str]:
    return {f.code for f in sig.findings}


def assert_schema_valid(report: DocumentReport) -> None:
    jsonschema.validate(report_to_dict(report), report_schema())


def test_signed_today_validated_ten_months_ago_is_not_passed(samples: SampleFactory, validator: Validator) -> None:
    """The report: a B-T sealed today, validated at a time ten months ago."""
    signer = samples.soft_signer("long-standing")
    data = samples.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_T)
    today = validator.validate(data)
    assert today.indication is Indication.TOTAL_PASSED, describe(today.signatures[0])

    then = now() - TEN_MONTHS
    report = validator.validate(data, at=then)
    sig = report.signatures[0]
    assert report.indication is not Indication.TOTAL_PASSED
    assert (sig.indication, sig.sub_indication) == (Indication.INDETERMINATE, SubIndication.NO_POE), describe(sig)
    assert "SIGNED_AFTER_VALIDATION_TIME" in codes(sig), describe(sig)
    assert any(f.severity is Severity.ERROR for f in sig.findings)
    assert "اعتبارسنجی" in sig.reason.fa and "validation time" in sig.reason.en
    # The timestamp of today proves nothing at a time before it: no proof of existence, no B-T.
    [stamp] = sig.timestamps
    assert stamp.after_validation_time and stamp.problem is not None
    assert "TIMESTAMP_AFTER_VALIDATION_TIME" in codes(sig)
    assert sig.best_signature_time == then
    assert sig.pades_level is None
    assert_schema_valid(report)
    # The person reading the report is told, in both languages, why the timestamp does not count.
    assert "پس از زمان اعتبارسنجی صادر شده است" in render_html(report, "fa")
    assert "issued after the validation time" in render_html(report, "en")


def test_backdated_signature_is_judged_on_either_side_of_its_time(
    samples: SampleFactory, validator: Validator
) -> None:
    """Signed (claimed time and timestamp) 200 days ago: not valid 300 days ago, valid 100 days ago."""
    signer = samples.soft_signer("long-standing")
    signed_at = now() - dt.timedelta(days=200)
    data = samples.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_T, signed_at=signed_at)

    before = validator.validate(data, at=signed_at - dt.timedelta(days=100)).signatures[0]
    assert (before.indication, before.sub_indication) == (Indication.INDETERMINATE, SubIndication.NO_POE), \
        describe(before)
    assert "SIGNED_AFTER_VALIDATION_TIME" in codes(before)

    after = validator.validate(data, at=signed_at + dt.timedelta(days=100)).signatures[0]
    assert after.indication is Indication.TOTAL_PASSED, describe(after)
    assert after.best_signature_time == signed_at + dt.timedelta(minutes=1)  # the timestamp's time
    assert not after.timestamps[0].after_validation_time
    assert "TIMESTAMP_AFTER_VALIDATION_TIME" not in codes(after)


def test_claimed_before_the_validation_time_but_stamped_after_it(
    samples: SampleFactory, validator: Validator, dev_env: DevEnvironment
) -> None:
    """The signer's word puts it before the validation time; its only timestamp comes after.

    As EN 319 102-1 5.5.4 does, the late timestamp is no proof of existence:
    best-signature-time stays the validation time, and the signature is judged
    as a B-B there. The timestamp is not reported valid at that time. (Before the
    fix the chain was judged again at the late timestamp's time, which is how the
    reported TOTAL_PASSED came about: no revocation data of before the validation
    time exists, so the honest answer there is TRY_LATER; with revocation not
    required it passes as a B-B.)
    """
    signer = samples.soft_signer("long-standing")
    claimed = now() - dt.timedelta(days=250)
    meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES)
    out = io.BytesIO()
    PdfSignerAt(meta, signer.pyhanko(), timestamper=timestamps.HTTPTimeStamper(dev_env.tsa_url),
                system_time=claimed).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(document())), output=out)
    then = now() - dt.timedelta(days=200)
    checked = validator.validate(out.getvalue(), at=then).signatures[0]
    assert (checked.indication, checked.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER), \
        describe(checked)
    assert checked.best_signature_time == then and checked.timestamps[0].after_validation_time
    report = validator.validate(out.getvalue(), at=then, revocation=RevocationMode.SKIP)
    sig = report.signatures[0]
    assert sig.claimed_signing_time == claimed
    assert sig.indication is Indication.TOTAL_PASSED, describe(sig)
    assert sig.best_signature_time == then
    assert sig.timestamps[0].after_validation_time
    assert "TIMESTAMP_AFTER_VALIDATION_TIME" in codes(sig)
    assert sig.pades_level == "B-B"


def test_seal_and_document_timestamp_of_today_validated_ten_months_ago(
    samples: SampleFactory, validator: Validator
) -> None:
    """The dev seal (certificate issued yesterday) at B-LTA: not yet valid then, and nothing vouches for it."""
    data = samples.seal(document(), PadesLevel.B_LTA, "pasttime-lta")
    report = validator.validate(data, at=now() - TEN_MONTHS)
    sig = report.signatures[0]
    assert report.indication is not Indication.TOTAL_PASSED
    # The certificate did not exist at the validation time: the chain check says so first.
    assert (sig.indication, sig.sub_indication) == (Indication.INDETERMINATE, SubIndication.NOT_YET_VALID), \
        describe(sig)
    assert report.document_timestamps and all(t.after_validation_time for t in report.document_timestamps)
    assert "TIMESTAMP_AFTER_VALIDATION_TIME" in {f.code for f in report.findings}
    assert all(t.after_validation_time for t in sig.timestamps)
    assert_schema_valid(report)


def test_a_document_timestamp_alone_proves_nothing_before_its_time(
    samples: SampleFactory, validator: Validator
) -> None:
    stamped = samples.document_timestamp(document())
    assert validator.validate(stamped).indication is Indication.TOTAL_PASSED
    report = validator.validate(stamped, at=now() - TEN_MONTHS, revocation=RevocationMode.SKIP)
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE, SubIndication.NO_POE), \
        report.reason.en
    assert report.document_timestamps[0].after_validation_time
    assert "TIMESTAMP_AFTER_VALIDATION_TIME" in {f.code for f in report.findings}


def test_a_timestamp_within_the_clock_skew_still_counts(samples: SampleFactory, validator: Validator) -> None:
    """A TSA clock a little ahead of the validation time (within the policy's clock skew) is not 'later'."""
    signer = samples.soft_signer("long-standing")
    data = samples.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_T)
    stamp_time = validator.validate(data).signatures[0].timestamps[0].time
    report = validator.validate(data, at=stamp_time - dt.timedelta(minutes=1))
    sig = report.signatures[0]
    assert sig.indication is Indication.TOTAL_PASSED, describe(sig)
    assert not sig.timestamps[0].after_validation_time
