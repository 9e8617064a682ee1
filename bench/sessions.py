"""Signing-session benchmark: the server's share of a person's signature, with 50 sessions in flight.

    python -m bench.sessions [--quick] [--rounds 5] [--sessions 50] [--threads 8] [--sizes 200KB,2MB]

The requirement: the server-side cost of the certificate and signature steps
(the timestamp excluded) stays under 50 ms at p99 with 50 sessions in flight.

Everything is real and on loopback: the development PKI with its OCSP/CRL/TSA
responders (``bench/services.py``), a SQLite database migrated with
``envelopes.schema.upgrade``, a ``DocumentStore``, ``SigningSessions`` with the
deployment's ``SealService`` (as ``web/state.py`` assembles them) and an
``RQJobQueue`` on a redis-server of our own on a free loopback port. Sessions
are at B-LTA, so the signature step pings the queue and enqueues the
level-raising job; no worker runs while measuring (the timestamp and LTV work
is not part of the figure). The person's key is a SoftHSM token reached
through ``signer.keys.Pkcs11Key``, as an agent reaches it; its signing time is
the user's side and is never inside a measured interval.

A round, per document size: 50 documents stored and 50 sessions opened (not
measured), then the 50 certificate steps run concurrently on a pool of
``--threads`` threads (as a web process's threads would serve them), the token
signs the 50 answers one by one (not measured), then the 50 signature steps
run concurrently on the pool. Each call's latency is taken inside its thread,
around the server call only:

- **Pakat**: ``SigningSessions.present_certificate`` and ``post_signature``
  called directly;
- **Pakat over HTTP**: once per size, the same steps through the Flask test
  client (``POST /agent/v1/sessions/{sid}/certificate`` and ``/signature``),
  to show the share of the HTTP layer (JSON, base64, routing, error mapping);
- **pyHanko**: the straightforward interrupted signing loop on the same
  documents with the same certificate and token: ``PdfSigner(...)
  .async_digest_doc_for_signing`` with an ``ExternalSigner`` and
  ``ExternalSigner.signed_attrs`` to prepare, then
  ``ExternalSigner.async_sign_prescribed_attributes`` and
  ``PdfTBSDocument.async_finish_signing`` to finish, a B-B signature kept in
  memory between the halves and written to a file at the end (not fsync'd).
  pyHanko does not check the certificate (chain, revocation, expected signer),
  does not verify the signature before embedding it, and keeps no state in a
  database: those checks are Pakat's extra work inside its figure.

Rounds alternate which implementation goes first, so drift on a shared
machine hits both alike. A warm-up round (first OCSP fetch, first SQLite
pages, imports) is not recorded. Percentiles are nearest-rank over every call
of every measured round. After measuring, one session per size is raised to
B-LTA in this process and the result validated, to show the benchmark signed
real documents.

Reading the figures: the burst is a closed loop, so a call's latency is its
own work plus its wait for the GIL, for SQLite's write lock and for the disk.
The "own CPU (thread time)" row is the first alone; ``--threads 1`` gives the
uncontended service time, ``--profile`` a per-part breakdown of one more
concurrent round (the parts wrapped in this process only) and a cProfile of a
sequential one.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seal import make_pdf  # noqa: E402 - needs ROOT on sys.path
from bench.services import dev_services  # noqa: E402 - needs ROOT on sys.path

SIZES = {"200KB": 200 * 1024, "2MB": 2 * 1024 * 1024}
PAGES = 4
ORGANISATION = "demo-co"
PERSON = "user-independent"
TARGET_MS = 50.0
DIGEST = "sha256"


# -- documents -----------------------------------------------------------------------------


def make_document(path: Path, size: int, pages: int, words: str) -> None:
    """A ``pages``-page PDF saying ``words`` on each page, about ``size`` bytes (incompressible images)."""
    make_pdf(path, max(0, size - 4096), words, pages=pages)


# -- figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100): a value that was measured, never interpolated."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Latencies:
    """Per-call latencies in milliseconds."""

    values: list[float] = field(default_factory=list)

    def extend(self, more: Sequence[float]) -> None:
        self.values.extend(more)

    @property
    def count(self) -> int:
        return len(self.values)

    def median(self) -> float:
        return statistics.median(self.values)

    def p(self, q: float) -> float:
        return percentile(self.values, q)

    def max(self) -> float:
        return max(self.values)

    def row(self) -> str:
        return (
            f"{self.count} | {self.median():.1f} | {self.p(95):.1f} | {self.p(99):.1f} | {self.max():.1f}"
        )


@dataclass
class StepFigures:
    """One implementation's two halves for one size, and their sum per signature."""

    first: Latencies = field(default_factory=Latencies)
    second: Latencies = field(default_factory=Latencies)
    both: Latencies = field(default_factory=Latencies)

    def add_round(self, first: Sequence[float], second: Sequence[float]) -> None:
        self.first.extend(first)
        self.second.extend(second)
        self.both.extend([a + b for a, b in zip(first, second, strict=True)])


