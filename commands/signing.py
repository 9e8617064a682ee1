"""``pakat seal``: seal one file with an organisation's seal key."""

from __future__ import annotations

import json
from pathlib import Path

import click

from commands.common import config_option
from envelopes.services import Services
from pakat import errors
from pakat.errors import InputError
from pakat.settings import Settings
from pakat.terminal import answer_in_json
from signer.levels import PadesLevel
from signer.placement import VisibleSignature


@click.command()
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
    answer_in_json(as_json)
    pades = PadesLevel.parse(level)
    appearance = _visible_request(visible, visible_rect, visible_page)
    if destination.exists() and not force:
        raise InputError(errors.OUTPUT_EXISTS, f"{destination} (use --force to replace it)")
    seals = Services.from_settings(Settings.from_env().with_config(config)).seals
    try:
        result = seals.get().seal(org_id, source, destination, pades,
                                  reason=reason, location=location, contact=contact, appearance=appearance)
    finally:
        seals.close()
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        sealed = result.document
        click.echo(
            f"مهر شد / sealed: {sealed.destination} — {result.organisation}, {sealed.level.value}, "
            f"{sealed.output_size} bytes, SHA-256 {sealed.output_sha256}"
        )


def _visible_request(visible: bool, rect: str | None, page: int) -> VisibleSignature | None:
    """``--visible`` / ``--visible-rect X,Y,W,H`` / ``--visible-page N`` as a request; None: invisible."""
    if rect is None:
        return VisibleSignature(page) if visible or page != -1 else None
    try:
        x, y, w, h = (float(part) for part in rect.split(","))
    except ValueError:
        raise InputError(errors.REQUEST_INVALID, "--visible-rect takes four numbers: X,Y,W,H in mm") from None
    return VisibleSignature(page, (x, y, w, h))
