"""``pakat validate``: judge every signature in a PDF and print or write the report.

Exit status: 0 every signature passed, 1 a signature failed, 2 indeterminate,
3 unusable input or usage (click's own usage errors included, as 2 means
INDETERMINATE here).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from asn1crypto import x509 as asn1_x509

from commands.common import config_option
from hsm_config.deployment import default_validation_config, load_deployment, validation_config
from pakat import errors
from pakat.errors import InputError
from pakat.files import write_atomically
from pakat.settings import Settings
from pakat.terminal import answer_in_json
from pakat.text import Lang
from validation.config import RevocationMode, ValidationConfig
from validation.engine import Validator
from validation.model import DocumentReport, Indication
from validation.policy import PolicyError, PolicyRules, load_policy
from validation.reports.formats import parse_format, render
from validation.reports.json_report import parse_iso_time
from validation.trust import load_certificates

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
        path = Path(value)
        try:
            # asn1crypto reads certificates cryptography refuses (a UserNotice in a VisibleString, a
            # negative serial); whether one anchors a chain is the path validator's call.
            return load_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            self.fail(f"{path}: not a readable certificate file ({exc})", param, ctx)


@click.command(cls=ValidateCommand)
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
@click.option("--time-limit", "time_limit", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop with VALIDATION_TIME_EXCEEDED (exit 3) after this many seconds. Default: no limit.")
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
    time_limit: float | None,
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
    answer_in_json(report_format == "json")
    if destination is not None:
        if destination.resolve() == source.resolve():
            raise _usage(ctx, "-o must not be the file being validated")
        if destination.exists() and not force:
            raise InputError(errors.OUTPUT_EXISTS, f"{destination} (use --force to replace it)")
    elif report_format == "pdf" and sys.stdout.isatty():
        raise _usage(ctx, "--format pdf is binary: give -o FILE or redirect stdout")

    anchors = [cert for group in trust for cert in group]
    validation_config = _validation_config(config).with_extra_anchors(anchors)
    validator = Validator(validation_config)
    rules = _policy(validator, policy) if policy else None
    report = validator.validate(
        source, file_name=source.name, at=at, revocation=RevocationMode(revocation) if revocation else None,
        policy=rules, time_limit=time_limit,
    )
    language: Lang = "en" if lang == "en" else "fa"
    data = render(report, parse_format(report_format), language, pdf=source, newline=True).body
    if destination is not None:
        try:
            write_atomically(destination, data)
        except OSError as exc:  # no such folder, no permission, a full disk: OUT is untouched
            raise UnwritableOutput(str(destination), hint=exc.strerror or str(exc)) from None
        click.echo(f"گزارش نوشته شد / report written: {destination} — {report.indication.value}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    ctx.exit(validation_exit_code(report))


def _policy(validator: Validator, name_or_file: str) -> PolicyRules:
    """``--policy``: a policy YAML file when one is there by that name, else a policy's name."""
    path = Path(name_or_file)
    if path.suffix.lower() in (".yaml", ".yml") or path.is_file():
        try:
            return load_policy(path)
        except PolicyError as exc:
            raise InputError(errors.VALIDATION_POLICY_INVALID, str(exc)) from None
    return validator.policy_named(name_or_file)


def validation_exit_code(report: DocumentReport) -> int:
    """0 when the file and every signature passed, 1 when anything failed, else 2 (indeterminate)."""
    indications = {report.indication, *(sig.indication for sig in report.signatures)}
    if Indication.TOTAL_FAILED in indications:
        return EXIT_FAILED
    if indications == {Indication.TOTAL_PASSED}:
        return EXIT_PASSED
    return EXIT_INDETERMINATE


def _validation_config(config: Path | None) -> ValidationConfig:
    """The deployment's trust and policy when one is named or present, else production's default."""
    settings = Settings.from_env().with_config(config)
    # A file someone named must load (a typo must not silently fall back to the default);
    # the default location is used only if it exists.
    named = config is not None or settings.config != settings.home / "pakat.yaml"
    if named or settings.config.exists():
        return validation_config(load_deployment(settings.config))
    return default_validation_config()


def _usage(ctx: click.Context, message: str) -> click.UsageError:
    return UnusableUsage(message, ctx)
