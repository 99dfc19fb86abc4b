"""CI jobs: claims shaped like GitHub's and GitLab's, and an environment that agrees with them."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.errors import ConfigError, FormatError
from assay.oidc.claims import CIJob, parse_assignment
from assay.oidc.providers import GITHUB_CLAIMS, GITLAB_CLAIMS, gitlab_config_path
from assay.provenance.ci import github as github_provenance
from assay.provenance.ci import gitlab as gitlab_provenance
from assay.provenance.statement import Subject
from assay.provenance.subject import Digest, npm_purl

SHA = "0123456789abcdef0123456789abcdef01234567"
SUBJECT = Subject(npm_purl("widget", "1.0.0"), {"sha512": Digest.of(b"tgz").hex})

# GitHub variable -> the claim it must equal (docs.github.com "Variables reference").
GITHUB_ENV_CLAIMS = {
    "GITHUB_REPOSITORY": "repository",
    "GITHUB_REPOSITORY_ID": "repository_id",
    "GITHUB_REPOSITORY_OWNER": "repository_owner",
    "GITHUB_REPOSITORY_OWNER_ID": "repository_owner_id",
    "GITHUB_WORKFLOW": "workflow",
    "GITHUB_WORKFLOW_REF": "workflow_ref",
    "GITHUB_WORKFLOW_SHA": "workflow_sha",
    "GITHUB_REF": "ref",
    "GITHUB_REF_TYPE": "ref_type",
    "GITHUB_SHA": "sha",
    "GITHUB_EVENT_NAME": "event_name",
    "GITHUB_RUN_ID": "run_id",
    "GITHUB_RUN_NUMBER": "run_number",
    "GITHUB_RUN_ATTEMPT": "run_attempt",
    "GITHUB_ACTOR": "actor",
    "GITHUB_ACTOR_ID": "actor_id",
    "RUNNER_ENVIRONMENT": "runner_environment",
}
GITLAB_ENV_CLAIMS = {
    "CI_PROJECT_PATH": "project_path",
    "CI_PROJECT_ID": "project_id",
    "CI_PROJECT_NAMESPACE": "namespace_path",
    "CI_PROJECT_NAMESPACE_ID": "namespace_id",
    "CI_PROJECT_VISIBILITY": "project_visibility",
    "CI_COMMIT_SHA": "sha",
    "CI_COMMIT_REF_NAME": "ref",
    "CI_COMMIT_REF_PROTECTED": "ref_protected",
    "CI_JOB_ID": "job_id",
    "CI_PIPELINE_ID": "pipeline_id",
    "CI_PIPELINE_SOURCE": "pipeline_source",
    "CI_RUNNER_ID": "runner_id",
    "GITLAB_USER_ID": "user_id",
    "GITLAB_USER_LOGIN": "user_login",
}


def test_github_job_claims_follow_from_few_inputs() -> None:
    job = CIJob.github("acme/widget", workflow=".github/workflows/publish.yml", sha=SHA)
    claims = job.token_claims()
    assert set(GITHUB_CLAIMS) <= set(claims)
    assert "environment" not in claims
    assert claims["sub"] == "repo:acme/widget:ref:refs/heads/main"
    assert claims["repository_owner"] == "acme"
    assert claims["workflow_ref"] == "acme/widget/.github/workflows/publish.yml@refs/heads/main"
    assert claims["job_workflow_ref"] == claims["workflow_ref"]
    assert claims["workflow_sha"] == claims["job_workflow_sha"] == SHA
    assert claims["workflow"] == "publish"
    assert claims["ref_type"] == "branch"
    assert claims["runner_environment"] == "github-hosted"
    assert claims["head_ref"] == claims["base_ref"] == ""
    # GitHub writes every custom claim as a string, the numeric ids included.
    assert all(isinstance(value, str) for value in claims.values())
    assert all(str(claims[name]).isdecimal() for name in ("repository_id", "actor_id", "run_id"))
    assert job.default_audience == "https://github.com/acme"


@pytest.mark.parametrize(
    ("overrides", "subject"),
    [
        ({"ref": "refs/tags/v1.2.3"}, "repo:acme/widget:ref:refs/tags/v1.2.3"),
        ({"environment": "production"}, "repo:acme/widget:environment:production"),
        (
            {"event_name": "pull_request", "ref": "refs/pull/7/merge"},
            "repo:acme/widget:pull_request",
        ),
        (
            {"event_name": "pull_request", "environment": "preview"},
            "repo:acme/widget:environment:preview",
        ),
        ({"sub": "repo:acme/widget:custom"}, "repo:acme/widget:custom"),
    ],
)
def test_github_subject_rules(overrides: dict[str, str], subject: str) -> None:
    job = CIJob.create("github", {"repository": "acme/widget", **overrides})
    assert job.claims["sub"] == subject
    if "environment" in overrides:
        assert job.claims["environment"] == overrides["environment"]


def test_github_tag_ref() -> None:
    job = CIJob.create("github", {"ref": "refs/tags/v1.2.3"})
    assert job.claims["ref_type"] == "tag"
    assert str(job.claims["workflow_ref"]).endswith("@refs/tags/v1.2.3")
    assert job.environment()["GITHUB_REF_NAME"] == "v1.2.3"


def test_overriding_a_claim_moves_what_derives_from_it() -> None:
    job = CIJob.create("github", {"repository": "other/thing"})
    assert job.claims["repository_owner"] == "other"
    assert job.claims["sub"] == "repo:other/thing:ref:refs/heads/main"
    assert str(job.claims["workflow_ref"]).startswith("other/thing/.github/workflows/")
    assert job.default_audience == "https://github.com/other"


def test_ids_are_stable_per_name() -> None:
    one, two = CIJob.github("acme/widget"), CIJob.github("acme/widget")
    other = CIJob.github("acme/gadget")
    assert one.claims["repository_id"] == two.claims["repository_id"]
    assert one.claims["repository_id"] != other.claims["repository_id"]
    assert one.claims["repository_owner_id"] == other.claims["repository_owner_id"]
    assert one.claims["sha"] == two.claims["sha"]


def test_github_environment_agrees_with_the_claims() -> None:
    job = CIJob.github("acme/widget", sha=SHA, claims={"environment": "release"})
    url, request_token = "http://oidc/ci/token?api-version=2.0", secrets.token_urlsafe()
    env = job.environment(request_url=url, request_token=request_token)
    for variable, claim in GITHUB_ENV_CLAIMS.items():
        assert env[variable] == job.claims[claim], variable
    assert env["GITHUB_ACTIONS"] == env["CI"] == "true"
    assert env["GITHUB_SERVER_URL"] == "https://github.com"
    assert env["GITHUB_REF_NAME"] == "main"
    assert env["ACTIONS_ID_TOKEN_REQUEST_URL"] == url
    assert env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] == request_token


def test_github_environment_builds_the_provenance_npm_would() -> None:
    job = CIJob.github("acme/widget", workflow=".github/workflows/publish.yml", sha=SHA)
    predicate = github_provenance.build(job.environment(), SUBJECT).predicate
    assert predicate is not None
    definition = predicate["buildDefinition"]
    assert definition["externalParameters"]["workflow"] == {
        "ref": "refs/heads/main",
        "repository": "https://github.com/acme/widget",
        "path": ".github/workflows/publish.yml",
    }
    assert definition["resolvedDependencies"][0]["digest"] == {"gitCommit": SHA}
    assert (
        definition["internalParameters"]["github"]["repository_id"] == (job.claims["repository_id"])
    )
    run = predicate["runDetails"]
    assert run["builder"]["id"] == "https://github.com/actions/runner/github-hosted"
    assert run["metadata"]["invocationId"] == (
        f"https://github.com/acme/widget/actions/runs/{job.claims['run_id']}/attempts/1"
    )


def test_github_enterprise_server() -> None:
    job = CIJob.github("acme/widget", server_url="https://ghe.example.com/")
    env = job.environment()
    assert job.server_url == env["GITHUB_SERVER_URL"] == "https://ghe.example.com"
    assert env["GITHUB_API_URL"] == "https://ghe.example.com/api/v3"
    assert job.default_audience == "https://ghe.example.com/acme"


def test_gitlab_job_claims_follow_from_few_inputs() -> None:
    job = CIJob.gitlab(
        "group/sub/widget", config_path="ci/release.yml", ref="v1.2.0", ref_type="tag", sha=SHA
    )
    claims = job.token_claims()
    assert set(GITLAB_CLAIMS) <= set(claims)
    assert claims["sub"] == "project_path:group/sub/widget:ref_type:tag:ref:v1.2.0"
    assert claims["ref_path"] == "refs/tags/v1.2.0"
    assert claims["namespace_path"] == "group/sub"
    assert (
        claims["ci_config_ref_uri"]
        == "gitlab.com/group/sub/widget//ci/release.yml@refs/tags/v1.2.0"
    )
    assert claims["ci_config_sha"] == claims["sha"] == SHA
    assert claims["runner_environment"] == "gitlab-hosted"
    # GitLab writes runner_id as a number, everything else as strings.
    assert isinstance(claims["runner_id"], int)
    assert all(isinstance(v, str) for k, v in claims.items() if k != "runner_id")
    assert job.default_audience == "https://gitlab.com"


def test_gitlab_environment_agrees_with_the_claims() -> None:
    job = CIJob.gitlab("group/widget", config_path="ci/release.yml", sha=SHA)
    minted = secrets.token_urlsafe()
    env = job.environment(id_tokens={"SIGSTORE_ID_TOKEN": minted})
    for variable, claim in GITLAB_ENV_CLAIMS.items():
        assert env[variable] == str(job.claims[claim]), variable
    assert env["GITLAB_CI"] == env["CI"] == "true"
    assert env["CI_CONFIG_PATH"] == "ci/release.yml"
    assert env["CI_PROJECT_URL"] == "https://gitlab.com/group/widget"
    assert env["CI_JOB_URL"] == f"https://gitlab.com/group/widget/-/jobs/{job.claims['job_id']}"
    assert env["CI_COMMIT_BRANCH"] == "main"
    assert "CI_COMMIT_TAG" not in env
    assert env["CI_SERVER_HOST"] == "gitlab.com"
    assert env["SIGSTORE_ID_TOKEN"] == minted
    assert "ACTIONS_ID_TOKEN_REQUEST_URL" not in job.environment(request_url="x")


def test_gitlab_environment_builds_the_provenance_npm_would() -> None:
    job = CIJob.gitlab("group/widget", sha=SHA)
    predicate = gitlab_provenance.build(job.environment(), SUBJECT).predicate
    assert predicate is not None
    runner = job.claims["runner_id"]
    assert predicate["builder"]["id"] == f"https://gitlab.com/group/widget/-/runners/{runner}"
    assert predicate["invocation"]["configSource"] == {
        "uri": "git+https://gitlab.com/group/widget",
        "digest": {"sha1": SHA},
        "entryPoint": "publish",
    }
    assert predicate["invocation"]["environment"]["pipeline"]["ref"] == ".gitlab-ci.yml"


def test_self_managed_gitlab_with_a_port() -> None:
    job = CIJob.gitlab("group/widget", server_url="http://gitlab.internal:8080")
    env = job.environment()
    assert str(job.claims["ci_config_ref_uri"]).startswith("gitlab.internal:8080/group/widget//")
    assert env["CI_SERVER_HOST"] == "gitlab.internal"
    assert env["CI_SERVER_PORT"] == "8080"
    assert env["CI_SERVER_PROTOCOL"] == "http"
    assert job.default_audience == "http://gitlab.internal:8080"


def test_gitlab_claim_overrides() -> None:
    job = CIJob.create(
        "gitlab", {"project_path": "a/b", "runner_id": "42", "environment": "production"}
    )
    assert job.claims["runner_id"] == 42
    assert job.claims["environment"] == "production"
    assert job.environment()["CI_ENVIRONMENT_NAME"] == "production"
    assert job.claims["sub"] == "project_path:a/b:ref_type:branch:ref:main"


def test_variables_override_and_extend_the_environment() -> None:
    job = CIJob.gitlab(variables={"CI_JOB_NAME": "release", "EXTRA": "1"})
    env = job.environment()
    assert env["CI_JOB_NAME"] == "release"
    assert env["EXTRA"] == "1"


def test_json_round_trip() -> None:
    for job in (CIJob.github(claims={"environment": "x"}), CIJob.gitlab(variables={"A": "b"})):
        assert CIJob.from_json(job.to_json()) == job


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"provider": "jenkins", "server_url": "https://x", "claims": {}},
        {"provider": "github", "server_url": "https://github.com", "claims": []},
        {"provider": "github", "server_url": "https://github.com", "claims": {"sub": "x"}},
        {"provider": "github", "server_url": 3, "claims": {}},
    ],
)
def test_from_json_refuses_what_is_not_a_job(data: object) -> None:
    with pytest.raises(FormatError):
        CIJob.from_json(data)


@pytest.mark.parametrize(
    ("provider", "claims", "fragment"),
    [
        ("github", {"iss": "https://evil"}, "set by the issuer"),
        ("github", {"aud": "x"}, "set by the issuer"),
        ("github", {"repository": "no-slash"}, "is not <owner>/<name>"),
        ("github", {"ref": "main"}, "not a full ref"),
        ("github", {"sha": "xyz"}, "not a lowercase hex commit id"),
        (
            "github",
            {"workflow_ref": "other/repo/.github/workflows/x.yml@refs/heads/main"},
            "is not",
        ),
        ("gitlab", {"project_path": "nogroup"}, "is not <group>/<project>"),
        ("gitlab", {"ref_type": "commit"}, "is not branch or tag"),
        ("gitlab", {"runner_id": "abc"}, "must be an integer"),
        ("gitlab", {"ci_config_ref_uri": "gitlab.com/a/b"}, "ci_config_ref_uri"),
    ],
)
def test_impossible_claims_are_refused(
    provider: str, claims: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        CIJob.create(provider, claims)  # type: ignore[arg-type]


def test_other_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="unknown CI provider"):
        CIJob.create("jenkins")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an http"):
        CIJob.github(server_url="ftp://github.com")
    with pytest.raises(ConfigError, match="not a variable name"):
        CIJob.github(variables={"1BAD": "x"})


def test_parse_assignment() -> None:
    assert parse_assignment("a=b=c") == ("a", "b=c")
    assert parse_assignment("a=") == ("a", "")
    for bad in ("novalue", "=x"):
        with pytest.raises(ConfigError, match="KEY=VALUE"):
            parse_assignment(bad)


def test_gitlab_config_path() -> None:
    assert gitlab_config_path("gitlab.com/a/b//ci/x.yml@refs/heads/main") == "ci/x.yml"
    assert gitlab_config_path("h:1/a/b//.gitlab-ci.yml@refs/tags/v@1") == ".gitlab-ci.yml"


_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True)


@given(owner=_NAME, name=_NAME, branch=_NAME, tag=st.booleans(), env=st.none() | _NAME)
def test_github_claims_and_environment_always_agree(
    owner: str, name: str, branch: str, tag: bool, env: str | None
) -> None:
    ref = f"refs/{'tags' if tag else 'heads'}/{branch}"
    extra = {"environment": env} if env else {}
    job = CIJob.github(f"{owner}/{name}", ref=ref, claims=extra)
    environment = job.environment()
    for variable, claim in GITHUB_ENV_CLAIMS.items():
        assert environment[variable] == job.claims[claim]
    path, workflow_ref = github_provenance.workflow_path_and_ref(environment)
    assert (path, workflow_ref) == (".github/workflows/release.yml", ref)
    assert environment["GITHUB_REF_NAME"] == branch


@given(groups=st.lists(_NAME, min_size=2, max_size=4), branch=_NAME, tag=st.booleans())
def test_gitlab_claims_and_environment_always_agree(
    groups: list[str], branch: str, tag: bool
) -> None:
    job = CIJob.gitlab("/".join(groups), ref=branch, ref_type="tag" if tag else "branch")
    environment = job.environment()
    for variable, claim in GITLAB_ENV_CLAIMS.items():
        assert environment[variable] == str(job.claims[claim])
    assert environment["CI_CONFIG_PATH"] == ".gitlab-ci.yml"
    assert environment["CI_PROJECT_NAME"] == groups[-1]
    assert environment["CI_COMMIT_TAG" if tag else "CI_COMMIT_BRANCH"] == branch
