"""`assay init`: create a data directory with every key the instance signs with.

Keys: the CA root and intermediate (ECDSA P-384, as Fulcio's), the CT key that signs SCTs, the
log's key, the OIDC issuer's key and the registry's key (ECDSA P-256: what Rekor v1, JWT ES256
and npm's registry signatures use), and the timestamp authority's root (P-384) and signing key
(P-256, :mod:`assay.tsa.chain`). All private keys are 0600 in a 0700 directory, and nothing
is ever overwritten: `init` refuses a directory that is already initialized.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization

from assay.ca.chain import create_ca_chain
from assay.errors import ConfigError
from assay.instance.layout import DataDir, InstanceInfo
from assay.keys import generate_ec, write_private_key
from assay.registry.errors import Conflict
from assay.registry.service import RegistryService
from assay.settings import Settings
from assay.tsa.chain import create_tsa_chain


def initialize(
    data_dir: DataDir, organization: str = "assay", now: datetime | None = None
) -> InstanceInfo:
    """Create every key and certificate of a new instance in ``data_dir``."""
    if data_dir.exists():
        raise ConfigError(
            f"{data_dir.root} is already an Assay data directory; refusing to overwrite it",
            path=str(data_dir.root),
        )
    now = now or datetime.now(UTC)
    for directory in (data_dir.root, data_dir.keys):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    for directory in (
        data_dir.ca_root_cert.parent,
        data_dir.tsa_cert.parent,
        data_dir.oidc,
        data_dir.blobs,
    ):
        directory.mkdir(mode=0o700, exist_ok=True)

    root_key, intermediate_key = generate_ec("P-384"), generate_ec("P-384")
    write_private_key(data_dir.ca_root_key, root_key)
    write_private_key(data_dir.ca_intermediate_key, intermediate_key)
    for path in (data_dir.ct_key, data_dir.tlog_key, data_dir.oidc_key, data_dir.registry_key):
        write_private_key(path, generate_ec("P-256"))

    root, intermediate = create_ca_chain(root_key, intermediate_key, organization, now)
    data_dir.ca_root_cert.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    data_dir.ca_intermediate_cert.write_bytes(intermediate.public_bytes(serialization.Encoding.PEM))
    _create_tsa_material(data_dir, organization, now)

    # Rekor's tree IDs are positive int64s; ours names the log in checkpoints (`host - treeID`).
    info = InstanceInfo(created_at=now, tree_id=secrets.randbits(62) + 1, organization=organization)
    # Written last: its presence is what marks the directory as complete.
    data_dir.instance_file.write_text(info.to_json(), encoding="utf-8")
    return info


def ensure_tsa_material(data_dir: DataDir, now: datetime | None = None) -> bool:
    """Give a data directory made before the timestamp authority existed its TSA keys and
    chain; True when they were created now. A directory that has any of them is left alone
    (a half-present set is an error :class:`InstanceMaterial` reports, never overwritten)."""
    paths = (data_dir.tsa_root_key, data_dir.tsa_key, data_dir.tsa_root_cert, data_dir.tsa_cert)
    if not data_dir.exists() or any(path.exists() for path in paths):
        return False
    info = InstanceInfo.load(data_dir)
    data_dir.tsa_cert.parent.mkdir(mode=0o700, exist_ok=True)
    _create_tsa_material(data_dir, info.organization, now or datetime.now(UTC))
    return True


def _create_tsa_material(data_dir: DataDir, organization: str, now: datetime) -> None:
    root_key, signing_key = generate_ec("P-384"), generate_ec("P-256")
    write_private_key(data_dir.tsa_root_key, root_key)
    write_private_key(data_dir.tsa_key, signing_key)
    leaf, root = create_tsa_chain(root_key, signing_key, organization, now)
    data_dir.tsa_root_cert.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    data_dir.tsa_cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))


ADMIN_USER = "admin"


def ensure_admin_token(settings: Settings) -> str | None:
    """Create the instance's `admin` user and its registry token, once; the token when it was
    created just now, None when the instance already had one.

    The token is written to ``<data>/admin.token`` (0600, never overwritten) and returned so
    that `assay up` prints it this one time; the registry stores only its hash. The admin has
    a random password nobody knows: it authenticates with this token only.

    An existing account named `admin` is never adopted: if there is one but no token file (a
    sign-up that came first on a shared database, or a token file deleted by hand), this
    refuses instead of handing that account's owner, or a stranger, the administrator's seat.
    """
    data_dir = DataDir(settings.data_dir)
    path = data_dir.admin_token
    if path.exists():
        return None
    registry = RegistryService.open(settings)
    try:
        try:
            user = registry.accounts.add_user(
                ADMIN_USER, "admin@assay.invalid", secrets.token_urlsafe(24)
            )
        except Conflict as exc:
            raise ConfigError(
                f"an account named {ADMIN_USER!r} exists but {path} does not; refusing to adopt "
                "an account this instance did not create. If it is this instance's admin, "
                f"write a token for it there (`assay token create --user {ADMIN_USER}`, mode "
                "0600); otherwise remove or rename that account",
                path=str(path),
            ) from exc
        token, _ = registry.accounts.issue_token(user, name="assay up")
    finally:
        registry.close()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token
