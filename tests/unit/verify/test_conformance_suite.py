"""Every sigstore-conformance verification case (tests/data/conformance), through the same
function the `assay conformance` command runs, by artifact path and by digest, as the harness
runs them: a ``*_fail`` case must be refused, every other one must verify.

The real process, and the verdicts of sigstore-python and sigstore-js on the same cases, are in
tests/interop/test_conformance_suite.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from assay.cli.main import main
from assay.errors import VerificationError
from assay.provenance.bundle import Bundle
from assay.verify import Identity, TrustedRoot, Verifier
from tests.conformance_cases import Case, cases

CASES = cases()


@pytest.fixture(autouse=True)
def _bundled_public_good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cases without a trusted root use the bundled public-good root, never a fetched copy."""
    monkeypatch.setenv("ASSAY_TRUST_DIR", str(tmp_path / "no-trust-update"))


def test_the_suite_is_all_there() -> None:
    assert len(CASES) == 70
    assert sum(case.must_fail for case in CASES) == 49


@pytest.mark.parametrize("digest", [False, True], ids=["path", "digest"])
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(case: Case, digest: bool, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["conformance", *case.verify_args(digest=digest)])
    err = capsys.readouterr().err
    if case.must_fail:
        assert code != 0, f"{case.name} verified but must fail"
    else:
        assert code == 0, f"{case.name} must verify: {err}"


# --- tampering with what a Rekor v2 + TSA bundle relies on -------------------------------------

HAPPY = next(case for case in CASES if case.name == "rekor2-happy-path")


def _verify(document: dict[str, Any]) -> None:
    assert HAPPY.trusted_root is not None
    verifier = Verifier(TrustedRoot.from_file(HAPPY.trusted_root))
    verifier.verify(
        Bundle.from_dict(document),
        artifact=HAPPY.artifact.read_bytes(),
        policy=Identity(HAPPY.identity, HAPPY.issuer),
    )


def _happy() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(HAPPY.bundle.read_bytes())
    return document


def _flip(value: str, index: int) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_the_rekor_v2_happy_path_verifies_with_the_tsa_time() -> None:
    assert HAPPY.trusted_root is not None
    result = Verifier(TrustedRoot.from_file(HAPPY.trusted_root)).verify(
        Bundle.from_json(HAPPY.bundle.read_bytes()),
        artifact=HAPPY.artifact.read_bytes(),
        policy=Identity(HAPPY.identity, HAPPY.issuer),
    )
    assert result.kind == "hashedrekord"
    assert result.kind_version == "0.0.2"
    assert result.integrated_time is None
    assert [moment.isoformat() for moment in result.verified_times] == ["2025-06-12T12:02:20+00:00"]


@pytest.mark.parametrize("index", [40, -20, -2])
def test_a_tampered_timestamp_is_refused(index: int) -> None:
    document = _happy()
    stamps = document["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    stamps[0]["signedTimestamp"] = _flip(stamps[0]["signedTimestamp"], index)
    with pytest.raises(VerificationError) as caught:
        _verify(document)
    assert caught.value.details["step"] in (8, "format")


def test_a_duplicated_timestamp_is_refused() -> None:
    document = _happy()
    stamps = document["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    stamps.append(dict(stamps[0]))
    with pytest.raises(VerificationError, match="same RFC 3161 timestamp twice"):
        _verify(document)


def test_a_timestamp_without_a_tsa_in_the_trusted_root_is_refused(tmp_path: Path) -> None:
    assert HAPPY.trusted_root is not None
    root = json.loads(HAPPY.trusted_root.read_bytes())
    root["timestampAuthorities"] = []
    with pytest.raises(VerificationError, match="lists no TSA"):
        Verifier(TrustedRoot.from_dict(root)).verify(
            Bundle.from_json(HAPPY.bundle.read_bytes()), artifact=HAPPY.artifact.read_bytes()
        )


def test_a_tampered_checkpoint_is_refused() -> None:
    document = _happy()
    proof = document["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    note: str = proof["checkpoint"]["envelope"]
    proof["checkpoint"]["envelope"] = note.replace("\n736\n", "\n737\n")
    with pytest.raises(VerificationError) as caught:
        _verify(document)
    assert caught.value.details["step"] == 16


def test_a_tampered_inclusion_proof_is_refused() -> None:
    document = _happy()
    proof = document["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["hashes"][0] = _flip(proof["hashes"][0], 0)
    with pytest.raises(VerificationError) as caught:
        _verify(document)
    assert caught.value.details["step"] == 15


def test_a_rekor_v2_entry_with_an_integrated_time_is_refused() -> None:
    document = _happy()
    document["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "1749729740"
    with pytest.raises(VerificationError) as caught:
        _verify(document)
    assert caught.value.details["step"] == 5
