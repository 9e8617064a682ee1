"""Signed PDFs for the validator's tests: the attacks of pdf-insecurity.org and the trust scenarios.

Every sample is made afresh in the session's dev environment (``dev_env``):
the victims' signatures come from our own :class:`envelopes.sealing.SealService`
(SoftHSM seal keys) or from pyHanko and endesive with software keys whose
certificates the dev PKI issues; the attacker's edits are written here by hand,
byte by byte, so each sample is exactly the attack it is named after and
nothing a library would "fix" on the way.

Use :func:`samples_for` to get the session's :class:`SampleFactory`, then
``factory.get(name)`` for a :class:`Sample`; :data:`SAMPLES` lists every name
with its :class:`Category` and a one-line description. Samples are cached per
factory, so the self-checks and the verdict tables share one build.

A sample is deterministic given the dev environment in everything the attack
depends on (structure, offsets, which bytes are moved or replaced); signature
values, keys and timestamps are of course new in every session.

Keys are generated in memory and never written; certificates live in the dev
environment's ``devpki/certs`` (file stems ``vsample-*``); working files go to
``<dev_env>/validation-samples``. Nothing is written into the repository.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import importlib.util
import io
import random
import re
import time
import types
import unittest.mock
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pikepdf
from asn1crypto import cms as asn1_cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.signers.pdf_signer import TimestampDSSContentSettings
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from devkit import devpki
from devkit.devpki import DevPKI, PersonSubject
from devkit.devsetup import DevEnvironment
from devkit.responders import STATE_POLL_SECONDS
from envelopes.sealing import SealService
from hsm_config.deployment import load_deployment
from signer.levels import PadesLevel

#: What the victim reads and signs, and what the attacker wants shown instead (same length).
BID_TEXT = "Bid amount: 1,000,000,000 IRR"
FORGED_TEXT = "Bid amount: 9,000,000,000 IRR"
#: The text of pages an attacker adds.
ATTACKER_PAGE_TEXT = "Annex: the bidder withdraws all guarantees"

SAMPLE_DIR = "validation-samples"
#: Stem of every certificate the samples issue from the dev PKI.
CERT_PREFIX = "vsample-"


class SampleError(RuntimeError):
    """A sample cannot be built as described (a bug here, or a base document of another shape)."""


class Category(enum.StrEnum):
    """What a sample tests; the attack classes follow pdf-insecurity.org."""

    FORGERY = "universal-signature-forgery"
    INTEGRITY = "integrity"  # signed bytes or signature value changed in place
    INCREMENTAL = "incremental-saving"
    WRAPPING = "signature-wrapping"
    SHADOW = "shadow"
    CERTIFICATION = "certification"
    STRUCTURE = "structure"  # truncated, ByteRange past EOF, overlapping signatures
    TRUST = "trust"  # revocation, expiry, unknown root
    CRYPTO = "crypto"  # weak algorithms
    CONTROL = "control"  # valid signatures, ours and other software's

    @property
    def is_attack(self) -> bool:
        """Whether no signature of such a sample may ever pass."""
        return self in ATTACK_CATEGORIES


ATTACK_CATEGORIES = frozenset(
    {
        Category.FORGERY,
        Category.INTEGRITY,
        Category.INCREMENTAL,
        Category.WRAPPING,
        Category.SHADOW,
        Category.CERTIFICATION,
        Category.STRUCTURE,
    }
)


@dataclass(frozen=True)
class Sample:
    """One signed PDF and what it is.

    ``base`` is the validly signed document an attack was made from (None for
    trust scenarios and controls); ``at`` is the time to validate at when it
    is not now (expiry scenarios).
    """

    name: str
    category: Category
    description: str
    data: bytes
    base: bytes | None = None
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Made:
    """What a generator returns; the registry adds name, category and description."""

    data: bytes
    base: bytes | None = None
    at: dt.datetime | None = None


Generator = Callable[["SampleFactory"], Made]


@dataclass(frozen=True)
class SampleSpec:
    """A registered generator."""

    name: str
    category: Category
    description: str
    make: Generator


#: Every sample by name, in definition order.
SAMPLES: dict[str, SampleSpec] = {}


def _sample(category: Category) -> Callable[[Generator], Generator]:
    """Register a generator under its function name; its docstring's first line describes it."""

    def register(fn: Generator) -> Generator:
        doc = (fn.__doc__ or "").strip().splitlines()
        if not doc:
            raise SampleError(f"{fn.__name__} needs a docstring")
        SAMPLES[fn.__name__] = SampleSpec(fn.__name__, category, doc[0], fn)
        return fn

    return register


def names(*categories: Category) -> list[str]:
    """The sample names of ``categories`` (all when none given), in definition order."""
    return [s.name for s in SAMPLES.values() if not categories or s.category in categories]


# == the factory ===================================================================================


