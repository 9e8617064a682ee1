"""Every sentence the validator says, in Persian and English, under a stable code.

Findings name what was seen (a code a platform can act on); reasons are the
one-line verdict a clerk reads. Technical detail (offsets, library messages)
is appended in English only: it is for whoever investigates, not for the clerk.
"""

from __future__ import annotations

from validation.model import Finding, Severity, SubIndication, Text

# code -> (severity, Persian, English)
FINDINGS: dict[str, tuple[Severity, str, str]] = {
    "CONTENTS_INVALID": (
        Severity.ERROR,
        "محتوای امضا (/Contents) خالی، صفر یا خراب است.",
        "The signature value (/Contents) is missing, empty, zeroed or not a CMS signature.",
    ),
    "BYTE_RANGE_INVALID": (
        Severity.ERROR,
        "محدوده امضاشده (/ByteRange) نادرست یا ناقص است.",
        "The signed byte range (/ByteRange) is missing or malformed.",
    ),
    "BYTE_RANGE_PAST_EOF": (
        Severity.ERROR,
        "محدوده امضاشده از انتهای فایل فراتر می‌رود؛ فایل کوتاه شده یا دستکاری شده است.",
        "The signed byte range runs past the end of the file: the file was truncated or tampered with.",
    ),
    "BYTE_RANGE_GAP_MISMATCH": (
        Severity.ERROR,
        "بخش امضانشده فایل همان محتوای امضا نیست (حمله بسته‌بندی امضا).",
        "The unsigned gap is not this signature's own value (signature wrapping).",
    ),
    "SIGNATURES_OVERLAP": (
        Severity.ERROR,
        "محدوده این امضا با امضای دیگری هم‌پوشانی دارد.",
        "This signature's byte range overlaps another signature's.",
    ),
    "CMS_UNREADABLE": (
        Severity.ERROR,
        "ساختار امضای CMS خوانده نمی‌شود.",
        "The CMS signature cannot be parsed.",
    ),
    "SIGNER_CERTIFICATE_MISSING": (
        Severity.ERROR,
        "گواهی امضاکننده در امضا نیست.",
        "The signer's certificate is not in the signature.",
    ),
    "DIGEST_MISMATCH": (
        Severity.ERROR,
        "چکیده سند با چکیده امضاشده یکی نیست: محتوای امضاشده تغییر کرده است.",
        "The document digest does not match the signed digest: the signed content was changed.",
    ),
    "SIGNATURE_INVALID": (
        Severity.ERROR,
        "مقدار امضا با گواهی امضاکننده تأیید نمی‌شود.",
        "The signature value does not verify with the signer's certificate.",
    ),
    "UNSUPPORTED_ALGORITHM": (
        Severity.ERROR,
        "الگوریتم این امضا پشتیبانی نمی‌شود و نمی‌توان آن را بررسی کرد.",
        "This signature's algorithm is not supported, so it cannot be checked.",
    ),
    "MODIFIED_AFTER_SIGNING": (
        Severity.ERROR,
        "پس از امضا تغییری غیرمجاز در سند داده شده است (صفحه، محتوا یا اشیای تازه).",
        "The document was changed in a disallowed way after signing (pages, content or objects).",
    ),
    "COVERAGE_INCOMPLETE": (
        Severity.ERROR,
        "امضا کل نسخه امضاشده سند را پوشش نمی‌دهد.",
        "The signature does not cover its whole revision of the document.",
    ),
    "DOCMDP_VIOLATION": (
        Severity.ERROR,
        "تغییرات پس از امضای گواهی‌کننده بیش از مجوز آن (DocMDP) است.",
        "Changes after the certification signature exceed what its DocMDP permission allows.",
    ),
    "ANNOTATIONS_AFTER_SIGNING": (
        Severity.WARNING,
        "پس از امضا یادداشت یا حاشیه‌نویسی به سند افزوده شده است.",
        "Annotations were added after signing.",
    ),
    "FORM_FILLED_AFTER_SIGNING": (
        Severity.INFO,
        "پس از امضا فیلدهای فرم پر شده است.",
        "Form fields were filled after signing.",
    ),
    "INVISIBLE_CHANGES": (
        Severity.WARNING,
        "پس از امضا تغییراتی در ساختار سند داده شده که در هیچ صفحه‌ای دیده نمی‌شود.",
        "After signing, the document's structure was changed in ways no page shows.",
    ),
    "FIELD_LOCK_VIOLATION": (
        Severity.ERROR,
        "فیلدی که امضا آن را قفل کرده بود پس از امضا تغییر کرده است.",
        "A form field locked by this signature was changed after signing.",
    ),
    "MODIFICATION_ANALYSIS_FAILED": (
        Severity.ERROR,
        "بررسی تغییرات پس از امضا کامل نشد. این نشانه دستکاری نیست، ولی دست‌نخوردگی سند هم ثابت نشد.",
        "The check of what changed after signing could not be completed. This is not evidence of tampering,"
        " but the document is not proven unchanged either.",
    ),
    "SIGNATURE_IN_SEVERAL_FIELDS": (
        # No signing software shows one value in several fields: a document made to multiply the work.
        Severity.WARNING,
        "یک مقدار امضا در چند فیلد امضا آمده است؛ نرم‌افزار امضا چنین نمی‌کند و این سند مشکوک است. امضا یک بار"
        " بررسی و یک امضا شمرده شد.",
        "One signature value appears in several signature fields; signing software does not do this, so the"
        " document is suspicious. The signature was checked and counted once.",
    ),
    "DIGEST_NOT_ALLOWED": (
        Severity.ERROR,
        "الگوریتم چکیده این امضا (مانند SHA-1) دیگر امن شمرده نمی‌شود.",
        "The signature's digest algorithm (such as SHA-1) is no longer considered secure.",
    ),
    "KEY_TOO_SMALL": (
        Severity.ERROR,
        "طول کلید امضاکننده کمتر از حد مجاز است.",
        "The signer's key is shorter than the policy allows.",
    ),
    "TIMESTAMP_INVALID": (
        Severity.ERROR,
        "مهر زمانی خراب است یا با امضا نمی‌خواند.",
        "A timestamp is damaged or does not match what it stamps.",
    ),
    "TIMESTAMP_UNTRUSTED": (
        Severity.WARNING,
        "صادرکننده مهر زمانی مورد اعتماد نیست.",
        "A timestamp's authority is not trusted.",
    ),
    "TIMESTAMP_AFTER_VALIDATION_TIME": (
        Severity.WARNING,
        "مهر زمانی پس از زمان اعتبارسنجی صادر شده است؛ در آن زمان وجود نداشت و چیزی را در آن زمان ثابت نمی‌کند.",
        "A timestamp was issued after the validation time: it did not exist then and proves nothing at that time.",
    ),
    "SIGNED_AFTER_VALIDATION_TIME": (
        Severity.ERROR,
        "به گفته خود امضاکننده، امضا پس از زمان اعتبارسنجی ساخته شده و در آن زمان وجود نداشت؛"
        " پس در آن زمان معتبر شمرده نمی‌شود.",
        "By the signer's own claimed signing time the signature was made after the validation time and did not"
        " exist then, so it cannot be valid at that time.",
    ),
    "CLAIMED_TIME_AFTER_TIMESTAMP": (
        Severity.WARNING,
        "زمان اعلام‌شده امضاکننده پس از زمان مهر زمانی است.",
        "The signer's claimed signing time is later than the timestamp.",
    ),
    "REVOCATION_FETCHED_ONLINE": (
        Severity.INFO,
        "وضعیت ابطال گواهی به صورت برخط از پاسخ‌گوی مجاز گرفته شد.",
        "Revocation status was fetched online from an allow-listed responder.",
    ),
    "REVOKED_AFTER_SIGNING": (
        Severity.WARNING,
        "گواهی امضاکننده پس از امضا باطل شده است؛ مهر زمانی ثابت می‌کند امضا پیش از ابطال بوده است.",
        "The signer's certificate was revoked after signing; a timestamp proves the signature came first.",
    ),
    "REVOCATION_NOT_CHECKED": (
        Severity.WARNING,
        "وضعیت ابطال گواهی بررسی نشد.",
        "The certificate's revocation status was not checked.",
    ),
    "NOT_PADES": (
        Severity.INFO,
        "این امضا از قالب PAdES (ETSI.CAdES.detached) نیست.",
        "This signature is not in the PAdES format (ETSI.CAdES.detached).",
    ),
    "SIGNER_CERT_WRONG_PURPOSE": (
        Severity.ERROR,
        "کاربری‌های مجاز گواهی امضاکننده (Extended Key Usage) امضای سند را در بر نمی‌گیرد؛ برای نمونه گواهی مهر"
        " زمانی یا احراز هویت است.",
        "The signer's certificate's extended key usage does not allow signing documents (it is, for example, a"
        " timestamping or authentication certificate).",
    ),
    "KEY_USAGE_NOT_SIGNING": (
        Severity.ERROR,
        "کاربری کلید گواهی امضاکننده (Key Usage) امضا را مجاز نمی‌کند.",
        "The signer certificate's key usage does not allow signatures.",
    ),
    "ALGORITHM_FORBIDDEN": (
        Severity.ERROR,
        "استانداردها این ترکیب الگوریتم‌ها را برای امضا ممنوع کرده‌اند (برای نمونه Ed25519 با چکیده‌ای جز"
        " SHA-512).",
        "The standards forbid this combination of algorithms in a signature (for example Ed25519 with a digest"
        " other than SHA-512).",
    ),
    "ALGORITHM_PROTECTION_MISMATCH": (
        Severity.ERROR,
        "الگوریتم‌های آمده در ویژگی امضاشدهٔ حفاظت الگوریتم (RFC 6211) با الگوریتم‌های اعلام‌شدهٔ امضا یکی نیست؛"
        " ممکن است الگوریتم جایگزین شده باشد.",
        "The algorithms in the signed algorithm-protection attribute (RFC 6211) differ from the ones the"
        " signature declares; the algorithm may have been substituted.",
    ),
    "ENCAPSULATED_CONTENT_UNEXPECTED": (
        Severity.ERROR,
        "امضا محتوایی جز بایت‌های امضاشدهٔ سند در خود دارد، پس آنچه امضا شده همین سند نیست.",
        "The signature encapsulates other content than the document's signed bytes, so what was signed is not"
        " this document.",
    ),
    "SIGNED_ATTRIBUTES_INVALID": (
        Severity.ERROR,
        "ویژگی‌های امضاشده نادرست است: نوع محتوا یا چکیدهٔ پیام نیست، تکرار شده یا با محتوای امضاشده نمی‌خواند.",
        "The signed attributes are wrong: the content type or the message digest is missing, repeated or does"
        " not match the signed content.",
    ),
    "SIGNING_CERTIFICATE_MISMATCH": (
        Severity.ERROR,
        "گواهی‌ای که در ویژگی امضاشدهٔ «گواهی امضاکننده» نام برده شده، گواهی همراه امضا نیست.",
        "The certificate named in the signed signing-certificate attribute is not the one carried with the"
        " signature.",
    ),
    "SIGNER_INFOS_MULTIPLE": (
        Severity.WARNING,
        "این امضا چند امضاکننده (SignerInfo) دارد؛ همهٔ آن‌هایی که گواهی‌شان همراه است بررسی شدند.",
        "This signature holds several signers (SignerInfos); every one whose certificate is included was checked.",
    ),
    "HOSTILE_URL_IGNORED": (
        Severity.INFO,
        "نشانی‌های داخل گواهی که در فهرست مجاز نبودند فراخوانی نشدند.",
        "Addresses in the certificate outside the allow-list were not contacted.",
    ),
}

