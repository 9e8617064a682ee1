"""The validation policy file: the built-ins, their checks, what each level does, and every way to choose one.

A policy decides per signature type which kinds of change are allowed, how loud
each constraint is (FAIL / WARN / INFORM / IGNORE) and until when each
algorithm and key size is acceptable. Here the built-ins are read and pinned, a
broken file is refused with the line that is wrong, the levels change real
verdicts on real seals from the dev PKI, and the CLI, the API and the page each
take a policy by name (the CLI also by file).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from flask.testing import FlaskClient
from validation_samples import SampleFactory, Update, samples_for
from validation_samples import _dict_text as dict_text

from commands import main
from devkit.devsetup import DevEnvironment
from hsm_config.deployment import load_deployment, validation_config
from pakat import errors
from pakat.errors import AccessError, InputError
from validation.config import RevocationMode, ValidationConfig, ValidationPolicy
from validation.engine import Validator
from validation.model import Indication, Severity, SubIndication
from validation.modifications import ChangeKind
from validation.policy import (
    BUILT_IN,
    CONSTRAINTS,
    ENVELOPE_POLICY,
    PolicyError,
    SignatureType,
    load_policy,
    parse_policy,
    policy_named,
)

UPLOAD_LIMIT = 400_000  # the web app's PDF limit in this module
POLICY_DIR = Path(__file__).resolve().parents[2] / "validation" / "policies"


@pytest.fixture(scope="module")
def samples(dev_env: DevEnvironment) -> Iterator[SampleFactory]:
    factory = samples_for(dev_env)
    yield factory
    factory.close()


def _validator(dev_env: DevEnvironment, text: bytes | None = None) -> Validator:
    root = x509.load_pem_x509_certificate(dev_env.root_cert_path.read_bytes())
    policy = ValidationPolicy() if text is None else ValidationPolicy(rules=parse_policy(text, "test"))
    return Validator(ValidationConfig(trust_roots=[root], revocation_url_prefixes=[f"{dev_env.base_url}/"],
                                      policy=policy))


def _general_with(**changes: Any) -> bytes:
    """The general policy's YAML with top-level sections replaced or merged."""
    raw = yaml.safe_load((POLICY_DIR / "general.yaml").read_bytes())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return yaml.safe_dump(raw, allow_unicode=True).encode("utf-8")


# -- the built-ins ------------------------------------------------------------------------------


def test_built_in_policies_are_complete_and_versioned() -> None:
    for name in BUILT_IN:
        rules = load_policy(name)
        assert rules.version >= 1 and rules.title_fa and rules.title_en
        assert set(rules.allowed_changes) == set(SignatureType)
        assert len(rules.sha256) == 64
        assert set(rules.constraints) == set(CONSTRAINTS), f"{name} sets every constraint explicitly"
        assert rules.crypto.digest_until("sha256") == (True, None)
        assert rules.crypto.digest_until("sha1")[1] == datetime(2017, 1, 1, tzinfo=UTC)
        assert rules.crypto.min_bits("rsa", datetime(2026, 1, 1, tzinfo=UTC)) == 2048
        assert rules.crypto.min_bits("rsa", datetime(2031, 1, 2, tzinfo=UTC)) == 3072


def test_the_envelope_policy_allows_nothing_a_page_shows_but_signatures() -> None:
    envelope = load_policy(ENVELOPE_POLICY)
    general = load_policy("general")
    for kind in SignatureType:
        assert ChangeKind.FORM_FILLING not in envelope.allowed(kind)
        assert ChangeKind.ANNOTATION not in envelope.allowed(kind)
        assert ChangeKind.OTHER not in envelope.allowed(kind)
    assert ChangeKind.SIGNATURE in envelope.allowed(SignatureType.APPROVAL)
    # The general policy is Acrobat's reading of DocMDP.
    assert ChangeKind.FORM_FILLING in general.allowed(SignatureType.APPROVAL)
    assert ChangeKind.ANNOTATION in general.allowed(SignatureType.CERTIFIED_P3)
    assert ChangeKind.ANNOTATION not in general.allowed(SignatureType.CERTIFIED_P2)
    assert general.allowed(SignatureType.CERTIFIED_P1) == {ChangeKind.EXTENSION, ChangeKind.METADATA}