@dataclass(frozen=True)
class SoftSigner:
    """A software RSA key with its certificate and the chain to embed."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuer first, root last

    def pyhanko(self) -> signers.SimpleSigner:
        """The pyHanko signer for this key."""
        key_der = self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return signers.SimpleSigner(
            signing_cert=asn1_cert(self.certificate),
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs([asn1_cert(c) for c in self.chain]),
        )


class PdfSignerAt(signers.PdfSigner):
    """pyHanko's PdfSigner with the signing time chosen (the signing-time attribute and /M)."""

    def __init__(self, *args: Any, system_time: dt.datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.system_time = system_time

    def init_signing_session(self, *args: Any, **kwargs: Any) -> Any:
        session = super().init_signing_session(*args, **kwargs)
        if self.system_time is not None:
            session.system_time = self.system_time
        return session


class DevTsaAt(DummyTimeStamper):
    """The dev TSA's key and certificate stamping a chosen time, under the dev TSA's policy.

    The live responder always stamps now; a scenario that needs a signature
    made in the past (revoked an hour after signing, expired since) gets its
    timestamp from the same TSA identity, offline.
    """

    def _build_tst_info(self, message_imprint: Any, dt: Any, req: Any) -> Any:
        info = super()._build_tst_info(message_imprint, dt, req)
        info["policy"] = devpki.TSA_POLICY_OID
        return info


@dataclass(frozen=True)
class RevokedAfter:
    """Three signatures by one key made before its certificate was revoked."""

    b_b: bytes
    b_t: bytes
    b_lt: bytes
    revoked_at: dt.datetime


@dataclass(frozen=True)
class ExpiringSigned:
    """Signatures made while a certificate was valid, and when to validate them (after it expired)."""

    b_b: bytes
    b_lt: bytes
    b_lta: bytes
    not_after: dt.datetime
    validate_at: dt.datetime | None  # None: now


class SampleFactory:
    """Builds and caches the samples in one dev environment."""

    def __init__(self, env: DevEnvironment) -> None:
        self.env = env
        self.workdir = env.directory / SAMPLE_DIR
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._samples: dict[str, Sample] = {}
        self._memo: dict[str, Any] = {}
        self._service: SealService | None = None

    # -- samples --

    def get(self, name: str) -> Sample:
        """The sample called ``name``, built on first use."""
        sample = self._samples.get(name)
        if sample is None:
            spec = SAMPLES[name]
            made = spec.make(self)
            sample = self._samples[name] = Sample(
                spec.name, spec.category, spec.description, made.data, made.base, made.at
            )
        return sample

    def close(self) -> None:
        """Log out of the HSM; the factory stays usable and logs in again when needed."""
        if self._service is not None:
            self._service.close()
            self._service = None

    def memo(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()`` once per factory: base documents, signers and scenarios shared by samples."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    # -- the dev PKI --

    @property
    def pki_dir(self) -> Path:
        return self.env.directory / "devpki"

    def root_certificate(self) -> x509.Certificate:
        """The dev root, the validator's trust anchor."""
        return x509.load_pem_x509_certificate(self.env.root_cert_path.read_bytes())

    def ca_certificate(self, slug: str) -> x509.Certificate:
        """A dev CA certificate (``general-ca``, ``government-ca``, ``root-ca``)."""
        return x509.load_pem_x509_certificate(self.env.ca_cert_paths[slug].read_bytes())

    def soft_signer(self, name: str) -> SoftSigner:
        """The software signer ``name`` of :data:`SOFT_SIGNERS` (all are issued together, on first use)."""
        signers_: dict[str, SoftSigner] = self.memo("signers", self._issue_soft_signers)
        return signers_[name]

    def _issue_soft_signers(self) -> dict[str, SoftSigner]:
        """An RSA-2048 key and a person-independent dev-PKI certificate for each of :data:`SOFT_SIGNERS`.

        Issued in one go, then one wait: the responders reload the register at
        most once a second and answer "unknown" for a serial they have not seen.
        """
        now = _whole_seconds(dt.datetime.now(dt.UTC))
        pki = DevPKI.load(self.pki_dir)  # afresh: other tests may have issued or revoked since
        issuer = devpki.PROFILE_ISSUER[devpki.PERSON_INDEPENDENT]
        chain = (self.ca_certificate(issuer), self.root_certificate())
        issued = {}
        for name, validity in SOFT_SIGNERS.items():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            code = devpki.national_code(f"{zlib.crc32(name.encode()) % 10**9:09d}")
            not_before, not_after = (None, None) if validity is None else (now + validity[0], now + validity[1])
            cert = pki.issue(
                devpki.PERSON_INDEPENDENT,
                PersonSubject(f"Sample Signer {name}", "Sample", name, code),
                key.public_key(),
                CERT_PREFIX + name,
                not_before=not_before,
                not_after=not_after,
            )
            issued[name] = SoftSigner(key, cert, chain)
        time.sleep(STATE_POLL_SECONDS + 0.2)
        return issued

    def revoke(self, certificate: x509.Certificate, when: dt.datetime) -> None:
        """Revoke in the dev PKI (keyCompromise at ``when``) and wait until the responders serve it."""
        DevPKI.load(self.pki_dir).revoke(certificate.serial_number, time=when, reason="keyCompromise")
        # The responders poll state.json at most once a second; after that the next request reloads it.
        time.sleep(STATE_POLL_SECONDS + 0.2)

    def validation_context(self, moment: dt.datetime | None = None) -> ValidationContext:
        """pyHanko's context for embedding validation data: the dev root, fetching on.

        With a past ``moment`` (backdated signatures) revocation answers issued
        after it are accepted, as they are for any signature validated later.
        """
        others = [asn1_cert(self.ca_certificate(s)) for s in (devpki.GENERAL, devpki.GOVERNMENT)]
        return ValidationContext(
            trust_roots=[asn1_cert(self.root_certificate())],
            other_certs=others,
            allow_fetching=True,
            moment=moment,
            retroactive_revinfo=moment is not None,
        )

    def dev_tsa_at(self, when: dt.datetime) -> timestamps.TimeStamper:
        """The dev TSA's own key and certificate stamping ``when`` instead of now (see :class:`DevTsaAt`)."""
        tsa = DevPKI.load(self.pki_dir).tsa
        key_der = tsa.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return DevTsaAt(asn1_cert(tsa.certificate), asn1_keys.PrivateKeyInfo.load(key_der), fixed_dt=when)

    # -- signing --

    def seal(self, source: bytes, level: PadesLevel, name: str, org: str = "demo-co") -> bytes:
        """``source`` sealed by ``org`` with our own signer (SoftHSM key) at ``level``."""
        if self._service is None:
            self._service = SealService(load_deployment(self.env.deployment_path))
        src = self.workdir / f"{name}.in.pdf"
        dst = self.workdir / f"{name}.pdf"
        src.write_bytes(source)
        self._service.seal(org, src, dst, level)
        return dst.read_bytes()

    def pyhanko_sign(
        self,
        data: bytes,
        who: SoftSigner | signers.Signer,
        *,
        field: str,
        level: PadesLevel = PadesLevel.B_B,
        md: str = "sha256",
        certify: fields.MDPPerm | None = None,
        signed_at: dt.datetime | None = None,
    ) -> bytes:
        """``data`` signed by pyHanko as PAdES at ``level`` (a certification when ``certify`` is given).

        Timestamps come from the live dev TSA; with ``signed_at`` the signature
        is backdated instead: signing-time ``signed_at``, a signature timestamp
        a minute later from the dev TSA's key (:meth:`dev_tsa_at`), and for B-LT
        revocation answers fetched now. B-LTA is not offered backdated: add a
        live document timestamp with :meth:`document_timestamp`.
        """
        if signed_at is not None and level.archival:
            raise SampleError("a backdated B-LTA is a backdated B-LT plus document_timestamp()")
        meta = signers.PdfSignatureMetadata(
            field_name=field,
            md_algorithm=md,
            subfilter=fields.SigSeedSubFilter.PADES,
            certify=certify is not None,
            docmdp_permissions=certify or fields.MDPPerm.FILL_FORMS,
            embed_validation_info=level.long_term,
            use_pades_lta=level.archival,
            validation_context=self.validation_context(signed_at) if level.long_term else None,
        )
        stamper: timestamps.TimeStamper | None = None
        if level.timestamped:
            stamper = (
                timestamps.HTTPTimeStamper(self.env.tsa_url)
                if signed_at is None
                else self.dev_tsa_at(signed_at + dt.timedelta(minutes=1))
            )
        signer = who.pyhanko() if isinstance(who, SoftSigner) else who
        out = io.BytesIO()
        PdfSignerAt(meta, signer, timestamper=stamper, system_time=signed_at).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(data)), output=out
        )
        return out.getvalue()

    def document_timestamp(self, data: bytes) -> bytes:
        """``data`` with the live dev TSA's validation data in the DSS and a document timestamp (B-LTA)."""
        out = io.BytesIO()
        signers.PdfTimeStamper(timestamps.HTTPTimeStamper(self.env.tsa_url)).timestamp_pdf(
            IncrementalPdfFileWriter(io.BytesIO(data)),
            "sha256",
            validation_context=self.validation_context(),
            output=out,
            # The DSS first, so the timestamp covers the whole file, as in our B-LTA.
            dss_settings=TimestampDSSContentSettings(update_before_ts=True, include_vri=False),
        )
        return out.getvalue()

    def endesive_sign(self, data: bytes, who: SoftSigner, *, field: str) -> bytes:
        """``data`` signed by endesive (adbe.pkcs7.detached, SHA-256), as another product would."""
        now = dt.datetime.now(dt.UTC)
        udct = {
            "sigflags": 3,
            "sigfield": field,
            "contact": "signer@example.org",
            "location": "Tehran",
            "signingdate": now.strftime("D:%Y%m%d%H%M%S+00'00'"),
            "reason": "Signed with endesive",
            "aligned": 0,
        }
        appended: bytes = endesive_pdf_cms().sign(
            data, udct, who.key, who.certificate, list(who.chain[:-1]), "sha256"
        )
        return data + appended

    # -- base documents --

    def base(self, level: PadesLevel = PadesLevel.B_B) -> bytes:
        """The plain bid document sealed by demo-co with our signer."""
        key = f"base:{level.value}"
        data: bytes = self.memo(key, lambda: self.seal(document(), level, f"base-{level.value}"))
        return data

    def pyhanko_base(self) -> bytes:
        """The plain bid document signed B-B by pyHanko (its /ByteRange follows /Contents)."""
        data: bytes = self.memo(
            "base:pyhanko",
            lambda: self.pyhanko_sign(document(), self.soft_signer("pyhanko"), field="Signature1"),
        )
        return data

    def certified(self, permission: fields.MDPPerm) -> bytes:
        """The bid document certified by pyHanko with DocMDP ``permission`` (PAdES B-B)."""

        def build() -> bytes:
            return self.pyhanko_sign(
                document(), self.soft_signer("certifier"), field="Certification", certify=permission
            )

        data: bytes = self.memo(f"certified:{permission.value}", build)
        return data


