"""``pakat api-key`` and ``pakat seal-key``: the keys a deployment lives by, over their life.

``api-key`` creates, lists, rotates and revokes the platforms' API keys in the
database (:mod:`envelopes.api_keys`); a new secret is printed once and never
again. ``seal-key`` generates an organisation's seal key inside its HSM token,
writes the PKCS#10 request for the CA, installs the issued certificate and
lists every seal with its certificate's days to expiry
(:mod:`envelopes.seal_keys`). PINs come from the seal's ``pin_env`` or
``pin_file``, else a no-echo prompt at a terminal: never from the command line.
Both work on ``$PAKAT_DATABASE_URL`` (its schema at head), where the audit log
records every change.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization

from commands.common import config_option, current_services, echo_json, json_option
from envelopes.api_keys import DEFAULT_GRACE, SCOPES, ApiKeyView, IssuedKey, parse_scopes
from envelopes.audit import operator_actor
from envelopes.seal_keys import SealKeys
from hsm_config.deployment import Organisation
from pakat import errors
from pakat.errors import AccessError, InputError
from pakat.files import write_atomically
from pakat.terminal import answer_in_json
from signer.seal_keys import ALGORITHMS, RSA_3072

# -- API keys ------------------------------------------------------------------------------------


@click.group("api-key")
def api_key() -> None:
    """کلیدهای API سکوها / The platforms' API keys, kept hashed in the database."""


def _key_line(key: ApiKeyView) -> str:
    state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
    used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
    return (f"{key.id}\t{key.organisation}\t{','.join(key.scopes)}\t{state}\tcreated {key.created_at:%Y-%m-%d}"
            f"\tlast used {used}\t{key.label}")


def _show_issued(issued: IssuedKey, what: str, as_json: bool) -> None:
    if as_json:
        echo_json(issued.as_dict())
        return
    click.echo(f"{what}: {_key_line(issued.key)}")
    click.echo("کلید زیر فقط همین یک بار نشان داده می‌شود؛ آن را به سکو بدهید و جای دیگری نگه ندارید.")
    click.echo("The key below is shown this once: give it to the platform and keep no other copy.")
    click.echo(issued.api_key)


@api_key.command("create")
@click.option("--org", "org_id", required=True, help="The organisation the key acts for.")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES),
              help="What the key may do; repeat for several.")
@click.option("--label", default="", help="Your name for the key (who uses it), shown in listings.")
@click.option("--replaces", metavar="SHA256",
              help="Take the place of this api_keys entry of the deployment YAML (its sha256, or its first 12"
                   " hex digits): the new key keeps its tenders, batches, webhook and return URLs.")
@config_option
@json_option
def api_key_create(org_id: str, scopes: tuple[str, ...], label: str, replaces: str | None, config: Path | None,
                   as_json: bool) -> None:
    """Create an API key for an organisation with scopes; its secret is printed once."""
    answer_in_json(as_json)
    with current_services(config) as services:
        issued = services.api_keys().create(
            org_id, parse_scopes(scopes), label, actor=operator_actor(), replaces=replaces)
    _show_issued(issued, "ساخته شد / created", as_json)


@api_key.command("list")
@click.option("--org", "org_id", help="Only this organisation's keys.")
@config_option
@json_option
def api_key_list(org_id: str | None, config: Path | None, as_json: bool) -> None:
    """List the API keys (id, organisation, scopes, state, times); never a secret."""
    answer_in_json(as_json)
    with current_services(config) as services:
        keys = services.api_keys().list(org_id)
        yaml_keys = len(services.deployment.platforms)
    if as_json:
        echo_json({"keys": [k.as_dict() for k in keys], "deployment_yaml_keys": yaml_keys})
        return
    for key in keys:
        click.echo(_key_line(key))
    if yaml_keys:
        click.echo(f"+ {yaml_keys} کلید در فایل استقرار / key(s) in the deployment YAML (all scopes but admin);"
                   " replace them with `pakat api-key create --replaces`")


