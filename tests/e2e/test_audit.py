"""`assay audit signatures` end to end: against `assay up`, on a tree the real npm installed.

Published (in-process signing from emulated GitHub Actions jobs, raw PUTs as `npm publish`
sends them):

* ``plain`` 1.0.0 — no provenance; registry-signed;
* ``@acme/widget`` 1.0.0 — provenance from acme/widget's release workflow on a tag;
* ``tampered`` 1.0.0 — its stored registry signature replaced (a write to storage);
* ``tampered-att`` 1.0.0 — provenance, one bit of a stored attestation flipped;
* ``downgraded`` 1.0.0 with provenance, then 1.1.0 without (installed: 1.1.0) — what stolen
  tokens did to @rspack/core, nx and axios (anchors.md §7);
* ``wrong-repo`` 1.0.0 — valid provenance, but from evil/wrong-repo where the policy wants acme.

`npm install --no-audit` installs them; the audit must find exactly those, in npm's words and
JSON, with exit status 1 — and agree with the unmodified `npm audit signatures` (trusting the
instance through `assay trust npm-cache` and the trust proxy) on every signature and
attestation verdict.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.cli.main import main
from assay.publish.body import load_package, publish_body
from tests.assay_up import Instance, free_port, start, stop
from tests.e2e.test_npm_audit_signatures import (
    audit as npm_audit,
)
from tests.e2e.test_npm_audit_signatures import (
    npm_proxy,
    tamper_attestation,
    tamper_signature,
)
from tests.e2e.test_npm_registry import Npm
from tests.e2e.test_publish_provenance import _signed, make_package
from tests.interop.test_sign import job_env
from tests.interop.test_sigstore_clients import ci_job

pytestmark = [pytest.mark.npm]

ACME = "acme/widget"
POLICY = """
[packages."@acme/*"]
repository = "github.com/acme/*"
workflow = ".github/workflows/release.yml"
ref = "refs/tags/v*"

