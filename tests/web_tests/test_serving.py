"""``pakat serve`` under slow and idle clients: a real server process on a free loopback port.

Clients that send a partial request line, headers a line every few seconds, a
body a few bytes at a time, or that do not read a large answer, must never
keep ``/healthz`` from answering within a second; a client late with its
headers or body is disconnected; uploads (multi-MB, chunked) still work; a dead
serving process is replaced and SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pakat_testkit import (
    api_key,
    child_processes,
    free_port,
    pakat_command,
    pakat_server,
    pdf_bytes,
    process_env,
    stop_process,
    wait_until,
)

#: What the finding asks: /healthz answers within this, however many slow clients there are.
HEALTHZ_SECONDS = 1.0
SLOW_CLIENTS = 50


@pytest.fixture(scope="module")
def server(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, int]]:
    """``pakat serve`` with its default deadlines, as ``./dev.sh start`` runs it: (URL, port, master's pid)."""
    home = tmp_path_factory.mktemp("serving-home")
    with pakat_server(dev_env.deployment_path, home, workers=2) as (url, _log, pid):
        yield url, int(url.rsplit(":", 1)[1]), pid


@pytest.fixture(scope="module")
def strict_server(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``pakat serve`` with short deadlines, so the tests see a late client closed quickly."""
    home = tmp_path_factory.mktemp("strict-serving-home")
    env = {"PAKAT_HTTP_HEADER_SECONDS": "2", "PAKAT_HTTP_BODY_SECONDS": "2", "PAKAT_HTTP_BODY_MIN_RATE": "1000"}
    with pakat_server(dev_env.deployment_path, home, workers=1, env=env) as (url, _log, _pid):
        yield url, int(url.rsplit(":", 1)[1])


# -- helpers -----------------------------------------------------------------------


def connect(port: int, first: bytes = b"", receive_buffer: int | None = None) -> socket.socket:
    """A client connection that has sent ``first``; ``receive_buffer`` shrinks its window before connecting."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    if first:
        sock.sendall(first)
    return sock


def still_open(sock: socket.socket) -> bool:
    """The server has neither closed the connection nor answered on it."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def assert_healthz_keeps_answering(url: str, clients: list[socket.socket], rounds: int = 6,
                                   between: Callable[[], None] | None = None) -> None:
    """/healthz answers 200 within HEALTHZ_SECONDS, ``rounds`` times over a few seconds, the clients still open."""
    for _ in range(rounds):
        began = time.monotonic()
        answer = requests.get(f"{url}/healthz", timeout=HEALTHZ_SECONDS + 1)
        took = time.monotonic() - began
        assert answer.status_code == 200
        assert took < HEALTHZ_SECONDS, f"/healthz took {took:.2f} s with {len(clients)} slow clients"
        if between is not None:
            between()
        time.sleep(0.5)
    assert all(still_open(sock) for sock in clients), "the test's slow clients should still be connected"


@contextlib.contextmanager
def clients_of(port: int, count: int, first: bytes, **options: Any) -> Iterator[list[socket.socket]]:
    clients = [connect(port, first, **options) for _ in range(count)]
    try:
        yield clients
    finally:
        for sock in clients:
            sock.close()


@contextlib.contextmanager
def trickling(clients: list[socket.socket], every: float, piece: Callable[[int], bytes]) -> Iterator[None]:
    """Send each client ``piece(n)`` every ``every`` seconds (n counts up) until the block ends."""
    stop = threading.Event()

    def run() -> None:
        n = 0
        while not stop.wait(every):
            for sock in clients:
                with contextlib.suppress(OSError):  # one the server closed
                    sock.sendall(piece(n))
            n += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(every + 5)


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (reading whatever it says first); fails past ``limit``."""
    began = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - began < limit:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - began
        if not data:
            return time.monotonic() - began
        assert data.startswith(b"HTTP/1.1 408 "), data[:100]
    raise AssertionError(f"the server kept a late client for more than {limit} s")


# -- slow clients never starve the service ------------------------------------------


def test_idle_connections_with_a_partial_request_line_do_not_starve_healthz(server: tuple[str, int, int]) -> None:
    url, port, _pid = server
    with clients_of(port, SLOW_CLIENTS, b"GET /heal") as clients:
        assert_healthz_keeps_answering(url, clients)


def test_slow_header_clients_do_not_starve_healthz(server: tuple[str, int, int]) -> None:
    url, port, _pid = server
    with clients_of(port, SLOW_CLIENTS, b"POST /api/v1/validate HTTP/1.1\r\nHost: pakat\r\n") as clients, \
            trickling(clients, 2.0, lambda n: f"X-Slow-{n}: {n}\r\n".encode()):
        assert_healthz_keeps_answering(url, clients, rounds=8)


def test_slow_body_clients_do_not_starve_healthz(server: tuple[str, int, int]) -> None:
    url, port, _pid = server
    head = (b"POST /api/v1/validate HTTP/1.1\r\nHost: pakat\r\n"
            b"Content-Type: multipart/form-data; boundary=pakat\r\nContent-Length: 1000000\r\n\r\n--pakat\r\n")
    with clients_of(port, SLOW_CLIENTS, head) as clients, trickling(clients, 2.0, lambda _n: b"x" * 16):
        assert_healthz_keeps_answering(url, clients, rounds=8)


def test_clients_not_reading_a_large_answer_do_not_starve_healthz(server: tuple[str, int, int],
                                                                  dev_env: Any) -> None:
    url, port, _pid = server
    key = api_key(dev_env, "demo-co")
    big = pdf_bytes(pad_to=24 * 2**20)
    stored = requests.post(f"{url}/api/v1/documents", headers={"Authorization": f"Bearer {key}"},
                           files={"pdf": ("big.pdf", big, "application/pdf")}, timeout=120)
    assert stored.status_code == 201, stored.text[:500]
    ask = (f"GET /api/v1/documents/{stored.json()['id']}/pdf HTTP/1.1\r\nHost: pakat\r\n"
           f"Authorization: Bearer {key}\r\n\r\n").encode()
    # More readers than the 2 x 4 threads the server has; each window a few KB, so the 24 MB answer cannot drain.
    with clients_of(port, 12, ask, receive_buffer=4096) as readers:
        time.sleep(1)  # the requests have arrived and their answers have started
        for _ in range(6):
            began = time.monotonic()
            assert requests.get(f"{url}/healthz", timeout=HEALTHZ_SECONDS + 1).status_code == 200
            assert time.monotonic() - began < HEALTHZ_SECONDS
            time.sleep(0.5)
        assert readers[0].recv(16) == b"HTTP/1.1 200 OK\r"  # each got its answer's start, and reads no further


def test_a_body_is_spooled_under_pakat_tmp_before_the_app_sees_it(server: tuple[str, int, int]) -> None:
    """Half of a 4 MB body: waitress holds it in an anonymous file under PAKAT_TMP; the app has not begun on it."""
    _url, port, master = server
    head = (b"POST /api/v1/validate HTTP/1.1\r\nHost: pakat\r\n"
            b"Content-Type: multipart/form-data; boundary=pakat\r\nContent-Length: 4000000\r\n\r\n")
    with clients_of(port, 1, head + b"--pakat\r\n" + b"x" * 2_000_000) as _clients:
        time.sleep(1)
        open_files = []
        for pid in child_processes(master):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    open_files.append(os.readlink(fd))
    # The fixture's PAKAT_HOME is a "serving-home" folder; PAKAT_TMP is its tmp/.
    pakat_tmp = [name for name in open_files if re.search(r"/serving-home\d*/tmp/", name)]
    assert pakat_tmp, f"no spooled body under PAKAT_TMP among {open_files}"
    assert not [name for name in pakat_tmp if "upload-" in name], "the app began reading an unfinished request"
    print("FILES", pakat_tmp)


# -- late clients are disconnected ---------------------------------------------------


def test_a_client_late_with_its_headers_is_disconnected(strict_server: tuple[str, int]) -> None:
    _url, port = strict_server
    silent = connect(port)  # connects and says nothing: its clock runs from the connection
    with clients_of(port, 1, b"GET /healthz HTTP/1.1\r\n") as (late,), \
            trickling([late], 0.3, lambda n: f"X-Slow-{n}: {n}\r\n".encode()):
        # A header line every 0.3 s keeps it active, but the headers as a whole are due in 2 s.
        took = closed_after(late, 10)
    assert 1.5 < took < 5, took
    assert closed_after(silent, 5) < 5
    silent.close()


def test_a_client_late_with_its_body_is_disconnected(strict_server: tuple[str, int]) -> None:
    url, port = strict_server
    head = (b"POST /api/v1/validate HTTP/1.1\r\nHost: pakat\r\n"
            b"Content-Type: application/pdf\r\nContent-Length: 100000\r\n\r\n")
    with clients_of(port, 1, head) as (late,), trickling([late], 0.3, lambda _n: b"%PDF-1.7\n"):
        # 2 s grace plus 1 s per 1000 bytes received: 30 bytes a second falls behind within about 2 s.
        took = closed_after(late, 10)
    assert 1.5 < took < 5, took
    # A body that keeps pace is read in full and judged (an unsigned PDF: NO_SIGNATURES).
    files = {"file": ("a.pdf", pdf_bytes(), "application/pdf")}
    answer = requests.post(f"{url}/api/v1/validate", files=files, timeout=60)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "NO_SIGNATURES", answer.text[:300]


# -- ordinary requests still work -----------------------------------------------------


def test_a_multi_megabyte_upload_is_sealed(server: tuple[str, int, int], dev_env: Any) -> None:
    url, _port, _pid = server
    pdf = pdf_bytes(pad_to=12 * 2**20)
    key = api_key(dev_env, "demo-co")
    answer = requests.post(f"{url}/api/v1/seal", headers={"Authorization": f"Bearer {key}"},
                           files={"pdf": ("big.pdf", pdf, "application/pdf")}, data={"level": "B-B"}, timeout=120)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.content.startswith(pdf[:8]) and len(answer.content) > len(pdf)


def test_a_chunked_upload_is_sealed(server: tuple[str, int, int], dev_env: Any) -> None:
    """A body sent with Transfer-Encoding: chunked reaches the app whole, like one with a Content-Length."""
    url, _port, _pid = server
    pdf = pdf_bytes(pad_to=3 * 2**20)
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"level\"\r\n\r\nB-B\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"c.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + pdf + f"\r\n--{boundary}--\r\n".encode()
    pieces = (body[i:i + 65536] for i in range(0, len(body), 65536))  # a generator: requests sends it chunked
    answer = requests.post(f"{url}/api/v1/seal", data=pieces, timeout=120, headers={
        "Authorization": f"Bearer {api_key(dev_env, 'demo-co')}",
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 200, answer.text[:500]
    assert len(answer.content) > len(pdf)


def test_pipelined_requests_are_answered_in_order(server: tuple[str, int, int]) -> None:
    _url, port, _pid = server
    both = (b"GET /healthz HTTP/1.1\r\nHost: pakat\r\n\r\n"
            b"GET /no-such-page HTTP/1.1\r\nHost: pakat\r\nConnection: close\r\n\r\n")
    with clients_of(port, 1, both) as (c,):
        received = b""
        while chunk := c.recv(65536):
            received += chunk
    first, second = received.index(b"HTTP/1.1 200"), received.index(b"HTTP/1.1 404")
    assert first < second


# -- processes ----------------------------------------------------------------------------


@contextlib.contextmanager
def own_server(dev_env: Any, home: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``pakat serve`` with two processes, started here so the test may signal it: (process, URL, log)."""
    log_path = home / "serve.log"
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            pakat_command("serve", "--port", str(port), "--workers", "2", "--threads", "2"),
            env=process_env({"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(dev_env.deployment_path)}),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(url), 60, "pakat serve answering", proc)
        wait_until(lambda: len(child_processes(proc.pid)) == 2, 30, "two serving processes", proc)
        yield proc, url, log_path
    finally:
        stop_process(proc)


def answers(url: str) -> bool:
    with contextlib.suppress(requests.RequestException):
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    return False


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_master_runs_no_thread_a_fork_could_catch(server: tuple[str, int, int]) -> None:
    """A fork copies only the forking thread: a lock, or a library's once-only start, that another thread
    of the master held at that moment stays held for ever in the child. (The master's certificate watch
    once ran as a thread, and a child forked mid-check hung on its first certificate date in /readyz.)"""
    url, _port, pid = server
    assert os.listdir(f"/proc/{pid}/task") == [str(pid)]
    for _ in range(6):  # both processes read certificate dates
        assert requests.get(f"{url}/readyz", timeout=10).status_code in (200, 503)


def test_a_dead_process_is_replaced_and_sigterm_stops_every_process(dev_env: Any, tmp_path: Path) -> None:
    with own_server(dev_env, tmp_path) as (proc, url, log_path):
        first, survivor = child_processes(proc.pid)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len(set(child_processes(proc.pid)) - {first, survivor}) == 1, 30,
                   "a new serving process in place of the killed one", proc)
        assert answers(url)
        children = child_processes(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(40) == 0
        assert not [pid for pid in children if alive(pid)], "a serving process outlived SIGTERM"
        assert b"Traceback" not in log_path.read_bytes()


def test_serving_processes_end_with_a_killed_master(dev_env: Any, tmp_path: Path) -> None:
    """SIGKILL on the master (the OOM killer): its children must not serve on, orphaned."""
    with own_server(dev_env, tmp_path) as (proc, _url, _log):
        children = child_processes(proc.pid)
        proc.kill()
        proc.wait(10)
        wait_until(lambda: not any(alive(pid) for pid in children), 40, "the orphaned serving processes gone")
