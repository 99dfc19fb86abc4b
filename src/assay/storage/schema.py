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

# Entries a node that does not hold the sequencer's lease has verified and handed to the one
# that does (assay.tlog.sequencer): queued in submission order, deleted in the transaction that
# integrates them. A row here is never acknowledged to a client; only its entry in
# `tlog_entries`, under a signed checkpoint, is.
tlog_pending = sa.Table(
    "tlog_pending",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("uuid", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("api_version", sa.String(16), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
)

# The sequencer's lease: one row, the node that may integrate entries and until when (unix ms).
# Taken with an UPDATE that succeeds only when the lease expired or is already the taker's.
tlog_lease = sa.Table(
    "tlog_lease",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
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
    # JSON: the trusted publisher a version was published through (npm's
    # `_npmUser.trustedPublisher`, plus the verified OIDC identity); NULL for a token publish.
    sa.Column("trusted_publisher", sa.Text, nullable=True),
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

# --- trusted publishing (issue 11; docs/trusted-publishing.md) ----------------------------------
# A package's trusted publishers: which CI identity may exchange its OIDC token for a short-lived
# token that publishes (or stages) this one package. `claims` is the npm trust API's `claims`
# object as stored (normalized); `pins` holds immutable ids learnt on first use
# (`repository_id`, `repository_owner_id`, GitLab's `project_id`, …) so a repository deleted and
# recreated under the same name no longer matches (PyPI's rule). No foreign key to
# registry_packages: a *pending* publisher (`pending_until_ms` set) names a package that does not
# exist yet and reserves the name to that publisher until then.
registry_trusted_publishers = sa.Table(
    "registry_trusted_publishers",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # a UUID, what `npm trust revoke --id` takes
    sa.Column("package", sa.String(214), nullable=False, index=True),
    sa.Column("provider", sa.String(16), nullable=False),  # github | gitlab | circleci
    sa.Column("claims", sa.Text, nullable=False),  # JSON object
    sa.Column("permissions", sa.Text, nullable=False),  # JSON list, of accounts.PERMISSIONS
    sa.Column("pins", sa.Text, nullable=True),  # JSON object, filled on the first exchange
    sa.Column("created_by", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("pending_until_ms", sa.BigInteger, nullable=True),
)

# Every OIDC token `jti` the exchange has accepted, kept past the token's own expiry (so one
# identity token buys at most one registry token, across processes and nodes). The primary key
# is the atomic claim: a second insert of the same (issuer, jti) fails.
registry_oidc_jtis = sa.Table(
    "registry_oidc_jtis",
    metadata,
    sa.Column("issuer", sa.String(512), primary_key=True),
    sa.Column("jti", sa.String(256), primary_key=True),
    sa.Column("forget_after_ms", sa.BigInteger, nullable=False, index=True),
)

# Tokens minted by the exchange. Like registry_tokens only the SHA-256 is stored; unlike them they
# belong to no user: they act for one trusted publisher on one package, with its permissions, and
# expire within minutes. Revoking the publisher revokes its tokens (ON DELETE CASCADE).
# `identity` is the verified OIDC claims that bought the token (issuer, subject, repository,
# workflow, run, sha, …): what `_npmUser.trustedPublisher` and the audit trail show.
registry_oidc_tokens = sa.Table(
    "registry_oidc_tokens",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("package", sa.String(214), nullable=False, index=True),
    sa.Column(
        "publisher_id",
        sa.String(36),
        sa.ForeignKey("registry_trusted_publishers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("permissions", sa.Text, nullable=False),  # JSON list, ⊆ the publisher's
    sa.Column("identity", sa.Text, nullable=False),  # JSON object
    sa.Column("preview", sa.String(32), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
)

# Rules a package's maintainers set for its future versions (`assay package policy`). A missing
# row means the defaults: tokens allowed, provenance optional, no provenance downgrade.
registry_package_policies = sa.Table(
    "registry_package_policies",
    metadata,
    sa.Column("package", sa.String(214), primary_key=True),
    sa.Column("require_trusted_publishing", sa.Boolean, nullable=False),
    sa.Column("require_provenance", sa.Boolean, nullable=False),
    # False (the default) refuses a version without provenance after one with it.
    sa.Column("allow_provenance_downgrade", sa.Boolean, nullable=False),
    sa.Column("updated_by", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=True),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

# Staged publishes (`npm stage publish`): checked like a publish, held until a maintainer approves
# (then published as the stager) or rejects (then deleted). `body` is the publish document without
# the tarball's bytes, which are in the blob store under `blob_key`.
registry_staged_versions = sa.Table(
    "registry_staged_versions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # a UUID (npm validates it as one)
    sa.Column("package", sa.String(214), nullable=False, index=True),
    sa.Column("version", sa.String(256), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # JSON
    sa.Column("blob_key", sa.String(256), nullable=False),
    sa.Column("integrity", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stager", sa.Text, nullable=False),  # JSON: the user or trusted publisher
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("package", "version", name="registry_staged_package_version"),
)

# The registry's audit trail: who changed what about a package, and when (trusted publishers,
# package policy, staged publishes). Append-only; `actor` is "user:<name>" or
# "trusted-publisher:<id>".
registry_audit_events = sa.Table(
    "registry_audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("package", sa.String(214), nullable=False, index=True),
    sa.Column("actor", sa.String(300), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON object
    sa.Column("at_ms", sa.BigInteger, nullable=False),
)

# --- mirror (assay.mirror) ---------------------------------------------------------------------
# One row per upstream package the mirror has fetched: the packument exactly as the uplink
# served it (the served one is rebuilt from it and the verdicts below), with the validators of
# the conditional request that refreshes it (RFC 9110 §13.1) and when it was last confirmed.
mirror_packuments = sa.Table(
    "mirror_packuments",
    metadata,
    sa.Column("name", sa.String(214), primary_key=True),
    sa.Column("uplink", sa.String(64), nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # JSON, as fetched
    sa.Column("etag", sa.String(512), nullable=True),
    sa.Column("last_modified", sa.String(64), nullable=True),
    sa.Column("fetched_ms", sa.BigInteger, nullable=False),  # last 200 or 304 from the uplink
    sa.Column("changed_ms", sa.BigInteger, nullable=False),  # last 200 with other content
)

# The verdict of one upstream version, decided once for its `integrity` (versions are
# immutable: an upstream that changes a version's integrity is held back, never re-verified
# into service). `verdict` is "verified" or "refused" (`reason` says why); `signatures` is
# assay.verify.package's "verified" | "unchecked"; `provenance` the predicate type of a verified
# provenance attestation, `facts` its VerifiedFacts (JSON) and `attestations` the verified
# response body, served at /-/npm/v1/attestations/. The tarball columns are set once its bytes
# matched `integrity` and were stored under `blob_key` (content-addressed, shared with local
# tarballs); `manifest` is the fingerprint (assay.mirror.manifests) of the upstream manifest
# whose confusable fields that tarball's package.json was checked to agree with. A tarball whose
# package.json disagrees is never stored: the verdict becomes "refused" with the reason.
mirror_versions = sa.Table(
    "mirror_versions",
    metadata,
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
    sa.Column("manifest", sa.String(64), nullable=True),
)
