"""Job registrations: one contract for every store; only token digests on disk; the secret file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from assay.errors import ConfigError
from assay.oidc.claims import CIJob
from assay.oidc.jobs import (
    FileJobStore,
    JobRecord,
    JobStore,
    MemoryJobStore,
    ensure_registration_secret,
    find_job,
    read_registration_secret,
    register_job,
    token_digest,
)
from assay.oidc.validation import TokenError
from tests.unit.oidc.tokens import T0

StoreFactory = Callable[[Path], JobStore]


@pytest.fixture(params=["memory", "file"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    if request.param == "memory":
        return lambda _path: MemoryJobStore()
    return lambda path: FileJobStore(path / "jobs")


# -- the contract every JobStore keeps ----------------------------------------------------------


def test_register_and_find(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    job = CIJob.github("acme/widget")
    request_token, record = register_job(store, job, T0)
    assert record.token_sha256 == hashlib.sha256(request_token.encode()).hexdigest()
    assert record.expires_at == T0 + timedelta(hours=6)
    assert find_job(store, request_token, T0 + timedelta(hours=5)) == job
    assert store.get(record.token_sha256) == record


def test_unknown_and_expired_tokens(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    request_token, _ = register_job(store, CIJob.github(), T0, timedelta(minutes=1))
    for unknown in ("", "x", request_token[:-1], "../../etc/passwd", "\udcff"):
        with pytest.raises(TokenError, match="unknown CI request token"):
            find_job(store, unknown, T0)
    with pytest.raises(TokenError, match="expired"):
        find_job(store, request_token, T0 + timedelta(minutes=1))


def test_delete_and_purge(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    short, short_record = register_job(store, CIJob.github(), T0, timedelta(minutes=1))
    long, long_record = register_job(store, CIJob.gitlab(), T0, timedelta(hours=1))
    assert store.purge(T0) == 0
    assert store.purge(T0 + timedelta(minutes=2)) == 1
    assert store.get(short_record.token_sha256) is None
    assert store.get(long_record.token_sha256) == long_record
    store.delete(long_record.token_sha256)
    store.delete(long_record.token_sha256)  # twice is fine
    assert store.get(long_record.token_sha256) is None
    assert short != long


def test_registering_purges_expired_jobs(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store(tmp_path)
    _, old = register_job(store, CIJob.github(), T0, timedelta(minutes=1))
    register_job(store, CIJob.github(), T0 + timedelta(hours=1))
    assert store.get(old.token_sha256) is None


# -- the file store ---------------------------------------------------------------------------


def test_file_store_keeps_only_the_digest_in_private_files(tmp_path: Path) -> None:
    store = FileJobStore(tmp_path / "jobs")
    request_token, record = register_job(store, CIJob.github("acme/widget"), T0)
    (path,) = (tmp_path / "jobs").iterdir()
    assert path.name == f"{token_digest(request_token)}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "jobs").stat().st_mode) == 0o700
    text = path.read_text()
    assert request_token not in text
    assert '"repository": "acme/widget"' in text
    # Another process (another store object on the same directory) finds the job.
    assert find_job(FileJobStore(tmp_path / "jobs"), request_token, T0) == record.job


def test_file_store_fails_closed_on_damaged_records(tmp_path: Path) -> None:
    store = FileJobStore(tmp_path / "jobs")
    request_token, record = register_job(store, CIJob.github(), T0)
    path = tmp_path / "jobs" / f"{record.token_sha256}.json"
    for damage in (b"", b"{", b"[]", b'{"token_sha256": "00"}'):
        path.write_bytes(damage)
        with pytest.raises(TokenError, match="unknown CI request token"):
            find_job(store, request_token, T0)
    assert store.purge(T0 + timedelta(days=1)) == 0  # unreadable files are left for a human


def test_file_store_without_a_directory(tmp_path: Path) -> None:
    store = FileJobStore(tmp_path / "missing")
    assert store.get("0" * 64) is None
    assert store.purge(T0) == 0


def test_record_json_round_trip() -> None:
    record = JobRecord("a" * 64, CIJob.gitlab(), T0, T0 + timedelta(hours=6))
    assert JobRecord.from_json(record.to_json()) == record


# -- the registration secret ------------------------------------------------------------------


def test_registration_secret_is_created_once_and_private(tmp_path: Path) -> None:
    oidc = tmp_path / "oidc"
    secret = ensure_registration_secret(oidc)
    assert len(secret) >= 40
    path = oidc / "registration.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_registration_secret(oidc) == secret
    assert read_registration_secret(oidc) == secret
    assert [p.name for p in oidc.iterdir()] == ["registration.secret"]  # no temporary left


def test_registration_secret_refusals(tmp_path: Path) -> None:
    oidc = tmp_path / "oidc"
    with pytest.raises(ConfigError, match="assay up"):
        read_registration_secret(oidc)
    ensure_registration_secret(oidc)
    path = oidc / "registration.secret"
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_registration_secret(oidc)
    os.chmod(path, 0o600)
    path.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        read_registration_secret(oidc)