# Findings about the whole document.
FINDINGS.update({
    "DAMAGED_TAIL": (
        Severity.WARNING,
        "بخش پایانی فایل خراب است و خوانده نشد؛ برخی نرم‌افزارها ممکن است محتوای آن را نشان دهند.",
        "The end of the file is damaged and could not be read; some readers may show what it holds.",
    ),
    "TIMESTAMPS_ONLY": (
        Severity.WARNING,
        "این سند هیچ امضایی ندارد و فقط مهر زمانی سند دارد: مهر زمانی ثابت می‌کند سند در آن زمان وجود داشته،"
        " نه اینکه چه کسی آن را تأیید کرده است.",
        "This document carries no signature, only document timestamps: they prove the document existed at that"
        " time, not who approved it.",
    ),
    "MODIFIED_AFTER_TIMESTAMP": (
        Severity.ERROR,
        "سند پس از مهر زمانی به شکلی غیرمجاز تغییر کرده است.",
        "The document was changed in a disallowed way after its timestamp.",
    ),
})

# sub-indication (or None for passed) -> one-line reason
REASONS: dict[SubIndication | None, tuple[str, str]] = {
    None: ("امضا معتبر است و به ریشه مورد اعتماد می‌رسد.", "The signature is valid and chains to a trusted root."),
    SubIndication.FORMAT_FAILURE: (
        "ساختار امضا یا سند نادرست است یا سند پس از امضا به شکلی غیرمجاز تغییر کرده است.",
        "The signature or document structure is wrong, or the document was changed in a disallowed way.",
    ),
    SubIndication.HASH_FAILURE: (
        "محتوای امضاشده تغییر کرده است.",
        "The signed content has been changed.",
    ),
    SubIndication.SIG_CRYPTO_FAILURE: (
        "مقدار امضا با گواهی امضاکننده تأیید نمی‌شود.",
        "The signature value does not verify with the signer's certificate.",
    ),
    SubIndication.REVOKED: (
        "گواهی امضاکننده پیش از امضا باطل شده بود.",
        "The signer's certificate was revoked before the signature was made.",
    ),
    SubIndication.EXPIRED: (
        "گواهی امضاکننده هنگام امضا منقضی شده بود.",
        "The signer's certificate had expired when the signature was made.",
    ),
    SubIndication.NOT_YET_VALID: (
        "گواهی امضاکننده هنگام امضا هنوز معتبر نشده بود.",
        "The signer's certificate was not yet valid when the signature was made.",
    ),
    SubIndication.SIG_CONSTRAINTS_FAILURE: (
        "امضا شرایط سیاست اعتبارسنجی را برآورده نمی‌کند.",
        "The signature does not meet the validation policy's constraints.",
    ),
    SubIndication.CHAIN_CONSTRAINTS_FAILURE: (
        "زنجیره گواهی شرایط لازم (مانند کاربری کلید) را ندارد.",
        "The certificate chain does not meet the required constraints (such as key usage).",
    ),
    SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE: (
        "زنجیره گواهی امضاکننده بررسی‌پذیر نیست.",
        "The signer's certificate chain could not be validated.",
    ),
    SubIndication.CRYPTO_CONSTRAINTS_FAILURE: (
        "الگوریتم یا طول کلید امضا دیگر امن شمرده نمی‌شود.",
        "The signature's algorithm or key size is no longer considered secure.",
    ),
    SubIndication.CRYPTO_CONSTRAINTS_FAILURE_NO_POE: (
        "الگوریتم امضا دیگر امن نیست و مهر زمانی‌ای نشان نمی‌دهد که امضا پیش از آن ساخته شده است.",
        "The signature's algorithm is no longer secure and no timestamp proves it was made before then.",
    ),
    SubIndication.TIMESTAMP_ORDER_FAILURE: (
        "ترتیب زمانی مهرهای زمانی نادرست است.",
        "The timestamps are in an impossible order.",
    ),
    SubIndication.NO_SIGNING_CERTIFICATE_FOUND: (
        "گواهی امضاکننده پیدا نشد.",
        "The signer's certificate could not be found.",
    ),
    SubIndication.NO_CERTIFICATE_CHAIN_FOUND: (
        "گواهی امضاکننده به هیچ ریشه مورد اعتمادی نمی‌رسد.",
        "The signer's certificate does not chain to a trusted root.",
    ),
    SubIndication.REVOKED_NO_POE: (
        "گواهی امضاکننده باطل شده است و هیچ مهر زمانی نشان نمی‌دهد امضا پیش از ابطال بوده است.",
        "The signer's certificate is revoked and no timestamp proves the signature came before the revocation.",
    ),
    SubIndication.REVOKED_CA_NO_POE: (
        "یکی از مراجع صدور زنجیره باطل شده است.",
        "A certificate authority in the chain has been revoked.",
    ),
    SubIndication.OUT_OF_BOUNDS_NO_POE: (
        "گواهی امضاکننده منقضی شده است و هیچ مهر زمانی نشان نمی‌دهد امضا در دوره اعتبار آن بوده است.",
        "The signer's certificate has expired and no timestamp proves the signature was made while it was valid.",
    ),
    SubIndication.OUT_OF_BOUNDS_NOT_REVOKED: (
        "گواهی امضاکننده منقضی شده است؛ ابطال نشده ولی زمان امضا اثبات نشده است.",
        "The signer's certificate has expired; it was not revoked, but the signing time is not proven.",
    ),
    SubIndication.TRY_LATER: (
        "اطلاعات ابطال گواهی در دسترس نیست؛ بعداً دوباره بررسی کنید.",
        "No revocation information is available for the certificate; try again later.",
    ),
    SubIndication.GENERIC: (
        "بررسی این امضا کامل نشد؛ یافته‌ها دلیل آن را می‌گویند.",
        "The check of this signature could not be completed; the findings say why.",
    ),
    SubIndication.NO_POE: (
        "اثبات وجود امضا در زمان لازم در دست نیست.",
        "There is no proof the signature existed at the time it needed to.",
    ),
}


def finding(code: str, *, detail: str | None = None, severity: Severity | None = None) -> Finding:
    """The finding ``code``; ``detail`` (English, technical) is appended to the English text.

    ``severity`` overrides the code's usual one: the validation policy sets it for the checks it governs.
    """
    usual, fa, en = FINDINGS[code]
    text = Text(fa=fa, en=f"{en} ({detail})" if detail else en)
    return Finding(code=code, severity=severity or usual, text=text)


def reason(sub_indication: SubIndication | None, *, detail: Finding | None = None) -> Text:
    """The one-line reason for a verdict; the finding that decided it, when there is one, says it best."""
    if detail is not None and detail.severity is Severity.ERROR:
        return detail.text
    fa, en = REASONS.get(sub_indication, REASONS[SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE])
    return Text(fa=fa, en=en)
