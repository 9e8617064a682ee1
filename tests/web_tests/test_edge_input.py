"""Hostile input at every documented route: never a 500, always an error answer with a stable code.

The routes come from web/openapi.yaml (every path and method it documents,
which test_openapi keeps equal to the app's routes). Each gets edge bodies
(JSON nested 10,000 deep, NaN, a 5,000-digit number, bad UTF-8, a multipart
without boundary, a lying Content-Length), hostile path ids and query
parameters, and every JSON field a route reads set to values of every wrong
type and size, starting from a body that is otherwise valid so the field is
really reached.
"""

from __future__ import annotations

import base64
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH
from pakat_testkit import api_key, pakat_app, pdf_bytes
from werkzeug.test import TestResponse

from envelopes.api_keys import SCOPES
from pakat import errors
from web import errors as web_errors
from web.state import EXTENSION_KEY

PERSON = "user-independent"
UPLOAD_LIMIT = 20 * 1024 * 1024
KNOWN_CODES = set(errors.KINDS) | {k.code for k in vars(web_errors).values() if isinstance(k, errors.ErrorKind)}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, dev_env: Any, redis_url: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The module's app on SQLite and on PostgreSQL: PostgreSQL refuses some text SQLite takes (a NUL)."""
    home = tmp_path_factory.mktemp(f"edge-{request.param}")
    if request.param == "sqlite":
        with pakat_app(dev_env.deployment_path, home, UPLOAD_LIMIT, redis_url=redis_url,
                       queue="edge-input") as application:
            yield application
        return
    server = request.getfixturevalue("postgres_server")
    name = f"pakat_edge_{uuid.uuid4().hex[:12]}"
    with server.admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with pakat_app(dev_env.deployment_path, home, UPLOAD_LIMIT, redis_url=redis_url,
                       queue="edge-input", database_url=server.url(name)) as application:
            yield application
    finally:
        with server.admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class World:
    """Real ids and credentials, so hostile input reaches the code behind the checks."""

    key: str
    admin_key: str
    ids: dict[str, str]
    secret: str
    view_token: str
    certificate_b64: str
    national_id: str
    bodies: dict[str, Any] = field(default_factory=dict)

    def headers(self, path: str) -> dict[str, str]:
        if path.startswith("/agent/"):
            return {"Authorization": f"Bearer {self.secret}"}
        if path.startswith("/sign/"):
            return {"X-Pakat-View-Token": self.view_token}
        if path.startswith("/api/v1/admin/"):
            return {"Authorization": f"Bearer {self.admin_key}"}
        return {"Authorization": f"Bearer {self.key}"}

    def url(self, path: str, **override: str) -> str:
        return re.sub(r"\{([^}]+)\}", lambda m: override.get(m.group(1), self.ids[m.group(1)]), path)


@pytest.fixture(scope="module")
def world(app: Flask, dev_env: Any) -> World:
    client = app.test_client()
    key = api_key(dev_env, "demo-co")
    auth = {"Authorization": f"Bearer {key}"}
    doc = client.post("/api/v1/documents", headers=auth,
                      data={"pdf": (io.BytesIO(pdf_bytes("edge", pages=2)), "edge.pdf")}).json
    assert doc is not None and "id" in doc, doc
    session = client.post(f"/api/v1/documents/{doc['id']}/signing-sessions", headers=auth,
                          json={"level": "B-B"}).json
    assert session is not None and "agent_secret" in session, session
    tender = client.post("/api/v1/tenders", headers=auth, json={
        "reference": "edge-1", "title_fa": "مناقصه", "title_en": "Tender",
        "deadline": "2030-01-01T10:00:00Z"}).json
    assert tender is not None and "id" in tender, tender
    envelope = client.post(f"/api/v1/tenders/{tender['id']}/envelopes", headers=auth, json={
        "kind": "B", "bidder": {"national_id": "10101010", "name_fa": "شرکت", "name_en": "Co"}}).json
    assert envelope is not None and "id" in envelope, envelope
    user = dev_env.users[PERSON]
    # The admin routes need a database key with the admin scope; the YAML's keys never have it.
    admin = app.extensions[EXTENSION_KEY].api_keys().create("demo-co", SCOPES, "edge admin", actor="test")
    return World(
        key=key,
        admin_key=admin.api_key,
        ids={"doc_id": doc["id"], "session_id": session["id"], "tender_id": tender["id"],
             "envelope_id": envelope["id"], "batch_id": "0" * 32, "number": "0", "key_id": admin.key.id,
             "delivery_id": "999999"},  # no such delivery: hostile input must still get a 4xx
        secret=session["agent_secret"],
        view_token=session["signing_page_url"].split("#", 1)[1],
        certificate_b64=base64.b64encode(user.certificate().public_bytes(Encoding.DER)).decode(),
        national_id=str(user.national_code),
    )


