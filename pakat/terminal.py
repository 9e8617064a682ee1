"""How every Pakat command talks to a terminal: error lines, ``--json`` output, exit codes, lazy commands.

This is the one place that turns a :class:`PakatError` into what a terminal
shows: ``CODE: persian / english (detail)`` on stderr and the kind's exit code,
without a traceback. Anything else is a bug and keeps its traceback.

It lives on the ground floor so that every package's commands (``commands``,
``agent.cli``, ``devkit.cli``) share it without importing one another.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import click

from pakat.errors import PakatError

#: ``ctx.meta`` key: the running command prints its result (and any error) as JSON on stdout.
JSON_OUTPUT = "pakat.json_output"


def report_error(error: PakatError, *, as_json: bool = False) -> None:
    """Print an error the way people (stderr) and scripts (``--json`` on stdout) read it."""
    if as_json:
        click.echo(json.dumps({"error": error.as_dict()}, ensure_ascii=False))
    detail = f" ({error.detail})" if error.detail else ""
    click.echo(f"{error.code}: {error.kind.fa} / {error.kind.en}{detail}", err=True)


def answer_in_json(as_json: bool) -> None:
    """Mark the running command's output, errors included, as JSON (its ``--json`` flag)."""
    click.get_current_context().meta[JSON_OUTPUT] = as_json


@dataclass(frozen=True)
class LazyCommand:
    """A command named by where it is defined, loaded only when it runs or shows its own help.

    ``short_help`` is what the group's help lists, so ``pakat --help`` imports no
    command module (the signing and database stacks take seconds to import).
    """

    module: str
    attribute: str
    short_help: str


class PakatGroup(click.Group):
    """Maps PakatError to exit codes, and loads its commands on demand."""

    lazy_commands: ClassVar[dict[str, LazyCommand]] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self.lazy_commands.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        return load_command(lazy, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing comes from the registry: loading every command to print one line each is what made
        # the top-level help slow.
        rows = [(name, self.lazy_commands[name].short_help) if name in self.lazy_commands
                else (name, self._short_help(ctx, name)) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _short_help(self, ctx: click.Context, name: str) -> str:
        command = super().get_command(ctx, name)
        return command.get_short_help_str(limit=80) if command is not None and not command.hidden else ""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PakatError as error:
            report_error(error, as_json=bool(ctx.meta.get(JSON_OUTPUT)))
            ctx.exit(error.kind.exit_code)


def load_command(lazy: LazyCommand, name: str) -> click.Command:
    """The command ``lazy`` names; one that cannot be loaded says why when run, instead of breaking the group."""
    try:
        command = getattr(importlib.import_module(lazy.module), lazy.attribute)
    except (ImportError, AttributeError) as exc:
        reason = f"{lazy.module}.{lazy.attribute} cannot be loaded: {exc}"

        def unavailable() -> None:
            raise click.ClickException(reason)

        return click.Command(name, callback=unavailable, help=f"(unavailable: {reason})")
    if not isinstance(command, click.Command):
        raise TypeError(f"{lazy.module}.{lazy.attribute} is not a click command")
    return command
