"""Every label and explanation a person reads in a validation report, in Persian and English.

One place for the HTML page, the web page and the PDF: a clerk sees the same
words wherever the report is shown. Keys are the model's enum members (or
their values), so a new member without a label fails the tests in
``tests/test_reports_human.py`` instead of showing a raw code.

Indication names follow how a clerk reads them (Adobe Reader says "valid",
EU DSS says TOTAL_PASSED); the ETSI code is always printed beside the label
so a technical reader can look it up.
"""

from __future__ import annotations

from typing import Literal

from pakat.text import Lang
from validation.model import (
    Affiliation,
    Indication,
    Modification,
    RevocationStatus,
    Severity,
    SignatureKind,
    SignerKind,
    SubIndication,
    Text,
)

LANGS: tuple[Lang, ...] = ("fa", "en")


def pick(text: Text, lang: Lang) -> str:
    """The text in ``lang``."""
    return text.fa if lang == "fa" else text.en


def other(lang: Lang) -> Lang:
    """The other language: Persian pages show English beside, and the reverse."""
    return "en" if lang == "fa" else "fa"


def parse_lang(value: str | None) -> Lang:
    """``"en"`` (any case) is English; anything else, including nothing, is Persian."""
    return "en" if (value or "").strip().lower() == "en" else "fa"


T = Text  # short name for the tables below

INDICATIONS: dict[Indication, Text] = {
    Indication.TOTAL_PASSED: T("معتبر", "Valid"),
    Indication.TOTAL_FAILED: T("نامعتبر", "Invalid"),
    Indication.INDETERMINATE: T("نامشخص", "Indeterminate"),
}

# What the verdict means for the reader, one sentence under the badge.
INDICATION_MEANINGS: dict[Indication, Text] = {
    Indication.TOTAL_PASSED: T(
        "امضا سالم است، امضاکننده به ریشه مورد اعتماد می‌رسد و هیچ مشکلی پیدا نشد.",
        "The signature is intact, the signer chains to a trusted root and no problem was found.",
    ),
    Indication.TOTAL_FAILED: T(
        "امضا به‌طور قطعی رد شد: فایل یا امضا دست‌کاری شده یا گواهی در زمان امضا معتبر نبوده است.",
        "The signature is definitely rejected: the file or signature was tampered with, "
        "or the certificate was not valid when it signed.",
    ),
    Indication.INDETERMINATE: T(
        "با اطلاعات موجود نمی‌توان گفت امضا معتبر است یا نه؛ دلیل آن در زیر آمده است.",
        "The available information cannot show whether the signature is valid; the reason is below.",
    ),
}

