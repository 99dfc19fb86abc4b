"""The sigstore-conformance verification cases through the real `assay conformance` process,
and the same cases' verdicts from sigstore-python and sigstore-js beside ours.

tests/unit/verify/test_conformance_suite.py runs all 70 cases in process (by path and by digest);
here a representative set runs as the harness runs a client: one ``python -m assay conformance
verify-bundle …`` process per case, exit 0 for "verified". Then every certificate case goes to
the two reference clients:

* sigstore-python 4.5.1 (in process, as tests/interop/test_verify_differential.py uses it) is
  behind the suite on two cases, where we follow the suite: it cannot verify Rekor ``intoto``
  0.0.2 entries (``intoto-with-custom-trust-root``, which sigstore-js accepts), and it reads a
  TSA's ``validFor.end`` as exclusive (``trust-root-tsa-validity-end-inclusive``: the suite and
  protobuf-specs say ``TimeRange`` is closed).
* the sigstore-js installed in tests/interop/js (@sigstore/verify 3.1.1) is behind it on two
  others: it predates hashedrekord-over-DSSE Rekor v2 entries (``rekor2-dsse-happy-path``, which
  sigstore-python accepts) and does not require a tlog ``validFor.start``
  (``trust-root-tlog-missing-validity-start_fail``, which sigstore-python refuses).

On every other case all three give the suite's verdict. The public-key cases (``key.pub``) have
no oracle here: neither client's API used in these tests takes a bare key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest
from sigstore.models import Bundle as PyBundle
from sigstore.models import TrustedRoot as PyTrustedRoot
from sigstore.verify import Verifier as PyVerifier
from sigstore.verify.policy import Identity as PyIdentity

from assay.errors import AssayError
from assay.provenance.bundle import Bundle
from assay.verify import Identity, TrustedRoot, Verifier
from tests.conformance_cases import Case, cases
from tests.interop.test_sigstore_clients import JS
from tests.unit.verify.fixtures import TRUSTED_ROOT

CASES = cases()
BY_NAME = {case.name: case for case in CASES}

THROUGH_THE_CLI: Final = (
    "happy-path-v0.3",
    "rekor2-happy-path",
    "rekor2-dsse-happy-path",
    "rekor2-checkpoint-origin-not-first",
    "rekor2-timestamp-with-expired-cert-chain",
    "trust-root-tsa-validity-end-inclusive",
    "managed-key-happy-path",
    "intoto-with-custom-trust-root",
    "rekor2-no-timestamp_fail",
    "rekor2-timestamp-payload-mismatch_fail",
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
    "rekor2-checkpoint-no-matching-signature_fail",
    "managed-key-wrong-key_fail",
)
PYTHON_BEHIND: Final = frozenset(
    {"intoto-with-custom-trust-root", "trust-root-tsa-validity-end-inclusive"}
)
JS_BEHIND: Final = frozenset(
    {"rekor2-dsse-happy-path", "trust-root-tlog-missing-validity-start_fail"}
)

# verify.mjs's logic, batched: one node process for every case.
JS_BATCH = r"""
import { readFileSync } from 'node:fs';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
const out = [];
for (const c of JSON.parse(readFileSync(0, 'utf8'))) {
  try {
    const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(c.trustedRoot, 'utf8')));
    const bundle = bundleFromJSON(JSON.parse(readFileSync(c.bundle, 'utf8')));
    const artifact = c.artifact ? readFileSync(c.artifact) : undefined;
    const verifier = new Verifier(toTrustMaterial(root), { tlogThreshold: 1, ctlogThreshold: 1 });
    const policy = { subjectAlternativeName: c.san, extensions: { issuer: c.issuer } };
    verifier.verify(toSignedEntity(bundle, artifact), policy);
    out.push({ ok: true });
  } catch (error) {
    out.push({ ok: false, error: `${error.code ?? error.name}: ${error.message}` });
  }
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(autouse=True)
def _bundled_public_good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cases without a trusted root use the bundled public-good root (children inherit this)."""
    monkeypatch.setenv("ASSAY_TRUST_DIR", str(tmp_path / "no-trust-update"))


@pytest.mark.parametrize("name", THROUGH_THE_CLI)
def test_a_case_through_the_real_cli(name: str) -> None:
    case = BY_NAME[name]
    for digest in (False, True):
        done = subprocess.run(
            [sys.executable, "-m", "assay", "conformance", *case.verify_args(digest=digest)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if case.must_fail:
            assert done.returncode == 1, (digest, done.stdout, done.stderr)
        else:
            assert done.returncode == 0, (digest, done.stderr)


def _root(case: Case) -> Path:
    return case.trusted_root or TRUSTED_ROOT


def _dsse(case: Case) -> bool:
    try:
        return "dsseEnvelope" in json.loads(case.bundle.read_bytes())
    except ValueError:
        return False


def _subject_matches(case: Case) -> bool:
    """The harness passes the artifact for DSSE too: a statement subject must carry its digest."""
    document = json.loads(case.bundle.read_bytes())
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    digest = hashlib.sha256(case.artifact.read_bytes()).hexdigest()
    return any(s.get("digest", {}).get("sha256") == digest for s in statement["subject"])


def ours(case: Case) -> bool:
    try:
        Verifier(TrustedRoot.from_file(_root(case))).verify(
            Bundle.from_json(case.bundle.read_bytes()),
            artifact=case.artifact.read_bytes(),
            policy=Identity(case.identity, case.issuer),
        )
    except AssayError:
        return False
    return True


def python(case: Case) -> bool:
    try:
        verifier = PyVerifier(trusted_root=PyTrustedRoot.from_file(str(_root(case))))
        bundle = PyBundle.from_json(case.bundle.read_bytes())
        policy = PyIdentity(identity=case.identity, issuer=case.issuer)
        if _dsse(case):
            verifier.verify_dsse(bundle, policy)
            return _subject_matches(case)
        verifier.verify_artifact(case.artifact.read_bytes(), bundle, policy)
    except Exception:  # any refusal of the oracle is a "no"
        return False
    return True


def js(certificate_cases: list[Case]) -> list[bool]:
    jobs = [
        {
            "trustedRoot": str(_root(case)),
            "bundle": str(case.bundle),
            # verify.mjs passes no artifact for DSSE; the subject rule is added below.
            "artifact": None if _dsse(case) else str(case.artifact),
            "san": case.identity,
            "issuer": case.issuer,
        }
        for case in certificate_cases
    ]
    done = subprocess.run(
        ["node", "--input-type=module", "-e", JS_BATCH],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        cwd=JS,
        timeout=120,
        check=True,
    )
    results = json.loads(done.stdout)
    return [
        result["ok"] and (not _dsse(case) or _subject_matches(case))
        for case, result in zip(certificate_cases, results, strict=True)
    ]


def test_verdicts_equal_sigstore_python_and_sigstore_js() -> None:
    certificate_cases = [case for case in CASES if case.key is None]
    assert len(certificate_cases) == 67
    js_verdicts = js(certificate_cases)
    wrong: list[str] = []
    for case, js_verdict in zip(certificate_cases, js_verdicts, strict=True):
        expected = not case.must_fail
        verdicts = {"ours": ours(case), "python": python(case), "js": js_verdict}
        if verdicts["ours"] != expected:
            wrong.append(f"ours on {case.name}: {verdicts}")
        for client, behind in (("python", PYTHON_BEHIND), ("js", JS_BEHIND)):
            if (verdicts[client] == expected) == (case.name in behind):
                wrong.append(f"{client} on {case.name} (known behind: {case.name in behind})")
    assert not wrong, "\n".join(wrong)
