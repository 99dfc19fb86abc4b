"""Registry: scopes an administrator assigned to users (`assay scope grant`).

Revision ID: 0005_scope_members
Revises: 0004_provenance_facts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_scope_members"
down_revision = "0004_provenance_facts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_scope_members",
        sa.Column("scope", sa.String(214), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("registry_users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registry_scope_members")
