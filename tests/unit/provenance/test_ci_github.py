"""The GitHub Actions builder reproduces, field for field, what npm signed in real packages.

For each real statement the npm CLI produced on GitHub Actions (tests/fixtures/npm-real), the
environment below is what that job had, as the statement records it; the builder must give back
the same predicate, with npm's key order.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from assay.errors import CIEnvironmentError, ConfigError
from assay.provenance.ci import CIProvider, build_provenance, detect
from assay.provenance.ci.github import Generation, build
from assay.provenance.statement import Statement, Subject
from tests.npm_real import ROOT, attestations


def _env(repo: str, workflow: str, ref: str, sha: str, run: str, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": repo,
        "GITHUB_WORKFLOW_REF": f"{repo}/{workflow}@{ref}",
        "GITHUB_REF": ref,
        "GITHUB_SHA": sha,
        "GITHUB_WORKFLOW_SHA": sha,
        "GITHUB_RUN_ID": run,
        "GITHUB_RUN_ATTEMPT": "1",
        **extra,
    }


# (fixture file, generation, npm version, environment of the job)
CASES: list[tuple[str, Generation, str | None, dict[str, str]]] = [
    (
        "npm-cli/valid-sigstore-attestations.json",
        Generation.GHA_V0,
        "9.4.2",
        _env(
            "sigstore/sigstore-js",
            ".github/workflows/publish.yml",
            "refs/tags/v1.0.0",
            "06528997c3c8ab9f864fad9a3658446aca7fd86d",
            "4137028816",
            GITHUB_ACTOR_ID="398027",
            GITHUB_EVENT_NAME="release",
            GITHUB_REF_TYPE="tag",
            GITHUB_REPOSITORY_ID="495574555",
            GITHUB_REPOSITORY_OWNER_ID="71096353",
            GITHUB_RUN_NUMBER="9",
        ),
    ),
    (
        "npm-cli/valid-tuf-js-attestations.json",
        Generation.GHA_V0,
        "9.4.2",
        _env(
            "theupdateframework/tuf-js",
            ".github/workflows/publish.yml",
            "refs/tags/v1.0.0",
            "99624cc7ce39872e6bd08a0df59229a48562dbca",
            "4136902918",
            GITHUB_ACTOR_ID="398027",
            GITHUB_EVENT_NAME="release",
            GITHUB_REF_TYPE="tag",
            GITHUB_REPOSITORY_ID="529431007",
            GITHUB_REPOSITORY_OWNER_ID="4633028",
            GITHUB_RUN_NUMBER="10",
        ),
    ),
    (
        "slsa-verifier/provenance-npm-test-cli-v02-prega.tgz.json",
        Generation.GHA_V2,
        None,
        _env(
            "laurentsimon/provenance-npm-test",
            ".github/workflows/release.yml",
            "refs/heads/main",
            "b38894f2dda4355ea5606fccb166e61565e12a14",
            "4757060009",
            GITHUB_EVENT_NAME="workflow_dispatch",
            GITHUB_REPOSITORY_ID="602223945",
            GITHUB_REPOSITORY_OWNER_ID="64505099",
            # Set in the job but not recorded by this generation: must not leak in.
            GITHUB_ACTOR_ID="64505099",
            GITHUB_RUN_NUMBER="7",
        ),
    ),
    (
        "slsa-verifier/supreme-googles-cli-v02-tag.tgz.json",
        Generation.GHA_V2,
        None,
        _env(
            "trishankatdatadog/supreme-goggles",
            ".github/workflows/npm-publish.yml",
            "refs/tags/v1.0.5",
            "38ebf99444e033b2f1550c9aaaeacd62d02a12ba",
            "4994975790",
            GITHUB_EVENT_NAME="release",
            GITHUB_REPOSITORY_ID="636292006",
            GITHUB_REPOSITORY_OWNER_ID="33133073",
        ),
    ),
    (
        "slsa-verifier/provenance-npm-test-cli-v1-prega.tgz.json",
        Generation.SLSA_V1,
        None,
        _env(
            "sigstore/sigstore-js",
            ".github/workflows/release.yml",
            "refs/heads/main",
            "46e7056ff9912ebfee5298d94024895a9fea76c0",
            "9116405766",
            GITHUB_EVENT_NAME="push",
            GITHUB_REPOSITORY_ID="495574555",
            GITHUB_REPOSITORY_OWNER_ID="71096353",
            RUNNER_ENVIRONMENT="github-hosted",
        ),
    ),
    (
        "slsa-verifier/gundam-visor-cli-v1-tag.tgz.json",
        Generation.SLSA_V1,
        None,
        _env(
            "ramonpetgrave64/gundam-visor",
            ".github/workflows/npm-publish.yml",
            "refs/tags/v1.0.1",
            "599500821344b070902a7a5666064bfdaba715df",
            "9358004112",
            GITHUB_EVENT_NAME="release",
            GITHUB_REPOSITORY_ID="810002373",
            GITHUB_REPOSITORY_OWNER_ID="32398091",
            RUNNER_ENVIRONMENT="github-hosted",
        ),
    ),
]


def _recorded_provenance(fixture: str) -> Statement:
    for attestation in attestations(ROOT / fixture):
        if "slsa.dev/provenance" in attestation["predicateType"]:
            payload = base64.b64decode(attestation["bundle"]["dsseEnvelope"]["payload"])
            return Statement.from_json(payload)
    raise AssertionError(f"{fixture} has no provenance attestation")


def _keys_in_order(value: Any) -> Any:
    """The object with every dict turned into its list of (key, value) pairs: order matters."""
    if isinstance(value, dict):
        return [(k, _keys_in_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_keys_in_order(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("fixture", "generation", "npm_version", "env"), CASES, ids=[c[0] for c in CASES]
)
def test_reproduces_real_statement(
    fixture: str, generation: Generation, npm_version: str | None, env: dict[str, str]
) -> None:
    recorded = _recorded_provenance(fixture)
    built = build(env, recorded.subject, generation, npm_version)
    assert built.to_dict() == recorded.to_dict()
    assert _keys_in_order(built.to_dict()) == _keys_in_order(recorded.to_dict())


def test_current_generation_is_the_default_and_is_detected() -> None:
    fixture, _, _, env = CASES[-1]
    recorded = _recorded_provenance(fixture)
    assert detect(env) is CIProvider.GITHUB_ACTIONS
    built = build_provenance(env, recorded.subject)
    assert built == recorded
    # The bytes npm signs are compact JSON; ours parse back to the same statement.
    assert Statement.from_json(built.to_json()) == recorded
    assert json.loads(built.to_json()) == recorded.to_dict()


def test_missing_variables_are_named() -> None:
    env = dict(CASES[-1][3])
    del env["GITHUB_SHA"]
    del env["RUNNER_ENVIRONMENT"]
    subject = Subject("pkg:npm/x@1.0.0", {"sha512": "00" * 64})
    with pytest.raises(CIEnvironmentError, match="GITHUB_SHA") as info:
        build(env, subject)
    assert info.value.details["missing"] == ["GITHUB_SHA"]
    env["GITHUB_SHA"] = "a" * 40
    with pytest.raises(CIEnvironmentError, match="RUNNER_ENVIRONMENT"):
        build(env, subject)


def test_gha_v0_needs_the_npm_version() -> None:
    subject = Subject("pkg:npm/x@1.0.0", {"sha512": "00" * 64})
    with pytest.raises(ConfigError):
        build(CASES[0][3], subject, Generation.GHA_V0)


def test_outside_ci_gives_npms_error() -> None:
    subject = Subject("pkg:npm/x@1.0.0", {"sha512": "00" * 64})
    assert detect({}) is None
    with pytest.raises(CIEnvironmentError, match="not supported for provider: null"):
        build_provenance({"CI": "true"}, subject)
