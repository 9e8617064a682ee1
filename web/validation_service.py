"""The web app's way to the validator: one :class:`~validation.engine.Validator` per application and process.

The validator caches chain and revocation answers, so it is built once and
shared by the requests (it is thread-safe). :class:`envelopes.services.Services`
builds it on first use, not in ``create_app``: under gunicorn that is after the
fork, so every worker gets its own caches and no lock crosses a fork.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from pakat.errors import PakatError
from pakat.metrics import metrics
from validation.engine import Validator
from validation.model import DocumentReport
from validation.policy import BUILT_IN
from web.state import app_services


def validator() -> Validator:
    """The current application's validator (built on first use: under gunicorn, after the fork)."""
    return app_services().validator()


def validate_file(
    path: Path, file_name: str | None, *, at: datetime | None = None, policy: str | None = None
) -> DocumentReport:
    """Judge the PDF at ``path`` (at ``at``, default now) under the validation policy called ``policy``
    (default: the deployment's); ``file_name`` is only what the report calls it.

    Raises :class:`pakat.errors.InputError` (not a PDF, truncated, encrypted, too
    large, no signature, an unknown policy …) with a stable code.
    """
    judge = validator()
    rules = judge.policy_named(policy) if policy else None
    started, outcome = time.perf_counter(), "INTERNAL"
    try:
        report = judge.validate(path, file_name=file_name, at=at, policy=rules)
        outcome = report.indication.value
        return report
    except PakatError as exc:
        outcome = exc.code
        raise
    finally:
        metrics().validation_seconds.labels(outcome).observe(time.perf_counter() - started)


def policy_choices() -> list[tuple[str, str, str]]:
    """(name, Persian title, English title) of every policy a caller may choose, the deployment's default first."""
    config = validator().config
    default = config.policy.rules
    names = dict.fromkeys([*BUILT_IN, *config.policies])
    found = [(name, validator().policy_named(name)) for name in names]
    found.sort(key=lambda item: item[1].sha256 != default.sha256)
    return [(name, rules.title_fa, rules.title_en) for name, rules in found]
