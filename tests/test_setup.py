"""The front door: dev.sh parses, the README promises two commands, CI runs the README's test command."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
# What a reader (and the pre-stop check) would take for a command to run.
COMMAND_LINE = re.compile(r"^\s*(make|\./|bash |sh |python|uv |tox|nox|pip |\.venv/)")


def _quick_start_block(readme: str) -> list[str]:
    section = re.search(r"^## [^\n]*Quick start[^\n]*\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section, "README has no Quick start section"
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", section.group(1), re.M | re.S)
    assert len(blocks) == 1, "the quick start should have exactly one code block"
    return [line.strip() for line in blocks[0].splitlines() if line.strip()]


def test_dev_sh_parses_and_is_executable() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "dev.sh")], check=True)
    assert os.access(ROOT / "dev.sh", os.X_OK)
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_readme_quick_start_has_exactly_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _quick_start_block(readme) == ["./dev.sh start", "./dev.sh test"]
    # No other line anywhere in the README reads as a command to type.
    commands = sorted({line.strip() for line in readme.splitlines() if COMMAND_LINE.match(line)})
    assert commands == ["./dev.sh start", "./dev.sh test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)
    lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "./dev.sh test" in lines
    assert not [line for line in lines if "./dev.sh" in line and line != "./dev.sh test"]


def test_dev_sh_usage_and_unknown_command() -> None:
    ok = subprocess.run([str(ROOT / "dev.sh"), "help"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0
    for word in ("start", "test", "stop"):
        assert word in ok.stdout
    bad = subprocess.run([str(ROOT / "dev.sh"), "no-such-command"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2



# -- ./dev.sh start: ports of its own, and only its own processes count -----------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _checkout_home(tmp_path: Path, name: str) -> Path:
    """A PAKAT_HOME for one simulated checkout (its var/), with the install stamp so pip does not run again."""
    home = tmp_path / name
    home.mkdir()
    stamp = Path(os.environ.get("PAKAT_HOME") or ROOT / "var") / ".install-stamp"
    if stamp.exists():
        shutil.copy(stamp, home / ".install-stamp")
    return home


def _dev_sh(command: str, home: Path, ports: dict[str, int]) -> subprocess.CompletedProcess[str]:
    # As from a fresh shell: nothing of the test session's own services (its Redis, its SoftHSM tokens).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PAKAT_") and k not in ("REDIS_URL", "SOFTHSM2_CONF")}
    env.update({"PAKAT_HOME": str(home), **{name: str(port) for name, port in ports.items()}})
    return subprocess.run([str(ROOT / "dev.sh"), command], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600, check=False)


def _ports() -> dict[str, int]:
    return {"PAKAT_PORT": _free_port(), "PAKAT_REDIS_PORT": _free_port(), "PAKAT_PKI_PORT": _free_port()}


def _running(home: Path, service: str) -> bool:
    pid_file = home / "run" / f"{service}.pid"
    return pid_file.exists() and Path(f"/proc/{pid_file.read_text().strip()}").exists()


class _AlwaysHealthy(http.server.BaseHTTPRequestHandler):
    """Another checkout's responder: answers 200 to everything."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: object) -> None:
        pass


def test_start_fails_loudly_when_the_pki_port_is_taken(tmp_path: Path) -> None:
    """Another program answering 200 on the PKI port is not our responder: start refuses and says why."""
    home = _checkout_home(tmp_path, "checkout")
    ports = _ports()
    squatter = http.server.ThreadingHTTPServer(("127.0.0.1", ports["PAKAT_PKI_PORT"]), _AlwaysHealthy)
    thread = threading.Thread(target=squatter.serve_forever, daemon=True)
    thread.start()
    try:
        started = _dev_sh("start", home, ports)
        assert started.returncode != 0, "start reported ready with its PKI port held by another program"
        assert f"port {ports['PAKAT_PKI_PORT']}" in started.stderr and "PAKAT_PKI_PORT" in started.stderr, \
            started.stderr[-2000:]
        assert not _running(home, "web")
    finally:
        _dev_sh("stop", home, ports)
        squatter.shutdown()
        squatter.server_close()


def test_two_checkouts_run_side_by_side_on_ports_of_their_own(tmp_path: Path) -> None:
    homes = {name: _checkout_home(tmp_path, name) for name in ("first", "second")}
    ports = {name: _ports() for name in homes}
    try:
        for name, home in homes.items():
            started = _dev_sh("start", home, ports[name])
            assert started.returncode == 0, started.stderr[-3000:]
        for name, home in homes.items():
            for service in ("pki", "redis", "web", "worker"):
                assert _running(home, service), f"{name}: {service} is not running"
            web = f"http://127.0.0.1:{ports[name]['PAKAT_PORT']}/healthz"
            assert requests.get(web, timeout=5).status_code == 200
            pki = f"http://127.0.0.1:{ports[name]['PAKAT_PKI_PORT']}/healthz"
            assert requests.get(pki, timeout=5).status_code == 200
            # Each checkout's certificates name its own responders.
            assert f":{ports[name]['PAKAT_PKI_PORT']}/" in (home / "pakat.yaml").read_text()
    finally:
        for name, home in homes.items():
            _dev_sh("stop", home, ports[name])
    for home in homes.values():
        assert not any(_running(home, service) for service in ("pki", "redis", "web", "worker"))
