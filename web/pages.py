"""Pages for people, Persian first with English beside it."""

from __future__ import annotations

from flask import Blueprint, render_template

import pakat
from pakat.errors import PakatError
from web.security import public_base

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


@bp.get("/")
def index() -> str:
    """The placeholder home page: what Pakat is and how to call the sealing API."""
    try:
        base_url = public_base()
    except PakatError:  # no public URL: the example shows the path alone, never a Host a client wrote
        base_url = ""
    return render_template("index.html", version=pakat.__version__, base_url=base_url)
