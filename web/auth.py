"""API keys: ``Authorization: Bearer <key>``, each bound to one organisation and carrying scopes.

The keys live in the database (:mod:`envelopes.api_keys`, ``pakat api-key``) or,
for older deployments, in the deployment YAML. Every route that takes a key
needs the scope of its group (:data:`ROUTE_SCOPES`), checked here in one place:
a route missing from that table refuses every key, so a new route cannot slip
through without a scope.
"""

from __future__ import annotations

from flask import g, request

from envelopes.api_keys import ADMIN, BATCHES, DOCUMENTS, SEAL, TENDERS, VALIDATE, Caller
from pakat import errors
from pakat.errors import AccessError
from web.state import app_services

#: The scopes each blueprint (or single endpoint, which wins) demands; none: any valid key.
ROUTE_SCOPES: dict[str, tuple[str, ...]] = {
    "api.seal": (SEAL,),
    "api.validate": (VALIDATE,),
    "api.webhook_deliveries": (),  # a platform's own delivery record, whatever else it may do
    "api.retry_webhook_delivery": (),  # its own events; with admin, any of the organisation's (the view decides)
    "documents": (DOCUMENTS,),
    "documents.seal_document": (DOCUMENTS, SEAL),  # a stored document, under the organisation's seal
    "signing_sessions": (DOCUMENTS,),
    "batches": (BATCHES,),
    "tenders": (TENDERS,),
    "admin": (ADMIN,),
}
_CALLER = "pakat_caller"


def _presented_key() -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return None
    return key


def current_caller() -> Caller:
    """The caller behind the request's API key, allowed the route's scope; API_KEY_MISSING / _INVALID /
    API_KEY_SCOPE_MISSING otherwise.

    Checked from the headers alone, before any body is read, so an unauthenticated
    caller cannot make the server spool an upload to disk. The key never reaches a
    log or an error: the database key's id finds its row and only hashes are compared.
    """
    found: Caller | None = g.get(_CALLER)
    if found is not None:
        return found
    key = _presented_key()
    if key is None:
        raise AccessError(errors.API_KEY_MISSING)
    caller = app_services().api_keys().authenticate(key)
    if caller is None:
        raise AccessError(errors.API_KEY_INVALID)
    _check_scope(caller)
    g.setdefault(_CALLER, caller)
    return caller


def _check_scope(caller: Caller) -> None:
    endpoint = request.endpoint or ""
    blueprint = request.blueprint or ""
    if endpoint in ROUTE_SCOPES:
        needed = ROUTE_SCOPES[endpoint]
    elif blueprint in ROUTE_SCOPES:
        needed = ROUTE_SCOPES[blueprint]
    else:
        raise AccessError(errors.API_KEY_SCOPE_MISSING, f"{endpoint or 'this route'} takes no API key")
    missing = [scope for scope in needed if scope not in caller.scopes]
    if missing:
        raise AccessError(errors.API_KEY_SCOPE_MISSING, f"needs the {' and '.join(missing)} scope")


def organisation_of_caller() -> str:
    """The organisation the request's API key belongs to (see :func:`current_caller`)."""
    return current_caller().organisation


def check_organisation(requested: str | None, own: str) -> str:
    """The organisation to seal for: the key's own, unless another (or an unknown one) is asked for."""
    if not requested or requested == own:
        return own
    app_services().deployment.organisation(requested)  # UNKNOWN_ORGANISATION if not configured
    raise AccessError(errors.ORGANISATION_FORBIDDEN, requested)


def caller_api_key_sha256() -> str:
    """What the caller's records carry as their platform (check it first with :func:`organisation_of_caller`).

    The SHA-256 of a YAML key; for a database key, its reference, which outlives rotations.
    """
    return current_caller().reference


def optional_caller() -> Caller | None:
    """The caller when the request sent a valid key with the route's scope, else None (an open route)."""
    if _presented_key() is None:
        return None
    try:
        return current_caller()
    except AccessError:
        return None
