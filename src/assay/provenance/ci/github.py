"""GitHub Actions provenance, in each generation the npm CLI has written.

The current form (libnpmpublish >= 7.5.0, npm >= 9.8, unchanged through npm 12) is in-toto
Statement v1 with SLSA v1 and the buildType
``https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1`` (npm-registry spec
§2.1). The two older SLSA v0.2 forms are built too, so that stored attestations from 2023 can be
reproduced exactly from the environment they record:

* ``gha@v0`` — npm 9.2–9.4 (pre-GA): builder ``https://github.com/npm/cli@<npm version>``, the
  whole ``GITHUB_WORKFLOW_REF`` as entry point, material URI without the ref;
* ``gha/v2`` — libnpmpublish 7.2–7.4: builder ``https://github.com/actions/runner``, the
  workflow path as entry point, fewer environment variables.

As in npm (which builds the object from ``process.env`` and lets ``JSON.stringify`` drop
``undefined``), an optional variable that is unset is simply absent from the statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from assay.errors import ConfigError
from assay.provenance.ci.environment import require
from assay.provenance.slsa import (
    GITHUB_RUNNER_BUILDER,
    GITHUB_WORKFLOW_V1,
    NPM_GHA_V0,
    NPM_GHA_V2,
    SLSA_V02,
    SLSA_V1,
)
from assay.provenance.statement import STATEMENT_V01, STATEMENT_V1, Statement, Subject

PROVIDER = "GitHub Actions"

# What every generation reads; without these the statement would say "undefined".
REQUIRED = (
    "GITHUB_REPOSITORY",
    "GITHUB_SERVER_URL",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
)


class Generation(Enum):
    """Which npm CLI's statement to write."""

    SLSA_V1 = "slsa-v1"
    GHA_V2 = "gha-v2"
    GHA_V0 = "gha-v0"


# invocation.environment keys of each v0.2 generation, in npm's order (alphabetical).
_V0_ENVIRONMENT = (
    "GITHUB_ACTOR_ID",
    "GITHUB_EVENT_NAME",
    "GITHUB_REF",
    "GITHUB_REF_TYPE",
    "GITHUB_REPOSITORY",
    "GITHUB_REPOSITORY_ID",
    "GITHUB_REPOSITORY_OWNER_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_NUMBER",
    "GITHUB_SHA",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_WORKFLOW_SHA",
)
_V2_ENVIRONMENT = tuple(
    name
    for name in _V0_ENVIRONMENT
    if name not in ("GITHUB_ACTOR_ID", "GITHUB_REF_TYPE", "GITHUB_RUN_NUMBER")
)


def _present(env: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: env[name] for name in names if name in env}


def workflow_path_and_ref(env: Mapping[str, str]) -> tuple[str, str]:
    """Split ``GITHUB_WORKFLOW_REF`` (``owner/repo/.github/workflows/x.yml@refs/heads/main``).

    npm strips ``<GITHUB_REPOSITORY>/`` and splits at the first ``@``.
    """
    relative = env["GITHUB_WORKFLOW_REF"].replace(env["GITHUB_REPOSITORY"] + "/", "", 1)
    path, _, ref = relative.partition("@")
    return path, ref


def build(
    env: Mapping[str, str],
    subject: Subject,
    generation: Generation = Generation.SLSA_V1,
    npm_version: str | None = None,
) -> Statement:
    """The statement npm writes on GitHub Actions for ``subject``.

    ``npm_version`` is needed only for :attr:`Generation.GHA_V0`, whose builder id named it.
    """
    require(env, REQUIRED, PROVIDER)
    if generation is Generation.SLSA_V1:
        require(env, ("RUNNER_ENVIRONMENT",), PROVIDER)
        return Statement(
            type=STATEMENT_V1,
            subjects=(subject,),
            predicate_type=SLSA_V1,
            predicate=_slsa_v1(env),
        )
    if generation is Generation.GHA_V0 and not npm_version:
        raise ConfigError("the gha@v0 generation needs the npm version")
    return Statement(
        type=STATEMENT_V01,
        subjects=(subject,),
        predicate_type=SLSA_V02,
        predicate=_slsa_v02(env, generation, npm_version),
    )


def _slsa_v1(env: Mapping[str, str]) -> dict[str, Any]:
    server, repository = env["GITHUB_SERVER_URL"], env["GITHUB_REPOSITORY"]
    path, workflow_ref = workflow_path_and_ref(env)
    return {
        "buildDefinition": {
            "buildType": GITHUB_WORKFLOW_V1,
            "externalParameters": {
                "workflow": {
                    "ref": workflow_ref,
                    "repository": f"{server}/{repository}",
                    "path": path,
                }
            },
            "internalParameters": {
                "github": {
                    key: env[name]
                    for key, name in (
                        ("event_name", "GITHUB_EVENT_NAME"),
                        ("repository_id", "GITHUB_REPOSITORY_ID"),
                        ("repository_owner_id", "GITHUB_REPOSITORY_OWNER_ID"),
                    )
                    if name in env
                }
            },
            "resolvedDependencies": [
                {
                    "uri": f"git+{server}/{repository}@{env['GITHUB_REF']}",
                    "digest": {"gitCommit": env["GITHUB_SHA"]},
                }
            ],
        },
        "runDetails": {
            "builder": {"id": f"{GITHUB_RUNNER_BUILDER}/{env['RUNNER_ENVIRONMENT']}"},
            "metadata": {
                "invocationId": (
                    f"{server}/{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
                    f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
                )
            },
        },
    }


def _slsa_v02(
    env: Mapping[str, str], generation: Generation, npm_version: str | None
) -> dict[str, Any]:
    server, repository = env["GITHUB_SERVER_URL"], env["GITHUB_REPOSITORY"]
    source = f"git+{server}/{repository}@{env['GITHUB_REF']}"
    commit = {"sha1": env["GITHUB_SHA"]}
    if generation is Generation.GHA_V0:
        build_type, builder = NPM_GHA_V0, f"https://github.com/npm/cli@{npm_version}"
        entry_point = env["GITHUB_WORKFLOW_REF"]
        material = f"git+{server}/{repository}"
        environment = _present(env, _V0_ENVIRONMENT)
    else:
        build_type, builder = NPM_GHA_V2, GITHUB_RUNNER_BUILDER
        entry_point = workflow_path_and_ref(env)[0]
        material = source
        environment = _present(env, _V2_ENVIRONMENT)
    return {
        "buildType": build_type,
        "builder": {"id": builder},
        "invocation": {
            "configSource": {"uri": source, "digest": commit, "entryPoint": entry_point},
            "parameters": {},
            "environment": environment,
        },
        "metadata": {
            "buildInvocationId": f"{env['GITHUB_RUN_ID']}-{env['GITHUB_RUN_ATTEMPT']}",
            "completeness": {"parameters": False, "environment": False, "materials": False},
            "reproducible": False,
        },
        "materials": [{"uri": material, "digest": dict(commit)}],
    }
