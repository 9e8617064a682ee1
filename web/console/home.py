"""The console's home, GET /console: who you are, your organisation and role, and what your role may reach."""

from __future__ import annotations

from flask import Blueprint, Response, request

from envelopes.people import Role
from web.console.access import current_person, requires, surface, surfaces_for
from web.look import render_page, words
from web.state import app_services

bp = Blueprint("console_home", __name__, url_prefix="/console")

words({
    "console.home_title": ("میز کار", "Console"),
    "home.you": ("شما", "You"),
    "home.username": ("نام کاربری", "Username"),
    "home.organisation": ("سازمان", "Organisation"),
    "home.role": ("نقش", "Role"),
    "home.surfaces": ("کارهایی که نقش شما اجازه می‌دهد", "What your role lets you do"),
    "home.change_password": ("تغییر گذرواژه", "Change your password"),
    "home.password_changed": ("گذرواژهٔ شما عوض شد.", "Your password was changed."),
    "role.admin": ("مدیر", "Administrator"),
    "role.operator": ("کارور", "Operator"),
    "role.viewer": ("بیننده", "Viewer"),
    "surface.validate": ("اعتبارسنجی امضا", "Validate signatures"),
    "surface.tenders": ("مناقصه‌ها و پاکت‌ها", "Tenders and envelopes"),
    "surface.batches": ("مهر گروهی", "Bulk sealing"),
    "surface.users": ("کاربران", "Users"),
})

# The surfaces known today; the modules that build the others add theirs with web.console.access.surface().
surface("/validate", "surface.validate", Role.VIEWER, "surface-validate")
surface("/console/tenders", "surface.tenders", Role.VIEWER, "surface-tenders")
surface("/console/batches", "surface.batches", Role.OPERATOR, "surface-batches")
surface("/console/admin/users", "surface.users", Role.ADMIN, "surface-users")


@bp.get("")
@requires(Role.VIEWER)
def home() -> Response:
    person = current_person()
    organisation = app_services().deployment.organisations.get(person.organisation)
    return render_page("console/home.html", organisation=organisation, surfaces=surfaces_for(person),
                       password_changed=request.args.get("password_changed") == "1")
