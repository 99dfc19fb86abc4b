"""`assay audit signatures` on real npmjs.org data (tests/fixtures/npm-real), served by a local
stand-in registry, verified with the BUNDLED public-good root and npmjs keys; and offline from
saved responses with that registry gone."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.cli.main import main
from tests.unit.audit.npmjs import Registry, build_registry, serving, write_project


@pytest.fixture
def registry() -> Iterator[Registry]:
    with serving(build_registry()) as running:
        yield running


@pytest.fixture(autouse=True)
def npm_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().startswith("npm_config_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASSAY_TRUST_PIN_DIR", str(tmp_path / "pins"))


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["audit", "signatures", *args])
    out, err = capsys.readouterr()
    return code, out, err


def expected_text(url: str, seconds: str) -> str:
    return (
        f"audited 11 packages in {seconds}\n\n"
        "5 packages have verified registry signatures\n\n"
        "6 packages have verified attestations\n"
        "(use --json --include-attestations to view attestation details)\n\n"
        "4 packages have missing registry signatures but the registry is providing signing "
        "keys:\n\n"
        f"@laurentsimon/provenance-npm-test@1.0.5 ({url})\n"
        f"@trishankatdatadog/supreme-goggles@1.0.5 ({url})\n"
        f"gundam-visor@1.0.1 ({url})\n"
        f"sigstore@2.3.1 ({url})\n\n"
        "1 package has an invalid registry signature:\n\n"
        f"node-fetch@1.7.1 ({url})\n\n"
        "1 package has an invalid attestation:\n\n"
        f"@laurentsimon/provenance-npm-test@1.0.3 ({url})\n\n"
        "Someone might have tampered with these packages since they were published on the "
        "registry!\n\n"
    )


def seconds(out: str) -> str:
    match = re.match(r"audited \d+ packages? in (\d+s)\n", out)
    assert match is not None, out
    return match[1]


def test_real_npmjs_data_with_bundled_trust(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "project", registry)
    args = ["--registry", registry.url, "--registry-keys", "npmjs", str(project)]
    code, out, _ = audit(capsys, *args)
    assert code == 1
    assert out == expected_text(registry.url, seconds(out))
    code, out, _ = audit(capsys, "--json", *args)
    assert code == 1
    report = json.loads(out)
    assert set(report) == {"invalid", "missing", "provenance"}
    # The verified facts of every package whose provenance verified, from its certificate.
    facts = {(p["name"], p["version"]): p["facts"] for p in report["provenance"]}
    assert len(facts) == 6  # every package with verified attestations has provenance
    gundam = facts[("gundam-visor", "1.0.1")]
    assert gundam == {
        "ci": "GitHub Actions",
        "emulated": False,
        "issuer": "https://token.actions.githubusercontent.com",
        "sourceRepository": "https://github.com/ramonpetgrave64/gundam-visor",
        "sourceCommit": "599500821344b070902a7a5666064bfdaba715df",
        "sourceRef": "refs/tags/v1.0.1",
        "workflow": ".github/workflows/npm-publish.yml",
        "buildConfigUri": "https://github.com/ramonpetgrave64/gundam-visor/"
        ".github/workflows/npm-publish.yml@refs/tags/v1.0.1",
        "runInvocationUri": "https://github.com/ramonpetgrave64/gundam-visor/actions/runs/"
        "9358004112/attempts/1",
        "runnerEnvironment": "github-hosted",
        "trigger": "release",
        "signerIdentity": "https://github.com/ramonpetgrave64/gundam-visor/"
        ".github/workflows/npm-publish.yml@refs/tags/v1.0.1",
    }
    assert all(f["issuer"] == gundam["issuer"] for f in facts.values())
    assert {(i["name"], i["version"], i["code"]) for i in report["invalid"]} == {
        ("node-fetch", "1.7.1", "EINTEGRITYSIGNATURE"),
        ("@laurentsimon/provenance-npm-test", "1.0.3", "EATTESTATIONVERIFY"),
    }
    signature = next(i for i in report["invalid"] if i["code"] == "EINTEGRITYSIGNATURE")
    assert signature["keyid"] == "SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA"
    assert signature["location"] == "node_modules/node-fetch"
    assert signature["type"] == "dependencies"
    attestation = next(i for i in report["invalid"] if i["code"] == "EATTESTATIONVERIFY")
    assert attestation["predicateType"] == "https://slsa.dev/provenance/v0.2"
    assert len(report["missing"]) == 4
    # the registry was asked for npm's paths only: packuments, attestations (the packument's
    # host, registry.npmjs.org, is ignored as pacote ignores it), and its trusted root
    assert all(
        not path.startswith("/-/") or path.startswith("/-/npm/v1/attestations/")
        or path == "/-/trust/trusted_root.json"
        for path in registry.requests
    )  # fmt: skip


def test_include_attestations(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "project", registry)
    code, out, _ = audit(capsys, "--json", "--include-attestations", "--registry", registry.url,
                         "--registry-keys", "npmjs", str(project))  # fmt: skip
    assert code == 1
    verified = json.loads(out)["verified"]
    assert len(verified) == 6
    entry = next(v for v in verified if v["name"] == "gundam-visor")
    assert entry["attestations"]["provenance"] == {
        "predicateType": "https://slsa.dev/provenance/v1"
    }
    assert [b["predicateType"] for b in entry["attestationBundles"]] == [
        "https://github.com/npm/attestation/tree/main/specs/publish/v0.1",
        "https://slsa.dev/provenance/v1",
    ]


def test_offline_from_saved_responses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "saved"
    with serving(build_registry()) as registry:
        project = write_project(tmp_path / "project", registry)
        url = registry.url
        args = ["--registry", url, "--registry-keys", "npmjs", str(project)]
        code, online, _ = audit(capsys, "--save-cache", str(saved), *args)
        assert code == 1
    # The registry is gone: nothing answers on its port any more.
    code, offline, _ = audit(capsys, "--offline", "--cache", str(saved), *args)
    assert code == 1
    assert offline == expected_text(url, seconds(offline))
    assert online == expected_text(url, seconds(online))
    # Without the cache, --offline refuses to run (usage: exit 2); a response that was never
    # saved is an error, not a verdict.
    code, _, err = audit(capsys, "--offline", *args)
    assert code == 2
    assert "--offline needs --cache" in err
    for entry in saved.iterdir():
        if "kms-demo" in entry.read_text():
            entry.unlink()
    code, _, err = audit(capsys, "--offline", "--cache", str(saved), *args)
    assert code == 2
    assert "kms-demo is not in the response cache (--offline)" in err


def test_network_unreachable_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serving(build_registry()) as registry:
        project = write_project(tmp_path / "project", registry)
        url = registry.url
    code, _, err = audit(capsys, "--registry", url, "--registry-keys", "npmjs", str(project))
    assert code == 2
    assert "failed: ConnectError" in err


def test_policy_on_real_provenance(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "project", registry)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        """
[[require-provenance]]
packages = ["kms-demo"]

