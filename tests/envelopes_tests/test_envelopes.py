"""Tenders and bid envelopes: the life cycle, the deadline, the sealed receipt and the opening, in process.

Signatures come from the dev persons' SoftHSM tokens through real signing
sessions (the level job run in this process), seals and receipts from the
HSM, every timestamp from the dev TSA and every verdict from Pakat's own
validator. The deadline is real time: a tender closes a few tens of seconds
after it is created, and the tests wait for it. Only the use-case tests of
late submissions move the server clock (an injected clock): the timestamps
that decide lateness still come from the real TSA.

Every refusal is checked to change nothing: the envelope, its documents and
the stored rows read the same before and after.
"""

from __future__ import annotations

import io
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from openapi_kit import SPEC_PATH, Spec
from pakat_testkit import api_key, pdf_bytes
from session_kit import Agent, Token, raise_level
from sqlalchemy import func, select

from envelopes.audit import AuditLog
from envelopes.database import documents, envelope_receipts, envelopes, tenders
from envelopes.tender_types import Bidder, Caller, DocumentSource, NewEnvelope, NewTender, Requirements, Signatory
from envelopes.tenders import Tenders
from hsm_config.deployment import hash_api_key, load_deployment, validation_config
from pakat import errors
from pakat.errors import AccessError, PakatError
from validation.engine import Validator
from validation.model import Indication

LIMIT = 20 * 1024 * 1024
# The life-cycle tender's deadline, seconds after it is created: its work before the deadline takes about 2 s
# on an idle machine, so this leaves room for a busy one, and the test then waits for the real deadline.
CLOSES_IN = 20
INDEPENDENT, PRIVATE, GOVERNMENT = "user-independent", "user-private", "user-gov"


# -- the platform's side -----------------------------------------------------------------------


class Platform:
    """One API key's calls, every JSON answer checked against web/openapi.yaml."""

    def __init__(self, app: Flask, client: FlaskClient, key: str, spec: Spec) -> None:
        self.app = app
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}
        self.spec = spec

    def call(self, method: str, path: str, template: str, status: int, **kwargs: Any) -> Any:
        reply = self.client.open(path, method=method, headers=self.headers, **kwargs)
        assert reply.status_code == status, (reply.status_code, reply.json)
        self.spec.check(template, method.lower(), reply)
        return reply.json if reply.mimetype == "application/json" else reply

    def refused(self, method: str, path: str, template: str, code: str, **kwargs: Any) -> dict[str, Any]:
        reply = self.client.open(path, method=method, headers=self.headers, **kwargs)
        error = dict((reply.json or {}).get("error", {}))
        assert reply.status_code >= 400 and error.get("code") == code, (reply.status_code, reply.json)
        self.spec.check(template, method.lower(), reply)
        return error

    def tender(self, seconds: float, reference: str | None = None) -> dict[str, Any]:
        deadline = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
        return dict(self.call("POST", "/api/v1/tenders", TENDERS, 201, json={
            "reference": reference or f"T-{uuid.uuid4().hex[:8]}", "title_fa": "خرید تجهیزات شبکه",
            "title_en": "Network equipment purchase", "deadline": deadline}))

    def envelope(self, tender: dict[str, Any], kind: str, signatories: list[dict[str, Any]],
                 min_assurance: str | None = "bronze", seal_required: bool = True,
                 bidder: str = "14000123453") -> dict[str, Any]:
        return dict(self.call("POST", f"/api/v1/tenders/{tender['id']}/envelopes", ENVELOPES, 201, json={
            "kind": kind,
            "bidder": {"national_id": bidder, "name_fa": "شرکت نمونه پاکت", "name_en": "Pakat Demo Co."},
            "requirements": {"signatories": signatories, "min_assurance": min_assurance,
                             "seal_required": seal_required}}))

    def get(self, envelope: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("GET", envelope["links"]["self"], ENVELOPE, 200))

    def add(self, envelope: dict[str, Any], text: str) -> dict[str, Any]:
        return dict(self.call("POST", envelope["links"]["documents"], DOCUMENTS, 201,
                              data={"pdf": (io.BytesIO(pdf_bytes(text)), f"{text}.pdf")}))

    def add_stored(self, envelope: dict[str, Any], doc_id: str) -> dict[str, Any]:
        return dict(self.call("POST", envelope["links"]["documents"], DOCUMENTS, 201,
                              json={"document_id": doc_id}))

    def upload(self, text: str) -> dict[str, Any]:
        reply = self.client.post("/api/v1/documents", headers=self.headers,
                                 data={"pdf": (io.BytesIO(pdf_bytes(text)), f"{text}.pdf")})
        assert reply.status_code == 201, reply.json
        return dict(reply.json or {})

    def session(self, doc_id: str, **body: Any) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/v1/documents/{doc_id}/signing-sessions", SESSIONS, 201,
                              json={"level": "B-T", **body}))

    def seal(self, doc_id: str) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/v1/documents/{doc_id}/seal", "/api/v1/documents/{doc_id}/seal", 200,
                              json={"level": "B-T"}))

    def sign(self, doc_id: str, token: Token, **body: Any) -> dict[str, Any]:
        """A person signs ``doc_id`` through a signing session; the level is raised in this process."""
        created = self.session(doc_id, **body)
        agent = Agent(self.client, created)
        answer = agent.certificate(token.certificate_b64)
        assert answer.status_code == 200, answer.json
        reply = agent.signature(token.sign(answer.json), token.certificate_b64)
        assert reply.status_code == 202, reply.json
        done = raise_level(self.app, created["id"])
        assert done["state"] == "completed", done
        return done

    def snapshot(self, envelope: dict[str, Any]) -> Any:
        """What a refusal must leave as it was: the envelope, its documents, the rows behind them."""
        view = self.get(envelope)
        docs = [self.client.get(f"/api/v1/documents/{d['document_id']}", headers=self.headers).json
                for d in view["documents"]]
        with self.app.extensions["pakat"].database.begin() as conn:
            counts = tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                           for t in (tenders, envelopes, documents, envelope_receipts))
            rows = conn.execute(select(envelopes).where(envelopes.c.id == envelope["id"])).one()._asdict()
        return view, docs, counts, rows


