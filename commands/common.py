"""What several commands share: the ``--config`` option and process logging (nothing heavy to import)."""

from __future__ import annotations

from pathlib import Path

import click

from pakat import logs, metrics
from pakat.settings import Settings

config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Deployment YAML (default: $PAKAT_CONFIG, else $PAKAT_HOME/pakat.yaml).",
)


def configure_logging(settings: Settings | None = None) -> None:
    """The long-running commands' log on stderr: JSON lines or text ($PAKAT_LOG_FORMAT), with request ids."""
    logs.configure((settings or Settings.from_env()).log_format)


def configure_metrics(settings: Settings) -> None:
    """Count in the multiprocess files under ``$PAKAT_HOME/metrics``, shared by this machine's web and workers."""
    metrics.use_directory(settings.home / "metrics")
