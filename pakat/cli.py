"""The ``pakat`` command: seal or validate a file, serve the web app, run a queue worker, set up the dev PKI.

This is the one place that turns a :class:`PakatError` into what a terminal
shows: ``CODE: persian / english (detail)`` on stderr and the kind's exit code,
without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click
from asn1crypto import x509 as asn1_x509
from gunicorn.app.base import BaseApplication

import pakat
from agent.cli import agent
from pakat import errors
from pakat.errors import AccessError, InputError, IntegrityFailure, PakatError
from pakat.settings import Settings

if TYPE_CHECKING:
    from flask import Flask

    from envelopes.audit import AuditLog
    from hsm_config.deployment import Deployment
    from signer.placement import VisibleSignature
    from validation.config import ValidationConfig
    from validation.engine import Validator
    from validation.model import DocumentReport
    from validation.policy import PolicyRules

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
    lazy_commands: ClassVar[dict[str, tuple[str, str]]] = {
        "devpki": ("devkit.cli", "devpki"),
        "seal-batch": ("pakat.batch_cli", "seal_batch"),
    }

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


main.add_command(agent)


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "destination", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Where to write the sealed PDF.")
@click.option("--org", "org_id", required=True, help="Organisation whose seal to apply.")
@click.option("--level", default="B-B", show_default=True, help="B-B, B-T, B-LT or B-LTA.")
@click.option("--reason", help="Reason recorded in the signature.")
@click.option("--location", help="Location recorded in the signature.")
@click.option("--contact", help="Contact information recorded in the signature.")
@click.option("--visible", is_flag=True,
              help="Draw the seal's block in the free area at the bottom of the last page.")
@click.option("--visible-rect", metavar="X,Y,W,H",
              help="Draw the block here instead: millimetres from the page's bottom-left corner.")
@click.option("--visible-page", type=int, default=-1, show_default=True,
              help="Page of the block (1 is the first, -1 the last).")
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
    visible: bool,
    visible_rect: str | None,
    visible_page: int,
    config: Path | None,
    force: bool,
    as_json: bool,
) -> None:
    """Seal SOURCE with an organisation's seal key into OUT (nothing is written on failure)."""
    ctx.meta[JSON_OUTPUT] = as_json
    from envelopes.sealing import SealService
    from signer.levels import PadesLevel

    pades = PadesLevel.parse(level)
    appearance = _visible_request(visible, visible_rect, visible_page)
    if destination.exists() and not force:
        raise InputError(errors.OUTPUT_EXISTS, f"{destination} (use --force to replace it)")
    deployment = Settings.from_env().with_config(config).load_deployment()
    service = SealService.from_deployment(deployment)
    try:
        result = service.seal(org_id, source, destination, pades,
                              reason=reason, location=location, contact=contact, appearance=appearance)
    finally:
        service.close()
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        click.echo(
            f"مهر شد / sealed: {result.destination} — {result.organisation}, {result.level.value}, "
            f"{result.output_size} bytes, SHA-256 {result.output_sha256}"
        )


def _visible_request(visible: bool, rect: str | None, page: int) -> VisibleSignature | None:
    """``--visible`` / ``--visible-rect X,Y,W,H`` / ``--visible-page N`` as a request; None: invisible."""
    from signer.placement import VisibleSignature

    if rect is None:
        return VisibleSignature(page) if visible or page != -1 else None
    try:
        x, y, w, h = (float(part) for part in rect.split(","))
    except ValueError:
        raise InputError(errors.REQUEST_INVALID, "--visible-rect takes four numbers: X,Y,W,H in mm") from None
    return VisibleSignature(page, (x, y, w, h))


# -- pakat validate ------------------------------------------------------------------------

REPORT_FORMATS = ("text", "json", "xml", "pdf")
# Exit codes of `pakat validate`; 3 (unusable input) comes from pakat.errors as for every command.
EXIT_PASSED, EXIT_FAILED, EXIT_INDETERMINATE, EXIT_UNUSABLE = 0, 1, 2, 3


class UnusableUsage(click.UsageError):
    """A usage error of ``pakat validate``: exit 3 (unusable input), as 2 means INDETERMINATE there."""

    exit_code = EXIT_UNUSABLE


class UnwritableOutput(click.FileError):
    """The report cannot be written where asked (no such folder, no permission): exit 3 too."""

    exit_code = EXIT_UNUSABLE


