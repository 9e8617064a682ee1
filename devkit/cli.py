"""``pakat devpki``: build, serve and describe the development PKI and its SoftHSM tokens.

The group is wired into the ``pakat`` console script elsewhere; it also runs
on its own as ``python -m devkit.cli``, which is how the test fixtures
start the responders.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
from pathlib import Path
from typing import Any

import click

from devkit import devpki as pki
from devkit.devsetup import DevEnvironment, init_dev_environment, load_dev_environment
from devkit.responders import make_server
from devkit.softhsm import SoftHSMError
from pakat.files import keep_new_files_private

DEFAULT_DIR = Path("var")

_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DIR,
    show_default=True,
    help="Folder holding the development environment.",
)


@click.group("devpki")
def devpki() -> None:
    """Development national PKI, its OCSP/CRL/TSA responders, SoftHSM tokens and demo data."""


@devpki.command()
@_dir_option
@click.option("--host", help=f"Host named in the certificates' URLs [default: recorded, or {pki.DEFAULT_HOST}].")
@click.option("--port", type=int, help=f"Port named in the URLs [default: recorded, or {pki.DEFAULT_PORT}].")
@click.option("--force", is_flag=True, help="Delete what an earlier init made and build everything afresh.")
def init(directory: Path, host: str | None, port: int | None, force: bool) -> None:
    """Create the dev PKI, SoftHSM tokens, demo organisations and users, and pakat.yaml (idempotent)."""
    recorded: tuple[str, int] | None = None
    if not force:
        try:
            recorded = pki.recorded_address(directory / "devpki")
        except pki.DevPKIError:
            recorded = None
    host = host or (recorded[0] if recorded else pki.DEFAULT_HOST)
    port = port or (recorded[1] if recorded else pki.DEFAULT_PORT)
    try:
        env = init_dev_environment(directory, host, port, force=force)
    except (pki.DevPKIError, SoftHSMError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Development environment ready in {env.directory}")
    click.echo(f"  deployment  {env.deployment_path}")
    click.echo(f"  responders  {env.base_url}/  (start them with `pakat devpki serve --dir {directory}`)")
    click.echo(f"  details     `pakat devpki info --dir {directory}`")


@devpki.command()
@_dir_option
@click.option("--host", help="Address to listen on [default: the host recorded at init].")
@click.option("--port", type=int, help="Port to listen on [default: the port recorded at init].")
@click.option("--verbose", is_flag=True, help="Log every request to stderr.")
def serve(directory: Path, host: str | None, port: int | None, verbose: bool) -> None:
    """Serve OCSP, CRLs, the TSA and the CA certificates until interrupted."""
    pki_dir = directory.resolve() / "devpki"
    try:
        recorded_host, recorded_port = pki.recorded_address(pki_dir)
    except pki.DevPKIError as exc:
        raise click.ClickException(str(exc)) from exc
    host = host or recorded_host
    port = port or recorded_port
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server = make_server(pki_dir, host, port, verbose=verbose)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"port {port} on {host} is already in use (another `pakat devpki serve`?); "
                "stop that process or pass --port"
            ) from exc
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    except pki.DevPKIError as exc:
        raise click.ClickException(str(exc)) from exc
    if port != recorded_port:
        click.echo(
            f"warning: the certificates point to port {recorded_port}, not {port}; "
            "clients following their URLs will not find this server",
            err=True,
        )
    click.echo(f"Pakat dev PKI responders on http://{host}:{port}/ (Ctrl-C to stop)", err=True)
    with server, contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one stops it
        server.serve_forever()


@devpki.command()
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(directory: Path, as_json: bool) -> None:
    """Print the root, service URLs, SoftHSM settings, demo organisations and users (with dev PINs)."""
    try:
        env = load_dev_environment(directory)
    except pki.DevPKIError as exc:
        raise click.ClickException(str(exc)) from exc
    data = env.info
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(_summary(env, data))


def _summary(env: DevEnvironment, data: dict[str, Any]) -> str:
    services = data["services"]
    lines = [
        f"Pakat development PKI in {env.directory}",
        f"  root certificate  {data['root_certificate']}",
        f"  deployment        {data['deployment']}",
        f"  SoftHSM module    {data['softhsm']['module']}",
        f"  SOFTHSM2_CONF     {data['softhsm']['SOFTHSM2_CONF']}",
        "",
        "Services (`pakat devpki serve`):",
        f"  TSA                {services['tsa']}",
        *(f"  OCSP {slug:<14}{url}" for slug, url in services["ocsp"].items()),
        *(f"  CRL  {slug:<14}{url}" for slug, url in services["crl"].items()),
        "",
        "Demo organisations (development PINs and API keys: never use them elsewhere):",
    ]
    for org in data["organisations"].values():
        lines += [
            f"  {org['id']}  {org['name_en']} / {org['name_fa']}  [{org['status']}]",
            f"    seal certificate  {org['certificate']}",
            f"    token {org['token_label']}, key {org['key_label']}, PIN {org['pin']}",
            f"    API key           {org['api_key']}",
        ]
    lines += ["", "Demo users:"]
    for user in data["users"].values():
        role = f", {user['title']}" if user["title"] else ""
        lines += [
            f"  {user['id']}  {user['name']} ({user['name_en']}), {user['kind']}{role}",
            f"    certificate       {user['certificate']}",
            f"    token {user['token_label']}, key {user['key_label']}, PIN {user['pin']}",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    keep_new_files_private()  # as `pakat devpki` does: its secrets, tokens and state are the owner's only
    devpki()
