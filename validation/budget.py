"""A validation's time budget: a cooperative deadline, checked between steps, never a killed thread.

Anyone may upload a PDF to the validator, and a document can be made to cost
far more than its size suggests (many signatures, many revisions, pages that
take poppler long to draw). Caps on what a document may hold
(:class:`validation.config.ValidationLimits`) stop the known multipliers; the
budget stops the rest. ``with time_budget(seconds):`` sets a deadline for the
validation running in this thread (a context variable, so concurrent
validations in other threads each have their own); :func:`check_time` raises
VALIDATION_TIME_EXCEEDED once it has passed. The engine calls it between
steps and per signature, the modification analysis while it walks objects,
and page drawing (a child process) gets at most the time left as its timeout.
Nothing is interrupted mid-way, so no cache or shared structure is left half
written, and the answer is an error, never a partial verdict.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

from pakat import errors
from pakat.errors import InputError

_deadline: ContextVar[tuple[float, float] | None] = ContextVar("validation_deadline", default=None)


class TimeExceeded(InputError):
    """The validation ran past its time budget (VALIDATION_TIME_EXCEEDED)."""


@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Give the validation run inside this block ``seconds`` (None or 0: no limit)."""
    if not seconds or seconds <= 0:
        token = _deadline.set(None)
    else:
        token = _deadline.set((time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def check_time() -> None:
    """Raise :class:`TimeExceeded` when this thread's validation has used up its budget."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() >= deadline[0]:
        raise TimeExceeded(errors.VALIDATION_TIME_EXCEEDED, f"the limit is {deadline[1]:g} s")


def time_left(at_most: float) -> float:
    """Seconds left in the budget, at most ``at_most`` (``at_most`` when there is no budget)."""
    deadline = _deadline.get()
    if deadline is None:
        return at_most
    return max(0.0, min(at_most, deadline[0] - time.monotonic()))
