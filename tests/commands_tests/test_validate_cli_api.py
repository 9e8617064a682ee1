"""``pakat validate`` and ``POST /api/v1/validate`` on real PDFs, judged by the real validator.

Documents are sealed by our own signer with the demo organisation's SoftHSM key
(B-LTA, so revocation data and timestamps are embedded), then judged:

* trusted through the dev deployment, or through ``--trust <dev root>`` on top of
  the production default: TOTAL_PASSED, exit 0;
* a copy with one byte of the signed content changed: TOTAL_FAILED, exit 1;
* a signer no configuration trusts (a throw-away self-signed key, or the dev seal
  under the production default alone): INDETERMINATE, exit 2;
* not a PDF, or a PDF without signatures: exit 3 / HTTP 422.

The CLI runs in-process through click's runner for speed; one test runs the real
process to pin the exit codes a shell sees.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from lxml import etree
from pakat_testkit import (
    CONFORMANCE_CORPUS,
    pakat_command,
    pdf_bytes,
    process_env,
)
from report_kit import NS, check_etsi_structure, sign_with_throwaway_key
from validation_samples import names, samples_for

from commands import main
from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment, validation_config
from pakat.errors import InputError
from signer.levels import PadesLevel
from validation.engine import Validator
from validation.model import DocumentReport
from validation.reports.etsi_xml import report_to_etsi_xml
from validation.reports.json_report import report_schema, report_to_dict

UPLOAD_LIMIT = 400_000  # the web app's PDF limit here; every sample is far below it


@pytest.fixture(scope="module")
def sealed(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """An envelope sealed at B-LTA by demo-co through SoftHSM."""
    folder = tmp_path_factory.mktemp("sealed")
    source, out = folder / "envelope.pdf", folder / "sealed.pdf"
    source.write_bytes(pdf_bytes("Envelope A, bid guarantee"))
    service = SealService(load_deployment(dev_env.deployment_path))
    try:
        service.seal("demo-co", source, out, PadesLevel.B_LTA)
    finally:
        service.close()
    return out.read_bytes()


@pytest.fixture(scope="module")
def tampered(sealed: bytes) -> bytes:
    """The sealed file with one letter of the signed page content changed (same length, still parses)."""
    at = sealed.index(b"Envelope A, bid guarantee")
    return sealed[:at] + b"e" + sealed[at + 1:]


@pytest.fixture(scope="module")
def untrusted() -> bytes:
    return sign_with_throwaway_key("Stranger")[0]


@pytest.fixture(scope="module")
def schema_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(report_schema(),
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# -- the CLI ----------------------------------------------------------------------------


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def cli(home: Path, *args: str, config: Path | None = None) -> Result:
    """``pakat ARGS`` in-process, with a fresh PAKAT_HOME and PAKAT_CONFIG only when given."""
    env = {"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(config) if config else ""}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def test_sealed_document_passes_under_the_dev_deployment(dev_env: Any, sealed: bytes, tmp_path: Path) -> None:
    source = write(tmp_path, "پاکت-الف.pdf", sealed)
    result = cli(tmp_path, "validate", str(source), config=dev_env.deployment_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    # The file, then each signature: Persian line first, English line after it.
    assert lines[0].startswith("نتیجه «پاکت-الف.pdf»: معتبر (TOTAL_PASSED)")
    assert lines[1].startswith('Result for "پاکت-الف.pdf": Valid (TOTAL_PASSED)')
    assert lines[2].startswith("امضای ۱ «Pakat Seal 1»: معتبر (TOTAL_PASSED)")
    assert lines[3].startswith('Signature 1 "Pakat Seal 1": Valid (TOTAL_PASSED)') and "PAdES B-LTA" in lines[3]


def test_trust_option_adds_the_dev_root_to_the_production_default(
    dev_env: Any, sealed: bytes, tmp_path: Path, schema_validator: jsonschema.Draft202012Validator
) -> None:
    source = write(tmp_path, "sealed.pdf", sealed)
    # No deployment at all: only the national root is trusted, so the dev seal is not.
    alone = cli(tmp_path, "validate", str(source), "--format", "json")
    assert alone.exit_code == 2, alone.output
    report = json.loads(alone.stdout)
    assert report["indication"] == "INDETERMINATE"
    assert report["signatures"][0]["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    assert report["trust_anchors"] and all("Pakat" not in s for s in report["trust_anchors"])

    trusted = cli(tmp_path, "validate", str(source), "--format", "json", "--trust", str(dev_env.root_cert_path))
    assert trusted.exit_code == 0, trusted.output
    report = json.loads(trusted.stdout)
    schema_validator.validate(report)
    assert report["indication"] == "TOTAL_PASSED"
    assert report["file_name"] == "sealed.pdf"
    assert report["signatures"][0]["pades_level"] == "B-LTA"
    assert len(report["trust_anchors"]) == 2


def test_changed_byte_fails_with_exit_1(dev_env: Any, tampered: bytes, tmp_path: Path,
                                        schema_validator: jsonschema.Draft202012Validator) -> None:
    source = write(tmp_path, "tampered.pdf", tampered)
    result = cli(tmp_path, "validate", str(source), "--format", "json", config=dev_env.deployment_path)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    schema_validator.validate(report)
    assert report["indication"] == "TOTAL_FAILED"
    assert report["signatures"][0]["indication"] == "TOTAL_FAILED"
    assert report["signatures"][0]["sub_indication"] == "HASH_FAILURE"


def test_untrusted_signer_is_indeterminate_with_exit_2(dev_env: Any, untrusted: bytes, tmp_path: Path) -> None:
    source = write(tmp_path, "stranger.pdf", untrusted)
    result = cli(tmp_path, "validate", str(source), config=dev_env.deployment_path)
    assert result.exit_code == 2, result.output
    assert "(INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND)" in result.stdout


@pytest.mark.parametrize(("data", "code"), [(b"just some text\n", "NOT_A_PDF"), (pdf_bytes(), "NO_SIGNATURES")],
                         ids=["not-a-pdf", "unsigned"])
def test_unusable_input_exits_3(dev_env: Any, tmp_path: Path, data: bytes, code: str) -> None:
    source = write(tmp_path, "in.pdf", data)
    text = cli(tmp_path, "validate", str(source), config=dev_env.deployment_path)
    assert text.exit_code == 3
    assert text.stderr.startswith(f"{code}: ")
    assert text.stdout == ""
    # Asked for JSON, a script also gets the error as JSON on stdout.
    as_json = cli(tmp_path, "validate", str(source), "--format", "json", config=dev_env.deployment_path)
    assert as_json.exit_code == 3
    assert json.loads(as_json.stdout)["error"]["code"] == code


def test_usage_errors_exit_3_not_2(tmp_path: Path) -> None:
    """2 means INDETERMINATE for this command, so a typo must not look like a verdict."""
    source = write(tmp_path, "in.pdf", b"whatever")
    for args in (["--format", "html"], ["--at", "yesterday"], ["--trust", str(source)]):
        result = cli(tmp_path, "validate", str(source), *args)
        assert result.exit_code == 3, (args, result.output)
        assert "Error:" in result.stderr
    missing = cli(tmp_path, "validate", str(tmp_path / "missing.pdf"))
    assert missing.exit_code == 3


def test_xml_and_pdf_formats_written_to_files(dev_env: Any, sealed: bytes, tmp_path: Path) -> None:
    source = write(tmp_path, "sealed.pdf", sealed)
    xml_out, pdf_out = tmp_path / "report.xml", tmp_path / "report.pdf"
    result = cli(tmp_path, "validate", str(source), "--format", "xml", "-o", str(xml_out),
                 config=dev_env.deployment_path)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "report written" in result.stderr
    xml = xml_out.read_text(encoding="utf-8")
    check_etsi_structure(xml)
    root = etree.fromstring(xml.encode())
    assert root.findtext("vr:SignatureValidationReport/vr:SignatureValidationStatus/vr:MainIndication",
                         namespaces=NS) == "urn:etsi:019102:mainindication:total-passed"
    process = root.findtext("vr:SignatureValidationReport/vr:SignatureValidationProcess/"
                            "vr:SignatureValidationProcessID", namespaces=NS)
    assert process == "urn:etsi:019102:validationprocess:LTA"
    # Read back from the file: the signature value and the timestamp tokens with their POE.
    assert root.findtext("vr:SignatureValidationReport/vr:SignatureIdentifier/ds:SignatureValue", namespaces=NS)
    kinds = root.xpath("//vr:ValidationObject/vr:ObjectType/text()", namespaces=NS)
    assert "urn:etsi:019102:validationObject:timestamp" in kinds
    assert "urn:etsi:019102:validationObject:certificate" in kinds
    # B-LTA: a signature timestamp and a document timestamp, each proving the seal existed.
    assert kinds.count("urn:etsi:019102:validationObject:timestamp") == 2
    assert root.xpath("//vr:ValidationObject/vr:POEProvisioning/vr:SignatureReference/vr:PAdESFieldName/text()",
                      namespaces=NS) == ["Pakat Seal 1", "Pakat Seal 1"]
    stamps = root.xpath("//vr:SignatureAttributes/vr:DocTimeStamp/vr:AttributeObject/@VOReference", namespaces=NS)
    assert len(stamps) == 1
    best = root.xpath("//vr:BestSignatureTime/vr:POEObject/@VOReference", namespaces=NS)
    assert len(best) == 1 and best[0].startswith("vo-timestamp-")

    result = cli(tmp_path, "validate", str(source), "--format", "pdf", "--lang", "en", "-o", str(pdf_out),
                 config=dev_env.deployment_path)
    assert result.exit_code == 0, result.output
    assert pdf_out.read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf", "report.xml", "sealed.pdf"], \
        "a temp file was left behind"


def test_existing_output_is_kept_unless_forced(dev_env: Any, sealed: bytes, tmp_path: Path) -> None:
    source = write(tmp_path, "sealed.pdf", sealed)
    out = write(tmp_path, "report.json", b"keep me")
    refused = cli(tmp_path, "validate", str(source), "--format", "json", "-o", str(out),
                  config=dev_env.deployment_path)
    assert refused.exit_code == 3
    assert json.loads(refused.stdout)["error"]["code"] == "OUTPUT_EXISTS"
    assert out.read_bytes() == b"keep me"

    forced = cli(tmp_path, "validate", str(source), "--format", "json", "-o", str(out), "--force",
                 config=dev_env.deployment_path)
    assert forced.exit_code == 0, forced.output
    assert json.loads(out.read_text(encoding="utf-8"))["indication"] == "TOTAL_PASSED"

    itself = cli(tmp_path, "validate", str(source), "-o", str(source), "--force", config=dev_env.deployment_path)
    assert itself.exit_code == 3 and source.read_bytes() == sealed

    nowhere = cli(tmp_path, "validate", str(source), "-o", str(tmp_path / "no" / "such" / "dir.json"),
                  config=dev_env.deployment_path)
    assert nowhere.exit_code == 3


def test_at_and_revocation_options(dev_env: Any, sealed: bytes, tmp_path: Path) -> None:
    source = write(tmp_path, "sealed.pdf", sealed)
    report = json.loads(cli(tmp_path, "validate", str(source), "--format", "json",
                            "--revocation", "skip", config=dev_env.deployment_path).stdout)
    assert report["policy"]["revocation"] == "skip"
    now = report["validation_time"]
    naive = now[:19]  # no zone: UTC
    again = json.loads(cli(tmp_path, "validate", str(source), "--format", "json", "--at", naive,
                           config=dev_env.deployment_path).stdout)
    assert again["validation_time"] == naive + "Z"


def test_the_real_process_exit_codes(dev_env: Any, sealed: bytes, tampered: bytes, untrusted: bytes,
                                     tmp_path: Path) -> None:
    env = process_env({"PAKAT_HOME": str(tmp_path), "PAKAT_CONFIG": str(dev_env.deployment_path)})
    for name, data, expected in (("ok.pdf", sealed, 0), ("bad.pdf", tampered, 1), ("who.pdf", untrusted, 2),
                                 ("text.pdf", b"not a pdf", 3)):
        source = write(tmp_path, name, data)
        done = subprocess.run(pakat_command("validate", str(source), "--format", "json"), env=env,
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
        assert done.returncode == expected, (name, done.stderr.decode(errors="replace"))
        assert b"Traceback" not in done.stderr


# -- the API ---------------------------------------------------------------------------


def post_validate(client: FlaskClient, data: bytes | None, *, query: str = "", accept: str | None = None,
                  filename: str = "envelope.pdf") -> Any:
    form: dict[str, Any] = {} if data is None else {"file": (io.BytesIO(data), filename)}
    headers = {"Accept": accept} if accept else {}
    response = client.post(f"/api/v1/validate{query}", data=form, headers=headers,
                           content_type="multipart/form-data")
    response.get_data()
    response.close()
    return response


def error_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()["error"]
    assert body["message_fa"] and body["message_en"]
    return str(body["code"])


def test_api_json_by_default_without_an_api_key(client: FlaskClient, sealed: bytes, tampered: bytes,
                                                untrusted: bytes,
                                                schema_validator: jsonschema.Draft202012Validator) -> None:
    for data, indication in ((sealed, "TOTAL_PASSED"), (tampered, "TOTAL_FAILED"), (untrusted, "INDETERMINATE")):
        response = post_validate(client, data, filename="پاکت الف.pdf")
        assert response.status_code == 200, response.data[:500]  # a verdict is a 200, whatever it says
        assert response.mimetype == "application/json"
        report = response.get_json()
        schema_validator.validate(report)
        assert report["indication"] == indication
        assert report["file_name"] == "پاکت الف.pdf"
        assert response.headers["X-Pakat-Indication"] == indication
        assert response.headers["Cache-Control"] == "no-store"


def test_api_etsi_xml_on_accept(client: FlaskClient, sealed: bytes) -> None:
    response = post_validate(client, sealed, accept="application/xml")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    xml = response.get_data(as_text=True)
    check_etsi_structure(xml)
    root = etree.fromstring(xml.encode())
    assert root.findtext("vr:SignatureValidationReport/vr:SignatureValidationStatus/vr:MainIndication",
                         namespaces=NS) == "urn:etsi:019102:mainindication:total-passed"
    assert root.findtext("vr:SignatureValidationReport/vr:SignersDocument/vr:DigestAlgAndValue/ds:DigestValue",
                         namespaces=NS)
    # ?format= wins over Accept.
    assert post_validate(client, sealed, query="?format=json", accept="application/xml").mimetype \
        == "application/json"


def test_api_pdf_report(client: FlaskClient, sealed: bytes) -> None:
    response = post_validate(client, sealed, query="?format=pdf&lang=en", filename="bid.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "bid-validation-en.pdf" in disposition
    persian = post_validate(client, sealed, query="?format=pdf", filename="پاکت.pdf")
    assert persian.status_code == 200 and persian.data.startswith(b"%PDF-")
    assert "filename*=UTF-8''" in persian.headers["Content-Disposition"]


def test_api_at(client: FlaskClient, sealed: bytes) -> None:
    first = post_validate(client, sealed).get_json()["validation_time"]
    tehran = first[:19] + "+03:30"  # the same wall-clock time in Tehran is 3½ hours earlier in UTC
    response = post_validate(client, sealed, query=f"?at={tehran.replace('+', '%2B')}")
    assert response.status_code == 200
    expected = datetime.fromisoformat(first[:19]) - timedelta(hours=3, minutes=30)
    assert response.get_json()["validation_time"] == expected.isoformat() + "Z"


def test_api_errors(client: FlaskClient, sealed: bytes) -> None:
    assert error_code(post_validate(client, None), 400) == "PDF_MISSING"
    assert error_code(post_validate(client, b"hello, not a pdf"), 422) == "NOT_A_PDF"
    assert error_code(post_validate(client, pdf_bytes()), 422) == "NO_SIGNATURES"
    assert error_code(post_validate(client, sealed, query="?format=html"), 400) == "BAD_REQUEST"
    assert error_code(post_validate(client, sealed, query="?lang=de"), 400) == "BAD_REQUEST"
    assert error_code(post_validate(client, sealed, query="?at=tomorrow"), 400) == "BAD_REQUEST"
    big = pdf_bytes(pad_to=UPLOAD_LIMIT + 100_000)
    assert error_code(post_validate(client, big), 413) == "PDF_TOO_LARGE"
    wrong = client.get("/api/v1/validate")
    assert error_code(wrong, 405) == "METHOD_NOT_ALLOWED"


def _broken_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error of Pakat's own in the middle of a validation (a bug, not the document's fault)."""

    def fails(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("validation.engine.digest_in_one_pass", fails)


def test_an_internal_error_is_no_verdict(dev_env: Any, sealed: bytes, tmp_path: Path, client: FlaskClient,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _broken_engine(monkeypatch)
    source = write(tmp_path, "sealed.pdf", sealed)
    result = cli(tmp_path, "validate", str(source), "--format", "json", config=dev_env.deployment_path)
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["error"]["code"] == "VALIDATION_INCOMPLETE"
    assert "VALIDATION_INCOMPLETE" in result.stderr and "Traceback" not in result.stderr
    assert "ZeroDivisionError" in result.stderr, "the detail names the failure for a bug report"
    assert error_code(post_validate(client, sealed), 500) == "VALIDATION_INCOMPLETE"


# -- every real verdict renders ------------------------------------------------------------

CORPUS = CONFORMANCE_CORPUS


def _real_reports(dev_env: Any) -> Iterator[tuple[str, bytes, DocumentReport]]:
    """The engine's reports on the shared corpus and on every attack and trust sample."""
    validator = Validator(validation_config(load_deployment(dev_env.deployment_path)))
    manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))  # missing corpus: fail
    factory = samples_for(dev_env)
    inputs = [(entry["file"], (CORPUS / entry["file"]).read_bytes(), None) for entry in manifest]
    try:
        inputs += [(name, (s := factory.get(name)).data, s.at) for name in names()]
    finally:
        factory.close()  # its seal service is logged in to the organisations' tokens
    for name, data, at in inputs:
        try:
            yield name, data, validator.validate(data, file_name=Path(name).name, at=at)
        except InputError:
            continue  # unusable input has no report; the corpus test checks those codes


def test_every_real_report_matches_the_schema_and_makes_etsi_xml(
    dev_env: Any, schema_validator: jsonschema.Draft202012Validator
) -> None:
    """Drift between the engine and the renderers shows here, on real verdicts of every kind."""
    seen: set[str] = set()
    count = 0
    for name, data, report in _real_reports(dev_env):
        errors_found = [f"{list(e.absolute_path)}: {e.message[:200]}"
                        for e in schema_validator.iter_errors(report_to_dict(report))]
        assert errors_found == [], name
        check_etsi_structure(report_to_etsi_xml(report, data))
        seen.add(report.indication.value)
        count += 1
    assert count >= 30
    assert seen == {"TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"}
