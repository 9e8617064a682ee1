"""What the console costs the server, beside the cheapest answers of the same app in the same process.

    python -m bench.console [--rounds 30] [--batches 200] [--audit 2000]

In a development environment of its own (``bench/services.py``: the dev PKI,
its SoftHSM tokens and responders) and a migrated SQLite database, the web
app runs in this process behind Flask's test client, as ``pakat serve``'s
threads run it, with one admin of ``demo-co``. Before measuring, the
organisation gets ``--batches`` batch rows (no sealing: only what the list
reads) and the audit log ``--audit`` entries, so the pages read a busy
organisation's tables.

Each row is the median and 95th percentile over ``--rounds`` requests, and
its ratio to a baseline measured in the same run:

- **sign-in** (scrypt N=2^15, r=8, p=1, then a session row) beside a request
  authenticated by an API key (one SHA-256), the cost a password buys;
- **console pages** (home, batches, tenders, API keys, audit, seals) beside
  ``/healthz``, the app's cheapest answer through the same stack (request id,
  security headers, throttle, access log).

Rounds interleave the rows, so a shared machine's drift hits them alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from bench.services import dev_services
from envelopes.api_keys import SCOPES
from envelopes.audit import BATCH_CREATED
from envelopes.database import batches
from envelopes.people import Role
from envelopes.schema import upgrade
from pakat.settings import Settings
from web import create_app

PASSWORD = "console bench passphrase"
ORG = "demo-co"


def _timed(call: Callable[[], int], expected: int) -> float:
    started = time.perf_counter()
    status = call()
    elapsed = time.perf_counter() - started
    if status != expected:
        raise SystemExit(f"unexpected HTTP {status} (expected {expected})")
    return elapsed


def _csrf(client: FlaskClient, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def _fill(app: Flask, batch_rows: int, audit_entries: int) -> None:
    """Finished batch rows (what the list reads; nothing to seal) and audit entries of the organisation."""
    services = app.extensions["pakat"]
    now = datetime.now(UTC)
    with services.database.engine.begin() as conn:
        for n in range(batch_rows):
            created = now - timedelta(minutes=n)
            conn.execute(batches.insert().values(
                id=uuid.uuid4().hex, organisation=ORG, api_key_sha256=None, idempotency_key=None,
                request_sha256="0" * 64, level="B-T", options="{}", total=10, state="finished",
                created_at=created, started_at=created, finished_at=created + timedelta(seconds=5)))
    log = services.audit_log()
    for n in range(audit_entries):
        log.record(BATCH_CREATED, actor=f"organisation:{ORG}", subject=f"batch:bench-{n}",
                   details={"organisation": ORG, "items": n})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--audit", type=int, default=2000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pakat-bench-console-") as folder:
        root = Path(folder)
        with dev_services(root / "pki") as env:
            home = root / "home"
            home.mkdir()
            settings = Settings(home=home, config=env.deployment_path, tmp=home / "tmp")
            upgrade(settings.database_url)
            app = create_app(settings)
            services = app.extensions["pakat"]
            services.people().create(ORG, "bench-admin", Role.ADMIN, actor="system:bench", password=PASSWORD)
            key = services.api_keys().create(ORG, SCOPES, "bench", actor="system:bench").api_key
            _fill(app, args.batches, args.audit)

            admin = app.test_client()
            admin.environ_base["REMOTE_ADDR"] = "198.51.100.7"
            token = _csrf(admin, "/console/sign-in")
            signed = admin.post("/console/sign-in", data={"username": "bench-admin", "password": PASSWORD,
                                                         "csrf_token": token})
            assert signed.status_code == 303, signed.get_data(as_text=True)[:300]

            def sign_in() -> int:
                client = app.test_client()
                client.environ_base["REMOTE_ADDR"] = f"198.51.100.{uuid.uuid4().int % 200 + 20}"
                form = {"username": "bench-admin", "password": PASSWORD,
                        "csrf_token": _csrf(client, "/console/sign-in")}
                started = time.perf_counter()
                status = client.post("/console/sign-in", data=form).status_code
                sign_in.last = time.perf_counter() - started  # type: ignore[attr-defined]
                return status

            bearer = {"Authorization": f"Bearer {key}"}
            rows: dict[str, tuple[Callable[[], int], int, str]] = {
                "baseline: GET /api/v1/batches with an API key": (
                    lambda: admin.get("/api/v1/batches?limit=1", headers=bearer).status_code, 200, "key"),
                "POST /console/sign-in (scrypt + session)": (sign_in, 303, "key"),
                "baseline: GET /healthz": (lambda: admin.get("/healthz").status_code, 200, "health"),
            }
            for page in ("/console", "/console/batches", "/console/tenders", "/console/admin/api-keys",
                         "/console/admin/audit", "/console/admin/seals"):
                rows[f"GET {page}"] = ((lambda page=page: admin.get(page).status_code), 200, "health")  # type: ignore[misc]

            times: dict[str, list[float]] = {name: [] for name in rows}
            for call, expected, _ in rows.values():  # warm-up: imports, templates, first queries
                _timed(call, expected)
            for round_ in range(args.rounds):
                order = list(rows.items())
                if round_ % 2:
                    order.reverse()
                for name, (call, expected, _) in order:
                    elapsed = _timed(call, expected)
                    if call is sign_in:
                        elapsed = sign_in.last  # type: ignore[attr-defined]  # the POST alone
                    times[name].append(elapsed)
            services.close()

    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    base = {"key": statistics.median(times["baseline: GET /api/v1/batches with an API key"]) * 1000,
            "health": statistics.median(times["baseline: GET /healthz"]) * 1000}
    print(f"# Pakat console, in process — {args.rounds} rounds, {args.batches} batches, "
          f"{args.audit} audit entries, Python {sys.version.split()[0]}")
    print("| request | median ms | p95 ms | × its baseline |")
    print("|---|---|---|---|")
    for name, (_, _, against) in rows.items():
        median = statistics.median(times[name]) * 1000
        print(f"| {name} | {median:.1f} | {p(times[name], 0.95):.1f} | {median / base[against]:.1f} |")


if __name__ == "__main__":
    main()
