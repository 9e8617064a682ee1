"""Flask application factory and blueprints (api, agent, pages; /validate, /sign, /api/docs; the console)."""

from __future__ import annotations

import logging

from flask import Flask

from envelopes.schema import check_current
from envelopes.services import Services
from hsm_config.deployment import load_deployment
from pakat.settings import Settings
from web import (
    admin_api,
    agent,
    api,
    api_docs,
    batches_api,
    documents_api,
    errors,
    health,
    inputs,
    look,
    observability,
    pages,
    security,
    sessions_api,
    sign_page,
    tenders_api,
    throttle,
    uploads,
    validate_page,
)
from web.console import access as console_access
from web.console import admin as console_admin
from web.console import auth as console_auth
from web.console import batches as console_batches
from web.console import home as console_home
from web.console import tenders as console_tenders
from web.console import users as console_users
from web.state import EXTENSION_KEY

log = logging.getLogger(__name__)

# Room for the multipart envelope and the small form fields around the PDF, so a
# PDF just under the limit is not refused for its packaging; the seal service
# then checks the PDF itself against the exact limit.
UPLOAD_MARGIN_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the application from settings (default: the environment).

    The deployment file is parsed now, so a broken configuration stops the process
    at start; the HSM is only opened by the first request that seals, after any
    fork (see :class:`envelopes.services.LazySealService`).
    """
    settings = settings or Settings.from_env()
    deployment = load_deployment(settings.config)
    settings.ensure_tmp()
    check_current(settings.database_url)  # `pakat serve` migrated it; a stale schema must not serve
    services = Services.from_settings(settings, deployment)

    app = Flask(__name__, static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=deployment.max_pdf_bytes + UPLOAD_MARGIN_BYTES,
        PAKAT_MAX_PDF_BYTES=deployment.max_pdf_bytes,
        PAKAT_TMP=str(settings.tmp),
    )
    # Persian in JSON stays readable instead of \u escapes.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = services

    observability.register(app)
    uploads.register(app)
    errors.register(app)
    inputs.register(app)
    security.register(app)
    look.register(app)
    throttle.register(app, services)
    console_access.register(app)  # after the throttle: a locked-out address is refused before any CSRF check
    for blueprint in (health.bp, api.bp, batches_api.bp, documents_api.bp, sessions_api.bp, tenders_api.bp,
                      agent.bp, pages.bp, validate_page.bp, sign_page.bp, admin_api.bp, api_docs.bp,
                      console_auth.bp, console_home.bp, console_users.bp, console_admin.bp,
                      console_batches.bp, console_tenders.bp):
        app.register_blueprint(blueprint)
    return app
