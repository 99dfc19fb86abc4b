"""Differential test: assay.verify's verdict equals sigstore-python's and sigstore-js's on every
real npm bundle and every bundle our own stack makes, plus mutations of them.

Oracles:

* sigstore-python 4.5.1, in process: ``Verifier(trusted_root=TrustedRoot.from_file(...))`` with
  an ``Identity`` policy (or ``UnsafeNoOp`` when no identity is asked for). It cannot verify
  Rekor ``intoto`` 0.0.2 entries nor public-key bundles (sigstore.md §3.2): those cases are
  skipped for it, not counted as disagreement. For a DSSE bundle and an artifact its CLI also
  requires a statement subject with the artifact's sha256, so that is added to its verdict.
* sigstore-js (@sigstore/verify, in tests/interop/js/node_modules): one node process verifies
  a batch of cases exactly as ``verify.mjs`` does (``toTrustMaterial(trustedRoot, keys)``,
  ``Verifier`` with tlog/ctlog thresholds 1, policy from SAN/issuer), with registry keys for the
  public-key bundles (as pacote's ``keySelector``). The same subject rule is added for DSSE.

Ours: :class:`assay.verify.Verifier` with the same trusted root, identity and artifact.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from sigstore.models import Bundle as PyBundle
from sigstore.models import TrustedRoot as PyTrustedRoot
from sigstore.verify import Verifier as PyVerifier
from sigstore.verify.policy import Identity as PyIdentity
from sigstore.verify.policy import UnsafeNoOp

from assay.cli.main import main
from assay.errors import AssayError
from assay.keys import generate_ec, key_id, spki_der
from assay.provenance.bundle import Bundle
from assay.verify import Identity, RegistryKeys, TrustedRoot, Verifier
from tests.assay_up import Instance
from tests.interop.test_sigstore_clients import (
    GITHUB_SAN,
    JS,
    SLSA_V1,
    ci_job,
    fetch_token,
    rekor_v1_only,
    sigstore,
)
from tests.unit.verify.fixtures import NPM_KEYS, TRUSTED_ROOT, bundles

# One node process, many cases: the logic of verify.mjs, plus public keys by hint.
JS_BATCH = r"""
import { readFileSync } from 'node:fs';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
const cases = JSON.parse(readFileSync(0, 'utf8'));
const out = [];
for (const c of cases) {
  try {
    const trustedRoot = TrustedRoot.fromJSON(JSON.parse(readFileSync(c.trustedRoot, 'utf8')));
    const keys = {};
    for (const [hint, key] of Object.entries(c.keys || {})) {
      keys[hint] = { rawBytes: Buffer.from(key.rawBytes, 'base64'),
                     validFor: { start: key.start ? new Date(key.start) : undefined,
                                 end: key.end ? new Date(key.end) : undefined } };
    }
    const bundle = bundleFromJSON(c.bundle);
    const artifact = c.artifact ? readFileSync(c.artifact) : undefined;
    const material = toTrustMaterial(trustedRoot, keys);
    const verifier = new Verifier(material, { tlogThreshold: 1, ctlogThreshold: 1 });
    const policy = c.san ? { subjectAlternativeName: c.san, extensions: { issuer: c.issuer } } : {};
    verifier.verify(toSignedEntity(bundle, artifact), policy);
    out.push({ ok: true });
  } catch (error) {
    out.push({ ok: false, error: `${error.code ?? error.name}: ${error.message}` });
  }
}
console.log(JSON.stringify(out));
"""

NPM_KEYS_BY_ID = {
    key["keyId"]: key for key in reversed(json.loads(NPM_KEYS.read_text())["keys"])
}  # reversed: the first entry wins, as in npm


@dataclass
class Case:
    ident: str
    bundle: dict[str, Any]
    trusted_root: Path
    artifact: Path | None = None
    san: str | None = None
    issuer: str | None = None
    keyid: str | None = None
    python_supported: bool = True
    verdicts: dict[str, bool] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def _subject_matches(bundle: dict[str, Any], artifact: Path | None) -> bool:
    if artifact is None or "dsseEnvelope" not in bundle:
        return True
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    return any(s.get("digest", {}).get("sha256") == digest for s in statement["subject"])


def run_ours(case: Case, verifiers: dict[Path, Verifier]) -> None:
    verifier = verifiers.setdefault(
        case.trusted_root, Verifier(TrustedRoot.from_file(case.trusted_root))
    )
    policy = Identity(case.san, case.issuer or "") if case.san else None
    key = RegistryKeys.from_file(NPM_KEYS).get(case.keyid) if case.keyid else None
    try:
        bundle = Bundle.from_dict(case.bundle)
        verifier.verify(
            bundle,
            artifact=case.artifact.read_bytes() if case.artifact else None,
            policy=policy,
            public_key=key.public_key if key else None,
        )
    except AssayError as exc:
        case.verdicts["ours"], case.reasons["ours"] = False, exc.message
    else:
        case.verdicts["ours"] = True


def run_python(case: Case) -> None:
    if not case.python_supported:
        return
    verifier = PyVerifier(trusted_root=PyTrustedRoot.from_file(str(case.trusted_root)))
    policy = PyIdentity(identity=case.san, issuer=case.issuer) if case.san else UnsafeNoOp()
    try:
        bundle = PyBundle.from_json(json.dumps(case.bundle))
        if "dsseEnvelope" in case.bundle:
            verifier.verify_dsse(bundle, policy)
        else:
            assert case.artifact is not None
            verifier.verify_artifact(case.artifact.read_bytes(), bundle, policy)
    except Exception as exc:  # any refusal of the oracle is a "no"
        case.verdicts["python"], case.reasons["python"] = False, f"{type(exc).__name__}: {exc}"
        return
    case.verdicts["python"] = _subject_matches(case.bundle, case.artifact)


def run_js(cases: list[Case]) -> None:
    jobs = []
    for case in cases:
        keys = {}
        if case.keyid:
            key = NPM_KEYS_BY_ID[case.keyid]["publicKey"]
            keys[case.keyid] = {
                "rawBytes": key["rawBytes"],
                "start": key["validFor"].get("start"),
                "end": key["validFor"].get("end"),
            }
        jobs.append(
            {
                "trustedRoot": str(case.trusted_root),
                "bundle": case.bundle,
                # verify.mjs passes no artifact for DSSE ("-"); the subject rule is added below.
                "artifact": None if "dsseEnvelope" in case.bundle else str(case.artifact),
                "san": case.san,
                "issuer": case.issuer,
                "keys": keys,
            }
        )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", JS_BATCH],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        cwd=JS,
        timeout=120,
        check=True,
    )
    for case, result in zip(cases, json.loads(done.stdout), strict=True):
        case.verdicts["js"] = result["ok"] and _subject_matches(case.bundle, case.artifact)
        if not result["ok"]:
            case.reasons["js"] = result["error"]


def run_all(cases: list[Case]) -> None:
    verifiers: dict[Path, Verifier] = {}
    for case in cases:
        run_ours(case, verifiers)
        run_python(case)
    run_js(cases)


def assert_agreement(cases: list[Case]) -> None:
    disagreements = [
        f"{case.ident}: {case.verdicts} {case.reasons}"
        for case in cases
        if len(set(case.verdicts.values())) != 1
    ]
    assert not disagreements, "\n".join(disagreements)


# --- the real npm bundles -----------------------------------------------------------------------


def test_real_npm_bundles_agree_with_sigstore_js() -> None:
    cases = [
        Case(
            ident=real.ident,
            bundle=real.bundle,
            trusted_root=TRUSTED_ROOT,
            keyid=real.keyid or None,
            python_supported=False,  # Rekor intoto 0.0.2: sigstore-python cannot verify these
        )
        for real in bundles()
    ]
    run_all(cases)
    assert_agreement(cases)
    accepted = [case.verdicts["ours"] for case in cases]
    assert accepted.count(True) == 24
    assert accepted.count(False) == 10


def test_real_bundles_with_identities_agree() -> None:
    cases = []
    for real in bundles():
        if real.keyid or real.tampered:
            continue
        leaf = real.bundle["verificationMaterial"]["x509CertificateChain"]["certificates"][0]
        cert = x509.load_der_x509_certificate(base64.b64decode(leaf["rawBytes"]))
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uri = san.get_values_for_type(x509.UniformResourceIdentifier)[0]
        for label, identity in (("right", uri), ("wrong", uri.replace("refs/", "refs/x/"))):
            cases.append(
                Case(
                    ident=f"{real.ident}-{label}",
                    bundle=real.bundle,
                    trusted_root=TRUSTED_ROOT,
                    san=identity,
                    issuer="https://token.actions.githubusercontent.com",
                    python_supported=False,
                )
            )
    run_all(cases)
    assert_agreement(cases)


# --- bundles from our own stack -----------------------------------------------------------------


@pytest.fixture(scope="module")
def instance(assay_up: Instance) -> Instance:
    """The session's `assay up`, shared (tests/conftest.py): these tests only add to it."""
    return assay_up