#: The software signers samples use, by name: validity as (notBefore, notAfter) offsets from
#: now, or None for the dev PKI's default (a day back to a year on).
SOFT_SIGNERS: dict[str, tuple[dt.timedelta, dt.timedelta] | None] = {
    "pyhanko": None,
    "certifier": None,
    "endesive": None,
    "sha1": None,
    "revoked-before": None,
    "revoked-after": None,
    "expired": (-dt.timedelta(days=10), -dt.timedelta(days=2)),
    "short-lived": (-dt.timedelta(days=1), dt.timedelta(days=2)),
    # Valid long before and after now: validation at a past time is judged on the signature's times alone.
    "long-standing": (-dt.timedelta(days=500), dt.timedelta(days=400)),
}


_FACTORIES: dict[Path, SampleFactory] = {}


def samples_for(env: DevEnvironment) -> SampleFactory:
    """The one factory of ``env`` in this process (shared by every test module)."""
    factory = _FACTORIES.get(env.directory)
    if factory is None:
        factory = _FACTORIES[env.directory] = SampleFactory(env)
    return factory


def asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    """A cryptography certificate as asn1crypto's."""
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def endesive_pdf_cms() -> types.ModuleType:
    """endesive's PDF signer, loaded around two incompatibilities of this environment.

    ``import endesive.pdf`` also imports its verifier, whose oscrypto 1.3 cannot
    parse the OpenSSL version "3.0.19" (two-digit patch) and raises
    LibraryNotFoundError; so the signing module is loaded on its own. And
    endesive 3.0.1 calls pypdf's ``write_to_stream(stream, None)``, which pypdf
    7 no longer accepts; its trailer classes are given the old signature.
    """
    module = _ENDESIVE.get("cms")
    if module is not None:
        return module
    import endesive
    from pypdf import generic

    path = Path(endesive.__file__).parent / "pdf" / "cms.py"
    spec = importlib.util.spec_from_file_location("_pakat_endesive_pdf_cms", path)
    if spec is None or spec.loader is None:
        raise SampleError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class _Dictionary(generic.DictionaryObject):
        def write_to_stream(self, stream: Any, encryption_key: Any = None) -> None:
            generic.DictionaryObject.write_to_stream(self, stream)

    class _Stream(generic.StreamObject):
        def write_to_stream(self, stream: Any, encryption_key: Any = None) -> None:
            generic.StreamObject.write_to_stream(self, stream)

    shim = types.ModuleType("pypdf.generic")
    shim.__dict__.update(vars(generic))
    shim.DictionaryObject = _Dictionary  # type: ignore[attr-defined]
    shim.StreamObject = _Stream  # type: ignore[attr-defined]
    module.po = shim  # type: ignore[attr-defined]
    _ENDESIVE["cms"] = module
    return module


_ENDESIVE: dict[str, types.ModuleType] = {}


# == documents ===================================================================================


def _font(pdf: pikepdf.Pdf) -> pikepdf.Object:
    """Helvetica as an indirect object, so an update can replace it by number."""
    return pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )


def _text(text: str, y: int = 700) -> bytes:
    return f"BT /F1 18 Tf 72 {y} Td ({text}) Tj ET".encode("latin-1")


def _page(pdf: pikepdf.Pdf, content: bytes, font: pikepdf.Object, **xobjects: pikepdf.Object) -> pikepdf.Page:
    resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    if xobjects:
        resources.XObject = pikepdf.Dictionary({f"/{k}": v for k, v in xobjects.items()})
    page = pikepdf.Dictionary(
        Type=pikepdf.Name.Page,
        MediaBox=[0, 0, 595, 842],
        Resources=resources,
        Contents=pdf.make_stream(content),
    )
    return pikepdf.Page(page)


def _save(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    # Classic xref table, uncompressed streams, an /ID from the content: the same bytes every time.
    pdf.save(
        out,
        compress_streams=False,
        object_stream_mode=pikepdf.ObjectStreamMode.disable,
        deterministic_id=True,
    )
    return out.getvalue()


def document(text: str = BID_TEXT) -> bytes:
    """The bid: one page, a heading and ``text``, Helvetica as indirect object 5-ish."""
    pdf = pikepdf.new()
    font = _font(pdf)
    pdf.pages.append(_page(pdf, _text("Envelope C - price offer", 760) + b"\n" + _text(text), font))
    return _save(pdf)


def _form(pdf: pikepdf.Pdf, content: bytes, font: pikepdf.Object) -> pikepdf.Object:
    return pdf.make_stream(
        content,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Form,
        BBox=[0, 0, 595, 842],
        Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
    )


def shadow_hide_document() -> bytes:
    """Shadow 'hide' prepared by the attacker: the forged text lies under a cover form that shows the bid."""
    pdf = pikepdf.new()
    font = _font(pdf)
    shadow = _form(pdf, _text(FORGED_TEXT), font)
    cover = _form(pdf, b"1 g 60 690 480 40 re f 0 g " + _text(BID_TEXT), font)
    content = _text("Envelope C - price offer", 760) + b"\nq /Shadow Do Q q /Cover Do Q"
    pdf.pages.append(_page(pdf, content, font, Shadow=shadow, Cover=cover))
    return _save(pdf)


def shadow_hide_and_replace_document() -> bytes:
    """Shadow 'hide-and-replace' prepared by the attacker: a second page tree sits unused in the catalog."""
    pdf = pikepdf.new()
    font = _font(pdf)
    pdf.pages.append(_page(pdf, _text("Envelope C - price offer", 760) + b"\n" + _text(BID_TEXT), font))
    shadow_tree = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Pages, Count=1))
    shadow_page = _page(pdf, _text("Envelope C - price offer", 760) + b"\n" + _text(FORGED_TEXT), font).obj
    shadow_page.Parent = shadow_tree
    shadow_tree.Kids = pikepdf.Array([pdf.make_indirect(shadow_page)])
    pdf.Root.ShadowPages = shadow_tree
    return _save(pdf)


#: Where the bid amount is drawn on the page (user space), and a blank area below it.
BID_LINE_RECT = (60, 690, 540, 730)
BLANK_RECT = (72, 500, 400, 530)


def form_document(rect: tuple[int, int, int, int], name: str) -> bytes:
    """The bid with an empty text field ``name`` at ``rect``: no value and an empty (transparent) appearance."""
    pdf = pikepdf.new()
    font = _font(pdf)
    page = _page(pdf, _text("Envelope C - price offer", 760) + b"\n" + _text(BID_TEXT), font)
    pdf.pages.append(page)
    x0, y0, x1, y1 = rect
    box = [0, 0, x1 - x0, y1 - y0]
    look = pdf.make_stream(b"", Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form, BBox=box)
    widget = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Widget, FT=pikepdf.Name.Tx, T=pikepdf.String(name),
            Rect=list(rect), F=4, DA=pikepdf.String("/F1 18 Tf 0 g"), P=pdf.pages[0].obj,
            AP=pikepdf.Dictionary(N=look),
        )
    )
    pdf.pages[0].obj.Annots = pikepdf.Array([widget])
    pdf.Root.AcroForm = pikepdf.Dictionary(
        Fields=pikepdf.Array([widget]), DA=pikepdf.String("/F1 18 Tf 0 g"),
        DR=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
    )
    return _save(pdf)


def filled_field(base: bytes, name: str, value: str, *, opaque: bool) -> bytes:
    """``base`` with text field ``name`` filled in an incremental update: /V and a new appearance stream.

    ``opaque`` paints the field's box white before the text, as a field that hides what lies under it.
    """
    u = Update(base)
    widget = next(w for w in u.page().Annots if str(w.get("/T")) == name)
    x0, y0, x1, y1 = (float(v) for v in widget.Rect)
    paint = b"1 g 0 0 %d %d re f 0 g " % (x1 - x0, y1 - y0) if opaque else b""
    text = b"BT /F1 18 Tf 12 10 Td (%s) Tj ET" % value.encode("latin-1")
    font = u.page().Resources.Font.F1
    look = u.add(_stream(paint + text, b" /Type /XObject /Subtype /Form /BBox [0 0 %d %d] /Resources << /Font "
                               b"<< /F1 %s >> >>" % (x1 - x0, y1 - y0, font.unparse())))
    u.put(widget, _dict_text(widget, {"/V": pikepdf.String(value).unparse(), "/AP": b"<< /N %d 0 R >>" % look}))
    return u.write()


