"""The GitLab CI builder writes npm's in-toto v0.1 / SLSA v0.2 shape (npm-registry spec §2.2)."""

from __future__ import annotations

import pytest

from assay.errors import CIEnvironmentError
from assay.provenance.ci import CIProvider, build_provenance, detect
from assay.provenance.ci.gitlab import PARAMETERS
from assay.provenance.slsa import summarize
from assay.provenance.statement import Statement, Subject
from assay.provenance.subject import Digest, npm_purl

ENV = {
    "CI": "true",
    "GITLAB_CI": "true",
    "CI_PROJECT_URL": "https://gitlab.example.com/team/widget",
    "CI_PROJECT_PATH": "team/widget",
    "CI_RUNNER_ID": "42",
    "CI_RUNNER_DESCRIPTION": "shared-runner",
    "CI_RUNNER_EXECUTABLE_ARCH": "linux/amd64",
    "CI_COMMIT_SHA": "cafebabe" * 5,
    "CI_COMMIT_REF_NAME": "main",
    "CI_JOB_NAME": "publish",
    "CI_JOB_ID": "77",
    "CI_JOB_URL": "https://gitlab.example.com/team/widget/-/jobs/77",
    "CI_PIPELINE_ID": "5",
    "CI_PIPELINE_SOURCE": "push",
    "CI_CONFIG_PATH": ".gitlab-ci.yml",
    "CI_SERVER_URL": "https://gitlab.example.com",
    "SIGSTORE_ID_TOKEN": "secret-not-recorded",
    "HOME": "/root",
}
SUBJECT = Subject(npm_purl("@team/widget", "2.0.0"), {"sha512": Digest.of(b"tgz").hex})


def test_statement_shape() -> None:
    assert detect(ENV) is CIProvider.GITLAB_CI
    statement = build_provenance(ENV, SUBJECT)
    assert statement.to_dict() == {
        "_type": "https://in-toto.io/Statement/v0.1",
        "subject": [{"name": "pkg:npm/%40team/widget@2.0.0", "digest": SUBJECT.digest}],
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "predicate": {
            "buildType": "https://github.com/npm/cli/gitlab/v0alpha1",
            "builder": {"id": "https://gitlab.example.com/team/widget/-/runners/42"},
            "invocation": {
                "configSource": {
                    "uri": "git+https://gitlab.example.com/team/widget",
                    "digest": {"sha1": "cafebabe" * 5},
                    "entryPoint": "publish",
                },
                "parameters": {
                    "CI": "true",
                    "CI_COMMIT_REF_NAME": "main",
                    "CI_COMMIT_SHA": "cafebabe" * 5,
                    "CI_CONFIG_PATH": ".gitlab-ci.yml",
                    "CI_JOB_ID": "77",
                    "CI_JOB_NAME": "publish",
                    "CI_JOB_URL": "https://gitlab.example.com/team/widget/-/jobs/77",
                    "CI_PIPELINE_ID": "5",
                    "CI_PIPELINE_SOURCE": "push",
                    "CI_PROJECT_PATH": "team/widget",
                    "CI_PROJECT_URL": "https://gitlab.example.com/team/widget",
                    "CI_RUNNER_DESCRIPTION": "shared-runner",
                    "CI_RUNNER_ID": "42",
                    "CI_SERVER_URL": "https://gitlab.example.com",
                    "GITLAB_CI": "true",
                },
                "environment": {
                    "name": "shared-runner",
                    "architecture": "linux/amd64",
                    "server": "https://gitlab.example.com",
                    "project": "team/widget",
                    "job": {"id": "77"},
                    "pipeline": {"id": "5", "ref": ".gitlab-ci.yml"},
                },
            },
            "metadata": {
                "buildInvocationId": "https://gitlab.example.com/team/widget/-/jobs/77",
                "completeness": {"parameters": True, "environment": True, "materials": False},
                "reproducible": False,
            },
            "materials": [
                {
                    "uri": "git+https://gitlab.example.com/team/widget",
                    "digest": {"sha1": "cafebabe" * 5},
                }
            ],
        },
    }


def test_parameters_follow_npms_order_and_list() -> None:
    env = {name: f"v-{name}" for name in PARAMETERS} | ENV
    parameters = build_provenance(env, SUBJECT).predicate["invocation"]["parameters"]  # type: ignore[index]
    assert list(parameters) == list(PARAMETERS)
    assert "SIGSTORE_ID_TOKEN" not in parameters
    assert "HOME" not in parameters


def test_summary_reads_back_what_was_built() -> None:
    summary = summarize(Statement.from_json(build_provenance(ENV, SUBJECT).to_json()))
    assert summary.ci == "GitLab CI"
    assert summary.source_repository == "https://gitlab.example.com/team/widget"
    assert summary.source_commit == "cafebabe" * 5
    assert summary.source_ref == "main"
    assert summary.build_file == ".gitlab-ci.yml"
    assert summary.invocation == ENV["CI_JOB_URL"]
    assert summary.event == "push"


def test_missing_variables_are_named() -> None:
    env = {k: v for k, v in ENV.items() if k != "CI_JOB_URL"}
    with pytest.raises(CIEnvironmentError, match="CI_JOB_URL"):
        build_provenance(env, SUBJECT)