TENDERS = "/api/v1/tenders"
TENDER = "/api/v1/tenders/{tender_id}"
OPEN = "/api/v1/tenders/{tender_id}/open"
ENVELOPES = "/api/v1/tenders/{tender_id}/envelopes"
ENVELOPE = "/api/v1/tenders/{tender_id}/envelopes/{envelope_id}"
DOCUMENTS = f"{ENVELOPE}/documents"
REPLACE = f"{ENVELOPE}/documents/{{doc_id}}"
SUBMIT = f"{ENVELOPE}/submit"
WITHDRAW = f"{ENVELOPE}/withdraw"
RECEIPT = f"{ENVELOPE}/receipt.pdf"
SESSIONS = "/api/v1/documents/{doc_id}/signing-sessions"
PDF = "/api/v1/documents/{doc_id}/pdf"


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def tokens(dev_env: Any) -> Iterator[dict[str, Token]]:
    found = {user: Token(dev_env, user) for user in (INDEPENDENT, PRIVATE, GOVERNMENT)}
    yield found
    for token in found.values():
        token.key.close()


@pytest.fixture
def platform(app: Flask, dev_env: Any, spec: Spec) -> Platform:
    return Platform(app, app.test_client(), api_key(dev_env, "demo-co"), spec)


def national_id(dev_env: Any, user: str) -> str:
    return str(dev_env.users[user].national_code)


def validator_of(app: Flask) -> Validator:
    return Validator(validation_config(app.extensions["pakat"].deployment))


def wait_past(deadline: str) -> None:
    moment = datetime.fromisoformat(deadline)
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.3)


# -- the whole life cycle, on SQLite and PostgreSQL ---------------------------------------------------------


