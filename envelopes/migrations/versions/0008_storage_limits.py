"""Storage quotas and retention: what each organisation stores, and indexes to find who still names a blob.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Written by hand from envelopes/database.py (storage_usage, batches.inputs_purged_at, the sha256 indexes);
migrations never import the live tables, which keep moving. The usage rows are counted from what is
stored when the migration runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "storage_usage",
        sa.Column("organisation", sa.String(64), primary_key=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("documents", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("batches", sa.Column("inputs_purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_revisions_sha256", "revisions", ["sha256"])
    op.create_index("ix_batch_items_input_sha256", "batch_items", ["input_sha256"])
    op.create_index("ix_batch_items_output_sha256", "batch_items", ["output_sha256"])
    _count_usage()


def _count_usage() -> None:
    conn = op.get_bind()
    totals: dict[str, list[int]] = {}
    for org, size, count in conn.execute(sa.text(
        "SELECT d.organisation, COALESCE(SUM(r.size), 0), COUNT(DISTINCT d.id) "
        "FROM documents d LEFT JOIN revisions r ON r.document_id = d.id GROUP BY d.organisation"
    )):
        totals.setdefault(org, [0, 0])
        totals[org][0] += int(size)
        totals[org][1] += int(count)
    for org, size, count in conn.execute(sa.text(
        "SELECT b.organisation, COALESCE(SUM(i.input_size + COALESCE(i.output_size, 0)), 0), COUNT(i.number) "
        "FROM batches b LEFT JOIN batch_items i ON i.batch_id = b.id GROUP BY b.organisation"
    )):
        totals.setdefault(org, [0, 0])
        totals[org][0] += int(size)
        totals[org][1] += int(count)
    usage = sa.table("storage_usage", sa.column("organisation", sa.String), sa.column("bytes", sa.BigInteger),
                     sa.column("documents", sa.BigInteger), sa.column("updated_at", sa.DateTime(timezone=True)))
    now = datetime.now(UTC)
    if totals:
        op.bulk_insert(usage, [{"organisation": org, "bytes": b, "documents": n, "updated_at": now}
                               for org, (b, n) in totals.items()])


def downgrade() -> None:
    op.drop_index("ix_batch_items_output_sha256", table_name="batch_items")
    op.drop_index("ix_batch_items_input_sha256", table_name="batch_items")
    op.drop_index("ix_revisions_sha256", table_name="revisions")
    # SQLite (before 3.35) cannot drop a column: batch mode rebuilds the table there.
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("inputs_purged_at")
    op.drop_table("storage_usage")
