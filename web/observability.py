"""Request ids, request metrics and access lines for every request; ``/readyz`` and ``/metrics`` for operators.

Each request gets an id: the caller's ``X-Request-Id`` when it is a plain
token of 8–128 characters, else a fresh one. It is in every log line the
request causes, in the jobs it queues (and so in the worker's lines for
them), and in the answer's ``X-Request-Id`` header.

``/readyz`` and ``/metrics`` answer only the addresses in ``PAKAT_OPS_ALLOW``
(loopback by default) or a caller bearing ``PAKAT_OPS_TOKEN``: they name the
organisations, responders and certificates of the deployment, which the
world need not know. ``/healthz`` stays open and cheap (liveness).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time

from flask import Blueprint, Flask, Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from envelopes.operations import StateCollector
from pakat import errors, logs, metrics
from pakat.errors import AccessError
from web.state import app_services

log = logging.getLogger("pakat.access")
REQUEST_ID_HEADER = "X-Request-Id"

bp = Blueprint("observability", __name__)


def _start() -> None:
    request_id = logs.valid_request_id(request.headers.get(REQUEST_ID_HEADER)) or logs.new_request_id()
    g.pakat_request_id = request_id
    g.pakat_request_id_token = logs.set_request_id(request_id)
    g.pakat_started = time.perf_counter()


def _finish(response: Response) -> Response:
    request_id = g.get("pakat_request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("pakat_started")
    if started is not None:
        seconds = time.perf_counter() - started
        # The rule, not the path: ids in paths would make a series per document, and paths may carry secrets.
        route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        measured = metrics.metrics()
        measured.http_requests.labels(route, request.method, str(response.status_code)).inc()
        measured.http_seconds.labels(route).observe(seconds)
        # The path without its query string: ids are in paths, parameters (and anything pasted there) stay out.
        log.info("%s %s %d %.1f ms", request.method, request.path, response.status_code, seconds * 1000,
                 extra={"method": request.method, "route": route, "path": request.path,
                        "status": response.status_code, "duration_ms": round(seconds * 1000, 1)})
    return response


def _end(_error: BaseException | None) -> None:
    token = g.pop("pakat_request_id_token", None)
    if token is not None:
        logs.reset_request_id(token)


def _allowed() -> bool:
    settings = app_services().settings
    token = settings.ops_token
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in settings.ops_allow)


def _guard() -> None:
    if not _allowed():
        raise AccessError(errors.OPERATIONS_FORBIDDEN)


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready to seal: every required service answers (200), or which one does not (503)."""
    _guard()
    report = app_services().readiness().report()
    response = jsonify(report.as_dict())
    response.status_code = 200 if report.ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def prometheus_metrics() -> ResponseReturnValue:
    """Prometheus text format: every process's counts on this machine, and the state read now."""
    _guard()
    body = metrics.exposition([StateCollector(app_services().readiness())])
    return Response(body, mimetype=None, content_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def register(app: Flask) -> None:
    """Install the request hooks (first, so every other hook's lines carry the id) and the routes."""
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
    app.teardown_request(_end)
    app.register_blueprint(bp)