def test_a_report_names_its_policy_exactly() -> None:
    rules = load_policy("general")
    printed = ValidationPolicy(rules=rules).as_dict()
    assert (printed["id"], printed["version"], printed["sha256"]) == (rules.id, rules.version, rules.sha256)
    assert printed["revocation"] == "require"
    assert printed["modifications"]["approval"] == sorted(k.value for k in rules.allowed(SignatureType.APPROVAL))
    json.dumps(printed)  # plain data for every report format


# -- broken policy files are refused, saying where -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (b"- just a list", "a policy is a mapping"),
        (b"id: x\nversion: 1\n: :", "not YAML"),
        (_general_with(version=0), "version"),
        (_general_with(id=""), "id"),
        (_general_with(modifications={"approval": ["painting"]}), "modifications.approval"),
        (_general_with(modifications={"approval": "extension"}), "modifications.approval"),
        (_general_with(constraints={"signer_mood": "FAIL"}), "unknown constraints"),
        (_general_with(constraints={"signer_purpose": "SOMETIMES"}), "SOMETIMES"),
        (_general_with(crypto={"digests": {"sha256": "soon"}}), "crypto.digests.sha256"),
        (_general_with(crypto="strong"), "crypto must be a mapping"),
    ],
)
def test_a_broken_policy_is_refused_with_where(text: bytes, where: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "mine.yaml")
    assert where in str(caught.value) and "mine.yaml" in str(caught.value)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(PolicyError) as caught:
        policy_named("strictest")
    assert "bid-envelope" in str(caught.value) and "general" in str(caught.value)
    with pytest.raises(PolicyError):
        load_policy("/nonexistent/policy.yaml")


# -- levels and the crypto suite change real verdicts ---------------------------------------------


def test_ignore_warn_and_fail_levels(dev_env: DevEnvironment, samples: SampleFactory) -> None:
    data = samples.get("other_software_endesive").data  # adbe.pkcs7.detached: not the PAdES format
    for level, severity in (("INFORM", Severity.INFO), ("WARN", Severity.WARNING)):
        report = _validator(dev_env, _general_with(constraints={"pades_format": level})).validate(data)
        assert report.indication is Indication.TOTAL_PASSED
        assert [f.severity for f in report.signatures[0].findings if f.code == "NOT_PADES"] == [severity]
    ignored = _validator(dev_env, _general_with(constraints={"pades_format": "IGNORE"})).validate(data)
    assert "NOT_PADES" not in {f.code for f in ignored.signatures[0].findings}
    failed = _validator(dev_env, _general_with(constraints={"pades_format": "FAIL"})).validate(data)
    first = failed.signatures[0]
    assert (first.indication, first.sub_indication) == (Indication.INDETERMINATE,
                                                        SubIndication.SIG_CONSTRAINTS_FAILURE)


def _unused_font_added(base: bytes) -> bytes:
    """``base`` with a font no content uses added to page 1's resources: a change no page shows."""
    u = Update(base)
    page = u.page()
    font = u.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")
    fonts = page.Resources.Font
    extra = b"<< " + b" ".join(pikepdf.Name(k).unparse() + b" " + fonts[k].unparse() for k in fonts.keys())  # noqa: SIM118 - a pikepdf object
    resources = {"/Font": extra + b" /F9 %d 0 R >>" % font}
    u.put(page, dict_text(page, {"/Resources": dict_text(page.Resources, resources)}))
    return u.write()


def test_invisible_changes_level_decides_a_change_no_page_shows(
    dev_env: DevEnvironment, samples: SampleFactory
) -> None:
    data = _unused_font_added(samples.get("control_b_b").data)
    warned = _validator(dev_env).validate(data)
    first = warned.signatures[0]
    assert first.indication is Indication.TOTAL_PASSED, [f.text.en for f in first.findings]
    assert [f.severity for f in first.findings if f.code == "INVISIBLE_CHANGES"] == [Severity.WARNING]
    assert first.modifications.compared_visually and first.modifications.changed_pages == []
    assert [c.verdict for c in first.modifications.changes if c.where == "page 1 /Resources"] == ["not_shown"]

    ignored = _validator(dev_env, _general_with(constraints={"invisible_changes": "IGNORE"})).validate(data)
    assert ignored.indication is Indication.TOTAL_PASSED
    assert "INVISIBLE_CHANGES" not in {f.code for f in ignored.signatures[0].findings}

    failed = _validator(dev_env, _general_with(constraints={"invisible_changes": "FAIL"})).validate(data)
    assert failed.signatures[0].indication is not Indication.TOTAL_PASSED


