"""What the agent shows a person, Persian first and English beside it.

Everything shown comes from the server or a certificate and is cleaned of
control and bidi-override characters first (:func:`validation.reports.view.clean`),
so a document name cannot pose as something else or reorder the line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from agent.discovery import Discovery, FoundCertificate
from agent.token import TokenCertificate
from pakat.dates import format_date, format_datetime, format_int
from pakat.text import clean_text


def name_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    """The first value of ``oid`` in ``name``, cleaned ('' when absent)."""
    values = name.get_attributes_for_oid(oid)
    return clean_text(str(values[0].value)) if values else ""


def certificate_facts(chosen: TokenCertificate) -> dict[str, Any]:
    """The certificate as the agent describes it (also its ``--json`` form)."""
    cert = chosen.certificate
    return {
        "key_id": chosen.key_id.hex(),
        "label": clean_text(chosen.label),
        "subject_cn": name_attribute(cert.subject, NameOID.COMMON_NAME),
        "national_id": name_attribute(cert.subject, NameOID.SERIAL_NUMBER),
        "title": name_attribute(cert.subject, NameOID.TITLE) or None,
        "issuer_cn": name_attribute(cert.issuer, NameOID.COMMON_NAME),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key": chosen.key_kind,
    }


def certificate_lines(chosen: TokenCertificate) -> list[str]:
    """The chosen certificate in a few bilingual lines."""
    facts = certificate_facts(chosen)
    cert = chosen.certificate
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    lines = [
        f"  گواهی / Certificate: {facts['subject_cn']}",
        f"  کد ملی / National ID (serialNumber): {facts['national_id'] or '—'}",
    ]
    if facts["title"]:
        lines.append(f"  سمت / Title: {facts['title']}")
    lines += [
        f"  صادرکننده / Issuer: {facts['issuer_cn']}",
        f"  اعتبار / Valid: {format_date(start, 'fa')} تا {format_date(end, 'fa')}"
        f" / {format_date(start, 'en')} to {format_date(end, 'en')}",
        f"  شناسه روی توکن / Token key ID: {facts['key_id']} ({facts['label'] or '-'})",
    ]
    return lines


def certificate_choices(candidates: Sequence[FoundCertificate]) -> str:
    """One line per candidate, numbered from 1: what to pass to ``--certificate`` or to type."""
    lines = []
    for n, found in enumerate(candidates, 1):
        c, facts = found.certificate, certificate_facts(found.certificate)
        lines.append(
            f"  {n}. {c.key_id.hex()}  {clean_text(c.label) or '-'}  — {facts['subject_cn']}"
            f" ({facts['national_id'] or '—'})  [توکن / token: {clean_text(found.token_label)}]"
        )
    return "\n".join(lines)


def discovery_facts(found: Discovery) -> dict[str, Any]:
    """``pakat agent list --json`` without a module: every module, token and signing certificate found."""
    return {
        "modules": list(found.modules),
        "tokens": [{"module": module, "token": clean_text(label)} for module, label in found.tokens],
        "certificates": [
            {**certificate_facts(c.certificate), "module": c.module, "token": clean_text(c.token_label)}
            for c in found.certificates
        ],
        "problems": [clean_text(p) for p in found.problems],
    }


def discovery_lines(found: Discovery) -> list[str]:
    """What ``pakat agent list`` shows: each token with its signing certificates."""
    lines: list[str] = []
    for module, label in found.tokens:
        lines.append(f"توکن / Token: {clean_text(label)}  ({module})")
        own = [c for c in found.certificates if (c.module, c.token_label) == (module, label)]
        for n, c in enumerate(own, 1):
            lines.append(f"{n}.")
            lines += certificate_lines(c.certificate)
        if not own:
            lines.append("  (گواهی امضایی ندارد / no signing certificate)")
    for problem in found.problems:
        lines.append(f"خوانده نشد / Could not read: {clean_text(problem)}")
    return lines


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _get(mapping: object, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def session_lines(
    session: Mapping[str, Any], chosen: TokenCertificate, token_label: str | None = None, server: str | None = None
) -> list[str]:
    """What will be signed, for whom, until when, where to, and with which certificate: shown before the PIN."""
    document = session.get("document")
    size, pages = _get(document, "size"), _get(document, "pages")
    requested = session.get("requested_by")
    expected = session.get("expected_signer")
    expires = _parse_time(session.get("expires_at"))
    lines = [
        "درخواست امضا / Signature request",
        f"  سند / Document: {clean_text(str(_get(document, 'name') or '')) or '—'}",
        f"  SHA-256: {clean_text(str(_get(document, 'sha256') or '')) or '—'}",
    ]
    if isinstance(size, int):
        lines.append(f"  اندازه / Size: {format_int(size, 'fa')} بایت / {format_int(size, 'en')} bytes")
    if isinstance(pages, int):
        lines.append(f"  صفحه‌ها / Pages: {format_int(pages, 'fa')} / {pages}")
    lines.append(
        f"  درخواست‌کننده / Requested by: {clean_text(str(_get(requested, 'name_fa') or ''))}"
        f" / {clean_text(str(_get(requested, 'name_en') or ''))}"
        f" ({clean_text(str(_get(requested, 'organisation') or ''))})"
    )
    signer = f"{clean_text(str(_get(expected, 'national_id') or '')) or '—'}"
    if _get(expected, "role"):
        signer += f", سمت / role: {clean_text(str(_get(expected, 'role')))}"
    if server:
        # The address the link named: the user checks it is their platform's Pakat before typing the PIN.
        lines.append(f"  سرور / Server: {clean_text(server)}")
    lines += [
        f"  امضاکننده مورد انتظار / Expected signer: کد ملی / national ID {signer}",
        f"  سطح امضا / Level: {clean_text(str(session.get('level') or '')) or '—'}",
    ]
    if expires is not None:
        lines.append(f"  مهلت / Expires: {format_datetime(expires, 'fa')} / {format_datetime(expires, 'en')}")
    lines += certificate_lines(chosen)
    if token_label:
        lines.append(f"  توکن / Token: {clean_text(token_label)}")
    return lines


FACTORY_PIN_WARNING = (
    "هشدار: رمز (PIN) این توکن هنوز رمز پیش‌فرض کارخانه است؛ هرچه زودتر آن را عوض کنید."
    " / Warning: this token still has a factory default PIN; change it soon."
)
PIN_PROMPT = "رمز (PIN) توکن / Token PIN: "
