"""Rate limits and lockouts against the real app: 429 with Retry-After, shared through Redis, audited once.

Each test builds apps on a copy of the dev deployment with tight limits, and
calls from an address of its own (``REMOTE_ADDR``), so its counts meet no
other test's in the session's Redis. "Shared" is shown with two app
instances (two processes' worth of state: their own databases and memory)
counting in one Redis.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import api_key, free_port, pakat_app, pdf_bytes
from session_kit import Agent, Platform, error_code

from envelopes import audit
from hsm_config.deployment import hash_api_key, load_deployment
from pakat import errors
from pakat.errors import AccessError

_ADDRESSES = (f"198.51.100.{n}" for n in itertools.count(1))

# Long windows: each opens with its first request, and a slow machine must not see one end mid-test.
LIMITS = {
    "requests": {"anonymous": "1000/600", "validate": "5/600", "api_key": "1000/600", "session": "1000/600"},
    "lockout": {"failures": 10, "seconds": 600, "lock_seconds": 600},
}


@contextlib.contextmanager
def limited_app(dev_env: Any, tmp_path: Path, name: str, limits: dict[str, Any] | None = None,
                trusted_proxies: list[str] | None = None, fresh_key: str | None = None,
                **settings: Any) -> Iterator[Flask]:
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    raw["limits"] = {**raw.get("limits", {}), **(limits or LIMITS)}
    if fresh_key is not None:  # a key of this test's own: its window meets no other test's in Redis
        raw["api_keys"].append({"sha256": hash_api_key(fresh_key), "organisation": "demo-co"})
    if trusted_proxies is not None:
        raw["trusted_proxies"] = trusted_proxies
    config = dev_env.deployment_path.with_name(f"throttle-{name}-{tmp_path.name}.yaml")
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    try:
        with pakat_app(config, tmp_path / name, 10_000_000, **settings) as application:
            yield application
    finally:
        config.unlink()


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def lockouts(*apps: Flask) -> list[audit.AuditEntry]:
    return [entry for app in apps for entry in app.extensions["pakat"].audit_log().entries(limit=1000)
            if entry.action == audit.ACCESS_LOCKED_OUT]


def first_refusal(calls: Iterator[Any], most: int = 1000) -> tuple[int, Any]:
    """The number (from 1) and answer of the first 429 among at most ``most`` calls."""
    for number, reply in enumerate(itertools.islice(calls, most), 1):
        if reply.status_code == 429:
            return number, reply
        assert reply.status_code < 500, reply.json
    raise AssertionError(f"{most} calls and no 429")


def assert_throttled(reply: Any, code: str) -> None:
    assert reply.status_code == 429 and error_code(reply) == code, reply.json
    assert 1 <= int(reply.headers["Retry-After"]) <= 600
    body = reply.json["error"]
    assert body["message_fa"] and body["message_en"]


def test_wrong_api_keys_lock_the_address_out_once_audited(dev_env: Any, tmp_path: Path) -> None:
    with limited_app(dev_env, tmp_path, "keys") as app:
        address = next(_ADDRESSES)
        client = client_at(app, address)
        guesses = (client.get("/api/v1/tenders", headers={"Authorization": f"Bearer guess-{n:04d}"})
                   for n in range(1000))
        number, refused = first_refusal(guesses)
        assert number == 11  # ten wrong keys answered API_KEY_INVALID, then the lock
        assert_throttled(refused, "CREDENTIALS_LOCKED")
        # Locked out of everything that is not liveness, the right key included; one entry for the burst.
        for _ in range(50):
            assert client.get("/api/v1/tenders", headers={"Authorization": "Bearer another"}).status_code == 429
        right = client.get("/api/v1/tenders", headers={"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"})
        assert_throttled(right, "CREDENTIALS_LOCKED")
        assert client.get("/healthz").status_code == 200
        (entry,) = lockouts(app)
        assert entry.actor == entry.subject == f"client:{address}"
        assert entry.details["credential"] == "api_key" and entry.details["failures"] == 10
        assert "guess" not in entry.details_json
        # Another address is not locked.
        other = client_at(app, next(_ADDRESSES)).get(
            "/api/v1/tenders", headers={"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"})
        assert other.status_code == 200


def test_wrong_agent_secrets_are_counted_in_one_redis_by_two_apps(dev_env: Any, tmp_path: Path,
                                                                  redis_url: str) -> None:
    with limited_app(dev_env, tmp_path, "agent-a", redis_url=redis_url, queue="throttle-a") as first, \
            limited_app(dev_env, tmp_path, "agent-b", redis_url=redis_url, queue="throttle-a") as second:
        platform = Platform(first.test_client(), api_key(dev_env, "demo-co"))
        created = platform.session(platform.upload("throttled agent")["id"])
        address = next(_ADDRESSES)
        clients = itertools.cycle([client_at(first, address), client_at(second, address)])
        path = f"/agent/v1/sessions/{created['id']}"
        guesses = (next(clients).get(path, headers={"Authorization": f"Bearer {'x' * 40}{n:03d}"})
                   for n in range(1000))
        number, refused = first_refusal(guesses)
        assert number == 11  # five wrong secrets at each app: the count is one
        assert_throttled(refused, "CREDENTIALS_LOCKED")
        for client in (client_at(first, address), client_at(second, address)):
            right = client.get(path, headers={"Authorization": f"Bearer {created['agent_secret']}"})
            assert_throttled(right, "CREDENTIALS_LOCKED")
        (entry,) = lockouts(first, second)
        assert entry.details["credential"] == "agent_secret"
        assert created["agent_secret"] not in entry.details_json


def test_anonymous_validation_is_limited_per_address_across_apps(dev_env: Any, tmp_path: Path,
                                                                 redis_url: str) -> None:
    with limited_app(dev_env, tmp_path, "val-a", redis_url=redis_url, queue="throttle-v") as first, \
            limited_app(dev_env, tmp_path, "val-b", redis_url=redis_url, queue="throttle-v") as second:
        address = next(_ADDRESSES)
        clients = itertools.cycle([client_at(first, address), client_at(second, address)])
        unsigned = pdf_bytes("nothing signed")
        calls = (next(clients).post("/api/v1/validate", data={"file": (io.BytesIO(unsigned), "x.pdf")})
                 for _ in range(1000))
        number, refused = first_refusal(calls)
        assert number == 6  # validate: 5 per window, counted once for both apps
        assert_throttled(refused, "RATE_LIMITED")
        # The page counts in the same window, and says so as a page.
        page = client_at(second, address).post("/validate", data={"file": (io.BytesIO(unsigned), "x.pdf")})
        assert page.status_code == 429 and page.mimetype == "text/html" and b"RATE_LIMITED" in page.data
        assert "Retry-After" in page.headers
        # A platform validating with its key counts under the key, not the address.
        keyed = client_at(first, address).post(
            "/api/v1/validate", headers={"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"},
            data={"file": (io.BytesIO(unsigned), "x.pdf")})
        assert keyed.status_code == 422 and error_code(keyed) == "NO_SIGNATURES"
        # A made-up key buys no window of its own.
        made_up = client_at(first, address).post(
            "/api/v1/validate", headers={"Authorization": "Bearer made-up"},
            data={"file": (io.BytesIO(unsigned), "x.pdf")})
        assert_throttled(made_up, "RATE_LIMITED")
        assert client_at(first, next(_ADDRESSES)).post(
            "/api/v1/validate", data={"file": (io.BytesIO(unsigned), "x.pdf")}).status_code == 422


def test_limits_reset_after_the_window(dev_env: Any, tmp_path: Path) -> None:
    limits = {**LIMITS, "requests": {**LIMITS["requests"], "validate": "3/2"}}
    with limited_app(dev_env, tmp_path, "reset", limits) as app:
        client = client_at(app, next(_ADDRESSES))
        unsigned = pdf_bytes("nothing signed")

        def validate() -> Any:
            return client.post("/api/v1/validate", data={"file": (io.BytesIO(unsigned), "x.pdf")})

        _, refused = first_refusal(iter(validate, None), most=20)
        assert_throttled(refused, "RATE_LIMITED")
        time.sleep(int(refused.headers["Retry-After"]) + 0.1)
        assert validate().status_code == 422  # a fresh window


def test_forwarded_for_counts_only_from_trusted_proxies(dev_env: Any, tmp_path: Path) -> None:
    limits = {**LIMITS, "requests": {**LIMITS["requests"], "anonymous": "3/600"}}
    proxy = next(_ADDRESSES)
    with limited_app(dev_env, tmp_path, "proxied", limits, trusted_proxies=[proxy]) as app:
        # Behind the trusted proxy, each client has a window of its own ...
        through = client_at(app, proxy)
        for n in range(10):
            reply = through.get("/api/v1/openapi.json", headers={"X-Forwarded-For": f"203.0.113.{n}, {proxy}"})
            assert reply.status_code == 200
        # ... while anyone else's X-Forwarded-For is ignored: spoofing it escapes nothing.
        direct = client_at(app, next(_ADDRESSES))
        calls = (direct.get("/api/v1/openapi.json", headers={"X-Forwarded-For": f"203.0.113.{n}"})
                 for n in range(100))
        number, refused = first_refusal(calls)
        assert number == 4
        assert_throttled(refused, "RATE_LIMITED")


def test_the_limits_are_read_from_the_deployment(dev_env: Any, tmp_path: Path) -> None:
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    for wrong in ({"requests": {"validate": "five"}}, {"requests": {"everything": "1/1"}},
                  {"lockout": {"failures": 0}}, {"requests": {"validate": "5/0"}}):
        raw["limits"] = wrong
        path = dev_env.deployment_path.with_name(f"wrong-limits-{tmp_path.name}.yaml")  # beside: paths resolve
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        try:
            with pytest.raises(AccessError) as caught:
                load_deployment(path)
        finally:
            path.unlink()
        assert caught.value.kind is errors.CONFIG_INVALID and "limits." in (caught.value.detail or "")
    raw["limits"] = LIMITS
    path = dev_env.deployment_path.with_name(f"right-limits-{tmp_path.name}.yaml")
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    try:
        throttling = load_deployment(path).throttling
    finally:
        path.unlink()
    assert (throttling.validate.count, throttling.validate.seconds, throttling.lockout.failures) == (5, 600, 10)


def test_each_api_key_and_each_session_has_its_own_window(dev_env: Any, tmp_path: Path, redis_url: str) -> None:
    limits = {**LIMITS, "requests": {**LIMITS["requests"], "api_key": "8/600", "session": "4/600"}}
    key = secrets.token_urlsafe(32)
    with limited_app(dev_env, tmp_path, "windows", limits, fresh_key=key, redis_url=redis_url,
                     queue="throttle-w") as app:
        address = next(_ADDRESSES)
        platform = Platform(client_at(app, address), key)
        doc = platform.upload("windows")  # 1 of the key's 8
        sessions = [platform.session(doc["id"]) for _ in range(2)]  # 3
        for _ in range(5):  # 8
            assert platform.document(doc["id"])["id"] == doc["id"]
        over = client_at(app, address).get(f"/api/v1/documents/{doc['id']}", headers=platform.headers)
        assert_throttled(over, "RATE_LIMITED")
        assert "api_key" in over.json["error"]["detail"]
        # The agent is not the platform: each session counts apart, whatever the address.
        first, second = (Agent(client_at(app, address), created) for created in sessions)
        number, refused = first_refusal(iter(first.fetch, None), most=20)
        assert number == 5
        assert_throttled(refused, "RATE_LIMITED")
        assert second.fetch().status_code == 200


def test_wrong_view_tokens_on_the_signing_page_lock_out_too(dev_env: Any, tmp_path: Path, redis_url: str) -> None:
    with limited_app(dev_env, tmp_path, "page", redis_url=redis_url, queue="throttle-p") as app:
        platform = Platform(app.test_client(), api_key(dev_env, "demo-co"))
        created = platform.session(platform.upload("page guesses")["id"])
        client = client_at(app, next(_ADDRESSES))
        guesses = (client.get(f"/sign/{created['id']}/state", headers={"X-Pakat-View-Token": f"guess{n}"})
                   for n in range(1000))
        number, refused = first_refusal(guesses)
        assert number == 11
        assert_throttled(refused, "CREDENTIALS_LOCKED")
        (entry,) = lockouts(app)
        assert entry.details["credential"] == "view_token"


def test_without_redis_requests_pass_and_a_warning_is_logged(dev_env: Any, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    limits = {**LIMITS, "requests": {**LIMITS["requests"], "anonymous": "2/600"}}
    with limited_app(dev_env, tmp_path, "no-redis", limits, redis_url=f"redis://127.0.0.1:{free_port()}/0") as app:
        client = client_at(app, next(_ADDRESSES))
        # A throttle that cannot count lets requests through rather than taking the service down.
        for _ in range(10):
            assert client.get("/api/v1/openapi.json").status_code == 200
    assert [r for r in caplog.records if "rate limits not enforced" in r.getMessage()]
