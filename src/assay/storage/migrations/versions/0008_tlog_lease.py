"""The log's sequencer across nodes: its lease and the queue of entries handed to it (issue 14).

Revision ID: 0008_tlog_lease
Revises: 0007_mirror
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_tlog_lease"
down_revision = "0007_mirror"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tlog_pending",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("api_version", sa.String(16), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    lease = op.create_table(
        "tlog_lease",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(lease, [{"name": "sequencer", "holder": "", "expires_ms": 0}])


def downgrade() -> None:
    op.drop_table("tlog_lease")
    op.drop_table("tlog_pending")
