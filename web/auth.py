"""API keys: ``Authorization: Bearer <key>``, each bound to one organisation."""

from __future__ import annotations

from flask import request

from hsm_config.deployment import hash_api_key
from pakat import errors
from pakat.errors import AccessError
from web.state import app_services


def organisation_of_caller() -> str:
    """The organisation the request's API key belongs to, or API_KEY_MISSING / API_KEY_INVALID.

    Checked from the headers alone, before any body is read, so an unauthenticated
    caller cannot make the server spool an upload to disk. The key never reaches a
    log or an error: only its hash is compared.
    """
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise AccessError(errors.API_KEY_MISSING)
    org_id = app_services().deployment.organisation_for_api_key(key)
    if org_id is None:
        raise AccessError(errors.API_KEY_INVALID)
    return org_id


def check_organisation(requested: str | None, own: str) -> str:
    """The organisation to seal for: the key's own, unless another (or an unknown one) is asked for."""
    if not requested or requested == own:
        return own
    app_services().deployment.organisation(requested)  # UNKNOWN_ORGANISATION if not configured
    raise AccessError(errors.ORGANISATION_FORBIDDEN, requested)


def caller_api_key_sha256() -> str:
    """The SHA-256 of the caller's API key (check it first with :func:`organisation_of_caller`)."""
    _, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    return hash_api_key(key.strip())
