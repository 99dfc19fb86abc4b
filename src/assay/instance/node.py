"""The configuration file of one node (`assay serve --config FILE`; docs/deploy.md).

A node of a cluster is the all-in-one instance pointed at shared state: one PostgreSQL, one S3
bucket, and the same key material on every node. Its file names exactly that, in TOML::

    [server]
    public_url = "https://registry.example.com"   # the origin clients use, the same on every node
    host = "0.0.0.0"
    port = 4873
    workers = 2                                    # processes sharing the port

    [database]
    url = "postgresql+psycopg://assay@db.internal/assay"

    [blobs]
    store = "s3"
    bucket = "assay-blobs"
    endpoint_url = "https://s3.internal"           # omit for AWS
    region = "us-east-1"
    prefix = ""

    [keys]
    dir = "/run/secrets/assay"                     # what `assay serve --prepare` made

    [settings]                                     # any other setting, by its name
    registry_allow_signup = false

Secrets are better left out of the file: every setting the file does not name is still read
from the environment (``ASSAY_S3_ACCESS_KEY_ID``, ``ASSAY_S3_SECRET_ACCESS_KEY``, a
``ASSAY_DATABASE_URL`` carrying a password, ``ASSAY_TLOG_WRITER_SECRET``), as for `assay up`.
One node or many: the file is the same, only the load balancer in front changes.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from assay.errors import ConfigError
from assay.settings import Settings

# Each table's keys, and the setting each becomes.
_TABLES: dict[str, dict[str, str]] = {
    "server": {
        "public_url": "public_url",
        "host": "host",
        "port": "port",
        "workers": "workers",
    },
    "database": {"url": "database_url"},
    "blobs": {
        "store": "blob_store",
        "bucket": "s3_bucket",
        "endpoint_url": "s3_endpoint_url",
        "region": "s3_region",
        "prefix": "s3_prefix",
        "access_key_id": "s3_access_key_id",
        "secret_access_key": "s3_secret_access_key",
    },
    "keys": {"dir": "data_dir"},
}


def node_overrides(path: Path) -> dict[str, Any]:
    """The settings a node's configuration file names, by setting name (ConfigError if the file
    is missing, not TOML, or names a table, key or setting that does not exist)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not TOML: {exc}", path=str(path)) from exc
    overrides: dict[str, Any] = {}
    for table, values in document.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: {table!r} must be a table ([{table}])", path=str(path))
        if table == "settings":
            names = {name: name for name in Settings.model_fields}
        elif table in _TABLES:
            names = _TABLES[table]
        else:
            known = ", ".join(f"[{name}]" for name in [*_TABLES, "settings"])
            raise ConfigError(f"{path}: unknown table [{table}]; known: {known}", path=str(path))
        for key, value in values.items():
            setting = names.get(key)
            if setting is None:
                raise ConfigError(f"{path}: unknown key {key!r} in [{table}]", path=str(path))
            if setting in overrides:
                raise ConfigError(f"{path}: {setting} is set twice", path=str(path))
            overrides[setting] = value
    if "data_dir" in overrides:
        # Relative to the file, as an operator reading it would expect.
        overrides["data_dir"] = (path.parent / Path(overrides["data_dir"])).resolve()
    return overrides
