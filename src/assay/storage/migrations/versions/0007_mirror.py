"""Mirror: upstream packuments as fetched and the verdict of every upstream version (issue 12).

Revision ID: 0007_mirror
Revises: 0006_trusted_publishing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_mirror"
down_revision = "0006_trusted_publishing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirror_packuments",
        sa.Column("name", sa.String(214), primary_key=True),
        sa.Column("uplink", sa.String(64), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("etag", sa.String(512), nullable=True),
        sa.Column("last_modified", sa.String(64), nullable=True),
        sa.Column("fetched_ms", sa.BigInteger, nullable=False),
        sa.Column("changed_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "mirror_versions",
        sa.Column("name", sa.String(214), primary_key=True),
        sa.Column("version", sa.String(256), primary_key=True),
        sa.Column("uplink", sa.String(64), nullable=False),
        sa.Column("integrity", sa.String(128), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("signatures", sa.String(16), nullable=False),
        sa.Column("provenance", sa.String(256), nullable=True),
        sa.Column("facts", sa.Text, nullable=True),
        sa.Column("attestations", sa.Text, nullable=True),
        sa.Column("verified_ms", sa.BigInteger, nullable=False),
        sa.Column("blob_key", sa.String(256), nullable=True),
        sa.Column("shasum", sa.String(40), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("fetched_ms", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("mirror_versions")
    op.drop_table("mirror_packuments")
