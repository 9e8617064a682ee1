"""Who is signed in to the console, what their role allows, and the CSRF check of every console form.

* :func:`current_person` — the signed-in person; without one a page redirects to
  ``/console/sign-in?next=<this path>`` (a JSON fetch gets 401 SIGN_IN_REQUIRED),
  and a person holding a one-time password is sent to change it first.
* :func:`requires` — a view decorator: admin ⊃ operator ⊃ viewer; a lower role
  gets the 403 ROLE_FORBIDDEN page (JSON 403 for a fetch).
* CSRF: every non-GET request under ``/console`` must carry the token of its
  session (form field ``csrf_token`` or header ``X-CSRF-Token``), else 403
  CSRF_INVALID, checked before any view. The token is an HMAC of the session's
  cookie (:func:`envelopes.people.csrf_token_for`); before sign-in, of a
  pre-session cookie, so the sign-in form is protected too.

The session cookie (``pakat_console``) is HttpOnly, ``Path=/console``,
``SameSite=Strict`` (no other site's page can make the browser send it, not even
a link: following a link to the console from elsewhere shows the sign-in page
once, a fair price for the console's actions), and ``Secure`` when Pakat is
served over https (the request, or PAKAT_PUBLIC_URL).
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlsplit

from flask import Flask, Response, g, jsonify, redirect, request

from envelopes.people import ConsoleSession, Person, Role, csrf_token_for, new_token
from pakat import errors
from pakat.errors import AccessError, ErrorKind, PakatError
from web.look import PAGE_HOOKS, NavLink, render_page, words
from web.state import app_services

log = logging.getLogger(__name__)

COOKIE = "pakat_console"
PRE_COOKIE = "pakat_console_pre"
COOKIE_PATH = "/console"
PREFIX = "/console"
SIGN_IN_PATH = "/console/sign-in"
PASSWORD_PATH = "/console/account/password"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_NO_SESSION = object()

F = TypeVar("F", bound=Callable[..., Any])


class SignInRequired(AccessError):
    """No one is signed in: a page redirects to the sign-in page, a fetch gets 401."""

    def __init__(self) -> None:
        super().__init__(errors.SIGN_IN_REQUIRED)


class PasswordChangeRequired(AccessError):
    """The person signed in with a one-time password: their own password comes first."""

    def __init__(self) -> None:
        super().__init__(errors.SIGN_IN_REQUIRED, "change the one-time password first")


class ConsoleRefused(AccessError):
    """A console refusal shown as the console's 403 page: ROLE_FORBIDDEN or CSRF_INVALID."""

    def __init__(self, kind: ErrorKind) -> None:
        super().__init__(kind)


@dataclass(frozen=True)
class Surface:
    """A part of the console the home page links to, for the roles that may use it."""

    href: str
    word: str
    role: Role
    id: str = ""


#: The console's surfaces, in the home page's order; each surface's module may add its own (:func:`surface`).
SURFACES: list[Surface] = []


def surface(href: str, word: str, role: Role, id: str = "") -> None:
    """Add a link to the console's home page for people whose role allows ``role``.

    The surface's own module may register its href again (with its own word and role): the later one
    takes the earlier one's place, so the home page's placeholders give way to the real pages.
    """
    entry = Surface(href, word, role, id)
    for index, known in enumerate(SURFACES):
        if known.href == href:
            SURFACES[index] = entry
            return
    SURFACES.append(entry)


def surfaces_for(person: Person) -> list[Surface]:
    return [s for s in SURFACES if person.may(s.role)]


def cookie_secure() -> bool:
    """Whether console cookies get ``Secure``: served over https here or behind the public URL."""
    return request.is_secure or (app_services().settings.public_url or "").startswith("https://")


def current_session() -> ConsoleSession | None:
    """The live session of the request's cookie (looked up once per request), or None."""
    found = g.get("pakat_console_session", _NO_SESSION)
    if found is _NO_SESSION:
        token = request.cookies.get(COOKIE, "")
        found = app_services().people().session(token) if token else None
        g.pakat_console_session = found
    return cast(ConsoleSession | None, found)


def optional_person() -> Person | None:
    """The signed-in person, or None (for the layout: never raises)."""
    try:
        session = current_session()
    except Exception:  # a page about a failure (the database's, say) must still render
        log.exception("could not read the console session")
        return None
    return session.person if session is not None else None


def current_person(*, pending_password: bool = False) -> Person:
    """The signed-in person; SignInRequired without one, PasswordChangeRequired while a one-time password holds.

    ``pending_password``: the page that changes it (and sign-out) accept such a person.
    """
    session = current_session()
    if session is None:
        raise SignInRequired()
    if session.person.must_change_password and not pending_password:
        raise PasswordChangeRequired()
    return session.person