[packages."wrong-repo"]
repository = "github.com/acme/*"
"""


def put(instance: Instance, folder: Path, bundle: dict[str, Any] | None) -> None:
    """PUT a version as npm publish does, with the provenance bundle attached if given."""
    package = load_package(folder)
    body = publish_body(package, f"{instance.url}/", access="public")
    if bundle is not None:
        text = json.dumps(bundle)
        body["_attachments"][f"{package.name}-{package.version}.sigstore"] = {
            "content_type": bundle["mediaType"], "data": text, "length": len(text),
        }  # fmt: skip
    token = (instance.data / "admin.token").read_text().strip()
    response = httpx.put(
        f"{instance.url}/{package.name.replace('/', '%2f')}",
        json=body, headers={"authorization": f"Bearer {token}"}, timeout=60,
    )  # fmt: skip
    assert response.status_code in (200, 201), response.text


def publish(
    instance: Instance, root: Path, name: str, version: str, job: dict[str, str] | None
) -> None:
    repository = job["GITHUB_REPOSITORY"] if job else ACME
    folder = make_package(root, name, version, f"git+https://github.com/{repository}.git")
    bundle = _signed(instance, load_package(folder), job) if job else None
    put(instance, folder, bundle)


def allow_downgrade(instance: Instance, name: str) -> None:
    """Lift the registry's no-provenance-downgrade rule for `name` (its maintainer, the
    administrator, does), so that a downgrade can be published for the audit to find."""
    token = (instance.data / "admin.token").read_text().strip()
    response = httpx.post(
        f"{instance.url}/-/package/{name.replace('/', '%2f')}/policy",
        json={"allowProvenanceDowngrade": True},
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text


@dataclass
class World:
    instance: Instance
    port: int
    registry: str
    consumer: Npm
    project: Path
    npm_env: dict[str, str]
    policy: Path
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("audit")
    port, proxy_port = free_port(), free_port()
    data, log = tmp / "instance" / "data", tmp / "assay-up.log"
    data.parent.mkdir()
    instance = start(data, port, log)
    try:
        # @acme is an organisation scope: the administrator assigns it (scope policy "user").
        assert main(["scope", "grant", "@acme", "admin", "--data-dir", str(data)]) == 0
        acme = ci_job(instance, "github", f"repository={ACME}", "ref=refs/tags/v1.0.0")
        evil = ci_job(instance, "github", "repository=evil/wrong-repo", "ref=refs/tags/v1.0.0")
        packages = tmp / "packages"
        publish(instance, packages, "plain", "1.0.0", None)
        publish(instance, packages, "@acme/widget", "1.0.0", acme)
        publish(instance, packages, "tampered", "1.0.0", None)
        publish(instance, packages, "tampered-att", "1.0.0", acme)
        publish(instance, packages, "downgraded", "1.0.0", acme)
        allow_downgrade(instance, "downgraded")  # the registry refuses it by default
        publish(instance, packages, "downgraded", "1.1.0", None)
        publish(instance, packages, "wrong-repo", "1.0.0", evil)

        registry = f"{instance.url}/"
        consumer = Npm(registry, tmp / "consumer")
        project = tmp / "project"
        project.mkdir()
        (project / "package.json").write_text('{"name": "project", "version": "1.0.0"}')
        consumer.run("install", "--no-audit", "plain", "@acme/widget", "tampered",
                     "tampered-att", "downgraded@1.1.0", "wrong-repo", cwd=project)  # fmt: skip

        # Tamper with storage while the instance is down (it caches packuments in memory).
        stop(instance)
        tamper_signature(data / "assay.db", "tampered", "1.0.0")
        tamper_attestation(data / "assay.db", "tampered-att", "1.0.0")
        instance = start(data, port, log)

        cache = Path(consumer.env["npm_config_cache"])
        seeded = subprocess.run(
            [sys.executable, "-m", "assay", "trust", "npm-cache", "--cache", str(cache),
             "--data", str(data), "--proxy-port", str(proxy_port)],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert seeded.returncode == 0, seeded.stderr
        policy = tmp / "policy.toml"
        policy.write_text(POLICY)
        with npm_proxy(data, proxy_port, tmp / "npm-proxy.log") as proxy_env:
            world = World(instance, port, registry, consumer, project, proxy_env, policy, tmp)
            yield world
            instance = world.instance  # a test may have restarted it
    finally:
        stop(instance)


def assay_audit(
    world: World, *args: str, pins: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = job_env({}, world.tmp / "assay-home")
    env["npm_config_registry"] = world.registry
    env["ASSAY_TRUST_PIN_DIR"] = str(pins or world.tmp / "pins")
    return subprocess.run(
        [sys.executable, "-m", "assay", "audit", "signatures", *args, str(world.project)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def seconds(stdout: str) -> str:
    match = re.match(r"audited \d+ packages? in (\d+s)\n", stdout)
    assert match is not None, stdout
    return match[1]


def npm_text(registry: str, elapsed: str) -> str:
    """What npm prints for this tree (and what we print before our policy section)."""
    return (
        f"audited 6 packages in {elapsed}\n\n"
        "4 packages have verified registry signatures\n\n"
        "2 packages have verified attestations\n"
        "(use --json --include-attestations to view attestation details)\n\n"
        "1 package has an invalid registry signature:\n\n"
        f"tampered@1.0.0 ({registry})\n\n"
        "1 package has an invalid attestation:\n\n"
        f"tampered-att@1.0.0 ({registry})\n\n"
        "Someone might have tampered with these packages since they were published on the "
        "registry!\n\n"
    )


def test_audit_finds_exactly_the_bad_packages(world: World) -> None:
    done = assay_audit(world, "--policy", str(world.policy))
    assert done.returncode == 1, done.stdout + done.stderr
    registry = world.registry
    assert done.stdout == npm_text(registry, seconds(done.stdout)) + (
        f"2 packages do not satisfy the policy ({world.policy}):\n\n"
        f"downgraded@1.1.0 ({registry})\n"
        "  downgrade: published without provenance after 1.0.0 had it\n"
        f"wrong-repo@1.0.0 ({registry})\n"
        "  packages.\"wrong-repo\": built from repository 'https://github.com/evil/wrong-repo', "
        "expected 'github.com/acme/*'\n\n"
    ), done.stdout

    done = assay_audit(world, "--policy", str(world.policy), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["missing"] == []
    assert {(i["name"], i["version"], i["code"]) for i in report["invalid"]} == {
        ("tampered", "1.0.0", "EINTEGRITYSIGNATURE"),
        ("tampered-att", "1.0.0", "EATTESTATIONVERIFY"),
    }
    assert [(p["name"], p["version"], [f["rule"] for f in p["findings"]])
            for p in report["policy"]] == [
        ("downgraded", "1.1.0", ["downgrade"]),
        ("wrong-repo", "1.0.0", ['packages."wrong-repo"']),
    ]  # fmt: skip


def test_without_the_policy_it_is_npms_audit(world: World) -> None:
    ours = assay_audit(world)
    theirs = npm_audit(world.consumer, world.project, world.npm_env)
    assert theirs.returncode == ours.returncode == 1, theirs.stdout + theirs.stderr
    assert ours.stdout == npm_text(world.registry, seconds(ours.stdout))
    assert theirs.stdout == npm_text(world.registry, seconds(theirs.stdout)), theirs.stdout

    ours = assay_audit(world, "--json")
    theirs = npm_audit(world.consumer, world.project, world.npm_env, "--json")
    assert theirs.returncode == ours.returncode == 1
    mine, npm = json.loads(ours.stdout), json.loads(theirs.stdout)
    assert set(npm) == {"invalid", "missing"}
    assert set(mine) == {"invalid", "missing", "provenance"}  # npm's keys, and the facts
    assert mine["missing"] == npm["missing"] == []

    def verdicts(report: dict[str, Any]) -> set[tuple[str, ...]]:
        keys = ("name", "version", "code", "location", "registry", "type", "integrity")
        return {tuple(str(i.get(k)) for k in keys) for i in report["invalid"]}

    assert verdicts(mine) == verdicts(npm)
    signature = next(i for i in npm["invalid"] if i["code"] == "EINTEGRITYSIGNATURE")
    ours_signature = next(i for i in mine["invalid"] if i["code"] == "EINTEGRITYSIGNATURE")
    assert ours_signature["keyid"] == signature["keyid"]
    assert ours_signature["signature"] == signature["signature"]


def test_only_the_good_packages_pass(world: World) -> None:
    """With the bad ones omitted from the tree (a lockfile that lists only the good ones)."""
    hidden = json.loads((world.project / "node_modules" / ".package-lock.json").read_text())
    keep = {"node_modules/plain", "node_modules/@acme/widget"}
    hidden["packages"] = {k: v for k, v in hidden["packages"].items() if k in keep}
    lockfile = world.tmp / "good" / "package-lock.json"
    lockfile.parent.mkdir()
    lockfile.write_text(json.dumps(hidden))
    env = job_env({}, world.tmp / "assay-home")
    done = subprocess.run(
        [sys.executable, "-m", "assay", "audit", "signatures", "--registry", world.registry,
         "--policy", str(world.policy), str(lockfile)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (
        f"audited 2 packages in {seconds(done.stdout)}\n\n"
        "2 packages have verified registry signatures\n\n"
        "1 package has a verified attestation\n"
        "(use --json --include-attestations to view attestation details)\n\n"
    )


# --- issue 10: verified facts, the issuer rule, trust pinning ----------------------------------


def test_json_reports_the_verified_facts(world: World) -> None:
    done = assay_audit(world, "--json")
    report = json.loads(done.stdout)
    facts = {p["name"]: p["facts"] for p in report["provenance"]}
    # tampered-att is invalid; plain and downgraded@1.1.0 have no provenance.
    assert set(facts) == {"@acme/widget", "wrong-repo"}
    widget = facts["@acme/widget"]
    assert widget["ci"] == "emulated CI of this instance"  # never "GitHub Actions"
    assert widget["emulated"] is True
    assert widget["issuer"] == f"{world.instance.url}/-/oidc"
    assert widget["sourceRepository"] == f"https://github.com/{ACME}"
    assert widget["sourceRef"] == "refs/tags/v1.0.0"
    assert widget["workflow"] == ".github/workflows/release.yml"
    assert facts["wrong-repo"]["sourceRepository"] == "https://github.com/evil/wrong-repo"


def test_issuer_rule(world: World) -> None:
    issuer = f"{world.instance.url}/-/oidc"
    strict = world.tmp / "issuer.toml"
    strict.write_text('issuer = ["github-actions", "gitlab.com"]\n[downgrade]\ncheck = false\n')
    done = assay_audit(world, "--policy", str(strict), "--json")
    assert done.returncode == 1, done.stderr
    findings = {p["name"]: p["findings"] for p in json.loads(done.stdout)["policy"]}
    assert set(findings) == {"@acme/widget", "wrong-repo"}
    assert findings["@acme/widget"] == [
        {
            "rule": "issuer",
            "reason": f"signed through OIDC issuer '{issuer}' (emulated CI of this instance), "
            "expected one of ['https://token.actions.githubusercontent.com', "
            "'https://gitlab.com']",
        }
    ]
    # A rule for @acme/* that allows this instance's issuer replaces the top-level list.
    scoped = world.tmp / "issuer-scoped.toml"
    scoped.write_text(
        'issuer = "github-actions"\n[packages."@acme/*"]\n'
        f'issuer = "{issuer}"\n[downgrade]\ncheck = false\n'
    )
    done = assay_audit(world, "--policy", str(scoped), "--json")
    findings = {p["name"]: p["findings"] for p in json.loads(done.stdout)["policy"]}
    assert set(findings) == {"wrong-repo"}


def test_verify_prints_the_verified_facts_and_pins(world: World) -> None:
    env = job_env({}, world.tmp / "verify-home")
    env["ASSAY_TRUST_PIN_DIR"] = str(world.tmp / "verify-pins")
    args = [sys.executable, "-m", "assay", "verify", "@acme/widget@1.0.0",
            "--registry", world.registry]  # fmt: skip

    def verify(*more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*args, *more], capture_output=True, text=True, env=env,
                              timeout=120, check=False)  # fmt: skip

    refused = verify("--require-pinned-root")
    assert refused.returncode == 1
    assert "is not pinned" in refused.stderr
    done = verify()
    assert done.returncode == 0, done.stderr
    assert "note: pinned the trusted root and registry keys of" in done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "built and signed on: emulated CI of this instance" in lines
    assert f"OIDC issuer: {world.instance.url}/-/oidc" in lines
    assert f"source repository: https://github.com/{ACME}" in lines
    assert "source ref: refs/tags/v1.0.0" in lines
    assert "workflow: .github/workflows/release.yml" in lines
    assert not any("GitHub Actions" in line for line in lines)
    done = verify("--require-pinned-root")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_audit_pins_the_registrys_trust_and_refuses_a_changed_one(world: World) -> None:
    """Item 5 of issue 10: the first audit pins what the instance serves; when another instance
    answers at the same address (its own CA, log and keys: an impersonator), the audit warns
    loudly and verifies with the pinned copies — so the impostor's signed package is invalid —
    and --require-pinned-root refuses to run."""
    pins = world.tmp / "audit-pins"
    refused = assay_audit(world, "--require-pinned-root", pins=pins)
    assert refused.returncode == 2
    assert "is not pinned" in refused.stderr
    first = assay_audit(world, pins=pins)
    assert first.returncode == 1  # the findings of npm_text
    assert "note: pinned the trusted root and registry keys of" in first.stderr
    assert (pins / f"127.0.0.1%3A{world.port}" / "trusted_root.json").is_file()
    again = assay_audit(world, "--require-pinned-root", pins=pins)
    assert again.returncode == 1, again.stderr
    assert again.stdout == npm_text(world.registry, seconds(again.stdout))
    assert again.stderr == ""

    # An impostor at the same address: a fresh instance, its own keys, a package it signed.
    original = world.instance
    stop(original)
    impostor_data = world.tmp / "impostor" / "data"
    impostor_data.parent.mkdir()
    impostor = start(impostor_data, world.port, world.tmp / "impostor.log")
    try:
        job = ci_job(impostor, "github", f"repository={ACME}", "ref=refs/tags/v1.0.0")
        publish(impostor, world.tmp / "impostor-packages", "impostor", "1.0.0", job)
        packument = httpx.get(f"{impostor.url}/impostor").json()
        dist = packument["versions"]["1.0.0"]["dist"]
        lockfile = world.tmp / "impostor-project" / "package-lock.json"
        lockfile.parent.mkdir()
        lockfile.write_text(json.dumps({
            "name": "p", "version": "1.0.0", "lockfileVersion": 3,
            "packages": {
                "": {"name": "p", "version": "1.0.0", "dependencies": {"impostor": "1.0.0"}},
                "node_modules/impostor": {"version": "1.0.0", "resolved": dist["tarball"],
                                          "integrity": dist["integrity"]},
            },
        }))  # fmt: skip
        env = job_env({}, world.tmp / "assay-home")
        env["ASSAY_TRUST_PIN_DIR"] = str(pins)
        command = [sys.executable, "-m", "assay", "audit", "signatures", "--json",
                   "--registry", world.registry, str(lockfile)]  # fmt: skip

        def audit(*more: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*command, *more], capture_output=True, text=True, env=env,
                                  timeout=120, check=False)  # fmt: skip

        warned = audit()
        assert warned.returncode == 1, warned.stderr
        assert "WARNING: the trusted root and registry keys served by" in warned.stderr
        assert "CHANGED since they were pinned" in warned.stderr
        report = json.loads(warned.stdout)
        assert [(i["name"], i["code"]) for i in report["invalid"]] == [
            ("impostor", "EMISSINGSIGNATUREKEY")  # the impostor's key is not a pinned one
        ]
        refused = audit("--require-pinned-root")
        assert refused.returncode == 2
        assert "changed since they were pinned" in refused.stderr
        assert "--require-pinned-root" in refused.stderr
        # --repin accepts the impostor's material (the user's decision): it verifies then.
        repinned = audit("--repin")
        assert repinned.returncode == 0, repinned.stdout + repinned.stderr
        assert "re-pinned the trusted root and registry keys" in repinned.stderr
        assert json.loads(repinned.stdout)["invalid"] == []
    finally:
        stop(impostor)
        world.instance = start(original.data, world.port, original.log)