def test_life_cycle_to_the_opening(
    app_on_each_database: Flask, dev_env: Any, spec: Spec, tokens: dict[str, Token]
) -> None:
    """Tender → envelope A (2 documents, 2 signatories, seal) → complete → submit → receipt → deadline → open.

    Envelope B of the same bidder is submitted, has a document replaced (its
    receipt superseded) and is submitted again; envelope C is withdrawn.
    """
    p = Platform(app_on_each_database, app_on_each_database.test_client(), api_key(dev_env, "demo-co"), spec)
    started = time.monotonic()
    tender = p.tender(CLOSES_IN)
    assert tender["state"] == "open" and tender["opened_kinds"] == []
    signers = [{"national_id": national_id(dev_env, PRIVATE)}, {"national_id": national_id(dev_env, INDEPENDENT)}]
    a = p.envelope(tender, "A", signers)
    assert a["state"] == "draft" and a["accepts_changes"] and a["documents"] == []

    a = p.add(a, "guarantee")
    stored = p.upload("guarantee-annex")
    a = p.add_stored(a, stored["id"])
    assert a["state"] == "draft" and [d["position"] for d in a["documents"]] == [0, 1]
    first, second = (d["document_id"] for d in a["documents"])
    assert second == stored["id"]
    unmet = a["documents"][0]["requirements"]
    assert [(r["requirement"], r["met"], r["problem"]) for r in unmet] == [
        ("signatory", False, "missing"), ("signatory", False, "missing"), ("seal", False, "missing")]
    assert unmet[0]["reason"]["fa"] and unmet[0]["reason"]["en"].startswith("No signature by national ID")

    p.sign(first, tokens[PRIVATE])
    a = p.get(a)
    assert a["state"] == "signing"
    p.sign(first, tokens[INDEPENDENT])
    for doc_id in (first, second):
        p.seal(doc_id)
    p.sign(second, tokens[INDEPENDENT])
    p.refused("POST", a["links"]["submit"], SUBMIT, "ENVELOPE_INCOMPLETE")  # one signature still missing
    p.sign(second, tokens[PRIVATE])
    a = p.get(a)
    assert a["state"] == "complete", a
    for doc in a["documents"]:
        assert doc["complete"] and all(r["met"] and r["timestamp"] and r["level"] for r in doc["requirements"])
        assert {r["national_id"] for r in doc["requirements"]} == {
            national_id(dev_env, PRIVATE), national_id(dev_env, INDEPENDENT), "14000123453"}

    a = p.call("POST", a["links"]["submit"], SUBMIT, 200)
    assert a["state"] == "submitted" and a["accepts_changes"]
    submission = a["submission"]
    assert datetime.fromisoformat(submission["submitted_at"]) < datetime.fromisoformat(tender["deadline"])
    receipt = p.call("GET", a["links"]["receipt"], RECEIPT, 200)
    assert receipt.headers["X-Pakat-SHA256"] == submission["receipt"]["sha256"]
    check_receipt(app_on_each_database, receipt.data, a, tmp=Path(app_on_each_database.config["PAKAT_TMP"]))
    trail = AuditLog(app_on_each_database.extensions["pakat"].database)
    (entry,) = [e for e in trail.entries(limit=1000) if e.action == "envelope.submitted"]
    assert entry.subject == a["id"] and entry.details["receipt"]["sha256"] == receipt_sha(a)
    assert trail.verify().ok
    # While submitted, the platform cannot read what it sealed.
    p.refused("GET", f"/api/v1/documents/{first}/pdf", PDF, "ENVELOPE_SEALED")
    p.refused("POST", SESSIONS.format(doc_id=first), SESSIONS, "ENVELOPE_STATE", json={"level": "B-T"})
    p.refused("POST", f"/api/v1/documents/{first}/seal", "/api/v1/documents/{doc_id}/seal", "ENVELOPE_STATE",
              json={"level": "B-B"})

    # B: one signatory, whom a session defaults to; submitted, a document replaced, submitted again.
    b = p.envelope(tender, "B", [{"national_id": national_id(dev_env, PRIVATE)}])
    b = p.add(b, "technical")
    old = b["documents"][0]["document_id"]
    created = p.session(old)
    assert created["expected_signer"]["national_id"] == national_id(dev_env, PRIVATE)
    p.call("DELETE", f"/api/v1/documents/{old}/signing-sessions/{created['id']}",
           "/api/v1/documents/{doc_id}/signing-sessions/{session_id}", 200)
    p.sign(old, tokens[PRIVATE])
    p.seal(old)
    b = p.call("POST", b["links"]["submit"], SUBMIT, 200)
    first_receipt = b["submission"]["receipt"]
    b = p.call("PUT", f"{b['links']['documents']}/{old}", REPLACE, 200,
               data={"pdf": (io.BytesIO(pdf_bytes("technical v2")), "technical-v2.pdf")})
    assert b["state"] == "draft" and b["submission"] is None
    assert b["receipts"][0]["superseded"] and b["receipts"][0]["superseded_reason"] == "replaced"
    assert [d["document_id"] for d in b["replaced_documents"]] == [old]
    new = b["documents"][0]["document_id"]
    assert b["replaced_documents"][0]["replaced_by"] == new and b["documents"][0]["position"] == 0
    p.refused("GET", RECEIPT.format(tender_id=tender["id"], envelope_id=b["id"]), RECEIPT, "ENVELOPE_STATE")
    p.refused("POST", SESSIONS.format(doc_id=old), SESSIONS, "ENVELOPE_STATE", json={"level": "B-T"})
    p.sign(new, tokens[PRIVATE])
    p.seal(new)
    b = p.call("POST", b["links"]["submit"], SUBMIT, 200)
    assert b["submission"]["receipt"]["id"] != first_receipt["id"] and len(b["receipts"]) == 2

    # C: withdrawn before the deadline, for good.
    c = p.envelope(tender, "C", [{"national_id": national_id(dev_env, INDEPENDENT)}])
    c = p.add(c, "price")
    c = p.call("POST", c["links"]["withdraw"], WITHDRAW, 200)
    assert c["state"] == "withdrawn" and not c["accepts_changes"]
    p.refused("POST", c["links"]["submit"], SUBMIT, "ENVELOPE_STATE")

    p.refused("POST", tender["links"]["open"], OPEN, "DEADLINE_NOT_REACHED", json={"kind": "A"})
    elapsed = time.monotonic() - started
    assert elapsed < CLOSES_IN - 1, f"the work before the deadline took {elapsed:.0f} s: the deadline came first"
    wait_past(tender["deadline"])

    # After the deadline nothing changes, whoever asks and however.
    a = p.get(a)
    assert a["state"] == "locked" and not a["accepts_changes"]
    before = p.snapshot(a)
    replace_path = f"{a['links']['documents']}/{first}"
    p.refused("PUT", replace_path, REPLACE, "DEADLINE_PASSED",
              data={"pdf": (io.BytesIO(pdf_bytes("too late")), "late.pdf")})
    p.refused("POST", a["links"]["withdraw"], WITHDRAW, "DEADLINE_PASSED")
    p.refused("POST", a["links"]["submit"], SUBMIT, "DEADLINE_PASSED")
    p.refused("POST", a["links"]["documents"], DOCUMENTS, "DEADLINE_PASSED",
              data={"pdf": (io.BytesIO(pdf_bytes("too late")), "late.pdf")})
    p.refused("POST", SESSIONS.format(doc_id=first), SESSIONS, "DEADLINE_PASSED", json={"level": "B-T"})
    p.refused("POST", f"/api/v1/documents/{first}/seal", "/api/v1/documents/{doc_id}/seal", "DEADLINE_PASSED",
              json={"level": "B-B"})
    p.refused("POST", ENVELOPES.format(tender_id=tender["id"]), ENVELOPES, "DEADLINE_PASSED", json={
        "kind": "A", "bidder": {"national_id": "14000987650", "name_fa": "دیگری", "name_en": "Other"},
        "requirements": {"signatories": [], "seal_required": True}})
    p.refused("GET", f"/api/v1/documents/{first}/pdf", PDF, "ENVELOPE_SEALED")
    assert p.snapshot(a) == before

    # The opening: A, then B, then C; never out of order, never twice.
    tender = p.call("GET", tender["links"]["self"], TENDER, 200)
    assert tender["state"] == "closed"
    p.refused("POST", tender["links"]["open"], OPEN, "OPENING_OUT_OF_ORDER", json={"kind": "B"})
    opened = p.call("POST", tender["links"]["open"], OPEN, 200, json={"kind": "A"})
    assert opened["tender"]["opened_kinds"] == ["A"] and opened["tender"]["state"] == "opening"
    assert [e["id"] for e in opened["envelopes"]] == [a["id"]] and opened["envelopes"][0]["state"] == "opened"
    p.refused("POST", tender["links"]["open"], OPEN, "OPENING_OUT_OF_ORDER", json={"kind": "A"})
    pdf = p.call("GET", f"/api/v1/documents/{first}/pdf", PDF, 200)
    assert pdf.headers["X-Pakat-SHA256"] == a["documents"][0]["sha256"]
    p.refused("GET", f"/api/v1/documents/{new}/pdf", PDF, "ENVELOPE_SEALED")  # B is still sealed
    assert p.get(b)["state"] == "locked"
    opened = p.call("POST", tender["links"]["open"], OPEN, 200, json={"kind": "B"})
    assert [e["id"] for e in opened["envelopes"]] == [b["id"]]
    p.call("GET", f"/api/v1/documents/{new}/pdf", PDF, 200)
    opened = p.call("POST", tender["links"]["open"], OPEN, 200, json={"kind": "C"})
    assert opened["envelopes"] == [] and opened["tender"]["state"] == "opened"
    assert p.get(c)["state"] == "withdrawn"
    listed = p.call("GET", tender["links"]["envelopes"], ENVELOPES, 200)
    assert [(e["kind"], e["state"]) for e in listed["envelopes"]] == [("A", "opened"), ("B", "opened"),
                                                                       ("C", "withdrawn")]


