"""Where the signing page sends the bidder back to: a signing session's return_url.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Written by hand from envelopes/database.py (signing_sessions.return_url); migrations never import
the live tables, which keep moving.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column: SQLite adds it in place, no table rebuild.
    op.add_column("signing_sessions", sa.Column("return_url", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite (before 3.35) cannot drop a column: batch mode rebuilds the table there.
    with op.batch_alter_table("signing_sessions") as batch:
        batch.drop_column("return_url")
