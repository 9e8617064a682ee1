"""The production recipes hold together: systemd units, the Dockerfile and compose.yaml (finding 13 of issue 15).

This machine cannot pull images, so the image is not built here. What can be
checked is: the units pass ``systemd-analyze verify`` (with the install path
pointed at this checkout's virtualenv) and carry the hardening; the Dockerfile
and compose file parse, copy every package the distribution installs, name
only files that are in the repository (or that the operator provides, as
docs/deployment.md says), and only settings Pakat reads; and every Pakat command
they run is accepted by this Pakat's command line.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from pakat_testkit import pakat_server, pakat_worker, process_env

from commands import main

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "packaging" / "systemd"
INSTALLED_PAKAT = "/opt/pakat/venv/bin/pakat"
#: What compose.yaml mounts that the operator provides (docs/deployment.md lists it); never in the repository.
OPERATOR_PATHS = {"deploy/config", "deploy/secrets/postgres-password", "deploy/secrets/pgpass",
                  "deploy/secrets/demo-co.pin"}
#: Variables the recipes may set besides Pakat's settings: libpq's, SoftHSM's, the image's own.
OTHER_VARIABLES = {"PGPASSFILE", "SOFTHSM2_CONF", "PATH", "PYTHONUNBUFFERED"}
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "UMask": "0077",
             "Restart": "on-failure", "User": "pakat"}


def known_settings() -> set[str]:
    """The variables pakat/settings.py documents in its table (the one place that reads them)."""
    text = (ROOT / "pakat" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r"^(PAKAT_[A-Z0-9_]+|REDIS_URL)\s", text, re.M))


def assert_pakat_accepts(words: list[str]) -> None:
    """``words`` is a Pakat command line this Pakat parses: the command exists and takes these options."""
    assert Path(words[0]).name == "pakat", words
    # In this process: click parses every option before --help answers, so an unknown one fails here.
    done = CliRunner().invoke(main, [*words[1:], "--help"])
    assert done.exit_code == 0, f"{shlex.join(words)}: {done.output}"


def unit(path: Path) -> dict[str, str]:
    """A unit's keys (the last value of each), section names dropped: what the checks below need."""
    keys: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, value = line.split("=", 1)
            keys[key.strip()] = value.strip()
    return keys


# -- systemd --------------------------------------------------------------------------------