_DURATION = re.compile(r"([0-9]{1,7})([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_grace(raw: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``24h`` or ``7d``; REQUEST_INVALID otherwise."""
    match = _DURATION.fullmatch(raw.strip().lower())
    if match is None:
        raise InputError(errors.REQUEST_INVALID, "--grace takes seconds, or a number with s, m, h or d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


@api_key.command("rotate")
@click.argument("key_id")
@click.option("--grace", default=f"{int(DEFAULT_GRACE.total_seconds()) // 3600}h", show_default=True,
              help="How long the old secret keeps working (0 ends it now; at most 30d).")
@config_option
@json_option
def api_key_rotate(key_id: str, grace: str, config: Path | None, as_json: bool) -> None:
    """Give KEY_ID a new secret (printed once); the old one works until the grace period ends."""
    answer_in_json(as_json)
    period = parse_grace(grace)
    with current_services(config) as services:
        issued = services.api_keys().rotate(key_id, actor=operator_actor(),
                                                                        grace=period)
    _show_issued(issued, "کلید تازه شد / rotated", as_json)


@api_key.command("revoke")
@click.argument("key_id")
@config_option
@json_option
def api_key_revoke(key_id: str, config: Path | None, as_json: bool) -> None:
    """Revoke KEY_ID now: every request with it, old secret included, is refused from this moment."""
    answer_in_json(as_json)
    with current_services(config) as services:
        key = services.api_keys().revoke(key_id, actor=operator_actor())
    if as_json:
        echo_json(key.as_dict())
    else:
        click.echo(f"باطل شد / revoked: {_key_line(key)}")


# -- seal keys -----------------------------------------------------------------------------------


@click.group("seal-key")
def seal_key() -> None:
    """کلیدهای مهر سازمانی در HSM / Organisations' seal keys in the HSM: generate, request, install, list."""


def _prompt_pin(org: Organisation) -> str:
    """The token's user PIN typed at a terminal without echo; PIN_NOT_CONFIGURED without a terminal."""
    if not sys.stdin.isatty():
        raise AccessError(errors.PIN_NOT_CONFIGURED,
                          f"set pin_env or pin_file for {org.id}, or run this at a terminal to type it")
    pin: str = click.prompt(f"PIN توکن {org.seal.token_label} / PIN of token {org.seal.token_label}",
                            hide_input=True, err=True)
    return pin


@contextlib.contextmanager
def _seal_keys(config: Path | None) -> Iterator[SealKeys]:
    with current_services(config) as services:
        yield services.seal_keys(prompt_pin=_prompt_pin)


key_label_option = click.option(
    "--key-label", help="The key's label on the token (default: the deployment's key_label for the organisation).")


@seal_key.command("generate")
@click.option("--org", "org_id", required=True, help="The organisation whose token gets the key.")
@click.option("--algorithm", default=RSA_3072, show_default=True, type=click.Choice(ALGORITHMS))
@key_label_option
@config_option
@json_option
def seal_key_generate(org_id: str, algorithm: str, key_label: str | None, config: Path | None,
                      as_json: bool) -> None:
    """Generate a seal key pair inside the organisation's HSM token (non-extractable, sign only)."""
    answer_in_json(as_json)
    with _seal_keys(config) as keys:
        key = keys.generate(org_id, algorithm, actor=operator_actor(), key_label=key_label)
    if as_json:
        echo_json({"organisation": org_id, **key.as_dict()})
    else:
        click.echo(f"کلید ساخته شد / key generated: {org_id} {key.key_label} {key.algorithm} id {key.key_id}")


@seal_key.command("csr")
@click.option("--org", "org_id", required=True, help="The organisation whose key signs the request.")
@click.option("--national-id", required=True, help="The organisation's 11-digit national ID (serialNumber).")
@click.option("--organisation-fa", help="O: the organisation's Persian name (default: the deployment's name_fa).")
@click.option("--common-name", help="CN before [Stamp], in Latin script (default: the deployment's name_en).")
@key_label_option
@click.option("-o", "--output", "destination", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the PEM request here (default: print it).")
@config_option
@json_option
def seal_key_csr(org_id: str, national_id: str, organisation_fa: str | None, common_name: str | None,
                 key_label: str | None, destination: Path | None, config: Path | None, as_json: bool) -> None:
    """Write a PKCS#10 certificate request for the seal key, signed by it inside the HSM."""
    answer_in_json(as_json)
    if destination is not None and destination.exists():
        raise InputError(errors.OUTPUT_EXISTS, str(destination))
    with _seal_keys(config) as keys:
        request = keys.request(org_id, national_id=national_id, organisation_fa=organisation_fa,
                               common_name=common_name, key_label=key_label)
    pem = request.public_bytes(serialization.Encoding.PEM)
    if destination is not None:
        write_atomically(destination, pem, mode=0o644)  # a request is public; never half written
    if as_json:
        echo_json({"organisation": org_id, "subject": request.subject.rfc4514_string(),
                    "csr": pem.decode("ascii"), "path": str(destination) if destination else None})
    elif destination is not None:
        click.echo(f"درخواست گواهی نوشته شد / request written: {destination} ({request.subject.rfc4514_string()})")
    else:
        click.echo(pem.decode("ascii"), nl=False)


@seal_key.command("install")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", "org_id", required=True, help="The organisation whose seal key the certificate is for.")
@click.option("--chain", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The issuing CA's certificates (PEM), when the deployment does not list them yet.")
@key_label_option
@config_option
@json_option
def seal_key_install(certificate: Path, org_id: str, chain: Path | None, key_label: str | None,
                     config: Path | None, as_json: bool) -> None:
    """Install the issued CERTIFICATE once it matches the key, chains to the trust roots and is a seal's."""
    answer_in_json(as_json)
    with _seal_keys(config) as keys:
        installed = keys.install(org_id, certificate.read_bytes(), actor=operator_actor(),
                                 chain_data=chain.read_bytes() if chain else b"", key_label=key_label)
    if as_json:
        echo_json(installed.as_dict())
        return
    facts = installed.as_dict()
    click.echo(f"گواهی نصب شد / certificate installed: {facts['subject']}, serial {facts['serial']}, "
               f"{facts['days_to_expiry']} days left, {installed.path}")
    if installed.active:
        click.echo("فرایندهای وب و کارگرها را دوباره راه‌اندازی کنید / restart the web processes and workers.")
    else:
        click.echo(f"برای به‌کارگیری / to use it: set key_label: {installed.key.key_label} and certificate: "
                   f"{installed.path.name} for {org_id} in the deployment YAML, then restart.")


@seal_key.command("list")
@click.option("--org", "org_id", help="Only this organisation's seal.")
@click.option("--no-keys", is_flag=True, help="Read only the certificate files: no HSM login.")
@config_option
@json_option
def seal_key_list(org_id: str | None, no_keys: bool, config: Path | None, as_json: bool) -> None:
    """List each seal: token, key, certificate subject, serial and days to expiry."""
    answer_in_json(as_json)
    with _seal_keys(config) as keys:
        if org_id is not None:
            keys.deployment.organisation(org_id)
        seals = keys.list(with_keys=not no_keys, organisation=org_id)
    rows = [seal.as_dict() for seal in seals]
    if as_json:
        echo_json({"seals": rows})
        return
    for row in rows:
        certificate = (f"{row['subject']}\tserial {row['serial']}\t{row['days_to_expiry']} days"
                       if "subject" in row else row["certificate_error"])
        key = row.get("key", {}).get("algorithm") or row.get("key_error") or "-"
        click.echo(f"{row['organisation']}\t{row['token_label']}/{row['key_label']}\t{key}\t{certificate}")
