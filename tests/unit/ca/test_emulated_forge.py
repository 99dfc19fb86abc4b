"""The emulated issuer (kind ``ci``) certifies a job on the forge its ``server_url`` claim names."""

from __future__ import annotations

import pytest

from assay.ca import CAError
from assay.ca.extensions import SERVER_URL_CLAIM, IssuerProfile, map_identity
from assay.oidc.claims import SERVER_URL_CLAIM as ISSUED_CLAIM
from assay.oidc.claims import CIJob
from assay.provenance.fulcio import (
    OID_BUILD_CONFIG_URI,
    OID_RUN_INVOCATION_URI,
    OID_SOURCE_REPOSITORY_URI,
    der_utf8_string,
)

ISSUER = "http://127.0.0.1:4873/-/oidc"
EMULATED = IssuerProfile(ISSUER, "ci")
FORGE = "http://127.0.0.1:9418"


def claims(job: CIJob) -> dict[str, object]:
    return {**job.token_claims(), "iss": ISSUER, "aud": "sigstore"}


def test_the_issuer_and_the_ca_name_the_same_claim() -> None:
    assert SERVER_URL_CLAIM == ISSUED_CLAIM


def test_a_default_job_carries_no_server_url_claim() -> None:
    assert SERVER_URL_CLAIM not in CIJob.github("acme/widget").token_claims()
    assert SERVER_URL_CLAIM not in CIJob.gitlab("acme/widget").token_claims()


def test_a_server_url_given_as_a_claim_never_overrides_the_job_s() -> None:
    job = CIJob.create(
        "github", {"repository": "acme/widget", SERVER_URL_CLAIM: "https://x.example"}
    )
    assert SERVER_URL_CLAIM not in job.token_claims()


def test_github_shaped_job_on_another_forge() -> None:
    job = CIJob.github("acme/widget", server_url=FORGE)
    identity = map_identity(EMULATED, claims(job))
    assert identity.san_value.startswith(f"{FORGE}/acme/widget/.github/workflows/release.yml@")
    assert identity.value(OID_SOURCE_REPOSITORY_URI) == der_utf8_string(f"{FORGE}/acme/widget")
    run = identity.value(OID_RUN_INVOCATION_URI)
    assert run is not None
    assert run.endswith(b"/attempts/1")
    assert f"{FORGE}/acme/widget/actions/runs/".encode() in run


def test_gitlab_shaped_job_on_a_plain_http_forge() -> None:
    job = CIJob.gitlab("team/gadget", server_url=FORGE)
    identity = map_identity(EMULATED, claims(job))
    config = f"{FORGE}/team/gadget//.gitlab-ci.yml@refs/heads/main"
    assert identity.san_value == config
    assert identity.value(OID_BUILD_CONFIG_URI) == der_utf8_string(config)
    assert identity.value(OID_SOURCE_REPOSITORY_URI) == der_utf8_string(f"{FORGE}/team/gadget")


def test_default_forges_are_unchanged() -> None:
    identity = map_identity(EMULATED, claims(CIJob.github("acme/widget")))
    assert identity.value(OID_SOURCE_REPOSITORY_URI) == der_utf8_string(
        "https://github.com/acme/widget"
    )
    gitlab = map_identity(EMULATED, claims(CIJob.gitlab("team/gadget")))
    assert gitlab.san_value.startswith("https://gitlab.com/team/gadget//")


def test_a_server_url_that_is_not_http_is_refused() -> None:
    bad = {**claims(CIJob.github("acme/widget")), SERVER_URL_CLAIM: "file:///etc"}
    with pytest.raises(CAError, match="server_url"):
        map_identity(EMULATED, bad)


def test_real_issuers_ignore_the_claim() -> None:
    github = IssuerProfile("https://token.actions.githubusercontent.com", "github")
    job = CIJob.github("acme/widget", server_url=FORGE)
    token = {**job.token_claims(), "iss": github.issuer_url, "aud": "sigstore"}
    identity = map_identity(github, token)
    assert identity.value(OID_SOURCE_REPOSITORY_URI) == der_utf8_string(
        "https://github.com/acme/widget"
    )
