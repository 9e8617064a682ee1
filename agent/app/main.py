"""``pakat-signer [LINK]``: the entry point the OS starts for a ``pakat://`` link, or the user from a menu.

With a link argument (what the OS hands a registered URL handler) it starts
at the server confirmation; without one, or with ``-`` (keeps the link out of
the process list), it asks for the link to be pasted. Exit code 0 when
signed, else the error kind's code, as ``pakat agent sign``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agent.app import controller
from agent.app.known_servers import KnownServers
from pakat import errors
from pakat.errors import PakatError
from pakat.files import keep_new_files_private


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app once; returns the process's exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("usage: pakat-signer [pakat://sign?…]\nامضای سند با توکن / sign a document with your token",
              file=sys.stderr)
        return 2
    link = args[0] if args and args[0] != "-" else None
    import tkinter as tk

    from agent.app.tk_ui import TkScreens

    try:
        screens = TkScreens(tk.Tk(className="PakatSigner"))
    except tk.TclError as exc:
        error = PakatError(errors.INTERNAL, f"no display for the window: {type(exc).__name__}")
        print(f"{error.code}: {error.kind.fa} / {error.kind.en} ({error.detail})", file=sys.stderr)
        return error.kind.exit_code
    try:
        return controller.run(link, screens, KnownServers.default())
    finally:
        screens.close()


def entry_point() -> None:
    """The console/gui script: the confirmed-servers list it writes is the user's alone."""
    keep_new_files_private()
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
