"""What an application instance shares between its requests."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from hsm_config.deployment import Deployment
from pakat.settings import LazySealService, Settings

EXTENSION_KEY = "pakat"


@dataclass(frozen=True)
class PakatState:
    """Settings, the parsed deployment and the process's (lazy) seal service."""

    settings: Settings
    deployment: Deployment
    seals: LazySealService


def pakat_state() -> PakatState:
    """The state of the application handling the current request."""
    state: PakatState = current_app.extensions[EXTENSION_KEY]
    return state
