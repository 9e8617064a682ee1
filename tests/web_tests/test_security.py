"""Security headers on every answer, links from the public URL only, and what an agent secret still reads.

Against the real app: one request of each kind (pages, JSON, files, errors of
every sort) carries the headers; ``agent_url``, the pairing link and the
signing page's URL come from PAKAT_PUBLIC_URL whatever Host the request names;
a session that has ended (cancelled, expired, signed) shows its secret's holder
its state and nothing of its documents; an unknown session and a wrong secret
get the same answer.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import api_key, pakat_app, pakat_command, process_env
from session_kit import Agent, Platform, error_code
from sqlalchemy import select, update

from envelopes.database import signing_sessions, utcnow
from pakat import errors
from pakat.errors import AccessError
from pakat.settings import Settings
from validation.reports.pdf import FONT_FILES

PUBLIC = "https://pakat.example.ir"


@pytest.fixture
def public_app(dev_env: Any, redis_url: str, tmp_path: Path) -> Iterator[Flask]:
    with pakat_app(dev_env.deployment_path, tmp_path / "home", 10_000_000, redis_url=redis_url,
                   queue="security-public", public_url=PUBLIC) as application:
        yield application


def assert_secure_headers(reply: Any, what: str) -> None:
    headers = reply.headers
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, what
    assert "unsafe-eval" not in policy and "script-src 'unsafe-inline'" not in policy, what
    assert headers.get("X-Content-Type-Options") == "nosniff", what
    assert headers.get("Referrer-Policy") == "no-referrer", what


def test_every_kind_of_answer_carries_the_security_headers(client: FlaskClient, platform: Platform,
                                                          dev_env: Any) -> None:
    doc = platform.upload("headers")
    created = platform.session(doc["id"])
    agent = Agent(client, created)
    key = platform.headers
    font = sorted(FONT_FILES.values())[0]
    calls: dict[str, Callable[[], Any]] = {
        "home page": lambda: client.get("/"),
        "validate page": lambda: client.get("/validate"),
        "validate page error": lambda: client.post("/validate", data={}),
        "sign page": lambda: client.get(f"/sign/{created['id']}"),
        "stylesheet": lambda: client.get("/static/pakat.css"),
        "font": lambda: client.get(f"/validate/fonts/{font}"),
        "liveness": lambda: client.get("/healthz"),
        "openapi": lambda: client.get("/api/v1/openapi.json"),
        "document JSON": lambda: client.get(f"/api/v1/documents/{doc['id']}", headers=key),
        "document PDF": lambda: client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=key),
        "agent session": agent.fetch,
        "agent preview": lambda: client.get(f"{agent.path}/preview.png", headers=agent.headers),
        "401": lambda: client.get("/api/v1/tenders"),
        "404": lambda: client.get("/no/such/page"),
        "405": lambda: client.delete("/healthz"),
        "400": lambda: client.post(f"/api/v1/documents/{doc['id']}/seal", headers=key, data="[",
                                   content_type="application/json"),
        "413": lambda: client.post(f"/agent/v1/sessions/{created['id']}/signature", headers=agent.headers,
                                   data=b"{" + b" " * 70_000 + b"}", content_type="application/json"),
        "422": lambda: client.post("/api/v1/validate", data={"file": (io.BytesIO(b"not a pdf"), "x.pdf")}),
    }
    for what, call in calls.items():
        reply = call()
        assert reply.status_code != 500, what
        assert_secure_headers(reply, f"{what} (HTTP {reply.status_code})")
        # No TLS here: no HSTS, which would pin a development host to https.
        assert "Strict-Transport-Security" not in reply.headers, what
    # Served over TLS (a secure request), HSTS is added.
    secure = client.get("/healthz", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_links_come_from_the_public_url_whatever_the_host(public_app: Flask, dev_env: Any) -> None:
    client = public_app.test_client()
    platform = Platform(client, api_key(dev_env, "demo-co"))
    doc = platform.upload("public url")
    hostile = {**platform.headers, "Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    reply = client.post(f"/api/v1/documents/{doc['id']}/signing-sessions", headers=hostile, json={})
    assert reply.status_code == 201, reply.json
    created = reply.json
    assert created["agent_url"] == f"{PUBLIC}/agent/v1/sessions/{created['id']}"
    assert created["signing_page_url"].startswith(f"{PUBLIC}/sign/{created['id']}#")
    assert unquote(created["pairing_link"]).startswith(f"pakat://sign?session={PUBLIC}/agent/v1/")
    assert "evil" not in str(created)
    # The signing page's pairing link too, and HSTS since the public URL is https.
    token = created["signing_page_url"].split("#", 1)[1]
    state = client.get(f"/sign/{created['id']}/state",
                       headers={"X-Pakat-View-Token": token, "Host": "evil.example"})
    assert unquote(state.json["pairing_link"]).startswith(f"pakat://sign?session={PUBLIC}/")
    assert state.headers["Strict-Transport-Security"].startswith("max-age=")
    home = client.get("/", headers={"Host": "evil.example"})
    assert b"evil.example" not in home.data and PUBLIC.encode() in home.data


def test_without_a_public_url_no_link_is_built_from_a_foreign_host(app: Flask, client: FlaskClient,
                                                                    platform: Platform) -> None:
    doc = platform.upload("no public url")
    reply = client.post(f"/api/v1/documents/{doc['id']}/signing-sessions",
                        headers={**platform.headers, "Host": "evil.example"}, json={})
    assert reply.status_code == 500 and error_code(reply) == "PUBLIC_URL_NOT_SET"
    assert b"evil" not in reply.data
    # Refused before anything was written: the document has no session.
    with app.extensions["pakat"].database.begin() as conn:
        rows = conn.execute(select(signing_sessions.c.id).where(signing_sessions.c.document_id == doc["id"])).all()
    assert rows == []
    assert b"evil.example" not in client.get("/", headers={"Host": "evil.example"}).data
    # On loopback (development) the links keep working.
    local = client.post(f"/api/v1/documents/{doc['id']}/signing-sessions", headers=platform.headers, json={})
    assert local.status_code == 201 and local.json["agent_url"].startswith("http://localhost/agent/v1/")


def test_serving_beyond_loopback_needs_the_public_url(dev_env: Any, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, config=dev_env.deployment_path, tmp=tmp_path / "tmp")
    for host in ("127.0.0.1", "::1", "localhost"):
        settings.require_public_url(host)
    for host in ("0.0.0.0", "10.1.2.3", "pakat.example.ir"):
        with pytest.raises(AccessError) as caught:
            settings.require_public_url(host)
        assert caught.value.kind is errors.PUBLIC_URL_NOT_SET
    dataclasses.replace(settings, public_url=PUBLIC).require_public_url("0.0.0.0")
    with pytest.raises(AccessError):
        Settings.from_env({"PAKAT_PUBLIC_URL": "https://pakat.example.ir/?next=evil"})
    env = process_env({"PAKAT_HOME": str(tmp_path), "PAKAT_CONFIG": str(dev_env.deployment_path),
                       "PAKAT_PUBLIC_URL": ""})
    refused = subprocess.run(pakat_command("serve", "--host", "0.0.0.0", "--port", "1"), env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == errors.PUBLIC_URL_NOT_SET.exit_code
    assert "PUBLIC_URL_NOT_SET" in refused.stderr + refused.stdout


def assert_reads_nothing(client: FlaskClient, agent: Agent, code: str, status: int) -> None:
    shown = agent.fetch()
    assert shown.status_code == 200
    body = shown.json
    assert set(body) == {"session", "state", "expires_at", "level", "documents"}, body
    assert all(set(member) == {"session", "state"} for member in body["documents"])
    for part in ("preview.png", "document.pdf"):
        reply = client.get(f"{agent.path}/{part}", headers=agent.headers)
        assert (reply.status_code, error_code(reply)) == (status, code), part
        assert b"%PDF" not in reply.data and b"PNG" not in reply.data


def test_an_ended_session_s_secret_reads_nothing(app: Flask, client: FlaskClient, platform: Platform) -> None:
    doc = platform.upload("ended sessions")
    cancelled = platform.session(doc["id"])
    agent = Agent(client, cancelled)
    assert agent.fetch().json["document"]["name"]  # open: the agent is shown the document
    assert client.get(f"{agent.path}/preview.png", headers=agent.headers).status_code == 200
    assert client.delete(f"/api/v1/documents/{doc['id']}/signing-sessions/{cancelled['id']}",
                         headers=platform.headers).status_code == 200
    assert_reads_nothing(client, agent, "SESSION_CANCELLED", 410)

    expired = platform.session(doc["id"])
    with app.extensions["pakat"].database.write() as conn:
        conn.execute(update(signing_sessions).where(signing_sessions.c.id == expired["id"])
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_reads_nothing(client, Agent(client, expired), "SESSION_EXPIRED", 410)


def test_an_unknown_session_and_a_wrong_secret_answer_alike(client: FlaskClient, platform: Platform) -> None:
    created = platform.session(platform.upload("alike")["id"])
    wrong = {"Authorization": "Bearer " + base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")}
    right = {"Authorization": f"Bearer {created['agent_secret']}"}
    unknown_id = "0" * 32
    for suffix, method in (("", "get"), ("/preview.png", "get"), ("/document.pdf", "get"),
                           ("/prepared.pdf", "get"), ("/certificate", "post"), ("/signature", "post")):
        call = getattr(client, method)
        extra = {"json": {"certificate": "AAAA", "signature": "AAAA"}} if method == "post" else {}
        unknown = call(f"/agent/v1/sessions/{unknown_id}{suffix}", headers=right, **extra)
        mistaken = call(f"/agent/v1/sessions/{created['id']}{suffix}", headers=wrong, **extra)
        assert unknown.status_code == mistaken.status_code == 401, suffix
        assert unknown.data == mistaken.data and error_code(unknown) == "AGENT_SECRET_INVALID", suffix

    def cost(path: str, headers: dict[str, str]) -> float:
        samples = []
        for _ in range(40):
            started = time.process_time()
            client.get(path, headers=headers)
            samples.append(time.process_time() - started)
        return statistics.median(samples)

    # Comparable work: the same lookup and the same hash comparison, whether the id exists or not.
    unknown_cost = cost(f"/agent/v1/sessions/{unknown_id}", right)
    wrong_cost = cost(f"/agent/v1/sessions/{created['id']}", wrong)
    assert 0.5 < unknown_cost / wrong_cost < 2, (unknown_cost, wrong_cost)


def test_a_host_header_that_is_no_host_is_refused_not_broken(client: FlaskClient, platform: Platform) -> None:
    doc = platform.upload("odd host")
    for host in ("[::1", "a]b:c", "localhost:99999999999", "\u202elocalhost"):
        reply = client.post(f"/api/v1/documents/{doc['id']}/signing-sessions",
                            headers={**platform.headers, "Host": host}, json={})
        assert reply.status_code in (400, 500) and error_code(reply) in ("BAD_REQUEST", "PUBLIC_URL_NOT_SET"), host
