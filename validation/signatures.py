"""The cryptographic check of a CMS signature, for every algorithm real signers use.

One SignerInfo is judged on three questions, each answered separately so the
engine can name the right EN 319 102-1 result:

- **intact**: does the message-digest attribute equal the digest of what was
  signed (HASH_FAILURE when not)?
- **valid**: does the signature value verify with the signer's public key
  under the algorithm the SignerInfo names (SIG_CRYPTO_FAILURE when not)?
- can it be judged at all here (``unsupported``: INDETERMINATE /
  CRYPTO_CONSTRAINTS_FAILURE), and is the combination one the standards
  forbid (``forbidden``: a failure), or is the structure itself broken
  (``problem``: FORMAT_FAILURE)?

Supported: RSA PKCS#1 v1.5 and RSASSA-PSS (RFC 4055 parameters) with SHA-1,
SHA-2 and SHA-3; ECDSA in DER form and in the plain r||s form of BSI TR-03111
(OIDs under 0.4.0.127.0.7.1.1.4.1) on every curve ``cryptography`` knows
(NIST, brainpoolP256r1/P384r1/P512r1, secp256k1); Ed25519 and Ed448 with the
RFC 8419 rules; DSA. The signer may be named by issuer and serial number or by
subjectKeyIdentifier.

Nothing here raises for attacker-controlled input: every parse failure is a
:class:`CmsCheck` with ``problem`` set (asn1crypto parses lazily, so a last
net in :func:`_judge` turns any stray parse error into CMS_UNREADABLE). The
only exceptions that can escape are those of the caller's own ``digest_of``
other than ``KeyError``, ``ValueError``, ``TypeError``, ``AttributeError``,
``NotImplementedError`` and ``cryptography``'s ``UnsupportedAlgorithm`` (which
mean "cannot compute that digest" and become ``unsupported``): an ``OSError``
reading the document, say, is the engine's failure, not the signature's.

Rules, and why:

- Signed attributes are hashed as a DER ``SET OF`` (the ``[0] IMPLICIT`` tag
  replaced by the universal SET tag, the content octets kept as the signer
  sent them). content-type must be present exactly once with one value equal
  to the expected type and to the eContentType; message-digest likewise
  (RFC 5652 §5.3, §11.1, §11.2). Without signed attributes the content type
  must be id-data (RFC 5652 §5.3).
- With signed attributes the signature is checked with the hash its
  algorithm names (sha256WithRSAEncryption → SHA-256, the RSASSA-PSS
  parameters' hash, ecdsa-plain-SHA384 → SHA-384) and, for algorithms that
  name none (rsaEncryption, id-ecPublicKey, id-dsa), with the digest
  algorithm. That is what OpenSSL, Bouncy Castle and EU DSS do; a signature
  made with another hash than the one it claims simply does not verify
  (``valid=False``: EU DSS's verdict on PAdES-BpB-att-SHA256-SHA3_256withRSA).
- Without signed attributes RFC 5652 §5.4–5.5 has the signer sign the
  message digest computed with digestAlgorithm, so a signature algorithm
  naming another hash contradicts it: ``forbidden``.
- digestAlgorithm holding a signature-algorithm OID (sha1WithRSAEncryption)
  is not a digest algorithm (RFC 5652 §5.3): ``forbidden``. An OID we do not
  know is ``unsupported``.
- Ed25519: digestAlgorithm must be SHA-512; Ed448: SHAKE256 with 512-bit
  output, given as id-shake256 (RFC 8702 fixes its CMS output at 512 bits) or
  id-shake256-len with 512 (RFC 8419 §3.1): otherwise ``forbidden``. EdDSA
  without signed attributes signs the whole content, which a digest cannot
  stand in for: ``unsupported`` here.
- CMSAlgorithmProtection (RFC 6211), when present, must be single and name
  the same digest and signature algorithms as the SignerInfo (absent and
  NULL parameters are the same thing): otherwise ``forbidden``.
- RSASSA-PSS parameters must be present in a signature's algorithm
  identifier, use MGF1 and trailerField 1 (RFC 4055 §3.1); the salt length is
  the one they give.
- PKCS#1 v1.5: a DigestInfo whose hash parameters are absent instead of NULL
  is accepted (RFC 8017 Appendix B.1: implementations must accept both; Bouncy
  Castle and so EU DSS do by default), which OpenSSL alone would refuse; it is
  compared byte for byte with the one canonical encoding, never parsed
  leniently. :data:`ACCEPT_DIGESTINFO_WITHOUT_NULL` turns this off.
- The ESS signing-certificate(-v2) attribute, when present, must name the
  certificate that verifies (its first ESSCertID, RFC 5035 §5.4); a
  certificate it does not name is not the signer's (EN 319 102-1 5.2.3:
  NO_SIGNING_CERTIFICATE_FOUND).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa, utils

from validation.model import Indication, SubIndication

__all__ = [
    "ACCEPT_DIGESTINFO_WITHOUT_NULL",
    "DIGEST_NAMES",
    "CmsCheck",
    "check_cms",
    "check_signer_info",
    "digest",
    "embedded_certificates",
]

# -- digest algorithms ---------------------------------------------------------------------

# name -> the hash computing it (SHAKE with the fixed output CMS uses, RFC 8702)
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha512_224": hashes.SHA512_224,
    "sha512_256": hashes.SHA512_256,
    "sha3_224": hashes.SHA3_224,
    "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384,
    "sha3_512": hashes.SHA3_512,
    "shake128": lambda: hashes.SHAKE128(32),
    "shake256": lambda: hashes.SHAKE256(64),
}
DIGEST_NAMES: frozenset[str] = frozenset(_HASHES)
"""The names ``digest_of`` may be asked for (and :func:`digest` computes).