def receipt_sha(envelope: dict[str, Any]) -> str:
    return str(envelope["submission"]["receipt"]["sha256"])


def check_receipt(app: Flask, data: bytes, envelope: dict[str, Any], tmp: Path) -> None:
    """The receipt validates TOTAL_PASSED at B-LTA under the platform's seal and lists every document's SHA-256."""
    report = validator_of(app).validate(data)
    assert report.indication is Indication.TOTAL_PASSED, report.reason
    (seal,) = report.signatures
    assert seal.pades_level == "B-LTA"
    assert seal.signer is not None and seal.signer.national_id == "14000987650"  # demo-gov: the platform's seal
    (stamp,) = [t for t in seal.timestamps if t.kind == "signature"]
    assert stamp.time == datetime.fromisoformat(envelope["submission"]["submitted_at"])
    path = tmp / f"receipt-{uuid.uuid4().hex}.pdf"
    path.write_bytes(data)
    try:
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
    finally:
        path.unlink()
    for doc in envelope["documents"]:
        assert doc["sha256"] in text
        assert f"revision {doc['revision']}" in text.lower()
    assert "14000123453" in text and "submission receipt" in text.lower()


# -- refusals and reasons, on one SQLite app -----------------------------------------------------------------


def test_incomplete_envelopes_say_why_and_cannot_be_submitted(platform: Platform, dev_env: Any,
                                                               tokens: dict[str, Token]) -> None:
    tender = platform.tender(3600)
    env = platform.envelope(tender, "A", [{"national_id": national_id(dev_env, PRIVATE)}], min_assurance="silver")
    # Signed outside the envelope by a bronze (independent) signer, then brought in: below the minimum.
    stored = platform.upload("bronze-signed")
    platform.sign(stored["id"], tokens[INDEPENDENT])
    env = platform.add_stored(env, stored["id"])
    # The silver signer, but no company seal on this one.
    env = platform.add(env, "unsealed")
    platform.sign(env["documents"][1]["document_id"], tokens[PRIVATE])
    env = platform.get(env)
    assert env["state"] == "signing"
    first, second = env["documents"]
    assert [(r["requirement"], r["met"], r["problem"]) for r in first["requirements"]] == [
        ("signatory", False, "missing"), ("seal", False, "missing")]
    assert [(r["requirement"], r["met"], r["problem"]) for r in second["requirements"]] == [
        ("signatory", True, None), ("seal", False, "missing")]
    assert second["requirements"][0]["assurance_level"] == "silver"
    assert second["requirements"][1]["reason"] == {"fa": "مهر سازمانی پیشنهاددهنده بر این سند نیست.",
                                                   "en": "The bidder's company seal is not on this document."}
    before = platform.snapshot(env)
    error = platform.refused("POST", env["links"]["submit"], SUBMIT, "ENVELOPE_INCOMPLETE")
    assert "company seal" in error["detail"]
    assert platform.snapshot(env) == before

    # The bronze signer is one of the signatories of another envelope with a silver minimum: met but for assurance.
    other = platform.envelope(tender, "B", [{"national_id": national_id(dev_env, INDEPENDENT)}],
                              min_assurance="silver", seal_required=False)
    stored = platform.upload("bronze-only")
    platform.sign(stored["id"], tokens[INDEPENDENT])
    other = platform.add_stored(other, stored["id"])
    (check,) = other["documents"][0]["requirements"]
    assert (check["met"], check["problem"], check["assurance_level"]) == (False, "assurance", "bronze")
    assert "silver" in check["reason"]["en"] and "silver" in check["reason"]["fa"]
    # And a session cannot even start signing for them: the certificate is refused before anything is prepared.
    doc = platform.add(other, "fresh")["documents"][1]["document_id"]
    created = platform.session(doc)
    assert created["expected_signer"]["national_id"] == national_id(dev_env, INDEPENDENT)
    answer = Agent(platform.client, created).certificate(tokens[INDEPENDENT].certificate_b64)
    assert answer.status_code == 422 and answer.json["error"]["code"] == "SIGNER_ASSURANCE_TOO_LOW"
    platform.spec.check("/agent/v1/sessions/{session_id}/certificate", "post", answer)