# -- services ------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A redis-server of our own on a free loopback port (never the machine's 6379), stopped after."""
    from redis import Redis
    from redis.exceptions import RedisError

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (./dev.sh test installs it)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    connection = Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 20
        while True:
            with suppress(RedisError):  # not listening yet
                if connection.ping():
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        connection.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Token:
    """The person's token: their certificate and a SoftHSM key that signs digests (the user's side)."""

    def __init__(self, env: Any, user_id: str) -> None:
        from signer.keys import Pkcs11Key

        self.user = env.users[user_id]
        self.certificate = self.user.certificate()
        self.key = Pkcs11Key(module=env.softhsm_module, token_label=self.user.token_label,
                             key_label=self.user.key_label, certificate=self.certificate, pin=self.user.read_pin,
                             module_env=env.softhsm_env())

    @property
    def der(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.certificate.public_bytes(Encoding.DER)

    def sign(self, digest: bytes) -> bytes:
        from signer.cms import DIGESTS

        return self.key.sign_digest(digest, DIGESTS[DIGEST])

    def close(self) -> None:
        self.key.close()


@dataclass(frozen=True)
class Opened:
    """A session ready for its certificate step."""

    session_id: str
    secret: str
    document_id: str


class PakatSide:
    """The real parts, assembled as ``envelopes.services.Services.sessions`` does."""

    def __init__(self, env: Any, home: Path, redis_url: str, token: Token) -> None:
        from envelopes.blobs import DocumentStore
        from envelopes.database import Database
        from envelopes.documents import DocumentService
        from envelopes.queueing import RQJobQueue
        from envelopes.schema import upgrade
        from envelopes.sealing import SealService
        from envelopes.sessions import SigningSessions
        from hsm_config.deployment import load_deployment

        self.env = env
        self.home = home
        self.redis_url = redis_url
        self.queue_name = "bench-sessions"
        self.database_url = f"sqlite:///{home / 'pakat.db'}"
        upgrade(self.database_url)
        self.deployment = load_deployment(env.deployment_path)
        self.database = Database(self.database_url)
        self.store = DocumentStore(home / "documents")
        self.seals = SealService(self.deployment)
        self.queue = RQJobQueue(redis_url, self.queue_name, self.deployment)
        self.sessions = SigningSessions(self.database, self.store, self.deployment, lambda: self.seals, self.queue)
        self.documents = DocumentService(self.database, self.store, self.deployment.max_pdf_bytes)
        self.token = token
        self.cert_b64 = base64.b64encode(token.der).decode()
        # Each call's own CPU time (this thread's, GIL held or not), by session: [certificate, signature].
        self.cpu: dict[str, list[float]] = {}

    def open(self, files: Sequence[Path]) -> list[Opened]:
        """Store each file as a new document and open a B-LTA session on it for the person (not measured)."""
        from envelopes.sessions import ExpectedSigner
        from signer.levels import PadesLevel

        opened = []
        for path in files:
            doc = self.documents.add(ORGANISATION, None, path, path.name)
            new = self.sessions.create(ORGANISATION, doc.id, PadesLevel.B_LTA,
                                       ExpectedSigner(national_id=self.token.user.national_code))
            opened.append(Opened(new.session.id, new.secret, doc.id))
        return opened

    def certificate(self, s: Opened) -> tuple[float, bytes]:
        c0, t0 = time.thread_time(), time.perf_counter()
        answer = self.sessions.present_certificate(s.session_id, s.secret, self.cert_b64, [], DIGEST)
        elapsed, cpu = time.perf_counter() - t0, time.thread_time() - c0
        self.cpu[s.session_id] = [cpu * 1000]
        return elapsed * 1000, answer.prepared.digest

    def signature(self, s: Opened, signature: bytes) -> float:
        encoded = base64.b64encode(signature).decode()
        c0, t0 = time.thread_time(), time.perf_counter()
        view = self.sessions.post_signature(s.session_id, s.secret, encoded, self.cert_b64)
        elapsed, cpu = time.perf_counter() - t0, time.thread_time() - c0
        self.cpu[s.session_id].append(cpu * 1000)
        assert view.state == "signed", view
        return elapsed * 1000

    def web_app(self) -> Any:
        """The web app on the same database, documents, deployment and Redis (for the HTTP figures)."""
        from pakat.settings import Settings
        from web import create_app

        settings = Settings(home=self.home / "web", config=self.env.deployment_path, tmp=self.home / "web-tmp",
                            redis_url=self.redis_url, queue=self.queue_name, database_url=self.database_url,
                            documents=self.home / "documents")
        (self.home / "web").mkdir(exist_ok=True)
        return create_app(settings)

    def close(self) -> None:
        self.seals.close()
        self.database.dispose()


class HttpSide:
    """The agent's two calls through the Flask test client; sessions opened by ``PakatSide``."""

    def __init__(self, pakat: PakatSide) -> None:
        self.pakat = pakat
        self.app = pakat.web_app()

    def certificate(self, s: Opened) -> tuple[float, bytes]:
        client = self.app.test_client()
        headers = {"Authorization": f"Bearer {s.secret}"}
        body = {"certificate": self.pakat.cert_b64, "chain": [], "digest_algorithm": DIGEST}
        t0 = time.perf_counter()
        reply = client.post(f"/agent/v1/sessions/{s.session_id}/certificate", headers=headers, json=body)
        answer = reply.json
        elapsed = time.perf_counter() - t0
        assert reply.status_code == 200 and answer is not None, answer
        digest = bytes.fromhex(answer["digest"])
        from signer.cms import DIGESTS

        assert DIGESTS[DIGEST].digest(base64.b64decode(answer["signed_attributes"])) == digest
        return elapsed * 1000, digest

    def signature(self, s: Opened, signature: bytes) -> float:
        client = self.app.test_client()
        headers = {"Authorization": f"Bearer {s.secret}"}
        body = {"signature": base64.b64encode(signature).decode(), "certificate": self.pakat.cert_b64}
        t0 = time.perf_counter()
        reply = client.post(f"/agent/v1/sessions/{s.session_id}/signature", headers=headers, json=body)
        answer = reply.json
        elapsed = time.perf_counter() - t0
        assert reply.status_code == 202 and answer is not None, answer
        return elapsed * 1000

    def close(self) -> None:
        self.app.extensions["pakat"].seals.close()
        self.app.extensions["pakat"].database.dispose()


@dataclass
class HankoState:
    """What the straightforward loop keeps between the halves: in memory."""

    source: Path
    output: Any = None
    prepared_digest: Any = None
    signed_attrs: Any = None


class PyHankoSide:
    """pyHanko 0.38's interrupted signing with an ExternalSigner: B-B, same certificate, same token."""

    def __init__(self, pakat: PakatSide, token: Token, out_dir: Path) -> None:
        from cryptography.hazmat.primitives.serialization import Encoding

        chain = pakat.seals.trust.chain_for(token.certificate, [])
        self.cert_der = token.der
        self.others_der = [c.public_bytes(Encoding.DER) for c in chain[1:]]
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)

    def _signer(self, value: bytes | int) -> Any:
        from asn1crypto import x509 as asn1_x509
        from pyhanko.sign import signers
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        # Fresh asn1crypto objects per signer: they parse lazily and are not safe to share between threads.
        return signers.ExternalSigner(
            signing_cert=asn1_x509.Certificate.load(self.cert_der),
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_x509.Certificate.load(der) for der in self.others_der]
            ),
            signature_value=value,
        )

    def certificate(self, s: HankoState) -> tuple[float, bytes]:
        import hashlib

        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import fields, signers

        async def prepare() -> None:
            placeholder = self._signer(256)
            pdf_signer = signers.PdfSigner(
                signers.PdfSignatureMetadata(
                    field_name="Signature", subfilter=fields.SigSeedSubFilter.PADES, md_algorithm=DIGEST
                ),
                signer=placeholder,
            )
            with open(s.source, "rb") as fh:
                writer = IncrementalPdfFileWriter(fh)
                s.prepared_digest, _, s.output = await pdf_signer.async_digest_doc_for_signing(writer)
            s.signed_attrs = await placeholder.signed_attrs(s.prepared_digest.document_digest, DIGEST,
                                                            use_pades=True)

        t0 = time.perf_counter()
        asyncio.run(prepare())
        digest = hashlib.sha256(s.signed_attrs.dump()).digest()
        elapsed = time.perf_counter() - t0
        return elapsed * 1000, digest

    def signature(self, s: HankoState, signature: bytes) -> float:
        from pyhanko.sign.signers.pdf_signer import PdfTBSDocument

        async def finish() -> None:
            cms = await self._signer(signature).async_sign_prescribed_attributes(
                DIGEST, signed_attrs=s.signed_attrs
            )
            await PdfTBSDocument.async_finish_signing(
                s.output, prepared_digest=s.prepared_digest, signature_cms=cms
            )

        t0 = time.perf_counter()
        asyncio.run(finish())
        (self.out_dir / f"{s.source.stem}.pdf").write_bytes(s.output.getbuffer())
        elapsed = time.perf_counter() - t0
        s.output = None  # the round's 50 outputs are not kept
        return elapsed * 1000


