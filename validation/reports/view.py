"""A report laid out for people in one language: what to show, in which order, with which tone.

Both the HTML page and the PDF draw this view, so they cannot disagree on
what a field means or whether it is shown. It only reads the
:class:`~validation.model.DocumentReport`; it never judges.

Strings from certificates and from the PDF (signer names, field names, file
names) are attacker-controlled. :func:`pakat.text.clean_text` drops control and
bidi-override characters from them, so «‮fdp.exe» cannot pose as «exe.pdf»
and a name cannot reorder the text around it; HTML escaping is the templates' job.

A distinguished name is laid out as a :class:`NameView`: its attributes in the
certificate's (RFC 4514) order, attribute types named (``serialNumber``, not
``2.5.4.5``), each value marked with its own direction, so a Persian
organisation name inside a Latin DN reads right to left in its place instead of
reordering the attributes around it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pakat.dates import format_date, format_datetime, format_int
from pakat.text import Direction, clean_text, direction, localize_digits
from validation.identity import ATTRIBUTE_NAMES, SEAL_MARKER, UNREADABLE, UNREADABLE_TIME
from validation.model import (
    CertificateInfo,
    ChainReport,
    DocumentReport,
    Finding,
    Indication,
    IntegrityReport,
    ModificationReport,
    RevocationReport,
    Severity,
    SignatureReport,
    SignerIdentity,
    SignerKind,
    SubIndication,
    Text,
    TimestampReport,
    WidgetPlacement,
)
from validation.reports import labels as L
from validation.reports.labels import Lang, pick, ui

Tone = Literal["ok", "bad", "warn", "plain"]

_TONES: dict[Indication, Tone] = {
    Indication.TOTAL_PASSED: "ok",
    Indication.TOTAL_FAILED: "bad",
    Indication.INDETERMINATE: "warn",
}
_SEVERITY_TONES: dict[Severity, Tone] = {Severity.ERROR: "bad", Severity.WARNING: "warn", Severity.INFO: "plain"}
@dataclass(frozen=True)
class NamePart:
    """One attribute of a distinguished name: its type's name, its value, and the value's direction."""

    attribute: str  # "CN", "serialNumber", or the dotted OID of a type nobody named
    value: str
    rtl: bool  # the value reads right to left (its first strong letter is Persian, Arabic, Hebrew)
    separator: str = ","  # what precedes it: "," between RDNs, "+" inside a multi-valued RDN


@dataclass(frozen=True)
class NameView:
    """A distinguished name for people: attribute order kept, each value in its own direction."""

    parts: tuple[NamePart, ...]

    @property
    def text(self) -> str:
        """The name on one line, RFC 4514's order with named types: ``CN=…, serialNumber=…, O=…``."""
        out = []
        for i, part in enumerate(self.parts):
            if i:
                out.append(" + " if part.separator == "+" else ", ")
            out.append(f"{part.attribute}={part.value}")
        return "".join(out)


@dataclass(frozen=True)
class Row:
    """One labelled value.

    ``ltr`` marks technical values (DNs, algorithm names, national IDs) that read
    left to right even on a Persian page; ``mono`` the few set in a monospace
    font (hashes, fingerprints, serial numbers, OIDs); ``name`` a distinguished
    name, whose values each keep their own direction; ``code`` is a stable code
    shown beside.
    """

    label: str
    value: str
    tone: Tone = "plain"
    ltr: bool = False
    code: str | None = None
    note: str | None = None
    mono: bool = False
    name: NameView | None = None


@dataclass(frozen=True)
class Section:
    """A titled group of rows; ``technical`` sections fold away on the web page."""

    title: str
    rows: list[Row]
    technical: bool = False


@dataclass(frozen=True)
class Verdict:
    """The badge: the label in the page's language, the other language beside, and the codes."""

    label: str
    label_other: str
    tone: Tone
    indication: str
    sub_indication: str | None
    sub_label: str | None  # the sub-indication in words
    reason: str
    meaning: str


@dataclass(frozen=True)
class FindingView:
    code: str
    severity: str
    tone: Tone
    text: str


