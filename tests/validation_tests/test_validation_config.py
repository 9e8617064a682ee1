"""Trust configuration: pinned roots, dev mode, policy and certificate classification from the deployment."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from pakat_testkit import pdf_bytes

from devkit.devsetup import DevEnvironment
from envelopes.sealing import SealService
from hsm_config.deployment import (
    NATIONAL_ROOT_SHA256,
    default_validation_config,
    load_certificate,
    load_deployment,
    validation_config,
)
from pakat import errors
from pakat.errors import AccessError
from signer.levels import PadesLevel
from validation.config import RevocationMode, ValidationConfig
from validation.engine import Validator
from validation.identity import signer_identity
from validation.model import Affiliation, Indication, RevocationStatus, SignerKind, SubIndication


@pytest.fixture(scope="module")
def sealed(dev_env: DevEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bytes]]:
    """demo-co (private) and demo-gov (government) seals at B-B and B-LTA."""
    folder = tmp_path_factory.mktemp("sealed")
    source = folder / "in.pdf"
    source.write_bytes(pdf_bytes("classification"))
    service = SealService(load_deployment(dev_env.deployment_path))
    out: dict[str, bytes] = {}
    try:
        for org in ("demo-co", "demo-gov"):
            for level in (PadesLevel.B_B, PadesLevel.B_LTA):
                dest = folder / f"{org}-{level.value}.pdf"
                service.seal(org, source, dest, level)
                out[f"{org}/{level.value}"] = dest.read_bytes()
    finally:
        service.close()
    yield out


def test_dev_mode_trusts_the_national_and_the_dev_root(dev_env: DevEnvironment) -> None:
    config = validation_config(load_deployment(dev_env.deployment_path))
    fingerprints = {c.fingerprint(hashes.SHA256()).hex() for c in config.trust_roots}
    dev_root = load_certificate(dev_env.root_cert_path).fingerprint(hashes.SHA256()).hex()
    assert fingerprints == {NATIONAL_ROOT_SHA256, dev_root}
    assert config.revocation_url_prefixes == (f"{dev_env.base_url}/",)
    assert {r.kind for r in config.classification} == set(SignerKind) - {SignerKind.UNKNOWN}


def test_production_default_trusts_only_the_national_root(sealed: dict[str, bytes]) -> None:
    config = default_validation_config()
    assert [c.fingerprint(hashes.SHA256()).hex() for c in config.trust_roots] == [NATIONAL_ROOT_SHA256]
    assert not config.revocation_url_prefixes and not config.classification
    report = Validator(config).validate(sealed["demo-co/B-LTA"])
    assert report.signatures[0].sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert report.signatures[0].signer is not None
    assert report.signatures[0].signer.kind is SignerKind.UNKNOWN  # no rules: no guessing


def test_seals_are_classified_from_configured_policy_oids(
    dev_env: DevEnvironment, sealed: dict[str, bytes]
) -> None:
    validator = Validator(validation_config(load_deployment(dev_env.deployment_path)))
    for org, affiliation in (("demo-co", Affiliation.PRIVATE), ("demo-gov", Affiliation.GOVERNMENT)):
        report = validator.validate(sealed[f"{org}/B-LTA"])
        assert report.indication is Indication.TOTAL_PASSED, report.reason
        sig = report.signatures[0]
        assert sig.pades_level == "B-LTA"
        assert sig.signer is not None and sig.chain is not None and sig.revocation is not None
        assert sig.signer.kind is SignerKind.ORGANISATION_SEAL
        assert sig.signer.affiliation is affiliation
        assert sig.signer.national_id == dev_env.organisations[org].national_id
        assert sig.revocation.status is RevocationStatus.GOOD and sig.revocation.source == "embedded"
        assert sig.chain.trusted and sig.chain.anchor is not None and "Pakat Dev Root" in sig.chain.anchor
        assert [t.kind for t in sig.timestamps] == ["signature"]
        assert report.document_timestamps and report.document_timestamps[0].covers_entire_file


def test_persons_are_classified_with_title(dev_env: DevEnvironment) -> None:
    config = validation_config(load_deployment(dev_env.deployment_path))
    gov = dev_env.users["user-gov"]

    def asn1(path: Path) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(load_certificate(path).public_bytes(Encoding.DER))

    identity = signer_identity(asn1(gov.certificate_path), asn1(gov.chain[0]), config.classification)
    assert identity.kind is SignerKind.PERSON_AFFILIATED
    assert identity.affiliation is Affiliation.GOVERNMENT
    assert identity.title == gov.title
    assert identity.national_id == gov.national_code
    independent = dev_env.users["user-independent"]
    identity = signer_identity(
        asn1(independent.certificate_path), asn1(independent.chain[0]), config.classification
    )
    assert identity.kind is SignerKind.PERSON_INDEPENDENT and identity.affiliation is None


def test_validation_at_a_past_time_before_the_certificate_existed(
    dev_env: DevEnvironment, sealed: dict[str, bytes]
) -> None:
    validator = Validator(validation_config(load_deployment(dev_env.deployment_path)))
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    report = validator.validate(sealed["demo-co/B-B"], at=long_ago, revocation=RevocationMode.SKIP)
    assert report.validation_time == long_ago
    assert report.signatures[0].indication is Indication.INDETERMINATE
    assert report.signatures[0].sub_indication is SubIndication.NOT_YET_VALID


def test_revocation_modes(dev_env: DevEnvironment, sealed: dict[str, bytes]) -> None:
    deployment = load_deployment(dev_env.deployment_path)
    validator = Validator(validation_config(deployment))
    # B-B carries no revocation data: it is fetched from the allow-listed dev responders.
    fetched = validator.validate(sealed["demo-co/B-B"]).signatures[0]
    assert fetched.indication is Indication.TOTAL_PASSED
    assert fetched.revocation is not None and fetched.revocation.source == "online"
    assert "REVOCATION_FETCHED_ONLINE" in {f.code for f in fetched.findings}
    skipped = validator.validate(sealed["demo-co/B-B"], revocation=RevocationMode.SKIP).signatures[0]
    assert skipped.revocation is not None and skipped.revocation.status is RevocationStatus.NOT_CHECKED
    assert "REVOCATION_NOT_CHECKED" in {f.code for f in skipped.findings}
    offline = Validator(ValidationConfig(trust_roots=validation_config(deployment).trust_roots))  # no allow-list
    unsure = offline.validate(sealed["demo-co/B-B"]).signatures[0]
    assert (unsure.indication, unsure.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)


def _rewrite(deployment_path: Path, name: str, edit: dict[str, object]) -> Path:
    """A copy of the deployment beside it (relative paths still resolve), with ``edit`` applied."""
    raw = yaml.safe_load(deployment_path.read_text(encoding="utf-8"))
    raw.update(edit)
    path = deployment_path.with_name(f"test-{name}.yaml")
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_a_root_whose_file_changed_is_refused(dev_env: DevEnvironment) -> None:
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    trust = raw["trust"]
    trust["roots"][1]["sha256"] = "00" * 32
    path = _rewrite(dev_env.deployment_path, "bad-pin", {"trust": trust})
    with pytest.raises(AccessError) as caught:
        validation_config(load_deployment(path))
    assert caught.value.kind is errors.CONFIG_INVALID


def test_a_bad_validation_section_is_refused(dev_env: DevEnvironment) -> None:
    bad_sections = ({"revocation": "sometimes"}, {"classification": [{"kind": "person_independent"}]})
    for i, section in enumerate(bad_sections):
        path = _rewrite(dev_env.deployment_path, f"bad-validation-{i}", {"validation": section})
        with pytest.raises(AccessError) as caught:
            load_deployment(path)
        assert caught.value.kind is errors.CONFIG_INVALID


def test_intermediates_may_be_a_folder(dev_env: DevEnvironment, tmp_path: Path) -> None:
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    trust = raw["trust"]
    folder = tmp_path / "intermediates"
    folder.mkdir()
    for slug, path in dev_env.ca_cert_paths.items():
        if slug != "root-ca":
            shutil.copy(path, folder / path.name)
    trust["intermediates"] = [str(folder)]
    config = validation_config(load_deployment(_rewrite(dev_env.deployment_path, "folder", {"trust": trust})))
    assert len(config.intermediates) == len(dev_env.ca_cert_paths) - 1


def test_large_streams_are_read_lazily_and_judged_the_same(dev_env: DevEnvironment, tmp_path: Path) -> None:
    """A file validated by path maps its multi-megabyte streams instead of reading them; same verdict."""
    source = tmp_path / "large.pdf"
    source.write_bytes(pdf_bytes("large", pad_to=3 * 1024 * 1024))
    sealed_path = tmp_path / "large-sealed.pdf"
    service = SealService(load_deployment(dev_env.deployment_path))
    try:
        service.seal("demo-co", source, sealed_path, PadesLevel.B_LTA)
    finally:
        service.close()
    validator = Validator(validation_config(load_deployment(dev_env.deployment_path)))
    by_path = validator.validate(sealed_path)
    by_bytes = validator.validate(sealed_path.read_bytes())
    for report in (by_path, by_bytes):
        assert report.indication is Indication.TOTAL_PASSED, report.reason
        assert report.signatures[0].pades_level == "B-LTA"
    assert by_path.file_sha256 == by_bytes.file_sha256