# -- a round -------------------------------------------------------------------------------


def run_round(
    pool: ThreadPoolExecutor,
    items: Sequence[Any],
    certificate: Callable[[Any], tuple[float, bytes]],
    signature: Callable[[Any, bytes], float],
    token: Token,
) -> tuple[list[float], list[float]]:
    """All certificate steps at once on the pool, the token signs (unmeasured), all signature steps at once."""
    firsts = list(pool.map(certificate, items))
    signatures = [token.sign(digest) for _, digest in firsts]
    seconds = list(pool.map(signature, items, signatures))
    return [ms for ms, _ in firsts], seconds


def validate_one(pakat: PakatSide, opened: Opened) -> str:
    """Raise one signed session to B-LTA here (the queue's job, unmeasured) and validate the result."""
    from hsm_config.deployment import validation_config
    from validation.engine import Validator

    view = pakat.sessions.raise_level(opened.session_id, final_attempt=True)
    if view.state != "completed":
        return f"level not reached: {view.as_dict().get('error')}"
    doc, path = pakat.documents.latest(ORGANISATION, opened.document_id)
    report = Validator(validation_config(pakat.deployment)).validate(path)
    levels = ",".join(str(s.pades_level) for s in report.signatures)
    return f"{report.indication.value} ({levels}), revision {doc.head.number}"