``shake256`` means SHAKE256 with 512-bit output and ``shake128`` SHAKE128 with
256-bit output, the lengths RFC 8702 fixes for CMS. pyHanko's
``EmbeddedPdfSignature.compute_digest`` understands all of them but ``shake128``.
"""

_DIGEST_OIDS: dict[str, str] = {
    "1.2.840.113549.2.5": "md5",
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    "2.16.840.1.101.3.4.2.5": "sha512_224",
    "2.16.840.1.101.3.4.2.6": "sha512_256",
    "2.16.840.1.101.3.4.2.7": "sha3_224",
    "2.16.840.1.101.3.4.2.8": "sha3_256",
    "2.16.840.1.101.3.4.2.9": "sha3_384",
    "2.16.840.1.101.3.4.2.10": "sha3_512",
    "2.16.840.1.101.3.4.2.11": "shake128",
    "2.16.840.1.101.3.4.2.12": "shake256",
}
_SHAKE_LEN_OIDS = {"2.16.840.1.101.3.4.2.17": ("shake128", 256), "2.16.840.1.101.3.4.2.18": ("shake256", 512)}
_NAME_TO_DIGEST_OID = {name: oid for oid, name in _DIGEST_OIDS.items()}


def digest(name: str, data: bytes | Iterable[bytes]) -> bytes:
    """The digest ``name`` (one of :data:`DIGEST_NAMES`) of ``data`` or of its chunks in order.

    Raises ``KeyError`` for a name not in :data:`DIGEST_NAMES`.
    """
    md = hashes.Hash(_HASHES[name]())
    for chunk in [data] if isinstance(data, bytes | bytearray | memoryview) else data:
        md.update(bytes(chunk))
    return md.finalize()


# -- signature algorithms ------------------------------------------------------------------


@dataclass(frozen=True)
class _Scheme:
    family: str  # rsa, pss, ecdsa, ecdsa-plain, ed25519, ed448, dsa
    hash: str | None  # the hash the algorithm names; None: the digest algorithm's
    oid_name: str


def _table() -> dict[str, _Scheme]:
    t: dict[str, _Scheme] = {}
    rsa_oids = {
        "1.2.840.113549.1.1.1": None,
        "1.2.840.113549.1.1.4": "md5",
        "1.2.840.113549.1.1.5": "sha1",
        "1.3.14.3.2.29": "sha1",
        "1.2.840.113549.1.1.14": "sha224",
        "1.2.840.113549.1.1.11": "sha256",
        "1.2.840.113549.1.1.12": "sha384",
        "1.2.840.113549.1.1.13": "sha512",
        "1.2.840.113549.1.1.15": "sha512_224",
        "1.2.840.113549.1.1.16": "sha512_256",
        "2.16.840.1.101.3.4.3.13": "sha3_224",
        "2.16.840.1.101.3.4.3.14": "sha3_256",
        "2.16.840.1.101.3.4.3.15": "sha3_384",
        "2.16.840.1.101.3.4.3.16": "sha3_512",
    }
    for oid, h in rsa_oids.items():
        t[oid] = _Scheme("rsa", h, f"{h}WithRSAEncryption" if h else "rsaEncryption")
    t["1.2.840.113549.1.1.10"] = _Scheme("pss", None, "id-RSASSA-PSS")
    ecdsa_oids = {
        "1.2.840.10045.2.1": None,  # id-ecPublicKey, used by some signers as "ECDSA with the digest algorithm"
        "1.2.840.10045.4.1": "sha1",
        "1.2.840.10045.4.3.1": "sha224",
        "1.2.840.10045.4.3.2": "sha256",
        "1.2.840.10045.4.3.3": "sha384",
        "1.2.840.10045.4.3.4": "sha512",
        "2.16.840.1.101.3.4.3.9": "sha3_224",
        "2.16.840.1.101.3.4.3.10": "sha3_256",
        "2.16.840.1.101.3.4.3.11": "sha3_384",
        "2.16.840.1.101.3.4.3.12": "sha3_512",
    }
    for oid, h in ecdsa_oids.items():
        t[oid] = _Scheme("ecdsa", h, f"ecdsa-with-{h}" if h else "id-ecPublicKey")
    plain = {1: "sha1", 2: "sha224", 3: "sha256", 4: "sha384", 5: "sha512", 6: "ripemd160",
             8: "sha3_224", 9: "sha3_256", 10: "sha3_384", 11: "sha3_512"}  # fmt: skip
    for arc, h in plain.items():
        t[f"0.4.0.127.0.7.1.1.4.1.{arc}"] = _Scheme("ecdsa-plain", h, f"ecdsa-plain-{h}")
    t["1.3.101.112"] = _Scheme("ed25519", None, "Ed25519")
    t["1.3.101.113"] = _Scheme("ed448", None, "Ed448")
    dsa_oids = {
        "1.2.840.10040.4.1": None,
        "1.2.840.10040.4.3": "sha1",
        "2.16.840.1.101.3.4.3.1": "sha224",
        "2.16.840.1.101.3.4.3.2": "sha256",
        "2.16.840.1.101.3.4.3.3": "sha384",
        "2.16.840.1.101.3.4.3.4": "sha512",
        "2.16.840.1.101.3.4.3.5": "sha3_224",
        "2.16.840.1.101.3.4.3.6": "sha3_256",
        "2.16.840.1.101.3.4.3.7": "sha3_384",
        "2.16.840.1.101.3.4.3.8": "sha3_512",
    }
    for oid, h in dsa_oids.items():
        t[oid] = _Scheme("dsa", h, f"dsa-with-{h}" if h else "id-dsa")
    return t


_SCHEMES = _table()
_FAMILY_LABEL = {
    "rsa": "rsassa_pkcs1v15",
    "pss": "rsassa_pss",
    "ecdsa": "ecdsa",
    "ecdsa-plain": "ecdsa-plain",
    "dsa": "dsa",
}
_MGF1 = "1.2.840.113549.1.1.8"

_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_ALGORITHM_PROTECTION = "1.2.840.113549.1.9.52"
_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"
_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
_ID_DATA = "1.2.840.113549.1.7.1"

# -- the result ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CmsCheck:
    """What the cryptographic check of one SignerInfo (or of a whole SignedData) found.

    ``intact``: the message-digest attribute equals the digest of what was
    signed (without signed attributes: the signature binds that digest);
    None when it could not be decided. ``valid``: the signature value
    verifies with ``signer_cert``'s key; None when it could not be computed.
    ``unsupported``: why the algorithm cannot be computed here. ``forbidden``:
    a combination the standards forbid. ``problem``: the structure is broken.
    ``code``: the finding code of the decisive issue, ``detail`` its technical
    detail (English), None when the check passed. ``signer_info_count`` and
    ``skipped`` are set by :func:`check_cms`: how many SignerInfos the CMS
    holds and which were not judged because their certificate is absent.
    """

    signer_info_index: int
    digest_algorithm: str
    signature_algorithm: str
    intact: bool | None
    valid: bool | None
    unsupported: str | None = None
    forbidden: str | None = None
    problem: str | None = None
    code: str | None = None
    detail: str | None = None
    signer_cert: asn1_x509.Certificate | None = None
    signer_info_count: int = 1
    skipped: tuple[int, ...] = ()

    @property
    def indication(self) -> tuple[Indication, SubIndication] | None:
        """The EN 319 102-1 result this check decides on its own, or None when it passed.

        Order: a broken structure, then the digest, then the signature value,
        then a forbidden combination (all TOTAL_FAILED), then what could not be
        judged (INDETERMINATE).
        """
        if self.problem is not None:
            return Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
        if self.intact is False:
            return Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE
        if self.valid is False:
            return Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE
        if self.forbidden is not None:
            return Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE
        if self.unsupported is not None:
            return Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE
        if self.signer_cert is None:
            return Indication.INDETERMINATE, SubIndication.NO_SIGNING_CERTIFICATE_FOUND
        if self.intact is not True or self.valid is not True:
            return Indication.INDETERMINATE, SubIndication.CRYPTO_CONSTRAINTS_FAILURE
        return None

    @property
    def passed(self) -> bool:
        """Intact, valid, with an identified certificate, and nothing forbidden, unsupported or broken."""
        return self.indication is None

    @property
    def severity(self) -> int:
        """How bad, for picking the worst of several SignerInfos: 0 passed … 6 broken structure."""
        if self.problem is not None:
            return 6
        if self.intact is False:
            return 5
        if self.valid is False:
            return 4
        if self.forbidden is not None:
            return 3
        if self.unsupported is not None:
            return 2
        return 0 if self.passed else 1


# -- ASN.1 helpers (lenient: values are parsed only when needed) ---------------------------


class _AnySet(core.SetOf):
    _child_spec = core.Any


class _Attribute(core.Sequence):
    _fields: ClassVar = [("type", core.ObjectIdentifier), ("values", _AnySet)]


class _Attributes(core.SetOf):
    _child_spec = _Attribute


class _Unreadable(Exception):
    """A part of the CMS that cannot be read; the message says which."""


class _BadAttributes(_Unreadable):
    """A required signed attribute missing, or one that must be single appearing twice."""


class _Unsupported(Exception):
    """Something this module cannot compute: INDETERMINATE, never a failure."""


class _Forbidden(Exception):
    """A combination the standards forbid."""


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _params_der(algorithm: core.Sequence) -> bytes | None:
    """The DER of an AlgorithmIdentifier's parameters; None when absent or NULL."""
    params = algorithm["parameters"]
    if isinstance(params, core.Void) or params is None:
        return None
    der = params.dump()
    return None if der == b"\x05\x00" else bytes(der)


