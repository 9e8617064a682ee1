"""The console in tests: one kit for every surface's tests, in process and in a real browser.

In process (Flask's test client): ``Console`` is a person's browser on the console
(its own address, so lockouts stay its own; its cookies; the CSRF token its pages
hand out; everything it was shown, for the "no secret anywhere" checks);
``make_person`` adds someone to an organisation; ``code_of`` reads the stable
error code of an answer (a page's or JSON's); ``eventually`` waits for something
a worker does; ``Receiver`` is a platform's webhook endpoint and ``webhook_app``
the app (and a worker) whose platforms post to it; ``audit_entries`` reads the
whole audit log.

In a browser (selenium, against a real ``pakat serve``): ``served_console`` is
``pakat serve`` (and a worker if asked) with ``Served.add_person`` making people
as an operator does (``pakat user add --password-stdin``); ``browser_sign_in``
signs in through the form; ``click_and_load`` clicks and waits for the page that
answers; ``at_width`` emulates a phone's or a desktop's width.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from flask.testing import FlaskClient
from pakat_testkit import pakat_app, pakat_command, pakat_server, pakat_worker, process_env
from werkzeug.test import TestResponse

from envelopes.audit import person_actor
from envelopes.people import Person, Role

PASSWORD = "console test passphrase"
JSON = {"Accept": "application/json"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')
_SHOWN_CODE = re.compile(r'<code dir="ltr">([A-Z_]+)</code>')  # the code a refusal shows a person
_DATA_CODE = re.compile(r'data-code="([A-Z_]+)"')  # the code a page's script reads


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_person(app: Flask, organisation: str, role: Role, password: str = PASSWORD,
                username: str | None = None) -> Person:
    """Someone new of ``organisation`` with ``role`` (a unique username unless one is given)."""
    created = people_of(app).create(organisation, username or unique(role.value), role,
                                    actor="system:test", password=password)
    return created.person


def people_of(app: Flask) -> Any:
    """The app's people use cases."""
    return app.extensions["pakat"].people()


#: A client address per console, never one an earlier console used: the throttle counts (and locks out) by
#: address, and a random pick among 250 once gave a viewer the 429 of another console's refused requests.
#: 10.0.0.0/8 from a random start, so test processes sharing one Redis do not meet either.
_ADDRESSES = (str(ipaddress.IPv4Address(0x0A000000 + n % 0x1000000))
              for n in itertools.count(secrets.randbelow(0x1000000)))


class Console:
    """A browser on the console: its own address, its cookies, and everything it was shown.

    ``Console(app)`` is nobody yet (``sign_in`` as whom you like); ``Console(app, organisation, role)`` is a new
    person of that organisation, signed in.
    """

    def __init__(self, app: Flask, organisation: str | None = None, role: Role | None = None, *,
                 address: str | None = None, password: str = PASSWORD) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address or next(_ADDRESSES)
        self.seen: list[str] = []
        self.person: Person | None = None
        if organisation is not None and role is not None:
            self.person = make_person(app, organisation, role, password)
            signed = self.sign_in(self.person.username, password)
            assert signed.status_code == 303, signed.get_data(as_text=True)[:300]
            assert signed.headers["Location"] == "/console"

    def _me(self) -> Person:
        assert self.person is not None, "this console was not made for a person"
        return self.person

    @property
    def id(self) -> str:
        return str(self._me().id)

    @property
    def username(self) -> str:
        return str(self._me().username)

    @property
    def organisation(self) -> str:
        return str(self._me().organisation)

    @property
    def actor(self) -> str:
        """The person as the audit log names them."""
        return person_actor(self._me().id)

    def _keep(self, response: TestResponse) -> TestResponse:
        self.seen += [response.get_data(as_text=True), response.headers.get("Location", ""),
                      response.request.full_path if response.request else "",
                      *response.headers.getlist("Set-Cookie")]
        return response

    def csrf(self, page: str = "/console/sign-in") -> str:
        """The CSRF token a console page hands out now (signed in, the sign-out form carries it)."""
        response = self.client.get(page if not self.signed_in() else "/console/sign-out")
        found = CSRF_FIELD.search(response.get_data(as_text=True))
        assert found, response.get_data(as_text=True)[:500]
        return found.group(1)

    def signed_in(self) -> bool:
        return self.client.get_cookie("pakat_console", path="/console") is not None

    def sign_in(self, username: str, password: str = PASSWORD, next_path: str = "") -> TestResponse:
        return self.post("/console/sign-in", {"username": username, "password": password, "next": next_path})

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self._keep(self.client.get(path, **kwargs))

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kwargs: Any) -> TestResponse:
        """A form sent with the page's CSRF token (``csrf=False``: without it, or with whatever ``data`` says)."""
        return self.send_form("POST", path, data, csrf=csrf, **kwargs)

    def send_form(self, method: str, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
                  **kwargs: Any) -> TestResponse:
        """A form sent with any method, with the page's CSRF token as its field unless ``csrf=False``."""
        body = dict(data or {})
        if csrf:
            body["csrf_token"] = self.csrf()
        return self._keep(self.client.open(path, method=method, data=body, **kwargs))

    def page(self, path: str, status: int = 200) -> str:
        """The page at ``path``, which must answer ``status``."""
        reply = self.get(path)
        assert reply.status_code == status, (path, reply.status_code, reply.text[:2000])
        return reply.text

    def submit(self, path: str, status: int, data: dict[str, Any] | None = None, *, csrf: bool = True) -> str:
        """The page a form's answer is, which must answer ``status``."""
        reply = self.post(path, data, csrf=csrf)
        assert reply.status_code == status, (path, reply.status_code, error_of(reply.text))
        return reply.text