# -- where the time goes (--profile) ---------------------------------------------------------


def _where(fn: Any) -> str:
    import inspect

    target = inspect.unwrap(fn)
    source = Path(inspect.getsourcefile(target) or "?")
    with suppress(ValueError):
        source = source.relative_to(ROOT)
    return f"{source}:{target.__code__.co_firstlineno}"


@contextmanager
def timed_parts(pakat: PakatSide) -> Iterator[dict[str, tuple[str, list[float]]]]:
    """Wrap the steps' parts (in this process only) to record each one's wall time per call, in ms."""
    import envelopes.sessions as sessions_module

    parts: dict[str, tuple[str, list[float]]] = {}
    undo: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        times: list[float] = []
        parts[label] = (_where(original), times)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                times.append((time.perf_counter() - t0) * 1000)

        undo.append((owner, name, original))
        setattr(owner, name, timed)

    for name in ("check_signer_certificate", "prepare_signature", "finish_signature", "add_revision",
                 "load_document", "_authenticated", "_session_row"):
        wrap(sessions_module, name, f"{name}()")
    wrap(pakat.store, "adopt", "DocumentStore.adopt() (fsync file + rename + fsync dir)")
    wrap(pakat.store, "incoming", "DocumentStore.incoming()")
    wrap(pakat.queue, "ping", "RQJobQueue.ping()")
    wrap(pakat.queue, "raise_level", "RQJobQueue.raise_level() (enqueue)")

    original_begin = pakat.database.begin
    blocks: list[float] = []
    commits: list[float] = []
    parts["Database.begin() block, begin → commit"] = (_where(original_begin), blocks)
    parts["  of which: commit"] = (_where(original_begin), commits)

    @contextmanager
    def begin() -> Iterator[Any]:
        t0 = time.perf_counter()
        manager = original_begin()
        conn = manager.__enter__()
        try:
            yield conn
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            t1 = time.perf_counter()
            manager.__exit__(None, None, None)
            commits.append((time.perf_counter() - t1) * 1000)
        finally:
            blocks.append((time.perf_counter() - t0) * 1000)

    undo.append((pakat.database, "begin", original_begin))
    pakat.database.begin = begin  # type: ignore[method-assign]
    try:
        yield parts
    finally:
        for owner, name, original in reversed(undo):
            if isinstance(owner, type(sessions_module)):
                setattr(owner, name, original)
            else:
                delattr(owner, name)  # back to the class's method


