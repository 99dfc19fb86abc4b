"""Claims → SAN and Sigstore extensions, checked byte for byte against a real Fulcio leaf."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.x509.oid import ObjectIdentifier
from sigstore.verify import policy

from assay.ca import CAError
from assay.ca.app import http_status
from assay.ca.extensions import GITHUB_ACTIONS_ISSUER, GITLAB_ISSUER, IssuerProfile, map_identity
from assay.errors import ConfigError
from assay.keys import generate_ec
from assay.provenance.fulcio import (
    OID_BUILD_SIGNER_URI,
    OID_DEPLOYMENT_ENVIRONMENT,
    OID_ISSUER,
    OID_ISSUER_V2,
    OID_RUNNER_ENVIRONMENT,
    OID_SOURCE_REPOSITORY_REF,
    OID_TOKEN_SUBJECT,
    SIGSTORE_ARC,
    der_utf8_string,
)
from tests.unit.ca.identities import (
    EMAIL_CLAIMS,
    EMAIL_ISSUER,
    GITHUB_CLAIMS,
    GITLAB_CLAIMS,
    URI_CLAIMS,
    URI_ISSUER,
    make_ca,
    real_fulcio_leaf,
)

GITHUB = IssuerProfile(GITHUB_ACTIONS_ISSUER, "github")
GITLAB = IssuerProfile(GITLAB_ISSUER, "gitlab")
ARC = SIGSTORE_ARC + "."


def oid(number: int) -> ObjectIdentifier:
    return ObjectIdentifier(f"{ARC}{number}")


def sigstore_extensions(certificate: x509.Certificate) -> dict[ObjectIdentifier, bytes]:
    """Every Sigstore-arc extension's extnValue octets, by OID."""
    found: dict[ObjectIdentifier, bytes] = {}
    for extension in certificate.extensions:
        if extension.oid.dotted_string.startswith(ARC):
            assert isinstance(extension.value, x509.UnrecognizedExtension)
            assert not extension.critical
            found[extension.oid] = extension.value.value
    return found


def claims_recorded_in(leaf: x509.Certificate) -> dict[str, Any]:
    """The GitHub token claims a Fulcio leaf records, read back out of its extensions."""
    values = sigstore_extensions(leaf)

    def raw(number: int) -> str:
        return values[oid(number)].decode()

    def der(number: int) -> str:
        return asn1.decode_der(str, values[oid(number)])

    def path(number: int) -> str:
        return der(number).removeprefix("https://github.com/")

    run = re.fullmatch(r"https://github\.com/.+/actions/runs/(\d+)/attempts/(\d+)", der(21))
    assert run is not None
    return {
        "iss": raw(1),
        "event_name": raw(2),
        "sha": raw(3),
        "workflow": raw(4),
        "repository": raw(5),
        "ref": raw(6),
        "job_workflow_ref": path(9),
        "job_workflow_sha": der(10),
        "runner_environment": der(11),
        "repository_id": der(15),
        "repository_owner": path(16),
        "repository_owner_id": der(17),
        "workflow_ref": path(18),
        "workflow_sha": der(19),
        "run_id": run.group(1),
        "run_attempt": run.group(2),
        "repository_visibility": der(22),
        # Not recorded by this (May 2024) leaf; GitHub's documented `sub` shape.
        "sub": f"repo:{raw(5)}:ref:{raw(6)}",
    }


# --- GitHub: the real leaf ----------------------------------------------------------------------


def test_github_extensions_equal_the_real_fulcio_leaf_byte_for_byte() -> None:
    real = real_fulcio_leaf()
    claims = claims_recorded_in(real)
    identity = map_identity(GITHUB, claims)
    expected = sigstore_extensions(real)
    ours = {extension.oid: extension.value for extension in identity.extensions}
    # Every OID the real leaf has, with identical octets; plus .1.24, which Fulcio added later.
    assert set(ours) == set(expected) | {OID_TOKEN_SUBJECT}
    for number, value in expected.items():
        assert ours[number] == value, number.dotted_string
    assert ours[OID_TOKEN_SUBJECT] == der_utf8_string(claims["sub"])
    real_san = real.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert x509.SubjectAlternativeName([identity.san]).public_bytes() == real_san.public_bytes()


def test_fixture_claims_are_the_ones_the_real_leaf_records() -> None:
    recorded = claims_recorded_in(real_fulcio_leaf())
    for name, value in recorded.items():
        assert GITHUB_CLAIMS[name] == value, name


