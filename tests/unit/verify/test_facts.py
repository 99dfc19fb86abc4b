"""Verified facts: taken from the certificate of every real npm bundle, compared with its statement;
every claim of a statement altered is refused, naming the field and where it was claimed."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from assay.errors import FormatError, VerificationError
from assay.oidc.claims import CIJob
from assay.provenance.bundle import Bundle
from assay.provenance.ci import generic
from assay.provenance.ci import github as github_ci
from assay.provenance.ci import gitlab as gitlab_ci
from assay.provenance.statement import Statement, Subject
from assay.verify import RegistryKeys, TrustedRoot, Verifier
from assay.verify.facts import (
    EMULATED_CI,
    FIELDS,
    GITHUB_ACTIONS,
    GITHUB_ACTIONS_ISSUER,
    GITLAB_CI,
    GITLAB_ISSUER,
    ProvenanceMismatch,
    VerifiedFacts,
    check_statement,
    ci_label,
)
from assay.verify.result import VerificationResult
from tests.unit.verify.fixtures import RealBundle, bundles

VERIFIER = Verifier(TrustedRoot.public_good())
PROVENANCE = [b for b in bundles() if not b.tampered and not b.keyid]
INSTANCE = "https://assay.example/-/oidc"


def verified(real: RealBundle) -> VerificationResult:
    return VERIFIER.verify(Bundle.from_dict(real.bundle))


def statement_of(result: VerificationResult) -> Statement:
    assert result.statement is not None
    return result.statement


def by_name(name: str) -> VerificationResult:
    return verified(next(b for b in PROVENANCE if b.ident == name))


GUNDAM = "slsa-verifier/gundam-visor-cli-v1-tag.tgz.json[1]"
SIGSTORE_2023 = "npm-cli/valid-sigstore-attestations.json[0]"
V02 = "slsa-verifier/provenance-npm-test-cli-v02-prega.tgz.json[1]"
OSSF = "slsa-verifier/provenance-npm-test-ossf.tgz.json[1]"


# --- facts from real certificates -----------------------------------------------------------


def test_the_real_provenance_bundles_are_all_here() -> None:
    assert len(PROVENANCE) == 12


@pytest.mark.parametrize("real", PROVENANCE, ids=lambda b: b.ident)
def test_every_real_statement_agrees_with_its_certificate(real: RealBundle) -> None:
    result = verified(real)
    facts = VerifiedFacts.from_result(result)
    assert facts.issuer == GITHUB_ACTIONS_ISSUER
    assert facts.ci == GITHUB_ACTIONS
    assert not facts.emulated
    assert result.signer is not None
    assert facts.signer_identity == result.signer.san
    assert facts.source_repository_uri is not None
    assert facts.source_repository_uri.startswith("https://github.com/")
    check = check_statement(statement_of(result), facts)
    # Every real statement names all five; only the 2023 certificates lack a run URI.
    assert set(check.agreed) | set(check.unverified) >= {
        "repository",
        "commit",
        "ref",
        "workflow path",
        "run URI",
    }
    assert set(check.unverified) <= {"run URI"}
    assert VerifiedFacts.from_json(facts.to_json()) == facts


def test_facts_of_a_current_certificate() -> None:
    facts = VerifiedFacts.from_result(by_name(GUNDAM))
    assert facts == VerifiedFacts(
        issuer=GITHUB_ACTIONS_ISSUER,
        ci=GITHUB_ACTIONS,
        signer_identity="https://github.com/ramonpetgrave64/gundam-visor/.github/workflows/"
        "npm-publish.yml@refs/tags/v1.0.1",
        source_repository_uri="https://github.com/ramonpetgrave64/gundam-visor",
        source_repository_digest="599500821344b070902a7a5666064bfdaba715df",
        source_repository_ref="refs/tags/v1.0.1",
        build_config_uri="https://github.com/ramonpetgrave64/gundam-visor/.github/workflows/"
        "npm-publish.yml@refs/tags/v1.0.1",
        build_config_digest="599500821344b070902a7a5666064bfdaba715df",
        build_signer_uri="https://github.com/ramonpetgrave64/gundam-visor/.github/workflows/"
        "npm-publish.yml@refs/tags/v1.0.1",
        build_signer_digest="599500821344b070902a7a5666064bfdaba715df",
        run_invocation_uri="https://github.com/ramonpetgrave64/gundam-visor/actions/runs/"
        "9358004112/attempts/1",
        runner_environment="github-hosted",
        build_trigger="release",
    )
    assert facts.workflow_path == ".github/workflows/npm-publish.yml"
    assert facts.run_id_attempt == ("9358004112", "1")


def test_facts_of_a_2023_certificate_use_the_legacy_extensions() -> None:
    facts = VerifiedFacts.from_result(by_name(SIGSTORE_2023))
    assert facts.source_repository_uri == "https://github.com/sigstore/sigstore-js"
    assert facts.source_repository_digest == "06528997c3c8ab9f864fad9a3658446aca7fd86d"
    assert facts.source_repository_ref == "refs/tags/v1.0.0"
    assert facts.build_trigger == "release"
    assert facts.build_config_uri is None
    assert facts.run_invocation_uri is None
    # No Build Config URI: the workflow is the signer's (the SAN), which signed it itself.
    assert facts.workflow_path == ".github/workflows/publish.yml"


def test_a_reusable_workflow_signer_is_not_the_build_config() -> None:
    facts = VerifiedFacts.from_result(by_name(OSSF))
    assert facts.signer_identity.startswith(
        "https://github.com/slsa-framework/slsa-github-generator/"
    )
    assert facts.workflow_path == ".github/workflows/release-slsa3.yml"


def test_a_bare_key_bundle_has_no_facts() -> None:
    keyed = next(b for b in bundles() if b.keyid and not b.tampered)
    key = RegistryKeys.npmjs().get(keyed.keyid)
    assert key is not None
    result = VERIFIER.verify(Bundle.from_dict(keyed.bundle), public_key=key.public_key)
    with pytest.raises(VerificationError, match="certificate, not a bare key"):
        VerifiedFacts.from_result(result)


# --- every claim altered is refused -----------------------------------------------------------


def _leaves(obj: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _leaves(value, (*path, index))
    elif isinstance(obj, str):
        yield path


def _where(path: tuple[str | int, ...]) -> str:
    text = "predicate"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _altered(statement: Statement, path: tuple[str | int, ...], value: str) -> Statement:
    data = copy.deepcopy(statement.to_dict())
    target: Any = data["predicate"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return Statement.from_dict(data)


# The claims each shape makes about the five fields: each must be compared, none skipped.
V1_CLAIMS = {
    "predicate.buildDefinition.externalParameters.workflow.repository": "repository",
    "predicate.buildDefinition.externalParameters.workflow.ref": "ref",
    "predicate.buildDefinition.externalParameters.workflow.path": "workflow path",
    "predicate.buildDefinition.resolvedDependencies[0].uri": "ref",
    "predicate.buildDefinition.resolvedDependencies[0].digest.gitCommit": "commit",
    "predicate.runDetails.metadata.invocationId": "run URI",
}
V02_CLAIMS = {
    "predicate.invocation.configSource.uri": "ref",
    "predicate.invocation.configSource.digest.sha1": "commit",
    "predicate.invocation.configSource.entryPoint": "workflow path",
    "predicate.invocation.environment.GITHUB_REPOSITORY": "repository",
    "predicate.invocation.environment.GITHUB_SHA": "commit",
    "predicate.invocation.environment.GITHUB_REF": "ref",
    "predicate.invocation.environment.GITHUB_WORKFLOW_REF": "workflow path",
    "predicate.invocation.environment.GITHUB_RUN_ID": "run URI",
    "predicate.metadata.buildInvocationId": "run URI",
    "predicate.materials[0].digest.sha1": "commit",
}


@pytest.mark.parametrize("real", PROVENANCE, ids=lambda b: b.ident)
def test_each_altered_claim_is_refused_naming_where(real: RealBundle) -> None:
    result = verified(real)
    facts = VerifiedFacts.from_result(result)
    statement = statement_of(result)
    refused: dict[str, str] = {}
    errors: list[tuple[str, str, ProvenanceMismatch]] = []
    for path in _leaves(statement.predicate):
        altered = _get(statement.predicate, path) + "-x"
        try:
            check_statement(_altered(statement, path, altered), facts)
        except ProvenanceMismatch as exc:
            errors.append((_where(path), altered, exc))
    for where, altered, error in errors:
        assert error.details["where"] == where, error.message
        assert error.details["claimed"] in altered  # a git URI's repository or ref part
        assert error.message.startswith(f"Failed to validate {error.details['field']} information")
        refused[where] = error.details["field"]
    expected = V1_CLAIMS if statement.predicate_type.endswith("/v1") else V02_CLAIMS
    if facts.run_invocation_uri is None:  # 2023 certificates: the run is not in them
        expected = {k: v for k, v in expected.items() if v != "run URI"}
    assert {k: refused.get(k) for k in expected} == expected


def _get(obj: Any, path: tuple[str | int, ...]) -> str:
    for part in path:
        obj = obj[part]
    assert isinstance(obj, str)
    return obj


def test_the_attack_of_issue_10_is_refused() -> None:
    """A statement saying facebook/react, signed by a job of mallory/evil."""
    result = by_name(GUNDAM)
    real = VerifiedFacts.from_result(result)
    mallory = dataclasses.replace(
        real,
        source_repository_uri="https://github.com/mallory/evil",
        build_config_uri="https://github.com/mallory/evil/.github/workflows/npm-publish.yml"
        "@refs/tags/v1.0.1",
        run_invocation_uri="https://github.com/mallory/evil/actions/runs/1/attempts/1",
    )
    with pytest.raises(ProvenanceMismatch) as caught:
        check_statement(statement_of(result), mallory)
    assert caught.value.details["field"] == "repository"
    assert caught.value.message == (
        "Failed to validate repository information: provenance statement: "
        '"predicate.buildDefinition.resolvedDependencies[0].uri" is '
        '"https://github.com/ramonpetgrave64/gundam-visor", expected to match '
        '"https://github.com/mallory/evil" from signing certificate'
    )


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("repository", {"source_repository_uri": "https://github.com/mallory/evil"}),
        ("commit", {"source_repository_digest": "0" * 40}),
        ("ref", {"source_repository_ref": "refs/heads/evil"}),
        ("workflow path", {"build_config_uri": "https://github.com/ramonpetgrave64/gundam-visor/"
                           ".github/workflows/evil.yml@refs/tags/v1.0.1"}),
        ("run URI", {"run_invocation_uri": "https://github.com/ramonpetgrave64/gundam-visor/"
                     "actions/runs/1/attempts/1"}),
        ("trigger", {"build_trigger": "push"}),
        ("runner environment", {"runner_environment": "self-hosted"}),
    ],
)  # fmt: skip
def test_each_fact_that_differs_is_named(field: str, change: dict[str, str]) -> None:
    result = by_name(GUNDAM)
    facts = dataclasses.replace(VerifiedFacts.from_result(result), **change)
    with pytest.raises(ProvenanceMismatch) as caught:
        check_statement(statement_of(result), facts)
    assert caught.value.details["field"] == field
    assert field in FIELDS


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("source_repository_uri", "SourceRepositoryURI"),
        ("source_repository_digest", "SourceRepositoryDigest"),
        ("source_repository_ref", "SourceRepositoryRef"),
    ],
)
def test_a_claim_the_certificate_cannot_back_is_refused(name: str, missing: str) -> None:
    result = by_name(V02)
    change: dict[str, Any] = {name: None}
    facts = dataclasses.replace(VerifiedFacts.from_result(result), **change)
    with pytest.raises(ProvenanceMismatch, match=f"^Missing {missing} in signing certificate$"):
        check_statement(statement_of(result), facts)


def test_repository_comparison_ignores_case_and_git_decoration() -> None:
    result = by_name(GUNDAM)
    facts = dataclasses.replace(
        VerifiedFacts.from_result(result),
        source_repository_uri="https://GitHub.com/RamonPetgrave64/Gundam-Visor",
    )
    assert "repository" in check_statement(statement_of(result), facts).agreed


def test_a_statement_that_is_not_slsa_provenance_is_refused() -> None:
    result = by_name(GUNDAM)
    other = Statement(
        subjects=statement_of(result).subjects,
        predicate_type="https://github.com/npm/attestation/tree/main/specs/publish/v0.1",
        predicate={},
    )
    with pytest.raises(ProvenanceMismatch, match="not SLSA provenance"):
        check_statement(other, VerifiedFacts.from_result(result))


# --- our own CI builders, signed through the emulated issuer ------------------------------------

SUBJECT = Subject("pkg:npm/widget@1.0.0", {"sha512": "ab" * 64})


def _github_facts(job: CIJob, issuer: str) -> VerifiedFacts:
    """What Fulcio's github-workflow template certifies for ``job`` (fulcio config.yaml)."""
    c, url = job.claims, "https://github.com"
    return VerifiedFacts(
        issuer=issuer,
        ci=ci_label(issuer, INSTANCE),
        signer_identity=f"{url}/{c['job_workflow_ref']}",
        source_repository_uri=f"{url}/{c['repository']}",
        source_repository_digest=str(c["sha"]),
        source_repository_ref=str(c["ref"]),
        build_config_uri=f"{url}/{c['workflow_ref']}",
        build_signer_uri=f"{url}/{c['job_workflow_ref']}",
        run_invocation_uri=f"{url}/{c['repository']}/actions/runs/{c['run_id']}"
        f"/attempts/{c['run_attempt']}",
        runner_environment=str(c["runner_environment"]),
        build_trigger=str(c["event_name"]),
    )


