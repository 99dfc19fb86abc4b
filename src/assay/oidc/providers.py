"""Each CI provider's token claims: their names, their defaults, and the checks they must pass.

GitHub Actions (docs.github.com "OpenID Connect reference") writes every custom claim as a
string; GitLab CI ID tokens (docs.gitlab.com "OpenID Connect (OIDC) Authentication Using ID
Tokens") do too, except ``runner_id``, an integer. The builders here derive a whole claim set
from a few inputs (repository or project path, ref, sha, workflow or config path), so that the
claims of one job always agree with each other; :class:`assay.oidc.claims.CIJob` uses them and
derives the job's environment from the same values.

Pure: no I/O, no clock; only new run/job/pipeline ids come from :mod:`secrets`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

from assay.errors import ConfigError

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
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _stable_id(kind: str, name: str) -> str:
    """A numeric id that is always the same for the same name, as a forge's ids are."""
    digest = hashlib.sha256(f"{kind}:{name}".encode()).digest()
    return str(10_000_000 + int.from_bytes(digest[:4], "big") % 900_000_000)


def _default_sha(*parts: str) -> str:
    """A commit sha for a job that named none: stable for the same repository and ref."""
    return hashlib.sha1("\x00".join(parts).encode(), usedforsecurity=False).hexdigest()


def _run_number() -> str:
    return str(secrets.randbelow(9_000_000_000) + 1_000_000_000)


def slug(value: str) -> str:
    """GitLab's ``*_SLUG`` form: lowercased, non-alphanumerics to ``-``, 63 characters at most."""
    return re.sub(r"[^a-z0-9]", "-", value.lower())[:63].strip("-")


def normalise_server_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(f"server URL {value!r} is not an http(s) URL", server_url=value)
    return value.rstrip("/")


def require(ok: bool, message: str, **details: Any) -> None:
    if not ok:
        raise ConfigError(message, **details)


def coerce_claim(name: str, value: object) -> ClaimValue:
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


def gitlab_config_path(ci_config_ref_uri: str) -> str:
    """The config file path inside ``<host>/<project>//<path>@<ref path>``.

    Split at ``@refs/``: a tag or branch name may itself contain ``@``.
    """
    path = ci_config_ref_uri.partition("//")[2]
    before, found, _ = path.partition("@refs/")
    return before if found else path.rpartition("@")[0]


def github_ref_name(ref: str) -> str:
    """``GITHUB_REF_NAME``: the branch or tag name, or ``<pr number>/merge`` for pull requests."""
    for prefix in ("refs/heads/", "refs/tags/", "refs/pull/"):
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    return ref


def github_claims(o: dict[str, str | int]) -> dict[str, ClaimValue]:
    def text(name: str, default: str) -> str:
        value = o.get(name, default)
        return value if isinstance(value, str) else str(value)

    repository = text("repository", "assay-dev/example")
    require(
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


def gitlab_claims(o: dict[str, str | int], server_url: str) -> dict[str, ClaimValue]:
    def text(name: str, default: str) -> str:
        value = o.get(name, default)
        return value if isinstance(value, str) else str(value)

    project_path = text("project_path", "assay-dev/example")
    require(
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


def check_github(claims: Mapping[str, ClaimValue]) -> None:
    """Refuse claim sets no GitHub job could have, naming the claim at fault."""
    for name in GITHUB_CLAIMS:
        require(name in claims, f"a GitHub job needs the {name!r} claim", claim=name)
    repository, ref = str(claims["repository"]), str(claims["ref"])
    require(
        bool(_GITHUB_NAME.fullmatch(repository)),
        f"repository {repository!r} is not <owner>/<name>",
        claim="repository",
    )
    require(ref.startswith("refs/"), f"ref {ref!r} is not a full ref (refs/…)", claim="ref")
    require(
        bool(_SHA.fullmatch(str(claims["sha"]))),
        f"sha {claims['sha']!r} is not a lowercase hex commit id",
        claim="sha",
    )
    workflow_ref = str(claims["workflow_ref"])
    require(
        workflow_ref.startswith(f"{repository}/") and "@" in workflow_ref,
        f"workflow_ref {workflow_ref!r} is not {repository}/<path>@<ref>",
        claim="workflow_ref",
    )


def check_gitlab(claims: Mapping[str, ClaimValue]) -> None:
    """Refuse claim sets no GitLab job could have, naming the claim at fault."""
    for name in GITLAB_CLAIMS:
        require(name in claims, f"a GitLab job needs the {name!r} claim", claim=name)
    require(
        bool(_GITLAB_PATH.fullmatch(str(claims["project_path"]))),
        f"project path {claims['project_path']!r} is not <group>/<project>",
        claim="project_path",
    )
    require(
        claims["ref_type"] in ("branch", "tag"),
        f"ref_type {claims['ref_type']!r} is not branch or tag",
        claim="ref_type",
    )
    require(
        bool(_SHA.fullmatch(str(claims["sha"]))),
        f"sha {claims['sha']!r} is not a lowercase hex commit id",
        claim="sha",
    )
    config = str(claims.get("ci_config_ref_uri", ""))
    require(
        "//" in config and "@" in config,
        f"ci_config_ref_uri {config!r} is not <host>/<project>//<path>@<ref>",
        claim="ci_config_ref_uri",
    )
