"""Signing in and out of the console, and a person's own password: /console/sign-in, /sign-out, /account/password.

Thin views over :class:`envelopes.people.People`. A failed sign-in answers the
same whatever was wrong (SIGN_IN_FAILED) and counts towards the client
address's lockout too (:func:`web.throttle.note_refusal`), on top of the
account's own. The password never reaches a log, a URL or a page.
"""

from __future__ import annotations

from typing import cast

from flask import Blueprint, Response, redirect, request

from envelopes.people import PASSWORD_MIN
from pakat.errors import AccessError, PakatError
from web.console.access import (
    COOKIE,
    COOKIE_PATH,
    PREFIX,
    cookie_secure,
    current_person,
    current_session,
    safe_next,
)
from web.look import render_page, words
from web.security import client_address
from web.state import app_services
from web.throttle import note_refusal

bp = Blueprint("console_auth", __name__, url_prefix="/console")

words({
    "console.auth_sign_in": ("ورود به میز کار", "Sign in to the console"),
    "console.auth_username": ("نام کاربری", "Username"),
    "console.auth_password": ("گذرواژه", "Password"),
    "console.auth_submit": ("ورود", "Sign in"),
    "console.auth_signed_out": ("از میز کار خارج شدید.", "You have signed out of the console."),
    "console.auth_sign_out_title": ("خروج از میز کار", "Sign out of the console"),
    "console.auth_sign_out_question": ("می‌خواهید از میز کار خارج شوید؟",
                                       "Do you want to sign out of the console?"),
    "console.auth_password_title": ("تغییر گذرواژه", "Change your password"),
    "console.auth_must_change": ("گذرواژهٔ یک‌بارمصرف شما باید پیش از هر کاری عوض شود.",
                         "Your one-time password must be changed before anything else."),
    "console.auth_current_password": ("گذرواژهٔ کنونی", "Current password"),
    "console.auth_new_password": ("گذرواژهٔ تازه", "New password"),
    "console.auth_repeat_password": ("تکرار گذرواژهٔ تازه", "Repeat the new password"),
    "console.auth_password_rule": (f"دست‌کم {PASSWORD_MIN} نویسه، نه همان نام کاربری.",
                           f"At least {PASSWORD_MIN} characters, not your username."),
    "console.auth_passwords_differ": ("دو گذرواژهٔ تازه یکی نیستند.", "The two new passwords differ."),
    "console.auth_change": ("تغییر گذرواژه", "Change password"),
})


def _sign_in_page(status: int = 200, error: PakatError | None = None, username: str = "",
                  next_path: str = PREFIX) -> Response:
    return render_page("console/sign_in.html", status=status, error=error, username=username, next=next_path,
                       signed_out=request.args.get("signed_out") == "1")


@bp.get("/sign-in")
def sign_in_form() -> Response:
    next_path = safe_next(request.args.get("next"))
    if current_session() is not None:
        return cast(Response, redirect(next_path, 303))
    return _sign_in_page(next_path=next_path)


@bp.post("/sign-in")
def sign_in() -> Response:
    next_path = safe_next(request.form.get("next"))
    username = request.form.get("username", "")[:64]
    try:
        signed = app_services().people().sign_in(username, request.form.get("password", ""),
                                                  address=client_address())
    except AccessError as error:
        note_refusal(error)  # a wrong password counts towards the address's lockout, like a wrong API key
        return _sign_in_page(error.kind.http_status, error, username, next_path)
    target = "/console/account/password" if signed.person.must_change_password else next_path
    response = cast(Response, redirect(target, 303))
    # The cookie dies with the session's absolute end; the server enforces both ends whatever the browser keeps.
    response.set_cookie(COOKIE, signed.token, max_age=app_services().settings.console_session_seconds,
                        path=COOKIE_PATH, httponly=True, samesite="Strict", secure=cookie_secure())
    return response


@bp.get("/sign-out")
def sign_out_form() -> Response:
    if current_session() is None:
        return cast(Response, redirect("/console/sign-in", 303))
    return render_page("console/sign_out.html")


@bp.post("/sign-out")
def sign_out() -> Response:
    session = current_session()
    if session is not None:
        app_services().people().sign_out(session, address=client_address())
    response = cast(Response, redirect("/console/sign-in?signed_out=1", 303))
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict", secure=cookie_secure())
    return response


def _password_page(status: int = 200, error: PakatError | None = None, mismatch: bool = False) -> Response:
    person = current_person(pending_password=True)
    return render_page("console/password.html", status=status, error=error, mismatch=mismatch,
                       must_change=person.must_change_password)


@bp.get("/account/password")
def password_form() -> Response:
    return _password_page()


@bp.post("/account/password")
def change_password() -> Response:
    current_person(pending_password=True)
    session = current_session()
    assert session is not None  # current_person found it
    new = request.form.get("new_password", "")
    if new != request.form.get("repeat_password", ""):
        return _password_page(422, mismatch=True)
    try:
        app_services().people().change_password(session, request.form.get("current_password", ""), new,
                                                 address=client_address())
    except PakatError as error:
        if isinstance(error, AccessError):
            note_refusal(error)
        return _password_page(error.kind.http_status, error)
    return cast(Response, redirect("/console?password_changed=1", 303))
