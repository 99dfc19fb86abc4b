"""The policy file: parsing, matching and the provenance history behind downgrade checks."""

from __future__ import annotations

import re
from typing import Any

import pytest

from assay.audit.policy import AuditPolicy
from assay.audit.verify import _earlier_with_provenance
from assay.errors import ConfigError
from assay.npm.hosted import repository_key
from assay.verify import RegistryKeys, TrustedRoot, Verifier
from assay.verify.attestations import verify_attestations
from assay.verify.result import VerificationResult
from tests.unit.verify.fixtures import NPM_KEYS, TRUSTED_ROOT, responses

EXAMPLE = """
[[require-provenance]]
packages = ["@acme/*", "left-pad"]

[packages."@acme/*"]
repository = "github.com/acme/*"
workflow = ".github/workflows/release.yml"
ref = "refs/tags/v*"
events = ["push", "release"]
runner = "github-hosted"

[downgrade]
allow = ["left-pad@1.3.0", "legacy"]
"""


def test_example_parses() -> None:
    policy = AuditPolicy.from_toml(EXAMPLE, "p.toml")
    assert policy.requires_provenance("@acme/x")
    assert policy.requires_provenance("left-pad")
    assert not policy.requires_provenance("right-pad")
    (rule,) = policy.rules_for("@acme/widget")
    assert rule.events == ("push", "release")
    assert policy.rules_for("@other/widget") == ()
    assert policy.downgrade
    assert policy.downgrade_allowed("left-pad", "1.3.0")
    assert not policy.downgrade_allowed("left-pad", "1.3.1")
    assert policy.downgrade_allowed("legacy", "9.9.9")
    assert policy.violations("@acme/x", None) == [
        ('require-provenance "@acme/*"', "no provenance attestation")
    ]
    assert policy.violations("right-pad", None) == []


