"""The order of Pakat Signer's steps, independent of how the windows look.

Link (argument or pasted) → strict parsing → the server confirmed once
(:mod:`agent.app.known_servers`) → :func:`agent.flow.sign_session`, the same
flow as ``pakat agent sign`` → the result or the coded error. Nothing reaches
the network before the link is valid and its server confirmed. The windows
are a :class:`Screens`: Tk in the app, a script in the tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from agent.app import texts
from agent.app.known_servers import KnownServers, Server, server_of
from agent.client import AgentClient
from agent.flow import ChoiceNeeded, Interaction, SignOutcome, SignRequest, sign_session
from agent.link import parse_pairing_link
from pakat import errors
from pakat.errors import PakatError


class Screens(Interaction, Protocol):
    """The app's windows: the flow's questions plus the link, the server, and the end."""

    def ask_link(self) -> str | None:
        """The pasted link; None when the user cancels."""

    def confirm_server(self, server: Server, lines: Sequence[str]) -> bool:
        """Whether the user trusts this server (first use only)."""

    def connected(self, client: AgentClient) -> None:
        """The session's client, once the server is confirmed (the review fetches the pages through it)."""

    def failed(self, error: PakatError, lines: Sequence[str]) -> None:
        """Show the coded error until the user closes it."""

    def succeeded(self, outcome: SignOutcome, lines: Sequence[str]) -> None:
        """Show the server's acceptance until the user closes it."""


Signer = Callable[[SignRequest, Interaction, AgentClient], SignOutcome]


def run(
    link_text: str | None,
    screens: Screens,
    known: KnownServers,
    *,
    sign: Signer = sign_session,
    log: Callable[[str], None] | None = None,
) -> int:
    """Walk one link to the end; the exit code (0 signed, else the error kind's code)."""
    say = log or (lambda line: print(line, file=sys.stderr))
    try:
        outcome = _walk(link_text, screens, known, sign)
    except PakatError as error:
        # The secret is never in an error (the link parser and the client scrub it), nor the PIN.
        say(texts.error_line(error))
        screens.failed(error, texts.error_lines(error))
        return error.kind.exit_code
    say(f"signed: session {outcome.session}, state {outcome.state}, level {outcome.level}")
    screens.succeeded(outcome, texts.result_lines(outcome))
    return 0


def _walk(link_text: str | None, screens: Screens, known: KnownServers, sign: Signer) -> SignOutcome:
    text = link_text if link_text is not None else screens.ask_link()
    if not text:
        raise PakatError(errors.USER_CANCELLED, "no link was given")
    link = parse_pairing_link(text)
    server = server_of(link.session_url)
    if not known.knows(server):
        if not screens.confirm_server(server, texts.server_lines(server)):
            raise PakatError(errors.SERVER_NOT_CONFIRMED, server.host)
        known.add(server)
    client = AgentClient(link.session_url, link.secret)
    screens.connected(client)
    try:
        return sign(SignRequest(link.session_url, link.secret), screens, client)
    except ChoiceNeeded:
        # The windows always ask; reaching this means the user closed the choice without picking.
        raise PakatError(errors.USER_CANCELLED, "no certificate was chosen") from None
