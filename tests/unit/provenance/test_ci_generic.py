"""The generic OIDC-CI builder: our documented buildType for CI systems npm does not know."""

from __future__ import annotations

import pytest

from assay.errors import CIEnvironmentError
from assay.provenance.ci import CIProvider, build_provenance, detect
from assay.provenance.slsa import ASSAY_OIDC_CI_V1, summarize
from assay.provenance.statement import Statement, Subject

ENV = {
    "ASSAY_CI_NAME": "Buildkite",
    "ASSAY_CI_BUILDER_ID": "https://buildkite.com/example/agents/hosted",
    "ASSAY_CI_SOURCE_REPOSITORY": "https://git.example.com/team/pkg.git",
    "ASSAY_CI_SOURCE_COMMIT": "ab" * 20,
    "ASSAY_CI_SOURCE_REF": "refs/tags/v1.2.3",
    "ASSAY_CI_BUILD_FILE": ".buildkite/pipeline.yml",
    "ASSAY_CI_INVOCATION_ID": "https://buildkite.com/example/pkg/builds/42",
    "ASSAY_CI_EVENT": "tag",
}
SUBJECT = Subject("pkg:npm/pkg@1.2.3", {"sha512": "11" * 64})


def test_builds_slsa_v1_with_our_build_type() -> None:
    assert detect(ENV) is CIProvider.GENERIC
    statement = build_provenance(ENV, SUBJECT)
    assert statement.type == "https://in-toto.io/Statement/v1"
    assert statement.predicate_type == "https://slsa.dev/provenance/v1"
    predicate = statement.predicate
    assert predicate is not None
    assert predicate["buildDefinition"]["buildType"] == ASSAY_OIDC_CI_V1
    assert predicate["buildDefinition"]["resolvedDependencies"] == [
        {
            "uri": "git+https://git.example.com/team/pkg@refs/tags/v1.2.3",
            "digest": {"gitCommit": "ab" * 20},
        }
    ]
    summary = summarize(Statement.from_json(statement.to_json()))
    assert summary.ci == "Buildkite"
    assert summary.source_repository == "https://git.example.com/team/pkg"
    assert summary.source_ref == "refs/tags/v1.2.3"
    assert summary.build_file == ".buildkite/pipeline.yml"
    assert summary.invocation == ENV["ASSAY_CI_INVOCATION_ID"]
    assert summary.builder_id == ENV["ASSAY_CI_BUILDER_ID"]
    assert summary.event == "tag"


def test_event_is_optional() -> None:
    env = {k: v for k, v in ENV.items() if k != "ASSAY_CI_EVENT"}
    predicate = build_provenance(env, SUBJECT).predicate
    assert predicate is not None
    assert predicate["buildDefinition"]["internalParameters"] == {"ci": {"name": "Buildkite"}}


@pytest.mark.parametrize("name", sorted(set(ENV) - {"ASSAY_CI_EVENT", "ASSAY_CI_BUILDER_ID"}))
def test_each_required_variable_is_required(name: str) -> None:
    env = {k: v for k, v in ENV.items() if k != name}
    with pytest.raises(CIEnvironmentError, match=name):
        build_provenance(env, SUBJECT)
