"""Blob storage: immutable byte strings under string keys, on a filesystem or in S3.

The contract every implementation keeps (the shared suite in
``tests/integration/test_registry_store_contract.py`` runs it against each):

* Keys are relative, slash-separated paths of ``[a-z0-9._-]`` segments (no ``..``, no empty
  segment, no leading slash); anything else is refused with :class:`BlobKeyError` before any
  I/O, so a key can never name something outside the store.
* :meth:`BlobStore.put` is atomic: a reader sees either nothing or all the bytes, never a
  prefix. When ``put`` returns, the bytes are durable (filesystem: written to a temporary file,
  fsynced, renamed into place and the directory fsynced; S3: a completed PutObject, which S3
  acknowledges only once stored). Putting the same key again replaces the object and refreshes
  its modification time; callers use content-addressed keys, so that is the same bytes.
* Concurrent ``put``s of one key are safe: the last rename / PutObject wins and each is whole.
* Blobs are not made *visible* by this layer: the registry writes a blob first and then
  commits the database row that references it (storage/registry_store.py). A blob without a
  row is an orphan, never served, and removed by a sweep that only touches blobs older than a
  grace period (``modified_before``), so a publish in flight never loses its blob.
* :meth:`BlobStore.delete_unless` is the sweep's delete: it withdraws the blob first and then
  asks whether to keep it, so a put that lands while the sweep decides is never lost (see the
  method; on S3 a window of one HEAD-to-DELETE round trip remains, documented there).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from assay.errors import AssayError, ConfigError

_SEGMENT = re.compile(r"[a-z0-9][a-z0-9._-]*")
CHUNK_BYTES = 256 * 1024
"""The pieces :meth:`BlobStore.chunks` yields."""


class BlobKeyError(AssayError):
    """A key that does not name a blob inside the store."""


class BlobStoreError(AssayError):
    """The backing store failed (I/O error, S3 error)."""


def check_key(key: str) -> str:
    """Return `key` if it is a valid blob key, else raise :class:`BlobKeyError`."""
    segments = key.split("/")
    if len(key) > 1024 or not all(_SEGMENT.fullmatch(s) and ".." not in s for s in segments):
        raise BlobKeyError(f"not a valid blob key: {key!r}", key=key)
    return key


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    modified: float
    """Seconds since the epoch of the last put."""


class BlobStore(Protocol):
    """Immutable blobs by key; see the module docstring for durability and concurrency."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, atomically and durably."""
        ...

    def get(self, key: str) -> bytes | None:
        """The bytes under `key`, or None if there is no such blob."""
        ...

    def chunks(self, key: str) -> BlobPieces | None:
        """The bytes under `key` in pieces of at most :data:`CHUNK_BYTES`, read as they are
        consumed (a large blob is never held whole in memory), or None if there is no such
        blob: that is known before the first piece. Closing the iterator releases the file or
        the connection."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob under `key`; removing a missing blob is not an error."""
        ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob whose key starts with `prefix` (in no particular order)."""
        ...

    def delete_unless(self, key: str, keep: Callable[[BlobInfo], bool]) -> bool:
        """Delete the blob under `key` unless ``keep(info)`` says otherwise; True if deleted.

        `keep` is asked about the blob as it is *now* (its current modification time), and a
        put of the same key racing with this call is never lost. False if there is no blob.
        """
        ...

    def close(self) -> None:
        """Release connections; the store is not used afterwards."""
        ...


class FileBlobStore:
    """Blobs as files under one directory, each written by temp file + fsync + rename."""

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*check_key(key).split("/"))

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            _fsync_dir(path.parent)
        except OSError as exc:
            raise BlobStoreError(f"cannot write blob {key}: {exc}", key=key) from exc

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BlobStoreError(f"cannot read blob {key}: {exc}", key=key) from exc

    def chunks(self, key: str) -> BlobPieces | None:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BlobStoreError(f"cannot read blob {key}: {exc}", key=key) from exc
        return BlobPieces(handle.read, handle.close)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise BlobStoreError(f"cannot delete blob {key}: {exc}", key=key) from exc

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        for dirpath, _dirs, files in os.walk(self._root):
            for filename in files:
                if filename.startswith(".tmp-"):
                    continue
                path = Path(dirpath) / filename
                key = path.relative_to(self._root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # deleted while listing
                    continue
                yield BlobInfo(key, stat.st_size, stat.st_mtime)

    def delete_unless(self, key: str, keep: Callable[[BlobInfo], bool]) -> bool:
        # Withdraw the file by an atomic rename first, then decide. A put that ran before the
        # rename shows in the withdrawn file's mtime (keep says yes: it is linked back); a put
        # after it creates a new file at `path`, which this never touches. The name starts
        # with ".tmp-" so `list` skips it.
        path = self._path(key)
        held = path.with_name(f".tmp-gc-{uuid.uuid4().hex}")
        try:
            os.rename(path, held)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BlobStoreError(f"cannot withdraw blob {key}: {exc}", key=key) from exc
        try:
            stat = held.stat()
            if keep(BlobInfo(key, stat.st_size, stat.st_mtime)):
                # Back without overwriting: if a put recreated `path` meanwhile, its bytes are
                # the same (keys are content-addressed) and its mtime the fresher one.
                with contextlib.suppress(FileExistsError):
                    os.link(held, path)
                held.unlink()
                return False
            held.unlink()
        except BaseException:
            with contextlib.suppress(OSError):
                os.link(held, path)
            with contextlib.suppress(OSError):
                held.unlink()
            raise
        _fsync_dir(path.parent)
        return True

    def close(self) -> None:
        return None


class BlobPieces:
    """The pieces of one blob, read as they are asked for (:meth:`BlobStore.chunks`). The file
    or connection is released at the end, by :meth:`close` (also before the first piece: a
    HEAD or a 304 reads nothing), or when the object is collected (a client that went away)."""

    def __init__(self, read: Callable[[int], bytes], close: Callable[[], None]) -> None:
        self._read: Callable[[int], bytes] | None = read
        self._close = close

    def __iter__(self) -> BlobPieces:
        return self

    def __next__(self) -> bytes:
        piece = self._read(CHUNK_BYTES) if self._read is not None else b""
        if not piece:
            self.close()
            raise StopIteration
        return piece

    def close(self) -> None:
        if self._read is not None:
            self._read = None
            self._close()

    def __del__(self) -> None:
        self.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3BlobStore:
    """Blobs as objects in one S3 bucket (path-style addressing, so any S3 server works)."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
    ) -> None:
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=64,
            ),
        )

    def _key(self, key: str) -> str:
        return self._prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        name = self._key(key)  # refused before any I/O
        try:
            self._client.put_object(Bucket=self._bucket, Key=name, Body=data)
        except Exception as exc:  # botocore raises many unrelated types
            raise BlobStoreError(f"cannot write blob {key}: {exc}", key=key) from exc

    def _body(self, key: str) -> Any | None:
        """The object's body (botocore's StreamingBody, not yet read), or None if it is absent."""
        name = self._key(key)
        try:
            return self._client.get_object(Bucket=self._bucket, Key=name)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise BlobStoreError(f"cannot read blob {key}: {exc}", key=key) from exc
        except Exception as exc:
            raise BlobStoreError(f"cannot read blob {key}: {exc}", key=key) from exc

    def get(self, key: str) -> bytes | None:
        body = self._body(key)
        if body is None:
            return None
        try:
            return bytes(body.read())
        except Exception as exc:
            raise BlobStoreError(f"cannot read blob {key}: {exc}", key=key) from exc
        finally:
            body.close()

    def chunks(self, key: str) -> BlobPieces | None:
        body = self._body(key)
        return None if body is None else BlobPieces(body.read, body.close)

    def delete(self, key: str) -> None:
        name = self._key(key)
        try:
            self._client.delete_object(Bucket=self._bucket, Key=name)
        except Exception as exc:
            raise BlobStoreError(f"cannot delete blob {key}: {exc}", key=key) from exc

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self._bucket, Prefix=self._prefix + prefix):
                for item in page.get("Contents", []):
                    key = str(item["Key"])[len(self._prefix) :]
                    yield BlobInfo(key, int(item["Size"]), item["LastModified"].timestamp())
        except Exception as exc:
            raise BlobStoreError(f"cannot list blobs: {exc}") from exc

    def delete_unless(self, key: str, keep: Callable[[BlobInfo], bool]) -> bool:
        # S3 has no atomic rename and no delete conditional on LastModified, so this is a HEAD,
        # the decision, then a DELETE: a put of this very key between the HEAD and the DELETE
        # (one round trip) would be lost. The sweep only reaches here for blobs older than its
        # grace period that no row names, i.e. a retried publish of identical bytes would have
        # to land inside that round trip; `assay check` reports the version if it ever happens.
        name = self._key(key)
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise BlobStoreError(f"cannot read blob {key}: {exc}", key=key) from exc
        except Exception as exc:
            raise BlobStoreError(f"cannot read blob {key}: {exc}", key=key) from exc
        info = BlobInfo(key, int(head["ContentLength"]), head["LastModified"].timestamp())
        if keep(info):
            return False
        self.delete(key)
        return True

    def close(self) -> None:
        self._client.close()


def open_blob_store(
    kind: str,
    *,
    root: Path | None = None,
    bucket: str | None = None,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    prefix: str = "",
) -> BlobStore:
    """The store of `kind` (``file`` or ``s3``) — the one place a backend is chosen."""
    if kind == "file":
        if root is None:
            raise ConfigError("blob_store=file needs a directory")
        return FileBlobStore(root)
    if kind == "s3":
        if not bucket:
            raise ConfigError("blob_store=s3 needs ASSAY_S3_BUCKET")
        return S3BlobStore(
            bucket,
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            prefix=prefix,
        )
    raise ConfigError(f"unknown blob store {kind!r}; use 'file' or 's3'")


def older_than(seconds: float) -> float:
    """The modification-time cut-off for a sweep with a grace period of `seconds`."""
    return time.time() - seconds
