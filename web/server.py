"""Serving the web app over HTTP: waitress in forked processes, with deadlines for slow clients.

A public service meets clients that open a connection and send nothing, send
their headers a line every few seconds, or trickle a body; each must cost a
file descriptor and a few bytes, never a thread, and must be closed once it is
late. The options weighed:

* gunicorn's gthread workers (what ``pakat serve`` ran before): a worker thread
  reads the request itself, with no deadline, so eight idle connections held
  every thread and ``/healthz`` timed out.
* gunicorn with gevent or eventlet: every connection a cheap greenlet, but the
  whole process monkey-patched (psycopg, redis, python-pkcs11's C calls block the
  hub), and still no total deadline on the headers.
* an asyncio server (uvicorn, hypercorn) with a WSGI adapter: the adapter hands the
  body to a thread while it is still arriving, so a slow body holds a thread, and
  neither bounds the time headers may take in total.
* waitress (chosen): one event loop per process reads every request whole before
  any thread sees it: headers up to ``max_request_header_size``, the body spooled
  to a temp file past ``inbuf_overflow`` (never whole in memory), chunked bodies
  de-chunked, pipelined requests taken one at a time. Responses are buffered and
  sent by the loop; a file from ``send_file`` (``wsgi.file_wrapper``) is sent from
  the file itself, so a client that does not read its response holds no thread.
  Pure Python, no monkey-patching.

What waitress lacks is added here. Its ``channel_timeout`` counts inactivity only,
so a client sending a byte every few seconds would stay for ever:
:class:`PakatChannel` gives the request line and headers a total deadline from
the connection's start (or the first byte of a later request on a kept-alive
connection) and the body a minimum rate, as Apache's mod_reqtimeout does (a
grace period, extended by one second per ``body_min_rate`` bytes received); the
loop checks them every second and answers a late client 408 and closes it.
Waitress is one process: :func:`serve` binds the socket once and forks
``workers`` children that each run a loop on it (each opens the HSM itself, on
its first seal, after the fork), starts another when one dies, and on SIGTERM
or SIGINT lets each finish the requests it is serving (up to
``GRACEFUL_SECONDS``) before it exits.

In production a buffering proxy (nginx) stands in front as well: docs/serving.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from flask import Flask
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from pakat import errors
from pakat.errors import AccessError
from pakat.settings import Settings
from web import batch_intake
from web.state import EXTENSION_KEY

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger("pakat.server")

#: Connections one process holds at most; past it the process stops accepting until some close.
CONNECTIONS_PER_PROCESS = 1000
#: How long a stopping process waits for the requests it is serving.
GRACEFUL_SECONDS = 30
#: A process that dies sooner than this after its start is restarted only after a pause, not in a tight loop.
RESTART_PAUSE_SECONDS = 1.0
#: Exit status of a child whose application could not be built: the master stops rather than retry for ever.
BOOT_FAILED = 4

#: linux/prctl.h: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1

REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class ClientDeadlines:
    """How long a client may take to send its request (the PAKAT_HTTP_* settings)."""

    header_seconds: float
    body_seconds: float
    body_min_rate: int  # bytes per second
    idle_seconds: int  # a kept-alive connection between requests, or a reader that stopped reading

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientDeadlines:
        return cls(settings.http_header_seconds, settings.http_body_seconds, settings.http_body_min_rate,
                   settings.http_idle_seconds)


class PakatChannel(HTTPChannel):
    """One client connection, with a deadline on the request it is sending."""

    server: PakatWSGIServer
    request: Any  # waitress's HTTPRequestParser of the request still arriving, or None

    def __init__(self, server: PakatWSGIServer, sock: socket.socket, addr: Any, adj: Adjustments,
                 map: dict[int, Any] | None = None) -> None:
        super().__init__(server, sock, addr, adj, map)
        # The first request's clock starts at accept: a client that connects and says nothing is late too.
        self.request_began: float | None = time.monotonic()
        self.headers_done_at: float | None = None
        self.body_bytes = 0

    def received(self, data: bytes) -> bool:
        now = time.monotonic()
        before = self.request
        if before is None and self.request_began is None:
            self.request_began = now  # a kept-alive connection's next request: its clock starts now
        result: bool = super().received(data)
        current = self.request
        if current is not before:
            self.headers_done_at, self.body_bytes = None, 0
            # Complete: the app's turn. A new request began in the same data (pipelined): its clock starts now.
            self.request_began = None if current is None else (self.request_began if before is None else now)
        if current is not None and current.headers_finished:
            if self.headers_done_at is None:
                self.headers_done_at = now
            elif current is before:
                self.body_bytes += len(data)
        return result

    def overdue(self, now: float) -> bool:
        """Whether the request being received missed its deadline."""
        if self.requests or self.request_began is None:
            return False  # the app is serving it, or no request is under way (idle: channel_timeout)
        deadlines = self.server.deadlines
        if self.headers_done_at is None:
            return now - self.request_began > deadlines.header_seconds
        allowed = deadlines.body_seconds + self.body_bytes / deadlines.body_min_rate
        return now - self.headers_done_at > allowed

    def time_out(self) -> None:
        """Answer 408 (if the socket takes it now) and close; the partial request is dropped."""
        log.info("closing a connection from %s: its request did not arrive in time", self.addr[0])
        if self.request is not None:
            self.request.close()  # its spooled body, if any
            self.request = None
        self.request_began = None
        with self.outbuf_lock:
            self.outbufs[-1].append(REQUEST_TIMEOUT)
            self.total_outbufs_len += len(REQUEST_TIMEOUT)
        self.will_close = True  # the loop sends what the socket takes, then closes


class PakatWSGIServer(TcpWSGIServer):
    """Waitress on an already bound socket, closing late clients and draining on request."""

    channel_class = PakatChannel

    def __init__(self, app: WSGIApplication, sock: socket.socket, adj: Adjustments,
                 deadlines: ClientDeadlines) -> None:
        self.deadlines = deadlines
        self.stop_requested_at: float | None = None
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adj.threads)
        super().__init__(app, map={}, _sock=sock, dispatcher=dispatcher, adj=adj, bind_socket=False,
                         sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()))

    def request_stop(self) -> None:
        """Stop accepting and exit once the requests being served are answered (safe in a signal handler)."""
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
        self.next_channel_cleanup = 0  # the loop looks at it on its next turn

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections (channel_timeout)
        clock = time.monotonic()
        for channel in list(self.active_channels.values()):
            if isinstance(channel, PakatChannel) and channel.overdue(clock):
                channel.time_out()
        if self.stop_requested_at is not None:
            self._drain(clock)

    def _drain(self, clock: float) -> None:
        self.accepting = False
        busy = False
        for channel in list(self.active_channels.values()):
            if channel.requests or channel.total_outbufs_len:
                busy = True  # a request being served, or its answer still going out
            else:
                channel.will_close = True
        if not busy or clock - (self.stop_requested_at or clock) > GRACEFUL_SECONDS:
            raise SystemExit(0)  # waitress's run() catches it and stops its threads


def largest_upload(app: Flask) -> int:
    """The largest request body the app accepts: larger ones are refused before their body is read."""
    services = app.extensions[EXTENSION_KEY]
    batch = services.batch_limits().max_total_bytes + batch_intake.UPLOAD_MARGIN_BYTES
    return max(int(app.config["MAX_CONTENT_LENGTH"]), batch)


def build_server(app: Flask, sock: socket.socket, threads: int, deadlines: ClientDeadlines) -> PakatWSGIServer:
    """The server one process runs on the shared listening socket."""
    adj = Adjustments(
        threads=threads,
        connection_limit=CONNECTIONS_PER_PROCESS,
        channel_timeout=deadlines.idle_seconds,
        cleanup_interval=1,  # deadlines are checked every second
        asyncore_use_poll=True,  # select() cannot watch descriptors past 1024
        max_request_body_size=largest_upload(app),
        ident="pakat",
        expose_tracebacks=False,
    )
    return PakatWSGIServer(app, sock, adj, deadlines)


def serve(settings: Settings, make_app: Callable[[], Flask], host: str, port: int, workers: int,
          threads: int, between_forks: Callable[[], None] | None = None) -> None:
    """Listen on ``host:port`` and serve ``make_app()`` from ``workers`` processes until SIGTERM or SIGINT.

    The master runs no thread of its own, so a fork never copies a lock held mid-way; ``between_forks``
    (the master's periodic chores) is called from its loop about once a second, never during a fork.
    """
    _raise_open_files_limit(CONNECTIONS_PER_PROCESS + 200)
    # waitress spools bodies and overflowing responses to anonymous temp files: in PAKAT_TMP, owner-only.
    tempfile.tempdir = str(settings.ensure_tmp())
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=1024)
    deadlines = ClientDeadlines.from_settings(settings)
    handled = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
    # Blocked, and taken with sigtimedwait: the master never runs code from inside a signal handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, handled)
    log.info("serving on http://%s:%d with %d process(es) of %d thread(s)", host, sock.getsockname()[1],
             workers, threads)
    children: dict[int, float] = {}
    master = os.getpid()

    def start_child() -> None:
        pid = os.fork()
        if pid == 0:
            _die_with(master)
            _child(sock, make_app, threads, deadlines)
        children[pid] = time.monotonic()

    try:
        for _ in range(workers):
            start_child()
        while True:
            if between_forks is not None:
                between_forks()
            received = signal.sigtimedwait(handled, 1.0)
            if received is not None and received.si_signo in (signal.SIGTERM, signal.SIGINT):
                break
            for pid, status in _reaped(children):
                started = children.pop(pid)
                if os.waitstatus_to_exitcode(status) == BOOT_FAILED:
                    # As gunicorn halts on a worker's boot error: another would fail the same way.
                    raise AccessError(errors.CONFIG_INVALID, "a web process could not start the application; "
                                      "see the log above")
                log.warning("web process %d ended (%s); starting another", pid, _describe(status))
                if time.monotonic() - started < RESTART_PAUSE_SECONDS:
                    time.sleep(RESTART_PAUSE_SECONDS)
                start_child()
    finally:
        _stop_children(children, handled)
        sock.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, handled)
    log.info("stopped")


def _child(sock: socket.socket, make_app: Callable[[], Flask], threads: int,
           deadlines: ClientDeadlines) -> NoReturn:
    """One serving process; never returns to the master's code."""
    status = 0
    app: Flask | None = None
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # the master's mask is inherited
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the master sends SIGTERM
        try:
            app = make_app()
            server = build_server(app, sock, threads, deadlines)
        except BaseException:
            log.exception("web process %d could not start", os.getpid())
            status = BOOT_FAILED
        else:
            signal.signal(signal.SIGTERM, lambda _signo, _frame: server.request_stop())
            server.run()
    except BaseException:
        log.exception("web process %d failed", os.getpid())
        status = 1
    finally:
        if app is not None:
            try:
                app.extensions[EXTENSION_KEY].seals.close()  # logs out of the HSM
            except Exception:
                log.exception("closing the seal service failed")
        logging.shutdown()
        os._exit(status)


def _die_with(master: int) -> None:
    """Have the kernel send this child SIGTERM when the master dies (even by SIGKILL), so none serves orphaned."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != master:  # it died before prctl took effect
        os._exit(0)


def _reaped(children: dict[int, float]) -> list[tuple[int, int]]:
    ended = []
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            ended.append((pid, status))
    return ended


def _stop_children(children: dict[int, float], handled: set[signal.Signals]) -> None:
    for pid in children:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACEFUL_SECONDS + 5
    while children and time.monotonic() < deadline:
        for pid, _status in _reaped(children):
            children.pop(pid)
        if children:
            signal.sigtimedwait(handled, 0.2)
    for pid in children:
        log.warning("web process %d did not stop in time; killing it", pid)
        _signal(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    children.clear()


def _signal(pid: int, signo: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, signo)


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"


def _raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        highest = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, highest), hard))