def requires(role: Role) -> Callable[[F], F]:
    """A console view for people whose role allows ``role``; ROLE_FORBIDDEN (403 page) for the others."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            person = current_person()
            if not person.may(role):
                raise ConsoleRefused(errors.ROLE_FORBIDDEN)
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


# -- CSRF ---------------------------------------------------------------------------------------


def _cookie_token() -> tuple[str, bool]:
    """The token the CSRF token derives from: the live session's, else the pre-session cookie's (made now)."""
    session = current_session()
    if session is not None:
        return request.cookies.get(COOKIE, ""), True
    pre = request.cookies.get(PRE_COOKIE, "") or g.get("pakat_console_pre", "")
    if not pre:
        pre = new_token()
        g.pakat_console_pre = pre  # set as a cookie by _set_pre_cookie
    return pre, False


def csrf_token() -> str:
    """The value of the hidden ``csrf_token`` field of every console form."""
    if not request.path.startswith(PREFIX):
        return ""  # the cookies live under /console: a form elsewhere has no session to tie to
    token, _ = _cookie_token()
    return csrf_token_for(token)


def _check_csrf() -> None:
    if not (request.path == PREFIX or request.path.startswith(PREFIX + "/")) or request.method in SAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER, "")
    if not presented:
        presented = request.form.get(CSRF_FIELD, "")
    cookie = COOKIE if current_session() is not None else PRE_COOKIE
    token = request.cookies.get(cookie, "")
    if not token or not presented or not hmac.compare_digest(presented.encode(), csrf_token_for(token).encode()):
        raise ConsoleRefused(errors.CSRF_INVALID)


def _set_pre_cookie(response: Response) -> Response:
    pre = g.get("pakat_console_pre")
    if pre:
        response.set_cookie(PRE_COOKIE, pre, path=COOKIE_PATH, httponly=True, samesite="Strict",
                            secure=cookie_secure())
    return response


# -- answers --------------------------------------------------------------------------------------


def safe_next(raw: str | None) -> str:
    """Where to go after sign-in: a path of the console on this site, never an absolute URL; else /console."""
    target = (raw or "").strip()
    if not target.startswith(PREFIX) or "\\" in target or any(ord(c) < 0x21 for c in target):
        return PREFIX
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not (parts.path == PREFIX or parts.path.startswith(PREFIX + "/")):
        return PREFIX
    return target


def _wants_json() -> bool:
    if request.path.startswith(PREFIX + "/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and "text/html" not in request.accept_mimetypes


def _json_refusal(error: PakatError) -> Response:
    response = jsonify({"error": error.as_dict()})
    response.status_code = error.kind.http_status
    return response


def _sign_in_required(error: SignInRequired) -> Response:
    if _wants_json():
        return _json_refusal(error)
    target = SIGN_IN_PATH
    if request.method == "GET":
        here = request.full_path.rstrip("?") if request.query_string else request.path
        target += "?next=" + quote(safe_next(here), safe="/")
    return cast(Response, redirect(target, 303))


def _password_change_required(error: PasswordChangeRequired) -> Response:
    if _wants_json():
        return _json_refusal(error)
    return cast(Response, redirect(PASSWORD_PATH, 303))


def _refused(error: ConsoleRefused) -> Response:
    log.info("console refused: %s %s", error.code, request.path)
    if _wants_json():
        return _json_refusal(error)
    return render_page("console/refused.html", status=error.kind.http_status, error=error)


# -- the layout's hooks -----------------------------------------------------------------------------


def _nav() -> list[NavLink]:
    if optional_person() is None:
        return [NavLink(PREFIX, "look.nav_console", "nav-console")]
    return [NavLink(PREFIX, "look.nav_console", "nav-console"),
            NavLink("/console/sign-out", "console.sign_out", "nav-sign-out")]


words({
    "console.sign_out": ("خروج", "Sign out"),
    "console.refused_title": ("اجازه داده نشد", "Not allowed"),
    "console.to_home": ("بازگشت به میز کار", "Back to the console"),
})


def register(app: Flask) -> None:
    """Check CSRF before every console view, answer the console's refusals, plug the person into pages."""
    app.before_request(_check_csrf)
    app.after_request(_set_pre_cookie)
    app.register_error_handler(SignInRequired, _sign_in_required)
    app.register_error_handler(PasswordChangeRequired, _password_change_required)
    app.register_error_handler(ConsoleRefused, _refused)
    PAGE_HOOKS.person = optional_person
    PAGE_HOOKS.csrf_token = csrf_token
    if _nav not in PAGE_HOOKS.nav:
        PAGE_HOOKS.nav.append(_nav)