def test_systemd_units_verify_and_are_hardened(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: install the Debian package systemd (./dev.sh test does)"
    names = {p.name for p in UNITS.iterdir()}
    assert {"pakat-web.service", "pakat-worker@.service", "pakat.env.example"} <= names
    venv_pakat = ROOT / ".venv" / "bin" / "pakat"
    to_check = []
    for source in sorted(UNITS.glob("*.service")) + sorted(UNITS.glob("*.timer")):
        text = source.read_text(encoding="utf-8").replace(INSTALLED_PAKAT, str(venv_pakat))
        text = text.replace("EnvironmentFile=/etc/pakat/pakat.env",
                            f"EnvironmentFile={UNITS / 'pakat.env.example'}")
        name = source.name.replace("@.", "@1.")  # an instance of the template, as systemctl starts it
        (tmp_path / name).write_text(text, encoding="utf-8")
        to_check.append(f"./{name}")
    done = subprocess.run([analyze, "verify", "--man=no", *to_check], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr

    for name in ("pakat-web.service", "pakat-worker@.service"):
        keys = unit(UNITS / name)
        for key, value in HARDENING.items():
            assert keys.get(key) == value, f"{name}: {key}={keys.get(key)}, want {value}"
        assert "/var/lib/pakat" in keys["ReadWritePaths"].split()
        assert_pakat_accepts(shlex.split(keys["ExecStart"]))
    backup = shlex.split(unit(UNITS / "pakat-backup.service")["ExecStart"])
    assert_pakat_accepts(shlex.split(backup[-1])[1:])  # exec PAKAT backup create "/var/backups/pakat/$(date …)"


def test_the_environment_example_names_only_settings_pakat_reads() -> None:
    names = {line.split("=", 1)[0].lstrip("# ") for line in
             (UNITS / "pakat.env.example").read_text(encoding="utf-8").splitlines()
             if re.match(r"^#? ?[A-Z][A-Z0-9_]*=", line)}
    assert {"PAKAT_HOME", "PAKAT_CONFIG", "PAKAT_DATABASE_URL", "REDIS_URL", "PAKAT_PUBLIC_URL"} <= names
    assert names - known_settings() - OTHER_VARIABLES == set()


# -- the container recipe -----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
             if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, rest = line.strip().partition(" ")
            found.append((instruction.upper(), rest.strip()))
    return found


def test_dockerfile_builds_pakat_from_the_repository_as_a_non_root_user() -> None:
    steps = dockerfile_instructions()
    known = {"FROM", "RUN", "COPY", "ENV", "USER", "WORKDIR", "VOLUME", "EXPOSE", "HEALTHCHECK", "CMD", "ARG",
             "LABEL", "ENTRYPOINT"}
    assert {instruction for instruction, _ in steps} <= known
    bases = [rest.split()[0] for instruction, rest in steps if instruction == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11-slim-(bookworm|trixie)", base) for base in bases), bases

    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    copied: set[str] = set()
    for instruction, rest in steps:
        if instruction == "COPY" and not rest.startswith("--from"):
            *sources, _target = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert source not in ignored, f"COPY {source}: excluded by .dockerignore"
                copied.add(source.rstrip("/"))
    # Every package the distribution installs is in the image's source.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", "README.md"} <= copied

    runs = " ".join(rest for instruction, rest in steps if instruction == "RUN")
    for package in ("softhsm2", "poppler-utils", "postgresql-client"):
        assert package in runs
    users = [rest for instruction, rest in steps if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert [i for i, _ in steps].index("USER") < [i for i, _ in steps].index("CMD")
    env_names = set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", " ".join(r for i, r in steps if i == "ENV")))
    assert env_names - known_settings() - OTHER_VARIABLES == set()

    cmd = yaml.safe_load(next(rest for instruction, rest in steps if instruction == "CMD"))
    assert_pakat_accepts(cmd)
    health = next(rest for instruction, rest in steps if instruction == "HEALTHCHECK")
    probe = yaml.safe_load(health[health.index("CMD ") + 4:])
    assert "/healthz" in probe[-1]
    compile(probe[-1], "HEALTHCHECK", "exec")


def test_compose_runs_web_worker_redis_and_postgres_with_health_checks() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"web", "worker", "redis", "postgres"} <= set(services)
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = source.removeprefix("./")
                assert path in OPERATOR_PATHS or (ROOT / path).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"]
        if service["healthcheck"]["test"][1:3] == ["python", "-c"]:
            compile(service["healthcheck"]["test"][3], f"{name} health check", "exec")
    for name in ("web", "worker"):
        service = services[name]
        assert service["build"] == "." and (ROOT / "Dockerfile").is_file()
        assert_pakat_accepts(service["command"])
        assert set(service["environment"]) - known_settings() - OTHER_VARIABLES == set()
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "pakat-state:/var/lib/pakat" in service["volumes"]  # web and worker share the documents
    for secret in compose["secrets"].values():
        path = secret["file"].removeprefix("./")
        assert path in OPERATOR_PATHS or (ROOT / path).exists(), path
    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for path in OPERATOR_PATHS:
        assert path in guide, f"docs/deployment.md does not tell the operator to provide {path}"


def test_the_health_checks_answer_for_a_running_web_and_worker(
    dev_env: Any, redis_url: str, tmp_path: Path
) -> None:
    """compose.yaml's health checks, run as written against a real ``pakat serve`` and ``pakat worker``."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    web_probe = compose["services"]["web"]["healthcheck"]["test"][3]
    worker_probe = compose["services"]["worker"]["healthcheck"]["test"][3]
    queue = {"REDIS_URL": redis_url, "PAKAT_QUEUE": f"health-{uuid.uuid4().hex[:8]}"}

    def probe(code: str, **env: str) -> int:
        return subprocess.run([sys.executable, "-c", code], env=process_env(env), capture_output=True,
                              timeout=60, check=False).returncode

    # No worker of this host registered yet on a fresh Redis database: unhealthy.
    empty = redis_url.rsplit("/", 1)[0] + "/7"
    assert probe(worker_probe, REDIS_URL=empty) == 1
    home = tmp_path / "home"
    home.mkdir()
    with (
        pakat_server(dev_env.deployment_path, home, workers=1, env=queue) as (url, _log, _pid),
        pakat_worker(home, {"PAKAT_CONFIG": str(dev_env.deployment_path), **queue}),
    ):
        assert probe(web_probe.replace("127.0.0.1:8000", url.removeprefix("http://"))) == 0
        assert probe(worker_probe, REDIS_URL=redis_url) == 0
