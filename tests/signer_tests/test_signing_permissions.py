"""What a document's author allowed decides, before any key is asked, whether Pakat signs it.

DocMDP P=1, a FieldMDP lock on every field and owner-password permissions
without "modify" are refused with their own codes before the HSM signs (the
seal) or the user is sent to a token (a signing session); P=2 and P=3 take
further signatures, visible ones too, and the certification stays valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from pakat_testkit import NO_CHANGES_ALLOWED, encrypted_pdf_bytes
from real_documents import SIGNED_FIRST
from validation_samples import samples_for

from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment, validation_config
from pakat import errors
from pakat.errors import InputError
from signer.keys import Pkcs11Key
from signer.levels import PadesLevel
from signer.placement import VisibleSignature
from validation.engine import Validator
from validation.model import Indication


@pytest.fixture(scope="module")
def service(dev_env: Any) -> Iterator[SealService]:
    sealer = SealService(load_deployment(dev_env.deployment_path))
    yield sealer
    sealer.close()  # logged out, so no later test finds the token already logged in


def _document(dev_env: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.pdf"
    factory = samples_for(dev_env)
    try:
        path.write_bytes(SIGNED_FIRST[name][0](factory))
    finally:
        factory.close()
    return path


@pytest.mark.parametrize(("name", "code"), [
    ("certified-p1", errors.DOCUMENT_CERTIFIED_NO_CHANGES),
    ("field-locked", errors.DOCUMENT_FIELDS_LOCKED),
])
def test_refused_before_the_hsm_signs(
    dev_env: Any, service: SealService, tmp_path: Path, name: str, code: errors.ErrorKind
) -> None:
    source = _document(dev_env, tmp_path, name)
    for appearance in (None, VisibleSignature()):
        with mock.patch.object(Pkcs11Key, "sign_digest", side_effect=AssertionError("the HSM was asked")), \
                pytest.raises(InputError) as caught:
            service.seal("demo-co", source, tmp_path / "out.pdf", PadesLevel.B_LTA, appearance=appearance)
        assert caught.value.kind is code
        assert caught.value.kind.fa and caught.value.kind.en and not caught.value.kind.fa.isascii()
        assert not (tmp_path / "out.pdf").exists()


def test_owner_permissions_without_modify_are_refused_before_the_hsm(
    service: SealService, tmp_path: Path
) -> None:
    source = tmp_path / "no-changes.pdf"
    source.write_bytes(encrypted_pdf_bytes("", allow=NO_CHANGES_ALLOWED))
    with mock.patch.object(Pkcs11Key, "sign_digest", side_effect=AssertionError("the HSM was asked")), \
            pytest.raises(InputError) as caught:
        service.seal("demo-co", source, tmp_path / "out.pdf", PadesLevel.B_B)
    assert caught.value.kind is errors.PDF_SIGNING_NOT_PERMITTED


@pytest.mark.parametrize("name", ["certified-p2", "certified-p3"])
def test_a_certification_allowing_signatures_takes_a_visible_seal(
    dev_env: Any, service: SealService, tmp_path: Path, name: str
) -> None:
    source = _document(dev_env, tmp_path, name)
    out = tmp_path / "out.pdf"
    service.seal("demo-co", source, out, PadesLevel.B_LTA, appearance=VisibleSignature())
    report = Validator(validation_config(load_deployment(dev_env.deployment_path))).validate(out)
    assert [(s.field_name, s.indication) for s in report.signatures] == [
        ("Certification", Indication.TOTAL_PASSED), ("Pakat Seal 1", Indication.TOTAL_PASSED)]
    assert report.signatures[0].modifications.docmdp_ok is True
