"""Certificates a strict DER parser refuses are read for display and judged strictly, never a crash.

``cryptography`` refuses (or warns about, on its way to refusing) certificates
that real CAs issue: a CertificatePolicies UserNotice whose VisibleString holds
UTF-8, DN values of the wrong length, negative serial numbers. asn1crypto, the
path validator's parser, cannot prepare some names for comparison (a Persian
CN ending in a Latin ``[Stamp]``, a value that is not valid UTF-8). Here each
oddity is built with asn1crypto into a small PKI of our own (and two real ones
come from the conformance corpus): identity and reports read every field they
can and mark the others, chains are built through the odd names, and a
certificate whose extensions cannot be read, or repeat, is never trusted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import itertools
import json
import warnings
from collections.abc import Sequence

import pytest
from asn1crypto import core, pem
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pakat_testkit import CONFORMANCE_CORPUS, pdf_bytes
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from pakat.errors import PakatError
from validation.config import ClassificationRule, RevocationMode, ValidationConfig
from validation.engine import Validator
from validation.identity import (
    UNREADABLE,
    UNREADABLE_TIME,
    certificate_info,
    classify,
    name_text,
    signer_identity,
    to_cryptography,
)
from validation.model import DocumentReport, Indication, SignerKind
from validation.reports.html import render_html
from validation.reports.json_report import report_schema, report_to_dict, report_to_json
from validation.reports.pdf import render_pdf
from validation.reports.text import report_to_text
from validation.trust import (
    ChainJudge,
    ChainOutcome,
    Evidence,
    extensions_problem,
    harden_names,
    load_certificates,
)

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
POLICY_OID = "1.3.6.1.4.1.99999.1.2"  # a private arc: the seal policy of our little PKI
SEAL_RULE = ClassificationRule(kind=SignerKind.ORGANISATION_SEAL, policy_oid=POLICY_OID, assurance_level="gold")
MIXED_CN = "شرکت نمونه پاکت [Stamp]"  # asn1crypto's RFC 4518 preparation rejects its bidi mix
BAD_UTF8 = b"\xc3\x28"
_SERIALS = itertools.count(10_000)  # issuer and serial name a certificate: each of ours has its own


# -- a small PKI of odd certificates ----------------------------------------------------------------

@dataclasses.dataclass
class Issued:
    cert: asn1_x509.Certificate
    key: rsa.RSAPrivateKey


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _spki(key: rsa.RSAPrivateKey) -> asn1_keys.PublicKeyInfo:
    return asn1_keys.PublicKeyInfo.load(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _ext(name: str, value: object, critical: bool = False) -> asn1_x509.Extension:
    return asn1_x509.Extension({"extn_id": name, "critical": critical, "extn_value": value})


def _key_id(key: rsa.RSAPrivateKey) -> bytes:
    return _spki(key).sha1


def utf8_attribute(oid: str, raw: bytes) -> asn1_x509.NameTypeAndValue:
    """A name attribute whose UTF8String holds ``raw`` as it is (valid UTF-8 or not)."""
    placeholder = b"x" * len(raw)
    ntv = asn1_x509.NameTypeAndValue(
        {"type": oid, "value": asn1_x509.DirectoryString(name="utf8_string", value=placeholder.decode())})
    header = b"\x0c" + bytes([len(raw)])
    return asn1_x509.NameTypeAndValue.load(ntv.dump().replace(header + placeholder, header + raw))


def name_of(*attributes: asn1_x509.NameTypeAndValue) -> asn1_x509.Name:
    """A Name with one attribute per RDN, most general first (as DER orders them)."""
    rdns = asn1_x509.RDNSequence([asn1_x509.RelativeDistinguishedName([a]) for a in attributes])
    return asn1_x509.Name(name="", value=rdns)


def attr(oid: str, value: str, kind: str = "utf8_string") -> asn1_x509.NameTypeAndValue:
    if oid in ("country_name", "serial_number"):
        kind = "printable_string"
    return asn1_x509.NameTypeAndValue({"type": oid, "value": asn1_x509.DirectoryString(name=kind, value=value)})


def issue(
    subject: asn1_x509.Name,
    issuer: Issued | None,
    *,
    serial: int | None = None,
    ca: bool = False,
    extensions: Sequence[asn1_x509.Extension] = (),
    key: rsa.RSAPrivateKey | None = None,
    patch: tuple[bytes, bytes] | None = None,
) -> Issued:
    """A certificate signed by ``issuer`` (self-signed when None); ``patch`` rewrites TBS bytes before signing."""
    key = key or _key()
    serial = next(_SERIALS) if serial is None else serial
    signer_key = issuer.key if issuer is not None else key
    issuer_name = issuer.cert.subject if issuer is not None else subject
    exts = [
        _ext("key_identifier", _key_id(key)),
        *([_ext("authority_key_identifier", {"key_identifier": _key_id(signer_key)})] if issuer else []),
    ]
    if ca:
        exts += [_ext("basic_constraints", {"ca": True}, critical=True),
                 _ext("key_usage", {"key_cert_sign", "crl_sign"}, critical=True)]
    else:
        exts += [_ext("key_usage", {"digital_signature", "non_repudiation"}, critical=True)]
    exts += list(extensions)
    tbs = asn1_x509.TbsCertificate({
        "version": "v3",
        "serial_number": serial,
        "signature": {"algorithm": "sha256_rsa"},
        "issuer": issuer_name,
        "validity": {
            "not_before": asn1_x509.Time({"utc_time": NOW - dt.timedelta(days=30)}),
            "not_after": asn1_x509.Time({"utc_time": NOW + dt.timedelta(days=365)}),
        },
        "subject": subject,
        "subject_public_key_info": _spki(key),
        "extensions": exts,
    })
    der = tbs.dump()
    if patch is not None:
        assert der.count(patch[0]) == 1, "the patch must hit exactly one place"
        der = der.replace(*patch)
    signature = signer_key.sign(der, padding.PKCS1v15(), hashes.SHA256())
    cert = asn1_x509.Certificate({
        "tbs_certificate": asn1_x509.TbsCertificate.load(der),
        "signature_algorithm": {"algorithm": "sha256_rsa"},
        "signature_value": signature,
    })
    return Issued(asn1_x509.Certificate.load(cert.dump()), key)  # reloaded: as a parser meets it


def policies(oid: str = POLICY_OID, notice: bytes | None = None) -> asn1_x509.Extension:
    """Certificate policies with ``oid``; ``notice`` becomes a UserNotice explicitText VisibleString as given."""
    info: dict[str, object] = {"policy_identifier": oid}
    if notice is not None:
        info["policy_qualifiers"] = [{
            "policy_qualifier_id": "user_notice",
            "qualifier": {"explicit_text": asn1_x509.DisplayText(name="visible_string", value="N" * len(notice))},
        }]
    ext = _ext("certificate_policies", [info])
    if notice is not None:  # VisibleString must be ASCII; write the bytes in after asn1crypto encoded it
        der = ext.dump().replace(b"\x1a" + bytes([len(notice)]) + b"N" * len(notice),
                                 b"\x1a" + bytes([len(notice)]) + notice)
        ext = asn1_x509.Extension.load(der)
    return ext


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    """A root; a CA, and leaves with each oddity under it; a CA whose own name asn1crypto cannot prepare."""
    root = issue(name_of(attr("country_name", "IR"), attr("common_name", "Pakat Odd Root")), None, ca=True)
    ca = issue(name_of(attr("country_name", "IR"), attr("organization_name", "Pakat"),
                       attr("common_name", "Pakat Odd CA")), root, ca=True)
    odd_ca = issue(name_of(
        attr("country_name", "IR"),
        utf8_attribute("organization_name", BAD_UTF8),
        attr("common_name", "مرکز صدور گواهی Odd CA"),
    ), root, ca=True)
    seal = name_of(attr("country_name", "IR"), attr("organization_name", "شرکت نمونه پاکت"),
                   attr("serial_number", "14000123453"), attr("common_name", MIXED_CN))
    found = {"root": root, "ca": ca, "odd-ca": odd_ca}
    found["mixed"] = issue(seal, ca, serial=4242, extensions=[policies()])
    found["via-odd-ca"] = issue(seal, odd_ca, extensions=[policies()])
    found["notice"] = issue(seal, ca, extensions=[policies(notice="Prüfung ".encode("latin-1") + "شرکت".encode())])
    found["negative"] = issue(seal, ca, serial=-4242, extensions=[policies()])
    found["undecodable"] = issue(
        name_of(attr("country_name", "IR"), utf8_attribute("organization_name", BAD_UTF8),
                attr("common_name", "Bad Bytes Co.")), ca, extensions=[policies()])
    found["duplicated"] = issue(seal, ca, extensions=[
        policies(),
        _ext("extended_key_usage", ["email_protection"]),
        _ext("extended_key_usage", ["time_stamping"]),
    ])
    found["duplicated-policies"] = issue(seal, ca, extensions=[policies(), policies()])
    # A length error deep inside the policies extension: the PolicyInformation's inner SEQUENCE claims
    # one byte more than it holds (re-signed, so only the extension is broken, not the signature).
    healthy = policies().dump()
    oid = core.ObjectIdentifier(POLICY_OID).dump()
    inner = healthy[healthy.index(oid) - 2:healthy.index(oid)]
    assert inner[0] == 0x30
    found["deep-length"] = issue(seal, ca, extensions=[policies()],
                                 patch=(inner + oid, bytes([0x30, inner[1] + 1]) + oid))
    return found


def judge_of(root: Issued, *intermediates: Issued) -> ChainJudge:
    config = ValidationConfig(trust_roots=[root.cert], intermediates=[i.cert for i in intermediates])
    return ChainJudge(config)


def judged(pki: dict[str, Issued], name: str, evidence: Sequence[asn1_x509.Certificate] = ()) -> ChainOutcome:
    judge = judge_of(pki["root"])
    cas = (pki["ca"].cert, pki["odd-ca"].cert)
    return judge.judge(pki[name].cert, Evidence((*cas, *evidence)), NOW, mode=RevocationMode.SKIP)


# -- what cryptography does with them (the reason for all this) -----------------------------------

def test_cryptography_refuses_or_warns_about_each_oddity(pki: dict[str, Issued]) -> None:
    with pytest.raises(ValueError):
        to_cryptography(pki["notice"].cert).extensions  # noqa: B018
    with pytest.raises(Exception, match="Duplicate"):
        to_cryptography(pki["duplicated"].cert).extensions  # noqa: B018
    with pytest.raises(ValueError):
        to_cryptography(pki["deep-length"].cert).extensions  # noqa: B018
    with pytest.raises(ValueError):
        to_cryptography(pki["undecodable"].cert).subject.rfc4514_string()
    with warnings.catch_warnings(), pytest.raises((ValueError, Warning)):
        warnings.simplefilter("error")
        to_cryptography(pki["negative"].cert).serial_number  # noqa: B018
    fresh = asn1_x509.Certificate.load(pki["mixed"].cert.dump())  # as the path builder first meets it
    with pytest.raises(ValueError, match="bidirectional"):
        fresh.subject.hashable  # noqa: B018 - asn1crypto's own comparison gives up


# -- identity: every field read, or marked -----------------------------------------------------------

def test_identity_of_a_seal_whose_cn_mixes_persian_and_latin(pki: dict[str, Issued]) -> None:
    identity = signer_identity(pki["mixed"].cert, pki["ca"].cert, [SEAL_RULE])
    assert identity.name == MIXED_CN and identity.national_id == "14000123453"
    assert identity.organisation == "شرکت نمونه پاکت"
    assert identity.kind is SignerKind.ORGANISATION_SEAL and identity.assurance_level == "gold"
    info = identity.certificate
    assert info.subject == f"CN={MIXED_CN},serialNumber=14000123453,O=شرکت نمونه پاکت,C=IR"
    assert info.issuer == "CN=Pakat Odd CA,O=Pakat,C=IR"
    assert info.serial_number == format(4242, "x") and info.key == "RSA-2048"
    odd = certificate_info(pki["via-odd-ca"].cert)
    assert odd.issuer == "CN=مرکز صدور گواهی Odd CA,O=#0c02c328,C=IR"  # RFC 4514's hex form for the bad bytes


def test_identity_where_cryptography_refuses_the_user_notice(pki: dict[str, Issued]) -> None:
    identity = signer_identity(pki["notice"].cert, pki["ca"].cert, [SEAL_RULE])
    # The policy OID is readable; only the notice's text is not what its type says.
    assert identity.kind is SignerKind.ORGANISATION_SEAL
    assert identity.certificate.common_name == MIXED_CN


def test_identity_with_a_negative_serial_and_undecodable_values(pki: dict[str, Issued]) -> None:
    assert certificate_info(pki["negative"].cert).serial_number == "-1092"
    identity = signer_identity(pki["undecodable"].cert, pki["ca"].cert, [SEAL_RULE])
    assert identity.name == "Bad Bytes Co." and identity.organisation is None  # not text: no organisation
    assert identity.certificate.subject == "CN=Bad Bytes Co.,O=#0c02c328,C=IR"


def test_unreadable_or_repeated_policies_state_no_policy(pki: dict[str, Issued]) -> None:
    for name in ("duplicated-policies", "deep-length"):
        assert classify(pki[name].cert, None, [SEAL_RULE]) is None, name
        identity = signer_identity(pki[name].cert, pki["ca"].cert, [SEAL_RULE])
        assert identity.kind is SignerKind.UNKNOWN and identity.name == MIXED_CN
    # Classification also takes cryptography's certificates (the envelope rules use them).
    assert classify(to_cryptography(pki["mixed"].cert), None, [SEAL_RULE]) is SEAL_RULE


def test_a_broken_name_or_validity_is_marked_not_fatal(pki: dict[str, Issued]) -> None:
    der = pki["mixed"].cert.dump()
    # The subject's first RDN SET claims a type tag that is not an OID: the name cannot be parsed.
    subject = pki["mixed"].cert.subject.dump()
    broken_subject = subject[:subject.index(b"\x06\x03\x55\x04\x06")] + b"\x05" + subject[
        subject.index(b"\x06\x03\x55\x04\x06") + 1:]
    broken = asn1_x509.Certificate.load(der.replace(subject, broken_subject))
    info = certificate_info(broken)
    assert info.subject == f"CN={MIXED_CN},serialNumber=14000123453,O=شرکت نمونه پاکت,{UNREADABLE}"
    assert info.common_name == MIXED_CN
    assert info.issuer == "CN=Pakat Odd CA,O=Pakat,C=IR" and info.serial_number == "1092"
    utc = pki["mixed"].cert["tbs_certificate"]["validity"]["not_after"].chosen.dump()
    broken_time = asn1_x509.Certificate.load(der.replace(utc, utc[:2] + b"999999999999Z"))
    assert certificate_info(broken_time).not_after == UNREADABLE_TIME
    assert name_text(asn1_x509.Name.load(b"\x30\x03\x31\x01\x05")) == UNREADABLE


# -- chains: lenient names, strict extensions ----------------------------------------------------------

def test_chains_through_names_asn1crypto_cannot_prepare(pki: dict[str, Issued]) -> None:
    """The leaf's CN is Persian ending in [Stamp]; the odd CA's name holds bad UTF-8 and a Persian+Latin CN."""
    outcome = judged(pki, "mixed")
    assert outcome.trusted, outcome.message
    assert [certificate_info(c).common_name for c in outcome.path] == [MIXED_CN, "Pakat Odd CA", "Pakat Odd Root"]
    outcome = judged(pki, "via-odd-ca")
    assert outcome.trusted, outcome.message
    assert [certificate_info(c).common_name for c in outcome.path] == [
        MIXED_CN, "مرکز صدور گواهی Odd CA", "Pakat Odd Root"]


def test_strict_parser_refusals_keep_todays_verdict(pki: dict[str, Issued]) -> None:
    """What asn1crypto reads whole (a UTF-8 notice, a negative serial) is judged as before: here, trusted."""
    for name in ("notice", "negative", "undecodable"):
        outcome = judged(pki, name)
        assert outcome.trusted, (name, outcome.message)


@pytest.mark.parametrize(("name", "why"), [
    ("duplicated", "more than once"),
    ("duplicated-policies", "more than once"),
    ("deep-length", "cannot be read"),
])
def test_unreadable_or_repeated_extensions_are_never_trusted(pki: dict[str, Issued], name: str, why: str) -> None:
    assert extensions_problem(pki[name].cert) is not None
    outcome = judged(pki, name)
    assert not outcome.trusted and outcome.failure == "general"
    assert why in (outcome.message or "") or "could not be read" in (outcome.message or ""), outcome.message
    assert outcome.path and outcome.path[0].dump() == pki[name].cert.dump()


def test_broken_certificates_in_the_evidence_are_left_out(pki: dict[str, Issued]) -> None:
    subject = pki["ca"].cert.subject.dump()
    at = subject.index(b"\x06\x03\x55\x04\x06")
    broken = asn1_x509.Certificate.load(
        pki["ca"].cert.dump().replace(subject, subject[:at] + b"\x05" + subject[at + 1:]))
    outcome = judged(pki, "mixed", evidence=[broken])
    assert outcome.trusted, outcome.message
    alone = judge_of(pki["root"]).judge(broken, Evidence(), NOW, mode=RevocationMode.SKIP)
    assert not alone.trusted and alone.failure == "general"


def test_anchors_cryptography_refuses_load_for_trust(pki: dict[str, Issued]) -> None:
    """``pakat validate --trust`` material (PEM blocks or DER): asn1crypto loads what cryptography refuses."""
    data = b"".join(pem.armor("CERTIFICATE", pki[n].cert.dump()) for n in ("root", "notice", "negative"))
    loaded = load_certificates(data)
    assert [c.dump() for c in loaded] == [pki[n].cert.dump() for n in ("root", "notice", "negative")]
    assert load_certificates(pki["negative"].cert.dump())[0].serial_number == -4242
    with pytest.raises(ValueError):
        load_certificates(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    # A root whose outer length is BER, not DER (cryptography: InvalidLength) still loads and anchors.
    der = pki["root"].cert.dump()
    assert der[1] == 0x82
    ber = b"\x30\x83\x00" + der[2:]
    with pytest.raises(ValueError):
        to_cryptography(asn1_x509.Certificate.load(ber))
    (root,) = load_certificates(ber)
    judge = ChainJudge(ValidationConfig(trust_roots=[root]))
    assert judge.judge(pki["mixed"].cert, Evidence((pki["ca"].cert,)), NOW, mode=RevocationMode.SKIP).trusted
    # As an extra anchor, a certificate cryptography objects to anchors what it issued.
    judge = ChainJudge(ValidationConfig(trust_roots=[pki["root"].cert, pki["ca"].cert]))
    assert judge.judge(pki["negative"].cert, Evidence(), NOW, mode=RevocationMode.SKIP).trusted


# -- whole documents: signed with the odd certificates, validated, every report rendered ---------------

def sign(leaf: Issued, chain: Sequence[Issued]) -> bytes:
    for member in (leaf, *chain):
        harden_names(member.cert)  # pyHanko's certificate store compares names as the path builder does
    key = asn1_keys.PrivateKeyInfo.load(leaf.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    signer = signers.SimpleSigner(signing_cert=leaf.cert, signing_key=key,
                                  cert_registry=SimpleCertificateStore.from_certs([c.cert for c in chain]))
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf_bytes("odd certificates"))),
                           signers.PdfSignatureMetadata(field_name="Bidder", name="Bidder"), signer=signer)
    return out.getvalue()


def render_everything(report: DocumentReport) -> dict[str, object]:
    import jsonschema

    as_dict = report_to_dict(report)
    jsonschema.validate(as_dict, report_schema(), cls=jsonschema.Draft202012Validator)
    json.loads(report_to_json(report))
    report_to_text(report)
    for lang in ("fa", "en"):
        render_html(report, lang)
        assert render_pdf(report, lang).startswith(b"%PDF-")
    return as_dict


@pytest.fixture(scope="module")
def validator(pki: dict[str, Issued]) -> Validator:
    config = ValidationConfig(trust_roots=[pki["root"].cert], classification=[SEAL_RULE])
    return Validator(config)


@pytest.mark.parametrize("name", ["mixed", "notice", "negative", "undecodable", "duplicated", "deep-length",
                                  "via-odd-ca"])
def test_documents_signed_with_odd_certificates(validator: Validator, pki: dict[str, Issued], name: str) -> None:
    """Each document is judged, never a crash, and every report renders; the chain verdict is strict."""
    issuer = pki["odd-ca"] if name == "via-odd-ca" else pki["ca"]
    data = sign(pki[name], [issuer, pki["root"]])
    report = validator.validate(data, revocation=RevocationMode.SKIP, at=NOW)
    render_everything(report)
    sig = report.signatures[0]
    if name == "via-odd-ca":
        # The CMS signing-certificate check (validation.signatures) compares the ESS issuer name with
        # asn1crypto, which cannot prepare this CA's name, and finds no signer: not this module's verdict.
        return
    assert sig.integrity.digest_ok and sig.integrity.signature_ok
    assert sig.signer is not None and sig.signer.certificate.sha256 == pki[name].cert.sha256.hex()
    assert sig.signer.certificate.issuer == "CN=Pakat Odd CA,O=Pakat,C=IR"
    assert sig.chain is not None
    if name in ("duplicated", "deep-length"):
        assert not sig.chain.trusted and sig.chain.problem
        assert sig.indication is not Indication.TOTAL_PASSED
    else:
        assert sig.chain.trusted, sig.chain.problem


@pytest.mark.parametrize("file", ["dss/pkcs7_sha1.pdf", "dss/self-issued-qesig.pdf"])
def test_real_certificates_cryptography_refuses(file: str) -> None:
    """pkcs7_sha1: a UserNotice in VisibleString with UTF-8; self-issued-qesig: a ten-letter country."""
    path = CONFORMANCE_CORPUS / "files" / file
    plain = Validator(ValidationConfig(trust_roots=[])).validate(path)
    render_everything(plain)
    # With every certificate of the file trusted, as `pakat validate --trust` would.
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

    with path.open("rb") as fh:
        reader = PdfFileReader(fh, strict=False)
        anchors = [c.chosen for _, _, f in enumerate_sig_fields(reader, filled_status=True)
                   for c in EmbeddedPdfSignature(reader, f, "x").signed_data["certificates"]]
    try:
        trusting = Validator(ValidationConfig(trust_roots=anchors)).validate(path, revocation=RevocationMode.SKIP)
    except PakatError as exc:  # pragma: no cover - the test says which
        pytest.fail(f"{exc.code}: {exc.detail}")
    render_everything(trusting)
    names = [s.signer.name for s in trusting.signatures if s.signer is not None]
    assert names, "the signers are identified"
