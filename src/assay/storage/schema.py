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
