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

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from assay.errors import ConfigError, FormatError

Provider = Literal["github", "gitlab"]
PROVIDERS: tuple[Provider, ...] = ("github", "gitlab")

# A claim value as the providers write them: JSON strings, and GitLab's integer runner_id.
ClaimValue = str | int

GITHUB_SERVER_URL = "https://github.com"
GITLAB_SERVER_URL = "https://gitlab.com"

# Set by the issuer on every token; a job cannot choose them (RFC 7519 §4.1).
REGISTERED_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti"})

# GitLab writes runner_id as a JSON number; every other claim of both providers is a string.
_INTEGER_CLAIMS = frozenset({"runner_id"})

# How long a token minted for a job lives. GitHub's are short (minutes); GitLab's ID tokens live
# as long as the job may run (the job timeout, one hour by default) because they are handed to
# the job up front in variables and cannot be refreshed.
TOKEN_LIFETIMES: Mapping[Provider, timedelta] = MappingProxyType(
    {"github": timedelta(minutes=5), "gitlab": timedelta(hours=1)}
)

# The claims every token of each provider carries (``environment`` only when the job has one).
GITHUB_CLAIMS = (
    "sub",
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "repository_visibility",
    "actor",
    "actor_id",
    "workflow",
    "workflow_ref",
    "workflow_sha",
    "job_workflow_ref",
    "job_workflow_sha",
    "sha",
    "ref",
    "ref_type",
    "ref_protected",
    "event_name",
    "runner_environment",
    "run_id",
    "run_number",
    "run_attempt",
    "head_ref",
    "base_ref",
)
GITLAB_CLAIMS = (
    "sub",
    "namespace_id",
    "namespace_path",
    "project_id",
    "project_path",
    "user_id",
    "user_login",
    "pipeline_id",
    "pipeline_source",
    "job_id",
    "ref",
    "ref_type",
    "ref_path",
    "ref_protected",
    "sha",
    "runner_id",
    "runner_environment",
    "ci_config_ref_uri",
    "ci_config_sha",
    "project_visibility",
)

_GITHUB_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_GITLAB_PATH = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _stable_id(kind: str, name: str) -> str:
    """A numeric id that is always the same for the same name, as a forge's ids are."""
    digest = hashlib.sha256(f"{kind}:{name}".encode()).digest()
    return str(10_000_000 + int.from_bytes(digest[:4], "big") % 900_000_000)


def _default_sha(*parts: str) -> str:
    """A commit sha for a job that named none: stable for the same repository and ref."""
    return hashlib.sha1("\x00".join(parts).encode(), usedforsecurity=False).hexdigest()


def _run_number() -> str:
    return str(secrets.randbelow(9_000_000_000) + 1_000_000_000)


def _slug(value: str) -> str:
    """GitLab's ``*_SLUG`` form: lowercased, non-alphanumerics to ``-``, 63 characters at most."""
    return re.sub(r"[^a-z0-9]", "-", value.lower())[:63].strip("-")


def _server_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(f"server URL {value!r} is not an http(s) URL", server_url=value)
    return value.rstrip("/")


def _require(ok: bool, message: str, **details: Any) -> None:
    if not ok:
        raise ConfigError(message, **details)


def _coerce(name: str, value: object) -> ClaimValue:
    """A claim override as the provider would write it (``--claim`` values arrive as text)."""
    if name in _INTEGER_CLAIMS:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdecimal():
            return int(value)
        raise ConfigError(f"claim {name!r} must be an integer, not {value!r}", claim=name)
    if isinstance(value, str):
        return value
    raise ConfigError(f"claim {name!r} must be a string, not {value!r}", claim=name)


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
        object.__setattr__(self, "server_url", _server_url(self.server_url))
        reserved = sorted(REGISTERED_CLAIMS & set(self.claims))
        if reserved:
            raise ConfigError(
                f"claims {', '.join(reserved)} are set by the issuer, not by the job",
                claims=reserved,
            )
        claims = {name: _coerce(name, value) for name, value in self.claims.items()}
        for name, value in self.variables.items():
            _require(bool(_ENV_NAME.fullmatch(name)), f"{name!r} is not a variable name")
            _require(isinstance(value, str), f"variable {name} must be a string")
        if self.provider == "github":
            _check_github(claims)
        else:
            _check_gitlab(claims)
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
            server = _server_url(server_url or GITHUB_SERVER_URL)
            derived = _github_claims(overrides)
        elif provider == "gitlab":
            server = _server_url(server_url or GITLAB_SERVER_URL)
            derived = _gitlab_claims(overrides, server)
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
        host = urlsplit(_server_url(server_url)).netloc
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
        """The claims of a token for this job, without the registered ones."""
        return dict(self.claims)

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
            "GITHUB_REF_NAME": _github_ref_name(ref),
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
            "CI_PROJECT_PATH_SLUG": _slug(project_path),
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
            "CI_COMMIT_REF_SLUG": _slug(ref),
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


