"""A person signs with their own token through the reference agent, then the organisation seals.

Everything is a real process on loopback: ``pakat serve`` (two
processes, so steps land on different processes), ``pakat worker`` raising the
signature to B-LTA, a Redis of the tests' own, the dev PKI's responders, a
platform's webhook receiver, and ``pakat agent sign`` against a SoftHSM token
holding a dev-PKI person's key. The result must validate in Pakat's validator
and in pyHanko with both signatures at B-LTA.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from pakat_testkit import (
    api_key,
    assert_no_secret,
    free_port,
    pakat_command,
    pakat_server,
    pakat_worker,
    pdf_bytes,
    process_env,
    secrets_of,
    wait_until,
)
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from signing_checks import load_asn1_certificate

from envelopes.webhooks import verify_signature
from hsm_config.deployment import hash_api_key, validation_config
from hsm_config.deployment import load_deployment as load_deployment_file
from validation.engine import Validator
from validation.model import Indication

PERSON = "user-gov"  # affiliated with a government body, with a role title
WEBHOOK_SECRET = "whsec-e2e-" + uuid.uuid4().hex


class Receiver:
    """The platform's webhook endpoint: keeps every event whose HMAC verifies."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.refused = 0
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify_signature(WEBHOOK_SECRET, self.headers.get("X-Pakat-Timestamp", ""),
                                      self.headers.get("X-Pakat-Signature", ""), body)
                if ok:
                    received.events.append(json.loads(body))
                else:
                    received.refused += 1
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pakat/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def event(self, name: str, session_id: str, timeout: float = 60) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events if e["event"] == name and e["session_id"] == session_id), None)

        wait_until(lambda: found() is not None, timeout, f"webhook {name} for {session_id}")
        event = found()
        assert event is not None
        return event


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def service(dev_env: Any, redis_url: str, receiver: Receiver,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The server, a worker and their shared home, on a deployment whose demo-co key has a webhook."""
    home = tmp_path_factory.mktemp("e2e-home")
    secret_file = home / "webhook.secret"
    secret_file.write_text(WEBHOOK_SECRET, encoding="utf-8")
    secret_file.chmod(0o600)
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    own = hash_api_key(api_key(dev_env, "demo-co"))
    for entry in raw["api_keys"]:
        if entry["sha256"] == own:
            entry["webhook"] = {"url": receiver.url, "secret_file": str(secret_file)}
    raw["webhooks"] = {"retry_intervals": [1, 1, 1]}
    config = dev_env.deployment_path.with_name(f"e2e-{home.name}.yaml")
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    env = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"e2e-{uuid.uuid4().hex[:8]}"}
    try:
        with (
            pakat_server(config, home, workers=2, env=env) as (url, serve_log, _),
            pakat_worker(home, {"PAKAT_CONFIG": str(config), **env}) as worker_log,
        ):
            yield {"url": url, "home": home, "config": config, "logs": [serve_log, worker_log]}
    finally:
        config.unlink(missing_ok=True)


def run_agent(dev_env: Any, session: dict[str, Any], home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``pakat agent sign`` as the user would run it, the secret and PIN in files, never on the command line."""
    user = dev_env.users[PERSON]
    secret_file = home / f"agent-{session['id']}.secret"
    secret_file.write_text(session["agent_secret"], encoding="utf-8")
    secret_file.chmod(0o600)
    return subprocess.run(
        pakat_command("agent", "sign", "--session-url", session["agent_url"], "--secret-file", str(secret_file),
                      "--module", dev_env.softhsm_module, "--token-label", user.token_label,
                      "--pin-file", str(user.pin_file), *extra),
        env=process_env(dev_env.softhsm_env()), capture_output=True, text=True, timeout=120,
    )


def test_person_signs_with_the_agent_then_the_seal_is_applied(
    dev_env: Any, service: dict[str, Any], receiver: Receiver
) -> None:
    url, headers = service["url"], {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    user = dev_env.users[PERSON]
    doc = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                        files={"pdf": ("envelope-B.pdf", io.BytesIO(pdf_bytes("technical envelope", pages=3)))})
    assert doc.status_code == 201, doc.text
    doc_id = doc.json()["id"]
    created = requests.post(f"{url}/api/v1/documents/{doc_id}/signing-sessions", headers=headers, timeout=30,
                            json={"level": "B-LTA", "expected_signer": {"national_id": user.national_code,
                                                                        "role": user.title}})
    assert created.status_code == 201, created.text
    session = created.json()

    signed = run_agent(dev_env, session, service["home"], "--json")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert_no_secret([signed.stdout, signed.stderr], [session["agent_secret"], user.read_pin()])
    # The agent checked the message digest against the prepared revision it downloaded before signing.
    served = b"".join(log.read_bytes() for log in service["logs"])
    assert f"/agent/v1/sessions/{session['id']}/prepared.pdf".encode() in served

    event = receiver.event("signature.completed", session["id"])
    assert event["document_id"] == doc_id and event["level"] == "B-LTA"
    assert event["signer"]["national_id"] == user.national_code
    state = requests.get(f"{url}/api/v1/documents/{doc_id}/signing-sessions/{session['id']}", headers=headers,
                         timeout=30).json()
    assert state["state"] == "completed"

    sealed = requests.post(f"{url}/api/v1/documents/{doc_id}/seal", headers=headers, json={"level": "B-LTA"},
                           timeout=120)
    assert sealed.status_code == 200, sealed.text
    pdf = requests.get(f"{url}/api/v1/documents/{doc_id}/pdf", headers=headers, timeout=30)
    assert pdf.status_code == 200

    deployment = load_deployment_file(service["config"])
    report = Validator(validation_config(deployment)).validate(pdf.content)
    assert report.indication is Indication.TOTAL_PASSED
    assert [(s.indication, s.pades_level) for s in report.signatures] == [(Indication.TOTAL_PASSED, "B-LTA")] * 2

    reader = PdfFileReader(io.BytesIO(pdf.content))
    regular = reader.embedded_regular_signatures
    assert len(regular) == 2
    vc = ValidationContext(trust_roots=[load_asn1_certificate(dev_env.root_cert_path)], allow_fetching=True,
                           revocation_mode="hard-fail")
    for sig in regular:
        status = validate_pdf_signature(sig, vc)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.modification_level is not None
        assert status.modification_level <= ModificationLevel.FORM_FILLING, status.modification_level
        assert status.timestamp_validity is not None and status.timestamp_validity.valid

    assert receiver.refused == 0
    secrets = [*secrets_of(dev_env), session["agent_secret"], WEBHOOK_SECRET, user.read_pin()]
    assert_no_secret([log.read_bytes() for log in service["logs"]], secrets)


def test_the_agent_reports_refusals_and_the_document_stays_as_it_was(
    dev_env: Any, service: dict[str, Any]
) -> None:
    url, headers = service["url"], {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    doc = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                        files={"pdf": ("envelope-C.pdf", io.BytesIO(pdf_bytes("price envelope")))}).json()

    def session(**body: Any) -> dict[str, Any]:
        reply = requests.post(f"{url}/api/v1/documents/{doc['id']}/signing-sessions", headers=headers,
                              json={"level": "B-T", **body}, timeout=30)
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    # The token holds someone else's certificate: refused by the agent itself, nothing posted.
    someone_else = run_agent(dev_env, session(expected_signer={"national_id": "0012345679"}), service["home"],
                             "--json")
    assert someone_else.returncode == 6, someone_else.stdout + someone_else.stderr
    assert json.loads(someone_else.stdout)["error"]["code"] == "NO_MATCHING_CERTIFICATE"

    cancelled = session()
    requests.delete(f"{url}/api/v1/documents/{doc['id']}/signing-sessions/{cancelled['id']}", headers=headers,
                    timeout=30)
    gone = run_agent(dev_env, cancelled, service["home"], "--json")
    assert gone.returncode == 3 and json.loads(gone.stdout)["error"]["code"] == "SESSION_CANCELLED"

    wrong_secret = session()
    wrong_secret["agent_secret"] = "not-the-secret-" + uuid.uuid4().hex
    refused = run_agent(dev_env, wrong_secret, service["home"], "--json")
    assert refused.returncode != 0 and json.loads(refused.stdout)["error"]["code"] == "AGENT_SECRET_INVALID"

    time.sleep(0.2)
    now = requests.get(f"{url}/api/v1/documents/{doc['id']}", headers=headers, timeout=30).json()
    assert (now["revision"], now["sha256"], now["signatures"]) == (0, doc["sha256"], [])


# -- the pairing link: what a bidder is given, and all the agent needs ---------------------------


def run_link(dev_env: Any, link: str, *extra: str, stdin: str | None = None,
             **popen: Any) -> subprocess.CompletedProcess[str]:
    """``pakat agent sign LINK`` with no module, token or secret options: the agent finds the token itself."""
    return subprocess.run(
        pakat_command("agent", "sign", link, *extra), env=process_env(dev_env.softhsm_env()), input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        start_new_session=True, check=False, **popen,
    )


def _new_session(dev_env: Any, url: str, name: str, **body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    doc = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                        files={"pdf": (name, io.BytesIO(pdf_bytes(name)))})
    assert doc.status_code == 201, doc.text
    created = requests.post(f"{url}/api/v1/documents/{doc.json()['id']}/signing-sessions", headers=headers,
                            json={"level": "B-B", **body}, timeout=30)
    assert created.status_code == 201, created.text
    return dict(created.json()), headers


def _state(url: str, headers: dict[str, str], session: dict[str, Any]) -> str:
    reply = requests.get(f"{url}/api/v1/documents/{session['document_id']}/signing-sessions/{session['id']}",
                         headers=headers, timeout=30)
    return str(reply.json()["state"])


def test_the_link_and_a_pin_file_are_all_it_takes(dev_env: Any, service: dict[str, Any]) -> None:
    user = dev_env.users[PERSON]
    session, headers = _new_session(dev_env, service["url"], "link-argv.pdf",
                                    expected_signer={"national_id": user.national_code, "role": user.title})
    link = session["pairing_link"]
    assert link.startswith("pakat://sign?")
    signed = run_link(dev_env, link, "--pin-file", str(user.pin_file), "--json")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    outcome = json.loads(signed.stdout)
    assert outcome["state"] in ("signed", "completed") and outcome["certificate"]["token"] == user.token_label
    assert _state(service["url"], headers, session) in ("signed", "completed")

    # The same link again: the session is reported as already signed, not as expired.
    again = run_link(dev_env, link, "--pin-file", str(user.pin_file), "--json")
    assert again.returncode == 3 and json.loads(again.stdout)["error"]["code"] == "SESSION_ALREADY_SIGNED"
    assert "این نشست پیش‌تر امضا شده است" in again.stderr
    secrets = [session["agent_secret"], user.read_pin()]
    assert_no_secret([signed.stdout, signed.stderr, again.stdout, again.stderr], secrets)


def test_a_wrong_token_is_refused_before_the_pin_then_the_link_on_stdin_signs(
    dev_env: Any, service: dict[str, Any]
) -> None:
    user = dev_env.users[PERSON]
    other = dev_env.users["user-independent"]
    session, headers = _new_session(dev_env, service["url"], "link-stdin.pdf",
                                    expected_signer={"national_id": user.national_code})
    read_end, write_end = os.pipe()
    os.write(write_end, b"pin-that-must-stay-unread\n")
    os.close(write_end)
    try:
        # Only the other person's token is offered: nothing fits, and the PIN descriptor stays untouched.
        wrong = run_link(dev_env, "-", "--token-label", other.token_label, "--pin-fd", str(read_end), "--json",
                         stdin=session["pairing_link"] + "\n", pass_fds=(read_end,))
        assert wrong.returncode == 6, wrong.stdout + wrong.stderr
        assert json.loads(wrong.stdout)["error"]["code"] == "NO_MATCHING_CERTIFICATE"
        assert os.read(read_end, 100) == b"pin-that-must-stay-unread\n"
    finally:
        os.close(read_end)
    assert _state(service["url"], headers, session) == "awaiting_certificate"  # still usable

    signed = run_link(dev_env, "-", "--pin-file", str(user.pin_file), stdin=session["pairing_link"] + "\n")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert "امضا شد" in signed.stdout and "Signed" in signed.stdout
    assert _state(service["url"], headers, session) in ("signed", "completed")
    secrets = [session["agent_secret"], user.read_pin()]
    assert_no_secret([wrong.stdout, wrong.stderr, signed.stdout, signed.stderr], secrets)


def test_several_fitting_certificates_need_a_choice_and_nothing_is_posted(
    dev_env: Any, service: dict[str, Any]
) -> None:
    session, headers = _new_session(dev_env, service["url"], "link-anyone.pdf")  # any signer will do
    user = dev_env.users[PERSON]
    proc = run_link(dev_env, session["pairing_link"], "--pin-file", str(user.pin_file))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--certificate" in proc.stderr and user.key_id.hex() in proc.stderr
    assert _state(service["url"], headers, session) == "awaiting_certificate"
    assert_no_secret([proc.stdout, proc.stderr], [session["agent_secret"], user.read_pin()])


# -- a session on several documents (an envelope's A, B, C) ------------------------------------------------


def _new_group(dev_env: Any, url: str, names: list[str], **body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    ids = []
    for name in names:
        doc = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                            files={"pdf": (name, io.BytesIO(pdf_bytes(name, pages=2)))})
        assert doc.status_code == 201, doc.text
        ids.append(doc.json()["id"])
    created = requests.post(f"{url}/api/v1/signing-sessions", headers=headers, timeout=30,
                            json={"documents": ids, "level": "B-B", **body})
    assert created.status_code == 201, created.text
    return dict(created.json()), headers


def _group_states(url: str, headers: dict[str, str], created: dict[str, Any]) -> list[str]:
    reply = requests.get(f"{url}/api/v1/signing-sessions/{created['id']}", headers=headers, timeout=30)
    return [str(s["state"]) for s in reply.json()["sessions"]]


def test_one_link_and_one_pin_sign_every_document_of_the_session(dev_env: Any, service: dict[str, Any]) -> None:
    user = dev_env.users[PERSON]
    names = ["envelope-A.pdf", "envelope-B.pdf", "envelope-C.pdf"]
    expected = {"national_id": user.national_code}
    created, headers = _new_group(dev_env, service["url"], names, expected_signer=expected)
    signed = run_link(dev_env, created["pairing_link"], "--pin-file", str(user.pin_file), "--json")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    outcome = json.loads(signed.stdout)
    assert outcome["state"] == "signed"
    assert [(d["name"], d["state"]) for d in outcome["documents"]] == [(n, "completed") for n in names]
    assert _group_states(service["url"], headers, created) == ["completed"] * 3
    validator = Validator(validation_config(load_deployment_file(service["config"])))
    for member in created["sessions"]:
        pdf = requests.get(f"{service['url']}/api/v1/documents/{member['document_id']}/pdf", headers=headers,
                           timeout=30)
        report = validator.validate(pdf.content)
        assert report.indication is Indication.TOTAL_PASSED and len(report.signatures) == 1, report
    assert_no_secret([signed.stdout, signed.stderr], [created["agent_secret"], user.read_pin()])

    again = run_link(dev_env, created["pairing_link"], "--pin-file", str(user.pin_file), "--json")
    assert again.returncode == 3 and json.loads(again.stdout)["error"]["code"] == "SESSION_ALREADY_SIGNED"


class CancelsTheSecond:
    """A person who types the PIN, while the platform cancels the second document's session meanwhile."""

    def __init__(self, pin: str, cancel: Any) -> None:
        self._pin, self._cancel = pin, cancel
        self.shown: list[str] = []

    def show(self, lines: Any) -> None:
        self.shown += list(lines)

    def warn(self, text: str) -> None:
        self.shown.append(text)

    def choose(self, candidates: Any) -> None:
        return None

    def pin(self) -> str:
        self._cancel()
        return self._pin


def test_a_document_refused_midway_leaves_the_others_signed(dev_env: Any, service: dict[str, Any]) -> None:
    from agent.flow import SignRequest, sign_session
    from agent.link import parse_pairing_link

    user = dev_env.users[PERSON]
    names = ["midway-A.pdf", "midway-B.pdf", "midway-C.pdf"]
    expected = {"national_id": user.national_code}
    created, headers = _new_group(dev_env, service["url"], names, expected_signer=expected)
    second = created["sessions"][1]

    def cancel_second() -> None:
        reply = requests.delete(f"{service['url']}/api/v1/documents/{second['document_id']}/signing-sessions/"
                                f"{second['id']}", headers=headers, timeout=30)
        assert reply.status_code == 200, reply.text

    paired = parse_pairing_link(created["pairing_link"])
    person = CancelsTheSecond(user.read_pin(), cancel_second)
    request = SignRequest(paired.session_url, paired.secret, dev_env.softhsm_module, user.token_label)
    outcome = sign_session(request, person)
    assert sum("midway-" in line for line in person.shown) >= 3  # every document was shown before the PIN
    assert outcome.state == "partly_signed"
    assert [(d.name, d.signed) for d in outcome.documents] == [(n, n != "midway-B.pdf") for n in names]
    assert outcome.not_signed[0].error is not None and outcome.not_signed[0].error.code == "SESSION_CANCELLED"
    assert _group_states(service["url"], headers, created) == ["completed", "cancelled", "completed"]
    b = requests.get(f"{service['url']}/api/v1/documents/{second['document_id']}", headers=headers, timeout=30)
    assert b.json()["revision"] == 0  # B as it was


# The agent's flow in a process of its own, whose person pulls the token out right after the first document's
# signature is in. SoftHSM cannot be unplugged, so the token's folder is moved away (its key goes with it, as with
# a USB token) and put back afterwards; a process that saw its token vanish keeps a broken view of it, so this
# runs apart from the tests' own process.
PULL_THE_TOKEN = """
import json, sys
from pathlib import Path
from agent.client import AgentClient
from agent.flow import SignRequest, sign_session
from agent.link import parse_pairing_link

link, module, label, folder = sys.argv[1:5]
folder, pin = Path(folder), sys.stdin.readline().strip()  # never on the command line

class PullsTheTokenAfterTheFirst(AgentClient):
    def post_signature(self, signature, certificate):
        accepted = super().post_signature(signature, certificate)
        folder.rename(folder.with_name(folder.name + ".pulled"))
        return accepted

class Person:
    def show(self, lines): pass
    def warn(self, text): pass
    def choose(self, candidates): return None
    def pin(self): return pin

paired = parse_pairing_link(link)
outcome = sign_session(SignRequest(paired.session_url, paired.secret, module, label), Person(),
                       PullsTheTokenAfterTheFirst(paired.session_url, paired.secret))
print(json.dumps(outcome.as_dict()))
"""


def _token_folder(dev_env: Any, label: str) -> Path:
    """The SoftHSM folder holding the token ``label`` (its token.object names the label)."""
    tokens = Path(dev_env.softhsm_conf).parent / "tokens"
    (folder,) = [d for d in tokens.iterdir() if d.is_dir() and label.encode() in (d / "token.object").read_bytes()]
    return folder


def test_a_token_pulled_out_midway_stops_the_rest_and_the_link_signs_them_once_plugged_in(
    dev_env: Any, service: dict[str, Any]
) -> None:
    user = dev_env.users[PERSON]
    names = ["pulled-A.pdf", "pulled-B.pdf", "pulled-C.pdf"]
    expected = {"national_id": user.national_code}
    created, headers = _new_group(dev_env, service["url"], names, expected_signer=expected)
    folder = _token_folder(dev_env, user.token_label)
    pulled = folder.with_name(folder.name + ".pulled")
    try:
        child = subprocess.run(
            [sys.executable, "-c", PULL_THE_TOKEN, created["pairing_link"], dev_env.softhsm_module,
             user.token_label, str(folder)], input=user.read_pin() + "\n",
            env=process_env(dev_env.softhsm_env()), capture_output=True, text=True, timeout=120, check=False)
    finally:
        if pulled.exists():
            pulled.rename(folder)  # plugged in again
    assert child.returncode == 0, child.stdout + child.stderr
    outcome = json.loads(child.stdout)
    assert outcome["state"] == "partly_signed"
    assert [(d["name"], d.get("error", {}).get("code")) for d in outcome["documents"]] == [
        ("pulled-A.pdf", None), ("pulled-B.pdf", "TOKEN_NOT_PRESENT"), ("pulled-C.pdf", "TOKEN_NOT_PRESENT")]
    assert _group_states(service["url"], headers, created) == ["completed", "awaiting_signature",
                                                               "awaiting_certificate"]  # C was not tried
    for member in created["sessions"][1:]:
        doc = requests.get(f"{service['url']}/api/v1/documents/{member['document_id']}", headers=headers,
                           timeout=30)
        assert doc.json()["revision"] == 0  # B and C as they were

    # Plugged in again, the same link: B (its certificate step taken anew) and C are signed; A is left alone.
    again = run_link(dev_env, created["pairing_link"], "--pin-file", str(user.pin_file), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [d["name"] for d in json.loads(again.stdout)["documents"]] == names[1:]
    assert _group_states(service["url"], headers, created) == ["completed"] * 3
    assert_no_secret([child.stdout, child.stderr, again.stdout, again.stderr],
                     [created["agent_secret"], user.read_pin()])
