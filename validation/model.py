"""What a validation produces: the report, as plain dataclasses.

The report is the contract with everything that reads a verdict: the JSON API
(schema ``validation/reports/schema/report-v1.json``), the HTML page, the PDF report,
the ETSI TS 119 102-2 XML and the CLI's exit code. Renderers only read these
objects; they never judge.

Indications and sub-indications use EN 319 102-1's names, as EU DSS does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# 1.1 added signed_revision and placements per signature, after_validation_time per timestamp.
REPORT_SCHEMA_VERSION = "1.1"


class Indication(enum.StrEnum):
    """EN 319 102-1 main indication."""

    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"


class SubIndication(enum.StrEnum):
    """EN 319 102-1 sub-indication (clause 5.1.3).

    EXPIRED and NOT_YET_VALID appear under both TOTAL_FAILED (proven) and
    INDETERMINATE (not proven), so a report always carries both fields.
    """

    # TOTAL_FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    # INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    GENERIC = "GENERIC"  # any other reason: here, a check that could not be completed (never tampering)


class Modification(enum.StrEnum):
    """The most serious kind of change after a signature (:mod:`validation.modifications`), least first."""

    NONE = "NONE"
    LTA_UPDATES = "LTA_UPDATES"  # validation data, document timestamps, metadata: nothing a page shows
    SIGNATURES = "SIGNATURES"  # later signatures, their fields and appearances
    FORM_FILLING = "FORM_FILLING"  # field values and their appearances
    ANNOTATIONS = "ANNOTATIONS"  # comments and other annotations
    OTHER = "OTHER"  # anything else: pages, content, objects


class SignatureKind(enum.StrEnum):
    APPROVAL = "approval"
    CERTIFICATION = "certification"  # carries DocMDP
    DOCUMENT_TIMESTAMP = "document_timestamp"


class SignerKind(enum.StrEnum):
    """Certificate classes of the national PKI; which CA or policy OID means which is configuration."""

    PERSON_INDEPENDENT = "person_independent"
    PERSON_AFFILIATED = "person_affiliated"
    ORGANISATION_SEAL = "organisation_seal"
    UNKNOWN = "unknown"


class Affiliation(enum.StrEnum):
    GOVERNMENT = "government"
    PRIVATE = "private"


class RevocationStatus(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # no usable revocation data
    NOT_CHECKED = "not_checked"  # policy said skip, or no chain to check against


class Severity(enum.StrEnum):
    ERROR = "error"  # makes the verdict not passed
    WARNING = "warning"  # worth a human's look, does not change the verdict
    INFO = "info"


@dataclass(frozen=True)
class Text:
    """One message in both languages; Persian first, as people read it."""

    fa: str
    en: str


@dataclass(frozen=True)
class Finding:
    """Something the validator noticed, with a stable code (e.g. ``BYTE_RANGE_PAST_EOF``)."""

    code: str
    severity: Severity
    text: Text


@dataclass(frozen=True)
class CertificateInfo:
    subject: str  # RFC 4514
    common_name: str | None
    issuer: str
    serial_number: str  # hex
    not_before: datetime
    not_after: datetime
    sha256: str
    key: str  # e.g. "RSA-2048", "ECDSA-P256", "Ed25519"


@dataclass(frozen=True)
class SignerIdentity:
    name: str | None
    national_id: str | None  # subject serialNumber
    organisation: str | None
    organisational_unit: str | None
    title: str | None  # exact English role title of government staff
    kind: SignerKind
    affiliation: Affiliation | None
    assurance_level: str | None  # from configuration, e.g. "qualified"
    certificate: CertificateInfo


@dataclass(frozen=True)
class ChainReport:
    trusted: bool
    anchor: str | None  # the pinned root's subject when trusted
    anchor_sha256: str | None
    certificates: list[CertificateInfo]  # signer first, root last
    problem: str | None  # why not trusted, in the library's words, for the technical reader


@dataclass(frozen=True)
class RevocationReport:
    status: RevocationStatus
    source: str | None  # "embedded" (DSS or CMS), "online", or None
    kind: str | None  # "OCSP" or "CRL"
    produced_at: datetime | None  # when the answer was issued
    revoked_at: datetime | None
    reason: str | None  # CRL reason code name


@dataclass(frozen=True)
class TimestampReport:
    kind: str  # "signature", "document", "content"
    time: datetime
    tsa: str | None  # TSA subject
    intact: bool  # imprint and signature verify
    trusted: bool  # TSA chains to a pinned root
    digest_algorithm: str
    field_name: str | None = None  # document timestamps live in their own field
    covers_entire_file: bool | None = None  # document timestamps only
    # Generated after the validation time (beyond the clock skew): it did not exist then, so it is no
    # proof of existence at that time and is not reported valid (EN 319 102-1, 5.5.4 steps 1 and 3b).
    after_validation_time: bool = False
    problem: str | None = None


@dataclass(frozen=True)
class IntegrityReport:
    byte_range: list[int] | None
    byte_range_ok: bool
    coverage: str  # "entire_file", "entire_revision", "partial", "unclear"
    digest_ok: bool | None  # None when it could not be computed
    signature_ok: bool | None


@dataclass(frozen=True)
class ChangeReport:
    """One change found after a signature, and how the policy judged it."""

    kind: str  # validation.modifications.ChangeKind: extension, signature, form_filling, annotation, ...
    where: str  # e.g. "page 1 /Contents", "field 'price' /V"
    page: int | None  # 1-based
    verdict: str  # "allowed", "not_allowed" (fails the signature), "not_shown" (not allowed, shown on no page)


@dataclass(frozen=True)
class ModificationReport:
    level: Modification | None  # None when not analysed (integrity already failed, or the analysis failed)
    docmdp_permission: int | None  # 1, 2 or 3 when the document is certified
    docmdp_ok: bool | None
    changes: list[ChangeReport] = field(default_factory=list)
    changed_pages: list[int] = field(default_factory=list)  # 1-based: pages that show a change not allowed
    compared_visually: bool = False  # the pages of both revisions were drawn and compared


@dataclass(frozen=True)
class SignedRevision:
    """The bytes a signature covers as one file, Acrobat's "view signed version": the document from its
    first byte to the end of the signature's /ByteRange (the /Contents hole included, as written).

    A reader can cut it from their own copy of the file and check it against ``sha256``.
    """

    length: int  # bytes from the start of the file
    sha256: str  # hex SHA-256 of those bytes


@dataclass(frozen=True)
class WidgetPlacement:
    """Where one widget of a signature field sits: its page and its /Rect."""

    page: int | None  # 1-based; None when no page lists the widget among its annotations
    # [x1, y1, x2, y2] in PDF points (the page's user space), x1 <= x2 and y1 <= y2; None when unreadable
    rect: list[float] | None
    invisible: bool  # zero width or height, or flagged Hidden / NoView: nothing shows on the page


@dataclass
class SignatureReport:
    """Everything we know about one signature field, and the verdict on it."""

    index: int  # 1-based, in file order
    field_name: str | None
    kind: SignatureKind
    indication: Indication
    sub_indication: SubIndication | None
    reason: Text  # one line: why this verdict
    revision: int | None  # the revision the signature covers (0-based)
    subfilter: str | None
    pades_level: str | None  # "B-B", "B-T", "B-LT", "B-LTA"; None: not PAdES
    signer: SignerIdentity | None
    chain: ChainReport | None
    revocation: RevocationReport | None
    integrity: IntegrityReport
    modifications: ModificationReport
    claimed_signing_time: datetime | None  # signing-time attribute or /M: the signer's word only
    best_signature_time: datetime  # the earliest time proven (timestamp) or the validation time
    timestamps: list[TimestampReport]  # signature timestamps over this signature
    digest_algorithm: str | None
    signature_algorithm: str | None
    findings: list[Finding] = field(default_factory=list)
    signed_revision: SignedRevision | None = None  # None when the /ByteRange is not sane
    placements: list[WidgetPlacement] = field(default_factory=list)  # the field's widgets, in /Kids order


@dataclass
class DocumentReport:
    """The verdict on a whole file: one entry per signature plus a summary."""

    schema_version: str
    generator: str
    validation_time: datetime
    file_name: str | None
    file_sha256: str
    file_size: int
    indication: Indication
    sub_indication: SubIndication | None
    reason: Text
    signatures: list[SignatureReport]
    document_timestamps: list[TimestampReport]
    revisions: int
    trust_anchors: list[str]  # subjects of the roots this run trusted
    policy: dict[str, Any]  # the policy in force, as set
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.indication is Indication.TOTAL_PASSED
