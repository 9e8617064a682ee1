"""The organisation's administration, for its administrators: /console/admin/seals, api-keys, webhooks, audit.

Thin views over the use cases the admin API uses too (:mod:`envelopes.seal_status`,
:mod:`envelopes.api_keys`, :mod:`envelopes.webhook_admin`, :mod:`envelopes.audit_queries`),
always for the signed-in person's own organisation: another organisation's key
or delivery is not found (404), never shown. Every change is appended to the
audit log with the person as its actor (``person:<id>``).

A new or rotated API key is shown once, in the answer to the POST that made it
(``no-store``, never in a URL or a log); afterwards only its id, label and scopes.
Revoking asks first on a page of its own, so it works without JavaScript.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, request

from envelopes.api_keys import DEFAULT_GRACE, SCOPES, ApiKeyView, IssuedKey, parse_scopes
from envelopes.audit import person_actor
from envelopes.audit_queries import DEFAULT_PAGE as AUDIT_PAGE
from envelopes.audit_queries import AuditFilter, ChainCheck
from envelopes.database import utcnow
from envelopes.people import Person, Role
from envelopes.webhook_admin import RetryQueued
from pakat import errors
from pakat.dates import parse_day
from pakat.errors import InputError, PakatError
from web.console.access import current_person, requires, surface
from web.inputs import MAX_ROW_ID
from web.look import render_page, words
from web.state import app_services

bp = Blueprint("console_admin", __name__, url_prefix="/console/admin")

#: What a rotated key's old secret may keep working for, as the rotate form offers it (seconds).
GRACE_CHOICES: tuple[int, ...] = (0, 3600, int(DEFAULT_GRACE.total_seconds()), 7 * 24 * 3600)
#: Audit actions a filter offers in its list (the field takes any action or ``noun.`` prefix too).
AUDIT_ACTION_HINTS: tuple[str, ...] = (
    "api_key.", "api_key.created", "api_key.rotated", "api_key.revoked", "batch.", "document.", "envelope.",
    "person.", "seal_key.", "signature.", "webhook.retried",
)

words({
    "admin.surface_seals": ("مهر سازمان", "The organisation's seal"),
    "admin.surface_api_keys": ("کلیدهای API", "API keys"),
    "admin.surface_webhooks": ("وب‌هوک‌ها", "Webhooks"),
    "admin.surface_audit": ("گزارش رویدادها", "Audit log"),
    "admin.nav": ("مدیریت", "Administration"),
    # seals
    "admin.seals_title": ("مهر سازمان", "The organisation's seal"),
    "admin.seal_state": ("وضعیت", "State"),
    "admin.state_ok": ("سالم", "OK"),
    "admin.state_warning": ("هشدار", "Warning"),
    "admin.state_fail": ("خطا", "Failing"),
    "admin.hsm": ("توکن سخت‌افزاری (HSM)", "HSM token"),
    "admin.hsm_reachable": ("در دسترس", "Reachable"),
    "admin.hsm_unreachable": ("در دسترس نیست", "Not reachable"),
    "admin.token_key": ("توکن / کلید", "Token / key"),
    "admin.subject": ("دارندهٔ گواهی", "Certificate subject"),
    "admin.issuer": ("صادرکننده", "Issuer"),
    "admin.serial": ("شمارهٔ سریال", "Serial number"),
    "admin.not_after": ("پایان اعتبار", "Valid until"),
    "admin.days_left": ("روزهای باقی‌مانده", "Days to expiry"),
    "admin.days": ("روز", "days"),
    "admin.warn_days": ("هشدار از چند روز مانده", "Warning from days before"),
    "admin.cert_unreadable": ("گواهی مهر خوانده نشد", "The seal certificate could not be read"),
    "admin.checked_at": ("زمان بررسی", "Checked at"),
    # API keys
    "admin.keys_title": ("کلیدهای API سازمان", "The organisation's API keys"),
    "admin.key_id": ("شناسه", "Id"),
    "admin.key_label": ("برچسب", "Label"),
    "admin.key_scopes": ("دسترسی‌ها", "Scopes"),
    "admin.key_created": ("ساخته شده", "Created"),
    "admin.key_last_used": ("آخرین استفاده", "Last used"),
    "admin.key_state": ("وضعیت", "State"),
    "admin.key_active": ("فعال", "Active"),
    "admin.key_revoked": ("باطل شده", "Revoked"),
    "admin.key_in_grace": ("کلید پیشین تا این زمان کار می‌کند:", "The previous secret works until"),
    "admin.never": ("هرگز", "Never"),
    "admin.actions": ("کارها", "Actions"),
    "admin.no_keys": ("هنوز کلیدی ساخته نشده است.", "No key has been made yet."),
    "admin.new_key": ("ساخت کلید تازه", "Make a new key"),
    "admin.scopes_legend": ("دسترسی‌های کلید", "What the key may do"),
    "admin.create": ("ساخت کلید", "Make the key"),
    "admin.rotate": ("کلید تازه (چرخش)", "Rotate"),
    "admin.grace": ("کلید پیشین کار کند تا", "Old secret keeps working for"),
    "admin.grace_0": ("هیچ (همین حالا باطل)", "None (ends now)"),
    "admin.grace_3600": ("یک ساعت", "One hour"),
    "admin.grace_86400": ("یک روز", "One day"),
    "admin.grace_604800": ("یک هفته", "One week"),
    "admin.revoke": ("باطل کردن", "Revoke"),
    "admin.revoke_title": ("باطل کردن کلید API", "Revoke an API key"),
    "admin.revoke_question": ("این کلید همین حالا باطل می‌شود و هر برنامه‌ای که با آن کار می‌کند دیگر پذیرفته"
                              " نمی‌شود. این کار برگشت‌پذیر نیست.",
                              "The key ends now: every program using it is refused from this moment. This cannot"
                              " be undone."),
    "admin.revoke_confirm": ("بله، باطل شود", "Yes, revoke it"),
    "admin.cancel": ("انصراف", "Cancel"),
    "admin.revoked_done": ("کلید باطل شد.", "The key was revoked."),
    "admin.issued_created": ("کلید تازه ساخته شد.", "The new key was made."),
    "admin.issued_rotated": ("کلید چرخانده شد؛ این رمز تازهٔ آن است.", "The key was rotated; this is its new"
                             " secret."),
    "admin.once": ("این کلید فقط همین یک بار نشان داده می‌شود و دیگر آن را نخواهید دید. همین حالا آن را در"
                   " جای امنی بگذارید.",
                   "This key is shown this once only: you will not see it again. Put it somewhere safe now."),
    "admin.copy": ("رونوشت", "Copy"),
    "admin.copied": ("رونوشت برداشته شد.", "Copied."),
    "admin.copy_failed": ("رونوشت برداشته نشد؛ کلید را خودتان انتخاب کنید.", "Could not copy: select the key"
                          " yourself."),
    "scope.seal": ("مهر سند (API بی‌حالت)", "seal: seal a document (stateless API)"),
    "scope.documents": ("اسناد و نشست‌های امضا", "documents: documents and signing sessions"),
    "scope.batches": ("مهر گروهی", "batches: bulk sealing"),
    "scope.tenders": ("مناقصه‌ها و پاکت‌ها", "tenders: tenders and envelopes"),
    "scope.validate": ("اعتبارسنجی", "validate: validation"),
    "scope.admin": ("مدیریت (کلیدها، مهر، گزارش رویدادها)", "admin: keys, seal, audit log"),
    # webhooks
    "admin.webhooks_title": ("وب‌هوک‌ها", "Webhooks"),
    "admin.platforms": ("سامانه‌های سازمان", "The organisation's platforms"),
    "admin.platform": ("سامانه", "Platform"),
    "admin.url": ("نشانی", "URL"),
    "admin.secret_source": ("رمز از", "Secret read from"),
    "admin.no_webhook": ("بدون وب‌هوک", "No webhook"),
    "admin.retry_policy": ("تلاش دوباره پس از (ثانیه)", "Retried after (seconds)"),
    "admin.timeout": ("مهلت هر تلاش (ثانیه)", "Timeout of an attempt (seconds)"),
    "admin.deliveries": ("گزارش ارسال‌ها", "Delivery log"),
    "admin.no_deliveries": ("هنوز رویدادی فرستاده نشده است.", "No event has been sent yet."),
    "admin.event": ("رویداد", "Event"),
    "admin.attempt": ("تلاش", "Attempt"),
    "admin.at": ("زمان", "Time"),
    "admin.status": ("پاسخ", "Answer"),
    "admin.outcome": ("نتیجه", "Outcome"),
    "admin.outcome_delivered": ("رسید", "Delivered"),
    "admin.outcome_retrying": ("در انتظار تلاش دوباره", "Will retry"),
    "admin.outcome_gave_up": ("ناموفق", "Gave up"),
    "admin.retry": ("ارسال دوباره", "Retry"),
    "admin.retry_queued": ("رویداد دوباره در صف ارسال گذاشته شد؛ تلاش شمارهٔ", "The event is queued again:"
                           " attempt"),
    "admin.retry_waiting": ("این تلاش از پیش در صف است؛ تلاش شمارهٔ", "That attempt was already waiting:"
                            " attempt"),
    "admin.older": ("قدیمی‌ترها", "Older"),
    "admin.newest": ("تازه‌ترین‌ها", "Newest"),
    # audit
    "admin.audit_title": ("گزارش رویدادهای سازمان", "The organisation's audit log"),
    "admin.filters": ("پالایه‌ها", "Filters"),
    "admin.action": ("کار", "Action"),
    "admin.actor": ("انجام‌دهنده", "Actor"),
    "admin.subject_f": ("موضوع", "Subject"),
    "admin.from": ("از روز", "From day"),
    "admin.to": ("تا روز (با خودش)", "To day (inclusive)"),
    "admin.day_hint": ("مثلاً ۱۴۰۵/۰۹/۰۱ (تهران) یا 2026-11-22 (UTC)",
                       "e.g. 2026-11-22 (UTC) or ۱۴۰۵/۰۹/۰۱ (Tehran)"),
    "admin.apply": ("نمایش", "Show"),
    "admin.clear": ("پاک کردن پالایه‌ها", "Clear the filters"),
    "admin.seq": ("ردیف", "Seq"),
    "admin.details": ("جزئیات", "Details"),
    "admin.no_entries": ("رویدادی با این پالایه‌ها نیست.", "No entry matches these filters."),
    "admin.verify": ("بررسی زنجیره", "Verify the chain"),
    "admin.verify_hint": ("زنجیرهٔ کل گزارش رویدادها بررسی می‌شود؛ هش سر زنجیره را جای دیگری نگه دارید تا"
                          " بعداً بتوانید آن را مقایسه کنید.",
                          "The whole audit chain is checked; keep the head hash somewhere else to compare it"
                          " later."),
    "admin.chain_ok": ("زنجیره سالم است.", "The chain is intact."),
    "admin.chain_broken": ("زنجیره شکسته است.", "The chain is broken."),
    "admin.checked_entries": ("رویدادهای بررسی‌شده", "Entries checked"),
    "admin.head_seq": ("ردیف سر زنجیره", "Head seq"),
    "admin.head_hash": ("هش سر زنجیره", "Head hash"),
    "admin.first_bad": ("نخستین ردیف نادرست", "First bad seq"),
})

surface("/console/admin/seals", "admin.surface_seals", Role.ADMIN, "surface-seals")
surface("/console/admin/api-keys", "admin.surface_api_keys", Role.ADMIN, "surface-api-keys")
surface("/console/admin/webhooks", "admin.surface_webhooks", Role.ADMIN, "surface-webhooks")
surface("/console/admin/audit", "admin.surface_audit", Role.ADMIN, "surface-audit")


def _actor(person: Person) -> str:
    return person_actor(person.id)


# -- the seal ------------------------------------------------------------------------------------------------


@bp.get("/seals")
@requires(Role.ADMIN)
def seals() -> Response:
    me = current_person()
    return render_page("console/admin_seals.html", seal=app_services().seal_statuses().of(me.organisation))


# -- API keys ------------------------------------------------------------------------------------------------


def _keys_page(status: int = 200, *, error: PakatError | None = None, issued: IssuedKey | None = None,
               rotated: bool = False, revoked: ApiKeyView | None = None) -> Response:
    me = current_person()
    keys = sorted(app_services().api_keys().list(me.organisation), key=lambda k: k.created_at, reverse=True)
    return render_page("console/admin_keys.html", status=status, keys=keys, scopes=SCOPES, error=error,
                       issued=issued, rotated=rotated, revoked=revoked, grace_choices=GRACE_CHOICES,
                       default_grace=int(DEFAULT_GRACE.total_seconds()), now=utcnow())


@bp.get("/api-keys")
@requires(Role.ADMIN)
def api_keys() -> Response:
    return _keys_page()


@bp.post("/api-keys")
@requires(Role.ADMIN)
def create_api_key() -> Response:
    me = current_person()
    try:
        issued = app_services().api_keys().create(me.organisation, parse_scopes(request.form.getlist("scopes")),
                                                  request.form.get("label", ""), actor=_actor(me))
    except PakatError as error:
        return _keys_page(error.kind.http_status, error=error)
    return _keys_page(201, issued=issued)


def _own_key(me: Person, key_id: str) -> ApiKeyView:
    """The person's organisation's key; API_KEY_NOT_FOUND (404 page) for any other, named or not."""
    return app_services().api_keys().get_of(me.organisation, key_id)


@bp.post("/api-keys/<key_id>/rotate")
@requires(Role.ADMIN)
def rotate_api_key(key_id: str) -> Response:
    me = current_person()
    _own_key(me, key_id)
    try:
        grace = int(request.form.get("grace_seconds", str(GRACE_CHOICES[2])))
        if grace not in GRACE_CHOICES:
            raise ValueError(grace)
    except ValueError:
        return _keys_page(400, error=InputError(errors.REQUEST_INVALID, "grace_seconds"))
    try:
        issued = app_services().api_keys().rotate(key_id, actor=_actor(me), grace=timedelta(seconds=grace))
    except PakatError as error:
        return _keys_page(error.kind.http_status, error=error)
    return _keys_page(issued=issued, rotated=True)


@bp.get("/api-keys/<key_id>/revoke")
@requires(Role.ADMIN)
def revoke_api_key_form(key_id: str) -> Response:
    key = _own_key(current_person(), key_id)
    return render_page("console/admin_revoke.html", key=key)


@bp.post("/api-keys/<key_id>/revoke")
@requires(Role.ADMIN)
def revoke_api_key(key_id: str) -> Response:
    me = current_person()
    _own_key(me, key_id)
    try:
        revoked = app_services().api_keys().revoke(key_id, actor=_actor(me))
    except PakatError as error:
        return _keys_page(error.kind.http_status, error=error)
    return _keys_page(revoked=revoked)


# -- webhooks ------------------------------------------------------------------------------------------------


def _webhooks_page(status: int = 200, *, error: PakatError | None = None,
                   retried: RetryQueued | None = None) -> Response:
    me = current_person()
    hooks = app_services().webhooks()
    before = _positive_arg("before")
    return render_page("console/admin_webhooks.html", status=status, settings=hooks.settings(me.organisation),
                       page=hooks.deliveries(me.organisation, before=before), before=before, error=error,
                       retried=retried)


@bp.get("/webhooks")
@requires(Role.ADMIN)
def webhooks() -> Response:
    return _webhooks_page()


@bp.post(f"/webhooks/deliveries/<int(max={MAX_ROW_ID}):delivery_id>/retry")
@requires(Role.ADMIN)
def retry_delivery(delivery_id: int) -> Response:
    me = current_person()
    # Another organisation's delivery is WEBHOOK_DELIVERY_NOT_FOUND: the 404 page, not this one.
    try:
        retried = app_services().webhooks().retry(me.organisation, delivery_id, actor=_actor(me))
    except PakatError as error:
        if error.kind is errors.WEBHOOK_DELIVERY_NOT_FOUND:
            raise
        return _webhooks_page(error.kind.http_status, error=error)
    return _webhooks_page(202, retried=retried)


# -- the audit log -------------------------------------------------------------------------------------------


def _positive_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**62 else None


def _text_arg(name: str) -> str | None:
    return request.args.get(name, "").strip() or None


def _day(name: str, edge: int) -> datetime | None:
    raw = _text_arg(name)
    if raw is None:
        return None
    try:
        return parse_day(raw)[edge]
    except ValueError:
        raise InputError(errors.AUDIT_FILTER_INVALID, f"{name}: a day such as 1405/09/01 or 2026-11-22") from None


def _audit_page(check: ChainCheck | None = None) -> Response:
    me = current_person()
    fields = {name: request.args.get(name, "").strip()[:200]
              for name in ("action", "actor", "subject", "from", "to")}
    error: PakatError | None = None
    entries: list[Any] = []
    next_before: int | None = None
    try:
        wanted = AuditFilter(action=_text_arg("action"), actor=_text_arg("actor"), subject=_text_arg("subject"),
                             since=_day("from", 0), until=_day("to", 1), before=_positive_arg("before"),
                             limit=AUDIT_PAGE)
        found = app_services().organisation_audit().entries(me.organisation, wanted)
        entries, next_before = found.entries, found.next_before
    except PakatError as exc:
        error = exc
    kept = {k: v for k, v in fields.items() if v}
    older = f"?{urlencode({**kept, 'before': next_before})}" if next_before is not None else None
    newest = f"?{urlencode(kept)}" if request.args.get("before") else None
    # People are shown by their username, not only as person:<id>: the organisation's own people only.
    names = {f"person:{p.id}": p.username for p in app_services().people().list(me.organisation)}
    return render_page("console/admin_audit.html", status=error.kind.http_status if error else 200,
                       entries=entries, fields=fields, error=error, older=older, newest=newest, check=check,
                       names=names, action_hints=AUDIT_ACTION_HINTS, filter_query=urlencode(kept))


@bp.get("/audit")
@requires(Role.ADMIN)
def audit() -> Response:
    return _audit_page()


@bp.post("/audit/verify")
@requires(Role.ADMIN)
def verify_audit() -> Response:
    return _audit_page(app_services().organisation_audit().verify())
