"""``pakat serve`` and ``pakat worker`` as processes (findings 9, 10).

JSON log lines, one request id from the web request into the worker's lines
for its batch, and /metrics adding up the web workers' and the RQ worker's counts.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from pakat_testkit import api_key, pakat_server, pakat_worker, pdf_bytes
from prometheus_client.parser import text_string_to_metric_families

REQUEST_ID = "req-batch-" + uuid.uuid4().hex[:12]


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path.name}: not a JSON line: {line!r}") from None
    return parsed


def _metric(text: str, name: str, **labels: str) -> float:
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and set(labels.items()) <= set(sample.labels.items()))


def test_a_batch_carries_its_request_id_into_the_worker_and_metrics_add_up(
    dev_env: Any, redis_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"ops-{uuid.uuid4().hex[:8]}",
           "PAKAT_READY_OPTIONAL": "demo-expired"}
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}", "X-Request-Id": REQUEST_ID}
    with pakat_server(dev_env.deployment_path, home, workers=2, env=env) as (url, serve_log, _pid), \
            pakat_worker(home, {"PAKAT_CONFIG": str(dev_env.deployment_path), **env}) as worker_log:
        files = [("files", (f"envelope-{n}.pdf", pdf_bytes(f"envelope {n}"), "application/pdf")) for n in range(3)]
        created = requests.post(f"{url}/api/v1/batches", headers=headers, files=files, data={"level": "B-T"},
                                timeout=60)
        assert created.status_code == 202, created.text
        assert created.headers["X-Request-Id"] == REQUEST_ID
        batch = created.json()["id"]
        deadline = time.monotonic() + 120
        while True:
            progress = requests.get(f"{url}/api/v1/batches/{batch}", headers=headers, timeout=60).json()
            if progress["sealed"] + progress["failed"] == 3:
                break
            assert time.monotonic() < deadline, progress
            time.sleep(0.5)
        assert progress["sealed"] == 3, progress

        ready = requests.get(f"{url}/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        # Whichever web process answers, it adds up every process's counts: the seals were made by the worker.
        for _ in range(4):
            scraped = requests.get(f"{url}/metrics", timeout=30)
            assert scraped.status_code == 200
            assert _metric(scraped.text, "pakat_seal_seconds_count", level="B-T", outcome="sealed") == 3
            assert _metric(scraped.text, "pakat_http_requests_total", route="/api/v1/batches", status="202") == 1
            assert _metric(scraped.text, "pakat_remote_request_seconds_count", service="tsa") >= 3
            # The batch is over: no running batch, no item waiting.
            assert "pakat_batch_items{" in scraped.text and _metric(scraped.text, "pakat_batches_running") == 0
            assert _metric(scraped.text, "pakat_queue_jobs", state="queued") == 0
        time.sleep(1)  # the last job's closing line

    worker_lines = _json_lines(worker_log)
    serve_lines = _json_lines(serve_log)
    for line in worker_lines + serve_lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line), line
    batch_lines = [line for line in worker_lines if line["request_id"] == REQUEST_ID]
    assert any(line["message"].startswith("job batch-") and "started" in line["message"] for line in batch_lines)
    assert any(line.get("route") == "/api/v1/batches" and line["status"] == 202 for line in serve_lines
               if line["request_id"] == REQUEST_ID)
    # No routine chatter from RQ; the expired demo seal was warned about at start.
    assert not [line for line in worker_lines if line["logger"].startswith("rq") and line["level"] == "INFO"]
    assert any(line["level"] == "WARNING" and "seal:demo-expired" in line["message"] for line in worker_lines)
    text = worker_log.read_text(encoding="utf-8") + serve_log.read_text(encoding="utf-8")
    for person in dev_env.users.values():
        assert person.national_code not in text
    for org in dev_env.organisations.values():
        assert org.national_id not in text