[packages."sigstore"]
repository = "github.com/sigstore/*"
ref = "refs/tags/v*"

[packages."gundam-visor"]
repository = "github.com/acme/*"
workflow = ".github/workflows/npm-publish.yml"
events = ["release"]
runner = "github-hosted"
"""
    )
    args = ["--registry", registry.url, "--registry-keys", "npmjs", "--policy", str(policy)]
    code, out, _ = audit(capsys, *args, str(project))
    assert code == 1
    url = registry.url
    assert out.endswith(
        f"3 packages do not satisfy the policy ({policy}):\n\n"
        f"gundam-visor@1.0.1 ({url})\n"
        '  packages."gundam-visor": built from repository '
        "'https://github.com/ramonpetgrave64/gundam-visor', expected 'github.com/acme/*'\n"
        f"kms-demo@1.0.0 ({url})\n"
        '  require-provenance "kms-demo": no provenance attestation\n'
        f"sigstore@2.3.1 ({url})\n"
        "  packages.\"sigstore\": built from ref 'refs/heads/main', which does not match "
        "'refs/tags/v*'\n\n"
    ), out
    code, out, _ = audit(capsys, "--json", *args, str(project))
    policy_json = json.loads(out)["policy"]
    assert [(p["name"], p["version"]) for p in policy_json] == [
        ("gundam-visor", "1.0.1"), ("kms-demo", "1.0.0"), ("sigstore", "2.3.1"),
    ]  # fmt: skip
    assert policy_json[1]["findings"] == [
        {"rule": 'require-provenance "kms-demo"', "reason": "no provenance attestation"}
    ]


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = audit(capsys, str(empty))
    assert code == 2
    assert "found no installed dependencies to audit" in err
    code, _, err = audit(capsys, "--include-attestations", str(empty))
    assert code == 2
    bad = tmp_path / "policy.toml"
    bad.write_text('[packages."x"]\nrepo = "typo"\n')
    (empty / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}')
    code, _, err = audit(capsys, "--policy", str(bad), str(empty))
    assert code == 2
    assert "unknown keys ['repo']" in err
