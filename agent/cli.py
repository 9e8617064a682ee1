"""``pakat agent``: the reference signing agent, run at the user's side with their token.

``pakat agent list`` shows the tokens' signing certificates (no PIN needed);
``pakat agent sign LINK`` walks one signing session from the platform's
``pakat://sign?…`` link (see docs/agent-protocol.md). Without ``--module``
both find the tokens' PKCS#11 modules themselves (:mod:`agent.modules`).
Errors are PakatErrors and reach the terminal through ``pakat.terminal`` like every
other command's. The heavy imports (PKCS#11, the signer) wait until a command runs.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pakat import errors
from pakat.errors import PakatError
from pakat.terminal import answer_in_json

if TYPE_CHECKING:
    from agent.discovery import FoundCertificate

module_option = click.option(
    "--module", metavar="PKCS11.so",
    help="The token's PKCS#11 module (a shared library); by default the known places and"
         " PAKAT_PKCS11_MODULES are searched.",
)
token_option = click.option("--token-label", metavar="LABEL", help="Only the token with this label.")
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result (or error) as JSON on stdout."
)


@click.group()
def agent() -> None:
    """عامل امضا با توکن کاربر / The signing agent, with the user's own token."""




@agent.command("list")
@module_option
@token_option
@json_option
def list_certificates(module: str | None, token_label: str | None, as_json: bool) -> None:
    """List the signing certificates on the tokens: those with a key pair of the same CKA_ID."""
    answer_in_json(as_json)
    from agent.present import certificate_facts, certificate_lines, discovery_facts, discovery_lines

    if module is None or token_label is None:
        from agent.discovery import discover

        found = discover(module, token_label)
        if as_json:
            click.echo(json.dumps(discovery_facts(found), ensure_ascii=False))
        else:
            for line in discovery_lines(found):
                click.echo(line)
        return
    from agent.token import read_token

    contents = read_token(module, token_label)
    if not contents.signing:
        raise PakatError(errors.NO_CERTIFICATE, f"token {token_label!r}")
    if as_json:
        click.echo(json.dumps(
            {"token": token_label, "certificates": [certificate_facts(c) for c in contents.signing]},
            ensure_ascii=False,
        ))
        return
    click.echo(f"توکن / Token: {token_label}")
    for n, chosen in enumerate(contents.signing, 1):
        click.echo(f"{n}.")
        for line in certificate_lines(chosen):
            click.echo(line)


class TerminalInteraction:
    """The flow's questions on a terminal; the PIN from a file or descriptor when automated."""

    def __init__(self, pin_file: Path | None, pin_fd: int | None) -> None:
        self.pin_file = pin_file
        self.pin_fd = pin_fd

    def show(self, lines: Sequence[str]) -> None:
        for line in lines:
            click.echo(line, err=True)

    def warn(self, text: str) -> None:
        click.echo(text, err=True)

    def choose(self, candidates: Sequence[FoundCertificate]) -> FoundCertificate | None:
        if not sys.stdin.isatty():
            return None
        from agent.present import certificate_choices

        click.echo("چند گواهی برای این نشست مناسب است / Several certificates fit this session:", err=True)
        click.echo(certificate_choices(candidates), err=True)
        try:
            number = click.prompt(
                "شماره گواهی / Certificate number", type=click.IntRange(1, len(candidates)), err=True
            )
        except (click.Abort, EOFError, KeyboardInterrupt):
            raise PakatError(errors.USER_CANCELLED, "no certificate was chosen") from None
        return candidates[number - 1]

    def pin(self) -> str:
        return read_pin(self.pin_file, self.pin_fd)


def read_pin(pin_file: Path | None, pin_fd: int | None, prompt: Callable[[str], str] | None = None) -> str:
    """The PIN from ``--pin-file``, ``--pin-fd`` or the terminal (getpass, no echo).

    Empty, end of input or Ctrl-C is USER_CANCELLED. ``prompt`` replaces getpass (tests).
    """
    from agent.present import PIN_PROMPT

    try:
        if pin_file is not None:
            text = pin_file.read_text(encoding="utf-8")
        elif pin_fd is not None:
            with os.fdopen(pin_fd, "r", encoding="utf-8", closefd=True) as stream:
                text = stream.readline()
        else:
            ask = prompt or getpass.getpass
            text = ask(PIN_PROMPT)
    except (EOFError, KeyboardInterrupt):
        raise PakatError(errors.USER_CANCELLED, "no PIN was given") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PakatError(errors.USER_CANCELLED, f"the PIN could not be read: {type(exc).__name__}") from None
    pin = str(text).rstrip("\r\n")
    if not pin:
        raise PakatError(errors.USER_CANCELLED, "no PIN was given")
    return pin