SUB_INDICATIONS: dict[SubIndication, Text] = {
    SubIndication.FORMAT_FAILURE: T("ساختار امضا نادرست است", "The signature is malformed"),
    SubIndication.HASH_FAILURE: T(
        "محتوای امضاشده پس از امضا تغییر کرده است (چکیده نمی‌خواند)",
        "The signed content was changed after signing (digest mismatch)",
    ),
    SubIndication.SIG_CRYPTO_FAILURE: T(
        "امضا با کلید گواهی امضاکننده تأیید نمی‌شود",
        "The signature does not verify with the signer certificate's key",
    ),
    SubIndication.REVOKED: T(
        "گواهی امضاکننده پیش از زمان امضا باطل شده بود",
        "The signer's certificate had been revoked before the signing time",
    ),
    SubIndication.EXPIRED: T(
        "گواهی امضاکننده در زمان امضا منقضی شده بود",
        "The signer's certificate had expired at the signing time",
    ),
    SubIndication.NOT_YET_VALID: T(
        "گواهی امضاکننده در زمان امضا هنوز معتبر نشده بود",
        "The signer's certificate was not yet valid at the signing time",
    ),
    SubIndication.SIG_CONSTRAINTS_FAILURE: T(
        "امضا شرایط سیاست اعتبارسنجی را برآورده نمی‌کند",
        "The signature does not meet the validation policy",
    ),
    SubIndication.CHAIN_CONSTRAINTS_FAILURE: T(
        "زنجیره گواهی شرایط سیاست اعتبارسنجی را برآورده نمی‌کند",
        "The certificate chain does not meet the validation policy",
    ),
    SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE: T(
        "زنجیره گواهی را نمی‌توان بررسی کرد",
        "The certificate chain could not be checked",
    ),
    SubIndication.CRYPTO_CONSTRAINTS_FAILURE: T(
        "الگوریتم یا طول کلید امضا دیگر امن شمرده نمی‌شود",
        "The algorithm or key size is no longer considered secure",
    ),
    SubIndication.POLICY_PROCESSING_ERROR: T(
        "سیاست اعتبارسنجی پردازش نشد",
        "The validation policy could not be processed",
    ),
    SubIndication.TIMESTAMP_ORDER_FAILURE: T(
        "ترتیب زمانی مهرهای زمانی ناسازگار است",
        "The timestamps are in an inconsistent order",
    ),
    SubIndication.NO_SIGNING_CERTIFICATE_FOUND: T(
        "گواهی امضاکننده پیدا نشد",
        "The signer's certificate was not found",
    ),
    SubIndication.NO_CERTIFICATE_CHAIN_FOUND: T(
        "گواهی امضاکننده به هیچ ریشه مورد اعتمادی نمی‌رسد",
        "The signer's certificate does not chain to a trusted root",
    ),
    SubIndication.REVOKED_NO_POE: T(
        "گواهی باطل شده است و اثباتی نیست که امضا پیش از ابطال انجام شده باشد",
        "The certificate is revoked and nothing proves the signature was made before the revocation",
    ),
    SubIndication.REVOKED_CA_NO_POE: T(
        "گواهی یکی از مراکز صدور باطل شده است و اثباتی نیست که امضا پیش از آن انجام شده باشد",
        "An issuing CA's certificate is revoked and nothing proves the signature was made before",
    ),
    SubIndication.OUT_OF_BOUNDS_NO_POE: T(
        "گواهی بیرون از بازه اعتبار خود است و اثباتی برای زمان امضا نیست",
        "The certificate is outside its validity period and nothing proves when the signature was made",
    ),
    SubIndication.OUT_OF_BOUNDS_NOT_REVOKED: T(
        "گواهی منقضی شده ولی باطل نشده است و زمان امضا اثبات نشده است",
        "The certificate has expired without being revoked and the signing time is not proven",
    ),
    SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE: T(
        "اطلاعات ابطال بیرون از بازه اعتبار خود است",
        "The revocation data is outside its validity window",
    ),
    SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE: T(
        "الگوریتم امضا اکنون ناامن است و اثباتی نیست که امضا پیش از آن انجام شده باشد",
        "The algorithm is no longer secure and nothing proves the signature was made before that",
    ),
    SubIndication.NO_POE: T(
        "اثباتی نیست که امضا در زمان لازم وجود داشته است",
        "Nothing proves the signature existed at the required time",
    ),
    SubIndication.TRY_LATER: T(
        "اطلاعات ابطال هنوز در دسترس نیست؛ بعداً دوباره بررسی کنید",
        "Revocation information is not available yet; check again later",
    ),
    SubIndication.SIGNED_DATA_NOT_FOUND: T(
        "داده امضاشده پیدا نشد",
        "The signed data was not found",
    ),
    SubIndication.GENERIC: T(
        "یکی از بررسی‌ها کامل نشد",
        "A check could not be completed",
    ),
}

