"""``pakat db`` and ``pakat audit``: the database schema, and the hash-chained audit log in it.

:func:`upgrade_database` is also how ``serve``, ``worker`` and ``seal-batch``
bring the schema to head before they start.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

import click

from commands.common import configure_logging
from envelopes import schema
from envelopes.audit import AuditLog, system_actor
from envelopes.database import Database
from hsm_config.deployment import Deployment, load_deployment
from pakat import errors
from pakat.errors import IntegrityFailure, PakatError
from pakat.settings import Settings
from pakat.terminal import JSON_OUTPUT

log = logging.getLogger("pakat")


@click.group()
def db() -> None:
    """The database of documents and signing sessions ($PAKAT_DATABASE_URL)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the database's schema to this Pakat's version (nothing to do when it is there already)."""

    settings = Settings.from_env()
    configure_logging()
    upgrade_database(settings, "db-upgrade", deployment_if_readable(settings))
    click.echo(f"پایگاه داده به‌روز است / database schema is at {schema.head()}: "
               f"{schema.describe(settings.database_url)}")


@db.command("current")
def db_current() -> None:
    """Print the database's schema version and whether it is this Pakat's (the head)."""

    settings = Settings.from_env()
    found, wanted = schema.current(settings.database_url), schema.head()
    if found == wanted:
        status = "head"
    else:
        status = f"head is {wanted}: run `pakat db upgrade`" if found is None else f"this Pakat needs {wanted}"
    click.echo(f"{found or 'none'} ({status}) — {schema.describe(settings.database_url)}")


@contextlib.contextmanager
def _audit_log(settings: Settings) -> Iterator[AuditLog]:
    """The audit log of the settings' database, its engine closed afterwards (serve forks after this)."""
    database = Database(settings.database_url)
    try:
        yield AuditLog(database)
    finally:
        database.dispose()


@click.group()
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
    settings = Settings.from_env()
    schema.check_current(settings.database_url)
    return settings


def upgrade_database(settings: Settings, process: str, deployment: Deployment | None) -> None:
    """Bring the schema to head, first making the home folder where SQLite's default file lives.

    Then the audit log hears of it: ``schema.upgraded`` if the schema moved, and
    ``config.changed`` if ``deployment`` is not the configuration last recorded.
    """
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


def deployment_if_readable(settings: Settings) -> Deployment | None:
    """The deployment for the audit log's record, if there is a readable one: the schema does not need it."""
    if not settings.config.exists():
        return None
    try:
        return load_deployment(settings.config)
    except PakatError as error:
        log.warning("configuration not recorded in the audit log: %s", error)
        return None