def gitlab_config_path(ci_config_ref_uri: str) -> str:
    """The config file path inside ``<host>/<project>//<path>@<ref path>``.

    Split at ``@refs/``: a tag or branch name may itself contain ``@``.
    """
    path = ci_config_ref_uri.partition("//")[2]
    before, found, _ = path.partition("@refs/")
    return before if found else path.rpartition("@")[0]


def _github_ref_name(ref: str) -> str:
    """``GITHUB_REF_NAME``: the branch or tag name, or ``<pr number>/merge`` for pull requests."""
    for prefix in ("refs/heads/", "refs/tags/", "refs/pull/"):
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    return ref


def _github_claims(o: dict[str, str | int]) -> dict[str, ClaimValue]:
    def text(name: str, default: str) -> str:
        value = o.get(name, default)
        return value if isinstance(value, str) else str(value)

    repository = text("repository", "assay-dev/example")
    _require(
        bool(_GITHUB_NAME.fullmatch(repository)),
        f"repository {repository!r} is not <owner>/<name>",
        claim="repository",
    )
    owner = text("repository_owner", repository.split("/", 1)[0])
    ref = text("ref", "refs/heads/main")
    ref_type = text("ref_type", "tag" if ref.startswith("refs/tags/") else "branch")
    sha = text("sha", _default_sha(repository, ref))
    workflow_ref = text("workflow_ref", f"{repository}/.github/workflows/release.yml@{ref}")
    workflow_path = workflow_ref.removeprefix(f"{repository}/").partition("@")[0]
    workflow_sha = text("workflow_sha", sha)
    event_name = text("event_name", "push")
    actor = text("actor", owner)
    claims: dict[str, ClaimValue] = {
        "repository": repository,
        "repository_id": text("repository_id", _stable_id("repository", repository)),
        "repository_owner": owner,
        "repository_owner_id": text("repository_owner_id", _stable_id("owner", owner)),
        "repository_visibility": text("repository_visibility", "public"),
        "actor": actor,
        "actor_id": text("actor_id", _stable_id("owner", actor)),
        "workflow": text("workflow", workflow_path.rsplit("/", 1)[-1].rsplit(".", 1)[0]),
        "workflow_ref": workflow_ref,
        "workflow_sha": workflow_sha,
        "job_workflow_ref": text("job_workflow_ref", workflow_ref),
        "job_workflow_sha": text("job_workflow_sha", workflow_sha),
        "sha": sha,
        "ref": ref,
        "ref_type": ref_type,
        "ref_protected": text("ref_protected", "false"),
        "event_name": event_name,
        "head_ref": text("head_ref", ""),
        "base_ref": text("base_ref", ""),
        "runner_environment": text("runner_environment", "github-hosted"),
        "run_id": text("run_id", _run_number()),
        "run_number": text("run_number", "1"),
        "run_attempt": text("run_attempt", "1"),
    }
    if "environment" in o:
        claims["environment"] = text("environment", "")
    claims["sub"] = text("sub", github_subject(repository, ref, event_name, o.get("environment")))
    # Claims GitHub adds that we derive nothing from (enterprise, environment_node_id, …).
    claims.update({name: value for name, value in o.items() if name not in claims})
    return claims


def github_subject(
    repository: str, ref: str, event_name: str, environment: str | int | None = None
) -> str:
    """GitHub's default ``sub``: the environment, else a pull request, else the ref."""
    if environment:
        return f"repo:{repository}:environment:{environment}"
    if event_name == "pull_request":
        return f"repo:{repository}:pull_request"
    return f"repo:{repository}:ref:{ref}"


