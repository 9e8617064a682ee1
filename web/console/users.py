"""The organisation's people, for its administrators: /console/admin/users.

List, add (with a one-time password shown once), disable and enable, reset a
password (a new one-time password, shown once), change a role. Only the admin's
own organisation's people are listed or reached: another's is PERSON_NOT_FOUND.
The refusals of the domain (LAST_ADMIN, SELF_CHANGE_REFUSED, USERNAME_TAKEN …)
come back on the page with their code.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from envelopes.audit import person_actor
from envelopes.people import ROLES, Person, Role
from pakat.errors import PakatError
from web.console.access import current_person, requires
from web.look import render_page, words
from web.state import app_services

bp = Blueprint("console_users", __name__, url_prefix="/console/admin/users")

words({
    "console.users_title": ("کاربران سازمان", "The organisation's people"),
    "console.users_display_name": ("نام نمایشی", "Display name"),
    "console.users_state": ("وضعیت", "State"),
    "console.users_active": ("فعال", "Active"),
    "console.users_disabled": ("غیرفعال", "Disabled"),
    "console.users_must_change": ("باید گذرواژه را عوض کند", "Must change password"),
    "console.users_last_sign_in": ("آخرین ورود", "Last sign-in"),
    "console.users_never": ("هرگز", "Never"),
    "console.users_actions": ("کارها", "Actions"),
    "console.users_add": ("افزودن کاربر", "Add a person"),
    "console.users_add_submit": ("افزودن", "Add"),
    "console.users_disable": ("غیرفعال کردن", "Disable"),
    "console.users_enable": ("فعال کردن", "Enable"),
    "console.users_reset": ("گذرواژهٔ یک‌بارمصرف", "Reset password"),
    "console.users_change_role": ("تغییر نقش", "Change role"),
    "console.users_new_role": ("نقش تازه", "New role"),
    "console.users_you": ("(شما)", "(you)"),
    "console.users_one_time": ("گذرواژهٔ یک‌بارمصرف — فقط همین یک بار نشان داده می‌شود؛ به خود کاربر بدهید. در نخستین"
                       " ورود باید عوض شود:",
                       "One-time password — shown this once only; give it to the person. It must be changed at"
                       " the first sign-in:"),
    "console.users_done": ("انجام شد.", "Done."),
})


def _page(status: int = 200, *, error: PakatError | None = None, issued: tuple[Person, str] | None = None,
          done: bool = False) -> Response:
    me = current_person()
    found = app_services().people().list(me.organisation)
    return render_page("console/users.html", status=status, people=found, me=me, roles=ROLES, error=error,
                       issued=issued, done=done)


@bp.get("")
@requires(Role.ADMIN)
def users() -> Response:
    return _page()


@bp.post("")
@requires(Role.ADMIN)
def add() -> Response:
    me = current_person()
    form = request.form
    try:
        created = app_services().people().create(me.organisation, form.get("username", ""), form.get("role", ""),
                                                 actor=person_actor(me.id),
                                                 display_name=form.get("display_name") or None)
    except PakatError as error:
        return _page(error.kind.http_status, error=error)
    assert created.one_time_password is not None  # no password was given: one was made
    return _page(201, issued=(created.person, created.one_time_password))


def _act(person_id: str, action: str) -> Response:
    me = current_person()
    people = app_services().people()
    actor = person_actor(me.id)
    try:
        if action in ("disable", "enable"):
            people.set_disabled(me.organisation, person_id, action == "disable", actor=actor, by=me.id)
        elif action == "role":
            people.change_role(me.organisation, person_id, request.form.get("role", ""), actor=actor, by=me.id)
        else:
            given = people.reset_password(me.organisation, person_id, actor=actor, by=me.id)
            return _page(issued=(given.person, given.password))
    except PakatError as error:
        return _page(error.kind.http_status, error=error)
    return _page(done=True)


@bp.post("/<person_id>/disable")
@requires(Role.ADMIN)
def disable(person_id: str) -> Response:
    return _act(person_id, "disable")


@bp.post("/<person_id>/enable")
@requires(Role.ADMIN)
def enable(person_id: str) -> Response:
    return _act(person_id, "enable")


@bp.post("/<person_id>/role")
@requires(Role.ADMIN)
def change_role(person_id: str) -> Response:
    return _act(person_id, "role")


@bp.post("/<person_id>/reset-password")
@requires(Role.ADMIN)
def reset_password(person_id: str) -> Response:
    return _act(person_id, "reset")
