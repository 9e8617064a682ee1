"""The shared conformance corpus: signed and broken PDFs from DSS, pyHanko and qpdf.

Every entry of ``tests/conformance/manifest.json`` (a copy of ``shared/corpora``) is validated and its outcome
checked against what the source project asserts (see the corpus README). The
files carry foreign trust anchors, so "intact" means no integrity, structure or
modification verdict, not TOTAL_PASSED.
"""

from __future__ import annotations

import json
import resource
import time
from typing import Any

import pytest
from pakat_testkit import CONFORMANCE_CORPUS

from hsm_config.deployment import default_validation_config
from pakat import errors
from pakat.errors import InputError
from validation.engine import Validator
from validation.model import DocumentReport, Indication, Severity, SubIndication

CORPUS = CONFORMANCE_CORPUS
MANIFEST = CORPUS / "manifest.json"

# What an "intact" file must never show.
INTEGRITY_CODES = frozenset(
    {
        "CONTENTS_INVALID",
        "BYTE_RANGE_INVALID",
        "BYTE_RANGE_PAST_EOF",
        "BYTE_RANGE_GAP_MISMATCH",
        "SIGNATURES_OVERLAP",
        "CMS_UNREADABLE",
        "DIGEST_MISMATCH",
        "SIGNATURE_INVALID",
        "MODIFIED_AFTER_SIGNING",
        "COVERAGE_INCOMPLETE",
        "DOCMDP_VIOLATION",
    }
)
INTEGRITY_SUBS = frozenset(
    {SubIndication.HASH_FAILURE, SubIndication.SIG_CRYPTO_FAILURE, SubIndication.FORMAT_FAILURE}
)
# not_passed files whose source project's verdict rests on object references, not on any change a reader
# can see or act on: pyHanko refuses an empty signature field's appearance being replaced when the old
# appearance dictionary is also referenced from an unknown catalog or trailer entry, although that
# dictionary and its stream are left exactly as they were. Pakat reports the change as the signing it is;
# the files still never pass (their roots are foreign), and the test pins what the report says.
REFERENCE_ONLY_VERDICTS = frozenset(
    {
        "files/pyhanko/form-update-no-override-appearance-stream-ap-indirect-sneaky.pdf",
        "files/pyhanko/form-update-ap-indirect-sneaky-trailer.pdf",
    }
)
MALFORMED_SECONDS = 10.0
MALFORMED_EXTRA_MEMORY = 256 * 1024 * 1024


def _entries() -> list[dict[str, Any]]:
    if not MANIFEST.is_file():
        # Fail loudly: the corpus is part of the conformance bar, never silently absent.
        raise FileNotFoundError(f"conformance corpus missing: {MANIFEST}")
    return list(json.loads(MANIFEST.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(default_validation_config())


def _run(validator: Validator, entry: dict[str, Any]) -> tuple[DocumentReport | InputError, float]:
    start = time.perf_counter()
    try:
        outcome: DocumentReport | InputError = validator.validate(CORPUS / entry["file"])
    except InputError as exc:
        outcome = exc
    return outcome, time.perf_counter() - start


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e["file"])
def test_corpus_entry(validator: Validator, entry: dict[str, Any]) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    outcome, seconds = _run(validator, entry)
    expect = entry["expect"]

    if expect == "malformed":
        assert seconds < MALFORMED_SECONDS, f"took {seconds:.1f} s"
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
        assert grown < MALFORMED_EXTRA_MEMORY, f"peak memory grew by {grown} bytes"
        if isinstance(outcome, DocumentReport):
            assert all(s.indication is not Indication.TOTAL_PASSED for s in outcome.signatures)
            assert outcome.indication is not Indication.TOTAL_PASSED
        return

    if expect == "no_signature":
        # Either nothing signature-like at all, or document timestamps only: validated as such, never
        # counted as signatures, and the report says there is no signature.
        if isinstance(outcome, InputError):
            assert outcome.kind is errors.NO_SIGNATURES
            return
        assert outcome.signatures == []
        assert len(outcome.document_timestamps) == entry.get("doc_timestamps", 0) > 0
        assert "TIMESTAMPS_ONLY" in {f.code for f in outcome.findings}
        return

    assert isinstance(outcome, DocumentReport), f"{outcome.kind.code}: {outcome.detail}"
    assert len(outcome.signatures) == entry["signatures"]
    assert len(outcome.document_timestamps) == entry.get("doc_timestamps", 0)

    if expect == "intact":
        for sig in outcome.signatures:
            codes = {f.code for f in sig.findings if f.severity is Severity.ERROR}
            assert not codes & INTEGRITY_CODES, (sig.field_name, codes)
            assert sig.sub_indication not in INTEGRITY_SUBS, (sig.field_name, sig.sub_indication)
            assert sig.integrity.byte_range_ok
            assert sig.integrity.digest_ok is True and sig.integrity.signature_ok is True
    elif entry["file"] in REFERENCE_ONLY_VERDICTS:
        first = outcome.signatures[0]
        assert first.indication is not Indication.TOTAL_PASSED
        assert {c.kind for c in first.modifications.changes} == {"signature"}, first.modifications.changes
    elif expect == "not_passed":
        failing = [s for s in outcome.signatures if s.indication is not Indication.TOTAL_PASSED]
        assert failing, "an attacked or broken file passed"
        assert outcome.indication is not Indication.TOTAL_PASSED
        # The report names the problem: an error finding on a signature that did not pass.
        assert any(f.severity is Severity.ERROR for s in failing for f in s.findings), [
            (s.field_name, s.sub_indication) for s in failing
        ]
    else:
        pytest.fail(f"unknown expectation {expect!r}")
