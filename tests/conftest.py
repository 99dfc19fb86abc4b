"""Shared fixtures and the suite's markers.

Markers, set here by folder so that no test module has to remember them (registered in
pyproject.toml; `--strict-markers` refuses any other):

* ``unit``: tests/unit, pure and in process: they never start a process (enforced below);
* ``integration``: tests/integration, one component against real servers (PostgreSQL, SeaweedFS,
  the app under uvicorn) or a reference implementation;
* ``e2e``: tests/e2e, whole flows with the real npm client, `assay up`, a browser;
* ``interop``: tests/interop, the reference Sigstore clients against `assay up`;
* ``npm``: needs the npm client on PATH (set by the modules that run it);
* ``slow``: e2e, interop and every npm test: what `pytest -m "not slow"` leaves out for a quick
  loop.

Fixtures: real PostgreSQL and SeaweedFS (S3) servers and the registry's backends, and one
`assay up` per session (per xdist worker) for the tests that do not need an instance of their
own.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from assay.settings import Settings
from tests.assay_up import Instance, running_instance
from tests.services import Postgres, S3Server, running_postgres, running_seaweedfs

REGISTRY_BACKENDS = ["sqlite-files", "postgres-s3"]

TESTS = Path(__file__).parent
FOLDER_MARKERS = ("unit", "integration", "e2e", "interop")
SLOW_FOLDERS = ("e2e", "interop")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            folder = item.path.relative_to(TESTS).parts[0]
        except ValueError:  # a test outside tests/ (given on the command line)
            continue
        if folder in FOLDER_MARKERS:
            item.add_marker(folder)
        if folder in SLOW_FOLDERS or item.get_closest_marker("npm") is not None:
            item.add_marker("slow")


class ProcessInUnitTest(AssertionError):
    """A unit test tried to start a process: it belongs in tests/integration or tests/e2e."""


def _refuse_process(*args: object, **kwargs: object) -> None:
    raise ProcessInUnitTest(
        "unit tests never start a process; move the test to tests/integration or tests/e2e"
    )


@contextlib.contextmanager
def _no_processes(item: pytest.Item) -> Iterator[None]:
    """While a unit test sets up and runs, starting a process raises: subprocess.Popen is what
    subprocess.run, asyncio's subprocesses and the libraries here start processes with.
    Teardown is left alone: the last test's teardown is where session fixtures stop theirs."""
    if item.get_closest_marker("unit") is None:
        yield
        return
    saved = subprocess.Popen._execute_child  # type: ignore[attr-defined]
    subprocess.Popen._execute_child = _refuse_process  # type: ignore[attr-defined]
    try:
        yield
    finally:
        subprocess.Popen._execute_child = saved  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _no_processes(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _no_processes(item):
        return (yield)


@pytest.fixture(autouse=True)
def _trust_pins(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test pins registries' trust in a directory of its own: the commands it runs (in
    process or as children, which inherit the environment) never read or write the user's
    ~/.config pins, and two instances that happen to reuse a port never look like one whose
    trusted root changed."""
    monkeypatch.setenv("ASSAY_TRUST_PIN_DIR", str(tmp_path_factory.mktemp("pins")))


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


@pytest.fixture(scope="session")
def assay_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """One `assay up` for the session (for each xdist worker), shared by every test that only
    adds to it: packages under their own names, CI jobs, signatures. A test that kills or
    restarts the instance, tampers with its storage, or asserts on everything it holds (the
    web pages' listings) starts its own with :func:`tests.assay_up.running_instance`."""
    with running_instance(tmp_path_factory.mktemp("assay-up")) as instance:
        yield instance


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