def profile(pool: ThreadPoolExecutor, pakat: PakatSide, token: Token, files: Sequence[Path], threads: int) -> None:
    """A concurrent round with its parts timed, then a sequential round under cProfile (this thread)."""
    import cProfile
    import pstats

    with timed_parts(pakat) as parts:
        t0 = time.perf_counter()
        certs, sigs = run_round(pool, pakat.open(files), pakat.certificate, pakat.signature, token)
        wall = time.perf_counter() - t0
    print(f"\n## Where the time goes: one round, {len(files)} sessions, {threads} threads "
          f"(wall {wall * 1000:.0f} ms; steps' sum {sum(certs) + sum(sigs):.0f} ms)\n")
    print("| part | where | calls | mean ms | p99 ms | max ms | sum ms | share of the steps' sum |")
    print("|---|---|---|---|---|---|---|---|")
    total = sum(certs) + sum(sigs)
    for label, (where, times) in parts.items():
        if times:
            print(f"| {label} | {where} | {len(times)} | {statistics.mean(times):.1f} | "
                  f"{percentile(times, 99):.1f} | {max(times):.1f} | {sum(times):.0f} | "
                  f"{100 * sum(times) / total:.0f} % |")

    opened = pakat.open(files)
    profiler = cProfile.Profile()
    digests: list[bytes] = []
    profiler.enable()
    for s in opened:
        digests.append(pakat.certificate(s)[1])
    profiler.disable()
    signatures = [token.sign(d) for d in digests]
    profiler.enable()
    for s, signature in zip(opened, signatures, strict=True):
        pakat.signature(s, signature)
    profiler.disable()
    print(f"\n## cProfile: the same {len(files)} sessions one after another in one thread "
          "(top 20 by own time; cumulative for context)\n")
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:20]  # type: ignore[attr-defined]
    print("| function | where | calls | own ms | cumulative ms |")
    print("|---|---|---|---|---|")
    for (filename, line, name), (_, calls, own, cumulative, _) in rows:
        path = filename
        for prefix in (str(ROOT) + "/", sys.prefix + "/"):
            path = path.removeprefix(prefix)
        print(f"| `{name}` | {path}:{line} | {calls} | {own * 1000:.1f} | {cumulative * 1000:.1f} |")


