"""Helpers for the web, CLI and worker tests: sample PDFs, broken PDFs, and checking a sealed PDF.

The check trusts only the dev root: a signature that validates here chains to
the dev PKI and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pikepdf
import requests
import yaml
from flask import Flask
from flask.testing import FlaskClient
from signing_checks import assert_pades_level

from envelopes.schema import upgrade
from pakat.settings import Settings
from signer.levels import PadesLevel
from web import create_app

ROOT = Path(__file__).resolve().parent.parent


# -- PDFs ---------------------------------------------------------------------


def pdf_bytes(text: str = "Pakat test envelope", *, pad_to: int = 0, pages: int = 1) -> bytes:
    """A small valid PDF; ``pad_to`` adds an incompressible stream until the file is about that large."""
    pdf = pikepdf.new()
    for n in range(pages):
        page = pdf.add_blank_page(page_size=(595, 842))
        page.Resources = pikepdf.Dictionary(
            Font=pikepdf.Dictionary(
                F1=pikepdf.Dictionary(
                    Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
                )
            )
        )
        page.Contents = pdf.make_stream(f"BT /F1 18 Tf 72 760 Td ({text} {n + 1}) Tj ET".encode())
    if pad_to:
        pdf.Root.PakatPadding = pdf.make_stream(os.urandom(pad_to))
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def encrypted_pdf_bytes(user_password: str = "user", *, allow: pikepdf.Permissions | None = None) -> bytes:
    """A PDF encrypted with AES-256 (``user_password=""`` opens without a password but is still encrypted).

    ``allow`` sets the owner's permissions (default: everything allowed).
    """
    pdf = pikepdf.open(io.BytesIO(pdf_bytes()))
    out = io.BytesIO()
    encryption = pikepdf.Encryption(
        owner="owner-secret", user=user_password, R=6, allow=allow or pikepdf.Permissions()
    )
    pdf.save(out, encryption=encryption)
    return out.getvalue()


# An owner-password PDF whose author allows printing and copying but no changes.
NO_CHANGES_ALLOWED = pikepdf.Permissions(
    modify_annotation=False, modify_assembly=False, modify_form=False, modify_other=False
)


def truncated_pdf_bytes() -> bytes:
    """A PDF cut before its trailer and %%EOF, as an interrupted upload leaves it."""
    data = pdf_bytes()
    return data[: len(data) * 2 // 3]


def unparseable_pdf_bytes() -> bytes:
    """Something with a PDF header and an end-of-file marker but no readable structure."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nthis is not an object graph\nstartxref\n999999\n%%EOF\n"


BAD_INPUTS: dict[str, tuple[bytes, str]] = {
    "not-a-pdf": (b"Hello, this is a text file and not a PDF.\n", "NOT_A_PDF"),
    "truncated": (truncated_pdf_bytes(), "PDF_TRUNCATED"),
    "unparseable": (unparseable_pdf_bytes(), "PDF_UNPARSEABLE"),
    "encrypted": (encrypted_pdf_bytes(), "PDF_ENCRYPTED"),
    "owner-password-no-changes": (encrypted_pdf_bytes("", allow=NO_CHANGES_ALLOWED), "PDF_SIGNING_NOT_PERMITTED"),
}


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


# -- checking what was sealed ---------------------------------------------------


def check_sealed(data: bytes, root_cert_path: Path, level: PadesLevel) -> None:
    """Assert that ``data`` carries one valid seal at ``level``, trusting only the dev root."""
    assert data.startswith(b"%PDF-"), "not a PDF"
    assert_pades_level(data, level, root_cert_path)


# -- the dev environment --------------------------------------------------------

ORGANISATIONS = ("demo-co", "demo-gov", "demo-revoked", "demo-expired")


def api_key(dev_env: Any, org_id: str) -> str:
    """The dev API key of an organisation, from the dev environment's info."""
    return str(dev_env.info["organisations"][org_id]["api_key"])


def secrets_of(dev_env: Any) -> list[str]:
    """Every PIN and API key of the dev environment: none may ever be printed or returned."""
    info = dev_env.info
    holders = [*info["organisations"].values(), *info.get("users", {}).values()]
    found = [h[k] for h in holders for k in ("pin", "api_key") if h.get(k)]
    assert found, "the dev environment lists no secrets to look for"
    return [str(s) for s in found]


