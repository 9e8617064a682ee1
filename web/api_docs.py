"""/api/docs: the API documentation for people, rendered in the browser from /api/v1/openapi.json.

Redoc's standalone bundle is vendored (web/static/vendor/redoc, re-vendored by
packaging/vendor-redoc.sh) and booted by web/static/api-docs.js: no inline
script and nothing from another origin. Its policy differs from the other
pages' only in what the bundle needs: inline styles (styled-components) and a
blob: worker (its search).
"""

from __future__ import annotations

from flask import Blueprint, Response

from web.look import render_page, words
from web.security import DOCS_CONTENT_SECURITY_POLICY

bp = Blueprint("api_docs", __name__)

words({
    "docs.title": ("راهنمای API پاکت", "Pakat API documentation"),
    "docs.intro": ("شرح کامل API (OpenAPI 3.1) به انگلیسی؛ همین شرح به صورت JSON در این نشانی است:",
                   "The whole API (OpenAPI 3.1); the same description as JSON is at"),
    "docs.loading": ("در حال بارگذاری راهنما…", "Loading the documentation…"),
})


@bp.get("/api/docs")
def docs() -> Response:
    """The documentation page; the browser renders the operations from the OpenAPI description."""
    response = render_page("api_docs.html")
    response.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    return response
