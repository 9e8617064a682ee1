"""``pakat user``: the console's people, from the shell (this is how the first administrator is made).

``add`` creates a person with a password typed twice at a hidden prompt, or read
from standard input (``--password-stdin``, for scripts); ``reset`` prints a
one-time password once, to be changed at the next sign-in; ``disable`` ends
every session of the person at once. Secrets never come from the command line
(a process list shows it to everyone on the machine). Every change is in the
audit log, with the operator (``operator:<user>@<host>``) as its actor.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from commands.common import config_option, current_services, echo_json, json_option
from envelopes.audit import operator_actor
from envelopes.people import ROLES, People, Person, check_password, check_username
from pakat import errors
from pakat.errors import InputError
from pakat.terminal import answer_in_json


@contextlib.contextmanager
def _people(config: Path | None) -> Iterator[People]:
    with current_services(config) as services:
        yield services.people()


def _line(person: Person) -> str:
    state = "disabled" if person.disabled else "active"
    if person.must_change_password:
        state += ",must-change-password"
    seen = f"{person.last_sign_in_at:%Y-%m-%d %H:%M}" if person.last_sign_in_at else "never"
    return (f"{person.username}\t{person.organisation}\t{person.role.value}\t{state}\tsigned in {seen}"
            f"\t{person.display_name}")


def _read_password(from_stdin: bool, username: str, display_name: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt("گذرواژه / Password", hide_input=True, confirmation_prompt=(
            "دوباره / Repeat the password"), err=True)
    else:
        raise InputError(errors.REQUEST_INVALID, "no terminal to type the password: use --password-stdin")
    check_password(password, username, display_name)
    return password


@click.group("user")
def user() -> None:
    """کاربران میز کار / The console's people: add, list, disable, enable, reset."""


@user.command("add")
@click.option("--org", "org_id", required=True, help="The organisation the person works for.")
@click.option("--username", required=True, help="Their sign-in name (unique, whatever the letter case).")
@click.option("--role", required=True, type=click.Choice(ROLES), help="admin, operator or viewer.")
@click.option("--display-name", default="", help="The name the console shows (default: the username).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@config_option
@json_option
def user_add(org_id: str, username: str, role: str, display_name: str, password_stdin: bool,
             config: Path | None, as_json: bool) -> None:
    """Add a person with a password typed at a hidden prompt (twice) or read from stdin."""
    answer_in_json(as_json)
    username = check_username(username)
    password = _read_password(password_stdin, username, display_name)
    with _people(config) as people:
        created = people.create(org_id, username, role, actor=operator_actor(), display_name=display_name or None,
                                password=password)
    if as_json:
        echo_json(created.person.as_dict())
    else:
        click.echo(f"ساخته شد / added: {_line(created.person)}")


@user.command("list")
@click.option("--org", "org_id", help="Only this organisation's people.")
@config_option
@json_option
def user_list(org_id: str | None, config: Path | None, as_json: bool) -> None:
    """List the people (username, organisation, role, state, last sign-in); never a password."""
    answer_in_json(as_json)
    with _people(config) as people:
        found = people.list(org_id)
    if as_json:
        echo_json({"people": [p.as_dict() for p in found]})
        return
    for person in found:
        click.echo(_line(person))


def _set_disabled(username: str, disabled: bool, config: Path | None, as_json: bool) -> None:
    answer_in_json(as_json)
    with _people(config) as people:
        person = people.by_username(username)
        changed = people.set_disabled(person.organisation, person.id, disabled, actor=operator_actor())
    if as_json:
        echo_json(changed.as_dict())
    else:
        click.echo(f"{'غیرفعال شد / disabled' if disabled else 'فعال شد / enabled'}: {_line(changed)}")


@user.command("disable")
@click.argument("username")
@config_option
@json_option
def user_disable(username: str, config: Path | None, as_json: bool) -> None:
    """Disable USERNAME: every session of theirs ends now (never the organisation's last admin)."""
    _set_disabled(username, True, config, as_json)


@user.command("enable")
@click.argument("username")
@config_option
@json_option
def user_enable(username: str, config: Path | None, as_json: bool) -> None:
    """Enable USERNAME again."""
    _set_disabled(username, False, config, as_json)


@user.command("reset")
@click.argument("username")
@config_option
@json_option
def user_reset(username: str, config: Path | None, as_json: bool) -> None:
    """Give USERNAME a one-time password, printed once; it must be changed at the next sign-in."""
    answer_in_json(as_json)
    with _people(config) as people:
        person = people.by_username(username)
        given = people.reset_password(person.organisation, person.id, actor=operator_actor())
    if as_json:
        echo_json({**given.person.as_dict(), "one_time_password": given.password})
        return
    click.echo(f"گذرواژه بازنشانی شد / password reset: {_line(given.person)}")
    click.echo("گذرواژهٔ یک‌بارمصرف زیر فقط همین یک بار نشان داده می‌شود؛ در نخستین ورود باید عوض شود.")
    click.echo("The one-time password below is shown this once; it must be changed at the first sign-in.")
    click.echo(given.password)
