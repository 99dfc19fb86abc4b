"""SLSA provenance predicates, read into one summary a person or a policy can use.

Two predicate types occur in npm data:

* SLSA v1 (https://slsa.dev/spec/v1.0/provenance): ``buildDefinition`` (``buildType``,
  ``externalParameters``, ``internalParameters``, ``resolvedDependencies``) and ``runDetails``
  (``builder.id``, ``metadata.invocationId``). npm writes it on GitHub Actions; our generic
  OIDC-CI builder writes it too.
* SLSA v0.2 (https://slsa.dev/spec/v0.2/provenance): ``builder``, ``buildType``,
  ``invocation.configSource``, ``metadata``, ``materials``. npm wrote it on GitHub Actions
  before npm 9.8 and still writes it on GitLab CI.

The raw predicate stays in the :class:`~assay.provenance.statement.Statement`; this module
extracts, for each known ``buildType``, where the build came from and how it ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.errors import StatementError
from assay.provenance.statement import Statement

SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"

# buildTypes written by the npm CLI (npm-registry spec §2).
GITHUB_WORKFLOW_V1 = "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1"
NPM_GHA_V0 = "https://github.com/npm/cli/gha@v0"
NPM_GHA_V1 = "https://github.com/npm/cli/gha@v1"
NPM_GHA_V2 = "https://github.com/npm/cli/gha/v2"
NPM_GITLAB_V0ALPHA1 = "https://github.com/npm/cli/gitlab/v0alpha1"
# builder.id prefix of GitHub's runners; npm appends RUNNER_ENVIRONMENT (github-hosted, …).
GITHUB_RUNNER_BUILDER = "https://github.com/actions/runner"
# Ours, for CI systems npm has no builder for; documented in docs/buildtypes/oidc-ci-v1.md.
ASSAY_OIDC_CI_V1 = "https://assay.dev/buildtypes/oidc-ci/v1"


@dataclass(frozen=True, slots=True)
class BuildSummary:
    """Where a package was built from and how, as far as its provenance says.

    ``source_repository`` is an https URL without ``git+`` or ``.git``; ``source_ref`` the git
    ref (``refs/heads/main``); ``build_file`` the workflow or pipeline file (or GitLab job);
    ``invocation`` a URL or id of the run. Fields the predicate does not carry are ``None``.
    """

    ci: str
    build_type: str
    builder_id: str
    source_repository: str | None
    source_commit: str | None
    source_ref: str | None
    build_file: str | None
    invocation: str | None
    event: str | None = None
    runner_environment: str | None = None


def _get(obj: Any, *path: str) -> Any:
    """Walk nested objects; ``None`` where any step is missing or not an object."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _str(obj: Any, *path: str) -> str | None:
    value = _get(obj, *path)
    return value if isinstance(value, str) else None


def split_git_uri(uri: str) -> tuple[str, str | None]:
    """``git+https://host/repo@refs/heads/main`` → (``https://host/repo``, ``refs/heads/main``).

    The ref follows the last ``@`` after the host (SPDX download-location syntax, which npm
    uses for ``configSource.uri`` and ``resolvedDependencies[].uri``).
    """
    rest = uri.removeprefix("git+")
    scheme, sep, tail = rest.partition("://")
    ref: str | None = None
    if sep and "@" in tail.split("/", 1)[-1]:
        head, _, ref = tail.rpartition("@")
        rest = f"{scheme}://{head}"
    return rest.removesuffix(".git"), ref


def summarize(statement: Statement) -> BuildSummary:
    """Read a SLSA provenance statement; raise StatementError for anything else."""
    predicate = statement.predicate or {}
    if statement.predicate_type == SLSA_V1:
        return _summarize_v1(predicate)
    if statement.predicate_type == SLSA_V02:
        return _summarize_v02(predicate)
    raise StatementError(
        f"not a SLSA provenance predicate: {statement.predicate_type!r}",
        predicate_type=statement.predicate_type,
    )