def _dotted(algorithm: core.Sequence) -> str:
    return str(algorithm["algorithm"].dotted)


@dataclass(frozen=True)
class _SignedAttrs:
    der: bytes  # the SET OF, as hashed for the signature
    content_type: str | None
    message_digest: bytes | None
    protection: cms.CMSAlgorithmProtection | None
    ess: tsp.SigningCertificate | tsp.SigningCertificateV2 | None


def _read_signed_attrs(raw: core.Asn1Value) -> _SignedAttrs:
    contents = raw.contents or b""
    der = b"\x31" + _der_length(len(contents)) + contents
    try:
        attrs = _Attributes.load(der, strict=True)
        found: dict[str, list[bytes]] = {}
        for attr in attrs:
            oid = attr["type"].dotted
            found.setdefault(oid, []).extend(v.dump() for v in attr["values"])
            found.setdefault("#" + oid, []).append(b"")  # counts instances of the attribute
    except Exception as exc:
        raise _Unreadable(f"signed attributes unreadable ({type(exc).__name__})") from None

    def single(oid: str, label: str, required: bool) -> bytes | None:
        values = found.get(oid)
        if values is None:
            if required:
                raise _BadAttributes(f"the {label} attribute is missing")
            return None
        if len(found["#" + oid]) != 1 or len(values) != 1:
            raise _BadAttributes(f"the {label} attribute must appear once with one value")
        return values[0]

    ct_der = single(_CONTENT_TYPE, "content-type", True)
    md_der = single(_MESSAGE_DIGEST, "message-digest", True)
    prot_der = single(_ALGORITHM_PROTECTION, "CMSAlgorithmProtection", False)
    try:
        content_type = core.ObjectIdentifier.load(ct_der, strict=True).dotted
        message_digest = bytes(core.OctetString.load(md_der, strict=True).native)
        protection = cms.CMSAlgorithmProtection.load(prot_der, strict=True) if prot_der else None
        if protection is not None:
            protection.native  # noqa: B018 - parse it now, inside the try
    except Exception as exc:
        raise _Unreadable(
            f"a content-type, message-digest or CMSAlgorithmProtection value is unreadable ({exc})"
        ) from None
    ess: tsp.SigningCertificate | tsp.SigningCertificateV2 | None = None
    for oid, cls, label in (
        (_SIGNING_CERTIFICATE_V2, tsp.SigningCertificateV2, "signing-certificate-v2"),
        (_SIGNING_CERTIFICATE, tsp.SigningCertificate, "signing-certificate"),
    ):
        value = single(oid, label, False)
        if value is not None and ess is None:
            try:
                ess = cls.load(value, strict=True)
                ess["certs"][0]["cert_hash"].native  # noqa: B018 - parse the part we use
            except Exception as exc:
                raise _Unreadable(f"the {label} attribute is unreadable ({type(exc).__name__})") from None
    return _SignedAttrs(der, content_type, message_digest, protection, ess)


def _content_type_oid(name: str) -> str:
    try:
        return str(cms.ContentType(name).dotted)
    except Exception:
        return name


