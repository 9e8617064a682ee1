"""Documents shared by several machines: blobs by SHA-256, in chunks of a mebibyte (envelopes.database_store).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Written by hand from envelopes/database.py (document_blobs, document_chunks); migrations never import the
live tables, which keep moving. The tables exist on SQLite too (one schema everywhere) but are used only
with PAKAT_DOCUMENT_STORE=database, which needs PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_document_blobs"),
    )
    op.create_table(
        "document_chunks",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["document_blobs.sha256"], ondelete="CASCADE",
                                name="fk_document_chunks_sha256_document_blobs"),
        sa.PrimaryKeyConstraint("sha256", "seq", name="pk_document_chunks"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # PDFs are compressed already: store chunks out of line without trying to compress them again.
        op.execute("ALTER TABLE document_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("document_chunks")
    op.drop_table("document_blobs")