def test_issued_leaf_has_the_real_leafs_extension_layout() -> None:
    """Same extensions, order, criticality and (identity-bound) values as public-good Fulcio."""
    real = real_fulcio_leaf()
    ca = make_ca()
    leaf = ca.authority.issue(GITHUB_CLAIMS, generate_ec().public_key(), GITHUB_ACTIONS_ISSUER)[0]
    ours = [(e.oid, e.critical) for e in leaf.extensions if e.oid != OID_TOKEN_SUBJECT]
    assert ours == [(e.oid, e.critical) for e in real.extensions]
    for extension_type in (x509.KeyUsage, x509.ExtendedKeyUsage, x509.SubjectAlternativeName):
        assert (
            leaf.extensions.get_extension_for_class(extension_type).value.public_bytes()
            == real.extensions.get_extension_for_class(extension_type).value.public_bytes()
        )
    assert sigstore_extensions(leaf) == sigstore_extensions(real) | {
        OID_TOKEN_SUBJECT: der_utf8_string(GITHUB_CLAIMS["sub"])
    }
    assert leaf.signature_hash_algorithm is not None
    assert real.signature_hash_algorithm is not None
    assert leaf.signature_hash_algorithm.name == real.signature_hash_algorithm.name == "sha384"
    assert leaf.subject == real.subject == x509.Name([])


def test_sigstore_python_extension_policies_read_our_values() -> None:
    """sigstore-python's own decoders of .1.1–.1.6 (raw) and .1.8+ (DER) accept our leaf."""
    leaf = make_ca().authority.issue(GITHUB_CLAIMS, generate_ec().public_key(), GITHUB.issuer_url)[
        0
    ]
    claims = GITHUB_CLAIMS
    github = "https://github.com/"
    policy.AllOf(
        [
            policy.OIDCIssuer(GITHUB.issuer_url),
            policy.GitHubWorkflowTrigger(claims["event_name"]),
            policy.GitHubWorkflowSHA(claims["sha"]),
            policy.GitHubWorkflowName(claims["workflow"]),
            policy.GitHubWorkflowRepository(claims["repository"]),
            policy.GitHubWorkflowRef(claims["ref"]),
            policy.OIDCIssuerV2(GITHUB.issuer_url),
            policy.OIDCBuildSignerURI(github + claims["job_workflow_ref"]),
            policy.OIDCBuildSignerDigest(claims["job_workflow_sha"]),
            policy.OIDCRunnerEnvironment("github-hosted"),
            policy.OIDCSourceRepositoryURI(github + claims["repository"]),
            policy.OIDCSourceRepositoryDigest(claims["sha"]),
            policy.OIDCSourceRepositoryRef(claims["ref"]),
            policy.OIDCSourceRepositoryIdentifier(claims["repository_id"]),
            policy.OIDCSourceRepositoryOwnerURI(github + "sigstore"),
            policy.OIDCSourceRepositoryOwnerIdentifier(claims["repository_owner_id"]),
            policy.OIDCBuildConfigURI(github + claims["workflow_ref"]),
            policy.OIDCBuildConfigDigest(claims["workflow_sha"]),
            policy.OIDCBuildTrigger("push"),
            policy.OIDCRunInvocationURI(
                "https://github.com/sigstore/sigstore-js/actions/runs/9116405766/attempts/1"
            ),
            policy.OIDCSourceRepositoryVisibility("public"),
        ]
    ).verify(leaf)


def test_github_deployment_environment_only_when_present() -> None:
    assert map_identity(GITHUB, GITHUB_CLAIMS).value(OID_DEPLOYMENT_ENVIRONMENT) is None
    empty = map_identity(GITHUB, GITHUB_CLAIMS | {"environment": ""})
    assert empty.value(OID_DEPLOYMENT_ENVIRONMENT) is None
    named = map_identity(GITHUB, GITHUB_CLAIMS | {"environment": "npm-publish"})
    assert named.value(OID_DEPLOYMENT_ENVIRONMENT) == b"\x0c\x0bnpm-publish"


def test_github_self_hosted_base_url() -> None:
    profile = IssuerProfile(
        "https://git.example.com/_services/token", "github", "https://git.example.com/"
    )
    assert profile.base_url == "https://git.example.com"
    identity = map_identity(profile, GITHUB_CLAIMS | {"iss": profile.issuer_url})
    assert identity.san_value == (
        "https://git.example.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main"
    )
    assert identity.value(OID_ISSUER) == profile.issuer_url.encode()
    assert identity.value(oid(12)) == der_utf8_string(
        "https://git.example.com/sigstore/sigstore-js"
    )
    assert identity.value(oid(21)) == der_utf8_string(
        "https://git.example.com/sigstore/sigstore-js/actions/runs/9116405766/attempts/1"
    )