def embedded_certificates(signed_data: cms.SignedData) -> tuple[asn1_x509.Certificate, ...]:
    """The X.509 certificates in ``signed_data``'s certificates field, skipping anything unreadable."""
    out: list[asn1_x509.Certificate] = []
    try:
        choices = list(signed_data["certificates"] or ())
    except Exception:
        return ()
    for choice in choices:
        try:
            if choice.name == "certificate":
                cert = choice.chosen
                cert["tbs_certificate"]["serial_number"].native  # noqa: B018 - readable at all?
                out.append(cert)
        except Exception:
            continue
    return tuple(out)


def _subject_key_id(cert: asn1_x509.Certificate) -> bytes | None:
    """The certificate's subjectKeyIdentifier, parsing only that extension."""
    try:
        for ext in cert["tbs_certificate"]["extensions"] or ():
            if ext["extn_id"].dotted == "2.5.29.14":
                return bytes(core.OctetString.load(ext["extn_value"].contents).native)
    except Exception:
        return None
    return None


def _matches_sid(cert: asn1_x509.Certificate, sid: cms.SignerIdentifier) -> bool:
    try:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            tbs = cert["tbs_certificate"]
            if tbs["serial_number"].native != wanted["serial_number"].native:
                return False
            return _same_name(tbs["issuer"], wanted["issuer"])
        if sid.name == "subject_key_identifier":
            wanted_id = bytes(sid.chosen.native)
            ski = _subject_key_id(cert)
            if ski is not None:
                return ski == wanted_id
            # no extension: RFC 5280 §4.2.1.2 method (1), SHA-1 of the subjectPublicKey bits
            bits = cert["tbs_certificate"]["subject_public_key_info"]["public_key"].contents[1:]
            return hashlib.sha1(bits).digest() == wanted_id
    except Exception:
        return False
    return False


def _ess_names(cert: asn1_x509.Certificate, ess: tsp.SigningCertificate | tsp.SigningCertificateV2) -> bool:
    """Whether the first ESSCertID(v2) names ``cert`` (RFC 5035 §5.4)."""
    try:
        certid = ess["certs"][0]
        if isinstance(ess, tsp.SigningCertificateV2):
            name = _DIGEST_OIDS.get(_dotted(certid["hash_algorithm"]))
        else:
            name = "sha1"
        if name is None or digest(name, cert.dump()) != bytes(certid["cert_hash"].native):
            return False
        issuer_serial = certid["issuer_serial"]
        if isinstance(issuer_serial, core.Void) or not issuer_serial:
            return True
        if issuer_serial["serial_number"].native != cert["tbs_certificate"]["serial_number"].native:
            return False
        names = list(issuer_serial["issuer"])
        return len(names) == 1 and names[0].name == "directory_name" and _same_name(names[0].chosen, cert.issuer)
    except Exception:
        return False


def _same_name(a: asn1_x509.Name, b: asn1_x509.Name) -> bool:
    """RFC 5280 name equality; names asn1crypto cannot prepare (a bidi value, bytes that are not UTF-8)
    are equal only when byte-identical, which is never looser."""
    if a.dump() == b.dump():
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


# -- verifying one signature value ---------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    valid: bool | None
    unsupported: str | None = None
    detail: str | None = None
    other_digest: bool = False  # RSA PKCS#1 v1.5: a well-formed signature over another digest


def _public_key(cert: asn1_x509.Certificate) -> object:
    try:
        spki = cert["tbs_certificate"]["subject_public_key_info"]
        return serialization.load_der_public_key(spki.dump())
    except Exception as exc:
        why = f"the certificate's public key cannot be loaded ({type(exc).__name__})"
        try:
            algorithm = spki["algorithm"]
            if _dotted(algorithm) == "1.2.840.10045.2.1" and algorithm["parameters"].name == "specified":
                why = "EC public key with explicit curve parameters"
        except Exception:
            pass
        raise _Unsupported(why) from None


def _pss_padding(params_der: bytes | None) -> tuple[padding.PSS, str, str]:
    """The PSS padding, message hash name and MGF1 hash name of RSASSA-PSS parameters."""
    if params_der is None:
        raise _Forbidden("RSASSA-PSS without parameters (RFC 4055 §3.1 requires them in a signature)")
    try:
        params = algos.RSASSAPSSParams.load(params_der, strict=True)
        hash_name = _DIGEST_OIDS.get(_dotted(params["hash_algorithm"]))
        mgf = params["mask_gen_algorithm"]
        mgf_oid = _dotted(mgf)
        mgf_hash = _DIGEST_OIDS.get(_dotted(algos.DigestAlgorithm.load(mgf["parameters"].dump())))
        salt = int(params["salt_length"].native)
        trailer = params["trailer_field"].native
    except _Forbidden:
        raise
    except Exception as exc:
        raise _Unreadable(f"RSASSA-PSS parameters unreadable ({type(exc).__name__})") from None
    if trailer not in (1, "trailer_field_bc"):
        raise _Forbidden(f"RSASSA-PSS trailerField {trailer} (RFC 4055 §3.1: must be 1)")
    if mgf_oid != _MGF1:
        raise _Unsupported(f"RSASSA-PSS mask generation {mgf_oid}")
    if hash_name is None or mgf_hash is None or hash_name.startswith("shake"):
        raise _Unsupported("RSASSA-PSS with an unsupported hash")
    if salt < 0:
        raise _Unreadable("RSASSA-PSS negative salt length")
    return padding.PSS(mgf=padding.MGF1(_HASHES[mgf_hash]()), salt_length=salt), hash_name, mgf_hash


ACCEPT_DIGESTINFO_WITHOUT_NULL = True
"""Accept a PKCS#1 v1.5 DigestInfo whose hash AlgorithmIdentifier omits the NULL parameters.

RFC 8017 Appendix B.1 says implementations must accept SHA AlgorithmIdentifiers both
without parameters and with NULL; Bouncy Castle (so EU DSS) accepts the shorter form by
default, OpenSSL does not. The comparison is byte for byte with the one canonical
encoding, never a lenient parse. Set to False for the strict reading of RFC 8017 §9.2.
"""


def _digest_info_prefixes(hash_name: str, size: int) -> tuple[bytes, bytes] | None:
    """The DER DigestInfo prefixes for ``hash_name`` (with NULL, without parameters), digest of ``size`` bytes."""
    oid = _NAME_TO_DIGEST_OID.get(hash_name)
    if oid is None:
        return None
    oid_der = core.ObjectIdentifier(oid).dump()
    out = []
    for params in (b"\x05\x00", b""):
        algorithm = b"\x30" + _der_length(len(oid_der + params)) + oid_der + params
        body_len = len(algorithm) + 2 + size
        out.append(b"\x30" + _der_length(body_len) + algorithm + b"\x04" + _der_length(size))
    return out[0], out[1]