# == raw PDF surgery ===============================================================================

_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[([^\]]*)\]")
_STARTXREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")


@dataclass(frozen=True)
class SignatureBytes:
    """Where one signature sits in the file, found from its /ByteRange text."""

    byte_range: tuple[int, ...]  # as written
    byte_range_span: tuple[int, int]  # the "/ByteRange [...]" text and the padding after it

    @property
    def hole(self) -> tuple[int, int]:
        """The gap between the two ranges: the /Contents hex string, with its angle brackets."""
        return self.byte_range[1], self.byte_range[2]

    def signed_bytes(self, data: bytes) -> bytes:
        """What the two ranges cover."""
        a, b, c, d = self.byte_range
        return data[a : a + b] + data[c : c + d]

    def contents_hex(self, data: bytes) -> bytes:
        """The hex digits in the hole (padding included)."""
        start, end = self.hole
        text = data[start:end]
        if not (text.startswith(b"<") and text.endswith(b">")):
            raise SampleError("the ByteRange hole does not hold a hex string")
        return text[1:-1]

    def cms_der(self, data: bytes) -> bytes:
        """The CMS DER without the zero padding."""
        raw = bytes.fromhex(self.contents_hex(data).decode("ascii"))
        return der_prefix(raw)

    def contents_keyword(self, data: bytes) -> int:
        """Offset of the "/Contents" key owning the hole."""
        return data.rindex(b"/Contents", 0, self.hole[0])


def signatures_in(data: bytes) -> list[SignatureBytes]:
    """Every well-formed four-number /ByteRange in ``data``, in file order."""
    found = []
    for m in _BYTE_RANGE.finditer(data):
        numbers = tuple(int(n) for n in m.group(1).split())
        end = m.end()
        while end < len(data) and data[end : end + 1] == b" ":
            end += 1
        if len(numbers) == 4:
            found.append(SignatureBytes(numbers, (m.start(), end)))
    return found


def der_prefix(raw: bytes) -> bytes:
    """The DER element at the start of ``raw`` (definite length), without what follows."""
    if len(raw) < 2:
        raise SampleError("no DER element")
    first = raw[1]
    if first < 0x80:
        return raw[: 2 + first]
    size = first & 0x7F
    length = int.from_bytes(raw[2 : 2 + size], "big")
    return raw[: 2 + size + length]


def startxref(data: bytes) -> int:
    """The offset the final ``startxref`` names."""
    m = _STARTXREF.search(data[-64:])
    if m is None:
        raise SampleError("no startxref at the end")
    return int(m.group(1))


def splice(data: bytes, start: int, end: int, new: bytes, fill: bytes = b" ") -> bytes:
    """``data`` with ``[start, end)`` replaced by ``new`` padded with ``fill`` to the same length."""
    if len(new) > end - start:
        raise SampleError(f"{len(new)} bytes do not fit in {end - start}")
    return data[:start] + new + fill * (end - start - len(new)) + data[end:]


def rewrite_byte_range(data: bytes, sig: SignatureBytes, text: bytes) -> bytes:
    """``data`` with ``sig``'s "/ByteRange [...]" (and padding) replaced by ``text``, same length."""
    return splice(data, *sig.byte_range_span, text)


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(content), extra, content)


def _syntax(value: object) -> bytes:
    """PDF syntax of a value as pikepdf returns it (references stay references)."""
    if isinstance(value, pikepdf.Object):
        return value.unparse()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, Decimal):
        return format(value, "f").encode("ascii")
    raise SampleError(f"cannot write a {type(value).__name__}")


def _dict_text(obj: pikepdf.Object, changes: Mapping[str, bytes]) -> bytes:
    """The dictionary ``obj`` as PDF syntax with ``changes`` (key -> syntax) applied or added."""
    parts = []
    for key in obj.keys():  # noqa: SIM118 -- a pikepdf object, not a dict
        if key not in changes:
            parts.append(pikepdf.Name(key).unparse() + b" " + _syntax(obj.get(key)))
    parts += [pikepdf.Name(key).unparse() + b" " + value for key, value in changes.items()]
    return b"<< " + b" ".join(parts) + b" >>"


def _array_text(arr: pikepdf.Object, *extra: bytes) -> bytes:
    return b"[" + b" ".join([*(_syntax(v) for v in arr), *extra]) + b"]"


def _xref_table(entries: Mapping[int, tuple[int, int, bytes]]) -> bytes:
    """A classic xref section: number -> (offset, generation, b"n" or b"f")."""
    out = [b"xref\n"]
    numbers = sorted(entries)
    runs: list[list[int]] = []
    for n in numbers:
        if runs and runs[-1][-1] + 1 == n:
            runs[-1].append(n)
        else:
            runs.append([n])
    for run in runs:
        out.append(b"%d %d\n" % (run[0], len(run)))
        for n in run:
            offset, gen, kind = entries[n]
            out.append(b"%010d %05d %s \n" % (offset, gen, kind))
    return b"".join(out)


def _xref_section(data: bytes, offset: int) -> tuple[dict[int, tuple[int, int, bytes]], bytes]:
    """The classic xref section at ``offset``: its entries, and its "trailer << ... >>" text."""
    if not data.startswith(b"xref", offset):
        raise SampleError(f"no classic xref table at {offset}")
    trailer_at = data.index(b"trailer", offset)
    lines = data[offset + 4 : trailer_at].split()
    entries: dict[int, tuple[int, int, bytes]] = {}
    i = 0
    while i < len(lines):
        first, count = int(lines[i]), int(lines[i + 1])
        i += 2
        for n in range(first, first + count):
            entries[n] = (int(lines[i]), int(lines[i + 1]), lines[i + 2])
            i += 3
    end = data.index(b"startxref", trailer_at)
    return entries, data[trailer_at:end].rstrip() + b"\n"


class Update:
    """An incremental update written by hand: added and replaced objects, a classic xref, a trailer.

    Reads the current objects with pikepdf only to copy their syntax; the
    original bytes pass through untouched.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pdf = pikepdf.open(io.BytesIO(data))
        self.size = int(self.pdf.trailer.Size)
        self.objects: dict[int, bytes] = {}
        self.freed: dict[int, int] = {}  # number -> the generation it may next be used at

    def add(self, body: bytes) -> int:
        """A new object; returns its number."""
        number = self.size
        self.size += 1
        self.objects[number] = body
        return number

    def put(self, obj: pikepdf.Object | int, body: bytes) -> None:
        """Give an existing object (or number) a new definition: a new xref entry for an old number."""
        number = obj if isinstance(obj, int) else obj.objgen[0]
        if not isinstance(obj, int) and obj.objgen[1] != 0:
            raise SampleError("only generation 0 objects are replaced")
        self.objects[number] = body

    def free(self, obj: pikepdf.Object | int, next_generation: int = 1) -> None:
        """Free an object: an 'f' entry in this update's xref section (as iText and Acrobat writers do)."""
        self.freed[obj if isinstance(obj, int) else obj.objgen[0]] = next_generation

    def page(self, index: int = 0) -> pikepdf.Object:
        return self.pdf.pages[index].obj

    def add_annotation(self, body: bytes, page_index: int = 0) -> int:
        """A new annotation object on a page (its /Annots array rewritten)."""
        page = self.page(page_index)
        number = self.add(body)
        reference = b"%d 0 R" % number
        annots = page.get("/Annots")
        if annots is None:
            self.put(page, _dict_text(page, {"/Annots": b"[" + reference + b"]"}))
        elif annots.is_indirect:
            self.put(annots, _array_text(annots, reference))
        else:
            self.put(page, _dict_text(page, {"/Annots": _array_text(annots, reference)}))
        return number

    def add_field(self, number: int) -> None:
        """Add object ``number`` to the AcroForm's /Fields."""
        acroform = self.pdf.Root.AcroForm
        fields_ = acroform.Fields
        reference = b"%d 0 R" % number
        if fields_.is_indirect:
            self.put(fields_, _array_text(fields_, reference))
        elif acroform.is_indirect:
            self.put(acroform, _dict_text(acroform, {"/Fields": _array_text(fields_, reference)}))
        else:
            new_form = _dict_text(acroform, {"/Fields": _array_text(fields_, reference)})
            self.put(self.pdf.Root, _dict_text(self.pdf.Root, {"/AcroForm": new_form}))

    def write(self) -> bytes:
        """The original bytes followed by this update."""
        trailer = self.pdf.trailer
        extra = b""
        if "/ID" in trailer:
            extra += b" /ID " + trailer.ID.unparse()
        if "/Info" in trailer:
            extra += b" /Info " + trailer.Info.unparse()
        root = self.pdf.Root.objgen[0]
        prev = startxref(self.data)
        self.pdf.close()

        out = bytearray(self.data)
        if not out.endswith(b"\n"):
            out += b"\n"
        entries: dict[int, tuple[int, int, bytes]] = {}
        for number in sorted(self.objects):
            entries[number] = (len(out), 0, b"n")
            out += b"%d 0 obj\n%s\nendobj\n" % (number, self.objects[number])
        entries.update({number: (0, generation, b"f") for number, generation in self.freed.items()})
        xref_at = len(out)
        out += _xref_table(entries)
        out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d%s >>\n" % (self.size, root, prev, extra)
        out += b"startxref\n%d\n%%%%EOF\n" % xref_at
        return bytes(out)


