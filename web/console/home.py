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
    "console.home_you": ("شما", "You"),
    "console.home_username": ("نام کاربری", "Username"),
    "console.home_organisation": ("سازمان", "Organisation"),
    "console.home_role": ("نقش", "Role"),
    "console.home_surfaces": ("کارهایی که نقش شما اجازه می‌دهد", "What your role lets you do"),
    "console.home_change_password": ("تغییر گذرواژه", "Change your password"),
    "console.home_password_changed": ("گذرواژهٔ شما عوض شد.", "Your password was changed."),
    "console.role_admin": ("مدیر", "Administrator"),
    "console.role_operator": ("کارور", "Operator"),
    "console.role_viewer": ("بیننده", "Viewer"),
    "console.surface_validate": ("اعتبارسنجی امضا", "Validate signatures"),
    "console.surface_tenders": ("مناقصه‌ها و پاکت‌ها", "Tenders and envelopes"),
    "console.surface_batches": ("مهر گروهی", "Bulk sealing"),
    "console.surface_users": ("کاربران", "Users"),
})

# The surfaces known today; the modules that build the others add theirs with web.console.access.surface().
surface("/validate", "console.surface_validate", Role.VIEWER, "surface-validate")
surface("/console/tenders", "console.surface_tenders", Role.VIEWER, "surface-tenders")
surface("/console/batches", "console.surface_batches", Role.OPERATOR, "surface-batches")
surface("/console/admin/users", "console.surface_users", Role.ADMIN, "surface-users")


@bp.get("")
@requires(Role.VIEWER)
def home() -> Response:
    person = current_person()
    organisation = app_services().deployment.organisations.get(person.organisation)
    return render_page("console/home.html", organisation=organisation, surfaces=surfaces_for(person),
                       password_changed=request.args.get("password_changed") == "1")
