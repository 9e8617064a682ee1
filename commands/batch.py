"""``pakat seal-batch``: seal a folder or a zip of PDFs from the shell, with a progress bar.

The same batch engine as ``POST /api/v1/batches`` (:mod:`envelopes.batches`):
the batch is recorded in the database, then sealed either here, by a few
threads of this process, or by the running workers (``--queue``), while this
command watches. Results go to a folder (the sealed files under their input
names and ``manifest.json``) or, when OUT ends in ``.zip``, to a zip.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

import click

from commands.common import config_option
from commands.database import upgrade_database
from envelopes import audit
from envelopes.archives import BatchInput, BatchLimits, read_files, read_zip
from envelopes.batches import FINISHED, Batches, BatchOptions, BatchProgress
from envelopes.blobs import DocumentStore
from envelopes.services import Services
from pakat import errors
from pakat.errors import AccessError, InputError
from pakat.files import SHARED, open_atomic
from pakat.settings import Settings
from signer.levels import PadesLevel

#: Exit code when the batch finished but some files could not be sealed (their reasons are in the manifest).
SOME_FAILED_EXIT = 3
POLL_SECONDS = 0.25


@click.command("seal-batch")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", "destination", required=True, type=click.Path(path_type=Path),
              help="A folder for the sealed files and manifest.json, or a .zip file.")
@click.option("--org", "org_id", required=True, help="Organisation whose seal to apply.")
@click.option("--level", default="B-LTA", show_default=True, help="B-B, B-T, B-LT or B-LTA.")
@click.option("--reason", help="Reason recorded in every signature.")
@click.option("--visible", is_flag=True, help="Draw the seal block on each document's last page.")
@click.option("--queue", "use_queue", is_flag=True, help="Let the running workers seal ($REDIS_URL); just watch.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 32),
              help="Threads sealing in this process (without --queue).")
@click.option("--force", is_flag=True, help="Write into OUT even if it exists.")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the final progress as JSON on stdout.")
def seal_batch(
    source: Path, destination: Path, org_id: str, level: str, reason: str | None, visible: bool,
    use_queue: bool, threads: int, force: bool, config: Path | None, as_json: bool,
) -> None:
    """Seal every PDF in SOURCE (a folder, searched recursively, or a .zip) into OUT.

    Exit 0 when every file was sealed, 3 when some could not be (see the manifest).
    """
    options = BatchOptions(PadesLevel.parse(level), reason, visible)
    if destination.exists() and not force and (destination.is_file() or any(destination.iterdir())):
        raise InputError(errors.OUTPUT_EXISTS, f"{destination} (use --force to write into it)")
    services = Services.from_settings(Settings.from_env().with_config(config))
    settings, deployment = services.settings, services.deployment
    deployment.organisation(org_id)  # UNKNOWN_ORGANISATION before any file is read
    # As serve and worker do: the embedded default database just works.
    upgrade_database(settings, "seal-batch", deployment)
    if use_queue:
        if not settings.redis_url:
            raise AccessError(errors.CONFIG_INVALID, "set REDIS_URL to seal through the queue")
        services.queue.ping()
    batches = services.batches(threads=threads)
    try:
        inputs = _read_source(source, services.store, services.batch_limits())
        batch = batches.create(org_id, inputs, options, actor=audit.system_actor(f"seal-batch:{_user()}")).progress
        click.echo(f"دسته {batch.id}: {batch.total} فایل / batch {batch.id}: {batch.total} files", err=True)
        if use_queue:
            services.queue.start_batch(batch.id, batch.total)
        final = _watch(batches, batch.id, here=not use_queue)
    finally:
        services.seals.close()
    _write_results(batches, batch.id, destination)
    if as_json:
        click.echo(json.dumps(final.as_dict(), ensure_ascii=False))
    click.echo(f"مهرشده {final.sealed}، ناموفق {final.failed} / sealed {final.sealed}, failed {final.failed}"
               f" → {destination}", err=True)
    if final.failed:
        sys.exit(SOME_FAILED_EXIT)


def _read_source(source: Path, store: DocumentStore, limits: BatchLimits) -> list[BatchInput]:
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf")
        return read_files([(p.relative_to(source).as_posix(), p) for p in files], store, limits)
    if source.suffix.lower() == ".zip":
        return read_zip(source, store, limits)
    raise InputError(errors.REQUEST_INVALID, f"{source.name}: give a folder or a .zip")


def _watch(batches: Batches, batch_id: str, *, here: bool) -> BatchProgress:
    """Seal here (``batches.threads`` at a time) or let the workers do it, drawing progress until the end."""
    failures: list[BaseException] = []

    def work() -> None:
        owner = f"cli:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        try:
            while batches.work(batch_id, owner).wake_at is not None:
                time.sleep(POLL_SECONDS)  # items wait for a retry or a lease: try again shortly
        except BaseException as exc:  # surfaced below: a dead thread must not leave the bar spinning
            failures.append(exc)

    if here:
        threading.Thread(target=work, name="seal-batch", daemon=True).start()
    bar = _ProgressLine()
    while True:
        progress = batches.progress(None, batch_id)
        bar.draw(progress)
        if progress.state == FINISHED:
            bar.close()
            return progress
        if failures:
            bar.close()
            raise failures[0]
        time.sleep(POLL_SECONDS)


def _write_results(batches: Batches, batch_id: str, destination: Path) -> None:
    if destination.suffix.lower() == ".zip":
        with open_atomic(destination, mode=SHARED) as target:  # the whole zip or none
            batches.write_results(None, batch_id, target.file)
        return
    destination.mkdir(parents=True, exist_ok=True)
    batches.export(None, batch_id, destination)


def _user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return str(os.getuid())


class _ProgressLine:
    """One line redrawn in place on a terminal; on anything else, a line every few seconds."""

    WIDTH = 30

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def draw(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 2 and progress.state != FINISHED:
            return
        self.last = now
        filled = self.WIDTH * progress.done // max(progress.total, 1)
        pace = f" · {progress.rate_per_second:.1f} docs/s" if progress.rate_per_second else ""
        eta = f" · ~{progress.eta_seconds:.0f} s left" if progress.eta_seconds else ""
        line = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {progress.done}/{progress.total}"
                f" sealed {progress.sealed} failed {progress.failed}{pace}{eta}")
        click.echo(("\r" + line) if self.tty else line, err=True, nl=not self.tty)

    def close(self) -> None:
        if self.tty:
            click.echo("", err=True)
