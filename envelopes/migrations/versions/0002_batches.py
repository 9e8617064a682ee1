"""Bulk sealing: batches and their items.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Written by hand from envelopes/database.py (batches and batch_items); migrations never import
the live tables, which keep moving.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("organisation", sa.String(64), nullable=False),
        sa.Column("api_key_sha256", sa.String(64), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.UniqueConstraint(
            "api_key_sha256", "idempotency_key", name="uq_batches_api_key_sha256_idempotency_key"
        ),
    )
    op.create_index("ix_batches_state", "batches", ["state"])
    op.create_table(
        "batch_items",
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("input_size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        _timestamp("lease_until", nullable=True),
        _timestamp("retry_at", nullable=True),
        sa.Column("output_sha256", sa.String(64), nullable=True),
        sa.Column("output_size", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "number", name="pk_batch_items"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name="fk_batch_items_batch_id_batches", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_batch_items_batch_state", "batch_items", ["batch_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_batch_items_batch_state", table_name="batch_items")
    op.drop_table("batch_items")
    op.drop_index("ix_batches_state", table_name="batches")
    op.drop_table("batches")
