"""`assay backup DEST` and `assay restore SRC`: an online, consistent copy of an instance.

What a backup holds (``DEST/``)::

    manifest.json        written last: what was backed up, every file's size, sha256 and mode
    database.sqlite3     a consistent snapshot of the database (storage/snapshot.py) — the
                         registry, accounts, trusted publishing and the whole transparency log
                         (entries, subtree hashes, every checkpoint; tiles are computed from them)
    blobs/<key>          every blob a live row of *that snapshot* names
    files/…              the data directory's own files: instance.json, keys/ (mode 0600, in a
                         0700 directory, as in the instance), ca/, oidc/, admin.token, …

Consistency while the instance serves writes. The database snapshot is one committed state.
Blobs are copied *after* it, and every blob a snapshotted live row names is still there then: a
publish writes its blob before committing its row, and nothing deletes a blob a live row names
— an unpublish (or a rejected staged version) first commits the row change and only then
deletes the blob, and `assay gc` never touches a referenced blob. The one way a blob can vanish
under the copy is that very sequence: the snapshot caught a row live, then its unpublish
committed and deleted the blob. So when a named blob is missing the snapshot is simply taken
again — the newer one sees the unpublish — and only the blobs it names are kept. Each retake is
later than the previous, so this ends as soon as no unpublish lands inside one copy pass.

A backup is self-checking: `assay restore` verifies every file against the manifest before it
writes anything, and `assay check` then verifies the restored instance.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from assay import __version__
from assay.errors import AssayError
from assay.instance.layout import DataDir
from assay.operations.site import Site, open_blobs
from assay.settings import Settings
from assay.storage.blobs import FileBlobStore, check_key
from assay.storage.database import database_url
from assay.storage.inventory import Inventory
from assay.storage.snapshot import (
    database_kind,
    restore_database,
    snapshot_database,
    sqlite_database_file,
)

__all__ = ["FORMAT", "BackupError", "backup", "restore"]

FORMAT = "assay-backup/1"
MANIFEST = "manifest.json"
DATABASE = "database.sqlite3"
_RETAKES = 10

Progress = Callable[[str], None]


class BackupError(AssayError):
    """A backup could not be made, or a backup is not whole."""


def _sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _empty_or_absent(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def _sqlite_file(settings: Settings) -> Path | None:
    return sqlite_database_file(database_url(settings.database_url, settings.data_dir))


def _skipped(settings: Settings) -> set[Path]:
    """Data-directory paths that are not copied as files: the live database (snapshotted
    instead) and the blob directory (copied blob by blob)."""
    skip = {settings.data_dir / "blobs"} if settings.blob_store == "file" else set()
    db = _sqlite_file(settings)
    if db is not None:
        skip |= {db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")}
        skip.add(db.with_name(f".{db.name}.restoring"))
    return {path.resolve() for path in skip}


def _copy_private(source: Path, target: Path, mode: int) -> None:
    """Copy a file so that it is never readable beyond `mode`, not even for an instant."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        with source.open("rb") as src, os.fdopen(fd, "wb", closefd=False) as out:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
    finally:
        os.close(fd)


def _copy_instance_files(settings: Settings, dest: Path) -> None:
    root = settings.data_dir
    skip = _skipped(settings)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if (here / d).resolve() not in skip]
        relative = here.relative_to(root)
        target_dir = dest / relative
        target_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(target_dir, stat.S_IMODE(here.stat().st_mode))
        for filename in filenames:
            path = here / filename
            if path.resolve() in skip or not path.is_file():
                continue
            _copy_private(path, target_dir / filename, stat.S_IMODE(path.stat().st_mode))