def _summarize_v1(p: Mapping[str, Any]) -> BuildSummary:
    build_type = _str(p, "buildDefinition", "buildType")
    builder_id = _str(p, "runDetails", "builder", "id")
    if build_type is None or builder_id is None:
        raise StatementError("SLSA v1 predicate needs buildDefinition.buildType and builder.id")
    deps = _get(p, "buildDefinition", "resolvedDependencies")
    first = deps[0] if isinstance(deps, list) and deps else {}
    repository, ref = split_git_uri(_str(first, "uri") or "")
    commit = _str(first, "digest", "gitCommit") or _str(first, "digest", "sha1")
    external = _get(p, "buildDefinition", "externalParameters")
    invocation = _str(p, "runDetails", "metadata", "invocationId")
    if build_type == GITHUB_WORKFLOW_V1:
        runner = builder_id.removeprefix(GITHUB_RUNNER_BUILDER + "/")
        return BuildSummary(
            ci="GitHub Actions",
            build_type=build_type,
            builder_id=builder_id,
            source_repository=_str(external, "workflow", "repository") or repository or None,
            source_commit=commit,
            source_ref=ref or _str(external, "workflow", "ref"),
            build_file=_str(external, "workflow", "path"),
            invocation=invocation,
            event=_str(p, "buildDefinition", "internalParameters", "github", "event_name"),
            runner_environment=runner if runner != builder_id else None,
        )
    if build_type == ASSAY_OIDC_CI_V1:
        return BuildSummary(
            ci=_str(p, "buildDefinition", "internalParameters", "ci", "name") or "CI",
            build_type=build_type,
            builder_id=builder_id,
            source_repository=_str(external, "source", "repository") or repository or None,
            source_commit=commit,
            source_ref=_str(external, "source", "ref") or ref,
            build_file=_str(external, "source", "path"),
            invocation=invocation,
            event=_str(p, "buildDefinition", "internalParameters", "ci", "event"),
        )
    return BuildSummary(
        ci="unknown",
        build_type=build_type,
        builder_id=builder_id,
        source_repository=repository or None,
        source_commit=commit,
        source_ref=ref,
        build_file=None,
        invocation=invocation,
    )


def _summarize_v02(p: Mapping[str, Any]) -> BuildSummary:
    build_type = _str(p, "buildType")
    builder_id = _str(p, "builder", "id")
    if build_type is None or builder_id is None:
        raise StatementError("SLSA v0.2 predicate needs buildType and builder.id")
    repository, ref = split_git_uri(_str(p, "invocation", "configSource", "uri") or "")
    commit = _str(p, "invocation", "configSource", "digest", "sha1")
    entry_point = _str(p, "invocation", "configSource", "entryPoint")
    invocation = _str(p, "metadata", "buildInvocationId")
    env = _get(p, "invocation", "environment")
    if build_type == NPM_GITLAB_V0ALPHA1:
        return BuildSummary(
            ci="GitLab CI",
            build_type=build_type,
            builder_id=builder_id,
            source_repository=repository or None,
            source_commit=commit,
            source_ref=_str(p, "invocation", "parameters", "CI_COMMIT_REF_NAME"),
            build_file=_str(env, "pipeline", "ref"),
            invocation=invocation,
            event=_str(p, "invocation", "parameters", "CI_PIPELINE_SOURCE"),
        )
    github = build_type in (NPM_GHA_V0, NPM_GHA_V1, NPM_GHA_V2) or _str(env, "GITHUB_REPOSITORY")
    build_file = entry_point
    if entry_point and "@" in entry_point and _str(env, "GITHUB_REPOSITORY"):
        # npm <= 9.6 recorded the whole GITHUB_WORKFLOW_REF (`owner/repo/path@ref`).
        build_file = entry_point.split("@", 1)[0].removeprefix(f"{_str(env, 'GITHUB_REPOSITORY')}/")
    run_id, attempt = _str(env, "GITHUB_RUN_ID"), _str(env, "GITHUB_RUN_ATTEMPT")
    if github and run_id and repository:
        invocation = f"{repository}/actions/runs/{run_id}/attempts/{attempt or '1'}"
    return BuildSummary(
        ci="GitHub Actions" if github else "unknown",
        build_type=build_type,
        builder_id=builder_id,
        source_repository=repository or None,
        source_commit=commit,
        source_ref=ref or _str(env, "GITHUB_REF"),
        build_file=build_file,
        invocation=invocation,
        event=_str(env, "GITHUB_EVENT_NAME"),
    )