@dataclass(frozen=True)
class SignatureView:
    number: int
    heading: str  # «امضای ۱» / "Signature 1"
    who: str  # the signer in a few words, as Adobe's panel lists signatures
    verdict: Verdict
    signer_kind: str | None  # «مهر سازمانی» / "organisation seal" when the configuration classified the signer
    sections: list[Section]
    findings: list[FindingView]


@dataclass(frozen=True)
class ReportView:
    """Everything a renderer draws, already in one language."""

    lang: Lang
    dir: Direction
    title: str
    title_other: str
    verdict: Verdict
    summary: list[Row]
    signatures: list[SignatureView]
    document_timestamps: list[Section]
    findings: list[FindingView]
    policy: list[Row]
    trust_anchors: list[NameView]
    generator: str
    footer: str
    words: dict[str, str] = field(default_factory=dict)  # the layout's headings in this language


def build_view(report: DocumentReport, lang: Lang) -> ReportView:
    """Lay ``report`` out in ``lang`` ("fa" or "en")."""
    other = L.other(lang)
    summary = [
        Row(ui("file_name", lang), clean_text(report.file_name) or pick(L.NONE_GIVEN, lang)),
        Row(ui("file_size", lang), f"{format_int(report.file_size, lang)} {ui('bytes', lang)}"),
        Row(ui("file_sha256", lang), clean_text(report.file_sha256), ltr=True, mono=True),
        Row(ui("signature_count", lang), format_int(len(report.signatures), lang)),
        Row(ui("revisions", lang), format_int(report.revisions, lang)),
        Row(ui("validation_time", lang), when(report.validation_time, lang)),
    ]
    return ReportView(
        lang=lang,
        dir="rtl" if lang == "fa" else "ltr",
        title=ui("title", lang),
        title_other=ui("title", other),
        verdict=_verdict(report.indication, report.sub_indication, report.reason, lang),
        summary=summary,
        signatures=[_signature(sig, lang) for sig in report.signatures],
        document_timestamps=[
            _timestamp_section(ts, n, lang) for n, ts in enumerate(report.document_timestamps, 1)
        ],
        findings=_findings(report.findings, lang),
        policy=_policy(report.policy, lang),
        trust_anchors=[name_view(a, lang) for a in report.trust_anchors],
        generator=clean_text(report.generator),
        footer=ui("footer", lang),
        words={key: pick(text, lang) for key, text in L.UI.items()},
    )


def _verdict(indication: Indication, sub: SubIndication | None, reason: Text, lang: Lang) -> Verdict:
    return Verdict(
        label=pick(L.INDICATIONS[indication], lang),
        label_other=pick(L.INDICATIONS[indication], L.other(lang)),
        tone=_TONES[indication],
        indication=indication.value,
        sub_indication=sub.value if sub else None,
        sub_label=pick(L.SUB_INDICATIONS[sub], lang) if sub else None,
        reason=clean_text(pick(reason, lang)),
        meaning=pick(L.INDICATION_MEANINGS[indication], lang),
    )


def _findings(findings: Iterable[Finding], lang: Lang) -> list[FindingView]:
    return [
        FindingView(
            f.code, pick(L.SEVERITIES[f.severity], lang), _SEVERITY_TONES[f.severity],
            clean_text(pick(f.text, lang)),
        )
        for f in findings
    ]


def _check(ok: bool | None, lang: Lang) -> tuple[str, Tone]:
    if ok is None:
        return pick(L.CHECK_UNKNOWN, lang), "warn"
    return (pick(L.CHECK_OK, lang), "ok") if ok else (pick(L.CHECK_FAILED, lang), "bad")


def _yes_no(value: bool, lang: Lang) -> str:
    return pick(L.YES if value else L.NO, lang)


def _signer_name(signer: SignerIdentity | None, lang: Lang = "en") -> str:
    if signer is None:
        return ""
    return (clean_text(signer.name) or clean_text(signer.certificate.common_name)
            or name_view(signer.certificate.subject, lang).text)


def signer_kind_words(signer: SignerIdentity | None, lang: Lang) -> str | None:
    """«مهر سازمانی» / "organisation seal", or the person's kind, when the configuration classified the signer."""
    if signer is None or signer.kind is SignerKind.UNKNOWN:
        return None
    return pick(L.SIGNER_KINDS_INLINE[signer.kind], lang)