def test_seal_of_another_organisation_and_signers_outside_the_envelope(
    platform: Platform, dev_env: Any, tokens: dict[str, Token]
) -> None:
    tender = platform.tender(3600)
    # The bidder is demo-gov, but the API key's seal is demo-co's: the seal on the document is not the bidder's.
    env = platform.envelope(tender, "A", [{"national_id": national_id(dev_env, GOVERNMENT),
                                           "role": "Procurement Officer"}], bidder="14000987650")
    env = platform.add(env, "wrong seal")
    doc = env["documents"][0]["document_id"]
    platform.seal(doc)
    # Only an authorised signatory may sign; the right person with the right role passes.
    created = platform.session(doc)
    refused = Agent(platform.client, created).certificate(tokens[PRIVATE].certificate_b64)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "SIGNER_NOT_EXPECTED"
    platform.refused("POST", SESSIONS.format(doc_id=doc), SESSIONS, "REQUEST_INVALID",
                     json={"expected_signer": {"national_id": national_id(dev_env, PRIVATE)}})
    platform.sign(doc, tokens[GOVERNMENT])
    env = platform.get(env)
    signatory, seal = env["documents"][0]["requirements"]
    assert signatory["met"] and signatory["assurance_level"] == "gold"
    assert (seal["met"], seal["problem"]) == (False, "wrong_seal")
    assert "14000123453" in seal["reason"]["en"] and "14000987650" in seal["reason"]["en"]


def test_withdraw_before_the_deadline(platform: Platform, dev_env: Any) -> None:
    tender = platform.tender(3600)
    env = platform.add(platform.envelope(tender, "A", [{"national_id": national_id(dev_env, PRIVATE)}]), "w")
    env = platform.call("POST", env["links"]["withdraw"], WITHDRAW, 200)
    assert env["state"] == "withdrawn" and env["withdrawn_at"]
    doc = env["documents"][0]["document_id"]
    before = platform.snapshot(env)
    platform.refused("POST", env["links"]["withdraw"], WITHDRAW, "ENVELOPE_STATE")
    platform.refused("POST", env["links"]["documents"], DOCUMENTS, "ENVELOPE_STATE",
                     data={"pdf": (io.BytesIO(pdf_bytes("x")), "x.pdf")})
    platform.refused("PUT", f"{env['links']['documents']}/{doc}", REPLACE, "ENVELOPE_STATE",
                     data={"pdf": (io.BytesIO(pdf_bytes("x")), "x.pdf")})
    platform.refused("POST", SESSIONS.format(doc_id=doc), SESSIONS, "ENVELOPE_STATE", json={})
    assert platform.snapshot(env) == before
    # The bidder may bid again with a new envelope of the same kind.
    again = platform.envelope(tender, "A", [{"national_id": national_id(dev_env, PRIVATE)}])
    assert again["id"] != env["id"] and again["state"] == "draft"