@pytest.fixture(scope="module")
def own(instance: Instance, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import httpx

    folder = tmp_path_factory.mktemp("own")
    paths: dict[str, Path] = {}
    for name in ("client_trust_config.json", "trusted_root.json"):
        paths[name] = folder / name
        paths[name].write_bytes(httpx.get(f"{instance.url}/-/trust/{name}").content)
    artifact = folder / "widget-1.0.0.tgz"
    artifact.write_bytes(b"pretend tarball\n")
    paths["artifact"] = artifact
    other = folder / "other.tgz"
    other.write_bytes(b"tampered tarball\n")
    paths["other"] = other
    env = ci_job(instance, "github", "repository=acme/widget", "ref=refs/tags/v1.0.0")
    token = fetch_token(env)
    # Rekor v1 bundles without timestamps: `assay verify` refuses RFC 3161 timestamps until
    # the verifier learns them (issue 13); then this can sign with the instance's own config.
    config = rekor_v1_only(paths["client_trust_config.json"])
    paths["sign"] = folder / "sign.sigstore.json"
    done = sigstore(
        config,
        "sign",
        "--rekor-version",
        "1",
        "--identity-token",
        token,
        "--bundle",
        str(paths["sign"]),
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
    paths["attest"] = folder / "attest.sigstore.json"
    done = sigstore(
        config,
        "attest",
        "--rekor-version",
        "1",
        "--identity-token",
        token,
        "--predicate-type",
        SLSA_V1,
        "--predicate",
        str(predicate),
        "--bundle",
        str(paths["attest"]),
        str(artifact),
    )
    assert done.returncode == 0, done.stderr
    root = json.loads(paths["trusted_root.json"].read_text())
    # Another CA: a fresh self-signed root instead of ours.
    paths["other-ca.json"] = folder / "other-ca.json"
    other_root = copy.deepcopy(root)
    other_root["certificateAuthorities"][0]["certChain"]["certificates"] = [
        {"rawBytes": base64.b64encode(_self_signed_ca()).decode()}
    ]
    paths["other-ca.json"].write_text(json.dumps(other_root))
    # An unknown CT key: the SCT's log is not trusted.
    paths["other-ct.json"] = folder / "other-ct.json"
    stranger = generate_ec()
    other_ct = copy.deepcopy(root)
    other_ct["ctlogs"][0]["publicKey"]["rawBytes"] = base64.b64encode(spki_der(stranger)).decode()
    other_ct["ctlogs"][0]["logId"]["keyId"] = base64.b64encode(key_id(stranger)).decode()
    paths["other-ct.json"].write_text(json.dumps(other_ct))
    return paths


def _self_signed_ca() -> bytes:
    key = generate_ec("P-384")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _mutate_entry(bundle: dict[str, Any], change: Any) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    change(out["verificationMaterial"]["tlogEntries"][0])
    return out


def _flip_checkpoint(entry: dict[str, Any]) -> None:
    note: str = entry["inclusionProof"]["checkpoint"]["envelope"]
    head, _, sig = note.rstrip("\n").rpartition(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[-3] ^= 1
    entry["inclusionProof"]["checkpoint"]["envelope"] = (
        f"{head} {base64.b64encode(bytes(raw)).decode()}\n"
    )


def test_own_stack_bundles_and_mutations_agree(instance: Instance, own: dict[str, Path]) -> None:
    issuer = f"{instance.url}/-/oidc"
    root = own["trusted_root.json"]
    cases: list[Case] = []
    for kind in ("sign", "attest"):
        bundle = json.loads(own[kind].read_text())

        def case(label: str, kind: str = kind, bundle: Any = bundle, **overrides: Any) -> Case:
            values: dict[str, Any] = {
                "ident": f"{kind}-{label}",
                "bundle": bundle,
                "trusted_root": root,
                "artifact": own["artifact"],
                "san": GITHUB_SAN,
                "issuer": issuer,
            }
            values.update(overrides)
            return Case(**values)

        cases += [
            case("as-signed"),
            case("no-identity", san=None, issuer=None),
            case("tampered-artifact", artifact=own["other"]),
            case(
                "altered-integrated-time",
                bundle=_mutate_entry(
                    bundle, lambda e: e.update(integratedTime=str(int(e["integratedTime"]) + 1))
                ),
            ),
            case(
                "altered-log-index",
                bundle=_mutate_entry(
                    bundle, lambda e: e.update(logIndex=str(int(e["logIndex"]) + 7))
                ),
            ),
            case("altered-checkpoint", bundle=_mutate_entry(bundle, _flip_checkpoint)),
            case("other-ca", trusted_root=own["other-ca.json"]),
            case("unknown-sct-key", trusted_root=own["other-ct.json"]),
            case(
                "wrong-identity",
                san="https://github.com/evil/widget/.github/workflows/x.yml@refs/heads/main",
            ),
            case("wrong-issuer", issuer="https://token.actions.githubusercontent.com"),
        ]
    run_all(cases)
    assert_agreement(cases)
    accepted = {item.ident for item in cases if item.verdicts["ours"]}
    assert accepted == {
        "sign-as-signed",
        "sign-no-identity",
        "attest-as-signed",
        "attest-no-identity",
    }
    for item in cases:  # every oracle ran on our own bundles
        assert set(item.verdicts) == {"ours", "python", "js"}, item.ident


def test_conformance_verify_bundle_on_our_own_bundles(
    instance: Instance, own: dict[str, Path]
) -> None:
    """The sigstore-conformance CLI protocol (sigstore.md §8.1), argument order as the harness."""
    issuer = f"{instance.url}/-/oidc"
    digest = "sha256:" + hashlib.sha256(own["artifact"].read_bytes()).hexdigest()

    def run(bundle: Path, identity: str, artifact: str) -> int:
        args = ["conformance", "verify-bundle", "--bundle", str(bundle)]
        args += ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]
        args += ["--trusted-root", str(own["trusted_root.json"]), artifact]
        return main(args)

    for kind in ("sign", "attest"):
        assert run(own[kind], GITHUB_SAN, str(own["artifact"])) == 0, kind
        assert run(own[kind], GITHUB_SAN, digest) == 0, kind
        assert run(own[kind], GITHUB_SAN, str(own["other"])) == 1, kind
        assert run(own[kind], "https://github.com/evil/x", str(own["artifact"])) == 1, kind