def _signature(sig: SignatureReport, lang: Lang) -> SignatureView:
    who = _signer_name(sig.signer, lang)
    if sig.signer and sig.signer.organisation and clean_text(sig.signer.organisation) not in who:
        who = f"{who} — {clean_text(sig.signer.organisation)}" if who else clean_text(sig.signer.organisation)
    sections = [
        _overview(sig, lang),
        *([_signer(sig.signer, lang)] if sig.signer else []),
        _times(sig, lang),
        _chain(sig.chain, lang),
        _revocation(sig.revocation, lang),
        _placement(sig, lang),
        _integrity(sig, lang),
        _modifications(sig.modifications, sig.revision, lang),
        _algorithms(sig, lang),
        *[_timestamp_section(ts, n, lang) for n, ts in enumerate(sig.timestamps, 1)],
        *([_certificate(sig.signer.certificate, ui("certificate", lang), lang)] if sig.signer else []),
    ]
    return SignatureView(
        number=sig.index,
        heading=f"{ui('signature', lang)} {localize_digits(str(sig.index), lang)}",
        who=who,
        verdict=_verdict(sig.indication, sig.sub_indication, sig.reason, lang),
        signer_kind=signer_kind_words(sig.signer, lang),
        sections=sections,
        findings=_findings(sig.findings, lang),
    )


def _overview(sig: SignatureReport, lang: Lang) -> Section:
    if sig.pades_level:
        level_words = L.PADES_LEVELS.get(sig.pades_level)
        level = f"{sig.pades_level} — {pick(level_words, lang)}" if level_words else clean_text(sig.pades_level)
    else:
        level = pick(L.NOT_PADES, lang)
    rows = [
        Row(ui("kind", lang), pick(L.SIGNATURE_KINDS[sig.kind], lang)),
        Row(ui("pades_level", lang), level, tone="plain" if sig.pades_level else "warn"),
    ]
    if sig.field_name:
        rows.append(Row(ui("field_name", lang), clean_text(sig.field_name)))
    return Section(ui("overview", lang), rows)


def _signer(signer: SignerIdentity, lang: Lang) -> Section:
    kind = pick(L.SIGNER_KINDS[signer.kind], lang)
    if signer.affiliation is not None:
        kind = f"{kind} ({pick(L.AFFILIATIONS[signer.affiliation], lang)})"
    national_id = clean_text(signer.national_id)
    rows = [
        Row(ui("name", lang), _signer_name(signer, lang) or pick(L.NONE_GIVEN, lang)),
        Row(ui("national_id", lang), national_id or pick(L.NONE_GIVEN, lang),
            ltr=direction(national_id) == "ltr"),
    ]
    optional = [
        ("organisation", signer.organisation),
        ("organisational_unit", signer.organisational_unit),
        ("title_attr", signer.title),  # the exact English role title of government staff
    ]
    # Each value in its own direction: a Persian organisation reads right to left, an English title left to right.
    rows += [Row(ui(key, lang), clean_text(value), ltr=direction(clean_text(value)) == "ltr")
             for key, value in optional if clean_text(value)]
    marked = signer.kind is SignerKind.UNKNOWN and SEAL_MARKER in (signer.certificate.common_name or "")
    rows.append(Row(ui("signer_kind", lang), kind, note=pick(L.SEAL_MARKER_UNCONFIRMED, lang) if marked else None))
    if signer.assurance_level:
        rows.append(Row(ui("assurance_level", lang), clean_text(signer.assurance_level)))
    return Section(ui("signer", lang), rows)


def _times(sig: SignatureReport, lang: Lang) -> Section:
    rows: list[Row] = []
    if sig.claimed_signing_time is not None:
        rows.append(
            Row(ui("claimed_time", lang), when(sig.claimed_signing_time, lang),
                note=ui("claimed_time_note", lang))
        )
    else:
        rows.append(Row(ui("claimed_time", lang), pick(L.NONE_GIVEN, lang)))
    for ts in sig.timestamps:
        if ts.kind == "signature":
            tone: Tone = "ok" if ts.intact and ts.trusted and not ts.after_validation_time else "bad"
            note = ui("after_validation_time_note", lang) if ts.after_validation_time else None
            rows.append(Row(ui("timestamp_time", lang), when(ts.time, lang), tone=tone, note=note))
    rows.append(Row(ui("best_time", lang), when(sig.best_signature_time, lang)))
    return Section(ui("times", lang), rows)