def routes() -> Iterator[tuple[str, str]]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    found = [(path, method) for path, item in spec["paths"].items() for method in item
             if method in ("get", "post", "put", "delete")]
    # Cancelling last: the session stays open for the agent's routes until then.
    return iter(sorted(found, key=lambda pm: pm[1] == "delete"))


ROUTES = list(routes())


#: Routes whose 503 is their answer, not a failure: readiness says "not ready" that way.
ANSWER_503 = frozenset({"/readyz"})


def check_answer(reply: TestResponse, what: str) -> None:
    """No 500; an error answer is the JSON error (or the validate page) carrying a known code."""
    body = reply.get_data()
    if reply.status_code == 503 and reply.request.path in ANSWER_503:
        assert reply.mimetype == "application/json", what
        return
    assert reply.status_code < 500, f"{what}: HTTP {reply.status_code} {body[:300]!r}"
    if reply.status_code >= 400:
        if reply.mimetype == "application/json":
            shown = {(reply.json or {}).get("error", {}).get("code")}
        else:  # a page shows its code among the words
            shown = {code for code in KNOWN_CODES if re.search(rf"\b{code}\b".encode(), body)}
        assert shown & KNOWN_CODES, f"{what}: HTTP {reply.status_code} without a known code: {body[:300]!r}"


DEEP_ARRAY = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000

#: Raw bodies and headers any route may receive.
RAW: dict[str, dict[str, Any]] = {
    "json nested 10,000 deep (arrays)": {"data": DEEP_ARRAY, "content_type": "application/json"},
    "json nested 10,000 deep (objects)": {"data": DEEP_OBJECT, "content_type": "application/json"},
    "NaN and Infinity": {"data": '{"expires_in": NaN, "level": Infinity, "kind": -Infinity}',
                         "content_type": "application/json"},
    "a 5,000-digit number": {"data": '{"expires_in": ' + "9" * 5000 + "}", "content_type": "application/json"},
    "an exponent past float": {"data": '{"expires_in": 1e999, "page": -1e999}',
                               "content_type": "application/json"},
    "bad UTF-8": {"data": b'{"level": "\xff\xfe\xfa"}', "content_type": "application/json"},
    "UTF-16 said as UTF-8": {"data": '{"level": "B-B"}'.encode("utf-16"),
                             "content_type": "application/json; charset=utf-8"},
    "a JSON array": {"data": "[1, 2, 3]", "content_type": "application/json"},
    "a JSON string": {"data": '"x"', "content_type": "application/json"},
    "multipart without boundary": {"data": b"--x\r\n\r\n", "content_type": "multipart/form-data"},
    "multipart with a broken part": {"data": b"--b\r\nContent-Disposition: form-data; name=\"pdf\"\r\n\r\nxx",
                                     "content_type": "multipart/form-data; boundary=b"},
    "a form in an unknown charset": {"data": "level=B-B".encode("utf-16"),
                                     "content_type": "application/x-www-form-urlencoded; charset=x-unknown"},
    "Content-Length larger than the body": {"data": b"{}", "content_type": "application/json",
                                            "headers": {"Content-Length": "999999"}},
    "Content-Length not a number": {"data": b"{}", "content_type": "application/json",
                                    "headers": {"Content-Length": "abc"}},
    "a negative Content-Length": {"data": b"{}", "content_type": "application/json",
                                  "headers": {"Content-Length": "-5"}},
}

QUERIES = [
    "at=9999-12-31T23:59:59", "at=0001-01-01T00:00:00+14:00", "at=9999-12-31T23:59:59-14:00", "at=" + "9" * 500,
    "after=99999999999999999999", "limit=-1", "limit=1e9", "lang=%00", "format=%FF", "policy=..%2F..%2Fetc",
    "policy=" + "x" * 5000, "at=2026-13-45",
]
HOSTILE_IDS = ["x" * 5000, "%00", "..", "%FF%FE", "%E2%80%AE", "-1", "99999999999999999999999"]

