"""Matching verified OIDC claims against trusted publishers (pure), and binding provenance to
the exchanged identity. The HTTP refusals are in tests/integration/test_trusted_publishing.py."""

from __future__ import annotations

from typing import Any

import pytest

from assay.oidc.claims import CIJob
from assay.registry.errors import Unprocessable
from assay.registry.publisher_claims import (
    GITHUB_ISSUER,
    GITLAB_COM,
    Match,
    Mismatch,
    gitlab_config,
    match,
    npm_user,
)
from assay.registry.trusted_publishing import bind_provenance, exchange_audience
from assay.verify.facts import VerifiedFacts

ORG = "7d4e3a2c-0b1f-4e5a-9c8d-112233445566"
PROJECT = "a1b2c3d4-0000-4000-8000-000000000001"
PIPELINE = "a1b2c3d4-0000-4000-8000-000000000002"
CONTEXT = "a1b2c3d4-0000-4000-8000-000000000003"


def _github(**claims: str) -> dict[str, Any]:
    job = CIJob.github("acme/widget", claims=claims)
    return {**job.token_claims(), "iss": GITHUB_ISSUER, "jti": "j-1"}


def _publisher(**extra: Any) -> dict[str, Any]:
    return {"repository": "acme/widget", "workflow_ref": {"file": "release.yml"}, **extra}


def test_a_github_token_matches_and_yields_identity_and_pins() -> None:
    claims = _github(ref="refs/tags/v1.0.0")
    result = match("github", _publisher(), None, claims, emulated=False)
    assert isinstance(result, Match)
    assert result.identity["repository_url"] == "https://github.com/acme/widget"
    assert result.identity["workflow"] == ".github/workflows/release.yml"
    assert result.identity["emulated"] is False
    assert result.pins == {
        "repository_id": claims["repository_id"],
        "repository_owner_id": claims["repository_owner_id"],
    }
    # Repository names are compared without case, as GitHub does.
    upper = _publisher(repository="ACME/Widget")
    assert isinstance(match("github", upper, None, claims, emulated=False), Match)


@pytest.mark.parametrize(
    ("publisher", "claims", "claim"),
    [
        (_publisher(), {"iss": "https://token.actions.example"}, "iss"),
        (_publisher(repository="acme/other"), {}, "repository"),
        (_publisher(workflow_ref={"file": "ci.yml"}), {}, "workflow_ref"),
        (_publisher(environment="prod"), {}, "environment"),
        (_publisher(), {"event_name": "pull_request_target"}, "event_name"),
        (_publisher(job_workflow_ref="acme/s/.github/workflows/p.yml"), {}, "job_workflow_ref"),
    ],
)
def test_each_github_mismatch_names_its_claim(
    publisher: dict[str, Any], claims: dict[str, str], claim: str
) -> None:
    token = {**_github(**{k: v for k, v in claims.items() if k != "iss"}), **claims}
    result = match("github", publisher, None, token, emulated=False)
    assert isinstance(result, Mismatch)
    assert result.claim == claim
    # The reason quotes the token, never the publisher's expected value.
    assert "ci.yml" not in result.reason or claim != "workflow_ref"
    assert "acme/other" not in result.reason
    assert "prod" not in result.reason


def test_pins_refuse_a_recreated_repository() -> None:
    claims = _github()
    pins = {"repository_id": "1", "repository_owner_id": claims["repository_owner_id"]}
    result = match("github", _publisher(), pins, claims, emulated=False)
    assert isinstance(result, Mismatch)
    assert result.claim == "repository_id"


def test_an_emulated_job_stands_in_for_its_forge_only() -> None:
    job = CIJob.github("acme/widget")
    claims = {**job.token_claims(), "iss": "http://127.0.0.1:1/-/oidc"}
    assert isinstance(match("github", _publisher(), None, claims, emulated=True), Match)
    # Not emulated (emulation off): the instance's URL is just another issuer.
    assert isinstance(match("github", _publisher(), None, claims, emulated=False), Mismatch)
    # A GitHub Enterprise Server job matches a publisher naming that server's issuer only.
    ghes = CIJob.github("acme/widget", server_url="https://ghes.example")
    claims = {**ghes.token_claims(), "iss": "http://127.0.0.1:1/-/oidc"}
    assert isinstance(match("github", _publisher(), None, claims, emulated=True), Mismatch)
    named = _publisher(issuer="https://ghes.example/_services/token")
    assert isinstance(match("github", named, None, claims, emulated=True), Match)


