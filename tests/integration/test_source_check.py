"""The source check against a real git smart-HTTP server on loopback, in all three modes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assay.errors import ConfigError, FormatError
from assay.registry.source_check import (
    SourceChecker,
    SourceCheckError,
    SourceCheckMode,
    SourceCheckResult,
    SourceStatus,
    check_commit,
)
from tests.gitserver import GitServer, Repository, free_port_url, git_server, silent_server

MADE_UP = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitServer]:
    with git_server(tmp_path) as running:
        yield running


@pytest.fixture
def repository(server: GitServer) -> Repository:
    return server.create_repository("acme/widget", commits=3)


def test_a_branch_tip_exists(repository: Repository) -> None:
    before = datetime.now(UTC)
    found = check_commit(repository.url, repository.head)
    assert found.status is SourceStatus.EXISTS
    assert found.exists
    assert not found.retryable
    assert before <= found.checked_at <= datetime.now(UTC)
    assert (found.repository, found.commit) == (repository.url, repository.head)


@pytest.mark.parametrize("url_suffix", ["", ".git"])
def test_an_older_commit_is_fetched_by_its_sha(repository: Repository, url_suffix: str) -> None:
    found = check_commit(repository.url + url_suffix, repository.commits[0].upper())
    assert found.status is SourceStatus.EXISTS, found.detail
    assert found.detail == "the commit was fetched by its SHA"
    assert found.commit == repository.commits[0]


def test_a_made_up_commit_is_missing(repository: Repository) -> None:
    found = check_commit(repository.url, MADE_UP)
    assert found.status is SourceStatus.MISSING
    assert not found.retryable
    assert "not our ref" in found.detail


def test_a_repository_that_is_not_there_is_missing(
    server: GitServer, repository: Repository
) -> None:
    found = check_commit(f"{server.url}/acme/deleted", repository.head)
    assert found.status is SourceStatus.MISSING
    assert "not found" in found.detail


def test_a_forge_that_is_down_is_unreachable_and_retryable() -> None:
    found = check_commit(free_port_url() + "/acme/widget", MADE_UP, timeout=5)
    assert found.status is SourceStatus.UNREACHABLE
    assert found.retryable
    assert "connect" in found.detail.lower()


def test_a_failing_forge_is_unreachable(server: GitServer, repository: Repository) -> None:
    server.outage = 503
    found = check_commit(repository.url, repository.head)
    assert found.status is SourceStatus.UNREACHABLE
    assert "503" in found.detail


def test_a_forge_that_never_answers_times_out() -> None:
    with silent_server() as url:
        found = check_commit(url + "/acme/widget", MADE_UP, timeout=1.5)
    assert found.status is SourceStatus.UNREACHABLE
    # Our timeout or git's own low-speed limit (set from it), whichever fires first.
    assert "timed out after 1.5 s" in found.detail or "too slow" in found.detail


# --- modes ------------------------------------------------------------------------------------


def test_off_checks_nothing(server: GitServer, repository: Repository) -> None:
    asked = len(server.requests)
    assert SourceChecker(SourceCheckMode.OFF).check(repository.url, MADE_UP) is None
    assert len(server.requests) == asked


@pytest.mark.parametrize("mode", [SourceCheckMode.WARN, SourceCheckMode.REQUIRE])
def test_an_existing_commit_passes(mode: SourceCheckMode, repository: Repository) -> None:
    found = SourceChecker(mode).check(repository.url, repository.commits[1])
    assert found is not None
    assert found.exists


def test_warn_flags_a_missing_commit(repository: Repository) -> None:
    found = SourceChecker(SourceCheckMode.WARN).check(repository.url, MADE_UP)
    assert found is not None
    assert found.status is SourceStatus.MISSING


def test_warn_flags_an_unreachable_forge() -> None:
    found = SourceChecker(SourceCheckMode.WARN, timeout=5).check(free_port_url(), MADE_UP)
    assert found is not None
    assert found.status is SourceStatus.UNREACHABLE


def test_require_refuses_a_missing_commit(repository: Repository) -> None:
    with pytest.raises(SourceCheckError) as caught:
        SourceChecker(SourceCheckMode.REQUIRE).check(repository.url, MADE_UP)
    error = caught.value
    assert not error.retryable
    assert error.details["status"] == "missing"
    assert error.message.startswith(
        f"the source commit {MADE_UP} cannot be found in {repository.url}"
    )


def test_require_refuses_an_unreachable_forge_as_retryable() -> None:
    url = free_port_url() + "/acme/widget"
    with pytest.raises(SourceCheckError) as caught:
        SourceChecker(SourceCheckMode.REQUIRE, timeout=5).check(url, MADE_UP)
    assert caught.value.retryable
    assert caught.value.details["status"] == "unreachable"
    assert "could not be reached" in caught.value.message
    assert caught.value.message.endswith("try again later")


# --- input and storage ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "commit"),
    [
        ("file:///srv/git/widget.git", MADE_UP),
        ("ext::sh -c true", MADE_UP),
        ("ssh://git@github.com/acme/widget", MADE_UP),
        ("https://user:token@github.com/acme/widget", MADE_UP),
        ("https://github.com/acme/widget", "main"),
        ("https://github.com/acme/widget", "abc123"),
    ],
)
def test_what_cannot_be_checked_is_a_config_error(url: str, commit: str) -> None:
    with pytest.raises(ConfigError):
        check_commit(url, commit)


def test_a_missing_git_is_never_a_pass(repository: Repository) -> None:
    found = check_commit(repository.url, repository.head, git="/nonexistent/git")
    assert found.status is SourceStatus.UNREACHABLE
    assert "cannot run" in found.detail


def test_results_are_stored_as_json(repository: Repository) -> None:
    found = check_commit(repository.url, repository.head)
    assert SourceCheckResult.from_json(found.to_json()) == found
    naive = {**found.to_json(), "checked_at": "2026-01-01T00:00:00"}
    bad: object
    for bad in ({**found.to_json(), "status": "maybe"}, naive, {"commit": MADE_UP}, []):
        with pytest.raises(FormatError):
            SourceCheckResult.from_json(bad)
