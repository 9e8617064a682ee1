"""``pakat documents delete|purge`` and ``pakat batches delete``: deleting stored documents and batches.

The same use cases as ``DELETE /api/v1/documents/{id}`` and ``/api/v1/batches/{id}``
(:mod:`envelopes.retention`), run by the operator on the deployment's database
and store: any organisation's document or batch (``--org`` checks it belongs
to that one). Each deletion is recorded in the audit log by the shell user's
name; ``purge`` deletes what the ``storage`` retention policy says is due, as
``pakat worker`` does every ``PAKAT_RETENTION_SECONDS``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from commands.common import config_option
from commands.database import upgrade_database
from envelopes.audit import system_actor
from envelopes.retention import Deletion
from envelopes.services import Services
from pakat.settings import Settings
from pakat.terminal import answer_in_json


def _services(config: Path | None) -> Services:
    services = Services.from_settings(Settings.from_env().with_config(config))
    upgrade_database(services.settings, "storage", services.deployment)
    return services


def _actor(command: str) -> str:
    try:
        user = os.getlogin()
    except OSError:
        user = str(os.getuid())
    return system_actor(f"{command}:{user}")


def _say(deletion: Deletion, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(deletion.as_dict(), ensure_ascii=False))
        return
    click.echo(f"حذف شد / deleted: {deletion.kind} {deletion.id} ({deletion.organisation}), "
               f"{deletion.freed_bytes} bytes, {deletion.blobs_removed} stored file(s) removed")


@click.group()
def documents() -> None:
    """Stored documents: delete one, or purge what the retention policy says is due."""


@documents.command("delete")
@click.argument("doc_id")
@click.option("--org", "org_id", help="Refuse unless the document is this organisation's.")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print what was deleted as JSON.")
def documents_delete(doc_id: str, org_id: str | None, config: Path | None, as_json: bool) -> None:
    """Delete DOC_ID, its revisions and sessions, and its files nothing else names (DOCUMENT_HELD while needed)."""
    answer_in_json(as_json)
    services = _services(config)
    try:
        _say(services.retention().delete_document(org_id, doc_id, actor=_actor("documents-delete")), as_json)
    finally:
        services.close()


@documents.command("purge")
@click.option("--org", "org_ids", multiple=True, help="Only this organisation (repeatable); default: all.")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def documents_purge(org_ids: tuple[str, ...], config: Path | None, as_json: bool) -> None:
    """Delete the documents and batches (or batch inputs) the deployment's retention policy says are due."""
    answer_in_json(as_json)
    services = _services(config)
    try:
        report = services.retention().purge(actor=_actor("documents-purge"), organisations=org_ids or None)
    finally:
        services.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    for deletion in report.deleted:
        _say(deletion, False)
    for held in report.held:
        click.echo(f"نگه داشته شد / held: {held['kind']} {held['id']}: {held['code']} {held['detail']}")
    click.echo(f"{len(report.deleted)} حذف، {len(report.held)} نگه‌داشته / {len(report.deleted)} deleted, "
               f"{len(report.held)} held")


@click.group()
def batches() -> None:
    """Batches of sealed documents: delete a finished one."""


@batches.command("delete")
@click.argument("batch_id")
@click.option("--org", "org_id", help="Refuse unless the batch is this organisation's.")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print what was deleted as JSON.")
def batches_delete(batch_id: str, org_id: str | None, config: Path | None, as_json: bool) -> None:
    """Delete the finished batch BATCH_ID, its items and their files nothing else names (BATCH_RUNNING before)."""
    answer_in_json(as_json)
    services = _services(config)
    try:
        _say(services.retention().delete_batch(org_id, batch_id, actor=_actor("batches-delete")), as_json)
    finally:
        services.close()
