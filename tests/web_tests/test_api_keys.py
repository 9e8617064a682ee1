"""API keys in the database: created, listed, rotated and revoked from the CLI and the admin API, with scopes.

On SQLite and on PostgreSQL: the key the CLI prints works at once against the
web app; a revoked key stops at once; a rotated key's old secret works during
its grace period and not after; a key without a route group's scope gets 403
API_KEY_SCOPE_MISSING there; the deployment YAML's keys keep working (every
scope but admin). No secret reaches a log, a listing or the audit log.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH, Spec
from pakat_testkit import api_key, pakat_command, pdf_bytes, process_env

from devkit import devpki
from devkit.devpki import DevPKI, SealSubject
from envelopes.api_keys import SCOPES
from hsm_config.deployment import hash_api_key

#: One request per route group that takes a key: method, path, and the scopes it needs.
ROUTE_GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    ("POST", "/api/v1/seal", ("seal",)),
    ("GET", "/api/v1/documents/d0000000000000000000000000000000", ("documents",)),
    ("POST", "/api/v1/documents/d0000000000000000000000000000000/seal", ("documents", "seal")),
    ("GET", "/api/v1/signing-sessions/s0000000000000000000000000000000", ("documents",)),
    ("GET", "/api/v1/batches/b0000000000000000000000000000000", ("batches",)),
    ("GET", "/api/v1/tenders", ("tenders",)),
    ("GET", "/api/v1/admin/api-keys", ("admin",)),
    ("GET", "/api/v1/admin/seal-keys", ("admin",)),
]



def secret_part(key: str) -> str:
    """The secret of ``pk_<id>_<secret>``; base64url may put ``_`` inside the secret itself."""
    return key.split("_", 2)[2]

def code_of(response: Any) -> str:
    """The error code of a refusal."""
    return str(response.get_json()["error"]["code"])


def new_key(app: Flask, organisation: str, *scopes: str) -> str:
    """A database key made in-process (the CLI's own test makes its keys through the CLI)."""
    keys = app.extensions["pakat"].api_keys()
    return str(keys.create(organisation, scopes, "test", actor="system:test").api_key)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Cli:
    """``pakat api-key`` as an operator runs it, against the test's database."""

    def __init__(self, dev_env: Any, database_url: str, home: Any) -> None:
        self.env = {"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(dev_env.deployment_path),
                    "PAKAT_DATABASE_URL": database_url}
        self.printed: list[str] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(pakat_command("api-key", *args), env=process_env(self.env), capture_output=True,
                                text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
        assert "Traceback" not in result.stderr, result.stderr
        self.printed += [result.stdout, result.stderr]
        return result

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def test_cli_keys_work_at_once_rotate_with_grace_and_revoke_at_once(
    app_on_each_database: Flask, dev_env: Any, database_url: str, tmp_path: Any, logs: pytest.LogCaptureFixture
) -> None:
    client = app_on_each_database.test_client()
    cli = Cli(dev_env, database_url, tmp_path)
    created = cli.json("create", "--org", "demo-co", "--scope", "documents", "--scope", "tenders",
                       "--label", "Setad staging")
    key = created["api_key"]
    assert key.startswith(f"pk_{created['id']}_") and len(key) >= 3 + 12 + 1 + 43
    assert created["scopes"] == ["documents", "tenders"] and created["organisation"] == "demo-co"
    assert client.get("/api/v1/tenders", headers=bearer(key)).status_code == 200

    # The plain-text answer shows the key once, Persian first.
    plain = cli.run("create", "--org", "demo-gov", "--scope", "seal")
    assert plain.returncode == 0 and plain.stdout.index("یک بار") < plain.stdout.index("shown this once")
    second = plain.stdout.strip().splitlines()[-1]
    assert second.startswith("pk_")

    listed = cli.json("list")
    assert {k["id"] for k in listed["keys"]} >= {created["id"], second.split("_")[1]}
    assert listed["deployment_yaml_keys"] >= 1
    mine = next(k for k in listed["keys"] if k["id"] == created["id"])
    assert mine["last_used_at"] is not None and mine["state"] == "active"
    assert cli.json("list", "--org", "demo-gov")["keys"][0]["organisation"] == "demo-gov"

    # A grace long enough for a loaded machine to reach the in-grace check, then a wait until its very end.
    rotated = cli.json("rotate", created["id"], "--grace", "30s")
    new_key = rotated["api_key"]
    assert new_key != key and rotated["id"] == created["id"]
    assert client.get("/api/v1/tenders", headers=bearer(new_key)).status_code == 200
    assert client.get("/api/v1/tenders", headers=bearer(key)).status_code == 200, "the old one, in its grace"
    ends = datetime.fromisoformat(rotated["previous_valid_until"])
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.2)
    late = client.get("/api/v1/tenders", headers=bearer(key))
    assert late.status_code == 401 and code_of(late) == "API_KEY_INVALID"
    assert client.get("/api/v1/tenders", headers=bearer(new_key)).status_code == 200

    revoked = cli.json("revoke", created["id"])
    assert revoked["state"] == "revoked"
    gone = client.get("/api/v1/tenders", headers=bearer(new_key))
    assert gone.status_code == 401 and code_of(gone) == "API_KEY_INVALID"
    again = cli.run("revoke", created["id"], "--json")
    assert again.returncode == 4 and json.loads(again.stdout)["error"]["code"] == "API_KEY_REVOKED"
    unknown = cli.run("rotate", "0123456789ab", "--json")
    assert json.loads(unknown.stdout)["error"]["code"] == "API_KEY_NOT_FOUND"
    bad_scope = cli.run("create", "--org", "demo-co", "--scope", "everything", "--json")
    assert bad_scope.returncode != 0 and "Traceback" not in bad_scope.stderr

    audit = subprocess.run(pakat_command("audit", "show", "--json"), env=process_env(cli.env), capture_output=True,
                           text=True, timeout=120, check=True).stdout
    actions = [entry["action"] for entry in json.loads(audit)]
    assert actions.count("api_key.created") == 2 and "api_key.rotated" in actions and "api_key.revoked" in actions

    secrets_ = [secret_part(key) for key in (key, new_key, second)]
    listing_texts = [json.dumps(cli.json("list")), audit, cli.run("list").stdout]
    for secret in secrets_:
        assert secret not in logs.text
        for text in listing_texts:
            assert secret not in text


def test_admin_api_manages_its_organisations_keys(
    app_on_each_database: Flask, logs: pytest.LogCaptureFixture
) -> None:
    client = app_on_each_database.test_client()
    admin = new_key(app_on_each_database, "demo-co", "admin")
    made = client.post("/api/v1/admin/api-keys", headers=bearer(admin),
                       json={"scopes": ["batches", "validate"], "label": "batch robot"})
    assert made.status_code == 201, made.get_json()
    assert made.headers["Cache-Control"] == "no-store"
    body = made.get_json()
    robot, robot_id = body["api_key"], body["id"]
    assert body["scopes"] == ["batches", "validate"] and body["organisation"] == "demo-co"
    assert client.get("/api/v1/batches/b0000000000000000000000000000000", headers=bearer(robot)).status_code == 404

    listed = client.get("/api/v1/admin/api-keys", headers=bearer(admin)).get_json()["keys"]
    assert {k["id"] for k in listed} >= {robot_id} and all("api_key" not in k for k in listed)
    assert secret_part(robot) not in json.dumps(listed)

    rotated = client.post(f"/api/v1/admin/api-keys/{robot_id}/rotate", headers=bearer(admin),
                          json={"grace_seconds": 0})
    assert rotated.status_code == 200
    fresh = rotated.get_json()["api_key"]
    assert client.get("/api/v1/batches/b0000000000000000000000000000000", headers=bearer(robot)).status_code == 401
    assert client.get("/api/v1/batches/b0000000000000000000000000000000", headers=bearer(fresh)).status_code == 404

    revoked = client.post(f"/api/v1/admin/api-keys/{robot_id}/revoke", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    assert client.get("/api/v1/batches/b0000000000000000000000000000000", headers=bearer(fresh)).status_code == 401

    # Another organisation's admin neither sees nor touches demo-co's keys.
    other = new_key(app_on_each_database, "demo-gov", "admin")
    assert robot_id not in {k["id"] for k in
                            client.get("/api/v1/admin/api-keys", headers=bearer(other)).get_json()["keys"]}
    foreign = client.post(f"/api/v1/admin/api-keys/{robot_id}/rotate", headers=bearer(other))
    assert foreign.status_code == 404 and code_of(foreign) == "API_KEY_NOT_FOUND"
    bad = client.post("/api/v1/admin/api-keys", headers=bearer(admin), json={"scopes": ["root"]})
    assert bad.status_code == 400 and code_of(bad) == "API_KEY_SCOPE_UNKNOWN"
    bad_grace = client.post(f"/api/v1/admin/api-keys/{robot_id}/rotate", headers=bearer(admin),
                            json={"grace_seconds": 1e20})
    assert bad_grace.status_code in (400, 409)

    seals = client.get("/api/v1/admin/seal-keys", headers=bearer(admin)).get_json()["seals"]
    assert [s["organisation"] for s in seals] == ["demo-co"] and seals[0]["days_to_expiry"] > 0
    for secret in (admin, robot, fresh, other):
        assert secret_part(secret) not in logs.text


def test_each_route_group_needs_its_scope(app: Flask, client: FlaskClient) -> None:
    for method, path, needed in ROUTE_GROUPS:
        lacking = new_key(app, "demo-co", *[scope for scope in SCOPES if scope not in needed])
        refused = client.open(path, method=method, headers=bearer(lacking))
        assert refused.status_code == 403, (path, refused.get_json())
        assert code_of(refused) == "API_KEY_SCOPE_MISSING", path
        allowed = new_key(app, "demo-co", *needed)
        answered = client.open(path, method=method, headers=bearer(allowed))
        assert answered.status_code not in (401, 403), (path, answered.get_json())
    # Webhook deliveries are the platform's own record: any valid key reads them.
    only_validate = new_key(app, "demo-co", "validate")
    assert client.get("/api/v1/webhooks/deliveries", headers=bearer(only_validate)).status_code == 200


def test_yaml_keys_keep_every_scope_but_admin(app: Flask, client: FlaskClient, dev_env: Any,
                                              tmp_path: Any) -> None:
    demo = api_key(dev_env, "demo-co")
    stored = client.post("/api/v1/documents", headers=bearer(demo),
                         data={"pdf": (__import__("io").BytesIO(pdf_bytes("yaml key")), "a.pdf")})
    assert stored.status_code == 201, stored.get_json()
    assert client.get("/api/v1/tenders", headers=bearer(demo)).status_code == 200
    refused = client.get("/api/v1/admin/api-keys", headers=bearer(demo))
    assert refused.status_code == 403 and code_of(refused) == "API_KEY_SCOPE_MISSING"

    # A database key that takes the YAML key's place keeps its platform: its documents, tenders, webhook.
    cli = Cli(dev_env, app.extensions["pakat"].settings.database_url, tmp_path)
    digest = hash_api_key(demo)
    heir = cli.json("create", "--org", "demo-co", "--scope", "documents", "--replaces", digest[:12])
    assert heir["reference"] == digest[:12]
    doc_id = stored.get_json()["id"]
    assert client.get(f"/api/v1/documents/{doc_id}", headers=bearer(heir["api_key"])).status_code == 200
    foreign = cli.run("create", "--org", "demo-gov", "--scope", "documents", "--replaces", digest, "--json")
    assert json.loads(foreign.stdout)["error"]["code"] == "ORGANISATION_FORBIDDEN"


def test_wrong_and_missing_keys_keep_their_codes(client: FlaskClient) -> None:
    for header, code in ((None, "API_KEY_MISSING"), ("Bearer pk_0123456789ab_" + "A" * 43, "API_KEY_INVALID"),
                         ("Bearer not-a-key", "API_KEY_INVALID")):
        answer = client.get("/api/v1/tenders", headers={"Authorization": header} if header else {})
        assert answer.status_code == 401 and code_of(answer) == code


def test_admin_api_rolls_a_seal_key_over(app: Flask, client: FlaskClient, dev_env: Any,
                                         logs: pytest.LogCaptureFixture) -> None:
    """A new key beside demo-co's sealing one: generated, requested and installed through the admin API.

    Answers are checked against web/openapi.yaml. The key goes on demo-co's own token under a fresh label, so
    the seal in use is untouched (its certificate file too: the new one is written beside it, inactive).
    """
    checker = Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))
    admin = new_key(app, "demo-co", "admin")
    label = f"seal-next-{secrets.token_hex(3)}"
    generated = client.post("/api/v1/admin/seal-keys", headers=bearer(admin),
                            json={"algorithm": "ec-p256", "key_label": label})
    body = checker.check("/api/v1/admin/seal-keys", "post", generated)
    assert generated.status_code == 201 and body["algorithm"] == "ec-p256" and body["key_label"] == label
    again = client.post("/api/v1/admin/seal-keys", headers=bearer(admin), json={"key_label": label})
    checker.check("/api/v1/admin/seal-keys", "post", again)
    assert again.status_code == 409 and code_of(again) == "SEAL_KEY_EXISTS"

    asked = client.post("/api/v1/admin/seal-keys/csr", headers=bearer(admin),
                        json={"national_id": "14001234567", "key_label": label})
    assert asked.status_code == 200 and asked.mimetype == "application/pkcs10"
    csr = x509.load_pem_x509_csr(asked.data)
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Pakat Demo Co. [Stamp]"
    wrong_subject = client.post("/api/v1/admin/seal-keys/csr", headers=bearer(admin), json={"national_id": "1"})
    checker.check("/api/v1/admin/seal-keys/csr", "post", wrong_subject)
    assert code_of(wrong_subject) == "SEAL_SUBJECT_INVALID"

    public_key: Any = csr.public_key()
    issued = DevPKI.load(dev_env.directory / "devpki").issue(
        devpki.SEAL_PRIVATE, SealSubject("شرکت نمونه پاکت", "14001234567", "Pakat Demo Co."), public_key,
        f"demo-co-{label}")
    pem = issued.public_bytes(serialization.Encoding.PEM).decode("ascii")
    active_before = dev_env.organisations["demo-co"].certificate_path.read_bytes()
    not_for_key = client.post("/api/v1/admin/seal-keys/certificate", headers=bearer(admin),
                              json={"certificate": pem})  # the sealing key's label: another public key
    checker.check("/api/v1/admin/seal-keys/certificate", "post", not_for_key)
    assert not_for_key.status_code == 422 and code_of(not_for_key) == "SEAL_CERT_NOT_FOR_KEY"
    installed = client.post("/api/v1/admin/seal-keys/certificate", headers=bearer(admin),
                            json={"certificate": pem, "key_label": label})
    body = checker.check("/api/v1/admin/seal-keys/certificate", "post", installed)
    assert body["active"] is False and body["serial"] == format(issued.serial_number, "x")
    assert body["path"].endswith(f".{label}.pem")
    assert dev_env.organisations["demo-co"].certificate_path.read_bytes() == active_before
    seals = checker.check("/api/v1/admin/seal-keys", "get", client.get("/api/v1/admin/seal-keys",
                                                                      headers=bearer(admin)))["seals"]
    assert seals[0]["key_label"] == "seal" and seals[0]["key_matches_certificate"] is True

    listed = client.get("/api/v1/admin/api-keys", headers=bearer(admin))
    keys = checker.check("/api/v1/admin/api-keys", "get", listed)
    assert keys["keys"]
    made = client.post("/api/v1/admin/api-keys", headers=bearer(admin), json={"scopes": ["seal"]})
    checker.check("/api/v1/admin/api-keys", "post", made)
    key_id = made.get_json()["id"]
    checker.check("/api/v1/admin/api-keys/{key_id}/rotate", "post",
                  client.post(f"/api/v1/admin/api-keys/{key_id}/rotate", headers=bearer(admin)))
    checker.check("/api/v1/admin/api-keys/{key_id}/revoke", "post",
                  client.post(f"/api/v1/admin/api-keys/{key_id}/revoke", headers=bearer(admin)))
    checker.check("/api/v1/admin/api-keys/{key_id}/revoke", "post",
                  client.post(f"/api/v1/admin/api-keys/{key_id}/revoke", headers=bearer(admin)))
    checker.check("/api/v1/tenders", "get", client.get("/api/v1/tenders", headers=bearer(new_key(app, "demo-co",
                                                                                                 "seal"))))
    assert secret_part(admin) not in logs.text
