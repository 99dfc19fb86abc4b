"""CI jobs as an OIDC issuer sees them: the identity claims of a token, and the job's environment.

A :class:`CIJob` describes one job of a CI provider — GitHub Actions or GitLab CI — with the
claim values that provider's OIDC tokens carry, and it produces the environment variables a
real job of that provider would have, so that the standard clients (npm, sigstore-js,
sigstore-python's ``id`` package) and our own provenance builders (``assay.provenance.ci``)
behave exactly as they do in real CI (sigstore.md §1.2, npm-registry.md §1.5 and §5).

Claims and environment are derived from the same few values, so they always agree:
``GITHUB_WORKFLOW_REF`` is the ``workflow_ref`` claim, ``CI_CONFIG_PATH`` is the path inside the
``ci_config_ref_uri`` claim, and so on. Every claim has a sensible default derived from a few
inputs (repository or project path, ref, sha, workflow or config path); any claim can be
overridden, and the defaults of the claims derived from it follow (``repository=acme/x`` also
changes ``repository_owner``, ``sub`` and ``workflow_ref``).

GitHub Actions token shape (docs.github.com "OpenID Connect reference"): every custom claim is a
string, ids included; ``sub`` is ``repo:<owner>/<repo>:environment:<name>`` when the job names an
environment, ``repo:<owner>/<repo>:pull_request`` for ``pull_request`` events, and
``repo:<owner>/<repo>:ref:<ref>`` otherwise; the default audience is the URL of the repository
owner. GitLab CI ID token shape (docs.gitlab.com "OpenID Connect (OIDC) Authentication Using ID
Tokens"): strings except ``runner_id``, an integer; ``ref`` is the short name with ``ref_type``
and ``ref_path`` beside it; ``sub`` is ``project_path:<group>/<project>:ref_type:<type>:ref:<ref>``;
``ci_config_ref_uri`` is ``<host>/<project path>//<config path>@<ref path>``.

This module is pure: no I/O, no clock. Only the random run/job/pipeline ids of a new job come
from :mod:`secrets`, as real CI numbers its runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from assay.errors import ConfigError, FormatError
from assay.oidc.providers import (
    ENV_NAME,
    GITHUB_SERVER_URL,
    GITLAB_SERVER_URL,
    PROVIDERS,
    REGISTERED_CLAIMS,
    TOKEN_LIFETIMES,
    ClaimValue,
    Provider,
    check_github,
    check_gitlab,
    coerce_claim,
    github_claims,
    github_ref_name,
    gitlab_claims,
    gitlab_config_path,
    normalise_server_url,
    require,
    slug,
)

SERVER_URL_CLAIM = "server_url"
"""The emulated issuer's own claim: the forge a job runs on (GITHUB_SERVER_URL, CI_SERVER_URL)."""
_DEFAULT_SERVER_URLS: Mapping[str, str] = {"github": GITHUB_SERVER_URL, "gitlab": GITLAB_SERVER_URL}