MODIFICATIONS: dict[Modification, Text] = {
    Modification.NONE: T("بدون تغییر", "None"),
    Modification.LTA_UPDATES: T(
        "فقط افزودن اطلاعات اعتبارسنجی و مهر زمانی سند (مجاز)",
        "Only validation data and document timestamps were added (allowed)",
    ),
    Modification.SIGNATURES: T(
        "افزودن امضای دیگر",
        "Further signatures",
    ),
    Modification.FORM_FILLING: T(
        "پر کردن فرم",
        "Form filling",
    ),
    Modification.ANNOTATIONS: T(
        "افزودن یادداشت یا حاشیه‌نویسی",
        "Comments or other annotations were added",
    ),
    Modification.OTHER: T(
        "تغییر محتوا (صفحه‌ها، متن یا اشیای دیگر)",
        "Other changes: pages, content or objects",
    ),
}
NOT_ANALYSED = T("بررسی نشد", "Not analysed")

# validation.modifications.ChangeKind -> what a clerk reads
CHANGE_KINDS: dict[str, Text] = {
    "extension": T("داده‌های اعتبارسنجی یا مهر زمانی سند", "Validation data or a document timestamp"),
    "signature": T("امضای بعدی", "A later signature"),
    "form_filling": T("پر کردن فرم", "Form filling"),
    "annotation": T("یادداشت یا حاشیه‌نویسی", "A comment or other annotation"),
    "metadata": T("فراداده (بدون اثر در صفحه)", "Metadata (nothing a page shows)"),
    "structure": T("ساختار منطقی سند", "The document's logical structure"),
    "other": T("تغییر دیگر", "Another change"),
}
# validation.model.ChangeReport.verdict
CHANGE_VERDICTS: dict[str, tuple[Text, Literal["ok", "bad", "warn"]]] = {
    "allowed": (T("مجاز", "allowed"), "ok"),
    "not_allowed": (T("غیرمجاز", "not allowed"), "bad"),
    "not_shown": (T("غیرمجاز ولی در هیچ صفحه‌ای دیده نمی‌شود", "not allowed, but shown on no page"), "warn"),
}

SIGNATURE_KINDS: dict[SignatureKind, Text] = {
    SignatureKind.APPROVAL: T("امضای تأیید", "Approval signature"),
    SignatureKind.CERTIFICATION: T("امضای گواهی‌کننده سند (DocMDP)", "Certification signature (DocMDP)"),
    SignatureKind.DOCUMENT_TIMESTAMP: T("مهر زمانی سند", "Document timestamp"),
}

SIGNER_KINDS: dict[SignerKind, Text] = {
    SignerKind.PERSON_INDEPENDENT: T("شخص حقیقی مستقل", "Natural person, independent"),
    SignerKind.PERSON_AFFILIATED: T(
        "شخص حقیقی وابسته به سازمان", "Natural person, affiliated with an organisation"
    ),
    SignerKind.ORGANISATION_SEAL: T("مهر سازمانی", "Organisation seal"),
    SignerKind.UNKNOWN: T("نامشخص", "Unknown"),
}

# The signer's kind in running text (a heading, the terminal summary), where a table's capital is out of place.
SIGNER_KINDS_INLINE: dict[SignerKind, Text] = {
    SignerKind.PERSON_INDEPENDENT: T("شخص حقیقی مستقل", "natural person, independent"),
    SignerKind.PERSON_AFFILIATED: T("شخص حقیقی وابسته به سازمان", "natural person, affiliated"),
    SignerKind.ORGANISATION_SEAL: T("مهر سازمانی", "organisation seal"),
    SignerKind.UNKNOWN: T("گونه نامشخص", "unknown kind"),
}
# Beside "Unknown" when the certificate's own name says "[Stamp]": worth saying, never a classification.
SEAL_MARKER_UNCONFIRMED = T(
    "نام گواهی آن را مهر سازمانی می‌خواند ([Stamp])، ولی هیچ قاعده‌ای در پیکربندی آن را تأیید نمی‌کند",
    "Its name calls it an organisation seal ([Stamp]), but no configured rule confirms it",
)
# A certificate field that could not be read (see validation.identity.UNREADABLE).
UNREADABLE = T("ناخوانا", "unreadable")
# A time that could not be read, or that the report holds only as a placeholder.
TIME_UNKNOWN = T("نامعلوم", "unknown")

