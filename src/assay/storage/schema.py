"""Every table, in one SQLAlchemy ``MetaData``. Migrations create them; code queries them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# --- transparency log -------------------------------------------------------------------------
# One row per entry, by its global index. `body` is the canonicalized entry (Rekor's `body`,
# base64-decoded); `uuid` is hex(SHA256(0x00 || body)), the RFC 6962 leaf hash, unique so that a
# duplicate submission finds the existing entry (Rekor answers 409 with it).
tlog_entries = sa.Table(
    "tlog_entries",
    metadata,
    sa.Column("log_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("uuid", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("api_version", sa.String(16), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("integrated_time", sa.BigInteger, nullable=False),
    # The log's signature over {body, integratedTime, logID, logIndex} (Rekor's SET), kept so
    # every read returns the same promise.
    sa.Column("signed_entry_timestamp", sa.LargeBinary, nullable=False),
)

# Hashes of complete subtrees: (level, index) is the node covering leaves
# [index * 2**level, (index + 1) * 2**level). Each is written once, when its last leaf arrives,
# so a proof or a root costs O(log n) point reads and a tile is one range read.
tlog_nodes = sa.Table(
    "tlog_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("node_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

# Signed checkpoints, one per tree size the sequencer published. The newest row is the log's
# current state; keeping the others lets a client ask for a consistency proof from any of them.
tlog_checkpoints = sa.Table(
    "tlog_checkpoints",
    metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

# --- registry ---------------------------------------------------------------------------------
# Accounts. `password_hash` is a self-describing scrypt string (assay.registry.accounts); the
# password itself is never stored.
registry_users = sa.Table(
    "registry_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(214), nullable=False, unique=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("password_hash", sa.String(512), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

# Access tokens. Only SHA-256 of the secret is kept (`token_hash`, unique: the lookup key);
# `key` is the public id `npm token list/revoke` shows, unrelated to the secret.
registry_tokens = sa.Table(
    "registry_tokens",
    metadata,
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
    sa.Column("cidr_whitelist", sa.Text, nullable=True),  # JSON list of IPv4 CIDRs
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=True),
)

# One row per package name ever published. `rev` grows by one on every change and is the
# package's optimistic-concurrency token (CouchDB's `_rev`, as npm echoes it in `-rev/<rev>`);
# writers take the row lock by bumping it first, so writes to one package are serialized.
registry_packages = sa.Table(
    "registry_packages",
    metadata,
    sa.Column("name", sa.String(214), primary_key=True),
    sa.Column("rev", sa.BigInteger, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("modified_ms", sa.BigInteger, nullable=False),
    sa.Column("description", sa.Text, nullable=True),  # of the latest version, for search
    sa.Column("keywords", sa.Text, nullable=True),  # JSON list, of the latest version
)

# Versions, including unpublished ones (`unpublished_ms` set): npm never lets a version number
# be reused, so the row stays as a tombstone. (package, version) is the primary key, which is
# what makes two concurrent publishes of one version end with exactly one winner.
registry_versions = sa.Table(
    "registry_versions",
    metadata,
    sa.Column(
        "package",
        sa.String(214),
        sa.ForeignKey("registry_packages.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.String(256), primary_key=True),
    sa.Column("manifest", sa.Text, nullable=False),  # JSON: the version object, dist without URL
    sa.Column("integrity", sa.String(128), nullable=False),  # sha512 SRI
    sa.Column("shasum", sa.String(40), nullable=False),
    sa.Column("blob_key", sa.String(256), nullable=False),
    sa.Column("filename", sa.String(300), nullable=False),  # <name>-<version>.tgz, no scope
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("readme", sa.Text, nullable=True),
    sa.Column("deprecated", sa.Text, nullable=True),
    sa.Column("publisher_id", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=True),
    sa.Column("published_ms", sa.BigInteger, nullable=False),
    sa.Column("unpublished_ms", sa.BigInteger, nullable=True),
    # JSON: the attestations response of this version ([{predicateType, bundle}]) — the
    # provenance bundle as uploaded and verified, and the registry's publish attestation.
    sa.Column("attestations", sa.Text, nullable=True),
    # JSON: what the registry verified about the provenance (assay.registry.provenance
    # ProvenanceRecord: the certificate's facts, the statement check, the source check and its
    # time); NULL for a version published without provenance.
    sa.Column("provenance_facts", sa.Text, nullable=True),
)
sa.Index("registry_versions_filename", registry_versions.c.package, registry_versions.c.filename)

registry_dist_tags = sa.Table(
    "registry_dist_tags",
    metadata,
    sa.Column(
        "package",
        sa.String(214),
        sa.ForeignKey("registry_packages.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.String(256), primary_key=True),
    sa.Column("version", sa.String(256), nullable=False),
)

registry_maintainers = sa.Table(
    "registry_maintainers",
    metadata,
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

# Claimed scopes (`registry_scope_policy = "open"`): the first publisher of @scope/… owns it.
registry_scopes = sa.Table(
    "registry_scopes",
    metadata,
    sa.Column("scope", sa.String(214), primary_key=True),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

# Scopes an administrator assigned (`assay scope grant @acme alice`): every member may create
# packages in @scope/…, and nobody else may, whatever `registry_scope_policy` says.
registry_scope_members = sa.Table(
    "registry_scope_members",
    metadata,
    sa.Column("scope", sa.String(214), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("registry_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)