def _chain(chain: ChainReport | None, lang: Lang) -> Section:
    if chain is None:
        return Section(ui("chain", lang), [Row(ui("trusted", lang), ui("chain_not_checked", lang), tone="warn")])
    rows = [
        Row(ui("trusted", lang), ui("chain_trusted" if chain.trusted else "chain_untrusted", lang),
            tone="ok" if chain.trusted else "bad"),
    ]
    if chain.anchor:
        rows.append(name_row(ui("anchor", lang), chain.anchor, lang))
    if chain.anchor_sha256:
        rows.append(Row(ui("anchor_sha256", lang), clean_text(chain.anchor_sha256), ltr=True, mono=True))
    for n, cert in enumerate(chain.certificates, 1):
        label = f"{ui('certificate', lang)} {localize_digits(str(n), lang)}"
        common_name = clean_text(cert.common_name)
        if common_name:
            rows.append(Row(label, common_name, ltr=direction(common_name) == "ltr", note=_validity(cert, lang)))
        else:
            rows.append(name_row(label, cert.subject, lang, note=_validity(cert, lang)))
    if chain.problem:
        # The library's words, for a technical reader; the "trusted" row above carries the colour.
        rows.append(Row(ui("problem", lang), clean_text(chain.problem), ltr=True))
    return Section(ui("chain", lang), rows)


def _revocation(rev: RevocationReport | None, lang: Lang) -> Section:
    title = ui("revocation", lang)
    if rev is None:
        return Section(title, [Row(ui("revocation_status", lang), pick(L.CHECK_UNKNOWN, lang), tone="warn")])
    tones: dict[str, Tone] = {"good": "ok", "revoked": "bad"}
    rows = [Row(ui("revocation_status", lang), pick(L.REVOCATION_STATUSES[rev.status], lang),
                tone=tones.get(rev.status.value, "warn"))]
    if rev.source:
        source = L.REVOCATION_SOURCES.get(rev.source)
        rows.append(Row(ui("revocation_source", lang), pick(source, lang) if source else clean_text(rev.source)))
    if rev.kind:
        rows.append(Row(ui("revocation_kind", lang), clean_text(rev.kind), ltr=True))
    if rev.produced_at:
        rows.append(Row(ui("produced_at", lang), when(rev.produced_at, lang)))
    if rev.revoked_at:
        rows.append(Row(ui("revoked_at", lang), when(rev.revoked_at, lang), tone="bad"))
    if rev.reason:
        rows.append(Row(ui("revocation_reason", lang), clean_text(rev.reason), ltr=True))
    return Section(title, rows)


def _placement(sig: SignatureReport, lang: Lang) -> Section:
    if not sig.placements:
        return Section(ui("placement", lang), [Row(ui("placement_widget", lang), ui("no_widget", lang))])
    return Section(ui("placement", lang), [Row(ui("placement_widget", lang), placement_words(p, lang))
                                           for p in sig.placements])


def placement_words(place: WidgetPlacement, lang: Lang) -> str:
    """«صفحه ۲ — مستطیل (نقطه PDF): ۳۷۴ ۶۸۱٫۵ …» / "page 2 — rectangle …", or invisible."""
    where = (f"{ui('page', lang)} {localize_digits(str(place.page), lang)}" if place.page is not None
             else ui("no_page", lang))
    if place.invisible:
        return f"{ui('invisible', lang)} — {where}"
    # Persian writes the decimal point as «٫».
    rect = " ".join(localize_digits(f"{v:g}", lang).replace(".", "٫" if lang == "fa" else ".")
                    for v in place.rect) if place.rect else "—"
    return f"{where} — {ui('rect', lang)}: [{rect}]"


