"""How every page looks and speaks: the language, the words, the layout's variables and the page response.

* :func:`current_lang` — ``?lang=en|fa`` chooses the language and is remembered in
  the ``pakat_lang`` cookie; without either, Persian.
* :func:`words` — each page module registers its word keys (key → (fa, en)) at
  import time; a key registered twice is a programming error and raises, so two
  pages never silently fight over one word.
* :func:`render_page` — a template on ``layout.html`` as an HTML response with
  the pages' Content-Security-Policy (no inline script) and ``no-store``.
* A context processor gives every template ``lang``, ``dir``, ``other``,
  ``other_dir``, ``w(key)``, ``word(key, lang)``, ``switch_url``, ``switch_label``, ``nav_links``,
  ``person`` and ``csrf_token()``; filters ``|when`` (Jalali/Tehran with Persian
  digits in fa, UTC in en) and ``|num`` (Persian digits in fa).

``person``, ``csrf_token`` and extra navigation links come from
:data:`PAGE_HOOKS`, which the console's access module fills in at import time
(by default: no person, an empty token, no extra links), so the layout never
needs to know who installed them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, has_request_context, render_template, request
from werkzeug.datastructures import MultiDict

import pakat
from pakat.dates import format_datetime
from pakat.text import Lang, localize_digits
from web.security import PAGE_CONTENT_SECURITY_POLICY

LANG_COOKIE = "pakat_lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
LANGS: tuple[Lang, ...] = ("fa", "en")

_WORDS: dict[str, tuple[str, str]] = {}


def words(mapping: Mapping[str, tuple[str, str]]) -> None:
    """Register word keys (key → (Persian, English)); a key already registered raises ValueError."""
    clashes = sorted(key for key in mapping if key in _WORDS)
    if clashes:
        raise ValueError(f"word keys already registered: {', '.join(clashes)}")
    for key, pair in mapping.items():
        if len(pair) != 2 or not all(isinstance(text, str) and text for text in pair):
            raise ValueError(f"word {key!r} needs a Persian and an English text")
    _WORDS.update(mapping)


def word(key: str, lang: Lang) -> str:
    """The text of a registered word key in ``lang`` (an unknown key raises KeyError: a typo fails loudly)."""
    fa, en = _WORDS[key]
    return fa if lang == "fa" else en


def w(key: str) -> str:
    """The text of a word key in the current request's language."""
    return word(key, current_lang())


def _parse(value: str | None) -> Lang | None:
    value = (value or "").strip().lower()
    return "en" if value == "en" else "fa" if value == "fa" else None


def current_lang() -> Lang:
    """``?lang=`` if it names a language, else the ``pakat_lang`` cookie, else Persian."""
    return _parse(request.args.get("lang")) or _parse(request.cookies.get(LANG_COOKIE)) or "fa"


def other_lang(lang: Lang) -> Lang:
    """The other language: the switch leads there."""
    return "en" if lang == "fa" else "fa"


def direction(lang: Lang) -> str:
    """The writing direction of a page in ``lang``."""
    return "rtl" if lang == "fa" else "ltr"


def lang_url(lang: Lang) -> str:
    """This page (path and query) in ``lang``, with an explicit ?lang= (the cookie may say otherwise)."""
    args = MultiDict(request.args)
    args.setlist("lang", [lang])
    query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in args.items(multi=True))
    return f"{request.path}?{query}"


def _quote(text: str) -> str:
    return quote(text, safe="")


@dataclass(frozen=True)
class NavLink:
    """One link of the layout's navigation: where it goes and the word key of its text."""

    href: str
    word: str
    id: str = ""


@dataclass
class PageHooks:
    """What other modules plug into every page (the console sets these when it is imported)."""

    person: Callable[[], Any] = lambda: None
    csrf_token: Callable[[], str] = lambda: ""
    nav: list[Callable[[], list[NavLink]]] = field(default_factory=list)


PAGE_HOOKS = PageHooks()


def nav_links() -> list[NavLink]:
    """The layout's navigation: home, validate, API docs, then whatever the hooks add (the console's links)."""
    links = [NavLink("/", "look.nav_home", "nav-home"), NavLink("/validate", "look.nav_validate", "nav-validate"),
             NavLink("/api/docs", "look.nav_api_docs", "nav-api-docs")]
    for hook in PAGE_HOOKS.nav:
        links.extend(hook())
    return links


def when(moment: datetime | None) -> str:
    """A moment for people in the page's language (empty for none)."""
    return "" if moment is None else format_datetime(moment, current_lang())


def num(value: object) -> str:
    """A number (or any text) with Persian digits on a Persian page."""
    return localize_digits(str(value), current_lang())


def _context() -> dict[str, Any]:
    if not has_request_context():  # a template rendered outside a request (a report, a mail) gets none of this
        return {}
    lang = current_lang()
    other = other_lang(lang)
    return {
        "lang": lang,
        "dir": direction(lang),
        "other": other,
        "other_dir": direction(other),
        "w": w,
        "word": word,
        "switch_url": lang_url(other),
        "switch_label": word("look.switch", lang),
        "nav_links": nav_links(),
        "person": PAGE_HOOKS.person(),
        "csrf_token": PAGE_HOOKS.csrf_token,
        "pakat_version": pakat.__version__,
    }


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    """A page on the layout: HTML with the pages' Content-Security-Policy, never cached."""
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CONTENT_SECURITY_POLICY
    # Pages can show who signed a confidential bid or a person's console: no cache keeps them.
    response.headers["Cache-Control"] = "no-store"
    return response


def _remember_lang(response: Response) -> Response:
    chosen = _parse(request.args.get("lang"))
    # Only pages remember the language: a program's JSON answer sets no cookie.
    if chosen and response.mimetype == "text/html" and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=LANG_COOKIE_SECONDS, path="/", secure=request.is_secure,
                            httponly=True, samesite="Lax")
    return response


words({
    "look.name": ("پاکت", "Pakat"),
    "look.tagline": ("امضا و مهر الکترونیکی پاکت‌های مناقصه", "Signing and sealing e-procurement bid envelopes"),
    "look.switch": ("English", "فارسی"),
    "look.nav": ("پیمایش", "Navigation"),
    "look.nav_home": ("خانه", "Home"),
    "look.nav_validate": ("اعتبارسنجی", "Validate"),
    "look.nav_api_docs": ("راهنمای API", "API docs"),
    "look.nav_console": ("میز کار", "Console"),
    "look.skip": ("رفتن به محتوا", "Skip to the content"),
    "look.version": ("نسخه", "version"),
    "look.status": ("وضعیت سرویس", "service status"),
    "look.error": ("خطا", "Error"),
    "look.error_code": ("کد خطا", "Error code"),
    "look.error_status": ("وضعیت HTTP", "HTTP status"),
    "look.back_home": ("بازگشت به خانه", "Back to the home page"),
})


def register(app: Flask) -> None:
    """Give every template the layout's variables and filters, and remember a chosen language."""
    app.context_processor(_context)
    app.add_template_filter(when, "when")
    app.add_template_filter(num, "num")
    app.after_request(_remember_lang)