# -- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per size")
    parser.add_argument("--sessions", type=int, default=50, help="sessions in flight per round")
    parser.add_argument("--threads", type=int, default=8, help="threads serving the steps")
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"document sizes among {', '.join(SIZES)}")
    parser.add_argument("--quick", action="store_true", help="one measured round per size (a short run)")
    parser.add_argument("--no-http", action="store_true", help="skip the round through the Flask test client")
    parser.add_argument("--profile", action="store_true",
                        help="also time the steps' parts in one more round and cProfile a sequential one")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    sizes = args.sizes.split(",")
    for name in sizes:
        if name not in SIZES:
            parser.error(f"unknown size {name}")

    with tempfile.TemporaryDirectory(prefix="pakat-bench-sessions-") as tmp_name:
        tmp = Path(tmp_name)
        with dev_services(tmp / "dev") as env, redis_server(tmp / "redis") as redis_url:
            token = Token(env, PERSON)
            pakat = PakatSide(env, tmp / "home", redis_url, token)
            hanko = PyHankoSide(pakat, token, tmp / "pyhanko-out")
            http = None if args.no_http else HttpSide(pakat)
            try:
                run(args, rounds, sizes, tmp, env, token, pakat, hanko, http)
            finally:
                if http is not None:
                    http.close()
                pakat.close()
                token.close()


