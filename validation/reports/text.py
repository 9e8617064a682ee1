"""A short bilingual summary of a validation report for a terminal (``pakat validate``, the default).

One line for the file and one per signature, each in Persian and then in English:
the verdict in words with its ETSI code beside, who signed, the PAdES level and
the one-line reason. The full story is in the JSON, XML, HTML or PDF reports.
"""

from __future__ import annotations

from pakat.dates import format_int
from pakat.text import clean_text
from validation.model import DocumentReport, Indication, SignatureReport, SubIndication
from validation.reports.labels import INDICATIONS, Lang, pick
from validation.reports.view import name_view, signer_kind_words


def report_to_text(report: DocumentReport) -> str:
    """The summary, lines ending in a newline."""
    name = clean_text(report.file_name) or report.file_sha256[:16]
    lines = [
        f"نتیجه «{name}»: {_verdict(report.indication, report.sub_indication, 'fa')} — {report.reason.fa}",
        f"Result for \"{name}\": {_verdict(report.indication, report.sub_indication, 'en')} — {report.reason.en}",
    ]
    for sig in report.signatures:
        lines.append(_signature_line(sig, "fa"))
        lines.append(_signature_line(sig, "en"))
    if report.document_timestamps:
        count = len(report.document_timestamps)
        lines.append(f"مهر زمانی سند: {format_int(count, 'fa')}")
        lines.append(f"Document timestamps: {count}")
    return "".join(f"{line}\n" for line in lines)


def _verdict(indication: Indication, sub: SubIndication | None, lang: Lang) -> str:
    code = indication.value + (f" / {sub.value}" if sub is not None else "")
    return f"{pick(INDICATIONS[indication], lang)} ({code})"


def _signature_line(sig: SignatureReport, lang: Lang) -> str:
    signer = None
    if sig.signer is not None:
        # Names come from certificates: a bidi override must not reorder the terminal line.
        signer = clean_text(sig.signer.name or sig.signer.certificate.common_name) or name_view(
            sig.signer.certificate.subject, lang).text
        kind = signer_kind_words(sig.signer, lang)
        if signer and kind:
            signer = f"{signer} ({kind})"
    parts = [_verdict(sig.indication, sig.sub_indication, lang)]
    if signer:
        parts.append(signer)
    if sig.pades_level:
        parts.append(f"PAdES {sig.pades_level}")
    parts.append(pick(sig.reason, lang))
    field = clean_text(sig.field_name) or "?"
    if lang == "fa":
        return f"امضای {format_int(sig.index, 'fa')} «{field}»: " + " — ".join(parts)
    return f"Signature {sig.index} \"{field}\": " + " — ".join(parts)
