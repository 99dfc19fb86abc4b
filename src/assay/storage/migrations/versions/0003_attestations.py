"""Registry: each version's attestations (provenance and the registry's publish attestation).

Revision ID: 0003_attestations
Revises: 0002_registry
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_attestations"
down_revision = "0002_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch:
        batch.add_column(sa.Column("attestations", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch:
        batch.drop_column("attestations")
