"""``pakat backup create`` and ``pakat backup restore``: the database, the documents and the configuration.

What a backup holds and how restore checks it: :mod:`envelopes.backups`. Both
work on the process's settings (``PAKAT_DATABASE_URL``, ``PAKAT_DOCUMENTS``,
``PAKAT_CONFIG``); ``create`` may run while Pakat serves, ``restore`` wants the
services stopped and an empty target.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from commands.common import config_option
from commands.database import deployment_if_readable
from envelopes import schema
from envelopes.backups import DEFAULT_SAMPLE, BackupSummary, create_backup, restore_backup, verify_backup
from envelopes.blobs import DocumentStore
from envelopes.database import Database
from envelopes.database_store import document_store
from pakat.settings import Settings
from pakat.terminal import answer_in_json


def _store(settings: Settings) -> DocumentStore:
    # The document store of these settings (its folder made, empty and 0700, if absent, as every process does).
    return document_store(settings, Database(settings.database_url))


@click.group()
def backup() -> None:
    """Back up and restore the database, the stored documents and the deployment's files."""


@backup.command("create")
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@click.option("--include-secrets", is_flag=True,
              help="Also copy the PIN and webhook-secret files the deployment names (keep such a backup"
                   " encrypted and apart).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@config_option
def backup_create(destination: Path, include_secrets: bool, as_json: bool, config: Path | None) -> None:
    """Write a consistent backup into DESTINATION (a new or empty folder), manifest last.

    Safe while Pakat runs: the database is copied as one snapshot and the
    documents it names are immutable. Exit 0 with the audit head hash printed.
    """
    answer_in_json(as_json)
    settings = Settings.from_env().with_config(config)
    schema.check_current(settings.database_url)
    summary = create_backup(destination, settings.database_url, _store(settings),
                            deployment_if_readable(settings), include_secrets=include_secrets)
    _print(summary, as_json, "پشتیبان نوشته شد / backup written")
    if summary.secrets_left_out and not as_json:
        click.echo("رمزها در پشتیبان نیستند؛ جداگانه نگه دارید / secrets not included, keep them apart: "
                   + ", ".join(summary.secrets_left_out))


@backup.command("restore")
@click.argument("source", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a target database and document store that hold data.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the backed-up deployment files here (their layout kept).")
@click.option("--sample", default=DEFAULT_SAMPLE, show_default=True, type=click.IntRange(min=0),
              help="Restored documents read back and hashed again.")
@click.option("--check-all-documents", is_flag=True, help="Read back and hash every restored document.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def backup_restore(source: Path, force: bool, config_dir: Path | None, sample: int, check_all_documents: bool,
                   as_json: bool) -> None:
    """Restore SOURCE into $PAKAT_DATABASE_URL and the document store, then verify it.

    Refuses a non-empty target (BACKUP_TARGET_NOT_EMPTY) unless --force. Checks
    every file against the manifest first (BACKUP_CORRUPT, exit 9), then the
    restored audit chain (AUDIT_CHAIN_BROKEN, exit 9) and its head against the
    manifest's, and the documents; on any failure the target is left empty.
    """
    answer_in_json(as_json)
    settings = Settings.from_env()
    summary = restore_backup(source, settings.database_url, _store(settings), force=force,
                             config_dir=config_dir, sample=None if check_all_documents else sample)
    _print(summary, as_json, "پشتیبان بازگردانده و بررسی شد / backup restored and verified")
    if not as_json and schema.current(settings.database_url) != schema.head():
        click.echo("طرح پایگاه داده قدیمی‌تر است؛ serve و worker آن را به‌روز می‌کنند / the schema is older:"
                   " `pakat serve` and `pakat worker` upgrade it at start (or `pakat db upgrade`)")


@backup.command("verify")
@click.argument("source", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def backup_verify(source: Path, as_json: bool) -> None:
    """Check SOURCE without restoring it: every file and document against the manifest, and on SQLite the
    audit chain and its head. Exit 0 when it holds, 9 (BACKUP_CORRUPT, AUDIT_CHAIN_BROKEN) when not.
    """
    answer_in_json(as_json)
    summary = verify_backup(source)
    _print(summary, as_json, "پشتیبان سالم است / the backup holds")
    if not summary.audit_verified and not as_json:
        click.echo("زنجیرهٔ ممیزی PostgreSQL هنگام بازگردانی بررسی می‌شود / a PostgreSQL dump's audit chain is"
                   " checked when it is restored")


def _print(summary: BackupSummary, as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    click.echo(f"{title}: {summary.path}")
    click.echo(f"  database   {summary.database}, {sum(summary.counts.values())} rows in {len(summary.counts)}"
               " tables")
    click.echo(f"  audit      {summary.audit_entries} entries, head {summary.audit_head or '-'}")
    click.echo(f"  documents  {summary.documents}" + (f", {summary.documents_checked} read back"
                                                      if summary.documents_checked else ""))
    if summary.config_restored_to is not None:
        click.echo(f"  config     {summary.config_restored_to}")