def wrap(base: bytes, replacements: Mapping[int, bytes]) -> bytes:
    """Signature wrapping (pdf-insecurity.org): the second signed range moved to the end of the file.

    The attacker shortens /Contents to the bare CMS, repeats the rest of the
    signature dictionary with a /ByteRange whose second range points at the
    moved bytes, and fills the space gained with ``replacements`` (object
    number -> new body) and an xref table placed exactly where the moved
    (signed) ``startxref`` points, so a reader loads the attacker's objects.
    The declared ranges still cover the original signed bytes when the
    /ByteRange sits in the second range (pyHanko's layout); when it sits in
    the first (ours), rewriting it changes signed bytes.
    """
    sig = signatures_in(base)[-1]
    start, b, c, d = sig.byte_range
    if start != 0 or c + d != len(base):
        raise SampleError("the last signature must cover the whole file")
    xref_at = startxref(base)
    entries, trailer = _xref_section(base, xref_at)
    if xref_at <= c:
        raise SampleError("the xref table must follow the signature")
    tail_end = base.index(b"endobj", c) + len(b"endobj")
    head, tail = base[:b], base[c:tail_end]
    contents = b"<" + sig.cms_der(base).hex().encode("ascii") + b">"
    br_in_head = sig.byte_range_span[0] < b

    gap = bytearray(contents + tail + b"\n")
    offsets: dict[int, int] = {}
    for number, body in replacements.items():
        offsets[number] = b + len(gap)
        gap += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    if b + len(gap) > xref_at:
        raise SampleError(f"{b + len(gap) - xref_at} bytes too many for the space the attack gains")
    gap += b"\n" * (xref_at - b - len(gap))

    def moved(offset: int) -> int:
        return offset if offset < b else offset - c + c_star

    # Every xref entry has a fixed width, so the table's size does not depend on the offsets.
    table_len = len(_xref_table({**entries, **dict.fromkeys(offsets, (0, 0, b"n"))}) + trailer)
    c_star = xref_at + table_len + 1
    table: dict[int, tuple[int, int, bytes]] = {
        n: (moved(off) if kind == b"n" else off, gen, kind) for n, (off, gen, kind) in entries.items()
    }
    table.update({n: (off, 0, b"n") for n, off in offsets.items()})
    gap += _xref_table(table) + trailer + b"\n"
    assert b + len(gap) == c_star, (b + len(gap), c_star)

    byte_range = b"/ByteRange [0 %d %d %d]" % (b, c_star, d)
    span_start, span_end = sig.byte_range_span
    if br_in_head:
        head = splice(head, span_start, span_end, byte_range)
    else:
        gap_tail_at = len(contents)  # the tail copy starts right after the shortened /Contents
        rel_start, rel_end = span_start - c + gap_tail_at, span_end - c + gap_tail_at
        gap[rel_start:rel_end] = byte_range.ljust(rel_end - rel_start)
    return head + bytes(gap) + base[c:]


def page_content_object(data: bytes) -> int:
    """The object number of the first page's content stream."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        contents = pdf.pages[0].obj.Contents
        if not contents.is_indirect:
            raise SampleError("the page content is not an indirect stream")
        return int(contents.objgen[0])


def _forged_page_content() -> bytes:
    return _stream(_text("Envelope C - price offer", 760) + b"\n" + _text(FORGED_TEXT))


# == 1. universal signature forgery ====================================================================


@_sample(Category.FORGERY)
def usf_contents_empty(f: SampleFactory) -> Made:
    """USF: /Contents is an empty string <> (ByteRange and the rest untouched)."""
    base = f.base()
    sig = signatures_in(base)[-1]
    return Made(splice(base, *sig.hole, b"<>"), base)


@_sample(Category.FORGERY)
def usf_contents_zeroed(f: SampleFactory) -> Made:
    """USF: /Contents is all 00 bytes, as reserved before signing."""
    base = f.base()
    sig = signatures_in(base)[-1]
    start, end = sig.hole
    return Made(splice(base, start, end, b"<" + b"0" * (end - start - 2) + b">"), base)


@_sample(Category.FORGERY)
def usf_contents_missing(f: SampleFactory) -> Made:
    """USF: the /Contents key and its value are blanked out of the signature dictionary."""
    base = f.base()
    sig = signatures_in(base)[-1]
    return Made(splice(base, sig.contents_keyword(base), sig.hole[1], b""), base)


@_sample(Category.FORGERY)
def usf_contents_not_cms(f: SampleFactory) -> Made:
    """USF: /Contents is hex of random bytes (seeded), not a CMS structure."""
    base = f.base()
    sig = signatures_in(base)[-1]
    start, end = sig.hole
    noise = random.Random("usf_contents_not_cms").randbytes((end - start - 2) // 2)
    noise = b"\x04" + noise[1:]  # never the SEQUENCE tag a CMS starts with
    return Made(splice(base, start, end, b"<" + noise.hex().encode("ascii") + b">"), base)


@_sample(Category.FORGERY)
def usf_byte_range_missing(f: SampleFactory) -> Made:
    """USF: the /ByteRange key and its array are blanked out."""
    base = f.base()
    sig = signatures_in(base)[-1]
    return Made(rewrite_byte_range(base, sig, b""), base)


@_sample(Category.FORGERY)
def usf_byte_range_three_numbers(f: SampleFactory) -> Made:
    """USF: /ByteRange holds three numbers instead of four (the last range dropped)."""
    base = f.base()
    sig = signatures_in(base)[-1]
    a, b, c, _ = sig.byte_range
    return Made(rewrite_byte_range(base, sig, b"/ByteRange [%d %d %d]" % (a, b, c)), base)


@_sample(Category.FORGERY)
def usf_byte_range_negative(f: SampleFactory) -> Made:
    """USF: /ByteRange with a negative length: [0 -b c d]."""
    base = f.base()
    sig = signatures_in(base)[-1]
    a, b, c, d = sig.byte_range
    return Made(rewrite_byte_range(base, sig, b"/ByteRange [%d -%d %d %d]" % (a, b, c, d)), base)


@_sample(Category.FORGERY)
def usf_byte_range_not_from_start(f: SampleFactory) -> Made:
    """USF: /ByteRange starting at offset 10, so the file's first bytes are not signed."""
    base = f.base()
    sig = signatures_in(base)[-1]
    _, b, c, d = sig.byte_range
    return Made(rewrite_byte_range(base, sig, b"/ByteRange [10 %d %d %d]" % (b - 10, c, d)), base)