def _pkcs1_fallback(key: rsa.RSAPublicKey, signature: bytes, hash_name: str, expected: bytes) -> _Outcome:
    """After OpenSSL said no: a DigestInfo without NULL parameters, or a genuine signature of another digest."""
    prefixes = _digest_info_prefixes(hash_name, len(expected))
    try:
        recovered = key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except Exception:
        return _Outcome(False)
    if prefixes is None:
        return _Outcome(False)
    if ACCEPT_DIGESTINFO_WITHOUT_NULL and recovered == prefixes[1] + expected:
        return _Outcome(True, detail="PKCS#1 DigestInfo without NULL parameters")
    for prefix in prefixes:
        if len(recovered) == len(prefix) + len(expected) and recovered.startswith(prefix):
            return _Outcome(False, other_digest=True)
    return _Outcome(False)


def _verify(
    key: object,
    scheme: _Scheme,
    params_der: bytes | None,
    signature: bytes,
    message: bytes,
    hash_name: str | None,
    prehashed: bool,
) -> _Outcome:
    """Verify ``signature`` over ``message`` (or over the digest ``message`` when ``prehashed``)."""
    family = scheme.family
    try:
        if family in ("ed25519", "ed448"):
            if prehashed:
                raise _Unsupported(f"{family} without signed attributes signs the whole content, not a digest")
            wanted_ed = ed25519.Ed25519PublicKey if family == "ed25519" else ed448.Ed448PublicKey
            if not isinstance(key, wanted_ed):
                return _Outcome(False, detail=f"{family} signature but the certificate key is not {family}")
            key.verify(signature, message)
            return _Outcome(True)
        if hash_name is None or hash_name not in _HASHES or hash_name.startswith("shake"):
            raise _Unsupported(f"hash {hash_name or 'unknown'} for {scheme.oid_name}")
        algorithm = _HASHES[hash_name]()
        chosen: hashes.HashAlgorithm | utils.Prehashed = utils.Prehashed(algorithm) if prehashed else algorithm
        if family in ("rsa", "pss"):
            if not isinstance(key, rsa.RSAPublicKey):
                return _Outcome(False, detail=f"{scheme.oid_name} signature but the certificate key is not RSA")
            if family == "pss":
                pss, _, _ = _pss_padding(params_der)
                key.verify(signature, message, pss, chosen)
                return _Outcome(True)
            try:
                key.verify(signature, message, padding.PKCS1v15(), chosen)
                return _Outcome(True)
            except InvalidSignature:
                expected = message if prehashed else digest(hash_name, message)
                return _pkcs1_fallback(key, signature, hash_name, expected)
        if family in ("ecdsa", "ecdsa-plain"):
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return _Outcome(False, detail=f"{scheme.oid_name} signature but the certificate key is not EC")
            if family == "ecdsa-plain":
                size = (key.curve.key_size + 7) // 8
                if len(signature) != 2 * size:
                    return _Outcome(
                        False, detail=f"plain ECDSA value of {len(signature)} bytes, expected {2 * size}"
                    )
                r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
                if r == 0 or s == 0:
                    return _Outcome(False, detail="plain ECDSA value with r or s zero")
                signature = utils.encode_dss_signature(r, s)
            key.verify(signature, message, ec.ECDSA(chosen))
            return _Outcome(True)
        if family == "dsa":
            if not isinstance(key, dsa.DSAPublicKey):
                return _Outcome(False, detail=f"{scheme.oid_name} signature but the certificate key is not DSA")
            key.verify(signature, message, chosen)
            return _Outcome(True)
    except InvalidSignature:
        return _Outcome(False)
    except (UnsupportedAlgorithm, NotImplementedError) as exc:
        return _Outcome(None, unsupported=f"{scheme.oid_name} with {hash_name}: {exc}"[:200])
    except _Unsupported as exc:
        return _Outcome(None, unsupported=str(exc))
    except (ValueError, TypeError) as exc:  # e.g. a digest length the key cannot take, a malformed value
        return _Outcome(False, detail=f"{type(exc).__name__}: {exc}"[:200])
    return _Outcome(None, unsupported=f"signature family {family}")


# -- one SignerInfo ------------------------------------------------------------------------


def _names(
    digest_oid: str,
    digest_name: str | None,
    scheme: _Scheme | None,
    sig_oid: str,
    hash_name: str | None,
    key: object,
) -> tuple[str, str]:
    dname = digest_name or digest_oid
    if scheme is None:
        return dname, f"{sig_oid} (unknown)"
    if scheme.family in ("ed25519", "ed448"):
        return dname, scheme.family
    label = f"{_FAMILY_LABEL[scheme.family]} with {hash_name or dname}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        label += f" ({key.curve.name})"
    return dname, label


def _judge(
    signed_data: cms.SignedData | None,
    signer_info: cms.SignerInfo,
    index: int,
    candidates: Sequence[asn1_x509.Certificate],
    expected_type: str,
    digest_for: Callable[[str], bytes],
) -> CmsCheck:
    """:func:`_judge_unguarded`, with any stray parse error of hostile input turned into a broken structure.

    asn1crypto parses lazily, so a malformed value can surface wherever it is first
    touched; this net makes sure it surfaces as a FORMAT_FAILURE, never as an exception.
    """
    try:
        return _judge_unguarded(signed_data, signer_info, index, candidates, expected_type, digest_for)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, UnicodeError) as exc:
        return _whole_problem(f"CMS unreadable ({type(exc).__name__})", "CMS_UNREADABLE", 1, index)


