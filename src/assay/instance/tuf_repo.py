"""The instance's TUF repository: how npm's unmodified client comes to trust this instance.

npm has no setting for a TUF mirror or root (npm-registry.md §1.7): ``npm audit signatures``
reads its trust through ``@sigstore/tuf`` from ``<cache>/_tuf/tuf-repo-cdn.sigstore.dev/``, and
the trust anchor is whatever ``root.json`` sits there (§4.6). So every instance runs its own
small TUF repository (python-tuf's Metadata API), plants its root in the npm cache
(:mod:`assay.instance.npm_trust`) and answers tuf-js's refresh requests from it. Two targets:

* ``trusted_root.json`` — this instance's Sigstore trust root (:mod:`assay.instance.trust`),
  what ``sigstore.verify`` reads for provenance attestations;
* ``<host[:port]><path>/keys.json`` — the registry's signing keys in the TUF ``keys.json`` shape
  (npm-registry.md §3.3). npm computes this name from the registry URL
  (``lib/utils/verify-signatures.js``: ``${host}${pathname.replace(/\\/$/, '')}/keys.json``),
  e.g. ``127.0.0.1:4873/keys.json``.

One Ed25519 key (``keys/tuf.key``, PKCS#8, 0600, created on first use) holds all four roles at
threshold 1: the instance already holds every other key online, so splitting roles would buy
nothing here.

Consistent snapshots are on (as on tuf-repo-cdn.sigstore.dev): tuf-js then fetches
``<v>.snapshot.json``, ``<v>.targets.json`` and ``targets/<dir>/<sha256>.<base>`` (tuf-js
``updater.js``: ``consistentSnapshot && prefixTargetsWithHash``), so a client that holds an
older snapshot still finds every file it names while the repository changes under it.

On disk, under ``DIR/tuf/``::

    metadata/<n>.root.json  <v>.snapshot.json  <v>.targets.json  timestamp.json
    targets/<sha256 hex>    target files, content-addressed
    .lock                   flock held by whoever writes (the instance, the npm proxy)

Expiry, and why: root, targets and snapshot live a year and are re-signed (a new version) when
less than 60 days remain; the timestamp lives 7 days and is re-signed when less than a day
remains. tuf-js re-fetches ``timestamp.json`` on every ``npm audit signatures`` (it refreshes
without ``forceCache``), so the renewal happens where the timestamp is served: the instance's
``/-/trust/tuf/`` route and the npm proxy both call :meth:`TufRepository.read`, which re-signs
before answering. A short timestamp bounds how long anyone can replay a stale view of the keys
(a freeze attack) to a week; long-lived root/targets keep a seeded npm cache valid offline.
Targets change (new versions of targets, snapshot and timestamp) whenever the target files do:
a registry key rotation, a new trusted root, or a new origin.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519

# The defining modules: the packages' __init__ re-export without __all__ (mypy --strict).
from securesystemslib.signer._crypto_signer import CryptoSigner
from securesystemslib.signer._key import SSlibKey
from tuf.api._payload import MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.metadata import Metadata
from tuf.api.serialization import DeserializationError
from tuf.api.serialization.json import JSONSerializer

from assay.errors import ConfigError
from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.instance.trust import trusted_root, with_uplinks
from assay.keys import generate_ed25519, load_private_key, write_private_key
from assay.registry.signing import RegistryKeys

KEY_FILE = "tuf.key"
REPO_DIR = "tuf"
TRUSTED_ROOT_TARGET = "trusted_root.json"
ROLES = (Root.type, Targets.type, Snapshot.type, Timestamp.type)

_T = TypeVar("_T", Root, Timestamp, Snapshot, Targets)
# What may be asked of the repository: top-level metadata, versioned or not (TUF 5.3–5.6).
_METADATA_NAME = re.compile(
    r"(?:(?P<version>[1-9][0-9]{0,9})\.)?(?P<role>root|snapshot|targets)\.json"
)
_HASH_PREFIX = re.compile(r"(?P<hash>[0-9a-f]{64})\.(?P<base>.+)")
_SERIALIZER = JSONSerializer(compact=True)


def keys_target_name(registry_url: str) -> str:
    """The TUF target npm looks up for ``registry_url``'s keys (verify-signatures.js)."""
    parts = urlsplit(registry_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/keys.json"


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """How long each role's metadata lives, and how close to expiry it is re-signed."""

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=365)
    snapshot: timedelta = timedelta(days=365)
    timestamp: timedelta = timedelta(days=7)
    root_renew: timedelta = timedelta(days=60)
    targets_renew: timedelta = timedelta(days=60)
    snapshot_renew: timedelta = timedelta(days=60)
    timestamp_renew: timedelta = timedelta(days=1)


