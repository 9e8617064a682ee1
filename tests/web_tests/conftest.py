"""Fixtures the web tests share."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record, down to DEBUG: the tests look for secrets in them."""
    caplog.set_level(logging.DEBUG)
    yield caplog