def test_empty_plain_claim_leaves_its_extension_out() -> None:
    identity = map_identity(GITHUB, GITHUB_CLAIMS | {"runner_environment": ""})
    assert identity.value(OID_RUNNER_ENVIRONMENT) is None
    assert identity.value(oid(13)) is not None


@pytest.mark.parametrize(
    "claim", ["job_workflow_ref", "repository", "sha", "event_name", "run_id", "workflow", "sub"]
)
def test_github_missing_claim_is_refused(claim: str) -> None:
    claims = {name: value for name, value in GITHUB_CLAIMS.items() if name != claim}
    with pytest.raises(CAError, match=claim) as caught:
        map_identity(GITHUB, claims)
    assert http_status(caught.value) == 400
    assert caught.value.details["claim"] == claim


@pytest.mark.parametrize("claim", ["job_workflow_ref", "repository", "run_attempt", "sub"])
def test_empty_uri_part_is_refused(claim: str) -> None:
    with pytest.raises(CAError, match="is empty"):
        map_identity(GITHUB, GITHUB_CLAIMS | {claim: ""})


@pytest.mark.parametrize("value", [True, None, ["a"], {"a": 1}, 1.5])
def test_non_string_claim_is_refused(value: object) -> None:
    with pytest.raises(CAError, match="must be a string"):
        map_identity(GITHUB, GITHUB_CLAIMS | {"repository_id": value})


def test_integer_claims_are_spelled_in_decimal() -> None:
    identity = map_identity(GITHUB, GITHUB_CLAIMS | {"repository_id": 495574555, "run_id": 7})
    assert identity.value(oid(15)) == der_utf8_string("495574555")
    assert identity.value(oid(21)) == der_utf8_string(
        "https://github.com/sigstore/sigstore-js/actions/runs/7/attempts/1"
    )


def test_token_from_another_issuer_is_refused() -> None:
    with pytest.raises(CAError, match="does not match") as caught:
        map_identity(GITHUB, GITHUB_CLAIMS | {"iss": "https://evil.example"})
    assert http_status(caught.value) == 401


def test_non_ascii_san_is_refused() -> None:
    with pytest.raises(CAError, match="printable ASCII"):
        map_identity(
            GITHUB, GITHUB_CLAIMS | {"job_workflow_ref": "o/r/.github/wörkflows/x.yml@main"}
        )


# --- GitLab -------------------------------------------------------------------------------------


def test_gitlab_extensions_per_fulcio_templates() -> None:
    identity = map_identity(GITLAB, GITLAB_CLAIMS)
    config = "https://gitlab.com/mygroup/myproject//.gitlab-ci.yml@refs/heads/main"
    sha = GITLAB_CLAIMS["sha"]
    assert isinstance(identity.san, x509.UniformResourceIdentifier)
    assert identity.san_value == config
    expected_der = {
        8: GITLAB_ISSUER,
        9: config,
        10: sha,
        11: "gitlab-hosted",
        12: "https://gitlab.com/mygroup/myproject",
        13: sha,
        14: "refs/heads/main",
        15: "20",
        16: "https://gitlab.com/mygroup",
        17: "72",
        18: config,
        19: sha,
        20: "push",
        21: "https://gitlab.com/mygroup/myproject/-/jobs/302",
        22: "public",
        23: "production",
        24: GITLAB_CLAIMS["sub"],
    }
    expected = {oid(1): GITLAB_ISSUER.encode()} | {
        oid(number): der_utf8_string(value) for number, value in expected_der.items()
    }
    assert [e.oid for e in identity.extensions] == list(expected)
    assert {e.oid: e.value for e in identity.extensions} == expected
    for number, value in expected_der.items():
        assert asn1.decode_der(str, expected[oid(number)]) == value


def test_gitlab_tag_ref_and_no_environment() -> None:
    claims = {name: value for name, value in GITLAB_CLAIMS.items() if name != "environment"}
    identity = map_identity(GITLAB, claims | {"ref": "v1.2.0", "ref_type": "tag"})
    assert identity.value(OID_SOURCE_REPOSITORY_REF) == der_utf8_string("refs/tags/v1.2.0")
    assert identity.value(OID_DEPLOYMENT_ENVIRONMENT) is None


