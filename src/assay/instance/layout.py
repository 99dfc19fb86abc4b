"""Where everything of one instance lives inside its data directory.

::

    DIR/                     mode 0700
      instance.json          created_at, tree_id, organization: set once by `assay init`
      keys/                  mode 0700; every *.key is PKCS#8 PEM, mode 0600
        ca-root.key  ca-intermediate.key  ct.key  tlog.key  oidc.key  registry.key
        tsa-root.key  tsa.key
      ca/root.pem  ca/intermediate.pem
      tsa/root.pem  tsa/leaf.pem  the timestamp authority's chain (added to older directories
                             at start, see assay.instance.setup.ensure_tsa_material)
      oidc/                  job registrations (see assay.oidc.jobs)
      admin.token            the `admin` user's registry token, mode 0600 (printed by `assay up`)
      assay.db               SQLite, unless ASSAY_DATABASE_URL names another database
      blobs/                 tarballs and other blobs, unless S3 is configured
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DataDir:
    """Paths inside one data directory. Creating this object touches nothing on disk."""

    root: Path

    @property
    def instance_file(self) -> Path:
        return self.root / "instance.json"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def ca_root_key(self) -> Path:
        return self.keys / "ca-root.key"

    @property
    def ca_intermediate_key(self) -> Path:
        return self.keys / "ca-intermediate.key"

    @property
    def ct_key(self) -> Path:
        return self.keys / "ct.key"

    @property
    def tlog_key(self) -> Path:
        return self.keys / "tlog.key"

    @property
    def oidc_key(self) -> Path:
        return self.keys / "oidc.key"

    @property
    def registry_key(self) -> Path:
        return self.keys / "registry.key"

    @property
    def ca_root_cert(self) -> Path:
        return self.root / "ca" / "root.pem"

    @property
    def ca_intermediate_cert(self) -> Path:
        return self.root / "ca" / "intermediate.pem"

    @property
    def tsa_root_key(self) -> Path:
        return self.keys / "tsa-root.key"

    @property
    def tsa_key(self) -> Path:
        return self.keys / "tsa.key"

    @property
    def tsa_root_cert(self) -> Path:
        return self.root / "tsa" / "root.pem"

    @property
    def tsa_cert(self) -> Path:
        return self.root / "tsa" / "leaf.pem"

    @property
    def oidc(self) -> Path:
        return self.root / "oidc"

    @property
    def admin_token(self) -> Path:
        return self.root / "admin.token"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    def exists(self) -> bool:
        return self.instance_file.exists()


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """What `assay init` decided once and for all."""

    created_at: datetime
    tree_id: int
    organization: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "created_at": self.created_at.isoformat(),
                "tree_id": self.tree_id,
                "organization": self.organization,
            },
            indent=2,
        )

    @classmethod
    def load(cls, data_dir: DataDir) -> InstanceInfo:
        try:
            raw: Any = json.loads(data_dir.instance_file.read_text(encoding="utf-8"))
            created = datetime.fromisoformat(raw["created_at"]).astimezone(UTC)
            return cls(created, int(raw["tree_id"]), str(raw["organization"]))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{data_dir.root} is not an Assay data directory; run `assay init --data DIR`",
                path=str(data_dir.root),
            ) from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{data_dir.instance_file} is damaged: {exc}") from exc