def test_gitlab_config_uri_and_host() -> None:
    assert gitlab_config("gitlab.com/g/p//.gitlab-ci.yml@refs/tags/v@1") == (
        "gitlab.com/g/p",
        ".gitlab-ci.yml",
        "refs/tags/v@1",
    )
    assert gitlab_config("gitlab.com/g/p/.gitlab-ci.yml") is None
    job = CIJob.gitlab("g/p")
    claims = {**job.token_claims(), "iss": GITLAB_COM}
    publisher = {"project_path": "g/p", "ci_config_ref_uri": {"file": ".gitlab-ci.yml"}}
    result = match("gitlab", publisher, None, claims, emulated=False)
    assert isinstance(result, Match)
    assert result.identity["run"] == f"https://gitlab.com/g/p/-/jobs/{claims['job_id']}"
    assert result.pins == {
        "project_id": claims["project_id"],
        "namespace_id": claims["namespace_id"],
    }
    # A config in a subdirectory is not the top-level pipeline file npm configures.
    nested = {**claims, "ci_config_ref_uri": "gitlab.com/g/p//ci/.gitlab-ci.yml@refs/heads/main"}
    assert isinstance(match("gitlab", publisher, None, nested, emulated=False), Mismatch)


def _circleci(**extra: Any) -> dict[str, Any]:
    return {
        "iss": f"https://oidc.circleci.com/org/{ORG}",
        "sub": f"org/{ORG}/project/{PROJECT}/user/u-1",
        "aud": "npm:registry.example",
        "oidc.circleci.com/project-id": PROJECT,
        "oidc.circleci.com/pipeline-definition-id": PIPELINE,
        "oidc.circleci.com/vcs-origin": "github.com/acme/widget",
        "oidc.circleci.com/vcs-ref": "refs/heads/main",
        "oidc.circleci.com/context-ids": [CONTEXT],
        "oidc.circleci.com/job-id": "job-9",
        **extra,
    }


def _circle_publisher(**extra: Any) -> dict[str, Any]:
    """``npm trust circleci``'s claims (lib/commands/trust/circleci.js optionsToBody)."""
    return {
        "oidc.circleci.com/org-id": ORG,
        "oidc.circleci.com/project-id": PROJECT,
        "oidc.circleci.com/pipeline-definition-id": PIPELINE,
        "oidc.circleci.com/vcs-origin": "github.com/acme/widget",
        **extra,
    }


def test_circleci_claims() -> None:
    result = match("circleci", _circle_publisher(), None, _circleci(), emulated=False)
    assert isinstance(result, Match)
    assert result.identity["repository_url"] == "https://github.com/acme/widget"
    with_context = _circle_publisher(**{"oidc.circleci.com/context-ids": [CONTEXT]})
    assert isinstance(match("circleci", with_context, None, _circleci(), emulated=False), Match)
    for claims, failed in (
        (_circleci(**{"oidc.circleci.com/context-ids": []}), "oidc.circleci.com/context-ids"),
        (_circleci(**{"oidc.circleci.com/project-id": "x"}), "oidc.circleci.com/project-id"),
        (_circleci(**{"oidc.circleci.com/ssh-rerun": True}), "oidc.circleci.com/ssh-rerun"),
        (_circleci(iss="https://oidc.circleci.com/org/other"), "iss"),
    ):
        result = match("circleci", with_context, None, claims, emulated=False)
        assert isinstance(result, Mismatch)
        assert result.claim == failed


def test_npm_user_and_audience() -> None:
    assert npm_user("github", "u-1") == {
        "name": "GitHub Actions",
        "email": "npm-oidc-no-reply@github.com",
        "trustedPublisher": {"id": "github", "oidcConfigId": "oidc:u-1"},
    }
    assert exchange_audience("https://registry.example:8443/") == "npm:registry.example"


def _facts(repository: str, config: str) -> VerifiedFacts:
    return VerifiedFacts(
        issuer=GITHUB_ISSUER,
        ci="GitHub Actions",
        signer_identity=config,
        source_repository_uri=repository,
        build_config_uri=config,
    )


def test_provenance_must_name_the_exchanged_repository_and_workflow() -> None:
    identity = {
        "provider": "github",
        "repository_url": "https://github.com/acme/widget",
        "workflow": ".github/workflows/release.yml",
    }
    wf = "https://github.com/acme/widget/.github/workflows/release.yml@refs/heads/main"
    bind_provenance(_facts("https://github.com/Acme/widget", wf), identity)
    with pytest.raises(Unprocessable, match="source repository"):
        bind_provenance(_facts("https://github.com/evil/widget", wf), identity)
    other = wf.replace("release.yml", "ci.yml")
    with pytest.raises(Unprocessable, match="build configuration"):
        bind_provenance(_facts("https://github.com/acme/widget", other), identity)
