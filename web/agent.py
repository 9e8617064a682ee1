"""The signing-agent protocol (``/agent/v1``): sessions a user's token signs through.

Empty for now; it is registered so the URL space and the error handling are in
place when the two-phase flow of DESIGN.md lands.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("agent", __name__, url_prefix="/agent/v1")
