"""The console's tenders and envelopes pages, in process: roles, CSRF, isolation, and a tender to its opening.

People sign in through the sign-in form (its CSRF token read from the page);
the HSM seals, the dev TSA timestamps and Pakat's validator judges, as in
production. The tender's deadline is real time: a short one, waited for.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from console_kit import Console, audit_entries, code_of, error_of
from flask import Flask
from pakat_testkit import pdf_bytes

from envelopes.people import Role
from pakat.dates import TEHRAN

BIDDER = "14000123453"  # demo-co's national ID: its seal meets the envelope's seal requirement
CLOSES_IN = 40


def tender_form(seconds: float, reference: str, platform: str) -> dict[str, str]:
    return {"platform": platform, "reference": reference, "title_fa": "خرید تجهیزات شبکه",
            "title_en": "Network equipment purchase",
            "deadline": (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()}


ENVELOPE_FORM = {"kind": "A", "bidder_national_id": BIDDER, "bidder_name_fa": "شرکت نمونه پاکت",
                 "bidder_name_en": "Pakat Demo Co.", "signatories": "", "min_assurance": "",
                 "seal_required": "yes"}


def platform_of(app: Flask, organisation: str) -> str:
    (found,) = app.extensions["pakat"].tenders().platforms(organisation)
    return str(found.api_key_sha256)


def ids_in(html: str, prefix: str) -> list[str]:
    return re.findall(rf'id="{prefix}-([0-9a-f]{{32}})"', html)


@pytest.fixture(scope="module")
def people(app: Flask) -> dict[str, Console]:
    return {"operator": Console(app, "demo-co", Role.OPERATOR), "viewer": Console(app, "demo-co", Role.VIEWER),
            "stranger": Console(app, "demo-gov", Role.OPERATOR)}


def test_a_tender_from_creation_to_the_opening(app: Flask, people: dict[str, Console]) -> None:
    op, viewer, stranger = people["operator"], people["viewer"], people["stranger"]
    reference = f"T-{uuid.uuid4().hex[:8]}"
    page = op.submit("/console/tenders", 201, tender_form(CLOSES_IN, reference, platform_of(app, "demo-co")))
    (tender_id,) = set(re.findall(r'data-tender="([0-9a-f]{32})"', page))
    assert 'data-code="DEADLINE_NOT_REACHED"' in page and 'id="envelope-form"' in page
    listed = op.page("/console/tenders")
    assert reference in listed and "(تهران)" in listed and 'class="countdown"' in listed
    assert 'data-state="open"' in listed
    tender = f"/console/tenders/{tender_id}"

    page = op.submit(f"{tender}/envelopes", 201, ENVELOPE_FORM)
    (envelope_id,) = set(re.findall(r'data-envelope="([0-9a-f]{32})"', page))
    envelope = f"{tender}/envelopes/{envelope_id}"
    assert 'data-state="draft"' in page and 'id="upload-form"' in page
    reply = op.client.post(f"{envelope}/documents", data={
        "csrf_token": op.csrf(), "pdf": [(io.BytesIO(pdf_bytes("guarantee")), "guarantee.pdf"),
                                       (io.BytesIO(pdf_bytes("annex")), "annex.pdf")]})
    assert reply.status_code == 201, error_of(reply.text)
    docs = ids_in(reply.text, "doc")
    assert len(docs) == 2
    # Each requirement's state and why, in Persian (and in English on the English page).
    assert reply.text.count('data-requirement="seal"') == 2 and 'data-met="no"' in reply.text
    english = op.page(f"{envelope}?lang=en")
    assert "No seal" in english or "seal" in english.lower()

    # Submitting needs the confirmation, and a complete envelope.
    assert code_of(op.submit(f"{envelope}/submit", 400, {})) == "REQUEST_INVALID"
    assert code_of(op.submit(f"{envelope}/submit", 409, {"confirm": "yes"})) == "ENVELOPE_INCOMPLETE"
    # A seal-only envelope has no signing session; one with a signatory has: its link and QR code, once.
    assert 'class="secondary new-session"' not in reply.text
    page = op.submit(f"{tender}/envelopes", 201,
                   {**ENVELOPE_FORM, "kind": "B", "signatories": "۰۰۱۲۳۴۵۶۷۸, مدیرعامل"})
    (signed,) = set(re.findall(r'data-envelope="([0-9a-f]{32})"', page))
    assert 'data-national-id="0012345678"' in page
    page = op.client.post(f"{tender}/envelopes/{signed}/documents", data={
        "csrf_token": op.csrf(), "pdf": (io.BytesIO(pdf_bytes("technical")), "technical.pdf")}).text
    (technical,) = ids_in(page, "doc")
    assert code_of(op.submit(f"{tender}/envelopes/{signed}/documents/{technical}/sessions", 400,
                           {"expected": "99"})) == "REQUEST_INVALID"
    page = op.submit(f"{tender}/envelopes/{signed}/documents/{technical}/sessions", 201,
                     {"expected": "0012345678"})
    assert 'id="signing-page-url"' in page and 'src="data:image/svg+xml;base64,' in page
    assert re.search(r'href="http://[^"]+/sign/[0-9a-f]+#[^"]+"', page)
    page = op.page(f"{tender}/envelopes/{signed}")
    assert 'data-state="awaiting_certificate"' in page and 'id="signing-page-url"' not in page
    for doc in docs:
        op.submit(f"{envelope}/documents/{doc}/seal", 200)
    page = op.page(envelope)
    assert 'data-met="no"' not in page and 'data-state="complete"' in page, error_of(page)
    page = op.submit(f"{envelope}/submit", 200, {"confirm": "yes"})
    assert 'data-state="submitted"' in page and 'id="receipt-download"' in page
    receipt = op.client.get(f"{envelope}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.data.startswith(b"%PDF")
    assert viewer.client.get(f"{envelope}/receipt.pdf").status_code == 200

    # A second envelope (kind C) is withdrawn, confirmed.
    page = op.submit(f"{tender}/envelopes", 201, {**ENVELOPE_FORM, "kind": "C"})
    (other,) = set(re.findall(r'data-envelope="([0-9a-f]{32})"', page))
    assert code_of(op.submit(f"{tender}/envelopes/{other}/withdraw", 400, {})) == "REQUEST_INVALID"
    assert 'data-state="withdrawn"' in op.submit(f"{tender}/envelopes/{other}/withdraw", 200, {"confirm": "yes"})

    # The viewer reads everything but changes nothing, and is offered no form.
    for path in ("/console/tenders", tender, envelope):
        html = viewer.page(path)
        assert not re.search(r'<form method="post" action="/console/tenders', html), path
    for path, data in ((("/console/tenders"), tender_form(60, "V-1", platform_of(app, "demo-co"))),
                       (f"{tender}/envelopes", ENVELOPE_FORM), (f"{envelope}/submit", {"confirm": "yes"}),
                       (f"{envelope}/withdraw", {"confirm": "yes"}), (f"{tender}/open", {"kind": "A"}),
                       (f"{envelope}/documents/{docs[0]}/seal", {}),
                       (f"{envelope}/documents/{docs[0]}/sessions", {})):
        assert code_of(viewer.submit(path, 403, data)) == "ROLE_FORBIDDEN", path

    # Another organisation's tender and envelope do not exist for its people.
    assert reference not in stranger.page("/console/tenders")
    for path in (tender, envelope, f"{envelope}/receipt.pdf"):
        stranger.page(path, 404)
    for path, data in ((f"{tender}/envelopes", ENVELOPE_FORM), (f"{envelope}/withdraw", {"confirm": "yes"}),
                       (f"{tender}/open", {"kind": "A"}), (f"{envelope}/documents/{docs[0]}/seal", {})):
        stranger.submit(path, 404, data)
    op.page(f"{tender}/envelopes/{'0' * 32}", 404)
    # Nor is another organisation's platform theirs to create a tender for.
    assert code_of(stranger.submit("/console/tenders", 422, tender_form(60, "X-1", platform_of(app, "demo-co")))) \
        == "TENDER_PLATFORM_UNKNOWN"

    # The opening waits for the deadline, then goes A → B → C.
    assert code_of(op.submit(f"{tender}/open", 409, {"kind": "A"})) == "DEADLINE_NOT_REACHED"
    (found,) = [t for t in app.extensions["pakat"].tenders().organisation_tenders("demo-co") if t.id == tender_id]
    time.sleep(max(0.0, (found.deadline - datetime.now(UTC)).total_seconds()) + 0.5)
    page = op.page(tender)
    assert 'data-state="closed"' in page and 'id="open-kind-A"' in page
    assert code_of(op.submit(f"{tender}/open", 409, {"kind": "B"})) == "OPENING_OUT_OF_ORDER"
    page = op.submit(f"{tender}/open", 200, {"kind": "A"})
    assert 'id="opened-now"' in page and 'data-opened="yes"' in page and 'id="open-kind-B"' in page
    op.submit(f"{tender}/open", 200, {"kind": "B"})
    page = op.submit(f"{tender}/open", 200, {"kind": "C"})
    assert 'data-state="opened"' in page and page.count('data-opened="yes"') == 3
    assert 'data-state="opened"' in op.page(envelope)

    # Every change the operator made is in the audit log under their name.
    actions = {e.action for e in audit_entries(app) if e.actor == op.actor}
    assert {"tender.created", "envelope.created", "envelope.document_added", "document.sealed",
            "envelope.submitted", "envelope.withdrawn", "tender.opened", "signing_session.opened"} <= actions


def test_every_form_needs_its_csrf_token(app: Flask, people: dict[str, Console]) -> None:
    op = people["operator"]
    platform = platform_of(app, "demo-co")
    page = op.submit("/console/tenders", 201, tender_form(3600, f"C-{uuid.uuid4().hex[:8]}", platform))
    (tender_id,) = set(re.findall(r'data-tender="([0-9a-f]{32})"', page))
    tender = f"/console/tenders/{tender_id}"
    page = op.submit(f"{tender}/envelopes", 201, ENVELOPE_FORM)
    (envelope_id,) = set(re.findall(r'data-envelope="([0-9a-f]{32})"', page))
    envelope = f"{tender}/envelopes/{envelope_id}"
    before = op.page(envelope)
    forms = (("/console/tenders", tender_form(3600, "NO-CSRF", platform)), (f"{tender}/envelopes", ENVELOPE_FORM),
             (f"{tender}/open", {"kind": "A"}), (f"{envelope}/documents", {}),
             (f"{envelope}/submit", {"confirm": "yes"}), (f"{envelope}/withdraw", {"confirm": "yes"}),
             (f"{envelope}/documents/{'0' * 32}/seal", {}), (f"{envelope}/documents/{'0' * 32}/sessions", {}))
    for path, data in forms:
        assert code_of(op.submit(path, 403, data, csrf=False)) == "CSRF_INVALID", path
        assert code_of(op.submit(path, 403, {**data, "csrf_token": "x" * 43}, csrf=False)) == "CSRF_INVALID", path
    assert "NO-CSRF" not in op.page("/console/tenders")
    assert op.page(envelope) == before


def test_tender_form_is_validated_as_the_api_is(app: Flask, people: dict[str, Console]) -> None:
    op = people["operator"]
    platform = platform_of(app, "demo-co")
    past = op.submit("/console/tenders", 400, tender_form(-60, "PAST-1", platform))
    assert code_of(past) == "REQUEST_INVALID" and 'value="PAST-1"' in past  # the form keeps what was typed
    assert code_of(op.submit("/console/tenders", 400, {**tender_form(60, "", platform)})) == "REQUEST_INVALID"
    # A datetime-local value is Tehran's wall clock.
    moment = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    reference = f"L-{uuid.uuid4().hex[:6]}"
    op.submit("/console/tenders", 201, {**tender_form(0, reference, platform),
                                      "deadline": moment.astimezone(TEHRAN).strftime("%Y-%m-%dT%H:%M")})
    (made,) = [t for t in app.extensions["pakat"].tenders().organisation_tenders("demo-co")
               if t.reference == reference]
    assert made.deadline == moment
    assert "(تهران)" in op.page("/console/tenders?lang=fa")
    bad = op.submit("/console/tenders", 422, {**tender_form(60, "P-2", platform), "platform": "0" * 64})
    assert code_of(bad) == "TENDER_PLATFORM_UNKNOWN"
