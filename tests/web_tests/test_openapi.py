"""web/openapi.yaml: a valid OpenAPI 3.1 document that says what the app really does.

The routes of the app and the paths of the document must be the same, and
the JSON answers of a real in-process flow (upload, session, the agent's
steps with a SoftHSM token, the level raised, the seal, the validation) and
of a few refusals must validate against the schemas the document gives for
their operation and status. Error codes must be listed for their status.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH, SPEC_URI, Spec
from openapi_spec_validator import OpenAPIV31SpecValidator
from pakat_testkit import api_key, pdf_bytes

from envelopes.sessions import completed_event
from envelopes.webhooks import SIGNATURE_COMPLETED, SIGNATURE_FAILED, event_body
from pakat import errors
from signer.cms import DIGESTS
from signer.keys import Pkcs11Key
from web import errors as web_errors

PERSON = "user-independent"
DOCUMENTED_PREFIXES = ("/api/v1/", "/agent/v1/", "/sign/")
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return dict(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


# -- checking answers against the document ---------------------------------------------------


@pytest.fixture(scope="module")
def checker(spec: dict[str, Any]) -> Spec:
    return Spec(spec)


# -- the document itself -----------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    OpenAPIV31SpecValidator(spec).validate()


def test_every_error_code_named_exists(spec: dict[str, Any]) -> None:
    known = set(errors.KINDS) | {k.code for k in vars(web_errors).values() if isinstance(k, errors.ErrorKind)}
    texts = [r.get("description", "") for item in spec["paths"].values() for op in item.values()
             if isinstance(op, dict) for r in op.get("responses", {}).values()]
    texts += [r["description"] for r in spec["components"]["responses"].values()]
    named = {code for text in texts for code in re.findall(r"`([A-Z][A-Z0-9_]+)`", text)}
    assert named, "no error code is listed"
    assert named - known == set()


def test_routes_and_paths_are_the_same(app: Flask, spec: dict[str, Any]) -> None:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(DOCUMENTED_PREFIXES) or rule.rule in ("/healthz", "/readyz", "/metrics"):
            path = re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods or ())
    app_side = {path: methods & HTTP_METHODS for path, methods in routes.items()}
    spec_side = {path: set(item) & HTTP_METHODS for path, item in spec["paths"].items()}
    assert app_side == spec_side


def test_the_document_is_served_as_json_without_a_key(client: FlaskClient, spec: dict[str, Any],
                                                       checker: Spec) -> None:
    reply = client.get("/api/v1/openapi.json")
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    assert reply.json == spec
    checker.check("/api/v1/openapi.json", "get", reply)
    checker.check("/healthz", "get", client.get("/healthz"))


# -- a real flow, every JSON answer checked ---------------------------------------------------------


class Token:
    """The dev person's SoftHSM token, reached through PKCS#11 as an agent would."""

    def __init__(self, dev_env: Any) -> None:
        user = dev_env.users[PERSON]
        self.national_id = str(user.national_code)
        self.certificate = user.certificate()
        self.key = Pkcs11Key(module=dev_env.softhsm_module, token_label=user.token_label,
                             key_label=user.key_label, certificate=self.certificate, pin=user.read_pin,
                             module_env=dev_env.softhsm_env())
        self.certificate_b64 = base64.b64encode(self.certificate.public_bytes(Encoding.DER)).decode()

    def sign(self, answer: dict[str, Any]) -> str:
        attributes = base64.b64decode(answer["signed_attributes"])
        algorithm = DIGESTS[answer["digest_algorithm"]]
        digest = algorithm.digest(attributes)
        assert digest.hex() == answer["digest"]
        return base64.b64encode(self.key.sign_digest(digest, algorithm)).decode()


@pytest.fixture(scope="module")
def token(dev_env: Any) -> Iterator[Token]:
    t = Token(dev_env)
    yield t
    t.key.close()


DOC = "/api/v1/documents/{doc_id}"
SESSIONS = "/api/v1/documents/{doc_id}/signing-sessions"
SESSION = "/api/v1/documents/{doc_id}/signing-sessions/{session_id}"
AGENT = "/agent/v1/sessions/{session_id}"


