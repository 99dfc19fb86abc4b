"""Shared fixtures: real PostgreSQL and SeaweedFS (S3) servers, and the registry's backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.settings import Settings
from tests.services import Postgres, S3Server, running_postgres, running_seaweedfs

REGISTRY_BACKENDS = ["sqlite-files", "postgres-s3"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the session; each test makes its own database."""
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One SeaweedFS for the session; each test makes its own bucket."""
    with running_seaweedfs() as server:
        yield server


def backend_settings(request: pytest.FixtureRequest, backend: str, data_dir: Path) -> Settings:
    """Registry settings for `backend`: SQLite + files, or PostgreSQL + S3 (fresh db/bucket)."""
    if backend == "sqlite-files":
        return Settings(data_dir=data_dir)
    postgres: Postgres = request.getfixturevalue("postgres")
    s3: S3Server = request.getfixturevalue("s3_server")
    return Settings(
        data_dir=data_dir,
        database_url=postgres.create_database("registry"),
        blob_store="s3",
        s3_bucket=s3.create_bucket("registry"),
        s3_endpoint_url=s3.endpoint,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
    )


@pytest.fixture(params=REGISTRY_BACKENDS)
def registry_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh registry, once per backend."""
    return backend_settings(request, str(request.param), tmp_path / "data")
