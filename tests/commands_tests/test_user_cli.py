"""``pakat user add|list|disable|enable|reset`` as an operator runs it: a real process on a real database.

The first admin is made here; the password comes from standard input (or a
hidden prompt), never from the command line; ``reset`` prints a one-time
password once; ``disable`` ends the person's sessions; the organisation's last
admin cannot be disabled. No password reaches the output but the one-time one.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pakat_testkit import pakat_command, process_env

from envelopes import schema
from envelopes.audit import AuditLog
from envelopes.database import Database
from envelopes.people import People
from hsm_config.deployment import load_deployment
from pakat import errors
from pakat.errors import PakatError

PASSWORD = "first admin passphrase"


class UserCli:
    def __init__(self, dev_env: Any, home: Path) -> None:
        self.database_url = f"sqlite:///{home / 'pakat.db'}"
        home.mkdir(parents=True, exist_ok=True)
        schema.upgrade(self.database_url)
        self.env = {"PAKAT_HOME": str(home), "PAKAT_CONFIG": str(dev_env.deployment_path),
                    "PAKAT_DATABASE_URL": self.database_url}
        self.printed: list[str] = []

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(pakat_command("user", *args), env=process_env(self.env), capture_output=True,
                                text=True, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                                timeout=120, check=False)
        assert "Traceback" not in result.stderr, result.stderr
        self.printed += [result.stdout, result.stderr]
        return result

    def json(self, *args: str, stdin: str | None = None) -> Any:
        result = self.run(*args, "--json", stdin=stdin)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)


def test_the_first_admin_is_made_listed_reset_and_disabled_from_the_shell(dev_env: Any, tmp_path: Path) -> None:
    cli = UserCli(dev_env, tmp_path / "home")
    made = cli.json("add", "--org", "demo-co", "--username", "Rana", "--role", "admin", "--display-name",
                    "رعنا مدیر", "--password-stdin", stdin=PASSWORD + "\n")
    assert made["username"] == "Rana" and made["role"] == "admin" and made["state"] == "active"
    assert not made["must_change_password"] and "password_hash" not in made

    weak = cli.run("add", "--org", "demo-co", "--username", "sam", "--role", "viewer", "--password-stdin",
                   stdin="sam\n")
    assert weak.returncode == errors.PASSWORD_TOO_WEAK.exit_code and "PASSWORD_TOO_WEAK" in weak.stderr
    taken = cli.run("add", "--org", "demo-co", "--username", "RANA", "--role", "viewer", "--password-stdin",
                    stdin=PASSWORD + "\n")
    assert taken.returncode == 3 and "USERNAME_TAKEN" in taken.stderr
    no_terminal = cli.run("add", "--org", "demo-co", "--username", "sam", "--role", "viewer")
    assert no_terminal.returncode != 0 and "--password-stdin" in no_terminal.stderr
    unknown = cli.run("add", "--org", "nobody", "--username", "sam", "--role", "viewer", "--password-stdin",
                      stdin=PASSWORD + "\n")
    assert unknown.returncode == 4 and "UNKNOWN_ORGANISATION" in unknown.stderr

    cli.json("add", "--org", "demo-co", "--username", "sam", "--role", "operator", "--password-stdin",
             stdin=PASSWORD + "\n")
    listed = cli.json("list", "--org", "demo-co")["people"]
    assert [p["username"] for p in listed] == ["Rana", "sam"]
    plain = cli.run("list")
    assert plain.returncode == 0 and "Rana\tdemo-co\tadmin\tactive" in plain.stdout

    database = Database(cli.database_url)
    people = People(database, load_deployment(dev_env.deployment_path))
    session = people.sign_in("sam", PASSWORD, address="127.0.0.1")

    reset = cli.run("reset", "sam")
    assert reset.returncode == 0 and reset.stdout.index("یک بار") < reset.stdout.index("shown this once")
    one_time = reset.stdout.strip().splitlines()[-1]
    assert len(one_time) == 24 and people.session(session.token) is None
    again = people.sign_in("SAM", one_time, address="127.0.0.1")
    assert again.person.must_change_password

    disabled = cli.json("disable", "sam")
    assert disabled["state"] == "disabled" and people.session(again.token) is None
    with pytest.raises(PakatError) as refused:
        people.sign_in("sam", one_time, address="127.0.0.1")
    assert refused.value.kind is errors.SIGN_IN_FAILED
    assert cli.json("enable", "sam")["state"] == "active"

    last = cli.run("disable", "rana")
    assert last.returncode == errors.LAST_ADMIN.exit_code and "LAST_ADMIN" in last.stderr
    missing = cli.run("reset", "nobody")
    assert missing.returncode == 4 and "PERSON_NOT_FOUND" in missing.stderr

    entries = AuditLog(database).entries(limit=1000)
    created = [e for e in entries if e.action == "person.created"]
    assert len(created) == 2 and all(e.actor.startswith("operator:") for e in created)
    everything = cli.printed + [e.details_json for e in entries]
    assert not any(PASSWORD in text for text in everything)
    assert sum(one_time in text for text in everything) == 1  # printed once, by reset
    database.dispose()


def test_the_password_is_typed_twice_at_a_hidden_prompt(dev_env: Any, tmp_path: Path) -> None:
    cli = UserCli(dev_env, tmp_path / "home")
    main, terminal = os.openpty()
    proc = subprocess.Popen(pakat_command("user", "add", "--org", "demo-gov", "--username", "tara", "--role",
                                          "admin"), env=process_env(cli.env), stdin=terminal, stdout=terminal,
                            stderr=terminal, close_fds=True)
    os.close(terminal)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while marker not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([main], [], [], 1)
            if ready:
                try:
                    seen += os.read(main, 4096)
                except OSError:  # the child closed the terminal
                    break

    try:
        read_until(b"Password")
        os.write(main, PASSWORD.encode() + b"\n")
        read_until(b"Repeat")
        os.write(main, PASSWORD.encode() + b"\n")
        read_until(b"added")
        assert proc.wait(60) == 0, seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    assert PASSWORD.encode() not in seen  # not echoed
    database = Database(cli.database_url)
    people = People(database, load_deployment(dev_env.deployment_path))
    assert people.sign_in("tara", PASSWORD, address="127.0.0.1").person.organisation == "demo-gov"
    database.dispose()
