"""Pakat Signer (``pakat-signer``): the desktop app a bidder opens from a ``pakat://sign?…`` link.

The logic (link, known servers, texts, the order of the steps) lives in
display-free modules so it is tested without a screen; :mod:`agent.app.tk_ui`
is the only module that touches Tk, and it walks :func:`agent.flow.sign_session`
like the CLI agent does.
"""
