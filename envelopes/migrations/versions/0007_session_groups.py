"""Signing sessions of several documents: a session row per document, grouped (group_id, group_position).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

Written by hand from envelopes/database.py (signing_sessions.group_id, group_position); migrations never
import the live tables, which keep moving.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, no table rebuild; existing sessions are of one document.
    op.add_column("signing_sessions", sa.Column("group_id", sa.String(32), nullable=True))
    op.add_column("signing_sessions", sa.Column("group_position", sa.Integer(), nullable=True))
    op.create_index("ix_signing_sessions_group", "signing_sessions", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_signing_sessions_group", table_name="signing_sessions")
    # SQLite (before 3.35) cannot drop a column: batch mode rebuilds the table there.
    with op.batch_alter_table("signing_sessions") as batch:
        batch.drop_column("group_position")
        batch.drop_column("group_id")
