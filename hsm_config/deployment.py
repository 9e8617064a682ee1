"""The deployment file: which organisations seal with which HSM key, and whom we trust.

One YAML per deployment. Relative paths are resolved against the YAML's own
folder. PINs never live here: each seal names ``pin_env`` (an environment
variable) or ``pin_file`` (a secrets file, ideally mode 0600).

.. code-block:: yaml

    version: 1
    trust:
      roots:
        - path: trust/iran-root-ca-g3.pem
          sha256: aa7ff637...          # pinned: a root whose file changed is refused
      intermediates: [certs/general-ca.pem, intermediates/]   # files, or folders of .pem/.cer/.crt
      revocation_url_prefixes: ["http://127.0.0.1:8390/"]
    validation:                      # optional; defaults are validation.config.ValidationPolicy's
      policy: general                # the default: general | bid-envelope | a name below | a policy file
      policies:                      # optional: more policies callers may choose by name (?policy=, --policy);
        tender-2027: policies/tender-2027.yaml   # a built-in's name (bid-envelope) replaces that built-in
      revocation: require            # require | if-available | skip
      clock_skew_seconds: 300
      assurance_levels: [bronze, silver, gold]   # optional: the order of levels, lowest first
      classification:                # which CA or policy OID means which kind of signer
        - kind: organisation_seal    # person_independent | person_affiliated | organisation_seal
          policy_oid: 2.25.326198928783245305009728228841392471572
          issuer_sha256: 0f3a...     # optional: the issuing CA's fingerprint
          affiliation: private       # government | private
          assurance_level: silver
    timestamping:
      url: http://127.0.0.1:8390/tsa
    limits:
      max_pdf_bytes: 157286400
    storage:                         # optional: every organisation's default (absent: no limit, kept forever)
      max_bytes: 53687091200         # stored bytes: every revision of its documents, batch inputs and outputs
      max_documents: 100000          # documents, and batch items (each input file is one)
      documents_days: 365            # a document not held by a session or an envelope: deleted N days
                                     # after its last change
      batch_inputs_days: 30          # a finished batch's input files: deleted N days after it finished
      batches_days: 90               # a finished batch (its rows and sealed outputs): deleted N days after
    organisations:
      demo-co:
        name_en: Pakat Demo Co.
        name_fa: شرکت نمونه پاکت
        storage: {max_bytes: 1073741824, batches_days: 30}   # optional: overrides the default, key by key;
                                                              # null: no limit for this organisation
        seal:
          module: /usr/lib/softhsm/libsofthsm2.so
          module_env: {SOFTHSM2_CONF: /srv/pakat/var/softhsm/softhsm2.conf}
          token_label: demo-co-seal
          key_label: seal
          certificate: certs/demo-co-seal.pem
          chain: [certs/general-ca.pem]
          pin_file: secrets/demo-co.pin
    api_keys:                           # older deployments: new keys are made with `pakat api-key create`
                                        # (in the database, with scopes); these keep every scope but admin
      - sha256: 5e88...                 # SHA-256 of the key, never the key itself
        organisation: demo-co
        platform:                       # optional: who asks, shown to the signer; default: the organisation
          name_fa: سامانه نمونه تدارکات
          name_en: Demo procurement platform
          seal: demo-gov                # optional: the organisation whose seal signs this platform's receipts
        return_urls:                    # optional: where the signing page may send the bidder back to;
          - https://platform.example/tenders/   # a session's return_url must start with one of these,
                                        # compared parsed: scheme, host, port, then whole path segments
        webhook:                        # optional: signature.completed / signature.failed events
          url: https://platform.example/pakat/events
          secret_env: PAKAT_WEBHOOK_SECRET_DEMO   # or secret_file: secrets/demo-platform.webhook
    webhooks:                           # optional; these are the defaults
      retry_intervals: [10, 60, 300, 900, 3600, 10800]   # seconds before each retry
      timeout_seconds: 5
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from pakat import errors
from pakat.errors import AccessError
from validation.config import ClassificationRule, RevocationMode, ValidationConfig, ValidationPolicy
from validation.model import Affiliation, SignerKind
from validation.policy import BUILT_IN, DEFAULT_POLICY, PolicyError, PolicyRules, load_policy, policy_named

DEFAULT_MAX_PDF_BYTES = 150 * 1024 * 1024
# The national root CA, copied from shared/trust with its fingerprint: what production trusts by default.
NATIONAL_ROOT_PATH = Path(__file__).parent / "trust" / "iran-root-ca-g3.pem"
NATIONAL_ROOT_SHA256 = "aa7ff637d061295a6a003e9d6621a54f4780bae7aef96043a71b7c2af276d556"
CERTIFICATE_SUFFIXES = (".pem", ".cer", ".crt", ".der")
DEFAULT_WEBHOOK_RETRY_INTERVALS = (10, 60, 300, 900, 3600, 10800)
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class TrustAnchor:
    """A root certificate pinned by the SHA-256 of its DER encoding."""

    path: Path
    sha256: str

    def load(self) -> x509.Certificate:
        """Read the root and refuse it if its fingerprint is not the pinned one."""
        cert = load_certificate(self.path)
        actual = cert.fingerprint(hashes.SHA256()).hex()
        if actual != self.sha256:
            raise AccessError(
                errors.CONFIG_INVALID,
                f"trust root {self.path.name} has SHA-256 {actual}, pinned {self.sha256}",
            )
        return cert


@dataclass(frozen=True)
class SealKeyConfig:
    """Where an organisation's seal key lives and how to unlock it."""

    module: str
    token_label: str
    key_label: str
    certificate: Path
    chain: tuple[Path, ...] = ()
    module_env: Mapping[str, str] = field(default_factory=dict)
    pin_env: str | None = None
    pin_file: Path | None = None

    def read_pin(self) -> str:
        """The user PIN from the environment or the secrets file; never logged."""
        if self.pin_env:
            pin = os.environ.get(self.pin_env)
            if pin:
                return pin
        if self.pin_file is not None:
            try:
                pin = self.pin_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise AccessError(errors.PIN_NOT_CONFIGURED, f"cannot read {self.pin_file}") from exc
            if pin:
                return pin
        where = f"${self.pin_env}" if self.pin_env else str(self.pin_file)
        raise AccessError(errors.PIN_NOT_CONFIGURED, f"set {where}")