def _integrity(sig: SignatureReport, lang: Lang) -> Section:
    integrity: IntegrityReport = sig.integrity
    byte_range = (
        "[" + " ".join(str(n) for n in integrity.byte_range) + "]" if integrity.byte_range else "—"
    )
    coverage_tones: dict[str, Tone] = {"entire_file": "ok", "entire_revision": "ok", "partial": "bad"}
    coverage = L.COVERAGES.get(integrity.coverage)
    digest, digest_tone = _check(integrity.digest_ok, lang)
    crypto, crypto_tone = _check(integrity.signature_ok, lang)
    byte_range_word, byte_range_tone = _check(integrity.byte_range_ok, lang)
    return Section(ui("integrity", lang), [
        Row(ui("byte_range", lang), byte_range_word, tone=byte_range_tone, note=byte_range),
        Row(ui("coverage", lang), pick(coverage, lang) if coverage else clean_text(integrity.coverage),
            tone=coverage_tones.get(integrity.coverage, "warn")),
        Row(ui("digest", lang), digest, tone=digest_tone),
        Row(ui("crypto_signature", lang), crypto, tone=crypto_tone),
        *([Row(ui("signed_revision_length", lang),
               f"{format_int(sig.signed_revision.length, lang)} {ui('bytes', lang)}"),
           Row(ui("signed_revision_sha256", lang), sig.signed_revision.sha256, mono=True, ltr=True)]
          if sig.signed_revision is not None else []),
    ])


def _modifications(mods: ModificationReport, revision: int | None, lang: Lang) -> Section:
    if mods.level is None:
        rows = [Row(ui("modification_level", lang), pick(L.NOT_ANALYSED, lang), tone="warn")]
    else:
        level_tones: dict[str, Tone] = {"NONE": "ok", "LTA_UPDATES": "ok", "SIGNATURES": "ok", "OTHER": "bad"}
        rows = [Row(ui("modification_level", lang), pick(L.MODIFICATIONS[mods.level], lang),
                    tone=level_tones.get(mods.level.value, "warn"), code=mods.level.value)]
    if revision is not None:
        rows.append(Row(ui("revision", lang), localize_digits(str(revision + 1), lang)))
    if mods.docmdp_permission is not None:
        permission = L.DOCMDP_PERMISSIONS.get(mods.docmdp_permission)
        rows.append(Row(ui("docmdp", lang), pick(permission, lang) if permission else str(mods.docmdp_permission),
                        code=f"P={mods.docmdp_permission}"))
    if mods.docmdp_ok is not None:
        word, tone = _check(mods.docmdp_ok, lang)
        rows.append(Row(ui("docmdp_ok", lang), word, tone=tone))
    if mods.changed_pages:
        pages = "، ".join(localize_digits(str(p), lang) for p in mods.changed_pages) if lang == "fa" else \
            ", ".join(str(p) for p in mods.changed_pages)
        rows.append(Row(ui("changed_pages", lang), pages, tone="bad"))
    if mods.compared_visually:
        rows.append(Row(ui("compared_visually", lang), pick(L.YES, lang)))
    # The changes a person must see first: those not allowed, then those shown on no page, then the rest.
    order = {"not_allowed": 0, "not_shown": 1, "allowed": 2}
    changes = sorted(mods.changes, key=lambda c: order.get(c.verdict, 3))
    for change in changes[:MAX_CHANGES_SHOWN]:
        kind = L.CHANGE_KINDS.get(change.kind)
        verdict, tone = L.CHANGE_VERDICTS.get(change.verdict, (L.NONE_GIVEN, "warn"))
        value = f"{pick(kind, lang) if kind else clean_text(change.kind)}: {pick(verdict, lang)}"
        rows.append(Row(ui("change", lang), value, tone=tone, note=clean_text(change.where)))
    if len(changes) > MAX_CHANGES_SHOWN:
        more = localize_digits(str(len(changes) - MAX_CHANGES_SHOWN), lang)
        rows.append(Row(ui("change", lang), f"{more} {ui('more_changes', lang)}"))
    return Section(ui("modifications", lang), rows)


def _algorithms(sig: SignatureReport, lang: Lang) -> Section:
    rows = [
        Row(ui("digest_algorithm", lang), clean_text(sig.digest_algorithm) or "—", ltr=True),
        Row(ui("signature_algorithm", lang), clean_text(sig.signature_algorithm) or "—", ltr=True),
    ]
    if sig.signer:
        rows.append(Row(ui("key", lang), clean_text(sig.signer.certificate.key), ltr=True))
    if sig.subfilter:
        rows.append(Row(ui("subfilter", lang), clean_text(sig.subfilter), ltr=True))
    return Section(ui("algorithms", lang), rows, technical=True)


