"""Does a CI job's verified OIDC token match a trusted publisher? (docs/trusted-publishing.md)

A trusted publisher is stored as the npm trust API writes it (``npm trust github|gitlab|
circleci``, ``lib/commands/trust/*.js`` ``optionsToBody``):

* ``github``: ``{"repository": "owner/repo", "workflow_ref": {"file": "release.yml"},
  "environment"?: "prod"}``, matched against the token's ``repository``, ``workflow_ref``
  (``owner/repo/.github/workflows/<file>@<ref>``) and ``environment``;
* ``gitlab``: ``{"project_path": "group/project", "ci_config_ref_uri": {"file":
  ".gitlab-ci.yml"}, "environment"?: …}``, matched against ``project_path``,
  ``ci_config_ref_uri`` (``<host>/<project path>//<file>@<ref path>``) and ``environment``;
* ``circleci``: ``{"oidc.circleci.com/org-id", "…/project-id", "…/pipeline-definition-id",
  "…/vcs-origin", "…/context-ids"?}``, matched against the claims of the same names (the
  organisation from ``oidc.circleci.com/org-id`` or the ``sub``, ``org/<id>/project/…``).

Assay extensions a publisher may carry beside npm's claims: ``issuer`` (the exact OIDC issuer
URL: a GitHub Enterprise Server, a self-managed GitLab; default: github.com's Actions issuer,
https://gitlab.com, CircleCI's issuer of the organisation) and, for GitHub, ``job_workflow_ref``
(``owner/repo/.github/workflows/<file>[@<ref>]``: the reusable workflow that must run the job,
compared with the token's ``job_workflow_ref`` on top of the caller's ``workflow_ref``).

Beyond npmjs.org (issue 11 §2), whatever the publisher says: a GitHub token of a
``pull_request`` or ``pull_request_target`` event, a GitLab token of a merge-request or
external-pull-request pipeline, and a CircleCI job re-run with SSH never match; and the
immutable ids seen on first use (GitHub ``repository_id``/``repository_owner_id``, GitLab
``project_id``/``namespace_id``) are pinned, so a repository deleted and recreated under the
same name no longer matches (PyPI's rule).

The instance's own issuer (only trusted while CI emulation is on) stands in for the issuer of
the forge its job claims to run on: a job on github.com matches a publisher that trusts
GitHub's issuer. The stored identity says ``emulated: true``.

Pure: no I/O. A failed match says which claim failed and what the *token* said, never what the
publisher expects: the token's bearer learns nothing of the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

GITHUB_ISSUER: Final = "https://token.actions.githubusercontent.com"
GITHUB_SERVER: Final = "https://github.com"
GITLAB_COM: Final = "https://gitlab.com"
CIRCLECI_ISSUER_PREFIX: Final = "https://oidc.circleci.com/org/"
CIRCLECI: Final = "oidc.circleci.com/"
SERVER_URL_CLAIM: Final = "server_url"
"""The emulated issuer's claim naming the forge a job runs on (assay.oidc.claims)."""

PROVIDERS: Final = ("github", "gitlab", "circleci")
UNTRUSTED_GITHUB_EVENTS: Final = frozenset({"pull_request", "pull_request_target"})
UNTRUSTED_GITLAB_SOURCES: Final = frozenset({"merge_request_event", "external_pull_request_event"})
PIN_CLAIMS: Final[Mapping[str, tuple[str, ...]]] = {
    "github": ("repository_id", "repository_owner_id"),
    "gitlab": ("project_id", "namespace_id"),
    "circleci": (),
}