AFFILIATIONS: dict[Affiliation, Text] = {
    Affiliation.GOVERNMENT: T("دولتی", "Government"),
    Affiliation.PRIVATE: T("خصوصی", "Private"),
}

REVOCATION_STATUSES: dict[RevocationStatus, Text] = {
    RevocationStatus.GOOD: T("باطل نشده", "Not revoked"),
    RevocationStatus.REVOKED: T("باطل شده", "Revoked"),
    RevocationStatus.UNKNOWN: T("نامعلوم (اطلاعات ابطال در دسترس نیست)", "Unknown: no usable revocation data"),
    RevocationStatus.NOT_CHECKED: T("بررسی نشد", "Not checked"),
}

REVOCATION_SOURCES: dict[str, Text] = {
    "embedded": T("درون فایل", "embedded in the file"),
    "online": T("برخط", "fetched online"),
}

SEVERITIES: dict[Severity, Text] = {
    Severity.ERROR: T("خطا", "Error"),
    Severity.WARNING: T("هشدار", "Warning"),
    Severity.INFO: T("آگاهی", "Note"),
}

COVERAGES: dict[str, Text] = {
    "entire_file": T("کل فایل", "The entire file"),
    "entire_revision": T(
        "کل نسخه امضاشده (افزوده‌های بعدی جداگانه بررسی شده‌اند)",
        "The entire signed revision (later updates are judged separately)",
    ),
    "partial": T("فقط بخشی از فایل", "Only part of the file"),
    "unclear": T("نامعلوم", "Unclear"),
}

TIMESTAMP_KINDS: dict[str, Text] = {
    "signature": T("مهر زمانی امضا", "Signature timestamp"),
    "document": T("مهر زمانی سند", "Document timestamp"),
    "content": T("مهر زمانی محتوا", "Content timestamp"),
}

DOCMDP_PERMISSIONS: dict[int, Text] = {
    1: T("هیچ تغییری مجاز نیست", "No changes allowed"),
    2: T("فقط پر کردن فرم و امضا مجاز است", "Form filling and signing only"),
    3: T("پر کردن فرم، امضا و یادداشت مجاز است", "Form filling, signing and annotations"),
}

PADES_LEVELS: dict[str, Text] = {
    "B-B": T("پایه", "Basic"),
    "B-T": T("با مهر زمانی", "With a timestamp"),
    "B-LT": T("بلندمدت (اطلاعات اعتبارسنجی درون فایل)", "Long-term (validation data in the file)"),
    "B-LTA": T("بایگانی بلندمدت", "Long-term archival"),
}
NOT_PADES = T("امضای PAdES نیست", "Not a PAdES signature")

REVOCATION_MODES: dict[str, Text] = {
    "require": T("الزامی", "Required"),
    "if-available": T("در صورت وجود", "When available"),
    "skip": T("بررسی نمی‌شود", "Not checked"),
}

# Yes/no answers to "did this check pass?", worded as results rather than booleans.
CHECK_OK = T("درست است", "Correct")
CHECK_FAILED = T("نادرست است", "Failed")
CHECK_UNKNOWN = T("بررسی نشد", "Not checked")
YES = T("بله", "Yes")
NO = T("خیر", "No")
NONE_GIVEN = T("ثبت نشده", "Not given")

