"""The ``pakat`` command: seal a file, serve the web app, run a queue worker, set up the dev PKI.

This is the one place that turns a :class:`PakatError` into what a terminal
shows: ``CODE: persian / english (detail)`` on stderr and the kind's exit code,
without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click
from gunicorn.app.base import BaseApplication

import pakat
from pakat import errors
from pakat.errors import AccessError, InputError, PakatError
from pakat.settings import Settings

if TYPE_CHECKING:
    from flask import Flask

JSON_OUTPUT = "pakat.json_output"

log = logging.getLogger("pakat")


def report_error(error: PakatError, *, as_json: bool = False) -> None:
    """Print an error the way people (stderr) and scripts (``--json`` on stdout) read it."""
    if as_json:
        click.echo(json.dumps({"error": error.as_dict()}, ensure_ascii=False))
    detail = f" ({error.detail})" if error.detail else ""
    click.echo(f"{error.code}: {error.kind.fa} / {error.kind.en}{detail}", err=True)


class PakatGroup(click.Group):
    """Maps PakatError to exit codes, and loads heavy or optional subgroups on demand."""

    # devpki pulls in the test PKI tooling, which production installs need not have,
    # and which `pakat seal` should not pay for at start-up.
    lazy_commands: ClassVar[dict[str, tuple[str, str]]] = {"devpki": ("hsm_config.cli", "devpki")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self.lazy_commands[cmd_name]
        try:
            command = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            reason = f"{module_name}.{attribute} cannot be loaded: {exc}"

            def unavailable() -> None:
                raise click.ClickException(reason)

            return click.Command(cmd_name, callback=unavailable, help=f"(unavailable: {reason})")
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PakatError as error:
            report_error(error, as_json=bool(ctx.meta.get(JSON_OUTPUT)))
            ctx.exit(error.kind.exit_code)


config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Deployment YAML (default: $PAKAT_CONFIG, else $PAKAT_HOME/pakat.yaml).",
)


@click.group(cls=PakatGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(pakat.__version__, prog_name="pakat")
def main() -> None:
    """پاکت: امضا و مهر PDF (PAdES) / Pakat: PAdES signing and sealing of PDFs."""


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "destination", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Where to write the sealed PDF.")
@click.option("--org", "org_id", required=True, help="Organisation whose seal to apply.")
@click.option("--level", default="B-B", show_default=True, help="B-B, B-T, B-LT or B-LTA.")
@click.option("--reason", help="Reason recorded in the signature.")
@click.option("--location", help="Location recorded in the signature.")
@click.option("--contact", help="Contact information recorded in the signature.")
@config_option
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (or error) as JSON on stdout.")
@click.pass_context
def seal(
    ctx: click.Context,
    source: Path,
    destination: Path,
    org_id: str,
    level: str,
    reason: str | None,
    location: str | None,
    contact: str | None,
    config: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Seal SOURCE with an organisation's seal key into OUT (nothing is written on failure)."""
    ctx.meta[JSON_OUTPUT] = as_json
    from envelopes.sealing import SealService
    from signer.levels import PadesLevel

    pades = PadesLevel.parse(level)
    if destination.exists() and not force:
        raise InputError(errors.OUTPUT_EXISTS, f"{destination} (use --force to replace it)")
    deployment = Settings.from_env().with_config(config).load_deployment()
    service = SealService.from_deployment(deployment)
    try:
        result = service.seal(org_id, source, destination, pades,
                              reason=reason, location=location, contact=contact)
    finally:
        service.close()
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        click.echo(
            f"مهر شد / sealed: {result.destination} — {result.organisation}, {result.level.value}, "
            f"{result.output_size} bytes, SHA-256 {result.output_sha256}"
        )


class PakatServer(BaseApplication):
    """gunicorn, configured in code, serving :func:`web.create_app`."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        self.application: Flask | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("worker_exit", self._worker_exit)

    def load(self) -> Flask:
        # Called in each worker after the fork (preload_app is off), so every
        # worker initialises PKCS#11 itself, on its first seal.
        from web import create_app

        self.application = create_app(self.settings)
        return self.application

    def _worker_exit(self, _server: object, _worker: object) -> None:
        if self.application is not None:
            self.application.extensions["pakat"].seals.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Worker processes (each logs in to the HSM once).")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(min=1),
              help="Threads per worker, sharing its HSM sessions.")
@config_option
def serve(host: str, port: int, workers: int, threads: int, config: Path | None) -> None:
    """Run the web application under gunicorn (gthread workers)."""
    if config is not None:
        # The environment is how the settings reach gunicorn's worker processes.
        os.environ["PAKAT_CONFIG"] = str(config.resolve())
    settings = Settings.from_env()
    settings.load_deployment()  # a broken configuration stops here, not in every worker
    settings.ensure_tmp()
    _configure_logging()
    PakatServer(settings, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "preload_app": False,
        "timeout": 300,
        "graceful_timeout": 30,
        "accesslog": "-",
        "errorlog": "-",
        "proc_name": "pakat",
    }).run()


@main.command()
@click.option("--burst", is_flag=True, help="Work until the queue is empty, then exit.")
@config_option
def worker(burst: bool, config: Path | None) -> None:
    """Run an RQ worker for $PAKAT_QUEUE on $REDIS_URL, staying logged in to the HSM across jobs."""
    if config is not None:
        os.environ["PAKAT_CONFIG"] = str(config.resolve())
    settings = Settings.from_env()
    if not settings.redis_url:
        raise AccessError(errors.CONFIG_INVALID, "set REDIS_URL to run a worker")
    settings.load_deployment()  # fail now rather than on the first job
    _configure_logging()

    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue, SimpleWorker

    from envelopes.jobs import close_worker_services

    connection = Redis.from_url(settings.redis_url)
    try:
        connection.ping()
    except RedisError as exc:
        # The URL may carry a password: name only where it points.
        where = connection.connection_pool.connection_kwargs
        raise AccessError(
            errors.CONFIG_INVALID,
            f"cannot reach Redis at {where.get('host', '?')}:{where.get('port', '?')}: {type(exc).__name__}",
        ) from None
    # SimpleWorker runs jobs in this process: a forking worker would log in to the
    # HSM again for every job and throw the session away afterwards.
    rq_worker = SimpleWorker([Queue(settings.queue, connection=connection)], connection=connection)
    try:
        rq_worker.work(burst=burst, logging_level="INFO")
    finally:
        close_worker_services()


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
    )