@dataclass(frozen=True)
class StoragePolicy:
    """How much an organisation may store, and how long it is kept (None: no limit, kept forever)."""

    max_bytes: int | None = None
    max_documents: int | None = None
    documents_days: int | None = None
    batch_inputs_days: int | None = None
    batches_days: int | None = None


STORAGE_KEYS = ("max_bytes", "max_documents", "documents_days", "batch_inputs_days", "batches_days")


@dataclass(frozen=True)
class Organisation:
    """An organisation that applies its company seal (مهر سازمانی)."""

    id: str
    name_en: str
    name_fa: str
    seal: SealKeyConfig


@dataclass(frozen=True)
class Webhook:
    """Where a platform receives its events, and where the HMAC secret for them is kept."""

    url: str
    secret_env: str | None = None
    secret_file: Path | None = None

    def read_secret(self) -> str:
        """The HMAC secret from the environment or the secrets file; never logged."""
        if self.secret_env:
            secret = os.environ.get(self.secret_env)
            if secret:
                return secret
        if self.secret_file is not None:
            try:
                secret = self.secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise AccessError(
                    errors.CONFIG_INVALID, f"cannot read the webhook secret file {self.secret_file}"
                ) from exc
            if secret:
                return secret
        where = f"${self.secret_env}" if self.secret_env else str(self.secret_file)
        raise AccessError(errors.CONFIG_INVALID, f"the webhook secret is empty or unset: set {where}")


@dataclass(frozen=True)
class Platform:
    """Who uses an API key: the name the signer sees, and the webhook its events go to."""

    api_key_sha256: str
    organisation: str
    name_fa: str
    name_en: str
    webhook: Webhook | None = None
    # The organisation whose HSM seal signs this platform's submission receipts (its own seal,
    # not a bidder's); None: the platform issues no receipts.
    seal: str | None = None
    # Prefixes a session's return_url must fall under (see :func:`return_url_allowed`); none: no return link.
    return_urls: tuple[str, ...] = ()

    def allows_return_url(self, url: str) -> bool:
        """Whether ``url`` falls under one of this platform's ``return_urls``."""
        return any(return_url_allowed(url, prefix) for prefix in self.return_urls)


