"""Reading SLSA predicates: every real provenance statement summarizes to what it records."""

from __future__ import annotations

import pytest

from assay.errors import StatementError
from assay.provenance.slsa import BuildSummary, split_git_uri, summarize
from assay.provenance.statement import Statement
from tests.npm_real import statements

PROVENANCE = {
    ident: Statement.from_dict(data)
    for ident, predicate_type, data in statements()
    if "slsa.dev/provenance" in predicate_type
}

EXPECTED = {
    "npm-cli/valid-sigstore-attestations.json[0]": BuildSummary(
        ci="GitHub Actions",
        build_type="https://github.com/npm/cli/gha@v0",
        builder_id="https://github.com/npm/cli@9.4.2",
        source_repository="https://github.com/sigstore/sigstore-js",
        source_commit="06528997c3c8ab9f864fad9a3658446aca7fd86d",
        source_ref="refs/tags/v1.0.0",
        build_file=".github/workflows/publish.yml",
        invocation="https://github.com/sigstore/sigstore-js/actions/runs/4137028816/attempts/1",
        event="release",
    ),
    "slsa-verifier/supreme-googles-cli-v02-tag.tgz.json[1]": BuildSummary(
        ci="GitHub Actions",
        build_type="https://github.com/npm/cli/gha/v2",
        builder_id="https://github.com/actions/runner",
        source_repository="https://github.com/trishankatdatadog/supreme-goggles",
        source_commit="38ebf99444e033b2f1550c9aaaeacd62d02a12ba",
        source_ref="refs/tags/v1.0.5",
        build_file=".github/workflows/npm-publish.yml",
        invocation="https://github.com/trishankatdatadog/supreme-goggles/actions/runs/4994975790/attempts/1",
        event="release",
    ),
    "slsa-verifier/gundam-visor-cli-v1-tag.tgz.json[1]": BuildSummary(
        ci="GitHub Actions",
        build_type="https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
        builder_id="https://github.com/actions/runner/github-hosted",
        source_repository="https://github.com/ramonpetgrave64/gundam-visor",
        source_commit="599500821344b070902a7a5666064bfdaba715df",
        source_ref="refs/tags/v1.0.1",
        build_file=".github/workflows/npm-publish.yml",
        invocation="https://github.com/ramonpetgrave64/gundam-visor/actions/runs/9358004112/attempts/1",
        event="release",
        runner_environment="github-hosted",
    ),
}


@pytest.mark.parametrize("ident", sorted(EXPECTED))
def test_known_summaries(ident: str) -> None:
    assert summarize(PROVENANCE[ident]) == EXPECTED[ident]


@pytest.mark.parametrize("ident", sorted(PROVENANCE))
def test_every_real_provenance_names_its_source(ident: str) -> None:
    summary = summarize(PROVENANCE[ident])
    assert summary.source_repository is not None
    assert summary.source_repository.startswith("https://github.com/")
    assert summary.source_commit is not None
    assert len(summary.source_commit) == 40
    assert summary.build_file is not None
    assert summary.build_file.startswith(".github/workflows/")


def test_other_predicates_are_not_summarized() -> None:
    publish = next(Statement.from_dict(data) for _, t, data in statements() if "attestation" in t)
    with pytest.raises(StatementError):
        summarize(publish)


@pytest.mark.parametrize(
    "predicate",
    [{}, {"buildDefinition": []}, {"runDetails": {"builder": {"id": 1}}}],
)
def test_v1_without_essentials_refused(predicate: dict[str, object]) -> None:
    statement = Statement(
        subjects=PROVENANCE["slsa-verifier/gundam-visor-cli-v1-tag.tgz.json[1]"].subjects,
        predicate_type="https://slsa.dev/provenance/v1",
        predicate=predicate,
    )
    with pytest.raises(StatementError):
        summarize(statement)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "git+https://github.com/a/b@refs/heads/main",
            ("https://github.com/a/b", "refs/heads/main"),
        ),
        ("git+https://github.com/a/b", ("https://github.com/a/b", None)),
        ("git+https://github.com/a/b.git@v1", ("https://github.com/a/b", "v1")),
        ("git+https://user@host.example/a/b", ("https://user@host.example/a/b", None)),
    ],
)
def test_split_git_uri(uri: str, expected: tuple[str, str | None]) -> None:
    assert split_git_uri(uri) == expected
