"""The cryptographic check of CMS signatures (validation/signatures.py) and the signer certificate's purpose.

Signatures are made here with ``cryptography`` for every algorithm the module
supports and wrapped in CMS with asn1crypto, then broken on purpose; the real
files of the conformance corpus check the verdicts against what EU DSS and
pyHanko assert. No network, no PKI fixtures.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from pakat import errors
from pakat.errors import CertificateRefused
from signer.chain import ChainError
from signer.external import ExpectedSigner, check_signer_certificate
from signer.purposes import signing_purpose_refusal
from validation.model import Indication, SubIndication
from validation.signatures import (
    DIGEST_NAMES,
    CmsCheck,
    check_cms,
    check_signer_info,
    digest,
    embedded_certificates,
)

DOCUMENT = b"%PDF-1.7 the signed bytes of a bid envelope"
OTHER_DOCUMENT = b"%PDF-1.7 the same envelope, changed after signing"
CORPUS = Path(__file__).resolve().parents[1] / "conformance"

DIGEST_OID = {
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
    "sha3_256": "2.16.840.1.101.3.4.2.8",
    "sha3_384": "2.16.840.1.101.3.4.2.9",
    "shake256": "2.16.840.1.101.3.4.2.12",
    "shake256_len": "2.16.840.1.101.3.4.2.18",
}
HASH = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
}
RSA_OID = {
    "sha1": "1.2.840.113549.1.1.5",
    "sha256": "1.2.840.113549.1.1.11",
    "sha384": "1.2.840.113549.1.1.12",
    "sha512": "1.2.840.113549.1.1.13",
    "sha3_256": "2.16.840.1.101.3.4.3.14",
}
ECDSA_OID = {
    "sha256": "1.2.840.10045.4.3.2",
    "sha384": "1.2.840.10045.4.3.3",
    "sha512": "1.2.840.10045.4.3.4",
    "sha3_256": "2.16.840.1.101.3.4.3.10",
}
PLAIN_OID = {
    "sha256": "0.4.0.127.0.7.1.1.4.1.3",
    "sha384": "0.4.0.127.0.7.1.1.4.1.4",
    "sha512": "0.4.0.127.0.7.1.1.4.1.5",
    "sha3_256": "0.4.0.127.0.7.1.1.4.1.9",
}
PSS_OID = "1.2.840.113549.1.1.10"
ED25519_OID, ED448_OID = "1.3.101.112", "1.3.101.113"
DSA_SHA256_OID = "2.16.840.1.101.3.4.3.2"
CURVES = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}


# -- keys and certificates -------------------------------------------------------------------


_SERIALS = itertools.count(1001)


@cache
def ca_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@cache
def private_key(kind: str) -> Any:
    if kind.startswith("rsa"):
        return rsa.generate_private_key(65537, 2048)
    if kind in CURVES:
        return ec.generate_private_key(CURVES[kind]())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "ed448":
        return ed448.Ed448PrivateKey.generate()
    if kind == "dsa":
        return dsa.generate_private_key(2048)
    raise AssertionError(kind)


def make_cert(
    key: Any,
    *,
    cn: str = "Signer",
    serial: int | None = None,
    ski: bool = True,
    eku: Sequence[ObjectIdentifier] | None = None,
    key_usage: bool = True,
    issuer_key: Any = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else next(_SERIALS))
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if ski:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    if key_usage:
        builder = builder.add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(issuer_key or ca_key(), hashes.SHA256())


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# -- CMS construction ------------------------------------------------------------------------


def attribute(kind: str, *values: Any) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": kind, "values": list(values)})


def raw_attribute(oid: str, *ders: bytes) -> cms.CMSAttribute:
    """An attribute built from raw DER values, for what asn1crypto would refuse to build."""
    return cms.CMSAttribute.load(_RawAttribute({"type": oid, "values": [core.Any.load(d) for d in ders]}).dump())


class _AnySet(core.SetOf):
    _child_spec = core.Any


class _RawAttribute(core.Sequence):
    _fields = [("type", core.ObjectIdentifier), ("values", _AnySet)]  # noqa: RUF012


@dataclass
class Signer:
    """One SignerInfo to build: the key, its certificate and how to sign."""

    kind: str
    digest: str
    sig_oid: str
    sign: Callable[[Any, bytes], bytes]
    sig_params: Any = None
    digest_params: Any = None
    cert: x509.Certificate | None = None
    sid: str = "issuer_serial"
    ski: bytes | None = None  # the subjectKeyIdentifier to name the signer by, with sid="ski"
    signed_attrs: bool = True
    content_type: str = "data"
    message_digest: bytes | None = None
    extra_attrs: list[Any] = field(default_factory=list)
    attrs_override: list[Any] | None = None
    tamper_signature: bool = False

    @property
    def key(self) -> Any:
        return private_key(self.kind)

    def certificate(self) -> x509.Certificate:
        if self.cert is None:
            self.cert = make_cert(self.key, cn=f"{self.kind} signer")
        return self.cert


def doc_digest(name: str, data: bytes = DOCUMENT) -> bytes:
    return digest("shake256" if name == "shake256_len" else name, data)


def signer_info(s: Signer, content: bytes = DOCUMENT) -> cms.SignerInfo:
    cert = to_asn1(s.certificate())
    if s.sid == "issuer_serial":
        sid = cms.SignerIdentifier(
            {"issuer_and_serial_number": {"issuer": cert.issuer, "serial_number": cert.serial_number}}
        )
    else:
        sid = cms.SignerIdentifier({"subject_key_identifier": s.ski})
    digest_alg: dict[str, Any] = {"algorithm": DIGEST_OID[s.digest]}
    if s.digest_params is not None:
        digest_alg["parameters"] = core.Integer(s.digest_params)
    sig_alg: dict[str, Any] = {"algorithm": s.sig_oid}
    if s.sig_params is not None:
        sig_alg["parameters"] = s.sig_params
    value: dict[str, Any] = {
        "version": "v1" if s.sid == "issuer_serial" else "v3",
        "sid": sid,
        "digest_algorithm": digest_alg,
        "signature_algorithm": sig_alg,
    }
    if s.signed_attrs:
        attrs = s.attrs_override
        if attrs is None:
            md = s.message_digest if s.message_digest is not None else doc_digest(s.digest, content)
            attrs = [attribute("content_type", s.content_type), attribute("message_digest", md), *s.extra_attrs]
        signed = cms.CMSAttributes(attrs)
        to_sign = signed.dump()
        value["signed_attrs"] = signed
    else:
        to_sign = content
    signature = s.sign(s.key, to_sign)
    if s.tamper_signature:
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    value["signature"] = signature
    return cms.SignerInfo(value)


def signed_data(
    signers: Sequence[Signer],
    *,
    include_certs: Sequence[int] | None = None,
    econtent: bytes | None = None,
    content_type: str = "data",
) -> cms.SignedData:
    infos = [signer_info(s) for s in signers]
    certs = [
        to_asn1(s.certificate()) for i, s in enumerate(signers) if include_certs is None or i in include_certs
    ]
    encap: dict[str, Any] = {"content_type": content_type}
    if econtent is not None:
        encap["content"] = econtent
    sd = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": DIGEST_OID[s.digest]} for s in signers],
            "encap_content_info": encap,
            "certificates": certs,
            "signer_infos": infos,
        }
    )
    # parse it back, as the validator would see it
    der = cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()
    return cms.ContentInfo.load(der)["content"]


def reparse(sd: cms.SignedData) -> cms.SignedData:
    """``sd`` after an edit, encoded and read back."""
    return cms.ContentInfo.load(cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump())["content"]


def document_digest(data: bytes = DOCUMENT) -> Callable[[str], bytes]:
    return lambda name: digest(name, data)


def judge(*signers: Signer, data: bytes = DOCUMENT, **kw: Any) -> CmsCheck:
    return check_cms(signed_data(signers, **kw), digest_of=document_digest(data))


# -- signing functions -----------------------------------------------------------------------


def rsa_pkcs1(h: str) -> Callable[[Any, bytes], bytes]:
    return lambda key, data: key.sign(data, padding.PKCS1v15(), HASH[h]())


def rsa_pss(h: str, salt: int) -> Callable[[Any, bytes], bytes]:
    return lambda key, data: key.sign(data, padding.PSS(padding.MGF1(HASH[h]()), salt), HASH[h]())


def pss_params(h: str, salt: int, trailer: int = 1) -> algos.RSASSAPSSParams:
    return algos.RSASSAPSSParams(
        {
            "hash_algorithm": {"algorithm": h},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": h}},
            "salt_length": salt,
            "trailer_field": trailer,
        }
    )


def ecdsa_der(h: str) -> Callable[[Any, bytes], bytes]:
    return lambda key, data: key.sign(data, ec.ECDSA(HASH[h]()))


def ecdsa_plain(h: str) -> Callable[[Any, bytes], bytes]:
    def sign(key: Any, data: bytes) -> bytes:
        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(HASH[h]())))
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return sign


def eddsa(key: Any, data: bytes) -> bytes:
    return bytes(key.sign(data))


def dsa_sign(key: Any, data: bytes) -> bytes:
    return bytes(key.sign(data, hashes.SHA256()))


def prehashed_pkcs1(h: str) -> Callable[[Any, bytes], bytes]:
    """PKCS#1 v1.5 over content without signed attributes: the signature covers the content's digest."""
    return lambda key, data: key.sign(data, padding.PKCS1v15(), HASH[h]())


