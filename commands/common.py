"""What several commands share: the ``--config`` and ``--json`` options, the services of a command, process
logging (nothing heavy to import at module level: the CLI starts fast)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pakat import logs, metrics
from pakat.settings import Settings

if TYPE_CHECKING:
    from envelopes.services import Services

config_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Deployment YAML (default: $PAKAT_CONFIG, else $PAKAT_HOME/pakat.yaml).",
)
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print the result (or error) as JSON on stdout.")


def echo_json(body: Any) -> None:
    """One JSON document on stdout, Persian left readable."""
    click.echo(json.dumps(body, ensure_ascii=False))


@contextlib.contextmanager
def current_services(config: Path | None) -> Iterator[Services]:
    """The deployment's services, once the database is at this Pakat's schema; closed afterwards."""
    from envelopes import schema
    from envelopes.services import Services

    settings = Settings.from_env().with_config(config)
    schema.check_current(settings.database_url)
    services = Services.from_settings(settings)
    try:
        yield services
    finally:
        services.close()


def configure_logging(settings: Settings | None = None) -> None:
    """The long-running commands' log on stderr: JSON lines or text ($PAKAT_LOG_FORMAT), with request ids."""
    logs.configure((settings or Settings.from_env()).log_format)


def configure_metrics(settings: Settings) -> None:
    """Count in the multiprocess files under ``$PAKAT_HOME/metrics``, shared by this machine's web and workers."""
    metrics.use_directory(settings.home / "metrics")
