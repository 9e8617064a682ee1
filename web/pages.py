"""Pages for people, Persian first with English through the language switch."""

from __future__ import annotations

from flask import Blueprint, Response

from pakat.errors import PakatError
from web.look import render_page, words
from web.security import public_base

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

words({
    "home.title": ("امضا و مهر الکترونیکی پاکت‌های مناقصه", "Signing and sealing e-procurement bid envelopes"),
    "home.intro": ("پاکت سندهای PDF مناقصه را با استاندارد PAdES امضا و مهر می‌کند و امضاها را اعتبارسنجی می‌کند.",
                   "Pakat signs and seals e-procurement PDF documents to the PAdES standard and validates "
                   "their signatures."),
    "home.validate": ("اعتبارسنجی فایل امضاشده", "Validate a signed file"),
    "home.validate_text": ("فایل PDF امضاشده را بفرستید و ببینید چه کسی آن را امضا کرده و آیا امضا "
                           "هنوز معتبر است.",
                           "Upload a signed PDF to see who signed it and whether the signature still holds."),
    "home.sign": ("امضا با توکن شخصی", "Signing with a personal token"),
    "home.sign_text": ("سامانهٔ مناقصه برای هر امضا یک نشانی امضا می‌فرستد؛ امضاکننده با باز کردن آن، سند را "
                       "می‌بیند و با توکن خودش در برنامهٔ پاکت امضا می‌کند. این صفحه فقط از راه همان نشانی "
                       "باز می‌شود.",
                       "The tender platform sends a signing link for each signature; the signer opens it, "
                       "sees the document and signs with their own token in the Pakat app. That page is "
                       "only reached through its link."),
    "home.console": ("میز کار سازمان", "The organisation's console"),
    "home.console_text": ("کارکنان سازمان پس از ورود، سندها، مناقصه‌ها، کلیدهای API و گزارش رویدادها را می‌بینند.",
                          "The organisation's staff sign in to see documents, tenders, API keys and the "
                          "audit log."),
    "home.api": ("مهر سازمانی و امضا با API", "Company seal and signing through the API"),
    "home.api_text": ("فایل PDF را با کلید API سازمان بفرستید؛ پاکت آن را با مهر سازمان که در HSM نگه‌داری "
                      "می‌شود مهر می‌کند (سطح‌های B-B، B-T، B-LT و B-LTA). مهر دسته‌ای، نشست‌های امضا و "
                      "مناقصه‌ها نیز با همین API در دسترس‌اند.",
                      "Send a PDF with your organisation's API key; Pakat seals it with the organisation's "
                      "seal key kept in the HSM (levels B-B, B-T, B-LT and B-LTA). Batch sealing, signing "
                      "sessions and tenders use the same API."),
    "home.api_docs": ("راهنمای API", "The API documentation"),
})


@bp.get("/")
def index() -> Response:
    """The home page: what Pakat does and where each part is."""
    try:
        base_url = public_base()
    except PakatError:  # no public URL: the example shows the path alone, never a Host a client wrote
        base_url = ""
    return render_page("index.html", base_url=base_url)
