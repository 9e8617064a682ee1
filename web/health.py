"""Liveness for load balancers and ``./dev.sh start``."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

import pakat

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers; deliberately touches neither the HSM nor any secret."""
    return jsonify(status="ok", version=pakat.__version__)
