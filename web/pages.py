"""Pages for people, Persian first with English beside it."""

from __future__ import annotations

from flask import Blueprint, render_template, request

import pakat

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")


@bp.get("/")
def index() -> str:
    """The placeholder home page: what Pakat is and how to call the sealing API."""
    return render_template("index.html", version=pakat.__version__, base_url=request.host_url.rstrip("/"))