def _judge_unguarded(
    signed_data: cms.SignedData | None,
    signer_info: cms.SignerInfo,
    index: int,
    candidates: Sequence[asn1_x509.Certificate],
    expected_type: str,
    digest_for: Callable[[str], bytes],
) -> CmsCheck:
    """The check of one SignerInfo against the candidate certificates (those its sid names)."""

    def broken(message: str, code: str = "CMS_UNREADABLE", **kw: object) -> CmsCheck:
        base: dict[str, object] = {
            "signer_info_index": index,
            "digest_algorithm": kw.pop("digest_algorithm", "unknown"),
            "signature_algorithm": kw.pop("signature_algorithm", "unknown"),
            "intact": None,
            "valid": None,
            "problem": message,
            "code": code,
            "detail": message,
        }
        base.update(kw)
        return CmsCheck(**base)  # type: ignore[arg-type]

    # 1. read the SignerInfo
    try:
        digest_alg = signer_info["digest_algorithm"]
        digest_oid = _dotted(digest_alg)
        digest_params = _params_der(digest_alg)
        sig_alg = signer_info["signature_algorithm"]
        sig_oid = _dotted(sig_alg)
        sig_params = _params_der(sig_alg)
        signature = bytes(signer_info["signature"].native)
        raw_attrs = signer_info["signed_attrs"]
        has_attrs = not isinstance(raw_attrs, core.Void)
    except Exception as exc:
        return broken(f"SignerInfo unreadable ({type(exc).__name__})")

    # 2. name the algorithms, find what is forbidden or unknown before touching keys
    scheme = _SCHEMES.get(sig_oid)
    forbidden: str | None = None
    unsupported: str | None = None
    digest_name: str | None = _DIGEST_OIDS.get(digest_oid)
    if digest_oid in _SHAKE_LEN_OIDS:
        base, default_bits = _SHAKE_LEN_OIDS[digest_oid]
        try:
            bits = int(core.Integer.load(digest_params).native) if digest_params else None
        except Exception:
            bits = None
        if bits == default_bits:
            digest_name = base
        else:
            unsupported = f"{base} with {bits if bits is not None else 'no'} output bits"
    elif digest_name in ("shake128", "shake256") and digest_params is not None:
        unsupported = f"{digest_name} with parameters"
        digest_name = None
    if digest_name is None and unsupported is None:
        if digest_oid in _SCHEMES:
            forbidden = (
                f"digestAlgorithm is the signature algorithm {_SCHEMES[digest_oid].oid_name}, "
                "not a digest algorithm (RFC 5652 §5.3)"
            )
        else:
            unsupported = f"digest algorithm {digest_oid}"
    if scheme is None:
        unsupported = unsupported or f"signature algorithm {sig_oid}"

    sig_hash: str | None = None
    if scheme is not None:
        try:
            if scheme.family == "pss":
                _, sig_hash, _ = _pss_padding(sig_params)
            else:
                sig_hash = scheme.hash or digest_name
        except _Forbidden as exc:
            forbidden = forbidden or str(exc)
        except _Unsupported as exc:
            unsupported = unsupported or str(exc)
        except _Unreadable as exc:
            return broken(str(exc), digest_algorithm=digest_name or digest_oid, signature_algorithm=sig_oid)
        if scheme.family == "ed25519" and digest_name != "sha512":
            forbidden = (
                forbidden or f"Ed25519 with digest {digest_name or digest_oid} (RFC 8419 §3.1: SHA-512 only)"
            )
        if scheme.family == "ed448" and digest_name != "shake256":
            forbidden = forbidden or (
                f"Ed448 with digest {digest_name or digest_oid} (RFC 8419 §3.1: SHAKE256 with 512-bit output only)"
            )
        if scheme.family in ("ed25519", "ed448"):
            sig_hash = None
        elif not has_attrs and sig_hash is not None and digest_name is not None and sig_hash != digest_name:
            forbidden = forbidden or (
                f"without signed attributes the signature covers the {digest_name} digest, "
                f"but its algorithm hashes with {sig_hash} (RFC 5652 §5.4-5.5)"
            )
        if scheme.hash == "ripemd160":
            unsupported = unsupported or "ecdsa-plain-RIPEMD160"

    def named(key: object = None) -> tuple[str, str]:
        return _names(digest_oid, digest_name, scheme, sig_oid, sig_hash, key)

    # 3. the signed attributes
    attrs: _SignedAttrs | None = None
    try:
        if has_attrs:
            attrs = _read_signed_attrs(raw_attrs)
    except _Unreadable as exc:
        dn, sn = named()
        attr_code = "SIGNED_ATTRIBUTES_INVALID" if isinstance(exc, _BadAttributes) else "CMS_UNREADABLE"
        return broken(str(exc), attr_code, digest_algorithm=dn, signature_algorithm=sn)
    problem: str | None = None
    problem_code: str | None = None
    econtent_type: str | None = None
    if signed_data is not None:
        try:
            econtent_type = signed_data["encap_content_info"]["content_type"].dotted
        except Exception:
            dn, sn = named()
            return broken("eContentType unreadable", digest_algorithm=dn, signature_algorithm=sn)
    if attrs is None:
        if expected_type != _ID_DATA or (econtent_type is not None and econtent_type != _ID_DATA):
            problem = "no signed attributes, but the content is not id-data (RFC 5652 §5.3)"
            problem_code = "SIGNED_ATTRIBUTES_INVALID"
    else:
        if attrs.content_type != expected_type:
            problem = f"content-type attribute {attrs.content_type}, expected {expected_type}"
            problem_code = "SIGNED_ATTRIBUTES_INVALID"
        elif econtent_type is not None and econtent_type != attrs.content_type:
            problem = f"content-type attribute {attrs.content_type} differs from eContentType {econtent_type}"
            problem_code = "SIGNED_ATTRIBUTES_INVALID"
        if attrs.protection is not None:
            why = _protection_mismatch(attrs.protection, digest_alg, sig_alg)
            if why is not None:
                forbidden = f"CMSAlgorithmProtection {why} (RFC 6211)"

    # 4. the digest (decidable even when the signature algorithm is not)
    actual: bytes | None = None
    digest_note: str | None = None
    if digest_name is not None:
        try:
            actual = digest_for(digest_name)
        except (KeyError, ValueError, TypeError, AttributeError, NotImplementedError, UnsupportedAlgorithm) as exc:
            digest_note = f"document digest {digest_name} not computable ({type(exc).__name__})"
    intact: bool | None = None
    if attrs is not None and actual is not None:
        intact = attrs.message_digest == actual

    # 5. the certificate: among those the sid names, the one the ESS attribute names
    chosen = list(candidates)
    cert_code: str | None = None
    if not chosen:
        cert_code = "SIGNER_CERTIFICATE_MISSING"
    elif attrs is not None and attrs.ess is not None:
        ess = attrs.ess
        chosen = [c for c in chosen if _ess_names(c, ess)]
        if not chosen:
            cert_code = "SIGNING_CERTIFICATE_MISMATCH"

    # 6. the signature value, with each candidate until one verifies
    valid: bool | None = None
    signer: asn1_x509.Certificate | None = chosen[0] if chosen else None
    key: object = None
    note: str | None = None
    if scheme is not None and chosen and unsupported is None:
        if attrs is None and scheme.family in ("ed25519", "ed448"):
            unsupported = f"{scheme.family} without signed attributes signs the whole content, not a digest"
        elif attrs is None and actual is None:
            unsupported = digest_note or "no digest to verify"
        elif attrs is not None or sig_hash in (None, digest_name):
            message, prehashed = (attrs.der, False) if attrs is not None else (actual or b"", True)
            best: tuple[int, asn1_x509.Certificate, object, _Outcome] | None = None
            for cert in chosen:
                try:
                    cert_key = _public_key(cert)
                    outcome = _verify(cert_key, scheme, sig_params, signature, message, sig_hash, prehashed)
                except _Unsupported as exc:
                    cert_key, outcome = None, _Outcome(None, unsupported=str(exc))
                score = 2 if outcome.valid else 1 if outcome.valid is False else 0
                if best is None or score > best[0]:
                    best = (score, cert, cert_key, outcome)
                if outcome.valid:
                    break
            assert best is not None
            _, signer, key, outcome = best
            valid, note, unsupported = outcome.valid, outcome.detail, outcome.unsupported
            if attrs is None and outcome.other_digest:
                valid, intact = True, False  # a genuine signature of this key, over another digest
                note = "the signature is over another document digest"
            elif attrs is None and valid is True:
                intact = True  # without signed attributes the signature binds the digest itself
    if unsupported is None and digest_note is not None:
        unsupported = digest_note

    if sig_hash is not None and digest_name is not None and sig_hash != digest_name and attrs is not None:
        hash_note = f"signature hash {sig_hash} differs from digest algorithm {digest_name}"
        note = f"{note}; {hash_note}" if note else hash_note
    dn, sn = named(key)

    code, detail = _decide(problem, problem_code, intact, valid, forbidden, unsupported, signer, cert_code, note)
    return CmsCheck(
        signer_info_index=index,
        digest_algorithm=dn,
        signature_algorithm=sn,
        intact=intact,
        valid=valid,
        unsupported=unsupported,
        forbidden=forbidden,
        problem=problem,
        code=code,
        detail=detail,
        signer_cert=signer if cert_code is None else None,
    )