def test_bad_requests_change_nothing(platform: Platform, dev_env: Any, spec: Spec) -> None:
    tender = platform.tender(3600, reference="bad-input")
    base = ENVELOPES.format(tender_id=tender["id"])
    now = datetime.now(UTC)
    for body, detail in (
        ({"reference": "x", "title_fa": "ف", "title_en": "e", "deadline": (now - timedelta(hours=1)).isoformat()},
         "not in the future"),
        ({"reference": "x", "title_fa": "ف", "title_en": "e", "deadline": "2030-01-01T10:00:00"}, "UTC offset"),
        ({"reference": "x", "title_fa": "ف", "title_en": "e", "deadline": "tomorrow"}, "ISO 8601"),
        ({"title_fa": "ف", "title_en": "e", "deadline": "2030-01-01T10:00:00Z"}, "reference is required"),
    ):
        error = platform.refused("POST", TENDERS, TENDERS, "REQUEST_INVALID", json=body)
        assert detail in error["detail"]
    platform.refused("POST", TENDERS, TENDERS, "TENDER_EXISTS", json={
        "reference": "bad-input", "title_fa": "ف", "title_en": "e", "deadline": "2030-01-01T10:00:00Z"})

    good: dict[str, Any] = {"kind": "A", "bidder": {"national_id": "14000123453", "name_fa": "ش", "name_en": "C"},
            "requirements": {"signatories": [{"national_id": national_id(dev_env, PRIVATE)}],
                             "min_assurance": "silver"}}
    for change, detail in (
        ({"kind": "D"}, "kind must be A, B or C"),
        ({"bidder": {"national_id": "۱۴۰۰", "name_fa": "ش", "name_en": "C"}}, "ASCII digits"),
        ({"requirements": {"signatories": [], "seal_required": False}}, "signatories, the seal, or both"),
        ({"requirements": {"min_assurance": "platinum"}}, "bronze, silver, gold"),
        ({"requirements": {"signatories": [{"national_id": "1"}, {"national_id": "1"}]}}, "listed twice"),
        ({"requirements": {"seal_required": "yes"}}, "true or false"),
    ):
        error = platform.refused("POST", base, ENVELOPES, "REQUEST_INVALID", json={**good, **change})
        assert detail in error["detail"], error
    env = platform.envelope(tender, "A", good["requirements"]["signatories"])
    platform.refused("POST", base, ENVELOPES, "ENVELOPE_EXISTS", json=good)
    env = platform.add(env, "taken")
    taken = env["documents"][0]["document_id"]
    other = platform.envelope(tender, "B", good["requirements"]["signatories"])
    before = platform.snapshot(other)
    platform.refused("POST", other["links"]["documents"], DOCUMENTS, "DOCUMENT_IN_ENVELOPE",
                     json={"document_id": taken})
    platform.refused("POST", other["links"]["documents"], DOCUMENTS, "DOCUMENT_NOT_FOUND",
                     json={"document_id": "0" * 32})
    platform.refused("POST", other["links"]["documents"], DOCUMENTS, "PDF_MISSING", json={})
    platform.refused("POST", other["links"]["documents"], DOCUMENTS, "NOT_A_PDF",
                     data={"pdf": (io.BytesIO(b"not a pdf"), "x.pdf")})
    platform.refused("PUT", f"{other['links']['documents']}/{taken}", REPLACE, "DOCUMENT_NOT_FOUND",
                     data={"pdf": (io.BytesIO(pdf_bytes("x")), "x.pdf")})
    platform.refused("POST", other["links"]["submit"], SUBMIT, "ENVELOPE_INCOMPLETE")
    platform.refused("GET", other["links"]["receipt"], RECEIPT, "ENVELOPE_STATE")
    platform.refused("POST", tender["links"]["open"], OPEN, "REQUEST_INVALID", json={"kind": "Z"})
    assert platform.snapshot(other) == before