@dataclass(frozen=True)
class WebhookSettings:
    """How webhooks are delivered: the wait before each retry, and the HTTP timeout."""

    retry_intervals: tuple[int, ...] = DEFAULT_WEBHOOK_RETRY_INTERVALS
    timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Deployment:
    """Everything a process needs to seal: organisations, trust, TSA, limits, API keys."""

    source: Path
    organisations: Mapping[str, Organisation]
    trust_roots: tuple[TrustAnchor, ...]
    intermediates: tuple[Path, ...] = ()
    revocation_url_prefixes: tuple[str, ...] = ()
    tsa_url: str | None = None
    max_pdf_bytes: int = DEFAULT_MAX_PDF_BYTES
    api_key_hashes: Mapping[str, str] = field(default_factory=dict)
    validation_policy: ValidationPolicy = field(default_factory=ValidationPolicy)
    validation_policies: Mapping[str, PolicyRules] = field(default_factory=dict)  # named, beside the built-ins
    classification: tuple[ClassificationRule, ...] = ()
    platforms: Mapping[str, Platform] = field(default_factory=dict)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    # Certificate assurance levels (the classification rules' ``assurance_level``), lowest first.
    assurance_levels: tuple[str, ...] = ()
    # ``storage``, and each organisation's own ``storage`` merged over it key by key.
    storage_default: StoragePolicy = field(default_factory=StoragePolicy)
    storage_policies: Mapping[str, StoragePolicy] = field(default_factory=dict)

    def storage_policy(self, org_id: str) -> StoragePolicy:
        """The organisation's quotas and retention: its own, else the deployment's default."""
        return self.storage_policies.get(org_id, self.storage_default)

    def organisation(self, org_id: str) -> Organisation:
        """The configured organisation, or UNKNOWN_ORGANISATION."""
        try:
            return self.organisations[org_id]
        except KeyError:
            raise AccessError(errors.UNKNOWN_ORGANISATION, org_id) from None

    def organisation_for_api_key(self, api_key: str) -> str | None:
        """The organisation an API key belongs to, comparing hashes in constant time."""
        digest = hash_api_key(api_key)
        found: str | None = None
        for known, org_id in self.api_key_hashes.items():
            if hmac.compare_digest(known, digest):
                found = org_id
        return found

    def platform_for_api_key(self, api_key: str) -> Platform | None:
        """The platform an API key belongs to, comparing hashes in constant time."""
        digest = hash_api_key(api_key)
        found: Platform | None = None
        # No early exit: the time taken does not tell which entry matched.
        for known, platform in self.platforms.items():
            if hmac.compare_digest(known, digest):
                found = platform
        return found


def assurance_rank(deployment: Deployment, level: str | None) -> int:
    """Where ``level`` stands in the configured order (0 lowest); -1 for none or an unlisted level."""
    if level is None or level not in deployment.assurance_levels:
        return -1
    return deployment.assurance_levels.index(level)


def hash_api_key(api_key: str) -> str:
    """How API keys are stored: hex SHA-256 (keys are 256-bit random, so no salt is needed)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def load_certificate(path: Path) -> x509.Certificate:
    """A certificate from a PEM or DER file."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def national_anchor() -> TrustAnchor:
    """The national root CA, pinned: the production default trust anchor."""
    return TrustAnchor(NATIONAL_ROOT_PATH, NATIONAL_ROOT_SHA256)


def load_certificates(path: Path) -> list[x509.Certificate]:
    """The certificate in ``path``, or every certificate file directly inside it when it is a folder."""
    if path.is_dir():
        return [load_certificate(p) for p in sorted(path.iterdir()) if p.suffix.lower() in CERTIFICATE_SUFFIXES]
    return [load_certificate(path)]


