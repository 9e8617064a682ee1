"""The development national PKI: a root, a general and a government CA, a TSA, and leaf profiles.

Shaped like Iran's national PKI (see ``shared/trust/README.md``) so the signer
and the validator meet the same certificate kinds they meet in production:
natural persons (independent, or affiliated with a government body or a
private company), organisational seals (``[Stamp]`` in the CN, the 11-digit
national ID in ``serialNumber``) and an RFC 3161 timestamping certificate.

Layout under ``D/devpki``::

    state.json              host/port, the CAs, every issued serial and its revocation
    certs/<name>.pem        CA, TSA and leaf certificates (public)
    private/<slug>.key      CA and TSA private keys (PEM, mode 0600, folder 0700)

Everything here is for development and tests only: the keys sit unencrypted
on disk and the policy OIDs are invented.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from pakat.files import PRIVATE, write_atomically

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8390
STATE_VERSION = 1

ROOT = "root-ca"
GENERAL = "general-ca"
GOVERNMENT = "government-ca"
#: The TSA is not a CA, but its certificate is served under /certs/ like the CAs'.
TSA = "tsa"
CA_SLUGS = (ROOT, GENERAL, GOVERNMENT)

ORGANISATION = "Pakat Dev"
CA_NAMES = {
    ROOT: "Pakat Dev Root CA-G3",
    GENERAL: "Pakat Dev General CA",
    GOVERNMENT: "Pakat Dev Government CA",
}
TSA_NAME = "Pakat Dev TSA"

# Leaf profiles.  Each carries its own certificate policy OID.  These OIDs are
# development inventions under the UUID arc 2.25 (ITU-T X.667): the national
# PKI's policy OIDs (bronze/silver/gold assurance levels) are not public, so
# production code must read them from configuration, never from here.
PERSON_INDEPENDENT = "person-independent"
PERSON_GOVERNMENT = "person-government"
PERSON_PRIVATE = "person-private"
SEAL_PRIVATE = "seal-private"
SEAL_GOVERNMENT = "seal-government"
PROFILES = (PERSON_INDEPENDENT, PERSON_GOVERNMENT, PERSON_PRIVATE, SEAL_PRIVATE, SEAL_GOVERNMENT)
POLICY_OIDS: Mapping[str, str] = {
    PERSON_INDEPENDENT: "2.25.40022437601595763134443134769918985740",
    PERSON_GOVERNMENT: "2.25.145317383641634145237094263482248859807",
    PERSON_PRIVATE: "2.25.247537733730437150092594094032992868223",
    SEAL_PRIVATE: "2.25.326198928783245305009728228841392471572",
    SEAL_GOVERNMENT: "2.25.106829296730349067929300235682765528856",
}
#: Policy of the TSA certificate, also what the TSA puts in TSTInfo.policy (dev invention).
TSA_POLICY_OID = "2.25.10095500303400706736577334800419012254"
#: Which CA issues which profile: the general CA serves bidders and private
#: companies, the government CA serves government staff and bodies.
PROFILE_ISSUER: Mapping[str, str] = {
    PERSON_INDEPENDENT: GENERAL,
    PERSON_PRIVATE: GENERAL,
    SEAL_PRIVATE: GENERAL,
    PERSON_GOVERNMENT: GOVERNMENT,
    SEAL_GOVERNMENT: GOVERNMENT,
}

SEAL_MARK = "[Stamp]"

# RFC 5280 reason names as cryptography spells them (x509.ReasonFlags values).
REVOCATION_REASONS = frozenset(flag.value for flag in x509.ReasonFlags)

_ROOT_YEARS = 20
_CA_YEARS = 10
_TSA_YEARS = 8
# CAs are back-dated so the expired demo certificate (notBefore two years ago)
# sits inside its issuer's validity, as it would in a real chain.
_CA_BACKDATE = dt.timedelta(days=3 * 365)


class DevPKIError(RuntimeError):
    """The development PKI cannot be created, loaded or used as asked."""


# -- Iranian identifiers ------------------------------------------------------


def national_code(first_nine: str) -> str:
    """A 10-digit national code (کد ملی) with its check digit appended.

    The check digit: s = Σ dᵢ·(10−i) over the first nine digits, r = s mod 11,
    check = r if r < 2 else 11 − r.
    """
    if len(first_nine) != 9 or not first_nine.isdigit():
        raise ValueError("a national code starts with nine digits")
    r = sum(int(d) * (10 - i) for i, d in enumerate(first_nine)) % 11
    return first_nine + str(r if r < 2 else 11 - r)


def legal_entity_id(first_ten: str) -> str:
    """An 11-digit organisation national ID (شناسه ملی) with its check digit appended.

    The check digit: with k = 10th digit + 2 and weights 29, 27, 23, 19, 17
    repeated, s = Σ (dᵢ + k)·wᵢ over the first ten digits, r = s mod 11,
    check = 0 if r == 10 else r.
    """
    if len(first_ten) != 10 or not first_ten.isdigit():
        raise ValueError("an organisation national ID starts with ten digits")
    k = int(first_ten[9]) + 2
    weights = (29, 27, 23, 19, 17)
    r = sum((int(d) + k) * weights[i % 5] for i, d in enumerate(first_ten)) % 11
    return first_ten + str(0 if r == 10 else r)


# -- subjects ---------------------------------------------------------------


@dataclass(frozen=True)
class PersonSubject:
    """A natural person: Persian CN, national code in serialNumber, optional Title and O."""

    common_name: str
    given_name: str
    surname: str
    national_code: str
    title: str | None = None
    organisation: str | None = None

    def to_name(self) -> x509.Name:
        """The X.500 subject name."""
        attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "IR")]
        if self.organisation:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation))
        if self.title:
            attrs.append(x509.NameAttribute(NameOID.TITLE, self.title))
        attrs += [
            x509.NameAttribute(NameOID.SURNAME, self.surname),
            x509.NameAttribute(NameOID.GIVEN_NAME, self.given_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, self.national_code),
            x509.NameAttribute(NameOID.COMMON_NAME, self.common_name),
        ]
        return x509.Name(attrs)


@dataclass(frozen=True)
class SealSubject:
    """An organisation seal: ``<label> [Stamp]`` in CN, the national ID in serialNumber, O=organisation.

    ``label`` defaults to ``organisation``. Keep the CN in one script: a
    Persian name followed by the Latin ``[Stamp]`` is a mixed-direction string
    that asn1crypto's RFC 4518 string preparation rejects ("malformed
    bidirectional sequence") whenever pyhanko-certvalidator compares names, so
    such a certificate cannot be validated with pyHanko at all. The demo seals
    therefore use the English name in CN and the Persian one in O.
    """

    organisation: str
    national_id: str
    label: str | None = None

    def to_name(self) -> x509.Name:
        """The X.500 subject name."""
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "IR"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organisation),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, self.national_id),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{self.label or self.organisation} {SEAL_MARK}"),
            ]
        )


# -- state --------------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    """When and why a certificate was revoked."""

    time: dt.datetime
    reason: str  # an x509.ReasonFlags value, e.g. "keyCompromise"


@dataclass(frozen=True)
class IssuedCertificate:
    """One certificate the dev PKI issued, as the responders need to know it."""

    serial: int
    issuer: str  # CA slug
    name: str  # file stem under certs/
    profile: str
    subject: str  # RFC 4514, for humans
    not_before: dt.datetime
    not_after: dt.datetime
    revocation: Revocation | None = None

    def to_json(self) -> dict[str, Any]:
        """The state.json entry."""
        return {
            "serial": format(self.serial, "x"),
            "issuer": self.issuer,
            "name": self.name,
            "profile": self.profile,
            "subject": self.subject,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "revocation": None
            if self.revocation is None
            else {"time": _iso(self.revocation.time), "reason": self.revocation.reason},
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> IssuedCertificate:
        """Parse a state.json entry."""
        rev = raw.get("revocation")
        return cls(
            serial=int(raw["serial"], 16),
            issuer=str(raw["issuer"]),
            name=str(raw["name"]),
            profile=str(raw["profile"]),
            subject=str(raw["subject"]),
            not_before=_parse_iso(raw["not_before"]),
            not_after=_parse_iso(raw["not_after"]),
            revocation=None if not rev else Revocation(_parse_iso(rev["time"]), str(rev["reason"])),
        )


@dataclass(frozen=True)
class Authority:
    """A certificate and its private key: one of the CAs, or the TSA."""

    slug: str
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey
    cert_path: Path
    key_path: Path


class ServiceURLs:
    """The responders' URLs for a ``host`` and ``port``; mixed into DevPKI and DevEnvironment."""

    host: str
    port: int

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` without a trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        return f"http://{host}:{self.port}"

    def crl_url(self, ca: str) -> str:
        """Where the CA ``ca`` (a slug such as ``general-ca``) publishes its CRL."""
        return f"{self.base_url}/crl/{ca}.crl"

    def ocsp_url(self, ca: str) -> str:
        """Where the CA ``ca`` answers OCSP (POST, or GET with the base64 request appended)."""
        return f"{self.base_url}/ocsp/{ca}"

    def cert_url(self, name: str) -> str:
        """Where the certificate of a CA or of the TSA (``tsa``) is served as DER."""
        return f"{self.base_url}/certs/{name}.cer"

    @property
    def tsa_url(self) -> str:
        """The RFC 3161 timestamping endpoint."""
        return f"{self.base_url}/tsa"

    @property
    def healthz_url(self) -> str:
        """Answers 200 once the responders are up."""
        return f"{self.base_url}/healthz"


@dataclass
class DevPKI(ServiceURLs):
    """The dev PKI on disk: CAs, TSA, and the register of issued certificates.

    Create it with :meth:`create`, reopen it with :meth:`load`; issue leaves
    with :meth:`issue`, revoke with :meth:`revoke`. Every change is saved to
    ``state.json`` at once, which the running responders pick up.
    """

    directory: Path
    host: str
    port: int
    authorities: dict[str, Authority]
    issued: dict[int, IssuedCertificate] = field(default_factory=dict)

    # -- paths --

    @property
    def state_path(self) -> Path:
        """``state.json``: host, port, CAs and every issued serial."""
        return state_path(self.directory)

    @property
    def certs_dir(self) -> Path:
        """Where certificates live (PEM)."""
        return self.directory / "certs"

    def cert_path(self, name: str) -> Path:
        """The PEM file for the certificate stored as ``name``."""
        return self.certs_dir / f"{name}.pem"

    # -- authorities --

    @property
    def root(self) -> Authority:
        """The self-signed root."""
        return self.authorities[ROOT]

    @property
    def tsa(self) -> Authority:
        """The timestamping unit's certificate and key."""
        return self.authorities[TSA]

    def ca(self, slug: str) -> Authority:
        """A CA by slug (``root-ca``, ``general-ca``, ``government-ca``)."""
        if slug not in CA_SLUGS:
            raise DevPKIError(f"no CA called {slug!r}; known: {', '.join(CA_SLUGS)}")
        return self.authorities[slug]

    def chain_paths(self, issuer: str) -> tuple[Path, ...]:
        """The intermediates between a leaf issued by ``issuer`` and the root (root excluded)."""
        return () if issuer == ROOT else (self.authorities[issuer].cert_path,)

    def issued_by(self, slug: str) -> Iterator[IssuedCertificate]:
        """The certificates ``slug`` issued (revoked ones included)."""
        return (rec for rec in self.issued.values() if rec.issuer == slug)

    # -- creation and loading --

    @classmethod
    def create(
        cls,
        directory: Path,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        now: dt.datetime | None = None,
    ) -> DevPKI:
        """Generate the root, the two intermediates and the TSA under ``directory`` (must be empty).

        ``host`` and ``port`` are baked into every certificate's CRL, OCSP and
        caIssuers URLs, so the responders must later listen there.
        """
        if state_path(directory).exists():
            raise DevPKIError(f"{directory} already holds a dev PKI")
        now = _now() if now is None else now
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (directory / "certs").mkdir(mode=0o700, exist_ok=True)
        _private_dir(directory / "private")
        pki = cls(directory=directory, host=host, port=port, authorities={})

        start = now - _CA_BACKDATE
        root_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
        root_name = _ca_name(CA_NAMES[ROOT])
        root_cert = (
            _builder(
                root_name,
                root_name,
                root_key.public_key(),
                x509.random_serial_number(),
                start,
                start + dt.timedelta(days=_ROOT_YEARS * 365),
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        pki._add_authority(ROOT, root_cert, root_key)
        pki._record(root_cert, ROOT, ROOT, "root-ca")

        for slug in (GENERAL, GOVERNMENT):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            builder = (
                pki._issued_builder(
                    ROOT,
                    _ca_name(CA_NAMES[slug]),
                    key.public_key(),
                    start,
                    start + dt.timedelta(days=_CA_YEARS * 365),
                )
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(_ca_key_usage(), critical=True)
                .add_extension(
                    x509.CertificatePolicies(
                        [x509.PolicyInformation(x509.oid.CertificatePoliciesOID.ANY_POLICY, None)]
                    ),
                    critical=False,
                )
            )
            cert = builder.sign(pki.root.key, hashes.SHA256())
            pki._add_authority(slug, cert, key)
            pki._record(cert, ROOT, slug, "intermediate-ca")

        # The TSA hangs directly off the root: a validator then needs no
        # intermediate to check a timestamp, as with the national TSA.
        tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tsa_cert = (
            pki._issued_builder(
                ROOT, _ca_name(TSA_NAME), tsa_key.public_key(), start, start + dt.timedelta(days=_TSA_YEARS * 365)
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(), critical=True)
            # RFC 3161 §2.3: the TSA certificate has exactly one EKU, timeStamping, critical.
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(_policies(TSA_POLICY_OID), critical=False)
            .sign(pki.root.key, hashes.SHA256())
        )
        pki._add_authority(TSA, tsa_cert, tsa_key)
        pki._record(tsa_cert, ROOT, TSA, "tsa")
        pki.save()
        return pki

    @classmethod
    def load(cls, directory: Path) -> DevPKI:
        """Reopen a dev PKI made by :meth:`create`."""
        try:
            raw = json.loads(state_path(directory).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DevPKIError(f"no dev PKI in {directory}; run `pakat devpki init` first") from None
        except (OSError, ValueError) as exc:
            raise DevPKIError(f"cannot read {state_path(directory)}: {exc}") from exc
        if raw.get("version") != STATE_VERSION:
            raise DevPKIError(f"{state_path(directory)}: unsupported state version {raw.get('version')!r}")
        authorities: dict[str, Authority] = {}
        for slug, entry in raw["authorities"].items():
            cert_path = directory / entry["certificate"]
            key_path = directory / entry["key"]
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            # Our own freshly generated keys: skipping OpenSSL's RSA consistency
            # check saves tens of milliseconds per start-up for the 4096-bit root.
            key = serialization.load_pem_private_key(
                key_path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
            )
            if not isinstance(key, rsa.RSAPrivateKey):
                raise DevPKIError(f"{key_path} is not an RSA key")
            authorities[slug] = Authority(slug, cert, key, cert_path, key_path)
        issued = {rec.serial: rec for rec in map(IssuedCertificate.from_json, raw["issued"])}
        return cls(
            directory=directory,
            host=str(raw["host"]),
            port=int(raw["port"]),
            authorities=authorities,
            issued=issued,
        )

    def save(self) -> None:
        """Write ``state.json`` atomically (the responders reload it when it changes)."""
        state = {
            "version": STATE_VERSION,
            "host": self.host,
            "port": self.port,
            "authorities": {
                slug: {
                    "certificate": str(a.cert_path.relative_to(self.directory)),
                    "key": str(a.key_path.relative_to(self.directory)),
                }
                for slug, a in self.authorities.items()
            },
            "issued": [rec.to_json() for rec in sorted(self.issued.values(), key=lambda r: r.name)],
        }
        write_file(self.state_path, json.dumps(state, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")

    # -- issuing --

    def issue(
        self,
        profile: str,
        subject: PersonSubject | SealSubject,
        public_key: rsa.RSAPublicKey,
        name: str,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> x509.Certificate:
        """Issue a signing certificate of ``profile`` and store it as ``certs/<name>.pem``.

        The issuing CA follows from the profile (:data:`PROFILE_ISSUER`). Key
        usage is digitalSignature + nonRepudiation; validity defaults to one
        day back-dated (clock skew) to one year (persons) or two years (seals).
        """
        if profile not in PROFILE_ISSUER:
            raise DevPKIError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        is_seal = profile in (SEAL_PRIVATE, SEAL_GOVERNMENT)
        if is_seal != isinstance(subject, SealSubject):
            raise DevPKIError(f"profile {profile} needs a {'seal' if is_seal else 'person'} subject")
        now = _now()
        not_before = now - dt.timedelta(days=1) if not_before is None else not_before
        if not_after is None:
            not_after = now + dt.timedelta(days=(730 if is_seal else 365))
        issuer = PROFILE_ISSUER[profile]
        cert = (
            self._issued_builder(issuer, subject.to_name(), public_key, not_before, not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(), critical=True)
            .add_extension(_policies(POLICY_OIDS[profile]), critical=False)
            .sign(self.authorities[issuer].key, hashes.SHA256())
        )
        write_file(self.cert_path(name), cert.public_bytes(serialization.Encoding.PEM))
        self._record(cert, issuer, name, profile)
        self.save()
        return cert

    def revoke(self, serial: int, *, time: dt.datetime | None = None, reason: str = "keyCompromise") -> None:
        """Mark ``serial`` revoked at ``time`` (default now) for ``reason`` and save."""
        if reason not in REVOCATION_REASONS:
            raise DevPKIError(f"unknown revocation reason {reason!r}")
        rec = self.issued.get(serial)
        if rec is None:
            raise DevPKIError(f"serial {serial:x} was not issued by this dev PKI")
        self.issued[serial] = replace(rec, revocation=Revocation(_now() if time is None else time, reason))
        self.save()

    # -- internals --

    def _add_authority(self, slug: str, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
        cert_path = self.cert_path(slug)
        key_path = self.directory / "private" / f"{slug}.key"
        write_file(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            mode=0o600,
        )
        write_file(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        self.authorities[slug] = Authority(slug, cert, key, cert_path, key_path)

    def _record(self, cert: x509.Certificate, issuer: str, name: str, profile: str) -> None:
        self.issued[cert.serial_number] = IssuedCertificate(
            serial=cert.serial_number,
            issuer=issuer,
            name=name,
            profile=profile,
            subject=cert.subject.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )

    def _issued_builder(
        self,
        issuer: str,
        subject: x509.Name,
        public_key: rsa.RSAPublicKey,
        not_before: dt.datetime,
        not_after: dt.datetime,
    ) -> x509.CertificateBuilder:
        """A builder with everything an issued certificate shares: AKI, SKI, CDP and AIA of its issuer."""
        ca = self.authorities[issuer]
        ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return (
            _builder(
                subject, ca.certificate.subject, public_key, x509.random_serial_number(), not_before, not_after
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(self.crl_url(issuer))], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            x509.oid.AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(self.ocsp_url(issuer)),
                        ),
                        x509.AccessDescription(
                            x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(self.cert_url(issuer)),
                        ),
                    ]
                ),
                critical=False,
            )
        )


def load_register(directory: Path) -> dict[int, IssuedCertificate]:
    """The issued certificates recorded in ``directory/state.json``, without loading any key."""
    raw = json.loads(state_path(directory).read_text(encoding="utf-8"))
    return {rec.serial: rec for rec in map(IssuedCertificate.from_json, raw["issued"])}


def recorded_address(directory: Path) -> tuple[str, int]:
    """The host and port the dev PKI under ``directory`` was made for (its URLs point there)."""
    try:
        raw = json.loads(state_path(directory).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DevPKIError(f"no dev PKI in {directory}; run `pakat devpki init` first") from None
    return str(raw["host"]), int(raw["port"])


def state_path(directory: Path) -> Path:
    """Where the dev PKI under ``directory`` keeps its state."""
    return directory / "state.json"


def write_file(path: Path, data: bytes, *, mode: int = PRIVATE) -> None:
    """Write ``data`` atomically, owner-only like all of Pakat's state: readers never see half a file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, data, mode=mode)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _key_usage(
    *, digital_signature: bool = False, content_commitment: bool = False, cert_and_crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_and_crl_sign,
        crl_sign=cert_and_crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_key_usage() -> x509.KeyUsage:
    # digitalSignature too: the CAs sign their own OCSP responses.
    return _key_usage(digital_signature=True, cert_and_crl_sign=True)


def _leaf_key_usage() -> x509.KeyUsage:
    # nonRepudiation (contentCommitment) is what marks a signing, not an authentication, key.
    return _key_usage(digital_signature=True, content_commitment=True)


def _policies(*oids: str) -> x509.CertificatePolicies:
    return x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(oid), None) for oid in oids])