def _gitlab_claims(o: dict[str, str | int], server_url: str) -> dict[str, ClaimValue]:
    def text(name: str, default: str) -> str:
        value = o.get(name, default)
        return value if isinstance(value, str) else str(value)

    project_path = text("project_path", "assay-dev/example")
    _require(
        bool(_GITLAB_PATH.fullmatch(project_path)),
        f"project path {project_path!r} is not <group>/<project>",
        claim="project_path",
    )
    namespace = text("namespace_path", project_path.rsplit("/", 1)[0])
    ref = text("ref", "main")
    ref_type = text("ref_type", "branch")
    ref_path = text("ref_path", f"refs/{'tags' if ref_type == 'tag' else 'heads'}/{ref}")
    sha = text("sha", _default_sha(project_path, ref_path))
    host = urlsplit(server_url).netloc
    login = text("user_login", namespace.split("/", 1)[0])
    claims: dict[str, ClaimValue] = {
        "namespace_id": text("namespace_id", _stable_id("namespace", namespace)),
        "namespace_path": namespace,
        "project_id": text("project_id", _stable_id("project", project_path)),
        "project_path": project_path,
        "user_id": text("user_id", _stable_id("user", login)),
        "user_login": login,
        "pipeline_id": text("pipeline_id", _run_number()),
        "pipeline_source": text("pipeline_source", "push"),
        "job_id": text("job_id", _run_number()),
        "ref": ref,
        "ref_type": ref_type,
        "ref_path": ref_path,
        "ref_protected": text("ref_protected", "false"),
        "sha": sha,
        "runner_id": o.get("runner_id", int(_stable_id("runner", host)) % 100_000_000),
        "runner_environment": text("runner_environment", "gitlab-hosted"),
        "ci_config_ref_uri": text(
            "ci_config_ref_uri", f"{host}/{project_path}//.gitlab-ci.yml@{ref_path}"
        ),
        "ci_config_sha": text("ci_config_sha", sha),
        "project_visibility": text("project_visibility", "public"),
    }
    if "environment" in o:
        claims["environment"] = text("environment", "")
    claims["sub"] = text("sub", f"project_path:{project_path}:ref_type:{ref_type}:ref:{ref}")
    claims.update({name: value for name, value in o.items() if name not in claims})
    return claims


def _check_github(claims: Mapping[str, ClaimValue]) -> None:
    """Refuse claim sets no GitHub job could have, naming the claim at fault."""
    for name in GITHUB_CLAIMS:
        _require(name in claims, f"a GitHub job needs the {name!r} claim", claim=name)
    repository, ref = str(claims["repository"]), str(claims["ref"])
    _require(
        bool(_GITHUB_NAME.fullmatch(repository)),
        f"repository {repository!r} is not <owner>/<name>",
        claim="repository",
    )
    _require(ref.startswith("refs/"), f"ref {ref!r} is not a full ref (refs/…)", claim="ref")
    _require(
        bool(_SHA.fullmatch(str(claims["sha"]))),
        f"sha {claims['sha']!r} is not a lowercase hex commit id",
        claim="sha",
    )
    workflow_ref = str(claims["workflow_ref"])
    _require(
        workflow_ref.startswith(f"{repository}/") and "@" in workflow_ref,
        f"workflow_ref {workflow_ref!r} is not {repository}/<path>@<ref>",
        claim="workflow_ref",
    )


def _check_gitlab(claims: Mapping[str, ClaimValue]) -> None:
    """Refuse claim sets no GitLab job could have, naming the claim at fault."""
    for name in GITLAB_CLAIMS:
        _require(name in claims, f"a GitLab job needs the {name!r} claim", claim=name)
    _require(
        bool(_GITLAB_PATH.fullmatch(str(claims["project_path"]))),
        f"project path {claims['project_path']!r} is not <group>/<project>",
        claim="project_path",
    )
    _require(
        claims["ref_type"] in ("branch", "tag"),
        f"ref_type {claims['ref_type']!r} is not branch or tag",
        claim="ref_type",
    )
    _require(
        bool(_SHA.fullmatch(str(claims["sha"]))),
        f"sha {claims['sha']!r} is not a lowercase hex commit id",
        claim="sha",
    )
    config = str(claims.get("ci_config_ref_uri", ""))
    _require(
        "//" in config and "@" in config,
        f"ci_config_ref_uri {config!r} is not <host>/<project>//<path>@<ref>",
        claim="ci_config_ref_uri",
    )


__all__ = [
    "GITHUB_CLAIMS",
    "GITHUB_SERVER_URL",
    "GITLAB_CLAIMS",
    "GITLAB_SERVER_URL",
    "PROVIDERS",
    "REGISTERED_CLAIMS",
    "TOKEN_LIFETIMES",
    "CIJob",
    "ClaimValue",
    "Provider",
    "github_subject",
    "gitlab_config_path",
    "parse_assignment",
]