def validation_config(deployment: Deployment) -> ValidationConfig:
    """What the validator trusts and demands under this deployment (roots checked against their pins)."""
    try:
        intermediates = [c for p in deployment.intermediates for c in load_certificates(p)]
    except (OSError, ValueError) as exc:
        raise AccessError(errors.CONFIG_INVALID, f"{deployment.source}: intermediates: {exc}") from exc
    return ValidationConfig(
        trust_roots=[anchor.load() for anchor in deployment.trust_roots],
        intermediates=intermediates,
        revocation_url_prefixes=deployment.revocation_url_prefixes,
        policy=deployment.validation_policy,
        policies=deployment.validation_policies,
        classification=deployment.classification,
        max_pdf_bytes=deployment.max_pdf_bytes,
    )


def default_validation_config() -> ValidationConfig:
    """Production's default without a deployment file: the national root only, no online fetching."""
    return ValidationConfig(trust_roots=[national_anchor().load()])


def _fingerprint(value: Any) -> str:
    return str(value).lower().replace(":", "")


def _assurance_levels(raw: Any, rules: tuple[ClassificationRule, ...], source: Path) -> tuple[str, ...]:
    """``validation.assurance_levels``: distinct names, lowest first, naming every level the rules use."""
    levels = (raw or {}).get("assurance_levels") if isinstance(raw, dict) else None
    if levels is None:
        levels = []
    if not isinstance(levels, list) or not all(isinstance(v, str) and v.strip() for v in levels):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: validation.assurance_levels must be a list of names")
    if len(set(levels)) != len(levels):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: validation.assurance_levels repeats a name")
    unlisted = sorted({r.assurance_level for r in rules if r.assurance_level} - set(levels))
    if levels and unlisted:
        raise AccessError(
            errors.CONFIG_INVALID,
            f"{source}: validation.classification uses assurance levels not in assurance_levels: {unlisted}",
        )
    return tuple(levels)


# Keys that moved into the validation policy file (crypto suite); a deployment still naming them is refused
# rather than silently judged by rules it did not set.
_MOVED_TO_POLICY_FILE = ("min_rsa_bits", "min_ec_bits", "allowed_digests", "digest_sunsets")


