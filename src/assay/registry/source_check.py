"""Does the source commit a certificate names exist in its repository? Asked over git smart HTTP.

npmjs.org checks "the linked source commit and repository" whenever a provenance page is viewed,
and says so when either "cannot be found" — a deleted or private repository, a commit that was
never pushed (GitHub changelog 2023-07-11, docs.npmjs.com/viewing-package-provenance). Assay
checks at publish time, per instance (``ASSAY_SOURCE_CHECK``, issue 10 §4):

``off``
    no check; nothing is recorded.
``warn``
    check and record the result with the version; a missing or unreachable source is shown as
    such, the publish goes on.
``require``
    a version whose commit is missing is refused; one whose forge cannot be reached is refused
    as retryable (the client may publish again later). Never a silent pass.

How: ``git ls-remote <repository>`` (the commit may be a branch or tag tip, then that is
enough), else a by-SHA ``git fetch --depth=1 --filter=tree:0 <repository> <sha>`` into a
throw-away bare repository — one commit object, no trees or blobs where the server supports
filters (GitHub, GitLab and ``git http-backend`` with ``uploadpack.allowFilter``). Protocol v2
servers serve any reachable commit by SHA, as ``actions/checkout`` relies on. This works for
GitHub.com, GitHub Enterprise, GitLab and any git host alike; no API tokens.

What each outcome means (``git`` 2.3x messages, over HTTP):

* the commit is listed or fetched → :attr:`SourceStatus.EXISTS`;
* the server says the repository is not there (HTTP 404) or needs credentials (401/403: how
  GitHub answers for private and deleted repositories), or ``upload-pack: not our ref`` →
  :attr:`SourceStatus.MISSING`;
* anything else — no connection, DNS, TLS, HTTP 5xx or 429, a timeout, an unrecognised
  failure — :attr:`SourceStatus.UNREACHABLE`, which is retryable.

Only ``http``/``https`` URLs are accepted and git may use no other transport
(``GIT_ALLOW_PROTOCOL``): the URL comes from a certificate, and ``ext::``/``file://`` would let it
run commands or read local files. git runs with no user or system configuration, no credential
helper and no terminal prompts.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from assay.errors import AssayError, ConfigError, FormatError

__all__ = [
    "DEFAULT_TIMEOUT",
    "SourceCheckError",
    "SourceCheckMode",
    "SourceCheckResult",
    "SourceChecker",
    "SourceStatus",
    "check_commit",
]

DEFAULT_TIMEOUT: Final = 20.0
"""Seconds for each git command: long enough for a large forge, short enough for a publish."""

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 object names
_MISSING_PATTERNS: Final = (
    re.compile(r"repository '.*' not found", re.IGNORECASE),
    re.compile(r"returned error: (401|403|404)\b"),
    re.compile(r"could not read (Username|Password)", re.IGNORECASE),
    re.compile(r"Authentication failed", re.IGNORECASE),
)
_NOT_OUR_REF = re.compile(r"not our ref|couldn't find remote ref", re.IGNORECASE)


class SourceCheckMode(StrEnum):
    """``ASSAY_SOURCE_CHECK``."""

    OFF = "off"
    WARN = "warn"
    REQUIRE = "require"


class SourceStatus(StrEnum):
    EXISTS = "exists"
    MISSING = "missing"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class SourceCheckResult:
    """One check: which commit of which repository, what was found, when, and how we know."""

    repository: str
    commit: str
    status: SourceStatus
    checked_at: datetime
    detail: str

    @property
    def exists(self) -> bool:
        return self.status is SourceStatus.EXISTS

    @property
    def retryable(self) -> bool:
        """Asking again later may give another answer (the forge could not be reached)."""
        return self.status is SourceStatus.UNREACHABLE

    def to_json(self) -> dict[str, Any]:
        """The record to store with the version."""
        return {
            "repository": self.repository,
            "commit": self.commit,
            "status": self.status.value,
            "checked_at": self.checked_at.isoformat(),
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: object) -> SourceCheckResult:
        if not isinstance(data, Mapping):
            raise FormatError("a source check record must be a JSON object")
        try:
            checked_at = datetime.fromisoformat(str(data["checked_at"]))
            result = cls(
                repository=str(data["repository"]),
                commit=str(data["commit"]),
                status=SourceStatus(data["status"]),
                checked_at=checked_at,
                detail=str(data.get("detail", "")),
            )
        except (KeyError, ValueError) as exc:
            raise FormatError(f"malformed source check record: {exc}") from exc
        if checked_at.tzinfo is None:
            raise FormatError("a source check time must carry its time zone")
        return result


class SourceCheckError(AssayError):
    """``require`` mode refused a version: its source commit is missing or could not be checked.

    ``details``: ``status``, ``repository``, ``commit``, ``retryable`` (map to 503 with
    ``Retry-After`` when true, else 422).
    """

    @property
    def retryable(self) -> bool:
        return bool(self.details.get("retryable"))


def _clock() -> datetime:
    return datetime.now(UTC)


def _validate(repository: str, commit: str) -> None:
    parts = urlsplit(repository)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"source repository {repository!r} is not an http(s) URL", repository=repository
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(
            f"source repository {repository!r} must not carry credentials, a query or a fragment",
            repository=repository,
        )
    if not _COMMIT.fullmatch(commit):
        raise ConfigError(f"source commit {commit!r} is not a full hex object name", commit=commit)


class _Git:
    """Runs git isolated from the machine's configuration, with a timeout per command."""

    def __init__(self, executable: str, timeout: float, home: str) -> None:
        self.executable = executable
        self.timeout = timeout
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_ALLOW_PROTOCOL": "http:https",
            "GIT_PROTOCOL_FROM_USER": "0",
            "LC_ALL": "C",
        }

    def run(self, *args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run git; on timeout kill its whole process group (git-remote-http included)."""
        seconds = max(1, int(self.timeout))
        argv = [
            self.executable,
            "-c",
            "credential.helper=",
            "-c",
            "protocol.version=2",
            "-c",
            "http.lowSpeedLimit=1",
            "-c",
            f"http.lowSpeedTime={seconds}",
            *args,
        ]
        with subprocess.Popen(  # noqa: S603 - fixed argv, no shell; the URL was validated
            argv,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _last_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "git failed without a message"


def _classify_failure(stderr: str) -> SourceStatus:
    if any(pattern.search(stderr) for pattern in _MISSING_PATTERNS):
        return SourceStatus.MISSING
    return SourceStatus.UNREACHABLE


def check_commit(
    repository: str,
    commit: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    git: str = "git",
    clock: Callable[[], datetime] = _clock,
) -> SourceCheckResult:
    """Whether ``commit`` exists in ``repository`` (an https URL as certificates name it).

    Never raises for what the network does: every failure is a result, MISSING or UNREACHABLE,
    with git's own last line as ``detail``. Raises :class:`ConfigError` for a URL or commit
    that cannot be checked at all (not http(s), not a full hex SHA).
    """
    commit = commit.lower()
    _validate(repository, commit)

    def result(status: SourceStatus, detail: str) -> SourceCheckResult:
        return SourceCheckResult(repository, commit, status, clock(), detail)

    with tempfile.TemporaryDirectory(prefix="assay-source-") as scratch:
        runner = _Git(git, timeout, scratch)
        try:
            listed = runner.run("ls-remote", repository)
            if listed.returncode != 0:
                return result(_classify_failure(listed.stderr), _last_line(listed.stderr))
            tips = {line.split("\t", 1)[0].lower() for line in listed.stdout.splitlines()}
            if commit in tips:
                return result(SourceStatus.EXISTS, "the commit is a branch or tag tip")
            bare = os.path.join(scratch, "probe.git")
            made = runner.run("init", "--quiet", "--bare", bare)
            if made.returncode != 0:
                return result(SourceStatus.UNREACHABLE, _last_line(made.stderr))
            fetched = runner.run(
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--depth=1",
                "--filter=tree:0",
                repository,
                commit,
                cwd=bare,
            )
            if fetched.returncode != 0:
                if _NOT_OUR_REF.search(fetched.stderr):
                    return result(SourceStatus.MISSING, _last_line(fetched.stderr))
                return result(_classify_failure(fetched.stderr), _last_line(fetched.stderr))
            kind = runner.run("cat-file", "-t", commit, cwd=bare)
            if kind.returncode == 0 and kind.stdout.strip() == "commit":
                return result(SourceStatus.EXISTS, "the commit was fetched by its SHA")
            return result(SourceStatus.MISSING, f"{commit} is not a commit of the repository")
        except subprocess.TimeoutExpired:
            return result(SourceStatus.UNREACHABLE, f"git timed out after {timeout:g} s")
        except OSError as exc:  # git itself cannot run: never a pass
            return result(SourceStatus.UNREACHABLE, f"cannot run {git}: {exc}")


@dataclass(frozen=True, slots=True)
class SourceChecker:
    """The per-instance policy: a mode and how to ask."""

    mode: SourceCheckMode = SourceCheckMode.OFF
    timeout: float = DEFAULT_TIMEOUT
    git: str = "git"

    def check(self, repository: str, commit: str) -> SourceCheckResult | None:
        """Check per :attr:`mode`: None when off; the result in ``warn`` (flagged when not
        EXISTS); in ``require``, raise :class:`SourceCheckError` unless the commit exists."""
        if self.mode is SourceCheckMode.OFF:
            return None
        found = check_commit(repository, commit, timeout=self.timeout, git=self.git)
        if self.mode is SourceCheckMode.REQUIRE and not found.exists:
            raise _refusal(found)
        return found


def _refusal(found: SourceCheckResult) -> SourceCheckError:
    if found.status is SourceStatus.MISSING:
        message = (
            f"the source commit {found.commit} cannot be found in {found.repository} "
            f"({found.detail})"
        )
    else:
        message = (
            f"the source repository {found.repository} could not be reached to confirm commit "
            f"{found.commit} ({found.detail}); try again later"
        )
    return SourceCheckError(
        message,
        status=found.status.value,
        repository=found.repository,
        commit=found.commit,
        retryable=found.retryable,
        checked_at=found.checked_at.isoformat(),
    )