# every algorithm a real signer uses, each as (id, Signer factory, expected name)
MATRIX: list[tuple[str, Callable[[], Signer], str]] = []
for _h in ("sha256", "sha384", "sha512", "sha3_256"):
    MATRIX.append(
        (f"rsa-pkcs1-{_h}", lambda h=_h: Signer("rsa", h, RSA_OID[h], rsa_pkcs1(h)), f"rsassa_pkcs1v15 with {_h}")
    )
    MATRIX.append(
        (
            f"rsa-pss-{_h}",
            lambda h=_h: Signer("rsa", h, PSS_OID, rsa_pss(h, 32), sig_params=pss_params(h, 32)),
            f"rsassa_pss with {_h}",
        )
    )
MATRIX.append(
    (
        "rsa-rsaEncryption-sha256",
        lambda: Signer("rsa", "sha256", "1.2.840.113549.1.1.1", rsa_pkcs1("sha256")),
        "rsassa_pkcs1v15 with sha256",
    )
)
for _curve, _h in [
    ("secp256r1", "sha256"),
    ("secp384r1", "sha384"),
    ("brainpoolP256r1", "sha256"),
    ("brainpoolP384r1", "sha384"),
    ("brainpoolP512r1", "sha512"),
    ("secp256r1", "sha3_256"),
]:
    MATRIX.append(
        (
            f"ecdsa-{_curve}-{_h}",
            lambda c=_curve, h=_h: Signer(c, h, ECDSA_OID[h], ecdsa_der(h)),
            f"ecdsa with {_h} ({_curve})",
        )
    )
    MATRIX.append(
        (
            f"ecdsa-plain-{_curve}-{_h}",
            lambda c=_curve, h=_h: Signer(c, h, PLAIN_OID[h], ecdsa_plain(h)),
            f"ecdsa-plain with {_h} ({_curve})",
        )
    )