def run(
    args: argparse.Namespace,
    rounds: int,
    sizes: Sequence[str],
    tmp: Path,
    env: Any,
    token: Token,
    pakat: PakatSide,
    hanko: PyHankoSide,
    http: HttpSide | None,
) -> None:
    n = args.sessions
    print(f"# Pakat signing-session benchmark — {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"# services: {env.base_url} (OCSP, CRL, TSA on loopback); Redis {pakat.redis_url}; "
          f"SQLite {pakat.database_url.removeprefix('sqlite:///')}")
    print(f"# {n} sessions in flight on {n} documents ({PAGES} pages), {args.threads} threads, "
          f"{rounds} measured round(s) per size after a warm-up; level B-LTA (queued, not run); "
          f"token: SoftHSM RSA-2048 via PKCS#11 (not measured)\n", flush=True)

    results: dict[str, tuple[StepFigures, StepFigures, StepFigures | None]] = {}
    own_cpu: dict[str, StepFigures] = {}
    checks: dict[str, str] = {}
    with ThreadPoolExecutor(args.threads, thread_name_prefix="step") as pool:
        for size_name in sizes:
            folder = tmp / "docs" / size_name
            folder.mkdir(parents=True)
            files = []
            for i in range(n):
                path = folder / f"bid-{size_name}-{i:02d}.pdf"
                words = f"Pakat session benchmark, envelope {i} ({size_name})"
                make_document(path, SIZES[size_name], PAGES, words)
                files.append(path)
            actual_kb = statistics.mean(p.stat().st_size for p in files) / 1024
            print(f"# {size_name}: {n} documents of {actual_kb:.0f} KB on average", flush=True)

            ours, theirs = StepFigures(), StepFigures()
            # Warm-up: first OCSP fetch, SQLite pages, pyHanko's imports; not recorded.
            warm = files[: min(args.threads, n)]
            run_round(pool, pakat.open(warm), pakat.certificate, pakat.signature, token)
            run_round(pool, [HankoState(p) for p in warm], hanko.certificate, hanko.signature, token)
            last: list[Opened] = []
            pakat.cpu.clear()
            for r in range(rounds):
                order = ("pakat", "pyhanko") if r % 2 == 0 else ("pyhanko", "pakat")
                for who in order:
                    if who == "pakat":
                        last = pakat.open(files)
                        ours.add_round(*run_round(pool, last, pakat.certificate, pakat.signature, token))
                    else:
                        states = [HankoState(p) for p in files]
                        theirs.add_round(*run_round(pool, states, hanko.certificate, hanko.signature, token))
            web: StepFigures | None = None
            if http is not None:
                web = StepFigures()
                # Warm-up: the app has its own SealService, hence its own OCSP cache.
                run_round(pool, pakat.open(warm), http.certificate, http.signature, token)
                web.add_round(*run_round(pool, pakat.open(files), http.certificate, http.signature, token))
            results[size_name] = (ours, theirs, web)
            own_cpu[size_name] = cpu = StepFigures()
            cpu.add_round([c[0] for c in pakat.cpu.values()], [c[1] for c in pakat.cpu.values()])
            if args.profile:
                profile(pool, pakat, token, files, args.threads)
            checks[size_name] = validate_one(pakat, last[0])
            print(f"# {size_name}: done; one session raised to B-LTA afterwards and validated: "
                  f"{checks[size_name]}", flush=True)

    print()
    print("| size | what | calls | median ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    worst: tuple[float, str] = (0.0, "")
    for size_name, (ours, theirs, web) in results.items():
        print(f"| {size_name} | Pakat certificate step (`present_certificate`) | {ours.first.row()} |")
        print(f"| {size_name} | Pakat signature step (`post_signature`) | {ours.second.row()} |")
        print(f"| {size_name} | **Pakat certificate + signature** (per session) | {ours.both.row()} |")
        print(f"| {size_name} | Pakat certificate + signature: the calls' own CPU (thread time) | "
              f"{own_cpu[size_name].both.row()} |")
        print(f"| {size_name} | pyHanko prepare (`async_digest_doc_for_signing` + `signed_attrs`) | "
              f"{theirs.first.row()} |")
        print(f"| {size_name} | pyHanko finish (`async_sign_prescribed_attributes` + `async_finish_signing`) | "
              f"{theirs.second.row()} |")
        print(f"| {size_name} | **pyHanko prepare + finish** (per document) | {theirs.both.row()} |")
        a, b = ours.both, theirs.both
        print(f"| {size_name} | ratio Pakat / pyHanko (certificate + signature vs prepare + finish) | – | "
              f"{a.median() / b.median():.2f}× | {a.p(95) / b.p(95):.2f}× | {a.p(99) / b.p(99):.2f}× | "
              f"{a.max() / b.max():.2f}× |")
        if web is not None:
            print(f"| {size_name} | HTTP certificate (Flask test client) | {web.first.row()} |")
            print(f"| {size_name} | HTTP signature (Flask test client) | {web.second.row()} |")
            print(f"| {size_name} | HTTP certificate + signature | {web.both.row()} |")
            share = 1 - ours.both.median() / web.both.median()
            print(f"| {size_name} | HTTP layer's share of the median (1 − direct / HTTP) | – | "
                  f"{100 * share:.0f} % | | | |")
        worst = max(worst, (ours.both.p(99), size_name))
    print()
    for size_name, (ours, _, _) in results.items():
        print(f"p99 certificate+signature ({size_name}): {ours.both.p(99):.1f} ms")
    verdict = "met" if worst[0] < TARGET_MS else "NOT met"
    print(f"p99 certificate+signature: {worst[0]:.1f} ms (target < {TARGET_MS:.0f} ms) — {verdict}, "
          f"worst size {worst[1]}")


if __name__ == "__main__":
    main()
