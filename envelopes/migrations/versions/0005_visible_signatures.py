"""Where a signing session's visible signature block goes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

Written by hand from envelopes/database.py (signing_sessions.appearance); migrations never import
the live tables, which keep moving.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column: SQLite adds it in place, no table rebuild.
    op.add_column("signing_sessions", sa.Column("appearance", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite (before 3.35) cannot drop a column: batch mode rebuilds the table there.
    with op.batch_alter_table("signing_sessions") as batch:
        batch.drop_column("appearance")