def test_a_signing_flow_answers_as_documented(app: Flask, client: FlaskClient, checker: Spec, token: Token,
                                             dev_env: Any) -> None:
    key = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    doc = checker.check("/api/v1/documents", "post", client.post(
        "/api/v1/documents", headers=key, data={"pdf": (io.BytesIO(pdf_bytes("openapi", pages=2)), "پاکت.pdf")}))
    base = f"/api/v1/documents/{doc['id']}"
    created = checker.check(SESSIONS, "post", client.post(
        f"{base}/signing-sessions", headers=key,
        json={"level": "B-LTA", "expected_signer": {"national_id": token.national_id}, "expires_in": 600}))
    assert created["state"] == "awaiting_certificate"
    session_path = f"{base}/signing-sessions/{created['id']}"
    agent_path = f"/agent/v1/sessions/{created['id']}"
    secret = {"Authorization": f"Bearer {created['agent_secret']}"}

    shown = checker.check(AGENT, "get", client.get(agent_path, headers=secret))
    assert shown["preview_url"] == f"{agent_path}/preview.png"
    checker.check(f"{AGENT}/preview.png", "get", client.get(shown["preview_url"], headers=secret))
    assert shown["document_url"] == f"{agent_path}/document.pdf"
    checker.check(f"{AGENT}/document.pdf", "get", client.get(shown["document_url"], headers=secret))
    answer = checker.check(f"{AGENT}/certificate", "post", client.post(
        f"{agent_path}/certificate", headers=secret,
        json={"certificate": token.certificate_b64, "chain": [], "digest_algorithm": "sha256"}))
    prepared = client.get(f"{agent_path}/prepared.pdf", headers=secret)
    checker.check(f"{AGENT}/prepared.pdf", "get", prepared)
    assert prepared.headers["Content-Length"] == str(len(prepared.data))
    waiting = checker.check(SESSION, "get", client.get(session_path, headers=key))
    assert waiting["state"] == "awaiting_signature" and waiting["signer"]["national_id"] == token.national_id

    signed = checker.check(f"{AGENT}/signature", "post", client.post(
        f"{agent_path}/signature", headers=secret,
        json={"signature": token.sign(answer), "certificate": token.certificate_b64}))
    assert signed == {"state": "signed", "level": "B-LTA"}
    assert checker.check(SESSION, "get", client.get(session_path, headers=key))["state"] == "signed"
    assert checker.check(DOC, "get", client.get(base, headers=key))["state"] == "busy"

    sessions = app.extensions["pakat"].sessions()
    view = sessions.raise_level(created["id"], final_attempt=True)
    done = checker.check(SESSION, "get", client.get(session_path, headers=key))
    assert done["state"] == "completed" and done["completed_revision"] == 2
    _, body = event_body(SIGNATURE_COMPLETED, completed_event(view))
    checker.webhook(SIGNATURE_COMPLETED, body)
    # signature.failed carries what SigningSessions._fail sends: the event base and the session's error.
    failed = dataclasses.replace(view, state="failed", completed_revision=None, error_code="TSA_UNAVAILABLE",
                                 error_detail=None)
    _, body = event_body(SIGNATURE_FAILED, {"document_id": failed.document_id, "session_id": failed.id,
                                            "level": failed.level, "error": failed.as_dict()["error"]})
    checker.webhook(SIGNATURE_FAILED, body)

    sealed = checker.check(f"{DOC}/seal", "post",
                           client.post(f"{base}/seal", headers=key, json={"level": "B-LTA"}))
    assert [s["kind"] for s in sealed["signatures"]] == ["signature", "seal"]
    final = checker.check(DOC, "get", client.get(base, headers=key))
    assert final["revision"] == 3 and final["state"] == "ready"
    pdf = client.get(f"{base}/pdf", headers=key)
    checker.check(f"{DOC}/pdf", "get", pdf)
    assert pdf.headers["X-Pakat-Revision"] == "3"

    report = checker.check("/api/v1/validate", "post", client.post(
        "/api/v1/validate?format=json", data={"file": (io.BytesIO(pdf.data), "signed.pdf")}))
    assert report["indication"] == "TOTAL_PASSED"

    # Too late to cancel; a second session cancelled instead.
    refused = checker.check(SESSION, "delete", client.delete(session_path, headers=key))
    assert refused["error"]["code"] == "SESSION_FINISHED"
    other = checker.check(SESSIONS, "post", client.post(f"{base}/signing-sessions", headers=key, json={}))
    cancelled = checker.check(SESSION, "delete", client.delete(f"{base}/signing-sessions/{other['id']}",
                                                                headers=key))
    assert cancelled["state"] == "cancelled" and cancelled["level"] == "B-B"
    gone = checker.check(f"{AGENT}/certificate", "post", client.post(
        f"/agent/v1/sessions/{other['id']}/certificate",
        headers={"Authorization": f"Bearer {other['agent_secret']}"}, json={"certificate": token.certificate_b64}))
    assert gone["error"]["code"] == "SESSION_CANCELLED"