def assert_no_secret(texts: Iterable[str | bytes], secrets: Iterable[str]) -> None:
    """No PIN or API key in any of ``texts``."""
    for text in texts:
        blob = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        for secret in secrets:
            assert secret not in blob, "a secret leaked"


def deployment_with_limit(deployment_path: Path, max_pdf_bytes: int, name: str) -> Path:
    """A copy of the deployment beside the original (relative paths keep working) with another size limit."""
    raw = yaml.safe_load(deployment_path.read_text(encoding="utf-8"))
    raw.setdefault("limits", {})["max_pdf_bytes"] = max_pdf_bytes
    copy = deployment_path.with_name(f"{name}.yaml")
    copy.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return copy


# The conformance corpus: signed and broken PDFs from DSS, pyHanko and qpdf, with asserted verdicts.
CONFORMANCE_CORPUS = Path(__file__).resolve().parent / "conformance"


# -- processes ------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pakat_command(*args: str) -> list[str]:
    """``python -m pakat ARGS`` with this interpreter (the venv's)."""
    return [sys.executable, "-m", "pakat", *args]


def process_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The current environment plus ``extra``, with the ``PAKAT_*`` variables of the caller removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAKAT_") and k != "REDIS_URL"}
    env.update(extra)
    return env


def stop_process(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """Terminate a process this test started, then kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_until(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[Any] | None = None) -> None:
    """Poll ``predicate`` until it is true; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


@contextlib.contextmanager
def pakat_server(
    deployment_path: Path, home: Path, *, workers: int, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, Path, int]]:
    """``pakat serve`` on a free loopback port until the block ends: (base URL, log path, pid).

    ``env`` adds variables (REDIS_URL, PAKAT_QUEUE…) to the server's environment.
    """
    log_path = home / "serve.log"
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            pakat_command(
                "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--threads", "4"
            ),
            env=process_env({"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(deployment_path), **(env or {})}),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(up, 60, "pakat serve answering /healthz", proc)
        yield url, log_path, proc.pid
    finally:
        stop_process(proc)


def child_processes(pid: int) -> list[int]:
    """The processes ``pid`` has started (over all its threads) that are still running."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return children


@contextlib.contextmanager
def pakat_worker(home: Path, env: Mapping[str, str]) -> Iterator[Path]:
    """``pakat worker`` (PAKAT_HOME=home plus ``env``) until the block ends, once it listens: its log path."""
    log_path = home / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            pakat_command("worker"),
            env=process_env({"PAKAT_HOME": str(home), **env}),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_until(lambda: b"Listening on" in log_path.read_bytes(), 60, "pakat worker listening", proc)
        yield log_path
    finally:
        stop_process(proc)


# -- the Flask app --------------------------------------------------------------------


@contextlib.contextmanager
def pakat_app(deployment_path: Path, home: Path, max_pdf_bytes: int, **settings: Any) -> Iterator[Flask]:
    """The web app on a copy of the deployment with an upload limit; its HSM sessions and database closed after.

    ``settings`` override :class:`pakat.settings.Settings` fields (redis_url, queue, database_url…);
    the database is migrated first, as ``pakat serve`` does.
    """
    config = deployment_with_limit(deployment_path, max_pdf_bytes, f"test-{home.name}")
    try:
        chosen = Settings(home=home, config=config, tmp=home / "tmp", **settings)
        home.mkdir(parents=True, exist_ok=True)
        upgrade(chosen.database_url)
        application = create_app(chosen)
        yield application
        application.extensions["pakat"].close()
    finally:
        config.unlink()


@contextlib.contextmanager
def tidy_client(app: Flask) -> Iterator[FlaskClient]:
    """A test client; afterwards no upload may be left in the app's temp folder."""
    yield app.test_client()
    leftovers = sorted(p.name for p in Path(app.config["PAKAT_TMP"]).iterdir())
    assert leftovers == [], f"temp files left behind: {leftovers}"