MATRIX += [
    (
        "ecdsa-id-ecPublicKey",
        lambda: Signer("secp256r1", "sha256", "1.2.840.10045.2.1", ecdsa_der("sha256")),
        "ecdsa with sha256 (secp256r1)",
    ),
    ("ed25519", lambda: Signer("ed25519", "sha512", ED25519_OID, eddsa), "ed25519"),
    ("ed448-shake256", lambda: Signer("ed448", "shake256", ED448_OID, eddsa), "ed448"),
    ("ed448-shake256-len", lambda: Signer("ed448", "shake256_len", ED448_OID, eddsa, digest_params=512), "ed448"),
    ("dsa-sha256", lambda: Signer("dsa", "sha256", DSA_SHA256_OID, dsa_sign), "dsa with sha256"),
]


@pytest.mark.parametrize(("make", "name"), [(m, n) for _, m, n in MATRIX], ids=[i for i, _, _ in MATRIX])
def test_every_algorithm_verifies(make: Callable[[], Signer], name: str) -> None:
    signer = make()
    result = judge(signer)
    assert result.passed, result
    assert (result.intact, result.valid, result.code) == (True, True, None)
    assert result.indication is None and result.severity == 0
    assert result.signature_algorithm == name
    assert result.signer_cert is not None
    assert result.signer_cert.dump() == signer.certificate().public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(("make", "name"), [(m, n) for _, m, n in MATRIX], ids=[i for i, _, _ in MATRIX])
def test_every_algorithm_notices_a_changed_document(make: Callable[[], Signer], name: str) -> None:
    result = judge(make(), data=OTHER_DOCUMENT)
    assert (result.intact, result.code) == (False, "DIGEST_MISMATCH")
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


@pytest.mark.parametrize(("make", "name"), [(m, n) for _, m, n in MATRIX], ids=[i for i, _, _ in MATRIX])
def test_every_algorithm_notices_a_forged_signature_value(make: Callable[[], Signer], name: str) -> None:
    signer = make()
    signer.tamper_signature = True
    result = judge(signer)
    assert (result.intact, result.valid, result.code) == (True, False, "SIGNATURE_INVALID")
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def test_a_signature_made_with_another_key_does_not_verify() -> None:
    signer = Signer("rsa", "sha256", RSA_OID["sha256"], rsa_pkcs1("sha256"))
    signer.cert = make_cert(rsa.generate_private_key(65537, 2048), cn="someone else")
    original = signer.sign
    signer.sign = lambda _key, data: original(private_key("rsa"), data)
    assert judge(signer).valid is False


def test_digest_names_are_what_the_engine_hashes() -> None:
    assert {"sha256", "sha3_256", "shake256"} <= DIGEST_NAMES
    assert all(len(digest(name, b"x")) >= 16 for name in DIGEST_NAMES)
    assert digest("shake256", [b"ab", b"c"]) == hashlib.shake_256(b"abc").digest(64)
    assert digest("sha3_256", b"abc") == hashlib.sha3_256(b"abc").digest()


# -- signed attributes -----------------------------------------------------------------------


def rsa_signer(**kw: Any) -> Signer:
    return Signer("rsa", "sha256", RSA_OID["sha256"], rsa_pkcs1("sha256"), **kw)


def test_content_type_must_be_the_expected_one() -> None:
    result = judge(rsa_signer(content_type="tst_info"))
    assert result.code == "SIGNED_ATTRIBUTES_INVALID" and "content-type" in (result.problem or "")
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