def test_a_rule_alone_requires_provenance() -> None:
    policy = AuditPolicy.from_toml('[packages."x"]\nrepository = "github.com/o/x"\n')
    assert policy.violations("x", None) == [('packages."x"', "no provenance attestation")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[packages.x]\nrepo = 'o/x'\n", "unknown keys ['repo']"),
        ("[packages.x]\nevents = 'push'\nref = 3\n", 'packages."x".ref must be'),
        ("[downgrade]\ncheck = 'yes'\n", "downgrade.check must be"),
        ("[[require-provenance]]\nnames = ['x']\n", "takes only packages"),
        ("[extra]\n", "unknown top-level keys ['extra']"),
        ("[packages\n", "not valid TOML"),
    ],
)
def test_invalid_policies(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        AuditPolicy.from_toml(text)


def test_repository_normalisation() -> None:
    for text in ("git+https://github.com/Acme/X.git", "github:acme/x", "github.com/acme/x/",
                 "http://github.com/acme/x"):  # fmt: skip
        assert repository_key(text) == "https://github.com/acme/x"


def _packument(versions: dict[str, tuple[str | None, bool]]) -> dict[str, Any]:
    manifests: dict[str, Any] = {}
    times: dict[str, str] = {}
    for version, (when, provenance) in versions.items():
        dist: dict[str, Any] = {"integrity": "sha512-x"}
        if provenance:
            dist["attestations"] = {"url": "u", "provenance": {"predicateType": "p"}}
        manifests[version] = {"dist": dist}
        if when:
            times[version] = when
    return {"versions": manifests, "time": times}


def test_earlier_versions_by_publish_time_then_semver() -> None:
    packument = _packument({
        "1.0.0": ("2024-01-01T00:00:00.000Z", True),
        "1.1.0": ("2024-02-01T00:00:00.000Z", True),
        "2.0.0": ("2024-03-01T00:00:00.000Z", False),
        # a backport published after 2.0.0: 2.0.0 came before it in time
        "1.1.1": ("2024-04-01T00:00:00.000Z", False),
        "3.0.0": (None, True),
    })  # fmt: skip
    assert _earlier_with_provenance(packument, "2.0.0") == ["1.0.0", "1.1.0"]
    assert _earlier_with_provenance(packument, "1.0.0") == []
    assert _earlier_with_provenance(packument, "1.1.1") == ["1.0.0", "1.1.0"]
    # no time for 3.0.0: semver order decides
    assert _earlier_with_provenance(packument, "3.0.0") == ["1.0.0", "1.1.0"]


# --- the issuer rule (issue 10 §3), on a real npm provenance verified with the bundled root -----


def _gundam() -> VerificationResult:
    """gundam-visor@1.0.1's provenance from npmjs.org, verified: signed through GitHub Actions."""
    response = next(r for r in responses() if r.name == "gundam-visor")
    verified = verify_attestations(
        response.data, response.name, response.version, response.integrity,
        verifier=Verifier(TrustedRoot.from_file(TRUSTED_ROOT)),
        registry_keys=RegistryKeys.from_file(NPM_KEYS),
    )  # fmt: skip
    assert verified.provenance is not None
    return verified.provenance


GITHUB = "https://token.actions.githubusercontent.com"


def test_issuer_rule_allows_the_listed_issuers() -> None:
    provenance = _gundam()
    for value in ('"github-actions"', f'"{GITHUB}"', f'["gitlab.com", "{GITHUB}/"]'):
        policy = AuditPolicy.from_toml(f"issuer = {value}\n")
        assert policy.violations("gundam-visor", provenance) == [], value
    policy = AuditPolicy.from_toml('issuer = "gitlab.com"\n')
    assert policy.issuers == ("https://gitlab.com",)
    assert policy.violations("gundam-visor", provenance) == [
        (
            "issuer",
            f"signed through OIDC issuer '{GITHUB}' (GitHub Actions), "
            "expected one of ['https://gitlab.com']",
        )
    ]
    # The top-level rule does not itself require provenance (require-provenance does).
    assert policy.violations("gundam-visor", None) == []


def test_issuer_rule_names_an_instances_emulated_ci() -> None:
    """Against an Assay instance, a finding calls the instance's own issuer its emulated CI
    (here the instance issuer is, for the test, GitHub's URL)."""
    policy = AuditPolicy.from_toml('issuer = ["gitlab.com"]\n')
    ((rule, reason),) = policy.violations("gundam-visor", _gundam(), instance_issuer=GITHUB)
    assert rule == "issuer"
    assert f"'{GITHUB}' (emulated CI of this instance)" in reason


def test_a_package_rules_issuer_replaces_the_top_level_one() -> None:
    provenance = _gundam()
    text = 'issuer = "gitlab.com"\n\n[packages."gundam-*"]\nissuer = ["github-actions"]\n'
    policy = AuditPolicy.from_toml(text)
    assert policy.violations("gundam-visor", provenance) == []
    assert policy.violations("other", provenance) == [
        (
            "issuer",
            f"signed through OIDC issuer '{GITHUB}' (GitHub Actions), "
            "expected one of ['https://gitlab.com']",
        )
    ]
    text = 'issuer = "github-actions"\n\n[packages."gundam-*"]\nissuer = "https://gitlab.com/"\n'
    policy = AuditPolicy.from_toml(text)
    assert [rule for rule, _ in policy.violations("gundam-visor", provenance)] == [
        'packages."gundam-*"'
    ]
    (rule,) = policy.rules_for("gundam-visor")
    assert rule.issuer == ("https://gitlab.com",)
    # A rule with an issuer is an identity constraint: the package must have provenance.
    assert policy.violations("gundam-visor", None) == [
        ('packages."gundam-*"', "no provenance attestation")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('issuer = "github"\n', "'github' is neither an issuer URL nor one of"),
        ("issuer = []\n", "issuer must name at least one issuer"),
        ("issuer = 3\n", "issuer must be a string or a list of strings"),
        ('[packages.x]\nissuer = ["ftp://x"]\n', "packages.\"x\".issuer: 'ftp://x'"),
    ],
)
def test_invalid_issuer_rules(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        AuditPolicy.from_toml(text)