def test_refusals_answer_as_documented(client: FlaskClient, checker: Spec, token: Token, dev_env: Any) -> None:
    key = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    stranger = {"Authorization": f"Bearer {api_key(dev_env, 'demo-gov')}"}
    doc = checker.check("/api/v1/documents", "post", client.post(
        "/api/v1/documents", headers=key, data={"pdf": (io.BytesIO(pdf_bytes("refusals")), "r.pdf")}))
    base = f"/api/v1/documents/{doc['id']}"

    checker.check("/api/v1/documents", "post", client.post("/api/v1/documents", data={}))
    checker.check("/api/v1/documents", "post", client.post(
        "/api/v1/documents", headers=key, data={"pdf": (io.BytesIO(b"not a pdf"), "x.pdf")}))
    checker.check(DOC, "get", client.get(base, headers=stranger))
    checker.check(f"{DOC}/pdf", "get", client.get(f"{base}/pdf", headers={"Authorization": "Bearer wrong"}))
    checker.check(SESSIONS, "post", client.post(f"{base}/signing-sessions", headers=key, json={"level": "C"}))
    checker.check(SESSIONS, "post", client.post(f"{base}/signing-sessions", headers=key, json={"expires_in": 5}))
    checker.check(SESSION, "get", client.get(f"{base}/signing-sessions/{'0' * 32}", headers=key))
    checker.check("/api/v1/validate", "post", client.post("/api/v1/validate", data={}))
    checker.check("/api/v1/validate", "post", client.post(
        "/api/v1/validate", data={"file": (io.BytesIO(pdf_bytes("unsigned")), "u.pdf")}))

    created = checker.check(SESSIONS, "post", client.post(
        f"{base}/signing-sessions", headers=key, json={"expected_signer": {"national_id": "0012345679"}}))
    agent_path = f"/agent/v1/sessions/{created['id']}"
    secret = {"Authorization": f"Bearer {created['agent_secret']}"}
    checker.check(AGENT, "get", client.get(agent_path, headers={"Authorization": "Bearer " + "x" * 43}))
    checker.check(AGENT, "get", client.get(f"/agent/v1/sessions/{'0' * 32}", headers=secret))
    checker.check(f"{AGENT}/certificate", "post", client.post(
        f"{agent_path}/certificate", headers=secret, json={"certificate": token.certificate_b64}))  # not expected
    checker.check(f"{AGENT}/certificate", "post", client.post(
        f"{agent_path}/certificate", headers=secret, json={"certificate": token.certificate_b64,
                                                            "digest_algorithm": "sha1"}))
    checker.check(f"{AGENT}/certificate", "post", client.post(
        f"{agent_path}/certificate", headers=secret, json={"chain": []}))
    checker.check(f"{AGENT}/signature", "post", client.post(
        f"{agent_path}/signature", headers=secret, json={"signature": base64.b64encode(bytes(256)).decode()}))
    for headers in (secret, {"Authorization": "Bearer " + "x" * 43}):  # nothing prepared; a wrong secret
        checker.check(f"{AGENT}/prepared.pdf", "get", client.get(f"{agent_path}/prepared.pdf", headers=headers))
    checker.check(f"{AGENT}/prepared.pdf", "get", client.get(f"/agent/v1/sessions/{'0' * 32}/prepared.pdf",
                                                             headers=secret))
    for path, headers in ((f"{agent_path}/document.pdf", {"Authorization": "Bearer " + "x" * 43}),
                          (f"/agent/v1/sessions/{'0' * 32}/document.pdf", secret)):
        checker.check(f"{AGENT}/document.pdf", "get", client.get(path, headers=headers))
    checker.check(f"{AGENT}/signature", "post", client.post(
        f"{agent_path}/signature", headers=secret, data=b"{" + b" " * (70 * 1024) + b"}",
        content_type="application/json"))


def test_the_schemas_are_closed(checker: Spec) -> None:
    """An undocumented or a missing field fails the check, also through allOf (unevaluatedProperties)."""
    session = {"id": "a" * 32, "document_id": "b" * 32, "state": "completed", "level": "B-LTA",
               "expected_signer": {"national_id": None, "role": None}, "created_at": "2026-11-21T10:00:00Z",
               "expires_at": "2026-11-21T10:10:00Z", "completed_revision": 2}
    checker.validate({"$ref": f"{SPEC_URI}#/components/schemas/SigningSession"}, session)
    for schema, wrong in (("SigningSession", {**session, "secret": "x"}),
                          ("SigningSession", {**session, "state": "done"}),
                          ("SigningSessionCreated", {**session, "agent_url": "/agent/v1/sessions/x"}),
                          ("Error", {"error": {"code": "INTERNAL", "message_fa": "", "message_en": "", "x": 1}})):
        with pytest.raises(AssertionError):
            checker.validate({"$ref": f"{SPEC_URI}#/components/schemas/{schema}"}, wrong)
