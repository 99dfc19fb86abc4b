"""``--provenance``: npm's CI checks, the statement, and keyless signing.

libnpmpublish ``ensureProvenanceGeneration`` and ``lib/provenance.js generateProvenance``
(npm-registry.md §1.4–1.5): the CI system is detected from the environment; GitHub Actions
must expose ``ACTIONS_ID_TOKEN_REQUEST_URL`` ("id-token: write"), GitLab CI must mint
``SIGSTORE_ID_TOKEN``; anywhere else is refused. The statement is npm's for that CI, over one
subject, the package purl and the tarball's sha512 in hex; it is signed as @sigstore/sign does
(:mod:`assay.sign`). The environment is always passed in: only the CLI reads ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from assay.provenance.bundle import Bundle
from assay.provenance.ci import CIProvider, build_provenance, detect
from assay.provenance.statement import Statement, Subject
from assay.publish.body import Package, PublishError
from assay.sign.config import SigningConfig
from assay.sign.errors import TokenError
from assay.sign.identity import ci_identity_token
from assay.sign.signer import sign_statement

__all__ = [
    "GITHUB_OIDC_REFUSAL",
    "GITLAB_OIDC_REFUSAL",
    "ensure_provenance_environment",
    "generate_provenance",
    "provenance_statement",
]

GITHUB_OIDC_REFUSAL = (
    'Provenance generation in GitHub Actions requires "write" access to the "id-token" permission'
)
GITLAB_OIDC_REFUSAL = (
    'Provenance generation in GitLab CI requires "SIGSTORE_ID_TOKEN" with "sigstore" audience '
    'to be present in "id_tokens". For more info see:\n'
    "https://docs.gitlab.com/ee/ci/secrets/id_token_authentication.html"
)


def ensure_provenance_environment(env: Mapping[str, str]) -> CIProvider:
    """The CI system of ``env``, or npm's EUSAGE refusal, word for word."""
    provider = detect(env)
    if provider is CIProvider.GITHUB_ACTIONS:
        if not env.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
            raise PublishError(GITHUB_OIDC_REFUSAL, code="EUSAGE")
    elif provider is CIProvider.GITLAB_CI:
        if not env.get("SIGSTORE_ID_TOKEN"):
            raise PublishError(GITLAB_OIDC_REFUSAL, code="EUSAGE")
    elif provider is CIProvider.GENERIC:
        # Ours, not npm's: a CI system that names its builder and hands over a token.
        if not env.get("SIGSTORE_ID_TOKEN"):
            raise PublishError(
                "Provenance generation in a generic CI requires SIGSTORE_ID_TOKEN", code="EUSAGE"
            )
    else:
        # ci-info's name is `null` outside the CI systems it knows.
        raise PublishError(
            "Automatic provenance generation not supported for provider: null", code="EUSAGE"
        )
    return provider


def provenance_statement(package: Package, env: Mapping[str, str]) -> Statement:
    """npm's statement for ``package`` built in the CI job ``env`` describes."""
    subject = Subject(package.purl, {"sha512": package.sha512.hex})
    return build_provenance(env, subject)


def generate_provenance(
    package: Package,
    env: Mapping[str, str],
    config: SigningConfig,
    *,
    client: httpx.Client | None = None,
    rekor_version: int = 1,
) -> Bundle:
    """Check the environment, get the job's token, build and sign the statement (through
    Rekor v1, as npm does, or Rekor v2 with a TSA timestamp)."""
    ensure_provenance_environment(env)
    statement = provenance_statement(package, env)
    try:
        token = ci_identity_token(env, client=client)
    except TokenError as exc:
        raise PublishError(f"error retrieving identity token: {exc.message}") from exc
    return sign_statement(statement, token, config, client=client, rekor_version=rekor_version)
