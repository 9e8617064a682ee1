"""What an application instance shares between its requests: its :class:`~envelopes.services.Services`."""

from __future__ import annotations

from flask import current_app

from envelopes.services import Services

EXTENSION_KEY = "pakat"


def app_services() -> Services:
    """The services of the application handling the current request."""
    services: Services = current_app.extensions[EXTENSION_KEY]
    return services