@pytest.mark.parametrize(
    "attrs",
    [
        pytest.param(lambda md: [attribute("content_type", "data")], id="no-message-digest"),
        pytest.param(lambda md: [attribute("message_digest", md)], id="no-content-type"),
        pytest.param(
            lambda md: [
                attribute("content_type", "data"),
                attribute("message_digest", md),
                attribute("message_digest", md),
            ],
            id="two-message-digests",
        ),
        pytest.param(
            lambda md: [attribute("content_type", "data"), attribute("message_digest", md, md)],
            id="two-message-digest-values",
        ),
    ],
)
def test_message_digest_and_content_type_appear_exactly_once(attrs: Callable[[bytes], list[Any]]) -> None:
    result = judge(rsa_signer(attrs_override=attrs(doc_digest("sha256"))))
    assert result.code == "SIGNED_ATTRIBUTES_INVALID", result
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


def test_algorithm_protection_must_agree() -> None:
    agreeing = attribute(
        "cms_algorithm_protection",
        {"digest_algorithm": {"algorithm": "sha256"}, "signature_algorithm": {"algorithm": "sha256_rsa"}},
    )
    assert judge(rsa_signer(extra_attrs=[agreeing])).passed
    disagreeing = attribute(
        "cms_algorithm_protection",
        {"digest_algorithm": {"algorithm": "sha256"}, "signature_algorithm": {"algorithm": "sha512_rsa"}},
    )
    result = judge(rsa_signer(extra_attrs=[disagreeing]))
    assert result.valid is True and result.code == "ALGORITHM_PROTECTION_MISMATCH"
    assert result.forbidden and "RFC 6211" in result.forbidden
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


def test_signing_certificate_attribute_must_name_the_signer() -> None:
    signer = rsa_signer()
    cert = signer.certificate().public_bytes(serialization.Encoding.DER)
    right = attribute("signing_certificate_v2", {"certs": [{"cert_hash": hashlib.sha256(cert).digest()}]})
    signer.extra_attrs = [right]
    assert judge(signer).passed
    wrong = attribute("signing_certificate_v2", {"certs": [{"cert_hash": hashlib.sha256(b"other").digest()}]})
    result = judge(rsa_signer(extra_attrs=[wrong]))
    assert (result.code, result.signer_cert, result.intact) == ("SIGNING_CERTIFICATE_MISMATCH", None, True)
    assert result.indication == (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    old_style = attribute("signing_certificate", {"certs": [{"cert_hash": hashlib.sha1(cert).digest()}]})
    signer.extra_attrs = [old_style]
    assert judge(signer).passed


def test_unreadable_signed_attributes_are_a_format_failure() -> None:
    broken = raw_attribute("1.2.840.113549.1.9.4", b"\x02\x01\x05")  # message-digest holding an INTEGER
    signer = rsa_signer(attrs_override=[attribute("content_type", "data"), broken])
    result = judge(signer)
    assert result.code == "CMS_UNREADABLE" and result.indication == (
        Indication.TOTAL_FAILED,
        SubIndication.FORMAT_FAILURE,
    )


# -- RFC 8419 and other forbidden combinations -----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "digest_name", "params"),
    [
        ("ed25519", "sha256", None),
        ("ed25519", "sha1", None),
        ("ed448", "sha512", None),
        ("ed448", "sha3_256", None),
        ("ed448", "shake256_len", 256),
    ],
)
def test_eddsa_with_a_disallowed_digest_is_forbidden(kind: str, digest_name: str, params: int | None) -> None:
    oid = ED25519_OID if kind == "ed25519" else ED448_OID
    result = judge(Signer(kind, digest_name, oid, eddsa, digest_params=params))
    assert result.forbidden and "RFC 8419" in result.forbidden
    assert result.code == "ALGORITHM_FORBIDDEN"
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)


def test_a_signature_algorithm_in_the_digest_field_is_forbidden() -> None:
    signer = rsa_signer()
    signer.digest = "sha256"
    sd = signed_data([signer])
    info = sd["signer_infos"][0]
    info["digest_algorithm"] = {"algorithm": "1.2.840.113549.1.1.11"}  # sha256WithRSAEncryption
    result = check_cms(reparse(sd), digest_of=document_digest())
    assert result.code == "ALGORITHM_FORBIDDEN" and "RFC 5652" in (result.forbidden or "")


def test_signature_hash_other_than_the_digest_algorithm() -> None:
    """Like DSS's PAdES-BpB-att-SHA256-SHA3_256withRSA: the value is checked with the hash its algorithm names."""
    claims_sha3 = Signer("rsa", "sha256", RSA_OID["sha3_256"], rsa_pkcs1("sha256"))
    result = judge(claims_sha3)
    assert (result.intact, result.valid, result.code) == (True, False, "SIGNATURE_INVALID")
    assert "differs" in (result.detail or "")
    # made consistently with the hash the algorithm names: valid, the digest attribute still uses SHA-256
    consistent = Signer("rsa", "sha256", RSA_OID["sha3_256"], rsa_pkcs1("sha3_256"))
    assert judge(consistent).passed