def _gitlab_facts(job: CIJob, issuer: str) -> VerifiedFacts:
    """What Fulcio's gitlab-pipeline template certifies for ``job`` (fulcio config.yaml)."""
    c, url = job.claims, job.server_url
    config = f"https://{c['ci_config_ref_uri']}"
    return VerifiedFacts(
        issuer=issuer,
        ci=ci_label(issuer, INSTANCE),
        signer_identity=config,
        source_repository_uri=f"{url}/{c['project_path']}",
        source_repository_digest=str(c["sha"]),
        source_repository_ref=str(c["ref_path"]),
        build_config_uri=config,
        build_signer_uri=config,
        run_invocation_uri=f"{url}/{c['project_path']}/-/jobs/{c['job_id']}",
        runner_environment=str(c["runner_environment"]),
        build_trigger=str(c["pipeline_source"]),
    )


@pytest.mark.parametrize("generation", list(github_ci.Generation), ids=lambda g: g.name)
def test_our_github_statements_agree_with_an_emulated_certificate(
    generation: github_ci.Generation,
) -> None:
    job = CIJob.github("acme/widget", ref="refs/tags/v1.0.0")
    statement = github_ci.build(job.environment(), SUBJECT, generation, npm_version="9.4.2")
    facts = _github_facts(job, INSTANCE)
    assert facts.ci == EMULATED_CI
    assert facts.emulated
    check = check_statement(statement, facts)
    assert {"repository", "commit", "ref", "workflow path", "run URI"} <= set(check.agreed)