def error_of(html: str) -> str:
    """The console's error box of a page (for an assertion's message), or the page's start."""
    found = re.search(r'<div class="console-error".*?</div>', html, re.S)
    return found.group(0) if found else html[:1500]


def code_of(answer: TestResponse | str) -> str:
    """The stable error code of an answer: a JSON error's, or the one a page shows (or its script reads); ""."""
    if isinstance(answer, TestResponse) and answer.is_json:
        return str((answer.get_json() or {}).get("error", {}).get("code", ""))
    html = answer if isinstance(answer, str) else answer.get_data(as_text=True)
    found = _SHOWN_CODE.search(html) or _DATA_CODE.search(html)
    return found.group(1) if found else ""


def eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """What ``check`` returns once it is truthy (a worker's work is seen a little later)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.2)


def audit_entries(app: Flask) -> list[Any]:
    """The whole audit log, oldest first."""
    found: list[Any] = []
    while page := app.extensions["pakat"].audit_log().entries(after=found[-1].seq if found else 0, limit=1000):
        found += page
    return found


class Receiver:
    """A platform's webhook endpoint: refuses (500) while ``failing``, and keeps what it was sent."""

    def __init__(self, token: str = "platform-own-token") -> None:
        self.failing = True
        self.token = token
        self.seen: list[tuple[str, bytes, int]] = []  # event id, body, the status answered
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = 500 if receiver.failing else 200
                receiver.seen.append((self.headers.get("X-Pakat-Event-Id", ""), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests read the deliveries received, not the server's access lines."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The URL a platform registers (its own query token in it: it must never be shown back)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook?token={self.token}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@contextmanager
def webhook_app(dev_env: Any, redis_url: str, receiver: Receiver, home: Path, hook_secret: str) -> Iterator[Flask]:
    """The app and a worker on one home and queue; demo-co's and demo-gov's platforms have a webhook to
    ``receiver`` that the queue gives up on after one attempt."""
    secret = home.parent / f"{home.name}-hook.secret"
    secret.write_text(hook_secret, encoding="utf-8")
    raw = yaml.safe_load(dev_env.deployment_path.read_text(encoding="utf-8"))
    for entry in raw["api_keys"]:
        if entry["organisation"] in ("demo-co", "demo-gov"):
            entry["webhook"] = {"url": receiver.url, "secret_file": str(secret)}
    raw["webhooks"] = {"retry_intervals": [], "timeout_seconds": 5}
    variant = dev_env.deployment_path.with_name(f"{home.name}-{uuid.uuid4().hex[:8]}.yaml")
    variant.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    queue = f"{home.name}-{uuid.uuid4().hex[:8]}"
    try:
        with pakat_app(variant, home, 20 * 1024 * 1024, redis_url=redis_url, queue=queue) as application, \
                pakat_worker(home, {"PAKAT_CONFIG": str(variant), "REDIS_URL": redis_url, "PAKAT_QUEUE": queue}):
            yield application
    finally:
        variant.unlink()


# -- in a real browser -------------------------------------------------------------------------------------


class Served:
    """``pakat serve`` with its home, and the environment its CLI commands need."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url = url
        self.env = env

    def cli(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(pakat_command(*args), env=process_env(self.env), input=stdin, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def add_person(self, username: str, role: str, password: str = PASSWORD, organisation: str = "demo-co",
                   display_name: str | None = None) -> str:
        """Someone made as an operator makes the first admin: ``pakat user add``, the password on stdin."""
        named = ("--display-name", display_name) if display_name else ()
        self.cli("user", "add", "--org", organisation, "--username", username, "--role", role, *named,
                 "--password-stdin", stdin=password + "\n")
        return username


@contextmanager
def served_console(dev_env: Any, home: Path, env: dict[str, str] | None = None, *,
                   worker: bool = False) -> Iterator[Served]:
    """``pakat serve`` (one process) on ``home``, and a ``pakat worker`` on the same queue if asked."""
    config = str(dev_env.deployment_path)
    extra = dict(env or {})
    with pakat_server(dev_env.deployment_path, home, workers=1, env=extra) as (url, _, _):
        served = Served(url, {"PAKAT_HOME": str(home), "PAKAT_CONFIG": config, **extra})
        if worker:
            with pakat_worker(home, {"PAKAT_CONFIG": config, **extra}):
                yield served
        else:
            yield served


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def at_width(driver: Any, width: int) -> None:
    """The page as a screen ``width`` px wide shows it (a phone's below 600)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})


def click_and_load(driver: Any, element: Any, timeout: float = 20) -> None:
    """Click (an element, or its id) and wait for the next page: a form's answer does not arrive with the click
    (sealing and receipts take seconds: give those a longer ``timeout``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    (by_id(driver, element) if isinstance(element, str) else element).click()
    WebDriverWait(driver, timeout).until(expected_conditions.staleness_of(old))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def browser_sign_in(driver: Any, url: str, username: str, password: str = PASSWORD,
                    page: str = "/console?lang=fa") -> None:
    """Sign in through the form, from ``page`` (which sends a stranger to sign in) and back to it."""
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.delete_all_cookies()
    driver.get(f"{url}{page}")
    assert "/console/sign-in" in driver.current_url, driver.current_url
    by_id(driver, "username").send_keys(username)
    by_id(driver, "password").send_keys(password)
    click_and_load(driver, "sign-in", timeout=60)
    assert driver.current_url == f"{url}{page}", driver.current_url
    assert driver.get_cookie("pakat_console") is not None
    if page.split("?")[0] == "/console":  # the home says who is signed in
        assert by_id(driver, "who-username").text == username