def _decide(
    problem: str | None,
    problem_code: str | None,
    intact: bool | None,
    valid: bool | None,
    forbidden: str | None,
    unsupported: str | None,
    signer: asn1_x509.Certificate | None,
    cert_code: str | None,
    note: str | None,
) -> tuple[str | None, str | None]:
    """The finding code and detail of the decisive issue, in :attr:`CmsCheck.indication`'s order."""
    if problem is not None:
        return problem_code or "CMS_UNREADABLE", problem
    if intact is False:
        return "DIGEST_MISMATCH", note
    if valid is False:
        return "SIGNATURE_INVALID", note
    if forbidden is not None:
        code = (
            "ALGORITHM_PROTECTION_MISMATCH"
            if forbidden.startswith("CMSAlgorithmProtection")
            else "ALGORITHM_FORBIDDEN"
        )
        return code, forbidden
    if unsupported is not None:
        return "UNSUPPORTED_ALGORITHM", unsupported
    if cert_code is not None or signer is None:
        return cert_code or "SIGNER_CERTIFICATE_MISSING", None
    return None, note


def _protection_mismatch(
    protection: cms.CMSAlgorithmProtection, digest_alg: core.Sequence, sig_alg: core.Sequence
) -> str | None:
    """Why RFC 6211's attribute disagrees with the SignerInfo, or None when it agrees."""

    def same(a: core.Sequence, b: core.Sequence) -> bool:
        return bool(_dotted(a) == _dotted(b) and _params_der(a) == _params_der(b))

    try:
        if not same(protection["digest_algorithm"], digest_alg):
            return f"names digest {_dotted(protection['digest_algorithm'])}, the SignerInfo {_dotted(digest_alg)}"
        claimed = protection["signature_algorithm"]
        if isinstance(claimed, core.Void) or claimed is None:
            return "has no signature algorithm"
        if not isinstance(protection["mac_algorithm"], core.Void):
            return "names a MAC algorithm in a signature"
        if not same(claimed, sig_alg):
            return f"names signature {_dotted(claimed)}, the SignerInfo {_dotted(sig_alg)}"
    except Exception as exc:
        return f"unreadable ({type(exc).__name__})"
    return None


def check_signer_info(
    signed_data: cms.SignedData | None,
    signer_info: cms.SignerInfo,
    cert: asn1_x509.Certificate | None,
    *,
    expected_content_type: str,
    actual_digest: bytes,
    index: int = 0,
) -> CmsCheck:
    """Judge one SignerInfo against ``cert`` (not checked against the sid: the caller chose it).

    ``actual_digest`` is the digest of the signed content computed with the
    SignerInfo's own digest algorithm (see :data:`DIGEST_NAMES`);
    ``expected_content_type`` an asn1crypto name (``data``, ``tst_info``) or a
    dotted OID. ``signed_data``, when given, must agree on the eContentType.
    ``cert`` None judges the digest only (``signer_cert`` None:
    NO_SIGNING_CERTIFICATE_FOUND).
    """
    expected = _content_type_oid(expected_content_type)
    return _judge(
        signed_data, signer_info, index, [cert] if cert is not None else [], expected, lambda _: actual_digest
    )