@_sample(Category.FORGERY)
def usf_cms_without_certificates(f: SampleFactory) -> Made:
    """USF: the CMS re-encoded without its certificates; signed attributes and signature value kept."""
    base = f.base()
    sig = signatures_in(base)[-1]
    info = asn1_cms.ContentInfo.load(sig.cms_der(base))
    signed = info["content"]
    stripped = {
        "version": signed["version"],
        "digest_algorithms": signed["digest_algorithms"],
        "encap_content_info": signed["encap_content_info"],
        "signer_infos": signed["signer_infos"],
    }
    if signed["crls"].native is not None:
        stripped["crls"] = signed["crls"]
    der = asn1_cms.ContentInfo({"content_type": "signed_data", "content": asn1_cms.SignedData(stripped)}).dump()
    start, end = sig.hole
    hexed = der.hex().encode("ascii")
    return Made(splice(base, start, end, b"<" + hexed.ljust(end - start - 2, b"0") + b">"), base)


@_sample(Category.INTEGRITY)
def integrity_digest_mismatch(f: SampleFactory) -> Made:
    """A signed byte changed in place: the bid amount's first digit 1 becomes 9 (the digest no longer matches)."""
    base = f.base()
    at = base.index(BID_TEXT.encode("latin-1"))
    digit = at + len("Bid amount: ")
    return Made(base[:digit] + b"9" + base[digit + 1 :], base)


@_sample(Category.INTEGRITY)
def integrity_signature_value_corrupted(f: SampleFactory) -> Made:
    """The CMS signature value has one bit flipped; the document digest still matches."""
    base = f.base()
    sig = signatures_in(base)[-1]
    info = asn1_cms.ContentInfo.load(sig.cms_der(base))
    value = info["content"]["signer_infos"][0]["signature"].native
    hex_value = value.hex().encode("ascii")
    start = base.index(hex_value, *sig.hole)
    flipped = bytes([value[-1] ^ 0x01]).hex().encode("ascii")
    last = start + len(hex_value) - 2
    return Made(base[:last] + flipped + base[last + 2 :], base)


# == 2. incremental saving attacks ===================================================================


@_sample(Category.INCREMENTAL)
def isa_page_added(f: SampleFactory) -> Made:
    """ISA: a page appended by an incremental update after a B-T seal (new page, new /Pages)."""
    base = f.base(PadesLevel.B_T)
    u = Update(base)
    pages = u.pdf.Root.Pages
    first = u.page()
    content = u.add(_stream(_text(ATTACKER_PAGE_TEXT)))
    page = u.add(
        b"<< /Type /Page /Parent %s /MediaBox [0 0 595 842] /Resources %s /Contents %d 0 R >>"
        % (pages.unparse(), _syntax(first.Resources), content)
    )
    u.put(pages, _dict_text(pages, {"/Kids": _array_text(pages.Kids, b"%d 0 R" % page), "/Count": b"2"}))
    return Made(u.write(), base)


@_sample(Category.INCREMENTAL)
def isa_content_replaced(f: SampleFactory) -> Made:
    """ISA: the page's content stream redefined in an incremental update (same object number)."""
    base = f.base()
    u = Update(base)
    u.put(page_content_object(base), _forged_page_content())
    return Made(u.write(), base)


@_sample(Category.INCREMENTAL)
def isa_catalog_changed(f: SampleFactory) -> Made:
    """ISA: a new JavaScript action object and a catalog update that runs it on opening."""
    base = f.base()
    u = Update(base)
    action = u.add(b"<< /Type /Action /S /JavaScript /JS (app.alert\\('Bid withdrawn'\\);) >>")
    u.put(u.pdf.Root, _dict_text(u.pdf.Root, {"/OpenAction": b"%d 0 R" % action}))
    return Made(u.write(), base)


@_sample(Category.INCREMENTAL)
def isa_empty_xref_no_prev(f: SampleFactory) -> Made:
    """ISA: the page content redefined by an update whose xref section is empty and whose trailer has no /Prev.

    A reader following the cross-reference chain finds no usable update; a
    reader that repairs files (poppler) rebuilds the table by scanning and
    shows the new content.
    """
    base = f.base()
    number = page_content_object(base)
    with pikepdf.open(io.BytesIO(base)) as pdf:
        root, size = pdf.Root.objgen[0], int(pdf.trailer.Size)
    out = bytearray(base)
    if not out.endswith(b"\n"):
        out += b"\n"
    out += b"%d 0 obj\n%s\nendobj\n" % (number, _forged_page_content())
    xref_at = len(out)
    out += b"xref\n0 0\ntrailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref_at)
    return Made(bytes(out), base)


# == 3. signature wrapping ==========================================================================


@_sample(Category.WRAPPING)
def wrapping_moved_second_range(f: SampleFactory) -> Made:
    """SWA on a pyHanko signature: second range moved to the end, attacker objects and xref in between.

    pyHanko writes /ByteRange after /Contents, inside the second signed range,
    so the declared ranges still hash to the signed digest: only the layout
    check (the hole is more than the /Contents string) can catch it.
    """
    base = f.pyhanko_base()
    return Made(wrap(base, {page_content_object(base): _forged_page_content()}), base)


@_sample(Category.WRAPPING)
def wrapping_moved_second_range_pakat(f: SampleFactory) -> Made:
    """SWA on our own seal: the same move; our /ByteRange precedes /Contents, so rewriting it breaks the digest."""
    base = f.base()
    return Made(wrap(base, {page_content_object(base): _forged_page_content()}), base)


@_sample(Category.WRAPPING)
def wrapping_hole_attacker_content(f: SampleFactory) -> Made:
    """The /Contents hole keeps its size and place, but after the bare CMS it carries attacker keys (/Name).

    The ranges and the CMS are untouched and valid; the signer name a viewer
    shows comes from the unsigned hole.
    """
    base = f.base()
    sig = signatures_in(base)[-1]
    start, end = sig.hole
    contents = b"<" + sig.cms_der(base).hex().encode("ascii") + b">"
    injected = contents + b"/Name(Ministry of Economy - Treasury)"
    return Made(splice(base, start, end, injected), base)


# == 4. shadow attacks ================================================================================


@_sample(Category.SHADOW)
def shadow_hide(f: SampleFactory) -> Made:
    """Shadow hide: the cover form XObject over pre-placed forged text is emptied by an update."""
    base = f.memo("base:shadow-hide", lambda: f.seal(shadow_hide_document(), PadesLevel.B_B, "shadow-hide"))
    u = Update(base)
    cover = u.page().Resources.XObject.Cover
    u.put(cover, _stream(b"", b" /Type /XObject /Subtype /Form /BBox [0 0 595 842]"))
    return Made(u.write(), base)


@_sample(Category.SHADOW)
def shadow_replace(f: SampleFactory) -> Made:
    """Shadow replace: the font object redefined by an update so the glyph for "1" draws "9"."""
    base = f.base()
    u = Update(base)
    font = u.page().Resources.Font.F1
    u.put(
        font,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
        b"/Encoding << /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences [49 /nine] >> >>",
    )
    return Made(u.write(), base)


@_sample(Category.SHADOW)
def shadow_hide_and_replace(f: SampleFactory) -> Made:
    """Shadow hide-and-replace: a catalog update points /Pages at the pre-placed shadow page tree."""
    base = f.memo(
        "base:shadow-hide-and-replace",
        lambda: f.seal(shadow_hide_and_replace_document(), PadesLevel.B_B, "shadow-hide-and-replace"),
    )
    u = Update(base)
    root = u.pdf.Root
    u.put(root, _dict_text(root, {"/Pages": root.ShadowPages.unparse()}))
    return Made(u.write(), base)


@_sample(Category.SHADOW)
def shadow_replace_field_overlay(f: SampleFactory) -> Made:
    """Shadow replace: an empty text field pre-placed over the bid amount is filled after signing.

    Its new appearance paints the field white and draws another amount: form
    filling by every rule that looks only at which objects changed.
    """
    base = f.memo(
        "base:shadow-field",
        lambda: f.seal(form_document(BID_LINE_RECT, "note"), PadesLevel.B_B, "shadow-field"),
    )
    return Made(filled_field(base, "note", FORGED_TEXT, opaque=True), base)