def _validation_policy(
    raw: Any, source: Path
) -> tuple[ValidationPolicy, dict[str, PolicyRules], tuple[ClassificationRule, ...]]:
    if raw is None:
        return ValidationPolicy(), {}, ()
    if not isinstance(raw, dict):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: validation must be a mapping")
    moved = [key for key in _MOVED_TO_POLICY_FILE if key in raw]
    if moved:
        raise AccessError(
            errors.CONFIG_INVALID,
            f"{source}: validation.{moved[0]} is now set in a validation policy file: copy "
            "validation/policies/general.yaml, set its crypto section, and name it in validation.policy",
        )
    defaults = ValidationPolicy()
    named = _named_policies(raw.get("policies"), source)
    try:
        policy = ValidationPolicy(
            rules=_policy_rules(raw.get("policy"), named, source),
            revocation=RevocationMode(raw.get("revocation", defaults.revocation.value)),
            clock_skew=dt.timedelta(seconds=int(raw.get("clock_skew_seconds", defaults.clock_skew.seconds))),
        )
        rules = tuple(
            ClassificationRule(
                kind=SignerKind(rule["kind"]),
                issuer_sha256=_fingerprint(rule["issuer_sha256"]) if rule.get("issuer_sha256") else None,
                policy_oid=str(rule["policy_oid"]) if rule.get("policy_oid") else None,
                affiliation=Affiliation(rule["affiliation"]) if rule.get("affiliation") else None,
                assurance_level=str(rule["assurance_level"]) if rule.get("assurance_level") else None,
                requires_stamp_marker=bool(rule.get("requires_stamp_marker", False)),
            )
            for rule in raw.get("classification") or []
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AccessError(errors.CONFIG_INVALID, f"{source}: validation: {exc}") from exc
    if any(r.issuer_sha256 is None and r.policy_oid is None for r in rules):
        raise AccessError(
            errors.CONFIG_INVALID, f"{source}: validation.classification: a rule needs issuer_sha256 or policy_oid"
        )
    return policy, named, rules


def _named_policies(value: Any, source: Path) -> dict[str, PolicyRules]:
    """``validation.policies``: name -> policy file (relative to the deployment's folder)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: validation.policies must map names to policy files")
    named = {}
    for name, path in value.items():
        if not isinstance(name, str) or not name.strip():
            raise AccessError(errors.CONFIG_INVALID, f"{source}: validation.policies: {name!r} is not a name")
        try:
            named[name] = load_policy(source.parent / str(path))
        except PolicyError as exc:
            raise AccessError(errors.CONFIG_INVALID, f"validation.policies.{name}: {exc}") from None
    return named


def _policy_rules(value: Any, named: dict[str, PolicyRules], source: Path) -> PolicyRules:
    """``validation.policy``: a built-in or named policy, or a policy file (relative to the deployment)."""
    if value is None:
        return load_policy(DEFAULT_POLICY)
    if not isinstance(value, str) or not value.strip():
        raise AccessError(errors.CONFIG_INVALID, f"{source}: validation.policy must be a name or a path")
    name = value.strip()
    try:
        if name in named or name in BUILT_IN:
            return policy_named(name, named)
        return load_policy(source.parent / name)
    except PolicyError as exc:
        raise AccessError(errors.CONFIG_INVALID, f"validation.policy: {exc}") from None


def load_deployment(path: str | os.PathLike[str]) -> Deployment:
    """Parse and check a deployment YAML; errors name the offending entry."""
    source = Path(path).resolve()
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AccessError(errors.CONFIG_INVALID, f"cannot read {source}: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise AccessError(errors.CONFIG_INVALID, f"{source}: expected a mapping with version: 1")
    base = source.parent

    def rel(value: Any, where: str) -> Path:
        if not isinstance(value, str) or not value:
            raise AccessError(errors.CONFIG_INVALID, f"{source}: {where} must be a path")
        p = Path(value)
        return p if p.is_absolute() else base / p

    trust = raw.get("trust") or {}
    roots = tuple(
        TrustAnchor(rel(r.get("path"), "trust.roots[].path"), _fingerprint(r.get("sha256", "")))
        for r in trust.get("roots") or []
    )
    if not roots:
        raise AccessError(errors.CONFIG_INVALID, f"{source}: trust.roots is empty")

    orgs: dict[str, Organisation] = {}
    for org_id, entry in (raw.get("organisations") or {}).items():
        seal = (entry or {}).get("seal") or {}
        where = f"organisations.{org_id}.seal"
        missing = [k for k in ("module", "token_label", "key_label", "certificate") if not seal.get(k)]
        if missing:
            raise AccessError(errors.CONFIG_INVALID, f"{source}: {where} lacks {', '.join(missing)}")
        if "pin" in seal:
            raise AccessError(errors.CONFIG_INVALID, f"{source}: {where}: PINs never go in this file")
        orgs[str(org_id)] = Organisation(
            id=str(org_id),
            name_en=str(entry.get("name_en", org_id)),
            name_fa=str(entry.get("name_fa", entry.get("name_en", org_id))),
            seal=SealKeyConfig(
                module=str(seal["module"]),
                token_label=str(seal["token_label"]),
                key_label=str(seal["key_label"]),
                certificate=rel(seal["certificate"], f"{where}.certificate"),
                chain=tuple(rel(c, f"{where}.chain[]") for c in seal.get("chain") or []),
                module_env={str(k): str(v) for k, v in (seal.get("module_env") or {}).items()},
                pin_env=seal.get("pin_env"),
                pin_file=rel(seal["pin_file"], f"{where}.pin_file") if seal.get("pin_file") else None,
            ),
        )

    platforms = _platforms(raw.get("api_keys"), orgs, source, rel)
    storage_default = _storage_policy(raw.get("storage"), StoragePolicy(), source, "storage")
    storage_policies = {
        org_id: _storage_policy(entry.get("storage"), storage_default, source, f"organisations.{org_id}.storage")
        for org_id, entry in (raw.get("organisations") or {}).items()
        if isinstance(entry, dict) and entry.get("storage") is not None
    }

    limits = raw.get("limits") or {}
    policy, named_policies, rules = _validation_policy(raw.get("validation"), source)
    assurance_levels = _assurance_levels(raw.get("validation"), rules, source)
    return Deployment(
        source=source,
        organisations=orgs,
        trust_roots=roots,
        intermediates=tuple(rel(p, "trust.intermediates[]") for p in trust.get("intermediates") or []),
        revocation_url_prefixes=tuple(str(p) for p in trust.get("revocation_url_prefixes") or []),
        tsa_url=(raw.get("timestamping") or {}).get("url"),
        max_pdf_bytes=int(limits.get("max_pdf_bytes", DEFAULT_MAX_PDF_BYTES)),
        api_key_hashes={digest: p.organisation for digest, p in platforms.items()},
        validation_policy=policy,
        validation_policies=named_policies,
        classification=rules,
        platforms=platforms,
        webhooks=_webhook_settings(raw.get("webhooks"), source),
        assurance_levels=assurance_levels,
        storage_default=storage_default,
        storage_policies={str(k): v for k, v in storage_policies.items()},
    )


def _storage_policy(raw: Any, base: StoragePolicy, source: Path, where: str) -> StoragePolicy:
    """A ``storage`` mapping over ``base``: each key a whole number > 0, or null for no limit."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: {where} must be a mapping")
    unknown = sorted(str(k) for k in raw if k not in STORAGE_KEYS)
    if unknown:
        raise AccessError(errors.CONFIG_INVALID, f"{source}: {where}: unknown keys {unknown}; "
                                                 f"known: {list(STORAGE_KEYS)}")
    values: dict[str, int | None] = {}
    for key, value in raw.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise AccessError(errors.CONFIG_INVALID,
                              f"{source}: {where}.{key} must be a whole number above 0, or null for no limit")
        values[str(key)] = value
    return dataclasses.replace(base, **values)


