"""Documents, their revisions, and signing sessions.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Written by hand from envelopes/database.py as it stood then; migrations never
import the live tables, which keep moving. Timestamps are plain
``DateTime(timezone=True)`` here: ``UtcDateTime`` only converts in Python.
Constraint names follow ``envelopes.database.NAMING_CONVENTION``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("organisation", sa.String(64), nullable=False),
        sa.Column("api_key_sha256", sa.String(64), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("head", sa.Integer(), nullable=False),
        sa.Column("busy_session", sa.String(32), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_index("ix_documents_organisation", "documents", ["organisation"])

    op.create_table(
        "revisions",
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("level", sa.String(8), nullable=True),
        sa.Column("signer", sa.Text(), nullable=True),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("document_id", "number", name="pk_revisions"),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_revisions_document_id_documents", ondelete="CASCADE"
        ),
    )

    op.create_table(
        "signing_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("organisation", sa.String(64), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("expected_national_id", sa.String(32), nullable=True),
        sa.Column("expected_role", sa.String(255), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        _timestamp("expires_at", nullable=False),
        # prepared state (certificate step)
        sa.Column("base_revision", sa.Integer(), nullable=True),
        sa.Column("digest_algorithm", sa.String(8), nullable=True),
        sa.Column("certificate", sa.LargeBinary(), nullable=True),
        sa.Column("chain", sa.LargeBinary(), nullable=True),
        sa.Column("signer_subject", sa.Text(), nullable=True),
        sa.Column("signer_national_id", sa.String(32), nullable=True),
        sa.Column("signer_role", sa.String(255), nullable=True),
        _timestamp("signing_time", nullable=True),
        sa.Column("prepared_update", sa.LargeBinary(), nullable=True),
        sa.Column("hole_start", sa.BigInteger(), nullable=True),
        sa.Column("hole_end", sa.BigInteger(), nullable=True),
        sa.Column("signed_attributes", sa.LargeBinary(), nullable=True),
        # signature step and after
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("signed_revision", sa.Integer(), nullable=True),
        sa.Column("completed_revision", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signing_sessions"),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_signing_sessions_document_id_documents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_signing_sessions_document", "signing_sessions", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_signing_sessions_document", table_name="signing_sessions")
    op.drop_table("signing_sessions")
    op.drop_table("revisions")
    op.drop_index("ix_documents_organisation", table_name="documents")
    op.drop_table("documents")