def test_another_platform_sees_nothing(platform: Platform, app: Flask, dev_env: Any, spec: Spec) -> None:
    tender = platform.tender(3600)
    env = platform.add(platform.envelope(tender, "A", [{"national_id": national_id(dev_env, PRIVATE)}]), "mine")
    doc = env["documents"][0]["document_id"]
    stranger = Platform(app, app.test_client(), api_key(dev_env, "demo-gov"), spec)
    assert all(t["id"] != tender["id"] for t in stranger.call("GET", TENDERS, TENDERS, 200)["tenders"])
    before = platform.snapshot(env)
    ids = {"tender_id": tender["id"], "envelope_id": env["id"]}
    stranger.refused("GET", TENDER.format(**ids), TENDER, "TENDER_NOT_FOUND")
    stranger.refused("GET", ENVELOPES.format(**ids), ENVELOPES, "TENDER_NOT_FOUND")
    stranger.refused("GET", ENVELOPE.format(**ids), ENVELOPE, "TENDER_NOT_FOUND")
    stranger.refused("POST", SUBMIT.format(**ids), SUBMIT, "TENDER_NOT_FOUND")
    stranger.refused("POST", WITHDRAW.format(**ids), WITHDRAW, "TENDER_NOT_FOUND")
    stranger.refused("PUT", REPLACE.format(**ids, doc_id=doc), REPLACE, "TENDER_NOT_FOUND",
                     data={"pdf": (io.BytesIO(pdf_bytes("x")), "x.pdf")})
    stranger.refused("POST", OPEN.format(**ids), OPEN, "TENDER_NOT_FOUND", json={"kind": "A"})
    stranger.refused("GET", f"/api/v1/documents/{doc}/pdf", PDF, "DOCUMENT_NOT_FOUND")
    platform.refused("GET", ENVELOPE.format(tender_id=tender["id"], envelope_id="0" * 32), ENVELOPE,
                     "ENVELOPE_NOT_FOUND")
    nobody = Platform(app, app.test_client(), "wrong", spec)
    nobody.refused("GET", TENDERS, TENDERS, "API_KEY_INVALID")
    assert platform.snapshot(env) == before


# -- late submissions: the server clock says "in time", the TSA says otherwise ---------------------------------


class ShiftedClock:
    """The server clock, an hour behind: it believes every deadline below is still ahead."""

    def __call__(self) -> datetime:
        return datetime.now(UTC) - timedelta(hours=1)


def use_cases(app: Flask, clock: Any) -> Tenders:
    state = app.extensions["pakat"]
    return Tenders(state.database, state.store, state.deployment, validator_of(app), state.seals.get,
                   state.settings.tmp, clock=clock)


def complete_envelope(platform: Platform, cases: Tenders, caller: Caller, tender_id: str, dev_env: Any,
                      tokens: dict[str, Token], doc_id: str) -> str:
    envelope = cases.create_envelope(caller, tender_id, NewEnvelope(
        "A", Bidder("14000123453", "شرکت نمونه پاکت", "Pakat Demo Co."),
        Requirements((Signatory(national_id(dev_env, PRIVATE)),), "bronze", True)))
    cases.add_document(caller, tender_id, envelope.id, DocumentSource(document_id=doc_id))
    return envelope.id


def signed_and_sealed(platform: Platform, tokens: dict[str, Token], text: str) -> str:
    doc = platform.upload(text)["id"]
    platform.sign(doc, tokens[PRIVATE])
    platform.seal(doc)
    return str(doc)


def caller_of(dev_env: Any) -> Caller:
    return Caller("demo-co", hash_api_key(api_key(dev_env, "demo-co")))


def test_signatures_timestamped_after_the_deadline_are_late(platform: Platform, app: Flask, dev_env: Any,
                                                            tokens: dict[str, Token]) -> None:
    cases, caller = use_cases(app, ShiftedClock()), caller_of(dev_env)
    # Five seconds ago: the TSA's times have whole seconds, so a deadline "now" could still look ahead of them.
    deadline = datetime.now(UTC) - timedelta(seconds=5)
    tender = cases.create_tender(caller, NewTender("late-signatures", "دیر", "Late", deadline))
    doc = signed_and_sealed(platform, tokens, "signed after the deadline")  # the TSA says: after it
    envelope_id = complete_envelope(platform, cases, caller, tender.id, dev_env, tokens, doc)
    before = platform.snapshot({"id": envelope_id, "links": {"self": ENVELOPE.format(
        tender_id=tender.id, envelope_id=envelope_id)}})
    with pytest.raises(PakatError) as refused:
        cases.submit(caller, tender.id, envelope_id)
    assert refused.value.kind is errors.SUBMISSION_LATE
    assert "not before the deadline" in (refused.value.detail or "")
    view = cases.envelope(caller, tender.id, envelope_id)
    assert [c.problem for d in view.documents if d.check for c in d.check.checks] == ["late", "late"]
    assert view.receipts == () and view.state == "signing"
    assert platform.snapshot({"id": envelope_id, "links": {"self": ENVELOPE.format(
        tender_id=tender.id, envelope_id=envelope_id)}}) == before