def load_or_create_key(data_dir: DataDir) -> ed25519.Ed25519PrivateKey:
    """The instance's TUF key, ``keys/tuf.key`` (created 0600 on first use; never logged)."""
    path = data_dir.keys / KEY_FILE
    if not path.exists():
        data_dir.keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Exclusive create: if another process created it first, use theirs.
        with contextlib.suppress(ConfigError):
            write_private_key(path, generate_ed25519())
    key = load_private_key(path)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{path} must hold an Ed25519 key", path=str(path))
    return key


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class TufRepository:
    """One instance's TUF repository on disk. Safe to share between processes: writers take
    an exclusive ``flock`` and replace files atomically, in the order root → targets →
    snapshot → timestamp, so a reader never sees a timestamp whose snapshot is missing."""

    def __init__(
        self,
        directory: Path,
        key: ed25519.Ed25519PrivateKey,
        policy: ExpiryPolicy | None = None,
    ) -> None:
        self.directory = directory
        self.policy = policy or ExpiryPolicy()
        self._signer = CryptoSigner(key)
        self._public: SSlibKey = SSlibKey.from_crypto(key.public_key())

    @classmethod
    def open(cls, data_dir: DataDir, policy: ExpiryPolicy | None = None) -> TufRepository:
        return cls(data_dir.root / REPO_DIR, load_or_create_key(data_dir), policy)

    @property
    def metadata_dir(self) -> Path:
        return self.directory / "metadata"

    @property
    def blobs_dir(self) -> Path:
        return self.directory / "targets"

    @property
    def keyid(self) -> str:
        return self._public.keyid

    # --- writing --------------------------------------------------------------------------

    def publish(self, targets: Mapping[str, bytes], now: datetime | None = None) -> bool:
        """Make ``targets`` (name → content) the repository's whole target set, re-signing
        whatever changed or is close to expiry. Returns whether anything was written."""
        for name in targets:
            _check_target_name(name)
        return self._update(dict(targets), now or _now())

    def maintain(self, now: datetime | None = None) -> bool:
        """Re-sign whatever is close to expiry, keeping the targets. Needs an existing repo."""
        return self._update(None, now or _now())

    def _update(self, desired: dict[str, bytes] | None, now: datetime) -> bool:
        policy = self.policy
        with self._lock():
            root_version = self._latest_root_version()
            changed = False
            if root_version == 0:
                if desired is None:
                    raise ConfigError(
                        f"no TUF repository in {self.directory}: start the instance "
                        "(`assay up`) once to create it"
                    )
                root = Root(expires=now + policy.root, consistent_snapshot=True)
                for role in ROLES:
                    root.add_key(self._public, role)
                self._write_signed(root, "1.root.json")
                changed = True
            else:
                root_md = self._load(f"{root_version}.root.json", Root)
                self._check_our_key(root_md.signed)
                if root_md.signed.expires - now < policy.root_renew:
                    # Same key, later expiry: the client follows 1 → 2 → … (TUF 5.3.3–5.3.7),
                    # each new root signed by the keys of the one before (ours, unchanged).
                    root_md.signed.version += 1
                    root_md.signed.expires = now + policy.root
                    version = root_md.signed.version
                    self._write_signed(root_md.signed, f"{version}.root.json")
                    changed = True

            timestamp_md = self._load_optional("timestamp.json", Timestamp)
            snapshot_md = (
                self._load(f"{timestamp_md.signed.snapshot_meta.version}.snapshot.json", Snapshot)
                if timestamp_md
                else None
            )
            targets_md = (
                self._load(
                    f"{snapshot_md.signed.meta['targets.json'].version}.targets.json", Targets
                )
                if snapshot_md
                else None
            )
            if targets_md is None and desired is None:
                raise ConfigError(f"the TUF repository in {self.directory} has no targets")

            # targets
            wanted = {
                name: TargetFile.from_data(name, data, ["sha256"])
                for name, data in (desired or {}).items()
            }
            targets_changed = targets_md is None or (
                desired is not None and wanted != targets_md.signed.targets
            )
            if targets_changed or (
                targets_md is not None and targets_md.signed.expires - now < policy.targets_renew
            ):
                version = targets_md.signed.version + 1 if targets_md else 1
                files = wanted if targets_changed else targets_md.signed.targets  # type: ignore[union-attr]
                for data in (desired or {}).values():
                    self._write_blob(data)
                targets = Targets(version=version, expires=now + policy.targets, targets=files)
                targets_bytes = self._write_signed(targets, f"{version}.targets.json")
                targets_meta: MetaFile | None = MetaFile.from_data(
                    version, targets_bytes, ["sha256"]
                )
            else:
                targets_meta = None

            # snapshot
            if targets_meta is not None or (
                snapshot_md is not None and snapshot_md.signed.expires - now < policy.snapshot_renew
            ):
                version = snapshot_md.signed.version + 1 if snapshot_md else 1
                if targets_meta is None:
                    assert snapshot_md is not None  # noqa: S101 — implied by the condition above
                    targets_meta = snapshot_md.signed.meta["targets.json"]
                snapshot = Snapshot(
                    version=version,
                    expires=now + policy.snapshot,
                    meta={"targets.json": targets_meta},
                )
                snapshot_bytes = self._write_signed(snapshot, f"{version}.snapshot.json")
                snapshot_meta: MetaFile | None = MetaFile.from_data(
                    version, snapshot_bytes, ["sha256"]
                )
            else:
                snapshot_meta = None

            # timestamp
            if snapshot_meta is not None or (
                timestamp_md is not None
                and timestamp_md.signed.expires - now < policy.timestamp_renew
            ):
                version = timestamp_md.signed.version + 1 if timestamp_md else 1
                if snapshot_meta is None:
                    assert timestamp_md is not None  # noqa: S101
                    snapshot_meta = timestamp_md.signed.snapshot_meta
                timestamp = Timestamp(
                    version=version, expires=now + policy.timestamp, snapshot_meta=snapshot_meta
                )
                self._write_signed(timestamp, "timestamp.json")
                changed = True
            return changed

    def _check_our_key(self, root: Root) -> None:
        for role in ROLES:
            if self.keyid not in root.roles[role].keyids:
                raise ConfigError(
                    f"the TUF root in {self.metadata_dir} is not signed by keys/{KEY_FILE}; "
                    "the key was replaced, and npm caches seeded from the old root will not "
                    "follow. Remove the repository directory and seed npm caches again."
                )

    def _write_signed(self, signed: _T, name: str) -> bytes:
        metadata = Metadata(signed)
        metadata.sign(self._signer)
        data = metadata.to_bytes(_SERIALIZER)
        _atomic_write(self.metadata_dir / name, data)
        return data

    def _write_blob(self, data: bytes) -> None:
        path = self.blobs_dir / hashlib.sha256(data).hexdigest()
        if not path.exists():
            _atomic_write(path, data)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.metadata_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        self.blobs_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        with (self.directory / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- reading --------------------------------------------------------------------------

    def _latest_root_version(self) -> int:
        if not self.metadata_dir.is_dir():
            return 0
        versions = [
            int(match["version"])
            for entry in self.metadata_dir.iterdir()
            if (match := _METADATA_NAME.fullmatch(entry.name))
            and match["role"] == "root"
            and match["version"]
        ]
        return max(versions, default=0)

    def _load(self, name: str, kind: type[_T]) -> Metadata[_T]:
        loaded = self._load_optional(name, kind)
        if loaded is None:
            raise ConfigError(f"the TUF repository in {self.directory} lacks {name}")
        return loaded

    def _load_optional(self, name: str, kind: type[_T]) -> Metadata[_T] | None:
        try:
            data = (self.metadata_dir / name).read_bytes()
        except FileNotFoundError:
            return None
        try:
            metadata: Metadata[Any] = Metadata.from_bytes(data)
        except (DeserializationError, ValueError) as exc:
            raise ConfigError(f"{self.metadata_dir / name} is damaged: {exc}") from exc
        if not isinstance(metadata.signed, kind):
            raise ConfigError(f"{self.metadata_dir / name} is not {kind.type} metadata")
        return cast("Metadata[_T]", metadata)

    def read(self, path: str, now: datetime | None = None) -> bytes | None:
        """The bytes a TUF client gets for ``path`` under the repository's base URL, or None.

        Answers exactly what tuf-js and python-tuf ask for: ``<n>.root.json`` (and
        ``root.json``, the newest), ``timestamp.json`` (re-signed first when close to expiry),
        ``<v>.snapshot.json``/``<v>.targets.json`` (and unversioned, the current ones), and
        ``targets/<dir>/<sha256>.<base>`` or ``targets/<name>`` for the current targets. No
        request path ever becomes a file path: names are matched, then looked up.
        """
        if path == "timestamp.json":
            self.maintain(now)
            return self._read_metadata("timestamp.json")
        if path.startswith("targets/"):
            return self._read_target(path.removeprefix("targets/"))
        match = _METADATA_NAME.fullmatch(path)
        if match is None:
            return None
        role, version = match["role"], match["version"]
        if version is not None:
            return self._read_metadata(f"{version}.{role}.json")
        return self._read_metadata(self._current_name(role))

    def _read_metadata(self, name: str) -> bytes | None:
        try:
            return (self.metadata_dir / name).read_bytes()
        except FileNotFoundError:
            return None

    def _current_name(self, role: str) -> str:
        if role == "root":
            return f"{self._latest_root_version()}.root.json"
        timestamp = self._load_optional("timestamp.json", Timestamp)
        if timestamp is None:
            return "missing"
        snapshot_version = timestamp.signed.snapshot_meta.version
        if role == "snapshot":
            return f"{snapshot_version}.snapshot.json"
        snapshot = self._load(f"{snapshot_version}.snapshot.json", Snapshot)
        return f"{snapshot.signed.meta['targets.json'].version}.targets.json"

    def current_targets(self) -> dict[str, TargetFile]:
        """The target files the current targets metadata lists."""
        targets = self._load_optional(self._current_name("targets"), Targets)
        return dict(targets.signed.targets) if targets else {}

    def target_bytes(self, name: str) -> bytes | None:
        """The content of current target ``name``."""
        info = self.current_targets().get(name)
        if info is None:
            return None
        try:
            data = (self.blobs_dir / info.hashes["sha256"]).read_bytes()
        except (FileNotFoundError, KeyError):
            return None
        info.verify_length_and_hashes(data)
        return data

    def _read_target(self, path: str) -> bytes | None:
        directory, _, base = path.rpartition("/")
        match = _HASH_PREFIX.fullmatch(base)
        if match is not None:
            name = f"{directory}/{match['base']}" if directory else match["base"]
            info = self.current_targets().get(name)
            if info is None or info.hashes.get("sha256") != match["hash"]:
                return None
            return self.target_bytes(name)
        return self.target_bytes(path)

    def root_bytes(self, version: int = 1) -> bytes:
        data = self._read_metadata(f"{version}.root.json")
        if data is None:
            raise ConfigError(f"the TUF repository in {self.directory} has no root v{version}")
        return data

    def expires(self) -> dict[str, datetime]:
        """Each role's current expiry (for status output and tests)."""
        result: dict[str, datetime] = {}
        for role, kind in (
            ("root", Root),
            ("timestamp", Timestamp),
            ("snapshot", Snapshot),
            ("targets", Targets),
        ):
            name = "timestamp.json" if role == "timestamp" else self._current_name(role)
            md: Metadata[Any] | None = self._load_optional(name, kind)
            if md is not None:
                result[role] = md.signed.expires
        return result


def _check_target_name(name: str) -> None:
    # Target names become URL paths and cache file names: no traversal, no empty segments.
    segments = name.split("/")
    if not name or any(s in ("", ".", "..") for s in segments) or "\\" in name or "\0" in name:
        raise ValueError(f"invalid TUF target name: {name!r}")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # public metadata; mkstemp makes 0600
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def instance_targets(
    material: InstanceMaterial,
    origin: str,
    keys: RegistryKeys,
    *,
    uplink_keys: Sequence[Mapping[str, Any]] = (),
    uplink_roots: Sequence[Mapping[str, Any]] = (),
) -> dict[str, bytes]:
    """The instance's two targets: its trusted root, and its registry keys under the name npm
    looks up for ``<origin>/`` (npm-registry.md §3.3: npm maps ``keyId``, ``rawBytes`` and
    ``validFor.end``; ``keyUsage`` is ignored). Every key is listed for both usages, as
    npmjs.org's ``registry.npmjs.org/keys.json`` does: the registry key also signs publish
    attestations. Serialized deterministically, so unchanged inputs give unchanged hashes.

    A mirror (assay.mirror) adds its uplinks' keys (``/-/npm/v1/keys`` entries) and trusted
    roots, which sign and attest the upstream versions it serves."""
    since = material.info.created_at
    entries = []
    for key in keys.all:
        entry = key.tuf_json(since)
        for usage in ("npm:signatures", "npm:attestations"):
            entries.append({**entry, "keyUsage": usage})
    for npm_key in uplink_keys:
        valid: dict[str, str] = {"start": "1999-01-01T00:00:00.000Z"}
        if npm_key.get("expires"):
            valid["end"] = str(npm_key["expires"])
        public = {"rawBytes": npm_key["key"], "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                  "validFor": valid}  # fmt: skip
        for usage in ("npm:signatures", "npm:attestations"):
            entries.append({"keyId": npm_key["keyid"], "keyUsage": usage, "publicKey": public})
    return {
        TRUSTED_ROOT_TARGET: _json_bytes(
            with_uplinks(trusted_root(material, origin), uplink_roots)
        ),
        keys_target_name(f"{origin}/"): _json_bytes({"keys": entries}),
    }


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode() + b"\n"


__all__ = [
    "TRUSTED_ROOT_TARGET",
    "ExpiryPolicy",
    "TufRepository",
    "instance_targets",
    "keys_target_name",
    "load_or_create_key",
]
