"""CI job registrations: which request token stands for which job, until when.

A real CI system gives each job a secret request token (GitHub's
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``) that the job trades, at the issuer's CI token endpoint, for
identity tokens describing itself (sigstore.md §1.2). Our issuer does the same for the jobs it
is told about: :func:`register_job` stores a :class:`~assay.oidc.claims.CIJob` under a fresh
request token and :func:`find_job` looks it up again.

The issuer inside ``assay up`` and the ``assay ci-job`` command are different processes, so
registrations live behind a small :class:`JobStore` protocol: :class:`MemoryJobStore` for one
process, :class:`FileJobStore` under the data directory (``DIR/oidc/jobs/``) for many. Either
way the request token itself is never stored, only its SHA-256: a copy of the data directory
(a backup, a support bundle) must not let anyone mint tokens. Lookups compare the digests with
:func:`hmac.compare_digest`. Registrations expire after :data:`JOB_LIFETIME` — six hours,
GitHub's limit on a job's run time.

Registering a job over HTTP needs the instance's registration secret,
``DIR/oidc/registration.secret`` (mode 0600), created by :func:`ensure_registration_secret`
when the issuer is set up and read by ``assay ci-job`` with :func:`read_registration_secret`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from assay.errors import ConfigError, FormatError
from assay.oidc.claims import CIJob
from assay.oidc.validation import TokenError

JOB_LIFETIME = timedelta(hours=6)
REGISTRATION_SECRET_FILE = "registration.secret"  # noqa: S105 - a file name
JOBS_DIRECTORY = "jobs"

_DIGEST = re.compile(r"[0-9a-f]{64}")


def new_request_token() -> str:
    """A fresh request token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_digest(request_token: str) -> str:
    """The SHA-256 (hex) under which a request token's job is stored."""
    return hashlib.sha256(request_token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One registration: the job, the digest of its request token, and its validity."""

    token_sha256: str
    job: CIJob
    created_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        if not _DIGEST.fullmatch(self.token_sha256):
            raise FormatError("a job record's token digest must be 64 lowercase hex digits")

    def to_json(self) -> dict[str, Any]:
        return {
            "token_sha256": self.token_sha256,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "job": self.job.to_json(),
        }

    @classmethod
    def from_json(cls, data: object) -> JobRecord:
        if not isinstance(data, dict):
            raise FormatError("a job record must be a JSON object")
        try:
            return cls(
                token_sha256=str(data["token_sha256"]),
                job=CIJob.from_json(data["job"]),
                created_at=datetime.fromisoformat(str(data["created_at"])),
                expires_at=datetime.fromisoformat(str(data["expires_at"])),
            )
        except (KeyError, ValueError) as exc:
            raise FormatError(f"not a job record: {exc}") from exc


class JobStore(Protocol):
    """Where job registrations live, keyed by the SHA-256 (hex) of their request token.

    Durability: when :meth:`put` returns, the record survives a crash of the process.
    Concurrency: every method may be called from many threads (and, for stores shared on disk,
    many processes); a reader sees a record entirely or not at all. Records are never updated,
    only written once and deleted.
    """

    def put(self, record: JobRecord) -> None:
        """Store ``record`` under ``record.token_sha256``."""
        ...

    def get(self, token_sha256: str) -> JobRecord | None:
        """The record stored under ``token_sha256``, expired or not; None if there is none."""
        ...

    def delete(self, token_sha256: str) -> None:
        """Forget the record under ``token_sha256`` (nothing happens if there is none)."""
        ...

    def purge(self, now: datetime) -> int:
        """Delete every record expired at ``now``; return how many were deleted."""
        ...


class MemoryJobStore:
    """A :class:`JobStore` in one process's memory (tests, ``assay serve oidc`` alone)."""

    def __init__(self) -> None:
        self._records: dict[str, JobRecord] = {}
        self._lock = threading.Lock()

    def put(self, record: JobRecord) -> None:
        with self._lock:
            self._records[record.token_sha256] = record

    def get(self, token_sha256: str) -> JobRecord | None:
        with self._lock:
            return self._records.get(token_sha256)

    def delete(self, token_sha256: str) -> None:
        with self._lock:
            self._records.pop(token_sha256, None)

    def purge(self, now: datetime) -> int:
        with self._lock:
            expired = [key for key, rec in self._records.items() if rec.expires_at <= now]
            for key in expired:
                del self._records[key]
            return len(expired)


def _write_private(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write ``data`` to ``path`` with mode 0600, atomically: readers see all of it or nothing.

    With ``replace=False`` an existing file wins (returns False) — how two processes that both
    create the registration secret agree on one.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class FileJobStore:
    """A :class:`JobStore` of one JSON file per job, ``<sha256 of request token>.json``, 0600.

    Shared by every process that uses the same data directory; each file is written to a
    temporary name, synced and renamed into place, so readers never see half a record.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, token_sha256: str) -> Path | None:
        # The digest names the file: anything else (path separators, dots) is not a lookup.
        if not _DIGEST.fullmatch(token_sha256):
            return None
        return self.directory / f"{token_sha256}.json"

    def put(self, record: JobRecord) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(record.token_sha256)
        if path is None:  # pragma: no cover - JobRecord checks its digest
            raise FormatError("bad token digest")
        _write_private(path, json.dumps(record.to_json()).encode(), replace=True)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, token_sha256: str) -> JobRecord | None:
        path = self._path(token_sha256)
        if path is None:
            return None
        try:
            return JobRecord.from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, FormatError):
            # A damaged record authorizes nothing; failing closed is a 401, not a crash.
            return None

    def delete(self, token_sha256: str) -> None:
        path = self._path(token_sha256)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def purge(self, now: datetime) -> int:
        deleted = 0
        if not self.directory.is_dir():
            return 0
        for path in self.directory.glob("*.json"):
            record = self.get(path.stem)
            if record is not None and record.expires_at <= now:
                self.delete(path.stem)
                deleted += 1
        return deleted


def register_job(
    store: JobStore, job: CIJob, now: datetime, lifetime: timedelta = JOB_LIFETIME
) -> tuple[str, JobRecord]:
    """Store ``job`` under a fresh request token; return the token (shown once) and the record.

    Expired registrations are purged on the way, so the store does not grow without bound.
    """
    store.purge(now)
    request_token = new_request_token()
    record = JobRecord(token_digest(request_token), job, now, now + lifetime)
    store.put(record)
    return request_token, record


def find_job(store: JobStore, request_token: str, now: datetime) -> CIJob:
    """The job registered under ``request_token``; raise TokenError if unknown or expired."""
    digest = token_digest(request_token)
    record = store.get(digest)
    if record is None or not hmac.compare_digest(record.token_sha256, digest):
        raise TokenError("unknown CI request token", reason="unknown-request-token")
    if record.expires_at <= now:
        raise TokenError(
            "CI request token expired",
            reason="expired-request-token",
            expired_at=record.expires_at.isoformat(),
        )
    return record.job


def ensure_registration_secret(oidc_dir: Path) -> str:
    """The instance's job registration secret, created (0600) in ``oidc_dir`` if missing."""
    oidc_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = oidc_dir / REGISTRATION_SECRET_FILE
    if not path.exists():
        _write_private(path, (secrets.token_urlsafe(32) + "\n").encode(), replace=False)
    return read_registration_secret(oidc_dir)


def read_registration_secret(oidc_dir: Path) -> str:
    """Read the registration secret; refuse one that other users can read (as keys.py does)."""
    path = oidc_dir / REGISTRATION_SECRET_FILE
    try:
        mode = path.stat().st_mode
        secret = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"no job registration secret at {path}; start the instance (`assay up`) first",
            path=str(path),
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the job registration secret {path}", path=str(path)
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} is accessible by other users (mode {stat.S_IMODE(mode):04o});"
            " run `chmod 600` on it",
            path=str(path),
        )
    if not secret:
        raise ConfigError(f"the job registration secret {path} is empty", path=str(path))
    return secret


__all__ = [
    "JOBS_DIRECTORY",
    "JOB_LIFETIME",
    "REGISTRATION_SECRET_FILE",
    "FileJobStore",
    "JobRecord",
    "JobStore",
    "MemoryJobStore",
    "ensure_registration_secret",
    "find_job",
    "new_request_token",
    "read_registration_secret",
    "register_job",
    "token_digest",
]