def test_our_gitlab_statement_agrees_and_each_claim_is_checked() -> None:
    job = CIJob.gitlab("team/widget", ref="v1.0.0", ref_type="tag")
    statement = gitlab_ci.build(job.environment(), SUBJECT)
    facts = _gitlab_facts(job, GITLAB_ISSUER)
    assert facts.ci == GITLAB_CI
    assert facts.workflow_path == ".gitlab-ci.yml"
    check = check_statement(statement, facts)
    assert set(check.agreed) >= {"repository", "commit", "ref", "workflow path", "run URI"}
    for where, field in {
        "invocation.parameters.CI_PROJECT_URL": "repository",
        "invocation.parameters.CI_COMMIT_SHA": "commit",
        "invocation.parameters.CI_COMMIT_REF_NAME": "ref",
        "invocation.parameters.CI_CONFIG_PATH": "workflow path",
        "invocation.environment.pipeline.ref": "workflow path",
        "metadata.buildInvocationId": "run URI",
        "invocation.parameters.CI_JOB_URL": "run URI",
    }.items():
        path = tuple(where.split("."))
        altered = _altered(statement, path, _get(statement.predicate, path) + "-x")
        with pytest.raises(ProvenanceMismatch) as caught:
            check_statement(altered, facts)
        assert (caught.value.details["field"], caught.value.details["where"]) == (
            field,
            "predicate." + where,
        )