def backup(site: Site, dest: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Back up the instance of `site` into `dest` (absent or empty); return the manifest."""
    say = progress or (lambda _message: None)
    if not _empty_or_absent(dest):
        raise BackupError(f"{dest} is not empty; back up into a new directory", path=str(dest))
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    started = time.time()

    say("copying the data directory's files (keys, certificates, instance.json)")
    _copy_instance_files(site.settings, dest / "files")

    blob_store = FileBlobStore(dest / "blobs")
    copied: dict[str, int] = {}
    snapshot = dest / DATABASE
    for attempt in range(_RETAKES):
        snapshot.unlink(missing_ok=True)
        say("taking the database snapshot" + (f" (again, {attempt + 1})" if attempt else ""))
        snapshot_database(site.database_url, snapshot)
        inventory = Inventory.open_snapshot(snapshot)
        try:
            needed = {ref.key for ref in inventory.blob_references()}
            checkpoints = inventory.checkpoints()
        finally:
            inventory.close()
        missing = []
        for key in sorted(needed - copied.keys()):
            data = site.blobs.get(key)
            if data is None:
                missing.append(key)
                continue
            blob_store.put(key, data)
            copied[key] = len(data)
        if not missing:
            break
        say(f"{len(missing)} blob(s) went away under the copy (unpublished); retaking")
    else:
        raise BackupError(
            "blobs named by the database kept disappearing during the backup; is something "
            "deleting referenced blobs?",
            missing=", ".join(missing[:5]),
        )
    for key in sorted(copied.keys() - needed):  # unpublished between two snapshots
        blob_store.delete(key)
        del copied[key]
    say(f"copied {len(copied)} blobs")

    files = []
    for path in sorted(p for p in dest.rglob("*") if p.is_file() and p.name != MANIFEST):
        if path.name.startswith(".tmp-"):
            continue
        size, sha256 = _sha256_file(path)
        files.append(
            {
                "path": path.relative_to(dest).as_posix(),
                "size": size,
                "sha256": sha256,
                "mode": f"{stat.S_IMODE(path.stat().st_mode):04o}",
            }
        )
    latest = checkpoints[-1] if checkpoints else None
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "assayVersion": __version__,
        "createdAt": datetime.fromtimestamp(started, UTC).isoformat(),
        "seconds": round(time.time() - started, 3),
        "source": {
            "dataDir": str(site.settings.data_dir),
            "database": database_kind(site.database_url),
            "blobStore": site.settings.blob_store,
        },
        "database": DATABASE,
        "log": {
            "treeSize": 0 if latest is None else latest.tree_size,
            "rootHash": None if latest is None else latest.root_hash.hex(),
            "checkpoints": len(checkpoints),
        },
        "blobs": {"count": len(copied), "bytes": sum(copied.values())},
        "files": files,
    }
    partial = dest / f".{MANIFEST}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, dest / MANIFEST)  # its presence marks a complete backup
    return manifest


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup in `src`, after checking every file it lists."""
    try:
        manifest: Any = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"{src} holds no {MANIFEST}: not a complete backup") from exc
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src / MANIFEST} is damaged: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{src} is not an {FORMAT} backup")
    for record in manifest.get("files", []):
        relative = _safe_relative(str(record.get("path", "")))
        size, sha256 = _sha256_file(src / relative) if (src / relative).is_file() else (-1, "")
        if size != record.get("size") or sha256 != record.get("sha256"):
            raise BackupError(f"{relative} does not match the manifest", path=str(relative))
    return manifest


def _safe_relative(value: str) -> PurePosixPath:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts:
        raise BackupError(f"the manifest names a path outside the backup: {value!r}")
    return path


def restore(
    settings: Settings, src: Path, *, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    """Restore the backup in `src` into the data directory (and database, blob store) that
    `settings` name. The data directory must be absent or empty unless `force`."""
    say = progress or (lambda _message: None)
    say("verifying the backup against its manifest")
    manifest = read_manifest(src)
    data = settings.data_dir
    if not _empty_or_absent(data) and not force:
        raise BackupError(
            f"{data} is not empty; restore into an empty data directory (or use --force)",
            path=str(data),
        )
    data.mkdir(mode=0o700, parents=True, exist_ok=True)

    # Blobs first, then the rows that name them: the order a publish keeps.
    blobs = open_blobs(settings)
    try:
        count = 0
        for record in manifest["files"]:
            path = _safe_relative(record["path"])
            if path.parts[0] != "blobs":
                continue
            key = check_key("/".join(path.parts[1:]))
            blobs.put(key, (src / path).read_bytes())
            count += 1
        say(f"restored {count} blobs")
    finally:
        blobs.close()

    for record in manifest["files"]:
        path = _safe_relative(record["path"])
        if path.parts[0] != "files":
            continue
        target = data.joinpath(*path.parts[1:])
        _copy_private(src / path, target, int(record["mode"], 8))
    # Directory modes as they were (keys/ is 0700).
    for directory in sorted(p for p in (src / "files").rglob("*") if p.is_dir()):
        target = data / directory.relative_to(src / "files")
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target, stat.S_IMODE(directory.stat().st_mode))
    os.chmod(data, 0o700)
    say("restored the data directory's files")

    url = database_url(settings.database_url, data)
    restore_database(src / DATABASE, url, sqlite_file=_sqlite_file(settings), force=force)
    say("restored the database")
    if not DataDir(data).exists():
        raise BackupError(f"the backup held no instance.json; {data} is not an instance")
    return manifest
