"""Every verification policy, alone and composed, on real verified npm bundles.

The results come from the one verifier over real npmjs.org provenance (a 2025 GitHub Actions
certificate with every extension, and a 2023 one with only the legacy ``.1.1``–``.1.6``), so the
policies are tested on what they will really see; each policy is shown to hold and to refuse.
"""

from __future__ import annotations

import pytest

from assay.errors import VerificationError
from assay.provenance.bundle import Bundle
from assay.provenance.fulcio import OID_BUILD_TRIGGER, OID_RUNNER_ENVIRONMENT
from assay.provenance.subject import Digest
from assay.verify import TrustedRoot, Verifier
from assay.verify.policy import (
    AllOf,
    AnyOf,
    Event,
    Identity,
    NpmProvenancePolicy,
    OIDCExtension,
    Policy,
    Ref,
    RunnerEnvironment,
    SourceRepository,
    Subject,
    Workflow,
)
from assay.verify.result import VerificationResult
from tests.unit.verify.fixtures import bundles

VERIFIER = Verifier(TrustedRoot.public_good())
GITHUB = "https://token.actions.githubusercontent.com"
GUNDAM_SAN = (
    "https://github.com/ramonpetgrave64/gundam-visor/.github/workflows/npm-publish.yml"
    "@refs/tags/v1.0.1"
)


def _verified(ident: str) -> VerificationResult:
    real = next(b for b in bundles() if b.ident == ident)
    return VERIFIER.verify(Bundle.from_dict(real.bundle))


GUNDAM = _verified("slsa-verifier/gundam-visor-cli-v1-tag.tgz.json[1]")
SIGSTORE_2023 = _verified("npm-cli/valid-sigstore-attestations.json[0]")


def _digest(result: VerificationResult) -> Digest:
    assert result.statement is not None
    return Digest("sha512", bytes.fromhex(result.statement.subjects[0].digest["sha512"]))


def _refuses(policy: Policy, result: VerificationResult, match: str) -> None:
    with pytest.raises(VerificationError, match=match) as caught:
        policy.verify(result)
    assert caught.value.details["step"] == "policy"


# --- each policy alone ------------------------------------------------------------------------


def test_identity_needs_the_exact_san_and_every_issuer() -> None:
    Identity(GUNDAM_SAN, GITHUB).verify(GUNDAM)
    _refuses(Identity(GUNDAM_SAN + "x", GITHUB), GUNDAM, "certificate identity")
    _refuses(Identity(GUNDAM_SAN, "https://gitlab.com"), GUNDAM, "OIDC issuer")


def test_an_extension_policy_compares_the_decoded_value() -> None:
    OIDCExtension(OID_RUNNER_ENVIRONMENT.dotted_string, "github-hosted").verify(GUNDAM)
    _refuses(OIDCExtension(OID_BUILD_TRIGGER.dotted_string, "push"), GUNDAM, "extension")
    # A 2023 certificate has no runner environment at all.
    _refuses(
        OIDCExtension(OID_RUNNER_ENVIRONMENT.dotted_string, "github-hosted"),
        SIGSTORE_2023,
        "None",
    )


@pytest.mark.parametrize(
    "written",
    [
        "https://github.com/ramonpetgrave64/gundam-visor",
        "git+https://github.com/ramonpetgrave64/gundam-visor.git",
        "github:ramonpetgrave64/gundam-visor",
        "ramonpetgrave64/gundam-visor",
        "https://github.com/RamonPetgrave64/Gundam-Visor",
    ],
)
def test_the_source_repository_matches_every_spelling_npm_accepts(written: str) -> None:
    SourceRepository(written).verify(GUNDAM)


def test_the_source_repository_refuses_another_repository() -> None:
    _refuses(SourceRepository("https://github.com/facebook/react"), GUNDAM, "built from repository")


def test_the_legacy_repository_extension_counts_for_2023_certificates() -> None:
    SourceRepository("https://github.com/sigstore/sigstore-js").verify(SIGSTORE_2023)


def test_workflow_ref_runner_and_event() -> None:
    Workflow(".github/workflows/npm-publish.yml").verify(GUNDAM)
    _refuses(Workflow(".github/workflows/other.yml"), GUNDAM, "built by workflow")
    Ref("refs/tags/v*").verify(GUNDAM)
    _refuses(Ref("refs/heads/*"), GUNDAM, "built from ref")
    RunnerEnvironment("github-hosted").verify(GUNDAM)
    _refuses(RunnerEnvironment("self-hosted"), GUNDAM, "runner environment")
    Event(("release", "push")).verify(GUNDAM)
    _refuses(Event(("push",)), GUNDAM, "build trigger")
    # The legacy trigger extension (.1.2) stands in on 2023 certificates.
    Event(("release",)).verify(SIGSTORE_2023)


def test_the_subject_must_be_the_one_purl_and_digest() -> None:
    digest = _digest(GUNDAM)
    Subject("pkg:npm/gundam-visor@1.0.1", digest).verify(GUNDAM)
    _refuses(Subject("pkg:npm/gundam-visor@1.0.2", digest), GUNDAM, "subject")
    _refuses(Subject("pkg:npm/gundam-visor@1.0.1", Digest("sha512", bytes(64))), GUNDAM, "digest")


# --- composed ---------------------------------------------------------------------------------


def test_all_of_needs_every_policy_and_refuses_an_empty_list() -> None:
    AllOf([Ref("refs/tags/*"), RunnerEnvironment("github-hosted")]).verify(GUNDAM)
    _refuses(AllOf([Ref("refs/tags/*"), RunnerEnvironment("self-hosted")]), GUNDAM, "runner")
    _refuses(AllOf([]), GUNDAM, "no policies")


def test_any_of_needs_one_and_says_why_each_failed() -> None:
    AnyOf([Ref("refs/heads/*"), Ref("refs/tags/*")]).verify(GUNDAM)
    with pytest.raises(VerificationError) as caught:
        AnyOf([Ref("refs/heads/*"), Event(("push",))]).verify(GUNDAM)
    assert "none of the alternatives" in caught.value.message
    assert "built from ref" in caught.value.message
    assert "build trigger" in caught.value.message
    _refuses(AnyOf([]), GUNDAM, "none of the alternatives")


def test_nested_compositions() -> None:
    policy = AllOf(
        [
            Identity(GUNDAM_SAN, GITHUB),
            AnyOf([Workflow(".github/workflows/release.yml"), Ref("refs/tags/v1.*")]),
        ]
    )
    policy.verify(GUNDAM)
    _refuses(AllOf([policy, SourceRepository("o/other")]), GUNDAM, "built from repository")


def test_the_npm_provenance_policy_checks_subject_predicate_and_identity() -> None:
    digest = _digest(GUNDAM)
    NpmProvenancePolicy(
        "gundam-visor",
        "1.0.1",
        digest,
        repository="ramonpetgrave64/gundam-visor",
        workflow=".github/workflows/npm-publish.yml",
        ref="refs/tags/v1.0.1",
    ).verify(GUNDAM)
    _refuses(NpmProvenancePolicy("gundam-visor", "1.0.2", digest), GUNDAM, "subject")
    _refuses(
        NpmProvenancePolicy("gundam-visor", "1.0.1", digest, repository="facebook/react"),
        GUNDAM,
        "built from repository",
    )
    _refuses(
        NpmProvenancePolicy("gundam-visor", "1.0.1", digest, ref="refs/heads/main"),
        GUNDAM,
        "built from ref",
    )
    _refuses(NpmProvenancePolicy("gundam-visor", "1.0.1-01", digest), GUNDAM, "policy")
