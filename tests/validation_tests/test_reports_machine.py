"""Machine-readable reports on hand-built verdicts: JSON against its schema, ETSI TS 119 102-2 XML.

No validator runs here: the reports are built by hand, so these tests pin the
renderers and the schema, and catch any drift between the model and either.
One test signs a PDF in-process with a throw-away key to check what the XML
reads back from the file (signature value, DTBSR digest, signed-bytes digest).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from report_kit import NS, VR, _parse, check_etsi_structure, sign_with_throwaway_key

from pakat import errors
from pakat.errors import InputError
from validation import model
from validation.model import (
    REPORT_SCHEMA_VERSION,
    Affiliation,
    CertificateInfo,
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
    SignerKind,
    SubIndication,
    Text,
    TimestampReport,
)
from validation.reports.etsi_xml import MAIN_INDICATION, build_validation_report, report_to_etsi_xml
from validation.reports.json_report import report_schema, report_to_dict, report_to_json

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 2, 3, 9, 30, 0, tzinfo=UTC)


# -- hand-built reports ----------------------------------------------------------


def cert_info(name: str, issuer: str, *, sha: str | None = None) -> CertificateInfo:
    return CertificateInfo(
        subject=f"CN={name}",
        common_name=name,
        issuer=f"CN={issuer}",
        serial_number="1a2b3c",
        not_before=T0 - timedelta(days=300),
        not_after=T0 + timedelta(days=400),
        sha256=sha or hashlib.sha256(name.encode()).hexdigest(),
        key="ECDSA-P256",
    )


SIGNER_CERT = cert_info("شرکت نمونه [Stamp]", "General CA")
CA_CERT = cert_info("General CA", "Root CA")
ROOT_CERT = cert_info("Root CA", "Root CA")


def passed_signature(index: int = 1, *, level: str | None = "B-LTA", field_name: str = "Pakat Seal 1",
                     signer_cert: CertificateInfo = SIGNER_CERT) -> SignatureReport:
    return SignatureReport(
        index=index,
        field_name=field_name,
        kind=SignatureKind.APPROVAL,
        indication=Indication.TOTAL_PASSED,
        sub_indication=None,
        reason=Text("امضا معتبر است.", "The signature is valid."),
        revision=0,
        subfilter="/ETSI.CAdES.detached",
        pades_level=level,
        signer=SignerIdentity(
            name="شرکت نمونه",
            national_id="10101010101",
            organisation="شرکت نمونه",
            organisational_unit=None,
            title=None,
            kind=SignerKind.ORGANISATION_SEAL,
            affiliation=Affiliation.PRIVATE,
            assurance_level="silver",
            certificate=signer_cert,
        ),
        chain=ChainReport(
            trusted=True, anchor=ROOT_CERT.subject, anchor_sha256=ROOT_CERT.sha256,
            certificates=[signer_cert, CA_CERT, ROOT_CERT], problem=None,
        ),
        revocation=RevocationReport(RevocationStatus.GOOD, "embedded", "OCSP", T0 - timedelta(minutes=5),
                                    None, None),
        integrity=IntegrityReport([0, 1000, 21000, 500], True, "entire_revision", True, True),
        modifications=ModificationReport(Modification.LTA_UPDATES, None, None),
        claimed_signing_time=T0 - timedelta(minutes=10),
        best_signature_time=T0 - timedelta(minutes=9, microseconds=-250_000),
        timestamps=[TimestampReport("signature", T0 - timedelta(minutes=9, microseconds=-250_000), "CN=TSA",
                                    True, True, "sha256")],
        digest_algorithm="sha256",
        signature_algorithm="ecdsa",
        findings=[Finding("LTA_UPDATES_AFTER_SIGNING", Severity.INFO, Text("فقط داده‌های اعتبارسنجی افزوده شد.",
                                                                           "Only validation data was added."))],
    )


def failed_signature(index: int = 2) -> SignatureReport:
    """A signature whose bytes were changed and whose certificate was never found: many Nones."""
    return SignatureReport(
        index=index,
        field_name=None,
        kind=SignatureKind.CERTIFICATION,
        indication=Indication.TOTAL_FAILED,
        sub_indication=SubIndication.HASH_FAILURE,
        reason=Text("پس از امضا تغییر کرده است.", "The document was changed after signing."),
        revision=None,
        subfilter=None,
        pades_level=None,
        signer=None,
        chain=None,
        revocation=None,
        integrity=IntegrityReport(None, False, "unclear", False, None),
        modifications=ModificationReport(None, 2, None),
        claimed_signing_time=None,
        best_signature_time=T0,
        timestamps=[],
        digest_algorithm=None,
        signature_algorithm=None,
    )


def document_report(*signatures: SignatureReport, indication: Indication = Indication.TOTAL_PASSED,
                    sub: SubIndication | None = None) -> DocumentReport:
    return DocumentReport(
        schema_version=REPORT_SCHEMA_VERSION,
        generator="Pakat test",
        validation_time=T0,
        file_name="پاکت-ب.pdf",
        file_sha256="ab" * 32,
        file_size=22_000,
        indication=indication,
        sub_indication=sub,
        reason=Text("همه امضاها معتبرند.", "Every signature is valid."),
        signatures=list(signatures),
        document_timestamps=[TimestampReport("document", T0 - timedelta(minutes=8), "CN=TSA", True, True, "sha256",
                                             field_name="Pakat Archive Timestamp 1", covers_entire_file=True)],
        revisions=3,
        trust_anchors=[ROOT_CERT.subject],
        policy={"revocation": "require", "digest_sunsets": {"sha1": "2017-01-01T00:00:00+00:00"}},
        findings=[Finding("TRAILING_BYTES", Severity.WARNING, Text("بایت اضافه", "Trailing bytes"))],
    )


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = report_schema()
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# -- JSON ------------------------------------------------------------------------------


def test_passed_and_failed_reports_match_the_schema(validator: jsonschema.Draft202012Validator) -> None:
    report = document_report(passed_signature(), failed_signature(),
                             indication=Indication.TOTAL_FAILED, sub=SubIndication.HASH_FAILURE)
    data = report_to_dict(report)
    validator.validate(data)
    assert json.loads(report_to_json(report)) == data

    assert data["schema_version"] == "1.1"
    assert data["indication"] == "TOTAL_FAILED" and data["sub_indication"] == "HASH_FAILURE"
    first, second = data["signatures"]
    assert first["signer"]["kind"] == "organisation_seal" and first["signer"]["affiliation"] == "private"
    assert first["modifications"]["level"] == "LTA_UPDATES"
    assert first["reason"] == {"fa": "امضا معتبر است.", "en": "The signature is valid."}
    assert first["findings"][0] == {"code": "LTA_UPDATES_AFTER_SIGNING", "severity": "info",
                                    "text": {"fa": "فقط داده‌های اعتبارسنجی افزوده شد.",
                                             "en": "Only validation data was added."}}
    assert second["signer"] is None and second["integrity"]["byte_range"] is None
    assert second["sub_indication"] == "HASH_FAILURE" and second["kind"] == "certification"


def test_times_are_utc_with_z_and_persian_stays_readable() -> None:
    tehran = timezone(timedelta(hours=3, minutes=30))
    report = document_report(passed_signature())
    report.validation_time = datetime(2026, 2, 3, 13, 0, 0, tzinfo=tehran)
    report.signatures[0].claimed_signing_time = datetime(2026, 2, 3, 9, 0, 0)  # naive: taken as UTC
    data = report_to_dict(report)
    assert data["validation_time"] == "2026-02-03T09:30:00Z"
    assert data["signatures"][0]["claimed_signing_time"] == "2026-02-03T09:00:00Z"
    assert data["signatures"][0]["best_signature_time"] == "2026-02-03T09:21:00.250000Z"
    text = report_to_json(report)
    assert "پاکت-ب.pdf" in text and "\\u" not in text


def test_the_schema_refuses_what_the_model_cannot_produce(validator: jsonschema.Draft202012Validator) -> None:
    good = report_to_dict(document_report(passed_signature()))
    broken: list[dict[str, Any]] = []
    for mutate in (
        lambda d: d.update(indication="VALID"),
        lambda d: d.update(schema_version="2.0"),
        lambda d: d.update(validation_time="2026-02-03T09:30:00+03:30"),
        lambda d: d.pop("findings"),
        lambda d: d.update(extra=1),
        lambda d: d["signatures"][0].update(sub_indication="BROKEN"),
        lambda d: d["signatures"][0]["signer"].pop("kind"),
        lambda d: d["signatures"][0]["chain"].update(anchor_sha256="AB" * 32),
        lambda d: d["signatures"][0].update(reason="just English"),
    ):
        copy = json.loads(json.dumps(good))
        mutate(copy)
        broken.append(copy)
    for i, data in enumerate(broken):
        assert not validator.is_valid(data), f"mutation {i} was accepted"


def _walk_properties(node: Any, where: str = "$") -> list[str]:
    """Every property schema lacking a description."""
    missing: list[str] = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if "description" not in prop:
                missing.append(f"{where}.{name}")
        for key, value in node.items():
            missing.extend(_walk_properties(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            missing.extend(_walk_properties(item, f"{where}[{i}]"))
    return missing


def test_schema_is_versioned_documented_and_valid() -> None:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert REPORT_SCHEMA_VERSION in schema["$id"]
    assert schema["properties"]["schema_version"] == {
        "description": schema["properties"]["schema_version"]["description"], "const": REPORT_SCHEMA_VERSION}
    assert _walk_properties(schema) == []
    for name, definition in schema["$defs"].items():
        assert definition.get("description"), f"$defs/{name} has no description"
    # Installed copies must carry the schema too.
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "reports/schema/*.json" in pyproject["tool"]["setuptools"]["package-data"]["validation"]


# Which schema definition describes which model dataclass.
SCHEMA_DEFS = {
    "text": Text, "finding": Finding, "certificate": CertificateInfo, "signer": SignerIdentity,
    "chain": ChainReport, "revocation": RevocationReport, "timestamp": TimestampReport,
    "integrity": IntegrityReport, "modifications": ModificationReport, "signature": SignatureReport,
}


def test_schema_and_model_have_the_same_fields() -> None:
    schema = report_schema()
    targets: list[tuple[str, dict[str, Any], type]] = [("$", schema, DocumentReport)]
    targets += [(name, schema["$defs"][name], cls) for name, cls in SCHEMA_DEFS.items()]
    for name, definition, cls in targets:
        fields = [f.name for f in dataclasses.fields(cls)]
        assert list(definition["properties"]) == fields, name
        assert definition["required"] == fields, name
        assert definition["additionalProperties"] is False, name


def _enum_values(node: dict[str, Any]) -> list[Any]:
    return list(node["enum"])


def test_schema_enums_are_the_model_enums() -> None:
    schema = report_schema()
    defs, sig = schema["$defs"], schema["$defs"]["signature"]["properties"]

    def values(cls: type[enum.Enum]) -> list[Any]:
        return [member.value for member in cls]

    assert _enum_values(defs["indication"]) == values(Indication)
    assert _enum_values(defs["sub_indication"]) == [*values(SubIndication), None]
    assert _enum_values(defs["finding"]["properties"]["severity"]) == values(Severity)
    assert _enum_values(defs["signer"]["properties"]["kind"]) == values(SignerKind)
    assert _enum_values(defs["signer"]["properties"]["affiliation"]) == [*values(Affiliation), None]
    assert _enum_values(defs["revocation"]["properties"]["status"]) == values(RevocationStatus)
    assert _enum_values(defs["modifications"]["properties"]["level"]) == [*values(Modification), None]
    assert _enum_values(sig["kind"]) == values(SignatureKind)
    # Every enum of the model appears somewhere in the schema.
    covered = {Indication, SubIndication, Severity, SignerKind, Affiliation, RevocationStatus, Modification,
               SignatureKind}
    declared = {obj for obj in vars(model).values() if isinstance(obj, type) and issubclass(obj, enum.Enum)
                and obj.__module__ == model.__name__}
    assert declared == covered


def test_unknown_types_are_refused_not_stringified() -> None:
    report = document_report(passed_signature())
    report.policy = {"clock_skew": timedelta(minutes=5)}
    with pytest.raises(TypeError, match="timedelta"):
        report_to_dict(report)


# -- ETSI XML ------------------------------------------------------------------------


def test_xml_per_signature_status_and_structure() -> None:
    report = document_report(passed_signature(), failed_signature(),
                             indication=Indication.TOTAL_FAILED, sub=SubIndication.HASH_FAILURE)
    xml = report_to_etsi_xml(report)
    parsed = check_etsi_structure(xml)
    assert parsed.signature_validation_report == build_validation_report(report).signature_validation_report

    root = _parse(xml)
    reports = root.findall(f"{VR}SignatureValidationReport")
    assert len(reports) == 2
    status = [r.find(f"{VR}SignatureValidationStatus") for r in reports]
    assert status[0].findtext(f"{VR}MainIndication") == "urn:etsi:019102:mainindication:total-passed"
    assert status[0].find(f"{VR}SubIndication") is None
    assert status[1].findtext(f"{VR}MainIndication") == "urn:etsi:019102:mainindication:total-failed"
    assert status[1].findtext(f"{VR}SubIndication") == "urn:etsi:019102:subindication:HASH_FAILURE"

    first = reports[0]
    assert first.findtext("vr:SignatureIdentifier/vr:DAIdentifier", namespaces=NS) == "Pakat Seal 1"
    assert first.findtext("vr:ValidationTimeInfo/vr:ValidationTime", namespaces=NS) == "2026-02-03T09:30:00Z"
    assert first.findtext("vr:ValidationTimeInfo/vr:BestSignatureTime/vr:POETime", namespaces=NS) \
        == "2026-02-03T09:21:00.250Z"
    attrs = first.find(f"{VR}SignatureAttributes")
    assert attrs.findtext("vr:SigningTime/vr:Time", namespaces=NS) == "2026-02-03T09:20:00Z"
    assert attrs.findtext("vr:SubFilter/vr:SubFilterElement", namespaces=NS) == "ETSI.CAdES.detached"
    assert attrs.findtext("vr:ByteRange", namespaces=NS) == "0 1000 21000 500"
    assert attrs.find("vr:SignatureTimeStamp", namespaces=NS).get("Signed") == "false"
    signer_ref = first.find("vr:SignerInformation/vr:SignerCertificate", namespaces=NS).get("VOReference")
    assert signer_ref == f"vo-certificate-{SIGNER_CERT.sha256}"
    assert first.findtext("vr:SignerInformation/vr:Signer", namespaces=NS) == "شرکت نمونه"
    chain = first.find("vr:SignatureValidationStatus/vr:AssociatedValidationReportData/vr:CertificateChain",
                       namespaces=NS)
    assert chain.find(f"{VR}SigningCertificate").get("VOReference") == signer_ref
    assert [e.get("VOReference") for e in chain.findall(f"{VR}IntermediateCertificate")] \
        == [f"vo-certificate-{CA_CERT.sha256}"]
    assert chain.find(f"{VR}TrustAnchor").get("VOReference") == f"vo-certificate-{ROOT_CERT.sha256}"
    data = {e.findtext(f"{VR}Type"): e.findtext(f"{VR}Value") for e in first.iter(f"{VR}ReportData")}
    assert data["urn:pakat:report:reason:fa"] == "امضا معتبر است."
    assert data["urn:pakat:report:pades-level"] == "B-LTA"
    assert data["urn:pakat:report:finding:info:LTA_UPDATES_AFTER_SIGNING"] == "Only validation data was added."

    # Without the file, certificates are identified by digest; the failed signature names no signer.
    objects = root.findall("vr:SignatureValidationObjects/vr:ValidationObject", namespaces=NS)
    path = (SIGNER_CERT, CA_CERT, ROOT_CERT)
    assert [o.get("id") for o in objects] == [f"vo-certificate-{c.sha256}" for c in path]
    for obj in objects:
        assert obj.findtext(f"{VR}ObjectType") == "urn:etsi:019102:validationObject:certificate"
        assert obj.find("vr:ValidationObjectRepresentation/vr:DigestAlgAndValue", namespaces=NS) is not None
    assert reports[1].find(f"{VR}SignerInformation") is None
    assert reports[1].find(f"{VR}SignatureIdentifier/{{{NS['ds']}}}SignatureValue") is None


@pytest.mark.parametrize(("level", "process"),
                         [("B-B", "Basic"), ("B-T", "LTVM"), ("B-LT", "LTVM"), ("B-LTA", "LTA"), (None, "Basic")])
def test_xml_validation_process_follows_the_pades_level(level: str | None, process: str) -> None:
    root = _parse(report_to_etsi_xml(document_report(passed_signature(level=level))))
    assert root.findtext("vr:SignatureValidationReport/vr:SignatureValidationProcess/"
                         "vr:SignatureValidationProcessID", namespaces=NS) \
        == f"urn:etsi:019102:validationprocess:{process}"


def test_xml_revoked_and_indeterminate() -> None:
    sig = passed_signature()
    sig.indication, sig.sub_indication = Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE
    sig.revocation = RevocationReport(RevocationStatus.REVOKED, "embedded", "CRL", T0, T0 - timedelta(days=1),
                                      "key_compromise")
    assert sig.chain is not None
    sig.chain = dataclasses.replace(sig.chain, trusted=False, anchor=None, anchor_sha256=None)
    xml = report_to_etsi_xml(document_report(sig, indication=Indication.INDETERMINATE,
                                             sub=SubIndication.REVOKED_NO_POE))
    check_etsi_structure(xml)
    root = _parse(xml)
    status = root.find("vr:SignatureValidationReport/vr:SignatureValidationStatus", namespaces=NS)
    assert status.findtext(f"{VR}MainIndication") == "urn:etsi:019102:mainindication:indeterminate"
    assert status.findtext(f"{VR}SubIndication") == "urn:etsi:019102:subindication:REVOKED_NO_POE"
    revocation = status.find("vr:AssociatedValidationReportData/vr:RevocationStatusInformation", namespaces=NS)
    assert revocation.findtext(f"{VR}RevocationTime") == "2026-02-02T09:30:00Z"
    assert revocation.findtext(f"{VR}RevocationReason") == "key_compromise"
    # Not trusted: no trust anchor is claimed, and the rest of the path counts as intermediates.
    assert status.find(".//vr:TrustAnchor", namespaces=NS) is None
    assert len(status.findall(".//vr:IntermediateCertificate", namespaces=NS)) == 2


def test_xml_needs_a_signature() -> None:
    nothing = document_report()
    nothing.document_timestamps = []
    with pytest.raises(InputError) as caught:
        report_to_etsi_xml(nothing)
    assert caught.value.kind is errors.NO_SIGNATURES


def test_xml_of_a_file_with_document_timestamps_only() -> None:
    """A /DocTimeStamp is a PDF signature too: with no other, each gets its SignatureValidationReport."""
    report = document_report(indication=Indication.TOTAL_PASSED)
    broken = dataclasses.replace(report.document_timestamps[0], intact=False, field_name="Stamp 2")
    report.document_timestamps.append(broken)
    xml = report_to_etsi_xml(report)
    check_etsi_structure(xml)
    root = _parse(xml)
    reports = root.findall("vr:SignatureValidationReport", namespaces=NS)
    assert [r.findtext("vr:SignatureIdentifier/vr:DAIdentifier", namespaces=NS) for r in reports] == [
        "Pakat Archive Timestamp 1", "Stamp 2"]
    statuses = [r.findtext("vr:SignatureValidationStatus/vr:MainIndication", namespaces=NS) for r in reports]
    assert statuses == [MAIN_INDICATION[Indication.TOTAL_PASSED], MAIN_INDICATION[Indication.TOTAL_FAILED]]


# -- the XML with the signed file at hand ------------------------------------------------


@pytest.fixture(scope="module")
def signed_pdf() -> tuple[bytes, x509.Certificate]:
    return sign_with_throwaway_key()


def test_xml_reads_signature_material_from_the_pdf(signed_pdf: tuple[bytes, x509.Certificate],
                                                   tmp_path: Path) -> None:
    data, cert = signed_pdf
    der = cert.public_bytes(serialization.Encoding.DER)
    info = CertificateInfo(
        subject="CN=Pakat report test signer", common_name="Pakat report test signer",
        issuer="CN=Throw-away Root CA", serial_number=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        sha256=hashlib.sha256(der).hexdigest(), key="ECDSA-P256",
    )
    sig = passed_signature(level="B-B", field_name="Bidder", signer_cert=info)
    sig.chain = ChainReport(True, info.subject, info.sha256, [info], None)
    sig.timestamps = []
    report = document_report(sig)
    report.document_timestamps = []

    path = tmp_path / "signed.pdf"
    path.write_bytes(data)
    xml = report_to_etsi_xml(report, path)
    assert report_to_etsi_xml(report, data) == xml  # bytes or path: the same report
    check_etsi_structure(xml)

    embedded = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    signer_info = embedded.signer_info
    root = _parse(xml)
    ident = root.find("vr:SignatureValidationReport/vr:SignatureIdentifier", namespaces=NS)
    assert ident.findtext("ds:SignatureValue", namespaces=NS) == _b64(signer_info["signature"].native)
    dtbsr = hashlib.sha256(signer_info["signed_attrs"].untag().dump()).digest()
    assert ident.findtext("vr:DigestAlgAndValue/ds:DigestValue", namespaces=NS) == _b64(dtbsr)
    assert ident.find("vr:DigestAlgAndValue/ds:DigestMethod", namespaces=NS).get("Algorithm") \
        == "http://www.w3.org/2001/04/xmlenc#sha256"
    a, b, c, d = (int(x) for x in embedded.byte_range)
    signed_bytes = hashlib.sha256(data[a:a + b] + data[c:c + d]).digest()
    assert root.findtext("vr:SignatureValidationReport/vr:SignersDocument/vr:DigestAlgAndValue/ds:DigestValue",
                         namespaces=NS) == _b64(signed_bytes)
    attrs = root.find("vr:SignatureValidationReport/vr:SignatureAttributes", namespaces=NS)
    assert attrs.findtext("vr:MessageDigest/vr:Digest", namespaces=NS) == _b64(signed_bytes)
    assert attrs.findtext("vr:Reason/vr:ReasonElement", namespaces=NS) == "پیشنهاد قیمت"
    assert attrs.findtext("vr:SignatureProductionPlace/vr:AddressString", namespaces=NS) == "تهران"
    assert attrs.findtext("vr:Filter/vr:Filter", namespaces=NS) == "Adobe.PPKLite"
    obj = root.find("vr:SignatureValidationObjects/vr:ValidationObject", namespaces=NS)
    assert obj.get("id") == f"vo-certificate-{info.sha256}"
    assert obj.findtext("vr:ValidationObjectRepresentation/vr:base64", namespaces=NS) == _b64(der)


def test_xml_survives_a_file_it_cannot_read(tmp_path: Path) -> None:
    """The verdict is already reached; an unreadable file only makes the XML poorer."""
    report = document_report(passed_signature())
    assert report_to_etsi_xml(report, b"%PDF-1.7 garbage") == report_to_etsi_xml(report)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


# -- what hostile files put in the model ----------------------------------------------------------


def test_unreadable_certificate_fields_still_match_the_schema(validator: jsonschema.Draft202012Validator) -> None:
    """validation.identity marks what it cannot read; the report stays valid, every field present."""
    from validation.identity import UNREADABLE, UNREADABLE_TIME

    odd = dataclasses.replace(SIGNER_CERT, subject=f"CN=x,{UNREADABLE},O=#0c02c328", issuer=UNREADABLE,
                              serial_number=UNREADABLE, not_before=UNREADABLE_TIME, not_after=UNREADABLE_TIME,
                              key=UNREADABLE, common_name=None)
    negative = dataclasses.replace(SIGNER_CERT, serial_number="-1092")
    for cert in (odd, negative):
        data = report_to_dict(document_report(passed_signature(signer_cert=cert)))
        validator.validate(data)
    data = report_to_dict(document_report(passed_signature(signer_cert=odd)))
    assert data["signatures"][0]["signer"]["certificate"]["not_after"] == "0001-01-01T00:00:00Z"
    bad = report_to_dict(document_report(passed_signature(signer_cert=dataclasses.replace(
        SIGNER_CERT, serial_number="unreadable"))))
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad)


def test_year_zero_times_and_lone_surrogates_serialise(validator: jsonschema.Draft202012Validator) -> None:
    """asn1crypto gives year 0 as ``extended_datetime``; a PDF string may decode to a lone surrogate."""
    from asn1crypto.util import extended_datetime

    report = document_report(passed_signature())
    sig = report.signatures[0]
    year_zero = extended_datetime(0, 1, 2, 3, 4, 5, tzinfo=UTC)
    sig.timestamps = [dataclasses.replace(sig.timestamps[0], time=year_zero)]  # type: ignore[arg-type]
    sig.revocation = dataclasses.replace(sig.revocation, revoked_at=year_zero)  # type: ignore[arg-type]
    sig.field_name = "Seal \udcff"
    data = report_to_dict(report)
    validator.validate(data)
    assert data["signatures"][0]["timestamps"][0]["time"] == "0001-01-01T00:00:00Z"  # "could not be read"
    assert data["signatures"][0]["field_name"] == "Seal \ufffd"
    report_to_json(report).encode("utf-8")  # what the web answer does with it
    from validation.reports.html import render_html

    for lang in ("fa", "en"):
        render_html(report, lang)  # type: ignore[arg-type]
    report_to_etsi_xml(report)


def test_attribute_types_in_the_json_are_those_the_certificate_reader_named() -> None:
    """The JSON carries the DN as validation.identity writes it: RFC 4514, types by name."""
    from asn1crypto import x509 as asn1

    name = asn1.Name.build({"common_name": "Pakat Demo Co. [Stamp]", "serial_number": "14000123453",
                            "organization_identifier": "NTRIR-14000123453", "given_name": "Ali",
                            "surname": "Rezaei", "title": "Chief Procurement Officer", "pseudonym": "bidder-7",
                            "email_address": "seal@example.ir", "organization_name": "شرکت نمونه پاکت",
                            "country_name": "IR"})
    from validation.identity import name_text

    text = name_text(name)
    for named in ("serialNumber=14000123453", "organizationIdentifier=NTRIR-14000123453", "givenName=Ali",
                  "surname=Rezaei", "title=Chief Procurement Officer", "pseudonym=bidder-7",
                  "emailAddress=seal@example.ir", "O=شرکت نمونه پاکت", "CN=Pakat Demo Co. [Stamp]", "C=IR"):
        assert named in text, (named, text)
    assert "2.5.4" not in text and "1.2.840" not in text