#: Values of every wrong type and size, for each JSON field a route reads.
VALUES: list[Any] = [
    None, True, -1, 0, 10**20, -(10**20), 1e20, 1e308, 1.5, "", " ", "\x00", "x" * 20_000, "9999-12-31T23:59:59",
    "0001-01-01T00:00:00+14:00", [], [None], [[[]]], {}, {"a": {"b": {}}}, ["x" * 5000] * 5,
]


def valid_bodies(world: World) -> dict[str, dict[str, Any]]:
    """An otherwise valid body for each JSON route (by documented path), so every field is reached."""
    session = {"level": "B-B", "expires_in": 600, "expected_signer": {"national_id": world.national_id},
               "visible": False}
    return {
        "/api/v1/documents/{doc_id}/seal": {"level": "B-B", "visible": False},
        "/api/v1/documents/{doc_id}/signing-sessions": session,
        "/api/v1/signing-sessions": {**session, "documents": [world.ids["doc_id"]]},
        "/api/v1/tenders": {"reference": "edge-x", "title_fa": "م", "title_en": "t",
                            "deadline": "2030-01-01T10:00:00Z"},
        "/api/v1/tenders/{tender_id}/open": {"kind": "A"},
        "/api/v1/tenders/{tender_id}/envelopes": {
            "kind": "C", "bidder": {"national_id": "20202020", "name_fa": "ش", "name_en": "c"},
            "requirements": {"signatories": [{"national_id": "30303030", "role": "CEO"}], "seal_required": True,
                             "min_assurance": None}},
        "/api/v1/tenders/{tender_id}/envelopes/{envelope_id}/documents": {"document_id": world.ids["doc_id"]},
        "/api/v1/tenders/{tender_id}/envelopes/{envelope_id}/documents/{doc_id}": {
            "document_id": world.ids["doc_id"]},
        "/agent/v1/sessions/{session_id}/certificate": {"certificate": world.certificate_b64, "chain": [],
                                                        "digest_algorithm": "sha256"},
        "/agent/v1/sessions/{session_id}/signature": {"signature": "AAAA", "certificate": world.certificate_b64},
    }


#: Fields inside objects, reached as dotted paths.
NESTED = {
    "expected_signer": ["national_id", "role"],
    "visible": ["page", "rect_mm"],
    "bidder": ["national_id", "name_fa", "name_en"],
    "requirements": ["signatories", "seal_required", "min_assurance"],
}


