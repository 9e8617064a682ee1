"""Damaged PDFs are sealed soundly or refused with a code, never a crash or an internal error.

Real producers' files and a signed third-party file are damaged by seeded
mutations (:mod:`pdf_mutations`) and sealed, in process and through
``POST /api/v1/seal``. Every outcome is either a sealed file whose new
signature Pakat's validator passes, or a refusal with an input code of the
catalogue. ``INTERNAL`` (an exception Pakat did not expect) and
``OUTPUT_CHECK_FAILED`` (a writer bug caught at the last moment) both fail the
test. ``bench/fuzz_seal.py`` runs the same with many more seeds; the cases
that once broke are kept below as regressions.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pakat_testkit import api_key
from pdf_mutations import mutate

from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment, validation_config
from pakat import errors
from pakat.errors import PakatError
from signer.levels import PadesLevel
from signer.placement import VisibleSignature
from validation.engine import Validator
from validation.model import Indication

HERE = Path(__file__).resolve().parents[1]  # the tests folder, with its corpora
BASES = [
    "producers/files/libreoffice/lo_form.pdf",
    "producers/files/weasyprint/weasyprint_persian.pdf",
    "producers/files/qpdf/qpdf_object_streams.pdf",
    "producers/files/pypdf/pypdf_incremental_2.pdf",
    "producers/files/qpdf/qpdf_aes256_owner_only.pdf",
    "conformance/files/dss/pades-bes.pdf",
    "producers/files/handmade/hybrid_xref_word_like.pdf",
]
#: Codes that mean Pakat, not the document, failed.
OURS = {errors.INTERNAL.code, errors.OUTPUT_CHECK_FAILED.code}
#: (base, seed) pairs that once crashed or were caught only by the output check (exploratory runs).
REGRESSIONS = [
    ("producers/files/weasyprint/weasyprint_persian.pdf", 233),  # zlib.error reading an object stream
    ("producers/files/qpdf/qpdf_object_streams.pdf", 634),  # the same, in the output check
    ("producers/files/handmade/hybrid_xref_word_like.pdf", 1558),  # pyHanko's AssertionError on an ObjStm
    ("producers/files/handmade/hybrid_xref_word_like.pdf", 2870),  # an integer qpdf cannot hold
    ("producers/files/pypdf/pypdf_incremental_2.pdf", 1755),  # a page without /Type, mended by qpdf
    ("producers/files/libreoffice/lo_form.pdf", 1592),  # a catalog's /Type, mended by qpdf at open
    ("producers/files/libreoffice/lo_form.pdf", 824),  # pyHanko cannot read an object qpdf can
    ("producers/files/qpdf/qpdf_object_streams.pdf", 170),  # two readers see a page differently
]
CASES = 1500


@pytest.fixture(scope="module")
def service(dev_env: Any) -> Iterator[SealService]:
    sealer = SealService(load_deployment(dev_env.deployment_path))
    yield sealer
    sealer.close()  # logged out, so no later test finds the token already logged in


@pytest.fixture(scope="module")
def validator(dev_env: Any) -> Validator:
    return Validator(validation_config(load_deployment(dev_env.deployment_path)))


def seal_damaged(service: SealService, validator: Validator, base: str, seed: int, tmp: Path) -> str:
    """Seal the ``seed`` mutation of ``base``; returns "sealed" or the refusal's code."""
    kind, data = mutate((HERE / base).read_bytes(), seed)
    source, out = tmp / f"in-{seed}.pdf", tmp / f"out-{seed}.pdf"
    source.write_bytes(data)
    appearance = VisibleSignature() if seed % 3 == 0 else None
    try:
        service.seal("demo-co", source, out, PadesLevel.B_B, appearance=appearance)
    except PakatError as exc:
        assert exc.code not in OURS, (base, seed, kind, exc.code, exc.detail)
        assert not out.exists(), "a refusal leaves nothing behind"
        return exc.code
    # Anything else raised here fails the test with its traceback: that is the point.
    report = validator.validate(out)
    mine = report.signatures[-1]
    assert mine.field_name.startswith("Pakat Seal"), (base, seed, kind)
    assert mine.indication is Indication.TOTAL_PASSED, (base, seed, kind, mine.sub_indication)
    return "sealed"


def test_damaged_documents(service: SealService, validator: Validator, tmp_path: Path) -> None:
    outcomes: dict[str, int] = {}
    for seed in range(CASES):
        code = seal_damaged(service, validator, BASES[seed % len(BASES)], seed, tmp_path)
        outcomes[code] = outcomes.get(code, 0) + 1
    assert outcomes.get("sealed", 0) > CASES // 10, outcomes  # the mutations leave many files sound
    assert set(outcomes) <= {"sealed", *(kind.code for kind in errors.KINDS.values())}


@pytest.mark.parametrize(("base", "seed"), REGRESSIONS)
def test_regressions(service: SealService, validator: Validator, tmp_path: Path, base: str, seed: int) -> None:
    seal_damaged(service, validator, base, seed, tmp_path)


def test_damaged_documents_through_the_api(client: FlaskClient, dev_env: Any) -> None:
    """The web answer to a damaged upload is a coded refusal or a sealed PDF, never a 500."""
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    for seed in range(40):
        _, data = mutate((HERE / BASES[seed % len(BASES)]).read_bytes(), 10_000 + seed)
        reply = client.post("/api/v1/seal", headers=headers, data={"pdf": (io.BytesIO(data), "bid.pdf")})
        if reply.status_code == 200:
            assert reply.data.startswith(data[:5]) and reply.headers["X-Pakat-SHA256"]
            continue
        assert reply.status_code in (400, 413, 422), (seed, reply.status_code, reply.data[:300])
        assert reply.json["error"]["code"] not in OURS, (seed, reply.json)
