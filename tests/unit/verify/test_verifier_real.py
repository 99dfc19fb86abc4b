"""The verifier on every real npm bundle: what npm accepted verifies, every alteration fails at
the step that names it (sigstore.md §6)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from assay.errors import AssayError, FormatError, VerificationError
from assay.keys import generate_ec, key_id, spki_der
from assay.provenance.bundle import Bundle
from assay.verify import Identity, RegistryKeys, TrustedRoot, Verifier
from assay.verify.result import VerificationResult
from tests.unit.verify.fixtures import SYNTHETIC, TRUSTED_ROOT, RealBundle, bundles

REAL = bundles()
GOOD = [b for b in REAL if not b.tampered]
TAMPERED = [b for b in REAL if b.tampered]
KEYLESS = [b for b in GOOD if not b.keyid]
KEYED = [b for b in GOOD if b.keyid]
V02 = [
    b for b in KEYLESS if b.bundle["verificationMaterial"]["tlogEntries"][0].get("inclusionProof")
]

VERIFIER = Verifier(TrustedRoot.public_good())
KEYS = RegistryKeys.npmjs()


def verify(
    data: dict[str, Any], verifier: Verifier = VERIFIER, keyid: str = ""
) -> VerificationResult:
    bundle = Bundle.from_dict(data)
    key = KEYS.get(keyid) if keyid else None
    return verifier.verify(bundle, public_key=None if key is None else key.public_key)


def step_of(data: dict[str, Any], verifier: Verifier = VERIFIER, keyid: str = "") -> object:
    with pytest.raises(VerificationError) as caught:
        verify(data, verifier, keyid)
    return caught.value.details["step"]


def test_the_fixture_set_is_what_the_readme_lists() -> None:
    assert len(GOOD) == 24
    assert len(TAMPERED) == 10
    assert len(KEYLESS) == 12
    assert len(KEYED) == 12
    assert len(V02) == 4


def test_bundled_trusted_root_is_the_fixture() -> None:
    assert TrustedRoot.from_file(TRUSTED_ROOT) == TrustedRoot.public_good()


@pytest.mark.parametrize("real", KEYLESS, ids=lambda b: b.ident)
def test_every_real_provenance_bundle_verifies(real: RealBundle) -> None:
    result = verify(real.bundle)
    assert result.signer is not None
    assert result.signer.san.startswith("https://github.com/")
    assert result.signer.issuer == "https://token.actions.githubusercontent.com"
    assert result.statement is not None
    assert result.statement.predicate_type == real.predicate_type
    assert result.integrated_time is not None
    assert result.kind == "intoto"
    # The identity policy sigstore-python and sigstore-js would apply, from the certificate.
    Identity(result.signer.san, "https://token.actions.githubusercontent.com").verify(result)


@pytest.mark.parametrize("real", KEYED, ids=lambda b: b.ident)
def test_every_real_publish_attestation_verifies_with_the_registry_key(real: RealBundle) -> None:
    result = verify(real.bundle, keyid=real.keyid)
    assert result.signer is None
    assert result.public_key_hint == real.keyid
    with pytest.raises(VerificationError, match="bare key"):
        Identity("x", "y").verify(result)


@pytest.mark.parametrize("real", KEYED[:2], ids=lambda b: b.ident)
def test_a_keyed_bundle_without_its_key_or_with_another_key_fails(real: RealBundle) -> None:
    assert step_of(real.bundle) == 3
    other = generate_ec().public_key()
    with pytest.raises(VerificationError) as caught:
        VERIFIER.verify(Bundle.from_dict(real.bundle), public_key=other)
    assert caught.value.details["step"] in (19, 20)


@pytest.mark.parametrize("real", TAMPERED, ids=lambda b: b.ident)
def test_every_tampered_bundle_fails_at_the_signature(real: RealBundle) -> None:
    with pytest.raises(VerificationError, match="signature") as caught:
        verify(real.bundle, keyid=real.keyid)
    assert caught.value.details["step"] == 19


@pytest.mark.parametrize("path", sorted(SYNTHETIC.glob("*.json")), ids=lambda p: p.name)
def test_synthetic_libnpmpublish_bundles_fail_closed(path: Any) -> None:
    with pytest.raises(AssayError) as caught:
        VERIFIER.verify(Bundle.from_json(path.read_bytes()))
    error = caught.value
    assert isinstance(error, FormatError | VerificationError)
    if isinstance(error, VerificationError):
        # They carry no log entries: nothing proves they were ever logged.
        assert error.details["step"] == 2
        assert "exactly one transparency log entry, found 0" in error.message


# --- mutations of real bundles ------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _entry(data: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = data["verificationMaterial"]["tlogEntries"][0]
    return entry


def _flip_b64(value: str, index: int = 10) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[index % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _set(path: str, value: object) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = _entry(data)
        for name in parents:
            node = node[name]
        node[last] = value(node[last]) if callable(value) else value

    return mutate


KEYLESS_MUTATIONS: dict[str, tuple[Mutation, set[object]]] = {
    "integrated time": (_set("integratedTime", lambda v: str(int(v) + 1)), {17}),
    "log index": (_set("logIndex", lambda v: str(int(v) + 1)), {17}),
    "log id": (_set("logId.keyId", lambda v: _flip_b64(v, 0)), {17}),
    "SET": (_set("inclusionPromise.signedEntryTimestamp", lambda v: _flip_b64(v, 20)), {17}),
    "body": (_set("canonicalizedBody", lambda v: _flip_b64(v, 40)), {17}),
    "kind": (_set("kindVersion", {"kind": "dsse", "version": "0.0.1"}), {20}),
    "version": (_set("kindVersion.version", "0.0.9"), {4}),
    "envelope signature": (
        lambda d: d["dsseEnvelope"]["signatures"][0].update(
            sig=_flip_b64(d["dsseEnvelope"]["signatures"][0]["sig"], 30)
        ),
        {19},
    ),
    "payload": (
        lambda d: d["dsseEnvelope"].update(
            payload=base64.b64encode(base64.b64decode(d["dsseEnvelope"]["payload"]) + b" ").decode()
        ),
        {19},
    ),
    "certificate": (
        lambda d: d["verificationMaterial"]["x509CertificateChain"]["certificates"][0].update(
            rawBytes=_flip_b64(
                d["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"],
                400,
            )
        ),
        {3, 11, 12, 13, "format"},
    ),
    "rfc3161 timestamp": (
        lambda d: d["verificationMaterial"].update(
            timestampVerificationData={"rfc3161Timestamps": [{"signedTimestamp": "MAA="}]}
        ),
        {8},
    ),
    "second tlog entry": (
        lambda d: d["verificationMaterial"]["tlogEntries"].append(copy.deepcopy(_entry(d))),
        {2},
    ),
}


@pytest.mark.parametrize("mutation", KEYLESS_MUTATIONS, ids=str)
@pytest.mark.parametrize("real", KEYLESS[:4:3] + V02[:1], ids=lambda b: b.ident)
def test_a_mutated_real_bundle_fails_at_the_named_step(real: RealBundle, mutation: str) -> None:
    data = copy.deepcopy(real.bundle)
    mutate, steps = KEYLESS_MUTATIONS[mutation]
    mutate(data)
    with pytest.raises(AssayError) as caught:
        verify(data)
    error = caught.value
    step = error.details.get("step") if isinstance(error, VerificationError) else "format"
    assert step in steps, error.message


PROOF_MUTATIONS: dict[str, tuple[Mutation, int]] = {
    "proof hash": (_set("inclusionProof.hashes", lambda v: [_flip_b64(v[0]), *v[1:]]), 15),
    "proof root": (_set("inclusionProof.rootHash", _flip_b64), 15),
    "proof index": (_set("inclusionProof.logIndex", lambda v: str(int(v) - 1)), 15),
    "checkpoint signature": (
        _set(
            "inclusionProof.checkpoint.envelope",
            lambda v: v[: v.rindex(" ") + 1] + _flip_b64(v[v.rindex(" ") + 1 :].strip(), 12) + "\n",
        ),
        16,
    ),
    "checkpoint root": (
        _set(
            "inclusionProof.checkpoint.envelope",
            lambda v: "\n".join(
                _flip_b64(line) if i == 2 else line for i, line in enumerate(v.split("\n"))
            ),
        ),
        16,
    ),
    "checkpoint by another key": (
        _set(
            "inclusionProof.checkpoint.envelope",
            lambda v: v.replace("\u2014 rekor.sigstore.dev ", "\u2014 rekor.example.dev "),
        ),
        16,
    ),
}


@pytest.mark.parametrize("mutation", PROOF_MUTATIONS, ids=str)
@pytest.mark.parametrize("real", V02, ids=lambda b: b.ident)
def test_a_mutated_inclusion_proof_or_checkpoint_fails(real: RealBundle, mutation: str) -> None:
    data = copy.deepcopy(real.bundle)
    mutate, step = PROOF_MUTATIONS[mutation]
    mutate(data)
    assert step_of(data) == step


def _root_without(field: str) -> TrustedRoot:
    data = json.loads(TRUSTED_ROOT.read_text())
    data[field] = []
    return TrustedRoot.from_dict(data)


@pytest.mark.parametrize(
    ("field", "step"), [("tlogs", 17), ("ctlogs", 12), ("certificateAuthorities", 11)]
)
def test_trust_material_missing_from_the_root_fails(field: str, step: int) -> None:
    assert step_of(KEYLESS[0].bundle, Verifier(_root_without(field))) == step


def test_a_ca_outside_its_validity_window_does_not_count() -> None:
    data = json.loads(TRUSTED_ROOT.read_text())
    for authority in data["certificateAuthorities"]:
        authority["validFor"] = {"start": "2021-01-01T00:00:00Z", "end": "2022-01-01T00:00:00Z"}
    with pytest.raises(VerificationError, match="no certificate authority"):
        verify(KEYLESS[0].bundle, Verifier(TrustedRoot.from_dict(data)))


def test_a_log_key_outside_its_validity_window_does_not_count() -> None:
    data = json.loads(TRUSTED_ROOT.read_text())
    data["tlogs"][0]["publicKey"]["validFor"]["start"] = "2030-01-01T00:00:00Z"
    with pytest.raises(VerificationError, match="not valid at the integrated time"):
        verify(KEYLESS[0].bundle, Verifier(TrustedRoot.from_dict(data)))


def test_a_ct_key_outside_its_validity_window_does_not_count() -> None:
    data = json.loads(TRUSTED_ROOT.read_text())
    for ctlog in data["ctlogs"]:
        ctlog["publicKey"]["validFor"]["end"] = "2022-10-21T00:00:00Z"
    with pytest.raises(VerificationError, match="SCT's time"):
        verify(KEYLESS[0].bundle, Verifier(TrustedRoot.from_dict(data)))


def test_a_wrong_identity_fails_the_policy() -> None:
    bundle = Bundle.from_dict(KEYLESS[0].bundle)
    issuer = "https://token.actions.githubusercontent.com"
    with pytest.raises(VerificationError, match="policy: certificate identity") as caught:
        VERIFIER.verify(bundle, policy=Identity("https://github.com/evil/x", issuer))
    assert caught.value.details["step"] == "policy"
    signer = VERIFIER.verify(bundle).signer
    assert signer is not None
    wrong_issuer = Identity(signer.san, "https://accounts.google.com")
    with pytest.raises(VerificationError, match="OIDC issuer"):
        VERIFIER.verify(bundle, policy=wrong_issuer)


# --- body substitution (CVE-2022-36056): a log we control re-signs altered bodies --------------


class ForgedLog:
    """A log key added to the public-good root, so the SET verifies over any body we choose and
    only the body-consistency step (20) can catch a substitution."""

    def __init__(self) -> None:
        self.key = generate_ec()
        data = json.loads(TRUSTED_ROOT.read_text())
        data["tlogs"].append(
            {
                "baseUrl": "https://forged.example",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": base64.b64encode(spki_der(self.key)).decode(),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": base64.b64encode(key_id(self.key)).decode()},
            }
        )
        self.verifier = Verifier(TrustedRoot.from_dict(data))

    def relog(self, data: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(data)
        entry = _entry(out)
        entry.pop("inclusionProof", None)
        out["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1"
        encoded = base64.b64encode(rfc8785.dumps(body)).decode()
        entry["canonicalizedBody"] = encoded
        entry["logId"] = {"keyId": base64.b64encode(key_id(self.key)).decode()}
        message = rfc8785.dumps(
            {
                "body": encoded,
                "integratedTime": int(entry["integratedTime"]),
                "logID": key_id(self.key).hex(),
                "logIndex": int(entry["logIndex"]),
            }
        )
        signature = self.key.sign(message, ec.ECDSA(hashes.SHA256()))
        entry["inclusionPromise"] = {"signedEntryTimestamp": base64.b64encode(signature).decode()}
        return out


FORGED = ForgedLog()


def _body(real: RealBundle) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(base64.b64decode(_entry(real.bundle)["canonicalizedBody"]))
    return body


def test_the_forged_log_accepts_the_true_body() -> None:
    real = KEYLESS[0]
    assert verify(FORGED.relog(real.bundle, _body(real)), FORGED.verifier).signer is not None


BODY_MUTATIONS: dict[str, Mutation] = {
    "payload hash": lambda b: b["spec"]["content"]["payloadHash"].update(value="00" * 32),
    "signature": lambda b: b["spec"]["content"]["envelope"]["signatures"][0].update(
        sig=base64.b64encode(base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01")).decode()
    ),
    "public key": lambda b: b["spec"]["content"]["envelope"]["signatures"][0].update(
        publicKey=base64.b64encode(
            generate_ec()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        ).decode()
    ),
    "two signatures": lambda b: b["spec"]["content"]["envelope"]["signatures"].append(
        b["spec"]["content"]["envelope"]["signatures"][0]
    ),
    "payload type": lambda b: b["spec"]["content"]["envelope"].update(payloadType="text/plain"),
    "kind": lambda b: b.update(kind="dsse"),
}


@pytest.mark.parametrize("mutation", BODY_MUTATIONS, ids=str)
def test_a_body_that_disagrees_with_the_bundle_fails_step_20(mutation: str) -> None:
    real = KEYLESS[0]
    body = _body(real)
    BODY_MUTATIONS[mutation](body)
    assert step_of(FORGED.relog(real.bundle, body), FORGED.verifier) == 20


def test_another_bundles_body_is_refused() -> None:
    first, second = KEYLESS[0], KEYLESS[1]
    assert step_of(FORGED.relog(first.bundle, _body(second)), FORGED.verifier) == 20


def test_the_payload_hash_is_over_the_payload() -> None:
    real = KEYLESS[0]
    payload = base64.b64decode(real.bundle["dsseEnvelope"]["payload"])
    assert (
        _body(real)["spec"]["content"]["payloadHash"]["value"]
        == hashlib.sha256(payload).hexdigest()
    )