def test_a_receipt_timestamped_after_the_deadline_records_nothing(platform: Platform, app: Flask,
                                                                   dev_env: Any, tokens: dict[str, Token]) -> None:
    cases, caller = use_cases(app, ShiftedClock()), caller_of(dev_env)
    doc = signed_and_sealed(platform, tokens, "signed in time")
    # The deadline falls after the signatures' timestamps and before the receipt's.
    tender = cases.create_tender(caller, NewTender("late-receipt", "دیر", "Late", datetime.now(UTC) +
                                                   timedelta(seconds=2)))
    envelope_id = complete_envelope(platform, cases, caller, tender.id, dev_env, tokens, doc)
    assert cases.envelope(caller, tender.id, envelope_id).state == "complete"
    # A TSA's genTime has whole seconds: wait until even a truncated one falls after the deadline.
    time.sleep(max(0.0, (tender.deadline - datetime.now(UTC)).total_seconds()) + 1.1)
    path = {"id": envelope_id, "links": {"self": ENVELOPE.format(tender_id=tender.id, envelope_id=envelope_id)}}
    before = platform.snapshot(path)
    blobs = sorted(p.name for p in app.extensions["pakat"].store.root.rglob("*.pdf"))
    with pytest.raises(PakatError) as refused:
        cases.submit(caller, tender.id, envelope_id)
    assert refused.value.kind is errors.SUBMISSION_LATE and "receipt's timestamp" in (refused.value.detail or "")
    assert platform.snapshot(path) == before
    assert sorted(p.name for p in app.extensions["pakat"].store.root.rglob("*.pdf")) == blobs
    # With the real clock the same submission is refused at once, before anything is sealed.
    with pytest.raises(PakatError) as early:
        use_cases(app, lambda: datetime.now(UTC)).submit(caller, tender.id, envelope_id)
    assert early.value.kind is errors.DEADLINE_PASSED


# -- the deployment's new settings ---------------------------------------------------------------------------


def test_platform_seal_and_assurance_levels_are_checked(dev_env: Any, tmp_path: Path) -> None:
    deployment = load_deployment(dev_env.deployment_path)
    assert deployment.assurance_levels == ("bronze", "silver", "gold")
    assert {p.seal for p in deployment.platforms.values()} == {"demo-gov"}
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    for name, change in (
        ("seal", lambda r: r["api_keys"][0]["platform"].update(seal="nobody")),
        ("levels", lambda r: r["validation"].update(assurance_levels=["bronze", "gold"])),
        ("repeat", lambda r: r["validation"].update(assurance_levels=["gold", "gold", "silver", "bronze"])),
    ):
        broken = yaml.safe_load(yaml.safe_dump(raw))
        change(broken)
        path = dev_env.deployment_path.with_name(f"broken-{name}-{uuid.uuid4().hex[:6]}.yaml")
        path.write_text(yaml.safe_dump(broken, allow_unicode=True), encoding="utf-8")
        try:
            with pytest.raises(AccessError) as caught:
                load_deployment(path)
        finally:
            path.unlink()
        assert caught.value.kind is errors.CONFIG_INVALID



def test_a_signature_racing_the_submission_is_refused_at_the_signature_step(platform: Platform, dev_env: Any,
                                                                           tokens: dict[str, Token]) -> None:
    """The guard sits where every revision is written: a session prepared before the submission embeds nothing."""
    tender = platform.tender(3600)
    env = platform.envelope(tender, "A", [{"national_id": national_id(dev_env, PRIVATE)},
                                          {"national_id": national_id(dev_env, INDEPENDENT)}])
    env = platform.add(env, "raced")
    doc = env["documents"][0]["document_id"]
    platform.sign(doc, tokens[PRIVATE])
    # A second signer starts, and another session is half-way through the signature step when the envelope closes.
    late = platform.session(doc)
    agent = Agent(platform.client, late)
    answer = agent.certificate(tokens[INDEPENDENT].certificate_b64)
    assert answer.status_code == 200, answer.json
    signed = agent.signature(tokens[INDEPENDENT].sign(answer.json), tokens[INDEPENDENT].certificate_b64)
    assert signed.status_code == 202
    # Busy while the level is raised: submitting now is refused, nothing changes.
    before = platform.snapshot(env)
    platform.refused("POST", env["links"]["submit"], SUBMIT, "DOCUMENT_BUSY")
    assert platform.snapshot(env) == before
    raise_level(platform.app, late["id"])
    platform.seal(doc)
    assert platform.get(env)["state"] == "complete"

    third = platform.session(doc, expected_signer={"national_id": national_id(dev_env, PRIVATE)})
    agent = Agent(platform.client, third)
    answer = agent.certificate(tokens[PRIVATE].certificate_b64)
    assert answer.status_code == 200, answer.json
    env = platform.call("POST", env["links"]["submit"], SUBMIT, 200)
    before = platform.snapshot(env)
    refused = agent.signature(tokens[PRIVATE].sign(answer.json), tokens[PRIVATE].certificate_b64)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "ENVELOPE_STATE"
    platform.spec.check("/agent/v1/sessions/{session_id}/signature", "post", refused)
    assert platform.snapshot(env) == before
