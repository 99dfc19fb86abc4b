"""Registry: trusted publishing, package policies, staged publishes, the audit trail (issue 11).

Revision ID: 0006_trusted_publishing
Revises: 0005_scope_members
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_trusted_publishing"
down_revision = "0005_scope_members"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_trusted_publishers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("package", sa.String(214), nullable=False, index=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("claims", sa.Text, nullable=False),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("pins", sa.Text, nullable=True),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("pending_until_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "registry_oidc_jtis",
        sa.Column("issuer", sa.String(512), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("forget_after_ms", sa.BigInteger, nullable=False, index=True),
    )
    op.create_table(
        "registry_oidc_tokens",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("package", sa.String(214), nullable=False, index=True),
        sa.Column(
            "publisher_id",
            sa.String(36),
            sa.ForeignKey("registry_trusted_publishers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("identity", sa.Text, nullable=False),
        sa.Column("preview", sa.String(32), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "registry_package_policies",
        sa.Column("package", sa.String(214), primary_key=True),
        sa.Column("require_trusted_publishing", sa.Boolean, nullable=False),
        sa.Column("require_provenance", sa.Boolean, nullable=False),
        sa.Column("allow_provenance_downgrade", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=True),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "registry_staged_versions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("package", sa.String(214), nullable=False, index=True),
        sa.Column("version", sa.String(256), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("blob_key", sa.String(256), nullable=False),
        sa.Column("integrity", sa.String(128), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("stager", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("package", "version", name="registry_staged_package_version"),
    )
    op.create_table(
        "registry_audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("package", sa.String(214), nullable=False, index=True),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("registry_versions") as batch:
        batch.add_column(sa.Column("trusted_publisher", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch:
        batch.drop_column("trusted_publisher")
    for table in (
        "registry_audit_events",
        "registry_staged_versions",
        "registry_package_policies",
        "registry_oidc_tokens",
        "registry_oidc_jtis",
        "registry_trusted_publishers",
    ):
        op.drop_table(table)
