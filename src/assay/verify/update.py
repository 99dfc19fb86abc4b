"""Refreshing the public-good trust material through TUF (``assay trust update``).

The verifier ships a snapshot of Sigstore's public-good ``trusted_root.json`` and npm's
``registry.npmjs.org/keys.json`` (``bundled/``). When a network is there, this module fetches
the current ones the way npm's own client does: python-tuf's ``Updater`` walks the TUF
repository (``https://tuf-repo-cdn.sigstore.dev`` by default) from a trusted root — the bundled
``tuf-root.json``, Sigstore's root v15 as ``@sigstore/tuf`` 5 embeds it, or one given by the
caller — through every newer root, timestamp, snapshot and targets, and downloads each target
only if its length and hashes match the signed targets metadata. Nothing unverified is written:
the targets land in a temporary directory and are moved into place only when all verified.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tuf.api.exceptions import RepositoryError
from tuf.api.metadata import Metadata
from tuf.ngclient.updater import Updater

from assay.errors import ConfigError, VerificationError

PUBLIC_GOOD_MIRROR = "https://tuf-repo-cdn.sigstore.dev"
NPMJS_KEYS_TARGET = "registry.npmjs.org/keys.json"
TRUSTED_ROOT_FILE = "trusted_root.json"
NPMJS_KEYS_FILE = "registry.npmjs.org-keys.json"


def bundled_tuf_root() -> bytes:
    return resources.files("assay.verify").joinpath("bundled/tuf-root.json").read_bytes()


@dataclass(frozen=True, slots=True)
class Updated:
    trusted_root: Path
    registry_keys: Path
    root_version: int


def update_public_good(
    directory: Path,
    *,
    mirror: str = PUBLIC_GOOD_MIRROR,
    root: bytes | None = None,
    keys_target: str = NPMJS_KEYS_TARGET,
) -> Updated:
    """Fetch and verify the trust material into ``directory`` (``trusted_root.json`` and
    ``registry.npmjs.org-keys.json``, the names :meth:`TrustedRoot.public_good` looks for)."""
    directory.mkdir(parents=True, exist_ok=True)
    metadata = directory / "tuf" / _cache_name(mirror)
    metadata.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as staging:
        try:
            updater = Updater(
                metadata_dir=str(metadata),
                metadata_base_url=mirror.rstrip("/") + "/",
                target_base_url=mirror.rstrip("/") + "/targets/",
                target_dir=staging,
                bootstrap=root if root is not None else bundled_tuf_root(),
            )
            updater.refresh()
            fetched: dict[str, str] = {}
            wanted = ((TRUSTED_ROOT_FILE, TRUSTED_ROOT_FILE), (keys_target, NPMJS_KEYS_FILE))
            for name, file in wanted:
                info = updater.get_targetinfo(name)
                if info is None:
                    raise VerificationError(f"the TUF repository at {mirror} lacks {name!r}")
                fetched[file] = updater.download_target(info, str(Path(staging) / file))
        except RepositoryError as exc:
            raise VerificationError(f"TUF refused the repository at {mirror}: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot update trust material from {mirror}: {exc}") from exc
        for file, path in fetched.items():
            shutil.move(path, directory / file)
    version = Metadata.from_file(str(metadata / "root.json")).signed.version
    return Updated(directory / TRUSTED_ROOT_FILE, directory / NPMJS_KEYS_FILE, version)


def _cache_name(mirror: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in mirror)
