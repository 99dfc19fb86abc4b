"""Provenance builders: from a CI job's environment to the statement npm would sign.

Each builder takes the environment as a plain mapping (the caller decides where it comes from;
nothing here reads ``os.environ``) and the subject, and returns an in-toto
:class:`~assay.provenance.statement.Statement`. :func:`detect` names the CI system the way
npm's ci-info does, so ``assay publish --provenance`` picks the same builder npm would.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from assay.errors import CIEnvironmentError
from assay.provenance.ci import generic, github, gitlab
from assay.provenance.statement import Statement, Subject


class CIProvider(Enum):
    """The CI systems we build provenance for."""

    GITHUB_ACTIONS = "GitHub Actions"
    GITLAB_CI = "GitLab CI"
    GENERIC = "generic OIDC CI"


def detect(env: Mapping[str, str]) -> CIProvider | None:
    """The CI system ``env`` belongs to, or ``None`` outside a supported one.

    GitHub and GitLab are detected as ci-info detects them (``GITHUB_ACTIONS``, ``GITLAB_CI``);
    the generic builder is chosen only when its builder id is set explicitly.
    """
    if env.get("GITHUB_ACTIONS"):
        return CIProvider.GITHUB_ACTIONS
    if env.get("GITLAB_CI"):
        return CIProvider.GITLAB_CI
    if env.get(generic.BUILDER_ID):
        return CIProvider.GENERIC
    return None


def build_provenance(env: Mapping[str, str], subject: Subject) -> Statement:
    """The provenance statement for ``subject`` built in the CI job described by ``env``."""
    provider = detect(env)
    if provider is CIProvider.GITHUB_ACTIONS:
        return github.build(env, subject)
    if provider is CIProvider.GITLAB_CI:
        return gitlab.build(env, subject)
    if provider is CIProvider.GENERIC:
        return generic.build(env, subject)
    # npm's wording (libnpmpublish ensureProvenanceGeneration), `null` being ci-info's name.
    raise CIEnvironmentError(
        "Automatic provenance generation not supported for provider: null",
        code="EUSAGE",
    )


__all__ = ["CIProvider", "build_provenance", "detect"]
