"""Provenance for CI systems npm has no builder for: our documented ``oidc-ci/v1`` buildType.

Any CI system that can mint an OIDC token for the job (Buildkite, CircleCI, Jenkins with an
OIDC plugin, a company's own runner) can publish with provenance through Assay by exporting
the ``ASSAY_CI_*`` variables below. The statement is in-toto v1 with SLSA v1, shaped like npm's
GitHub form so the same tools read it; the buildType is described in
``docs/buildtypes/oidc-ci-v1.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assay.provenance.ci.environment import require
from assay.provenance.slsa import ASSAY_OIDC_CI_V1, SLSA_V1
from assay.provenance.statement import STATEMENT_V1, Statement, Subject

PROVIDER = "generic OIDC CI"

NAME = "ASSAY_CI_NAME"
BUILDER_ID = "ASSAY_CI_BUILDER_ID"
REPOSITORY = "ASSAY_CI_SOURCE_REPOSITORY"
COMMIT = "ASSAY_CI_SOURCE_COMMIT"
REF = "ASSAY_CI_SOURCE_REF"
BUILD_FILE = "ASSAY_CI_BUILD_FILE"
INVOCATION_ID = "ASSAY_CI_INVOCATION_ID"
EVENT = "ASSAY_CI_EVENT"

REQUIRED = (NAME, BUILDER_ID, REPOSITORY, COMMIT, REF, BUILD_FILE, INVOCATION_ID)


def build(env: Mapping[str, str], subject: Subject) -> Statement:
    """The ``oidc-ci/v1`` statement for ``subject`` from the ``ASSAY_CI_*`` variables."""
    require(env, REQUIRED, PROVIDER)
    repository = env[REPOSITORY].removesuffix(".git")
    ci: dict[str, Any] = {"name": env[NAME]}
    if env.get(EVENT):
        ci["event"] = env[EVENT]
    predicate: dict[str, Any] = {
        "buildDefinition": {
            "buildType": ASSAY_OIDC_CI_V1,
            "externalParameters": {
                "source": {"repository": repository, "ref": env[REF], "path": env[BUILD_FILE]}
            },
            "internalParameters": {"ci": ci},
            "resolvedDependencies": [
                {"uri": f"git+{repository}@{env[REF]}", "digest": {"gitCommit": env[COMMIT]}}
            ],
        },
        "runDetails": {
            "builder": {"id": env[BUILDER_ID]},
            "metadata": {"invocationId": env[INVOCATION_ID]},
        },
    }
    return Statement(
        type=STATEMENT_V1, subjects=(subject,), predicate_type=SLSA_V1, predicate=predicate
    )
