"""Mirror: the fingerprint of the upstream manifest a stored tarball was checked against.

A verdict's tarball columns used to say only that the bytes matched ``integrity``; the mirror
now also checks the tarball's package.json against the upstream manifest (manifest confusion,
docs/mirror.md) and remembers for which manifest it did. Rows stored before have none: their
manifest is checked against the stored tarball at the next download.

Revision ID: 0009_mirror_manifest
Revises: 0008_tlog_lease
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_mirror_manifest"
down_revision = "0008_tlog_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mirror_versions") as batch:
        batch.add_column(sa.Column("manifest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mirror_versions") as batch:
        batch.drop_column("manifest")