def test_a_digest_past_its_date_needs_proof_of_existence(dev_env: DevEnvironment, samples: SampleFactory) -> None:
    data = samples.get("control_b_b").data  # SHA-256, RSA-2048, no timestamp
    assert _validator(dev_env).validate(data).indication is Indication.TOTAL_PASSED
    past = _general_with(crypto={"digests": {"sha256": "2020-01-01"}})
    first = _validator(dev_env, past).validate(data).signatures[0]
    assert (first.indication, first.sub_indication) == (Indication.INDETERMINATE,
                                                        SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE)
    assert "DIGEST_NOT_ALLOWED" in {f.code for f in first.findings}
    # Judged a month after the digest's end: a B-T seal's timestamp proves it existed before the end.
    now = datetime.now(UTC)
    ending = _general_with(crypto={"digests": {"sha256": (now + timedelta(days=10)).date().isoformat()}})
    later = now + timedelta(days=40)
    stamped = _validator(dev_env, ending).validate(samples.get("control_b_t").data, at=later,
                                                    revocation=RevocationMode.SKIP)
    assert stamped.signatures[0].indication is Indication.TOTAL_PASSED, stamped.signatures[0].findings
    bare = _validator(dev_env, ending).validate(data, at=later, revocation=RevocationMode.SKIP).signatures[0]
    assert bare.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE


def test_a_key_size_the_suite_does_not_list_fails(dev_env: DevEnvironment, samples: SampleFactory) -> None:
    data = samples.get("control_b_b").data
    only_big = _general_with(crypto={"rsa_bits": {"3072": None}})
    first = _validator(dev_env, only_big).validate(data).signatures[0]
    assert (first.indication, first.sub_indication) == (Indication.INDETERMINATE,
                                                        SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    assert "KEY_TOO_SMALL" in {f.code for f in first.findings}


# -- choosing a policy --------------------------------------------------------------------------------


def _deployment_with(dev_env: DevEnvironment, folder: Path, validation: dict[str, Any]) -> Path:
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    raw["validation"] = {**(raw.get("validation") or {}), **validation}
    # Relative paths in the copy resolve against the original's folder.
    for section in ("trust",):
        roots = raw[section]["roots"]
        for root in roots:
            root["path"] = str((dev_env.deployment_path.parent / root["path"]).resolve())
        raw[section]["intermediates"] = [str((dev_env.deployment_path.parent / p).resolve())
                                         for p in raw[section].get("intermediates") or []]
    target = folder / "pakat.yaml"
    target.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return target


def test_a_deployment_names_its_policies(dev_env: DevEnvironment, tmp_path: Path) -> None:
    (tmp_path / "tender.yaml").write_bytes(_general_with(id="tender-2027"))
    path = _deployment_with(dev_env, tmp_path, {"policy": "tender", "policies": {"tender": "tender.yaml"}})
    config = validation_config(load_deployment(path))
    assert config.policy.rules.id == "tender-2027"
    assert set(config.policies) == {"tender"}
    validator = Validator(config)
    assert validator.policy_named("tender").id == "tender-2027"
    assert validator.policy_named("bid-envelope").id == "pakat-bid-envelope"
    with pytest.raises(InputError) as caught:
        validator.policy_named("nope")
    assert caught.value.kind is errors.VALIDATION_POLICY_INVALID


@pytest.mark.parametrize(
    "section",
    [
        {"min_rsa_bits": 2048},
        {"allowed_digests": ["sha256"]},
        {"policy": "missing.yaml"},
        {"policies": {"x": "missing.yaml"}},
        {"policies": ["general"]},
    ],
)
def test_a_deployment_with_a_bad_policy_is_refused(dev_env: DevEnvironment, tmp_path: Path,
                                                    section: dict[str, Any]) -> None:
    path = _deployment_with(dev_env, tmp_path, section)
    with pytest.raises(AccessError) as caught:
        load_deployment(path)
    assert caught.value.kind is errors.CONFIG_INVALID
    if "min_rsa_bits" in section:
        assert "policy file" in str(caught.value)


def test_cli_policy_by_name_and_by_file(dev_env: DevEnvironment, samples: SampleFactory, tmp_path: Path) -> None:
    source = tmp_path / "filled.pdf"
    source.write_bytes(samples.get("control_form_filled").data)
    runner = CliRunner()
    base = ["validate", str(source), "--format", "json", "--config", str(dev_env.deployment_path)]

    general = runner.invoke(main, base, catch_exceptions=False)
    assert general.exit_code == 0, general.output
    assert json.loads(general.stdout)["policy"]["id"] == "pakat-general"

    envelope = runner.invoke(main, [*base, "--policy", "bid-envelope"], catch_exceptions=False)
    assert envelope.exit_code == 1, envelope.output
    assert json.loads(envelope.stdout)["policy"]["id"] == "pakat-bid-envelope"

    own = tmp_path / "own.yaml"
    own.write_bytes(_general_with(id="own-policy"))
    by_file = runner.invoke(main, [*base, "--policy", str(own)], catch_exceptions=False)
    assert by_file.exit_code == 0 and json.loads(by_file.stdout)["policy"]["id"] == "own-policy"

    broken = tmp_path / "broken.yaml"
    broken.write_bytes(b"id: x\n")
    for choice in (str(broken), "strictest"):
        refused = runner.invoke(main, [*base, "--policy", choice], catch_exceptions=False)
        assert refused.exit_code == 3, refused.output
        assert "VALIDATION_POLICY_INVALID" in refused.output


def _post(client: FlaskClient, path: str, data: bytes, **form: str) -> Any:
    response = client.post(path, data={"file": (io.BytesIO(data), "filled.pdf"), **form},
                           content_type="multipart/form-data")
    response.get_data()
    response.close()
    return response


def test_api_and_page_take_a_policy_by_name(client: FlaskClient, samples: SampleFactory) -> None:
    data = samples.get("control_form_filled").data
    general = _post(client, "/api/v1/validate", data)
    assert general.status_code == 200 and general.get_json()["policy"]["id"] == "pakat-general"
    envelope = _post(client, "/api/v1/validate?policy=bid-envelope", data)
    assert envelope.status_code == 200
    assert envelope.get_json()["policy"]["id"] == "pakat-bid-envelope"
    assert envelope.headers["X-Pakat-Indication"] == "TOTAL_FAILED"
    unknown = _post(client, "/api/v1/validate?policy=strictest", data)
    assert unknown.status_code == 400
    assert unknown.get_json()["error"]["code"] == "VALIDATION_POLICY_INVALID"

    page = _post(client, "/validate?lang=en", data, policy="bid-envelope")
    assert page.status_code == 200
    assert b'data-indication="TOTAL_FAILED"' in page.data or b"TOTAL_FAILED" in page.data
    form = client.get("/validate")
    assert b'name="policy"' in form.data and b'value="bid-envelope"' in form.data


def test_human_reports_name_the_policy_and_the_refused_change(
    dev_env: DevEnvironment, samples: SampleFactory, tmp_path: Path
) -> None:
    import subprocess

    from validation.reports.html import render_fragment
    from validation.reports.pdf import render_pdf

    validator = _validator(dev_env)
    envelope = validator.policy_named("bid-envelope")
    report = validator.validate(samples.get("control_form_filled").data, policy=envelope)
    for lang in ("fa", "en"):
        html = render_fragment(report, lang)
        assert "pakat-bid-envelope" in html and report.policy["sha256"] in html
        assert "field &#39;delivery&#39; /V" in html or "field 'delivery' /V" in html
        pdf = tmp_path / f"report-{lang}.pdf"
        pdf.write_bytes(render_pdf(report, lang))
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, timeout=60).stdout
        assert b"pakat-bid-envelope" in text
    english = render_fragment(report, "en")
    assert "Form filling: not allowed" in english and "Pages showing a change not allowed" in english


def test_a_locked_field_is_refused_unless_the_policy_says_otherwise(
    dev_env: DevEnvironment, samples: SampleFactory
) -> None:
    data = samples.get("field_lock_filled").data
    refused = _validator(dev_env).validate(data).signatures[0]
    assert (refused.indication, refused.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    assert "FIELD_LOCK_VIOLATION" in {f.code for f in refused.findings}
    lenient = _general_with(constraints={"locked_field_changed": "WARN"})
    warned = _validator(dev_env, lenient).validate(data).signatures[0]
    assert warned.sub_indication is not SubIndication.FORMAT_FAILURE
    assert [f.severity for f in warned.findings if f.code == "FIELD_LOCK_VIOLATION"] == [Severity.WARNING]