# == 5. certification attacks ==========================================================================

_FREE_TEXT = (
    b"<< /Type /Annot /Subtype /FreeText /Rect [72 600 520 640] /F 4 /DA (/Helv 14 Tf 0 g) "
    b"/Contents (Corrected amount: 9,000,000,000 IRR) /P %d 0 R >>"
)
_LINK = (
    b"<< /Type /Annot /Subtype /Link /Rect [72 690 520 730] /Border [0 0 0] "
    b"/A << /S /URI /URI (http://attacker.invalid/bid) >> /P %d 0 R >>"
)


def _annotated(base: bytes, template: bytes) -> bytes:
    u = Update(base)
    u.add_annotation(template % u.page().objgen[0])
    return u.write()


@_sample(Category.CERTIFICATION)
def certification_p1_annotation(f: SampleFactory) -> Made:
    """A FreeText annotation added after a DocMDP P1 (no changes) certification."""
    base = f.certified(fields.MDPPerm.NO_CHANGES)
    return Made(_annotated(base, _FREE_TEXT), base)


@_sample(Category.CERTIFICATION)
def certification_p2_annotation(f: SampleFactory) -> Made:
    """A FreeText annotation added after a DocMDP P2 (form filling and signing only) certification."""
    base = f.certified(fields.MDPPerm.FILL_FORMS)
    return Made(_annotated(base, _FREE_TEXT), base)


@_sample(Category.CERTIFICATION)
def certification_p2_link(f: SampleFactory) -> Made:
    """A Link annotation to an outside URI added after a DocMDP P2 certification."""
    base = f.certified(fields.MDPPerm.FILL_FORMS)
    return Made(_annotated(base, _LINK), base)


@_sample(Category.CERTIFICATION)
def certification_p1_approval_signature(f: SampleFactory) -> Made:
    """An approval signature added to a document certified with DocMDP P1, by software that ignores it.

    Pakat's own signer refuses such a document (DOCUMENT_CERTIFIED_NO_CHANGES), and so do pyHanko and
    (by crashing on it) endesive; the sample is our seal made with that refusal switched off, standing
    in for the careless software an attacker or a bidder might use.
    """
    base = f.certified(fields.MDPPerm.NO_CHANGES)
    with unittest.mock.patch("signer.pades.check_may_sign"):
        return Made(f.seal(base, PadesLevel.B_B, "certified-p1-sealed"), base)


@_sample(Category.CERTIFICATION)
def field_lock_filled(f: SampleFactory) -> Made:
    """A form field locked by a pyHanko signature's FieldMDP (/Include the field) filled after it anyway.

    Form filling as such is allowed after an approval signature; this field
    was locked by the signer, so filling it is not.
    """

    def build() -> bytes:
        spec = fields.SigFieldSpec(
            "Signature1",
            field_mdp_spec=fields.FieldMDPSpec(fields.FieldMDPAction.INCLUDE, fields=["delivery"]),
        )
        meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES)
        out = io.BytesIO()
        signers.PdfSigner(meta, f.soft_signer("pyhanko").pyhanko(), new_field_spec=spec).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(form_document(BLANK_RECT, "delivery"))), output=out
        )
        return out.getvalue()

    base: bytes = f.memo("base:field-lock", build)
    return Made(filled_field(base, "delivery", "Delivered by hand", opaque=False), base)


# == 6. structure ===================================================================================


@_sample(Category.STRUCTURE)
def truncated(f: SampleFactory) -> Made:
    """A sealed file cut short in the middle of its signature's /Contents."""
    base = f.base()
    start, end = signatures_in(base)[-1].hole
    return Made(base[: (start + end) // 2], base)


@_sample(Category.STRUCTURE)
def byte_range_past_eof(f: SampleFactory) -> Made:
    """/ByteRange's second range runs 4096 bytes past the end of the file."""
    base = f.base()
    sig = signatures_in(base)[-1]
    a, b, c, d = sig.byte_range
    return Made(rewrite_byte_range(base, sig, b"/ByteRange [%d %d %d %d]" % (a, b, c, d + 4096)), base)


@_sample(Category.STRUCTURE)
def overlapping_signatures(f: SampleFactory) -> Made:
    """A second signature field added by update whose /ByteRange and /Contents are the first's."""
    base = f.base()
    sig = signatures_in(base)[-1]
    a, b, c, d = sig.byte_range
    u = Update(base)
    value = u.add(
        b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
        b"/ByteRange [%d %d %d %d] /Contents %s >>" % (a, b, c, d, base[b:c])
    )
    widget = u.add_annotation(
        b"<< /Type /Annot /Subtype /Widget /FT /Sig /T (Second approval) /F 132 /Rect [0 0 0 0] "
        b"/V %d 0 R /P %d 0 R >>" % (value, u.page().objgen[0])
    )
    u.add_field(widget)
    return Made(u.write(), base)


# == 7. revocation ================================================================================


def _whole_seconds(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


@_sample(Category.TRUST)
def revoked_before_signing(f: SampleFactory) -> Made:
    """B-T by a key whose certificate was revoked an hour before the signature timestamp."""
    signer = f.soft_signer("revoked-before")
    f.revoke(signer.certificate, _whole_seconds(dt.datetime.now(dt.UTC)) - dt.timedelta(hours=1))
    return Made(f.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_T))


def _revoked_after(f: SampleFactory) -> RevokedAfter:
    def build() -> RevokedAfter:
        signer = f.soft_signer("revoked-after")
        # Signed an hour ago (timestamps from the dev TSA's key), so the proof of existence
        # precedes the revocation by far more than any clock-skew allowance.
        signed_at = _whole_seconds(dt.datetime.now(dt.UTC)) - dt.timedelta(hours=1)
        b_b = f.pyhanko_sign(document(), signer, field="Signature1", signed_at=signed_at)
        b_t = f.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_T, signed_at=signed_at)
        # B-LT's OCSP "good" is fetched now, so the revocation must come after now.
        b_lt = f.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_LT, signed_at=signed_at)
        when = _whole_seconds(dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=1)
        f.revoke(signer.certificate, when)
        while dt.datetime.now(dt.UTC) <= when:
            time.sleep(0.05)
        return RevokedAfter(b_b, b_t, b_lt, when)

    scenario: RevokedAfter = f.memo("revoked-after", build)
    return scenario


@_sample(Category.TRUST)
def revoked_after_signing_b_t(f: SampleFactory) -> Made:
    """B-T timestamped an hour before its certificate was revoked (no embedded revocation data)."""
    return Made(_revoked_after(f).b_t)


@_sample(Category.TRUST)
def revoked_after_signing_b_lt(f: SampleFactory) -> Made:
    """B-LT (OCSP "good" in the DSS) timestamped an hour before its certificate was revoked."""
    return Made(_revoked_after(f).b_lt)


@_sample(Category.TRUST)
def revoked_after_signing_b_b(f: SampleFactory) -> Made:
    """B-B (no timestamp) signed an hour before its certificate was revoked: nothing proves when."""
    return Made(_revoked_after(f).b_b)


# == 8. expiry ====================================================================================


def _expired(f: SampleFactory) -> ExpiringSigned:
    """Signed five days ago by a certificate that expired two days ago, validated now."""

    def build() -> ExpiringSigned:
        now = _whole_seconds(dt.datetime.now(dt.UTC))
        signer = f.soft_signer("expired")
        signed_at = now - dt.timedelta(days=5)
        b_lt = f.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_LT, signed_at=signed_at)
        return ExpiringSigned(
            b_b=f.pyhanko_sign(document(), signer, field="Signature1", signed_at=signed_at),
            b_lt=b_lt,
            b_lta=f.document_timestamp(b_lt),
            not_after=signer.certificate.not_valid_after_utc,
            validate_at=None,
        )

    scenario: ExpiringSigned = f.memo("expired", build)
    return scenario


@_sample(Category.TRUST)
def expired_with_lta(f: SampleFactory) -> Made:
    """B-LT signed 5 days ago, certificate expired 2 days ago, then a live document timestamp (B-LTA)."""
    return Made(_expired(f).b_lta)


