"""Registry: what was verified about each version's provenance (issue 10).

Revision ID: 0004_provenance_facts
Revises: 0003_attestations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_provenance_facts"
down_revision = "0003_attestations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch:
        batch.add_column(sa.Column("provenance_facts", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch:
        batch.drop_column("provenance_facts")