# What npm writes as `_npmUser` of a trusted publish: npmjs.org's form for GitHub (seen in
# every packument published so; `oidcConfigId` is `oidc:<publisher id>`), ours for the others.
NPM_USERS: Final[Mapping[str, tuple[str, str]]] = {
    "github": ("GitHub Actions", "npm-oidc-no-reply@github.com"),
    "gitlab": ("GitLab CI/CD", "npm-oidc-no-reply@gitlab.com"),
    "circleci": ("CircleCI", "npm-oidc-no-reply@circleci.com"),
}


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Why a publisher does not match: ``depth`` checks passed before ``claim`` failed (the
    deepest mismatch among a package's publishers is the one reported)."""

    depth: int
    claim: str
    reason: str


@dataclass(frozen=True, slots=True)
class Match:
    """A publisher matched: the verified identity to store, and the ids to pin on first use."""

    identity: Mapping[str, Any]
    pins: Mapping[str, str] = field(default_factory=dict)


class _Checks:
    """Numbered checks of one publisher: each passed one deepens the match."""

    def __init__(self) -> None:
        self.depth = 0

    def require(self, ok: bool, claim: str, reason: str) -> None:
        if not ok:
            raise _Failed(Mismatch(self.depth, claim, reason))
        self.depth += 1


class _Failed(Exception):
    def __init__(self, mismatch: Mismatch) -> None:
        super().__init__(mismatch.reason)
        self.mismatch = mismatch


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def _id_text(claims: Mapping[str, Any], name: str) -> str | None:
    """An id claim as text: GitHub and GitLab write ids as strings, some as numbers."""
    value = claims.get(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return _text(claims, name)


def server_url(claims: Mapping[str, Any], issuer: str, provider: str, emulated: bool) -> str:
    """The forge the job ran on: from the issuer, or for the instance's emulated issuer from
    its ``server_url`` claim (default github.com / gitlab.com)."""
    if emulated:
        named = _text(claims, SERVER_URL_CLAIM)
        return (named or (GITLAB_COM if provider == "gitlab" else GITHUB_SERVER)).rstrip("/")
    if provider == "github":
        if issuer == GITHUB_ISSUER:
            return GITHUB_SERVER
        # GitHub Enterprise Server: https://HOST/_services/token (GitHub's OIDC reference).
        return issuer.removesuffix("/_services/token").rstrip("/")
    return issuer.rstrip("/")


def effective_issuer(claims: Mapping[str, Any], issuer: str, provider: str, emulated: bool) -> str:
    """The issuer a publisher is compared with: the token's, or for an emulated job the issuer
    of the forge it claims (github.com → GitHub's Actions issuer; GHES → HOST/_services/token;
    a GitLab server → its URL)."""
    if not emulated:
        return issuer
    server = server_url(claims, issuer, provider, emulated)
    if provider == "github":
        return GITHUB_ISSUER if server == GITHUB_SERVER else f"{server}/_services/token"
    return server


def token_provider(claims: Mapping[str, Any]) -> str | None:
    """Which CI wrote the token, by the claims only it writes."""
    if "workflow_ref" in claims:
        return "github"
    if "ci_config_ref_uri" in claims or "project_path" in claims:
        return "gitlab"
    if any(name.startswith(CIRCLECI) for name in claims):
        return "circleci"
    return None


def expected_issuer(provider: str, publisher: Mapping[str, Any]) -> str | None:
    named = _text(publisher, "issuer")
    if named is not None:
        return named.rstrip("/")
    if provider == "github":
        return GITHUB_ISSUER
    if provider == "gitlab":
        return GITLAB_COM
    org = _text(publisher, CIRCLECI + "org-id")
    return None if org is None else CIRCLECI_ISSUER_PREFIX + org


def match(
    provider: str,
    publisher: Mapping[str, Any],
    pins: Mapping[str, Any] | None,
    claims: Mapping[str, Any],
    *,
    emulated: bool,
) -> Match | Mismatch:
    """Match verified token ``claims`` (``iss`` included) against one publisher's claims."""
    issuer = str(claims.get("iss", ""))
    checks = _Checks()
    try:
        checks.require(provider in PROVIDERS, "type", f"unknown publisher type {provider!r}")
        kind = token_provider(claims)
        checks.require(
            kind == provider, "type", f"the token is {kind or 'no CI'}'s, not {provider}'s"
        )
        effective = effective_issuer(claims, issuer, provider, emulated)
        checks.require(
            effective == expected_issuer(provider, publisher),
            "iss",
            f"the token's issuer {effective!r} is not the one this publisher trusts",
        )
        if provider == "github":
            identity = _github(checks, publisher, claims, issuer, emulated)
        elif provider == "gitlab":
            identity = _gitlab(checks, publisher, claims, issuer, emulated)
        else:
            identity = _circleci(checks, publisher, claims)
        observed = {name: _id_text(claims, name) for name in PIN_CLAIMS[provider]}
        for name, value in observed.items():
            checks.require(value is not None, name, f"the token has no {name!r} claim")
            pinned = (pins or {}).get(name)
            checks.require(
                pinned is None or str(pinned) == value,
                name,
                f"{name} {value} is not the one pinned on this publisher's first use: the "
                "repository was deleted and recreated, or transferred; a maintainer must "
                "configure the publisher again",
            )
    except _Failed as failed:
        return failed.mismatch
    identity = {"provider": provider, "issuer": issuer, "emulated": emulated, **identity}
    identity["sub"] = _text(claims, "sub")
    identity["jti"] = _text(claims, "jti")
    return Match(
        {k: v for k, v in identity.items() if v is not None},
        {k: v for k, v in observed.items() if v is not None},
    )


def _github(
    checks: _Checks,
    publisher: Mapping[str, Any],
    claims: Mapping[str, Any],
    issuer: str,
    emulated: bool,
) -> dict[str, Any]:
    repository = _text(claims, "repository") or ""
    wanted = _text(publisher, "repository") or ""
    # GitHub ignores case in owner and repository names; the pinned ids catch a re-creation.
    checks.require(
        bool(repository) and repository.lower() == wanted.lower(),
        "repository",
        f"the token's repository {repository!r} is not this publisher's",
    )
    workflow_ref = _text(claims, "workflow_ref") or ""
    prefix = f"{repository}/.github/workflows/"
    path, at, ref = workflow_ref.partition("@")
    file_spec = publisher.get("workflow_ref")
    file = file_spec.get("file") if isinstance(file_spec, Mapping) else None
    checks.require(
        workflow_ref.startswith(prefix) and bool(at) and path.removeprefix(prefix) == file,
        "workflow_ref",
        f"the token's workflow_ref {workflow_ref!r} does not name this publisher's workflow file",
    )
    reusable = _text(publisher, "job_workflow_ref")
    job_workflow_ref = _text(claims, "job_workflow_ref") or ""
    if reusable is not None:
        same = (
            job_workflow_ref == reusable
            if "@" in reusable
            else job_workflow_ref.partition("@")[0] == reusable
        )
        checks.require(
            same,
            "job_workflow_ref",
            f"the token's job_workflow_ref {job_workflow_ref!r} is not the reusable workflow "
            "this publisher requires",
        )
    environment = _text(claims, "environment")
    wanted_environment = _text(publisher, "environment")
    if wanted_environment is not None:
        # GitHub environment names are case-insensitive.
        checks.require(
            environment is not None and environment.lower() == wanted_environment.lower(),
            "environment",
            f"the token's environment {environment!r} is not the one this publisher requires",
        )
    event = _text(claims, "event_name")
    checks.require(
        event not in UNTRUSTED_GITHUB_EVENTS,
        "event_name",
        f"a workflow run for a {event} event never publishes: it may run code from a fork",
    )
    server = server_url(claims, issuer, "github", emulated)
    run_id, attempt = _id_text(claims, "run_id"), _id_text(claims, "run_attempt")
    return {
        "repository": repository,
        "repository_url": f"{server}/{repository}",
        "workflow": path.removeprefix(f"{repository}/"),
        "workflow_ref": workflow_ref,
        "job_workflow_ref": job_workflow_ref or None,
        "ref": _text(claims, "ref") or ref,
        "sha": _text(claims, "sha"),
        "environment": environment,
        "event": event,
        "run": None
        if run_id is None
        else f"{server}/{repository}/actions/runs/{run_id}/attempts/{attempt or '1'}",
    }


def gitlab_config(uri: str) -> tuple[str, str, str] | None:
    """``<host>/<project path>//<file>@<ref path>`` split into (host/project, file, ref)."""
    project, sep, rest = uri.partition("//")
    if not sep:
        return None
    file, found, ref = rest.partition("@refs/")
    if found:
        return project, file, "refs/" + ref
    file, at, ref = rest.rpartition("@")
    return (project, file, ref) if at else None


def _gitlab(
    checks: _Checks,
    publisher: Mapping[str, Any],
    claims: Mapping[str, Any],
    issuer: str,
    emulated: bool,
) -> dict[str, Any]:
    project = _text(claims, "project_path") or ""
    wanted = _text(publisher, "project_path") or ""
    checks.require(
        bool(project) and project.lower() == wanted.lower(),
        "project_path",
        f"the token's project_path {project!r} is not this publisher's",
    )
    server = server_url(claims, issuer, "gitlab", emulated)
    host = urlsplit(server).netloc
    uri = _text(claims, "ci_config_ref_uri") or ""
    parts = gitlab_config(uri)
    file_spec = publisher.get("ci_config_ref_uri")
    file = file_spec.get("file") if isinstance(file_spec, Mapping) else None
    # The issuer decides the host: a config on another GitLab server never matches.
    checks.require(
        parts is not None and parts[0] == f"{host}/{project}" and parts[1] == file,
        "ci_config_ref_uri",
        f"the token's ci_config_ref_uri {uri!r} does not name this publisher's pipeline file "
        f"in {project} on {host}",
    )
    environment = _text(claims, "environment")
    wanted_environment = _text(publisher, "environment")
    if wanted_environment is not None:
        checks.require(
            environment == wanted_environment,
            "environment",
            f"the token's environment {environment!r} is not the one this publisher requires",
        )
    source = _text(claims, "pipeline_source")
    checks.require(
        source not in UNTRUSTED_GITLAB_SOURCES,
        "pipeline_source",
        f"a {source} pipeline never publishes: it may run code from a fork or a merge request",
    )
    assert parts is not None  # noqa: S101 - checked above
    job = _id_text(claims, "job_id")
    return {
        "repository": project,
        "repository_url": f"{server}/{project}",
        "workflow": parts[1],
        "workflow_ref": uri,
        "ref": _text(claims, "ref_path") or parts[2],
        "sha": _text(claims, "sha"),
        "environment": environment,
        "event": source,
        "run": None if job is None else f"{server}/{project}/-/jobs/{job}",
    }


def _circleci(
    checks: _Checks, publisher: Mapping[str, Any], claims: Mapping[str, Any]
) -> dict[str, Any]:
    def claim(name: str) -> str | None:
        return _text(claims, CIRCLECI + name)

    subject = _text(claims, "sub") or ""
    org = claim("org-id") or (subject.split("/")[1] if subject.startswith("org/") else None)
    for name, value in (
        ("org-id", org),
        ("project-id", claim("project-id")),
        ("pipeline-definition-id", claim("pipeline-definition-id")),
    ):
        checks.require(
            value is not None and value == _text(publisher, CIRCLECI + name),
            CIRCLECI + name,
            f"the token's {name} {value!r} is not this publisher's",
        )
    origin = claim("vcs-origin")
    wanted_origin = _text(publisher, CIRCLECI + "vcs-origin") or ""
    checks.require(
        origin is not None and origin.lower() == wanted_origin.lower(),
        CIRCLECI + "vcs-origin",
        f"the token's vcs-origin {origin!r} is not this publisher's",
    )
    wanted_contexts = publisher.get(CIRCLECI + "context-ids")
    contexts = claims.get(CIRCLECI + "context-ids")
    if isinstance(wanted_contexts, list) and wanted_contexts:
        have = set(contexts) if isinstance(contexts, list) else set()
        checks.require(
            all(item in have for item in wanted_contexts),
            CIRCLECI + "context-ids",
            "the job does not run in every context this publisher requires",
        )
    checks.require(
        claims.get(CIRCLECI + "ssh-rerun") is not True,
        CIRCLECI + "ssh-rerun",
        "a job re-run with SSH never publishes: a person had a shell in it",
    )
    return {
        "repository": origin,
        "repository_url": f"https://{origin}",
        "workflow": claim("pipeline-definition-id"),
        "ref": claim("vcs-ref"),
        "run": claim("job-id"),
    }


def npm_user(provider: str, publisher_id: str) -> dict[str, Any]:
    """The version's ``_npmUser`` for a trusted publish, as npmjs.org writes it."""
    name, email = NPM_USERS[provider]
    return {
        "name": name,
        "email": email,
        "trustedPublisher": {"id": provider, "oidcConfigId": f"oidc:{publisher_id}"},
    }


__all__ = [
    "GITHUB_ISSUER",
    "GITLAB_COM",
    "NPM_USERS",
    "PIN_CLAIMS",
    "PROVIDERS",
    "Match",
    "Mismatch",
    "effective_issuer",
    "gitlab_config",
    "match",
    "npm_user",
    "server_url",
    "token_provider",
]