@_sample(Category.TRUST)
def expired_with_lt(f: SampleFactory) -> Made:
    """B-LT signed 5 days ago (timestamp and OCSP "good" embedded), certificate expired 2 days ago."""
    return Made(_expired(f).b_lt)


@_sample(Category.TRUST)
def expired_without_ltv(f: SampleFactory) -> Made:
    """B-B signed 5 days ago by a certificate that expired 2 days ago: nothing proves when."""
    return Made(_expired(f).b_b)


def _expiring(f: SampleFactory) -> ExpiringSigned:
    """Signed now by a certificate valid for two more days, to be validated a day after it expires."""

    def build() -> ExpiringSigned:
        signer = f.soft_signer("short-lived")
        not_after = signer.certificate.not_valid_after_utc
        return ExpiringSigned(
            b_b=f.pyhanko_sign(document(), signer, field="Signature1"),
            b_lt=f.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_LT),
            b_lta=f.pyhanko_sign(document(), signer, field="Signature1", level=PadesLevel.B_LTA),
            not_after=not_after,
            validate_at=not_after + dt.timedelta(days=1),
        )

    scenario: ExpiringSigned = f.memo("expiring", build)
    return scenario


@_sample(Category.TRUST)
def expires_later_with_lta(f: SampleFactory) -> Made:
    """B-LTA by a 2-day certificate, made now; validate (``at``) a day after it expires."""
    scenario = _expiring(f)
    return Made(scenario.b_lta, at=scenario.validate_at)


@_sample(Category.TRUST)
def expires_later_with_lt(f: SampleFactory) -> Made:
    """B-LT by a 2-day certificate, made now; validate (``at``) a day after it expires."""
    scenario = _expiring(f)
    return Made(scenario.b_lt, at=scenario.validate_at)


@_sample(Category.TRUST)
def expires_later_without_ltv(f: SampleFactory) -> Made:
    """B-B by a 2-day certificate, made now; validate (``at``) a day after it expires."""
    scenario = _expiring(f)
    return Made(scenario.b_b, at=scenario.validate_at)


# == 9. untrusted root =================================================================================


def throwaway_ca(revocation_url: str | None = None) -> tuple[SoftSigner, x509.Certificate]:
    """A self-signed root unrelated to the dev PKI and a signer under it, all in memory.

    ``revocation_url``, when given, is the leaf's OCSP and CRL address (e.g. one nobody may contact).
    """
    now = dt.datetime.now(dt.UTC)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IR"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway Root CA"),
        ]
    )
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "IR"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway Signer"),
                ]
            )
        )
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
    )
    if revocation_url is not None:
        uri = x509.UniformResourceIdentifier(revocation_url)
        leaf = leaf.add_extension(
            x509.AuthorityInformationAccess([x509.AccessDescription(AuthorityInformationAccessOID.OCSP, uri)]),
            critical=False,
        ).add_extension(
            x509.CRLDistributionPoints([x509.DistributionPoint([uri], None, None, None)]), critical=False
        )
    return SoftSigner(key, leaf.sign(root_key, hashes.SHA256()), (root,)), root


@_sample(Category.TRUST)
def untrusted_root(f: SampleFactory) -> Made:
    """B-B by a signer whose chain ends at a throwaway self-signed root, not the dev root."""
    signer, _root = f.memo("throwaway-ca", throwaway_ca)
    return Made(f.pyhanko_sign(document(), signer, field="Signature1"))


# == 10. weak algorithms ================================================================================


@_sample(Category.CRYPTO)
def sha1_signature(f: SampleFactory) -> Made:
    """B-B whose message digest, signed attributes and signature (sha1_rsa) all use SHA-1, no timestamp."""
    return Made(f.pyhanko_sign(document(), f.soft_signer("sha1"), field="Signature1", md="sha1"))


# == 11. other software and valid controls ===============================================================


@_sample(Category.CONTROL)
def other_software_pyhanko(f: SampleFactory) -> Made:
    """Valid PAdES B-B made by pyHanko with a dev-PKI certificate (a software key)."""
    return Made(f.pyhanko_base())


@_sample(Category.CONTROL)
def other_software_endesive(f: SampleFactory) -> Made:
    """Valid adbe.pkcs7.detached signature made by endesive with a dev-PKI certificate."""
    return Made(f.endesive_sign(document(), f.soft_signer("endesive"), field="Endesive Signature"))


@_sample(Category.CONTROL)
def control_b_b(f: SampleFactory) -> Made:
    """Our own seal at PAdES B-B."""
    return Made(f.base(PadesLevel.B_B))


@_sample(Category.CONTROL)
def control_b_t(f: SampleFactory) -> Made:
    """Our own seal at PAdES B-T."""
    return Made(f.base(PadesLevel.B_T))


@_sample(Category.CONTROL)
def control_b_lt(f: SampleFactory) -> Made:
    """Our own seal at PAdES B-LT."""
    return Made(f.base(PadesLevel.B_LT))


@_sample(Category.CONTROL)
def control_b_lta(f: SampleFactory) -> Made:
    """Our own seal at PAdES B-LTA."""
    return Made(f.base(PadesLevel.B_LTA))


@_sample(Category.CONTROL)
def control_two_approvals(f: SampleFactory) -> Made:
    """Two approval seals: demo-co's B-B, then demo-gov's B-B added incrementally."""
    return Made(f.seal(f.base(PadesLevel.B_B), PadesLevel.B_B, "two-approvals", org="demo-gov"))


@_sample(Category.CONTROL)
def control_certified_p2_then_signed(f: SampleFactory) -> Made:
    """A DocMDP P2 certification followed by an approval seal (allowed: signing is form filling)."""
    return Made(f.seal(f.certified(fields.MDPPerm.FILL_FORMS), PadesLevel.B_B, "certified-p2-sealed"))


@_sample(Category.CONTROL)
def control_form_filled(f: SampleFactory) -> Made:
    """A text field in a blank area filled after our B-B seal: allowed by the general policy, not for bids."""
    base = f.memo("base:form", lambda: f.seal(form_document(BLANK_RECT, "delivery"), PadesLevel.B_B, "form"))
    return Made(filled_field(base, "delivery", "Delivered by hand", opaque=False))


@_sample(Category.CONTROL)
def control_ltv_rewritten(f: SampleFactory) -> Made:
    """Our B-LT seal extended as EU DSS and iText writers do, then a document timestamp (B-LTA).

    The extension rewrites the DSS dictionary in place with a /VRI entry for
    the signature, copies its OCSP responses into new objects and frees the old
    ones (xref 'f' entries).
    """
    base = f.base(PadesLevel.B_LT)
    u = Update(base)
    dss = u.pdf.Root.DSS
    if not dss.is_indirect:
        raise SampleError("the DSS must be an object of its own to be rewritten in place")
    copies = []
    for ocsp in dss.OCSPs:
        copies.append(b"%d 0 R" % u.add(_stream(bytes(ocsp.read_bytes()))))
        u.free(ocsp)
    certs = b" ".join(_syntax(c) for c in dss.Certs)
    contents = bytes.fromhex(signatures_in(base)[-1].contents_hex(base).decode("ascii"))
    key = hashlib.sha1(contents).hexdigest().upper().encode("ascii")
    vri = b"<< /%s << /OCSP [%s] /Cert [%s] >> >>" % (key, b" ".join(copies), certs)
    u.put(dss, _dict_text(dss, {"/OCSPs": b"[" + b" ".join(copies) + b"]", "/VRI": vri}))
    return Made(f.document_timestamp(u.write()))


#: Which PAdES level each control reaches (None: not a PAdES subfilter).
CONTROL_LEVELS: dict[str, str | None] = {
    "other_software_pyhanko": "B-B",
    "other_software_endesive": None,
    "control_b_b": "B-B",
    "control_b_t": "B-T",
    "control_b_lt": "B-LT",
    "control_b_lta": "B-LTA",
    "control_two_approvals": "B-B",
    "control_certified_p2_then_signed": "B-B",
    "control_form_filled": "B-B",
    "control_ltv_rewritten": "B-LTA",
}