LINK_PROMPT = "پیوند امضا (pakat://…) را بچسبانید / Paste the signing link (pakat://…)"


def read_link(argument: str) -> str:
    """The link itself, or for ``-`` one line of stdin (hidden when typed or pasted at a terminal).

    ``-`` keeps the secret out of the process listing, where a command-line argument shows.
    """
    if argument != "-":
        return argument
    try:
        if sys.stdin.isatty():
            return str(click.prompt(LINK_PROMPT, hide_input=True, err=True))
        return sys.stdin.readline()
    except (click.Abort, EOFError, KeyboardInterrupt):
        raise PakatError(errors.USER_CANCELLED, "no link was given") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PakatError(errors.AGENT_LINK_INVALID, f"stdin could not be read: {type(exc).__name__}") from None


@agent.command("sign")
@click.argument("link", required=False, metavar="LINK")
@click.option("--session-url", metavar="URL",
              help="For scripts, instead of LINK: the session's agent address (…/agent/v1/sessions/ID).")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="For scripts, with --session-url: file holding the session's one-time agent secret.")
@module_option
@token_option
@click.option("--pin-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the PIN from this file instead of asking (automation).")
@click.option("--pin-fd", type=click.IntRange(min=0), metavar="N",
              help="Read the PIN from this open file descriptor instead of asking (automation).")
@click.option("--certificate", metavar="ID|LABEL",
              help="The certificate to sign with: its hex CKA_ID or its label (see `pakat agent list`).")
@json_option
def sign(
    link: str | None,
    session_url: str | None,
    secret_file: Path | None,
    module: str | None,
    token_label: str | None,
    pin_file: Path | None,
    pin_fd: int | None,
    certificate: str | None,
    as_json: bool,
) -> None:
    """Sign a session's document with your token: LINK is the platform's pakat://sign?… link, or - to read
    it from stdin (keeps it out of the process list). Shows what will be signed and for whom before the PIN.
    """
    answer_in_json(as_json)
    if pin_file is not None and pin_fd is not None:
        raise click.UsageError("give --pin-file or --pin-fd, not both")
    if link is not None and (session_url is not None or secret_file is not None):
        raise click.UsageError("give the link, or --session-url with --secret-file, not both")
    if link is None and (session_url is None or secret_file is None):
        raise click.UsageError("give the pakat://sign?… link (or - to read it from stdin)")
    from agent.flow import ChoiceNeeded, SignRequest, sign_session
    from agent.present import certificate_choices

    if link is not None:
        from agent.link import parse_pairing_link

        paired = parse_pairing_link(read_link(link))
        session_url, secret = paired.session_url, paired.secret
    else:
        assert session_url is not None and secret_file is not None  # checked above
        try:
            secret = secret_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise PakatError(errors.AGENT_SECRET_INVALID, f"{secret_file}: {type(exc).__name__}") from None
    request = SignRequest(session_url, secret, module, token_label, certificate)
    try:
        outcome = sign_session(request, TerminalInteraction(pin_file, pin_fd))
    except ChoiceNeeded as need:
        raise click.UsageError(
            f"{need}; choose one with --certificate ID|LABEL / چند گواهی مناسب این نشست است؛ یکی را با"
            f" --certificate انتخاب کنید:\n{certificate_choices(need.candidates)}"
        ) from None
    short = outcome.not_signed
    partly = PakatError(errors.DOCUMENTS_PARTLY_SIGNED, f"{len(short)} of {len(outcome.documents)} not signed")
    if as_json:
        answer = outcome.as_dict()
        if short:
            answer["error"] = partly.as_dict()  # one JSON answer, whose documents say which and why
        click.echo(json.dumps(answer, ensure_ascii=False))
    else:
        for line in outcome.lines():
            click.echo(line)
    if short:
        if not as_json:
            raise partly
        click.get_current_context().exit(partly.kind.exit_code)
