"""Tenders, bid envelopes, their documents and signatory requirements, and submission receipts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

Written by hand from envelopes/database.py (tenders, envelopes, envelope_documents, envelope_receipts);
migrations never import the live tables, which keep moving. Constraint names follow
``envelopes.database.NAMING_CONVENTION``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tenders",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("api_key_sha256", sa.String(64), nullable=False),
        sa.Column("organisation", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(128), nullable=False),
        sa.Column("title_fa", sa.String(500), nullable=False),
        sa.Column("title_en", sa.String(500), nullable=False),
        _timestamp("deadline", nullable=False),
        sa.Column("opened_through", sa.String(1), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenders"),
        sa.UniqueConstraint("api_key_sha256", "reference", name="uq_tenders_api_key_sha256_reference"),
    )

    op.create_table(
        "envelopes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tender_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("bidder_national_id", sa.String(32), nullable=False),
        sa.Column("bidder_name_fa", sa.String(255), nullable=False),
        sa.Column("bidder_name_en", sa.String(255), nullable=False),
        sa.Column("requirements", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("evaluated_heads", sa.String(64), nullable=True),
        sa.Column("evaluation", sa.Text(), nullable=True),
        _timestamp("withdrawn_at", nullable=True),
        _timestamp("opened_at", nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_envelopes"),
        sa.ForeignKeyConstraint(["tender_id"], ["tenders.id"], name="fk_envelopes_tender_id_tenders"),
    )
    op.create_index("ix_envelopes_tender_id", "envelopes", ["tender_id"])

    op.create_table(
        "envelope_documents",
        sa.Column("envelope_id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _timestamp("added_at", nullable=False),
        sa.Column("replaced_by", sa.String(32), nullable=True),
        _timestamp("replaced_at", nullable=True),
        sa.PrimaryKeyConstraint("envelope_id", "document_id", name="pk_envelope_documents"),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["envelopes.id"], name="fk_envelope_documents_envelope_id_envelopes"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_envelope_documents_document_id_documents"
        ),
        sa.UniqueConstraint("document_id", name="uq_envelope_documents_document_id"),
    )

    op.create_table(
        "envelope_receipts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("envelope_id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        _timestamp("submitted_at", nullable=False),
        sa.Column("tsa", sa.Text(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("token_serial", sa.String(64), nullable=False),
        sa.Column("contents", sa.Text(), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("superseded_at", nullable=True),
        sa.Column("superseded_reason", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_envelope_receipts"),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["envelopes.id"], name="fk_envelope_receipts_envelope_id_envelopes"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_envelope_receipts_document_id_documents"
        ),
        sa.UniqueConstraint("document_id", name="uq_envelope_receipts_document_id"),
    )
    op.create_index("ix_envelope_receipts_envelope_id", "envelope_receipts", ["envelope_id"])


def downgrade() -> None:
    op.drop_index("ix_envelope_receipts_envelope_id", table_name="envelope_receipts")
    op.drop_table("envelope_receipts")
    op.drop_table("envelope_documents")
    op.drop_index("ix_envelopes_tender_id", table_name="envelopes")
    op.drop_table("envelopes")
    op.drop_table("tenders")