def _timestamp_section(ts: TimestampReport, number: int, lang: Lang) -> Section:
    kind = L.TIMESTAMP_KINDS.get(ts.kind)
    title = f"{pick(kind, lang) if kind else clean_text(ts.kind)} {localize_digits(str(number), lang)}"
    intact, intact_tone = _check(ts.intact, lang)
    rows = [
        Row(ui("timestamp_time", lang), when(ts.time, lang)),
        Row(ui("intact", lang), intact, tone=intact_tone),
        Row(ui("trusted", lang), ui("chain_trusted" if ts.trusted else "chain_untrusted", lang),
            tone="ok" if ts.trusted else "bad"),
    ]
    if ts.tsa:
        rows.append(name_row(ui("tsa", lang), ts.tsa, lang))
    if ts.field_name:
        rows.append(Row(ui("field_name", lang), clean_text(ts.field_name)))
    if ts.after_validation_time:
        rows.append(Row(ui("after_validation_time", lang), _yes_no(True, lang), tone="bad",
                        note=ui("after_validation_time_note", lang)))
    if ts.covers_entire_file is not None:
        rows.append(Row(ui("covers_entire_file", lang), _yes_no(ts.covers_entire_file, lang),
                        tone="ok" if ts.covers_entire_file else "warn"))
    rows.append(Row(ui("digest_algorithm", lang), clean_text(ts.digest_algorithm), ltr=True))
    if ts.problem:
        rows.append(Row(ui("problem", lang), clean_text(ts.problem), ltr=True))
    return Section(title, rows)


def _certificate(cert: CertificateInfo, title: str, lang: Lang) -> Section:
    return Section(title, [
        name_row(ui("subject", lang), cert.subject, lang),
        name_row(ui("issuer", lang), cert.issuer, lang),
        Row(ui("serial_number", lang), _unreadable(clean_text(cert.serial_number), lang), ltr=True, mono=True),
        Row(ui("validity", lang), _validity(cert, lang)),
        Row(ui("fingerprint", lang), clean_text(cert.sha256), ltr=True, mono=True),
        Row(ui("key", lang), _unreadable(clean_text(cert.key), lang), ltr=True),
    ], technical=True)


def _validity(cert: CertificateInfo, lang: Lang) -> str:
    return (f"{ui('not_before', lang)} {when(cert.not_before, lang, date_only=True)} "
            f"{ui('not_after', lang)} {when(cert.not_after, lang, date_only=True)}")


def when(moment: object, lang: Lang, *, date_only: bool = False) -> str:
    """A moment for people, or «نامعلوم» / "unknown" for a placeholder or a time no calendar can show.

    The model holds ``datetime.min`` where a time could not be read (a broken
    timestamp, an unreadable validity); asn1crypto may hand a year 0 as another
    type; Jalali and Tehran conversions fail at the ends of the calendar.
    """
    if not isinstance(moment, datetime) or moment.replace(tzinfo=None) == UNREADABLE_TIME.replace(tzinfo=None):
        return pick(L.TIME_UNKNOWN, lang)
    try:
        return format_date(moment, lang) if date_only else format_datetime(moment, lang)
    except (ValueError, OverflowError):
        return pick(L.TIME_UNKNOWN, lang)


def _unreadable(value: str, lang: Lang) -> str:
    return pick(L.UNREADABLE, lang) if value == UNREADABLE else value


def name_row(label: str, dn: str | None, lang: Lang, *, note: str | None = None) -> Row:
    """A row showing a distinguished name (see :class:`NameView`)."""
    view = name_view(dn, lang)
    return Row(label, view.text, ltr=True, name=view, note=note)


def name_view(dn: str | None, lang: Lang) -> NameView:
    """An RFC 4514 string (ours or cryptography's) parsed back into attributes, types named, values cleaned.

    A string that is not a DN comes back as one part without an attribute type.
    """
    text = dn or ""
    if text == UNREADABLE:
        return NameView((NamePart("", pick(L.UNREADABLE, lang), lang == "fa"),))
    parsed = _parse_rfc4514(text)
    if parsed is None:
        value = clean_text(text)
        return NameView((NamePart("", value, direction(value) == "rtl"),)) if value else NameView(())
    parts = []
    for separator, attribute, raw in parsed:
        value = pick(L.UNREADABLE, lang) if raw == UNREADABLE else clean_text(raw)
        name = clean_text(ATTRIBUTE_NAMES.get(attribute, attribute))
        parts.append(NamePart(name, value, direction(value) == "rtl", separator))
    return NameView(tuple(parts))