def mutations(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``body`` with one field, or one field of an object field, set to each hostile value."""
    for name in body:
        for value in VALUES:
            yield f"{name}={value!r:.40}", {**body, name: value}
    for name, inner in NESTED.items():
        if name in body:
            base = body[name] if isinstance(body[name], dict) else {}
            for sub in inner:
                for value in VALUES:
                    yield f"{name}.{sub}={value!r:.40}", {**body, name: {**base, sub: value}}
    if "requirements" in body:
        for value in VALUES:
            signatory = {"national_id": value, "role": value}
            yield f"requirements.signatories[0]={value!r:.40}", {
                **body, "requirements": {"signatories": [signatory]}}
    if "visible" in body:
        for rect in ([1e308, 1e308, 1e308, 1e308], [-1e308, 0, 1e308, 1], [0, 0, 0, 0], ["1", 2, 3, 4]):
            yield f"visible.rect_mm={rect}", {**body, "visible": {"page": 10**18, "rect_mm": rect}}


# -- the three of the issue, by name -----------------------------------------------------------------


def _code(reply: TestResponse) -> str:
    return str((reply.json or {}).get("error", {}).get("code"))


def test_the_three_reported_inputs_get_400_with_a_code(client: FlaskClient, world: World) -> None:
    auth = world.headers("/api/v1/")
    deep = client.post(world.url("/api/v1/documents/{doc_id}/signing-sessions"), headers=auth,
                       data=DEEP_ARRAY, content_type="application/json")
    assert (deep.status_code, _code(deep)) == (400, "REQUEST_INVALID"), deep.json
    huge = client.post(world.url("/api/v1/documents/{doc_id}/signing-sessions"), headers=auth,
                       data='{"expires_in": 1e20}', content_type="application/json")
    assert (huge.status_code, _code(huge)) == (400, "REQUEST_INVALID"), huge.json
    whole = client.post(world.url("/api/v1/documents/{doc_id}/signing-sessions"), headers=auth,
                        json={"expires_in": 10**20})
    assert (whole.status_code, _code(whole)) == (400, "REQUEST_INVALID"), whole.json
    late = client.post("/api/v1/validate?at=9999-12-31T23:59:59",
                       data={"file": (io.BytesIO(pdf_bytes("x")), "x.pdf")})
    assert (late.status_code, _code(late)) == (400, "BAD_REQUEST"), late.json


# -- the class, at every route ----------------------------------------------------------------------


JSON_ROUTES = [
    "/api/v1/documents/{doc_id}/seal", "/api/v1/documents/{doc_id}/signing-sessions", "/api/v1/signing-sessions",
    "/api/v1/tenders", "/api/v1/tenders/{tender_id}/open", "/api/v1/tenders/{tender_id}/envelopes",
    "/api/v1/tenders/{tender_id}/envelopes/{envelope_id}/documents",
    "/api/v1/tenders/{tender_id}/envelopes/{envelope_id}/documents/{doc_id}",
    "/agent/v1/sessions/{session_id}/certificate", "/agent/v1/sessions/{session_id}/signature",
]


def test_the_json_routes_are_documented_routes() -> None:
    assert set(JSON_ROUTES) <= {path for path, method in ROUTES if method in ("post", "put")}


@pytest.mark.parametrize("path", JSON_ROUTES)
def test_every_json_field_with_every_wrong_value(client: FlaskClient, world: World, path: str) -> None:
    body = valid_bodies(world)[path]
    method = "put" if path.endswith("/documents/{doc_id}") else "post"
    call: Callable[..., TestResponse] = getattr(client, method)
    for what, mutated in mutations(body):
        reply = call(world.url(path), headers=world.headers(path), json=mutated)
        check_answer(reply, f"{method.upper()} {path} with {what}")


#: Multipart routes and the text fields they read beside the file.
FORM_ROUTES: dict[str, tuple[str, str, list[str]]] = {
    "/api/v1/seal": ("post", "pdf", ["level", "visible", "organisation", "reason", "location", "contact"]),
    "/api/v1/batches": ("post", "files", ["level", "visible", "organisation", "reason"]),
    "/api/v1/documents": ("post", "pdf", ["name"]),
    "/api/v1/tenders/{tender_id}/envelopes/{envelope_id}/documents": ("post", "pdf", ["name"]),
    "/validate": ("post", "file", ["policy"]),
}
FORM_VALUES = [
    "", " ", "\x00", "x" * 60_000, "[" * 10_000, '{"page": "x"}', '{"page": 1e999}', '{"page": -1, "rect_mm": '
    '[1e308, 1e308, 1e308, 1e308]}', '{"page": 99999999999999999999}', "NaN", "Infinity", "\u202etrue",
    "B-B\x00", "true" * 1000, "9999-12-31T23:59:59",
]


@pytest.mark.parametrize("path", sorted(FORM_ROUTES))
def test_every_form_field_with_every_wrong_value(client: FlaskClient, world: World, path: str) -> None:
    method, file_field, fields = FORM_ROUTES[path]
    call: Callable[..., TestResponse] = getattr(client, method)
    document = pdf_bytes("form fields")
    for name in fields:
        for value in FORM_VALUES:
            reply = call(world.url(path), headers=world.headers(path),
                         data={file_field: (io.BytesIO(document), "x.pdf"), name: value})
            check_answer(reply, f"{method.upper()} {path} with {name}={value!r:.40}")


# Last: the sweep ends with the DELETE routes (a session cancelled, a document deleted).
@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m.upper()} {p}" for p, m in ROUTES])
def test_edge_bodies_headers_queries_and_ids(client: FlaskClient, world: World, path: str, method: str) -> None:
    call: Callable[..., TestResponse] = getattr(client, method)
    url = world.url(path)
    for what, raw in RAW.items():
        headers = {**world.headers(path), **raw.get("headers", {})}
        reply = call(url, headers=headers, data=raw["data"], content_type=raw["content_type"])
        check_answer(reply, f"{method.upper()} {path} with {what}")
    for query in QUERIES:
        reply = call(f"{url}?{query}", headers=world.headers(path))
        check_answer(reply, f"{method.upper()} {path}?{query[:60]}")
    for name in re.findall(r"\{([^}]+)\}", path):
        for hostile in HOSTILE_IDS:
            reply = call(world.url(path, **{name: hostile}), headers=world.headers(path))
            check_answer(reply, f"{method.upper()} {path} with {name}={hostile[:40]}")