# Static words of the layout: headings and field names.
UI: dict[str, Text] = {
    "title": T("گزارش اعتبارسنجی امضا", "Signature validation report"),
    "product": T("پاکت", "Pakat"),
    "document": T("سند", "Document"),
    "verdict": T("نتیجه", "Verdict"),
    "file_name": T("نام فایل", "File name"),
    "file_size": T("اندازه فایل", "File size"),
    "file_sha256": T("چکیده SHA-256 فایل", "File SHA-256"),
    "revisions": T("شمار نسخه‌های فایل", "Revisions in the file"),
    "signature_count": T("شمار امضاها", "Signatures"),
    "validation_time": T("زمان اعتبارسنجی", "Validation time"),
    "generator": T("تولیدشده با", "Generated by"),
    "signature": T("امضای", "Signature"),
    "overview": T("مشخصات امضا", "Signature details"),
    "field_name": T("نام فیلد امضا", "Signature field"),
    "kind": T("گونه امضا", "Signature kind"),
    "reason": T("دلیل", "Reason"),
    "code": T("کد", "Code"),
    "signer": T("امضاکننده", "Signer"),
    "name": T("نام", "Name"),
    "national_id": T("شناسه ملی", "National ID"),
    "organisation": T("سازمان", "Organisation"),
    "organisational_unit": T("واحد سازمانی", "Organisational unit"),
    "title_attr": T("سمت", "Title"),
    "signer_kind": T("گونه گواهی", "Certificate kind"),
    "affiliation": T("وابستگی", "Affiliation"),
    "assurance_level": T("سطح اطمینان", "Assurance level"),
    "certificate": T("گواهی", "Certificate"),
    "subject": T("دارنده", "Subject"),
    "issuer": T("صادرکننده", "Issuer"),
    "serial_number": T("شماره سریال", "Serial number"),
    "validity": T("بازه اعتبار", "Validity"),
    "not_before": T("از", "From"),
    "not_after": T("تا", "Until"),
    "fingerprint": T("اثر انگشت SHA-256", "SHA-256 fingerprint"),
    "key": T("کلید", "Key"),
    "times": T("زمان امضا", "Signing time"),
    "claimed_time": T("زمان ادعاشده امضاکننده", "Time claimed by the signer"),
    "claimed_time_note": T("فقط ادعای امضاکننده؛ اثبات نمی‌کند", "The signer's word only; proves nothing"),
    "best_time": T("زودترین زمان اثبات‌شده", "Earliest proven time"),
    "timestamp_time": T("زمان مهر زمانی", "Timestamp time"),
    "pades_level": T("سطح PAdES", "PAdES level"),
    "chain": T("زنجیره تا ریشه مورد اعتماد", "Chain to the trusted root"),
    "trusted": T("مورد اعتماد", "Trusted"),
    "chain_trusted": T("به ریشه مورد اعتماد می‌رسد", "Chains to a trusted root"),
    "chain_untrusted": T("به ریشه مورد اعتماد نمی‌رسد", "Does not chain to a trusted root"),
    "chain_not_checked": T("زنجیره بررسی نشد", "The chain was not checked"),
    "anchor": T("ریشه", "Root"),
    "anchor_sha256": T("اثر انگشت ریشه", "Root fingerprint"),
    "chain_certificates": T("گواهی‌های زنجیره", "Certificates in the chain"),
    "problem": T("مشکل (فنی)", "Problem (technical)"),
    "revocation": T("وضعیت ابطال", "Revocation"),
    "revocation_status": T("وضعیت", "Status"),
    "revocation_source": T("منبع", "Source"),
    "revocation_kind": T("نوع پاسخ", "Answer type"),
    "produced_at": T("زمان صدور پاسخ", "Answer issued at"),
    "revoked_at": T("زمان ابطال", "Revoked at"),
    "revocation_reason": T("علت ابطال", "Revocation reason"),
    "integrity": T("درستی فایل و امضا", "Integrity"),
    "byte_range": T("بازه بایت‌های امضاشده (ByteRange)", "Signed byte range (ByteRange)"),
    "coverage": T("پوشش امضا", "Coverage"),
    "digest": T("چکیده محتوا", "Content digest"),
    "crypto_signature": T("امضای رمزنگاری", "Cryptographic signature"),
    "signed_revision_length": T("اندازه نسخه امضاشده", "Signed version size"),
    "signed_revision_sha256": T("چکیده نسخه امضاشده (SHA-256)", "Signed version SHA-256"),
    "placement": T("جای امضا روی صفحه", "Where the signature shows"),
    "placement_widget": T("جای نمایش", "Shown at"),
    "invisible": T("نامرئی (روی هیچ صفحه‌ای دیده نمی‌شود)", "invisible (shows on no page)"),
    "no_page": T("روی هیچ صفحه‌ای", "on no page"),
    "no_widget": T("این امضا جای نمایشی ندارد.", "This signature has no widget."),
    "rect": T("مستطیل (نقطه PDF)", "rectangle (PDF points)"),
    "modifications": T("تغییرات پس از امضا", "Modifications after signing"),
    "modification_level": T("تغییرات", "Changes"),
    "revision": T("نسخه امضاشده", "Signed revision"),
    "docmdp": T("مجوز تغییر (DocMDP)", "Change permission (DocMDP)"),
    "docmdp_ok": T("رعایت مجوز تغییر", "Permission respected"),
    "change": T("تغییر", "Change"),
    "changed_pages": T("صفحه‌هایی که تغییر غیرمجاز را نشان می‌دهند", "Pages showing a change not allowed"),
    "compared_visually": T("مقایسه تصویر صفحه‌ها", "Pages compared as drawn"),
    "page": T("صفحه", "page"),
    "more_changes": T("تغییر دیگر (در گزارش JSON)", "more changes (in the JSON report)"),
    "algorithms": T("الگوریتم‌ها", "Algorithms"),
    "digest_algorithm": T("الگوریتم چکیده", "Digest algorithm"),
    "signature_algorithm": T("الگوریتم امضا", "Signature algorithm"),
    "subfilter": T("قالب امضا (SubFilter)", "Format (SubFilter)"),
    "timestamps": T("مهرهای زمانی", "Timestamps"),
    "document_timestamps": T("مهرهای زمانی سند", "Document timestamps"),
    "timestamp_kind": T("گونه", "Kind"),
    "tsa": T("مرجع مهر زمانی", "Timestamp authority"),
    "intact": T("سالم", "Intact"),
    "covers_entire_file": T("پوشش کل فایل", "Covers the entire file"),
    "after_validation_time": T("پس از زمان اعتبارسنجی", "After the validation time"),
    "after_validation_time_note": T(
        "این مهر زمانی پس از زمان اعتبارسنجی صادر شده است؛ در آن زمان وجود نداشت و در آن زمان معتبر نیست.",
        "This timestamp was issued after the validation time: it did not exist then and is not valid at that"
        " time.",
    ),
    "findings": T("یافته‌ها", "Findings"),
    "document_findings": T("یافته‌های کل سند", "Findings on the whole document"),
    "no_findings": T("یافته‌ای نیست.", "No findings."),
    "no_signatures": T("این فایل امضایی ندارد.", "This file has no signatures."),
    "policy": T("سیاست اعتبارسنجی", "Validation policy"),
    "policy_title": T("نام سیاست", "Policy"),
    "policy_id": T("شناسه و نسخه سیاست", "Policy id and version"),
    "policy_sha256": T("چکیده فایل سیاست (SHA-256)", "Policy file SHA-256"),
    "trust_anchors": T("ریشه‌های مورد اعتماد", "Trusted roots"),
    "allowed_digests": T("الگوریتم‌های چکیده مجاز", "Allowed digest algorithms"),
    "digest_sunsets": T("پایان اعتبار الگوریتم‌ها", "Algorithm sunsets"),
    "min_rsa_bits": T("کمینه طول کلید RSA", "Minimum RSA key size"),
    "min_ec_bits": T("کمینه طول کلید EC", "Minimum EC key size"),
    "policy_revocation": T("بررسی ابطال", "Revocation check"),
    "clock_skew_seconds": T("تحمل اختلاف ساعت (ثانیه)", "Clock skew allowed (seconds)"),
    "bytes": T("بایت", "bytes"),
    "technical": T("جزئیات فنی", "Technical details"),
    "footer": T(
        "این گزارش را سرویس پاکت از روی همین فایل ساخته است؛ نتیجه فقط برای همین فایل با همین چکیده معتبر است.",
        "Pakat produced this report from this very file; it holds only for the file with this SHA-256.",
    ),
}