def test_a_generic_ci_statement_must_name_what_the_token_said() -> None:
    """Our oidc-ci/v1 builder: its claims are compared like GitHub's."""
    job = CIJob.github("acme/widget")
    facts = _github_facts(job, INSTANCE)
    env = {
        generic.NAME: "Buildkite",
        generic.BUILDER_ID: "https://buildkite.com/acme/agents/hosted",
        generic.REPOSITORY: "https://github.com/acme/widget",
        generic.COMMIT: str(job.claims["sha"]),
        generic.REF: "refs/heads/main",
        generic.BUILD_FILE: ".github/workflows/release.yml",
        generic.INVOCATION_ID: facts.run_invocation_uri or "",
    }
    assert set(check_statement(generic.build(env, SUBJECT), facts).agreed) >= {
        "repository",
        "commit",
        "ref",
        "workflow path",
        "run URI",
    }
    env[generic.BUILD_FILE] = ".buildkite/pipeline.yml"
    with pytest.raises(ProvenanceMismatch) as caught:
        check_statement(generic.build(env, SUBJECT), facts)
    assert caught.value.details["where"] == (
        "predicate.buildDefinition.externalParameters.source.path"
    )


# --- labels and storage -----------------------------------------------------------------------


def test_ci_labels() -> None:
    assert ci_label(GITHUB_ACTIONS_ISSUER) == "GitHub Actions"
    assert ci_label("https://gitlab.com/") == "GitLab CI/CD"
    assert ci_label(INSTANCE + "/", INSTANCE) == "emulated CI of this instance"
    assert ci_label("https://ci.example") == "CI with OIDC issuer https://ci.example"


def test_json_is_versioned_and_strict() -> None:
    facts = VerifiedFacts.from_result(by_name(GUNDAM))
    data = facts.to_json()
    assert data["v"] == 1
    assert VerifiedFacts.from_json(data) == facts
    for bad in (
        {**data, "v": 2},
        {**data, "extra": "x"},
        {**data, "issuer": None},
        {**data, "source_repository_uri": 3},
        [data],
    ):
        with pytest.raises(FormatError):
            VerifiedFacts.from_json(bad)