def test_rsassa_pss_parameters() -> None:
    no_params = Signer("rsa", "sha256", PSS_OID, rsa_pss("sha256", 32))
    assert judge(no_params).code == "ALGORITHM_FORBIDDEN"
    bad_trailer = Signer("rsa", "sha256", PSS_OID, rsa_pss("sha256", 32), sig_params=pss_params("sha256", 32, 2))
    assert "trailerField" in (judge(bad_trailer).forbidden or "")
    wrong_salt = Signer("rsa", "sha256", PSS_OID, rsa_pss("sha256", 20), sig_params=pss_params("sha256", 32))
    assert judge(wrong_salt).valid is False


# -- what cannot be computed here ------------------------------------------------------------


def test_unknown_signature_algorithm_is_unsupported_not_invalid() -> None:
    signer = rsa_signer()
    signer.sig_oid = "1.2.3.4.5.6.7"
    result = judge(signer)
    assert (result.intact, result.valid, result.code) == (True, None, "UNSUPPORTED_ALGORITHM")
    assert result.unsupported and result.forbidden is None and result.problem is None
    assert result.indication == (Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    assert result.signature_algorithm == "1.2.3.4.5.6.7 (unknown)"
    # a changed document is still a hash failure: the digest does not need the signature algorithm
    assert judge(signer, data=OTHER_DOCUMENT).indication == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def test_unknown_digest_algorithm_is_unsupported() -> None:
    sd = signed_data([rsa_signer()])
    sd["signer_infos"][0]["digest_algorithm"] = {"algorithm": "1.2.643.7.1.1.2.2"}  # GOST R 34.11-2012
    result = check_cms(reparse(sd), digest_of=document_digest())
    assert (result.intact, result.valid, result.code) == (None, None, "UNSUPPORTED_ALGORITHM")
    assert result.digest_algorithm == "1.2.643.7.1.1.2.2"


def test_eddsa_without_signed_attributes_is_unsupported() -> None:
    result = judge(Signer("ed25519", "sha512", ED25519_OID, eddsa, signed_attrs=False))
    assert result.unsupported and result.indication == (
        Indication.INDETERMINATE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
    )


# -- without signed attributes ---------------------------------------------------------------


def test_without_signed_attributes_the_signature_binds_the_digest() -> None:
    signer = Signer("rsa", "sha256", RSA_OID["sha256"], prehashed_pkcs1("sha256"), signed_attrs=False)
    assert judge(signer).passed
    changed = judge(signer, data=OTHER_DOCUMENT)
    # RSA lets us see the key signed another digest: the document changed, the signature is genuine
    assert (changed.intact, changed.valid) == (False, True)
    assert changed.indication == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    ecdsa_signer = Signer("secp256r1", "sha256", ECDSA_OID["sha256"], ecdsa_der("sha256"), signed_attrs=False)
    assert judge(ecdsa_signer).passed
    ecdsa_changed = judge(ecdsa_signer, data=OTHER_DOCUMENT)
    assert (ecdsa_changed.intact, ecdsa_changed.valid) == (None, False)


def test_without_signed_attributes_the_hashes_must_agree() -> None:
    signer = Signer("rsa", "sha512", RSA_OID["sha256"], prehashed_pkcs1("sha256"), signed_attrs=False)
    result = judge(signer)
    assert result.code == "ALGORITHM_FORBIDDEN" and "RFC 5652" in (result.forbidden or "")


def raw_pkcs1(info_of: Callable[[bytes], bytes]) -> Callable[[rsa.RSAPrivateKey, bytes], bytes]:
    """PKCS#1 v1.5 padding around whatever DigestInfo ``info_of(data)`` gives, signed with the raw key."""

    def sign(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
        info = info_of(data)
        numbers, size = key.private_numbers(), key.key_size // 8
        em = b"\x00\x01" + b"\xff" * (size - 3 - len(info)) + b"\x00" + info
        return pow(int.from_bytes(em, "big"), numbers.d, numbers.public_numbers.n).to_bytes(size, "big")

    return sign


SHA256_OID_DER = "0609608648016503040201"


def test_pkcs1_digest_info_without_null_parameters_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 8017 B.1: SHA AlgorithmIdentifiers with absent parameters must be accepted (OpenSSL refuses them)."""
    no_null = raw_pkcs1(
        lambda data: bytes.fromhex(f"302f300b{SHA256_OID_DER}0420") + hashlib.sha256(data).digest()
    )
    result = judge(Signer("rsa", "sha256", RSA_OID["sha256"], no_null))
    assert result.passed and "NULL" in (result.detail or "")
    monkeypatch.setattr("validation.signatures.ACCEPT_DIGESTINFO_WITHOUT_NULL", False)
    assert judge(Signer("rsa", "sha256", RSA_OID["sha256"], no_null)).valid is False


def test_pkcs1_digest_info_is_compared_exactly_never_parsed_leniently() -> None:
    # the same DigestInfo with a long-form length for the digest: BER, not the DER a signer must produce
    long_form = raw_pkcs1(
        lambda data: bytes.fromhex(f"3032300d{SHA256_OID_DER}0500048120") + hashlib.sha256(data).digest()
    )
    assert judge(Signer("rsa", "sha256", RSA_OID["sha256"], long_form)).valid is False
    trailing = raw_pkcs1(
        lambda data: bytes.fromhex(f"3031300d{SHA256_OID_DER}05000420") + hashlib.sha256(data).digest() + b"\x00"
    )
    assert judge(Signer("rsa", "sha256", RSA_OID["sha256"], trailing)).valid is False


def test_plain_ecdsa_of_the_wrong_length_is_invalid() -> None:
    signer = Signer(
        "brainpoolP256r1", "sha256", PLAIN_OID["sha256"], lambda k, d: ecdsa_plain("sha256")(k, d)[:-1]
    )
    result = judge(signer)
    assert result.valid is False and "plain ECDSA" in (result.detail or "")


def test_algorithm_that_does_not_fit_the_key_is_invalid() -> None:
    signer = Signer("rsa", "sha256", ECDSA_OID["sha256"], rsa_pkcs1("sha256"))
    assert judge(signer).valid is False


# -- identifying the signer ------------------------------------------------------------------


def test_signer_identified_by_subject_key_identifier() -> None:
    for with_extension in (True, False):
        key = private_key("secp256r1")
        cert = make_cert(key, cn="ski signer", serial=77, ski=with_extension)
        bits = to_asn1(cert)["tbs_certificate"]["subject_public_key_info"]["public_key"].contents[1:]
        ski = hashlib.sha1(bits).digest()
        signer = Signer(
            "secp256r1", "sha256", ECDSA_OID["sha256"], ecdsa_der("sha256"), cert=cert, sid="ski", ski=ski
        )
        result = judge(signer)
        assert result.passed, (with_extension, result)


def test_missing_certificate_still_judges_the_digest() -> None:
    result = judge(rsa_signer(), include_certs=[])
    assert (result.intact, result.valid, result.signer_cert) == (True, None, None)
    assert result.code == "SIGNER_CERTIFICATE_MISSING"
    assert result.indication == (Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    assert judge(rsa_signer(), include_certs=[], data=OTHER_DOCUMENT).indication == (
        Indication.TOTAL_FAILED,
        SubIndication.HASH_FAILURE,
    )


def test_certificates_may_come_from_elsewhere() -> None:
    signer = rsa_signer()
    sd = signed_data([signer], include_certs=[])
    result = check_cms(sd, [to_asn1(signer.certificate())], digest_of=document_digest())
    assert result.passed


# -- several SignerInfos ---------------------------------------------------------------------


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_two_signer_infos_both_judged() -> None:
    first = rsa_signer()
    second = Signer("brainpoolP256r1", "sha256", PLAIN_OID["sha256"], ecdsa_plain("sha256"))
    both = judge(first, second)
    assert both.passed and both.signer_info_count == 2 and both.skipped == ()
    second.tamper_signature = True
    one_forged = judge(first, second)
    assert one_forged.code == "SIGNATURE_INVALID" and one_forged.signer_info_count == 2
    assert one_forged.signer_cert is not None and one_forged.signer_cert.dump() == der(second.certificate())


def test_a_signer_info_without_its_certificate_is_skipped() -> None:
    first, second = rsa_signer(), Signer("secp384r1", "sha384", ECDSA_OID["sha384"], ecdsa_der("sha384"))
    result = judge(first, second, include_certs=[0])
    assert result.passed and len(result.skipped) == 1 and result.skipped[0] != result.signer_info_index
    assert result.signer_cert is not None and result.signer_cert.dump() == der(first.certificate())
    nobody = judge(first, second, include_certs=[])
    assert nobody.code == "SIGNER_CERTIFICATE_MISSING" and nobody.signer_info_index == 0
    assert nobody.skipped == (1,)


# -- encapsulated content --------------------------------------------------------------------


def test_detached_signature_must_not_carry_other_content() -> None:
    result = judge(rsa_signer(), econtent=b"")
    assert result.code == "ENCAPSULATED_CONTENT_UNEXPECTED"
    assert result.indication == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    enveloping = judge(rsa_signer(), econtent=DOCUMENT)  # the signed bytes themselves: covers the document
    assert enveloping.passed


def test_pkcs7_sha1_encapsulates_the_document_digest() -> None:
    inner = hashlib.sha1(DOCUMENT).digest()
    signer = Signer("rsa", "sha1", RSA_OID["sha1"], prehashed_pkcs1("sha1"), signed_attrs=False)
    info_content = inner
    sd = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": "sha1"}],
            "encap_content_info": {"content_type": "data", "content": info_content},
            "certificates": [to_asn1(signer.certificate())],
            "signer_infos": [signer_info(signer, content=info_content)],
        }
    )
    sd = reparse(sd)
    assert check_cms(sd, digest_of=document_digest(), encapsulated_digest="sha1").passed
    changed = check_cms(sd, digest_of=document_digest(OTHER_DOCUMENT), encapsulated_digest="sha1")
    assert changed.intact is False and changed.code == "DIGEST_MISMATCH"
    assert check_cms(sd, digest_of=document_digest()).code == "ENCAPSULATED_CONTENT_UNEXPECTED"


def test_check_signer_info_directly() -> None:
    signer = Signer("brainpoolP384r1", "sha384", PLAIN_OID["sha384"], ecdsa_plain("sha384"))
    sd = signed_data([signer])
    info, cert = sd["signer_infos"][0], embedded_certificates(sd)[0]
    actual = doc_digest("sha384")
    assert check_signer_info(sd, info, cert, expected_content_type="data", actual_digest=actual).passed
    wrong_type = check_signer_info(sd, info, cert, expected_content_type="tst_info", actual_digest=actual)
    assert wrong_type.code == "SIGNED_ATTRIBUTES_INVALID"
    no_cert = check_signer_info(sd, info, None, expected_content_type="data", actual_digest=actual)
    assert (no_cert.intact, no_cert.code) == (True, "SIGNER_CERTIFICATE_MISSING")


# -- never an exception for hostile input ----------------------------------------------------


def test_mutated_cms_never_raises() -> None:
    base = cms.ContentInfo(
        {
            "content_type": "signed_data",
            "content": signed_data(
                [
                    Signer("rsa", "sha256", PSS_OID, rsa_pss("sha256", 32), sig_params=pss_params("sha256", 32)),
                    Signer("brainpoolP256r1", "sha256", PLAIN_OID["sha256"], ecdsa_plain("sha256")),
                ]
            ),
        }
    ).dump()
    rng = random.Random(20261202)
    parsed, failed = 0, 0
    for _ in range(400):
        mutated = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            sd = cms.ContentInfo.load(bytes(mutated))["content"]
        except Exception:
            continue  # the engine would stop at the ContentInfo: not this module's input
        parsed += 1
        result = check_cms(sd, digest_of=document_digest())  # must not raise, whatever the bytes
        assert isinstance(result, CmsCheck)
        failed += not result.passed
    assert parsed > 50 and failed > 25


# -- the conformance corpus ------------------------------------------------------------------

# files whose manifest verdict is about the CMS itself: (the first signature's) expected finding code
CMS_VERDICTS = {
    "files/dss/PAdES-BpB-att-SHA256-SHA3_256withRSA.pdf": "SIGNATURE_INVALID",
    "files/dss/pades-unsupported-signature-algorithm.pdf": "UNSUPPORTED_ALGORITHM",
    "files/dss/pades-bes-no-certificates.pdf": "SIGNER_CERTIFICATE_MISSING",
    "files/dss/wrong-digest-algo.pdf": "ALGORITHM_FORBIDDEN",
    "files/pyhanko/ed448-disallowed-hash.pdf": "ALGORITHM_FORBIDDEN",
    "files/pyhanko/pdf-sig-with-econtent.pdf": "ENCAPSULATED_CONTENT_UNEXPECTED",
}
# what a few files are there to show: (signature algorithm, SignerInfos)
SHOWCASE = {
    "files/dss/pdf-double-signer-info.pdf": ("rsassa_pkcs1v15 with sha512", 2),
    "files/pyhanko/ed448-shake256-nolen.pdf": ("ed448", 1),
    "files/pyhanko/sig-with-ski-sid.pdf": ("rsassa_pkcs1v15 with sha256", 1),
    "files/dss/Signature-P-DE_SCI-4.pdf": ("rsassa_pss with sha256", 1),
    "files/dss/Signature-P-HU_POL-7.pdf": ("rsassa_pkcs1v15 with sha256", 1),
    "files/dss/pkcs7_sha1.pdf": ("rsassa_pkcs1v15 with sha1", 1),
    "files/dss/self-issued-qesig.pdf": ("rsassa_pkcs1v15 with sha256", 1),
}
# this harness's plain reader gives up on it; the engine reads it
UNREADABLE_HERE = {"files/dss/pdf-spoofing-attack.pdf"}


def corpus_entries() -> list[dict[str, Any]]:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    return [e for e in manifest if e["expect"] == "intact" or e["file"] in CMS_VERDICTS]


def corpus_checks(entry: dict[str, Any]) -> list[tuple[str, str, CmsCheck]]:
    """(field name, subfilter, check) for every signed field, document timestamps included."""
    data = (CORPUS / entry["file"]).read_bytes()
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    if reader.encrypted:
        reader.decrypt(b"")
    out = []
    for name, sig, _ in enumerate_sig_fields(reader, filled_status=True):
        sig_dict = sig.get_object()
        subfilter = str(sig_dict.get("/SubFilter"))
        byte_range = list(sig_dict["/ByteRange"])
        chunks = [data[byte_range[i] : byte_range[i] + byte_range[i + 1]] for i in range(0, len(byte_range), 2)]
        # /Contents as written between the two ranges (never decrypted: ISO 32000 leaves it in clear)
        hex_contents = data[byte_range[0] + byte_range[1] : byte_range[2]].strip().strip(b"<>")
        sd = cms.ContentInfo.load(bytes.fromhex(hex_contents.decode()), strict=False)["content"]
        if subfilter == "/ETSI.RFC3161":
            check = check_cms(sd, expected_content_type="tst_info")
        else:
            sha1 = "sha1" if subfilter == "/adbe.pkcs7.sha1" else None

            def digest_of(algorithm: str, chunks: list[bytes] = chunks) -> bytes:
                return digest(algorithm, chunks)

            check = check_cms(sd, digest_of=digest_of, encapsulated_digest=sha1)
        out.append((name, subfilter, check))
    return out


@pytest.mark.parametrize("entry", corpus_entries(), ids=lambda e: e["file"].removeprefix("files/"))
def test_conformance_corpus(entry: dict[str, Any]) -> None:
    if entry["file"] in UNREADABLE_HERE:
        pytest.skip("read by the engine, not by this harness")
    checks = corpus_checks(entry)
    assert checks, "no signature found"
    if entry["expect"] == "intact":
        for name, _, check in checks:
            assert check.passed, (name, check)
    else:
        name, _, first = checks[0]
        assert first.code == CMS_VERDICTS[entry["file"]], (name, first)
        assert not first.passed
        assert first.indication is not None
    if entry["file"] in SHOWCASE:
        algorithm, count = SHOWCASE[entry["file"]]
        assert checks[0][2].signer_info_count == count
        assert any(c.signature_algorithm == algorithm for _, _, c in checks)


def test_the_corpus_covers_the_interesting_cases() -> None:
    files = {e["file"] for e in corpus_entries()}
    assert set(CMS_VERDICTS) <= files and set(SHOWCASE) <= files


# -- the signer certificate's purpose --------------------------------------------------------

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
ADOBE = ObjectIdentifier("1.2.840.113583.1.1.5")
MS_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")


@pytest.mark.parametrize(
    ("eku", "allowed"),
    [
        (None, True),
        ([ExtendedKeyUsageOID.EMAIL_PROTECTION], True),
        ([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION], True),
        ([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE], True),
        ([DOCUMENT_SIGNING], True),
        ([ADOBE], True),
        ([MS_DOCUMENT_SIGNING], True),
        ([ExtendedKeyUsageOID.TIME_STAMPING], False),
        ([ExtendedKeyUsageOID.OCSP_SIGNING], False),
        ([ExtendedKeyUsageOID.SERVER_AUTH], False),
        ([ExtendedKeyUsageOID.CLIENT_AUTH], False),
        ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], False),
        ([ExtendedKeyUsageOID.CODE_SIGNING], False),
    ],
)
def test_signing_purpose(eku: list[ObjectIdentifier] | None, allowed: bool) -> None:
    cert = make_cert(private_key("rsa"), eku=eku)
    refusal = signing_purpose_refusal(cert)
    assert (refusal is None) is allowed, refusal
    if not allowed:
        assert refusal is not None and "extendedKeyUsage" in refusal


class _NoChain:
    """A trust store that is never reached when a cheaper check refuses first."""

    def __init__(self) -> None:
        self.asked = False

    def chain_for(self, cert: x509.Certificate, extra: Sequence[x509.Certificate] = (), **_: Any) -> list[Any]:
        self.asked = True
        raise ChainError("no chain in this test")


def test_agent_refuses_a_certificate_whose_purpose_is_not_document_signing() -> None:
    tsa_like = make_cert(private_key("rsa"), cn="A timestamping unit", eku=[ExtendedKeyUsageOID.TIME_STAMPING])
    trust = _NoChain()
    with pytest.raises(CertificateRefused) as refused:
        check_signer_certificate(tsa_like, [], trust, None, ExpectedSigner())  # type: ignore[arg-type]
    assert refused.value.kind is errors.SIGNER_CERT_UNUSABLE
    assert "extendedKeyUsage" in (refused.value.detail or "") and "timeStamping" in (refused.value.detail or "")
    assert not trust.asked  # refused on its face, before the chain (and any network) is consulted

    personal = make_cert(private_key("rsa"), cn="A bidder", eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION])
    with pytest.raises(CertificateRefused) as untrusted:
        check_signer_certificate(personal, [], trust, None, ExpectedSigner())  # type: ignore[arg-type]
    assert untrusted.value.kind is errors.SIGNER_CERT_UNTRUSTED and trust.asked