def check_cms(
    signed_data: cms.SignedData,
    certs: Iterable[asn1_x509.Certificate] | None = None,
    *,
    expected_content_type: str = "data",
    digest_of: Callable[[str], bytes] | None = None,
    encapsulated_digest: str | None = None,
) -> CmsCheck:
    """Judge a whole SignedData, every SignerInfo of it that can be judged.

    ``certs``: where to look for the signers' certificates, by issuer and
    serial number or subjectKeyIdentifier (None: those embedded in
    ``signed_data``). Content:

    - detached (a PDF's adbe.pkcs7.detached / ETSI.CAdES.detached): pass
      ``digest_of(name)``, the document's digest under the digest algorithm
      ``name`` (one of :data:`DIGEST_NAMES`). An eContent is a ``problem``
      (ENCAPSULATED_CONTENT_UNEXPECTED: the signature covers other bytes than
      the document, pyHanko's pdf-sig-with-econtent.pdf) unless it is exactly
      the signed bytes (same SHA-256 as ``digest_of("sha256")``), which EU DSS
      accepts (pades-enveloping-cms.pdf) and which then passes with a
      ``detail`` saying so;
    - adbe.pkcs7.sha1: pass ``digest_of`` and ``encapsulated_digest="sha1"``:
      the eContent must equal ``digest_of("sha1")`` (else ``intact=False``) and
      the signature covers the eContent;
    - encapsulated (a timestamp token: ``expected_content_type="tst_info"``):
      leave ``digest_of`` None; the eContent is what is digested.

    Several SignerInfos (RFC 5652 allows parallel signatures; EU DSS accepts
    pdf-double-signer-info.pdf): every SignerInfo is a claim that the content
    was signed, so each one whose certificate is present is judged and the
    result is the worst of them: the document is intact and valid only when
    all of them are, and one broken, forged or forbidden SignerInfo fails the
    whole CMS, since a reader cannot tell which of the signers the signature
    field stands for. A SignerInfo whose certificate is absent proves nothing
    and cannot be verified; it is listed in ``skipped`` instead, unless no
    SignerInfo has a certificate (then the first is reported, without one).
    An unreadable SignerInfo is never skipped: it is a broken structure.
    """
    expected = _content_type_oid(expected_content_type)
    try:
        infos = list(signed_data["signer_infos"])
        econtent = signed_data["encap_content_info"]["content"]
        content: bytes | None = None if isinstance(econtent, core.Void) else bytes(econtent)
    except Exception as exc:
        return _whole_problem(f"SignedData unreadable ({type(exc).__name__})", "CMS_UNREADABLE", 0)
    if not infos:
        return _whole_problem("no SignerInfo", "CMS_UNREADABLE", 0)
    pool = embedded_certificates(signed_data) if certs is None else tuple(certs)

    binding: bool | None = None
    enveloped = False
    if content is not None and digest_of is not None and encapsulated_digest is None:
        # ISO 32000 wants nothing encapsulated in a detached signature; EU DSS accepts a CMS that
        # encapsulates exactly the signed bytes (pades-enveloping-cms.pdf): the signature then covers
        # the document all the same. Anything else (pyHanko's pdf-sig-with-econtent.pdf: an empty
        # eContent) means the signature covers other bytes than the document.
        try:
            enveloped = digest("sha256", content) == digest_of("sha256")
        except (KeyError, ValueError, TypeError, AttributeError, NotImplementedError, UnsupportedAlgorithm):
            enveloped = False
        if not enveloped:
            return _whole_problem(
                "a detached signature encapsulates other content than the signed bytes",
                "ENCAPSULATED_CONTENT_UNEXPECTED",
                len(infos),
            )
    if content is None and (encapsulated_digest is not None or digest_of is None):
        return _whole_problem(
            "the signed content is not encapsulated", "ENCAPSULATED_CONTENT_UNEXPECTED", len(infos)
        )
    if content is not None and encapsulated_digest is not None and digest_of is not None:
        try:
            binding = content == digest_of(encapsulated_digest)
        except (KeyError, ValueError, TypeError, AttributeError, NotImplementedError, UnsupportedAlgorithm):
            binding = None

    cache: dict[str, bytes] = {}

    def digest_for(name: str) -> bytes:
        if name not in cache:
            cache[name] = digest(name, content) if content is not None else _call(digest_of, name)
        return cache[name]

    checks: list[CmsCheck] = []
    skipped: list[int] = []
    for index, info in enumerate(infos):
        try:
            sid = info["sid"]
            candidates = [c for c in pool if _matches_sid(c, sid)]
        except Exception as exc:
            checks.append(
                _whole_problem(f"SignerInfo unreadable ({type(exc).__name__})", "CMS_UNREADABLE", 1, index)
            )
            continue
        check = _judge(signed_data, info, index, candidates, expected, digest_for)
        if binding is False and check.problem is None:
            detail = "the encapsulated digest differs from the document's"
            check = replace(check, intact=False, code="DIGEST_MISMATCH", detail=detail)
        elif binding is None and encapsulated_digest is not None and check.passed:
            why = f"{encapsulated_digest} not computable"
            check = replace(check, intact=None, unsupported=why, code="UNSUPPORTED_ALGORITHM", detail=why)
        if not candidates and check.problem is None:
            skipped.append(index)
        checks.append(check)

    judged = [c for c in checks if c.signer_info_index not in skipped]
    if not judged:  # nobody's certificate is here: report the first, as missing its certificate
        judged, skipped = [checks[0]], [i for i in skipped if i != checks[0].signer_info_index]
    worst = max(judged, key=lambda c: (c.severity, -c.signer_info_index))
    if enveloped and worst.passed:
        worst = replace(worst, detail="the detached signature also encapsulates the signed bytes")
    return replace(worst, signer_info_count=len(infos), skipped=tuple(skipped))


def _call(digest_of: Callable[[str], bytes] | None, name: str) -> bytes:
    if digest_of is None:
        raise ValueError("no document digest")
    return digest_of(name)


def _whole_problem(message: str, code: str, count: int, index: int = 0) -> CmsCheck:
    return CmsCheck(
        signer_info_index=index,
        digest_algorithm="unknown",
        signature_algorithm="unknown",
        intact=None,
        valid=None,
        problem=message,
        code=code,
        detail=message,
        signer_info_count=count,
    )


def new_digest(name: str) -> hashes.Hash:
    """A running digest ``name`` (one of :data:`DIGEST_NAMES`), fed chunk by chunk; KeyError otherwise."""
    return hashes.Hash(_HASHES[name]())
