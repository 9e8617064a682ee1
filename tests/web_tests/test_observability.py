"""Readiness, metrics and logs of the web app, each service stopped in turn (finding 9, 10, expiry of 11).

Every service a test stops is its own (ops_kit): a Redis, a PostgreSQL
cluster, the dev PKI's responders on a port of their own, and an
organisation whose HSM token label has vanished.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from openapi_kit import SPEC_PATH, Spec
from ops_kit import Running, deployment_copy, own_postgres, own_redis, own_responders
from pakat_testkit import api_key, pakat_app, pdf_bytes
from prometheus_client.parser import text_string_to_metric_families
from session_kit import PERSON, Agent, Platform, Token

from envelopes.operations import ExpiryWatch
from pakat import logs

SPEC = Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))
# The dev deployment keeps an organisation whose seal certificate expired on purpose: it is reported, not fatal.
EXPIRED_ORG = "demo-expired"


def _statuses(body: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in body["checks"]}


def _failing(body: dict[str, Any]) -> set[str]:
    return {check["name"] for check in body["checks"] if check["status"] == "fail" and check["required"]}


@pytest.fixture
def responders(dev_env: Any, tmp_path: Path) -> Iterator[Running]:
    with own_responders(dev_env, tmp_path / "responders.log") as running:
        yield running


@pytest.fixture
def own_redis_url(tmp_path: Path) -> Iterator[Running]:
    (tmp_path / "redis").mkdir()
    with own_redis(tmp_path / "redis") as running:
        yield running


def _app(dev_env: Any, tmp_path: Path, deployment: Path, **settings: Any) -> Any:
    settings.setdefault("ready_optional", (EXPIRED_ORG,))
    return pakat_app(deployment, tmp_path / "home", 20 * 1024 * 1024, **settings)


def _ready(app: Flask) -> tuple[int, dict[str, Any]]:
    app.extensions["pakat"].readiness().cache_seconds = 0  # every probe in these tests is a fresh round
    reply = app.test_client().get("/readyz")
    SPEC.check("/readyz", "get", reply)  # every answer, ready or not, is the documented shape
    return reply.status_code, dict(reply.json or {})


def test_readiness_names_exactly_the_part_that_is_down(
    dev_env: Any, tmp_path: Path, responders: Running, own_redis_url: Running
) -> None:
    deployment = deployment_copy(dev_env.deployment_path, "ops-ready", responders=responders.url)
    with own_postgres() as postgres, _app(dev_env, tmp_path, deployment, redis_url=own_redis_url.url,
                                          database_url=postgres.url, queue="ops-ready") as app:
        status, body = _ready(app)
        assert status == 200, body
        checks = _statuses(body)
        orgs = ["demo-co", "demo-gov", "demo-revoked", EXPIRED_ORG]
        assert {"database", "redis", "tsa", f"ocsp:{responders.url}", "certificate:tsa",
                *(f"hsm:{o}" for o in orgs), *(f"certificate:seal:{o}" for o in orgs)} <= set(checks)
        assert all(checks[name] == "ok" for name in ("database", "redis", "tsa", "hsm:demo-co"))
        for check in body["checks"]:
            assert check["message_fa"] and check["message_en"] and check["latency_ms"] >= 0

        own_redis_url.stop()
        status, body = _ready(app)
        assert (status, _failing(body)) == (503, {"redis"}), body

        postgres.stop()
        status, body = _ready(app)
        assert (status, _failing(body)) == (503, {"redis", "database"}), body

    deployment.unlink()


def test_readiness_fails_on_the_tsa_and_responders_down(dev_env: Any, tmp_path: Path, responders: Running) -> None:
    deployment = deployment_copy(dev_env.deployment_path, "ops-tsa", responders=responders.url)
    with _app(dev_env, tmp_path, deployment) as app:
        status, body = _ready(app)
        assert status == 200 and _statuses(body)["tsa"] == "ok", body
        responders.stop()
        status, body = _ready(app)
        assert (status, _failing(body)) == (503, {"tsa", f"ocsp:{responders.url}"}), body
        # The HSM and the database were never touched by the outage.
        assert _statuses(body)["hsm:demo-co"] == "ok" and _statuses(body)["database"] == "ok"
    deployment.unlink()


def test_readiness_fails_on_a_vanished_token_only(dev_env: Any, tmp_path: Path) -> None:
    deployment = deployment_copy(dev_env.deployment_path, "ops-token",
                                 organisations={"gone-co": {"like": "demo-co", "token_label": "vanished-seal"}})
    with _app(dev_env, tmp_path, deployment) as app:
        status, body = _ready(app)
        assert (status, _failing(body)) == (503, {"hsm:gone-co"}), body
        detail = next(c for c in body["checks"] if c["name"] == "hsm:gone-co")["detail"]
        assert detail == "HSM_TOKEN_NOT_FOUND"
        # The seal key that works keeps its one session: probing again does not log in again.
        key = app.extensions["pakat"].seals.get()._keys["demo-co"]
        session = key._session
        _ready(app)
        assert key._session is session and session is not None
        samples = _samples(app.test_client().get("/metrics").get_data(as_text=True))
        assert _value(samples, "pakat_hsm_errors_total", code="HSM_TOKEN_NOT_FOUND") >= 2
    deployment.unlink()


def test_a_burst_of_probes_costs_one_round_of_checks(dev_env: Any, tmp_path: Path) -> None:
    with _app(dev_env, tmp_path, dev_env.deployment_path) as app:
        client = app.test_client()
        client.get("/metrics")  # the first scrape asks the TSA once for its certificate
        before = _value(_samples(client.get("/metrics").get_data(as_text=True)),
                        "pakat_remote_request_seconds_count", service="tsa")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: app.test_client().get("/readyz").status_code, range(40)))
        assert answers == [200] * 40
        after = _value(_samples(client.get("/metrics").get_data(as_text=True)),
                       "pakat_remote_request_seconds_count", service="tsa")
        # The 40 probes shared one round, and so one request to the TSA.
        assert after - before == 1


def test_expiry_warns_before_and_fails_after(
    dev_env: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _app(dev_env, tmp_path, dev_env.deployment_path, cert_warn_days=3650) as app:
        status, body = _ready(app)
        # Every certificate ends within ten years: warned about, still ready.
        assert status == 200 and body["status"] == "warning", body
        assert _statuses(body)["certificate:seal:demo-co"] == "warning"
        assert _statuses(body)[f"certificate:seal:{EXPIRED_ORG}"] == "fail"

        readiness = app.extensions["pakat"].readiness()
        readiness.optional = ()
        status, body = _ready(app)
        assert (status, _failing(body)) == (503, {f"certificate:seal:{EXPIRED_ORG}"}), body

        with caplog.at_level(logging.WARNING, logger="envelopes.operations"):
            warned = ExpiryWatch(readiness).check()
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warned == len(lines) >= 5  # four seals and the TSA
        assert any("seal:demo-co expires" in line for line in lines)
        assert any(f"seal:{EXPIRED_ORG} is not valid" in line for line in lines)
        assert any(line.startswith("certificate tsa ") for line in lines)

        samples = _samples(app.test_client().get("/metrics").get_data(as_text=True))
        assert samples[("pakat_certificate_expiry_warning", (("certificate", "seal:demo-co"),))] == 1
        assert samples[("pakat_certificate_expiry_days", (("certificate", f"seal:{EXPIRED_ORG}"),))] < 0


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum over the series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_metrics_after_a_seal_and_a_validation(dev_env: Any, tmp_path: Path, redis_url: str) -> None:
    with _app(dev_env, tmp_path, dev_env.deployment_path, redis_url=redis_url, queue="ops-metrics") as app:
        client = app.test_client()
        before = _samples(client.get("/metrics").get_data(as_text=True))
        sealed = client.post("/api/v1/seal", headers={"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"},
                             data={"pdf": (io.BytesIO(pdf_bytes()), "a.pdf"), "level": "B-LTA"})
        assert sealed.status_code == 200, sealed.json
        validated = client.post("/api/v1/validate", data={"file": (io.BytesIO(sealed.data), "a.pdf")})
        assert validated.status_code == 200, validated.json

        reply = client.get("/metrics")
        assert reply.status_code == 200 and reply.content_type.startswith("text/plain")
        after = _samples(reply.get_data(as_text=True))

        def grew(name: str, **labels: str) -> float:
            return _value(after, name, **labels) - _value(before, name, **labels)

        assert grew("pakat_http_requests_total", route="/api/v1/seal", status="200") == 1
        assert grew("pakat_http_requests_total", route="/api/v1/validate", status="200") == 1
        assert grew("pakat_seal_seconds_count", level="B-LTA", outcome="sealed") == 1
        assert grew("pakat_validation_seconds_count", outcome="TOTAL_PASSED") == 1
        assert grew("pakat_remote_request_seconds_count", service="tsa") >= 2  # signature and document timestamps
        assert grew("pakat_remote_request_seconds_count", service="ocsp") >= 1
        assert _value(after, "pakat_certificate_expiry_days", certificate="seal:demo-co") > 0
        assert _value(after, "pakat_queue_jobs", queue="ops-metrics", state="queued") == 0
        assert ("pakat_batch_items", (("state", "sealed"),)) in after
        assert ("pakat_hsm_errors_total", ()) not in after  # only series with a code


def test_operations_routes_are_closed_to_the_world(dev_env: Any, tmp_path: Path) -> None:
    with _app(dev_env, tmp_path, dev_env.deployment_path, ops_token="ops-token-for-the-test") as app:
        outside = app.test_client()
        outside.environ_base["REMOTE_ADDR"] = "203.0.113.9"
        for path in ("/metrics", "/readyz"):
            reply = outside.get(path)
            assert reply.status_code == 403 and reply.json["error"]["code"] == "OPERATIONS_FORBIDDEN"
            assert outside.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 403
            granted = outside.get(path, headers={"Authorization": "Bearer ops-token-for-the-test"})
            assert granted.status_code in (200, 503)
        assert outside.get("/healthz").status_code == 200  # liveness stays open


def test_json_log_lines_carry_the_request_id_and_no_national_id(
    dev_env: Any, tmp_path: Path, redis_url: str
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIdFilter())
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    person = Token(dev_env, PERSON)
    national_id = person.user.national_code
    try:
        with _app(dev_env, tmp_path, dev_env.deployment_path, redis_url=redis_url, queue="ops-logs") as app:
            client = app.test_client()
            platform = Platform(client, api_key(dev_env, "demo-co"))
            doc = platform.upload()
            created = platform.session(doc["id"], level="B-B", expected_signer={"national_id": national_id})
            agent = Agent(client, created)
            answer = agent.certificate(person.certificate_b64)
            assert answer.status_code == 200, answer.json
            signed = client.post(f"{agent.path}/signature",
                                 headers={**agent.headers, "X-Request-Id": "req-sign-0001"},
                                 json={"signature": person.sign(dict(answer.json or {}))})
            assert signed.status_code == 202, signed.json
            assert signed.headers["X-Request-Id"] == "req-sign-0001"
            fresh = client.get("/healthz", headers={"X-Request-Id": "bad id <script>"})
            assert fresh.headers["X-Request-Id"] != "bad id <script>"
            assert len(fresh.headers["X-Request-Id"]) == 32
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        person.key.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    signing = [line for line in lines if line["request_id"] == "req-sign-0001"]
    assert any("signed revision" in line["message"] for line in signing), signing
    assert any(line.get("route") == "/agent/v1/sessions/<session_id>/signature" for line in signing), signing
    # Neither the signer's national ID nor their name (from the certificate) is in the log.
    assert national_id not in stream.getvalue()
    assert person.user.name_fa not in stream.getvalue() and person.user.name_en not in stream.getvalue()
    # Even a line someone logs with a national ID in it is masked.
    assert logs.mask_national_ids(f"expected {national_id}, got 0012345678") == (
        "expected [national-id], got [national-id]")