def test_gitlab_self_managed_base_url() -> None:
    profile = IssuerProfile("https://git.example.com", "gitlab", "https://git.example.com")
    claims = GITLAB_CLAIMS | {
        "iss": profile.issuer_url,
        "ci_config_ref_uri": "git.example.com/mygroup/myproject//.gitlab-ci.yml@refs/heads/main",
    }
    identity = map_identity(profile, claims)
    assert (
        identity.san_value
        == "https://git.example.com/mygroup/myproject//.gitlab-ci.yml@refs/heads/main"
    )
    assert identity.value(oid(16)) == der_utf8_string("https://git.example.com/mygroup")
    assert identity.value(oid(21)) == der_utf8_string(
        "https://git.example.com/mygroup/myproject/-/jobs/302"
    )


@pytest.mark.parametrize("claim", ["ci_config_ref_uri", "project_path", "namespace_id", "job_id"])
def test_gitlab_missing_claim_is_refused(claim: str) -> None:
    claims = {name: value for name, value in GITLAB_CLAIMS.items() if name != claim}
    with pytest.raises(CAError, match=claim):
        map_identity(GITLAB, claims)


# --- plain issuers: email and uri ---------------------------------------------------------------


def test_email_issuer_certifies_a_verified_email() -> None:
    identity = map_identity(IssuerProfile(EMAIL_ISSUER, "email"), EMAIL_CLAIMS)
    assert identity.san == x509.RFC822Name("dev@example.com")
    assert [(e.oid, e.value) for e in identity.extensions] == [
        (OID_ISSUER, EMAIL_ISSUER.encode()),
        (OID_ISSUER_V2, der_utf8_string(EMAIL_ISSUER)),
    ]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"email_verified": False}, 403, "not verified"),
        ({"email_verified": "true"}, 403, "not verified"),
        ({"email": "not-an-address"}, 400, "not a valid address"),
        ({"email": ""}, 400, "is empty"),
    ],
)
def test_email_issuer_refusals(change: dict[str, Any], status: int, message: str) -> None:
    with pytest.raises(CAError, match=message) as caught:
        map_identity(IssuerProfile(EMAIL_ISSUER, "email"), EMAIL_CLAIMS | change)
    assert http_status(caught.value) == status


def test_email_issuer_without_email_is_refused() -> None:
    claims = {name: value for name, value in EMAIL_CLAIMS.items() if name != "email"}
    with pytest.raises(CAError, match="'email'"):
        map_identity(IssuerProfile(EMAIL_ISSUER, "email"), claims)


def test_uri_issuer_certifies_a_subject_in_its_domain() -> None:
    profile = IssuerProfile(URI_ISSUER, "uri", "https://example.com")
    identity = map_identity(profile, URI_CLAIMS)
    assert identity.san == x509.UniformResourceIdentifier("https://example.com/users/dev")
    assert [e.oid for e in identity.extensions] == [OID_ISSUER, OID_ISSUER_V2]


@pytest.mark.parametrize(
    ("subject", "status"),
    [
        ("https://other.example.org/users/dev", 403),
        ("http://example.com/users/dev", 403),
        ("opaque-subject-id", 403),
        ("dev@example.com", 400),
    ],
)
def test_uri_issuer_refuses_subjects_outside_its_domain(subject: str, status: int) -> None:
    profile = IssuerProfile(URI_ISSUER, "uri", "https://example.com")
    with pytest.raises(CAError) as caught:
        map_identity(profile, URI_CLAIMS | {"sub": subject})
    assert http_status(caught.value) == status


def test_uri_issuer_domain_defaults_to_the_issuer_origin() -> None:
    assert IssuerProfile("https://login.example.com/realm", "uri").base_url == (
        "https://login.example.com"
    )


# --- profiles and encodings ---------------------------------------------------------------------


def test_profile_defaults_and_validation() -> None:
    assert GITHUB.base_url == "https://github.com"
    assert GITLAB.base_url == "https://gitlab.com"
    assert GITHUB.fulcio_type == "ci-provider"
    assert GITHUB.challenge_claim == "sub"
    email = IssuerProfile(EMAIL_ISSUER, "email")
    assert email.fulcio_type == "email"
    assert email.challenge_claim == "email"
    with pytest.raises(ConfigError, match="kind"):
        IssuerProfile(EMAIL_ISSUER, "ldap")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an http"):
        IssuerProfile("token.actions.githubusercontent.com", "github")
    with pytest.raises(ConfigError, match="not an http"):
        IssuerProfile(GITHUB_ACTIONS_ISSUER, "github", "ftp://github.com")


def test_build_signer_is_the_san() -> None:
    identity = map_identity(GITHUB, GITHUB_CLAIMS)
    assert identity.value(OID_BUILD_SIGNER_URI) == der_utf8_string(identity.san_value)
