"""The admin API: ``/api/v1/admin``, for API keys with the ``admin`` scope, on their own organisation only.

API keys (create, list, rotate, revoke; a secret is in the answer once), the
organisation's seal key (generate in the HSM, certificate request, install the
issued certificate, list) and its seal's status, the audit log's entries that
concern the organisation and the chain's check (:mod:`envelopes.audit_queries`),
and its webhooks' settings and delivery log (:mod:`envelopes.webhook_admin`).
Views parse and render; :mod:`envelopes.api_keys` and the other use cases decide. The seal's PIN comes from the
deployment's PIN source, never from a request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, jsonify, request

from envelopes.api_keys import DEFAULT_GRACE, MAX_GRACE, parse_scopes
from envelopes.audit import api_key_actor
from envelopes.audit_queries import DEFAULT_PAGE as AUDIT_PAGE
from envelopes.audit_queries import MAX_PAGE as AUDIT_MAX_PAGE
from envelopes.audit_queries import AuditFilter
from envelopes.seal_keys import MAX_CERTIFICATE_BYTES
from envelopes.webhook_admin import DEFAULT_PAGE as DELIVERY_PAGE
from envelopes.webhook_admin import MAX_PAGE as DELIVERY_MAX_PAGE
from pakat import errors
from pakat.errors import InputError
from signer.seal_keys import RSA_3072
from web.auth import current_caller
from web.documents_api import json_body
from web.inputs import moment, whole_arg
from web.state import app_services

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


def _actor() -> str:
    return api_key_actor(current_caller().reference)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # it carries a secret
    return response


# -- API keys --


@bp.get("/api-keys")
def list_api_keys() -> Response:
    """The organisation's database keys; never a secret."""
    keys = app_services().api_keys().list(current_caller().organisation)
    return jsonify({"keys": [key.as_dict() for key in keys]})


@bp.post("/api-keys")
def create_api_key() -> tuple[Response, int]:
    """A new key of the caller's organisation: ``{"scopes": [...], "label": "..."}``; its secret once."""
    caller = current_caller()
    body = json_body()
    issued = app_services().api_keys().create(caller.organisation, parse_scopes(body.get("scopes")),
                                              _text(body.get("label"), "label"), actor=_actor())
    return _no_store(jsonify(issued.as_dict())), 201


@bp.post("/api-keys/<key_id>/rotate")
def rotate_api_key(key_id: str) -> Response:
    """A new secret (in the answer once); the old one works for ``grace_seconds`` (default a day)."""
    keys = app_services().api_keys()
    keys.get_of(current_caller().organisation, key_id)
    body = json_body()  # an empty body: the default grace
    grace = _grace(body.get("grace_seconds"))
    return _no_store(jsonify(keys.rotate(key_id, actor=_actor(), grace=grace).as_dict()))


@bp.post("/api-keys/<key_id>/revoke")
def revoke_api_key(key_id: str) -> Response:
    """End the key now, its old secret too."""
    keys = app_services().api_keys()
    keys.get_of(current_caller().organisation, key_id)
    return jsonify(keys.revoke(key_id, actor=_actor()).as_dict())


def _grace(raw: Any) -> timedelta:
    if raw is None:
        return DEFAULT_GRACE
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_GRACE.total_seconds():
        raise InputError(errors.REQUEST_INVALID,
                         f"grace_seconds must be a whole number from 0 to {int(MAX_GRACE.total_seconds())}")
    return timedelta(seconds=raw)


def _text(raw: Any, what: str, default: str = "") -> str:
    if raw is None:
        return default
    if not isinstance(raw, str) or len(raw) > 255:
        raise InputError(errors.REQUEST_INVALID, f"{what} must be text of at most 255 characters")
    return raw


def _optional(raw: Any, what: str) -> str | None:
    return _text(raw, what) or None


# -- the organisation's seal key --


@bp.get("/seal-keys")
def list_seal_keys() -> Response:
    """The organisation's seal: token, key, certificate subject, serial, days to expiry."""
    seals = app_services().seal_keys().list(organisation=current_caller().organisation)
    return jsonify({"seals": [seal.as_dict() for seal in seals]})