def _parse_rfc4514(text: str) -> list[tuple[str, str, str]] | None:
    """``[(separator, type, value), …]`` from an RFC 4514 string; None when it is not one."""
    items: list[tuple[str, str, str]] = []
    separator = ","
    current: list[str] = []
    i = 0
    while True:
        if i < len(text) and text[i] == "\\" and i + 1 < len(text):
            pair = text[i + 1:i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                current.append("\\" + pair)  # hex escapes are decoded below, as UTF-8 bytes
                i += 3
            else:
                current.append("\\" + text[i + 1])
                i += 2
            continue
        if i == len(text) or text[i] in ",+":
            item = _attribute(current)
            if item is None and "".join(current) == UNREADABLE:
                item = ("", UNREADABLE)  # an RDN validation.identity could not read
            if item is None:
                return None
            items.append((separator, *item))
            if i == len(text):
                return items
            separator = text[i]
            current = []
            i += 1
            continue
        current.append(text[i])
        i += 1


def _attribute(chars: list[str]) -> tuple[str, str] | None:
    joined = "".join(chars)
    equals = joined.find("=")
    if equals <= 0:
        return None
    attribute = joined[:equals].strip()
    if not attribute or not (attribute.replace(".", "").isdigit() or attribute.replace("-", "").isalnum()):
        return None
    return attribute, _unescape(joined[equals + 1:])


def _unescape(value: str) -> str:
    out = bytearray()
    i = 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            pair = value[i + 1:i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out += bytes.fromhex(pair)
                i += 3
                continue
            out += value[i + 1].encode("utf-8", "surrogatepass")
            i += 2
            continue
        out += value[i].encode("utf-8", "surrogatepass")
        i += 1
    return out.decode("utf-8", "replace")


def _policy(policy: dict[str, Any], lang: Lang) -> list[Row]:
    """The policy a person needs to name: its title, id and version, its file's hash, and the run's settings.

    The rules themselves (allowed changes, constraint levels, crypto suite) are in the JSON report.
    """
    rows: list[Row] = []
    title = policy.get("title")
    if isinstance(title, dict) and title.get(lang):
        rows.append(Row(ui("policy_title", lang), clean_text(str(title[lang]))))
    if "id" in policy:
        version = localize_digits(str(policy.get("version", "")), lang)
        rows.append(Row(ui("policy_id", lang), f"{clean_text(str(policy['id']))} v{version}", ltr=True))
    if "sha256" in policy:
        rows.append(Row(ui("policy_sha256", lang), clean_text(str(policy["sha256"])), ltr=True, mono=True))
    for key, value in policy.items():
        if key in _POLICY_RULES:
            continue
        label = ui(key, lang) if key in L.UI else clean_text(key)
        # "revocation" is also a section heading; the policy's own word for it is clearer here.
        if key == "revocation":
            label = ui("policy_revocation", lang)
            mode = L.REVOCATION_MODES.get(str(value))
            rows.append(Row(label, pick(mode, lang) if mode else clean_text(str(value))))
        elif isinstance(value, list):
            rows.append(Row(label, ", ".join(clean_text(str(v)) for v in value), ltr=True))
        elif isinstance(value, dict):
            pairs = (f"{clean_text(str(k))} < {clean_text(str(v))[:10]}" for k, v in value.items())
            rows.append(Row(label, ", ".join(pairs), ltr=True))
        elif isinstance(value, int) and not isinstance(value, bool):
            rows.append(Row(label, format_int(value, lang)))
        else:
            rows.append(Row(label, clean_text(str(value)), ltr=True))
    return rows


# Parts of the report's policy shown above or left to the JSON report.
_POLICY_RULES = frozenset({"id", "version", "sha256", "title", "modifications", "constraints", "crypto"})
#: Changes listed in a human report; the JSON report has them all.
MAX_CHANGES_SHOWN = 12
