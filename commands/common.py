"""What several commands share: the ``--config`` option and process logging (nothing heavy to import)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Deployment YAML (default: $PAKAT_CONFIG, else $PAKAT_HOME/pakat.yaml).",
)


def configure_logging() -> None:
    """Log lines with time and process id on stderr, for the long-running commands."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
    )