@bp.post("/seal-keys")
def generate_seal_key() -> tuple[Response, int]:
    """A new key pair in the organisation's token: ``{"algorithm": "rsa-3072"|"ec-p256", "key_label": ...}``."""
    organisation = current_caller().organisation
    body = json_body()
    key = app_services().seal_keys().generate(
        organisation, _text(body.get("algorithm"), "algorithm", RSA_3072), actor=_actor(),
        key_label=_optional(body.get("key_label"), "key_label"))
    return jsonify({"organisation": organisation, **key.as_dict()}), 201


@bp.post("/seal-keys/csr")
def seal_key_request() -> Response:
    """The PKCS#10 request (PEM) for the key: ``{"national_id": ..., "organisation_fa", "common_name",
    "key_label"}``."""
    body = json_body()
    csr = app_services().seal_keys().request(
        current_caller().organisation, national_id=_text(body.get("national_id"), "national_id"),
        organisation_fa=_optional(body.get("organisation_fa"), "organisation_fa"),
        common_name=_optional(body.get("common_name"), "common_name"),
        key_label=_optional(body.get("key_label"), "key_label"))
    return Response(csr.public_bytes(serialization.Encoding.PEM), mimetype="application/pkcs10")


@bp.post("/seal-keys/certificate")
def install_seal_certificate() -> Response:
    """Install the issued certificate: ``{"certificate": PEM, "chain": PEM (optional), "key_label"}``."""
    services = app_services()
    body = json_body(limit=16 * MAX_CERTIFICATE_BYTES)
    installed = services.seal_keys().install(
        current_caller().organisation, _text_blob(body.get("certificate"), "certificate"), actor=_actor(),
        chain_data=_text_blob(body.get("chain"), "chain", optional=True),
        key_label=_optional(body.get("key_label"), "key_label"))
    if installed.active:
        services.seals.close()  # this process's next seal reads the new certificate
    return jsonify(installed.as_dict())


def _text_blob(raw: Any, what: str, *, optional: bool = False) -> bytes:
    if raw is None and optional:
        return b""
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(errors.REQUEST_INVALID, f"{what} must be PEM text")
    return raw.encode("utf-8")


# -- the organisation's seal status, audit log and webhooks --


@bp.get("/seal-status")
def seal_status() -> Response:
    """The organisation's seal: the HSM key reachable or not, the certificate and its days to expiry."""
    return jsonify(app_services().seal_statuses().of(current_caller().organisation).as_dict())


@bp.get("/audit")
def audit_entries() -> Response:
    """The audit entries that concern the organisation, newest first: ``?action=&actor=&subject=&from=&to=
    &before=&limit=``."""
    organisation = current_caller().organisation
    wanted = AuditFilter(
        action=_arg("action"), actor=_arg("actor"), subject=_arg("subject"),
        since=_time_arg("from"), until=_time_arg("to"),
        before=whole_arg("before", default=0, most=2**62, kind=errors.AUDIT_FILTER_INVALID) or None,
        limit=whole_arg("limit", default=AUDIT_PAGE, least=1, most=AUDIT_MAX_PAGE,
                        kind=errors.AUDIT_FILTER_INVALID),
    )
    return jsonify(app_services().organisation_audit().entries(organisation, wanted).as_dict())


@bp.post("/audit/verify")
def audit_verify() -> Response:
    """Check the whole chain: the verdict, and the head's seq and hash to keep somewhere else."""
    current_caller()
    return jsonify(app_services().organisation_audit().verify().as_dict())


@bp.get("/webhooks")
def webhook_settings() -> Response:
    """The organisation's platforms and where their events go (never the secret), and the retry schedule."""
    return jsonify(app_services().webhooks().settings(current_caller().organisation).as_dict())


@bp.get("/webhooks/deliveries")
def webhook_deliveries() -> Response:
    """Every platform of the organisation's delivery attempts, newest first: ``?before=<id>&limit=``."""
    organisation = current_caller().organisation
    before = whole_arg("before", default=0, most=2**62) or None
    limit = whole_arg("limit", default=DELIVERY_PAGE, least=1, most=DELIVERY_MAX_PAGE)
    return jsonify(app_services().webhooks().deliveries(organisation, before=before, limit=limit).as_dict())


def _arg(name: str) -> str | None:
    return request.args.get(name, "").strip() or None


def _time_arg(name: str) -> datetime | None:
    raw = _arg(name)
    return None if raw is None else moment(raw, name, offset_required=True, kind=errors.AUDIT_FILTER_INVALID)