def parse_assignment(text: str, what: str = "claim") -> tuple[str, str]:
    """Split ``KEY=VALUE`` (the form of ``--claim`` and ``--env``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"{what} {text!r} is not KEY=VALUE")
    return key, value


@dataclass(frozen=True, slots=True)
class CIJob:
    """One CI job: its provider, the server it claims to run on, its claims and variables.

    Build one with :meth:`create` (or :meth:`github` / :meth:`gitlab`), which fills in every
    claim from a few inputs; :meth:`from_json` reads one back. ``claims`` never holds the
    registered claims (``iss``, ``aud``, ``exp``, …), which the issuer sets per token.
    ``variables`` are extra environment variables, or overrides of the derived ones, for values
    that are not claims (the job's name, the runner's description and architecture).
    """

    provider: Provider
    server_url: str
    claims: Mapping[str, ClaimValue]
    variables: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(f"unknown CI provider {self.provider!r}; use github or gitlab")
        object.__setattr__(self, "server_url", normalise_server_url(self.server_url))
        reserved = sorted(REGISTERED_CLAIMS & set(self.claims))
        if reserved:
            raise ConfigError(
                f"claims {', '.join(reserved)} are set by the issuer, not by the job",
                claims=reserved,
            )
        claims = {name: coerce_claim(name, value) for name, value in self.claims.items()}
        for name, value in self.variables.items():
            require(bool(ENV_NAME.fullmatch(name)), f"{name!r} is not a variable name")
            require(isinstance(value, str), f"variable {name} must be a string")
        if self.provider == "github":
            check_github(claims)
        else:
            check_gitlab(claims)
        object.__setattr__(self, "claims", MappingProxyType(claims))
        object.__setattr__(self, "variables", MappingProxyType(dict(self.variables)))

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        provider: Provider,
        claims: Mapping[str, str | int] | None = None,
        *,
        server_url: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> CIJob:
        """A job of ``provider`` whose claims not given in ``claims`` take derived defaults."""
        overrides = dict(claims or {})
        if provider == "github":
            server = normalise_server_url(server_url or GITHUB_SERVER_URL)
            derived = github_claims(overrides)
        elif provider == "gitlab":
            server = normalise_server_url(server_url or GITLAB_SERVER_URL)
            derived = gitlab_claims(overrides, server)
        else:
            raise ConfigError(f"unknown CI provider {provider!r}; use github or gitlab")
        return cls(provider, server, derived, dict(variables or {}))

    @classmethod
    def github(
        cls,
        repository: str = "assay-dev/example",
        *,
        workflow: str = ".github/workflows/release.yml",
        ref: str = "refs/heads/main",
        sha: str | None = None,
        server_url: str = GITHUB_SERVER_URL,
        claims: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> CIJob:
        """A GitHub Actions job running ``workflow`` of ``repository`` at ``ref``."""
        inputs: dict[str, str] = {
            "repository": repository,
            "ref": ref,
            "workflow_ref": f"{repository}/{workflow}@{ref}",
        }
        if sha is not None:
            inputs["sha"] = sha
        inputs.update(claims or {})
        return cls.create("github", dict(inputs), server_url=server_url, variables=variables)

    @classmethod
    def gitlab(
        cls,
        project_path: str = "assay-dev/example",
        *,
        config_path: str = ".gitlab-ci.yml",
        ref: str = "main",
        ref_type: Literal["branch", "tag"] = "branch",
        sha: str | None = None,
        server_url: str = GITLAB_SERVER_URL,
        claims: Mapping[str, str | int] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> CIJob:
        """A GitLab CI job of ``project_path`` at ``ref``, configured by ``config_path``."""
        ref_path = f"refs/{'heads' if ref_type == 'branch' else 'tags'}/{ref}"
        host = urlsplit(normalise_server_url(server_url)).netloc
        inputs: dict[str, str | int] = {
            "project_path": project_path,
            "ref": ref,
            "ref_type": ref_type,
            "ref_path": ref_path,
            "ci_config_ref_uri": f"{host}/{project_path}//{config_path}@{ref_path}",
        }
        if sha is not None:
            inputs["sha"] = sha
        inputs.update(claims or {})
        return cls.create("gitlab", inputs, server_url=server_url, variables=variables)

    # -- what the issuer needs ---------------------------------------------------------------

    @property
    def token_lifetime(self) -> timedelta:
        """How long a token minted for this job lives (see :data:`TOKEN_LIFETIMES`)."""
        return TOKEN_LIFETIMES[self.provider]

    @property
    def default_audience(self) -> str:
        """The ``aud`` of a token requested without an audience.

        GitHub: the URL of the repository owner (docs: "By default, this is the URL of the
        repository owner"). GitLab has no default (``id_tokens`` must name one); its former
        ``CI_JOB_JWT`` used the instance URL, which we use too.
        """
        if self.provider == "github":
            return f"{self.server_url}/{self.claims['repository_owner']}"
        return self.server_url

    def token_claims(self) -> dict[str, ClaimValue]:
        """The claims of a token for this job, without the registered ones.

        A job on another forge than the provider's default (GitHub Enterprise, a self-managed
        GitLab, a loopback git server in tests) also gets :data:`SERVER_URL_CLAIM`, which real
        GitHub tokens lack: our CA certifies the job's repository on that server
        (``assay.ca.extensions``, kind ``ci``), as Fulcio does for an issuer configured with
        that base URL. A ``server_url`` given as a claim never overrides the job's own.
        """
        claims = {k: v for k, v in self.claims.items() if k != SERVER_URL_CLAIM}
        if self.server_url != _DEFAULT_SERVER_URLS[self.provider]:
            claims[SERVER_URL_CLAIM] = self.server_url
        return claims

    # -- what the job sees ---------------------------------------------------------------------

    def environment(
        self,
        *,
        request_url: str | None = None,
        request_token: str | None = None,
        id_tokens: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment variables a real job of this provider would have.

        GitHub: ``request_url``/``request_token`` become ``ACTIONS_ID_TOKEN_REQUEST_URL`` and
        ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (the ambient credential, sigstore.md §1.2). GitLab:
        ``id_tokens`` maps variable names to minted tokens, as a job's ``id_tokens:`` keyword
        does (``SIGSTORE_ID_TOKEN`` with ``aud: sigstore`` for npm, npm-registry.md §1.5).
        """
        if self.provider == "github":
            env = self._github_environment()
            if request_url is not None:
                env["ACTIONS_ID_TOKEN_REQUEST_URL"] = request_url
            if request_token is not None:
                env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = request_token
        else:
            env = self._gitlab_environment()
        env.update(id_tokens or {})
        env.update(self.variables)
        return env

    def _github_environment(self) -> dict[str, str]:
        c = self.claims
        ref = str(c["ref"])
        server = self.server_url
        api = "https://api.github.com" if server == GITHUB_SERVER_URL else f"{server}/api/v3"
        return {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_SERVER_URL": server,
            "GITHUB_API_URL": api,
            "GITHUB_REPOSITORY": str(c["repository"]),
            "GITHUB_REPOSITORY_ID": str(c["repository_id"]),
            "GITHUB_REPOSITORY_OWNER": str(c["repository_owner"]),
            "GITHUB_REPOSITORY_OWNER_ID": str(c["repository_owner_id"]),
            "GITHUB_WORKFLOW": str(c["workflow"]),
            "GITHUB_WORKFLOW_REF": str(c["workflow_ref"]),
            "GITHUB_WORKFLOW_SHA": str(c["workflow_sha"]),
            "GITHUB_JOB": "publish",
            "GITHUB_REF": ref,
            "GITHUB_REF_NAME": github_ref_name(ref),
            "GITHUB_REF_TYPE": str(c["ref_type"]),
            "GITHUB_REF_PROTECTED": str(c["ref_protected"]),
            "GITHUB_SHA": str(c["sha"]),
            "GITHUB_EVENT_NAME": str(c["event_name"]),
            "GITHUB_HEAD_REF": str(c["head_ref"]),
            "GITHUB_BASE_REF": str(c["base_ref"]),
            "GITHUB_RUN_ID": str(c["run_id"]),
            "GITHUB_RUN_NUMBER": str(c["run_number"]),
            "GITHUB_RUN_ATTEMPT": str(c["run_attempt"]),
            "GITHUB_ACTOR": str(c["actor"]),
            "GITHUB_ACTOR_ID": str(c["actor_id"]),
            "GITHUB_TRIGGERING_ACTOR": str(c["actor"]),
            "RUNNER_ENVIRONMENT": str(c["runner_environment"]),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        }

    def _gitlab_environment(self) -> dict[str, str]:
        c = self.claims
        server = urlsplit(self.server_url)
        host = server.hostname or ""
        port = str(server.port or (443 if server.scheme == "https" else 80))
        project_path = str(c["project_path"])
        project_url = f"{self.server_url}/{project_path}"
        namespace = str(c["namespace_path"])
        ref, ref_type = str(c["ref"]), str(c["ref_type"])
        sha = str(c["sha"])
        job_id, pipeline_id = str(c["job_id"]), str(c["pipeline_id"])
        config_path = gitlab_config_path(str(c["ci_config_ref_uri"]))
        env = {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_SERVER": "yes",
            "CI_SERVER_URL": self.server_url,
            "CI_SERVER_HOST": host,
            "CI_SERVER_PORT": port,
            "CI_SERVER_PROTOCOL": server.scheme,
            "CI_SERVER_NAME": "GitLab",
            "CI_API_V4_URL": f"{self.server_url}/api/v4",
            "CI_API_GRAPHQL_URL": f"{self.server_url}/api/graphql",
            "CI_PROJECT_ID": str(c["project_id"]),
            "CI_PROJECT_PATH": project_path,
            "CI_PROJECT_PATH_SLUG": slug(project_path),
            "CI_PROJECT_NAME": project_path.rsplit("/", 1)[-1],
            "CI_PROJECT_NAMESPACE": namespace,
            "CI_PROJECT_NAMESPACE_ID": str(c["namespace_id"]),
            "CI_PROJECT_ROOT_NAMESPACE": namespace.split("/", 1)[0],
            "CI_PROJECT_URL": project_url,
            "CI_PROJECT_VISIBILITY": str(c["project_visibility"]),
            "CI_DEFAULT_BRANCH": "main",
            "CI_COMMIT_SHA": sha,
            "CI_COMMIT_SHORT_SHA": sha[:8],
            "CI_COMMIT_REF_NAME": ref,
            "CI_COMMIT_REF_SLUG": slug(ref),
            "CI_COMMIT_REF_PROTECTED": str(c["ref_protected"]),
            "CI_CONFIG_PATH": config_path,
            "CI_JOB_ID": job_id,
            "CI_JOB_NAME": "publish",
            "CI_JOB_NAME_SLUG": "publish",
            "CI_JOB_STAGE": "deploy",
            "CI_JOB_URL": f"{project_url}/-/jobs/{job_id}",
            "CI_PIPELINE_ID": pipeline_id,
            "CI_PIPELINE_SOURCE": str(c["pipeline_source"]),
            "CI_PIPELINE_URL": f"{project_url}/-/pipelines/{pipeline_id}",
            "CI_RUNNER_ID": str(c["runner_id"]),
            "CI_RUNNER_DESCRIPTION": "assay-runner",
            "CI_RUNNER_EXECUTABLE_ARCH": "linux/amd64",
            "GITLAB_USER_ID": str(c["user_id"]),
            "GITLAB_USER_LOGIN": str(c["user_login"]),
        }
        env["CI_COMMIT_BRANCH" if ref_type == "branch" else "CI_COMMIT_TAG"] = ref
        if "environment" in c:
            env["CI_ENVIRONMENT_NAME"] = str(c["environment"])
        return env

    # -- storage and transport -----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A JSON object :meth:`from_json` reads back (job files, ``POST /ci/jobs`` replies)."""
        return {
            "provider": self.provider,
            "server_url": self.server_url,
            "claims": dict(self.claims),
            "variables": dict(self.variables),
        }

    @classmethod
    def from_json(cls, data: object) -> CIJob:
        """Read a job written by :meth:`to_json`; raise :class:`FormatError` if it is not one."""
        if not isinstance(data, dict):
            raise FormatError("a CI job must be a JSON object")
        provider, server = data.get("provider"), data.get("server_url")
        claims, variables = data.get("claims"), data.get("variables", {})
        if provider not in PROVIDERS or not isinstance(server, str):
            raise FormatError("a CI job needs a provider (github or gitlab) and a server_url")
        if not isinstance(claims, dict) or not isinstance(variables, dict):
            raise FormatError("a CI job's claims and variables must be JSON objects")
        try:
            return cls(cast(Provider, provider), server, claims, variables)
        except ConfigError as exc:
            raise FormatError(f"not a valid CI job: {exc.message}", **exc.details) from exc


__all__ = ["CIJob", "parse_assignment"]
