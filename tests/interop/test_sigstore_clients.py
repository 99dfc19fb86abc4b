"""The real Sigstore clients against `assay up`: sigstore-python signs and verifies with our
CA, log and trust config; sigstore-js verifies the same bundles against our trusted root; both
refuse what they must refuse.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.keys import generate_ec, key_id, spki_der
from assay.sign.identity import github_actions_token
from tests.assay_up import Instance, running_instance

JS = Path(__file__).parent / "js"
SLSA_V1 = "https://slsa.dev/provenance/v1"


@pytest.fixture(scope="module")
def instance(assay_up: Instance) -> Instance:
    """The session's `assay up`, shared (tests/conftest.py): these tests only add to it."""
    return assay_up


@pytest.fixture(scope="module")
def trust(instance: Instance, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("trust")
    paths = {}
    for name in ("client_trust_config.json", "trusted_root.json"):
        paths[name] = folder / name
        paths[name].write_bytes(httpx.get(f"{instance.url}/-/trust/{name}").content)
    return paths


def rekor_v1_only(trust_config: Path) -> Path:
    """A copy of a client trust config whose signing config lists only the Rekor v1 API and no
    TSA: sigstore-python asks every listed TSA for a timestamp whatever log it signs through,
    and these bundles are for verifiers that must see the v1 shape (an inclusion promise, no
    RFC 3161 timestamp)."""
    document = json.loads(trust_config.read_text())
    signing = document["signingConfig"]
    signing["rekorTlogUrls"] = [u for u in signing["rekorTlogUrls"] if u["majorApiVersion"] == 1]
    signing["tsaUrls"] = []
    path = trust_config.with_name(f"v1-{trust_config.name}")
    path.write_text(json.dumps(document))
    return path


def ci_job(
    instance: Instance, provider: str, *claims: str, id_tokens: Sequence[str] = ()
) -> dict[str, str]:
    """The environment `assay ci-job` prints for a new job, parsed from its export lines.

    ``claims`` are ``key=value`` claims of the job's OIDC tokens; ``id_tokens`` are
    ``VARIABLE=audience`` tokens handed to the job up front, as GitLab's ``id_tokens:`` does."""
    args = [sys.executable, "-m", "assay", "ci-job", "--data", str(instance.data)]
    args += ["--url", f"{instance.url}/-/oidc", "--provider", provider]
    for claim in claims:
        args += ["--claim", claim]
    for token in id_tokens:
        args += ["--id-token", token]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


def fetch_token(env: dict[str, str], audience: str = "sigstore") -> str:
    """The job's ambient credential traded for a token with ``audience`` (assay.sign.identity)."""
    url, token = env["ACTIONS_ID_TOKEN_REQUEST_URL"], env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    return github_actions_token(url, token, audience=audience)


def sigstore(
    trust_config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ACTIONS_"))}
    return subprocess.run(
        [sys.executable, "-m", "sigstore", "--trust-config", str(trust_config), *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )


def js_verify(
    trusted_root: Path, bundle: Path, artifact: str, san: str | None = None, issuer: str = ""
) -> dict[str, Any]:
    args = ["node", str(JS / "verify.mjs"), str(trusted_root), str(bundle), artifact]
    if san:
        args += [san, issuer]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert (done.returncode == 0) == result["ok"], done.stderr
    return result


def py_verify(
    trust_config: Path, bundle: Path, artifact: Path, san: str, issuer: str
) -> subprocess.CompletedProcess[str]:
    return sigstore(
        trust_config,
        "verify",
        "identity",
        "--offline",
        "--bundle",
        str(bundle),
        "--cert-identity",
        san,
        "--cert-oidc-issuer",
        issuer,
        str(artifact),
    )


GITHUB_SAN = "https://github.com/acme/widget/.github/workflows/release.yml@refs/tags/v1.0.0"


@pytest.fixture(scope="module")
def signed(
    instance: Instance, trust: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """An artifact signed with --identity-token and attested through ambient credentials."""
    folder = tmp_path_factory.mktemp("signed")
    artifact = folder / "widget-1.0.0.tgz"
    artifact.write_bytes(b"pretend tarball\n")
    env = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    token = fetch_token(env)
    bundle = folder / "sign.sigstore.json"
    done = sigstore(
        trust["client_trust_config.json"],
        "sign",
        "--rekor-version",
        "1",
        "--identity-token",
        token,
        "--bundle",
        str(bundle),
        str(artifact),
    )
    assert done.returncode == 0, done.stderr
    predicate = folder / "predicate.json"
    predicate.write_text(
        json.dumps(
            {
                "buildDefinition": {
                    "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
                    "externalParameters": {"workflow": {"ref": "refs/tags/v1.0.0"}},
                },
                "runDetails": {
                    "builder": {"id": "https://github.com/actions/runner/github-hosted"}
                },
            }
        )
    )
    attestation = folder / "attest.sigstore.json"
    # No --identity-token: sigstore-python finds the token through GitHub's ambient variables.
    done = sigstore(
        trust["client_trust_config.json"],
        "attest",
        "--rekor-version",
        "1",
        "--predicate-type",
        SLSA_V1,
        "--predicate",
        str(predicate),
        "--bundle",
        str(attestation),
        str(artifact),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return {"artifact": artifact, "sign": bundle, "attest": attestation}


def test_both_clients_verify_what_sigstore_python_signed(
    instance: Instance, trust: dict[str, Path], signed: dict[str, Path]
) -> None:
    issuer = f"{instance.url}/-/oidc"
    for kind in ("sign", "attest"):
        done = py_verify(
            trust["client_trust_config.json"], signed[kind], signed["artifact"], GITHUB_SAN, issuer
        )
        assert done.returncode == 0, (kind, done.stderr)
    result = js_verify(
        trust["trusted_root.json"], signed["sign"], str(signed["artifact"]), GITHUB_SAN, issuer
    )
    assert result == {"ok": True, "san": GITHUB_SAN, "issuer": issuer}
    assert js_verify(trust["trusted_root.json"], signed["attest"], "-", GITHUB_SAN, issuer)["ok"]
    bundle = json.loads(signed["attest"].read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"]["tlogEntries"][0]["kindVersion"] == {
        "kind": "dsse",
        "version": "0.0.1",
    }


def test_gitlab_identity(instance: Instance, trust: dict[str, Path], tmp_path: Path) -> None:
    env = ci_job(instance, "gitlab", "project_path=team/widget")
    artifact = tmp_path / "a.txt"
    artifact.write_text("gitlab artifact\n")
    bundle = tmp_path / "a.sigstore.json"
    done = sigstore(
        trust["client_trust_config.json"],
        "sign",
        "--rekor-version",
        "1",
        "--identity-token",
        env["SIGSTORE_ID_TOKEN"],
        "--bundle",
        str(bundle),
        str(artifact),
    )
    assert done.returncode == 0, done.stderr
    result = js_verify(trust["trusted_root.json"], bundle, str(artifact))
    assert result["ok"]
    assert result["san"].startswith("https://gitlab.com/team/widget//.gitlab-ci.yml@")
    issuer = f"{instance.url}/-/oidc"
    assert (
        py_verify(
            trust["client_trust_config.json"], bundle, artifact, result["san"], issuer
        ).returncode
        == 0
    )


def _both_refuse(
    trust: dict[str, Path],
    bundle: Path,
    artifact: Path,
    *,
    san: str = GITHUB_SAN,
    issuer: str | None = None,
    trusted_root: Path | None = None,
    trust_config: Path | None = None,
) -> tuple[str, str]:
    assert issuer is not None
    py = py_verify(trust_config or trust["client_trust_config.json"], bundle, artifact, san, issuer)
    js = js_verify(trusted_root or trust["trusted_root.json"], bundle, str(artifact), san, issuer)
    assert py.returncode != 0, py.stdout
    assert not js["ok"]
    return py.stderr, js["error"]


def _rewrite(source: Path, target: Path, change: Any) -> Path:
    bundle = json.loads(source.read_text())
    change(bundle)
    target.write_text(json.dumps(bundle))
    return target


def test_both_refuse_tampering_and_wrong_identities(
    instance: Instance, trust: dict[str, Path], signed: dict[str, Path], tmp_path: Path
) -> None:
    issuer = f"{instance.url}/-/oidc"
    other = tmp_path / "other.tgz"
    other.write_bytes(b"tampered tarball\n")
    _both_refuse(trust, signed["sign"], other, issuer=issuer)
    _both_refuse(trust, signed["sign"], signed["artifact"], san=GITHUB_SAN + "x", issuer=issuer)
    _both_refuse(trust, signed["sign"], signed["artifact"], issuer="https://issuer.example")

    def alter_entry(bundle: dict[str, Any]) -> None:
        entry = bundle["verificationMaterial"]["tlogEntries"][0]
        entry["logIndex"] = str(int(entry["logIndex"]) + 1)
        entry["inclusionProof"]["logIndex"] = entry["logIndex"]

    altered = _rewrite(signed["sign"], tmp_path / "entry.json", alter_entry)
    _both_refuse(trust, altered, signed["artifact"], issuer=issuer)

    def alter_checkpoint(bundle: dict[str, Any]) -> None:
        proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
        note: str = proof["checkpoint"]["envelope"]
        lines = note.split("\n")
        lines[1] = str(int(lines[1]) + 1)
        proof["checkpoint"]["envelope"] = "\n".join(lines)

    altered = _rewrite(signed["sign"], tmp_path / "checkpoint.json", alter_checkpoint)
    _both_refuse(trust, altered, signed["artifact"], issuer=issuer)


def test_both_refuse_a_foreign_ca_and_an_unknown_sct_key(
    instance: Instance, trust: dict[str, Path], signed: dict[str, Path], tmp_path: Path
) -> None:
    issuer = f"{instance.url}/-/oidc"
    # A second instance: its CA and log are not ours.
    with running_instance(tmp_path / "foreign") as foreign:
        env = ci_job(foreign, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
        foreign_config = tmp_path / "foreign-config.json"
        foreign_config.write_bytes(
            httpx.get(f"{foreign.url}/-/trust/client_trust_config.json").content
        )
        bundle = tmp_path / "foreign.sigstore.json"
        done = sigstore(
            foreign_config,
            "sign",
            "--rekor-version",
            "1",
            "--identity-token",
            fetch_token(env),
            "--bundle",
            str(bundle),
            str(signed["artifact"]),
        )
        assert done.returncode == 0, done.stderr
    _both_refuse(trust, bundle, signed["artifact"], issuer=f"{foreign.url}/-/oidc")

    # Our own bundle, but the trusted CT log key is another one: the SCT cannot verify.
    stranger = generate_ec()
    config = json.loads(trust["client_trust_config.json"].read_text())
    ctlog = config["trustedRoot"]["ctlogs"][0]
    ctlog["publicKey"]["rawBytes"] = base64.b64encode(spki_der(stranger)).decode()
    ctlog["logId"]["keyId"] = base64.b64encode(key_id(stranger)).decode()
    other_config = tmp_path / "other-ct.json"
    other_config.write_text(json.dumps(config))
    other_root = tmp_path / "other-ct-root.json"
    other_root.write_text(json.dumps(config["trustedRoot"]))
    _, js_error = _both_refuse(
        trust,
        signed["sign"],
        signed["artifact"],
        issuer=issuer,
        trusted_root=other_root,
        trust_config=other_config,
    )
    assert "SCT" in js_error or "sct" in js_error.lower()


def test_ca_refuses_bad_tokens_and_issues_nothing(instance: Instance) -> None:
    env = ci_job(instance, "github", "repository=acme/widget")
    wrong_audience = fetch_token(env, audience="npm:registry.example")
    key = generate_ec()
    from cryptography.hazmat.primitives import serialization

    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    before = httpx.get(f"{instance.url}/-/tlog/api/v1/log").json()["treeSize"]
    for token in (wrong_audience, "not.a.jwt", copy.copy(wrong_audience)[:-4] + "AAAA"):
        response = httpx.post(
            f"{instance.url}/api/v2/signingCert",
            json={
                "credentials": {"oidcIdentityToken": token},
                "publicKeyRequest": {
                    "publicKey": {"algorithm": "ECDSA", "content": pem.decode()},
                    "proofOfPossession": base64.b64encode(b"x").decode(),
                },
            },
        )
        assert response.status_code == 401, response.text
        assert set(response.json()) == {"code", "message"}
    assert httpx.get(f"{instance.url}/-/tlog/api/v1/log").json()["treeSize"] == before