def _platforms(
    raw: Any, orgs: Mapping[str, Organisation], source: Path, rel: Callable[[Any, str], Path]
) -> dict[str, Platform]:
    """The api_keys entries, keyed by the key's SHA-256; errors name the entry, never a secret."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: api_keys must be a list")
    platforms: dict[str, Platform] = {}
    for n, entry in enumerate(raw):
        where = f"api_keys[{n}]"
        if not isinstance(entry, dict):
            raise AccessError(errors.CONFIG_INVALID, f"{source}: {where} must be a mapping")
        org_id = str(entry.get("organisation", ""))
        if org_id not in orgs:
            raise AccessError(errors.CONFIG_INVALID, f"{source}: api key for unknown organisation {org_id!r}")
        where = f"api_keys[{n}] ({org_id})"
        digest = str(entry.get("sha256") or "").lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise AccessError(errors.CONFIG_INVALID, f"{source}: {where}: sha256 must be 64 hex digits")
        named = entry.get("platform") or {}
        if not isinstance(named, dict):
            raise AccessError(errors.CONFIG_INVALID, f"{source}: {where}.platform must be a mapping")
        org = orgs[org_id]
        seal = named.get("seal")
        if seal is not None and str(seal) not in orgs:
            raise AccessError(
                errors.CONFIG_INVALID, f"{source}: {where}.platform.seal: unknown organisation {seal!r}"
            )
        platforms[digest] = Platform(
            api_key_sha256=digest,
            organisation=org_id,
            name_fa=str(named.get("name_fa") or org.name_fa),
            name_en=str(named.get("name_en") or org.name_en),
            webhook=_webhook(entry.get("webhook"), source, f"{where}.webhook", rel),
            seal=str(seal) if seal is not None else None,
            return_urls=_return_urls(entry.get("return_urls"), source, f"{where}.return_urls"),
        )
    return platforms


_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class _UrlParts:
    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]
    has_extra: bool  # a query or fragment


def _url_parts(url: str) -> _UrlParts | None:
    """``url`` split for comparison, or None when it is no plain absolute http(s) URL.

    Refused outright: credentials, backslashes and control characters (browsers
    and parsers disagree on them), and ``.``/``..`` segments or percent-encoded
    slashes and dots (they would let a path climb out of its prefix once a
    browser normalised it).
    """
    if "\\" in url or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    lowered = parts.path.lower()
    if "%2f" in lowered or "%5c" in lowered or "%2e" in lowered:
        return None
    segments = tuple(parts.path.split("/")[1:]) if parts.path else ()
    if any(s in (".", "..") for s in segments):
        return None
    return _UrlParts(scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme], segments,
                     bool(parts.query or parts.fragment))


def return_url_allowed(url: str, prefix: str) -> bool:
    """Whether ``url`` is under ``prefix``: same scheme, host and port, and the prefix's whole path segments.

    Never a string ``startswith``: ``https://platform.example.evil.com`` or
    ``https://platform.example@evil.com`` start with ``https://platform.example``,
    and ``/tenders-old`` starts with ``/tenders``. A prefix ending in ``/`` admits
    anything below it; one without admits itself and anything below it.
    """
    got, allowed = _url_parts(url), _url_parts(prefix)
    if got is None or allowed is None or len(url) > 2000:
        return False
    if (got.scheme, got.host, got.port) != (allowed.scheme, allowed.host, allowed.port):
        return False
    if allowed.has_extra:
        return False
    below = bool(allowed.segments) and allowed.segments[-1] == ""  # "/tenders/": strictly below /tenders
    want = allowed.segments[:-1] if below else allowed.segments
    if below and len(got.segments) <= len(want):
        return False
    return got.segments[:len(want)] == want


def _return_urls(raw: Any, source: Path, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(u, str) for u in raw):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: {where} must be a list of URL prefixes")
    for n, prefix in enumerate(raw):
        parts = _url_parts(prefix)
        if parts is None or parts.has_extra:
            raise AccessError(
                errors.CONFIG_INVALID,
                f"{source}: {where}[{n}] must be an http or https URL with a host, without credentials, "
                "query or fragment",
            )
    return tuple(raw)


def _webhook(raw: Any, source: Path, where: str, rel: Callable[[Any, str], Path]) -> Webhook | None:
    if raw is None:
        return None

    def refuse(problem: str) -> AccessError:
        return AccessError(errors.CONFIG_INVALID, f"{source}: {where}{problem}")

    if not isinstance(raw, dict):
        raise refuse(" must be a mapping")
    if "secret" in raw:
        raise refuse(": secrets never go in this file (use secret_env or secret_file)")
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        raise refuse(".url is missing")
    # The URL is not quoted in these messages: its query may carry a platform's token.
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        raise refuse(".url is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refuse(f".url must be an http or https URL with a host, not {parts.scheme or 'no'} scheme")
    if parts.username is not None or parts.password is not None:
        raise refuse(".url: credentials never go in a URL")
    secret_env, secret_file = raw.get("secret_env"), raw.get("secret_file")
    if not secret_env and not secret_file:
        raise refuse(" needs secret_env or secret_file")
    return Webhook(
        url=url,
        secret_env=str(secret_env) if secret_env else None,
        secret_file=rel(secret_file, f"{where}.secret_file") if secret_file else None,
    )


def _webhook_settings(raw: Any, source: Path) -> WebhookSettings:
    if raw is None:
        return WebhookSettings()
    if not isinstance(raw, dict):
        raise AccessError(errors.CONFIG_INVALID, f"{source}: webhooks must be a mapping")
    intervals = raw.get("retry_intervals", list(DEFAULT_WEBHOOK_RETRY_INTERVALS))
    timeout = raw.get("timeout_seconds", DEFAULT_WEBHOOK_TIMEOUT_SECONDS)
    if not isinstance(intervals, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in intervals
    ):
        raise AccessError(
            errors.CONFIG_INVALID, f"{source}: webhooks.retry_intervals must be a list of whole seconds >= 0"
        )
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 60:
        raise AccessError(errors.CONFIG_INVALID, f"{source}: webhooks.timeout_seconds must be in (0, 60]")
    return WebhookSettings(retry_intervals=tuple(intervals), timeout_seconds=float(timeout))
