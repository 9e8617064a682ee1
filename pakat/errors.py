"""Errors a user can cause, each with a stable code and a Persian and English message.

Every failure that reaches a person or a platform is a :class:`PakatError`
carrying an :class:`ErrorKind`. The web layer maps the kind to an HTTP status
and the CLI to an exit code in exactly one place each (``web.errors`` and
``pakat.terminal``); nothing else decides how an error looks.

Messages never interpolate secrets: ``detail`` is for technical facts (a file
name, a certificate subject, a limit) and callers must not pass PINs, keys or
API keys into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorKind:
    """One stable error code and how it is presented."""

    code: str
    http_status: int
    exit_code: int
    fa: str
    en: str


def _kind(code: str, http_status: int, exit_code: int, fa: str, en: str) -> ErrorKind:
    kind = ErrorKind(code, http_status, exit_code, fa, en)
    KINDS[code] = kind
    return kind


KINDS: dict[str, ErrorKind] = {}

# Exit codes: 1 internal, 2 usage (click), 3 unusable input, 4 access or
# configuration, 5 key store or token, 6 certificate refused, 7 remote service,
# 8 cancelled by the user, 9 stored records fail their integrity check (audit log).

# -- input ------------------------------------------------------------------
NOT_A_PDF = _kind(
    "NOT_A_PDF", 422, 3,
    "فایل ارسال‌شده PDF نیست.",
    "The uploaded file is not a PDF.",
)
PDF_TRUNCATED = _kind(
    "PDF_TRUNCATED", 422, 3,
    "فایل PDF ناقص است (انتهای فایل پیدا نشد).",
    "The PDF is truncated: its end-of-file trailer is missing.",
)
PDF_UNPARSEABLE = _kind(
    "PDF_UNPARSEABLE", 422, 3,
    "ساختار فایل PDF خراب است و خوانده نمی‌شود.",
    "The PDF's structure is damaged and cannot be read.",
)
PDF_ENCRYPTED = _kind(
    "PDF_ENCRYPTED", 422, 3,
    "فایل PDF با گذرواژه قفل شده است؛ نسخه‌ای بدون گذرواژه بفرستید.",
    "The PDF is locked with a password; send a copy without one.",
)
PDF_SIGNING_NOT_PERMITTED = _kind(
    "PDF_SIGNING_NOT_PERMITTED", 422, 3,
    "نویسندهٔ سند با گذرواژهٔ مالک، افزودن امضا و فیلد فرم را ممنوع کرده است؛ نسخه‌ای بدون این محدودیت بفرستید."
    " چیزی امضا نشد.",
    "The document's author forbade adding signatures or form fields (owner-password permissions); send a copy"
    " without that restriction. Nothing was signed.",
)
DOCUMENT_CERTIFIED_NO_CHANGES = _kind(
    "DOCUMENT_CERTIFIED_NO_CHANGES", 422, 3,
    "سند با امضای گواهی‌کننده‌ای گواهی شده که هیچ تغییری را اجازه نمی‌دهد (DocMDP P=1)؛ امضای تازه گواهی آن را"
    " باطل می‌کند. چیزی امضا نشد.",
    "The document is certified with no changes allowed (DocMDP P=1): another signature would break the"
    " author's certification. Nothing was signed.",
)
DOCUMENT_FIELDS_LOCKED = _kind(
    "DOCUMENT_FIELDS_LOCKED", 422, 3,
    "امضای پیشینی همهٔ فیلدهای سند را قفل کرده است (FieldMDP)؛ امضای تازه آن را باطل می‌کند. چیزی امضا نشد.",
    "An earlier signature locks the document's fields (FieldMDP): another signature would break it. Nothing"
    " was signed.",
)
PDF_TOO_LARGE = _kind(
    "PDF_TOO_LARGE", 413, 3,
    "حجم فایل PDF از حد مجاز بیشتر است.",
    "The PDF is larger than the configured limit.",
)
PDF_MISSING = _kind(
    "PDF_MISSING", 400, 3,
    "هیچ فایل PDF ای فرستاده نشده است.",
    "No PDF file was sent.",
)
NO_SIGNATURES = _kind(
    "NO_SIGNATURES", 422, 3,
    "در این فایل PDF هیچ امضایی نیست.",
    "The PDF holds no signature.",
)
LEVEL_UNKNOWN = _kind(
    "LEVEL_UNKNOWN", 400, 3,
    "سطح امضا نامعتبر است؛ یکی از B-B، B-T، B-LT یا B-LTA را انتخاب کنید.",
    "Unknown signature level; choose one of B-B, B-T, B-LT or B-LTA.",
)
DIGEST_REFUSED = _kind(
    "DIGEST_REFUSED", 400, 3,
    "الگوریتم چکیده پذیرفته نیست؛ فقط SHA-256 یا قوی‌تر.",
    "Digest algorithm refused; only SHA-256 or stronger is allowed.",
)
OUTPUT_EXISTS = _kind(
    "OUTPUT_EXISTS", 409, 3,
    "فایل خروجی از پیش وجود دارد.",
    "The output file already exists.",
)

# -- visible signature blocks ----------------------------------------------------
APPEARANCE_OUTSIDE_PAGE = _kind(
    "APPEARANCE_OUTSIDE_PAGE", 422, 3,
    "جای خواسته‌شده برای کادر امضا بیرون از صفحه است (یا چنین صفحه‌ای نیست)؛ چیزی امضا نشد.",
    "The requested signature block lies outside the page, or there is no such page; nothing was signed.",
)
APPEARANCE_OVERLAPS = _kind(
    "APPEARANCE_OVERLAPS", 422, 3,
    "کادر امضای خواسته‌شده روی کادر امضای دیگری می‌افتد؛ جای دیگری برگزینید. چیزی امضا نشد.",
    "The requested signature block overlaps another signature's block; choose another place. Nothing was signed.",
)
APPEARANCE_NO_ROOM = _kind(
    "APPEARANCE_NO_ROOM", 422, 3,
    "در این صفحه جای خالی برای کادر امضای دیگری نمانده است؛ جای آن را خودتان تعیین کنید. چیزی امضا نشد.",
    "No free room is left on the page for another signature block; give its place explicitly. Nothing was signed.",
)

# -- access and configuration ----------------------------------------------
API_KEY_MISSING = _kind(
    "API_KEY_MISSING", 401, 4,
    "کلید API فرستاده نشده است (سرآیند Authorization: Bearer).",
    "No API key was sent (Authorization: Bearer header).",
)
API_KEY_INVALID = _kind(
    "API_KEY_INVALID", 401, 4,
    "کلید API نامعتبر است.",
    "The API key is not valid.",
)
ORGANISATION_FORBIDDEN = _kind(
    "ORGANISATION_FORBIDDEN", 403, 4,
    "این کلید API اجازه استفاده از مهر این سازمان را ندارد.",
    "This API key may not use this organisation's seal.",
)
UNKNOWN_ORGANISATION = _kind(
    "UNKNOWN_ORGANISATION", 404, 4,
    "سازمانی با این شناسه پیکربندی نشده است.",
    "No organisation with this identifier is configured.",
)
CONFIG_INVALID = _kind(
    "CONFIG_INVALID", 500, 4,
    "پیکربندی سرویس نادرست است.",
    "The service configuration is invalid.",
)
PIN_NOT_CONFIGURED = _kind(
    "PIN_NOT_CONFIGURED", 500, 4,
    "رمز (PIN) کلید مهر سازمان تنظیم نشده است.",
    "The seal key's PIN is not configured.",
)
PUBLIC_URL_NOT_SET = _kind(
    "PUBLIC_URL_NOT_SET", 500, 4,
    "نشانی عمومی سرویس (PAKAT_PUBLIC_URL) تنظیم نشده است؛ پیوندهای امضا از نشانی درخواست ساخته نمی‌شوند.",
    "The service's public URL (PAKAT_PUBLIC_URL) is not set; signing links are never built from the request's"
    " Host header.",
)

# -- throttling (too many requests, too many wrong credentials) --------------------
RATE_LIMITED = _kind(
    "RATE_LIMITED", 429, 7,
    "درخواست‌های شما بیش از حد مجاز است؛ پس از زمانی که سرآیند Retry-After می‌گوید دوباره بکوشید.",
    "Too many requests; try again after the time the Retry-After header gives.",
)
CREDENTIALS_LOCKED = _kind(
    "CREDENTIALS_LOCKED", 429, 4,
    "پس از چند کلید یا رمز نادرست پیاپی، این نشانی برای مدتی قفل شده است؛ پس از زمانی که سرآیند Retry-After"
    " می‌گوید دوباره بکوشید.",
    "Too many wrong keys or secrets in a row: this address is locked out for a while; try again after the"
    " time the Retry-After header gives.",
)
OPERATIONS_FORBIDDEN = _kind(
    "OPERATIONS_FORBIDDEN", 403, 4,
    "سنجه‌ها و وضعیت آمادگی فقط از نشانی‌های مجاز (PAKAT_OPS_ALLOW) یا با توکن عملیات (PAKAT_OPS_TOKEN)"
    " دیده می‌شوند.",
    "Metrics and readiness are only shown to allowed addresses (PAKAT_OPS_ALLOW) or with the operations token"
    " (PAKAT_OPS_TOKEN).",
)
API_KEY_SCOPE_MISSING = _kind(
    "API_KEY_SCOPE_MISSING", 403, 4,
    "این کلید API دامنهٔ دسترسی لازم برای این درخواست را ندارد.",
    "This API key lacks the scope this request needs.",
)
API_KEY_SCOPE_UNKNOWN = _kind(
    "API_KEY_SCOPE_UNKNOWN", 400, 3,
    "دامنهٔ دسترسی نامعتبر است؛ از seal، documents، batches، tenders، validate و admin انتخاب کنید.",
    "Unknown scope; choose from seal, documents, batches, tenders, validate and admin.",
)
API_KEY_NOT_FOUND = _kind(
    "API_KEY_NOT_FOUND", 404, 4,
    "کلید API با این شناسه پیدا نشد.",
    "No API key has this id.",
)
API_KEY_REVOKED = _kind(
    "API_KEY_REVOKED", 409, 4,
    "این کلید API پیش‌تر باطل شده است؛ کلید تازه‌ای بسازید.",
    "This API key is already revoked; create a new one.",
)

# -- the console's people (envelopes.people, web.console) ----------------------
SIGN_IN_FAILED = _kind(
    "SIGN_IN_FAILED", 401, 4,
    "نام کاربری یا گذرواژه نادرست است. پس از ۵ گذرواژهٔ نادرست پیاپی، حساب ۱۵ دقیقه قفل می‌شود؛ حساب غیرفعال"
    " هم وارد نمی‌شود.",
    "The username or password is wrong. After 5 wrong passwords in a row the account is locked for 15 minutes;"
    " a disabled account cannot sign in either.",
)
SIGN_IN_REQUIRED = _kind(
    "SIGN_IN_REQUIRED", 401, 4,
    "برای این صفحه باید وارد میز کار شوید.",
    "Sign in to the console to reach this page.",
)
ROLE_FORBIDDEN = _kind(
    "ROLE_FORBIDDEN", 403, 4,
    "نقش شما اجازهٔ این کار را نمی‌دهد؛ از مدیر سازمان خود بخواهید.",
    "Your role does not allow this; ask your organisation's administrator.",
)
CSRF_INVALID = _kind(
    "CSRF_INVALID", 403, 4,
    "فرم کهنه یا نامعتبر است (توکن CSRF ندارد یا نمی‌خواند)؛ صفحه را دوباره باز کنید و از نو بفرستید.",
    "The form is stale or invalid (its CSRF token is missing or wrong); reload the page and send it again.",
)
PASSWORD_TOO_WEAK = _kind(
    "PASSWORD_TOO_WEAK", 422, 3,
    "گذرواژه پذیرفته نیست: دست‌کم ۱۲ نویسه، حداکثر ۲۵۶ نویسه، و نه همان نام کاربری یا نام نمایشی.",
    "The password is refused: at least 12 characters, at most 256, and not the username or display name.",
)
PASSWORD_WRONG = _kind(
    "PASSWORD_WRONG", 403, 4,
    "گذرواژهٔ کنونی نادرست است.",
    "The current password is wrong.",
)
USERNAME_INVALID = _kind(
    "USERNAME_INVALID", 422, 3,
    "نام کاربری ۳ تا ۶۴ نویسه از حروف لاتین، رقم و . _ - @ است و با حرف یا رقم آغاز می‌شود.",
    "A username is 3 to 64 characters of Latin letters, digits and . _ - @, starting with a letter or digit.",
)
USERNAME_TAKEN = _kind(
    "USERNAME_TAKEN", 409, 3,
    "این نام کاربری پیش‌تر گرفته شده است (بزرگی و کوچکی حروف فرقی نمی‌کند).",
    "This username is taken already (whatever the letter case).",
)
PERSON_NOT_FOUND = _kind(
    "PERSON_NOT_FOUND", 404, 4,
    "چنین کاربری در سازمان شما نیست.",
    "No such person in your organisation.",
)
ROLE_UNKNOWN = _kind(
    "ROLE_UNKNOWN", 422, 3,
    "نقش نامعتبر است؛ از admin، operator و viewer انتخاب کنید.",
    "Unknown role; choose admin, operator or viewer.",
)
LAST_ADMIN = _kind(
    "LAST_ADMIN", 409, 4,
    "این آخرین مدیر فعال سازمان است؛ نخست مدیر دیگری بسازید.",
    "This is the organisation's last active administrator; make another one first.",
)
SELF_CHANGE_REFUSED = _kind(
    "SELF_CHANGE_REFUSED", 409, 4,
    "مدیر نمی‌تواند حساب خود را غیرفعال کند یا نقش یا گذرواژهٔ خود را از اینجا تغییر دهد؛ گذرواژه از صفحهٔ حساب"
    " عوض می‌شود.",
    "An administrator cannot disable their own account or change their own role or password here; change your"
    " password on your account page.",
)

# -- key store (HSM / token) -------------------------------------------------
HSM_UNREACHABLE = _kind(
    "HSM_UNREACHABLE", 503, 5,
    "دسترسی به HSM ممکن نیست.",
    "The HSM cannot be reached.",
)
HSM_TOKEN_NOT_FOUND = _kind(
    "HSM_TOKEN_NOT_FOUND", 503, 5,
    "توکن مهر سازمان در HSM پیدا نشد.",
    "The organisation's seal token was not found in the HSM.",
)
HSM_KEY_NOT_FOUND = _kind(
    "HSM_KEY_NOT_FOUND", 503, 5,
    "کلید مهر سازمان روی توکن پیدا نشد.",
    "The seal key was not found on the token.",
)
HSM_PIN_INCORRECT = _kind(
    "HSM_PIN_INCORRECT", 503, 5,
    "رمز (PIN) توکن مهر سازمان نادرست است.",
    "The seal token's PIN is incorrect.",
)
HSM_PIN_LOCKED = _kind(
    "HSM_PIN_LOCKED", 503, 5,
    "رمز (PIN) توکن مهر سازمان قفل شده است.",
    "The seal token's PIN is locked.",
)
HSM_SIGN_FAILED = _kind(
    "HSM_SIGN_FAILED", 503, 5,
    "HSM امضا را انجام نداد.",
    "The HSM did not produce the signature.",
)

# -- certificates ------------------------------------------------------------
SEAL_CERT_REVOKED = _kind(
    "SEAL_CERT_REVOKED", 422, 6,
    "گواهی مهر سازمان باطل شده است؛ امضا انجام نشد.",
    "The seal certificate is revoked; nothing was signed.",
)
SEAL_CERT_EXPIRED = _kind(
    "SEAL_CERT_EXPIRED", 422, 6,
    "گواهی مهر سازمان منقضی شده یا هنوز معتبر نشده است؛ امضا انجام نشد.",
    "The seal certificate is expired or not yet valid; nothing was signed.",
)
SEAL_CERT_UNTRUSTED = _kind(
    "SEAL_CERT_UNTRUSTED", 422, 6,
    "گواهی مهر سازمان به ریشه مورد اعتماد نمی‌رسد؛ امضا انجام نشد.",
    "The seal certificate does not chain to a trusted root; nothing was signed.",
)
SEAL_CERT_UNUSABLE = _kind(
    "SEAL_CERT_UNUSABLE", 422, 6,
    "گواهی مهر سازمان برای امضا مناسب نیست.",
    "The seal certificate is not usable for signing.",
)
SEAL_KEY_MISMATCH = _kind(
    "SEAL_KEY_MISMATCH", 500, 6,
    "کلید روی توکن با گواهی مهر سازمان جور نیست.",
    "The key on the token does not match the seal certificate.",
)

# -- seal keys over their life (generate in the HSM, request, install) ---------
SEAL_KEY_EXISTS = _kind(
    "SEAL_KEY_EXISTS", 409, 5,
    "کلیدی با این برچسب روی توکن هست؛ برچسب دیگری برگزینید. چیزی ساخته نشد.",
    "A key with this label is already on the token; choose another label. Nothing was generated.",
)
SEAL_KEY_ALGORITHM_UNKNOWN = _kind(
    "SEAL_KEY_ALGORITHM_UNKNOWN", 400, 3,
    "الگوریتم کلید نامعتبر است؛ rsa-3072 یا ec-p256 را انتخاب کنید.",
    "Unknown key algorithm; choose rsa-3072 or ec-p256.",
)
SEAL_SUBJECT_INVALID = _kind(
    "SEAL_SUBJECT_INVALID", 400, 3,
    "مشخصات درخواست گواهی نادرست است (نام سازمان، شناسهٔ ملی ۱۱ رقمی، نام گواهی).",
    "The certificate request's subject is invalid (organisation name, 11-digit national ID, common name).",
)
SEAL_CERT_UNREADABLE = _kind(
    "SEAL_CERT_UNREADABLE", 422, 6,
    "فایل گواهی خوانده نمی‌شود (PEM یا DER)؛ چیزی نصب نشد.",
    "The certificate cannot be read (PEM or DER); nothing was installed.",
)
SEAL_CERT_NOT_FOR_KEY = _kind(
    "SEAL_CERT_NOT_FOR_KEY", 422, 6,
    "کلید عمومی این گواهی با کلید مهر روی توکن یکی نیست؛ چیزی نصب نشد.",
    "The certificate's public key is not the seal key's on the token; nothing was installed.",
)
SEAL_CERT_CHAIN_REFUSED = _kind(
    "SEAL_CERT_CHAIN_REFUSED", 422, 6,
    "گواهی به ریشهٔ مورد اعتماد این استقرار نمی‌رسد؛ چیزی نصب نشد.",
    "The certificate does not chain to this deployment's trusted roots; nothing was installed.",
)
SEAL_CERT_USAGE_REFUSED = _kind(
    "SEAL_CERT_USAGE_REFUSED", 422, 6,
    "کاربرد کلید این گواهی برای مهر سازمانی نیست (امضای دیجیتال و عدم انکار لازم است)؛ چیزی نصب نشد.",
    "The certificate's key usage is not a seal's (digitalSignature and nonRepudiation needed); nothing was"
    " installed.",
)
SEAL_CERT_VALIDITY_REFUSED = _kind(
    "SEAL_CERT_VALIDITY_REFUSED", 422, 6,
    "گواهی منقضی شده یا هنوز معتبر نشده است؛ چیزی نصب نشد.",
    "The certificate is expired or not yet valid; nothing was installed.",
)

# -- remote services -----------------------------------------------------------
TSA_UNAVAILABLE = _kind(
    "TSA_UNAVAILABLE", 503, 7,
    "سرویس مهر زمانی پاسخ نداد؛ دوباره تلاش کنید.",
    "The timestamp authority did not answer; try again.",
)
TSA_RESPONSE_INVALID = _kind(
    "TSA_RESPONSE_INVALID", 502, 7,
    "پاسخ سرویس مهر زمانی نامعتبر است.",
    "The timestamp authority's answer is invalid.",
)
REVOCATION_UNAVAILABLE = _kind(
    "REVOCATION_UNAVAILABLE", 503, 7,
    "اطلاعات ابطال گواهی (OCSP/CRL) به دست نیامد؛ دوباره تلاش کنید.",
    "Revocation data (OCSP/CRL) could not be obtained; try again.",
)

# -- documents and signing sessions (platform and agent protocol) -------------
REQUEST_INVALID = _kind(
    "REQUEST_INVALID", 400, 3,
    "درخواست نادرست است؛ جزئیات را ببینید.",
    "The request is malformed; see the detail.",
)
REQUEST_TOO_LARGE = _kind(
    "REQUEST_TOO_LARGE", 413, 3,
    "حجم درخواست از حد مجاز بیشتر است.",
    "The request body is larger than allowed.",
)
DOCUMENT_NOT_FOUND = _kind(
    "DOCUMENT_NOT_FOUND", 404, 3,
    "چنین سندی وجود ندارد.",
    "No such document.",
)
DOCUMENT_BUSY = _kind(
    "DOCUMENT_BUSY", 409, 3,
    "امضای قبلی این سند هنوز در حال تکمیل است؛ چند لحظه بعد دوباره تلاش کنید.",
    "The document's previous signature is still being completed; try again in a moment.",
)
DOCUMENT_CHANGED = _kind(
    "DOCUMENT_CHANGED", 409, 3,
    "سند پس از آماده‌سازی امضای دیگری گرفته است؛ گواهی را دوباره بفرستید تا سند دوباره آماده شود.",
    "Another signature landed on the document since it was prepared; send the certificate again to re-prepare.",
)
SESSION_NOT_FOUND = _kind(
    "SESSION_NOT_FOUND", 404, 3,
    "چنین نشست امضایی وجود ندارد.",
    "No such signing session.",
)
AGENT_SECRET_INVALID = _kind(
    "AGENT_SECRET_INVALID", 401, 4,
    "رمز نشست امضا نادرست است یا فرستاده نشده است.",
    "The signing session's agent secret is missing or wrong.",
)
RETURN_URL_REFUSED = _kind(
    "RETURN_URL_REFUSED", 400, 3,
    "نشانی بازگشت (return_url) در فهرست نشانی‌های مجاز این کلید API نیست.",
    "The return_url is not under one of this API key's allowed return URLs.",
)
SIGNED_PDF_NOT_READY = _kind(
    "SIGNED_PDF_NOT_READY", 409, 3,
    "سند امضاشده هنوز آماده نیست؛ تا پایان امضا صبر کنید.",
    "The signed document is not ready yet; wait until the signing completes.",
)
SESSION_EXPIRED = _kind(
    "SESSION_EXPIRED", 410, 3,
    "مهلت این نشست امضا تمام شده است؛ نشست تازه‌ای بسازید.",
    "This signing session has expired; start a new one.",
)
SESSION_CANCELLED = _kind(
    "SESSION_CANCELLED", 410, 3,
    "این نشست امضا لغو شده است.",
    "This signing session was cancelled.",
)
SESSION_FINISHED = _kind(
    "SESSION_FINISHED", 409, 3,
    "این نشست امضا پیش‌تر به پایان رسیده است.",
    "This signing session has already finished.",
)
STEP_OUT_OF_ORDER = _kind(
    "STEP_OUT_OF_ORDER", 409, 3,
    "این گام پیش‌تر انجام شده یا هنوز نوبتش نرسیده است.",
    "This step was already taken or is not due yet.",
)
CERTIFICATE_UNREADABLE = _kind(
    "CERTIFICATE_UNREADABLE", 422, 6,
    "گواهی فرستاده‌شده خوانا نیست (باید DER با base64 باشد).",
    "The certificate sent cannot be read (base64 DER expected).",
)
SIGNER_CERT_UNTRUSTED = _kind(
    "SIGNER_CERT_UNTRUSTED", 422, 6,
    "گواهی امضاکننده به زنجیره اعتماد ملی نمی‌رسد.",
    "The signer's certificate does not chain to the national trust root.",
)
SIGNER_CERT_EXPIRED = _kind(
    "SIGNER_CERT_EXPIRED", 422, 6,
    "گواهی امضاکننده (یا صادرکننده آن) اکنون معتبر نیست.",
    "The signer's certificate, or one of its issuers, is not valid now.",
)
SIGNER_CERT_REVOKED = _kind(
    "SIGNER_CERT_REVOKED", 422, 6,
    "گواهی امضاکننده باطل شده است.",
    "The signer's certificate has been revoked.",
)
SIGNER_CERT_UNUSABLE = _kind(
    "SIGNER_CERT_UNUSABLE", 422, 6,
    "گواهی امضاکننده برای امضای سند مناسب نیست.",
    "The signer's certificate is not usable for signing documents.",
)
SIGNER_NOT_EXPECTED = _kind(
    "SIGNER_NOT_EXPECTED", 422, 6,
    "این گواهی از آنِ امضاکننده‌ای نیست که این نشست برایش ساخته شده است.",
    "This certificate is not the signer this session was created for.",
)
CERTIFICATE_MISMATCH = _kind(
    "CERTIFICATE_MISMATCH", 422, 6,
    "گواهی این امضا با گواهی اعلام‌شده در گام قبل یکی نیست.",
    "The signature comes with a certificate other than the one announced.",
)
SIGNATURE_INVALID = _kind(
    "SIGNATURE_INVALID", 422, 6,
    "امضای فرستاده‌شده با گواهی اعلام‌شده تأیید نمی‌شود؛ چیزی در سند درج نشد.",
    "The signature does not verify with the announced certificate; nothing was embedded.",
)
QUEUE_UNAVAILABLE = _kind(
    "QUEUE_UNAVAILABLE", 503, 7,
    "صف کارها (Redis) در دسترس نیست؛ دوباره تلاش کنید.",
    "The job queue (Redis) is unavailable; try again.",
)

# -- the audit log ------------------------------------------------------------------
AUDIT_CHAIN_BROKEN = _kind(
    "AUDIT_CHAIN_BROKEN", 500, 9,
    "زنجیره گزارش ممیزی گسسته است: ردیفی تغییر کرده، حذف یا افزوده شده است.",
    "The audit log's hash chain is broken: an entry was altered, removed or inserted.",
)

# -- backups (pakat backup) ------------------------------------------------------------
BACKUP_INVALID = _kind(
    "BACKUP_INVALID", 422, 3,
    "این پوشه پشتیبانِ پاکت نیست، نسخهٔ آن خوانده نمی‌شود یا پایگاه دادهٔ آن از نوع دیگری است.",
    "This folder is not a Pakat backup, its version is unknown, or it holds another kind of database.",
)
BACKUP_TARGET_NOT_EMPTY = _kind(
    "BACKUP_TARGET_NOT_EMPTY", 409, 3,
    "پایگاه داده یا مخزن اسنادِ مقصد خالی نیست؛ چیزی بازگردانده نشد (با --force جایگزین می‌شود).",
    "The target database or document store is not empty; nothing was restored (--force replaces it).",
)
BACKUP_CORRUPT = _kind(
    "BACKUP_CORRUPT", 422, 9,
    "پشتیبان با فهرست خود نمی‌خواند: فایل، سند یا سرِ گزارش ممیزی تغییر کرده یا گم شده است؛ چیزی بازگردانده نشد.",
    "The backup does not match its manifest: a file, a document or the audit head was altered or is missing;"
    " nothing was restored.",
)
BACKUP_IO_FAILED = _kind(
    "BACKUP_IO_FAILED", 500, 4,
    "پوشهٔ پشتیبان یا مقصد خوانده یا نوشته نشد (مسیر، دسترسی یا جای خالی دیسک را بررسی کنید)؛ چیزی نیمه‌کاره نماند.",
    "The backup folder or the target could not be read or written (check the path, permissions and free space);"
    " nothing was left half-done.",
)
BACKUP_TOOL_MISSING = _kind(
    "BACKUP_TOOL_MISSING", 500, 4,
    "ابزار پشتیبان‌گیری PostgreSQL (pg_dump یا pg_restore) نصب نیست.",
    "PostgreSQL's backup tool (pg_dump or pg_restore) is not installed.",
)
BACKUP_TOOL_FAILED = _kind(
    "BACKUP_TOOL_FAILED", 500, 4,
    "pg_dump یا pg_restore با خطا تمام شد؛ جزئیات را ببینید.",
    "pg_dump or pg_restore failed; see the detail.",
)

# -- tenders and bid envelopes ----------------------------------------------------------
TENDER_NOT_FOUND = _kind(
    "TENDER_NOT_FOUND", 404, 3,
    "چنین مناقصه‌ای برای این سامانه وجود ندارد.",
    "No such tender for this platform.",
)
TENDER_EXISTS = _kind(
    "TENDER_EXISTS", 409, 3,
    "این سامانه پیش‌تر مناقصه‌ای با همین شماره ثبت کرده است.",
    "This platform already has a tender with this reference.",
)
TENDER_PLATFORM_UNKNOWN = _kind(
    "TENDER_PLATFORM_UNKNOWN", 422, 3,
    "این سامانه از آنِ سازمان شما نیست یا سامانه‌ای برای مناقصه برگزیده نشده است.",
    "That platform is not one of your organisation's, or no platform was chosen for the tender.",
)
ENVELOPE_NOT_FOUND = _kind(
    "ENVELOPE_NOT_FOUND", 404, 3,
    "چنین پاکتی در این مناقصه وجود ندارد.",
    "No such envelope in this tender.",
)
ENVELOPE_EXISTS = _kind(
    "ENVELOPE_EXISTS", 409, 3,
    "این پیشنهاددهنده در این مناقصه پاکتی از همین نوع دارد؛ آن را جایگزین یا مسترد کنید.",
    "This bidder already has an envelope of this kind in the tender; replace its documents or withdraw it.",
)
DOCUMENT_IN_ENVELOPE = _kind(
    "DOCUMENT_IN_ENVELOPE", 409, 3,
    "این سند از آنِ پاکت دیگری است یا رسید ارسال است و نمی‌تواند در این پاکت قرار گیرد.",
    "This document belongs to another envelope or is a submission receipt; it cannot join this envelope.",
)
DEADLINE_PASSED = _kind(
    "DEADLINE_PASSED", 409, 3,
    "مهلت ارسال پیشنهاد این مناقصه گذشته است؛ پس از مهلت هیچ چیز در پاکت‌ها تغییر نمی‌کند.",
    "The tender's submission deadline has passed; after it nothing in its envelopes changes.",
)
DEADLINE_NOT_REACHED = _kind(
    "DEADLINE_NOT_REACHED", 409, 3,
    "مهلت ارسال پیشنهاد هنوز نگذشته است؛ پاکت‌ها پس از مهلت گشوده می‌شوند.",
    "The submission deadline has not passed yet; envelopes are opened after it.",
)
ENVELOPE_STATE = _kind(
    "ENVELOPE_STATE", 409, 3,
    "این کار در وضعیت کنونی پاکت ممکن نیست؛ جزئیات را ببینید.",
    "This action is not possible in the envelope's current state; see the detail.",
)
ENVELOPE_INCOMPLETE = _kind(
    "ENVELOPE_INCOMPLETE", 409, 3,
    "پاکت کامل نیست: همهٔ امضاها و مهر لازم روی همهٔ اسناد آن نیست.",
    "The envelope is incomplete: not every document carries every required signature and seal.",
)
SUBMISSION_LATE = _kind(
    "SUBMISSION_LATE", 409, 3,
    "مهر زمانی ارسال پس از مهلت است؛ پیشنهاد پذیرفته نشد و چیزی ثبت نشد.",
    "The submission's timestamp is after the deadline; the bid was refused and nothing was recorded.",
)
OPENING_OUT_OF_ORDER = _kind(
    "OPENING_OUT_OF_ORDER", 409, 3,
    "پاکت‌ها به ترتیب الف، ب، ج گشوده می‌شوند؛ این نوع هنوز نوبتش نیست یا پیش‌تر گشوده شده است.",
    "Envelopes are opened A, then B, then C; this kind is not due yet or was already opened.",
)
ENVELOPE_SEALED = _kind(
    "ENVELOPE_SEALED", 403, 4,
    "این سند در پاکتی ارسال‌شده است و تا گشایش پاکت در دسترس نیست.",
    "This document is in a submitted envelope and cannot be read until the envelope is opened.",
)
SIGNER_ASSURANCE_TOO_LOW = _kind(
    "SIGNER_ASSURANCE_TOO_LOW", 422, 6,
    "سطح اطمینان گواهی امضاکننده از حداقلِ خواسته‌شده برای این پاکت کمتر است.",
    "The signer's certificate is below the minimum assurance level this envelope requires.",
)

# -- the reference agent, at the user's side --------------------------------------
TOKEN_NOT_PRESENT = _kind(
    "TOKEN_NOT_PRESENT", 503, 5,
    "توکن پیدا نشد؛ توکن را وصل کنید و برچسب آن را بررسی کنید.",
    "The token was not found; plug it in and check its label.",
)
NO_CERTIFICATE = _kind(
    "NO_CERTIFICATE", 422, 5,
    "روی توکن گواهی امضایی با کلید خصوصی همراه پیدا نشد.",
    "The token holds no signing certificate with a matching private key.",
)
WRONG_PIN = _kind(
    "WRONG_PIN", 401, 5,
    "رمز (PIN) توکن نادرست است.",
    "The token's PIN is wrong.",
)
PIN_LOCKED = _kind(
    "PIN_LOCKED", 423, 5,
    "رمز توکن قفل شده است؛ با رمز مدیر (SO PIN) یا صادرکننده آن را باز کنید.",
    "The token's PIN is locked; unblock it with the SO PIN or at the issuer.",
)
USER_CANCELLED = _kind(
    "USER_CANCELLED", 400, 8,
    "امضا به خواست کاربر لغو شد.",
    "Signing was cancelled by the user.",
)
SERVER_REQUEST_REFUSED = _kind(
    "SERVER_REQUEST_REFUSED", 502, 6,
    "سرور چیزی برای امضا فرستاد که agent نمی‌تواند آن را توضیح دهد؛ چیزی امضا نشد.",
    "The server asked to sign something the agent cannot account for; nothing was signed.",
)
DOCUMENT_DIGEST_MISMATCH = _kind(
    "DOCUMENT_DIGEST_MISMATCH", 502, 6,
    "آنچه سرور برای امضا فرستاد دقیقاً همان سندی نیست که به شما نشان داده شد (چکیدهٔ سند نمی‌خواند)؛ چیزی امضا"
    " نشد.",
    "What the server asked you to sign is not exactly the document you were shown (the document digest does not"
    " match); nothing was signed.",
)
CERTIFICATE_REJECTED = _kind(
    "CERTIFICATE_REJECTED", 422, 6,
    "سرور گواهی شما را نپذیرفت.",
    "The server rejected your certificate.",
)
SERVER_UNREACHABLE = _kind(
    "SERVER_UNREACHABLE", 503, 7,
    "سرور پاکت در دسترس نیست؛ اتصال شبکه را بررسی کنید.",
    "The Pakat server cannot be reached; check the network connection.",
)
AGENT_LINK_INVALID = _kind(
    "AGENT_LINK_INVALID", 400, 3,
    "پیوند امضا درست نیست؛ پیوند کامل pakat://sign?session=…&secret=… را از سامانه دوباره بگیرید.",
    "The signing link is malformed; copy the whole pakat://sign?session=…&secret=… link from the platform again.",
)
AGENT_LINK_INSECURE = _kind(
    "AGENT_LINK_INSECURE", 400, 3,
    "نشانی سرور در پیوند امضا امن (https) نیست؛ چیزی فرستاده نشد. پیوند را فقط از سامانهٔ رسمی بگیرید.",
    "The server address in the signing link is not secure (https); nothing was sent. Take links only from the"
    " official platform.",
)
PKCS11_MODULE_NOT_FOUND = _kind(
    "PKCS11_MODULE_NOT_FOUND", 503, 5,
    "نرم‌افزار (درایور PKCS#11) توکن پیدا نشد؛ نرم‌افزار توکن را نصب کنید یا مسیر آن را با --module بدهید.",
    "The token's software (PKCS#11 driver) was not found; install the token's software or give its path"
    " with --module.",
)
NO_MATCHING_CERTIFICATE = _kind(
    "NO_MATCHING_CERTIFICATE", 422, 6,
    "هیچ گواهی روی توکن‌های شما از آنِ امضاکننده‌ای نیست که این نشست برایش ساخته شده است؛ رمز پرسیده نشد و"
    " نشست هنوز باز است. توکن درست را وصل کنید.",
    "None of the certificates on your tokens belongs to the signer this session is for; no PIN was asked and"
    " the session is still open. Plug in the right token.",
)
SESSION_ALREADY_SIGNED = _kind(
    "SESSION_ALREADY_SIGNED", 409, 3,
    "این نشست پیش‌تر امضا شده است؛ کاری برای انجام نمانده است.",
    "This session has already been signed; there is nothing left to do.",
)
DOCUMENTS_PARTLY_SIGNED = _kind(
    "DOCUMENTS_PARTLY_SIGNED", 409, 3,
    "برخی سندهای این نشست امضا نشدند؛ دلیل هر یک کنار نام آن آمده است. سندهای امضاشده امضاشده می‌مانند.",
    "Some documents of this session were not signed; each one's reason is given beside its name. "
    "The documents signed stay signed.",
)
SESSION_FAILED = _kind(
    "SESSION_FAILED", 409, 3,
    "این نشست امضا شد اما تکمیل امضا (مهر زمانی و داده‌های اعتبارسنجی) ناموفق بود؛ از سامانه نشست تازه‌ای"
    " بخواهید.",
    "This session was signed but completing the signature (timestamp and validation data) failed; ask the"
    " platform for a new session.",
)
SERVER_NOT_CONFIRMED = _kind(
    "SERVER_NOT_CONFIRMED", 400, 8,
    "این سرور را تأیید نکردید؛ چیزی به آن فرستاده نشد. اگر نشانی آن را نمی‌شناسید، پیوند را از سامانهٔ رسمی بگیرید.",
    "You did not confirm this server; nothing was sent to it. If you do not recognise its address, take the"
    " link from the official platform.",
)
KNOWN_SERVERS_UNREADABLE = _kind(
    "KNOWN_SERVERS_UNREADABLE", 500, 4,
    "فهرست سرورهای تأییدشدهٔ امضاکنندهٔ پاکت خوانده یا نوشته نمی‌شود؛ دسترسی پوشهٔ تنظیمات را بررسی کنید.",
    "Pakat Signer's list of confirmed servers cannot be read or written; check the config folder's permissions.",
)

# -- batches -------------------------------------------------------------------------
BATCH_NOT_FOUND = _kind(
    "BATCH_NOT_FOUND", 404, 3,
    "چنین دسته‌ای (batch) برای این سازمان وجود ندارد.",
    "No such batch for this organisation.",
)
BATCH_NOT_FINISHED = _kind(
    "BATCH_NOT_FINISHED", 409, 3,
    "مهر این دسته هنوز تمام نشده است؛ پس از پایان دوباره بخواهید.",
    "The batch is still being sealed; ask again when it has finished.",
)
BATCH_EMPTY = _kind(
    "BATCH_EMPTY", 400, 3,
    "در درخواست هیچ فایل PDF نیست.",
    "The request holds no PDF file.",
)
ARCHIVE_INVALID = _kind(
    "ARCHIVE_INVALID", 400, 3,
    "فایل zip خراب یا رمزدار است و خوانده نمی‌شود.",
    "The zip file is damaged or encrypted and cannot be read.",
)
ARCHIVE_UNSAFE_PATH = _kind(
    "ARCHIVE_UNSAFE_PATH", 400, 3,
    "نام یکی از فایل‌های zip ناامن است (مسیر مطلق، «..»، پیوند نمادین یا نام تکراری).",
    "A name in the zip is unsafe (absolute path, '..', symbolic link or duplicate).",
)
ARCHIVE_TOO_LARGE = _kind(
    "ARCHIVE_TOO_LARGE", 413, 3,
    "فایل zip بیش از اندازهٔ مجاز باز می‌شود (بمب فشرده‌سازی یا فایل‌های بیش از حد).",
    "The zip expands beyond the allowed size (a compression bomb, or too many or too large files).",
)
ARCHIVE_MEMBER_NOT_PDF = _kind(
    "ARCHIVE_MEMBER_NOT_PDF", 415, 3,
    "یکی از فایل‌های درخواست PDF نیست.",
    "One of the files in the request is not a PDF.",
)
IDEMPOTENCY_KEY_REUSED = _kind(
    "IDEMPOTENCY_KEY_REUSED", 422, 3,
    "این Idempotency-Key پیش‌تر برای درخواستی با محتوای دیگر به کار رفته است.",
    "This Idempotency-Key was already used for a request with different content.",
)
SEAL_RETRIES_EXHAUSTED = _kind(
    "SEAL_RETRIES_EXHAUSTED", 503, 7,
    "مهر این فایل پس از چند تلاش به دلیل در دسترس نبودن سرویس‌ها انجام نشد.",
    "The file could not be sealed after several attempts: a service it needs stayed unavailable.",
)

# -- storage: quotas, retention and deletion ----------------------------------------------
STORAGE_QUOTA_EXCEEDED = _kind(
    "STORAGE_QUOTA_EXCEEDED", 507, 4,
    "سهمیهٔ فضای ذخیره‌سازی این سازمان پر است (حجم یا شمار اسناد)؛ چیزی ذخیره نشد. اسناد یا دسته‌های کهنه را"
    " حذف کنید یا افزایش سهمیه را بخواهید.",
    "The organisation's storage quota (bytes or number of documents) would be exceeded; nothing was stored."
    " Delete old documents or batches, or ask for a larger quota.",
)
DOCUMENT_HELD = _kind(
    "DOCUMENT_HELD", 409, 3,
    "این سند اکنون حذف‌شدنی نیست: در نشست امضای بازی است یا در پاکتی که هنوز گشوده نشده است.",
    "The document cannot be deleted now: it is in an open signing session or in a bid envelope not yet opened.",
)
BATCH_RUNNING = _kind(
    "BATCH_RUNNING", 409, 3,
    "این دسته هنوز در حال مهر است و حذف‌شدنی نیست؛ پس از پایان دوباره بخواهید.",
    "The batch is still being sealed and cannot be deleted; ask again when it has finished.",
)

OUTPUT_CHECK_FAILED = _kind(
    "OUTPUT_CHECK_FAILED", 500, 1,
    "فایل امضاشده از بررسی پایانی پاکت نگذشت، پس بازگردانده یا ذخیره نشد. لطفاً این سند را گزارش کنید.",
    "The signed file failed Pakat's final check, so it was neither returned nor stored. Please report this"
    " document.",
)

VALIDATION_POLICY_INVALID = _kind(
    "VALIDATION_POLICY_INVALID", 400, 3,
    "سیاست اعتبارسنجی خواسته‌شده شناخته نیست یا فایل آن سیاست معتبری نیست.",
    "The validation policy asked for is unknown, or its file is not a valid policy.",
)

PDF_TOO_COMPLEX = _kind(
    "PDF_TOO_COMPLEX", 422, 3,
    "این فایل PDF بیش از حدی که برای اعتبارسنجی پذیرفته می‌شود امضا، فیلد امضا، نسخه یا داده اعتبارسنجی دارد؛"
    " بررسی نشد.",
    "The PDF holds more signatures, signature fields, revisions or validation data than a validation accepts;"
    " it was not checked.",
)
VALIDATION_TIME_EXCEEDED = _kind(
    "VALIDATION_TIME_EXCEEDED", 422, 3,
    "اعتبارسنجی این فایل از زمان مجاز بیشتر طول کشید و متوقف شد؛ این نتیجه چیزی درباره امضاهای آن نمی‌گوید."
    " سند بسیار پرهزینه است یا سرویس سرش شلوغ است.",
    "Validating this file took longer than the time allowed and was stopped; this says nothing about its"
    " signatures. The document is very costly to check, or the service is busy.",
)
VALIDATION_TOO_MANY_FILES = _kind(
    "VALIDATION_TOO_MANY_FILES", 400, 3,
    "در هر بار بیش از حد مجاز فایل فرستاده شده است؛ فایل‌ها را در چند نوبت بفرستید.",
    "More files were sent at once than a validation accepts; send them in several rounds.",
)

VALIDATION_INCOMPLETE = _kind(
    "VALIDATION_INCOMPLETE", 500, 3,
    "اعتبارسنجی این فایل به دلیل خطایی در پاکت کامل نشد؛ این نتیجه چیزی درباره امضاهای آن نمی‌گوید."
    " لطفاً این سند را گزارش کنید.",
    "Pakat could not complete the validation of this file because of an error of its own; this says nothing"
    " about its signatures. Please report this document.",
)

# -- the console's queries: audit, webhook deliveries ----------------------------------
AUDIT_FILTER_INVALID = _kind(
    "AUDIT_FILTER_INVALID", 400, 3,
    "پالایهٔ گزارش رویدادها نادرست است (کنش، کنشگر، موضوع، بازهٔ زمانی یا صفحه).",
    "The audit log filter is invalid (action, actor, subject, time range or page).",
)
DATETIME_INVALID = _kind(
    "DATETIME_INVALID", 400, 3,
    "تاریخ و ساعت نادرست است یا چنین روزی در تقویم نیست؛ آن را به شکل سال/ماه/روز ساعت:دقیقه بنویسید،"
    " مثلاً ۱۴۰۵/۰۹/۲۰ ۱۴:۳۰ (به وقت تهران).",
    "The date and time are malformed or name no real day; write them as year-month-day hour:minute,"
    " e.g. 2026-12-11 14:30 (Tehran time).",
)
WEBHOOK_DELIVERY_NOT_FOUND = _kind(
    "WEBHOOK_DELIVERY_NOT_FOUND", 404, 3,
    "چنین تحویل وب‌هوکی برای این سازمان یا این کلید وجود ندارد.",
    "No such webhook delivery for this organisation or this key.",
)
WEBHOOK_NOT_RETRYABLE = _kind(
    "WEBHOOK_NOT_RETRYABLE", 409, 3,
    "این رویداد وب‌هوک دوباره فرستادنی نیست: یا تحویل شده یا صف هنوز خودش دوباره می‌کوشد.",
    "This webhook event cannot be retried: it was delivered, or the queue is still retrying it itself.",
)
WEBHOOK_EVENT_GONE = _kind(
    "WEBHOOK_EVENT_GONE", 410, 3,
    "متن این رویداد وب‌هوک دیگر در صف نگه داشته نمی‌شود (صف پاک شده یا زمانش گذشته)؛ دوباره فرستادنی نیست.",
    "The queue no longer holds this webhook event's body (it was emptied or the event expired); it cannot be"
    " sent again.",
)
WEBHOOK_NOT_CONFIGURED = _kind(
    "WEBHOOK_NOT_CONFIGURED", 409, 4,
    "برای این سکو دیگر وب‌هوکی پیکربندی نشده است؛ رویداد فرستاده نمی‌شود.",
    "This platform has no webhook configured any more; the event is not sent.",
)

INTERNAL = _kind(
    "INTERNAL", 500, 1,
    "خطای داخلی سرویس.",
    "Internal service error.",
)


class PakatError(Exception):
    """An error with a stable code; ``detail`` adds facts, never secrets."""

    def __init__(self, kind: ErrorKind, detail: str | None = None) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(f"{kind.code}: {kind.en}" + (f" ({detail})" if detail else ""))

    @property
    def code(self) -> str:
        return self.kind.code

    def as_dict(self) -> dict[str, Any]:
        """The JSON body the API returns and the CLI prints with ``--json``."""
        body: dict[str, Any] = {
            "code": self.kind.code,
            "message_fa": self.kind.fa,
            "message_en": self.kind.en,
        }
        if self.detail:
            body["detail"] = self.detail
        return body


class InputError(PakatError):
    """The caller's document or request is unusable."""


class AccessError(PakatError):
    """Authentication, authorisation or configuration refused the request."""


class KeyStoreError(PakatError):
    """The HSM or token could not produce a signature."""


class CertificateRefused(PakatError):
    """A signing certificate failed the checks made before signing."""


class ServiceUnavailable(PakatError):
    """A remote service (TSA, OCSP, CRL) failed; usually worth retrying."""


class IntegrityFailure(PakatError):
    """Stored records fail their integrity check: the audit log's chain does not hold."""