class ValidateCommand(click.Command):
    """Raises :class:`UnusableUsage` for every usage error, whatever click found wrong."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UnusableUsage:
            raise
        except click.UsageError as exc:
            raise UnusableUsage(exc.format_message(), exc.ctx) from None


class IsoTime(click.ParamType):
    """An ISO 8601 moment; without a zone it is UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        from validation.reports.json_report import parse_iso_time

        try:
            return parse_iso_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class TrustFile(click.ParamType):
    """A file of root certificates to trust for one run: PEM (one or more) or DER."""

    name = "PEM"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[asn1_x509.Certificate]:
        if isinstance(value, list):
            return value
        from validation.trust import load_certificates

        path = Path(value)
        try:
            # asn1crypto reads certificates cryptography refuses (a UserNotice in a VisibleString, a
            # negative serial); whether one anchors a chain is the path validator's call.
            return load_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            self.fail(f"{path}: not a readable certificate file ({exc})", param, ctx)


@main.command(cls=ValidateCommand)
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "report_format", type=click.Choice(REPORT_FORMATS, case_sensitive=False),
              default="text", show_default=True,
              help="text: a bilingual summary; json: the report (schema v1); xml: ETSI TS 119 102-2; pdf.")
@click.option("-o", "--output", "destination", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of stdout (whole or not at all).")
@click.option("--at", type=IsoTime(), help="Judge as of this ISO 8601 time (no zone: UTC). Default: now.")
@click.option("--trust", "trust", multiple=True, type=TrustFile(),
              help="Also trust the root certificate(s) in this PEM or DER file, for this run. Repeatable.")
@click.option("--revocation", type=click.Choice(["require", "if-available", "skip"]),
              help="How hard to demand revocation data (default: the configuration's, normally require).")
@click.option("--policy", "policy",
              help="Validation policy: general, bid-envelope, a name the deployment gives, or a policy YAML file"
                   " (default: the deployment's, normally general).")
@click.option("--lang", type=click.Choice(["fa", "en"]), default="fa", show_default=True,
              help="Language of the PDF report.")
@config_option
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.pass_context
def validate(
    ctx: click.Context,
    source: Path,
    report_format: str,
    destination: Path | None,
    at: datetime | None,
    trust: tuple[list[asn1_x509.Certificate], ...],
    revocation: str | None,
    policy: str | None,
    lang: str,
    config: Path | None,
    force: bool,
) -> None:
    """Check every signature in SOURCE and print (or write) the report.

    Trusts the deployment's roots when one is configured (--config, $PAKAT_CONFIG
    or $PAKAT_HOME/pakat.yaml), else only the national root; --trust adds more.

    Exit status: 0 every signature passed, 1 a signature failed, 2 indeterminate
    (none failed), 3 unusable input or usage.
    """
    report_format = report_format.lower()
    ctx.meta[JSON_OUTPUT] = report_format == "json"
    if destination is not None:
        if destination.resolve() == source.resolve():
            raise _usage(ctx, "-o must not be the file being validated")
        if destination.exists() and not force:
            raise InputError(errors.OUTPUT_EXISTS, f"{destination} (use --force to replace it)")
    elif report_format == "pdf" and sys.stdout.isatty():
        raise _usage(ctx, "--format pdf is binary: give -o FILE or redirect stdout")

    from validation.config import RevocationMode
    from validation.engine import Validator

    anchors = [cert for group in trust for cert in group]
    validation_config = _validation_config(config).with_extra_anchors(anchors)
    validator = Validator(validation_config)
    rules = _policy(validator, policy) if policy else None
    report = validator.validate(
        source, file_name=source.name, at=at, revocation=RevocationMode(revocation) if revocation else None,
        policy=rules,
    )
    data = _render_report(report, report_format, source, lang)
    if destination is not None:
        _write_atomically(destination, data)
        click.echo(f"گزارش نوشته شد / report written: {destination} — {report.indication.value}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    ctx.exit(validation_exit_code(report))


def _policy(validator: Validator, name_or_file: str) -> PolicyRules:
    """``--policy``: a policy YAML file when one is there by that name, else a policy's name."""
    from validation.policy import PolicyError, load_policy

    path = Path(name_or_file)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        try:
            return load_policy(path)
        except PolicyError as exc:
            raise InputError(errors.VALIDATION_POLICY_INVALID, str(exc)) from None
    return validator.policy_named(name_or_file)


def validation_exit_code(report: DocumentReport) -> int:
    """0 when the file and every signature passed, 1 when anything failed, else 2 (indeterminate)."""
    from validation.model import Indication

    indications = {report.indication, *(sig.indication for sig in report.signatures)}
    if Indication.TOTAL_FAILED in indications:
        return EXIT_FAILED
    if indications == {Indication.TOTAL_PASSED}:
        return EXIT_PASSED
    return EXIT_INDETERMINATE


def _validation_config(config: Path | None) -> ValidationConfig:
    """The deployment's trust and policy when one is named or present, else production's default."""
    from hsm_config.deployment import default_validation_config, validation_config

    settings = Settings.from_env().with_config(config)
    # A file someone named must load (a typo must not silently fall back to the default);
    # the default location is used only if it exists.
    named = config is not None or settings.config != settings.home / "pakat.yaml"
    if named or settings.config.exists():
        return validation_config(settings.load_deployment())
    return default_validation_config()


def _render_report(report: DocumentReport, report_format: str, source: Path, lang: str) -> bytes:
    if report_format == "json":
        from validation.reports.json_report import report_to_json

        return (report_to_json(report) + "\n").encode("utf-8")
    if report_format == "xml":
        from validation.reports.etsi_xml import report_to_etsi_xml

        return report_to_etsi_xml(report, source).encode("utf-8")
    if report_format == "pdf":
        # fpdf2 and the fonts load only when a PDF is asked for.
        from validation.reports.pdf import render_pdf

        return render_pdf(report, "en" if lang == "en" else "fa")
    from validation.reports.text import report_to_text

    return report_to_text(report).encode("utf-8")


def _write_atomically(destination: Path, data: bytes) -> None:
    """Write through a temp file in the same folder and rename: OUT is whole or untouched."""
    try:
        fd, temp_name = tempfile.mkstemp(dir=destination.resolve().parent, prefix=".pakat-", suffix=".part")
    except OSError as exc:
        raise UnwritableOutput(str(destination), hint=exc.strerror or str(exc)) from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, destination)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _usage(ctx: click.Context, message: str) -> click.UsageError:
    return UnusableUsage(message, ctx)


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
    deployment = settings.load_deployment()  # a broken configuration stops here, not in every worker
    settings.ensure_tmp()
    _configure_logging()
    upgrade_database(settings, "serve", deployment)  # once, here: gunicorn's workers fork after this
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
    deployment = settings.load_deployment()  # fail now rather than on the first job
    _configure_logging()
    upgrade_database(settings, "worker", deployment)

    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Queue, SimpleWorker

    from envelopes.jobs import close_worker_services, worker_signing_sessions

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
    def new_worker() -> SimpleWorker:
        return SimpleWorker([Queue(settings.queue, connection=connection)], connection=connection,
                            maintenance_interval=MAINTENANCE_SECONDS)

    rq_worker = new_worker()
    # Signatures whose level job was lost (Redis restarted, a queue outage) are picked up again.
    requeued = worker_signing_sessions().requeue_signed()
    if requeued:
        logging.getLogger(__name__).info("re-queued %d signed session(s) whose level is still to raise", requeued)
    # Batches whose jobs were lost (Redis restarted empty) are woken now and at every sweep.
    sweeper = BatchSweeper(settings.batch_sweep_seconds)
    sweeper.sweep()
    if not burst:
        sweeper.start()
    try:
        while True:
            try:
                rq_worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
            except RedisError as exc:  # Redis went away while (re)starting: wait for it as RQ does when idle
                log.error("worker: Redis unavailable (%s), retrying", type(exc).__name__)
            # RQ quits on an error it did not expect, such as Redis restarting under a running job; a
            # worker asked to stop (SIGTERM, SIGINT: RQ notes when) or a burst run really ends.
            if burst or getattr(rq_worker, "_shutdown_requested_date", None) is not None:
                break
            time.sleep(2)
            rq_worker = new_worker()
    finally:
        sweeper.stop()
        close_worker_services()


#: How often RQ's maintenance runs in a worker; it also restarts a scheduler that died with Redis (RQ's
#: default, ten minutes, would leave scheduled retries waiting that long).
MAINTENANCE_SECONDS = 60


class BatchSweeper(threading.Thread):
    """Wakes every running batch on a timer, so no batch waits forever on a job Redis lost.

    A wake is a no-op when a job for the batch is already waiting, and a job
    finds nothing to do when the batch's items are all claimed and leased.
    """

    def __init__(self, interval: float) -> None:
        super().__init__(name="batch-sweeper", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()

    def sweep(self) -> int:
        from envelopes.jobs import worker_batches

        batches, queue = worker_batches()
        woken = 0
        try:
            for batch_id in batches.stalled():
                woken += queue.wake_batch(batch_id)
        except PakatError as exc:  # the queue is down: the next sweep tries again
            log.warning("batch sweep: %s", exc.code)
        except Exception:
            log.exception("batch sweep failed")
        if woken:
            log.info("woke %d running batch(es)", woken)
        return woken

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sweep()

    def stop(self) -> None:
        self._stop_event.set()


# -- pakat db ------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The database of documents and signing sessions ($PAKAT_DATABASE_URL)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database's schema to this Pakat's version (nothing to do when it is there already)."""
    from envelopes import schema

    settings = Settings.from_env()
    _configure_logging()
    upgrade_database(settings, "db-upgrade", _deployment_if_readable(settings))
    click.echo(f"پایگاه داده به‌روز است / database schema is at {schema.head()}: "
               f"{schema.describe(settings.database_url)}")


@db.command("current")
def db_current() -> None:
    """Print the database's schema version and whether it is this Pakat's (the head)."""
    from envelopes import schema

    settings = Settings.from_env()
    found, wanted = schema.current(settings.database_url), schema.head()
    if found == wanted:
        status = "head"
    else:
        status = f"head is {wanted}: run `pakat db upgrade`" if found is None else f"this Pakat needs {wanted}"
    click.echo(f"{found or 'none'} ({status}) — {schema.describe(settings.database_url)}")


def upgrade_database(settings: Settings, process: str, deployment: Deployment | None) -> None:
    """Bring the schema to head, first making the home folder where SQLite's default file lives.

    Then the audit log hears of it: ``schema.upgraded`` if the schema moved, and
    ``config.changed`` if ``deployment`` is not the configuration last recorded.
    """
    from envelopes import schema
    from envelopes.audit import system_actor

    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    before = schema.current(settings.database_url)
    schema.upgrade(settings.database_url)
    actor = system_actor(process)
    with _audit_log(settings) as trail:
        trail.record_schema_upgrade(before, schema.head(), actor=actor)
        if deployment is not None:
            entry = trail.record_configuration(deployment, actor=actor)
            if entry is not None:
                log.info("configuration %s recorded in the audit log (entry %d)", entry.details["sha256"],
                         entry.seq)


def _deployment_if_readable(settings: Settings) -> Deployment | None:
    """The deployment for the audit log's record, if there is a readable one: the schema does not need it."""
    if not settings.config.exists():
        return None
    try:
        return settings.load_deployment()
    except PakatError as error:
        log.warning("configuration not recorded in the audit log: %s", error)
        return None


@contextlib.contextmanager
def _audit_log(settings: Settings) -> Iterator[AuditLog]:
    """The audit log of the settings' database, its engine closed afterwards (serve forks after this)."""
    from envelopes.audit import AuditLog
    from envelopes.database import Database

    database = Database(settings.database_url)
    try:
        yield AuditLog(database)
    finally:
        database.dispose()


# -- pakat audit ---------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The hash-chained audit log of seals, signatures, validations and configuration ($PAKAT_DATABASE_URL)."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON object on stdout.")
@click.pass_context
def audit_verify(ctx: click.Context, as_json: bool) -> None:
    """Check every entry's hash and link, from the first to the head.

    Exit status 0 when the chain is unbroken (printing the number of entries and
    the head hash, worth keeping elsewhere), 9 (AUDIT_CHAIN_BROKEN) naming the
    first entry that is altered, missing, out of order or inserted.
    """
    ctx.meta[JSON_OUTPUT] = as_json
    settings = _current_schema()
    with _audit_log(settings) as trail:
        verdict = trail.verify()
    body = verdict.as_dict()
    if verdict.ok:
        if as_json:
            click.echo(json.dumps(body, ensure_ascii=False))
        else:
            click.echo(f"زنجیرهٔ گزارش ممیزی سالم است: {verdict.checked} ردیف / the audit log is unbroken: "
                       f"{verdict.checked} entries, head {verdict.last_hash}")
        return
    error = IntegrityFailure(errors.AUDIT_CHAIN_BROKEN, f"{verdict.message_fa} / {verdict.message_en}")
    if as_json:
        # One JSON object either way: the verdict, with the error beside it.
        click.echo(json.dumps({**body, "error": error.as_dict()}, ensure_ascii=False))
        ctx.meta[JSON_OUTPUT] = False
    raise error


@audit.command("show")
@click.option("--after", default=0, show_default=True, type=click.IntRange(min=0),
              help="Show entries after this sequence number.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000),
              help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as a JSON array, hashes included.")
@click.pass_context
def audit_show(ctx: click.Context, after: int, limit: int, as_json: bool) -> None:
    """Print the audit log's entries, oldest first: seq, time, action, actor, subject, details."""
    ctx.meta[JSON_OUTPUT] = as_json
    settings = _current_schema()
    with _audit_log(settings) as trail:
        entries = trail.entries(after=after, limit=limit)
    if as_json:
        click.echo(json.dumps([entry.as_dict() for entry in entries], ensure_ascii=False))
        return
    for entry in entries:
        click.echo(f"{entry.seq}\t{entry.as_dict()['at']}\t{entry.action}\t{entry.actor}\t{entry.subject}\t"
                   f"{entry.details_json}")


def _current_schema() -> Settings:
    """The settings, once their database is known to be at this Pakat's schema (else CONFIG_INVALID)."""
    from envelopes import schema

    settings = Settings.from_env()
    schema.check_current(settings.database_url)
    return settings


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
    )
