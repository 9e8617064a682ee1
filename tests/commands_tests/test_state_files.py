"""Every file and folder Pakat leaves in its home is the owner's only (finding 8 of issue 15).

``pakat serve`` and ``pakat worker`` run as real processes on a fresh
``PAKAT_HOME``, started with the common umask 022 as a shell or a service
manager without ``UMask=`` would; a document is stored and sealed and a batch
sealed on the queue, then no file or folder under the home may grant group or
others anything: the database with its -wal and -shm, the document store, the
temp folder.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from pakat_testkit import api_key, free_port, pakat_command, pdf_bytes, process_env, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]


def loose_entries(home: Path) -> list[str]:
    """Every path under ``home`` (itself included) that group or others may read, write or enter."""
    found = []
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(home.parent)} {mode:04o}")
    return found


@contextlib.contextmanager
def started(args: list[str], env: dict[str, str], log: Path, ready: Any, what: str) -> Iterator[None]:
    """A Pakat process with umask 022, its log outside the home (the log is the test's, not Pakat's)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=process_env(env), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, umask=0o022)
    try:
        wait_until(ready, 90, what, proc)
        yield
    finally:
        stop_process(proc)


def test_serve_and_worker_leave_only_owner_only_state(tmp_path: Path, dev_env: Any, redis_url: str) -> None:
    home = tmp_path / "home"  # not made here: Pakat makes it
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(dev_env.deployment_path), "REDIS_URL": redis_url,
           "PAKAT_QUEUE": f"files-{uuid.uuid4().hex[:8]}"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    worker_log = logs / "worker.log"
    headers = {"Authorization": f"Bearer {api_key(dev_env, 'demo-co')}"}
    with (
        started(pakat_command("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"), env,
                logs / "serve.log", answers, "pakat serve answering /healthz"),
        started(pakat_command("worker"), env, worker_log, lambda: b"Listening on" in worker_log.read_bytes(),
                "pakat worker listening"),
    ):
        stored = requests.post(f"{url}/api/v1/documents", headers=headers, timeout=30,
                               files={"pdf": ("bid.pdf", pdf_bytes("owner-only state"), "application/pdf")})
        assert stored.status_code == 201, stored.text
        sealed = requests.post(f"{url}/api/v1/documents/{stored.json()['id']}/seal", headers=headers,
                               json={"level": "B-T"}, timeout=60)
        assert sealed.status_code == 200, sealed.text
        batch = requests.post(f"{url}/api/v1/batches", headers=headers, data={"level": "B-B"}, timeout=30,
                              files=[("files", (f"item-{n}.pdf", pdf_bytes(f"item {n}"), "application/pdf"))
                                     for n in range(2)])
        assert batch.status_code == 202, batch.text
        progress = f"{url}/api/v1/batches/{batch.json()['id']}"
        wait_until(lambda: requests.get(progress, headers=headers, timeout=5).json()["state"] == "finished",
                   90, "the batch sealed by the worker")
        assert requests.get(progress, headers=headers, timeout=5).json()["sealed"] == 2

    created = {path.name for path in home.iterdir()}
    assert {"pakat.db", "documents", "tmp"} <= created, created
    assert loose_entries(home) == []


def test_the_console_script_and_python_m_pakat_set_the_umask_first() -> None:
    """Both ways of running ``pakat`` reach the entry point that sets the umask (not only ``main``)."""
    script = ROOT / ".venv" / "bin" / "pakat"
    assert "from commands import entry_point" in script.read_text(encoding="utf-8"), (
        "the installed console script is stale: run ./dev.sh setup")
    probe = ("import os, runpy, sys; sys.argv = ['pakat', '--version']; os.umask(0o022)\n"
             "try:\n    runpy.run_module('pakat', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print(oct(os.umask(0)), file=sys.stderr)")
    done = subprocess.run([*pakat_command()[:1], "-c", probe], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    assert done.stderr.strip().splitlines()[-1] == "0o77", done.stderr


def test_dev_sh_keeps_what_it_creates_owner_only(tmp_path: Path) -> None:
    """dev.sh's own redirections (logs, pid files) are made under umask 077; only code is installed under 022."""
    body = (ROOT / "dev.sh").read_text(encoding="utf-8")
    probe = f"{body.split('# ---------------------------------------------------------------- setup ----')[0]}\n"
    probe += 'mkdir -p "$LOG_DIR" "$RUN_DIR"; echo started >>"$LOG_DIR/web.log"; echo 1 >"$RUN_DIR/web.pid"\n'
    home = tmp_path / "var"
    # Only the preamble (settings, no command) runs, against a fresh home, with the usual login umask.
    subprocess.run(["bash", "-c", f"umask 022; {probe}"], env={**os.environ, "PAKAT_HOME": str(home)},
                   cwd=ROOT, check=True, timeout=30)
    assert loose_entries(home) == []
