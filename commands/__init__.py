"""The ``pakat`` command line: one module per area, registered here by name and loaded when used.

==============  =======================  ======================================
command         module                   area
==============  =======================  ======================================
seal            commands.signing         seal one file with an organisation's key
validate        commands.validating      judge a signed PDF, print or write the report
serve, worker   commands.serving         the web application, the RQ worker
db, audit       commands.database        the schema, the audit log
seal-batch      commands.batch           seal a folder or zip with a progress bar
documents       commands.storage         delete stored documents, purge what retention says is due
batches         commands.storage         delete a finished batch
backup          commands.backup          back up and restore the database, documents and configuration
api-key         commands.keys            platforms' API keys: create, list, rotate, revoke
seal-key        commands.keys            seal keys in the HSM: generate, csr, install, list
user            commands.people          the console's people: add, list, disable, enable, reset
agent           agent.cli                the user-side signing agent
devpki          devkit.cli               the development PKI and tokens (not in production)
==============  =======================  ======================================

Listing the commands (``pakat --help``) imports none of them. Errors print and
exit as :mod:`pakat.terminal` says.
"""

from __future__ import annotations

import click

import pakat
from pakat.files import keep_new_files_private
from pakat.terminal import LazyCommand, PakatGroup

COMMANDS: dict[str, LazyCommand] = {
    "seal": LazyCommand("commands.signing", "seal",
                        "Seal SOURCE with an organisation's seal key into OUT (nothing is written on failure)."),
    "validate": LazyCommand("commands.validating", "validate",
                            "Check every signature in SOURCE and print (or write) the report."),
    "serve": LazyCommand("commands.serving", "serve", "Run the web application (waitress processes)."),
    "worker": LazyCommand(
        "commands.serving", "worker",
        "Run an RQ worker for $PAKAT_QUEUE on $REDIS_URL, staying logged in to the HSM across jobs."),
    "db": LazyCommand("commands.database", "db",
                      "The database of documents and signing sessions ($PAKAT_DATABASE_URL)."),
    "audit": LazyCommand("commands.database", "audit",
                         "The hash-chained audit log of seals, signatures, validations and configuration"
                         " ($PAKAT_DATABASE_URL)."),
    "seal-batch": LazyCommand("commands.batch", "seal_batch",
                              "Seal every PDF in SOURCE (a folder, searched recursively, or a .zip) into OUT."),
    "documents": LazyCommand("commands.storage", "documents",
                             "Stored documents: delete one, or purge what the retention policy says is due."),
    "batches": LazyCommand("commands.storage", "batches", "Batches of sealed documents: delete a finished one."),
    "backup": LazyCommand("commands.backup", "backup",
                          "Back up and restore the database, the stored documents and the deployment's files."),
    "api-key": LazyCommand("commands.keys", "api_key",
                           "کلیدهای API سکوها / The platforms' API keys: create, list, rotate, revoke."),
    "seal-key": LazyCommand("commands.keys", "seal_key",
                            "کلیدهای مهر در HSM / Seal keys in the HSM: generate, csr, install, list."),
    "user": LazyCommand("commands.people", "user",
                        "کاربران میز کار / The console's people: add, list, disable, enable, reset."),
    "agent": LazyCommand("agent.cli", "agent",
                         "عامل امضا با توکن کاربر / The signing agent, with the user's own token."),
    "devpki": LazyCommand("devkit.cli", "devpki",
                          "Development national PKI, its OCSP/CRL/TSA responders, SoftHSM tokens and demo data."),
}


class PakatCommands(PakatGroup):
    lazy_commands = COMMANDS


@click.group(cls=PakatCommands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(pakat.__version__, prog_name="pakat")
def main() -> None:
    """پاکت: امضا و مهر PDF (PAdES) / Pakat: PAdES signing and sealing of PDFs."""


def entry_point() -> None:
    """The ``pakat`` console script and ``python -m pakat``: state files are owner-only, then the command runs.

    The umask is set here, in the process's entry, not in :func:`main`'s callback,
    so a test invoking ``main`` in its own process does not change that process's umask.
    """
    keep_new_files_private()
    main(prog_name="pakat")