def ui(key: str, lang: Lang) -> str:
    """A layout word (heading or field name) in ``lang``."""
    return pick(UI[key], lang)

# The /validate web page around the report.
PAGE: dict[str, Text] = {
    "title": T("اعتبارسنجی امضای فایل PDF", "Validate a signed PDF"),
    "intro": T(
        "فایل PDF امضاشده را بفرستید تا ببینید چه کسی آن را امضا کرده، آیا پس از امضا تغییر کرده، "
        "آیا گواهی امضاکننده از زنجیره ملی است و آیا باطل شده است.",
        "Upload a signed PDF to see who signed it, whether it changed after signing, whether the "
        "signer's certificate is from the national chain and whether it was revoked.",
    ),
    "file": T("فایل PDF", "PDF file"),
    "policy": T("سیاست اعتبارسنجی", "Validation policy"),
    "submit": T("بررسی امضاها", "Check the signatures"),
    "privacy": T(
        "فایل فقط برای همین بررسی خوانده می‌شود و پس از آن نگه‌داری نمی‌شود.",
        "The file is read for this check only and is not kept afterwards.",
    ),
    "switch": T("فارسی", "English"),  # the label of the link to a language is that language's own name
    "home": T("صفحه اصلی", "Home"),
    "error": T("فایل بررسی نشد", "The file was not checked"),
    "error_code": T("کد خطا", "Error code"),
    "downloads": T("دریافت گزارش", "Download the report"),
    "download_pdf": T("گزارش PDF", "PDF report"),
    "download_json": T("گزارش JSON (برای سامانه‌ها)", "JSON report (for systems)"),
    "again": T("بررسی فایل دیگر", "Check another file"),
    "files_hint": T("می‌توانید چند فایل را با هم بفرستید؛ بیشینه:", "You may send several files at once; at most"),
    "at": T("زمان اعتبارسنجی (اختیاری)", "Validation time (optional)"),
    "at_hint": T(
        "خالی بگذارید تا امضاها در همین لحظه سنجیده شوند، یا زمانی در گذشته بدهید: تاریخ شمسی و ساعت به وقت"
        " تهران، سال/ماه/روز ساعت:دقیقه؛ اکنون:",
        "Leave empty to judge the signatures now, or give a past moment in Tehran time; now:",
    ),
    "validated_at": T("سنجیده در زمان", "Validated at"),
    "signed_versions": T("نسخه‌های امضاشده", "Signed versions"),
    "signature": T("امضای", "Signature"),
    "bytes": T("بایت", "bytes"),
    "view_signed": T("دریافت نسخه امضاشده", "Download the signed version"),
    "pick_again": T("همان فایل را دوباره انتخاب کنید", "Choose the same file again"),
    "signed_hint": T(
        "نسخه‌ای که هر امضا پوشش می‌دهد از روی فایل خود شما در مرورگرتان بریده و با چکیده گزارش مقایسه می‌شود.",
        "The version each signature covers is cut from your own file in your browser and checked against the"
        " report's SHA-256.",
    ),
    "signed_noscript": T(
        "برای دریافت نسخه امضاشده، جاوااسکریپت لازم است؛ اندازه و چکیده هر نسخه در گزارش آمده است:"
        " نخستین همان تعداد بایت فایل شماست.",
        "Downloading a signed version needs JavaScript; each version's size and SHA-256 are in the report:"
        " it is that many first bytes of your file.",
    ),
    "sha_mismatch": T("این فایل همان فایل گزارش نیست.", "This is not the file of the report."),
}


def page(key: str, lang: Lang) -> str:
    """A word of the /validate page in ``lang``."""
    return pick(PAGE[key], lang)
