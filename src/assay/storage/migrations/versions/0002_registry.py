"""Registry: users, tokens, packages, versions, dist-tags, maintainers, scopes.

Revision ID: 0002_registry
Revises: 0001_tlog
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_registry"
down_revision = "0001_tlog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(214), nullable=False, unique=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(512), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "registry_tokens",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("registry_users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("preview", sa.String(32), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("readonly", sa.Boolean, nullable=False),
        sa.Column("cidr_whitelist", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "registry_packages",
        sa.Column("name", sa.String(214), primary_key=True),
        sa.Column("rev", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("modified_ms", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("keywords", sa.Text, nullable=True),
    )
    op.create_table(
        "registry_versions",
        sa.Column(
            "package",
            sa.String(214),
            sa.ForeignKey("registry_packages.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.String(256), primary_key=True),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("integrity", sa.String(128), nullable=False),
        sa.Column("shasum", sa.String(40), nullable=False),
        sa.Column("blob_key", sa.String(256), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("readme", sa.Text, nullable=True),
        sa.Column("deprecated", sa.Text, nullable=True),
        sa.Column("publisher_id", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=True),
        sa.Column("published_ms", sa.BigInteger, nullable=False),
        sa.Column("unpublished_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("registry_versions_filename", "registry_versions", ["package", "filename"])
    op.create_table(
        "registry_dist_tags",
        sa.Column(
            "package",
            sa.String(214),
            sa.ForeignKey("registry_packages.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(256), primary_key=True),
        sa.Column("version", sa.String(256), nullable=False),
    )
    op.create_table(
        "registry_maintainers",
        sa.Column(
            "package",
            sa.String(214),
            sa.ForeignKey("registry_packages.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("registry_users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "registry_scopes",
        sa.Column("scope", sa.String(214), primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registry_scopes")
    op.drop_table("registry_maintainers")
    op.drop_table("registry_dist_tags")
    op.drop_index("registry_versions_filename", table_name="registry_versions")
    op.drop_table("registry_versions")
    op.drop_table("registry_packages")
    op.drop_table("registry_tokens")
    op.drop_table("registry_users")
