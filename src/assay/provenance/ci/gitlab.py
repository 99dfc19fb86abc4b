"""GitLab CI provenance: in-toto Statement v0.1 with SLSA v0.2, as npm writes it.

libnpmpublish >= 7.4.0 (npm >= 9.7, unchanged through npm 12) builds this shape on GitLab
(npm-registry spec §2.2): buildType ``https://github.com/npm/cli/gitlab/v0alpha1``, the runner
as builder, the job as entry point, and a fixed list of CI variables copied into
``invocation.parameters`` — unset ones absent, as ``JSON.stringify`` drops ``undefined``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.provenance.ci.environment import require
from assay.provenance.slsa import NPM_GITLAB_V0ALPHA1, SLSA_V02
from assay.provenance.statement import STATEMENT_V01, Statement, Subject

PROVIDER = "GitLab CI"

REQUIRED = (
    "CI_PROJECT_URL",
    "CI_RUNNER_ID",
    "CI_COMMIT_SHA",
    "CI_JOB_NAME",
    "CI_SERVER_URL",
    "CI_PROJECT_PATH",
    "CI_JOB_ID",
    "CI_PIPELINE_ID",
    "CI_CONFIG_PATH",
    "CI_JOB_URL",
)

# invocation.parameters, exactly these names in this order (libnpmpublish lib/provenance.js).
PARAMETERS = (
    "CI",
    "CI_API_GRAPHQL_URL",
    "CI_API_V4_URL",
    "CI_BUILD_BEFORE_SHA",
    "CI_BUILD_ID",
    "CI_BUILD_NAME",
    "CI_BUILD_REF",
    "CI_BUILD_REF_NAME",
    "CI_BUILD_REF_SLUG",
    "CI_BUILD_STAGE",
    "CI_COMMIT_BEFORE_SHA",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_REF_NAME",
    "CI_COMMIT_REF_PROTECTED",
    "CI_COMMIT_REF_SLUG",
    "CI_COMMIT_SHA",
    "CI_COMMIT_SHORT_SHA",
    "CI_COMMIT_TIMESTAMP",
    "CI_COMMIT_TITLE",
    "CI_CONFIG_PATH",
    "CI_DEFAULT_BRANCH",
    "CI_DEPENDENCY_PROXY_DIRECT_GROUP_IMAGE_PREFIX",
    "CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX",
    "CI_DEPENDENCY_PROXY_SERVER",
    "CI_DEPENDENCY_PROXY_USER",
    "CI_JOB_ID",
    "CI_JOB_NAME",
    "CI_JOB_NAME_SLUG",
    "CI_JOB_STAGE",
    "CI_JOB_STARTED_AT",
    "CI_JOB_URL",
    "CI_NODE_TOTAL",
    "CI_PAGES_DOMAIN",
    "CI_PAGES_URL",
    "CI_PIPELINE_CREATED_AT",
    "CI_PIPELINE_ID",
    "CI_PIPELINE_IID",
    "CI_PIPELINE_SOURCE",
    "CI_PIPELINE_URL",
    "CI_PROJECT_CLASSIFICATION_LABEL",
    "CI_PROJECT_DESCRIPTION",
    "CI_PROJECT_ID",
    "CI_PROJECT_NAME",
    "CI_PROJECT_NAMESPACE",
    "CI_PROJECT_NAMESPACE_ID",
    "CI_PROJECT_PATH",
    "CI_PROJECT_PATH_SLUG",
    "CI_PROJECT_REPOSITORY_LANGUAGES",
    "CI_PROJECT_ROOT_NAMESPACE",
    "CI_PROJECT_TITLE",
    "CI_PROJECT_URL",
    "CI_PROJECT_VISIBILITY",
    "CI_REGISTRY",
    "CI_REGISTRY_IMAGE",
    "CI_REGISTRY_USER",
    "CI_RUNNER_DESCRIPTION",
    "CI_RUNNER_ID",
    "CI_RUNNER_TAGS",
    "CI_SERVER_HOST",
    "CI_SERVER_NAME",
    "CI_SERVER_PORT",
    "CI_SERVER_PROTOCOL",
    "CI_SERVER_REVISION",
    "CI_SERVER_SHELL_SSH_HOST",
    "CI_SERVER_SHELL_SSH_PORT",
    "CI_SERVER_URL",
    "CI_SERVER_VERSION",
    "CI_SERVER_VERSION_MAJOR",
    "CI_SERVER_VERSION_MINOR",
    "CI_SERVER_VERSION_PATCH",
    "CI_TEMPLATE_REGISTRY_HOST",
    "GITLAB_CI",
    "GITLAB_FEATURES",
    "GITLAB_USER_ID",
    "GITLAB_USER_LOGIN",
    "RUNNER_GENERATE_ARTIFACTS_METADATA",
)


def build(env: Mapping[str, str], subject: Subject) -> Statement:
    """The statement npm writes on GitLab CI for ``subject``."""
    require(env, REQUIRED, PROVIDER)
    return Statement(
        type=STATEMENT_V01,
        subjects=(subject,),
        predicate_type=SLSA_V02,
        predicate=_predicate(env),
    )


def _predicate(env: Mapping[str, str]) -> dict[str, Any]:
    project = env["CI_PROJECT_URL"]
    commit = {"sha1": env["CI_COMMIT_SHA"]}
    environment: dict[str, Any] = {
        key: env[name]
        for key, name in (
            ("name", "CI_RUNNER_DESCRIPTION"),
            ("architecture", "CI_RUNNER_EXECUTABLE_ARCH"),
            ("server", "CI_SERVER_URL"),
            ("project", "CI_PROJECT_PATH"),
        )
        if name in env
    }
    environment["job"] = {"id": env["CI_JOB_ID"]}
    environment["pipeline"] = {"id": env["CI_PIPELINE_ID"], "ref": env["CI_CONFIG_PATH"]}
    return {
        "buildType": NPM_GITLAB_V0ALPHA1,
        "builder": {"id": f"{project}/-/runners/{env['CI_RUNNER_ID']}"},
        "invocation": {
            "configSource": {
                "uri": f"git+{project}",
                "digest": commit,
                "entryPoint": env["CI_JOB_NAME"],
            },
            "parameters": {name: env[name] for name in PARAMETERS if name in env},
            "environment": environment,
        },
        "metadata": {
            "buildInvocationId": env["CI_JOB_URL"],
            "completeness": {"parameters": True, "environment": True, "materials": False},
            "reproducible": False,
        },
        "materials": [{"uri": f"git+{project}", "digest": dict(commit)}],
    }
